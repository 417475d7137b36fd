"""Where a collection keeps its reports while it runs: not in memory (issue 15: memory flat in N).

A return's full report (its findings and figures: about 23 KB in memory) is needed only when a
sheet of the roll-up writes a row from it. As each report arrives it is appended to a private
temporary file (:class:`Spill`) and the collection keeps a :class:`Brief` of it: what matching,
counting and 文件清单 read (a few hundred bytes). ``Return.report`` loads the full report back
when a row is written, and the writer drops it after.

The spill file is made by :func:`tempfile.TemporaryFile`: on Linux it has no name from the start
(it is unlinked at once), elsewhere it is removed when closed. So nothing is left behind, whatever
ends the run: success, an error, a signal, or even a kill. It holds only what this run pickled:
this process, or one of its workers (forked from it, or spawned running this package) that pickled
its own report (:func:`pack`) so that this process appends the bytes without unpickling and
pickling them again. Nothing from outside is ever unpickled from it: the bytes of a return are
parsed only by a worker, under the per-file bounds, and what a worker sends is unpickled by
``multiprocessing`` in any case (the spill trusts the worker no more than the pipe already does).

A collection round (:mod:`xltemplate.rounds`) has its ledger instead: its reports are loaded from
there by sha256 (:class:`Store` is what both offer).
"""

from __future__ import annotations

import copy
import datetime as dt
import pickle
import struct
import sys
import tempfile
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any, Protocol

from ..batch import TRANSIENT
from ..report import FileReport
from ..signals import deferred
from ..workers import file_id, forget, read_only_in_workers

#: How many full reports a store keeps after loading them: a row's sheets ask for the same report a few times
#: in a row (its unit, project and figures), never for one long done with.
RECENT = 8


#: A brief's values, in the order the ledger keeps them (:func:`xltemplate.rounds.run._brief_text`).
FIELDS = ("path", "status", "key", "sha256", "template", "saved_at", "saved_at_trusted", "application", "signature",
          "errors", "warnings", "codes", "total", "grade", "has_results")
#: Keep a brief's per-file values (counts, sha256, saved times, total) packed in one bytes object, decoded when read,
#: and the values many reports share in one shared tuple (issue 15: the objects were ~470 bytes a return, ~250 now);
#: False: every value kept as its own object, as it came (the tests compare).
COMPACT_BRIEFS = True

_HEAD = struct.Struct("<IIB")  # errors, warnings, flags
#: A report's head in the spill (:meth:`Spill.put_packed`): after the report's pickle, a mark and the head's length.
_HEAD_MARK = struct.Struct("<4sI")
_HEAD_MAGIC = b"\x00hd1"
_HAS_RESULTS, _SHA, _SAVED, _TRUSTED, _TOTAL = 1, 2, 4, 8, 16
_HEX = frozenset("0123456789abcdef")
#: The per-file values (``Brief._own`` in its plain form) and the shared ones (``Brief._common``), in order.
_OWN = ("errors", "warnings", "has_results", "sha256", "saved_at", "saved_at_trusted", "total")
_COMMON = ("template", "application", "signature", "codes", "grade")


def _state(when: Any) -> tuple[bytes, Any] | None:
    """A datetime as its pickle state (10 bytes, exact, fold included) and its tzinfo; None: not a plain datetime."""
    if type(when) is not dt.datetime:
        return None
    reduced: Any = when.__reduce_ex__(4)  # (fold is kept from protocol 4 on)
    got = reduced[1]
    return (got[0], got[1] if len(got) > 1 else None)


def _when(state: bytes, zone: Any) -> dt.datetime:
    """:func:`_state` back."""
    return dt.datetime(state, zone)  # type: ignore[arg-type, call-arg]  # (the pickle constructor)


def _pack_own(own: tuple[Any, ...]) -> tuple[bytes, Any, Any] | None:
    """``own`` (the values of :data:`_OWN`) as one bytes object and the two saved times' tzinfos; None when a value is
    not of the kind packed exactly (then it is kept as it is: see :class:`Brief`)."""
    errors, warnings, has_results, sha256, saved_at, trusted, total = own
    if (type(errors) is not int or type(warnings) is not int or not 0 <= errors < 1 << 32 or not 0 <= warnings < 1 << 32
            or type(has_results) is not bool):
        return None
    flags, tail = _HAS_RESULTS if has_results else 0, b""
    if sha256 is not None:
        if type(sha256) is not str or len(sha256) != 64 or not _HEX.issuperset(sha256):
            return None
        flags, tail = flags | _SHA, tail + bytes.fromhex(sha256)
    zones: list[Any] = []
    for when, flag in ((saved_at, _SAVED), (trusted, _TRUSTED)):
        zones.append(None)
        if when is not None:
            state = _state(when)
            if state is None:
                return None
            flags, tail = flags | flag, tail + state[0]
            zones[-1] = state[1]
    if total is not None:
        if type(total) is not Decimal:
            return None
        text = str(total).encode("ascii")
        if Decimal(text.decode("ascii")).as_tuple() != total.as_tuple():
            return None
        flags, tail = flags | _TOTAL, tail + text
    return _HEAD.pack(errors, warnings, flags) + tail, zones[0], zones[1]


#: A brief's packed value (sha256, a saved time, the total) is decoded alone when read, skipping the values before it
#: by the flags, where every value was decoded (two datetimes, a Decimal, a hex text) to give one: ~90,000 reads a
#: second run at 10,000 (文件清单's facts, 汇总's keys, matching), issue 15. False: all decoded (the tests compare).
FIELDS_ALONE = True


def _own_field(n: int) -> property:
    def get(self: "Brief") -> Any:
        own = self._own
        if type(own) is tuple:
            return own[n]
        if n < 3:  # (the counts and the flags: without decoding the rest)
            got = _HEAD.unpack_from(own)  # type: ignore[arg-type]
            return got[n] if n < 2 else bool(got[2] & _HAS_RESULTS)
        if FIELDS_ALONE:
            return _alone(own, n, self._common)  # type: ignore[arg-type]
        return self._values()[n]

    def put(self: "Brief", value: Any) -> None:
        self._change(_OWN[n], value)

    return property(get, put)


def _alone(own: bytes, n: int, common: tuple[Any, ...]) -> Any:
    """The value ``n`` (3: sha256, 4: saved_at, 5: saved_at_trusted, 6: total) of a packed brief's ``own``, as
    :meth:`Brief._values` decodes it, the others skipped by their flags."""
    flags, at = own[_FLAGS_AT], _HEAD.size
    if n == 3:
        return own[at:at + 32].hex() if flags & _SHA else None
    if flags & _SHA:
        at += 32
    if n == 4:
        return _when(own[at:at + 10], common[5]) if flags & _SAVED else None
    if flags & _SAVED:
        at += 10
    if n == 5:
        return _when(own[at:at + 10], common[6]) if flags & _TRUSTED else None
    if flags & _TRUSTED:
        at += 10
    return Decimal(own[at:].decode("ascii")) if flags & _TOTAL else None


_FLAGS_AT = _HEAD.size - 1  # (the flags' byte: the head's last)


def _common_field(n: int) -> property:
    def get(self: "Brief") -> Any:
        return self._common[n]

    def put(self: "Brief", value: Any) -> None:
        self._change(_COMMON[n], value)

    return property(get, put)



class Brief:
    """What a collection reads of a report without its findings and figures (see the module).

    Its values (:data:`FIELDS`) are read as attributes. ``path``, ``status`` and ``key`` are held as they are;
    the per-file rest packed in one bytes object (:data:`COMPACT_BRIEFS`) and the values many reports share in
    one shared tuple.
    """

    __slots__ = ("path", "status", "key", "_own", "_common")
    FIELDS = FIELDS
    if TYPE_CHECKING:  # (properties: decoded from ``_own``, or read from ``_common``)
        errors: int
        warnings: int
        has_results: bool
        sha256: str | None
        saved_at: dt.datetime | None
        saved_at_trusted: dt.datetime | None
        total: Decimal | None
        template: tuple[str, str | None] | None
        application: str | None
        signature: str | None
        codes: tuple[str, ...]
        grade: str | None
    else:
        errors, warnings, has_results, sha256, saved_at, saved_at_trusted, total = (_own_field(n) for n in range(7))
        template, application, signature, codes, grade = (_common_field(n) for n in range(5))

    def __init__(self, report: FileReport) -> None:
        self.path = report.path
        self.status = sys.intern(report.status)
        self.key = report.key
        self._set((report.errors, report.warnings, report.results is not None, report.sha256, report.saved_at,
                   report.saved_at_trusted, report.total),
                  # (the finding codes: matching adds a finding unless validation made it already)
                  (report.template, report.application, report.signature,
                   tuple(sorted({f.code for f in report.findings})), report.grade))

    @classmethod
    def of(cls, values: dict[str, Any]) -> "Brief":
        """A brief of the values of :data:`FIELDS` (a brief read back from the ledger)."""
        brief = cls.__new__(cls)
        brief.path, brief.status, brief.key = values["path"], sys.intern(values["status"]), values["key"]
        brief._set(tuple(values[n] for n in _OWN), tuple(values[n] for n in _COMMON))
        return brief

    def _set(self, own: tuple[Any, ...], common: tuple[Any, ...]) -> None:
        packed = _pack_own(own) if COMPACT_BRIEFS else None
        if packed is None:
            self._own: bytes | tuple[Any, ...] = own
            self._common = _shared(tuple(_shared(v) for v in common))
        else:
            self._own = packed[0]
            self._common = _shared(tuple(_shared(v) for v in common) + (packed[1], packed[2]))

    def _values(self) -> tuple[Any, ...]:
        """The values of :data:`_OWN`, decoded."""
        own = self._own
        if type(own) is tuple:
            return own
        assert isinstance(own, bytes)
        errors, warnings, flags = _HEAD.unpack_from(own)
        at = _HEAD.size
        sha256 = saved_at = trusted = total = None
        if flags & _SHA:
            sha256, at = own[at:at + 32].hex(), at + 32
        if flags & _SAVED:
            saved_at, at = _when(own[at:at + 10], self._common[5]), at + 10
        if flags & _TRUSTED:
            trusted, at = _when(own[at:at + 10], self._common[6]), at + 10
        if flags & _TOTAL:
            total = Decimal(own[at:].decode("ascii"))
        return errors, warnings, bool(flags & _HAS_RESULTS), sha256, saved_at, trusted, total

    def _change(self, name: str, value: Any) -> None:
        own, common = list(self._values()), list(self._common[:len(_COMMON)])
        if name in _OWN:
            own[_OWN.index(name)] = value
        else:
            common[_COMMON.index(name)] = value
        self._set(tuple(own), tuple(common))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _unpickled_brief, (self.path, self.status, self.key, self._own, self._common)

    @property
    def transient(self) -> bool:
        """The machine's verdict, not the bytes' (:func:`xltemplate.batch.transient`)."""
        return not TRANSIENT.isdisjoint(self.codes)

    def moved(self, path: str) -> "Brief":
        """The same brief for a copy of the file at ``path``."""
        other = copy.copy(self)
        other.path = path
        return other


def _unpickled_brief(path: str, status: str, key: str | None, own: bytes | tuple[Any, ...], common: tuple[Any, ...]) -> Brief:
    """A brief made in a worker (:func:`pack`), unpickled here: it shares what the briefs made here share (the
    values :func:`_shared` makes one object of, the interned status), so memory stays flat in N."""
    brief = Brief.__new__(Brief)
    brief.path, brief.status, brief.key, brief._own = path, sys.intern(status), key, own
    brief._common = _shared_values(common)
    return brief


def _shared_values(common: tuple[Any, ...]) -> tuple[Any, ...]:
    """A brief's shared values (``Brief._common``) as briefs made here share them (see :func:`_unpickled_brief`)."""
    return _shared(tuple(_shared(v) for v in common[:len(_COMMON)]) + tuple(common[len(_COMMON):]))


_SHARED: dict[Any, Any] = {}


def _shared(value: Any) -> Any:
    """One object for values many reports share (a status, a template, an application's name)."""
    if value is None:
        return None
    if len(_SHARED) > 4096:
        return value
    return _SHARED.setdefault(value, value)


class Packed:
    """A report as a worker sends it when the spill is on (:func:`pack`): its brief, and its pickled bytes; ``head``,
    when the worker made one, its head pickled (what 汇总 reads: :meth:`Spill.head`)."""

    __slots__ = ("brief", "data", "head")

    def __init__(self, brief: Brief, data: bytes, head: bytes | None = None) -> None:
        self.brief = brief
        self.data = data
        self.head = head


def pack(report: FileReport) -> Packed:
    """In a worker: ``report`` as :meth:`Spill.put_packed` takes it, its brief made here and its bytes pickled here
    once (the collecting process then neither unpickles the report off the pipe nor pickles it again)."""
    return Packed(Brief(report), pickle.dumps(report, protocol=pickle.HIGHEST_PROTOCOL))


class Store(Protocol):
    """Where full reports are loaded from: ``where`` is what the store gave out for the report."""

    def load(self, where: Any) -> FileReport: ...


class Spill:
    """A private, nameless temporary file of pickled reports (see the module)."""

    def __init__(self) -> None:
        with deferred():
            self._fh: IO[bytes] | None = tempfile.TemporaryFile(prefix="xltemplate-spill-")
        self._ident = file_id(self._fh.fileno())
        read_only_in_workers(self._ident)  # (workers never write it)
        self._end = 0
        self._recent: dict[int, FileReport] = {}
        self._head: tuple[int, Any] | None = None  # (the last head asked for: a row asks a few times, :meth:`head`)
        # the collection's returns and rows, when they are kept on disk too (:data:`.collect.STORE`): closed with this
        self.units: Any = None

    def put(self, report: FileReport) -> int:
        """Append ``report``; what :meth:`load` takes to give it back (its offset and length in one int)."""
        return self.put_packed(pickle.dumps(report, protocol=pickle.HIGHEST_PROTOCOL))

    def put_packed(self, data: bytes, head: bytes | None = None) -> int:
        """Append a report pickled by this run (here, or in a worker: :func:`pack`); as :meth:`put`. ``head``: its
        head pickled by this run (:meth:`head`), put right after it, marked."""
        assert self._fh is not None, "spill closed"
        self._fh.seek(self._end)
        self._fh.write(data)
        where = (self._end << 32) | len(data)
        self._end += len(data)
        if head is not None:
            self._fh.write(_HEAD_MARK.pack(_HEAD_MAGIC, len(head)))
            self._fh.write(head)
            self._end += _HEAD_MARK.size + len(head)
        return where

    def head(self, where: int) -> Any:
        """The head put with the report at ``where`` (:meth:`put_packed`), unpickled: a report's results without their
        items (:func:`xltemplate.rollup.collect.pack_headed`); None when it has none (the caller loads the report)."""
        last = self._head
        if last is not None and last[0] == where:
            return last[1]
        assert self._fh is not None, "spill closed"
        self._fh.seek((where >> 32) + (where & 0xFFFFFFFF))
        mark = self._fh.read(_HEAD_MARK.size)
        if len(mark) != _HEAD_MARK.size:
            return None
        magic, size = _HEAD_MARK.unpack(mark)
        if magic != _HEAD_MAGIC:  # (the next report's pickle, which starts with PROTO: never the mark's zero byte)
            return None
        got = pickle.loads(self._fh.read(size))
        self._head = (where, got)
        return got

    def raw(self, where: int) -> bytes:
        """The bytes :meth:`put_packed` put at ``where``, as they were (not unpickled: the caller decodes them)."""
        assert self._fh is not None, "spill closed"
        self._fh.seek(where >> 32)
        return self._fh.read(where & 0xFFFFFFFF)

    def load(self, where: int) -> FileReport:
        got = self._recent.get(where)
        if got is not None:
            return got
        assert self._fh is not None, "spill closed"
        self._fh.seek(where >> 32)
        report: FileReport = pickle.loads(self._fh.read(where & 0xFFFFFFFF))
        if len(self._recent) >= RECENT:
            del self._recent[next(iter(self._recent))]
        self._recent[where] = report
        return report

    def close(self) -> None:
        try:
            if self._fh is not None:
                fh, self._fh = self._fh, None
                forget(self._ident)
                fh.close()  # (its flush may fail, a full disk: the file is let go, and the store, all the same)
        finally:
            self._recent.clear()
            if self.units is not None:
                self.units.close()

    def __enter__(self) -> "Spill":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Brief", "COMPACT_BRIEFS", "FIELDS", "Packed", "RECENT", "Spill", "Store", "pack"]
