"""The generic writer of a form sheet's cells: values, formulas with cached results, validations, heights.

Every family writes its body through a :class:`SheetWriter`: it knows the workbook's formats
(:class:`Styles`), the formulas and their cached values, the values by defined name, and checks
every XlsxWriter call that reports failure by a return code (a refused validation message or
defined name is a :class:`~xltemplate.errors.GenerateError`, never a silently missing feature).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Mapping

import xlsxwriter
from xlsxwriter.utility import xl_rowcol_to_cell
from xlsxwriter.worksheet import Worksheet

from ..errors import GenerateError
from ..printing import MAX_ROW_PT, cell_height
from ..sheettext import TextSheet
from ..spec import Spec
from .layout import Cell, FormLayout

# Fill colours tell the person filling in what is theirs to type.
INPUT_FILL = "#FFF2CC"  # light yellow: type here
PREFILL_FILL = "#DDEBF7"  # light blue: filled by the bureau, locked
COMPUTED_FILL = "#E2EFDA"  # light green: formula
HEADER_FILL = "#D9E1F2"
LABEL_FILL = "#F2F2F2"
ALERT_FILL = "#FFC7CE"
ALERT_FONT = "#9C0006"


class FormSheet(TextSheet):
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


class Styles:
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
            formats: dict[str, dict[str, Any]] = {
                "text": {"align": "left"},
                "longtext": {"align": "left", "valign": "top"},
                "choice": {"align": "center"},
                "money": {"num_format": "#,##0.00", "align": "right"},
                "number": {"num_format": "General", "align": "right"},
                "percent": {"num_format": "0.00%", "align": "right"},
                "date": {"num_format": "yyyy-mm-dd", "align": "center"},
                "score": {"align": "center"},
                "grade": {"align": "center", "bold": True, "font_size": 12},
            }
            for ftype, extra in formats.items():
                self.by_type[(role, ftype)] = fmt(bg_color=fill, locked=locked, **extra)

    def value(self, role: str, ftype: str) -> Any:
        return self.by_type[(role, ftype)]


class SheetWriter:
    """Writes one form sheet: every write checked, every row height remembered for the page breaks.

    ``cells`` holds what the formulas read, by defined name (spec values, prefills, typed values);
    ``cached`` what each formula shows for them, written as its cached result; ``prefilled`` the
    defined names of the body's cells the bureau prefilled (locked, blue).
    """

    def __init__(self, spec: Spec, layout: FormLayout, ws: Worksheet, styles: Styles, formulas: Mapping[str, str],
                 cells: Mapping[str, Any], cached: Mapping[str, Any], prefilled: frozenset[str] = frozenset()) -> None:
        self.spec, self.layout, self.ws, self.st = spec, layout, ws, styles
        self.formulas, self.cells, self.cached, self.prefilled = formulas, cells, cached, prefilled
        self.heights: dict[int, float] = {}

    def check(self, code: int | None, what: str) -> None:
        if code is not None and code < 0:
            raise GenerateError(f"{self.spec.id}: XlsxWriter refused {what} (code {code})")

    def put(self, cell: Cell | tuple[int, int], value: Any, fmt: Any) -> None:
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
        if code:  # (the message made only for a refusal: a workbook writes thousands of cells)
            self.check(code, f"the value for {xl_rowcol_to_cell(row, col)}")

    def formula(self, cell: Cell, fmt: Any) -> None:
        value = self.cached[cell.name]
        if isinstance(value, Decimal):
            value = float(value)
        code = self.ws.write_formula(cell.row, cell.col, self.formulas[cell.name], fmt, value)
        if code:
            self.check(code, f"the formula in {cell.a1}")

    def height(self, row: int, height: float) -> None:
        """Set a row's height, remembered for choosing the page breaks."""
        height = min(MAX_ROW_PT, height)
        self.heights[row] = height
        self.ws.set_row(row, height)

    def validate(self, cell: Cell, options: dict[str, Any]) -> None:
        code = self.ws.data_validation(cell.row, cell.col, cell.row, cell.col, options)
        if code:
            self.check(code, f"the data validation of {cell.a1} ({cell.name})")

    def text_height(self, text: Any, col: int, font_pt: float) -> float:
        """Height for ``text`` wrapped in column ``col`` of the family's grid."""
        return cell_height(text or "", self.layout.grid.widths[col], font_pt)
