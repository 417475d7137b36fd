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

import base64
import binascii
import bisect
import codecs
import csv
import hashlib
import io
import json
import os
import pickle
import tempfile
import weakref
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
from .workers import Bounds, file_id, forget, read_only_in_workers, run_bounded

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
#: With PACKED, the packed rows and their keys go to a temporary file once they pass :data:`DISK_FROM` bytes, and
#: are read back with ``pread`` a window at a time: what stays in memory is ~8–12 bytes a unit, their offsets and
#: the keys' sorted order (issue 15: the rows were ~141 bytes a unit, 14 MB at 100,000, held by the main process for
#: the whole run and by every worker forked from it). False: the rows stay in memory (the tests compare).
ON_DISK = True
#: How many bytes of packed rows stay in memory before they go to the file: a roster smaller than this (about
#: 15,000 units of the usual four columns) is never written. Measured (see bench/README, seventh pass): a looked-up
#: row costs ~1–2 µs more from the file (the ``pread`` of the keys the binary search visits), which a worker pays once
#: a return; below 2 MB the memory saved is too small to be worth that and the file.
DISK_FROM = 2 << 20
#: A worker started anew (from a forkserver: a round's pools, issue 15) is sent the rows' file as a read-only
#: descriptor when they are in one, not every byte pickled: at 100,000 units the pickle was ~30 MB made by the run's
#: process for each worker (a round's third run, 100 files read: main 66 -> 95 MB) and held by every worker.
#: False: the bytes (the tests compare).
FILE_TO_CHILDREN = True
_WINDOW = 64 << 10  # bytes read at once from the file when it is gone through in order
_NEAR = 512  # … and when one row or key is looked up (a binary search's last probes fall in it)
_FLUSH = 256 << 10  # bytes written to the file at once
#: Every how many keys (in ``str`` order) one is kept in memory, so that a lookup by key searches that short list
#: first and then only so many keys of the file (~1 byte a unit; a lookup ~31 -> ~11 µs from the file at 100,000).
_FENCE = 64


class _Spool:
    """Bytes appended in turn and read back by their offsets: in memory, or (``disk_from``: past that many bytes)
    in a temporary file of this process's, made by :func:`tempfile.TemporaryFile` as the spill file is (on Linux
    it has no name at all; elsewhere it is removed when closed), so nothing is left behind whatever ends the run.
    A process forked from this one reads it through the descriptor it inherits (``pread`` has no shared file
    position). Any error writing it (a full disk) keeps the bytes in memory instead: the roster is read as before."""

    __slots__ = ("_mem", "_file", "_written", "_pending", "_disk_from", "_win", "_at", "_next", "_ro", "__weakref__")

    def __init__(self, disk_from: int | None) -> None:
        self._mem: bytearray | bytes = bytearray()
        self._file: Any = None  # the temporary file (unbuffered), once the bytes went to it
        self._written = 0  # bytes in the file
        self._pending = bytearray()  # bytes not yet written to it
        self._disk_from = disk_from
        self._win, self._at, self._next = b"", 0, -1  # the last window read from the file, its offset, where it ended
        self._ro: int | None = None  # a read-only descriptor of the file, for processes started anew (see for_child)

    def append(self, data: bytes) -> None:
        if self._file is None:
            self._mem += data
            if self._disk_from is not None and len(self._mem) > self._disk_from:
                self._to_disk()
        else:
            self._pending += data
            if len(self._pending) >= _FLUSH:
                self._flush()

    def _to_disk(self) -> None:
        if not hasattr(os, "pread"):  # (Windows: no pread, and no fork either; the bytes stay in memory)
            self._disk_from = None
            return
        try:
            self._file = tempfile.TemporaryFile(prefix="xltemplate-roster-", buffering=0)
        except OSError:
            self._disk_from = None  # no temporary file: the bytes stay in memory
            return
        ident = file_id(self._file.fileno())
        read_only_in_workers(ident)  # (workers read it, never write it)
        weakref.finalize(self._file, forget, ident)
        self._pending, self._mem = self._mem, b""  # type: ignore[assignment]
        self._flush()

    def _flush(self) -> None:
        view = memoryview(self._pending)
        try:
            while len(view):
                n = os.write(self._file.fileno(), view)
                self._written += n
                view = view[n:]
        except OSError:  # a full disk: back to memory, with what was written
            left = bytes(view)
            view.release()
            self._back_to_memory(left)
            return
        view.release()
        self._pending = bytearray()

    def _back_to_memory(self, left: bytes) -> None:
        got = bytearray(self._pread(0, self._written))
        self._file.close()
        self._file, self._written, self._disk_from = None, 0, None
        self._mem, self._pending = got + left, bytearray()

    def done(self) -> None:
        """After the last append: every byte written (or in memory), the buffers let go."""
        if self._file is not None and self._pending:
            self._flush()
        self._pending = bytearray()
        if isinstance(self._mem, bytearray) and self._file is None:
            self._mem = bytes(self._mem)  # (exact size: a bytearray keeps its growth slack)

    @property
    def on_disk(self) -> bool:
        return self._file is not None

    def read(self, start: int, end: int) -> bytes | bytearray:
        if self._file is None:
            return self._mem[start:end]
        at, win = self._at, self._win
        if not (at <= start and end <= at + len(win)):
            # in order (this read starts where the last one ended): a window ahead; a lookup: a little around it
            size = max(end - start, _WINDOW if start == self._next else _NEAR)
            win = os.pread(self._file.fileno(), size, start)
            if len(win) < end - start:
                raise OSError("roster spool file truncated")  # (only this process writes it)
            self._win, self._at = win, at = win, start
        self._next = end
        return win[start - at:end - at]

    def for_child(self) -> tuple[Any, ...]:
        """What a process started anew (a forkserver's or spawned worker) is sent of these bytes, pickled as it starts
        (:data:`FILE_TO_CHILDREN`): the file's descriptor, opened again read-only (a worker compromised through a
        reader bug cannot write bytes this process later decodes), and its size; else every byte."""
        if FILE_TO_CHILDREN and self._file is not None and not self._pending and os.path.isdir("/proc/self/fd"):
            from multiprocessing import context, reduction

            if context.get_spawning_popen() is not None:  # (pickled for a process being started: fds pass with it)
                if self._ro is None:
                    try:
                        self._ro = os.open(f"/proc/self/fd/{self._file.fileno()}", os.O_RDONLY | os.O_CLOEXEC)
                    except OSError:
                        return ("bytes", self.all())
                    weakref.finalize(self, os.close, self._ro)
                return ("fd", reduction.DupFd(self._ro), self._written)
        return ("bytes", self.all())

    @classmethod
    def from_parent(cls, sent: tuple[Any, ...]) -> "_Spool":
        """The spool :meth:`for_child` sent: read from the file's descriptor, or the bytes in memory."""
        spool = cls(None)
        if sent[0] == "fd":
            spool._file = os.fdopen(sent[1].detach(), "rb", buffering=0)
            spool._written, spool._mem = sent[2], b""
        else:
            spool._mem = sent[1]
        return spool

    def all(self) -> bytes:
        """Every byte (for a copy in memory: pickling the rows for a process that is not forked)."""
        if self._file is None:
            return bytes(self._mem)
        return self._pread(0, self._written)

    def _pread(self, at: int, size: int) -> bytes:
        got = bytearray()
        while len(got) < size:
            piece = os.pread(self._file.fileno(), size - len(got), at + len(got))
            if not piece:
                raise OSError("roster spool file truncated")  # (only this process writes it)
            got += piece
        return bytes(got)


def _offsets() -> array[int]:
    return array("I" if array("I").itemsize >= 4 else "L")


def _put(offsets: array[int], value: int) -> array[int]:
    """``offsets`` with ``value`` appended: as 4-byte numbers until one does not fit, then as 8-byte ones."""
    try:
        offsets.append(value)
    except OverflowError:
        offsets = array("Q", offsets)
        offsets.append(value)
    return offsets


class PackedRows(Sequence[RosterRow]):
    """A roster's rows, in order, packed (see :data:`PACKED`); looked up by key through a sorted key index.

    Reads as a tuple of :class:`RosterRow` (length, index, slices, iteration, equality); each access decodes
    the row anew, except the last one decoded, which is kept (a row's cells are asked for in turn). The rows
    are only ever decoded from bytes this process pickled itself (and wrote itself, see :data:`ON_DISK`).

    The keys are kept in the rows' order (``_keys``, ``_key_ends``); ``_order`` lists the rows by their keys in
    ``str`` order (stable: a key's rows in their order), or is None where the rows are already in that order (the
    usual roster, numbered in order: nothing is sorted then).
    """

    __slots__ = ("_rows", "_ends", "_keys", "_key_ends", "_order", "_fence", "_fields", "_contacts", "_last")

    def __init__(self, rows: Iterable[RosterRow], fields: Sequence[str], contacts: Sequence[str]) -> None:
        self._fields, self._contacts = tuple(fields), tuple(contacts)
        disk_from = DISK_FROM if ON_DISK else None
        self._rows, self._keys = _Spool(disk_from), _Spool(disk_from)
        ends, key_ends = _offsets(), _offsets()
        size = key_size = 0
        in_order, last = True, ""
        for row in rows:
            record = pickle.dumps(self._record(row), protocol=pickle.HIGHEST_PROTOCOL)
            self._rows.append(record)
            size += len(record)
            ends = _put(ends, size)
            key = row.key.encode("utf-8", "surrogatepass")
            self._keys.append(key)
            key_size += len(key)
            key_ends = _put(key_ends, key_size)
            if in_order:
                in_order, last = last <= row.key, row.key
        self._rows.done()
        self._keys.done()
        self._ends, self._key_ends = ends, key_ends
        self._order: array[int] | None = None if in_order else self._sorted()
        self._fence = [self._key(i) for i in range(0, len(key_ends), _FENCE)]
        self._last: tuple[int, RosterRow] | None = None

    def _sorted(self) -> array[int]:
        """The rows' positions by their keys (stable): the keys as their UTF-8 bytes, which sort as the ``str`` do
        (UTF-8 keeps the code points' order, the lone surrogates' too), a list of them for the time of the sort."""
        keys = [self._keys.read(self._key_start(n), self._key_ends[n]) for n in range(len(self._key_ends))]
        order = _offsets()
        for n in sorted(range(len(keys)), key=keys.__getitem__):
            order = _put(order, n)
        return order

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
        key, line, values, contacts = pickle.loads(self.record(n))
        row = RosterRow(key=key, line=line, prefill={f: v for f, v in zip(self._fields, values) if v is not None},
                        contact={c: t for c, t in zip(self._contacts, contacts) if t})
        self._last = (n, row)
        return row

    def record(self, n: int) -> bytes | bytearray:
        """Row ``n`` as packed (its key, line, values in :attr:`columns`' order and contacts, pickled by this process),
        not decoded: rows of the same columns whose records are equal are equal rows (see rollup.reuse._rows_key)."""
        start = self._ends[n - 1] if n else 0
        return self._rows.read(start, self._ends[n])

    def digest(self) -> str:
        """A sha256 of every row as packed, in order, and of the columns their values are of: equal digests, equal rows
        (a record is the row pickled, and pickles end themselves); equal rows may pickle otherwise (a string shared
        or not), a digest that differs says only that. Read in windows, not whole (a file's at 100,000 units)."""
        h = hashlib.sha256(repr(("packed rows 1", len(self), self._fields, self._contacts)).encode("utf-8", "surrogatepass"))
        end = self._ends[-1] if len(self._ends) else 0
        for at in range(0, end, 1 << 20):
            h.update(self._rows.read(at, min(end, at + (1 << 20))))
        return h.hexdigest()

    @property
    def columns(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The fields a record's values are of, and its contacts' columns, in order."""
        return self._fields, self._contacts

    @property
    def on_disk(self) -> bool:
        """Whether the rows are held in a temporary file (see :data:`ON_DISK`)."""
        return self._rows.on_disk

    def __reduce__(self) -> tuple[Any, ...]:
        # (for a process that is not forked, or a copy): the bytes themselves, held in memory by the copy; for a
        # process being started, a file's descriptor where they are in one (_Spool.for_child)
        return (_packed_from, (self._fields, self._contacts, self._rows.for_child(), self._ends, self._keys.for_child(),
                               self._key_ends, self._order))

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

    def _key_start(self, n: int) -> int:
        return self._key_ends[n - 1] if n else 0

    def _key_of(self, n: int) -> str:
        """The key of the row at position ``n``."""
        return self._keys.read(self._key_start(n), self._key_ends[n]).decode("utf-8", "surrogatepass")

    def _at(self, i: int) -> int:
        """The position of the row whose key is ``i``-th in ``str`` order."""
        return i if self._order is None else self._order[i]

    def _key(self, i: int) -> str:
        """The ``i``-th key in ``str`` order."""
        return self._key_of(self._at(i))

    def index(self, key: Any, start: int = 0, stop: int | None = None) -> int:
        """The position of the row whose key is ``key`` (ValueError if none): a binary search of the keys."""
        if isinstance(key, str):
            # the first key not below ``key`` is after the fence's last one below it, and not after its next one
            j = bisect.bisect_left(self._fence, key)
            lo, hi = ((j - 1) * _FENCE + 1 if j else 0), min(j * _FENCE, len(self._key_ends))
            if KEYS_AS_BYTES:  # (UTF-8 keeps the code points' order: the keys' bytes sort as the keys do)
                want = key.encode("utf-8", "surrogatepass")
                probed = _KeyBytes(self)
                i = bisect.bisect_left(probed, want, lo, hi)
                if i < len(self._key_ends) and probed[i] == want:
                    return self._at(i)
                raise ValueError(key)
            i = bisect.bisect_left(_Keys(self), key, lo, hi)
            if i < len(self._key_ends) and self._key(i) == key:
                return self._at(i)
        raise ValueError(key)

    def by_keys(self) -> Iterator[tuple[str, int]]:
        """(key, position) of each row in the order of the keys (``str`` order), without decoding the rows."""
        return ((self._key(i), self._at(i)) for i in range(len(self._key_ends)))

    def repeated(self) -> Iterator[tuple[str, int, int]]:
        """(key, the line of its first row, the line of a later row) for each row whose non-empty key an earlier row
        has, in the rows' order: found from the sorted key index (a key's rows are next to each other in it, in
        their order), with only such rows decoded."""
        found: list[tuple[int, int, str]] = []  # (position, first line, key)
        last, first = None, 0
        for key, n in self.by_keys():
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
        return (self._key_of(n) for n in range(len(self._key_ends)))

    def keyed(self) -> Iterator[tuple[str, int]]:
        """(key, position) of each row, in the roster's order, without decoding the rows."""
        return ((self._key_of(n), n) for n in range(len(self._key_ends)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (PackedRows, tuple)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"PackedRows({len(self)} rows)"


def _packed_from(fields: tuple[str, ...], contacts: tuple[str, ...], rows: tuple[Any, ...], ends: array[int],
                 keys: tuple[Any, ...], key_ends: array[int], order: array[int] | None) -> PackedRows:
    """A :class:`PackedRows` from its parts (see ``PackedRows.__reduce__``)."""
    packed = PackedRows.__new__(PackedRows)
    packed._fields, packed._contacts = fields, contacts
    packed._rows, packed._keys = _Spool.from_parent(rows), _Spool.from_parent(keys)
    packed._ends, packed._key_ends, packed._order, packed._last = ends, key_ends, order, None
    packed._fence = [packed._key(i) for i in range(0, len(key_ends), _FENCE)]
    return packed


class _Keys(Sequence[str]):
    """The sorted keys of a :class:`PackedRows`, each decoded when :func:`bisect.bisect_left` looks at it."""

    __slots__ = ("rows",)

    def __init__(self, rows: PackedRows) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows._key_ends)

    def __getitem__(self, i: int) -> str:  # type: ignore[override]
        return self.rows._key(i)


#: A key is looked up among the packed rows' keys as bytes (:class:`_KeyBytes`: each probe one slice of the key
#: buffer), the key encoded once, where each probe decoded a key through four calls (:class:`_Keys`): 10,000 lookups
#: 0.049 -> 0.036 s CPU; a round's second run makes two a file (its verdict context, its unit). False: as text.
KEYS_AS_BYTES = True


class _KeyBytes(Sequence["bytes | bytearray"]):
    """The sorted keys of a :class:`PackedRows` as their UTF-8 bytes, each read when :func:`bisect.bisect_left` looks at
    it (the order the key index was sorted in: PackedRows._sorted)."""

    __slots__ = ("rows",)

    def __init__(self, rows: PackedRows) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows._key_ends)

    def __getitem__(self, i: int) -> bytes | bytearray:  # type: ignore[override]
        rows = self.rows
        n = i if rows._order is None else rows._order[i]
        ends = rows._key_ends
        return rows._keys.read(ends[n - 1] if n else 0, ends[n])


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
    # a sha256 of the CSV's bytes the rows were read from (streamed: STREAM_CSV), else None (see packed_text)
    source: str | None = field(default=None, compare=False)

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
                  contact_columns=tuple(contacts.values()),
                  source=records.digest.hex() if isinstance(records, _CsvStream) else None)


def csv_source(path: str | Path) -> str | None:
    """What :attr:`Roster.source` is for the roster at ``path`` read now: a sha256 of its bytes (the pass that decides
    its encoding, :func:`_stream_csv`'s first); None for a file that is not a CSV, or is not read so."""
    path = Path(path)
    if not (PACKED and STREAM_CSV) or path.suffix.lower() not in (".csv", ".txt"):
        return None
    try:
        return _stream_csv(path)[1].digest.hex()
    except (OSError, RosterError):
        return None


def packed_text(roster: Roster) -> str | None:
    """``roster`` as :func:`roster_of_text` takes it back: its columns and its packed rows' bytes, offsets and order
    (JSON, the bytes in base64); None when its rows are not packed."""
    rows = roster.rows
    if not isinstance(rows, PackedRows):
        return None
    b64 = base64.b64encode
    return json.dumps({"form": _PACKED_FORM, "fields": rows._fields, "contacts": rows._contacts,
                       "rows": b64(rows._rows.all()).decode("ascii"), "ends": _array_text(rows._ends),
                       "keys": b64(rows._keys.all()).decode("ascii"), "key_ends": _array_text(rows._key_ends),
                       "order": None if rows._order is None else _array_text(rows._order),
                       "columns": roster.columns, "contact_columns": roster.contact_columns}, ensure_ascii=False)


_PACKED_FORM = "packed roster 1"


def _array_text(a: array[int]) -> list[str]:
    return [a.typecode, base64.b64encode(a.tobytes()).decode("ascii")]


def _array_of(text: Any) -> array[int]:
    code, data = text
    if code not in ("I", "L", "Q"):
        raise ValueError(code)
    a = array(code)
    a.frombytes(base64.b64decode(data, validate=True))
    return a


class _Records(pickle.Unpickler):
    """Packed records unpickled to be checked (:func:`roster_of_text`): no class but the values' may be named."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in (("decimal", "Decimal"), ("datetime", "date"), ("datetime", "datetime")):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name}")


def roster_of_text(path: str | Path, text: str) -> Roster | None:
    """:func:`packed_text` back, as read from ``path``; None for a text that is not one (every record is unpickled
    first with no class but a value's allowed, its key checked against the key index, and the offsets against the
    bytes: what the rows decode later is what was checked). The rows go to a temporary file past
    :data:`DISK_FROM`, as read_roster's do."""
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("form") != _PACKED_FORM:
            return None
        fields, contacts = tuple(data["fields"]), tuple(data["contacts"])
        rows, keys = base64.b64decode(data["rows"], validate=True), base64.b64decode(data["keys"], validate=True)
        ends, key_ends = _array_of(data["ends"]), _array_of(data["key_ends"])
        order = None if data["order"] is None else _array_of(data["order"])
        columns, contact_columns = dict(data["columns"]), tuple(data["contact_columns"])
        if (len(ends) != len(key_ends) or (order is not None and sorted(order) != list(range(len(ends))))
                or not all(type(x) is str for x in (*fields, *contacts, *columns, *columns.values(), *contact_columns))):
            return None
        stream = io.BytesIO(rows)
        records = _Records(stream)
        start = key_start = 0
        for end, key_end in zip(ends, key_ends):
            key, line, values, person = records.load()
            if (stream.tell() != end or type(key) is not str or type(line) is not int or type(values) is not tuple
                    or len(values) != len(fields) or type(person) is not tuple or len(person) != len(contacts)
                    or not all(type(t) is str for t in person) or key_end < key_start
                    or keys[key_start:key_end] != key.encode("utf-8", "surrogatepass")):
                return None
            start, key_start = end, key_end
        if start != len(rows) or key_start != len(keys):
            return None
    except (ValueError, TypeError, KeyError, EOFError, pickle.UnpicklingError, binascii.Error):
        return None
    packed = _packed_from(fields, contacts, ("bytes", rows), ends, ("bytes", keys), key_ends, order)
    if ON_DISK and len(rows) > DISK_FROM:  # (as PackedRows puts them: in a file of this process's)
        packed._rows, packed._keys = _spooled(rows), _spooled(keys)
    in_order = [packed._key(i) for i in range(len(ends))]  # (the key index's order: a binary search needs it)
    if any(a > b for a, b in zip(in_order, in_order[1:])):
        return None
    return Roster(path=Path(path), rows=packed, columns=columns, contact_columns=contact_columns)


def _spooled(data: bytes) -> _Spool:
    spool = _Spool(DISK_FROM)
    for at in range(0, len(data), _FLUSH):
        spool.append(data[at:at + _FLUSH])
    spool.done()
    return spool


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
            return _read_xlsx(path, what, lazy)
        if suffix in (".csv", ".txt"):
            return _read_csv(path, lazy)
    except OSError as exc:
        raise RosterError(str(path), [Problem("", f"无法读取文件（{exc.strerror or exc}）；请检查文件是否存在、是否正在其他程序中打开")]) from exc
    raise RosterError(str(path), [Problem("", f"{what}必须是 .csv 或 .xlsx 文件；请在 Excel 中另存为其中一种格式")])


#: With ``lazy`` (a roster), a CSV is read as a stream, a chunk at a time, each time its rows are gone through: its
#: bytes and its text are never all held (issue 15: at 100,000 units they were 8 MB of bytes, 9 MB of text and 18 MB
#: of the text's copy in :class:`io.StringIO`, all at once). Its encoding is decided as before (UTF-8 with or without
#: BOM where every byte is; else GB18030) by a first pass, which keeps a SHA-256 of the bytes; a pass that reads the
#: file to its end must see the same bytes, or the roster is refused as changed while read. False: the bytes read at
#: once, as before (the tests compare).
STREAM_CSV = True
_CHUNK = 256 << 10


#: A CSV's encodings, tried in turn: UTF-8 (a BOM dropped), then GB18030 as Chinese Excel saves it.
_ENCODINGS = ("utf-8-sig", "gb18030")


def _empty(path: Path) -> RosterError:
    return RosterError(str(path), [Problem("", "文件是空的；第 1 行应是标题行（编号、预算单位、项目名称……）")])


def _read_csv(path: Path, lazy: bool = False) -> tuple[list[Any], Any]:
    if lazy and STREAM_CSV:
        return _stream_csv(path)
    data = path.read_bytes()
    for encoding in _ENCODINGS:
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
            raise _empty(path)
        return header, records
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise _empty(path)
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


def _stream_csv(path: Path) -> tuple[list[Any], "_CsvStream"]:
    """A CSV's header and its rows as a stream (see :data:`STREAM_CSV`)."""
    for encoding in _ENCODINGS:
        decoder = codecs.getincrementaldecoder(encoding)()
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as fh:
                while chunk := fh.read(_CHUNK):
                    digest.update(chunk)
                    decoder.decode(chunk)
                decoder.decode(b"", True)
        except UnicodeDecodeError:
            continue
        break
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise RosterError(str(path), [Problem("", "不是 UTF-8 或 GB18030 编码的文本")])
    records = _CsvStream(path, encoding, digest.digest())
    header = next(records.rows(), None)
    if header is None:
        raise _empty(path)
    records.header = header
    return header, records


class _HashedReader(io.RawIOBase):
    """A binary file read through, its bytes hashed as they are read."""

    def __init__(self, fh: Any, digest: Any) -> None:
        self.fh, self.digest = fh, digest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.fh.readinto(buffer)
        if n:
            self.digest.update(memoryview(buffer)[:n])
        return int(n or 0)


class _CsvStream:
    """A CSV's rows after the header, (line number, cells), read from the file a chunk at a time each time they are
    gone through (see :data:`STREAM_CSV`); lines end at "\n" only, as :class:`io.StringIO` splits them."""

    __slots__ = ("path", "encoding", "digest", "header")

    def __init__(self, path: Path, encoding: str, digest: bytes) -> None:
        self.path, self.encoding, self.digest = path, encoding, digest
        self.header: list[str] | None = None

    def _changed(self) -> RosterError:
        return RosterError(str(self.path), [Problem("", "文件在读取过程中被改动；请等它保存完毕（或关闭正在编辑它的程序）后重试")])

    def rows(self) -> Iterator[list[str]]:
        """Every row, the header first; the bytes checked against the first pass's when read to the end."""
        digest = hashlib.sha256()
        try:
            with open(self.path, "rb") as fh:
                text = io.TextIOWrapper(io.BufferedReader(_HashedReader(fh, digest), _CHUNK), encoding=self.encoding,
                                        newline="\n")
                yield from csv.reader(text)
        except UnicodeDecodeError as exc:
            raise self._changed() from exc
        except OSError as exc:
            raise RosterError(str(self.path), [Problem("", f"无法读取文件（{exc.strerror or exc}）；请检查文件是否存在、是否正在其他程序中打开")]) from exc
        if digest.digest() != self.digest:
            raise self._changed()

    def __iter__(self) -> Iterator[tuple[int, list[Any]]]:
        rows = self.rows()
        if next(rows, None) != self.header:
            raise self._changed()
        return enumerate(rows, start=2)


#: With ``lazy`` (a roster), the bounded worker reading an .xlsx sends its rows each pickled on its own into one
#: bytes object, unpickled one at a time as they are gone through, instead of one list of lists (issue 15: ~400
#: bytes a row at once in this process, against ~60). The bytes come from that worker, a process of this run, as the
#: list did. False: the list (the tests compare).
XLSX_PACKED = True


def _read_xlsx(path: Path, what: str, lazy: bool = False) -> tuple[list[Any], Any]:
    """The first sheet's rows, read in a bounded worker process (a roster is a file from outside too:
    a 1 MB workbook can declare 30 million shared strings)."""
    packed = lazy and XLSX_PACKED
    try:
        rows = run_bounded(_xlsx_packed if packed else _xlsx_rows, path, bounds=_roster_bounds())
    except Unreadable as exc:
        raise RosterError(str(path), [Problem("", f"无法读取{what}工作簿：{exc.message}")]) from exc
    except BoundExceeded as exc:
        raise RosterError(str(path), [Problem("", f"{what}工作簿过大或读取超时（{exc.message}）。请删除多余内容，或另存为 CSV 后再试。")]) from exc
    except Exception as exc:  # openpyxl raises many kinds for a bad file
        raise RosterError(str(path), [Problem("", f"无法打开工作簿（{type(exc).__name__}）；请在 Excel 中打开并另存为 .xlsx 或 .csv 后重试")]) from exc
    if packed:
        rows = _PickledRows(*rows)
    if not rows:
        raise RosterError(str(path), [Problem("", "第一个工作表是空的；第 1 行应是标题行（编号、预算单位、项目名称……）")])
    if packed:
        return rows[0], rows
    return rows[0], [(n, r) for n, r in enumerate(rows[1:], start=2)]


class _PickledRows:
    """An .xlsx's rows as the bounded worker sent them (see :data:`XLSX_PACKED`): ``[0]`` the header; iterated, the rows
    after it (line number, cells), each unpickled as it comes."""

    __slots__ = ("blob", "ends")

    def __init__(self, blob: bytes, ends: array[int]) -> None:
        self.blob, self.ends = blob, ends

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, n: int) -> list[Any]:
        row: list[Any] = pickle.loads(self.blob[self.ends[n - 1] if n else 0:self.ends[n]])
        return row

    def __iter__(self) -> Iterator[tuple[int, list[Any]]]:
        return ((n + 1, self[n]) for n in range(1, len(self.ends)))


def _xlsx_rows(path: Path) -> list[list[Any]]:
    """In the bounded worker: sniff the workbook like a return, then read its first sheet's values."""
    return list(_xlsx_values(path))


def _xlsx_packed(path: Path) -> tuple[bytes, array[int]]:
    """In the bounded worker: :func:`_xlsx_rows`, each row pickled on its own into one bytes object, and where each
    ends (see :data:`XLSX_PACKED`)."""
    blob, ends = bytearray(), array("Q")
    for row in _xlsx_values(path):
        blob += pickle.dumps(row, protocol=pickle.HIGHEST_PROTOCOL)
        ends.append(len(blob))
    return bytes(blob), ends


def _xlsx_values(path: Path) -> Iterator[list[Any]]:
    import warnings

    import openpyxl

    sniff(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        ws = wb.worksheets[0]
        for r in ws.iter_rows(values_only=True):
            yield list(r)
    finally:
        wb.close()
