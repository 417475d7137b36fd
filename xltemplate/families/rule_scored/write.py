"""Writing the national form's body: funding block, 年度总体目标, indicator table, subtotals, total.

Cells the bureau fixed (a target's name, 指标性质, 计量单位, 年度指标值 and 分值; the funding 分值;
budgets prefilled from the roster) are written locked and blue; cells the unit fills yellow, with
their validations; formulas green with their cached values. Every row is as tall as its texts.
"""

from __future__ import annotations

from typing import Any

from ...form.layout import Cell
from ...form.sheet import SheetWriter
from ...printing import cell_height, text_height
from ...text import plain_number
from .layout import (
    COL_ACTUAL, COL_CHECK, COL_GIVEN, COL_LEVEL, COL_NAME, COL_POINTS, COL_REASON, COL_SCORE, COL_SUB, COL_UNIT, COLUMN_WIDTHS,
    F_BUDGET, F_BUDGET_START, F_CHECK, F_EXECUTED, F_LABEL, F_POINTS, F_SCORE, FUNDING_SPANS, G_ACTUAL, G_EXPECTED,
    G_LABEL, LAST_COL, TABLE_HEADERS, IndicatorSlot, Layout, level_title,
)
from .prompts import amount_validation, cell_validation, goal_validation

_AMOUNT_AT = (F_BUDGET_START, F_BUDGET, F_EXECUTED)


def write_body(out: SheetWriter, lay: Layout) -> None:
    _funding(out, lay)
    _goals(out, lay)
    _table(out, lay)


def _span(lay: Layout, col: int) -> float:
    """The width of the merged funding cell that starts at ``col``."""
    return sum(COLUMN_WIDTHS[col: FUNDING_SPANS.get(col, col) + 1])


def _merge(out: SheetWriter, row: int, first: int, last: int, value: Any, fmt: Any) -> None:
    if last > first:
        out.check(out.ws.merge_range(row, first, row, last, None, fmt), f"a merged range in row {row + 1}")
    if isinstance(value, Cell):
        return
    out.put((row, first), value, fmt)


def _funding(out: SheetWriter, lay: Layout) -> None:
    st = out.st
    hr = lay.funding_header_row
    heads = lay.funding_headers()
    out.height(hr, 30)
    for col, last in FUNDING_SPANS.items():
        _merge(out, hr, col, last, heads.get(col, ""), st.header)
    for n, fs in enumerate(lay.funding):
        _merge(out, fs.row, F_LABEL, FUNDING_SPANS[F_LABEL], lay.funding_label(n), st.label)
        for cell, at in zip(fs.amounts, _AMOUNT_AT):
            role = "prefill" if cell.name in out.prefilled else "input"
            fmt = st.value(role, "money")
            _merge(out, fs.row, at, FUNDING_SPANS[at], cell, fmt)
            out.put(cell, out.cells.get(cell.name), fmt)
            if role == "input":
                out.validate(cell, amount_validation(lay.spec, lay.spec.field(cell.name).label))
        out.formula(fs.rate, st.value("computed", "percent"))
        if fs.points is not None and fs.score is not None:
            out.put(fs.points, out.cells.get(fs.points.name), st.weight)
            out.formula(fs.score, st.value("computed", "score"))
        else:
            out.put((fs.row, F_POINTS), "—", st.weight)
            out.put((fs.row, F_SCORE), "—", st.weight)
        _merge(out, fs.row, F_CHECK, FUNDING_SPANS[F_CHECK], "", st.text)
        out.height(fs.row, max(22.0, cell_height(lay.funding_label(n), _span(lay, F_LABEL), 11, bold=True)))  # st.label: bold
    cr = lay.funding_check_row
    _merge(out, cr, F_LABEL, FUNDING_SPANS[F_LABEL], "校验", st.subtotal_label)
    tallest = 20.0
    for cell, at in zip(lay.funding_checks.values(), _AMOUNT_AT):
        _merge(out, cr, at, FUNDING_SPANS[at], cell, st.check)
        out.formula(cell, st.check)
        tallest = max(tallest, cell_height(out.cached.get(cell.name) or "", _span(lay, at), 10))
    _merge(out, cr, F_POINTS, LAST_COL, "", st.subtotal_label)
    out.height(cr, tallest)


def _goals(out: SheetWriter, lay: Layout) -> None:
    st, spec = out.st, lay.spec
    hr = lay.goals_header_row
    out.check(out.ws.merge_range(hr, G_LABEL[0], hr + 1, G_LABEL[1], spec.goals_label, st.label), "the goals' label")
    _merge(out, hr, G_EXPECTED[0], G_EXPECTED[1], spec.goal_expected, st.header)
    _merge(out, hr, G_ACTUAL[0], G_ACTUAL[1], spec.goal_actual, st.header)
    out.height(hr, 22)
    tallest = text_height(4, 11)
    for cell, (first, last) in ((lay.goal_expected, G_EXPECTED), (lay.goal_actual, G_ACTUAL)):
        role = "prefill" if cell.name in out.prefilled else "input"
        fmt = st.value(role, "longtext")
        _merge(out, cell.row, first, last, cell, fmt)
        value = out.cells.get(cell.name)
        out.put(cell, value, fmt)
        if role == "input":
            out.validate(cell, goal_validation(spec.field(cell.name).label))
        tallest = max(tallest, cell_height(value or "", sum(COLUMN_WIDTHS[first:last + 1]), 11))
    out.height(lay.goal_expected.row, tallest)
    out.height(lay.gap2_row, 12)


def _table(out: SheetWriter, lay: Layout) -> None:
    ws, st = out.ws, out.st
    hr = lay.table_header_row
    out.height(hr, 30)
    for col, text in enumerate(TABLE_HEADERS):
        out.check(ws.write_string(hr, col, text, st.header), "a table header")
    for lv in lay.levels:
        out.check(ws.merge_range(lv.first_row, COL_LEVEL, lv.subtotal_row, COL_LEVEL, level_title(lv.level), st.category),
                  "a level's cell")
        room: dict[int, float] = {}  # a 二级 on one row needs that row tall enough for its name
        for sub, first, last in lv.sublevel_spans():
            if last > first:
                out.check(ws.merge_range(first, COL_SUB, last, COL_SUB, sub.name, st.category), "a sublevel's cell")
            else:
                out.put((first, COL_SUB), sub.name, st.category)
                room[first] = cell_height(sub.name, COLUMN_WIDTHS[COL_SUB], 11, bold=True)  # st.category: bold
        for r in lv.rows:
            _row(out, lay, r, room.get(r.row, 0.0))
        sr = lv.subtotal_row
        out.put((sr, COL_SUB), None, st.subtotal_label)
        out.put((sr, COL_NAME), "小计", st.subtotal_label)
        _merge(out, sr, COL_NAME + 1, COL_POINTS - 1, f"本级分值 {plain_number(lv.level.points)} 分", st.subtotal_label)
        out.formula(lv.points, st.subtotal)
        out.put((sr, COL_GIVEN), None, st.subtotal_label)
        out.formula(lv.score, st.subtotal)
        out.put((sr, COL_REASON), None, st.subtotal_label)
        out.formula(lv.check, st.check)
        out.height(sr, max(20, _check_height(out, lv.check)))
    tr = lay.total_row
    out.check(ws.merge_range(tr, COL_LEVEL, tr, COL_POINTS - 1, lay.total_label(), st.total_label), "the total's label")
    out.formula(lay.total_points, st.total)
    out.put((tr, COL_GIVEN), None, st.total_label)
    out.formula(lay.total_score, st.total)
    out.put((tr, COL_REASON), None, st.total_label)
    out.formula(lay.total_check, st.check)
    out.height(tr, max(24, _check_height(out, lay.total_check)))


def _check_height(out: SheetWriter, cell: Cell) -> float:
    return cell_height(out.cached.get(cell.name) or "", COLUMN_WIDTHS[COL_CHECK], 10)


def _row(out: SheetWriter, lay: Layout, r: IndicatorSlot, least: float = 0.0) -> None:
    st, cells, spec = out.st, out.cells, lay.spec
    inputs = set(r.inputs())
    texts = {"name": r.name, "kind": r.kind, "unit": r.unit, "target": r.target_cell}
    for part, cell in list(texts.items()) + [("points", r.points)]:
        ftype = "score" if part in ("points", "kind", "target", "unit") else "text"
        if cell in inputs:
            out.put(cell, cells.get(cell.name), st.value("input", ftype))
            out.validate(cell, cell_validation(spec, r, cell))
        else:
            out.put(cell, cells.get(cell.name), st.value("prefill", ftype))
    for cell in (r.actual, r.given, r.reason):
        if cell in inputs:
            ftype = "text" if cell is r.reason else "score"
            out.put(cell, cells.get(cell.name), st.value("input", ftype))
            out.validate(cell, cell_validation(spec, r, cell))
        else:  # a quantitative target's 自评分（定性）: not for this row
            out.put(cell, "—", st.weight)
    out.formula(r.score, st.value("computed", "score"))
    out.formula(r.check, st.check)
    out.height(r.row, max(
        22.0, least, cell_height(cells.get(r.name.name) or "", COLUMN_WIDTHS[COL_NAME], 11),
        cell_height(cells.get(r.unit.name) or "", COLUMN_WIDTHS[COL_UNIT], 11),
        cell_height(cells.get(r.reason.name) or "", COLUMN_WIDTHS[COL_REASON], 11),
        cell_height(cells.get(r.actual.name) or "", COLUMN_WIDTHS[COL_ACTUAL], 11),
        _check_height(out, r.check), cell_height(out.cached.get(r.score.name) or "", COLUMN_WIDTHS[COL_SCORE], 11),
    ))
