"""The strict path of the worksheet reader: the cells of a regular ``<sheetData>`` by one pattern.

Runs on a part whose head (before ``<sheetData>``) expat has read, with no DOCTYPE, no comment, CDATA or
namespace declaration among the cells (:meth:`xltemplate.readers.sheet.Sheet._parse_split` checks that
first); expat reads the rest of the part, <sheetData> included unless proved here. In two steps, both for the regular shape the generator, Excel and
LibreOffice write, and nothing else:

- **The skeleton.** The cell stream with the text of every ``<v>`` cut out (``<v>8</v>`` →
  ``<v>``), and the attributes of row tags after ``r`` (heights, spans): the structure of the
  sheet (rows, cell references, styles, types, formulas) without its values. Returns of one template share a few skeletons byte for byte, so what a skeleton
  means is worked out once and remembered, keyed by its exact bytes (a full comparison, never a
  hash or a claim of the file).
- **The slots.** What a skeleton means: for each ``<v>``, in order, the cell it belongs to and how
  its text is read (a shared string, a number, a date, a formula's result), and the cells that
  need no value (a formula without a cached result). One regular expression tiles the whole
  skeleton into row tags and cells (every byte belongs to a token: anything else, and the
  skeleton is not read here), and the placement rules of the other paths are applied to the
  tokens: rows in order, each cell in its row, columns in order, known styles and types.

Where the stream is read here, it is also proved well-formed here (:func:`proved`, switch
:data:`PROVE_CELLS`): its markup is XML by the tokens' patterns and the placement rules, and what is left
(the white space between tokens, the formulas' texts, the values, the rows' attributes) is plain ASCII
or proved by expat itself, piece by piece (a row's formulas once per row's bytes, a row's attributes once
per their bytes). Then expat does not read <sheetData> a second time.

A skeleton whose tokens do not tile it, or that holds anything this path does not read (a cell
past the bounds, a type other than a number, a shared string or a formula's text, a shared
formula, an inline string, attributes in another order), and any value it cannot read exactly
as the split path would (an empty shared string, a number that is not plain), return None: the
split path (:mod:`xltemplate.readers.sheet`) takes the sheet, and the general path behind it
decides. Both switches below are forced off by the tests, which then read every corpus again.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import sys
from itertools import chain, repeat
from operator import gt, itemgetter
from typing import Any, NamedTuple

from ..errors import Unreadable
from ..submission import MAX_COLS, MAX_ROWS, CellData
from .package import feed, parser
from .xmltext import MAX_EXCEL_ROW, TYPES, Styles, col_index, from_excel, text as _text, tile

#: The strict path for the cells of regular sheets; the tests also run with it off.
USE_STRICT = True
#: Remembering skeletons (what the strict path works out once per shape); the tests also run with it off.
USE_SKELETONS = True

_NUMBER_B = re.compile(rb"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
#: ``<v>text</v>`` with no markup inside: the values cut out of the stream.
_VALUE = re.compile(rb"<v>([^<]*)</v>")
#: A row's start tag, its attributes after r cut out (heights and spans differ from return to return, and
#: no reader reads them); an attribute holding "/" keeps them all. Should a ">" inside an attribute's
#: value end the match, the rest of the tag stays in the skeleton, where no token can read it.
_ROW_ATTRS = re.compile(rb'(<row r="[1-9][0-9]{0,6}")([^<>/]*)(/?>)')  # (group 2: what is cut out)
#: One token of a skeleton: a row's start (r first), a row's end, or a cell (r, then s, then t) that is
#: empty or holds a formula and/or the place of a value. Group 1 is the whole token, for the tiling check.
_TOKEN = re.compile(
    rb'(\s*<(?:row r="([1-9][0-9]{0,6})"([^<>]*)>|/row>'
    rb'|c r="([A-Z]{1,3}[1-9][0-9]{0,6})"(?: s="([0-9]{1,6})")?(?: t="([a-zA-Z]{1,9})")?'
    rb'(?:/>|>(?:(<f(?: aca="false")?>)([^<]*)</f>)?(<v>)?</c>)))')
_REF = re.compile(rb"([A-Z]{1,3})([1-9][0-9]{0,7})")

# How a slot's text is read (the cell's type, whether it has a formula, whether its style is a date's);
# _FIXED: a formula without a cached result, whose data the skeleton fixes (it takes no value)
_SHARED, _NUMBER, _DATE, _STR, _F_NUMBER, _F_DATE, _F_STR, _FIXED = range(8)


def plain_number(raw: bytes) -> int | float | None:
    """A cached number as written by every program; None for anything the slow path must judge."""
    if raw.replace(b".", b"", 1).isdigit():  # (ASCII digits and at most one ".": most numbers, without the pattern)
        if b"." not in raw:
            return int(raw) if len(raw) < 300 else None
    elif not _NUMBER_B.fullmatch(raw):
        return None
    elif b"." not in raw and b"e" not in raw and b"E" not in raw:
        return int(raw) if len(raw) < 300 else None
    number = float(raw)
    return number if math.isfinite(number) else None


class Slot(NamedTuple):
    """One cell of a skeleton that holds something: where, how its ``<v>`` text is read, its formula."""

    a1: str
    kind: int
    style: int
    formula: str | None
    conceal: bool  # the cell's style may hide its value (see readers.display)
    delta: bool  # a date style that shows a duration


class Skeleton(NamedTuple):
    """What a skeleton means: its slots in the sheet's order, and how many of them take a ``<v>``'s text; and
    whether its markup is proved well-formed XML by this module (see :func:`proved`)."""

    slots: tuple[Slot, ...]
    values: int
    plain: bool = False
    last: int = 0  # the number of its last row (0: none)


_SKELETONS: dict[tuple[Any, tuple[object, ...]], Skeleton | None] = {}  # (keyed by bytes, or by parts)
_SKELETON_COUNT = 64
_SKELETON_BYTES = 8 * 1024 * 1024
_skeleton_bytes = [0]


def cells(stream: bytes, strings: list[str], styles: Styles, epoch: dt.datetime,
          root: bytes = b"") -> tuple[dict[str, CellData], dict[str, int], bool] | None:
    """The cells of a ``<sheetData>``'s content (A1 → data, in the sheet's order), those whose style may
    conceal their value (A1 → style), and whether the stream is also proved well-formed XML inside ``root``,
    the worksheet's start tag as the part has it (:func:`proved`; False without a root), so that no XML
    parser need read it again; None when the stream is not of the shape read here."""
    pieces = _VALUE.split(stream)  # [text, value, text, value, …, text], in C
    values = pieces[1::2]
    parts = _ROW_ATTRS.split(b"<v>".join(pieces[0::2]))  # [text, row start, its attributes, its end, text, …]
    attrs = parts[2::4]
    del parts[2::4]
    if ROWS_BY_PARTS and USE_ROWS and USE_SKELETONS:
        meaning = _skeleton_of_parts(parts, styles)
    else:
        meaning = _skeleton(b"".join(parts), styles)
    if meaning is None or meaning.values != len(values):
        return None
    out: dict[str, CellData] = {}
    styled: dict[str, int] = {}
    n_strings = len(strings)
    make = tuple.__new__  # CellData without its Python-level constructor: some 150 a sheet
    # (bounded: a list past the bounds would be compared whole at every sheet, sheets × strings, and held after
    # its workbook; such a workbook's cells are made slot by slot, as with the switch off)
    of_string = _string_cells(strings) if STRING_CELLS and n_strings <= _STRING_CELLS_COUNT else None
    texts = iter(values)
    for a1, kind, style, formula, conceal, delta in meaning.slots:
        if kind == _SHARED:
            raw = next(texts)
            if not raw.isdigit() or len(raw) > 9:
                return None
            index = int(raw)
            if index >= n_strings or not strings[index]:
                return None  # no such string, or an empty one: the split path decides
            cell = of_string[index] if of_string is not None else make(CellData, (strings[index], None, False))
        elif kind == _NUMBER or kind == _F_NUMBER:
            raw = next(texts)
            if not raw and kind == _F_NUMBER:
                cell = make(CellData, (None, formula, False))
            else:
                # (plain_number's own first test in line: digits, or digits with one "." (then a float, finite in
                # under 300 characters); anything else is plain_number's to read)
                number: int | float | None
                if raw.isdigit():
                    number = int(raw) if len(raw) < 300 else None
                elif len(raw) < 300 and raw.replace(b".", b"", 1).isdigit():
                    number = float(raw)
                else:
                    number = plain_number(raw)
                if number is None:
                    return None
                cell = make(CellData, (number, formula, False))
        elif kind == _F_STR:
            raw = next(texts)
            cell = make(CellData, (_text(raw) or None if raw else None, formula, False))  # (no text: none, in line)
        elif kind == _FIXED:
            cell = make(CellData, (None, formula, False))
        elif kind == _STR:
            value = _text(next(texts))
            if not value:
                continue  # text typed as such, but none: an empty cell, as on every path
            cell = make(CellData, (value, None, False))
        else:  # a date style: the number converted as openpyxl converts it
            raw = next(texts)
            if not raw and kind == _F_DATE:
                cell = make(CellData, (None, formula, False))
            else:
                number = plain_number(raw)
                if number is None:
                    return None
                value, error = from_excel(number, epoch, delta)
                cell = make(CellData, (value, formula, error))
        out[a1] = cell
        if conceal:
            styled[a1] = style
    return out, styled, bool(PROVE_CELLS and root and meaning.plain and proved(values, attrs, root))


#: A shared string's cell (its text, no formula, no error) made once a workbook for every string, in C, and taken by
#: its index (:func:`_string_cells`), where the slot loop made one for each slot in Python: a workbook's sheets read
#: one list of strings, each string some one cell (~230 a large national return; bench/ab_switch.py on/off, CPU, load
#: ~8: national 0.982, the files' own ratios 0.952; first form 0.999). The tests also run with it off.
STRING_CELLS = True
#: The last workbook's strings (a copy) and their cells: one workbook's at a time, what its sheets share.
_STRING_CELLS: dict[str, Any] = {}


def _string_cells(strings: list[str]) -> list[CellData] | None:
    """``CellData(text, None, False)`` of every string of ``strings``, in order: made once for a list of strings equal
    to the one asked before (a full comparison with a copy of it, string by string; the very list of one workbook
    compares by its items' identity), else anew (:data:`STRING_CELLS`); None past :data:`_STRING_CELLS_CHARS`. The
    cells are immutable, so that two slots of one string, or two sheets, may hold one."""
    known = _STRING_CELLS.get("strings")
    if known is not None and known == strings:
        return _STRING_CELLS["cells"]
    too_long = (id(strings), len(strings), id(strings[0]) if strings else 0, id(strings[-1]) if strings else 0)
    if _STRING_CELLS.get("too long") == too_long or sum(map(len, strings)) > _STRING_CELLS_CHARS:
        # (not held after the file: made slot by slot, as off; the ids of the list and of its first and last strings
        # and its length kept, not the list, so that the workbook's next sheets do not add its characters up again:
        # 3,000 strings of 4,000 characters, 118 µs a sheet against 2 µs, where a sheet reads in ~200 µs. Another
        # list that took all those ids with the same length would be read slot by slot too, which reads the same)
        _STRING_CELLS.clear()
        _STRING_CELLS["too long"] = too_long
        return None
    cells: list[CellData] = list(map(tuple.__new__, repeat(CellData), zip(strings, repeat(None), repeat(False))))
    _STRING_CELLS.clear()
    _STRING_CELLS.update(strings=strings[:], cells=cells)
    return cells


#: The bounds of :data:`STRING_CELLS`: a workbook of more strings has its cells made slot by slot (compared at every
#: sheet, a list of 1,000,000 strings cost a 3,000-sheet workbook of 6 MB 6.3 s of CPU against 1.9 s off, and the
#: memo held its million cells and strings past the file); nor a workbook of more characters (the memo would hold
#: them after the file: up to 4,096 strings of up to 64 MB together). Honest national returns: at most 155 strings of
#: 5,683 characters (400 of /tmp/corpus/h/national).
_STRING_CELLS_COUNT = 4096
_STRING_CELLS_CHARS = 1024 * 1024


def _skeleton(skeleton: bytes, styles: Styles) -> Skeleton | None:
    """What a skeleton means, worked out once per (skeleton, styles) and remembered by their exact bytes."""
    key = (skeleton, styles.key)
    if USE_SKELETONS and key in _SKELETONS:
        known = _SKELETONS.pop(key)
        _SKELETONS[key] = known  # the most recently used is the last to go
        return known
    meaning = _by_rows(skeleton, styles) if USE_ROWS else _work_out(skeleton, styles)
    if USE_SKELETONS:
        _remember_skeleton(key, len(skeleton), meaning)
    return meaning


def _remember_skeleton(key: tuple[Any, tuple[object, ...]], size: int, meaning: Skeleton | None) -> None:
    """Put a skeleton's meaning in :data:`_SKELETONS`, keyed by its bytes or its parts (:func:`_skeleton_of_parts`) of
    ``size`` bytes in all; bounded in count and bytes, the least recently used going first."""
    if size > _SKELETON_BYTES // 8:
        return
    while _SKELETONS and (len(_SKELETONS) >= _SKELETON_COUNT or _skeleton_bytes[0] + size > _SKELETON_BYTES):
        old = next(iter(_SKELETONS))
        del _SKELETONS[old]
        _skeleton_bytes[0] -= _bytes_of(old[0])
    _SKELETONS[key] = meaning
    _skeleton_bytes[0] += size


def _bytes_of(key: bytes | tuple[bytes, ...]) -> int:
    """What a skeleton's key holds: its bytes, or its parts' with each part's own object and its place in the tuple
    (:data:`_PART_COST`: a sheet of short rows has three parts a row of some 14 bytes together)."""
    return len(key) if isinstance(key, bytes) else sum(map(len, key)) + _PART_COST * len(key)


#: A part's cost beside its bytes where a skeleton is remembered by its parts: a bytes object's header (33 bytes)
#: and its pointer in the tuple. Counted only as the bytes, the memo's 8 MB held ~57 MB (tracemalloc, skeletons of
#: 65,000 short rows).
_PART_COST = sys.getsizeof(b"") + 8


#: Put a new skeleton together from its parts as :data:`_ROW_ATTRS` cut them (:func:`_skeleton_of_parts`): its rows
#: known by their parts, in C (a map over the rows, their slots chained), with no second cut at every "<row " and
#: no second hash of the skeleton's bytes (a tuple's parts keep their hashes). A national form sheet's skeleton is of
#: its project's own shape, seen once, its rows seen before. The tests also run with it off.
ROWS_BY_PARTS = True
_MISSING = object()
_FIRST, _LAST, _SLOTS, _TAKING, _PLAIN = itemgetter(0), itemgetter(4), itemgetter(1), itemgetter(2), itemgetter(3)


def _skeleton_of_parts(parts: list[bytes], styles: Styles) -> Skeleton | None:
    """:func:`_skeleton`'s meaning of ``b"".join(parts)``, where ``parts`` is a skeleton cut by :data:`_ROW_ATTRS`
    (its rows' attributes left out): [text, a row's start, its end, text, a row's start, …]. Remembered by its parts
    (a full comparison of each; equal parts make equal skeletons).

    Each row is its start, its end and the text after it up to the next start that :data:`_ROW_ATTRS` took (its
    cells, its end tag, white space; a row tag the pattern did not take, with its cells, in the same text), the piece
    :func:`_by_rows` cuts before the next "<row ", or more than one such piece, worked out together by
    :func:`_one_row` (which holds them to :func:`_work_out`'s rules and gives the first row's number and the last's):
    so the rows of consecutive pieces must come in increasing order. Text before the first row, other than white
    space: as :func:`_by_rows` reads it."""
    key = (tuple(parts), styles.key)
    known: Any = _SKELETONS.pop(key, _MISSING)
    if known is not _MISSING:
        _SKELETONS[key] = known  # the most recently used is the last to go
        return known
    if parts[0].strip():
        meaning = _by_rows(b"".join(parts), styles)
    else:
        meaning = _rows_of_parts(parts, styles)
    _remember_skeleton(key, _bytes_of(key[0]), meaning)
    return meaning


def _rows_of_parts(parts: list[bytes], styles: Styles) -> Skeleton | None:
    keys = list(zip(parts[1::3], parts[2::3], parts[3::3], repeat(styles.key)))
    rows: list[Any] = list(map(_ROWS.get, keys, repeat(_MISSING)))
    if _MISSING in rows:
        last = 0
        for k, key in enumerate(keys):
            row = rows[k]
            if row is _MISSING:
                # (asked again: the same row earlier in this skeleton was remembered just now, and is counted once)
                row = _ROWS.get(key, _MISSING)
                if row is _MISSING:
                    row = _one_row(key[0][5:] + key[1] + key[2], styles)
                    _remember_row(key, len(key[0]) + len(key[1]) + len(key[2]), row)
                rows[k] = row
            if row is None or row[0] <= last:
                return None  # (given up at the first row refused or out of order, as _by_rows gives up)
            last = row[4]
    if None in rows or not all(map(gt, map(_FIRST, rows[1:]), map(_LAST, rows))):
        return None
    return Skeleton(tuple(chain.from_iterable(map(_SLOTS, rows))), sum(map(_TAKING, rows)),
                    not _NOT_XML_SPACE.search(parts[0]) and all(map(_PLAIN, rows)), rows[-1][4] if rows else 0)


#: Work a skeleton out row by row, each row's meaning remembered by its exact bytes: a national return's sheet is
#: of its project's own shape (its skeleton is seen once), but its rows are those of other projects, row for
#: row (the header, the funding block, an indicator of one rule at one row). The tests also run with it off.
USE_ROWS = True
#: (A row's meaning: its number, its slots, the values they take, whether its markup is proved, its last row's number.)
_ROWS: dict[tuple[Any, ...], tuple[int, tuple[Slot, ...], int, bool, int] | None] = {}
_ROW_COUNT = 8192
_ROW_LONGEST = 16 * 1024
_ROW_BYTES = 8 * 1024 * 1024  # all remembered rows' bytes together: a worker's memory stays bounded
_row_bytes = [0]
_ROW_START = b"<row "


def _by_rows(skeleton: bytes, styles: Styles) -> Skeleton | None:
    """:func:`_work_out`'s meaning, put together from the meanings of its rows.

    Every token of a skeleton starts with "<" and none holds a "<row " but a row's own start, so the skeleton
    cut before each "<row " is cut between tokens: each piece is one row's start and what follows it (its
    cells, its end, the white space before the next), worked out alone by :func:`_work_out` (which holds it
    to the same rules); the rows must then come in increasing order, as :func:`_work_out` requires of them
    over the whole. Before the first row there may be white space only (a cell there is in no row).
    """
    pieces = skeleton.split(_ROW_START)
    if pieces[0].strip():
        return None
    plain = not _NOT_XML_SPACE.search(pieces[0])
    slots: list[Slot] = []
    taking = last = 0
    key_styles = styles.key
    for piece in pieces[1:]:
        key = (piece, key_styles)
        if key in _ROWS:
            row = _ROWS[key]
        else:
            row = _one_row(piece, styles)
            _remember_row(key, len(piece), row)
        if row is None or row[0] <= last:
            return None
        last = row[0]
        slots.extend(row[1])
        taking += row[2]
        plain = plain and row[3]
    return Skeleton(tuple(slots), taking, plain, last)


def _remember_row(key: tuple[Any, ...], size: int, row: tuple[int, tuple[Slot, ...], int, bool, int] | None) -> None:
    """Put a row's meaning in :data:`_ROWS` (its key's bytes ``size``), bounded in count and bytes, the oldest first."""
    if size > _ROW_LONGEST:
        return
    while _ROWS and (len(_ROWS) >= _ROW_COUNT or _row_bytes[0] + size > _ROW_BYTES):
        old = next(iter(_ROWS))  # the oldest first
        del _ROWS[old]
        _row_bytes[0] -= sum(map(len, old[:-1]))
    _ROWS[key] = row
    _row_bytes[0] += size


def _one_row(piece: bytes, styles: Styles) -> tuple[int, tuple[Slot, ...], int, bool, int] | None:
    """One row's number, slots, values taken, whether its markup is proved, and its last row's number (a piece may
    hold more than one row: see :func:`_skeleton_of_parts`) (its piece after "<row "), or None."""
    meaning = _work_out(_ROW_START + piece, styles)
    if meaning is None:
        return None
    m = _ROW_NUMBER.match(piece)  # (the piece read as a row: it starts with its r="n")
    assert m is not None
    return int(m.group(1)), meaning.slots, meaning.values, meaning.plain, meaning.last


_ROW_NUMBER = re.compile(rb'r="([1-9][0-9]{0,6})"')


def _work_out(skeleton: bytes, styles: Styles) -> Skeleton | None:
    """Tile a skeleton into tokens and apply the placement rules; its slots, or None."""
    tokens = tile(_TOKEN, skeleton, 0, len(skeleton.rstrip()))
    if tokens is None:
        return None  # something between or inside the tokens that this path does not read
    slots: list[Slot] = []
    taking = 0
    row = last_row = last_col = 0
    dates, deltas, conceal, n_styles = styles.dates, styles.deltas, styles.concealing, styles.count
    # The markup proved here (see proved()): white space XML's own, row tags whose attributes were cut out
    # (those are proved apart), formulas' texts that are plain or that expat reads as character data
    plain = not _NOT_XML_SPACE.search(skeleton)
    texts: list[bytes] = []
    for _, row_r, row_rest, ref, s, t, f_tag, f_text, v in tokens:
        if row_r:  # <row r="n" …> or <row r="n" …/>
            if row_rest and row_rest != b"/":
                plain = False
            if row:
                return None
            number = int(row_r)
            if number <= last_row or number > MAX_ROWS or number > MAX_EXCEL_ROW:
                return None
            last_row, last_col = number, 0
            row = 0 if row_rest.endswith(b"/") else number
        elif not ref:  # </row>
            if not row:
                return None
            row = 0
        else:
            m = _REF.fullmatch(ref)
            if not row or m is None or int(m.group(2)) != row:
                return None
            col = col_index(m.group(1))
            if col <= last_col or col > MAX_COLS:
                return None
            last_col = col
            style = int(s) if s else 0
            kind_t = t.decode("ascii") if t else "n"
            if style >= n_styles or kind_t not in TYPES:
                return None
            formula = "=" + _text(f_text) if f_tag else None
            if f_text and plain and not _PLAIN_TEXT.fullmatch(f_text):
                texts.append(f_text)
            if kind_t not in ("n", "s", "str") or (formula is not None and kind_t == "s"):
                return None  # a boolean, an error, an inline string, a date as text: the split path reads them
            if not v:
                if formula is None:
                    continue  # an empty cell: nothing to read
                kind = _FIXED  # a formula without a cached result: its data is fixed by the skeleton
            elif kind_t == "s":
                kind = _SHARED
            elif kind_t == "n":
                kind = (_F_DATE if style in dates else _F_NUMBER) if formula else (_DATE if style in dates else _NUMBER)
            else:
                kind = _F_STR if formula else _STR
            taking += kind != _FIXED
            slots.append(Slot(ref.decode("ascii"), kind, style, formula, style in conceal, style in deltas))
    if row:
        return None
    return Skeleton(tuple(slots), taking, plain and (not texts or character_data(texts)), last_row)


# -- proving a stream well-formed without a second parse ---------------------------------------------------

#: Skip expat's pass over <sheetData> where this path read the cells and proved the stream well-formed XML
#: itself (:func:`proved`): the rest of the part is still parsed; the tests also run with it off.
PROVE_CELLS = True
#: Bytes that ``\s`` matches in a pattern but XML does not take as white space (nor as a character at all).
_NOT_XML_SPACE = re.compile(rb"[\x0b\x0c]")
#: Text that is character data as it is: printable ASCII and XML's white space, without "&" (no reference to
#: check), "]" (no "]]>") or "<". Anything else is proved by expat.
_PLAIN_TEXT = re.compile(rb"[\x09\x0a\x0d\x20-\x25\x27-\x3b\x3d-\x5c\x5e-\x7e]*")
#: Row attributes proved well-formed after a worksheet's root tag, by their exact bytes (both); short ones only,
#: so that what a worker remembers stays bounded (4,096 × 1 KB), whatever the files hold.
_ROW_ATTRS_PROVED: dict[tuple[bytes, bytes], bool] = {}
_ROW_ATTRS_COUNT = 4096
_ROW_ATTRS_LONGEST = 1024


def proved(values: list[bytes], attrs: list[bytes], root: bytes) -> bool:
    """Whether a stream whose skeleton's markup is proved (:attr:`Skeleton.plain`) is well-formed XML: its values
    character data, and its rows' attributes (what :data:`_ROW_ATTRS` cut out) well-formed in a row tag after
    the worksheet's ``root`` tag (its namespace declarations).

    A stream is the skeleton's tokens with each ``<v>`` given its value back (``<v>text</v>``, ``text`` without
    "<") and each row tag its attributes back. The tokens are XML by their patterns (names, the attributes
    of a cell, ``<f>``, ``</c>``, ``</row>`` fixed), balanced by the placement rules (every row closed, each
    cell in one); the white space between them, the formulas' texts, the values and the rows' attributes are
    what is left, each proved here or in the skeleton by expat itself (what is not plain ASCII). The caller
    also makes sure the part is UTF-8 and holds no namespace declaration, comment or CDATA among its cells.
    """
    if not root.endswith(b">") or root.endswith(b"/>"):
        return False
    joined = b"".join(values)
    if not _PLAIN_TEXT.fullmatch(joined) and not (PLAIN_UNICODE and plain_unicode(values)) \
            and not character_data([v for v in values if not _PLAIN_TEXT.fullmatch(v)]):
        return False
    new = {a for a in attrs if (root, a) not in _ROW_ATTRS_PROVED}
    if not new:
        return True
    try:
        feed(parser(), root + b"".join(b'<row r="1"' + a + b"/>" for a in sorted(new)) + b"</worksheet>", "")
    except Unreadable:
        return False
    for a in new:
        if len(root) + len(a) > _ROW_ATTRS_LONGEST:
            continue
        if len(_ROW_ATTRS_PROVED) >= _ROW_ATTRS_COUNT:
            del _ROW_ATTRS_PROVED[next(iter(_ROW_ATTRS_PROVED))]
        _ROW_ATTRS_PROVED[(root, a)] = True
    return True


#: Prove values that are not plain ASCII (a national return's 优/良 and its typed texts) by a few passes in C over
#: them (:func:`plain_unicode`), where each value would otherwise be matched alone and the others handed to expat.
PLAIN_UNICODE = True
#: Bytes that are not character data as they are, or that are left to expat: control characters but TAB, LF and
#: CR, DEL, "&" (a reference) and "<"; the lead byte of U+0080-U+00BF (the C1 controls among them) and those of the
#: characters beyond the BMP and of no character (0xF0-0xFF). (Nor is "]]>", checked apart.)
_NOT_PLAIN = bytes(range(0x09)) + b"\x0b\x0c" + bytes(range(0x0e, 0x20)) + b"&<\x7f\xc2" + bytes(range(0xf0, 0x100))


_WHITE_REFERENCES = (b"&#10;", b"&#13;", b"&#9;", b"&#xA;", b"&#xD;", b"&#x9;", b"&#xa;", b"&#xd;")


def plain_unicode(texts: list[bytes]) -> bool:
    """Whether each text is character data that expat accepts, proved without it (False says nothing: expat decides).

    The texts are joined by a TAB, an ASCII byte that no UTF-8 sequence can span (nor can it make "]]>" of two
    texts), so that the whole decodes exactly when each does; each of XML's five predefined entities, and each
    reference to TAB, LF or CR, becomes a TAB too (any other "&" is left to expat). Each check is a pass in C: none
    of the bytes of :data:`_NOT_PLAIN`, no "]]>", strict UTF-8 (no surrogate, no overlong form), and neither U+FFFE
    nor U+FFFF.
    What is left is XML 1.0's Char (TAB, LF, CR, U+0020-U+D7FF, U+E000-U+FFFD), narrowed."""
    joined = b"\t".join(texts)
    if b"&" in joined:  # XML's five entities (a footer's "&amp;P"), each a TAB here: no other byte joins across one
        joined = joined.replace(b"&amp;", b"\t").replace(b"&lt;", b"\t").replace(b"&gt;", b"\t").replace(
            b"&quot;", b"\t").replace(b"&apos;", b"\t")
        if b"&#" in joined:  # and references to TAB, LF and CR (LibreOffice writes a line break as "&#10;")
            for reference in _WHITE_REFERENCES:
                joined = joined.replace(reference, b"\t")
    if len(joined.translate(None, _NOT_PLAIN)) != len(joined) or (b"]" in joined and b"]]>" in joined):
        return False
    if joined.isascii():
        return True
    try:
        text = joined.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return "\ufffe" not in text and "\uffff" not in text


def character_data(texts: list[bytes]) -> bool:
    """Whether each text is well-formed character data (characters XML allows, known entities), proved by expat."""
    try:
        feed(parser(), b"<x><y>" + b"</y><y>".join(texts) + b"</y></x>", "")
    except Unreadable:
        return False
    return True
