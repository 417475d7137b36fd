"""Benchmark a collection round end to end: ``collect --ledger`` three times over 10,000 returns.

    python bench/bench_round.py                        # 10,000 returns (making them takes a few minutes)
    python bench/bench_round.py --n 1000               # a quick look
    python bench/bench_round.py --dir /tmp/b --reuse   # the returns bench/bench.py (or an earlier run) left in /tmp/b
    python bench/bench_round.py --dir /tmp/r --n 100000 --inbox /tmp/b/scaled --roster /tmp/b/roster-scaled.csv
                                                       # 100,000 (bench.py --scale 10's), read in place
    python bench/bench_round.py --dir /tmp/r --reuse --snap   # and keep the ledger of the first run for second_run.py

Times, each run in a fresh process with ``--jobs 2`` (as a clerk runs it), roll-up included:
the first run (every file hashed, archived, validated, its report stored); a second run over the
unchanged inbox (every file hashed again, nothing read); a third with 100 new files (resubmissions
of 100 units: their saved time changed). Each run's time is split into its phases, measured in the
process: the ledger's intake (hash, archive, record), the look-up of stored reports, validating,
loading the stored reports, matching, recording the decisions, and writing the roll-up; and memory: the main
process's peak (VmHWM) in all and after each of those phases, and the largest child's (a worker, or the roll-up's
second process: RUSAGE_CHILDREN), also after each phase (after validating: the workers; after the roll-up: its
second process too).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import make_returns, write_roster  # noqa: E402  (bench/bench.py: this script's folder is on sys.path)
from tests.tamper import set_saved_time  # noqa: E402
from phase_timer import TIMER  # noqa: E402  (this script's folder is on sys.path)

# Run in the child: wrap the phases of rounds.run to time them, run the CLI, print one JSON line.
CHILD = r"""
import json, sys, time
from click.testing import CliRunner
import xltemplate.rounds.run as rr
from xltemplate.ledger import store
""" + TIMER + r"""timed(store.Ledger, "ingest", "intake: hash, archive, record")
timed(rr, "_stale", "which files to read (stored reports)")
timed(rr, "_read", "validate (2 workers) and store reports")
timed(rr, "_load_stored", "load the stored reports")
timed(rr, "_collection", "match and choose")
timed(rr, "received", "提交记录 rows")
timed(rr, "write_rollup", "write the roll-up")
import resource
hwm_after = {}
children_after = {}  # the largest child's peak so far (RUSAGE_CHILDREN) after each phase: _read's are the workers

def _hwm():
    return int([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]) / 1024
for _owner, _name in ((store.Ledger, "ingest"), (rr, "_stale"), (rr, "_read"), (rr, "_load_stored"), (rr, "_collection"),
                      (rr, "received"), (rr, "write_rollup")):
    def _peaked(fn, name):
        def wrapper(*a, **k):
            try:
                return fn(*a, **k)
            finally:
                hwm_after[name] = _hwm()
                children_after[name] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        return wrapper
    setattr(_owner, _name, _peaked(getattr(_owner, _name), _name))
from xltemplate.cli import main
t = time.perf_counter()
r = CliRunner().invoke(main, sys.argv[1:])
wall = time.perf_counter() - t
assert r.exit_code == 0, r.output
hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]
data = json.loads(r.output)
workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"wall": wall, "main_mb": int(hwm) / 1024, "workers_mb": workers, "hwm_after": hwm_after, "children_after": children_after, "phases": spent, "ledger": data["ledger"], "units": data["units"]}))
"""


def run(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def show(label: str, r: dict) -> None:
    led = r["ledger"]
    print(f"{label}: {r['wall']:.2f} s  (read {led['read']}, reused {led['reused']}, received {led['received']};"
          f" main process peak {r['main_mb']:.0f} MB, largest child {r['workers_mb']:.0f} MB)")
    print("    main peak after each phase (MB): " + ", ".join(f"{k} {v:.0f}" for k, v in r["hwm_after"].items()))
    print("    largest child after each phase (MB): " + ", ".join(f"{k} {v:.0f}" for k, v in r["children_after"].items()))
    for name, secs in r["phases"].items():
        print(f"    {name:<44} {secs:7.2f} s")
    rest = r["wall"] - sum(r["phases"].values())
    print(f"    {'the rest (start, roster, discover, decide …)':<44} {rest:7.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--dir", type=Path, default=None, help="work folder (default: a temporary one, removed)")
    ap.add_argument("--reuse", action="store_true", help="with --dir: keep the returns made by an earlier run")
    ap.add_argument("--lo-share", type=float, default=0.05)
    ap.add_argument("--inbox", type=Path, default=None,
                    help="returns read in place (e.g. bench.py --scale 10's scaled/), not made; with --roster")
    ap.add_argument("--roster", type=Path, default=None, help="the roster read in place (default: written for --n)")
    ap.add_argument("--snap", action="store_true",
                    help="copy the ledger the first run left to DIR/snap.xlt.db (what second_run.py --rounds reads)")
    args = ap.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="xlt-bench-round-"))
    try:
        inbox = args.inbox or work / "returns"
        roster = args.roster or work / "roster.csv"
        t = time.perf_counter()
        if args.inbox is None and not (args.reuse and inbox.is_dir()):
            make_returns(inbox, args.n, args.lo_share, 2)
        files = sorted(inbox.glob("*.xlsx"))[: args.n]
        if args.roster is None:
            write_roster(roster, args.n)
        print(f"{len(files)} returns ready in {time.perf_counter() - t:.0f} s; mean "
              f"{sum(f.stat().st_size for f in files) / len(files) / 1024:.1f} KiB")
        shutil.rmtree(work / "round", ignore_errors=True)
        shutil.rmtree(work / "new", ignore_errors=True)
        (work / "round").mkdir(parents=True)
        base = ["collect", str(inbox), "--roster", str(roster), "--ledger", str(work / "round" / "round.xlt.db"),
                "--jobs", "2", "--quiet", "--json"]
        first = run(base + ["-o", str(work / "round" / "r1.xlsx")])
        show("first run", first)
        if args.snap:
            shutil.copyfile(work / "round" / "round.xlt.db", work / "snap.xlt.db")
        second = run(base + ["-o", str(work / "round" / "r2.xlsx")])
        show("second run, inbox unchanged", second)
        (work / "new").mkdir()
        for n, f in enumerate(files[:100]):  # 100 units send their return again, saved a day later
            set_saved_time(f, work / "new" / f"{f.stem}-again.xlsx", dt.datetime(2021, 5, 2, 9, 0, n % 60))
        third = run(base[:2] + [str(work / "new")] + base[2:] + ["-o", str(work / "round" / "r3.xlsx")])
        show("third run, 100 new files", third)
        db = work / "round" / "round.xlt.db"
        archive = work / "round" / "round.xlt.archive"
        print(f"ledger {db.stat().st_size / 1e6:.0f} MB; archive "
              f"{sum(p.stat().st_size for p in archive.rglob('*') if p.is_file()) / 1e6:.0f} MB")
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
