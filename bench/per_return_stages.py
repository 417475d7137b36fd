"""Where a national return's read + validate goes, stage by stage, as a fixed cost plus a cost per cell (issue 15).

    python bench/per_return_stages.py FOLDER [--sample 200]

Each return is read and validated three times (its plan made anew each time, as in ``collect``) and
``pandas.read_excel(sheet_name=None, engine="calamine")`` beside it; the fastest of the three is kept (CPU time).
Stages are timed by wrapping the functions that do them (which adds a little to each); a straight line is fitted,
for each stage, over the number of cells of the form sheet, and printed as fixed ms + µs per cell, and its value
at the median return. Stages overlap where one holds another (marked by indentation).
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import sys
import time
from pathlib import Path
from typing import Any, Callable

CLOCK = time.process_time
SPENT: dict[str, float] = collections.defaultdict(float)


def timed(fn: Callable[..., Any], label: str) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = CLOCK()
        try:
            return fn(*args, **kwargs)
        finally:
            SPENT[label] += CLOCK() - t
    return wrapper


def timed_check(fn: Callable[..., Any], label: str) -> Callable[..., Any]:
    def check(ctx: Any) -> list[Any]:
        t = CLOCK()
        out = list(fn(ctx))
        SPENT[label] += CLOCK() - t
        return out
    return check


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--sample", type=int, default=200)
    args = ap.parse_args()
    import numpy as np
    import pandas as pd

    import xltemplate.checks as checks
    import xltemplate.readers.sheet  # noqa: F401  (the modules, by name below)
    import xltemplate.readers.sheet_strict  # noqa: F401
    import xltemplate.validate as validate
    from xltemplate import normalise
    from xltemplate.families import family_of
    from xltemplate.identify import RunContext, identify
    from xltemplate.readers import read_submission

    m = sys.modules
    readers, sheet, strict = m["xltemplate.readers"], m["xltemplate.readers.sheet"], m["xltemplate.readers.sheet_strict"]
    readers.sniff = timed(readers.sniff, "read the file, inflate")
    fast = m["xltemplate.readers.fast"]
    fast.shared_strings = timed(fast.shared_strings, "shared strings")
    strict.cells = timed(strict.cells, "  of the sheets: strict cells()")
    sheet.feed = timed(sheet.feed, "  of the sheets: expat")
    parse = sheet.Sheet.parse

    def sheet_parse(self: Any, data: bytes) -> None:
        t = CLOCK()
        try:
            parse(self, data)
        finally:
            SPENT["the form sheet" if self.part.endswith("sheet1.xml") else "the other sheets"] += CLOCK() - t
    sheet.Sheet.parse = sheet_parse
    validate.identify = timed(validate.identify, "identify")
    validate.normalise = timed(validate.normalise, "normalise")
    normalise.plan = timed(normalise.plan, "  of which the plan")
    validate.run_checks = timed(validate.run_checks, "checks")
    validate.recompute = timed(validate.recompute, "recompute")
    checks.BEFORE = tuple(timed_check(f, f"  check {f.__name__}") for f in checks.BEFORE)
    checks.AFTER = tuple(timed_check(f, f"  check {f.__name__}") for f in checks.AFTER)

    files = sorted(args.folder.glob("*.xlsx"))
    files = random.Random(7).sample(files, min(args.sample, len(files)))
    run = RunContext.builtin()
    family = family_of(identify(read_submission(files[0]), run)[0].spec)
    object.__setattr__(family, "checks", tuple(timed_check(f, f"  check {f.__name__}") for f in family.checks))
    for f in files[:20]:
        validate.validate_path(f, run)
    rows = []
    for f in files:
        best: dict[str, float] | None = None
        for _ in range(3):
            SPENT.clear()
            normalise._PLANS.clear()
            t = CLOCK()
            validate.validate_path(f, run)
            total = CLOCK() - t
            t = CLOCK()
            pd.read_excel(f, sheet_name=None, engine="calamine")
            got = {**SPENT, "xltemplate, all": total, "pandas+calamine": CLOCK() - t}
            best = got if best is None or total < best["xltemplate, all"] else best
        sub = read_submission(f)
        rows.append((len(next(iter(sub.cells.values()))), best))
    cells = np.array([n for n, _ in rows], dtype=float)
    median = float(np.median(cells))
    print(f"{len(rows)} returns, form sheet cells {cells.min():.0f}–{cells.max():.0f} (median {median:.0f}); CPU, best of 3; "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"  {'stage':<34} {'fixed ms':>9} {'µs/cell':>8} {'at the median':>14}")
    labels = {k for _, r in rows for k in r}
    for label in sorted(labels, key=lambda k: -float(np.median([r.get(k, 0.0) for _, r in rows]))):
        y = np.array([r.get(label, 0.0) for _, r in rows])
        slope, fixed = np.polyfit(cells, y, 1)
        print(f"  {label:<34} {fixed * 1e3:9.3f} {slope * 1e6:8.2f} {(fixed + slope * median) * 1e3:14.3f}")


if __name__ == "__main__":
    main()
