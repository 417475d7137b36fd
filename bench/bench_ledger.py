"""Benchmark the collection ledger's storage layer at bureau scale (no validation: reports are stand-ins).

    python bench/bench_ledger.py                 # 10,000 returns of ~18 KiB
    python bench/bench_ledger.py --n 1000        # a quick look

Times, in one ledger: the first run (hash, archive and record every file, store
10,000 reports of ~2 KiB JSON, decide); a second run over the unchanged inbox
(every file hashed again, nothing copied, nothing read: the cached-report lookup
answers); a third run with 100 new files; and the queries the clerk's commands
use. Validation itself is not timed here (see bench/bench.py): the point is what
the ledger adds to a run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.ledger_helpers import finish  # noqa: E402  (collect's choice by the one resubmission rule, in miniature)
from xltemplate.ledger import Ledger, RosterSnapshot, RosterUnit, RunInfo, StoredReport  # noqa: E402

SIZE = 18_000


def make_inbox(folder: Path, start: int, n: int, units: int, seed: int = 0) -> None:
    """n returns of SIZE bytes: a JSON head (unit key, saved time) and random bytes, in folders of 1,000."""
    for i in range(start, start + n):
        rng = random.Random(i * 7919 + seed)
        head = json.dumps({"key": f"SH{i % units:05d}", "saved": f"2021-04-{1 + i % 28:02d}T09:00:00"}).encode()
        (folder / f"{i // 1000:02d}").mkdir(parents=True, exist_ok=True)
        (folder / f"{i // 1000:02d}" / f"SH{i:05d}_某某单位_某项目.xlsx").write_bytes(head + rng.randbytes(SIZE - len(head)))


def report_for(sha: str, path: Path) -> StoredReport:
    data = path.read_bytes()
    head = json.loads(data[: data.index(b"}") + 1])
    payload = json.dumps({"findings": [{"code": "value-normalised", "message": "文本按数字读取。" * 10}] * 8},
                         ensure_ascii=False)
    return StoredReport(sha, "valid", head["key"], dt.datetime.fromisoformat(head["saved"]), 0, 8, payload,
                        "sh-project-self-eval", "2020.1", "96", "优秀")


def one_run(led: Ledger, inbox: Path, roster: RosterSnapshot) -> dict[str, float]:
    t: dict[str, float] = {}
    t0 = time.perf_counter()
    files = sorted(str(p) for p in inbox.rglob("*.xlsx"))
    t["discover"] = time.perf_counter() - t0
    run = led.begin_run(RunInfo("v1", "spec", inputs=(str(inbox),), roster=roster))
    t0 = time.perf_counter()
    intake = led.ingest(run, files)
    t["ingest (hash, archive, record)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    cached = led.cached([s.sha256 for s in intake.seen], spec_hash="spec", validator_version="v1")
    todo = led.needs_report(run)
    t["cached lookup + needs_report"] = time.perf_counter() - t0
    reports = [report_for(x.sha256, x.archive_path) for x in todo]  # the validation stand-in, not timed
    t0 = time.perf_counter()
    for start in range(0, len(reports), 500):
        led.store_reports(run, reports[start:start + 500])
    t[f"store {len(todo)} reports (~2 KiB JSON)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    outcome = finish(led, run)
    t["decide (resubmission rule) + finish_run"] = time.perf_counter() - t0
    t["total"] = sum(t.values())
    assert len(cached) + len(todo) == len({s.sha256 for s in intake.seen}), "every file cached or to read"
    print(f"  files {len(intake.seen)}, new {len(intake.new)}, read {len(todo)}, units decided {len(outcome.decisions)}")
    return t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--dir", type=Path)
    args = ap.parse_args()
    base = args.dir or Path(tempfile.mkdtemp(prefix="bench-ledger-"))
    shutil.rmtree(base / "round", ignore_errors=True)
    shutil.rmtree(base / "inbox" / "new", ignore_errors=True)
    inbox, db = base / "inbox", base / "round" / "round.xlt.db"
    db.parent.mkdir(parents=True)
    if len(list(inbox.rglob("*.xlsx"))) != args.n:
        shutil.rmtree(inbox, ignore_errors=True)
        make_inbox(inbox, 0, args.n, args.n)
    roster = RosterSnapshot(tuple(RosterUnit(f"SH{i:05d}", {"联系人": "张三", "电话": "021-12345678"}) for i in range(args.n)))
    with Ledger.open(db, create=True) as led:
        for label in ("first run", "second run, unchanged inbox", "third run, 100 new files"):
            if label.startswith("third"):  # 100 resubmissions, different bytes every time the bench runs
                make_inbox(inbox / "new", 0, 100, args.n, seed=time.time_ns())
            print(label)
            for k, v in one_run(led, inbox, roster).items():
                print(f"  {k:40s} {v:7.3f} s")
        last = led.runs()[-1]
        for name, fn in (("summary", lambda: led.summary()), ("fates (提交记录)", lambda: led.fates(last)),
                         ("history of one unit", lambda: led.history("SH00042")),
                         ("absent", lambda: led.absent(last)), ("moves", lambda: led.moves(last))):
            t0 = time.perf_counter()
            fn()
            print(f"  query {name:34s} {time.perf_counter() - t0:7.3f} s")
    print(f"ledger {db.stat().st_size / 1e6:.1f} MB, archive "
          f"{sum(p.stat().st_size for p in (db.parent / 'round.xlt.archive').rglob('*') if p.is_file()) / 1e6:.0f} MB")
    if args.dir is None:
        shutil.rmtree(base)


if __name__ == "__main__":
    main()
