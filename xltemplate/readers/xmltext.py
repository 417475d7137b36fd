"""What both paths of the worksheet reader share: element names, cell references, text, styles, merges.

The split path (:mod:`xltemplate.readers.sheet`) and the general path
(:mod:`xltemplate.readers.sheet_general`) must refuse the same files and read the same values: the
rules they have in common are written once here.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from ..errors import Unreadable
from .package import MAIN_NS, SEP, corrupt

MAX_EXCEL_ROW = 1_048_576
MAX_EXCEL_COL = 16_384  # XFD
MAX_MERGES = 10_000
M = MAIN_NS + SEP
WORKSHEET, SHEETDATA, ROW, CELL = M + "worksheet", M + "sheetData", M + "row", M + "c"
F, V, IS, T, RUN, RPR, RPH, PHONETIC = M + "f", M + "v", M + "is", M + "t", M + "r", M + "rPr", M + "rPh", M + "phoneticPr"
PROTECTION, MERGES, MERGE = M + "sheetProtection", M + "mergeCells", M + "mergeCell"
#: Elements whose place decides what is shown: found anywhere else, the file is refused.
PLACED = {SHEETDATA: (WORKSHEET,), ROW: (SHEETDATA,), CELL: (ROW,), PROTECTION: (WORKSHEET,),
          MERGES: (WORKSHEET,), MERGE: (MERGES,)}
TYPES = frozenset(("n", "s", "str", "inlineStr", "b", "e", "d"))
ERRORS = frozenset(("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA",
                    "#SPILL!", "#CALC!", "#FIELD!", "#BLOCKED!", "#CONNECT!", "#UNKNOWN!", "#BUSY!"))
REF = re.compile(r"([A-Z]{1,3})([1-9][0-9]{0,6})")
ROWNUM = re.compile(r"[1-9][0-9]{0,6}")
#: Past MAX_ROWS only these element names may appear (a cell's parts and inline text's); the general
#: path checks the same set, so both paths refuse the same files.
BEYOND_NAMES = frozenset(("row", "c", "f", "v", "is", "t", "r", "rPr", "rPh", "phoneticPr", "rFont", "charset", "family",
                          "b", "i", "strike", "outline", "shadow", "condense", "extend", "color", "sz", "u", "vertAlign", "scheme"))
#: A start tag's attributes, each whole (its value, in its quotes, may hold ">" or "/>": XML allows them there), then
#: white space: for the patterns of the fast reader that read a tag's content after it, which take the tag's end
#: there and nowhere else (``(?:\s[^>]*?)?`` took the first ">" for it, a value's rest for the text). Linear: a name
#: holds no white space, so each byte is taken one way.
ATTRIBUTES = rb"""(?:\s+[^\s=<>/"']+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*"""
RANGE = re.compile(r"\$?([A-Z]{1,3})\$?([1-9][0-9]{0,6})(?::\$?([A-Z]{1,3})\$?([1-9][0-9]{0,6}))?")

def col_index(letters: str | bytes) -> int:
    n = 0
    for ch in letters if isinstance(letters, str) else letters.decode("ascii"):
        n = n * 26 + (ord(ch) - 64)
    return n


def col_letters(n: int) -> str:
    out = ""
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out



#: XML's five predefined entities and its character references (``&#x`` with a small x, decimal or hex digits,
#: leading zeros allowed; a number of more than 7 digits is past U+10FFFF whatever it is, so it is not matched).
_REFERENCE = re.compile(r"&(?:(lt|gt|amp|quot|apos)|#x0*([0-9a-fA-F]{1,6})|#0*([0-9]{1,7}));")
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}


def _reference(m: re.Match[str]) -> str:
    name, hexa, decimal = m.group(1, 2, 3)
    if name is not None:
        return _ENTITIES[name]
    n = int(hexa, 16) if hexa is not None else int(decimal)
    # XML 1.0's Char, as expat holds a reference to it (also under version="1.1"): C1 controls, DEL and
    # non-characters such as U+FDD0 are characters; NUL and the other C0 controls, surrogates, U+FFFE/U+FFFF are not
    if 0x20 <= n <= 0xD7FF or n in (0x9, 0xA, 0xD) or 0xE000 <= n <= 0xFFFD or 0x10000 <= n <= 0x10FFFF:
        return chr(n)
    raise ValueError(f"reference to invalid character number {n:#x}")


def unescape(text: str) -> str:
    """XML's five entities and character references, read as XML 1.0 reads them; line ends normalised as an
    XML parser does (before the references: ``&#13;`` stays a carriage return).

    The callers hand over text an XML parser has proved well-formed, so every "&" starts one of these; should one
    not (an undefined entity, a reference to a character XML forbids, a malformed reference), the text is refused
    with ValueError, as expat refuses it. Not ``html.unescape``: HTML5 reads ``&#x80;`` as "€" (XML: U+0080) and
    drops ``&#x7f;`` and ``&#xFDD0;`` (XML: those characters), and takes entities and references XML does not."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "&" not in text:
        return text
    if "&#" not in text:  # (nearly every text with "&": "&quot;", "&lt;", "&gt;", "&amp;" by str.replace, in C)
        text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&apos;", "'")
        if "&" not in text:  # (most: "&quot;" alone; one scan, where counting both would cost two)
            return text
        if text.count("&") != text.count("&amp;"):  # (what is left of "&" must be "&amp;" every one)
            raise ValueError("an entity XML does not define")
        return text.replace("&amp;", "&")
    out, n = _REFERENCE.subn(_reference, text)
    if n != text.count("&"):
        raise ValueError("an entity XML does not define, or a malformed character reference")
    return out


def tile(pattern: re.Pattern[bytes], data: bytes, start: int, end: int) -> list[tuple[bytes, ...]] | None:
    """The matches of ``pattern`` one after another from ``start`` to ``end`` exactly (each its groups, b"" for a
    group that took no part, as ``findall`` gives them); None at the first gap.

    Not ``findall`` and a check that the lengths add up: after a gap, ``findall`` tries again at every byte, and a
    pattern that starts with ``\\s*`` then scans the rest of a run of white space from each (n bytes that no "<"
    follows: n²/2 steps, seconds for 64 kB; review 15e, F1). Here each byte is scanned once, and the first gap ends it.
    """
    out: list[tuple[bytes, ...]] = []
    match = pattern.match
    while start < end:
        m = match(data, start, end)
        if m is None or m.end() == start:
            return None
        out.append(m.groups(b""))
        start = m.end()
    return out


def tag_after(data: bytes, mark: bytes, start: int = 0, end: int | None = None) -> bool:
    """``data.find(b"<" + mark, start, end) >= 0`` for one byte ``mark`` ("!", "?"), in memchr's steps: each ``mark``
    from ``start + 1`` on, and the byte before it. CPython's search for a needle of two bytes that starts with "<"
    stops at every "<" of the markup: 34 µs over a national form sheet's cells (19 kB) and 200 µs over the largest
    (83 kB), where the part's declaration's "?>" made it run on every sheet; each memchr is under a microsecond."""
    stop = len(data) if end is None else end
    at = data.find(mark, start + 1, stop)
    tries = _TAG_TRIES
    while at >= 0:
        if data[at - 1] == 0x3C:  # "<"
            return True
        tries -= 1
        if not tries:  # (text full of marks that start no tag: the rest searched for "<" and the mark in C)
            return data.find(b"<" + mark, at, stop) >= 0
        at = data.find(mark, at + 1, stop)
    return False


#: How many marks that start no tag :func:`tag_after` looks at one by one before it searches the rest in C: a part's
#: text may hold millions (users' text: 4 MB, a third of it "!", read in 0.93-1.27 s against 0.23-0.26 s without,
#: every "!" a Python step; where a form sheet has none, the first memchr finds none).
_TAG_TRIES = 16


def text(raw: bytes) -> str:
    return raw.decode("utf-8") if b"&" not in raw and b"\r" not in raw else unescape(raw.decode("utf-8"))


def attr(m: re.Match[bytes] | None) -> str | None:
    if m is None:
        return None
    return text(m.group(1) if m.group(1) is not None else m.group(2))


class Styles:
    """What a sheet needs from styles.xml: how many cell styles, which are dates, which may hide a value."""

    def __init__(self, count: int = 1, dates: frozenset[int] = frozenset(), deltas: frozenset[int] = frozenset(),
                 concealing: dict[int, str] | None = None) -> None:
        self.count, self.dates, self.deltas = count, dates, deltas
        self.concealing = concealing or {}
        #: Everything above, as one hashable value: what a sheet's cells read here depend on.
        self.key: tuple[object, ...] = (count, dates, deltas, tuple(sorted(self.concealing.items())))




def protection_on(part: str, value: str | None) -> bool:
    """Whether a sheetProtection's ``sheet`` attribute turns protection on; not a boolean: refused
    (openpyxl takes any text but "0", "f" and "false" as on, LibreOffice does not)."""
    if value is None or value in ("0", "false"):
        return False
    if value in ("1", "true"):
        return True
    raise corrupt(part, f"中工作表保护的设置“{value[:20]}”无效")


def add_merge(sheet: Any, ref: str) -> None:
    """Record one merged range of ``sheet`` (first row, first column, last row, last column)."""
    if len(sheet.merges) >= MAX_MERGES:
        raise Unreadable("file-too-large", "merges", part=sheet.part, limit=MAX_MERGES)
    m = RANGE.fullmatch(ref)
    if m is None:
        raise corrupt(sheet.part, f"中的合并区域“{ref[:30]}”无效")
    r1, c1 = int(m.group(2)), col_index(m.group(1))
    r2, c2 = (int(m.group(4)), col_index(m.group(3))) if m.group(3) else (r1, c1)
    if max(r1, r2) > MAX_EXCEL_ROW or max(c1, c2) > MAX_EXCEL_COL:
        raise corrupt(sheet.part, f"中的合并区域“{ref[:30]}”超出工作表范围")
    sheet.merges.append((min(r1, r2), min(c1, c2), max(r1, r2), max(c1, c2)))


def from_excel(value: float | int, epoch: dt.datetime, timedelta: bool) -> tuple[Any, bool]:
    from openpyxl.utils.datetime import from_excel

    try:
        return from_excel(value, epoch, timedelta=timedelta), False
    except (OverflowError, ValueError):
        return "#VALUE!", True
