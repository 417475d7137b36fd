"""printing.count_lines against what LibreOffice prints: at or above it in every cell, and not far above.

Some hundred texts (CJK, Latin words, long unbreakable tokens, paths, sha256 halves, mixed, the roll-up's and the forms'
kinds) in columns 6 to 90 units wide, in the fonts the writers use, are printed to PDF by LibreOffice twice: in the
columns as they are, and in columns narrowed to the room the estimate allows Excel (the column less a unit). The
estimate must be at least the lines LibreOffice printed in every cell (a row too short hides text on paper), and at most
⌈4/3 · m⌉ + 1, m the larger of the two prints (the estimate before this bound gave 9 lines where LibreOffice prints 3).
Gnumeric was checked too and is not held to either (see tests/line_engine.py).

And the rows' heights: a row as tall as printing.cell_height says holds every line LibreOffice prints in it (CJK lines
are 1.45 em there), and the forms' bold labels are counted at or above LibreOffice's lines.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from tests.line_engine import HEIGHT_TOP_IN, Cell, printed_extents, printed_lines, texts, write_height_workbook, write_workbook
from tools.soffice import convert
from xltemplate import printing

#: Scripts other than ASCII and CJK are measured at their widest (an em or more a letter): held to the first check only.
_OTHER_SCRIPTS = re.compile("[\u0080-\u2e7f]")


def _print(tmp: Path, name: str, narrow: bool) -> tuple[list[Cell], dict[str, int]]:
    book = tmp / f"{name}.xlsx"
    cells = write_workbook(book, texts(), narrow=narrow)
    (pdf,) = convert([book], tmp, "pdf:calc_pdf_Export")
    return cells, printed_lines(pdf, cells)


@pytest.fixture(scope="module")
def printed(soffice: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Cell, int, int]]:
    """Each cell's tag → (the cell, lines LibreOffice printed, lines it printed in the narrowed column)."""
    tmp = tmp_path_factory.mktemp("lines")
    cells, wide = _print(tmp, "wide", narrow=False)
    _cells, narrow = _print(tmp, "narrow", narrow=True)
    out = {}
    for c in cells:
        lines, narrowed = wide.get(c.tag, 0), narrow.get(c.tag, 0)
        # a row is as tall as the generous guess allows (409 pt at most): a cell whose lines may not all show is left out
        shown = printing.MAX_ROW_PT // (c.size * 1.5)
        if 0 < lines < shown and 0 < narrowed < shown:
            out[c.tag] = (c, lines, narrowed)
    assert len(out) > 0.85 * len(cells), "too few cells could be read back from LibreOffice's PDF"
    return out


def _estimate(c: Cell) -> int:
    return printing.count_lines(c.text, c.width, c.size, c.bold)


def test_the_estimate_is_never_below_what_libreoffice_prints(printed: dict[str, tuple[Cell, int, int]]) -> None:
    short = [(c.text[:40], c.font, c.size, c.bold, c.width, _estimate(c), lines)
             for c, lines, _narrowed in printed.values() if _estimate(c) < lines]
    assert not short, f"rows too short for {len(short)} cells (text, font, size, bold, width, estimate, printed): {short[:10]}"


def test_the_estimate_is_not_far_above(printed: dict[str, tuple[Cell, int, int]]) -> None:
    far = []
    for c, lines, narrowed in printed.values():
        if _OTHER_SCRIPTS.search(c.text):
            continue
        most = max(lines, narrowed)
        if _estimate(c) > math.ceil(4 * most / 3) + 1:
            far.append((c.text[:40], c.font, c.size, c.bold, c.width, _estimate(c), lines, narrowed))
    assert not far, f"{len(far)} cells estimated far above LibreOffice (estimate, printed, narrowed): {far[:10]}"


def test_latin_text_is_estimated_closer_than_before(printed: dict[str, tuple[Cell, int, int]]) -> None:
    """The case the estimate was changed for (文件清单's software column), and Latin text in general: within a line of
    what LibreOffice prints in the narrowed column for most cells."""
    latin = [(c, narrowed) for c, _lines, narrowed in printed.values() if c.text.isascii()]
    near = sum(_estimate(c) <= narrowed + 1 for c, narrowed in latin)
    assert near >= 0.9 * len(latin), f"{near} of {len(latin)} Latin cells within a line"
    assert printing.count_lines("Microsoft Excel Compatible / Openpyxl 3.1.5", 14, 10) <= 5  # was 9; LibreOffice: 3


def test_every_row_holds_its_lines_in_libreoffice(soffice: str, tmp_path: Path) -> None:
    """A row as tall as printing.cell_height says holds all its lines as LibreOffice prints them: the lowest word's
    lower edge (its font's descent included) is inside the row. LibreOffice draws a CJK line 1.45 em tall; at the
    old 1.4 em a line, rows of 6 lines or more of CJK at 10 pt ended below the row."""
    book = tmp_path / "heights.xlsx"
    cells = write_height_workbook(book)
    (pdf,) = convert([book], tmp_path, "pdf:calc_pdf_Export")
    pages = printed_extents(pdf)
    assert len(pages) == len(cells), "each row should print on its own page"
    top = HEIGHT_TOP_IN * printing.PT_PER_INCH
    out = []
    for (c, height), (first, last) in zip(cells, pages):
        assert top - 0.5 <= first < top + 5, f"{c.tag}: the row does not start at the page's top margin ({first:.2f})"
        if last > top + height:
            out.append((c.text[:20], c.font, c.size, c.bold, c.text.count("\n") + 1, round(height, 2), round(last - top, 2)))
    assert not out, f"{len(out)} rows too short (text, font, size, bold, paragraphs, height, printed to): {out[:10]}"


def test_the_forms_bold_labels_are_counted_at_or_above_libreoffice(soffice: str, tmp_path: Path) -> None:
    """The forms' labels (宋体 11 bold) in their columns (the header block's 12, 22 and 42 units, the funding block's
    23): the count (bold) is at or above LibreOffice's lines, in the column and in the column narrowed to Excel's room.
    (具体实施处（科室）： prints on one line in LibreOffice, whose Noto Sans CJK bold is an em a character; Excel's
    synthesised bold 宋体 is wider, and the count, 2, keeps room for it.)"""
    from xltemplate.catalog import load_spec, templates_dir

    labels = set()
    for name in ("sh-project-self-eval.yaml", "cn-project-self-eval.yaml"):
        spec = load_spec(templates_dir() / name)
        labels |= {f.label + "：" for f in spec.fields}
    labels |= {"年度资金总额", "其中：当年财政拨款", "上年结转资金", "其他资金"}
    fonts, widths = [("宋体", 11.0, True)], [12.0, 22.0, 23.0, 42.0]
    short = []
    for narrow in (False, True):
        book = tmp_path / f"labels{int(narrow)}.xlsx"
        cells = write_workbook(book, sorted(labels), fonts=fonts, widths=widths, narrow=narrow)
        (pdf,) = convert([book], tmp_path, "pdf:calc_pdf_Export")
        got = printed_lines(pdf, cells)
        assert len(got) == len(cells)
        short += [(c.text, c.width, narrow, _estimate(c), got[c.tag]) for c in cells if _estimate(c) < got[c.tag]]
    assert not short, f"labels counted below LibreOffice (text, width, narrowed, count, printed): {short}"
