"""Before/after: read + validate per return with two source trees, in alternating runs on the same files.

    python bench/interleave.py BEFORE_TREE AFTER_TREE FOLDER [FOLDER ...] [--rounds 6] [--sample 500]

Each run is a fresh process that imports xltemplate from one tree and times, on the same returns
(a fixed random sample of each folder's ``*.xlsx``), ``validate_path`` and, as a control for the
machine's load at that moment, ``pandas.read_excel(sheet_name=None, engine="calamine")``. The trees
alternate run by run (before, after, after, before, ...), so that a load on the shared machine that
comes and goes falls on both alike. It prints each run's medians, then the median of the runs' medians
per tree, and the ratio of each to the control measured in the same runs.

``--lockstep``: for a machine whose load changes from second to second, one long-lived process per tree and
one for pandas+calamine, each file timed in the three one right after the other, the order turning from file
to file; the medians over all files and rounds, and the median of the per-file ratios.

``--cpu``: each file timed by the CPU time of the process that measures it (``time.process_time``, every thread of
it) instead of the wall clock: steadier on a loaded machine, where waiting for a core (and, for the files, the disk)
falls into the wall time of whichever process it happened to. Either way the same figure times both trees and
pandas+calamine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, statistics, sys, time
sys.path.insert(0, sys.argv[1])
import pandas as pd
from xltemplate.identify import RunContext
from xltemplate.validate import validate_path
import xltemplate
assert xltemplate.__file__.startswith(sys.argv[1]), xltemplate.__file__
files = json.loads(sys.argv[2])
clock = getattr(time, sys.argv[3])
run = RunContext.builtin()
for f in files[:20]:  # warm: imports, the per-spec plans, what the fast paths remember
    validate_path(f, run)
    pd.read_excel(f, sheet_name=None, engine="calamine")
out = {}
for name, fn in (("ours", lambda f: validate_path(f, run)),
                 ("pandas", lambda f: pd.read_excel(f, sheet_name=None, engine="calamine"))):
    times = []
    for f in files:
        t = clock()
        fn(f)
        times.append(clock() - t)
    out[name] = statistics.median(times)
print(json.dumps(out))
"""


SERVER = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
mode = sys.argv[2]
clock = getattr(time, sys.argv[3])
if mode == "pandas":
    import pandas as pd
    work = lambda f: pd.read_excel(f, sheet_name=None, engine="calamine")
else:
    from xltemplate.identify import RunContext
    from xltemplate.validate import validate_path
    import xltemplate
    assert xltemplate.__file__.startswith(sys.argv[1]), xltemplate.__file__
    run = RunContext.builtin()
    work = lambda f: validate_path(f, run)
print("ready", flush=True)
for line in sys.stdin:
    t = clock()
    work(json.loads(line))
    print(clock() - t, flush=True)
"""


def lockstep(trees: dict[str, Path], files: list[str], rounds: int, clock: str = "perf_counter") -> None:
    """Each file in both trees' processes and in a pandas process, one right after the other (see the module's
    docstring). Each process does one kind of work only, as a loop over the files would: none of them has its
    caches taken by another's code between two files."""
    names = [*trees, "pandas"]
    args = {name: [str(tree), "ours", clock] for name, tree in trees.items()}
    args["pandas"] = [str(trees["after"]), "pandas", clock]
    procs = {name: subprocess.Popen([sys.executable, "-c", SERVER, *args[name]], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True, cwd=args[name][0]) for name in names}
    try:
        for proc in procs.values():
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        got: dict[str, list[float]] = {name: [] for name in names}
        step = 0
        for r in range(rounds + 1):  # (the first round warms: imports, plans, what the fast paths remember)
            for f in files:
                step += 1
                turn = names[step % 3:] + names[:step % 3]
                for name in turn if step % 2 else reversed(turn):
                    proc = procs[name]
                    assert proc.stdin is not None and proc.stdout is not None
                    proc.stdin.write(json.dumps(f) + "\n")
                    proc.stdin.flush()
                    took = float(proc.stdout.readline())
                    if r:
                        got[name].append(took)
        pandas = statistics.median(got["pandas"])
        for name in trees:
            ours = statistics.median(got[name])
            ratio = statistics.median(o / p for o, p in zip(got[name], got["pandas"]))
            print(f"  {name:<6} read + validate {ours * 1000:6.3f} ms, pandas+calamine {pandas * 1000:6.3f} ms, "
                  f"ratio {ours / pandas:5.2f} × (median of the files' ratios {ratio:5.2f} ×), n={len(got[name])}, "
                  f"load {os.getloadavg()[0]:.2f}")
    finally:
        for proc in procs.values():
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout=60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("folders", type=Path, nargs="+")
    ap.add_argument("--rounds", type=int, default=6, help="runs per tree (default 6)")
    ap.add_argument("--sample", type=int, default=500, help="returns per folder (default 500)")
    ap.add_argument("--lockstep", action="store_true", help="file by file in two long-lived processes (a load that changes fast)")
    ap.add_argument("--cpu", action="store_true", help="time by the measuring process's CPU time, not the wall clock")
    args = ap.parse_args()
    clock = "process_time" if args.cpu else "perf_counter"
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    for folder in args.folders:
        files = sorted(str(p) for p in folder.glob("*.xlsx"))
        files = random.Random(7).sample(files, min(args.sample, len(files)))
        print(f"{folder} ({len(files)} returns), {'CPU' if args.cpu else 'wall'} time, load average "
              f"{os.getloadavg()[0]:.2f} at the start:")
        if args.lockstep:
            lockstep(trees, files, args.rounds, clock)
            continue
        got: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
        order = ["before", "after"]
        for r in range(args.rounds):
            for name in order if r % 2 == 0 else reversed(order):
                proc = subprocess.run([sys.executable, "-c", CHILD, str(trees[name]), json.dumps(files), clock],
                                      capture_output=True, text=True, cwd=trees[name])
                if proc.returncode != 0:
                    raise RuntimeError(proc.stderr[-2000:])
                fig = json.loads(proc.stdout.strip().splitlines()[-1])
                got[name].append(fig)
                print(f"  run {r + 1} {name:<6} read + validate {fig['ours'] * 1000:6.3f} ms   "
                      f"pandas+calamine {fig['pandas'] * 1000:6.3f} ms   load {os.getloadavg()[0]:.2f}")
        for name, runs in got.items():
            ours = statistics.median(f["ours"] for f in runs)
            pandas = statistics.median(f["pandas"] for f in runs)
            ratio = statistics.median(f["ours"] / f["pandas"] for f in runs)
            print(f"  {name:<6} median of runs: read + validate {ours * 1000:6.3f} ms, pandas+calamine {pandas * 1000:6.3f} ms, "
                  f"ratio {ratio:5.2f} ×")


if __name__ == "__main__":
    main()
