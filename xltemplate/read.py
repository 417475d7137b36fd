"""Read a returned workbook into a :class:`~xltemplate.submission.Submission`.

This is the reference reader, built on openpyxl: it loads the workbook twice
(formulas, then the cached values the file claims). It is slow (tens of
milliseconds a file) but it is the yardstick the fast reader is tested against.
:func:`read_submission` picks the reader; every file is sniffed first so that
no parser ever sees an encrypted, binary, bombed or truncated file.
"""

from __future__ import annotations

import datetime as dt
import warnings
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
    """The reference reader (openpyxl; XML parsed through defusedxml when it is installed).

    The file's structure is judged first by the same rules as the fast reader's (its general
    parsers): which part is the workbook and each sheet, cell references, element placement.
    openpyxl then reads every value, formula, protection flag, number format and merged range
    its own way, and that is what the differential tests compare. Where openpyxl would take
    another part than the relationships name (it finds shared strings by content type and
    styles at a fixed name), the file is refused here rather than read differently.
    """
    import openpyxl

    from .fastread import check_structure
    from .package import SHARED_STRINGS_TYPE, Package

    workbook, strings_part, styles_part = check_structure(sniffed)
    with Package(sniffed) as pkg:
        typed = sorted(n for n, t in pkg.overrides.items() if t == SHARED_STRINGS_TYPE)
        names_xml = pkg.read(workbook)
    if typed != ([strings_part.lower()] if strings_part else []) or (styles_part or "xl/styles.xml") != "xl/styles.xml":
        raise Unreadable("file-corrupt", "文件的共享字符串或样式部件不在常规位置（参考读取程序无法按关系读取）。请在表格软件中重新保存后提交。")
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
    twice = _names_given_twice(names_xml)
    for name, dn in wb_f.defined_names.items():
        sub.defined_names[name] = None if name.casefold() in twice else _destination(dn)
    for ws_f in wb_f.worksheets:
        ws_v = wb_v[ws_f.title]
        cells = _cells(ws_f, ws_v)
        hidden = _hidden(path, ws_f, cells)
        if ws_f.title == META_SHEET:
            sub.meta = _meta(ws_f)
            continue
        sub.cells[ws_f.title] = cells
        if hidden:
            sub.concealed[ws_f.title] = hidden
    return sub


def _names_given_twice(workbook_xml: bytes) -> set[str]:
    """Workbook-level defined names that appear more than once (compared without case, as Excel does)."""
    from defusedxml import ElementTree

    from .package import MAIN_NS

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
    from .display import FORMAT, MERGED, conceals, merged_cover

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
        wb = openpyxl.load_workbook(path, read_only=True, keep_links=False)
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
