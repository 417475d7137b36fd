"""A round's second run, again and again: ``collect --ledger`` over an unchanged inbox, from the same ledger state.

    python bench/bench_round.py ... (or one ``collect --ledger`` run) leaves DIR/round/round.xlt.db after run 1;
    python bench/second_run.py DIR --snap                 # copy that ledger aside (DIR/snap.xlt.db), once
    python bench/second_run.py DIR --rounds 3             # the second run 3 times, each from the copy, wall + phases
    python bench/second_run.py DIR --rounds 3 --inbox I --roster R   # after bench_round.py --inbox I --roster R
    python bench/second_run.py DIR --profile out.pstats   # one run under cProfile
    python bench/second_run.py DIR --rounds 3 --ab xltemplate.rollup.reuse:SUMMARY_ROWS   # A/B: the switch on, off, …
    python bench/second_run.py DIR --rounds 3 --against /work/main   # this checkout and another, alternately

Make run 1 (and so the copy) with the code you measure: a kept sheet's key holds a digest of xltemplate's whole
source (reuse.writer_digest), so a ledger left by other code has every sheet written anew. Each run starts from the
ledger as run 1 left it (copied back; the archive is shared, a second run adds nothing to
it), so every run is the bench's "second run, inbox unchanged", and its roll-up is written to DIR/round/r2.xlsx.
Times: the wall time of the whole CLI call in a fresh process (imports included), its CPU time, and the phases of
rounds.run as bench_round.py times them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from phase_timer import TIMER  # (this script's folder is on sys.path)

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import time, os, sys, json
t0 = time.perf_counter(); c0 = time.process_time()
args = json.loads(sys.argv[1])
import importlib
""" + TIMER + r"""for spec, value in args["switches"]:
    mod, attr = spec.split(":")
    setattr(importlib.import_module(mod), attr, value)
from xltemplate.cli import main
t_imp = time.perf_counter() - t0
if args["phases"]:
    import xltemplate.rounds.run as rr
    from xltemplate.ledger import store
    timed(store.Ledger, "ingest", "intake")
    timed(rr, "_stale", "which files to read")
    timed(rr, "_load_stored", "load briefs")
    timed(rr, "_collection", "match")
    timed(rr, "received", "提交记录 rows")
    timed(rr, "since", "since")
    timed(rr, "write_rollup", "write the roll-up")
prof = None
if args["profile"]:
    import cProfile
    prof = cProfile.Profile()
    prof.enable()
try:
    main(args["argv"], standalone_mode=False)
finally:
    if prof is not None:
        prof.disable()
        prof.dump_stats(args["profile"])
wall = time.perf_counter() - t0
hwm = int([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]) / 1024
print(json.dumps({"wall": wall, "cpu": time.process_time() - c0, "imports": t_imp, "phases": spent, "hwm": hwm}))
"""


def run_once(d: Path, switches: Sequence[tuple[str, object]], profile: str | None, phases: bool = True,
             code: Path | None = None, where: str = "round", snap: str = "snap.xlt.db",
             inbox: Path | None = None, roster: Path | None = None) -> dict:
    rnd = d / where
    db = rnd / "round.xlt.db"
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    shutil.copyfile(d / snap, db)
    argv = ["collect", str(inbox or d / "returns"), "--roster", str(roster or d / "roster.csv"), "--ledger", str(db), "--jobs", "2",
            "--quiet", "--json", "-o", str(rnd / "r2.xlsx")]
    payload = json.dumps({"argv": argv, "switches": switches, "profile": profile, "phases": phases})
    env = {**os.environ, "PYTHONPATH": str(code)} if code is not None else None
    proc = subprocess.run([sys.executable, "-c", CHILD, payload], capture_output=True, text=True, cwd=code or ROOT, env=env)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:] + proc.stdout[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--snap", action="store_true", help="copy the ledger run 1 left (DIR/round/round.xlt.db) aside")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--inbox", type=Path, default=None,
                    help="the inbox run 1 read (default DIR/returns; bench_round.py's --inbox when it was given one)")
    ap.add_argument("--roster", type=Path, default=None, help="the roster run 1 read (default DIR/roster.csv)")
    ap.add_argument("--profile", default=None)
    ap.add_argument("--ab", default=None, help="module:NAME[,module:NAME…], switches run all True, then all False, alternately")
    ap.add_argument("--against", type=Path, default=None,
                    help="another checkout (e.g. /work/main), run alternately with this one, from DIR/round-other with "
                         "DIR/snap-other.xlt.db (its own run 1's ledger; the archive folder hard-linked from DIR/round)")
    args = ap.parse_args()
    if args.snap:
        shutil.copyfile(args.dir / "round" / "round.xlt.db", args.dir / "snap.xlt.db")
        return
    with open("/proc/loadavg") as fh:
        print("load", fh.read().split()[0])
    for n in range(args.rounds):
        for value in ([True, False] if args.ab or args.against else [None]):
            switches = [(name, value) for name in args.ab.split(",")] if args.ab else []
            if args.against is not None and value is False:
                r = run_once(args.dir, [], args.profile, code=args.against, where="round-other", snap="snap-other.xlt.db",
                             inbox=args.inbox, roster=args.roster)
                label = str(args.against)
            else:
                r = run_once(args.dir, switches, args.profile, inbox=args.inbox, roster=args.roster)
                label = (f"switches {value}" if args.ab else "this") if value is not None else "run"
            phases = "  ".join(f"{k} {v:.2f}" for k, v in r["phases"].items())
            print(f"{n} {label}: wall {r['wall']:.2f} s  cpu {r['cpu']:.2f} s  imports {r['imports']:.2f} s  peak {r['hwm']:.0f} MB | {phases}",
                  flush=True)
    with open("/proc/loadavg") as fh:
        print("load", fh.read().split()[0])


if __name__ == "__main__":
    main()
