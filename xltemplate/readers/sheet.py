"""One worksheet for the fast reader: its cells, protection and merged ranges, exactly as Excel shows them.

The sheet is proved well-formed by expat (in C, no DOCTYPE, no entities) in one
pass over the whole part (but for a ``<sheetData>`` that the strict path reads and proves
well-formed itself: :func:`xltemplate.readers.sheet_strict.proved`); Python handlers see only
what lies outside ``<sheetData>`` (protection, merged ranges, anything misplaced). The cells are
then picked out of ``<sheetData>`` by splitting on ``<c `` — the *split path* (this module),
for the regular shape every spreadsheet program writes. Anything irregular
sends the sheet to the *general path*
(:mod:`xltemplate.readers.sheet_general`): an expat pass with handlers on every
element that resolves namespaces and applies the rules below, and is the one
that decides whether a file is refused.

What a spreadsheet program would show differently, or not at all, is refused
(``file-corrupt``): a cell reference Excel never writes (``$E$15``, ``e15``,
``E015``), a cell twice, cells or rows out of order, a cell outside its row, a
row or column beyond Excel's last, anything but cells in a row or but
``<f>``, ``<v>``, ``<is>`` (in that order) in a cell, text between elements, a
value that is not of its cell's type (``0_8``, ``٨`` and ``1e999`` are not
numbers, ``-1`` is no shared string), a second ``<sheetData>``, and a row, cell,
protection or merge element anywhere else than its place. Past
:data:`~xltemplate.submission.MAX_ROWS` nothing is read: only the names of the
elements and the row numbers are checked there, so a sheet padded with 100,000
rows costs little more than the form.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from itertools import repeat
from operator import methodcaller
from typing import Any, Callable

from ..errors import Unreadable
from ..submission import MAX_COLS, MAX_ROWS, CellData
from .display import FORMAT, MERGED, conceals, merged_cover
from .package import MAIN_NS, corrupt, feed, parser
from . import sheet_strict as strict
from .sheet_general import Structure
from .sheet_strict import plain_number
from .xmltext import (
    ATTRIBUTES, BEYOND_NAMES, ERRORS, MAX_EXCEL_COL, MAX_EXCEL_ROW, TYPES, WORKSHEET, Styles, add_merge, attr as _attr, col_index,
    col_letters, from_excel, protection_on, tag_after, text as _text,
)

__all__ = ["Sheet", "Styles", "USE_SPLIT", "col_index", "col_letters"]

#: The split path for regular sheets; the tests also run with it off (every sheet on the general path).
USE_SPLIT = True
#: Remembering the part of a sheet after its cells (see :func:`_tail_shape`); the tests also run with it off.
REMEMBER_TAILS = True


_REF = re.compile(rb"([A-Z]{1,3})([1-9][0-9]{0,6})")
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


def _named(name: bytes) -> re.Pattern[bytes]:
    """An attribute's value (its groups: in double quotes, in single quotes) in a tag's attributes, found only where an
    attribute starts: those before it are taken whole, in order. A search for `` t="…"`` anywhere found one written
    inside another attribute's value (``xml:lang=' t="s" '``), which no program reads as the cell's type. Linear: a
    name holds no white space, "=" or quote, so each attribute is taken one way."""
    return re.compile(rb"""^(?:\s*[^\s="']+\s*=\s*(?:"[^"]*"|'[^']*'))*?\s*""" + name
                      + rb"""\s*=\s*(?:"([^"]*)"|'([^']*)')""")


_R_ATTR, _T_ATTR, _S_ATTR = _named(rb"r"), _named(rb"t"), _named(rb"s")
_ATTR = re.compile(rb"""([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_BODY = re.compile(  # (a ">" in an attribute's value: see ATTRIBUTES)
    rb"\s*(?:<f(" + ATTRIBUTES + rb")(?:/>|>([^<]*)</f>))?"
    rb"\s*(?:<v" + ATTRIBUTES + rb"(?:/>|>([^<]*)</v>))?"
    rb"\s*(?:<is" + ATTRIBUTES + rb">(.*?)</is>)?\s*", re.S)
_IS_SIMPLE = re.compile(rb"\s*<t" + ATTRIBUTES + rb"(?:/>|>([^<]*)</t>)\s*")
_ROW_TAG = re.compile(rb"\s*(?:(</row>)|<row((?:\s[^>]*?)?)(/?)>)")
_PREFIXED = re.compile(rb"</?[A-Za-z_][\w.-]*:")
_REST_NAMES = re.compile(rb"<(?!/?(?:" + b"|".join(n.encode() for n in sorted(BEYOND_NAMES)) + rb")[\s/>])")
_R_ANY = re.compile(rb"""\sr\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_ROW_OR_REF = re.compile(rb"([A-Z]{1,3})?([1-9][0-9]{0,6})")

#: (A prefix taken whole, possessively: ":" is no name character, so no match gives any of it back; where the prefix
#: was optional before each name, the names were tried twice at every "<", at 7-20 µs over a form sheet's tail.)
#: A name holding a byte past ASCII (a prefix such as 中:, which a document may bind to the main namespace; no writer
#: of OOXML names an element so) is odd too: ``\w`` of a bytes pattern is ASCII, so such a prefixed protection or merge
#: list was neither read nor refused here (the general path reads it; tailrev's review, tests/test_tail_review.py),
#: and :data:`_TAG` would not count such an element's depth.
_TAIL_ODD = re.compile(rb"<(?:[!?]|(?:row|c|sheetData)[\s/>]|[\w.-]++:(?:row|c|sheetData|sheetProtection|mergeCells?)[\s/>]"
                       rb"|/?[\w.:-]*+[\x80-\xff])")
_TAIL_PROTECTION = re.compile(rb"""<sheetProtection((?:\s+[\w.:-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*/?>""")
_SHEET_ATTR = _named(rb"sheet")
#: (The list up to the first </mergeCells>, as a lazy ".*?" took it, but a run of bytes without "<" at a time: that
#: tried "</mergeCells>" at every byte, 16 µs over a national form's list.)
_TAIL_MERGES = re.compile(rb"<mergeCells\b[^>]*?(?:/>|>((?:[^<]++|<(?!/mergeCells>))*+)</mergeCells>)")
_MERGE_LIST = re.compile(rb"(?:\s*<mergeCell ref=\"[^\"]*\"\s*/>)*\s*")
_MERGE_REF = re.compile(rb'<mergeCell ref="([^"]*)"')
_TAG = re.compile(rb"""<(/?)[A-Za-z_][\w.:-]*(?:\s+[\w.:-]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*(/?)>""")

_COLS: dict[bytes, int] = {}
_REFS: dict[bytes, tuple[int, int]] = {}
_TRAILERS: dict[bytes, tuple[tuple[int, int], ...] | None] = {}
#: What :data:`_TRAILERS` may hold (it keeps what it took, and takes no more when full): 20,000 texts, none of over
#: 1 kB (a row's end and the next row's start: some 60 to 200 bytes), 8 MiB together, so that a worker's memory stays
#: bounded whatever the files hold (rows with 150 kB attributes each left 9.6 MB a return, kept for good).
_TRAILER_COUNT, _TRAILER_LONGEST, _TRAILER_BYTES = 20_000, 1024, 8 * 1024 * 1024
_trailer_bytes = [0]
_TAILS: dict[tuple[bytes, bytes], tuple[int, bool, tuple[tuple[int, int, int, int], ...]]] = {}
#: What :data:`_TAILS` may hold, so that a long-lived worker's memory stays bounded whatever the files hold (its
#: address-space limit is set once): 64 tails, none of over 256 kB (the samples' longest: 47 kB), 8 MiB together,
#: each counted as its root tag's and shape's bytes and 128 bytes a merged range (a tuple of four ints).
_TAIL_COUNT, _TAIL_LONGEST, _TAIL_BYTES = 64, 256 * 1024, 8 * 1024 * 1024
_tail_bytes = [0]


#: Remembering a sheet's head (its bytes before <sheetData>: the declaration, the root tag, the views, the columns),
#: which returns of one template share byte for byte; the tests also run with it off. A head is remembered (its
#: exact bytes, never a hash or a claim of the file) once expat has read it with the handlers of the split path
#: (the placement rules: the root a worksheet in the main namespace by default, nothing read into the sheet) and
#: then the part's <sheetData> after it, without a fault: it then ends between two tokens of the root's content,
#: and, the part being UTF-8 (its declaration is in the head), what follows it is well-formed exactly when it is
#: after the root tag alone, which is how the cells (sheet_strict.proved) and tails (:data:`_TAILS`) are proved.
#: A known head is not read by the handlers again, and not by expat at all where the cells are proved and the
#: tail known (the other sheets of a national return: the whole part is then proved with no parser).
REMEMBER_HEADS = True
_HEADS: dict[bytes, bytes] = {}
#: What :data:`_HEADS` may hold: 64 heads of at most 16 kB (a national form's: 2.5 kB), 1 MiB together.
_HEAD_COUNT, _HEAD_LONGEST, _HEAD_BYTES = 64, 16 * 1024, 1024 * 1024
_head_bytes = [0]


def _bounded_put(table: dict[Any, Any], held: list[int], key: Any, value: Any, size: Callable[[Any, Any], int],
                 count: int, longest: int, most: int) -> None:
    """Put ``key`` in one of this module's memos of outside bytes, bounded in count and bytes: ``held[0]`` is what
    ``table`` holds by ``size(key, value)``, which must be at most ``longest`` for the key to be kept; the oldest (the
    least recently used, where a hit moves its key last) go first. A key already held is counted once."""
    this = size(key, value)
    if this > longest:
        return
    if not table:
        held[0] = 0  # (emptied from outside: it holds nothing)
    elif key in table:
        held[0] -= size(key, table.pop(key))
    while table and (len(table) >= count or held[0] + this > most):
        old = next(iter(table))
        held[0] -= size(old, table.pop(old))
    table[key] = value
    held[0] += this


def _remember_head(head: bytes, root: bytes) -> None:
    _bounded_put(_HEADS, _head_bytes, head, root, lambda k, v: len(k) + len(v), _HEAD_COUNT, _HEAD_LONGEST, _HEAD_BYTES)


#: Remember the merged ranges a tail's <mergeCells> reads as, by its exact bytes (a form sheet's merges are its shape's,
#: its tail its project's own): read once, each range checked and placed as :func:`add_merge` does, never again; the
#: tests also run with it off. Bounded: 128 lists of <= 64 kB (some 2,000 ranges), 2 MiB together (counted as their
#: bytes and 128 bytes a range).
REMEMBER_MERGES = True
_MERGES_READ: dict[bytes, tuple[tuple[int, int, int, int], ...]] = {}
_MERGES_COUNT, _MERGES_LONGEST, _MERGES_BYTES = 128, 64 * 1024, 2 * 1024 * 1024
_merges_bytes = [0]


def _remember_merges(body: bytes, merges: tuple[tuple[int, int, int, int], ...]) -> None:
    _bounded_put(_MERGES_READ, _merges_bytes, body, merges, lambda k, v: len(k) + 128 * len(v),
                 _MERGES_COUNT, _MERGES_LONGEST, _MERGES_BYTES)


#: Prove a tail not remembered whole by its pieces (:func:`_tail_proved`): a form sheet's tail is its project's own
#: (its data validations follow its rows), but each data validation is another project's, byte for byte, and the
#: rest of the tail is its shape's. The tests also run with it off.
REMEMBER_TAIL_PIECES = True
#: Read a tail proved by its pieces (:func:`_tail_proved`) in its skeleton (each data validation an empty one), not
#: whole, where none of its data validations holds markup :meth:`Sheet._tail` reads (:func:`_inert`): a national
#: form sheet's tail is some 28 kB, 25 of them its data validations, its project's own, which :meth:`Sheet._tail`'s
#: patterns would search through on every return. The tests also run with it off.
TAIL_BY_SKELETON = True
#: Prove a tail's skeleton with its list of data validations (each empty there) and its row breaks each put as one
#: empty element (:func:`_proof_of`), where they are of the one fixed markup :data:`_LISTS` takes: a national form's
#: list counts its project's rows, and its breaks fall where its project's blocks end, so its skeleton is of its
#: project's shape, but the rest of it is its template's and its size's. The tests also run with it off.
PROVE_LISTS_APART = True
#: Read a tail read in its skeleton (:data:`TAIL_BY_SKELETON`) in its proof (:func:`_proof_of`: the skeleton with its
#: lists of data validations and row breaks each one empty element), and remember what it gave by the proof and the
#: root tag (in :data:`_TAILS`, as a whole tail is), not by the whole tail: a national form's tail is its project's own
#: (its data validations follow its rows), and so is its skeleton (the lists count its rows: 218 skeletons in 400
#: returns of the honest corpus), but its proof is its cell shape's (35 in those 400). :meth:`Sheet._tail` gives the
#: same for the skeleton and its proof: a list of :data:`_LISTS`'s fixed markup holds no protection, merged range, row,
#: cell, prefix, byte past ASCII or markup :data:`_TAIL_ODD` finds, and leaves :func:`_depth` as its empty element
#: does. A proof found there is proved (a key of _TAILS is proved well-formed after that root and <sheetData>); the data
#: validations and texts are still proved each time. The tests also run with it off.
REMEMBER_TAIL_SKELETONS = True
#: Cut a tail's data validations out (:func:`_tail_proved`) in a few passes in C, where each but the last is one piece
#: of the split whole (a national form's 23-73 validations, one after another): a piece at a time, the loop took some
#: 1 µs a validation. The tests also run with it off.
CUT_IN_C = True
_ENDS_DV = methodcaller("endswith", b"</dataValidation>")
#: A list of data validations as :func:`_tail_proved` leaves it (each ``<dataValidation/>``), and row breaks as the
#: generator and Excel, or LibreOffice, write them: markup fixed but for digits (and no attribute twice), so that
#: each is a well-formed element wherever a tag may stand.
_LISTS = re.compile(
    rb'<dataValidations count="[0-9]{1,9}">(?:<dataValidation/>)*</dataValidations>'
    rb'|<rowBreaks count="[0-9]{1,9}" manualBreakCount="[0-9]{1,9}">'
    rb'(?:<brk id="[0-9]{1,9}" max="[0-9]{1,9}" man="1"/>|<brk id="[0-9]{1,9}" man="true" max="[0-9]{1,9}" min="[0-9]{1,9}"/>)*'
    rb'</rowBreaks>')
_DV_START, _DV_END, _DV_PLACE = b"<dataValidation ", b"</dataValidation>", b"<dataValidation/>"
#: Tails with each data validation replaced by an empty one, and data validations, each proved well-formed after a
#: root tag (both bytes the key); bounded: 64 skeletons of <= 256 kB, 4,096 elements of <= 4 kB, 4 MiB each table.
_TAIL_SKELETONS: dict[tuple[bytes, bytes], bool] = {}
_TAIL_ELEMENTS: dict[tuple[bytes, bytes], bool] = {}  # (the value: whether the data validation is _inert)
_PIECE_BOUNDS = {"skeletons": (64, 256 * 1024, 4 * 1024 * 1024), "elements": (4096, 4096, 4 * 1024 * 1024)}
_pieces_bytes = {"skeletons": 0, "elements": 0}


def _tail_proved(root: bytes, shape: bytes, texts: list[bytes], lighter: list[bytes] | None = None) -> bool:
    """Whether a tail (its shape and its header's and footer's texts, see :func:`_tail_shape`) is well-formed after
    ``root`` and an empty <sheetData>, proved piece by piece: False says nothing (expat reads it).

    The shape is cut into its data validations (from each ``<dataValidation `` to the last ``</dataValidation>``
    before the next) and a skeleton with ``<dataValidation/>`` in the place of each. With no comment, CDATA,
    processing instruction or namespace declaration in the tail, every "<" of a well-formed skeleton starts a tag,
    so each ``<dataValidation/>`` is an element in content, in the root's namespaces; putting a well-formed element
    back in its place (in the same namespaces) keeps the document well-formed. So the tail is well-formed when the
    skeleton is (after the root and <sheetData>), each data validation is (after the root: a batch of those not
    remembered, each holding one start and one end of a data validation, so that the batch is well-formed only if
    each is), and the texts are character data. Each is remembered by its bytes and the root's.

    Given ``lighter`` (a list), a proved tail whose data validations are all inert (:func:`_inert`) puts its skeleton
    there (:data:`TAIL_BY_SKELETON`): :meth:`Sheet._tail` reads it as it reads the whole tail. The tail being
    well-formed, with no comment, CDATA or instruction, every "<" in it starts a tag, so each of ``_tail``'s patterns
    matches tags whole (a quoted value holds no "<"), each tag is in the skeleton or in one data validation, and a
    data validation, balanced, leaves every later tag at the depth its empty stand-in leaves it: an inert one holds
    no tag any pattern looks for, so each finds the same tags in the skeleton, in the same order and depths.
    """
    # ("x" first: one memchr, where a search for "xmlns" stops at every "s" of the markup: 23-70 µs a national tail)
    if (b"x" in shape and b"xmlns" in shape) or tag_after(shape, b"!") or tag_after(shape, b"?"):
        return False  # (the second and third: as Sheet._tail, which sends such a tail to the general path anyway)
    pieces = shape.split(_DV_START)
    if len(pieces) < 2:
        return False  # (no data validations: nothing to cut; such a tail is remembered whole)
    kept = [pieces[0]]
    new: list[bytes] = []
    inert = True
    last = pieces[-1]
    k = last.rfind(_DV_END) + len(_DV_END)
    if CUT_IN_C and k >= len(_DV_END) and all(map(_ENDS_DV, pieces[1:-1])):
        # (each piece but the last one data validation whole, the last one and what follows the list: the loop below
        # gives the same elements, skeleton and verdicts, a piece at a time)
        elements = pieces[1:]
        elements[-1] = last[:k]
        found = list(map(_TAIL_ELEMENTS.get, zip(repeat(root), elements)))
        if None in found:
            new = [element for element, known_element in zip(elements, found) if known_element is None]
            if any(element.count(b"<dataValidation") or element.count(_DV_END) != 1 for element in new):
                return False
        inert = False not in found
        kept = [pieces[0] + _DV_PLACE * (len(elements) - 1), last[k:]]
        pieces = []
    for piece in pieces[1:]:
        k = piece.rfind(_DV_END)
        if k < 0:
            return False
        k += len(_DV_END)
        element = piece[:k]
        known_element = _TAIL_ELEMENTS.get((root, element))
        if known_element is None:
            if element.count(b"<dataValidation") or element.count(_DV_END) != 1:
                return False
            new.append(element)
        else:
            inert = inert and known_element
        kept.append(piece[k:])
    skeleton = _DV_PLACE.join(kept)
    proof = _proof_of(skeleton) if PROVE_LISTS_APART else skeleton
    known = _TAIL_SKELETONS.get((root, proof))
    if known is None:
        try:
            feed(parser(), root + b"<sheetData>" + proof, "")
            known = True
        except Unreadable:
            known = False
        _remember_piece("skeletons", _TAIL_SKELETONS, (root, proof), known)
    if not known:
        return False
    if new:
        try:
            feed(parser(), root + b"".join(_DV_START + element for element in new) + b"</worksheet>", "")
        except Unreadable:
            return False
        for element in new:
            this = _inert(element)
            inert = inert and this
            _remember_piece("elements", _TAIL_ELEMENTS, (root, element), this)
    if not (not texts or (strict.PLAIN_UNICODE and strict.plain_unicode(texts)) or strict.character_data(texts)):
        return False
    if lighter is not None and inert and TAIL_BY_SKELETON:
        lighter += [skeleton, proof]
    return True


def _proof_of(skeleton: bytes) -> bytes:
    """A tail's skeleton with each list of :data:`_LISTS` (its data validations' list, its row breaks) one empty element
    of its name: well-formed after a root tag and <sheetData> exactly when the skeleton is.

    With no comment, CDATA or instruction in it (:func:`_tail_proved` makes sure), every "<" of a well-formed proof
    starts a tag, so each empty element put in a list's place is an element in content, in the root's namespaces (an
    attribute's value holding the list, where no "<" may stand, is not well-formed either way); putting back the list,
    a well-formed element by its fixed markup (unprefixed names, digits, no attribute twice), keeps it well-formed. And
    the other way, a well-formed skeleton has an element in each place, whose tags leave the rest as they were."""
    return _LISTS.sub(_empty_list, skeleton)


def _empty_list(m: re.Match[bytes]) -> bytes:
    return b"<dataValidations/>" if m.group(0).startswith(b"<dataValidations") else b"<rowBreaks/>"


def _inert(element: bytes) -> bool:
    """Whether a data validation (as :func:`_tail_proved` cuts it out, proved well-formed) holds no tag that :meth:`Sheet._tail` looks for (no protection,
    no merged range, nothing :data:`_TAIL_ODD` finds: a row, a cell, a <sheetData>, a prefixed protection or merge),
    and leaves :func:`_depth` where it found it, as its empty stand-in does: a start tag that :data:`_TAG` does not
    take (a name or an attribute's name not ASCII) has an end tag that it takes, so well-formed is not enough."""
    if b"<sheetProtection" in element or b"<mergeCell" in element or _TAIL_ODD.search(element) is not None:
        return False
    depth = 0
    for m in _TAG.finditer(_DV_START + element):  # (the element as cut out: after its "<dataValidation ")
        if m.group(1):
            depth -= 1
        elif not m.group(2):
            depth += 1
    return depth == 0


def _remember_piece(name: str, table: dict[tuple[bytes, bytes], bool], key: tuple[bytes, bytes], value: bool) -> None:
    if key in table:  # (a validation twice in one tail: kept where it was)
        return
    held = [_pieces_bytes[name]]
    _bounded_put(table, held, key, value, lambda k, v: len(k[0]) + len(k[1]), *_PIECE_BOUNDS[name])
    _pieces_bytes[name] = held[0]


def _tail_size(key: tuple[bytes, bytes], merges: tuple[tuple[int, int, int, int], ...]) -> int:
    return len(key[0]) + len(key[1]) + 128 * len(merges)


def _remember_tail(key: tuple[bytes, bytes], known: tuple[int, bool, tuple[tuple[int, int, int, int], ...]]) -> None:
    _bounded_put(_TAILS, _tail_bytes, key, known, lambda k, v: _tail_size(k, v[2]), _TAIL_COUNT, _TAIL_LONGEST, _TAIL_BYTES)


def _formula_cell(cattrs: bytes, body: bytes, plain: bool) -> CellData | None:
    """``<f>…</f><v>…</v>`` with a number (no t) or a text (t="str") result; None: the slow path."""
    k = body.find(b"</f>")
    if k < 0 or b"<" in body[3:k]:
        return None
    rest = body[k + 4:]
    if rest[:3] == b"<v>" and rest[-4:] == b"</v>" and b"<" not in rest[3:-4]:
        raw = rest[3:-4]
    elif not rest:
        raw = b""
    else:
        return None
    formula = "=" + _text(body[3:k])
    if b"t=" not in cattrs:
        if not raw:
            return CellData(None, formula)
        number = plain_number(raw) if plain else None
        return None if number is None else CellData(number, formula)
    if cattrs[-8:] == b' t="str"':
        return CellData(_text(raw) or None, formula)
    return None


def _trailer(text: bytes) -> tuple[tuple[int, int], ...] | None:
    """The row tags between two cells as (0, 0) for </row>, (1, n) for <row r="n">, (2, n) for <row r="n"/>
    (n = 0 without r); None when anything else is there."""
    out: list[tuple[int, int]] = []
    pos = 0
    while pos < len(text):
        m = _ROW_TAG.match(text, pos)
        if m is None:
            return tuple(out) if not text[pos:].strip() else None
        if m.group(1):
            out.append((0, 0))
        else:
            rm = _R_ATTR.search(m.group(2))
            number = 0
            if rm is not None:
                raw = rm.group(1) if rm.group(1) is not None else rm.group(2)
                if not raw.isdigit() or raw[:1] == b"0" or len(raw) > 7:
                    return None
                number = int(raw)
            out.append((2 if m.group(3) else 1, number))
        pos = m.end()
    return tuple(out)


def _trailer_offset(text: bytes, index: int) -> int:
    """Where the ``index``-th row tag of a trailer starts."""
    pos = 0
    for n in range(index + 1):
        m = _ROW_TAG.match(text, pos)
        assert m is not None
        if n == index:
            return m.start() + len(m.group(0)) - len(m.group(0).lstrip())
        pos = m.end()
    raise AssertionError(index)


def _depth(tail: bytes, pos: int) -> int:
    """How deep an element starting at ``pos`` of the tail is (1: a child of the worksheet).

    The tail starts inside <sheetData> (depth 2). Tags are matched whole, attribute values
    included, so a ``/>`` or ``>`` inside a value does not count.
    """
    depth = 2
    for m in _TAG.finditer(tail, 0, pos):
        if m.group(1):
            depth -= 1
        elif not m.group(2):
            depth += 1
    return depth


#: The text of a header or footer: the only text of a sheet's tail that differs between returns of a template.
_HEADER_FOOTER = re.compile(rb"<((?:odd|even|first)(?:Header|Footer))>([^<]*)</\1>")


def _tail_shape(tail: bytes) -> tuple[bytes, list[bytes]]:
    """A sheet's tail without the texts of its headers and footers, and those texts.

    Two tails of the same shape differ only in those texts, which hold no markup (no "<"): the one is
    well-formed exactly when the other is and its texts are character data, and every rule read from
    the tail (protection, merges, placement) reads markup only, so it gives both the same verdict.
    """
    at = tail.rfind(b"<headerFooter")  # near the end, where Excel and every other program write it
    if at < 0:
        return tail, []
    pieces, texts, pos = [], [], at
    for m in _HEADER_FOOTER.finditer(tail, at):
        pieces.append(tail[pos:m.start(2)])
        texts.append(m.group(2))
        pos = m.end(2)
    if not texts:
        return tail, []
    pieces.append(tail[pos:])
    return tail[:at] + b"".join(pieces), texts


_DECLARED = re.compile(rb"""<\?xml[^>]*?\sencoding\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def utf8_part(data: bytes) -> bool:
    """Whether the part is UTF-8 (as declared, or as XML takes a part without a declaration of its encoding).

    :func:`~xltemplate.readers.package.as_utf8` hands every part over in UTF-8 already; this keeps the proof of
    :func:`~xltemplate.readers.sheet_strict.proved` (which reads the bytes as UTF-8) independent of that."""
    if data[:3] == b"\xef\xbb\xbf":  # a UTF-8 byte order mark: then as without it
        data = data[3:200]
    if data[:5] != b"<?xml":
        return data[:1] == b"<"
    end = data.find(b"?>")
    m = _DECLARED.match(data, 0, end + 2) if end > 0 else None
    return end > 0 and (m is None or (m.group(1) or m.group(2) or b"").lower() == b"utf-8")


_REGULAR, _IRREGULAR = -1, -2


class _Irregular(Exception):
    """The split path met a shape it does not read: the general path takes the sheet."""


def _col(letters: bytes) -> int:
    n = _COLS.get(letters)
    if n is None:
        n = _COLS[letters] = col_index(letters)
    return n


class Sheet:
    """One worksheet's cells within the bounds, its protection and what is hidden from view."""

    def __init__(self, strings: list[str], styles: Styles, epoch: dt.datetime, part: str) -> None:
        self.strings, self.styles, self.epoch, self.part = strings, styles, epoch, part
        self.reset()

    def reset(self) -> None:
        self.cells: dict[str, CellData] = {}
        self.styled: dict[str, int] = {}  # A1 → style, for cells whose style may conceal their value
        self.merges: list[tuple[int, int, int, int]] = []
        self.protected = False
        self.protections = 0
        self.shared: dict[str, Any] = {}

    def parse(self, data: bytes) -> None:
        if USE_SPLIT:
            try:
                if self._parse_split(data):
                    return
            except _Irregular:
                pass
            self.reset()
        self._parse_general(data)

    def finish(self) -> dict[str, str]:
        """What a person does not see: A1 → why (a merged range, its number format).

        A cell under a merged range (all but its top-left cell) is not shown by any program,
        and openpyxl drops its value too: it leaves :attr:`cells`, so that what is validated
        is what is shown, and is reported. A number format that hides or replaces a value
        leaves the value (formulas compute with it) and is reported.
        """
        out = {}
        for a1 in merged_cover(self.merges, self.cells, MAX_ROWS, MAX_COLS):
            del self.cells[a1]
            out[a1] = MERGED
        for a1, style in self.styled.items():
            cell = self.cells.get(a1)
            if cell is not None and not cell.error and conceals(self.styles.concealing[style], cell.value):
                out[a1] = FORMAT
        return out

    # -- the split path --------------------------------------------------------------------------
    def _parse_split(self, data: bytes, prove: bool = True) -> bool:
        """Expat over the whole part, handlers only outside <sheetData>; then the cells by splitting.

        Where the strict path reads the cells and proves <sheetData> well-formed itself (``prove``,
        :func:`~xltemplate.readers.sheet_strict.proved`, a UTF-8 part), expat reads the part with an empty
        <sheetData> in its place; should expat then find a fault (the rest of the part), the part is read
        again without that, so that the refusal is the one expat gives over the whole part."""
        i = data.find(b"<sheetData>")
        j = data.find(b"</sheetData>", i + 1) if i >= 0 else -1
        if j < 0:
            return False
        region = data[i:j]
        # (each in memchr's steps: a search for "<!", "<?" or "xmlns" stops at every "<" or "s" of the markup, 11-200 µs
        # a form sheet, where no "!" or "x" is found in one; the "?>" of the part's declaration made the search for "<?"
        # run on every sheet; the part up to </sheetData> searched in place, not copied)
        if tag_after(data, b"!", 0, j) or tag_after(data, b"?", 1, j) or (b"x" in region and b"xmlns" in region):
            return False  # comments, CDATA or namespace declarations among the cells: the general path
        h = Structure(self, cells=False)
        before = data[:i]
        p = parser()
        known_root = _HEADS.get(before) if REMEMBER_HEADS else None
        if known_root is not None:  # (proved before, as below: expat reads it when it must, without handlers)
            _HEADS[before] = _HEADS.pop(before)  # the most recently used is the last to go
            h.root = known_root
        else:
            k = data.find(b"<", data.find(b"?>") + 2 if data[:5] == b"<?xml" else 0)
            root = _TAG.match(data, k) if k >= 0 else None
            h.root = root.group(0) if root is not None and data[k:k + 11] == b"<worksheet " else b""
            p.StartNamespaceDeclHandler = h.namespace
            p.StartElementHandler, p.EndElementHandler = h.start, h.end
            try:
                feed(p, before, self.part, final=False)
            except Unreadable:
                if region.find(b"<sheetData", 1) >= 0:
                    return False  # (as where that search came first: see below)
                raise
            if h.stack != [WORKSHEET] or h.default_ns != MAIN_NS or h.sheetdata:
                # the cells are not in the main namespace by default, or the head holds a cell area of its own (an
                # empty <sheetData/> before this one, which expat reads here without handlers): the general path
                return False
            p.StartElementHandler = p.EndElementHandler = p.StartNamespaceDeclHandler = None
        # Whether the head read nothing into the sheet (a protection or merged ranges before <sheetData>, which the
        # placement rules allow): what a known tail gives, and what is remembered of a tail, is then the tail's
        # alone. Else a tail is neither taken from nor given to what is remembered (a head's protection was
        # remembered with the tail after it, and given to the next return of that tail, which had none).
        fresh = not (self.protections or self.protected or self.merges)
        # a head to remember once expat has read what follows it (then it ends between two tokens of the root's
        # content, before <sheetData>), if its handlers left the sheet as it was
        new_head = known_root is None and bool(h.root) and REMEMBER_HEADS and fresh
        found, skipped = None, False
        if prove and strict.USE_STRICT and strict.PROVE_CELLS and h.root and utf8_part(data):
            try:  # (before expat has read the cells: text that is not even UTF-8 is left to it)
                found = strict.cells(region[11:], self.strings, self.styles, self.epoch, h.root)
            except ValueError:
                found = None
            if found is not None and found[2]:
                region, skipped = b"<sheetData>", True  # proved: expat reads an empty <sheetData> in its place
        # A <sheetData> inside the cells: the general path. Not searched for where the strict path read them: its
        # tokens, which tile the cells but for their values and rows' attributes (neither holds a "<"), hold none.
        if found is None and region.find(b"<sheetData", 1) >= 0:
            return False
        tail = data[j:]
        # Returns of one template share each sheet's tail byte for byte (data validations, merges,
        # protection), but for the text of its header and footer (the generator prints the roster key
        # there): once proved well-formed after the same root tag, it is not parsed again, and only the
        # texts cut out of it are (as character data, which is all they can be: they hold no "<").
        shape, texts = _tail_shape(tail)
        key = (h.root, shape)
        known = _TAILS.pop(key, None) if h.root and REMEMBER_TAILS and fresh else None
        if known is None:
            # the tail proved piece by piece (see _tail_proved): then expat reads at most the head and an empty
            # <sheetData>, as after a known tail
            lighter: list[bytes] = []  # (the tail's skeleton, where _tail reads it in the tail's place)
            by_pieces = skipped and REMEMBER_TAIL_PIECES and bool(h.root) and _tail_proved(h.root, shape, texts, lighter)
            try:
                if by_pieces:
                    if known_root is None:
                        feed(p, region, self.part, final=False)
                        feed(p, b"</sheetData></worksheet>", self.part)
                else:
                    if known_root is not None:
                        feed(p, before, self.part, final=False)  # (not read by the handlers again: see _HEADS)
                    if skipped:
                        feed(p, region, self.part, final=False)
                        feed(p, tail, self.part)
                    else:
                        feed(p, data[i:], self.part)  # the cells and the tail: proved well-formed in C, no handlers
            except Unreadable:
                if not skipped:
                    raise
                self.reset()
                return self._parse_split(data, prove=False)  # expat over the whole part says what is wrong, where
            if new_head:
                _remember_head(before, h.root)
            read = lighter[0] if by_pieces and lighter else tail  # (the tail's skeleton, or its proof, or itself)
            if by_pieces and lighter and REMEMBER_TAIL_SKELETONS:
                read = lighter[1]
                key = (h.root, read)  # (what the tail gave, remembered by its proof: see REMEMBER_TAIL_SKELETONS)
                known = _TAILS.pop(key, None) if h.root and REMEMBER_TAILS and fresh else None
            if known is not None:
                _TAILS[key] = known  # the most recently used is the last to go
                self.protections, self.protected, merges = known
                self.merges = list(merges)
            else:
                if not self._tail(read):
                    return False
                if h.root and REMEMBER_TAILS and fresh:
                    _remember_tail(key, (self.protections, self.protected, tuple(self.merges)))
        else:
            _TAILS[key] = known  # the most recently used is the last to go
            if not (skipped and known_root is not None):
                # (else nothing is left to read: the head proved before, the cells here, the tail before, each
                # after the same root tag; see _HEADS)
                if known_root is not None:
                    feed(p, before, self.part, final=False)
                feed(p, region, self.part, final=False)
                feed(p, b"</sheetData></worksheet>", self.part)  # close the document the way the known tail does
                if new_head:
                    _remember_head(before, h.root)
            if texts and not (strict.PLAIN_UNICODE and strict.plain_unicode(texts)) and not strict.character_data(texts):
                return False  # the general path parses the whole part and says what is wrong, where
            self.protections, self.protected, merges = known
            self.merges = list(merges)
        if strict.USE_STRICT:
            if found is None and not skipped:
                found = strict.cells(region[11:], self.strings, self.styles, self.epoch)
            if found is not None:
                self.cells, self.styled, _ = found
                return True
        return self._scan(region)

    def _tail(self, tail: bytes) -> bool:
        """Protection and merged ranges from after </sheetData>, read exactly without a handler per element.

        Only for a plain tail: no comment, CDATA or namespace declaration, no row, cell or second
        sheetData, and the protection and merge elements children of the worksheet, the merges
        nothing but <mergeCell ref=…/>. Anything else: the general path, which decides.
        """
        if _TAIL_ODD.search(tail):  # one pass: comments, CDATA, instructions, misplaced or prefixed elements
            return False
        prot = _TAIL_PROTECTION.search(tail)
        if tail.count(b"<sheetProtection") != (prot is not None):
            return False  # (one the pattern does not take, beside it or alone, would not be seen: the general path)
        if prot is not None:
            if b"xmlns" in prot.group(0) or _TAIL_PROTECTION.search(tail, prot.end()) or _depth(tail, prot.start()) != 1 \
                    or self.protections:
                return False  # (the last: a second protection, the head's the first; the general path refuses it)
            self.protections = 1
            self.protected = protection_on(self.part, _attr(_SHEET_ATTR.search(prot.group(1))))
        merges = _TAIL_MERGES.search(tail)
        if merges is not None:
            body = merges.group(1) or b""
            if b"xmlns" in merges.group(0)[:merges.group(0).find(b">")] or _depth(tail, merges.start()) != 1 \
                    or not _MERGE_LIST.fullmatch(body) or tail.find(b"<mergeCell", merges.end()) >= 0 \
                    or tail.find(b"<mergeCell", 0, merges.start()) >= 0:
                return False
            known = _MERGES_READ.get(body) if REMEMBER_MERGES and not self.merges else None
            if known is not None:
                _MERGES_READ[body] = _MERGES_READ.pop(body)  # the most recently used is the last to go
                self.merges.extend(known)
            else:
                fresh = not self.merges
                for m in _MERGE_REF.finditer(body):
                    add_merge(self, _text(m.group(1)))
                if fresh and REMEMBER_MERGES:
                    _remember_merges(body, tuple(self.merges))
        elif b"<mergeCell" in tail:
            return False
        return True

    def _scan(self, region: bytes) -> bool:
        chunks = region.split(b"<c ")
        state = [0, 0, 0]  # the open row's number (0: none), the last row's number, the last column
        at = self._rows(chunks[0][11:], state)
        if at == _IRREGULAR:
            return False
        if at != _REGULAR:
            return self._rest_is_plain(region[11 + at:])
        cells, strings, styles = self.cells, self.strings, self.styles
        dates = styles.dates
        n_styles = styles.count
        conceal = styles.concealing
        refs = _REFS
        offset = len(chunks[0]) + 3
        for chunk in chunks[1:]:
            row = state[0]
            if not row:
                return False  # a cell outside a row
            end = chunk.find(b">")
            if end < 0:
                return False
            if chunk[end - 1] == 47:  # "/>": a styled blank
                cattrs, body = chunk[:end - 1], b""
                rest_at = end + 1
            else:
                cattrs = chunk[:end]
                close = chunk.find(b"</c>", end)
                if close < 0:
                    return False
                body = chunk[end + 1:close]
                rest_at = close + 4
            # the position: r="A1" first (what every program writes), else anywhere, else the next column
            style = 0
            if cattrs[:3] == b'r="':
                q = cattrs.find(b'"', 3)
                ref: bytes | None = cattrs[3:q]
                if cattrs[q + 1:q + 5] == b' s="':  # s="n" right after: most cells
                    e = cattrs.find(b'"', q + 5)
                    sv = cattrs[q + 5:e]
                    if not sv.isdigit() or len(sv) > 6:
                        return False
                    style = int(sv)
                    if style >= n_styles:
                        return False
                elif b"s=" in cattrs:
                    style = self._style(cattrs, n_styles)
                    if style < 0:
                        return False
            else:
                m = _R_ATTR.search(cattrs)
                ref = None if m is None else (m.group(1) if m.group(1) is not None else m.group(2))
                if b"s=" in cattrs:
                    style = self._style(cattrs, n_styles)
                    if style < 0:
                        return False
            if ref is None:
                col = state[2] + 1
                if col > MAX_EXCEL_COL:
                    return False
                a1 = None
            else:
                pos = refs.get(ref)
                if pos is None:
                    rm = _REF.fullmatch(ref)
                    if rm is None:
                        return False
                    pos = (int(rm.group(2)), _col(rm.group(1)))
                    if len(refs) < 100_000:
                        refs[ref] = pos
                if pos[0] != row:
                    return False
                col = pos[1]
                if col <= state[2] or col > MAX_EXCEL_COL:
                    return False
                a1 = ref
            state[2] = col
            if not body and b"t=" in cattrs and row <= MAX_ROWS and col <= MAX_COLS and _attr(_T_ATTR.search(cattrs)) not in TYPES:
                return False  # an empty cell of no known type: the general path refuses it
            if body and row <= MAX_ROWS and col <= MAX_COLS:
                a1s = a1.decode("ascii") if a1 is not None else f"{col_letters(col)}{row}"
                cell = None
                if body[:3] == b"<v>" and body[-4:] == b"</v>" and b"<" not in body[3:-4]:
                    raw = body[3:-4]
                    if cattrs[-6:] == b' t="s"':
                        if not raw.isdigit() or len(raw) > 9:
                            return False
                        try:
                            text = strings[int(raw)]
                        except IndexError:
                            return False
                        if not text:
                            return False  # an empty string shows nothing: no cell, as the general path decides
                        cell = CellData(text)
                    elif b"t=" not in cattrs and style not in dates:
                        number = plain_number(raw)
                        if number is not None:
                            cell = CellData(number)
                elif body[:3] == b"<f>":  # a formula and its cached result: the other common shape
                    cell = _formula_cell(cattrs, body, style not in dates)
                if cell is None:
                    cell = self._slow_cell(a1s, cattrs, body, style)
                if cell is not None:
                    cells[a1s] = cell
                    if style in conceal:
                        self.styled[a1s] = style
            if rest_at < len(chunk):
                at = self._rows(chunk[rest_at:], state)
                if at == _IRREGULAR:
                    return False
                if at != _REGULAR:
                    return self._rest_is_plain(region[offset + rest_at + at:])
            offset += len(chunk) + 3
        return not state[0]

    @staticmethod
    def _style(cattrs: bytes, n_styles: int) -> int:
        """The cell's style index; -1 when it is not a valid one."""
        sm = _S_ATTR.search(cattrs)
        if sm is None:
            return 0
        sv = sm.group(1) if sm.group(1) is not None else sm.group(2)
        if not sv.isdigit() or len(sv) > 6 or int(sv) >= n_styles:
            return -1
        return int(sv)

    def _rows(self, text: bytes, state: list[int]) -> int:
        """Row tags between cells: :data:`_REGULAR`, :data:`_IRREGULAR`, or (past the bounds) the
        offset of the first row beyond :data:`MAX_ROWS`, after which nothing is read."""
        tokens = _TRAILERS.get(text)
        if tokens is None and text not in _TRAILERS:
            tokens = _trailer(text)
            if len(text) <= _TRAILER_LONGEST and len(_TRAILERS) < _TRAILER_COUNT \
                    and _trailer_bytes[0] + len(text) <= _TRAILER_BYTES:
                _TRAILERS[text] = tokens
                _trailer_bytes[0] += len(text)
        if tokens is None:
            return _IRREGULAR
        for index, (kind, value) in enumerate(tokens):
            if kind == 0:  # </row>
                if not state[0]:
                    return _IRREGULAR
                state[0] = 0
                continue
            if state[0]:
                return _IRREGULAR
            number = value if value else state[1] + 1
            if number <= state[1] or number > MAX_EXCEL_ROW:
                return _IRREGULAR
            if number > MAX_ROWS:
                return _trailer_offset(text, index)
            state[1] = number
            state[0] = 0 if kind == 2 else number
            state[2] = 0
        return _REGULAR

    def _rest_is_plain(self, rest: bytes) -> bool:
        """Past the bounds: only known element names, and row and cell numbers beyond the bounds."""
        if _PREFIXED.search(rest) or _REST_NAMES.search(rest):
            return False
        for m in _R_ANY.finditer(rest):
            rm = _ROW_OR_REF.fullmatch(m.group(1) if m.group(1) is not None else m.group(2))
            if rm is None:
                return False
            number = int(rm.group(2))
            if number <= MAX_ROWS or number > MAX_EXCEL_ROW or (rm.group(1) and _col(rm.group(1)) > MAX_EXCEL_COL):
                return False
        return True

    def _slow_cell(self, a1: str, cattrs: bytes, body: bytes, style: int) -> CellData | None:
        """Any other cell body of the split path: a formula, a typed value, an inline string."""
        bm = _BODY.fullmatch(body)
        if bm is None:
            raise _Irregular
        t = _attr(_T_ATTR.search(cattrs))
        if t is None:
            t = "n"  # no type: a number; an empty one (t="") is refused below, as the general path does
        fattrs = None
        if bm.group(1) is not None:
            fattrs = {m.group(1).decode(): _text(m.group(2) if m.group(2) is not None else m.group(3))
                      for m in _ATTR.finditer(bm.group(1))}
        ftext = _text(bm.group(2)) if bm.group(2) is not None else ""
        v = _text(bm.group(3)) if bm.group(3) else None
        inline = None
        if bm.group(4) is not None:
            im = _IS_SIMPLE.fullmatch(bm.group(4))
            if im is None:
                raise _Irregular  # rich or empty inline text: the general path reads it
            inline = _text(im.group(1) or b"")
        return self.value(a1, t, style, fattrs, ftext, v, inline)

    # -- one cell's value, for both paths --------------------------------------------------------
    def value(self, a1: str, t: str, style: int, fattrs: dict[str, str] | None, ftext: str, v: str | None,
              inline: str | None) -> CellData | None:
        """A cell's CellData from its parts; a value that is not of the cell's type is refused."""
        if t not in TYPES:
            raise corrupt(self.part, f"中单元格 {a1} 的类型“{t[:20]}”无效")
        if t == "inlineStr":
            if v is not None:
                raise corrupt(self.part, f"中单元格 {a1} 同时含有内嵌文本和值")
        elif inline is not None:
            raise corrupt(self.part, f"中单元格 {a1} 含有内嵌文本但类型不是内嵌文本")
        formula = self._formula(fattrs, ftext, a1) if fattrs is not None else None
        value: Any = None
        error = False
        if t == "inlineStr":
            value = inline
        elif v:
            if t == "s":
                if not v.isdigit() or not v.isascii() or len(v) > 9:
                    raise corrupt(self.part, f"中单元格 {a1} 引用的共享字符串编号“{v[:20]}”无效")
                try:
                    value = self.strings[int(v)]
                except IndexError as exc:
                    raise corrupt(self.part, f"中单元格 {a1} 引用了不存在的共享字符串") from exc
            elif t == "n":
                value = self._number(a1, v) if v != "" else None
                if value is not None and style in self.styles.dates:
                    value, error = from_excel(value, self.epoch, style in self.styles.deltas)
            elif t == "b":
                if v not in ("0", "1"):
                    raise corrupt(self.part, f"中单元格 {a1} 的逻辑值“{v[:20]}”无效")
                value = v == "1"
            elif t == "e":
                if v not in ERRORS:
                    raise corrupt(self.part, f"中单元格 {a1} 的错误值“{v[:20]}”无效")
                value, error = v, True
            elif t == "d":
                from openpyxl.utils.datetime import from_ISO8601

                try:
                    value = from_ISO8601(v)
                except (ValueError, TypeError, OverflowError) as exc:
                    raise corrupt(self.part, f"中单元格 {a1} 的日期“{v[:20]}”无效") from exc
            else:  # "str": a formula's text result, or text typed as such
                value = v
        if formula is None and (value is None or value == ""):
            return None
        if value == "":
            value = None
        return CellData(value, formula, error)

    def _number(self, a1: str, raw: str) -> int | float:
        if not _NUMBER.fullmatch(raw):
            raise corrupt(self.part, f"中单元格 {a1} 的数值“{raw[:20]}”无效")
        if "." in raw or "e" in raw or "E" in raw:
            number = float(raw)
            if not math.isfinite(number):
                raise corrupt(self.part, f"中单元格 {a1} 的数值“{raw[:20]}”超出范围")
            return number
        try:
            return int(raw)
        except ValueError as exc:  # thousands of digits
            raise corrupt(self.part, f"中单元格 {a1} 的数值位数过多") from exc

    def _formula(self, attrs: dict[str, str], text: str, a1: str) -> str:
        formula = "=" + text
        kind = attrs.get("t")
        if kind == "shared":
            si = attrs.get("si") or ""
            if si not in self.shared and formula == "=":
                # a cell sharing a formula whose first cell never came: no program shows a formula here
                raise corrupt(self.part, f"中单元格 {a1} 引用的共享公式不存在")
            try:
                if si in self.shared:
                    return self.shared[si].translate_formula(a1)
                if formula != "=":
                    from openpyxl.formula.translate import Translator

                    self.shared[si] = Translator(formula, a1)
            except Exception as exc:  # openpyxl's tokenizer raises several kinds on a mangled formula
                raise Unreadable("file-corrupt", "shared-formula", cell=a1, reason=type(exc).__name__) from exc
        elif kind == "dataTable":
            return "="
        return formula

    # -- the general path -------------------------------------------------------------------------
    def _parse_general(self, data: bytes) -> None:
        h = Structure(self, cells=True)
        p = parser()
        p.StartNamespaceDeclHandler = h.namespace
        p.StartElementHandler, p.EndElementHandler = h.start, h.end
        p.CharacterDataHandler = h.text
        feed(p, data, self.part)
        if h.stack:
            raise corrupt(self.part, "不完整")
