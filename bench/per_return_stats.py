"""Per return, ours beside pandas+calamine, by four ways of measuring (issue 15, fifth pass): why the bench's ratio of
the medians and ``interleave --lockstep``'s median of the files' ratios differ.

    python bench/per_return_stats.py FOLDER [--sample 300]

In one process, each return's plan made anew (as bench.py's national figures): CPU time and wall time, the two
contenders in blocks (each over all files, as bench.py) and file by file (one right after the other, alternating),
two rounds each. For each: the medians, the ratio of the medians (the issue's figure), the median of the files' own
ratios, and that by size quarter (smallest returns first).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--sample", type=int, default=300)
    args = ap.parse_args()
    import pandas as pd

    from xltemplate import normalise
    from xltemplate.identify import RunContext
    from xltemplate.validate import validate_path

    files = sorted(args.folder.glob("*.xlsx"))
    files = random.Random(7).sample(files, min(args.sample, len(files)))
    run = RunContext.builtin()

    def ours(f: Path) -> None:
        normalise._PLANS.clear()
        validate_path(f, run)

    def theirs(f: Path) -> None:
        pd.read_excel(f, sheet_name=None, engine="calamine")

    for f in files[:20]:
        ours(f)
        theirs(f)
    by_size = sorted(files, key=lambda f: f.stat().st_size)
    for clock_name in ("process_time", "perf_counter"):
        clock = getattr(time, clock_name)
        for layout in ("blocks", "file by file"):
            got: dict[str, dict[Path, list[float]]] = {"ours": {f: [] for f in files}, "pandas": {f: [] for f in files}}
            for r in range(2):
                pair = [("ours", ours), ("pandas", theirs)]
                if layout == "blocks":
                    for name, fn in pair if r % 2 == 0 else pair[::-1]:
                        for f in files:
                            t = clock()
                            fn(f)
                            got[name][f].append(clock() - t)
                else:
                    for i, f in enumerate(files):
                        for name, fn in pair if (i + r) % 2 == 0 else pair[::-1]:
                            t = clock()
                            fn(f)
                            got[name][f].append(clock() - t)
            o = statistics.median(x for f in files for x in got["ours"][f])
            p = statistics.median(x for f in files for x in got["pandas"][f])
            files_ratio = statistics.median(a / b for f in files for a, b in zip(got["ours"][f], got["pandas"][f]))
            q = len(files) // 4
            quarters = [statistics.median(statistics.median(got["ours"][f]) / statistics.median(got["pandas"][f])
                                          for f in by_size[k * q:(k + 1) * q]) for k in range(4)]
            print(f"{clock_name:<13} {layout:<13} ours {o * 1000:.3f} ms, pandas {p * 1000:.3f} ms, ratio of the medians "
                  f"{o / p:.2f}, median of the files' ratios {files_ratio:.2f}, by size quarter "
                  f"{' '.join(f'{x:.2f}' for x in quarters)}, load {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
