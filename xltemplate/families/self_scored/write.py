"""Writing the indicator table: headers, categories, rows, subtotals, total; their validations and heights."""

from __future__ import annotations

from ...form.layout import Cell
from ...form.sheet import SheetWriter
from ...printing import cell_height
from ...text import plain_number
from .layout import (
    COL_CATEGORY, COL_CHECK, COL_EXPLANATION, COL_NAME, COL_REMARK, COLUMN_WIDTHS, TABLE_HEADERS, Layout, RowSlot,
    category_title,
)
from .prompts import cell_validation


def write_body(out: SheetWriter, lay: Layout) -> None:
    ws, st = out.ws, out.st
    hr = lay.table_header_row
    out.height(hr, 24)
    for col, text in enumerate(TABLE_HEADERS):
        ws.write_string(hr, col, text, st.header)
    for c in lay.categories:
        ws.merge_range(c.first_row, COL_CATEGORY, c.subtotal_row, COL_CATEGORY, category_title(c.category), st.category)
        for r in c.rows:
            _indicator_row(out, r)
        sr = c.subtotal_row
        ws.write_string(sr, COL_NAME, "小计", st.subtotal_label)
        ws.write_string(sr, COL_EXPLANATION, f"本类分值 {plain_number(c.category.points)} 分", st.subtotal_label)
        out.formula(c.weight, st.subtotal)
        out.formula(c.score, st.subtotal)
        ws.write_blank(sr, COL_REMARK, None, st.subtotal_label)
        out.formula(c.check, st.check)
        out.height(sr, max(20, _check_height(out, c.check)))
    tr = lay.total_row
    ws.merge_range(tr, COL_CATEGORY, tr, COL_EXPLANATION, "合计", st.total_label)
    out.formula(lay.total_weight, st.total)
    out.formula(lay.total_score, st.total)
    ws.write_blank(tr, COL_REMARK, None, st.total_label)
    out.formula(lay.total_check, st.check)
    out.height(tr, max(24, _check_height(out, lay.total_check)))


def _check_height(out: SheetWriter, cell: Cell) -> float:
    """Height for the 校验 message the check cell shows (10 pt) as written."""
    return cell_height(out.cached.get(cell.name) or "", COLUMN_WIDTHS[COL_CHECK], 10)


def _indicator_row(out: SheetWriter, r: RowSlot) -> None:
    st, cells = out.st, out.cells

    def inp(ftype: str) -> object:
        return st.value("input", ftype)

    if r.text_editable:
        for cell, ftype in ((r.name, "text"), (r.explanation, "text")):
            out.put(cell, cells.get(cell.name), inp(ftype))
            out.validate(cell, cell_validation(r, cell))
    else:
        out.put(r.name, r.indicator.name if r.indicator else "", st.text)
        out.put(r.explanation, r.indicator.explanation if r.indicator else "", st.explanation)
    if r.weight_editable:
        out.put(r.weight, cells.get(r.weight.name), inp("score"))
        out.validate(r.weight, cell_validation(r, r.weight))
    else:
        out.put(r.weight, cells.get(r.weight.name), st.weight)
    out.put(r.score, cells.get(r.score.name), inp("score"))
    out.validate(r.score, cell_validation(r, r.score))
    out.put(r.remark, cells.get(r.remark.name), inp("text"))
    out.validate(r.remark, cell_validation(r, r.remark))
    out.formula(r.check, st.check)
    name = cells.get(r.name.name) or ""
    expl = r.indicator.explanation if r.indicator else (cells.get(r.explanation.name) or "")
    expl_pt = 10 if r.indicator else 11
    out.height(r.row, max(
        22.0, cell_height(name, COLUMN_WIDTHS[COL_NAME], 11), cell_height(expl, COLUMN_WIDTHS[COL_EXPLANATION], expl_pt),
        cell_height(cells.get(r.remark.name) or "", COLUMN_WIDTHS[COL_REMARK], 11), _check_height(out, r.check),
    ))
