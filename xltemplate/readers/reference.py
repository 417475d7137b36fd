"""The reference reader, built on openpyxl: a returned workbook into a :class:`~xltemplate.submission.Submission`.

It loads the workbook twice (formulas, then the cached values the file claims). It is slow (tens
of milliseconds a file) but it is the yardstick the fast reader is tested against. What both
readers must read the same way from the same bytes (document properties, the metadata sheet,
defined names' targets) is read by the shared code of :mod:`xltemplate.readers.properties` and
:mod:`xltemplate.meta`; openpyxl reads the cells, formulas, protection, number formats and merges.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from .. import meta
from ..errors import Unreadable
from ..fsutil import sha256_file
from ..submission import MAX_COLS, MAX_ROWS, CellData, Submission
from .display import FORMAT, MERGED, conceals, merged_cover
from .fast import check_structure
from .package import MAIN_NS, SHARED_STRINGS_TYPE, Package
from .properties import destination, document
from .sniff import Sniffed


def read_openpyxl(sniffed: Sniffed) -> Submission:
    """The reference reader (openpyxl; XML parsed through defusedxml when it is installed).

    The file's structure is judged first by the same rules as the fast reader's (its general
    parsers): which part is the workbook and each sheet, cell references, element placement.
    openpyxl then reads every value, formula, protection flag, number format and merged range
    its own way, and that is what the differential tests compare. Where openpyxl would take
    another part than the relationships name (it finds shared strings by content type and
    styles at a fixed name), the file is refused here rather than read differently.
    """
    import openpyxl

    workbook, strings_part, styles_part = check_structure(sniffed)
    with Package(sniffed) as pkg:
        typed = sorted(n for n, t in pkg.overrides.items() if t == SHARED_STRINGS_TYPE)
        names_xml = pkg.read(workbook)
        saved_at, application, properties = document(pkg)
    if typed != ([strings_part.lower()] if strings_part else []) or (styles_part or "xl/styles.xml") != "xl/styles.xml":
        raise Unreadable("file-corrupt", "reference-parts")
    path = sniffed.path
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns about what it drops (extensions, data validations)
            wb_f = openpyxl.load_workbook(path, data_only=False, keep_links=False)
            wb_v = openpyxl.load_workbook(path, data_only=True, keep_links=False)
    except Unreadable:
        raise
    except Exception as exc:  # openpyxl raises many kinds of error for a broken file
        from defusedxml import DefusedXmlException

        if isinstance(exc, DefusedXmlException):
            raise Unreadable("file-unsafe-xml", "reference", reason=type(exc).__name__) from exc
        raise Unreadable("file-corrupt", "reference", reason=f"{type(exc).__name__}: {str(exc)[:200]}") from exc
    sub = Submission(path=str(path), sha256=sniffed.sha256 or sha256_file(path), size=sniffed.size, has_macros=sniffed.has_macros)
    sub.saved_at, sub.application, sub.properties = saved_at, application, properties
    for ws in wb_f.worksheets:
        sub.sheets[ws.title] = ws.sheet_state
        sub.protected[ws.title] = bool(ws.protection.sheet)
    for chart in getattr(wb_f, "chartsheets", []):
        sub.sheets.setdefault(chart.title, chart.sheet_state)
    twice = _names_given_twice(names_xml)
    for name, dn in wb_f.defined_names.items():
        sub.defined_names[name] = None if name.casefold() in twice else destination(dn.attr_text or "")
    for ws_f in wb_f.worksheets:
        ws_v = wb_v[ws_f.title]
        cells = _cells(ws_f, ws_v)
        hidden = _hidden(path, ws_f, cells)
        if ws_f.title == meta.SHEET:
            sub.meta, sub.meta_too_long = meta.read(cells)
            continue
        sub.cells[ws_f.title] = cells
        if hidden:
            sub.concealed[ws_f.title] = hidden
    return sub


def _names_given_twice(workbook_xml: bytes) -> set[str]:
    """Workbook-level defined names that appear more than once (compared without case, as Excel does)."""
    from defusedxml import ElementTree

    seen: dict[str, int] = {}
    root = ElementTree.fromstring(workbook_xml)
    for dn in root.iterfind(f"{{{MAIN_NS}}}definedNames/{{{MAIN_NS}}}definedName"):
        if dn.get("localSheetId") is None and dn.get("name"):
            key = dn.get("name", "").casefold()
            seen[key] = seen.get(key, 0) + 1
    return {k for k, n in seen.items() if n > 1}


def _hidden(path: Path, ws: Any, cells: dict[str, CellData]) -> dict[str, str]:
    """Cells whose value a person does not see: under a merged range (openpyxl has dropped their
    values, so the raw ones are read back in read-only mode), or behind a number format."""
    out: dict[str, str] = {}
    ranges = [(r.min_row, r.min_col, r.max_row, r.max_col) for r in ws.merged_cells.ranges]
    if ranges:
        raw = _raw_cells(path, ws.title, max(r[2] for r in ranges))
        out.update((a1, MERGED) for a1 in merged_cover(ranges, raw, MAX_ROWS, MAX_COLS))
    for a1, data in cells.items():
        if a1 in out or data.error:
            continue
        try:
            code = ws[a1].number_format
        except (IndexError, KeyError):  # a style naming a format that is not there: shown as General
            code = "General"
        if conceals(code, data.value):
            out[a1] = FORMAT
    return out


def _raw_cells(path: Path, title: str, last_row: int) -> dict[str, bool]:
    """The non-empty cells of one sheet as stored, merged ranges ignored (openpyxl's read-only mode)."""
    import openpyxl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # what openpyxl drops is not what this reads
        try:
            wb = openpyxl.load_workbook(path, read_only=True, keep_links=False)
        except Exception as exc:  # its read-only mode reads the sheet's dimension, which the other mode ignores
            raise Unreadable("file-corrupt", "reference", reason=f"{type(exc).__name__}: {str(exc)[:200]}") from exc
        try:
            ws = wb[title]
            out = {}
            for row in ws.iter_rows(max_row=min(last_row, MAX_ROWS), max_col=MAX_COLS):
                for c in row:
                    if c.value is not None and c.value != "" and hasattr(c, "coordinate"):
                        out[c.coordinate] = True
            return out
        finally:
            wb.close()


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
