"""The roll-up's lean cell writer (xltemplate/rollup/lean.py) writes exactly what stock XlsxWriter writes.

It leans on XlsxWriter internals, so it runs only with the XlsxWriter version it was compared with; these
tests compare, byte for byte, workbooks written with it and with stock XlsxWriter, cell by cell over the
kinds and edge cases of text the roll-up writes, and the samples' whole roll-up.
"""

from __future__ import annotations

import datetime as dt
import importlib
import zipfile
from decimal import Decimal
from typing import Any
from pathlib import Path

import pytest
import xlsxwriter
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from xltemplate.sheettext import TextSheet  # (stock XlsxWriter but for a text of rich-string shape: the lean sheet derives from it)

from xltemplate.rollup import Collection, collect, write_rollup

from .conftest import SAMPLES

lean = importlib.import_module("xltemplate.rollup.lean")
workbook = importlib.import_module("xltemplate.rollup.workbook")

TEXTS = ["普通文字", " leading", "trailing ", "\tTab", "line\nbreak", "a & b < c > d \"q\" 'q'", "ctrl\x01\x1fchars",
         "_x0000_ literal", "<r>not rich</r>", "<r>", "x" * 3000, "U+FFFE \ufffe U+FFFF \uffff", "=SUM(A1)", "😀 emoji", ""]
NUMBERS = [0, 1, -1, 0.1, 1 / 3, 1e-300, 1e300, 123456789012345678, -0.0, 2.5e-7, 99.99]


def _write(path: Path, sheet_class: type) -> bytes:
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False, "strings_to_formulas": False,
                                         "strings_to_urls": False})
    wb.set_properties({"created": dt.datetime(2021, 1, 1)})
    fmt, other = wb.add_format({"bold": True}), wb.add_format({"num_format": "0.00"})
    ws = wb.add_worksheet("表", worksheet_class=sheet_class)
    ws.set_row(5, 20, other)  # a row format: a cell without its own takes it (XlsxWriter's path)
    ws.set_column(3, 3, 12, fmt)
    row = 0
    for n, text in enumerate(TEXTS):
        ws.write_string(row, 0, text, fmt if n % 2 else other)
        ws.write_string(row, 1, text)  # no format of its own
        ws.write_blank(row, 2, None, fmt)
        ws.write_blank(row, 3, None)
        row += 1
    for n, number in enumerate(NUMBERS):
        ws.write_number(row, 0, number, fmt)
        ws.write_number(row, 1, number)
        ws.write_datetime(row, 2, dt.datetime(2021, 3, n + 1, 9, 30), other)
        ws.write_boolean(row, 3, n % 2 == 0, fmt)
        ws.write_formula(row, 4, "=A1+1", fmt, 2)
        row += 1
    ws.write_rich_string(row, 0, "a", fmt, "b", "c")
    wb.close()
    with zipfile.ZipFile(path) as z:
        return b"".join(z.read(n) for n in sorted(z.namelist()))


def test_the_lean_sheet_writes_what_stock_xlsxwriter_writes(tmp_path: Path) -> None:
    assert lean.lean_enabled(), f"XlsxWriter {xlsxwriter.__version__} is not the version the lean writer was compared with"
    stock, mine = _write(tmp_path / "stock.xlsx", TextSheet), _write(tmp_path / "lean.xlsx", lean.LeanSheet)
    assert mine == stock
    assert (tmp_path / "lean.xlsx").read_bytes() == (tmp_path / "stock.xlsx").read_bytes()


# Rows as the roll-up's tables hand them to _Writer._row: every kind _put takes, the text edges, numbers of
# each type, the row heights set_row treats apart (the default 15 pt, 0 = hidden), and values put_row leaves to
# XlsxWriter (a long text, a date, a number that is not finite is left out: XlsxWriter refuses it either way).
ROWS: list[tuple[float, list[Any]]] = [
    (15.0, ["编号", None, "", True, False]),
    (0.0, [Decimal("1.50"), 3, 2.25, -0.0, Decimal("12345678901234567890.123")]),
    (15.0, [0, Decimal("-0.00"), 0.0, Decimal("1.5"), 1.5]),  # equal numbers: the same text, but for 0 and -0
    (15.0, [Decimal("1.500"), -0.0, Decimal("0"), -0, 3.0]),
    (409.0, [dt.datetime(2024, 5, 6, 7, 8, 9), dt.datetime(1900, 3, 1), "x", "y", "z"]),
    (16.5, [" lead", "trail ", "a\nb", "a & b", "_x0041_ x"]),
    (30.0, ["x\ud800 lone surrogate", "<r>", "a\x1eb", "\x07bell", "\ufffe"]),
    (31.0, ["<r>rich</r>", None, None, None, None]),
    (21.75, ["x" * 16383, "x" * 16384, "😀" * 9000, dt.date(2024, 1, 2), Decimal("7")]),
    (15.75, ["=SUM(A1)", "+1", "-1", "@x", "普通文字"]),
] + [(15.0 + n * 0.4, [t, n, None, float(n) / 7, t]) for n, t in enumerate(TEXTS)]


def _rows(path: Path, whole: bool) -> bytes:
    """ROWS written by the roll-up writer's _row, whole rows or cell by cell, into a workbook like the roll-up's."""
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False, "strings_to_formulas": False,
                                         "strings_to_urls": False})
    wb.set_properties({"created": dt.datetime(2021, 1, 1)})
    w = workbook._Writer.__new__(workbook._Writer)
    w.wb, w.whole_rows = wb, whole
    w.f_text, w.f_date = wb.add_format({"text_wrap": True}), wb.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    fmts = [w.f_text, wb.add_format({"bold": True}), wb.add_format({"num_format": "0.00"}), w.f_text, w.f_text]
    late = wb.add_format({"italic": True})  # first used by the last row of the sheet: numbered when XlsxWriter writes that row
    ws = wb.add_worksheet("表", worksheet_class=lean.LeanSheet)
    ws.write_string(0, 0, "标题", fmts[1])  # a row written by XlsxWriter before the whole rows
    for n, (height, values) in enumerate(ROWS):
        w._row(ws, n + 2, height, values, fmts)
    w._row(ws, len(ROWS) + 2, 15.0, ["最后", 1, None, "x", "y"], [late] * 5)
    other = wb.add_worksheet("后", worksheet_class=lean.LeanSheet)
    other.write_string(0, 0, "另一个表", wb.add_format({"underline": True}))
    wb.close()
    with zipfile.ZipFile(path) as z:
        return b"".join(z.read(n) for n in sorted(z.namelist()))


def test_whole_rows_are_written_as_cell_by_cell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[bool] = []
    real = lean.LeanSheet.put_row

    def spy(self, *a, **k):  # type: ignore[no-untyped-def]
        done = real(self, *a, **k)
        asked.append(done)
        return done

    monkeypatch.setattr(lean.LeanSheet, "put_row", spy)
    cells = _rows(tmp_path / "cells.xlsx", whole=False)
    assert asked == []
    rows = _rows(tmp_path / "rows.xlsx", whole=True)
    assert rows == cells
    assert (tmp_path / "rows.xlsx").read_bytes() == (tmp_path / "cells.xlsx").read_bytes()
    # the long texts, the rich-string look-alike and the date went cell by cell; every other row whole
    assert asked == [True, True, True, True, True, True, True, False, False, True] + [n != TEXTS.index("<r>not rich</r>") for n in range(len(TEXTS))] + [True]


def test_a_row_that_cannot_be_written_whole_is_left_to_xlsxwriter(tmp_path: Path) -> None:
    wb = xlsxwriter.Workbook(str(tmp_path / "x.xlsx"), {"constant_memory": True})
    ws = wb.add_worksheet("表", worksheet_class=lean.LeanSheet)
    f = wb.add_format({"bold": True})
    assert not ws.put_row(1, 15, [float("nan")], [f], f, f)
    assert not ws.put_row(1, 15, [Decimal("Infinity")], [f], f, f)
    assert not ws.put_row(1, 15, [Decimal("NaN")], [f], f, f)
    assert not ws.put_row(1, 15, [Decimal("sNaN")], [f], f, f)
    assert not ws.put_row(1, 15, [float("-inf")], [f], f, f)
    assert not ws.put_row(1, 15, ["x"], [None], f, f)  # no format: the row's or column's, XlsxWriter's rules
    assert not ws.put_row(1, 15, [object()], [f], f, f)
    assert ws.put_row(1, 15, ["x"], [f], f, f)
    assert not ws.put_row(1, 15, ["again"], [f], f, f)  # not after the row written last
    assert not ws.put_row(1_048_576, 15, ["x"], [f], f, f)  # past Excel's last row
    assert ws._pending is not None and ws._pending[0] == 1
    ws._write_single_row(2)  # row 1 written out at once (as the one-pass writer does with 汇总's rows)
    assert ws.put_row(2, 15, ["next"], [f], f, f)  # the row after it: nothing held for it yet
    ws._write_single_row(3)
    ws.write_string(3, 0, "held", f)
    assert not ws.put_row(3, 15, ["x"], [f], f, f)  # a row being written to cell by cell
    wb.close()


@pytest.mark.parametrize("whole", [True, False])
def test_a_row_written_out_early_is_followed_as_xlsxwriter_follows_it(tmp_path: Path, whole: bool) -> None:
    """The one-pass writer writes 汇总's row out as soon as it is put (``_write_single_row(next row)``): the next
    row, written whole, gives the bytes of stock XlsxWriter's."""
    got = []
    for sheet_class in (lean.LeanSheet, TextSheet):
        wb = xlsxwriter.Workbook(str(tmp_path / f"{sheet_class.__name__}.xlsx"), {"constant_memory": True})
        # One creation time for both: docProps/core.xml holds it, and two writes a second apart would differ there.
        wb.set_properties({"created": dt.datetime(2026, 1, 1)})
        ws = wb.add_worksheet("表", worksheet_class=sheet_class)
        fmts = [wb.add_format({"bold": True}), wb.add_format({"num_format": "0.00"}), wb.add_format({"italic": True})]
        for row in range(1, 6):
            values = [f"第{row}行", row * 1.5, None if row % 2 else "x"]
            if sheet_class is lean.LeanSheet and whole:
                assert ws.put_row(row, 15 + row, values, fmts, fmts[0], fmts[1])
            else:
                ws.set_row(row, 15 + row)
                for col, v in enumerate(values):
                    if v is None:
                        ws.write_blank(row, col, None, fmts[col])
                    elif isinstance(v, str):
                        ws.write_string(row, col, v, fmts[col])
                    else:
                        ws.write_number(row, col, v, fmts[col])
            if row % 2:
                ws._write_single_row(row + 1)
        wb.close()
        got.append((tmp_path / f"{sheet_class.__name__}.xlsx").read_bytes())
    assert got[0] == got[1]


def test_the_lean_sheet_is_used_only_with_the_version_it_was_compared_with(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xlsxwriter, "__version__", "99.0.0")
    assert not lean.lean_enabled()
    monkeypatch.setattr(xlsxwriter, "__version__", lean.VERIFIED_XLSXWRITER)
    monkeypatch.setattr(lean, "USE_LEAN", False)
    assert not lean.lean_enabled()


def _every_way(c: Collection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """The roll-up of ``c`` as written with everything on, then with 统计's sums apart, cell by cell and stock."""
    got = {}
    for name, switch in (("lean", None), ("apart", (workbook, "STATS_IN_PASSING")), ("cells", (lean, "USE_ROWS")),
                         ("stock", (lean, "USE_LEAN"))):
        if switch is not None:
            monkeypatch.setattr(*switch, False)  # each step keeps the ones before it off too
        got[name] = write_rollup(c, tmp_path / f"{name}.xlsx").read_bytes()
    return got


@pytest.mark.parametrize("roster", [None, SAMPLES / "roster.csv"])
def test_the_roll_up_is_the_same_with_the_lean_sheet_and_without(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  roster: Path | None) -> None:
    from xltemplate.catalog import resolve_template
    from xltemplate.roster import read_roster

    spec = resolve_template("sh-project-self-eval")
    c = collect([SAMPLES / "returns"], spec, roster=read_roster(roster, spec) if roster else None)
    used: list[type] = []
    real = workbook._Writer.__init__

    def spy(self, *a, **k):  # type: ignore[no-untyped-def]
        real(self, *a, **k)
        used.append(self.sheet_class)

    monkeypatch.setattr(workbook._Writer, "__init__", spy)
    got = _every_way(c, tmp_path, monkeypatch)
    assert used == [lean.LeanSheet, lean.LeanSheet, lean.LeanSheet, TextSheet]
    assert got["lean"] == got["apart"] == got["cells"] == got["stock"]


def test_the_national_roll_up_is_the_same_with_the_lean_sheet_and_without(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    c = collect([SAMPLES / "national" / "returns"], None)
    got = _every_way(c, tmp_path, monkeypatch)
    assert got["lean"] == got["apart"] == got["cells"] == got["stock"]


@settings(max_examples=3000, deadline=None, phases=[Phase.generate])
@given(st.text(st.sampled_from(list("中文字。；（）a bcdW-/_1\n😀 ×‰Ж\t")), max_size=400),
       st.sampled_from([0.5, 1.0, 1.5, 2.0, 5.0, 6.0, 7.5, 8.0, 11.0, 18.0, 30.0, 50.0, 132.0]),
       st.sampled_from([6.0, 8.0, 10.0, 10.5, 11.0, 16.0]), st.booleans())
def test_count_lines_is_the_same_without_its_shortcuts(text: str, width: float, font: float, bold: bool) -> None:
    """printing.LINE_SHORTCUTS (a text that fits on a line is not laid out; a plain word is measured without a loop)
    changes no count; and a wider column never takes more lines, nor fewer than the text has paragraphs."""
    from xltemplate import printing

    fast = printing.count_lines(text, width, font, bold)
    try:
        printing.LINE_SHORTCUTS = False
        slow = printing.count_lines(text, width, font, bold)
    finally:
        printing.LINE_SHORTCUTS = True
    assert fast == slow
    assert text.count("\n") + 1 <= fast
    assert printing.count_lines(text, width * 1.5 + 1, font, bold) <= fast


@settings(max_examples=3000, deadline=None, phases=[Phase.generate])
@given(st.text(st.sampled_from(list("中文字。；（）a bcdW@-/_1\n😀𠀀ก ×‰Ж—…\t")), max_size=60),
       st.sampled_from([0.5, 1.0, 2.0, 5.0, 8.0, 11.0, 16.0, 18.0, 24.0, 30.0, 50.0]),
       st.sampled_from([6.0, 8.0, 10.0, 10.5, 11.0, 16.0]))
def test_a_text_surely_on_one_line_is_one_line(text: str, width: float, font: float) -> None:
    """printing.surely_one_line, which lets the roll-up's tables skip measuring a short text, says so only of a text
    count_lines puts on one line."""
    from xltemplate import printing

    if printing.surely_one_line(text, width, font):
        assert printing.count_lines(text, width, font) == 1


@pytest.mark.parametrize("which", ["first", "national"])
def test_score_totals_sum_what_the_score_rows_hold(which: str) -> None:
    """tables.ScoreTotals, which 统计, its levels and 差距分析 read (summed in passing or in a pass of their own),
    against sums written out here from the score rows."""
    from collections import defaultdict

    from xltemplate.catalog import resolve_template
    from xltemplate.rollup import tables

    c = (collect([SAMPLES / "returns"], resolve_template("sh-project-self-eval")) if which == "first"
         else collect([SAMPLES / "national" / "returns"], None))
    rows = list(tables.scores(c))
    totals = tables.ScoreTotals(levels=True, gaps=True)
    for r in rows:
        totals.add(r)

    def d(v: Any) -> Decimal:
        return v if isinstance(v, Decimal) else Decimal(0)

    valid = [r for r in rows if r["valid"]]
    counted = [r for r in valid if r["applicable"]]
    assert valid and counted and len(counted) < len(rows)
    weights: dict[str, Decimal] = defaultdict(Decimal)
    for r in valid:
        weights[r["category_id"]] += d(r["weight"])
    assert dict(totals.weights) == dict(weights)
    pairs: dict[str, list[tuple[Decimal, Decimal]]] = defaultdict(list)
    for r in counted:
        if not r["extra"]:
            pairs[r["indicator_id"]].append((d(r["weight"]), d(r["score"])))
    assert totals.pairs == {k: [len(v), sum(w for w, _ in v), sum(s for _, s in v)] for k, v in pairs.items()}
    assert totals.levels is not None and totals.worst is not None
    # (levels are 统计's for a family with items of the units' own, each with a 二级; the first form's items have
    # none: a row without a 二级 counts in its 一级's row once)
    assert all(bool(r.get("subcategory")) is (which == "national") for r in counted)
    for (cat, sub), (n, met, weight, score) in totals.levels.items():
        mine = [r for r in counted if r["category_id"] == cat and (sub is None or r.get("subcategory") == sub)]
        assert (n, met) == (len(mine), sum(1 for r in mine if r.get("met")))
        assert (weight, score) == (sum(d(r["weight"]) for r in mine), sum(d(r["score"]) for r in mine))
    assert {k for k, _sub in totals.levels} == {r["category_id"] for r in counted}
    assert {(k, sub) for k, sub in totals.levels if sub} >= {(r["category_id"], r.get("subcategory")) for r in counted if r.get("subcategory")}
    worst = {k: v for k, v in totals.worst.items() if v}
    expected: dict[str, list[tuple[Decimal, str]]] = defaultdict(list)
    for r in counted:
        if d(r["lost"]) > 0:
            expected[r["key"]].append((d(r["lost"]), r["indicator"] or ""))
    assert worst == dict(expected)
    if which == "national":
        assert worst and any(x < 1 for v in worst.values() for x, _ in v)  # a loss under a point: the edge is there
    assert tables.levels(c, totals=totals) == tables.levels(c)
    assert tables.gaps(c, totals=totals) == tables.gaps(c)
    assert tables.stats(c, totals=totals) == tables.stats(c)


@settings(max_examples=400, deadline=None, phases=[Phase.generate])
@given(st.text(st.sampled_from(list("中文字字字字。；！？;!?\nab cdW-/1😀")), min_size=50, max_size=1500),
       st.sampled_from([8.0, 18.0, 30.0, 50.0]), st.sampled_from([2, 3, 8]))
def test_split_text_cuts_where_the_lines_run_out(text: str, width: float, lines: int) -> None:
    """split_text finds each cut in one walk of the layout (printing._fitting_prefix): the pieces give the text back,
    each takes at most ``lines`` lines, and they are not many more than the text's lines need (a piece is cut where
    the layout of what is left runs out of lines, then back to a sentence end in its last third)."""
    import math

    from xltemplate.printing import split_text, wrapped_lines

    pieces = split_text(text, width, 10.0, lines)
    assert "".join(pieces) == text
    assert all(wrapped_lines(piece, width, 10.0) <= lines for piece in pieces)
    assert len(pieces) <= 2 * math.ceil(wrapped_lines(text, width, 10.0) / lines) + 1


@pytest.mark.parametrize("whole", [True, False])
def test_a_text_past_what_a_cell_holds_is_cut_and_the_roll_up_goes_on(tmp_path: Path, whole: bool) -> None:
    """A text of fewer than 32,767 characters can still be more than a cell holds (characters past U+FFFF take two
    UTF-16 units): it is cut, ending in …, not refused (XlsxWriter's refusal stopped the whole roll-up)."""
    import openpyxl

    texts = ["字" * 31000 + "😀" * 1000, "😀" * 20000, "x" * 40000, "字" * 32767, "😀" * 16383 + "x"]
    wb = xlsxwriter.Workbook(str(tmp_path / "t.xlsx"), {"constant_memory": True})
    w = workbook._Writer.__new__(workbook._Writer)
    w.wb, w.whole_rows = wb, whole
    w.f_text, w.f_date = wb.add_format({"text_wrap": True}), wb.add_format({"num_format": "yyyy-mm-dd"})
    ws = wb.add_worksheet("表", worksheet_class=lean.LeanSheet)
    for n, text in enumerate(texts):
        w._row(ws, n + 1, 15.0, [text], [w.f_text])
    wb.close()
    got = [r[0] for r in openpyxl.load_workbook(tmp_path / "t.xlsx", read_only=True)["表"].iter_rows(min_row=2, values_only=True)]
    units = [len(t.encode("utf-16-le")) // 2 for t in got]
    assert all(u <= 32767 for u in units), units
    assert got[0] == texts[0][:31000 + 880] + "…"  # 31,000 + 2 × 880 = 32,760 units
    assert got[1] == "😀" * 16380 + "…"
    assert got[2] == "x" * 32760 + "…"
    assert got[3] == texts[3] and got[4] == texts[4]  # what fits is left whole
