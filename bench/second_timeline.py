"""A round's second run on one timeline: where the whole command's wall goes, the phases and what lies between them.

    python bench/second_timeline.py DIR [--inbox I --roster R] [--runs 3] [--against /work/main] [--bytecode $TMPDIR/pyc]

DIR is second_run.py's (a round made by bench_round.py, its ledger copied aside by ``second_run.py DIR --snap``):
each run starts from that copy, in a fresh process (``python -c``), as second_run.py's do. Printed per run: one line
of marks ``label@wall/cpu`` in seconds since the parent launched the child (so the interpreter's own start is the
first mark, ``python``), the main process's CPU beside; a ``>`` mark is a function entered, ``<`` left. Then the time
between marks summed by what it lies between (the median over the runs), so that "nobody's" time shows as the gap it
is. With ``--against TREE`` the runs alternate this checkout and TREE (from DIR/round-other, DIR/snap-other.xlt.db,
as second_run.py --against does). Load average printed beside. ``--bytecode FOLDER``: the modules compiled once into
FOLDER and read from there, as an installed package's are (this machine's shells set PYTHONDONTWRITEBYTECODE, so
without it every run compiles every module it imports: ~0.35-0.55 s of a second run's CPU at 10,000, issue 15's
seventeenth pass). The ``imports`` mark is the CLI's own: the rest of the package is imported lazily, in the phases.

Written for issue 15's seventeenth pass (the ~0.9 s of a second run outside its timed phases).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from phase_timer import AROUND  # (this script's folder is on sys.path)

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import time, sys, json
launched = float(sys.argv[2])
marks = []
def mark(label):
    marks.append((label, time.time() - launched, time.process_time()))
mark("python")
args = json.loads(sys.argv[1])
import xltemplate.cli as cli
mark("imports")
import importlib

""" + AROUND + r"""
def around_named(modname, name, label=None):
    mod = importlib.import_module(modname)
    owner = mod
    parts = name.split(".")
    for p in parts[:-1]:
        owner = getattr(owner, p)
    fn = getattr(owner, parts[-1], None)
    if fn is None:
        return
    label = label or parts[-1]
    if name in args["blocks"]:  # a context manager: marked entered, its block begun (:), and left
        import contextlib
        @contextlib.contextmanager
        def block(*a, **k):
            mark(label + ">")
            try:
                with fn(*a, **k) as got:
                    mark(label + ":")
                    yield got
                    mark(label + ":")
            finally:
                mark(label + "<")
        setattr(owner, parts[-1], block)
        return
    around(owner, parts[-1], label)

for modname, name in args["wrap"]:
    around_named(modname, name)
mark("wrapped")
try:
    cli.main(args["argv"], standalone_mode=False)
finally:
    mark("main done")
    import atexit
    atexit.register(lambda: (mark("atexit"), sys.stderr.write("MARKS " + json.dumps(marks) + "\n")))
"""

#: (module, attribute) wrapped in the child, each marked when entered and left; names a module imports from another
#: are wrapped where the caller looks them up.
WRAP = [
    ("xltemplate.inputs", "discover"),
    ("xltemplate.fsutil", "sweep"),
    ("xltemplate.workers", "prestart"),
    ("xltemplate.rounds", "round_template"),
    ("xltemplate.identify", "RunContext.builtin"),
    ("xltemplate.rollup.collect", "guess_template"),
    ("xltemplate.rounds.preflight", "recall_roster"),
    ("xltemplate.rounds", "collect_round"),
    ("xltemplate.rounds.run", "check_places"),
    ("xltemplate.ledger.store", "Ledger.open"),
    ("xltemplate.rounds.run", "recovery_notices"),
    ("xltemplate.rounds.run", "roster_snapshot"),
    ("xltemplate.rounds.run", "recall_hash"),
    ("xltemplate.rounds.run", "keep_roster"),
    ("xltemplate.rounds.run", "roster_notices"),
    ("xltemplate.rounds.run", "template_notices"),
    ("xltemplate.ledger.store", "Ledger.begin_run"),
    ("xltemplate.ledger.store", "Ledger.ingest"),
    ("xltemplate.ledger.store", "Ledger.file_rows"),
    ("xltemplate.rounds.run", "_stale"),
    ("xltemplate.rounds.run", "_loads_when_matched"),
    ("xltemplate.rounds.run", "_read"),
    ("xltemplate.rounds.run", "_load_stored"),
    ("xltemplate.rounds.run", "stop_prestarted"),
    ("xltemplate.rounds.run", "_collection"),
    ("xltemplate.ledger.store", "Ledger.finishing"),
    ("xltemplate.rounds.run", "received"),
    ("xltemplate.rounds.run", "since"),
    ("xltemplate.rounds.run", "write_rollup"),
    ("xltemplate.ledger.store", "Ledger.store_parts"),
    ("xltemplate.ledger.store", "Ledger.close"),
    ("xltemplate.cli", "echo_json"),
]

#: Of WRAP, the context managers: marked when entered, when their block begins and ends (``:``), and when left.
BLOCKS = ["Ledger.finishing"]


def run_once(d: Path, inbox: Path, roster: Path, code: Path | None, where: str, snap: str) -> tuple[list, float, float]:
    rnd = d / where
    db = rnd / "round.xlt.db"
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    shutil.copyfile(d / snap, db)
    argv = ["collect", str(inbox), "--roster", str(roster), "--ledger", str(db), "--jobs", "2",
            "--quiet", "--json", "-o", str(rnd / "r2.xlsx")]
    payload = json.dumps({"argv": argv, "wrap": WRAP, "blocks": BLOCKS})
    env = {**os.environ, "PYTHONPATH": str(code)} if code is not None else None
    before = os.times()
    launched = time.time()
    proc = subprocess.run([sys.executable, "-c", CHILD, payload, repr(launched)], capture_output=True, text=True,
                          cwd=code or ROOT, env=env)
    wall = time.time() - launched
    after = os.times()
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:] + proc.stdout[-2000:])
    line = [x for x in proc.stderr.splitlines() if x.startswith("MARKS ")][-1]
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return json.loads(line[6:]), wall, cpu


def gaps(marks: list, wall: float) -> dict[str, float]:
    """The time between consecutive marks, keyed by the pair of marks (the last to the process's end)."""
    out: dict[str, float] = defaultdict(float)
    prev_label, prev_t = "launch", 0.0
    for label, t, _cpu in marks + [["exit", wall, 0.0]]:
        out[f"{prev_label} .. {label}"] += t - prev_t
        prev_label, prev_t = label, t
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--inbox", type=Path, default=None)
    ap.add_argument("--roster", type=Path, default=None)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--against", type=Path, default=None)
    ap.add_argument("--quiet", action="store_true", help="no per-run marks line, only the medians")
    ap.add_argument("--bytecode", type=Path, default=None,
                    help="a folder (in TMPDIR) to compile this checkout's and --against's package, the venv's and the "
                         "standard library's modules into, read by the children (PYTHONPYCACHEPREFIX): as an installed "
                         "xltemplate runs, where without it every run compiles every module it imports (the shells here "
                         "set PYTHONDONTWRITEBYTECODE)")
    args = ap.parse_args()
    if args.bytecode is not None:
        import sysconfig

        folders = [ROOT / "xltemplate", sysconfig.get_paths()["purelib"], sysconfig.get_paths()["stdlib"]]
        folders += [args.against / "xltemplate"] if args.against is not None else []
        subprocess.run([sys.executable, "-X", f"pycache_prefix={args.bytecode}", "-m", "compileall", "-q",
                        *map(str, folders)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.environ["PYTHONPYCACHEPREFIX"] = str(args.bytecode)
    inbox, roster = args.inbox or args.dir / "returns", args.roster or args.dir / "roster.csv"
    with open("/proc/loadavg") as fh:
        print("load", fh.read().split()[0])
    sides = [("this", None, "round", "snap.xlt.db")]
    if args.against is not None:
        sides.append((str(args.against), args.against, "round-other", "snap-other.xlt.db"))
    table: dict[str, dict[str, list[float]]] = {s[0]: defaultdict(list) for s in sides}
    walls: dict[str, list[float]] = defaultdict(list)
    cpus: dict[str, list[float]] = defaultdict(list)
    for n in range(args.runs):
        for name, code, where, snap in sides:
            marks, wall, cpu = run_once(args.dir, inbox, roster, code, where, snap)
            walls[name].append(wall)
            cpus[name].append(cpu)
            if not args.quiet:
                print(f"{n} {name}: wall {wall:.2f} cpu {cpu:.2f} | "
                      + " ".join(f"{lb}@{t:.2f}/{c:.2f}" for lb, t, c in marks), flush=True)
            for k, v in gaps(marks, wall).items():
                table[name][k].append(v)
    for name, _c, _w, _s in sides:
        print(f"\n{name}: wall median {statistics.median(walls[name]):.2f} s, CPU (the child's, user+sys) median "
              f"{statistics.median(cpus[name]):.2f} s over {len(walls[name])}")
        rows = sorted(table[name].items(), key=lambda kv: -statistics.median(kv[1]))
        for k, v in rows:
            m = statistics.median(v)
            if m >= 0.005:
                print(f"  {m:6.3f}  {k}")
    with open("/proc/loadavg") as fh:
        print("load", fh.read().split()[0])


if __name__ == "__main__":
    main()
