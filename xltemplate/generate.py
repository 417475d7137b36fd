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
    COL_CATEGORY, COL_CHECK, COL_EXPLANATION, COL_NAME, COL_REMARK,
    COLUMN_WIDTHS, GUIDE_SHEET, LAST_COL, LAYOUT_VERSION, META_FORMAT, META_KEYS, META_SHEET,
    META_SIGNATURE_KEY,
    TABLE_HEADERS, Cell, FieldSlot, Layout, RowSlot, category_title,
)
from .printing import (
    DEFAULT_FONT, ENGINE_SLACK, MAX_ROW_PT, PT_PER_PX, XLSX_A4, Page, cell_height, columns_pt, fit_scale, footer, page_rows_pt,
    paginate, text_height, units_of_px,
)
from .prompts import cell_validation, field_validation
from .sign import Keyring
from .spec import Field, Spec, TemplateLike, as_spec

# Fill colours tell the person filling in what is theirs to type.
INPUT_FILL = "#FFF2CC"  # light yellow: type here
PREFILL_FILL = "#DDEBF7"  # light blue: filled by the bureau, locked
COMPUTED_FILL = "#E2EFDA"  # light green: formula
HEADER_FILL = "#D9E1F2"
LABEL_FILL = "#F2F2F2"
ALERT_FILL = "#FFC7CE"
ALERT_FONT = "#9C0006"
#: The form prints landscape (its seven columns are too wide for a portrait page at a readable
#: size), the guide portrait.
FORM_PAGE = Page(landscape=True, left=0.4, right=0.4, top=0.5, bottom=0.55)
GUIDE_PAGE = Page(landscape=False, left=0.6, right=0.6, top=0.6, bottom=0.6)
DEFAULT_ROW_PT = 15.0  # rows the writer leaves alone


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
        self.hint = wb.add_format({"font_name": "宋体", "font_size": 10, "italic": True, "font_color": "#595959", "text_wrap": True, "valign": "vcenter"})
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
    keyring: Keyring | None = None,
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
        _Writer(spec, layout, tmp, password, prefill, values, roster_key, stamp, keyring).write()

    write_atomic(path, write)
    return Generated(Path(path), roster_key, sha256_file(path))


class _Writer:
    def __init__(self, spec: Spec, layout: Layout, path: Path, password: str | None,
                 prefill: dict[str, Any], values: dict[str, Any], roster_key: str | None,
                 stamp: dt.datetime, keyring: Keyring | None = None) -> None:
        self.spec, self.layout, self.path = spec, layout, path
        self.password, self.prefill, self.values = password, prefill, values
        self.roster_key, self.stamp, self.keyring = roster_key, stamp, keyring
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
            "default_format_properties": DEFAULT_FONT,  # the column unit; see printing.DEFAULT_FONT
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
        self._pages()
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

    def _height(self, row: int, height: float) -> None:
        """Set a row's height, remembered for choosing the page breaks."""
        height = min(MAX_ROW_PT, height)
        self.heights[row] = height
        self.ws.set_row(row, height)

    def _validate(self, cell: Cell, options: dict[str, Any]) -> None:
        self._check(self.ws.data_validation(cell.row, cell.col, cell.row, cell.col, options), f"the data validation of {cell.a1} ({cell.name})")

    # -- parts -----------------------------------------------------------------
    def _sheet_setup(self) -> None:
        ws, lay = self.ws, self.layout
        self.heights: dict[int, float] = {}
        for col, width in enumerate(COLUMN_WIDTHS):
            ws.set_column(col, col, width)
        ws.set_landscape()
        ws.set_paper(XLSX_A4)
        ws.center_horizontally()
        ws.set_margins(**FORM_PAGE.margins())
        ws.repeat_rows(lay.table_header_row)
        ws.print_area(0, 0, lay.last_row, LAST_COL)
        ws.set_footer(footer(f"编号：{self.roster_key}" if self.roster_key else ""),
                      {"margin": FORM_PAGE.footer})
        ws.hide_gridlines(2)
        self.formulas = formulas(lay)

    def _pages(self) -> None:
        """Print scale and page breaks, from the rows' heights and the layout's blocks.

        A written scale, not "fit to page width": Excel ignores manual page breaks on a sheet
        fitted to a width. The breaks keep the title with the header block, the table's header
        with its first category and every category whole when it fits on a page.
        """
        ws, lay = self.ws, self.layout
        scale = fit_scale(columns_pt(COLUMN_WIDTHS), FORM_PAGE)
        ws.set_print_scale(scale)
        heights = [self.heights.get(r, DEFAULT_ROW_PT) for r in range(lay.last_row + 1)]
        room = page_rows_pt(FORM_PAGE, scale)
        title = heights[lay.table_header_row]  # printed again on top of every page after the first table page

        def capacity(first: int) -> float:
            return room - title if first > lay.table_header_row else room

        breaks = paginate(heights, lay.print_blocks(), capacity)
        if breaks:
            ws.set_h_pagebreaks(breaks)

    def _title(self) -> None:
        ws, lay = self.ws, self.layout
        self._height(lay.title_row, 36)
        ws.merge_range(lay.title_row, 0, lay.title_row, LAST_COL, self.spec.title, self.st.title)
        hint = ("填报提示：浅黄色单元格为填报区域；浅蓝色为财政局预填，绿色为公式自动计算，均已锁定。"
                f"“校验”列出现红色提示时请按提示修改。详见“{GUIDE_SHEET}”工作表。")
        self._height(lay.hint_row, max(24, cell_height(hint, sum(COLUMN_WIDTHS), 10)))
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
            self._height(row, h)
        self._height(self.layout.table_header_row - 1, 12)  # the gap above the table

    def _table(self) -> None:
        ws, lay, st = self.ws, self.layout, self.st
        hr = lay.table_header_row
        self._height(hr, 24)
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
            self._height(sr, max(20, self._check_height(c.check)))
        tr = lay.total_row
        ws.merge_range(tr, COL_CATEGORY, tr, COL_EXPLANATION, "合计", st.total_label)
        self._formula(lay.total_weight, st.total)
        self._formula(lay.total_score, st.total)
        ws.write_blank(tr, COL_REMARK, None, st.total_label)
        self._formula(lay.total_check, st.check)
        self._height(tr, max(24, self._check_height(lay.total_check)))

    def _check_height(self, cell: Cell) -> float:
        """Height for the 校验 message the check cell shows (10 pt) as written."""
        return cell_height(self.cached.get(cell.name) or "", COLUMN_WIDTHS[COL_CHECK], 10)

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
        expl_pt = 10 if r.indicator else 11
        self._height(r.row, max(
            22.0, cell_height(name, COLUMN_WIDTHS[COL_NAME], 11), cell_height(expl, COLUMN_WIDTHS[COL_EXPLANATION], expl_pt),
            cell_height(cells.get(r.remark.name) or "", COLUMN_WIDTHS[COL_REMARK], 11), self._check_height(r.check),
        ))

    def _notes(self) -> None:
        ws, lay = self.ws, self.layout
        if not self.spec.notes:
            return
        ws.write_string(lay.notes_title_row, 0, "说明：", self.st.note_title)
        self._height(lay.notes_title_row, text_height(1, 11))
        for row, text in zip(lay.notes_rows, self.spec.notes):
            ws.merge_range(row, 0, row, LAST_COL, text, self.st.note)
            self._height(row, max(18, cell_height(text, sum(COLUMN_WIDTHS), 10)))

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
        """The 填报说明 sheet: one column as wide as a portrait page, printed at full size."""
        ws = wb.add_worksheet(GUIDE_SHEET)
        title = wb.add_format({"font_name": "宋体", "bold": True, "font_size": 14, "text_wrap": True, "valign": "vcenter"})
        text = wb.add_format({"font_name": "宋体", "font_size": 11, "text_wrap": True, "valign": "top"})
        width = int(units_of_px(GUIDE_PAGE.width_pt / ENGINE_SLACK / PT_PER_PX))
        ws.set_column(0, 0, width)
        lines = [f"{n}、{line}" for n, line in enumerate(self.spec.instructions, start=1)]
        lines += ["", f"模板：{self.spec.id}  版本：{self.spec.version}"] + ([f"编号：{self.roster_key}"] if self.roster_key else [])
        heading = f"填报说明（{self.spec.title}）"
        ws.set_row(0, max(30, cell_height(heading, width, 14)))
        ws.write_string(0, 0, heading, title)
        for n, line in enumerate(lines, start=1):
            ws.set_row(n, cell_height(line, width, 11) + 4)  # a little air between items
            if line:
                ws.write_string(n, 0, line, text)
        ws.protect(self.password or "")
        ws.set_paper(XLSX_A4)
        ws.set_portrait()
        ws.set_margins(**GUIDE_PAGE.margins())
        ws.set_print_scale(fit_scale(columns_pt([width]), GUIDE_PAGE))
        ws.set_footer(footer(), {"margin": GUIDE_PAGE.footer})
        ws.hide_gridlines(2)

    def _metadata(self, wb: xlsxwriter.Workbook) -> None:
        meta = {
            "format": META_FORMAT, "template_id": self.spec.id, "template_version": self.spec.version,
            "spec_hash": self.spec.spec_hash, "layout_version": str(LAYOUT_VERSION),
            "generator": f"xltemplate {__version__}", "generated_at": self.stamp.isoformat(),
            "roster_key": self.roster_key or "",
            "prefill": json.dumps({k: _jsonable(v) for k, v in sorted(self.prefill.items())}, ensure_ascii=False, sort_keys=True),
        }
        keys = list(META_KEYS)
        if self.keyring is not None:
            # Signed over the values exactly as written above: the reader rebuilds the same text.
            meta[META_SIGNATURE_KEY] = self.keyring.sign(meta)
            keys.append(META_SIGNATURE_KEY)
        ws = wb.add_worksheet(META_SHEET)
        for n, key in enumerate(keys):
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
    """A header row's height: its label and its value wrapped, with room to type in when blank.

    Blank text fields get two lines (unit and project names are often longer than a line),
    long texts four; a long text that needs more than Excel's 409 pt is cut in print (the
    roll-up's 文字材料 prints it whole).
    """
    f: Field = slot.field
    width = sum(COLUMN_WIDTHS[slot.cell.col: slot.last_col + 1])
    label = cell_height(f.label + "：", COLUMN_WIDTHS[slot.label_col], 11)
    shown = _shown(f, value)
    size = 12 if f.compute == "grade" else 11
    room = {"longtext": 4, "text": 2}.get(f.type, 1)
    return max(24.0, label, text_height(room, 11), cell_height(shown, width, size))


def _shown(f: Field, value: Any) -> str:
    """Roughly the text a cell shows for ``value`` (numbers with separators and decimals)."""
    if value is None:
        return ""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return f"{float(value):,.2f}" if f.type in ("money", "percent") else format(value, "")
    return str(value)
