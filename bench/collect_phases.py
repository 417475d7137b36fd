"""collect in one process, its memory by phase (issue 15, memory flat in N).

    python bench/collect_phases.py RETURNS ROSTER OUT.xlsx [JOBS]

Runs ``xltemplate collect RETURNS --roster ROSTER -o OUT.xlsx --jobs JOBS --quiet --json`` (JOBS default 2)
and prints one JSON line: wall time, the main process's peak RSS (VmHWM), the largest worker's
(RUSAGE_CHILDREN), and the RSS sampled every 50 ms tagged by phase (discover, roster, read, assemble,
write): ``peaks`` the highest seen in each, ``ends`` the RSS as it ended, with the load average; ``secs`` and ``cpu``
each phase's wall and this process's CPU seconds, ``children_by_phase`` the CPU seconds of the children that ended in each
phase (the reading's workers in ``read``, the roll-up's second process in ``write``), ``main_cpu`` and ``children_cpu`` the whole run's (the workers and
the roll-up's second process in the latter).
"""

import json
import os
import resource
import sys
import threading
import time

from click.testing import CliRunner

import xltemplate.cli as cli
import xltemplate.inputs as inputs
import xltemplate.roster as roster
import xltemplate.rollup as rollup
import xltemplate.rollup.collect  # noqa: F401 - the module (the package's name `collect` is the function)

collect = sys.modules["xltemplate.rollup.collect"]
phase = ["start"]
peaks: dict[str, int] = {}
ends: dict[str, int] = {}
secs: dict[str, float] = {}  # wall seconds by phase
cpu: dict[str, float] = {}  # this process's CPU seconds by phase
kids_cpu: dict[str, float] = {}  # the children's CPU seconds ended in each phase (the workers are waited for in "read")


def rss() -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) // 1024 for line in fh if line.startswith("VmRSS"))


def sample() -> None:
    while True:
        now, p = rss(), phase[0]
        peaks[p] = max(peaks.get(p, 0), now)
        time.sleep(0.05)


def children() -> float:
    got = resource.getrusage(resource.RUSAGE_CHILDREN)
    return got.ru_utime + got.ru_stime


def tag(owner: object, name: str, label: str) -> None:
    fn = getattr(owner, name)

    def wrapper(*a: object, **k: object) -> object:
        phase[0] = label
        t, c, k0 = time.perf_counter(), time.process_time(), children()
        try:
            return fn(*a, **k)
        finally:
            kids_cpu[label] = round(kids_cpu.get(label, 0.0) + children() - k0, 2)
            secs[label] = round(secs.get(label, 0.0) + time.perf_counter() - t, 2)
            cpu[label] = round(cpu.get(label, 0.0) + time.process_time() - c, 2)
            ends[label] = rss()
            phase[0] = f"after {label}"

    setattr(owner, name, wrapper)


def main() -> None:
    folder, roster_path, out = sys.argv[1:4]
    jobs = sys.argv[4] if len(sys.argv) > 4 else "2"
    tag(roster, "read_roster", "roster")
    tag(inputs, "discover", "discover")
    tag(collect, "_read", "read")
    tag(collect, "assemble", "assemble")
    tag(rollup, "write_rollup", "write")
    threading.Thread(target=sample, daemon=True).start()
    t = time.perf_counter()
    r = CliRunner().invoke(cli.main, ["collect", folder, "--roster", roster_path, "-o", out, "--jobs", jobs, "--quiet", "--json"])
    wall = time.perf_counter() - t
    assert r.exit_code == 0, r.output
    with open("/proc/self/status") as fh:
        hwm = next(int(line.split()[1]) // 1024 for line in fh if line.startswith("VmHWM"))
    kids_usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    kids = kids_usage.ru_maxrss // 1024
    own = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"wall": round(wall, 1), "main_mb": hwm, "worker_mb": kids, "peaks": peaks, "ends": ends,
                      "secs": secs, "cpu": cpu, "children_by_phase": kids_cpu, "main_cpu": round(own.ru_utime + own.ru_stime, 1),
                      "children_cpu": round(kids_usage.ru_utime + kids_usage.ru_stime, 1),
                      "load": round(os.getloadavg()[0], 1)}))


if __name__ == "__main__":
    main()
