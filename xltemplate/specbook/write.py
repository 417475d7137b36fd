"""Write a spec as a spec workbook: the form as its author edits it in Excel or WPS.

Each key of the spec's own data (what its YAML says, defaults left out, so that reading the
workbook back gives the same data and the same spec hash) goes to the cell :mod:`.columns`
assigns it. The workbook is made to be edited by a person: header row bold and frozen, an input
message on every column, drop-down lists where the choices are fixed, an example row in grey
under each table's header, text columns formatted as text (a version typed 2021.10 stays
2021.10), nothing hidden, widths that fit the content, and A4 printing with the header repeated.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Mapping, cast

import xlsxwriter
from xlsxwriter.worksheet import Worksheet

from ..errors import GenerateError
from ..fsutil import build_time, write_atomic
from ..printing import DEFAULT_FONT, XLSX_A4, Page, footer, row_height, text_units
from ..sheettext import workbook
from ..spec import DEFAULT_FAMILY, MAX_PROMPT, MAX_PROMPT_TITLE, Spec
from .columns import (
    GRADE, INDICATORS, LEVELS, LIST_SEPARATORS, NO, RATIO, VALUE_HEADERS, YES, Col, Sheet, example_row, sheets_for,
)
from .paths import get_path

#: Rows below the data that keep the drop-downs and input messages (a person adds rows there).
SPARE_ROWS = 200
_MAX_WIDTH = 60.0
_PAGE = Page(landscape=True)
_FONT_PT = cast(float, DEFAULT_FONT["font_size"])


def write_specbook(spec: Spec | Mapping[str, Any], target: str | Path) -> Path:
    """Write a spec as a spec workbook at ``target`` (atomically); returns the path.

    ``spec`` is a checked :class:`Spec` (its own data is written) or a spec's plain data as is
    (unchecked: the tests write workbooks with mistakes in them this way).
    """
    data = dict(spec.raw) if isinstance(spec, Spec) else dict(spec)
    return write_atomic(target, lambda tmp: _write(data, tmp))


def cell_value(col: Col, value: Any) -> Any:
    """What a cell shows for a spec value (the reader turns it back: :func:`.read.spec_value`)."""
    if value is None:
        return None
    if col.kind == "flag" and isinstance(value, bool):
        return YES if value else NO
    if col.kind == "enum":
        return col.enum.get(str(value), str(value)) if not isinstance(value, bool) else str(value)
    if col.kind == "list" and isinstance(value, list):
        items = [str(v) for v in value]
        # one a line when a value holds a character the reader would split on (、 , ， ; ；)
        return ("\n" if any(LIST_SEPARATORS.search(v) for v in items) else "、").join(items)
    if col.kind == "compute":
        if value == "grade":
            return GRADE
        if isinstance(value, dict) and isinstance(value.get("ratio"), list):
            return f"{RATIO}：" + "/".join(str(v) for v in value["ratio"])
        return str(value)
    if isinstance(value, float) and value.is_integer() and col.kind in ("number", "int", "bound"):
        # YAML's 20.0 is not 20 to the spec's hash, and a spreadsheet keeps no such difference: the text
        # "20.0" does (the reader reads a number typed as text as the number it shows)
        return repr(value)
    if isinstance(value, (dt.date, dt.datetime, int, float, str)) and not isinstance(value, bool):
        return value
    return str(value)


def rows_of(sheet: Sheet, data: Mapping[str, Any]) -> list[list[Any]]:
    """The data rows of a table sheet, in the spec's order (spec values, not yet cell values)."""
    if sheet is INDICATORS:
        cats = data.get("categories") or []
        names = [c.get("name") for c in cats if isinstance(c, dict)]
        out = []
        for c in cats:
            if not isinstance(c, dict):
                continue
            # an indicator names its category by name, unless two categories share one
            ref = c.get("name") if names.count(c.get("name")) == 1 else c.get("id")
            for ind in c.get("indicators") or []:
                out.append([ref] + [ind.get(col.key) if isinstance(ind, dict) else None for col in sheet.cols[1:]])
        return out
    if sheet is LEVELS:
        out = []
        for lv in data.get("levels") or []:
            head = [lv.get("id"), lv.get("name"), lv.get("points")]
            for n, sub in enumerate(lv.get("sublevels") or [None]):
                out.append((head if n == 0 else [None, None, None]) + [sub.get("id") if sub else None, sub.get("name") if sub else None])
        return out
    items = get_path(data, sheet.path) or []
    if not sheet.cols[0].key:  # a list of texts (说明, 填报说明)
        return [[t] for t in items]
    return [[it.get(col.key) if isinstance(it, dict) else None for col in sheet.cols] for it in items]


class _Styles:
    def __init__(self, wb: xlsxwriter.Workbook) -> None:
        base = {"valign": "top", "border": 1, "border_color": "#BFBFBF"}
        self.header = wb.add_format({**base, "bold": True, "bg_color": "#DDEBF7", "text_wrap": True, "align": "center"})
        self.text = wb.add_format({**base, "num_format": "@", "text_wrap": True})
        self.number = wb.add_format({**base, "num_format": "General"})
        self.date = wb.add_format({**base, "num_format": "yyyy-mm-dd"})
        self.example = wb.add_format({**base, "italic": True, "font_color": "#808080", "num_format": "@", "text_wrap": True})
        self.note = wb.add_format({**base, "font_color": "#595959", "text_wrap": True, "num_format": "@"})
        self.item = wb.add_format({**base, "bold": True, "num_format": "@"})


def _write(data: Mapping[str, Any], path: Path) -> None:
    family = str(data["family"]) if isinstance(data.get("family"), str) else DEFAULT_FAMILY
    sid, version, title = (str(data.get(k, "")) for k in ("id", "version", "title"))
    wb = workbook(str(path), {
        "strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False,
        "in_memory": True, "default_format_properties": dict(DEFAULT_FONT),
    })
    wb.set_properties({"title": f"模板定义：{title}（{sid} {version}）", "author": "xltemplate",
                       "comments": "模板定义工作簿：用 xltemplate spec import 转为 YAML，或直接用于 generate。",
                       "created": build_time().replace(tzinfo=None)})
    st = _Styles(wb)
    for sheet in sheets_for(family) or sheets_for(DEFAULT_FAMILY):
        ws = wb.add_worksheet(sheet.zh)
        if sheet.values:
            _value_sheet(ws, st, sheet, data)
        else:
            _table_sheet(ws, st, sheet, data)
        _print_setup(ws, f"{sid} {version}")
    wb.close()
    if not path.is_file():  # pragma: no cover - XlsxWriter raises on failure
        raise GenerateError(f"无法写出模板定义工作簿 {path}")


def _prompt(col: Col) -> dict[str, Any]:
    """The input message of a column (within Excel's limits: 32 for the title, 255 for the text)."""
    return {"input_title": col.zh[:MAX_PROMPT_TITLE], "input_message": col.help[:MAX_PROMPT]}


def _validation(col: Col, source: list[str] | str | None = None) -> dict[str, Any]:
    """The data validation of a column: a drop-down where the choices are fixed, else a message only."""
    if col.kind == "flag":
        return {"validate": "list", "source": [YES, NO], **_prompt(col), "error_title": "请从下拉列表选择",
                "error_message": f"“{col.zh}”只能填 是 或 否，或留空。"}
    if col.kind == "enum":
        choices = list(dict.fromkeys(col.enum.values()))
        return {"validate": "list", "source": choices, **_prompt(col), "error_title": "请从下拉列表选择",
                "error_message": f"“{col.zh}”只能是：{'、'.join(choices)}。"[:MAX_PROMPT]}
    if col.kind == "compute":  # 等级 from the list; a ratio is typed (比率：分子/分母), so no error
        return {"validate": "list", "source": [GRADE], **_prompt(col), "show_error": False}
    if source is not None:  # a reference: choose, or type an id (no error)
        return {"validate": "list", "source": source, **_prompt(col), "show_error": False}
    return {"validate": "any", **_prompt(col)}


def _width(col_header: str, texts: list[Any], floor: float) -> float:
    longest = max([text_units(col_header) + 2] + [text_units(str(t)) + 1 for t in texts if t is not None] + [floor])
    return min(longest, _MAX_WIDTH)


def _table_sheet(ws: Worksheet, st: _Styles, sheet: Sheet, data: Mapping[str, Any]) -> None:
    rows = rows_of(sheet, data)
    ws.freeze_panes(1, 0)
    ws.set_row(0, 30)
    last = len(rows) + 2 + SPARE_ROWS  # header, example, rows, spare (0-based exclusive)
    shown = [[cell_value(col, r[c]) for c, col in enumerate(sheet.cols)] for r in rows]
    widths = []
    for c, col in enumerate(sheet.cols):
        values = [r[c] for r in shown]
        widths.append(_width(col.zh, [v for v in values if not isinstance(v, str) or len(v) < 80], col.width))
        ws.set_column(c, c, widths[c])
    # a spreadsheet program does not grow a row for its wrapped text: every height is given (printing.py)
    for r, texts in enumerate(shown, start=2):
        ws.set_row(r, max(15.0, row_height([t if t is not None else "" for t in texts], widths, _FONT_PT)))
    for c, col in enumerate(sheet.cols):
        values = [r[c] for r in shown]
        ws.write_string(0, c, col.zh, st.header)
        ws.data_validation(0, c, 0, c, {"validate": "any", **_prompt(col)})
        ws.write_string(1, c, example_row(sheet)[c], st.example)
        source: str | None = None
        if col.kind == "ref":
            source = "=类别!$B$3:$B$100"
        ws.data_validation(2, c, last, c, _validation(col, source))
        for r, v in enumerate(values, start=2):
            _write_cell(ws, st, r, c, col, v)


def _write_cell(ws: Worksheet, st: _Styles, r: int, c: int, col: Col, v: Any) -> None:
    if v is None:
        ws.write_blank(r, c, None, st.text if col.kind not in ("number", "int", "bound") else st.number)
    elif isinstance(v, dt.datetime):
        ws.write_datetime(r, c, v, st.date)
    elif isinstance(v, dt.date):
        ws.write_datetime(r, c, dt.datetime(v.year, v.month, v.day), st.date)
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
        ws.write_number(r, c, v, st.number)
    else:
        ws.write_string(r, c, str(v), st.text)


def _value_sheet(ws: Worksheet, st: _Styles, sheet: Sheet, data: Mapping[str, Any]) -> None:
    ws.freeze_panes(1, 0)
    ws.set_row(0, 22)
    for c, h in enumerate(VALUE_HEADERS):
        ws.write_string(0, c, h, st.header)
    present = [col for col in sheet.cols if get_path(data, col.key) is not None]
    values = [cell_value(col, get_path(data, col.key)) for col in present]
    widths = [_width(VALUE_HEADERS[0], [c.zh for c in sheet.cols], 12), _width(VALUE_HEADERS[1], values, 20), 60.0]
    for c, w in enumerate(widths):
        ws.set_column(c, c, w)
    ws.data_validation(0, 0, 0, 2, {"validate": "any", "input_title": sheet.zh,
                                    "input_message": sheet.help[:MAX_PROMPT]})
    for r, (col, v) in enumerate(zip(present, values), start=1):
        ws.set_row(r, max(15.0, row_height([col.zh, "" if v is None else v, col.help], widths, _FONT_PT)))
        ws.write_string(r, 0, col.zh, st.item)
        _write_cell(ws, st, r, 1, col, v)
        ws.write_string(r, 2, col.help, st.note)
        ws.data_validation(r, 1, r, 1, _validation(col))
    # the items not given yet: listed in the first column's drop-down, so an author finds their names
    names = [c.zh for c in sheet.cols]
    first_free = len(present) + 1
    ws.data_validation(first_free, 0, first_free + 40, 0, {
        "validate": "list", "source": names, "show_error": False, "input_title": "项目",
        "input_message": ("要增加一项，请从下拉列表选择其名称，再在“值”列填写：" + "、".join(names))[:MAX_PROMPT]})


def _print_setup(ws: Worksheet, right: str) -> None:
    ws.set_paper(XLSX_A4)
    ws.set_landscape()
    ws.set_margins(**_PAGE.margins())
    ws.repeat_rows(0)
    ws.fit_to_pages(1, 0)
    ws.set_footer(footer(right))
    ws.hide_gridlines(0)
