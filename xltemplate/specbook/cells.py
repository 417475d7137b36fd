"""A spec workbook's cells as read, and each cell as the spec means it.

The workbook is a file from outside: its cells are read in a bounded worker process (the sniff
every return goes through, then openpyxl). What a person typed is taken as they meant it where
that is unambiguous (full-width digits, 是/否 √/× Y/N, numbers stored as text, a leading
apostrophe, spaces around a value); anything else is kept exactly as typed, so that the spec
checker reports it with the value found.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BoundExceeded, Problem, SpecError, Unreadable
from ..workers import Bounds, run_bounded
from .columns import GRADE, LIST_SEPARATORS, NO, RATIO, YES, Col

_TRUE = {YES.lower(), "y", "yes", "true", "√", "✓", "✔", "1", "对", "真"}
_FALSE = {NO.lower(), "n", "no", "false", "×", "✗", "✘", "x", "0", "错", "假"}
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_INT = re.compile(r"^[+-]?\d+$")
_ISO_DATE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$")
_RATIO = re.compile(rf"^(?:{RATIO}|ratio)\s*[:：]?\s*([A-Za-z0-9_]+)\s*[/,，、÷]\s*([A-Za-z0-9_]+)$", re.I)


@dataclass
class Cells:
    """A sheet's values as read: rows of cells (1-based row numbers) and its merged ranges."""

    name: str
    rows: list[tuple[int, list[Any]]]
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)  # min_row, min_col, max_row, max_col


def read_cells(path: Path) -> list[Cells]:
    """Every sheet's cells, read in a bounded worker; raises SpecError for a file that is no workbook."""
    try:
        return list(run_bounded(_cells, path, bounds=Bounds(seconds=30.0)))
    except Unreadable as exc:
        raise SpecError(str(path), [Problem("", f"无法读取模板定义工作簿：{exc.message}")]) from exc
    except BoundExceeded as exc:
        raise SpecError(str(path), [Problem("", f"模板定义工作簿过大或读取超时（{exc.message}）")]) from exc
    except OSError as exc:
        raise SpecError(str(path), [Problem("", f"无法读取文件（{exc.strerror or exc}）；请检查文件是否存在、是否正在其他程序中打开")]) from exc
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise SpecError(str(path), [Problem("", f"无法打开工作簿（{type(exc).__name__}）；请在 Excel 中打开并另存为 .xlsx 后重试")]) from exc


def _cells(path: Path) -> list[Cells]:
    """In the bounded worker: sniff the file like a return, then read every sheet's values."""
    import warnings

    import openpyxl

    from ..readers.sniff import sniff

    sniff(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(path, data_only=True)
    out = []
    for ws in wb.worksheets:
        rows = [(n, list(r)) for n, r in enumerate(ws.iter_rows(values_only=True), start=1)]
        merged = [(m.min_row, m.min_col, m.max_row, m.max_col) for m in ws.merged_cells.ranges]
        out.append(Cells(ws.title, rows, merged))
    wb.close()
    return out


# -- one cell ----------------------------------------------------------------------------------

def clean(v: Any) -> Any:
    """A cell as typed: text stripped of surrounding spaces and of a leading apostrophe; blank is None."""
    if isinstance(v, str):
        v = v.strip().replace("\u3000", " ").strip()
        if v.startswith("'"):
            v = v[1:].strip()
        return v or None
    if isinstance(v, dt.datetime) and v.time() == dt.time(0):
        return v.date()
    return v


def _nfkc(s: str) -> str:
    """Full-width digits and signs as ASCII; a thousands separator dropped when what is left is a number."""
    s = unicodedata.normalize("NFKC", s).strip()
    bare = s.replace(",", "")
    return bare if _NUMBER.match(bare) else s


def _as_number(v: Any, whole: bool) -> Any:
    if isinstance(v, float) and whole and v.is_integer():
        return int(v)
    if not isinstance(v, str):
        return v
    s = _nfkc(v)
    if whole and _INT.match(s):
        return int(s)
    if _NUMBER.match(s):
        return int(s) if _INT.match(s) else float(s)
    return v  # as typed: the checker says it is not a number, quoting it


def spec_value(col: Col, v: Any) -> Any:
    """The spec value of a cleaned, non-blank cell (the inverse of :func:`.write.cell_value`)."""
    kind = col.kind
    if kind in ("number", "int"):
        return _as_number(v, kind == "int")
    if kind == "flag":
        if isinstance(v, bool):
            return v
        key = unicodedata.normalize("NFKC", str(v)).strip().lower()
        if isinstance(v, (int, float)) and v in (0, 1):
            return bool(v)
        return True if key in _TRUE else False if key in _FALSE else v
    if kind == "enum":
        key = unicodedata.normalize("NFKC", str(v)).strip()
        for value, shown in col.enum.items():
            if key.lower() in (value.lower(), shown.lower()):
                return value
        return v
    if kind == "list":
        text = str(v)
        # one value a line when the writer found a 、 inside a value; else 、 , ， ; ； all separate
        parts = text.split("\n") if "\n" in text else LIST_SEPARATORS.split(text)
        return [p.strip() for p in parts if p.strip()]
    if kind == "bound":
        if isinstance(v, dt.datetime):
            return v.date()
        if isinstance(v, str):
            s = unicodedata.normalize("NFKC", v).strip()
            if _ISO_DATE.match(s):
                try:
                    return dt.date.fromisoformat("-".join(p.zfill(2) for p in s.split("-")))
                except ValueError:
                    return v
            return _as_number(v, False)
        return v
    if kind == "compute":
        s = unicodedata.normalize("NFKC", str(v)).strip()
        if s.lower() in (GRADE, "grade"):
            return "grade"
        m = _RATIO.match(s)
        return {"ratio": [m.group(1), m.group(2)]} if m else v
    if kind == "id":
        return unicodedata.normalize("NFKC", str(v)).strip() if not isinstance(v, bool) else v
    # text: a number typed into a text column is the text it shows
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return str(v)
    if isinstance(v, dt.date):
        return v.isoformat()
    return v
