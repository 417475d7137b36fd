"""Write the locked self-evaluation workbook for a spec (XlsxWriter).

Positions come from :class:`~xltemplate.layout.Layout`, formulas and their
cached values from :mod:`xltemplate.formulas`. Every XlsxWriter call that
reports failure by a return code is checked: a refused validation message or
defined name is a :class:`GenerateError`, never a silently missing feature.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Mapping

import xlsxwriter
from xlsxwriter.utility import xl_rowcol_to_cell
from xlsxwriter.worksheet import Worksheet

from . import __version__
from .errors import GenerateError
from .formulas import alert_rules, evaluate, formulas, plain_number
from .fsutil import build_time, sha256_file, write_atomic
from .layout import (
    COL_CATEGORY, COL_EXPLANATION, COL_NAME, COL_REMARK,
    COLUMN_WIDTHS, GUIDE_SHEET, LAST_COL, LAYOUT_VERSION, META_FORMAT, META_KEYS, META_SHEET,
    TABLE_HEADERS, Cell, FieldSlot, Layout, RowSlot, category_title, wrapped_lines,
)
from .prompts import cell_validation, field_validation
from .spec import Field, Spec, TemplateLike, as_spec

# Fill colours tell the person filling in what is theirs to type.
INPUT_FILL = "#FFF2CC"  # light yellow: type here
PREFILL_FILL = "#DDEBF7"  # light blue: filled by the bureau, locked
COMPUTED_FILL = "#E2EFDA"  # light green: formula
HEADER_FILL = "#D9E1F2"
LABEL_FILL = "#F2F2F2"
ALERT_FILL = "#FFC7CE"
ALERT_FONT = "#9C0006"


@dataclass(frozen=True)
class Generated:
    """One workbook written: where, for which roster key, and its sha256."""

    path: Path
    key: str | None
    sha256: str


class _FormSheet(Worksheet):
    """XlsxWriter's worksheet, writing an empty-text cached result as text.

    XlsxWriter writes a formula whose cached value is ``""`` as ``<v></v>`` with no
    type, which readers take for the number 0 or nothing at all; the grade and the
    check cells legitimately show an empty text, so write ``t="str"`` as Excel does.
    """

    def _prepare_formula(self, formula: str, expand_future_functions: bool = False) -> str:
        # XlsxWriter runs ~30 regular expressions over every formula to add _xlfn. prefixes to
        # functions newer than Excel 2010; the form calls only formulas.ALLOWED_FUNCTIONS, none of
        # which needs one (tests/test_formulas.py proves both), so only the leading "=" needs to go.
        # This was half the cost of writing a workbook.
        return formula[1:] if formula.startswith("=") else formula

    def _write_cell(self, row: int, col: int, cell: Any) -> None:
        if type(cell).__name__ == "Formula" and cell.value == "":
            attrs: list[tuple[str, Any]] = [("r", xl_rowcol_to_cell(row, col))]
            if cell.format:
                attrs.append(("s", cell.format._get_xf_index()))
            attrs.append(("t", "str"))
            self._xml_formula_element(cell.formula, "", attrs)
            return
        super()._write_cell(row, col, cell)


class _Styles:
    """The workbook's formats, made once per workbook."""

    def __init__(self, wb: xlsxwriter.Workbook) -> None:
        base = {"font_name": "宋体", "font_size": 11, "valign": "vcenter", "text_wrap": True, "border": 1}

        def fmt(**kw: Any) -> Any:
            return wb.add_format({**base, **kw})

        self.title = wb.add_format({"font_name": "宋体", "bold": True, "font_size": 18, "align": "center", "valign": "vcenter"})
        self.hint = wb.add_format({"font_name": "宋体", "font_size": 9, "italic": True, "font_color": "#595959", "text_wrap": True, "valign": "vcenter"})
        self.label = fmt(bold=True, bg_color=LABEL_FILL, align="right")
        self.header = fmt(bold=True, bg_color=HEADER_FILL, align="center")
        self.category = fmt(bold=True, align="center")
        self.text = fmt()
        self.explanation = fmt(font_size=10)
        self.weight = fmt(align="center")
        self.check = fmt(align="center", font_color=ALERT_FONT, font_size=10, bg_color=COMPUTED_FILL)
        self.subtotal_label = fmt(bold=True, bg_color=LABEL_FILL, align="center")
        self.subtotal = fmt(bold=True, bg_color=COMPUTED_FILL, align="center")
        self.total_label = fmt(bold=True, bg_color=HEADER_FILL, align="center")
        self.total = fmt(bold=True, bg_color=COMPUTED_FILL, align="center", font_size=12)
        self.note_title = wb.add_format({"font_name": "宋体", "bold": True, "valign": "top"})
        self.note = wb.add_format({"font_name": "宋体", "font_size": 10, "text_wrap": True, "valign": "top"})
        self.alert = wb.add_format({"bg_color": ALERT_FILL, "font_color": ALERT_FONT, "bold": True})
        self.by_type: dict[tuple[str, str], Any] = {}
        for role, fill, locked in (("input", INPUT_FILL, False), ("prefill", PREFILL_FILL, True), ("computed", COMPUTED_FILL, True)):
            for ftype, extra in {
                "text": {"align": "left"},
                "longtext": {"align": "left", "valign": "top"},
                "choice": {"align": "center"},
                "money": {"num_format": "#,##0.00", "align": "right"},
                "number": {"num_format": "General", "align": "right"},
                "percent": {"num_format": "0.00%", "align": "right"},
                "date": {"num_format": "yyyy-mm-dd", "align": "center"},
                "score": {"align": "center"},
                "grade": {"align": "center", "bold": True, "font_size": 12},
            }.items():
                self.by_type[(role, ftype)] = fmt(bg_color=fill, locked=locked, **extra)

    def value(self, role: str, ftype: str) -> Any:
        return self.by_type[(role, ftype)]


def generate_workbook(
    spec: TemplateLike,
    path: str | Path,
    *,
    password: str | None = None,
    prefill: Mapping[str, Any] | None = None,
    values: Mapping[str, Any] | None = None,
    roster_key: str | None = None,
    generated_at: dt.datetime | None = None,
) -> Generated:
    """Write one locked workbook for ``spec`` to ``path`` (atomically).

    ``prefill`` maps field ids to values the bureau fills in; those cells are locked.
    ``values`` maps defined names of input cells to values typed as a unit would
    (used for samples and tests); those cells stay editable.
    """
    spec = as_spec(spec)
    layout = Layout(spec)
    stamp = build_time(generated_at)
    prefill = dict(prefill or {})
    values = dict(values or {})
    unknown = [k for k in prefill if k not in {f.id for f in spec.fields if not f.computed}]
    if unknown:
        raise GenerateError(f"cannot prefill {', '.join(unknown)}: not input fields of '{spec.id}'")
    inputs = {c.name for c in layout.input_cells()}
    stray = [k for k in values if k not in inputs]
    if stray:
        raise GenerateError(f"cannot fill {', '.join(stray)}: not input cells of '{spec.id}'")

    def write(tmp: Path) -> None:
        _Writer(spec, layout, tmp, password, prefill, values, roster_key, stamp).write()

    write_atomic(path, write)
    return Generated(Path(path), roster_key, sha256_file(path))


class _Writer:
    def __init__(self, spec: Spec, layout: Layout, path: Path, password: str | None,
                 prefill: dict[str, Any], values: dict[str, Any], roster_key: str | None,
                 stamp: dt.datetime) -> None:
        self.spec, self.layout, self.path = spec, layout, path
        self.password, self.prefill, self.values = password, prefill, values
        self.roster_key, self.stamp = roster_key, stamp
        # Everything the formulas read, by defined name: spec weights, prefills, typed values.
        self.cells: dict[str, Any] = {}
        for r in layout.rows:
            if r.indicator is not None:
                self.cells[r.name.name] = r.indicator.name
                self.cells[r.weight.name] = r.indicator.weight
        for fid, v in prefill.items():
            self.cells[layout.field(fid).cell.name] = v
        self.cells.update(values)
        self.cached = evaluate(layout, self.cells)

    def write(self) -> None:
        wb = xlsxwriter.Workbook(str(self.path), {
            # Text is text: nothing typed by a person becomes a number, formula or link.
            "strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False,
            "in_memory": True,  # a small workbook: no temporary files per sheet
        })
        wb.set_properties({
            "title": f"{self.spec.title}（{self.spec.id} {self.spec.version}）",
            "subject": self.spec.title, "author": "xltemplate", "company": "",
            "comments": "由 xltemplate 生成；请勿修改表格结构。", "created": self.stamp.replace(tzinfo=None),
        })
        self.st = _Styles(wb)
        ws = wb.add_worksheet(self.spec.sheet, worksheet_class=_FormSheet)
        self.ws = ws
        self._sheet_setup()
        self._title()
        self._fields()
        self._table()
        self._notes()
        self._conditional_formats()
        self._protect(ws)
        self._defined_names(wb)
        self._guide(wb)
        self._metadata(wb)
        ws.activate()
        wb.close()

    # -- helpers -------------------------------------------------------------
    def _check(self, code: int, what: str) -> None:
        if code is not None and code < 0:
            raise GenerateError(f"{self.spec.id}: XlsxWriter refused {what} (code {code})")

    def _put(self, cell: Cell | tuple[int, int], value: Any, fmt: Any) -> None:
        row, col = (cell.row, cell.col) if isinstance(cell, Cell) else cell
        ws = self.ws
        if value is None or value == "":
            code = ws.write_blank(row, col, None, fmt)
        elif isinstance(value, bool):
            code = ws.write_string(row, col, "是" if value else "否", fmt)
        elif isinstance(value, (int, float, Decimal)):
            code = ws.write_number(row, col, float(value), fmt)
        elif isinstance(value, (dt.date, dt.datetime)):
            if not isinstance(value, dt.datetime):
                value = dt.datetime(value.year, value.month, value.day)
            code = ws.write_datetime(row, col, value, fmt)
        else:
            code = ws.write_string(row, col, str(value), fmt)
        self._check(code, f"the value for {xl_rowcol_to_cell(row, col)}")

    def _formula(self, cell: Cell, fmt: Any) -> None:
        value = self.cached[cell.name]
        if isinstance(value, Decimal):
            value = float(value)
        self._check(self.ws.write_formula(cell.row, cell.col, self.formulas[cell.name], fmt, value), f"the formula in {cell.a1}")

    def _validate(self, cell: Cell, options: dict[str, Any]) -> None:
        self._check(self.ws.data_validation(cell.row, cell.col, cell.row, cell.col, options), f"the data validation of {cell.a1} ({cell.name})")

    # -- parts -----------------------------------------------------------------
    def _sheet_setup(self) -> None:
        ws, lay = self.ws, self.layout
        for col, width in enumerate(COLUMN_WIDTHS):
            ws.set_column(col, col, width)
        ws.set_landscape()
        ws.set_paper(9)  # A4
        ws.fit_to_pages(1, 0)
        ws.center_horizontally()
        ws.set_margins(left=0.5, right=0.5, top=0.6, bottom=0.6)
        ws.repeat_rows(lay.table_header_row)
        ws.print_area(0, 0, lay.last_row, LAST_COL)
        ws.set_footer("&C第 &P 页，共 &N 页")
        ws.hide_gridlines(2)
        self.formulas = formulas(lay)

    def _title(self) -> None:
        ws, lay = self.ws, self.layout
        ws.set_row(lay.title_row, 36)
        ws.merge_range(lay.title_row, 0, lay.title_row, LAST_COL, self.spec.title, self.st.title)
        hint = ("填报提示：浅黄色单元格为填报区域；浅蓝色为财政局预填，绿色为公式自动计算，均已锁定。"
                f"“校验”列出现红色提示时请按提示修改。详见“{GUIDE_SHEET}”工作表。")
        ws.set_row(lay.hint_row, 30)
        ws.merge_range(lay.hint_row, 0, lay.hint_row, LAST_COL, hint, self.st.hint)

    def _fields(self) -> None:
        ws = self.ws
        heights: dict[int, float] = {}
        for slot in self.layout.fields:
            f = slot.field
            ws.write_string(slot.label_row, slot.label_col, f.label + "：", self.st.label)
            role = "computed" if f.computed else ("prefill" if f.id in self.prefill else "input")
            ftype = "grade" if f.compute == "grade" else f.type
            fmt = self.st.value(role, ftype)
            c = slot.cell
            if slot.last_col > c.col:
                ws.merge_range(c.row, c.col, c.row, slot.last_col, None, fmt)
            if f.computed:
                self._formula(c, fmt)
            else:
                value = self.prefill.get(f.id, self.values.get(c.name))
                self._put(c, value, fmt)
                if role == "input":
                    self._validate(c, field_validation(f))
            heights[c.row] = max(heights.get(c.row, 0), _field_height(slot, self.cells.get(c.name)))
        for row, h in heights.items():
            ws.set_row(row, h)

    def _table(self) -> None:
        ws, lay, st = self.ws, self.layout, self.st
        hr = lay.table_header_row
        ws.set_row(hr, 24)
        for col, text in enumerate(TABLE_HEADERS):
            ws.write_string(hr, col, text, st.header)
        for c in lay.categories:
            ws.merge_range(c.first_row, COL_CATEGORY, c.subtotal_row, COL_CATEGORY, category_title(c.category), st.category)
            for r in c.rows:
                self._indicator_row(r)
            sr = c.subtotal_row
            ws.write_string(sr, COL_NAME, "小计", st.subtotal_label)
            ws.write_string(sr, COL_EXPLANATION, f"本类分值 {plain_number(c.category.points)} 分", st.subtotal_label)
            self._formula(c.weight, st.subtotal)
            self._formula(c.score, st.subtotal)
            ws.write_blank(sr, COL_REMARK, None, st.subtotal_label)
            self._formula(c.check, st.check)
            ws.set_row(sr, 20)
        tr = lay.total_row
        ws.merge_range(tr, COL_CATEGORY, tr, COL_EXPLANATION, "合计", st.total_label)
        self._formula(lay.total_weight, st.total)
        self._formula(lay.total_score, st.total)
        ws.write_blank(tr, COL_REMARK, None, st.total_label)
        self._formula(lay.total_check, st.check)
        ws.set_row(tr, 24)

    def _indicator_row(self, r: RowSlot) -> None:
        st, cells = self.st, self.cells
        inp = lambda t: st.value("input", t)  # noqa: E731
        if r.text_editable:
            for cell, ftype in ((r.name, "text"), (r.explanation, "text")):
                self._put(cell, cells.get(cell.name), inp(ftype))
                self._validate(cell, cell_validation(self.spec, r, cell))
        else:
            self._put(r.name, r.indicator.name if r.indicator else "", st.text)
            self._put(r.explanation, r.indicator.explanation if r.indicator else "", st.explanation)
        if r.weight_editable:
            self._put(r.weight, cells.get(r.weight.name), inp("score"))
            self._validate(r.weight, cell_validation(self.spec, r, r.weight))
        else:
            self._put(r.weight, cells.get(r.weight.name), st.weight)
        self._put(r.score, cells.get(r.score.name), inp("score"))
        self._validate(r.score, cell_validation(self.spec, r, r.score))
        self._put(r.remark, cells.get(r.remark.name), inp("text"))
        self._validate(r.remark, cell_validation(self.spec, r, r.remark))
        self._formula(r.check, st.check)
        name = cells.get(r.name.name) or ""
        expl = r.indicator.explanation if r.indicator else (cells.get(r.explanation.name) or "")
        lines = max(wrapped_lines(str(name), COLUMN_WIDTHS[COL_NAME]), wrapped_lines(str(expl), COLUMN_WIDTHS[COL_EXPLANATION]), 1)
        self.ws.set_row(r.row, max(22, 14 * lines + 6))

    def _notes(self) -> None:
        ws, lay = self.ws, self.layout
        if not self.spec.notes:
            return
        ws.write_string(lay.notes_title_row, 0, "说明：", self.st.note_title)
        for row, text in zip(lay.notes_rows, self.spec.notes):
            ws.merge_range(row, 0, row, LAST_COL, text, self.st.note)
            ws.set_row(row, max(18, 14 * wrapped_lines(text, sum(COLUMN_WIDTHS)) + 4))

    def _conditional_formats(self) -> None:
        for rule in alert_rules(self.layout):
            where = f"{xl_rowcol_to_cell(rule.first_row, rule.first_col)}:{xl_rowcol_to_cell(rule.last_row, rule.last_col)}"
            self._check(self.ws.conditional_format(rule.first_row, rule.first_col, rule.last_row, rule.last_col,
                                                   {"type": "formula", "criteria": rule.formula, "format": self.st.alert}),
                        f"the conditional format on {where}")

    def _protect(self, ws: Worksheet) -> None:
        ws.protect(self.password or "", {
            "select_locked_cells": True, "select_unlocked_cells": True,
            "format_rows": True, "format_columns": True,
        })

    def _defined_names(self, wb: xlsxwriter.Workbook) -> None:
        sheet = self.spec.sheet.replace("'", "''")
        # Exactly the cells describe lists, fixed texts included: a reader may use any of them.
        for cell in sorted(self.layout.named_cells(), key=lambda c: c.name):
            self._check(wb.define_name(cell.name, f"='{sheet}'!{cell.ref}"), f"the defined name {cell.name}")

    def _guide(self, wb: xlsxwriter.Workbook) -> None:
        ws = wb.add_worksheet(GUIDE_SHEET)
        title = wb.add_format({"font_name": "宋体", "bold": True, "font_size": 14})
        text = wb.add_format({"font_name": "宋体", "text_wrap": True, "valign": "top"})
        ws.set_column(0, 0, 6)
        ws.set_column(1, 1, 100)
        ws.write_string(0, 0, f"填报说明（{self.spec.title}）", title)
        for n, line in enumerate(self.spec.instructions, start=1):
            ws.write_number(n + 1, 0, n, text)
            ws.write_string(n + 1, 1, line, text)
            ws.set_row(n + 1, max(20, 15 * wrapped_lines(line, 100)))
        row = len(self.spec.instructions) + 3
        ws.write_string(row, 1, f"模板：{self.spec.id}  版本：{self.spec.version}", text)
        if self.roster_key:
            ws.write_string(row + 1, 1, f"编号：{self.roster_key}", text)
        ws.protect(self.password or "")
        ws.set_paper(9)

    def _metadata(self, wb: xlsxwriter.Workbook) -> None:
        meta = {
            "format": META_FORMAT, "template_id": self.spec.id, "template_version": self.spec.version,
            "spec_hash": self.spec.spec_hash, "layout_version": str(LAYOUT_VERSION),
            "generator": f"xltemplate {__version__}", "generated_at": self.stamp.isoformat(),
            "roster_key": self.roster_key or "",
            "prefill": json.dumps({k: _jsonable(v) for k, v in sorted(self.prefill.items())}, ensure_ascii=False, sort_keys=True),
        }
        ws = wb.add_worksheet(META_SHEET)
        for n, key in enumerate(META_KEYS):
            self._check(ws.write_string(n, 0, key), f"metadata key {key}")
            self._check(ws.write_string(n, 1, meta[key]), f"metadata value {key}")
            if key != "prefill":
                self._check(wb.set_custom_property(f"xltemplate.{key}", meta[key]), f"custom property {key}")
        ws.protect(self.password or "")
        ws.very_hidden()


def _jsonable(v: Any) -> Any:
    if isinstance(v, Decimal):
        return format(v, "f")
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    return v


def _field_height(slot: FieldSlot, value: Any) -> float:
    f: Field = slot.field
    if f.type != "longtext":
        return 24 if len(f.label) <= 8 else 30
    width = sum(COLUMN_WIDTHS[slot.cell.col: slot.last_col + 1])
    return float(min(409, max(60, 14 * wrapped_lines(str(value or ""), width) + 6)))
