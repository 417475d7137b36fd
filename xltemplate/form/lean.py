"""The form's workbook written with less Python per workbook, byte for byte as stock XlsxWriter writes it.

``generate`` writes hundreds of workbooks of one spec in a run, and most of what XlsxWriter assembles
for each of them is the same from one workbook to the next: the form's data validations (dozens of
them, each escaped attribute by attribute), the styles, the ~200 defined names, the document's list of
parts. Each of these XML pieces is a pure function of state XlsxWriter holds; :class:`LeanWorkbook` and
:class:`LeanFormSheet` remember a piece by that whole state, exactly (:func:`state_key`: the values
and their types, compared in full — never a hash, never anything read from a file), and write the
remembered text when the state is the same again. The form sheet's cells (a shared string, a number,
an empty cell, a formula with its cached result, each with its format) are written by one f-string
each, with XlsxWriter's own escaping; anything else goes to XlsxWriter.

It leans on XlsxWriter internals (the packager's part writers, the cell tuples, ``fh``), so it runs only
with the XlsxWriter version it was compared with byte for byte (:data:`VERIFIED_XLSXWRITER`;
tests/test_generate_lean.py writes whole workbooks both ways); with any other version, or with
:data:`USE_LEAN` off, the stock writer runs.
"""

from __future__ import annotations

import copy
import datetime as dt
import marshal
from io import StringIO
from zipfile import ZIP_DEFLATED, ZipFile, ZipInfo
from typing import Any, Callable

import xlsxwriter
from xlsxwriter.app import App
from xlsxwriter.color import Color
from xlsxwriter.format import Format
from xlsxwriter.packager import Packager
from xlsxwriter.sharedstrings import SharedStrings
from xlsxwriter.styles import Styles
from xlsxwriter.exceptions import OverlappingRange
from xlsxwriter.utility import xl_col_to_name, xl_range, xl_rowcol_to_cell_fast
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import CellBlankTuple, CellFormulaTuple, CellNumberTuple, CellStringTuple

from .sheet import FormSheet

#: The XlsxWriter version whose output the lean writer was compared with.
VERIFIED_XLSXWRITER = "3.3.1"
#: Use the lean writer (with the verified XlsxWriter only); False: XlsxWriter's own (the tests compare both).
USE_LEAN = True
#: The national form's pieces (issue 15, sixteenth pass): each data validation's XML remembered by its options
#: alone, its cells put in (a national workbook's validations are its own as a set: the units of its targets are
#: in their prompts, so the whole set was written anew for every workbook), the sorted defined names and named
#: ranges remembered by the names and the sheets' print ranges, the form sheet's rows written with one f-string
#: each (their string, number and blank cells in the loop itself), merged ranges padded without a call per cell, a
#: formula stored plain before stored again without XlsxWriter's search for dynamic array functions, each shared
#: string's <si> remembered by its text. Output byte for byte the same (tests/test_generate_lean.py). Saves a sixth
#: of a national workbook's CPU time (one job, 300 workbooks, interleaved: 16.0 -> 13.6 ms a workbook; generate 1,000
#: --jobs 2, the process tree's CPU 18.5 -> 15.1 s, first form 12.6 -> 11.4 s; load 4-6). Memory: a generate worker's
#: peak 64 -> 69 MB (the pieces' tables, each bounded by _keep's limit). False: as before.
LEAN_PIECES = True
#: Pieces remembered per kind in one process, the least recently used forgotten first: a run of one spec
#: needs one or a few, a national run one per shape of rows. The largest (a national sheet's validations,
#: tens of KB) keep a worker's memory a few MB above what it was.
MEMO_LIMIT = 64

# Format attributes that are not the format's own properties: references to the workbook's shared tables.
_NOT_FORMAT = frozenset({"fh", "internal_fh", "xf_format_indices", "dxf_format_indices"})
# Cached results XlsxWriter writes with a type of their own (an error, a boolean): left to XlsxWriter.
_ERRORS = frozenset({"#DIV/0!", "#N/A", "#NAME?", "#NULL!", "#NUM!", "#REF!", "#VALUE!"})

_memo: dict[str, dict[Any, Any]] = {}


def lean_enabled() -> bool:
    return USE_LEAN and xlsxwriter.__version__ == VERIFIED_XLSXWRITER


def state_key(state: Any) -> bytes | None:
    """The whole of ``state`` as bytes, or None when it holds anything but plain values and datetimes.

    marshal writes str, int, float, bool, None, list, tuple and dict (in order) with their exact types
    and full values, and refuses anything else (a subclass, a Format): two states with the same bytes are
    the same values of the same types, so XlsxWriter writes the same XML for them. Version 2: no
    back-references, so equal values give equal bytes however they are shared. A state holding a
    datetime (a date validation's bounds) or a colour (a format's) is first spelt out by :func:`_tagged`.
    """
    try:
        return b"P" + marshal.dumps(state, 2)
    except ValueError:
        pass
    try:  # (another first byte: a plain state that looks like a spelt-out one is still another key)
        return b"T" + marshal.dumps(_tagged(state), 2)
    except (ValueError, TypeError):
        return None


_DATES = (dt.datetime, dt.date, dt.time, dt.timedelta)
_COLOR_ATTRS = {"_rgb_value", "_type", "_theme_color", "_is_automatic"}


def _tagged(value: Any) -> Any:
    """``value`` spelt out so that no two different values become the same: a part marshal takes as its
    bytes (tagged "M"), any other container by its type and its parts, a datetime by its repr (exact, with
    its time zone), an XlsxWriter colour by its four attributes; anything else: TypeError."""
    try:
        return ("M", marshal.dumps(value, 2))
    except ValueError:
        pass
    kind = type(value)
    if kind is dict:
        return ("D", tuple((_tagged(k), _tagged(v)) for k, v in value.items()))
    if kind is list or kind is tuple:
        return ("L" if kind is list else "T", tuple(_tagged(v) for v in value))
    if kind in _DATES:
        return ("W", kind.__name__, repr(value))
    if kind is Color:  # a format's colours
        attrs = vars(value)
        if set(attrs) != _COLOR_ATTRS:
            raise TypeError(kind)
        return ("C", _tagged(attrs["_rgb_value"]), attrs["_type"].name, _tagged(attrs["_theme_color"]),
                _tagged(attrs["_is_automatic"]))
    raise TypeError(kind)


def remembered(kind: str, key: bytes | None, write: Callable[[StringIO], None], out: Any) -> None:
    """Write to ``out`` what ``write`` writes for the state whose :func:`state_key` is ``key``: the remembered
    text if the same state was seen; None: a state not to remember."""
    table = _memo.setdefault(kind, {})
    text = _recall(table, key)
    if text is None:
        buf = StringIO()
        write(buf)
        text = buf.getvalue()
        _keep(table, key, text)
    out.write(text)


def _recall(table: dict[Any, Any], key: Any) -> Any:
    """The value remembered for ``key`` (None: none), kept as the most recently used."""
    if key is None:
        return None
    found = table.pop(key, None)
    if found is not None:
        table[key] = found
    return found


def _keep(table: dict[Any, Any], key: Any, value: Any, scale: int = 1) -> None:
    """Remember ``value`` for ``key`` (not for None), forgetting the least recently used past ``scale`` × the limit."""
    if key is None:
        return
    limit = max(1, scale * MEMO_LIMIT)
    while len(table) >= limit:
        del table[next(iter(table))]
    table[key] = value


def forget() -> None:
    """Forget every remembered piece (tests)."""
    _memo.clear()


_COLORS = ("font_color", "fg_color", "bg_color", "bottom_color", "diag_color", "left_color", "right_color", "top_color",
           "dxf_fg_color", "dxf_bg_color")  # (the last two: a conditional format's, copied by the workbook as it closes)


def _format_state(fmt: Any) -> dict[str, Any] | None:
    """A format's own properties as plain values (its colours spelt out), or None when any is not plain."""
    state = dict(vars(fmt))
    for name in _NOT_FORMAT:
        state.pop(name, None)
    for name in _COLORS:
        value = state.get(name)
        if type(value) is Color:
            attrs = vars(value)
            if set(attrs) != _COLOR_ATTRS:
                return None
            state[name] = ("C", attrs["_rgb_value"], attrs["_type"].name, attrs["_theme_color"], attrs["_is_automatic"])
        elif value is not None:  # (a colour is a Color or None: a tuple here could pass for one)
            return None
    return state


class LeanFormSheet(FormSheet):
    """The form sheet, its cells written by one f-string each and its data validations remembered."""

    def _write_cell(self, row: int, col: int, cell: Any) -> None:
        kind = type(cell)
        fmt = cell.format
        if fmt is None:  # the row's or the column's format then: XlsxWriter's rules
            super()._write_cell(row, col, cell)
            return
        head = f'<c r="{xl_rowcol_to_cell_fast(row, col)}" s="{fmt._get_xf_index()}"'
        if kind is CellStringTuple and not self.constant_memory:
            self.fh.write(f'{head} t="s"><v>{cell.string}</v></c>')
        elif kind is CellNumberTuple:
            self.fh.write(f"{head}><v>{cell.number:.16G}</v></c>")
        elif kind is CellBlankTuple:
            self.fh.write(f"{head}/>")
        elif kind is CellFormulaTuple and type(cell.value) in (int, float):
            self.fh.write(f"{head}><f>{self._escape_data(cell.formula)}</f><v>{cell.value}</v></c>")
        elif kind is CellFormulaTuple and type(cell.value) is str and cell.value and cell.value not in _ERRORS:
            self.fh.write(f'{head} t="str"><f>{self._escape_data(cell.formula)}</f><v>{self._escape_data(cell.value)}</v></c>')
        else:
            super()._write_cell(row, col, cell)

    # XlsxWriter's public cell writers only turn "A1" text into a row and a column, then call these: with a
    # row and column given as numbers (as SheetWriter gives them), call them directly.
    def write_string(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs or not args or type(args[0]) is not int:
            return super().write_string(*args, **kwargs)
        return self._write_string(*args)

    def write_number(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs or not args or type(args[0]) is not int:
            return super().write_number(*args, **kwargs)
        return self._write_number(*args)

    def write_blank(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs or not args or type(args[0]) is not int:
            return super().write_blank(*args, **kwargs)
        return self._write_blank(*args)

    def write_formula(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs or not args or type(args[0]) is not int:
            return super().write_formula(*args, **kwargs)
        if not LEAN_PIECES or len(args) < 3 or type(args[1]) is not int or type(args[2]) is not str or self.constant_memory:
            return self._write_formula(*args)
        # XlsxWriter looks for dynamic array functions in every formula (a regular expression): a formula it stored
        # as a plain one before is stored so again, as _write_formula stores it.
        row, col, formula = args[:3]
        plain = _memo.setdefault("plain_formula", {})
        if _recall(plain, formula) is None:
            code = self._write_formula(*args)
            if code == 0 and type(self.table[row][col]) is CellFormulaTuple:
                _keep(plain, formula, True, 64)
            return code
        if self._check_dimensions(row, col):
            return -1
        self.table[row][col] = CellFormulaTuple(self._prepare_formula(formula), args[3] if len(args) > 3 else None,
                                                args[4] if len(args) > 4 else 0)
        return 0

    def data_validation(self, first_row: Any, first_col: Any = None, last_row: Any = None, last_col: Any = None,
                        options: dict[str, Any] | None = None) -> Any:
        # What XlsxWriter stores for a validation depends on its options (and the workbook's date
        # settings) alone, but for the cells it applies to: remembered for options seen before. A cell
        # range given as A1 text, extra cells, options not plain or refused: XlsxWriter's own path.
        if not (type(first_row) is int and type(first_col) is int and type(last_row) is int and type(last_col) is int) \
                or options is None or "other_cells" in options:
            return super().data_validation(first_row, first_col, last_row, last_col, options)
        key = state_key((options, self.date_1904, self.remove_timezone))
        if key is None:
            return super().data_validation(first_row, first_col, last_row, last_col, options)
        table = _memo.setdefault("data_validation", {})
        stored = _recall(table, key)
        if stored is None:
            code = super().data_validation(first_row, first_col, last_row, last_col, options)
            if code == 0:
                # (a copy of its own: the caller's lists in the options are the caller's to change later)
                entry = copy.deepcopy({k: v for k, v in self.validations[-1].items() if k != "cells"})
                _keep(table, key, entry, 64)
                self._keyed.append((key, self.validations[-1]))
            return code
        if self._check_dimensions(first_row, first_col, True, True) or self._check_dimensions(last_row, last_col, True, True):
            return -1
        entry = dict(stored)
        entry["cells"] = [[first_row, first_col, last_row, last_col]]
        self.validations.append(entry)
        self._keyed.append((key, entry))
        return 0

    @property
    def _keyed(self) -> list[tuple[bytes, dict[str, Any]]]:
        """Each validation this sheet stored from remembered options: the options' key and the entry."""
        keyed = self.__dict__.get("_lean_keyed")
        if keyed is None:
            keyed = self.__dict__["_lean_keyed"] = []
        return keyed

    def _validations_key(self) -> bytes | None:
        # The validations written are the entries stored, each made from its options alone but for its cells:
        # when every entry is one data_validation stored from keyed options (the same objects, in order), their
        # keys and cells are the whole state, without spelling out the entries again.
        keyed = self._keyed
        if len(keyed) != len(self.validations) or any(e is not v for (_, e), v in zip(keyed, self.validations)):
            return state_key(self.validations)
        return state_key(("keyed", [(k, e["cells"]) for k, e in keyed]))

    def _write_data_validations(self) -> None:
        fh: Any = getattr(self, "fh")  # (XlsxWriter's attribute, untyped)

        def write(buf: StringIO) -> None:
            self.fh = buf
            try:
                if not (LEAN_PIECES and self._write_keyed_validations()):
                    FormSheet._write_data_validations(self)
            finally:
                self.fh = fh

        remembered("validations", self._validations_key(), write, fh)

    def _write_keyed_validations(self) -> bool:
        """Write the validations from each one's remembered XML, its cells put in; False (nothing written) when
        any was not stored from keyed options (the same objects, in order) for one range of cells."""
        keyed, validations = self._keyed, self.validations
        if not keyed or len(keyed) != len(validations) or any(e is not v for (_, e), v in zip(keyed, validations)) \
                or any(len(e["cells"]) != 1 or e.get("multi_range") for _, e in keyed):
            return False
        table = _memo.setdefault("validation", {})
        out = [f'<dataValidations count="{len(keyed)}">']
        for key, entry in keyed:
            first_row, first_col, last_row, last_col = entry["cells"][0]
            if first_row > last_row:  # (as XlsxWriter writes a range)
                first_row, last_row = last_row, first_row
            if first_col > last_col:
                first_col, last_col = last_col, first_col
            sqref = xl_range(first_row, first_col, last_row, last_col)
            pieces = _recall(table, key)
            if pieces is None:
                pieces = self._validation_pieces(entry, sqref)
                if pieces is not None:
                    _keep(table, key, pieces, 64)
            if pieces is None:  # (not split: written whole)
                out.append(self._validation_xml(entry))
            else:
                out += (pieces[0], sqref, pieces[1])
        out.append("</dataValidations>")
        self.fh.write("".join(out))
        return True

    def _validation_xml(self, entry: dict[str, Any]) -> str:
        """XlsxWriter's XML of one stored validation."""
        buf = StringIO()
        fh, self.fh = getattr(self, "fh"), buf
        try:
            self._write_data_validation(entry)
        finally:
            self.fh = fh
        return buf.getvalue()

    def _validation_pieces(self, entry: dict[str, Any], sqref: str) -> tuple[str, str] | None:
        """XlsxWriter's XML of one validation cut around its sqref (the start tag's last attribute: no attribute value
        holds a bare quote, and the start tag comes first, so the first ' sqref="' is it), or None if it is not there."""
        text = self._validation_xml(entry)
        at = text.find(' sqref="')
        if at < 0:
            return None
        at += len(' sqref="')
        end = at + len(sqref)
        if text[at:end] != sqref or text[end:end + 1] != '"':
            return None
        return text[:at], text[end:]

    def merge_range(self, *args: Any, **kwargs: Any) -> Any:
        # XlsxWriter's own for numbers (as SheetWriter gives them) in memory, each padding cell stored directly:
        # inside the range's two corners, checked first, so within the sheet and its dimensions already.
        if not LEAN_PIECES or kwargs or len(args) not in (5, 6) or any(type(a) is not int for a in args[:4]) \
                or self.constant_memory:
            return super().merge_range(*args, **kwargs)
        first_row, first_col, last_row, last_col, data = args[:5]
        cell_format = args[5] if len(args) == 6 else None
        if (first_row == last_row and first_col == last_col) or cell_format is None:
            return super().merge_range(*args)
        if first_row > last_row:
            first_row, last_row = last_row, first_row
        if first_col > last_col:
            first_col, last_col = last_col, first_col
        if self._check_dimensions(first_row, first_col) or self._check_dimensions(last_row, last_col):
            return -1
        cell_range = xl_range(first_row, first_col, last_row, last_col)
        merged, tables = self.merged_cells, self.table_cells
        for row in range(first_row, last_row + 1):
            for col in range(first_col, last_col + 1):
                if merged.get((row, col)):
                    raise OverlappingRange(f"Merge range '{cell_range}' overlaps previous merge range '{merged.get((row, col))}'.")
                if tables.get((row, col)):
                    raise OverlappingRange(f"Merge range '{cell_range}' overlaps previous table range '{tables.get((row, col))}'.")
                merged[(row, col)] = cell_range
        self.merge.append([first_row, first_col, last_row, last_col])
        self._write(first_row, first_col, data, cell_format)
        table = self.table
        blank = CellBlankTuple(cell_format)
        for row in range(first_row, last_row + 1):
            cells = table[row]
            for col in range(first_col, last_col + 1):
                if row != first_row or col != first_col:
                    cells[col] = blank
        return 0

    def _write_rows(self) -> None:
        # XlsxWriter's, each row's start tag made by one f-string; the cases it does not cover go to XlsxWriter.
        if not LEAN_PIECES or self.constant_memory or self.comments or self.excel_version == 2010:
            super()._write_rows()
            return
        self._calculate_spans()
        table, row_info, spans, fh = self.table, self.row_info, self.row_spans, self.fh
        write_cell = self._write_cell
        default, original = self.default_row_height, self.original_row_height
        colmin, colmax = self.dim_colmin, self.dim_colmax
        columns: dict[int, str] = {}
        indices: dict[int, int] = {}  # (by the id of a format the table holds: alive through the loop)
        for row_num in range(self.dim_rowmin, self.dim_rowmax + 1):
            info = row_info.get(row_num)
            cells = table[row_num]
            if info is None and not cells:
                continue
            span = spans.get(row_num // 16)
            tag = f'<row r="{row_num + 1}"'
            if span:
                tag += f' spans="{span}"'
            height, row_format = (None, None) if info is None else (info.height, info.row_format)
            if row_format:
                xf_index = row_format._get_xf_index()
                if xf_index:
                    tag += f' s="{xf_index}"'
                tag += ' customFormat="1"'
            if height is None:
                height = default
            custom = height != original or (height == original and height != default)
            if custom:
                tag += f' ht="{height * 0.75:.16g}"'
            if info is not None and info.hidden:
                tag += ' hidden="1"'
            if custom:
                tag += ' customHeight="1"'
            if info is not None and info.level:
                tag += f' outlineLevel="{info.level}"'
            if info is not None and info.collapsed:
                tag += ' collapsed="1"'
            if not cells:
                fh.write(tag + "/>")
                continue
            fh.write(tag + ">")
            number = row_num + 1
            for col_num in sorted(cells):
                if not colmin <= col_num <= colmax:
                    continue
                cell = cells[col_num]
                kind, fmt = type(cell), cell.format
                # (as _write_cell writes them, the column's letters and the format's index looked up once a sheet)
                if fmt is None or (kind is not CellStringTuple and kind is not CellBlankTuple and kind is not CellNumberTuple):
                    write_cell(row_num, col_num, cell)
                    continue
                letters = columns.get(col_num)
                if letters is None:
                    letters = columns[col_num] = xl_col_to_name(col_num)
                index = indices.get(id(fmt))
                if index is None:
                    index = indices[id(fmt)] = fmt._get_xf_index()
                if kind is CellStringTuple:
                    fh.write(f'<c r="{letters}{number}" s="{index}" t="s"><v>{cell.string}</v></c>')
                elif kind is CellBlankTuple:
                    fh.write(f'<c r="{letters}{number}" s="{index}"/>')
                else:
                    fh.write(f'<c r="{letters}{number}" s="{index}"><v>{cell.number:.16G}</v></c>')
            fh.write("</row>")


class LeanWorkbook(Workbook):
    """XlsxWriter's workbook, its defined names, styles and document parts list remembered by their state."""

    def define_name(self, name: str, formula: str) -> Any:
        # A workbook-wide name's entry depends on the name and the formula alone (a sheet-local one,
        # "Sheet!name", also on the sheets): remembered; a refused one always goes to XlsxWriter (its warning).
        if "!" in name:
            return super().define_name(name, formula)
        table = _memo.setdefault("define_name", {})
        key = (name, formula)
        entry = table.get(key)
        if entry is None:
            code = super().define_name(name, formula)
            if code == 0:
                _keep(table, key, tuple(self.defined_names[-1]), 64)
            return code
        self.defined_names.append(list(entry))
        return 0

    def define_names(self, pairs: list[tuple[str, str]]) -> tuple[int, str]:
        """:meth:`define_name` for each (name, formula) in turn: (0, ""), or the first refused name's code and the
        name (the names before it defined). A list of names all defined before is remembered whole."""
        table = _memo.setdefault("define_names", {})
        key = tuple(pairs) if LEAN_PIECES else None
        entries = _recall(table, key)
        if entries is not None:  # (tuples: _prepare_defined_names makes lists of them if it sorts them itself)
            self.defined_names += entries
            return 0, ""
        start = len(self.defined_names)
        for name, formula in pairs:
            code = self.define_name(name, formula)
            if code:
                return int(code), name
        _keep(table, key, tuple(tuple(e) for e in self.defined_names[start:]))
        return 0, ""

    def _prepare_defined_names(self) -> None:
        # The names sorted and the named ranges depend on the names and the sheets' print ranges alone.
        if not LEAN_PIECES:
            super()._prepare_defined_names()
            return
        sheets = [(s.index, s.autofilter_area, s.print_area_range, s.repeat_col_range, s.repeat_row_range)
                  for s in self.worksheets()]
        # (each name's entry a tuple, as define_names gives them: a tuple and a list of the same values are
        # different keys to marshal)
        names = [e if type(e) is tuple else tuple(e) for e in getattr(self, "defined_names")]
        key = state_key((names, sheets))
        table = _memo.setdefault("prepared_names", {})
        found = _recall(table, key)
        if found is None:
            self.defined_names = [list(e) for e in names]  # (XlsxWriter sorts lists: it appends a key to each, then pops it)
            super()._prepare_defined_names()
            found = (tuple(tuple(e) for e in self.defined_names), tuple(getattr(self, "named_ranges")))
            _keep(table, key, found)
        # the sorted names as tuples, shared with the table (XlsxWriter only reads them from here on), in one kind of
        # container whether remembered or not, so that _write_defined_names' key is the same for the same names
        self.defined_names = list(found[0])
        self.named_ranges = list(found[1])

    def _write_defined_names(self) -> None:
        fh: Any = getattr(self, "fh")  # (XlsxWriter's attribute, untyped)

        def write(buf: StringIO) -> None:
            self.fh = buf
            try:
                Workbook._write_defined_names(self)
            finally:
                self.fh = fh

        remembered("defined_names", state_key(self.defined_names), write, fh)

    def _get_packager(self) -> Packager:
        return LeanPackager()

    def add_format(self, properties: dict[str, Any] | None = None) -> Any:
        # A new format's attributes depend on its properties (with the workbook's defaults) alone: copied
        # from the first format made of the same properties, with this workbook's index tables.
        merged = dict(self.default_format_properties)
        if properties:
            merged.update(properties)
        key = state_key(merged)
        table = _memo.setdefault("format", {})
        made = _recall(table, key)
        if made is None:
            fmt = super().add_format(properties)
            if key is not None:  # (its colours copied: the remembered format is nobody else's to change)
                _keep(table, key, {k: copy.copy(v) if type(v) is Color else v for k, v in vars(fmt).items()}, 64)
            return fmt
        fmt = Format.__new__(Format)
        attrs = dict(made)  # (in the order XlsxWriter made them)
        attrs["xf_format_indices"], attrs["dxf_format_indices"] = self.xf_format_indices, self.dxf_format_indices
        fmt.__dict__.update(attrs)
        self.formats.append(fmt)
        return fmt

    def _store_workbook(self) -> None:
        # XlsxWriter 3.3.1's own, for a workbook made in memory (the only kind the form writes), with a zip
        # that remembers each part's deflated bytes by the part's whole text (RememberingZip).
        if not self.in_memory:
            super()._store_workbook()
            return
        xlsx_file = RememberingZip(self.filename, "w", compression=ZIP_DEFLATED, allowZip64=self.allow_zip64)
        packager = self._get_packager()
        if not self.worksheets():
            self.add_worksheet()
        if self.worksheet_meta.activesheet == 0:
            self.worksheets_objs[0].selected = 1
            self.worksheets_objs[0].hidden = 0
        for sheet in self.worksheets():
            if sheet.index == self.worksheet_meta.activesheet:
                sheet.active = 1
        if self.vba_project:
            for sheet in self.worksheets():
                if sheet.vba_codename is None:
                    sheet.set_vba_name()
        self._prepare_sst_string_data()
        self._prepare_vml()
        self._prepare_defined_names()
        self._prepare_drawings()
        self._add_chart_data()
        self._prepare_tables()
        self._prepare_metadata()
        packager._add_workbook(self)
        packager._set_tmpdir(self.tmpdir)
        packager._set_in_memory(self.in_memory)
        xml_files = packager._create_package()
        packager = None
        for os_filename, xml_filename, is_binary in xml_files:
            zipinfo = ZipInfo(xml_filename, (1980, 1, 1, 0, 0, 0))
            zipinfo.compress_type = xlsx_file.compression
            if is_binary:
                xlsx_file.writestr(zipinfo, os_filename.getvalue())
            else:
                xlsx_file.writestr(zipinfo, os_filename.getvalue().encode("utf-8"))
        xlsx_file.close()


#: A part longer than this is not remembered deflated (a form sheet, its strings: each workbook's own).
DEFLATE_LIMIT = 1 << 15


class RememberingZip(ZipFile):
    """A zip that deflates a part it was given before, byte for byte, only once per process.

    zlib deflates the same bytes at the same level to the same bytes; the zip's headers, CRC and sizes are
    still the zip module's own (it is handed the remembered deflated bytes in place of its compressor's).
    Keyed by the part's whole content, its compression and level. Should the zip module stop writing
    through ``_compressor``, nothing is remembered and it deflates as usual.
    """

    _replay: bytes | None = None
    _record: list[bytes] | None = None

    def writestr(self, zinfo_or_arcname: Any, data: Any, compress_type: Any = None, compresslevel: Any = None) -> None:
        if not isinstance(zinfo_or_arcname, ZipInfo) or type(data) is not bytes or len(data) > DEFLATE_LIMIT \
                or compress_type is not None or compresslevel is not None:
            super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)
            return
        table = _memo.setdefault("deflated", {})
        key = (zinfo_or_arcname.compress_type, getattr(zinfo_or_arcname, "_compresslevel", None), data)
        self._replay = _recall(table, key)
        self._record = [] if self._replay is None else None
        try:
            super().writestr(zinfo_or_arcname, data)
            if self._record is not None and len(self._record) == 2:  # what compress() and flush() gave
                _keep(table, key, b"".join(self._record))
        finally:
            self._replay = self._record = None

    def _open_to_write(self, zinfo: ZipInfo, force_zip64: bool = False) -> Any:
        dest = super()._open_to_write(zinfo, force_zip64)  # type: ignore[misc]
        compressor = getattr(dest, "_compressor", None)
        if compressor is None:
            self._replay = self._record = None
        elif self._replay is not None:
            dest._compressor = _Replay(self._replay)
        elif self._record is not None:
            dest._compressor = _Recorder(compressor, self._record)
        return dest


class _Recorder:
    """A compressor that keeps what it gives."""

    def __init__(self, inner: Any, out: list[bytes]) -> None:
        self.inner, self.out = inner, out

    def compress(self, data: bytes) -> bytes:
        got: bytes = self.inner.compress(data)
        self.out.append(got)
        return got

    def flush(self, *args: Any) -> bytes:
        got: bytes = self.inner.flush(*args)
        self.out.append(got)
        return got


class _Replay:
    """A compressor that gives the remembered deflated bytes (all of them at the end, as a flush may)."""

    def __init__(self, deflated: bytes) -> None:
        self.deflated = deflated

    def compress(self, data: bytes) -> bytes:
        return b""

    def flush(self, *args: Any) -> bytes:
        return self.deflated


class LeanSharedStrings(SharedStrings):
    """XlsxWriter's shared strings, each string's ``<si>`` remembered by the string's whole text (with LEAN_PIECES):
    a national workbook's headers, labels, levels and most of its indicators' texts are the next one's too."""

    def _write_sst_strings(self) -> None:
        if not LEAN_PIECES:
            super()._write_sst_strings()
            return
        table = _memo.setdefault("si", {})
        fh: Any = getattr(self, "fh")  # (XlsxWriter's attribute, untyped)
        out = []
        for string in getattr(self, "string_table").string_array:
            piece = _recall(table, string) if type(string) is str else None
            if piece is None:
                buf = StringIO()
                self.fh = buf
                try:
                    self._write_si(string)
                finally:
                    self.fh = fh
                piece = buf.getvalue()
                if type(string) is str:
                    _keep(table, string, piece, 64)
            out.append(piece)
        fh.write("".join(out))


class LeanPackager(Packager):
    """XlsxWriter's packager, the styles and the document's parts list remembered by their whole state."""

    def _write_shared_strings_file(self) -> None:
        # XlsxWriter 3.3.1's own, with the lean shared strings.
        sst = LeanSharedStrings()
        sst.string_table = self.workbook.str_table
        if not self.workbook.str_table.count:
            return
        sst._set_xml_writer(self._filename("xl/sharedStrings.xml"))
        sst._assemble_xml_file()

    def _write_styles_file(self) -> None:
        wb = self.workbook
        formats = [_format_state(f) for f in wb.xf_formats] + [None] + [_format_state(f) for f in wb.dxf_formats]
        key = None if formats.count(None) != 1 else state_key((formats, wb.palette, wb.font_count, wb.num_formats,
                                                         wb.border_count, wb.fill_count, wb.custom_colors, wb.has_comments))

        def write(buf: StringIO) -> None:
            styles = Styles()
            styles._set_style_properties([wb.xf_formats, wb.palette, wb.font_count, wb.num_formats, wb.border_count,
                                          wb.fill_count, wb.custom_colors, wb.dxf_formats, wb.has_comments])
            styles._set_xml_writer(buf)
            styles._assemble_xml_file()

        remembered("styles", key, write, self._filename("xl/styles.xml"))

    def _write_app_file(self) -> None:
        # As Packager._write_app_file builds it; then its whole state is the key.
        wb = self.workbook
        app = App()
        count = 0
        for sheet in wb.worksheets():
            if not sheet.is_chartsheet and sheet.hidden != 2:  # very hidden sheets are not listed
                app._add_part_name(sheet.name)
                count += 1
        app._add_heading_pair(["Worksheets", count])
        for sheet in wb.worksheets():
            if sheet.is_chartsheet:
                app._add_part_name(sheet.name)
        app._add_heading_pair(["Charts", self.chartsheet_count])
        if self.named_ranges:
            app._add_heading_pair(["Named Ranges", len(self.named_ranges)])
        for named_range in self.named_ranges:
            app._add_part_name(named_range)
        app._set_properties(wb.doc_properties)
        app.doc_security = wb.read_only
        state = (app.part_names, app.heading_pairs, app.properties, app.doc_security)

        def write(buf: StringIO) -> None:
            app._set_xml_writer(buf)
            app._assemble_xml_file()

        remembered("app", state_key(state), write, self._filename("docProps/app.xml"))
