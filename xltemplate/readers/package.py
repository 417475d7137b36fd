"""The OPC package of a returned workbook: which part is which, resolved the way Excel resolves it.

An .xlsx is a zip of parts tied together by relationships. Excel and LibreOffice
find the workbook through the package's root relationships (``_rels/.rels``) and
each sheet through the workbook's relationships; nothing is found by a fixed
name. Both readers resolve parts here, with safe XML parsing (expat, no DOCTYPE,
no entities), so they cannot disagree about which bytes are the form. Anything
two programs could resolve differently is refused as ``file-corrupt``: two
workbook parts, a relationship target that is not a plain part name
(backslashes, percent-encoding, a different case, climbing out of the package),
a relationship id used twice.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any, Callable, NoReturn
from xml.parsers import expat

from ..errors import Unreadable
from .sniff import Sniffed

SEP = "}"  # expat namespace separator: tags arrive as "uri}local"
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
STRICT_MAIN_NS = "http://purl.oclc.org/ooxml/spreadsheetml/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
TYPES_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
_REL_TYPE = REL_NS + "/"
_STRICT_REL_TYPE = "http://purl.oclc.org/ooxml/officeDocument/relationships/"

#: The content types of a workbook's main part (.xlsx, .xlsm, .xltx, .xltm), as openpyxl knows them too.
WORKBOOK_TYPES = frozenset({
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
    "application/vnd.ms-excel.template.macroEnabled.main+xml",
})
SHARED_STRINGS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
MAX_PART = 64 * 1024 * 1024  # bytes read from one part; the sniffer already bounds declared sizes

#: What a relationship target may not hold: a backslash, percent-encoding, a query, a fragment, a scheme, a control.
_ODD_TARGET = re.compile(r"[\\%?#:\x00-\x1f]")


def corrupt(part: str, detail: str) -> Unreadable:
    """``file-corrupt`` for one part: ``detail`` says what is wrong with it (a clause, in Chinese)."""
    return Unreadable("file-corrupt", "part", part=part, detail=detail)


def strict_format() -> Unreadable:
    return Unreadable("file-corrupt", "strict")


# -- safe XML -------------------------------------------------------------------------------

class UnsafeXML(Exception):
    """A DOCTYPE, an entity declaration or an external reference met by the parser."""


class Stop(Exception):
    """Raised inside a handler to stop parsing early."""


def parser() -> Any:
    """An expat parser that refuses DOCTYPEs, entity declarations and external references.

    A DOCTYPE alone is harmless to expat, but the sniffer refuses one anywhere in any part,
    and the parser must say the same when it meets one (a part in an encoding the sniffer's
    byte scan cannot see through).
    """
    p = expat.ParserCreate(namespace_separator=SEP)
    p.buffer_text = True

    def refuse(*_: Any) -> NoReturn:
        raise UnsafeXML("DOCTYPE, entity declaration or external reference")

    p.StartDoctypeDeclHandler = refuse
    p.EntityDeclHandler = refuse
    p.UnparsedEntityDeclHandler = refuse
    p.ExternalEntityRefHandler = refuse
    p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    return p


def unsafe(part: str) -> Unreadable:
    return Unreadable("file-unsafe-xml", part=part)


def feed(p: Any, data: bytes, part: str, final: bool = True) -> None:
    """``p.Parse(data, final)`` with every failure turned into :class:`Unreadable`."""
    try:
        p.Parse(data, final)
    except UnsafeXML as exc:
        raise unsafe(part) from exc
    except (expat.ExpatError, LookupError, ValueError, UnicodeError, RecursionError) as exc:
        raise Unreadable("file-corrupt", "part-damaged", part=part, reason=str(exc)[:120]) from exc


def parse_xml(data: bytes, part: str, start: Callable[..., None] | None = None, end: Callable[..., None] | None = None,
              text: Callable[[str], None] | None = None) -> None:
    """Run a safe expat parser over ``data`` with these handlers; :class:`Stop` ends it early."""
    p = parser()
    if start is not None:
        p.StartElementHandler = start
    if end is not None:
        p.EndElementHandler = end
    if text is not None:
        p.CharacterDataHandler = text
    try:
        feed(p, data, part)
    except Stop:
        return


_DECL = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["'][^>]*\?>""")


def as_utf8(data: bytes, part: str) -> bytes:
    """The part as UTF-8, whatever encoding it declares: the scanners work on UTF-8 bytes.

    Nearly every part already is UTF-8 and is returned untouched; a UTF-16 or Latin-1 part is
    re-encoded (its declaration rewritten), as an XML parser would have decoded it.
    """
    if data[:3] == b"\xef\xbb\xbf":
        data = data[3:]
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        encoding = "utf-16"
    else:
        m = _DECL.match(data, 0, 200)
        if m is None:
            return data
        encoding = m.group(1).decode("ascii").lower()
        if encoding in ("utf-8", "utf8"):
            return data
    try:
        text = data.decode(encoding)
    except (LookupError, UnicodeError) as exc:
        raise Unreadable("file-corrupt", "part-encoding", part=part, reason=str(exc)[:80]) from exc
    text = re.sub(r"""^\s*<\?xml[^>]*\?>""", '<?xml version="1.0" encoding="UTF-8"?>', text, count=1)
    return text.encode("utf-8")


# -- the package ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Rel:
    """One internal relationship: its kind (the last segment of its type) and the part it names."""

    id: str
    kind: str  # "worksheet", "chartsheet", "sharedStrings", "styles", "officeDocument" …
    target: str  # the resolved part name (may not exist: callers decide)


class Package:
    """The parts of one sniffed workbook, their content types and relationships."""

    def __init__(self, sniffed: Sniffed) -> None:
        self.sniffed = sniffed
        self.names = set(sniffed.names)
        self._folded = {n.lower(): n for n in sniffed.names}
        self._zip: zipfile.ZipFile | None = None
        self._rels: dict[str, dict[str, Rel]] = {}
        self.defaults, self.overrides = _memo(_content_types, self.read("[Content_Types].xml"))
        self.workbook = self._workbook_part()

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> "Package":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, name: str) -> bytes:
        """A part's bytes as UTF-8 (it must exist: the caller checked, or it is required)."""
        if name not in self.names:
            raise corrupt(name, "缺失（工作簿缺少必需的部件）")
        data = self.sniffed.parts.get(name)
        if data is None:  # a large part the sniffer scanned without keeping
            data = self._read_zip(name)
        return as_utf8(data, name)

    def _read_zip(self, name: str) -> bytes:
        try:
            if self._zip is None:  # the bytes the sniffer read and checked, not the path again
                self._zip = zipfile.ZipFile(io.BytesIO(self.sniffed.data) if self.sniffed.data else self.sniffed.path)
            with self._zip.open(name) as fh:
                data = fh.read(MAX_PART + 1)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, zlib.error, RuntimeError) as exc:
            raise Unreadable("file-corrupt", "part-inflate", part=name, reason=str(exc)) from exc
        if len(data) > MAX_PART:
            raise Unreadable("file-too-large", "part-read", part=name, limit=MAX_PART // (1024 * 1024))
        return data

    def content_type(self, name: str) -> str | None:
        override = self.overrides.get(name.lower())
        if override is not None:
            return override
        return self.defaults.get(posixpath.splitext(name)[1].lstrip(".").lower())

    def rels(self, source: str) -> dict[str, Rel]:
        """The internal relationships of ``source`` ("" for the package), by id, targets resolved."""
        if source in self._rels:
            return self._rels[source]
        folder, base = posixpath.split(source)
        rels_part = posixpath.join(folder, "_rels", base + ".rels")
        out: dict[str, Rel] = {}
        if rels_part in self.names:
            data = self.read(rels_part)
            # resolved once for a template's parts: the result depends on these bytes and the package's part names
            key = (rels_part, data, self.sniffed.names)
            known = _RESOLVED.pop(key, None)
            if known is not None:
                _RESOLVED[key] = known
                self._rels[source] = dict(known)
                return self._rels[source]
            for rid, kind, target, external in _memo(_relationships, data):
                if rid in out:
                    raise corrupt(rels_part, f"中的关系编号 {rid[:40]} 重复")
                if external:
                    continue
                out[rid] = Rel(rid, kind, self.resolve(rels_part, folder, target))
            if len(_RESOLVED) >= _MEMO_MAX:
                _RESOLVED.pop(next(iter(_RESOLVED)))
            _RESOLVED[key] = dict(out)
        self._rels[source] = out
        return out

    def resolve(self, rels_part: str, folder: str, target: str) -> str:
        """A relationship target as a part name, the way OPC defines it; anything unusual is refused."""
        if not target or _ODD_TARGET.search(target):
            raise corrupt(rels_part, f"中的关系目标“{target[:60]}”不是有效的部件名")
        path = target[1:] if target.startswith("/") else posixpath.join(folder, target)
        if "//" in path or path.endswith("/"):
            raise corrupt(rels_part, f"中的关系目标“{target[:60]}”不是有效的部件名")
        segments: list[str] = []
        for seg in path.split("/"):
            if seg == ".":
                continue
            if seg == "..":
                if not segments:
                    raise corrupt(rels_part, f"中的关系目标“{target[:60]}”指向压缩包之外")
                segments.pop()
                continue
            segments.append(seg)
        name = "/".join(segments)
        if name not in self.names and name.lower() in self._folded:
            raise corrupt(rels_part, f"中的关系目标“{target[:60]}”与部件名 {self._folded[name.lower()]} 大小写不一致")
        return name

    def _workbook_part(self) -> str:
        """The workbook: the one officeDocument relationship of the package, typed as a workbook."""
        root = self.rels("")
        docs = [r for r in root.values() if r.kind == "officeDocument"]
        if not docs:
            if "_rels/.rels" not in self.names:
                raise corrupt("_rels/.rels", "缺失（无法确定哪个部件是工作簿）")
            raise corrupt("_rels/.rels", "中没有指向工作簿的关系")
        if len(docs) > 1:
            raise corrupt("_rels/.rels", "中有多个指向工作簿的关系，不同的表格软件会打开不同的内容")
        name = docs[0].target
        if name not in self.names:
            raise corrupt(name, "缺失（工作簿部件不存在）")
        typed = sorted(n for n, t in self.overrides.items() if t in WORKBOOK_TYPES)
        if self.overrides.get(name.lower()) not in WORKBOOK_TYPES or len(typed) != 1:
            raise corrupt("[Content_Types].xml", f"声明的工作簿部件（{'、'.join(typed)[:120] or '无'}）与 _rels/.rels 指向的 {name} 不一致")
        return name


def _content_types(data: bytes) -> tuple[dict[str, str], dict[str, str]]:
    """(extension → type, lower-case part name → type) from [Content_Types].xml."""
    defaults: dict[str, str] = {}
    overrides: dict[str, str] = {}
    depth = [0]

    def start(tag: str, attrs: dict[str, str]) -> None:
        depth[0] += 1
        if depth[0] == 1:
            if tag != f"{TYPES_NS}{SEP}Types":
                raise corrupt("[Content_Types].xml", "的根元素不是内容类型表")
            return
        if depth[0] != 2:
            return
        if tag == f"{TYPES_NS}{SEP}Default":
            defaults[attrs.get("Extension", "").lower()] = attrs.get("ContentType", "")
        elif tag == f"{TYPES_NS}{SEP}Override":
            key = attrs.get("PartName", "").lstrip("/").lower()
            if key in overrides:
                raise corrupt("[Content_Types].xml", f"中部件 {key[:60]} 的类型声明了两次")
            overrides[key] = attrs.get("ContentType", "")

    def end(tag: str) -> None:
        depth[0] -= 1

    parse_xml(data, "[Content_Types].xml", start, end)
    return defaults, overrides


def _relationships(data: bytes) -> list[tuple[str, str, str, bool]]:
    """(id, kind, raw target, external) for each relationship of a .rels part."""
    out: list[tuple[str, str, str, bool]] = []
    depth = [0]

    def start(tag: str, attrs: dict[str, str]) -> None:
        depth[0] += 1
        if depth[0] == 1:
            if tag != f"{PKG_REL_NS}{SEP}Relationships":
                raise corrupt(".rels", "的根元素不是关系表")
            return
        if depth[0] != 2 or tag != f"{PKG_REL_NS}{SEP}Relationship":
            return
        kind = attrs.get("Type", "")
        if kind.startswith(_STRICT_REL_TYPE):
            raise strict_format()
        short = kind[len(_REL_TYPE):] if kind.startswith(_REL_TYPE) else kind.rsplit("/", 1)[-1]
        out.append((attrs.get("Id", ""), short, attrs.get("Target", ""), attrs.get("TargetMode") == "External"))

    def end(tag: str) -> None:
        depth[0] -= 1

    parse_xml(data, ".rels", start, end)
    return out


_MEMO: dict[str, dict[bytes, Any]] = {}
_MEMO_MAX = 64
#: Parts of over 1 MiB are read each time (the samples' largest is 44 kB: a workbook.xml), and each function's table
#: keeps at most 4 MiB of parts: a worker's memory stays bounded whatever the files hold (64 parts of any size were
#: kept for each function before, a return's own docProps among them).
_MEMO_LONGEST, _MEMO_BYTES = 1024 * 1024, 4 * 1024 * 1024
_memo_bytes: dict[str, int] = {}
_RESOLVED: dict[tuple[str, bytes, tuple[str, ...]], dict[str, Rel]] = {}


def _memo(fn: Callable[[bytes], Any], data: bytes) -> Any:
    """``fn(data)``, remembered by content: returns of one template share these parts byte for byte.

    Each function keeps its own last 64, the least recently used going first: a part that differs in
    every return (the document properties) pushes out only its own kind, never a template's workbook or
    styles (whose reading is the costly one).
    """
    table = _MEMO.get(fn.__name__)
    if table is None:
        table = _MEMO[fn.__name__] = {}
    if data in table:
        value = table.pop(data)
        table[data] = value
        return value
    value = fn(data)
    if len(data) > _MEMO_LONGEST:
        return value
    held = _memo_bytes.get(fn.__name__, 0) if table else 0  # (a table emptied from outside holds nothing)
    while table and (len(table) >= _MEMO_MAX or held + len(data) > _MEMO_BYTES):
        old = next(iter(table))  # the least recently used first
        del table[old]
        held -= len(old)
    table[data] = value
    _memo_bytes[fn.__name__] = held + len(data)
    return value


memo = _memo
