"""The roll-up writer's CPU with this tree's row-height estimate and with another tree's, alternating (issue 15).

    python bench/ab_lines.py RETURNS OLD_TREE [--rounds 8] [--split]

Collects RETURNS once (this tree), then writes the roll-up ``--rounds`` times for each way in turn (A B, B A, …):
this tree's ``printing.count_lines`` and ``split_text``, and OLD_TREE's (its ``xltemplate/printing.py`` loaded
apart; its ``count_lines`` has no ``bold``: bold text is measured 5 % larger, as it did). The CPU of this process
and its children (the roll-up's second process unless ``--split`` is left off: it is off by default) is printed for
each write, with the medians and the load average. Outputs differ by design (the heights).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import resource
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("returns", type=Path)
    ap.add_argument("old_tree", type=Path)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--split", action="store_true", help="let the roll-up's second process write 指标得分")
    args = ap.parse_args()
    from xltemplate import printing
    from xltemplate.catalog import resolve_template
    from xltemplate.rollup import split, write_rollup

    spec = importlib.util.spec_from_file_location("old_printing", args.old_tree / "xltemplate" / "printing.py")
    assert spec is not None and spec.loader is not None
    old = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = old
    spec.loader.exec_module(old)
    split.SPLIT = args.split
    collect = importlib.import_module("xltemplate.rollup.collect").collect
    c = collect([args.returns], resolve_template("sh-project-self-eval"))

    def old_count(text: str, width: float, font_pt: float = 11.0, bold: bool = False) -> int:
        return old.count_lines(text, width, font_pt * (1.05 if bold else 1))

    ways = {"new": (printing.count_lines, printing.split_text), "old": (old_count, old.split_text)}

    def cpu() -> float:
        a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime

    got: dict[str, list[float]] = {"new": [], "old": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name in ("new", "old") if r % 2 == 0 else ("old", "new"):
                printing.count_lines, printing.split_text = ways[name]
                for mod in (printing, old):
                    mod._short_lines.cache_clear()
                    mod._long_lines.cache_clear()
                t = cpu()
                write_rollup(c, Path(tmp) / f"{name}.xlsx")
                got[name].append(cpu() - t)
                print(f"round {r + 1} {name}: {got[name][-1]:.2f} s CPU; load {os.getloadavg()[0]:.1f}", flush=True)
    for name, times in got.items():
        print(f"{name}: median {statistics.median(times):.2f} s CPU over {len(times)} writes")


if __name__ == "__main__":
    main()
