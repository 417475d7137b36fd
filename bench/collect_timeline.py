"""Where a plain ``collect``'s wall goes, on one timeline: the main process, its workers' stages, the roll-up's child.

    python bench/collect_timeline.py RETURNS ROSTER [--jobs 2] [--runs 1]

Runs ``xltemplate collect RETURNS --roster ROSTER -o … --jobs J --quiet`` in a fresh process per run (this tree's
package) and prints, for each run, one line of marks ``label:wall/cpu`` (seconds since the process started: its wall,
and the main process's own CPU) at: the template's guess (a sample read by a pool of its own), the reading of every
return, matching, the roll-up's second process forked (split.py), the main process done with its own rows and
waiting for the child's (``wait_child``), the child's sheets joined, the zip (``close``); then the workers' CPU by
stage (sniff = open, sha256, zip directory, inflate; read = the fast reader's cells and parts; identify, normalise,
checks, recompute, the report built, packed for the pipe), summed over the pool's workers and per return, with what
the stages leave out (the worker's loop, the pipe), and the load average. The workers are forked from the run's
process (collect holds little: workers.FORKSERVER_FROM), so the stage timers set here reach them; each worker writes
its sums every 50 returns (a file per worker, in a temporary folder: what a worker did after its last 50 is left out,
and the guess's workers, with 32 returns each, are left out), so the figures per return are over the returns written. The timers cost ~1 µs a stage a return.

Written for issue 15's sixteenth pass, where a cProfile of a worker put the formulas' twins at 12 % of a return and a
direct timing at 2 % (cProfile's cost per call inflates what makes many small calls): read the stages here first.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from phase_timer import AROUND  # (this script's folder is on sys.path)

CHILD = r"""
import glob, json, os, resource, sys, time
t0 = time.perf_counter()
marks = []
def mark(label):
    marks.append((label, round(time.perf_counter() - t0, 2), round(time.process_time(), 2)))
returns, roster, out, jobs, sums = sys.argv[1:6]
import xlsxwriter.workbook as xw
import xltemplate.cli as cli
import xltemplate.rollup
from xltemplate import batch, validate
from xltemplate.rollup import split
collect = sys.modules["xltemplate.rollup.collect"]

""" + AROUND + r"""
for owner, name, label in ((collect, "guess_template", "guess"), (collect, "_read", "read"), (collect, "_match", "match"),
                           (split, "start", "fork"), (split.Second, "rows_done", "wait_child"),
                           (split.Second, "join", "join"), (xw.Workbook, "close", "close")):
    around(owner, name, label)

spent = {}
count = [0]
clock = time.process_time

def staged(owner, name, label):
    fn = getattr(owner, name)
    def wrapper(*a, **k):
        t = clock()
        try:
            return fn(*a, **k)
        finally:
            spent[label] = spent.get(label, 0.0) + clock() - t
    setattr(owner, name, wrapper)

# (each looked up where it is called: validate_path's names in validate, the reader through readers.READERS)
import xltemplate.readers as readers
staged(readers, "sniff", "sniff")
read_fast = readers.READERS["fast"]
def timed_read(*a, **k):
    t = clock()
    try:
        return read_fast(*a, **k)
    finally:
        spent["read"] = spent.get("read", 0.0) + clock() - t
readers.READERS["fast"] = timed_read
staged(validate, "identify", "identify")
staged(validate, "normalise", "normalise")
staged(validate, "run_checks", "checks")
staged(validate, "recompute", "recompute")
staged(validate.FileReport, "build", "build")
task = batch._validate_packed_task
def counted(context, path):
    t = clock()
    try:
        return task(context, path)
    finally:
        spent["task"] = spent.get("task", 0.0) + clock() - t
        count[0] += 1
        if count[0] % 50 == 0:
            dump()
def dump():
    with open(f"{sums}.{os.getpid()}", "w") as fh:
        json.dump({"n": count[0], "spent": spent, "cpu": time.process_time()}, fh)
batch._validate_packed_task = counted
sys.argv = ["xltemplate", "collect", returns, "--roster", roster, "-o", out, "--jobs", jobs, "--quiet"]
try:
    cli.main()
except SystemExit:
    pass
mark("end")
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"marks": marks, "children_cpu": round(kids.ru_utime + kids.ru_stime, 2), "load": os.getloadavg()[0]}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("returns")
    ap.add_argument("roster")
    ap.add_argument("--jobs", default="2")
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    root = Path(__file__).resolve().parents[1]
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="timeline-") as tmp:
            sums = os.path.join(tmp, "stages")
            load = os.getloadavg()[0]
            got = subprocess.run([sys.executable, "-c", CHILD, args.returns, args.roster, os.path.join(tmp, "out.xlsx"),
                                  args.jobs, sums], capture_output=True, text=True, cwd=root,
                                 env={**os.environ, "PYTHONPATH": str(root)})
            if got.returncode:
                sys.exit(got.stderr[-3000:])
            r = json.loads(got.stdout.strip().splitlines()[-1])
            print(f"run {run + 1} (load {load:.2f} → {r['load']:.2f}):", " ".join(f"{lab}:{w}/{c}" for lab, w, c in r["marks"]))
            stages: dict[str, float] = {}
            n = 0
            for f in Path(tmp).glob("stages.*"):
                one = json.loads(f.read_text())
                n += one["n"]
                for k, v in one["spent"].items():
                    stages[k] = stages.get(k, 0.0) + v
            if n:
                named = {k: v for k, v in stages.items() if k != "task"}
                print(f"  workers: {n} returns, CPU by stage (s, µs a return): "
                      + ", ".join(f"{k} {v:.2f} ({v / n * 1e6:.0f})" for k, v in sorted(named.items(), key=lambda kv: -kv[1]))
                      + f"; the task in all {stages.get('task', 0):.2f} ({stages.get('task', 0) / n * 1e6:.0f});"
                      f" all the children's CPU {r['children_cpu']} s")


if __name__ == "__main__":
    main()
