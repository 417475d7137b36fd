"""The README a new clerk reads first (issue 9): a Chinese quick start, Windows set-up, the commands
that CI runs still between their markers, the benchmark details moved to bench/README.md."""

from __future__ import annotations

import re

from .conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _between(marker: str) -> str:
    return README.split(f"<!-- {marker} -->")[1].split(f"<!-- /{marker} -->")[0]


def test_the_two_commands_are_the_first_lines() -> None:
    head = README.split("\n## ")[0]  # before the first section: the title, one line, the two commands
    assert head.index("<!-- main-command -->") < head.index("<!-- test-command -->")
    assert len(head.splitlines()) <= 25


def test_a_chinese_quick_start_comes_first() -> None:
    first = README.split("\n## ")[1]  # the first section
    assert first.startswith("快速上手")
    for needed in ("Python 3.10", "py -m venv .venv", ".venv\\Scripts\\activate", "pip install .",
                   "xltemplate generate sh-project-self-eval --roster", "xltemplate collect",
                   "LibreOffice", "Excel", "WPS", "templates/sh-project-self-eval.yaml", "--force"):
        assert needed in first, needed
    assert "xltemplate collect samples/returns --roster samples/roster.csv -o rollup.xlsx" in _between("main-command")
    assert "python -m pytest -q" in _between("test-command")


def test_the_benchmark_tables_live_in_bench_readme() -> None:
    bench = (ROOT / "bench" / "README.md").read_text(encoding="utf-8")
    assert "| measure | figure | target |" in bench and "python bench/bench.py" in bench
    assert "| measure | figure | target |" not in README
    assert "bench/README.md" in README
    # the headline figures stay, and are those of bench/README.md's per-return table (rounded)
    headline = README[README.index("Headline figures"):README.index("## Library")]
    first, national = (float(x) for x in re.findall(r"\*\*(\d+\.\d) ms\*\*", headline)[:2])
    row = next(line for line in bench.splitlines() if line.startswith("| **xltemplate read + validate**"))
    measured = [float(x) for x in re.findall(r"(\d+\.\d\d) / ", row)]
    assert [round(m, 1) for m in measured] == [first, national], (row, first, national)
