"""collect with the reports spilled or held, alternately: wall time and peak memory (issue 15, memory flat in N).

    python bench/collect_memory.py RETURNS ROSTER [--rounds 2] [--jobs 2] [--ledger]

Each run is a fresh process running ``xltemplate collect RETURNS --roster ROSTER --jobs J`` with
``rollup.collect.SPILL`` on, then off (``--order off-on`` to start with off), and prints its wall time, the
main process's peak RSS (VmHWM) and the largest worker's (RUSAGE_CHILDREN), with the load average.
``--ledger``: two runs of ``collect --ledger`` into a fresh ledger per setting, the second over the unchanged
inbox (the figure of the issue's second run), each split into intake, loading the stored reports and writing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from phase_timer import TIMER  # (this script's folder is on sys.path)

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import importlib, json, resource, sys, time
from click.testing import CliRunner
spill, args = sys.argv[1], sys.argv[2:]
importlib.import_module("xltemplate.rollup.collect").SPILL = spill == "on"
import xltemplate.rounds.run as rr
from xltemplate.ledger import store
""" + TIMER + r"""timed(store.Ledger, "ingest", "intake")
timed(rr, "_load_stored", "load stored")
timed(rr, "write_rollup", "write")
from xltemplate.cli import main
t = time.perf_counter()
r = CliRunner().invoke(main, args)
wall = time.perf_counter() - t
assert r.exit_code == 0, r.output
hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"spill": spill, "wall": round(wall, 1), "main_mb": int(hwm) // 1024, "worker_mb": kids // 1024,
                  **{k: round(v, 2) for k, v in spent.items()}}))
"""


def run(spill: str, args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, spill, *args], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    got["load"] = round(os.getloadavg()[0], 1)
    return got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("returns", type=Path)
    ap.add_argument("roster", type=Path)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--order", choices=("on-off", "off-on"), default="on-off")
    ap.add_argument("--ledger", action="store_true", help="a first and a second collect --ledger per setting")
    a = ap.parse_args()
    order = a.order.split("-")
    with tempfile.TemporaryDirectory(prefix="collect-memory-") as tmp:
        for n in range(a.rounds):
            for spill in order:
                base = ["collect", str(a.returns), "--roster", str(a.roster), "--jobs", str(a.jobs), "--quiet", "--json"]
                if not a.ledger:
                    print(json.dumps(run(spill, base + ["-o", f"{tmp}/rollup-{spill}.xlsx"])), flush=True)
                    continue
                ledger = f"{tmp}/round-{spill}-{n}.xlt.db"
                for which in ("first", "second"):
                    got = run(spill, base + ["--ledger", ledger, "-o", f"{tmp}/rollup-{spill}-{which}.xlsx"])
                    print(json.dumps({"run": which, **got}), flush=True)
        if not a.ledger and len(order) == 2:
            same = Path(f"{tmp}/rollup-on.xlsx").read_bytes() == Path(f"{tmp}/rollup-off.xlsx").read_bytes()
            print(f"roll-ups identical with the spill on and off: {same}")


if __name__ == "__main__":
    main()
