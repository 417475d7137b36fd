"""The fast reader: the workbook's XML parsed directly with expat, safely.

It produces exactly the :class:`~xltemplate.submission.Submission` the
openpyxl reference reader produces (a differential test runs both over every
corpus), in about a millisecond instead of tens: one pass over each part it
needs, no object model. Parts are found the way Excel finds them
(:mod:`xltemplate.readers.package`), the sheets are read by :mod:`xltemplate.readers.sheet`,
and whatever two programs could show differently is refused rather than
guessed: a sheet name used twice (Excel compares names without case), a sheet,
defined name or shared-string run out of its place, a shared string with two
texts. Entity declarations, external entities and DOCTYPEs are refused before
anything is expanded.
"""

from __future__ import annotations

import datetime as dt
import re
from operator import itemgetter
from typing import Any

from .. import meta
from ..errors import Unreadable
from ..fsutil import sha256_file
from ..submission import Submission
from .package import (MAIN_NS, REL_NS, SEP, STRICT_MAIN_NS, Package, Rel, corrupt, feed, memo, parse_xml,
                      parser, strict_format)
from .properties import destination, document
from .sheet import Sheet, Styles, utf8_part
from .sheet_strict import character_data, plain_unicode
from .sniff import Sniffed
from .xmltext import ATTRIBUTES, tag_after, text as _text, tile, unescape

_M = MAIN_NS + SEP
_WORKBOOK, _SHEETS, _SHEET, _NAMES, _NAME, _WBPR = (_M + "workbook", _M + "sheets", _M + "sheet", _M + "definedNames",
                                                   _M + "definedName", _M + "workbookPr")
_STATES = ("visible", "hidden", "veryHidden")
_LISTS = ("sheets", "definedNames", "workbookPr")  # a workbook's children read here (in the main namespace only)
_BAD_SHEET_CHARS = re.compile(r"[\\/?*\[\]:]")


def read_fast(sniffed: Sniffed) -> Submission:
    """Read a sniffed workbook into a Submission (the same one the openpyxl reader gives)."""
    path = sniffed.path
    sub = Submission(path=str(path), sha256=sniffed.sha256 or sha256_file(path), size=sniffed.size, has_macros=sniffed.has_macros)
    with Package(sniffed) as pkg:
        sheets, names, date1904 = memo(_workbook, pkg.read(pkg.workbook))
        rels = pkg.rels(pkg.workbook)
        strings_part, styles_part = _only(rels, "sharedStrings", pkg.workbook), _only(rels, "styles", pkg.workbook)
        strings = shared_strings(pkg.read(strings_part)) if strings_part in pkg.names else []
        styles = memo(_styles, pkg.read(styles_part)) if styles_part in pkg.names else Styles()
        sub.saved_at, sub.application, sub.properties = document(pkg)
        sub.defined_names = dict(names)
        epoch = dt.datetime(1904, 1, 1) if date1904 else dt.datetime(1899, 12, 30)
        for name, rel in sheet_parts(pkg, sheets, rels):
            state = sheets[name]
            sub.sheets[name] = state
            if rel is None:
                continue  # a chartsheet: no cells
            sheet = Sheet(strings, styles, epoch, rel)
            sheet.parse(pkg.read(rel))
            hidden = sheet.finish()
            sub.protected[name] = sheet.protected
            if name == meta.SHEET:
                sub.meta, sub.meta_too_long = meta.read(sheet.cells)
                continue
            sub.cells[name] = sheet.cells
            if hidden:
                sub.concealed[name] = hidden
    return sub


def check_structure(sniffed: Sniffed) -> tuple[str, str | None, str | None]:
    """Refuse what :func:`read_fast` refuses, with the general parsers only (for the reference reader).

    Returns the parts the workbook uses: (workbook, shared strings, styles).
    """
    with Package(sniffed) as pkg:
        sheets, _, date1904 = _workbook(pkg.read(pkg.workbook))
        rels = pkg.rels(pkg.workbook)
        strings_part, styles_part = _only(rels, "sharedStrings", pkg.workbook), _only(rels, "styles", pkg.workbook)
        strings = _shared_strings_general(pkg.read(strings_part)) if strings_part in pkg.names else []
        styles = _styles(pkg.read(styles_part)) if styles_part in pkg.names else Styles()
        epoch = dt.datetime(1904, 1, 1) if date1904 else dt.datetime(1899, 12, 30)
        for _, part in sheet_parts(pkg, sheets, rels):
            if part is not None:
                Sheet(strings, styles, epoch, part)._parse_general(pkg.read(part))
        return pkg.workbook, strings_part if strings_part in pkg.names else None, styles_part if styles_part in pkg.names else None


def sheet_parts(pkg: Package, sheets: "Sheets", rels: dict[str, Rel]) -> list[tuple[str, str | None]]:
    """(sheet name, its worksheet part, or None for a chartsheet), in workbook order.

    Every sheet must have its relationship, each to a part of its own that exists: a sheet
    pointing nowhere, or two sheets sharing one part, is not what any program writes.
    """
    out: list[tuple[str, str | None]] = []
    seen: set[str] = set()
    for name, rid in sheets.rids.items():
        rel = rels.get(rid)
        if rel is None:
            raise corrupt(pkg.workbook, f"中工作表“{name[:31]}”的关系 {rid[:40]} 不存在")
        if rel.kind not in ("worksheet", "chartsheet"):
            raise corrupt(pkg.workbook, f"中“{name[:31]}”不是普通工作表（{rel.kind[:40]}）")
        if rel.target in seen:
            raise corrupt(pkg.workbook, f"中两个工作表指向同一个部件 {rel.target[:80]}")
        seen.add(rel.target)
        if rel.target not in pkg.names:
            raise corrupt(rel.target, f"缺失（工作表“{name[:31]}”的内容不存在）")
        out.append((name, rel.target if rel.kind == "worksheet" else None))
    return out


def _only(rels: dict[str, Rel], kind: str, source: str) -> str | None:
    found = [r.target for r in rels.values() if r.kind == kind]
    if len(found) > 1:
        raise corrupt(source, f"有多个 {kind} 关系，不同的表格软件会读取不同的内容")
    return found[0] if found else None


# -- workbook, relationships, document properties ------------------------------------------

class Sheets(dict[str, str]):
    """Sheet name → state, in workbook order, with each sheet's relationship id in ``rids``."""

    def __init__(self) -> None:
        super().__init__()
        self.rids: dict[str, str] = {}


#: The strict path for the defined names (one pattern over <definedNames>, the rest through the handlers);
#: the tests also run with it off.
USE_STRICT_NAMES = True
_NAMES_OPEN, _NAMES_CLOSE = b"<definedNames>", b"</definedNames>"
#: One defined name whose attributes are plain (no entity, no white space that an XML parser would normalise,
#: no prefix), ``name`` among them, and whose text holds no element: what Excel, LibreOffice and the generator
#: write. Groups: the whole, the attributes before ``name``, the name, those after, the text. (An attribute is
#: one token, ``[^"]`` in its value: ``name="`` can only match an attribute's start.)
_ATTRS = r'(?: [A-Za-z]+="[^"<&\t\n\r]*")*'
_NAME_ITEM = re.compile(rf'(<definedName({_ATTRS}?) name="([^"<&\t\n\r]*)"({_ATTRS})>([^<]*)</definedName>)')
_NAME_ATTR = re.compile(r' ([A-Za-z]+)="([^"]*)"')


def _workbook(data: bytes) -> tuple[Sheets, dict[str, tuple[str, str] | None], bool]:
    """The sheets (name → state, with their relationship ids), the workbook-level defined names, date1904.

    Sheets and defined names count only where they belong (a <sheet> in <sheets>, a
    <definedName> in <definedNames>); anywhere else, inside mc:AlternateContent for
    instance, the file is refused. Sheet names are compared without case, as Excel does:
    two sheets of one name are refused (programs disagree on which one is shown). A defined
    name given twice (again without case) points nowhere: it is reported as changed.
    """
    got = _workbook_split(data) if USE_STRICT_NAMES else None
    if got is None:
        got = _WorkbookHandlers()
        parse_xml(data, got.part, got.start, got.end, got.text)
    if not got.sheets:
        # (Excel requires one; LibreOffice shows an empty sheet of its own, openpyxl reads the <sheets> of another
        # namespace: none of them shows the form)
        raise corrupt(got.part, "中没有任何工作表（或工作表不在工作簿的命名空间中），不同的表格软件会显示不同的内容")
    counts: dict[str, int] = {}
    for name, _ in got.names:
        counts[name.casefold()] = counts.get(name.casefold(), 0) + 1
    resolved = {name: (None if counts[name.casefold()] > 1 else destination(text)) for name, text in got.names}
    return got.sheets, resolved, got.flags["date1904"]


def _workbook_split(data: bytes) -> "_WorkbookHandlers | None":
    """:func:`_workbook`'s reading with the defined names picked by one pattern, or None (the handlers read it all).

    A national return's workbook part is its own (its defined names follow its rows): ~200 names, three handler
    calls each. Expat still proves the whole part well-formed and the handlers see all but the names' list,
    which must be the first <definedNames> of the part, a child of the root in the main namespace by default,
    and nothing but plain <definedName> elements (the pattern must tile it); anything else, or a comment or
    an instruction before its end: None.
    """
    i = data.find(_NAMES_OPEN)
    j = data.find(_NAMES_CLOSE, i) if i >= 0 else -1
    if j < 0:
        return None
    k = j + len(_NAMES_CLOSE)
    head = data[:k]
    if tag_after(head, b"!") or tag_after(head, b"?", 1):
        return None
    try:
        region = data[i + len(_NAMES_OPEN):j].decode("utf-8")
    except UnicodeDecodeError:
        return None  # (the handlers' parser says where)
    items = _NAME_ITEM.findall(region)
    if "xmlns" in region or sum(map(len, map(_FIRST, items))) != len(region):
        return None
    h = _WorkbookHandlers()
    defaults: list[str] = []
    p = parser()
    p.StartNamespaceDeclHandler = lambda prefix, uri: defaults.append(uri) if prefix is None else None
    p.StartElementHandler, p.EndElementHandler, p.CharacterDataHandler = h.start, h.end, h.text
    feed(p, data[:i], h.part, final=False)
    if h.stack != [_WORKBOOK] or not defaults or any(uri != MAIN_NS for uri in defaults):
        return None  # (elsewhere, or <definedNames> not in the main namespace: the handlers decide)
    h.start(_NAMES, {})  # its place and count checked as the handler checks them
    p.StartElementHandler = p.EndElementHandler = p.CharacterDataHandler = None
    feed(p, data[i:k], h.part, final=False)  # (first: the texts are unescaped once proved, as unescape requires)
    plain = "&" not in region and "\r" not in region
    names = h.names
    for _, before, name, after, raw in items:
        if "localSheetId=" in before or "localSheetId=" in after:  # (else it surely is no attribute)
            if "localSheetId" in dict(_NAME_ATTR.findall(before + after)):
                continue  # a sheet's own name: not the workbook's
        names.append((name, raw if plain else unescape(raw)))
    h.end(_NAMES)
    p.StartElementHandler, p.EndElementHandler, p.CharacterDataHandler = h.start, h.end, h.text
    feed(p, data[k:], h.part)
    return h


class _WorkbookHandlers:
    """Expat's handlers for the workbook part, and what they found."""

    part = "xl/workbook.xml"

    def __init__(self) -> None:
        self.sheets = Sheets()
        self.folded: dict[str, str] = {}
        self.names: list[tuple[str, str]] = []
        self.stack: list[str] = []
        self.name: str | None = None
        self.buf: list[str] = []
        self.flags: dict[str, Any] = {"date1904": False, "sheets": 0, "names": 0}

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        stack, part, flags = self.stack, self.part, self.flags
        if not stack:
            if tag == STRICT_MAIN_NS + SEP + "workbook":
                raise strict_format()
            if tag != _WORKBOOK:
                raise corrupt(part, "不是工作簿")
        elif stack[-1] == _NAME:
            # Excel allows only text there; LibreOffice reads the text around the element, openpyxl the text before it
            raise corrupt(part, "中的名称定义里含有元素，不同的表格软件会读出不同的引用")
        elif len(stack) == 1 and tag.rsplit(SEP, 1)[-1] in _LISTS and tag not in (_SHEETS, _NAMES, _WBPR):
            # the sheets or names in another namespace: this reader and LibreOffice skip them, openpyxl reads them
            raise corrupt(part, f"中的 <{tag.rsplit(SEP, 1)[-1]}> 不在工作簿的命名空间中，不同的表格软件会读出不同的内容")
        elif tag in (_SHEETS, _NAMES, _WBPR):
            if stack != [_WORKBOOK]:
                raise corrupt(part, f"中的 <{tag.rsplit(SEP, 1)[-1]}> 出现在不该出现的位置")
            key = "sheets" if tag == _SHEETS else "names" if tag == _NAMES else None
            if key:
                flags[key] += 1
                if flags[key] > 1:
                    raise corrupt(part, f"含有两个 <{tag.rsplit(SEP, 1)[-1]}>")
            if tag == _WBPR:
                flags["date1904"] = attrs.get("date1904", "0").lower() in ("1", "true")
        elif tag == _SHEET:
            if stack != [_WORKBOOK, _SHEETS]:
                raise corrupt(part, "中的工作表声明出现在不该出现的位置（如 mc:AlternateContent 之内）")
            name, state = attrs.get("name", ""), attrs.get("state", "visible")
            if not name or len(name) > 31 or _BAD_SHEET_CHARS.search(name) or name[0] == "'" or name[-1] == "'":
                raise corrupt(part, f"中的工作表名“{name[:40]}”无效")
            if state not in _STATES:
                raise corrupt(part, f"中工作表“{name}”的状态“{state[:20]}”无效")
            if name.casefold() in self.folded:
                raise corrupt(part, f"中有两个名为“{self.folded[name.casefold()]}”/“{name}”的工作表（名称不区分大小写），"
                                    "不同的表格软件会显示不同的工作表")
            self.folded[name.casefold()] = name
            self.sheets[name] = state
            self.sheets.rids[name] = attrs.get(f"{REL_NS}{SEP}id", "")
        elif tag == _NAME:
            if stack != [_WORKBOOK, _NAMES]:
                raise corrupt(part, "中的名称定义出现在不该出现的位置")
            if "name" not in attrs:  # (Excel requires it, LibreOffice drops the name, openpyxl refuses the file)
                raise corrupt(part, "中有一个名称定义没有名称")
            self.name = None if "localSheetId" in attrs else attrs["name"]
            self.buf = []
        stack.append(tag)

    def end(self, tag: str) -> None:
        self.stack.pop()
        if tag == _NAME and self.name is not None:  # an empty name counts, as openpyxl keeps it
            self.names.append((self.name, "".join(self.buf)))
            self.name = None

    def text(self, t: str) -> None:
        if self.name is not None:
            self.buf.append(t)


# -- shared strings ---------------------------------------------------------------------------

_SST_ROOT = re.compile(rb'^\s*(?:<\?xml[^>]*\?>\s*)?<sst\b([^>]*)>')
#: The root's attributes as the fast path takes them: each a name, "=", and a quoted value with no "<" or "&" (a
#: reference in a value, which expat would resolve, leaves the part to the general parser).
_ROOT_ATTR = re.compile(rb"""\s+([A-Za-z_][\w.:-]*)\s*=\s*(?:"([^"<&]*)"|'([^'<&]*)')""")


def _main_default(attrs: bytes) -> bool:
    """Whether the root tag's ``attrs`` (what follows ``<sst``) declare the main namespace as the default one, read as
    attributes (a value that holds the declaration's text, e.g. ``a=' xmlns="…main"'``, does not); False says
    nothing (the general parser decides)."""
    pos, found = 0, False
    for m in _ROOT_ATTR.finditer(attrs):
        if m.start() != pos:
            return False
        pos = m.end()
        if m.group(1) == b"xmlns":
            found = (m.group(2) if m.group(2) is not None else m.group(3)) == MAIN_NS.encode()
            if not found:
                return False
    return found and not attrs[pos:].strip()
_SI = re.compile(rb"<si>(.*?)</si>|<si/>", re.S)
_SIMPLE_T = re.compile(rb"<t" + ATTRIBUTES + rb"(?:/>|>([^<]*)</t>)")  # (a ">" in a value: see ATTRIBUTES)
# (``[^<]*(?:<(?!/rPr>)[^<]*)*``: anything up to the first ``</rPr>``, as ``(?:(?!</rPr>).)*`` but without a
# look-ahead at every character)
_RUN = re.compile(rb"<r>(?:<rPr>([^<]*(?:<(?!/rPr>)[^<]*)*)</rPr>)?<t" + ATTRIBUTES + rb"(?:/>|>([^<]*)</t>)</r>")
_RUN_WHOLE = re.compile(rb'(<r>(?:<rPr>([^<]*(?:<(?!/rPr>)[^<]*)*)</rPr>)?<t(?: xml:space="preserve")?>([^<]*)</t></r>)')
_PHONETIC = re.compile(rb"(?:<rPh\b[^>]*>[^<]*(?:<(?!/rPh>)[^<]*)*</rPh>)*(?:<phoneticPr\b[^>]*/>)?")
_PREFIXED = re.compile(rb"</?[A-Za-z_][\w.-]*:")
_SST_END = re.compile(rb"\s*(?:<extLst>.*</extLst>\s*)?</sst>\s*", re.S)
#: One string, whole (for the tiling check): a plain <t> and its text (what the generator and Excel write),
#: or runs (what LibreOffice writes for text in two fonts), read by :func:`_rich`.
_SI_PLAIN = re.compile(rb'(\s*<si>(?:<t(?: xml:space="preserve")?>([^<]*)</t>|(<r>[^<]*(?:<(?!/si>)[^<]*)*))</si>)')
_FIRST = itemgetter(0)  # a match's whole text, for the tiling checks (summed in C)
#: The strict path for shared strings (one pattern over the part); the tests also run with it off.
USE_STRICT_STRINGS = True


def shared_strings(data: bytes) -> list[str]:
    """The shared strings, each the text a spreadsheet program shows (phonetic guides left out).

    An <si> holds one <t> or runs of <r><t>, then phonetic guides; anything else (two <t>,
    a <t> beside runs, a text in another namespace) is refused. The common shape is read
    with a few regular expressions after expat proved the part well-formed; anything
    unusual is read by the general parser, which decides.
    """
    strings = _shared_strings_fast(data)
    return strings if strings is not None else _shared_strings_general(data)


def _instruction_after_start(data: bytes) -> bool:
    """``data.find(b"<?", 1) >= 0``, in memchr's steps (:func:`~xltemplate.readers.xmltext.tag_after`)."""
    return tag_after(data, b"?", 1)


def _shared_strings_fast(data: bytes) -> list[str] | None:
    root = _SST_ROOT.match(data)
    # ("?" first: one memchr, where a search for "<?" stops at every "<" of the markup; "<?" past the first byte is a
    # "?" past the second that a "<" comes before)
    if root is None or not _main_default(root.group(1)) or data.find(b"xmlns", root.end()) >= 0 \
            or tag_after(data, b"!") or _instruction_after_start(data):
        return None
    if USE_STRICT_STRINGS and PROVE_STRINGS:
        proved = _plain_strings(data, root.end(), True)
        if proved is not None:
            return proved  # (proved well-formed here: expat need not read the part)
    feed(parser(), data, "xl/sharedStrings.xml")
    if USE_STRICT_STRINGS:
        plain = _plain_strings(data, root.end())
        if plain is not None:
            return plain
    if _PREFIXED.search(data, root.end()):
        return None  # an element in another namespace (or the main one under a prefix): the general parser
    strings: list[str] = []
    pos = root.end()
    for m in _SI.finditer(data, pos):
        if m.start() != pos and data[pos:m.start()].strip():
            return None
        pos = m.end()
        body = m.group(1) or b""
        sm = _SIMPLE_T.fullmatch(body)
        if sm is not None:  # one plain <t>: nearly every string
            raw = sm.group(1) or b""
            value = raw.decode("utf-8") if b"&" not in raw and b"\r" not in raw else unescape(raw.decode("utf-8"))
        else:
            value = _rich(body)
            if value is None:
                return None
        strings.append(value.replace("x005F_", "") if "x005F_" in value else value)
    if not _SST_END.fullmatch(data, pos):
        return None
    return strings


#: Read a shared-strings part of the plain shape without expat where it is proved well-formed here (:func:`_proved`);
#: the tests also run with it off.
PROVE_STRINGS = True
#: The end of a part whose strings are proved: </sst> alone (an extension there is markup this path does not prove).
_SST_CLOSE = re.compile(rb"\s*</sst>\s*")
#: A text in a string's runs (or their phonetic guides): cut out of the runs' shape, proved apart.
_RUN_TEXT = re.compile(rb'(<t(?: xml:space="preserve")?>)([^<]*)(?=</t>)')
#: The parts' beginnings (declaration and root tag), and the shapes of strings of runs (see _SST_PLAIN_ROOT), proved
#: by expat, by their exact bytes: bounded (64 beginnings of <= 1 kB; 4,096 shapes of <= 64 kB, 4 MiB together).
_SST_HEADS: dict[bytes, bool] = {}
_SST_RUNS: dict[bytes, bool] = {}
#: Where the shapes of strings of runs are proved: a root that binds no prefix. A shape well-formed there uses none
#: (but "xml", bound everywhere), so it is well-formed under any root of the main namespace, whatever else it binds.
_SST_PLAIN_ROOT = b'<sst xmlns="' + MAIN_NS.encode() + b'">'
_SST_HEAD_COUNT, _SST_HEAD_LONGEST, _SST_RUNS_COUNT, _SST_RUNS_LONGEST, _SST_RUNS_BYTES = 64, 1024, 4096, 64 << 10, 4 << 20
_sst_runs_bytes = [0]


#: Tile the strings by cutting the part at every "</si>" (:func:`_split_strings`), where the part is not large; the tests
#: also run with it off.
SPLIT_STRINGS = True
_SPLIT_LONGEST = 1 << 20  # (a larger part is tiled in place: the pieces are a copy of it)
#: A part whose strings are each one plain <t> (Excel's): matched whole in C (linear: every string's markup is fixed
#: and its text holds no "<", so a failed match backtracks each string once), its texts then found in order; the
#: tests also run with it off (the strings are then tiled one by one).
ALL_PLAIN_STRINGS = True
_SI_ALL_PLAIN = re.compile(rb'(?:\s*<si><t(?: xml:space="preserve")?>[^<]*</t></si>)*')
_SI_TEXT = re.compile(rb'<t(?: xml:space="preserve")?>([^<]*)</t>')
#: One piece of :func:`_split_strings`: a string, its "</si>" cut off; the groups of :data:`_SI_PLAIN` (the first
#: without "</si>").
_SI_PIECE = re.compile(rb'(\s*<si>(?:<t(?: xml:space="preserve")?>([^<]*)</t>|(<r>.*)))', re.S)


def _split_strings(data: bytes, start: int, end: int) -> list[tuple[bytes, ...]] | None:
    """What ``tile(_SI_PLAIN, data, start, end)`` gives (but its first group, which lacks "</si>"), in fewer steps.

    A string that :data:`_SI_PLAIN` matches holds exactly one "</si>", at its end (its text holds no "<"; its runs
    stop at the first "</si>"), so a part it tiles is cut at every "</si>" (in C) into those strings; each piece is
    then matched whole by :data:`_SI_PIECE`, whose runs (``<r>.*``) need no look-ahead at every "<": the cut proved
    they hold no "</si>". Conversely pieces that each match, joined by "</si>", are tiled by :data:`_SI_PLAIN`
    (runs holding no "</si>" before their own are what its runs take). Linear: each byte is looked at a fixed number
    of times. LibreOffice's strings of runs made the tiling pattern look ahead at each of their "<" (about 150 µs a
    return of 120 strings, 60 here).
    """
    pieces = data[start:end].split(b"</si>")
    if pieces.pop():  # (end follows the last "</si>": the last piece is empty, or there is none but it)
        return None
    out: list[tuple[bytes, ...]] = []
    match = _SI_PIECE.fullmatch
    for piece in pieces:
        m = match(piece)
        if m is None:
            return None
        out.append(m.groups(b""))
    return out


def _plain_strings(data: bytes, start: int, prove: bool = False) -> list[str] | None:
    """Every string when each is one plain <t> or plain runs (one pattern, in C, must tile the part); else None.

    ``prove``: before expat has read the part, only where :func:`_proved` proves it well-formed, else None."""
    end = data.rfind(b"</si>")
    end = start if end < start else end + 5
    if ALL_PLAIN_STRINGS and end - start <= _SPLIT_LONGEST and _SI_ALL_PLAIN.fullmatch(data, start, end) is not None:
        # every string one plain <t> (a part Excel wrote): their texts in order, as the tiling below would give them
        raws: list[bytes] = _SI_TEXT.findall(data, start, end)
        if not _SST_END.fullmatch(data, end) or prove and not (_proved_frame(data, start, end) and _proved_texts(raws)):
            return None
        if not raws:
            return []
        text = b"\x00".join(raws).decode("utf-8")  # (as below: NUL parts them again; "x005F_" spans none)
        if "&" in text or "\r" in text:
            text = unescape(text)
        return (text.replace("x005F_", "") if "x005F_" in text else text).split("\x00")
    items = _split_strings(data, start, end) if SPLIT_STRINGS and end - start <= _SPLIT_LONGEST \
        else tile(_SI_PLAIN, data, start, end)  # (not findall: see tile)
    if items is None or not _SST_END.fullmatch(data, end):
        return None  # phonetic guides, attributes, an empty <si/>: the regular expressions below read them
    if prove and not _proved(data, start, end, items):
        return None
    if not items:
        return []
    strings: list[str]
    if any(runs for _, _, runs in items):
        strings = []
        checked = False
        remember = REMEMBER_RUNS
        # (the plain ones decoded and unescaped in one piece, as below: NUL parts them again)
        plain = iter(_plain_texts([raw for _, raw, runs in items if not runs]) if remember else ())
        for _, raw, runs in items:
            value: str | None
            if not runs:
                value = next(plain) if remember else _text(raw)
            else:
                value = _RUNS_READ.get(runs) if remember else None
                if value is None:
                    value = _runs(runs)
                    if value is not None and remember:
                        _remember_runs(runs, value)
            if value is None:  # runs of another shape: the regular expressions of the other path read them
                if not checked and _PREFIXED.search(data, start):
                    return None  # an element under a prefix: the general parser
                checked = True
                value = _rich(runs)
                if value is None:
                    return None
            strings.append(value)
        text = "".join(strings)
    else:
        # decoded and unescaped in one piece: NUL cannot be in XML text (expat proved it), so it parts them again
        text = b"\x00".join([raw for _, raw, _ in items]).decode("utf-8")
        if "&" in text or "\r" in text:
            text = unescape(text)
        strings = text.split("\x00")
    if "x005F_" in text:
        strings = [value.replace("x005F_", "") for value in strings]
    return strings


def _proved(data: bytes, start: int, end: int, items: list[tuple[bytes, ...]]) -> bool:
    """Whether a shared-strings part tiled by :data:`_SI_PLAIN` from ``start`` to ``end`` is well-formed XML; False
    says nothing (expat reads it). The caller has refused comments, CDATA, processing instructions and namespace
    declarations after the root tag.

    - The beginning (what :data:`_SST_ROOT` matched: the declaration and the root tag) is read by expat with the
      root closed at once (once per its bytes); the part is UTF-8 (its declaration says so, or has none).
    - The end is ``</sst>`` and white space; between the strings, XML's white space only (no ``\\v``, ``\\f``).
    - A plain string is ``<si><t>`` (or ``<t xml:space="preserve">``), its text, ``</t></si>``: markup fixed.
    - A string of runs, its texts cut out (:data:`_RUN_TEXT`: they hold no "<"), is read by expat as a ``<si>``
      under :data:`_SST_PLAIN_ROOT` (once per its bytes; those not yet known in one batch). It holds no ``<si``
      and no ``</si``, so that the batch is well-formed only if each is: its own ``</si>`` must close its ``<si>``.
    - The texts, all of them, are character data (:func:`~xltemplate.readers.sheet_strict.plain_unicode`, else expat).
    """
    if not _proved_frame(data, start, end):
        return False
    texts: list[bytes] = []
    new: list[bytes] = []
    wholes: list[bytes] = []
    known = _SST_RUNS if PROVED_RUNS else {}
    for _, raw, runs in items:
        if not runs:
            texts.append(raw)
            continue
        if runs in known:
            continue  # (these very bytes, texts and all, proved before: see PROVED_RUNS)
        if b"<si" in runs or b"</si" in runs:
            return False
        wholes.append(runs)
        pieces = _RUN_TEXT.split(runs)  # [markup, <t>, text, markup, <t>, text, …, markup]
        texts += pieces[2::3]
        del pieces[2::3]
        shape = b"".join(pieces)
        if shape not in _SST_RUNS:
            new.append(shape)
    if new:
        try:
            feed(parser(), _SST_PLAIN_ROOT + b"".join(b"<si>" + shape + b"</si>" for shape in new) + b"</sst>", "")
        except Unreadable:
            return False
        for shape in new:
            _remember_run_shape(shape)
    if not _proved_texts(texts):
        return False
    if PROVED_RUNS:
        for runs in wholes:
            _remember_run_shape(runs)
    return True


#: Remember a string of runs proved (its shape, and its texts character data) by its whole bytes, beside the shapes:
#: either is an <si>'s content well-formed under :data:`_SST_PLAIN_ROOT`, which is all a shape's entry says. A
#: string LibreOffice wrote as runs (a template's label in two fonts) is the same bytes in every return it saved;
#: it is then neither cut up nor its texts proved again. The tests also run with it off.
PROVED_RUNS = True


def _proved_texts(texts: list[bytes]) -> bool:
    """Whether all ``texts`` are character data (in C where it can be, else by expat)."""
    return plain_unicode(texts) or character_data(texts)


def _proved_frame(data: bytes, start: int, end: int) -> bool:
    """What :func:`_proved` proves of a part but its strings: its beginning, its end, no \\v or \\f, UTF-8."""
    if not _SST_CLOSE.fullmatch(data, end) or b"\x0b" in data or b"\x0c" in data or not utf8_part(data):
        return False
    head = data[:start]
    known = _SST_HEADS.get(head)
    if known is None:
        try:
            feed(parser(), head + b"</sst>", "xl/sharedStrings.xml")
            known = True
        except Unreadable:
            known = False
        if len(head) <= _SST_HEAD_LONGEST:
            if len(_SST_HEADS) >= _SST_HEAD_COUNT:
                del _SST_HEADS[next(iter(_SST_HEADS))]
            _SST_HEADS[head] = known
    return bool(known)


def _remember_run_shape(key: bytes) -> None:
    size = len(key)
    if size > _SST_RUNS_LONGEST or key in _SST_RUNS:  # (a shape twice in one part: counted once)
        return
    if not _SST_RUNS:
        _sst_runs_bytes[0] = 0  # (emptied from outside: it holds nothing)
    while _SST_RUNS and (len(_SST_RUNS) >= _SST_RUNS_COUNT or _sst_runs_bytes[0] + size > _SST_RUNS_BYTES):
        old = next(iter(_SST_RUNS))  # the oldest first
        del _SST_RUNS[old]
        _sst_runs_bytes[0] -= len(old)
    _SST_RUNS[key] = True
    _sst_runs_bytes[0] += size


#: Remember what a string of plain runs reads as, by its exact bytes (bounded: 4,096 strings, 2 MB) (:func:`_runs` is a function of them alone):
#: LibreOffice writes a template's labels in two fonts as runs, the same bytes in every return it saved; the
#: plain strings beside them are then decoded in one piece. The tests also run with it off.
REMEMBER_RUNS = True
_RUNS_READ: dict[bytes, str] = {}
_RUNS_COUNT, _RUNS_LONGEST, _RUNS_BYTES = 4096, 4096, 2 * 1024 * 1024  # (count, one string, all together)
_runs_bytes = [0]


def _remember_runs(body: bytes, value: str) -> None:
    if len(body) > _RUNS_LONGEST:
        return
    size = len(body) + 4 * len(value)  # (a str of CJK text: up to 4 bytes a character)
    while _RUNS_READ and (len(_RUNS_READ) >= _RUNS_COUNT or _runs_bytes[0] + size > _RUNS_BYTES):
        old = next(iter(_RUNS_READ))  # the oldest first (a return's own strings come and go)
        _runs_bytes[0] -= len(old) + 4 * len(_RUNS_READ.pop(old))
    _RUNS_READ[body] = value
    _runs_bytes[0] += size


def _plain_texts(raws: list[bytes]) -> list[str]:
    """:func:`_text` of each, decoded and unescaped in one piece (NUL cannot be in XML text: it parts them again)."""
    text = b"\x00".join(raws).decode("utf-8")
    if "&" in text or "\r" in text:
        text = unescape(text)
    return text.split("\x00")


def _runs(body: bytes) -> str | None:
    """The text of an <si> that is runs and nothing else (one pattern must tile it); None for anything else
    (and for no text at all: :func:`_rich` decides then)."""
    runs = _RUN_WHOLE.findall(body)
    if not runs or sum(map(len, map(_FIRST, runs))) != len(body):
        return None
    # every run's properties, and texts, each in one piece (NUL cannot be in XML: it keeps them apart)
    props = b"\x00".join([p for _, p, _ in runs])
    if b"<t" in props or b"<r>" in props or b"<r " in props or (b":" in props and _PREFIXED.search(props)):
        return None  # (the rest of the string is tiled by unprefixed elements: only the properties can hold one)
    text = b"\x00".join([t for _, _, t in runs]).decode("utf-8")
    if "&" in text or "\r" in text:
        text = unescape(text)  # a line end split between two runs stays two line ends, as expat reads them
    return text.replace("\x00", "") or None


def _rich(body: bytes) -> str | None:
    """The text of an <si> with runs or phonetic guides; None when it is not of a shape read here."""
    cut = len(body)
    for marker in (b"<rPh", b"<phoneticPr"):
        k = body.find(marker)
        if 0 <= k < cut:
            cut = k
    main, guide = body[:cut], body[cut:]
    if guide and not _PHONETIC.fullmatch(guide):
        return None
    sm = _SIMPLE_T.fullmatch(main)
    if sm is not None:
        return _text(sm.group(1) or b"")
    if not main:
        return ""
    if main[:3] != b"<r>":
        return None
    texts, at = [], 0
    for run in _RUN.finditer(main):
        props = run.group(1)
        if run.start() != at or (props and (b"<t" in props or b"<r>" in props or b"<r " in props)):
            return None
        texts.append(_text(run.group(2) or b""))
        at = run.end()
    return "".join(texts) if at == len(main) else None


def _shared_strings_general(data: bytes) -> list[str]:
    part = "xl/sharedStrings.xml"
    sst, si, t, r, rpr, rph, phon = (_M + n for n in ("sst", "si", "t", "r", "rPr", "rPh", "phoneticPr"))
    strings: list[str] = []
    stack: list[str] = []
    state: dict[str, Any] = {"texts": None, "buf": None, "seen": ""}

    def bad(what: str) -> Any:
        return corrupt(part, f"中的共享字符串结构无效（{what}），不同的表格软件会显示不同的文字")

    def start(tag: str, attrs: dict[str, str]) -> None:
        parent = stack[-1] if stack else None
        if parent is None:
            if tag == STRICT_MAIN_NS + SEP + "sst":
                raise strict_format()
            if tag != sst:
                raise bad("根元素")
        elif parent == sst:
            if tag == si:
                state["texts"], state["seen"] = [], ""
            elif tag != _M + "extLst":
                raise bad(tag.rsplit(SEP, 1)[-1][:30])
        elif parent == si:
            # <t> alone, or runs; then phonetic runs, then their properties
            seen = state["seen"]
            kind = {t: "t", r: "r", rph: "p", phon: "q"}.get(tag)
            if kind is None or (kind == "t" and seen) or (kind == "r" and seen not in ("", "r")) \
                    or (kind == "p" and seen == "q") or (kind == "q" and seen == "q"):
                raise bad(tag.rsplit(SEP, 1)[-1][:30])
            state["seen"] = kind
            if tag == t:
                state["buf"] = []
        elif parent == r:
            if tag not in (rpr, t):
                raise bad(tag.rsplit(SEP, 1)[-1][:30])
            if tag == t:
                state["buf"] = []
        elif parent == rph:
            if tag != t:
                raise bad(tag.rsplit(SEP, 1)[-1][:30])
        elif parent in (t, phon):
            raise bad(tag.rsplit(SEP, 1)[-1][:30])
        elif _M + "extLst" not in stack and parent != rpr and rpr not in stack:
            raise bad(tag.rsplit(SEP, 1)[-1][:30])
        stack.append(tag)

    def end(tag: str) -> None:
        stack.pop()
        if tag == t and state["buf"] is not None:
            state["texts"].append("".join(state["buf"]))
            state["buf"] = None
        elif tag == si and len(stack) == 1:  # (a string of the part: not an <si> inside properties or an extension)
            value = "".join(state["texts"])
            strings.append(value.replace("x005F_", "") if "x005F_" in value else value)
            state["texts"] = None

    def text(data_: str) -> None:
        if state["buf"] is not None:
            state["buf"].append(data_)
        elif stack and stack[-1] in (si, r, sst) and data_.strip():
            raise bad("元素之外的文字")

    parse_xml(data, part, start, end, text)
    return strings


# -- styles -------------------------------------------------------------------------------------

def _styles_as_openpyxl_reads(data: bytes) -> None:
    """Refuse a styles part that openpyxl (the reference reader) refuses: a style attribute of the wrong
    kind (``vertical="x"``, ``pivotButton="2"``). Nothing shown depends on it, but both readers must give
    one verdict; the part is the same in every return of a template, so this runs once per batch."""
    from openpyxl.styles.stylesheet import Stylesheet
    from openpyxl.xml.functions import fromstring

    try:
        Stylesheet.from_tree(fromstring(data))  # type: ignore[arg-type]  # the stubs want their own tree type
    except Exception as exc:  # openpyxl's descriptors raise TypeError, ValueError and their kin
        raise corrupt("xl/styles.xml", f"中的样式设置无效（{type(exc).__name__}）") from exc


def _styles(data: bytes) -> Styles:
    """The cell styles: how many, which format dates or durations (as openpyxl decides), which may hide a value."""
    from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format, is_timedelta_format

    from .display import may_conceal

    custom: dict[int, str] = {}
    xf_formats: list[int] = []
    stack: list[str] = []
    numfmts, numfmt, xfs, xf = _M + "numFmts", _M + "numFmt", _M + "cellXfs", _M + "xf"

    def start(tag: str, attrs: dict[str, str]) -> None:
        parent = stack[-1] if stack else None
        if parent is None and tag == STRICT_MAIN_NS + SEP + "styleSheet":
            raise strict_format()
        if tag == numfmt and parent == numfmts and len(stack) == 2:
            try:
                custom[int(attrs.get("numFmtId", "-1"))] = attrs.get("formatCode", "")
            except ValueError:
                pass
        elif tag == xf and parent == xfs and len(stack) == 2:
            try:
                xf_formats.append(int(attrs.get("numFmtId", "0")))
            except ValueError:
                xf_formats.append(0)
        stack.append(tag)

    def end(tag: str) -> None:
        stack.pop()

    parse_xml(data, "xl/styles.xml", start, end)
    _styles_as_openpyxl_reads(data)
    dates, deltas, concealing = set(), set(), {}
    for idx, fmt_id in enumerate(xf_formats):
        fmt = custom[fmt_id] if fmt_id in custom else BUILTIN_FORMATS.get(fmt_id, "General")
        if is_date_format(fmt):
            dates.add(idx)
        if is_timedelta_format(fmt):
            deltas.add(idx)
        if may_conceal(fmt):
            concealing[idx] = fmt
    return Styles(max(len(xf_formats), 1), frozenset(dates), frozenset(deltas), concealing)


