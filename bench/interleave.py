"""Before/after: read + validate per return with two source trees, in alternating runs on the same files.

    python bench/interleave.py BEFORE_TREE AFTER_TREE FOLDER [FOLDER ...] [--rounds 6] [--sample 500]

Each run is a fresh process that imports xltemplate from one tree and times, on the same returns
(a fixed random sample of each folder's ``*.xlsx``), ``validate_path`` and, as a control for the
machine's load at that moment, ``pandas.read_excel(sheet_name=None, engine="calamine")``. The trees
alternate run by run (before, after, after, before, ...), so that a load on the shared machine that
comes and goes falls on both alike. It prints each run's medians, then the median of the runs' medians
per tree, and the ratio of each to the control measured in the same runs.
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
run = RunContext.builtin()
for f in files[:20]:  # warm: imports, the per-spec plans, what the fast paths remember
    validate_path(f, run)
    pd.read_excel(f, sheet_name=None, engine="calamine")
out = {}
for name, fn in (("ours", lambda f: validate_path(f, run)),
                 ("pandas", lambda f: pd.read_excel(f, sheet_name=None, engine="calamine"))):
    times = []
    for f in files:
        t = time.perf_counter()
        fn(f)
        times.append(time.perf_counter() - t)
    out[name] = statistics.median(times)
print(json.dumps(out))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("folders", type=Path, nargs="+")
    ap.add_argument("--rounds", type=int, default=6, help="runs per tree (default 6)")
    ap.add_argument("--sample", type=int, default=500, help="returns per folder (default 500)")
    args = ap.parse_args()
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    for folder in args.folders:
        files = sorted(str(p) for p in folder.glob("*.xlsx"))
        files = random.Random(7).sample(files, min(args.sample, len(files)))
        print(f"{folder} ({len(files)} returns), load average {os.getloadavg()[0]:.2f} at the start:")
        got: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
        order = ["before", "after"]
        for r in range(args.rounds):
            for name in order if r % 2 == 0 else reversed(order):
                proc = subprocess.run([sys.executable, "-c", CHILD, str(trees[name]), json.dumps(files)],
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
