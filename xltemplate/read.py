"""Read a returned workbook into a :class:`~xltemplate.submission.Submission`.

This is the reference reader, built on openpyxl: it loads the workbook twice
(formulas, then the cached values the file claims). It is slow (tens of
milliseconds a file) but it is the yardstick the fast reader is tested against.
:func:`read_submission` picks the reader; every file is sniffed first so that
no parser ever sees an encrypted, binary, bombed or truncated file.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path
from typing import Any

from .fsutil import sha256_file
from .layout import META_SHEET
from .sniff import Sniffed, Unreadable, sniff
from .submission import MAX_COLS, MAX_ROWS, CellData, Submission, meta_text


READERS = ("fast", "openpyxl")


def read_submission(path: str | Path, reader: str = "fast") -> Submission:
    """Read one returned workbook; raise :class:`~xltemplate.sniff.Unreadable` if it cannot be read.

    ``reader`` is "fast" (expat, the default) or "openpyxl" (the reference).
    """
    sniffed = sniff(path)
    if reader == "fast":
        from .fastread import read_fast

        return read_fast(sniffed)
    if reader == "openpyxl":
        return read_openpyxl(sniffed)
    raise ValueError(f"unknown reader {reader!r}")


def read_openpyxl(sniffed: Sniffed) -> Submission:
    """The reference reader (openpyxl; XML parsed through defusedxml when it is installed)."""
    import openpyxl

    path = sniffed.path
    try:
        wb_f = openpyxl.load_workbook(path, data_only=False, keep_links=False)
        wb_v = openpyxl.load_workbook(path, data_only=True, keep_links=False)
    except Unreadable:
        raise
    except Exception as exc:  # openpyxl raises many kinds of error for a broken file
        from defusedxml import DefusedXmlException

        if isinstance(exc, DefusedXmlException):
            raise Unreadable("file-unsafe-xml", f"文件含有实体或外部引用声明（可能是恶意构造的文件），已拒绝读取（{type(exc).__name__}）。请提交下发的原始模板。") from exc
        raise Unreadable("file-corrupt", f"文件已损坏，无法打开（{type(exc).__name__}: {str(exc)[:200]}）。请重新保存后提交。") from exc
    sub = Submission(path=str(path), sha256=sha256_file(path), size=sniffed.size, has_macros=sniffed.has_macros)
    sub.saved_at = _naive(wb_f.properties.modified)
    sub.application = _application(path)
    for ws in wb_f.worksheets:
        sub.sheets[ws.title] = ws.sheet_state
        sub.protected[ws.title] = bool(ws.protection.sheet)
    for chart in getattr(wb_f, "chartsheets", []):
        sub.sheets.setdefault(chart.title, chart.sheet_state)
    try:
        sub.properties = {p.name: meta_text(p.value) for p in wb_f.custom_doc_props.props}
    except Exception:  # a malformed custom.xml is not worth refusing the file for
        sub.properties = {}
    for name, dn in wb_f.defined_names.items():
        sub.defined_names[name] = _destination(dn)
    for ws_f in wb_f.worksheets:
        ws_v = wb_v[ws_f.title]
        if ws_f.title == META_SHEET:
            sub.meta = _meta(ws_f)
            continue
        sub.cells[ws_f.title] = _cells(ws_f, ws_v)
    return sub


def _cells(ws_f: Any, ws_v: Any) -> dict[str, CellData]:
    out: dict[str, CellData] = {}
    cached = {}
    rows, cols = min(ws_f.max_row, MAX_ROWS), min(ws_f.max_column, MAX_COLS)
    for row in ws_v.iter_rows(max_row=rows, max_col=cols):
        for c in row:
            if c.value is not None:
                cached[c.coordinate] = (c.value, c.data_type == "e")
    for row in ws_f.iter_rows(max_row=rows, max_col=cols):
        for c in row:
            v = c.value
            if v is None or v == "":
                continue
            formula = None
            if c.data_type == "f":
                formula = v if isinstance(v, str) else ("=" + str(getattr(v, "text", "") or "").lstrip("="))
                value, error = cached.get(c.coordinate, (None, False))
            else:
                value, error = v, c.data_type == "e"
            if value == "":
                value = None
            out[c.coordinate] = CellData(value=value, formula=formula, error=error)
    return out


def _meta(ws: Any) -> dict[str, str]:
    meta: dict[str, str] = {}
    for row in ws.iter_rows(min_row=1, max_row=100, max_col=2, values_only=True):
        key, value = (row + (None, None))[:2]
        if isinstance(key, str) and key:
            meta[key] = meta_text(value)
    return meta


def _destination(dn: Any) -> tuple[str, str] | None:
    try:
        dests = list(dn.destinations)
    except Exception:
        return None
    if len(dests) != 1:
        return None
    sheet, ref = dests[0]
    ref = ref.replace("$", "")
    if ":" in ref:
        return None
    return sheet, ref




def _naive(value: Any) -> dt.datetime | None:
    if not isinstance(value, dt.datetime):
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value.replace(microsecond=0)


def _application(path: Path) -> str | None:
    """The program that last saved the file, from docProps/app.xml (parsed safely)."""
    from defusedxml import ElementTree

    try:
        with zipfile.ZipFile(path) as zf:
            if "docProps/app.xml" not in zf.namelist():
                return None
            with zf.open("docProps/app.xml") as fh:
                data = fh.read(256 * 1024)
        root = ElementTree.fromstring(data)
    except Exception:
        return None
    for el in root:
        if el.tag.endswith("}Application") and el.text:
            return el.text.strip()[:100]
    return None
