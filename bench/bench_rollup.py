"""Time the roll-up writer alone: the same Collection written by stock XlsxWriter, by part B's lean cells, by
whole rows (issue 15), in one pass over the units (its fourth pass) and with 指标得分's rows written by a second
process (its fifth: rollup/split.py), alternately in one process, with the bytes compared (the second process's
CPU is printed beside this one's).

    python bench/bench_rollup.py --dir /tmp/b                      # the returns bench/bench.py left in /tmp/b/returns
    python bench/bench_rollup.py --dir /tmp/b --national           # the national ones in /tmp/b/national
    python bench/bench_rollup.py --collection /tmp/b/c.pickle      # a Collection pickled by an earlier run (--keep)
    python bench/bench_rollup.py --dir /tmp/b --ways rows,one      # only some ways (stock, cells, rows, one, split)

The Collection is collected once (2 jobs; with /tmp/b/roster.csv for the first form, as bench.py's collect) and
kept with ``--keep PATH`` (a pickle this script wrote: it loads only what it made itself), its spilled reports with it,
so that the writer loads them from a spill as in a run of collect. Each round writes the roll-up once per way, in
turn, in this process; wall and CPU seconds, medians over the rounds, the reports loaded from the spill, and the load.
"""

from __future__ import annotations

import argparse
import os
import pickle
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xltemplate import printing  # noqa: E402
from xltemplate.rollup import collect, lean, split, tables, workbook, write_rollup  # noqa: E402
from xltemplate.rollup.spill import Spill  # noqa: E402

WAYS = {  # name → (lean.USE_LEAN, lean.USE_ROWS, workbook.STATS_IN_PASSING, workbook.ONE_PASS, split.SPLIT)
    "stock XlsxWriter": (False, False, False, False, False),
    "lean cells (part B)": (True, False, False, False, False),
    "whole rows (third pass)": (True, True, True, False, False),
    "one pass (fourth pass)": (True, True, True, True, False),
    "second process (fifth)": (True, True, True, True, True),
}
SHORT = dict(zip(("stock", "cells", "rows", "one", "split"), WAYS))


def keep(c: Any, path: Path) -> None:
    """Pickle ``c`` with the bytes of its spill (a spill's file cannot be pickled)."""
    spill, data = c.spill, b""
    if spill is not None:
        spill._fh.seek(0)
        data = spill._fh.read(spill._end)
        c.spill = None
    stores = [(r, r._store) for r in c.returns]
    for r, _s in stores:
        r._store = None
    try:
        with open(path, "wb") as fh:
            pickle.dump((c, data), fh, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        c.spill = spill
        for r, s in stores:
            r._store = s


def kept(path: Path) -> Any:
    """What :func:`keep` pickled, its reports in a new spill."""
    with open(path, "rb") as fh:
        c, data = pickle.load(fh)  # noqa: S301 - a file this script wrote (--keep), never one from outside
    if data:
        c.spill = Spill()
        c.spill._fh.write(data)
        c.spill._end = len(data)
        for r in c.returns:
            if r._report is None:
                r._store = c.spill
    return c


def counting_loads() -> dict[str, int]:
    """Count the reports loaded from a spill (not from its few recent ones)."""
    counts = {"loads": 0}
    real = Spill.load

    def load(self: Spill, where: int) -> Any:
        if where not in self._recent:
            counts["loads"] += 1
        return real(self, where)

    Spill.load = load  # type: ignore[method-assign]
    return counts


def load() -> str:
    return os.getloadavg()[0].__format__(".2f") if hasattr(os, "getloadavg") else "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", type=Path, help="bench.py's work folder (returns/, national/, roster.csv)")
    ap.add_argument("--national", action="store_true", help="the national returns (no roster)")
    ap.add_argument("--collection", type=Path, help="a Collection this script pickled earlier (--keep)")
    ap.add_argument("--keep", type=Path, help="pickle the Collection here for later runs")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ways", default=",".join(SHORT), help=f"which ways, in this order (of {', '.join(SHORT)})")
    args = ap.parse_args()
    ways_asked = [SHORT[w] for w in args.ways.split(",")]
    if args.collection:
        c = kept(args.collection)
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
            keep(c, args.keep)
    print(f"{len(c.rows)} rows; XlsxWriter {lean.xlsxwriter.__version__}; lean path {'on' if lean.lean_enabled() else 'OFF'}")
    walls: dict[str, list[float]] = {w: [] for w in ways_asked}
    cpus: dict[str, list[float]] = {w: [] for w in ways_asked}
    child_cpus: dict[str, list[float]] = {w: [] for w in ways_asked}  # (a second process's: split)
    loaded: dict[str, int] = {}
    counts = counting_loads()
    loads: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.rounds):
            ways = list(ways_asked) if n % 2 == 0 else list(reversed(ways_asked))
            written: dict[str, bytes] = {}
            for way in ways:
                lean.USE_LEAN, lean.USE_ROWS, workbook.STATS_IN_PASSING, workbook.ONE_PASS, split.SPLIT = WAYS[way]
                out = Path(tmp) / f"{n}.xlsx"
                # as in a run of collect: nothing remembered from an earlier write
                lean._NUMBERS.clear()
                lean._TEXTS.clear()
                tables._NAMES.clear()
                printing._short_lines.cache_clear()
                printing._long_lines.cache_clear()
                loads.append(load())
                if c.spill is not None:
                    c.spill._recent.clear()
                counts["loads"] = 0
                kids = resource.getrusage(resource.RUSAGE_CHILDREN)
                t, p = time.perf_counter(), time.process_time()
                write_rollup(c, out)
                walls[way].append(time.perf_counter() - t)
                cpus[way].append(time.process_time() - p)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                child_cpus[way].append(after.ru_utime + after.ru_stime - kids.ru_utime - kids.ru_stime)
                loaded[way] = counts["loads"]
                written[way] = out.read_bytes()
            same = len(set(written.values())) == 1
            print(f"round {n + 1}: " + "; ".join(f"{w} {walls[w][-1]:.2f} s" for w in ways_asked) + f"; identical bytes: {same}")
            if not same:
                sys.exit("the ways wrote different bytes")
    lean.USE_LEAN, lean.USE_ROWS, workbook.STATS_IN_PASSING, workbook.ONE_PASS, split.SPLIT = WAYS["second process (fifth)"]
    print(f"medians over {args.rounds} rounds (load average {min(loads)}–{max(loads)}):")
    first = ways_asked[0]
    base = statistics.median(walls[first])
    for way in ways_asked:
        wall, cpu = statistics.median(walls[way]), statistics.median(cpus[way])
        child = statistics.median(child_cpus[way])
        print(f"  {way:24} {wall:6.2f} s wall, {cpu:6.2f} s CPU" + (f" + {child:.2f} s a second process's" if child > 0.005 else "")
              + f"  ({base / wall:.2f}× {first}); "
              f"{loaded[way]} reports loaded from the spill")


if __name__ == "__main__":
    main()
