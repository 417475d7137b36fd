"""The roster: one row per unit (or project) the bureau sends a workbook to.

A roster is a CSV (UTF-8, with or without BOM, or GB18030 as Chinese Excel
saves it) or an .xlsx whose first sheet has a header row. It needs a key column
(``key`` or ``编号``); other columns are named by a field's id or label and
prefill that field, or are one of the contact columns (:data:`CONTACT_COLUMNS`:
联系人, 电话, 邮箱 …), kept as text for the clerk's reminders and never written into
a workbook. Any other column is refused (a misspelt field must not be dropped
silently). Every problem names its row and column, and a roster with any problem
is refused whole.
"""

from __future__ import annotations

import bisect
import csv
import io
import pickle
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence, overload

from .catalog import TemplateLike, as_spec
from .errors import BoundExceeded, Problem, RosterError, Unreadable
from .readers.sniff import sniff
from .spec import FIELD_TYPE_NAMES, Field
from .text import did_you_mean
from .values import is_blank, parse_field
from .workers import Bounds, run_bounded

KEY_COLUMNS = ("key", "编号")
#: Columns recognised as a unit's contact details (compared without case or spaces): kept as text for
#: ``round remind``, not prefilled. A column that names a field of the template is that field first
#: (a form may have a 联系电话 field of its own).
CONTACT_COLUMNS = ("联系人", "联系电话", "电话", "手机", "邮箱", "电子邮箱", "email", "e-mail")
#: Field types as the clerk knows them, for messages.
TYPE_ZH = FIELD_TYPE_NAMES


def _roster_bounds() -> Bounds:
    return Bounds(seconds=30.0)


@dataclass(frozen=True)
class RosterRow:
    """One roster row: its key, the prefilled field values, and where it came from."""

    key: str
    line: int  # the row number as the file shows it (header is row 1)
    prefill: dict[str, Any] = field(default_factory=dict)
    contact: dict[str, str] = field(default_factory=dict)  # contact column → its text (blank cells left out)

    def label(self, field_id: str) -> str:
        v = self.prefill.get(field_id)
        return "" if v is None else str(v)


#: Keep a read roster's rows packed: each row's key, line, values and contacts pickled into one buffer, and
#: decoded into a :class:`RosterRow` when it is asked for (about 150 bytes a unit instead of 750: 75 MB at
#: 100,000 units, held by the main process and by every worker forked from it; issue 15). False: a tuple of
#: :class:`RosterRow` (the tests compare).
PACKED = True
#: With PACKED, a repeated key is found from the packed rows' sorted key index after they are read
#: (:meth:`PackedRows.repeated`), not with a dict of every key while they are read (issue 15: ~7 MB at 100,000
#: units, on top of the reading's other transients); False: the dict, as before (the tests compare).
DUPLICATES_FROM_INDEX = True


class PackedRows(Sequence[RosterRow]):
    """A roster's rows, in order, packed (see :data:`PACKED`); looked up by key through a sorted key index.

    Reads as a tuple of :class:`RosterRow` (length, index, slices, iteration, equality); each access decodes
    the row anew, except the last one decoded, which is kept (a row's cells are asked for in turn). The rows
    are only ever decoded from bytes this process pickled itself.
    """

    __slots__ = ("_blob", "_ends", "_keys", "_key_ends", "_order", "_fields", "_contacts", "_last")

    def __init__(self, rows: Iterable[RosterRow], fields: Sequence[str], contacts: Sequence[str]) -> None:
        self._fields, self._contacts = tuple(fields), tuple(contacts)
        self._blob, self._ends = bytearray(), array("Q")
        keys: list[tuple[str, int]] = []
        for n, row in enumerate(rows):
            self._blob += pickle.dumps(self._record(row), protocol=pickle.HIGHEST_PROTOCOL)
            self._ends.append(len(self._blob))
            keys.append((row.key, n))
        keys.sort()
        self._keys, self._key_ends, self._order = bytearray(), array("Q"), array("Q")
        for key, n in keys:
            self._keys += key.encode("utf-8", "surrogatepass")
            self._key_ends.append(len(self._keys))
            self._order.append(n)
        self._last: tuple[int, RosterRow] | None = None

    def _record(self, row: RosterRow) -> tuple[Any, ...]:
        # values in the fields' order (None: not prefilled, as a blank cell is never kept), contacts likewise ("")
        if set(row.prefill) - set(self._fields) or set(row.contact) - set(self._contacts):
            raise ValueError(f"roster row {row.key!r} has values outside its columns")
        return (row.key, row.line, tuple(row.prefill.get(f) for f in self._fields),
                tuple(row.contact.get(c, "") for c in self._contacts))

    def _decode(self, n: int) -> RosterRow:
        last = self._last
        if last is not None and last[0] == n:
            return last[1]
        start = self._ends[n - 1] if n else 0
        key, line, values, contacts = pickle.loads(self._blob[start:self._ends[n]])
        row = RosterRow(key=key, line=line, prefill={f: v for f, v in zip(self._fields, values) if v is not None},
                        contact={c: t for c, t in zip(self._contacts, contacts) if t})
        self._last = (n, row)
        return row

    def __len__(self) -> int:
        return len(self._ends)

    @overload
    def __getitem__(self, n: int) -> RosterRow: ...
    @overload
    def __getitem__(self, n: slice) -> tuple[RosterRow, ...]: ...
    def __getitem__(self, n: int | slice) -> RosterRow | tuple[RosterRow, ...]:
        if isinstance(n, slice):
            return tuple(self._decode(i) for i in range(*n.indices(len(self))))
        if n < 0:
            n += len(self._ends)
        if not 0 <= n < len(self._ends):
            raise IndexError("roster row index out of range")
        return self._decode(n)

    def __iter__(self) -> Iterator[RosterRow]:
        return (self._decode(n) for n in range(len(self._ends)))

    def _key(self, i: int) -> str:
        start = self._key_ends[i - 1] if i else 0
        return self._keys[start:self._key_ends[i]].decode("utf-8", "surrogatepass")

    def index(self, key: Any, start: int = 0, stop: int | None = None) -> int:
        """The position of the row whose key is ``key`` (ValueError if none): a binary search of the keys."""
        if isinstance(key, str):
            i = bisect.bisect_left(_Keys(self), key)
            if i < len(self._key_ends) and self._key(i) == key:
                return self._order[i]
        raise ValueError(key)

    def by_keys(self) -> Iterator[tuple[str, int]]:
        """(key, position) of each row in the order of the keys (``str`` order), without decoding the rows."""
        return ((self._key(i), self._order[i]) for i in range(len(self._order)))

    def repeated(self) -> Iterator[tuple[str, int, int]]:
        """(key, the line of its first row, the line of a later row) for each row whose non-empty key an earlier row
        has, in the rows' order: found from the sorted key index (a key's rows are next to each other in it, in
        their order), with only such rows decoded."""
        found: list[tuple[int, int, str]] = []  # (position, first line, key)
        last, first = None, 0
        for i in range(len(self._order)):
            key, n = self._key(i), self._order[i]
            if key == last and key:
                found.append((n, first, key))
            else:
                last, first = key, n
        firsts: dict[int, int] = {}
        for n, at, key in sorted(found):
            line = firsts.setdefault(at, self._decode(at).line)
            yield key, line, self._decode(n).line

    def keys(self) -> Iterator[str]:
        """The keys in the roster's order."""
        return (key for key, _n in self.keyed())

    def keyed(self) -> Iterator[tuple[str, int]]:
        """(key, position) of each row, in the roster's order, without decoding the rows."""
        at = array("Q", bytes(8 * len(self._order)))  # position → its place among the sorted keys
        for i, n in enumerate(self._order):
            at[n] = i
        return ((self._key(i), n) for n, i in enumerate(at))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (PackedRows, tuple)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"PackedRows({len(self)} rows)"


class _Keys(Sequence[str]):
    """The sorted keys of a :class:`PackedRows`, each decoded when :func:`bisect.bisect_left` looks at it."""

    __slots__ = ("rows",)

    def __init__(self, rows: PackedRows) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows._key_ends)

    def __getitem__(self, i: int) -> str:  # type: ignore[override]
        return self.rows._key(i)


class _ByKey(Mapping[str, RosterRow]):
    """key → row over packed rows, decoding a row only when it is looked up."""

    __slots__ = ("rows",)

    def __init__(self, rows: PackedRows) -> None:
        self.rows = rows

    def __getitem__(self, key: str) -> RosterRow:
        try:
            return self.rows[self.rows.index(key)]
        except ValueError:
            raise KeyError(key) from None

    def __contains__(self, key: object) -> bool:
        try:
            self.rows.index(key)
        except ValueError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return self.rows.keys()

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class Roster:
    path: Path
    rows: Sequence[RosterRow]  # a tuple, or packed (:class:`PackedRows`, as :func:`read_roster` makes it)
    columns: dict[str, str]  # column header → field id
    contact_columns: tuple[str, ...] = ()  # the contact columns, in the roster's order

    def by_key(self) -> Mapping[str, RosterRow]:
        """key → row: a dict, or over packed rows a view that decodes only the rows looked up."""
        if isinstance(self.rows, PackedRows):
            return _ByKey(self.rows)
        return {r.key: r for r in self.rows}

    def keys(self) -> Iterator[str]:
        """The keys in the roster's order, without decoding packed rows."""
        if isinstance(self.rows, PackedRows):
            return self.rows.keys()
        return (r.key for r in self.rows)


def read_roster(path: str | Path, spec: TemplateLike) -> Roster:
    """Read and check a roster against a template (id, spec path or Spec).

    Raises :class:`RosterError` naming every problem by row and column, in Chinese.
    """
    spec = as_spec(spec)
    path = Path(path)
    header, records = read_table(path, lazy=PACKED)
    problems: list[Problem] = []
    header = [clean_header(h) for h in header]
    key_col = next((n for n, h in enumerate(header) if h.lower() in KEY_COLUMNS), None)
    if key_col is None:
        problems.append(Problem("第 1 行", f"没有编号列：请把其中一列的标题写成“编号”（或 key）（现有的列：{'、'.join(h for h in header if h) or '无'}）"))
    columns: dict[int, Field] = {}
    contacts: dict[int, str] = {}
    names = {**{f.id: f for f in spec.all_fields}, **{f.label: f for f in spec.all_fields}}
    seen_fields: dict[str, str] = {}
    for n, h in enumerate(header):
        if n == key_col:
            continue
        if not h:
            if any(len(rec) > n and not is_blank(rec[n]) for _, rec in records):
                problems.append(Problem(f"第 1 行，第 {n + 1} 列", "这一列有内容但没有标题：请填写标题（字段名称），或删除这一列"))
            continue
        f = names.get(h)
        if f is None and _contact(h):
            if h in contacts.values():
                problems.append(Problem(f"第 1 行，“{h}”列", "联系方式列重复；请删除其中一列"))
            contacts[n] = h
            continue
        if f is None:
            hint = did_you_mean(h, names, cutoff=0.5)
            extra = (f"是否想写“{hint}”？" if hint else "请改成模板中的字段名称，或删除这一列") + (
                f"（联系方式列可写作{'、'.join(CONTACT_COLUMNS[:6])}）")
            problems.append(Problem(f"第 1 行，“{h}”列", f"不是模板“{spec.id}”的字段；{extra}"))
            continue
        if f.computed:
            problems.append(Problem(f"第 1 行，“{h}”列", f"“{f.label}”由公式自动计算，不能预填；请删除这一列"))
            continue
        if not f.prefillable:
            problems.append(Problem(f"第 1 行，“{h}”列", f"“{f.label}”由填报单位填写，不能预填；请删除这一列"))
            continue
        if f.id in seen_fields:
            problems.append(Problem(f"第 1 行，“{h}”列", f"“{f.label}”已由“{seen_fields[f.id]}”列给出；请删除其中一列"))
            continue
        seen_fields[f.id] = h
        columns[n] = f
    keys: dict[str, int] = {}
    # With packed rows, a repeated key is found afterwards from their sorted key index (DUPLICATES_FROM_INDEX), not
    # by a dict of every key as the rows come: the rows' problems are kept with their lines, so that the repeated
    # keys' problems take their places among them (a line's key problem first, as the rows give them).
    by_index = PACKED and DUPLICATES_FROM_INDEX
    lines: list[int] = []  # (by_index) the line of each problem from the rows, in order
    before = len(problems)

    def made() -> Iterator[RosterRow]:
        for line, rec in records:
            yield from _row(line, rec)

    def _problem(line: int, problem: Problem) -> None:
        problems.append(problem)
        if by_index:
            lines.append(line)

    def _row(line: int, rec: list[Any]) -> Iterator[RosterRow]:
        if all(is_blank(v) for v in rec):
            return  # blank lines at the end of a sheet are not units
        key = _text(rec[key_col]) if key_col is not None and key_col < len(rec) else ""
        if key_col is not None:
            if not key:
                _problem(line, Problem(f"第 {line} 行，“{header[key_col]}”列", "编号为空；请填写编号，或删除这一行"))
            elif by_index:
                pass  # (see above)
            elif key in keys:
                problems.append(Problem(f"第 {line} 行，“{header[key_col]}”列", f"编号“{key}”与第 {keys[key]} 行重复；每个单位的编号必须不同"))
            if not by_index:
                keys.setdefault(key, line)
        prefill: dict[str, Any] = {}
        for n, f in columns.items():
            raw = rec[n] if n < len(rec) else None
            parsed = parse_field(raw, f.type, f.choices)
            if not parsed.ok:
                _problem(line, Problem(f"第 {line} 行，“{header[n]}”列", f"{parsed.error}（应为{TYPE_ZH.get(f.type, f.type)}）"))
            elif parsed.value is not None:
                prefill[f.id] = parsed.value
        contact = {h: text for n, h in contacts.items() if (text := _text(rec[n] if n < len(rec) else None))}
        yield RosterRow(key=key, line=line, prefill=prefill, contact=contact)

    # packed as they are made: neither the rows nor the records are all held at once (see PACKED)
    rows: Sequence[RosterRow] = (PackedRows(made(), [f.id for f in columns.values()], tuple(contacts.values()))
                                 if PACKED else tuple(made()))
    if by_index and key_col is not None and isinstance(rows, PackedRows):
        repeated = [(line, Problem(f"第 {line} 行，“{header[key_col]}”列", f"编号“{key}”与第 {first} 行重复；每个单位的编号必须不同"))
                    for key, first, line in rows.repeated()]
        if repeated:  # each in its line's place: before the line's other problems, after those of the lines before
            tagged = [(line, 1, n, p) for n, (line, p) in enumerate(zip(lines, problems[before:]))]
            tagged += [(line, 0, n, p) for n, (line, p) in enumerate(repeated)]
            problems[before:] = [p for *_, p in sorted(tagged, key=lambda t: t[:3])]
    if not rows and key_col is not None:
        problems.append(Problem("", "名单中没有任何单位（只有标题行）"))
    if problems:
        raise RosterError(str(path), problems)
    return Roster(path=path, rows=rows, columns={header[n]: f.id for n, f in columns.items()},
                  contact_columns=tuple(contacts.values()))


def clean_header(h: Any) -> str:
    text = "" if h is None else str(h)
    return text.strip().strip("\ufeff").rstrip("：:").strip()


def _contact(header: str) -> bool:
    return "".join(header.split()).lower() in CONTACT_COLUMNS


def _text(raw: Any) -> str:
    """A key or a contact cell as text: a number stored as a number keeps its digits (13812345678, not 1.38e10)."""
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return "" if raw is None else str(raw).strip()


@overload
def read_table(path: Path, what: str = ..., *, lazy: bool) -> tuple[list[Any], Sequence[tuple[int, list[Any]]] | Iterable[tuple[int, list[Any]]]]: ...
@overload
def read_table(path: Path, what: str = ...) -> tuple[list[Any], list[tuple[int, list[Any]]]]: ...
def read_table(path: Path, what: str = "名单", *, lazy: bool = False) -> tuple[list[Any], Any]:
    """A table's header and its rows (line number, cells): a CSV, or an .xlsx's first sheet read in a
    bounded worker. ``what`` is what the messages call the table (名单, 指标目标表). ``lazy``: a CSV's rows
    are parsed from its text each time they are gone through, not held as lists (a roster of 100,000)."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            return _read_xlsx(path, what)
        if suffix in (".csv", ".txt"):
            return _read_csv(path, lazy)
    except OSError as exc:
        raise RosterError(str(path), [Problem("", f"无法读取文件（{exc.strerror or exc}）；请检查文件是否存在、是否正在其他程序中打开")]) from exc
    raise RosterError(str(path), [Problem("", f"{what}必须是 .csv 或 .xlsx 文件；请在 Excel 中另存为其中一种格式")])


def _read_csv(path: Path, lazy: bool = False) -> tuple[list[Any], Any]:
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise RosterError(str(path), [Problem("", "不是 UTF-8 或 GB18030 编码的文本")])
    if lazy:
        records = _CsvRecords(text)
        header = next(iter(csv.reader(io.StringIO(text))), None)
        if header is None:
            raise RosterError(str(path), [Problem("", "文件是空的；第 1 行应是标题行（编号、预算单位、项目名称……）")])
        return header, records
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise RosterError(str(path), [Problem("", "文件是空的；第 1 行应是标题行（编号、预算单位、项目名称……）")])
    return rows[0], [(n, r) for n, r in enumerate(rows[1:], start=2)]


class _CsvRecords:
    """A CSV's rows after the header, (line number, cells), parsed from its text each time they are gone through."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __iter__(self) -> Iterator[tuple[int, list[Any]]]:
        reader = csv.reader(io.StringIO(self.text))
        next(reader, None)
        return enumerate(reader, start=2)


def _read_xlsx(path: Path, what: str) -> tuple[list[Any], list[tuple[int, list[Any]]]]:
    """The first sheet's rows, read in a bounded worker process (a roster is a file from outside too:
    a 1 MB workbook can declare 30 million shared strings)."""
    try:
        rows = run_bounded(_xlsx_rows, path, bounds=_roster_bounds())
    except Unreadable as exc:
        raise RosterError(str(path), [Problem("", f"无法读取{what}工作簿：{exc.message}")]) from exc
    except BoundExceeded as exc:
        raise RosterError(str(path), [Problem("", f"{what}工作簿过大或读取超时（{exc.message}）。请删除多余内容，或另存为 CSV 后再试。")]) from exc
    except Exception as exc:  # openpyxl raises many kinds for a bad file
        raise RosterError(str(path), [Problem("", f"无法打开工作簿（{type(exc).__name__}）；请在 Excel 中打开并另存为 .xlsx 或 .csv 后重试")]) from exc
    if not rows:
        raise RosterError(str(path), [Problem("", "第一个工作表是空的；第 1 行应是标题行（编号、预算单位、项目名称……）")])
    return rows[0], [(n, r) for n, r in enumerate(rows[1:], start=2)]


def _xlsx_rows(path: Path) -> list[list[Any]]:
    """In the bounded worker: sniff the workbook like a return, then read its first sheet's values."""
    import warnings

    import openpyxl

    sniff(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        ws = wb.worksheets[0]
        return [list(r) for r in ws.iter_rows(values_only=True)]
    finally:
        wb.close()
