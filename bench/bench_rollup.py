"""Time the roll-up writer alone: the same Collection written by stock XlsxWriter, by part B's lean cells and by
whole rows (issue 15), alternately in one process, with the bytes compared.

    python bench/bench_rollup.py --dir /tmp/b                      # the returns bench/bench.py left in /tmp/b/returns
    python bench/bench_rollup.py --dir /tmp/b --national           # the national ones in /tmp/b/national
    python bench/bench_rollup.py --collection /tmp/b/c.pickle      # a Collection pickled by an earlier run (--keep)

The Collection is collected once (2 jobs; with /tmp/b/roster.csv for the first form, as bench.py's collect) and
kept with ``--keep PATH`` (a pickle this script wrote: it loads only what it made itself). Each round writes the
roll-up once per way, in turn, in this process; wall and CPU seconds, medians over the rounds, and the load.
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xltemplate import printing  # noqa: E402
from xltemplate.rollup import collect, lean, workbook, write_rollup  # noqa: E402

WAYS = {  # name → (lean.USE_LEAN, lean.USE_ROWS, workbook.STATS_IN_PASSING)
    "stock XlsxWriter": (False, False, False),
    "lean cells (part B)": (True, False, False),
    "whole rows (this pass)": (True, True, True),
}


def load() -> str:
    return os.getloadavg()[0].__format__(".2f") if hasattr(os, "getloadavg") else "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", type=Path, help="bench.py's work folder (returns/, national/, roster.csv)")
    ap.add_argument("--national", action="store_true", help="the national returns (no roster)")
    ap.add_argument("--collection", type=Path, help="a Collection this script pickled earlier (--keep)")
    ap.add_argument("--keep", type=Path, help="pickle the Collection here for later runs")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if args.collection:
        with open(args.collection, "rb") as fh:
            c = pickle.load(fh)  # noqa: S301 - a file this script wrote (--keep), never one from outside
    else:
        if args.dir is None:
            ap.error("--dir or --collection")
        t = time.perf_counter()
        if args.national:
            c = collect([args.dir / "national"], None, jobs=2)
        else:
            from xltemplate.catalog import resolve_template
            from xltemplate.roster import read_roster

            spec = resolve_template("sh-project-self-eval")
            c = collect([args.dir / "returns"], spec, roster=read_roster(args.dir / "roster.csv", spec), jobs=2)
        print(f"collected {len(c.returns)} returns in {time.perf_counter() - t:.1f} s")
        if args.keep:
            with open(args.keep, "wb") as fh:
                pickle.dump(c, fh, protocol=pickle.HIGHEST_PROTOCOL)
    print(f"{len(c.rows)} rows; XlsxWriter {lean.xlsxwriter.__version__}; lean path {'on' if lean.lean_enabled() else 'OFF'}")
    walls: dict[str, list[float]] = {w: [] for w in WAYS}
    cpus: dict[str, list[float]] = {w: [] for w in WAYS}
    loads: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.rounds):
            ways = list(WAYS) if n % 2 == 0 else list(reversed(WAYS))
            written: dict[str, bytes] = {}
            for way in ways:
                lean.USE_LEAN, lean.USE_ROWS, workbook.STATS_IN_PASSING = WAYS[way]
                out = Path(tmp) / f"{n}.xlsx"
                # as in a run of collect: nothing remembered from an earlier write
                lean._NUMBERS.clear()
                lean._TEXTS.clear()
                printing._short_lines.cache_clear()
                printing._long_lines.cache_clear()
                loads.append(load())
                t, p = time.perf_counter(), time.process_time()
                write_rollup(c, out)
                walls[way].append(time.perf_counter() - t)
                cpus[way].append(time.process_time() - p)
                written[way] = out.read_bytes()
            same = len(set(written.values())) == 1
            print(f"round {n + 1}: " + "; ".join(f"{w} {walls[w][-1]:.2f} s" for w in WAYS) + f"; identical bytes: {same}")
            if not same:
                sys.exit("the ways wrote different bytes")
    lean.USE_LEAN, lean.USE_ROWS, workbook.STATS_IN_PASSING = WAYS["whole rows (this pass)"]
    print(f"medians over {args.rounds} rounds (load average {min(loads)}–{max(loads)}):")
    base = statistics.median(walls["stock XlsxWriter"])
    for way in WAYS:
        wall, cpu = statistics.median(walls[way]), statistics.median(cpus[way])
        print(f"  {way:24} {wall:6.2f} s wall, {cpu:6.2f} s CPU  ({base / wall:.1f}× stock)")


if __name__ == "__main__":
    main()
