"""National read + validate against pandas+calamine in CPU time, file by file (issue 15, ninth pass: for a loaded
machine, where bench.py's wall-clock medians move with the load).

    python bench/national_ratio.py FOLDER [--sample 400] [--rounds 2]
    PYTHONPATH=/work/main python bench/national_ratio.py FOLDER     # another tree's xltemplate (it prints which)

Each file is read by pandas (``read_excel(sheet_name=None, engine="calamine")``) and read + validated by xltemplate
(its plan made anew, as in ``collect``), one right after the other, the order turning from file to file and round to
round; CPU time (``time.process_time``). Prints the ratio of the medians (the issue's measure), the median of the
files' own ratios, the same by size quarter, on all files and on those LibreOffice saved, and the load average.
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
    ap.add_argument("--sample", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--new-shapes", action="store_true",
                    help="forget the shapes' plans parts before each of our files (normalise._SHAPES and _READS, the "
                         "formulas by shape), as an inbox where every project has its own rows' rules sees each shape once: "
                         "without it, a folder of fewer files than those memos hold (128) finds every shape again from the "
                         "second round")
    ap.add_argument("--worker-gc", action="store_true",
                    help="the collector as a worker sets it after its warm-up: gc.freeze() (workers.FREEZE_AFTER_WARM) and "
                         "the young generation's threshold (workers.FEWER_COLLECTIONS), where the tree has them")
    args = ap.parse_args()
    import pandas as pd

    import xltemplate
    from xltemplate.identify import RunContext
    from xltemplate.readers import read_submission
    from xltemplate.validate import validate_path

    files = sorted(args.folder.glob("*.xlsx"))
    files = random.Random(7).sample(files, min(args.sample, len(files)))
    run = RunContext.builtin()
    saved_by_lo = {p for p in files if (read_submission(p).application or "").startswith("LibreOffice")}

    from shapes import forget_plan  # (bench/shapes.py: this script's folder is on sys.path)

    def ours(p: Path) -> None:
        forget_plan(new_shape=args.new_shapes)
        validate_path(p, run)

    def theirs(p: Path) -> None:
        pd.read_excel(p, sheet_name=None, engine="calamine")

    for p in files[:20]:
        ours(p)
        theirs(p)
    if args.worker_gc:
        import gc

        from xltemplate import workers

        if getattr(workers, "FREEZE_AFTER_WARM", False):
            gc.freeze()
        if getattr(workers, "FEWER_COLLECTIONS", False):
            gc.set_threshold(workers._YOUNG, *gc.get_threshold()[1:])
    times: dict[str, list[float]] = {"ours": [], "pandas": []}
    pairs: list[tuple[Path, float, float]] = []
    k = 0
    for r in range(args.rounds):
        for p in files:
            got = {}
            for name, fn in ((("ours", ours), ("pandas", theirs)) if k % 2 == 0 else (("pandas", theirs), ("ours", ours))):
                t = time.process_time()
                fn(p)
                got[name] = time.process_time() - t
                times[name].append(got[name])
            pairs.append((p, got["ours"], got["pandas"]))
            k += 1
        random.Random(r).shuffle(files)
    import gc

    collector = (f", the collector as a worker sets it (threshold {gc.get_threshold()[0]}, {gc.get_freeze_count()} frozen)"
                 if args.worker_gc else "")
    print(f"xltemplate from {Path(xltemplate.__file__).parent}; {len(files)} files ({len(saved_by_lo)} LibreOffice-saved) "
          f"× {args.rounds}, CPU{collector}{', new shapes' if args.new_shapes else ''}; load average {os.getloadavg()[0]:.2f}")

    def report(label: str, chosen: list[tuple[Path, float, float]]) -> None:
        if not chosen:
            return
        o = statistics.median(x[1] for x in chosen)
        pa = statistics.median(x[2] for x in chosen)
        own = statistics.median(x[1] / x[2] for x in chosen)
        by_size = sorted(chosen, key=lambda x: x[0].stat().st_size)
        quarters = [statistics.median(x[1] / x[2] for x in by_size[q * len(by_size) // 4:(q + 1) * len(by_size) // 4])
                    for q in range(4)] if len(by_size) >= 8 else []
        print(f"  {label:<18} ours {o * 1e3:6.3f} ms  pandas {pa * 1e3:6.3f} ms  ratio of medians {o / pa:5.3f}  "
              f"files' ratios {own:5.3f}  by size quarter " + " ".join(f"{q:4.2f}" for q in quarters))

    report("all", pairs)
    report("LibreOffice-saved", [x for x in pairs if x[0] in saved_by_lo])
    print(f"  load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
