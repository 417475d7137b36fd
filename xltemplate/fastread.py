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
import zlib
from typing import Any, Callable
from xml.parsers import expat

from .fsutil import sha256_file
from .layout import META_SHEET
from .sniff import Sniffed, Unreadable
from .submission import MAX_COLS, MAX_ROWS, CellData, Submission, meta_text

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_SEP = "}"  # expat namespace separator: "{uri}local" after we prefix "{"
_CELL_RE = re.compile(r"^\$?([A-Z]{1,3})\$?(\d{1,7})$")
_MAX_PART = 64 * 1024 * 1024  # bytes read from one part; the sniffer already bounds declared sizes


class _Stop(Exception):
    """Raised inside a handler to stop parsing early (app.xml once its Application is read)."""


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
    except (expat.ExpatError, LookupError, ValueError, UnicodeError) as exc:  # ValueError: an encoding expat cannot take
        raise Unreadable("file-corrupt", f"文件部件 {part} 的内容已损坏（{str(exc)[:120]}）。请重新保存后提交。") from exc


_LOCAL: dict[str, str] = {}


def _local(tag: str) -> str:
    """The local name of a namespaced tag (memoised: the same few tags come back thousands of times)."""
    local = _LOCAL.get(tag)
    if local is None:
        local = _LOCAL[tag] = tag.rsplit(_SEP, 1)[-1]
    return local


_DECL = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["'][^>]*\?>""")


def _as_utf8(data: bytes, part: str) -> bytes:
    """The part as UTF-8, whatever encoding it declares: the scanners below work on UTF-8 bytes.

    Nearly every part already is UTF-8 and is returned untouched; a UTF-16 or Latin-1 part is
    re-encoded (its declaration rewritten), as an XML parser would have decoded it.
    """
    if data[:3] == b"\xef\xbb\xbf":
        data = data[3:]
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        encoding = "utf-16"
    else:
        m = _DECL.match(data[:200])
        if m is None:
            return data
        encoding = m.group(1).decode("ascii").lower()
        if encoding in ("utf-8", "utf8"):
            return data
    try:
        text = data.decode(encoding)
    except (LookupError, UnicodeError) as exc:
        raise Unreadable("file-corrupt", f"文件部件 {part} 的字符编码无法识别（{str(exc)[:80]}）。请重新保存后提交。") from exc
    text = re.sub(r"""^\s*<\?xml[^>]*\?>""", '<?xml version="1.0" encoding="UTF-8"?>', text, count=1)
    return text.encode("utf-8")


_NOISE = re.compile(rb"<!--.*?-->|<\?.*?\?>|<!\[CDATA\[(.*?)\]\]>", re.S)


def _quiet(data: bytes) -> bytes:
    """Comments and processing instructions removed, CDATA turned into escaped text.

    Run only when a part holds any of them (rare), so that the split and regular-expression
    scans, which assume element markup only, never read markup inside a comment or CDATA.
    """
    def repl(m: re.Match[bytes]) -> bytes:
        if m.group(1) is not None:
            return m.group(1).replace(b"&", b"&amp;").replace(b"<", b"&lt;").replace(b">", b"&gt;")
        return b""

    return _NOISE.sub(repl, data)


def _needs_quiet(data: bytes) -> bool:
    return b"<!--" in data or b"<![CDATA[" in data or data.find(b"<?", 5) >= 0


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
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, zlib.error, RuntimeError) as exc:
            raise Unreadable("file-corrupt", f"文件部件 {name} 无法解压（{exc}）。请重新保存后提交。") from exc
        if len(data) > _MAX_PART:
            raise Unreadable("file-too-large", f"文件部件 {name} 超过 {_MAX_PART // (1024 * 1024)} MB，超过上限。")
        return _as_utf8(data, name)


def read_fast(sniffed: Sniffed) -> Submission:
    """Read a sniffed workbook into a Submission (the same one the openpyxl reader gives)."""
    path = sniffed.path
    sub = Submission(path=str(path), sha256=sha256_file(path), size=sniffed.size, has_macros=sniffed.has_macros)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError) as exc:
        raise Unreadable("file-corrupt", f"文件已损坏或不完整（{exc}）。请重新保存后提交。") from exc
    with zf:
        z = _Zip(zf)
        wb = _memo(_workbook, z.read("xl/workbook.xml", required=True) or b"")
        rels = _memo(_rels, z.read("xl/_rels/workbook.xml.rels", required=True) or b"")
        strings = _shared_strings(z.read(rels.get("__sharedStrings__", "xl/sharedStrings.xml")))
        dates, timedeltas = _memo(_date_styles, z.read(rels.get("__styles__", "xl/styles.xml")))
        sub.saved_at, _ = _core(z.read("docProps/core.xml"))
        try:
            sub.application = _app(z.read("docProps/app.xml"))
        except Unreadable:  # only says which program saved the file; openpyxl never reads it
            sub.application = None
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
            sheet.parse(data, target)
            sub.protected[name] = sheet.protected
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


_MEMO: dict[tuple[str, bytes], Any] = {}
_MEMO_MAX = 64


def _memo(fn: Callable[[Any], Any], data: bytes | None) -> Any:
    """``fn(data)``, remembered by content: returns of one template share their workbook.xml,
    rels and styles byte for byte, so those are parsed once per batch, not once per file."""
    if data is None:
        return fn(data)
    key = (fn.__name__, data)
    if key in _MEMO:
        return _MEMO[key]
    value = fn(data)
    if len(_MEMO) >= _MEMO_MAX:
        _MEMO.pop(next(iter(_MEMO)))
    _MEMO[key] = value
    return value


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


def _rels(data: bytes, base: str = "xl/") -> dict[str, str]:
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


def _check_wellformed(data: bytes, part: str, final: bool = True) -> None:
    """Let expat (in C, no Python callbacks) prove the XML well-formed and free of entity declarations."""
    _parse(data, None, None, None, part, final=final)


_SI = re.compile(rb"<(?:[\w.-]+:)?si\b[^>]*?(?:/>|>(.*?)</(?:[\w.-]+:)?si>)", re.S)
_RPH = re.compile(rb"<(?:[\w.-]+:)?rPh\b.*?</(?:[\w.-]+:)?rPh>", re.S)
_T = re.compile(rb"<(?:[\w.-]+:)?t\b[^>]*?(?:/>|>(.*?)</(?:[\w.-]+:)?t>)", re.S)
_SIMPLE_SI = re.compile(rb"<t(?:\s[^>]*)?>([^<]*)</t>|<t\s*/>", re.S)


def _xmlmeta_text(raw: bytes) -> str:
    """Element text as an XML parser gives it: entities and character references resolved, CDATA opened."""
    text = raw.decode("utf-8")
    if "<![CDATA[" in text:
        parts = re.split(r"<!\[CDATA\[(.*?)\]\]>", text, flags=re.S)
        return "".join(_unescape(p) if n % 2 == 0 else p for n, p in enumerate(parts))
    return _unescape(text)


def _unescape(text: str) -> str:
    """XML's five entities and character references (the document was proved well-formed, so
    nothing else can be there); line ends normalised as an XML parser does."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "&" not in text:
        return text
    if "&#" in text:
        import html

        return html.unescape(text)
    return (text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
            .replace("&apos;", "'").replace("&amp;", "&"))


def _shared_strings(data: bytes | None) -> list[str]:
    if not data:
        return []
    _check_wellformed(data, "xl/sharedStrings.xml")
    if _needs_quiet(data):
        data = _quiet(data)
    strings = []
    for m in _SI.finditer(data):
        body = m.group(1) or b""
        sm = _SIMPLE_SI.fullmatch(body)
        if sm is not None:  # the common case: one plain <t>
            text = sm.group(1) or b""
            value = text.decode("utf-8") if b"&" not in text and b"\r" not in text and b"<" not in text else _xmlmeta_text(text)
        else:
            if b"rPh" in body:
                body = _RPH.sub(b"", body)
            value = "".join(_xmlmeta_text(t.group(1) or b"") for t in _T.finditer(body))
        strings.append(value.replace("x005F_", "") if "x005F_" in value else value)
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
            out[cur["name"]] = _propmeta_text(cur["type"], "".join(cur["buf"]))
            cur["name"] = None

    def text(t: str) -> None:
        if cur["name"] is not None:
            cur["buf"].append(t)

    _parse(data, start, end, text, "docProps/custom.xml")
    return out


def _propmeta_text(kind: str | None, text: str) -> str:
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

_ROW_OR_CELL = re.compile(
    rb"<(?:[\w.-]+:)?row\b([^>]*?)/?>"
    rb"|<(?:[\w.-]+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:[\w.-]+:)?c>)", re.S)
_R_ROW = re.compile(rb"""(?:^|\s)r\s*=\s*["'](\d+)["']""")
_R_CELL = re.compile(rb"""(?:^|\s)r\s*=\s*["']\$?([A-Z]{1,3})\$?(\d+)["']""")
_REF = re.compile(rb"\$?([A-Z]{1,3})\$?(\d{1,7})$")
#: The split-based fast path for ordinary sheets; the tests also run with it off.
USE_SPLIT = True
_T_ATTR = re.compile(rb"""(?:^|\s)t\s*=\s*["'](\w+)["']""")
_S_ATTR = re.compile(rb"""(?:^|\s)s\s*=\s*["'](\d+)["']""")
_BODY = re.compile(
    rb"\s*(?:<(?:[\w.-]+:)?f\b([^>]*?)(?:/>|>(.*?)</(?:[\w.-]+:)?f>))?"
    rb"\s*(?:<(?:[\w.-]+:)?v\b[^>]*?(?:/>|>(.*?)</(?:[\w.-]+:)?v>))?", re.S)
_ATTR = re.compile(rb"""([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_F = re.compile(rb"<(?:[\w.-]+:)?f\b([^>]*?)(?:/>|>(.*?)</(?:[\w.-]+:)?f>)", re.S)
_V = re.compile(rb"<(?:[\w.-]+:)?v\b[^>]*?(?:/>|>(.*?)</(?:[\w.-]+:)?v>)", re.S)
_IS = re.compile(rb"<(?:[\w.-]+:)?is\b[^>]*?(?:/>|>(.*?)</(?:[\w.-]+:)?is>)", re.S)


def _attrs(raw: bytes) -> dict[bytes, bytes]:
    return {m.group(1).split(b":")[-1]: (m.group(2) if m.group(2) is not None else m.group(3)) for m in _ATTR.finditer(raw)}


class _Sheet:
    """One worksheet's cells within the bounds, and its protection.

    Expat first proves the XML well-formed (and free of entity declarations), in C;
    the cells are then picked out with a few regular expressions, which on a
    well-formed document find exactly what a parser would, at a fraction of the cost.
    """

    def __init__(self, strings: list[str], dates: set[int], timedeltas: set[int], epoch: dt.datetime) -> None:
        self.strings, self.dates, self.timedeltas, self.epoch = strings, dates, timedeltas, epoch
        self.cells: dict[str, CellData] = {}
        self.protected = False
        self.shared: dict[str, Any] = {}

    def parse(self, data: bytes, part: str) -> None:
        head, self.protected = _sheet_head(data)
        _check_wellformed(head, part, final=head is data)
        if _needs_quiet(head):
            head = _quiet(head)
        if USE_SPLIT and self._parse_split(head):
            return
        self.cells.clear()
        self._parse_regex(head)

    def _parse_split(self, head: bytes) -> bool:
        """The common shape (no namespace prefix, every cell with its r): split on ``<c ``.

        Returns False, having read nothing that counts, when the sheet is not of that shape.
        """
        start = head.find(b"<sheetData")
        if start < 0 or b"<c>" in head:
            return False  # a prefixed sheet, or a bare <c> without position: the general scan
        chunks = head[start:].split(b"<c ")
        cells = self.cells
        for chunk in chunks[1:]:
            end = chunk.find(b">")
            if end < 0:
                return False
            cattrs = chunk[:end]
            if cattrs.startswith(b'r="'):
                q = cattrs.find(b'"', 3)
                ref = cattrs[3:q]
            else:
                rm = _R_CELL.search(cattrs)
                if rm is None:
                    return False
                ref = rm.group(1) + rm.group(2)
            if cattrs.endswith(b"/"):
                continue  # a styled blank
            close = chunk.find(b"</c>", end)
            if close < 0:
                return False
            body = chunk[end + 1:close]
            if not body:
                continue
            cm = _REF.match(ref)
            if cm is None:
                return False
            row = int(cm.group(2))
            if row > MAX_ROWS:
                return True
            col = _col_index(cm.group(1).decode("ascii"))
            if col > MAX_COLS:
                continue
            coord = ref.decode("ascii").replace("$", "")
            data_cell = self._cell(coord, cattrs, body)
            if data_cell is not None:
                cells[coord] = data_cell
        return True

    def _parse_regex(self, head: bytes) -> None:
        """Any well-formed sheet: namespace prefixes, cells without r."""
        row = col = 0
        cells = self.cells
        for m in _ROW_OR_CELL.finditer(head):
            cattrs = m.group(2)
            if cattrs is None:  # <row …>
                rm = _R_ROW.search(m.group(1))
                row = int(rm.group(1)) if rm else row + 1
                col = 0
                if row > MAX_ROWS:
                    return
                continue
            rm = _R_CELL.search(cattrs)
            if rm:
                col, row = _col_index(rm.group(1).decode("ascii")), int(rm.group(2))
            else:
                col += 1
            if row > MAX_ROWS:
                return
            body = m.group(3)
            if not body or col > MAX_COLS or col < 1:
                continue  # a styled blank: nothing to read
            coord = f"{_col_letters(col)}{row}"
            data_cell = self._cell(coord, cattrs, body)
            if data_cell is not None:
                cells[coord] = data_cell

    def _cell(self, coord: str, cattrs: bytes, body: bytes) -> CellData | None:
        if body[:3] == b"<v>" and body[-4:] == b"</v>" and b"<" not in body[3:-4]:
            # the usual shapes, without a regular expression: a shared string or a plain number
            if cattrs.endswith(b' t="s"'):
                try:
                    return CellData(self.strings[int(body[3:-4])])
                except (ValueError, IndexError) as exc:
                    raise Unreadable("file-corrupt", f"单元格 {coord} 引用了不存在的共享字符串。请重新保存后提交。") from exc
            if b"t=" not in cattrs and not self.dates:
                raw = body[3:-4].decode("ascii", "replace")
                try:
                    value = float(raw) if ("." in raw or "E" in raw or "e" in raw) else int(raw)
                except ValueError as exc:
                    raise Unreadable("file-corrupt", f"单元格 {coord} 的数值已损坏（{raw[:20]}）。请重新保存后提交。") from exc
                return CellData(value)
        tm = _T_ATTR.search(cattrs)
        t = tm.group(1) if tm else b"n"
        bm = _BODY.match(body)
        formula = None
        if bm.group(1) is not None:
            formula = self._formula(bm.group(1), _xmlmeta_text(bm.group(2) or b""), coord)
        v = bm.group(3)
        raw = (v.decode("utf-8") if b"&" not in v and b"<" not in v and b"\r" not in v else _xmlmeta_text(v)) if v else None
        error = False
        value: Any = None
        if t == b"inlineStr":
            im = _IS.search(body)
            if im is not None:
                inner = im.group(1) or b""
                if b"rPh" in inner:
                    inner = _RPH.sub(b"", inner)
                value = "".join(_xmlmeta_text(x.group(1) or b"") for x in _T.finditer(inner))
        elif raw is not None:
            if t == b"s":
                try:
                    value = self.strings[int(raw)]
                except (ValueError, IndexError) as exc:
                    raise Unreadable("file-corrupt", f"单元格 {coord} 引用了不存在的共享字符串。请重新保存后提交。") from exc
            elif t == b"n":
                try:
                    value = float(raw) if ("." in raw or "E" in raw or "e" in raw) else int(raw)
                except ValueError as exc:
                    raise Unreadable("file-corrupt", f"单元格 {coord} 的数值已损坏（{raw[:20]}）。请重新保存后提交。") from exc
                if self.dates:
                    sm = _S_ATTR.search(cattrs)
                    style = int(sm.group(1)) if sm else 0
                    if style in self.dates:
                        value, error = _from_excel(value, self.epoch, style in self.timedeltas)
            elif t == b"b":
                value = bool(int(raw)) if raw.strip().lstrip("-").isdigit() else raw
            elif t == b"e":
                value, error = raw, True
            elif t == b"d":
                from openpyxl.utils.datetime import from_ISO8601

                try:
                    value = from_ISO8601(raw)
                except ValueError as exc:
                    raise Unreadable("file-corrupt", f"单元格 {coord} 的日期已损坏。请重新保存后提交。") from exc
            else:  # "str": a formula's text result
                value = raw
        if formula is None and (value is None or value == ""):
            return None
        if value == "":
            value = None
        return CellData(value, formula, error)

    def _formula(self, fattrs: bytes, text: str, coord: str) -> str:
        formula = "=" + text
        if not fattrs.strip():
            return formula
        attrs = _attrs(fattrs)
        kind = attrs.get(b"t")
        if kind == b"shared":
            si = (attrs.get(b"si") or b"").decode("ascii", "replace")
            try:
                if si in self.shared:
                    return self.shared[si].translate_formula(coord)
                if formula != "=":
                    from openpyxl.formula.translate import Translator

                    self.shared[si] = Translator(formula, coord)
            except Exception as exc:  # openpyxl's tokenizer raises several kinds on a mangled formula
                raise Unreadable("file-corrupt", f"单元格 {coord} 的共享公式已损坏（{type(exc).__name__}）。请重新保存后提交。") from exc
        elif kind == b"dataTable":
            return "="
        return formula


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
        meta[key.value] = meta_text(value.value if value else None)
    return meta
