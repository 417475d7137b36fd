"""collect's main process: its wall and CPU while the workers read, and in the roll-up after them (issue 15).

    python bench/bench_main_cpu.py RETURNS ROSTER WAY [WAY ...] [--rounds 2] [--jobs 2] [--profile OUT]

A WAY is ``label=TREE`` or ``label=TREE:SWITCH=0,SWITCH=1`` (a switch of ``xltemplate.rollup.collect``, e.g.
``PREPICKLE=0``, or of another module of the package, e.g. ``workers.IN_FLIGHT=1``; a number switch takes the number). Each run is a fresh process that imports xltemplate from TREE and runs ``xltemplate collect
RETURNS --roster ROSTER -o … --jobs J --quiet`` through click, timing the reading (until the roll-up writer is
called) and the roll-up apart: wall, and this process's CPU (its workers' CPU is counted once they end). The
ways alternate run by run (A B C, C B A, …), and the last round's roll-ups are compared byte for byte so that a load that comes and goes falls on all alike; the load
average is printed beside each run. ``--profile``: one run of each way under cProfile (main process only),
its top functions by own time written to OUT.LABEL.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

CHILD = r"""
import json, os, resource, sys, time
tree, returns, roster, out, jobs, switches, profile = sys.argv[1:8]
sys.path.insert(0, tree)
import xltemplate, xltemplate.rollup as rollup
assert xltemplate.__file__.startswith(tree), xltemplate.__file__
import importlib
collect_mod = importlib.import_module("xltemplate.rollup.collect")
for item in filter(None, switches.split(",")):
    name, value = item.split("=")
    owner = collect_mod
    if "." in name:  # module.SWITCH, a module of xltemplate (e.g. workers.IN_FLIGHT=1)
        where, name = name.rsplit(".", 1)
        owner = importlib.import_module(f"xltemplate.{where}")
    assert hasattr(owner, name), name
    old = getattr(owner, name)
    setattr(owner, name, int(value) if type(old) is int else bool(int(value)))
from click.testing import CliRunner
from xltemplate.cli import main
marks = {}
real = rollup.write_rollup
def timed(*a, **k):
    marks["read"] = (time.perf_counter(), time.process_time())
    return real(*a, **k)
rollup.write_rollup = timed
prof = None
if profile != "-":
    import cProfile
    prof = cProfile.Profile()
    prof.enable()
t0, c0 = time.perf_counter(), time.process_time()
r = CliRunner().invoke(main, ["collect", returns, "--roster", roster, "-o", out, "--jobs", jobs, "--quiet"])
t1, c1 = time.perf_counter(), time.process_time()
if prof is not None:
    prof.disable()
    import pstats, io
    s = io.StringIO()
    pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(45)
    open(profile, "w").write(s.getvalue())
assert r.exit_code in (0, 1), (r.exit_code, r.output[-2000:])
tr, cr = marks["read"]
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall": t1 - t0, "cpu": c1 - c0, "read_wall": tr - t0, "read_cpu": cr - c0,
                  "rollup_wall": t1 - tr, "rollup_cpu": c1 - cr, "workers_cpu": kids.ru_utime + kids.ru_stime}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("returns")
    ap.add_argument("roster")
    ap.add_argument("ways", nargs="+")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--jobs", default="2")
    ap.add_argument("--profile", default=None)
    args = ap.parse_args()
    ways = []
    for w in args.ways:
        label, rest = w.split("=", 1)
        tree, _, switches = rest.partition(":")
        ways.append((label, os.path.abspath(tree), switches))
    got: dict[str, list[dict]] = {label: [] for label, _, _ in ways}
    work = tempfile.mkdtemp(prefix="bench-main-cpu-")
    order = list(ways)
    for n in range(args.rounds):
        for label, tree, switches in order:
            load = os.getloadavg()[0]
            prof = f"{args.profile}.{label}.txt" if args.profile and n == 0 else "-"
            out = subprocess.run([sys.executable, "-c", CHILD, tree, args.returns, args.roster,
                                  os.path.join(work, f"{label}.xlsx"), args.jobs, switches, prof],
                                 capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(f"{label}: the run failed:\n{out.stderr[-3000:]}")
            r = json.loads(out.stdout.strip().splitlines()[-1])
            r["load"] = load
            got[label].append(r)
            print(f"round {n + 1} {label:>10}: wall {r['wall']:6.1f} s (read {r['read_wall']:6.1f}, roll-up "
                  f"{r['rollup_wall']:5.1f}); main CPU {r['cpu']:5.2f} s (read {r['read_cpu']:5.2f}, roll-up "
                  f"{r['rollup_cpu']:5.2f}); workers CPU {r['workers_cpu']:6.1f} s; load {load:.2f}"
                  + ("  [profiled]" if prof != "-" else ""), flush=True)
        order.reverse()
    print("medians (profiled rounds excluded when there are others):")
    for label, runs in got.items():
        use = runs[1:] if args.profile and len(runs) > 1 else runs
        med = {k: statistics.median(r[k] for r in use) for k in use[0]}
        print(f"  {label:>10}: wall {med['wall']:6.1f} s (read {med['read_wall']:6.1f}, roll-up {med['rollup_wall']:5.1f}); "
              f"main CPU {med['cpu']:5.2f} s (read {med['read_cpu']:5.2f}, roll-up {med['rollup_cpu']:5.2f}); "
              f"workers CPU {med['workers_cpu']:6.1f} s; load {min(r['load'] for r in use):.1f}–{max(r['load'] for r in use):.1f}")
    rollups = {label: open(os.path.join(work, f"{label}.xlsx"), "rb").read() for label in got}
    print("the last round's roll-ups byte-identical:", "yes" if len(set(rollups.values())) == 1 else "NO")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
