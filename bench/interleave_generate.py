"""Before/after: ``generate`` 1,000 workbooks from a roster with two source trees, in alternating runs.

    python bench/interleave_generate.py BEFORE_TREE AFTER_TREE WORK [--rounds 4] [--jobs 2]

WORK is a bench folder (``bench.py --dir WORK``) holding ``roster-gen.csv`` (first form) and
``roster-national.csv`` with ``targets-national.csv`` (national form with targets). Each run is a fresh
process that imports xltemplate from one tree and times ``distribute`` of each family (roster and
targets read included, as ``bench.py`` times them) into a fresh folder; the trees alternate run by run
(before, after, after, before, ...) so that a load on the shared machine that comes and goes falls on
both alike. It prints each run's wall time and CPU time of the whole process tree (the main process and
its workers) with the load average, then the median per tree. With ``--compare`` the workbooks both trees
wrote in their last runs are compared byte for byte.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import datetime as dt, json, os, resource, shutil, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import xltemplate
assert xltemplate.__file__.startswith(sys.argv[1]), xltemplate.__file__
from xltemplate.catalog import load_spec, templates_dir
from xltemplate.distribute import distribute
from xltemplate.roster import read_roster
from xltemplate.targets import read_targets
work, out, jobs = Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
stamp = dt.datetime(2026, 1, 2, 3, 4, 5)
res = {}
for family in ("first", "national"):
    dest = out / family
    shutil.rmtree(dest, ignore_errors=True)
    cpu0 = sum(resource.getrusage(w).ru_utime + resource.getrusage(w).ru_stime for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    t = time.perf_counter()
    if family == "first":
        spec = load_spec(templates_dir() / "sh-project-self-eval.yaml")
        distribute(spec, read_roster(work / "roster-gen.csv", spec), dest, jobs=jobs, generated_at=stamp)
    else:
        spec = load_spec(templates_dir() / "cn-project-self-eval.yaml")
        roster = read_roster(work / "roster-national.csv", spec)
        distribute(spec, roster, dest, jobs=jobs, targets=read_targets(work / "targets-national.csv", spec, roster),
                   generated_at=stamp)
    wall = time.perf_counter() - t
    cpu = sum(resource.getrusage(w).ru_utime + resource.getrusage(w).ru_stime for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) - cpu0
    res[family] = {"wall": wall, "cpu": cpu, "n": len(list(dest.glob("*.xlsx")))}
print(json.dumps(res))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("work", type=Path)
    ap.add_argument("--rounds", type=int, default=4, help="runs per tree (default 4)")
    ap.add_argument("--jobs", type=int, default=2, help="generate's --jobs (default 2)")
    ap.add_argument("--compare", action="store_true", help="compare the workbooks both trees wrote, byte for byte")
    args = ap.parse_args()
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    out = {name: args.work / f"interleave-generate-{name}" for name in trees}
    got: dict[str, list[dict[str, dict[str, float]]]] = {"before": [], "after": []}
    print(f"generate from {args.work}, --jobs {args.jobs}, load average {os.getloadavg()[0]:.2f} at the start:")
    order = ["before", "after"]
    for r in range(args.rounds):
        for name in order if r % 2 == 0 else reversed(order):
            proc = subprocess.run([sys.executable, "-c", CHILD, str(trees[name]), str(args.work), str(out[name]), str(args.jobs)],
                                  capture_output=True, text=True, cwd=trees[name])
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr[-2000:])
            fig = json.loads(proc.stdout.strip().splitlines()[-1])
            got[name].append(fig)
            print(f"  run {r + 1} {name:<6} " + "   ".join(
                f"{fam} {f['n']}: {f['wall']:5.2f} s wall, {f['cpu']:5.2f} s CPU" for fam, f in fig.items())
                + f"   load {os.getloadavg()[0]:.2f}", flush=True)
    for name, runs in got.items():
        print(f"  {name:<6} median: " + "   ".join(
            f"{fam} {statistics.median(r[fam]['wall'] for r in runs):5.2f} s wall, "
            f"{statistics.median(r[fam]['cpu'] for r in runs):5.2f} s CPU" for fam in runs[0]))
    if args.compare:
        for fam in ("first", "national"):
            a, b = out["before"] / fam, out["after"] / fam
            names = sorted(p.name for p in a.iterdir())
            differ = [n for n in names if (a / n).read_bytes() != (b / n).read_bytes()]
            same = names == sorted(p.name for p in b.iterdir())
            print(f"  {fam}: {len(names)} files, same names: {same}, differing bytes: {len(differ)} {differ[:3]}")


if __name__ == "__main__":
    main()
