"""A worksheet that writes the roll-up's cells with less Python per cell, byte for byte as XlsxWriter does.

The roll-up writes some 750,000 cells at 10,000 units (指标得分 is half of them), each through
XlsxWriter's general cell writer, which builds a list of attributes and escapes each one for every
cell. :class:`LeanSheet` writes the three kinds the roll-up writes (a number, a text in constant-memory
mode, an empty cell, each with its own format) in one f-string, with XlsxWriter's own escaping of the
text, and hands everything else to XlsxWriter. It leans on XlsxWriter internals (the cell tuples, the
``_write_cell`` hook, ``fh``), so it is used only with the XlsxWriter version it was compared with,
byte for byte (tests/test_rollup_lean.py writes the same cells both ways); with any other version the
stock writer runs.

:meth:`LeanSheet.put_row` goes further (issue 15, third pass): the roll-up's table rows are handed over
whole, as values and formats, and the row's XML is made in one pass (a number's and a short text's cell
XML remembered by value), kept until the next row is touched, as XlsxWriter keeps its row; anything out
of the ordinary is left to XlsxWriter, cell by cell. Switch: :data:`USE_ROWS`.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from array import array
from decimal import Decimal
from typing import Any, Callable, Iterator, Sequence

import xlsxwriter
from xlsxwriter.utility import _preserve_whitespace, xl_col_to_name, xl_rowcol_to_cell_fast
from xlsxwriter.worksheet import CellBlankTuple, CellNumberTuple, CellStringTuple, RowInfo

from ..pathtext import json_text
from ..sheettext import TextSheet

#: The XlsxWriter version whose output :class:`LeanSheet` was compared with.
VERIFIED_XLSXWRITER = "3.3.1"
#: Use the lean writer (with the verified XlsxWriter only); False: XlsxWriter's own (the tests compare).
USE_LEAN = True
#: Write a whole row at a time (:meth:`LeanSheet.put_row`); False: cell by cell (the tests compare).
USE_ROWS = True

#: A text without any of these, and without a space at either end, is written as it is: XlsxWriter's escapes
#: (control characters, ``_xHHHH_``, ``&<>``, U+FFFE/FFFF) and :func:`json_text`'s (lone surrogates) change nothing in it.
_PLAIN_BREAKERS = re.compile("[\x00-\x1f&<>_\ufffe\uffff\ud800-\udfff]")
#: A number's cell text by its value, for the numbers a roll-up repeats (scores, weights): at most this many kept.
_NUMBERS: dict[Any, str] = {}
_NUMBERS_KEPT = 4096
#: A short text's cell XML (after ``r`` and ``s``) by the text, for the texts a roll-up repeats (statuses, names of
#: indicators, units of measure): texts up to _TEXTS_UP_TO characters, at most _TEXTS_KEPT of them.
_TEXTS: dict[str, str] = {}
_TEXTS_UP_TO = 64
_TEXTS_KEPT = 4096
#: Longer texts go through XlsxWriter (it checks their length in UTF-16 units against Excel's limit).
_SHORT_TEXT = 32767 // 2


#: Keep the heights of the rows :meth:`LeanSheet.put_row` writes in :class:`RowSizes` (3 bytes a row) instead of
#: XlsxWriter's dict of lists (about 130 bytes a row: 53 MB at 100,000 units, issue 15); False: the dict.
COMPACT_ROW_SIZES = True


class RowSizes:
    """XlsxWriter's ``Worksheet.row_sizes`` (row → ``[pixels, hidden]``), compact: each row's pixels in an array and
    its hidden flag in a byte array, indexed by row; a value that does not fit (not an int below 65,535, a row far
    past the others) in a dict. XlsxWriter reads it only to place a chart or an image (``_size_row``), and writes
    it in ``set_row``: ``in``, ``[row]`` (a fresh ``[pixels, hidden]``), assignment, ``len`` and truth are what
    it uses."""

    __slots__ = ("_px", "_hidden", "_other", "_count")
    _NONE = 0xFFFF
    _GAP = 1 << 16  # a row this far past the last kept goes to the dict rather than grow the arrays

    def __init__(self, sizes: dict[int, list[Any]] | None = None) -> None:
        self._px = array("H")
        self._hidden = bytearray()
        self._other: dict[int, list[Any]] = {}
        self._count = 0
        for row, value in (sizes or {}).items():
            self[row] = value

    def __setitem__(self, row: int, value: list[Any]) -> None:
        px, hidden = value
        compact = (type(row) is int and 0 <= row < len(self._px) + self._GAP and type(px) is int and 0 <= px < self._NONE
                   and type(hidden) is bool)
        if row in self:
            self._forget(row)
        if not compact:
            self._other[row] = [px, hidden]
        else:
            if row >= len(self._px):
                grow = row + 1 - len(self._px)
                self._px.extend([self._NONE] * grow)
                self._hidden.extend(bytes(grow))
            self._px[row], self._hidden[row] = px, hidden
        self._count += 1

    def _forget(self, row: int) -> None:
        if self._other.pop(row, None) is None:
            self._px[row] = self._NONE
        self._count -= 1

    def __getitem__(self, row: int) -> list[Any]:
        if type(row) is int and 0 <= row < len(self._px) and self._px[row] != self._NONE:
            return [self._px[row], bool(self._hidden[row])]
        return self._other[row]

    def get(self, row: int, default: Any = None) -> Any:
        return self[row] if row in self else default

    def __contains__(self, row: object) -> bool:
        if type(row) is int and 0 <= row < len(self._px) and self._px[row] != self._NONE:
            return True
        return row in self._other

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[int]:
        return iter(sorted([n for n, px in enumerate(self._px) if px != self._NONE] + list(self._other)))

    def items(self) -> Iterator[tuple[int, list[Any]]]:
        return ((row, self[row]) for row in self)

    def update(self, other: dict[int, list[Any]]) -> None:
        """As ``dict.update`` (rollup.split hands the second process's row heights back this way)."""
        for row, value in other.items():
            self[row] = value


def lean_enabled() -> bool:
    return USE_LEAN and xlsxwriter.__version__ == VERIFIED_XLSXWRITER


def rows_enabled() -> bool:
    return USE_ROWS and lean_enabled()


class LeanSheet(TextSheet):
    """XlsxWriter's worksheet, with a shorter path for a formatted number, text or empty cell, and for a row."""

    _pending: tuple[int, int, list[str], list[Any]] | None = None
    _row_tags: dict[int, str] | None = None
    _letters: list[str] | None = None
    #: Told of each row :meth:`put_row` wrote, as it is written out (its index and XML): a round keeps 汇总's rows so
    #: (see reuse.SummaryRows); None: nobody is told.
    rows_seen: Callable[[int, str], None] | None = None

    def put_row(self, row: int, height: float, values: Sequence[Any], fmts: Sequence[Any], text_fmt: Any, date_fmt: Any) -> bool:
        """Write ``values`` into columns 0, 1, … of ``row``, each with its format, the row ``height`` points tall:
        the bytes that ``set_row`` and, per cell, the roll-up writer's ``_put`` (``write_string``/``write_number``/
        ``write_datetime``/``write_blank``) write, with one pass over the row instead of a call chain per cell.

        A value is None or "" (an empty cell), a str (kept as text whatever it starts with), a bool (是/否),
        a Decimal, int or float (a number), or a datetime (a number; ``date_fmt`` instead of ``text_fmt``).
        Returns False, having written nothing, for anything else (another type, a text past half of Excel's
        limit, a number that is not finite, a text XlsxWriter would take for a rich string) or when the row
        cannot be written in order: the caller writes that row cell by cell. Like XlsxWriter in constant-
        memory mode, the row is kept until the next row is touched, and its cells' format indices are asked
        for only then, in column order, so that formats are numbered as XlsxWriter numbers them.
        """
        if not self.constant_memory or self.comments or len(fmts) < len(values) or None in fmts:
            return False  # (a cell without a format of its own takes its row's or column's: XlsxWriter's rules)
        if row < self.previous_row or (row == self.previous_row and (self._pending is not None or self.table.get(row) or row in self.row_info)):
            return False  # (a row already written out, or the row being written: written to cell by cell)
        payloads: list[str] = []
        used = list(fmts[:len(values)])
        add = payloads.append
        plain = _PLAIN_BREAKERS.search
        numbers, texts = _NUMBERS, _TEXTS
        for col, value in enumerate(values):
            if value is None:
                add("/>")
                continue
            kind = type(value)
            if kind is Decimal or kind is int or kind is float:
                try:
                    # (equal numbers are the same float, so the same text; but 0 and -0, which are kept apart)
                    got = numbers.get(value) if value else None
                except TypeError:  # a signalling NaN cannot be hashed: XlsxWriter's way
                    return False
                if got is None:
                    number = float(value)
                    if number - number:  # not finite (inf − inf and nan − nan are nan)
                        return False
                    got = f"><v>{number:.16G}</v></c>"
                    if value:
                        if len(numbers) >= _NUMBERS_KEPT:
                            numbers.clear()
                        numbers[value] = got
                add(got)
            elif kind is str:
                got = texts.get(value)
                if got is not None:
                    add(got)
                elif not value:
                    add("/>")
                elif len(value) > _SHORT_TEXT:
                    return False
                else:
                    if plain(value) is None and not value[0].isspace() and not value[-1].isspace():
                        got = f' t="inlineStr"><is><t>{value}</t></is></c>'
                    else:
                        got = self._text(json_text(value))
                        if got is None:
                            return False
                    if len(value) <= _TEXTS_UP_TO:
                        if len(texts) >= _TEXTS_KEPT:
                            texts.clear()
                        texts[value] = got
                    add(got)
            elif kind is bool:
                add(' t="inlineStr"><is><t>是</t></is></c>' if value else ' t="inlineStr"><is><t>否</t></is></c>')
            elif kind is dt.datetime:
                if used[col] is text_fmt:
                    used[col] = date_fmt
                add(f"><v>{self._convert_date_time(value):.16G}</v></c>")
            else:
                return False  # (what _put does with it: XlsxWriter's way, cell by cell)
        if not payloads or self._check_dimensions(row, 0) or self._check_dimensions(row, len(payloads) - 1):
            return False
        self._write_single_row(row)  # the row before, as XlsxWriter writes it when a later row is touched
        px = int(height * 4.0 / 3.0 + 0.5)  # set_row's pixels, and what it records
        sizes: Any = getattr(self, "row_sizes")  # noqa: B009 - (XlsxWriter's attribute, untyped)
        if COMPACT_ROW_SIZES and type(sizes) is dict:
            sizes = RowSizes(sizes)
            setattr(self, "row_sizes", sizes)  # noqa: B010
        if px == 0:
            sizes[row] = [self.default_row_height, True]
        else:
            sizes[row] = [px, False]
        self._pending = (row, px, payloads, used)
        return True

    def _text(self, string: str) -> str | None:
        """A text cell's XML after ``r`` and ``s``, XlsxWriter's way; None for what it would take for a rich string."""
        if len(string) > _SHORT_TEXT:
            return None
        string = self._escape_control_characters(string)
        if string.startswith("<r>") and string.endswith("</r>"):
            return None
        space = ' xml:space="preserve"' if _preserve_whitespace(string) else ""
        return f' t="inlineStr"><is><t{space}>{self._escape_data(string)}</t></is></c>'

    def _row_tag(self, px: int) -> str:
        """What XlsxWriter writes after ``<row r="N"`` for a row ``px`` pixels tall (set by set_row, no format)."""
        tags = self._row_tags
        if tags is None:
            tags = self._row_tags = {}
        tag = tags.get(px)
        if tag is None:
            info = RowInfo(height=px, row_format=None, hidden=False, level=0, collapsed=False) if px else \
                RowInfo(height=self.default_row_height, row_format=None, hidden=True, level=0, collapsed=False)
            fh: Any = self.fh  # type: ignore[has-type]
            out = io.StringIO()
            self.fh = out
            try:
                self._write_row(0, None, info)
            finally:
                self.fh = fh
            tag = out.getvalue()
            assert tag.startswith('<row r="1"'), tag
            tag = tags[px] = tag[len('<row r="1"'):]
        return tag

    def _write_single_row(self, current_row_num: int = 0) -> None:
        pending = self._pending
        if pending is None:
            super()._write_single_row(current_row_num)
            return
        self._pending = None
        row, px, payloads, fmts = pending
        assert not self.table.get(row), "a row written by put_row was written to cell by cell too"
        letters = self._letters
        if letters is None or len(letters) < len(payloads):
            letters = self._letters = [xl_col_to_name(c) for c in range(max(len(payloads), 64))]
        r = str(row + 1)
        xfs = [fmt.xf_index for fmt in fmts]
        if None in xfs:  # a format not numbered yet: numbered now, in column order, as XlsxWriter does
            xfs = [fmt._get_xf_index() for fmt in fmts]
        text = (f'<row r="{r}"{self._row_tag(px)}'
                + "".join([f'<c r="{letters[c]}{r}" s="{xf}"{payloads[c]}' for c, xf in enumerate(xfs)])
                + "</row>")
        self.fh.write(text)
        if self.rows_seen is not None:
            self.rows_seen(row, text)
        self.previous_row = current_row_num
        self.table.clear()

    def _write_cell(self, row: int, col: int, cell: Any) -> None:
        kind = type(cell)
        fmt = cell.format
        if fmt is None or not (kind is CellNumberTuple or kind is CellBlankTuple or (kind is CellStringTuple and self.constant_memory)):
            # (without a format of its own a cell takes its row's or column's: XlsxWriter's rules)
            super()._write_cell(row, col, cell)
            return
        head = f'<c r="{xl_rowcol_to_cell_fast(row, col)}" s="{fmt._get_xf_index()}"'
        if kind is CellNumberTuple:
            self.fh.write(f"{head}><v>{cell.number:.16G}</v></c>")
        elif kind is CellBlankTuple:
            self.fh.write(f"{head}/>")
        else:
            string = self._escape_control_characters(cell.string)
            if string.startswith("<r>") and string.endswith("</r>"):  # what XlsxWriter writes as a rich string
                super()._write_cell(row, col, cell)
                return
            space = ' xml:space="preserve"' if _preserve_whitespace(string) else ""
            self.fh.write(f'{head} t="inlineStr"><is><t{space}>{self._escape_data(string)}</t></is></c>')
