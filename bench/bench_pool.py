"""The worker pool alone (xltemplate.workers): its wall and the main process's CPU per task, ways alternating.

    python bench/bench_pool.py [--tasks 4000] [--work-ms 1.0] [--reply 6000] [--rounds 5] [--jobs 2]

Each task burns about WORK-MS of CPU in a worker and sends back REPLY bytes (about a pickled report), as collect's
read does; the tasks' own CPU is the same in every way, so what differs is the pool's: the main process's CPU (it
competes with the workers for the CPUs) and the time workers wait for it. Ways: ``old`` (IN_FLIGHT=1,
KEEP_SELECTOR=False: the loop before issue 15's fifth pass), ``ahead`` (IN_FLIGHT=2 only), ``new`` (both), in
turn, reversed every round, in fresh processes; medians, with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import json, sys, time, os
sys.path.insert(0, sys.argv[1])
from xltemplate import workers
tasks, work, reply, jobs, depth, keep = int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7] == "1"
workers.IN_FLIGHT, workers.KEEP_SELECTOR = depth, keep
import bench_pool_task as task
t0, c0 = time.perf_counter(), time.process_time()
got = []
workers.run_many(task.burn, task.failed, list(range(tasks)), context=(work, reply), jobs=jobs, keep=False,
                 each=lambda n, r: got.append(len(r)))
t1, c1 = time.perf_counter(), time.process_time()
assert len(got) == tasks and set(got) == {reply}
print(json.dumps({"wall": t1 - t0, "cpu": c1 - c0}))
"""

TASK = r"""
import time
def burn(context, n):
    work, reply = context
    end = time.thread_time() + work / 1000
    x = 0
    while time.thread_time() < end:
        x += 1
    return bytes(reply)
def failed(payload, code, what):
    return code
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=4000)
    ap.add_argument("--work-ms", type=float, default=1.0)
    ap.add_argument("--reply", type=int, default=6000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    tmp = os.environ.get("TMPDIR", "/tmp")
    with open(os.path.join(tmp, "bench_pool_task.py"), "w") as fh:
        fh.write(TASK)
    ways = [("old", 1, "0"), ("ahead", 2, "0"), ("new", 2, "1")]
    got: dict[str, list[dict[str, float]]] = {w[0]: [] for w in ways}
    order = list(ways)
    env = {**os.environ, "PYTHONPATH": tmp}
    for n in range(args.rounds):
        for label, depth, keep in order:
            load = os.getloadavg()[0]
            out = subprocess.run([sys.executable, "-c", CHILD, root, str(args.tasks), str(args.work_ms), str(args.reply),
                                  str(args.jobs), str(depth), keep], capture_output=True, text=True, env=env)
            if out.returncode:
                sys.exit(out.stderr[-3000:])
            r = json.loads(out.stdout.strip().splitlines()[-1])
            r["load"] = load
            got[label].append(r)
            print(f"round {n + 1} {label:>6}: wall {r['wall']:6.2f} s, main CPU {r['cpu']:5.2f} s "
                  f"({r['cpu'] / args.tasks * 1e6:5.0f} µs a task); load {load:.2f}", flush=True)
        order.reverse()
    ideal = args.tasks * args.work_ms / 1000 / args.jobs
    print(f"medians ({args.tasks} tasks of {args.work_ms} ms CPU, {args.jobs} workers: {ideal:.2f} s if the pool cost nothing):")
    for label, runs in got.items():
        wall, cpu = statistics.median(r["wall"] for r in runs), statistics.median(r["cpu"] for r in runs)
        print(f"  {label:>6}: wall {wall:6.2f} s, main CPU {cpu:5.2f} s ({cpu / args.tasks * 1e6:4.0f} µs a task); "
              f"load {min(r['load'] for r in runs):.1f}–{max(r['load'] for r in runs):.1f}")


if __name__ == "__main__":
    main()
