"""The fast reader: the workbook's XML parsed directly with expat, safely.

It produces exactly the :class:`~xltemplate.submission.Submission` the
openpyxl reference reader produces (a differential test runs both over every
corpus), in about a millisecond instead of tens: one pass over each part it
needs, no object model, and a sheet is left as soon as its rows go past
:data:`~xltemplate.submission.MAX_ROWS`. Entity declarations and external
entities are refused before anything is expanded (the rules of defusedxml).
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from typing import Any, Callable
from xml.parsers import expat

from .fsutil import sha256_file
from .layout import META_SHEET
from .sniff import Sniffed, Unreadable
from .submission import MAX_COLS, MAX_ROWS, CellData, Submission

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_SEP = "}"  # expat namespace separator: "{uri}local" after we prefix "{"
_CELL_RE = re.compile(r"^\$?([A-Z]{1,3})\$?(\d{1,7})$")
_MAX_PART = 64 * 1024 * 1024  # bytes read from one part; the sniffer already bounds declared sizes


class _Stop(Exception):
    """Raised inside a handler to stop parsing early (rows beyond the bound)."""


class _UnsafeXML(Exception):
    pass


def _parser() -> Any:
    p = expat.ParserCreate(namespace_separator=_SEP)
    p.buffer_text = True

    def refuse(*_: Any) -> None:
        raise _UnsafeXML("entity declaration or external reference")

    # As defusedxml does: a DOCTYPE alone is harmless, entity declarations and external references are not.
    p.EntityDeclHandler = refuse
    p.UnparsedEntityDeclHandler = refuse
    p.ExternalEntityRefHandler = refuse
    p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    return p


def _parse(data: bytes, start: Callable[..., None] | None, end: Callable[..., None] | None,
           text: Callable[[str], None] | None, part: str, final: bool = True) -> None:
    """Run expat over ``data``; ``final=False`` parses a well-formed prefix and stops there."""
    p = _parser()
    if start is not None:
        p.StartElementHandler = start
    if end is not None:
        p.EndElementHandler = end
    if text is not None:
        p.CharacterDataHandler = text
    try:
        p.Parse(data, final)
    except _Stop:
        return
    except _UnsafeXML as exc:
        raise Unreadable("file-unsafe-xml", f"文件部件 {part} 含有实体或文档类型声明（可能是恶意构造的文件），已拒绝读取。请提交下发的原始模板。") from exc
    except expat.ExpatError as exc:
        raise Unreadable("file-corrupt", f"文件部件 {part} 的内容已损坏（{exc}）。请重新保存后提交。") from exc


_LOCAL: dict[str, str] = {}


def _local(tag: str) -> str:
    """The local name of a namespaced tag (memoised: the same few tags come back thousands of times)."""
    local = _LOCAL.get(tag)
    if local is None:
        local = _LOCAL[tag] = tag.rsplit(_SEP, 1)[-1]
    return local


class _Zip:
    def __init__(self, zf: zipfile.ZipFile) -> None:
        self.zf = zf
        self.names = {n.lower(): n for n in zf.namelist()}

    def read(self, name: str, required: bool = False) -> bytes | None:
        real = self.names.get(name.lower().lstrip("/"))
        if real is None:
            if required:
                raise Unreadable("file-corrupt", f"工作簿缺少必需的部件 {name}。请重新保存后提交。")
            return None
        try:
            with self.zf.open(real) as fh:
                data = fh.read(_MAX_PART + 1)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            raise Unreadable("file-corrupt", f"文件部件 {name} 无法解压（{exc}）。请重新保存后提交。") from exc
        if len(data) > _MAX_PART:
            raise Unreadable("file-too-large", f"文件部件 {name} 超过 {_MAX_PART // (1024 * 1024)} MB，超过上限。")
        return data


def read_fast(sniffed: Sniffed) -> Submission:
    """Read a sniffed workbook into a Submission (the same one the openpyxl reader gives)."""
    path = sniffed.path
    sub = Submission(path=str(path), sha256=sha256_file(path), size=sniffed.size, has_macros=sniffed.has_macros)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise Unreadable("file-corrupt", f"文件已损坏或不完整（{exc}）。请重新保存后提交。") from exc
    with zf:
        z = _Zip(zf)
        wb = _workbook(z.read("xl/workbook.xml", required=True) or b"")
        rels = _rels(z.read("xl/_rels/workbook.xml.rels", required=True) or b"", "xl/")
        strings = _shared_strings(z.read(rels.get("__sharedStrings__", "xl/sharedStrings.xml")))
        dates, timedeltas = _date_styles(z.read(rels.get("__styles__", "xl/styles.xml")))
        sub.saved_at, _ = _core(z.read("docProps/core.xml"))
        sub.application = _app(z.read("docProps/app.xml"))
        sub.properties = _custom(z.read("docProps/custom.xml"))
        sub.defined_names = wb["names"]
        epoch = dt.datetime(1904, 1, 1) if wb["date1904"] else dt.datetime(1899, 12, 30)
        for name, rid, state in wb["sheets"]:
            target = rels.get(rid)
            sub.sheets[name] = state
            if target is None or "worksheets/" not in target:
                continue  # a chartsheet or a dangling relationship: no cells to read
            data = z.read(target, required=True) or b""
            sheet = _Sheet(strings, dates, timedeltas, epoch)
            head, protected = _sheet_head(data)
            _parse(head, sheet.start, sheet.end, sheet.text, target, final=head is data)
            sub.protected[name] = sheet.protected or protected
            if name == META_SHEET:
                sub.meta = _meta(sheet.cells)
            else:
                sub.cells[name] = sheet.cells
    return sub


_SHEETDATA_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?sheetData\s*>")
_PROTECTION = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?sheetProtection\b([^>]*)>")
_SHEET_ON = re.compile(rb"""\ssheet\s*=\s*["'](?:1|true)["']""")


def _sheet_head(data: bytes) -> tuple[bytes, bool]:
    """The sheet XML up to ``</sheetData>``, and whether a sheetProtection element follows it.

    Everything after the cells (merges, conditional formats, data validations with their
    prompts) is most of the bytes and none of what a reader needs; the prefix is still
    parsed by expat with entity declarations refused, so nothing unsafe gets through.
    """
    m = _SHEETDATA_END.search(data)
    if m is None:
        return data, False
    tail = data[m.end():]
    prot = _PROTECTION.search(tail)
    return data[:m.end()], bool(prot and _SHEET_ON.search(prot.group(1)))


# -- workbook, relationships, document properties ------------------------------------------

def _workbook(data: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {"sheets": [], "names": {}, "date1904": False}
    state: dict[str, Any] = {"name": None, "buf": []}

    def start(tag: str, attrs: dict[str, str]) -> None:
        local = _local(tag)
        if local == "sheet":
            rid = attrs.get(f"{_REL}{_SEP}id") or attrs.get("r:id") or ""
            out["sheets"].append((attrs.get("name", ""), rid, attrs.get("state", "visible")))
        elif local == "definedName":
            state["name"] = None if "localSheetId" in attrs else attrs.get("name")
            state["buf"] = []
        elif local == "workbookPr":
            out["date1904"] = attrs.get("date1904", "0").lower() in ("1", "true")

    def end(tag: str) -> None:
        if _local(tag) == "definedName" and state["name"]:
            out["names"][state["name"]] = _destination("".join(state["buf"]))
            state["name"] = None

    def text(t: str) -> None:
        if state["name"]:
            state["buf"].append(t)

    _parse(data, start, end, text, "xl/workbook.xml")
    return out


def _destination(text: str) -> tuple[str, str] | None:
    """``'Sheet'!$B$3`` → (Sheet, B3); anything that is not one cell on one sheet → None."""
    text = text.strip()
    if "!" not in text:
        return None
    sheet, _, ref = text.rpartition("!")
    if sheet.startswith("'") and sheet.endswith("'") and len(sheet) >= 2:
        sheet = sheet[1:-1].replace("''", "'")
    m = _CELL_RE.match(ref)
    if m is None or not sheet:
        return None
    return sheet, f"{m.group(1)}{m.group(2)}"


def _rels(data: bytes, base: str) -> dict[str, str]:
    out: dict[str, str] = {}

    def start(tag: str, attrs: dict[str, str]) -> None:
        if _local(tag) != "Relationship":
            return
        target = attrs.get("Target", "")
        if attrs.get("TargetMode") == "External":
            return
        target = target.lstrip("/") if target.startswith("/") else base + target
        out[attrs.get("Id", "")] = target
        kind = attrs.get("Type", "").rsplit("/", 1)[-1]
        if kind in ("sharedStrings", "styles"):
            out[f"__{kind}__"] = target

    _parse(data, start, None, None, "xl/_rels/workbook.xml.rels")
    return out


def _shared_strings(data: bytes | None) -> list[str]:
    if not data:
        return []
    strings: list[str] = []
    stack: list[str] = []
    buf: list[str] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        local = _local(tag)
        if local == "si":
            buf.clear()
        stack.append(local)

    def end(tag: str) -> None:
        stack.pop()
        if _local(tag) == "si":
            strings.append("".join(buf).replace("x005F_", ""))

    def text(t: str) -> None:
        # the text of <si><t> and <si><r><t>, never of phonetic runs <rPh><t>
        if len(stack) >= 2 and stack[-1] == "t" and (stack[-2] == "si" or (stack[-2] == "r" and len(stack) >= 3 and stack[-3] == "si")):
            buf.append(t)

    _parse(data, start, end, text, "xl/sharedStrings.xml")
    return strings


def _date_styles(data: bytes | None) -> tuple[set[int], set[int]]:
    """Indices of cell styles whose number format is a date (or a duration), as openpyxl decides."""
    from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format, is_timedelta_format

    if not data:
        return set(), set()
    custom: dict[int, str] = {}
    xf_formats: list[int] = []
    where = {"xfs": False}

    def start(tag: str, attrs: dict[str, str]) -> None:
        local = _local(tag)
        if local == "numFmt":
            try:
                custom[int(attrs.get("numFmtId", "-1"))] = attrs.get("formatCode", "")
            except ValueError:
                pass
        elif local == "cellXfs":
            where["xfs"] = True
        elif local == "xf" and where["xfs"]:
            try:
                xf_formats.append(int(attrs.get("numFmtId", "0")))
            except ValueError:
                xf_formats.append(0)

    def end(tag: str) -> None:
        if _local(tag) == "cellXfs":
            where["xfs"] = False

    _parse(data, start, end, None, "xl/styles.xml")
    dates, deltas = set(), set()
    for idx, fmt_id in enumerate(xf_formats):
        fmt = custom[fmt_id] if fmt_id in custom else BUILTIN_FORMATS.get(fmt_id, "General")
        if is_date_format(fmt):
            dates.add(idx)
        if is_timedelta_format(fmt):
            deltas.add(idx)
    return dates, deltas


def _texts(data: bytes | None, part: str) -> dict[str, str]:
    """Leaf element texts by local name (first occurrence wins), for the small docProps parts."""
    out: dict[str, str] = {}
    if not data:
        return out
    stack: list[str] = []
    buf: list[str] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        stack.append(_local(tag))
        buf.clear()

    def end(tag: str) -> None:
        local = stack.pop()
        out.setdefault(local, "".join(buf))
        buf.clear()

    def text(t: str) -> None:
        buf.append(t)

    _parse(data, start, end, text, part)
    return out


def _core(data: bytes | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    t = _texts(data, "docProps/core.xml")
    return _w3cdtf(t.get("modified")), _w3cdtf(t.get("created"))


def _w3cdtf(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    from openpyxl.utils.datetime import from_ISO8601

    try:
        value = from_ISO8601(text.strip())
    except (ValueError, TypeError):
        return None
    if not isinstance(value, dt.datetime):
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value.replace(microsecond=0)


def _app(data: bytes | None) -> str | None:
    if not data:
        return None
    found: list[str] = []
    inside = [False]

    def start(tag: str, attrs: dict[str, str]) -> None:
        inside[0] = _local(tag) == "Application"

    def end(tag: str) -> None:
        if inside[0]:
            raise _Stop  # the rest of app.xml lists every defined name: not needed
        inside[0] = False

    def text(t: str) -> None:
        if inside[0]:
            found.append(t)

    _parse(data, start, end, text, "docProps/app.xml")
    value = "".join(found).strip()
    return value[:100] if value else None


def _custom(data: bytes | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if not data:
        return out
    cur: dict[str, Any] = {"name": None, "type": None, "buf": []}

    def start(tag: str, attrs: dict[str, str]) -> None:
        local = _local(tag)
        if local == "property":
            cur["name"], cur["type"], cur["buf"] = attrs.get("name"), None, []
        elif cur["name"] is not None and cur["type"] is None:
            cur["type"] = local

    def end(tag: str) -> None:
        if _local(tag) == "property" and cur["name"] is not None:
            out[cur["name"]] = _prop_text(cur["type"], "".join(cur["buf"]))
            cur["name"] = None

    def text(t: str) -> None:
        if cur["name"] is not None:
            cur["buf"].append(t)

    _parse(data, start, end, text, "docProps/custom.xml")
    return out


def _prop_text(kind: str | None, text: str) -> str:
    """A custom property's value as text, the way the reference reader renders it."""
    try:
        if kind in ("i1", "i2", "i4", "i8", "int", "uint", "ui1", "ui2", "ui4", "ui8"):
            return str(int(text))
        if kind in ("r4", "r8", "decimal"):
            v = float(text)
            return str(int(v)) if v.is_integer() else str(v)
        if kind == "bool":
            return str(text.strip().lower() in ("1", "true"))
        if kind == "filetime":
            value = _w3cdtf(text)
            return value.isoformat() if value else text
    except ValueError:
        return text
    return text


# -- a worksheet --------------------------------------------------------------------------

class _Sheet:
    """SAX handlers for one worksheet: cells within the bounds, and its protection."""

    def __init__(self, strings: list[str], dates: set[int], timedeltas: set[int], epoch: dt.datetime) -> None:
        self.strings, self.dates, self.timedeltas, self.epoch = strings, dates, timedeltas, epoch
        self.cells: dict[str, CellData] = {}
        self.protected = False
        self.row = 0
        self.col = 0
        self.shared: dict[str, Any] = {}
        self._cell: dict[str, Any] | None = None
        self._in: str | None = None  # "v", "f" or "t" (inline string text)
        self._buf: list[str] = []

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        local = _local(tag)
        if local == "c":
            ref = attrs.get("r")
            if ref:
                m = _CELL_RE.match(ref)
                if m:
                    self.col = _col_index(m.group(1))
                    self.row = int(m.group(2))
            else:
                self.col += 1
            if self.row > MAX_ROWS:
                raise _Stop
            self._cell = {"t": attrs.get("t", "n"), "s": attrs.get("s"), "v": None, "f": None, "ftype": None,
                          "fref": None, "si": None, "is": None, "row": self.row, "col": self.col}
        elif local == "row":
            r = attrs.get("r")
            self.row = int(r) if r and r.isdigit() else self.row + 1
            self.col = 0
            if self.row > MAX_ROWS:
                raise _Stop
        elif self._cell is not None and local in ("v", "f", "t"):
            self._in = local
            self._buf = []
            if local == "f":
                self._cell["ftype"] = attrs.get("t")
                self._cell["fref"] = attrs.get("ref")
                self._cell["si"] = attrs.get("si")
                self._cell["f"] = ""
        elif local == "sheetProtection":
            self.protected = attrs.get("sheet", "0").lower() in ("1", "true")

    def text(self, t: str) -> None:
        if self._in is not None:
            self._buf.append(t)

    def end(self, tag: str) -> None:
        local = _local(tag)
        if self._cell is not None and local == self._in:
            text = "".join(self._buf)
            if local == "t":
                self._cell["is"] = (self._cell["is"] or "") + text
            else:
                self._cell[local] = text
            self._in = None
        elif local == "c" and self._cell is not None:
            self._finish(self._cell)
            self._cell = None

    def _finish(self, c: dict[str, Any]) -> None:
        if c["col"] > MAX_COLS or c["col"] < 1:
            return
        coord = f"{_col_letters(c['col'])}{c['row']}"
        t = c["t"]
        formula = None
        if c["f"] is not None:
            formula = self._formula(c, coord)
        raw = c["v"] or None
        error = False
        value: Any = None
        if t == "inlineStr":
            value = c["is"]
        elif raw is not None:
            if t == "n":
                value = float(raw) if ("." in raw or "E" in raw or "e" in raw) else int(raw)
                style = int(c["s"]) if c["s"] and c["s"].isdigit() else 0
                if style in self.dates:
                    value, error = _from_excel(value, self.epoch, style in self.timedeltas)
            elif t == "s":
                try:
                    value = self.strings[int(raw)]
                except (ValueError, IndexError) as exc:
                    raise Unreadable("file-corrupt", f"单元格 {coord} 引用了不存在的共享字符串。请重新保存后提交。") from exc
            elif t == "b":
                value = bool(int(raw)) if raw.lstrip("-").isdigit() else raw
            elif t == "e":
                value, error = raw, True
            elif t == "d":
                from openpyxl.utils.datetime import from_ISO8601

                value = from_ISO8601(raw)
            else:  # "str": a formula's text result
                value = raw
        if formula is None and (value is None or value == ""):
            return
        if value == "":
            value = None
        self.cells[coord] = CellData(value=value, formula=formula, error=error)

    def _formula(self, c: dict[str, Any], coord: str) -> str:
        text = "=" + (c["f"] or "")
        if c["ftype"] == "shared":
            si = c["si"]
            if si in self.shared:
                return self.shared[si].translate_formula(coord)
            if text != "=":
                from openpyxl.formula.translate import Translator

                self.shared[si] = Translator(text, coord)
        elif c["ftype"] == "dataTable":
            return "="
        return text


def _from_excel(value: float | int, epoch: dt.datetime, timedelta: bool) -> tuple[Any, bool]:
    from openpyxl.utils.datetime import from_excel

    try:
        return from_excel(value, epoch, timedelta=timedelta), False
    except (OverflowError, ValueError):
        return "#VALUE!", True


def _col_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ord(ch) - 64)
    return n


def _col_letters(n: int) -> str:
    out = ""
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


def _meta(cells: dict[str, CellData]) -> dict[str, str]:
    meta: dict[str, str] = {}
    for row in range(1, 101):
        key = cells.get(f"A{row}")
        if key is None or not isinstance(key.value, str) or not key.value:
            continue
        value = cells.get(f"B{row}")
        meta[key.value] = _text(value.value if value else None)
    return meta


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)
