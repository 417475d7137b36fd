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
import sys
import tempfile
from decimal import Decimal
from typing import IO, Any, Protocol

from ..batch import TRANSIENT
from ..report import FileReport
from ..signals import deferred

#: How many full reports a store keeps after loading them: a row's sheets ask for the same report a few times
#: in a row (its unit, project and figures), never for one long done with.
RECENT = 8


class Brief:
    """What a collection reads of a report without its findings and figures (see the module)."""

    __slots__ = ("path", "status", "key", "sha256", "template", "saved_at", "saved_at_trusted", "application",
                 "signature", "errors", "warnings", "codes", "total", "grade", "has_results")

    def __init__(self, report: FileReport) -> None:
        self.path = report.path
        self.status = sys.intern(report.status)
        self.key = report.key
        self.sha256 = report.sha256
        self.template = _shared(report.template)
        self.saved_at: dt.datetime | None = report.saved_at
        self.saved_at_trusted: dt.datetime | None = report.saved_at_trusted
        self.application = _shared(report.application)
        self.signature = _shared(report.signature)
        self.errors = report.errors
        self.warnings = report.warnings
        # the finding codes (matching adds a finding unless validation made it already)
        self.codes: tuple[str, ...] = _shared(tuple(sorted({f.code for f in report.findings})))
        self.total: Decimal | None = report.total
        self.grade = _shared(report.grade)
        self.has_results = report.results is not None

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _unpickled_brief, tuple(getattr(self, name) for name in Brief.__slots__)

    @property
    def transient(self) -> bool:
        """The machine's verdict, not the bytes' (:func:`xltemplate.batch.transient`)."""
        return not TRANSIENT.isdisjoint(self.codes)

    def moved(self, path: str) -> "Brief":
        """The same brief for a copy of the file at ``path``."""
        other = copy.copy(self)
        other.path = path
        return other


def _unpickled_brief(path: str, status: str, key: str | None, sha256: str, template: Any, saved_at: dt.datetime | None,
                     saved_at_trusted: dt.datetime | None, application: Any, signature: Any, errors: int, warnings: int,
                     codes: tuple[str, ...], total: Decimal | None, grade: Any, has_results: bool) -> Brief:
    """A brief made in a worker (:func:`pack`), unpickled here: it shares what the briefs made here share (the
    values :func:`_shared` makes one object of, the interned status), so memory stays flat in N."""
    brief = Brief.__new__(Brief)
    brief.path, brief.status, brief.key, brief.sha256 = path, sys.intern(status), key, sha256
    brief.template, brief.saved_at, brief.saved_at_trusted = _shared(template), saved_at, saved_at_trusted
    brief.application, brief.signature = _shared(application), _shared(signature)
    brief.errors, brief.warnings, brief.codes = errors, warnings, _shared(codes)
    brief.total, brief.grade, brief.has_results = total, _shared(grade), has_results
    return brief


_SHARED: dict[Any, Any] = {}


def _shared(value: Any) -> Any:
    """One object for values many reports share (a status, a template, an application's name)."""
    if value is None:
        return None
    if len(_SHARED) > 4096:
        return value
    return _SHARED.setdefault(value, value)


class Packed:
    """A report as a worker sends it when the spill is on (:func:`pack`): its brief, and its pickled bytes."""

    __slots__ = ("brief", "data")

    def __init__(self, brief: Brief, data: bytes) -> None:
        self.brief = brief
        self.data = data


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
        self._end = 0
        self._recent: dict[int, FileReport] = {}

    def put(self, report: FileReport) -> int:
        """Append ``report``; what :meth:`load` takes to give it back (its offset and length in one int)."""
        return self.put_packed(pickle.dumps(report, protocol=pickle.HIGHEST_PROTOCOL))

    def put_packed(self, data: bytes) -> int:
        """Append a report pickled by this run (here, or in a worker: :func:`pack`); as :meth:`put`."""
        assert self._fh is not None, "spill closed"
        self._fh.seek(self._end)
        self._fh.write(data)
        where = (self._end << 32) | len(data)
        self._end += len(data)
        return where

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
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self._recent.clear()

    def __enter__(self) -> "Spill":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Brief", "Packed", "RECENT", "Spill", "Store", "pack"]
