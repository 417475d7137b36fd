"""In-process A/B of one switch of the reader or validation: CPU time of each ``validate_path``, the switch toggled
file by file (issue 15; for a loaded machine, where wall-clock medians of separate runs cannot see a few per cent).

    python bench/ab_switch.py MODULE SWITCH FOLDER [--sample 400] [--rounds 2]

e.g. ``python bench/ab_switch.py xltemplate.readers.sniff FAST_INFLATE DIR/national``; ``--also MODULE SWITCH``
(repeatable) toggles more switches together with the first. Every file is read and
validated with the switch on and off, one right after the other, the order turning from file to file and round
to round; every return's validation plan is made anew (``normalise._PLANS`` emptied), as in ``collect``. Prints
the medians on and off, their ratio, the median of the files' own ratios, and the load average.
"""

from __future__ import annotations

import argparse
import importlib
import os
import random
import statistics
import sys
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("module")
    ap.add_argument("switch")
    ap.add_argument("folder", type=Path)
    ap.add_argument("--sample", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--blocks", action="store_true",
                    help="each round reads every file on, then every file off (the order turning from round to round), "
                         "as bench.py's contenders do: what a return's own parts left remembered is gone by its turn "
                         "again (more files than the caches hold), as in collect; without it, the second reading of a "
                         "file finds what the first remembered (a form sheet's tail), which dilutes those paths")
    ap.add_argument("--new-shapes", action="store_true",
                    help="every return's shape is one not seen before (normalise's shapes and formulas' reads, the "
                         "rows' formulas by shape, forgotten before each file), as in an inbox where each project has "
                         "its own indicators and rules; what recurs row by row stays remembered")
    ap.add_argument("--also", nargs=2, action="append", default=[], metavar=("MODULE", "SWITCH"),
                    help="another switch toggled with the first (repeatable)")
    args = ap.parse_args()
    from xltemplate.identify import RunContext
    from xltemplate.validate import validate_path

    from shapes import forget_plan  # (bench/shapes.py: this script's folder is on sys.path)

    def forget() -> None:
        forget_plan(new_shape=args.new_shapes)

    switches = []
    for name, switch in [(args.module, args.switch), *args.also]:
        importlib.import_module(name)
        mod = sys.modules[name]  # (the module, where a package shadows it with a function of that name)
        if not isinstance(getattr(mod, switch), bool):
            raise SystemExit(f"{name}.{switch} is not a switch")
        switches.append((mod, switch))
    files = sorted(args.folder.glob("*.xlsx"))
    files = random.Random(7).sample(files, min(args.sample, len(files)))
    run = RunContext.builtin()
    saved = [getattr(mod, switch) for mod, switch in switches]

    def setting(on: bool) -> None:
        for mod, switch in switches:
            setattr(mod, switch, on)

    times: dict[bool, list[float]] = {True: [], False: []}
    try:
        for f in files[:20]:  # warm: imports, what the fast paths remember
            for on in (True, False):
                setting(on)
                validate_path(f, run)
        for r in range(args.rounds):
            if args.blocks:
                for on in ((True, False) if r % 2 else (False, True)):
                    setting(on)
                    for f in files:
                        forget()
                        t = time.process_time()
                        validate_path(f, run)
                        times[on].append(time.process_time() - t)
                continue
            for i, f in enumerate(files):
                for on in ((True, False) if (i + r) % 2 else (False, True)):
                    setting(on)
                    forget()
                    t = time.process_time()
                    validate_path(f, run)
                    times[on].append(time.process_time() - t)
    finally:
        for (mod, switch), value in zip(switches, saved):
            setattr(mod, switch, value)
    on, off = statistics.median(times[True]), statistics.median(times[False])
    ratio = statistics.median(a / b for a, b in zip(times[True], times[False]))
    print(f"{'+'.join(switch for _, switch in switches)} {args.folder} ({len(files)} returns × {args.rounds}{', in blocks' if args.blocks else ''}{', new shapes' if args.new_shapes else ''}): on {on * 1000:.3f} ms, off {off * 1000:.3f} ms, "
          f"on/off {on / off:.3f}, median of the files' ratios {ratio:.3f}, load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
