"""Collect returns: validate every file, match them to the roster, decide what counts.

Returns are matched by the key inside the file, never by its name. For one key,
byte-identical copies count once; otherwise the newest (the workbook's own saved
time, then arrival: :mod:`xltemplate.resubmission`) counts and the others are
superseded. A return whose key is not on the roster, or that has none, is listed,
never lost. The result is a :class:`Collection`: rows for the roll-up, every file's
fate, and pandas tables. A collection round (:mod:`xltemplate.rounds`) builds its
returns from a ledger and matches them here too (:func:`assemble`), with the arrival
order, the clerk's withdrawals and the files gone from the inbox.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from itertools import groupby
from collections import Counter
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from array import array
from operator import itemgetter
import pickle
from typing import Any, Callable, Generic, Iterable, Iterator, Sequence, TypeVar, overload

from ..batch import validate_files
from ..catalog import TemplateLike, as_spec
from ..errors import TemplateChoiceError, XltemplateError
from ..findings import Finding, finding
from ..form.formulas import ratio
from ..fsutil import scratch_error
from ..identify import SIGNATURE_MISSING, SIGNATURE_VALID, ReaderName, RunContext
from ..inputs import Inputs, discover
from ..pathtext import file_name, shown
from ..report import FileReport
from ..results import Results
from ..resubmission import Candidate, newest, original
from ..workers import kept_pool
from ..roster import PackedRows, Roster, RosterRow
from ..spec import Spec
from . import tables
from ..words import (
    COUNTED, DUPLICATE, ERROR, FATES, INVALID, MISSING, NOT_CHECKED, NOT_GRADED, SKIPPED, STATUS_ZH, SUPERSEDED, UNIT_INVALID,
    UNIT_VALID, UNMATCHED, UNREADABLE, VALID, WARNING, WITHDRAWN,
)
from .record import RoundView
from .spill import Brief, Packed, Spill, Store, _shared_values, pack
from .units import Units, text, untext
from . import units as _units

__all__ = ["COUNTED", "Collection", "Counts", "DUPLICATE", "FATES", "MISSING", "NOT_GRADED", "Return", "Row", "SKIPPED",
           "SUPERSEDED", "UNIT_INVALID", "UNIT_VALID", "UNMATCHED", "assemble", "collect", "natural_key"]


class _Rare:
    """What a return rarely has (:data:`LEAN_RETURNS`): its values, with their defaults."""

    __slots__ = ("replaced_by", "note", "extra", "arrival", "received", "archived", "source")

    def __init__(self) -> None:
        self.replaced_by: str | None = None
        self.note: str | None = None
        self.extra: list[Finding] | tuple[()] = ()
        self.arrival: int | None = None
        self.received: float | None = None
        self.archived = False
        self.source: str | None = None


_DEFAULTS = _Rare()
_T = TypeVar("_T")
_K = TypeVar("_K", bound="_Kept")


class _RareField(Generic[_T]):
    """A value of :class:`Return` kept in its ``_rare``: the default until a value other than it is set."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.default = getattr(_DEFAULTS, name)

    @overload
    def __get__(self, obj: None, owner: type) -> "_RareField[_T]": ...
    @overload
    def __get__(self, obj: "Return", owner: type) -> _T: ...
    def __get__(self, obj: "Return | None", owner: type) -> "_T | _RareField[_T]":
        if obj is None:
            return self
        rare = obj._rare
        return getattr(rare, self.name) if rare is not None else self.default

    def __set__(self, obj: "Return", value: _T) -> None:
        rare = obj._rare
        if rare is None:
            if value is self.default or (value == self.default and type(value) is type(self.default)):
                return  # (the default: nothing kept)
            rare = obj._rare = _Rare()
        setattr(rare, self.name, value)


class Return:
    """One file read, with its report and what the collection made of it.

    The full report is held (``Return(report, mtime)``) or, as a collection keeps it, in a store
    (:mod:`xltemplate.rollup.spill`): ``report`` then loads it each time a row is written from it,
    and :attr:`brief` is what matching and counting read without it.
    """

    __slots__ = ("brief", "_store", "_where", "mtime", "fate", "_rare")

    def __init__(self, report: FileReport | None, mtime: float, fate: str = UNMATCHED, replaced_by: str | None = None,
                 note: str | None = None, extra: list[Finding] | None = None, arrival: int | None = None,
                 received: float | None = None, archived: bool = False, source: str | None = None, *,
                 brief: Brief | None = None, store: Store | None = None, where: Any = None) -> None:
        if report is None and (brief is None or store is None):
            raise TypeError("a Return needs its report, or its brief and the store it is kept in")
        self.brief = brief if brief is not None else Brief(report)  # type: ignore[arg-type]
        # (the report held: no store, the report where the store's place would be; one slot, not two)
        self._store: Store | None = store if report is None else None
        self._where: Any = where if report is None else report
        self.mtime = mtime
        self.fate = fate
        self._rare: _Rare | None = None if LEAN_RETURNS else _Rare()
        self.replaced_by = replaced_by
        self.note = note  # why the fate, in Chinese (文件清单's 说明)
        # findings from collecting (superseded, …): a list once there is one (:meth:`add_finding`), an empty tuple
        # until then (issue 15: an empty list a return is 56 bytes, 5.6 MB at 100,000)
        self.extra = extra if extra is not None else ([] if not LIGHT_UNITS else ())
        # With a ledger: the run that first received these bytes and their modification time then (the
        # arrival order of resubmission.newest), and whether the inbox still has them (archived: they
        # stand from the ledger's archive copy, at ``source``; ``path`` is where they were last seen).
        self.arrival = arrival
        self.received = received
        self.archived = archived
        self.source = source

    # (kept in ``_rare``, see LEAN_RETURNS)
    replaced_by: _RareField[str | None] = _RareField("replaced_by")
    note: _RareField[str | None] = _RareField("note")
    extra: _RareField[list[Finding] | tuple[()]] = _RareField("extra")
    arrival: _RareField[int | None] = _RareField("arrival")
    received: _RareField[float | None] = _RareField("received")
    archived: _RareField[bool] = _RareField("archived")
    source: _RareField[str | None] = _RareField("source")

    def settled(self) -> None:
        """Matching is done: let go of the arrival and the time received, which only choosing among a unit's files
        reads (:meth:`candidate`); a return that holds no other rare value then holds none (issue 15: ~110 bytes a
        return of a round)."""
        rare = self._rare
        if rare is None:
            return
        rare.arrival = rare.received = None
        if LEAN_RETURNS and all(getattr(rare, s) is getattr(_DEFAULTS, s) for s in _Rare.__slots__):
            self._rare = None

    def add_finding(self, f: Finding) -> None:
        """Add a finding from collecting to :attr:`extra`."""
        if isinstance(self.extra, list):
            self.extra.append(f)
        else:
            self.extra = [f]

    @property
    def report(self) -> FileReport:
        """The full report: held, or loaded from its store (kept only while a few rows use it)."""
        if self._store is None:
            return self._where
        return self._store.load(self._where)

    def head(self, fid: str | None = None) -> "Results | None":
        """The report's results as 汇总 reads them (totals, grade, rate, groups; ``fid``: a header field it must hold):
        the store's head of the report when the store keeps one (a round's stored report, see rounds/run.py), so that
        the report is not loaded; else the report's own."""
        if self._store is not None:
            if not self.brief.has_results:
                return None  # (the report has none: not loaded to say so)
            heads = getattr(self._store, "head", None)
            if heads is not None:
                got = heads(self._where)
                if got is not None and (fid is None or fid in got.fields):
                    return got
        return self.report.results

    @property
    def path(self) -> str:
        return self.brief.path

    @property
    def findings(self) -> list[Finding]:
        return [*self.report.findings, *self.extra]

    def counts(self) -> tuple[int, int]:
        """(errors, warnings) among :attr:`findings`, without loading the report."""
        return (self.brief.errors + sum(1 for f in self.extra if f.severity == ERROR),
                self.brief.warnings + sum(1 for f in self.extra if f.severity == WARNING))

    def candidate(self) -> Candidate:
        """What the resubmission rules look at among distinct files (the saved time only when it is trusted;
        with a ledger, when the bytes were first received rather than the file's time now)."""
        return Candidate(path=self.path, saved_at=self.brief.saved_at_trusted, name=self.file_name,
                         mtime=self.received if self.received is not None else self.mtime, arrival=self.arrival)

    def copy_candidate(self) -> Candidate:
        """What :func:`~xltemplate.resubmission.original` looks at among byte-identical copies: each path's own time."""
        return Candidate(path=self.path, saved_at=self.brief.saved_at_trusted, mtime=self.mtime, name=self.file_name)

    @property
    def file_name(self) -> str:
        """``Path(path).name``, remembered: the roll-up asks for it on every row of the file (a Path each time
        cost 0.7 s per 10,000 returns in the writer). Remembered by the path, so a brief moved elsewhere is seen."""
        return _names(self.brief.path)[0]

    @property
    def name(self) -> str:
        """The file name as a person reads it (see :func:`~xltemplate.pathtext.shown`), remembered."""
        return _names(self.brief.path)[1]

    def __repr__(self) -> str:
        return f"Return({self.path!r}, fate={self.fate!r})"


#: A file's (name, shown name) by its path, for the last few thousand paths asked about (:func:`_names`).
_NAMES: dict[str, tuple[str, str]] = {}
_NAMES_KEPT = 4096


def _names(path: str) -> tuple[str, str]:
    """A return's file name and shown name: remembered for the paths asked about lately, not on every return (the
    roll-up asks for a file's name several times in a row on each sheet; a remembered pair on each of 100,000
    returns was 12 MB, issue 15)."""
    got = _NAMES.get(path) if REMEMBER else None
    if got is None:
        raw = file_name(path)
        got = (raw, shown(raw))
        if REMEMBER:
            if len(_NAMES) >= _NAMES_KEPT:
                _NAMES.clear()
            _NAMES[path] = got
    return got


class Row:
    """One row of the roll-up: a roster row (or, without a roster, a counted return).

    ``roster`` is the row itself, or, for a packed roster (:data:`xltemplate.roster.PACKED`), decoded from
    it when asked for (``source``: the packed rows and this row's place in them), so that the roll-up's
    rows do not hold 100,000 decoded roster rows at once.
    """

    __slots__ = ("key", "_roster", "_source", "_at", "counted", "others", "rule", "candidates")

    def __init__(self, key: str, roster: RosterRow | None = None, counted: Return | None = None,
                 others: list[Return] | None = None, rule: str | None = None, candidates: int = 0, *,
                 source: tuple[PackedRows, int] | None = None) -> None:
        self.key = key
        self._roster = roster
        self._source: PackedRows | None = source[0] if source is not None else None
        self._at = source[1] if source is not None else 0  # (kept apart: no tuple a row)
        self.counted = counted
        # invalid/unreadable/superseded for this key: a list once there is one (:meth:`add_others`), else an empty tuple
        self.others: list[Return] | tuple[()] = others if others is not None else ([] if not LIGHT_UNITS else ())
        self.rule = rule  # the resubmission rule that chose ``counted`` (resubmission.ONLY for a single file)
        self.candidates = candidates  # the distinct files weighed

    def add_others(self, others: list[Return]) -> None:
        """Add files listed beside the unit (:attr:`others`)."""
        if others:
            if isinstance(self.others, list):
                self.others += others
            else:
                self.others = list(others)

    @property
    def roster(self) -> RosterRow | None:
        if self._source is not None:
            return self._source[self._at]
        return self._roster

    def packed(self) -> tuple[PackedRows, int] | None:
        """Where the roster row is packed (the packed rows and its place in them), or None (held, or none)."""
        return (self._source, self._at) if self._source is not None else None

    def __repr__(self) -> str:
        return f"Row({self.key!r}, counted={self.counted!r}, others={self.others!r})"

    @property
    def status(self) -> str:
        """已提交有效 / 已提交有误 / 未提交."""
        if self.counted is None:
            return MISSING
        return UNIT_VALID if self.valid else UNIT_INVALID

    @property
    def valid(self) -> bool:
        return self.counted is not None and self.counted.brief.status == VALID

    def field(self, spec: Spec, role: str) -> Any:
        """A header value by summary role (unit, project, budget …), see :meth:`value`."""
        fid = spec.summary.get(role)
        return self.value(fid) if fid else None

    def value(self, fid: str) -> Any:
        """A header field: the roster's value whenever the roster has one, else the return's.

        What the bureau prefilled is never taken from a return: a return that changed it is
        ``prefill-changed`` (invalid), and the roll-up still shows the roster's figure.
        """
        roster = self.roster  # (a packed roster's row is decoded each time it is asked for)
        if roster is not None and fid in roster.prefill:
            return roster.prefill[fid]
        res = self.counted.head(fid) if self.counted else None
        return res.fields.get(fid) if res is not None else None

    def execution_rate(self, spec: Spec) -> Decimal | None:
        """The return's execution rate, recomputed from the roster's figures where the roster has them."""
        res = self.counted.head() if self.counted else None
        if res is None:
            return None
        operands = _rate_operands(spec)
        roster = self.roster
        if roster is None or len(operands) != 2 or not any(fid in roster.prefill for fid in operands):
            return res.execution_rate
        num, den = (self.value(fid) for fid in operands)
        rate = ratio(num, den)  # the formula's own rule (form.formulas.ratio_formula and its twin)
        return rate if isinstance(rate, Decimal) else None

    def missing_reason(self) -> str:
        """Why a unit has no valid return (the 未提交 sheet)."""
        if self.counted is None:
            if not self.others:
                return "未收到文件"
            if all(o.fate == WITHDRAWN for o in self.others):
                return "收到的文件已撤回（见提交记录）"
            return "只收到身份签名无效的文件（见文件清单）"
        if self.counted.brief.status == UNREADABLE:
            return "文件无法读取"
        return f"文件有误（错误 {self.counted.brief.errors} 个，见问题清单）"


#: Keep no empty list on each return and each row (``Return.extra``, ``Row.others``: an empty tuple until there is
#: something), and each row's key once, shared with its returns' briefs (issue 15); False: as before (the tests
#: compare).
LIGHT_UNITS = True
#: Keep a return's values it rarely has (replaced_by, note, extra, a round's arrival, received, archived, source) in
#: one object only when it has one (issue 15: seven slots a return, 5.6 MB at 100,000); False: each return has it.
LEAN_RETURNS = True
#: Remember a return's file name and a spec's rate operands (:meth:`Return.file_name`, :func:`_rate_operands`);
#: False: work them out on every call, as before (the tests compare the two).
REMEMBER = True
#: A spec's rate operands (:func:`_rate_operands`) by ``id(spec)``, with the spec kept so that its id stays its own.
_OPERANDS: dict[int, tuple[Spec, tuple[str, ...]]] = {}


def _rate_operands(spec: Spec) -> tuple[str, ...]:
    """The fields a spec's execution rate is computed from: its rate field's operands; a form without one (the
    national) rates executed against budget. Found once per spec, not on every unit (0.5 s per 10,000 units)."""
    got = _OPERANDS.get(id(spec))
    if got is not None and got[0] is spec and REMEMBER:
        return got[1]
    rate_field = next((f for f in spec.fields if f.compute == "ratio"), None)
    operands = rate_field.operands[:2] if rate_field is not None else tuple(
        spec.summary[r] for r in ("executed", "budget") if r in spec.summary)
    if len(_OPERANDS) >= 64:
        _OPERANDS.clear()
    _OPERANDS[id(spec)] = (spec, operands)
    return operands


#: Keep collect's returns and rows in a private SQLite file (:mod:`.units`) and make a :class:`Return` or :class:`Row`
#: when one is asked for: the collection's ``returns`` and ``rows`` are views (:class:`StoredReturns`,
#: :class:`StoredRows`), matching reads the returns in key order from the file (issue 15: about 600 bytes a unit held
#: in memory before, ~60 MB at 100,000); only for collect's own collection (its reports spilled, a packed roster or
#: none). False: lists in memory, as before (the tests compare the two). A round's collection is kept so too with
#: rounds.run.MATCH_STORED (its own store: rounds.view.RoundReturns).
STORE = True

_RET = "n, path, key, status, mtime, hi, lo, own, plain, common, fate, rare"
_FATES = {f: f for f in (*FATES, UNMATCHED)}
_STATUSES = {s: s for s in (VALID, INVALID, UNREADABLE)}


def _place(ret: Return) -> int:
    """A stored return's place in the store."""
    assert isinstance(ret, _Kept)
    return ret._n


def _rare_state(ret: Return) -> bytes | None:
    """A return's rare values (:class:`_Rare`) as the store keeps them, pickled by this process; None: the defaults."""
    rare = ret._rare
    if rare is None or all(getattr(rare, s) == getattr(_DEFAULTS, s) for s in _Rare.__slots__):
        return None
    return pickle.dumps(tuple(getattr(rare, s) for s in _Rare.__slots__), protocol=pickle.HIGHEST_PROTOCOL)


class _Kept(Return):
    """A return made from its record in the store (:class:`StoredReturns`): its place there in ``_n``."""

    __slots__ = ("_n", "_names")
    _n: int
    _names: tuple[str, str, str]  # (the path, its file name, its shown name): made once, on this return

    # (a stored return is made anew each time it is asked for: its names kept on it, not in :data:`_NAMES`, which a
    # pass over more returns than it keeps would only fill and empty, issue 15)
    def _pair(self) -> tuple[str, str, str]:
        path = self.brief.path
        try:
            got = self._names
        except AttributeError:
            pass
        else:
            if got[0] is path and REMEMBER:
                return got
        raw = file_name(path)
        got = self._names = (path, raw, shown(raw))
        return got

    @property
    def file_name(self) -> str:
        return self._pair()[1]

    @property
    def name(self) -> str:
        return self._pair()[2]


class _Named:
    """A return's template, as :func:`choose_template` reads it (:meth:`StoredReturns.templates`)."""

    __slots__ = ("template",)

    def __init__(self, template: tuple[str, str | None] | None) -> None:
        self.template = template


def _templates(returns: Sequence[Return]) -> Iterable[Any]:
    """What :func:`choose_template` reads of each of ``returns``."""
    return returns.templates() if isinstance(returns, StoredReturns) else (r.brief for r in returns)


class _Stored(Sequence[_T]):
    """A sequence kept in a collection's :class:`~.units.Units`: an item made from its record when asked for, a slice
    a list of them."""

    def _record(self, n: int) -> Sequence[Any] | None:  # the n-th record (0 ≤ n < len), or None
        raise NotImplementedError

    def made(self, rec: Sequence[Any]) -> _T:
        raise NotImplementedError

    @overload
    def __getitem__(self, n: int) -> _T: ...
    @overload
    def __getitem__(self, n: slice) -> list[_T]: ...
    def __getitem__(self, n: int | slice) -> _T | list[_T]:
        if isinstance(n, slice):
            return [self[i] for i in range(*n.indices(len(self)))]
        if n < 0:
            n += len(self)
        rec = self._record(n) if 0 <= n < len(self) else None
        if rec is None:
            raise IndexError(n)
        return self.made(rec)


class StoredReturns(_Stored[Return]):
    """A collection's returns kept in its :class:`~.units.Units` (see :data:`STORE`): each :class:`Return` made when
    asked for, its place in the sequence in ``_n``. A return changed (fate, note …) is written back by :meth:`save`:
    only matching changes them."""

    #: The columns a record is read with (a round's store adds its own: rounds.view.RoundReturns).
    COLS = _RET
    #: The places are 0 .. len − 1 (a round's are not: a record's n says which list it is in).
    DENSE = True

    def __init__(self, units: Units, spill: Spill) -> None:
        self.units, self.spill = units, spill
        #: An SQL condition on ``ret`` this view's returns meet ("": every record; a round's views, see
        #: rounds.view.RoundReturns.view), and their count once asked for.
        self.where = ""
        self._len: int | None = None
        self._pending: list[tuple[Any, ...]] = []
        self._common: dict[bytes, tuple[Any, ...]] = {}  # a brief's shared values by their pickle (a few kinds)
        self._commons: dict[int, tuple[Any, bytes]] = {}  # (the same, pickled: by the id of the tuple, kept)

    def add(self, n: int, brief: Brief, mtime: float, where: int) -> None:
        """The ``n``-th return (a return read again replaces the one read before)."""
        self._pending.append(self._fields(n, brief, mtime, where))
        if len(self._pending) >= 256:
            self._write()

    def _fields(self, n: int, brief: Brief, mtime: float, where: int, fate: str = UNMATCHED, rare: bytes | None = None
                ) -> tuple[Any, ...]:
        """The record of a return (:data:`_RET`'s columns)."""
        key = brief.key
        gkey = key if key is not None else f"(无编号) {shown(brief.path)}"  # (its own row without a roster: _match)
        own, common = brief._own, brief._common
        seen = self._commons.get(id(common))
        if seen is None or seen[0] is not common:
            if len(self._commons) >= 64:
                self._commons.clear()
            seen = self._commons[id(common)] = (common, pickle.dumps(common, protocol=pickle.HIGHEST_PROTOCOL))
        plain = type(own) is not bytes  # (a brief whose values do not pack: spill.COMPACT_BRIEFS)
        return (n, text(brief.path), None if key is None else text(key), text(gkey), brief.status, mtime,
                where >> 32, where & 0xFFFFFFFF,
                pickle.dumps(own, protocol=pickle.HIGHEST_PROTOCOL) if plain else own, plain, seen[1], fate, rare)

    def _write(self) -> None:
        marks = ", ".join("?" * (len(self._pending[0]) if self._pending else 13))
        self.units.many(f"INSERT OR REPLACE INTO ret VALUES ({marks})", self._pending)
        self._pending = []

    def flush(self) -> None:
        """After the last :meth:`add`: every return written, and counted (once: SQLite counts by visiting every page
        of the table, which after every few hundred returns made the reading quadratic)."""
        self._write()
        self.units.returns = self.units.query("SELECT count(*) FROM ret")[0][0]

    def save(self, rets: Iterable[Return]) -> None:
        """Write back what matching made of ``rets`` (their fates and rare values)."""
        self.units.many("UPDATE ret SET fate = ?, rare = ? WHERE n = ?", [(r.fate, _rare_state(r), _place(r)) for r in rets])

    def made(self, rec: Sequence[Any]) -> "_Kept":
        return self._made(rec, _Kept)

    def _made(self, rec: Sequence[Any], kind: type["_K"]) -> "_K":
        """The return of a record of :data:`_RET`'s columns, a ``kind``."""
        n, path, key, status, mtime, hi, lo, own, plain, common, fate, rare = rec
        shared = self._common.get(common)
        if shared is None:
            if len(self._common) >= 64:
                self._common.clear()
            shared = self._common[common] = _shared_values(pickle.loads(common))
        brief = Brief.__new__(Brief)
        brief.path, brief.status, brief.key = untext(path), _STATUSES.get(status) or sys.intern(status), (
            None if key is None else untext(key))
        brief._own, brief._common = pickle.loads(own) if plain else own, shared
        if not LEAN_RETURNS or not LIGHT_UNITS:  # (as a return is made with them off)
            ret = kind(None, mtime, _FATES.get(fate, fate), brief=brief, store=self.spill, where=(hi << 32) | lo)
        else:  # (the slots set as Return.__init__ sets them, without its defaults' descriptors)
            ret = kind.__new__(kind)
            ret.brief, ret._store, ret._where, ret.mtime, ret.fate, ret._rare = (
                brief, self.spill, (hi << 32) | lo, mtime, _FATES.get(fate, fate), None)
        if rare is not None:
            kept = ret._rare = _Rare()
            for name, value in zip(_Rare.__slots__, pickle.loads(rare)):
                setattr(kept, name, value)
        ret._n = n
        return ret

    def _and(self) -> str:
        """This view's condition, to go before another's (``WHERE ...``)."""
        return f"({self.where}) AND " if self.where else ""

    def __len__(self) -> int:
        if not self.where:
            return self.units.returns
        if self._len is None:
            self._len = self.units.query(f"SELECT count(*) FROM ret WHERE {self.where}")[0][0]
        return self._len

    def _record(self, n: int) -> Sequence[Any] | None:
        if self.DENSE and not self.where:
            got = self.units.query(f"SELECT {self.COLS} FROM ret WHERE n = ?", (n,))
        else:  # (the n-th of the view's, in order: nothing reads a round's returns by their place in it but a test)
            got = self.units.query(f"SELECT {self.COLS} FROM ret {'WHERE ' + self.where if self.where else ''} "
                                   "ORDER BY n LIMIT 1 OFFSET ?", (n,))
        return got[0] if got else None

    def placed(self, n: int) -> Return:
        """The return whose place in the store is ``n`` (what a row keeps of its others)."""
        got = self.units.query(f"SELECT {self.COLS} FROM ret WHERE n = ?", (n,))
        if not got:
            raise IndexError(n)
        return self.made(got[0])

    def __iter__(self) -> Iterator[Return]:
        for rec in self.units.walk(f"SELECT {self.COLS} FROM ret WHERE {self._and()}n > ? ORDER BY n LIMIT ?", (-1,),
                                   slice(0, 1)):
            yield self.made(rec)

    def keyless(self) -> Iterator[Return]:
        """The returns without a key, in order."""
        for rec in self.units.walk(f"SELECT {self.COLS} FROM ret WHERE {self._and()}key IS NULL AND n > ? ORDER BY n "
                                   "LIMIT ?", (-1,), slice(0, 1)):
            yield self.made(rec)

    def by_group(self, keyed: bool) -> Iterator[tuple[str, Return]]:
        """(the key a return is grouped by, the return), in ``str`` order of the key, then in order: ``keyed``, only
        the returns with a key (by it); else every return, a keyless one by its own name (see :func:`_match`)."""
        self.units.index("ret_g", "CREATE INDEX ret_g ON ret(gkey, n)")
        only = "key IS NOT NULL AND " if keyed else ""
        for rec in self.units.walk(f"SELECT gkey, {self.COLS} FROM ret WHERE {self._and()}{only}(gkey, n) > (?, ?) "
                                   "ORDER BY gkey, n LIMIT ?", (b"", -1), slice(0, 2)):
            yield untext(rec[0]), self.made(rec[1:])

    def templates(self) -> Iterator[Any]:
        """What :func:`choose_template` reads of each return (``.template``), from the kinds of their briefs' shared
        values and how many have each, not by making every return; the templates in the order they first come."""
        for common, count, _first in self.units.query(f"SELECT common, count(*), min(n) FROM ret "
                                                      f"{'WHERE ' + self.where + ' ' if self.where else ''}GROUP BY common "
                                                      "ORDER BY min(n)"):
            named = _Named(_shared_values(pickle.loads(common))[0])
            for _ in range(count):
                yield named

    def by_path(self) -> Iterator[Return]:
        """The returns in ``str`` order of their paths (then in order), as ``sorted(returns, key=path)`` gives them."""
        self.units.index("ret_p", "CREATE INDEX ret_p ON ret(path, n)")
        for rec in self.units.walk(f"SELECT path, {self.COLS} FROM ret WHERE {self._and()}(path, n) > (?, ?) "
                                   "ORDER BY path, n LIMIT ?", (b"", -1), slice(0, 2)):
            yield self.made(rec[1:])

    def archived(self) -> int:
        """How many of the view's returns are archived (a round's, gone from the inbox; collect's: none)."""
        return 0


def _row_cols(returns: StoredReturns) -> str:
    """A row's columns and its counted return's (as its returns are read: :attr:`StoredReturns.COLS`)."""
    return "row.n, row.key, row.at, row.others, row.rule, row.candidates, " + ", ".join(
        f"ret.{c}" for c in returns.COLS.split(", "))


class StoredRows(_Stored[Row]):
    """A collection's rows kept in its :class:`~.units.Units` (see :data:`STORE`), in order: each :class:`Row` made
    when asked for, with its counted return and the others beside it."""

    def __init__(self, returns: StoredReturns, packed: PackedRows | None) -> None:
        self.returns, self.units, self.packed = returns, returns.units, packed
        self._cols = _row_cols(returns)

    def made(self, rec: Sequence[Any]) -> Row:
        _n, key, at, others, rule, candidates = rec[:6]
        row = Row(untext(key), roster=None) if at is None else Row(untext(key), source=(self.packed, at))  # type: ignore[arg-type]
        if rec[6] is not None:
            row.counted = self.returns.made(rec[6:])
        if others is not None:
            row.others = [self.returns.placed(n) for n in array("q", others)]
        row.rule, row.candidates = rule, candidates
        return row

    def __len__(self) -> int:
        return self.units.rows

    def _record(self, n: int) -> Sequence[Any] | None:
        got = self.units.query(f"SELECT {self._cols} FROM row LEFT JOIN ret ON ret.n = row.counted WHERE row.n = ?",
                               (n + self.units.row_base,))
        return got[0] if got else None

    def __iter__(self) -> Iterator[Row]:
        for rec in self.units.walk(f"SELECT {self._cols} FROM row LEFT JOIN ret ON ret.n = row.counted WHERE row.n > ? "
                                   "ORDER BY row.n LIMIT ?", (self.units.row_base - 1,), slice(0, 1)):
            yield self.made(rec)

    def keys(self) -> list[str]:
        """The rows' keys, in order (not a row made for each)."""
        return list(self.iter_keys())

    def iter_keys(self) -> Iterator[str]:
        """The rows' keys, in order, read from the store a chunk at a time."""
        return (untext(k) for _n, k in self.units.walk("SELECT n, key FROM row WHERE n > ? ORDER BY n LIMIT ?",
                                                       (self.units.row_base - 1,), slice(0, 1)))

    def rules(self, but: str) -> dict[int, str]:
        """The rule that chose each row's counted return, by the return's place in the store, where it is not ``but``."""
        return dict(self.units.query("SELECT counted, rule FROM row WHERE counted IS NOT NULL AND rule IS NOT NULL "
                                     "AND rule != ?", (but,)))

    def by_key(self, key: str) -> Row | None:
        """The last row of ``key`` (as ``{row.key: row for row in rows}`` has it), or None."""
        self.units.index("row_k", "CREATE INDEX row_k ON row(key, n)")
        got = self.units.query(f"SELECT {self._cols} FROM row LEFT JOIN ret ON ret.n = row.counted WHERE row.key = ? "
                               "ORDER BY row.n DESC LIMIT 1", (text(key),))
        return self.made(got[0]) if got else None


def _natural_bytes(key: str) -> bytes:
    """:func:`natural_key` as bytes whose order is the tuples' order: a text part as its code points (each plus one,
    three bytes) and a zero, a number part as its count of digits (leading zeros dropped, four bytes) and its digits."""
    out = bytearray()
    for n, part in enumerate(_DIGITS.split(key)):
        if n % 2:
            digits = part.lstrip("0")
            out += len(digits).to_bytes(4, "big") + digits.encode("ascii")
        else:
            for ch in part:
                out += (ord(ch) + 1).to_bytes(3, "big")
            out += b"\0\0\0"
    return bytes(out)


def _match_stored(roster: Roster | None, returns: StoredReturns, *, verified: bool,
                  withdrawn: dict[tuple[str, str], str]) -> StoredRows:
    """:func:`_match` for a collection kept on disk (see :data:`STORE`): the same rows, fates and notes, the returns
    walked in key order from the file beside a packed roster's sorted keys (as :func:`_match_packed`), or grouped
    by key without a roster; nothing a unit held in memory."""
    units = returns.units
    packed = roster.rows if roster is not None else None
    assert packed is None or isinstance(packed, PackedRows)
    changed: list[Return] = []
    made: list[tuple[Any, ...]] = []

    def save(rets: list[Return]) -> None:
        changed.extend(rets)
        if len(changed) >= 256:
            returns.save(changed)
            changed.clear()

    def put(n: int, row: Row, at: int | None) -> None:
        others = array("q", (_place(r) for r in row.others)).tobytes() if row.others else None
        made.append((n, text(row.key), at, _place(row.counted) if row.counted is not None else None, others, row.rule,
                     row.candidates))
        if len(made) >= 256:
            units.many("INSERT INTO row VALUES (?, ?, ?, ?, ?, ?, ?)", made)
            made.clear()

    if packed is not None:
        for ret in returns.keyless():
            _keyless(ret)
            save([ret])
    index = packed.by_keys() if packed is not None else None
    at = next(index, None) if index is not None else None
    seen = bytearray(len(packed)) if packed is not None else bytearray()
    count = 0
    for key, same in groupby(returns.by_group(keyed=packed is not None), key=itemgetter(0)):
        group = [r for _k, r in same]
        if index is not None:
            while at is not None and at[0] < key:
                at = next(index, None)
            if at is None or at[0] != key:
                _not_in_roster(key, group)
                save(group)
                continue
            row = _unit(key, group, Row(key=key, source=(packed, at[1])), verified=verified, withdrawn=withdrawn)  # type: ignore[arg-type]
            assert row is not None
            put(at[1], row, at[1])
            seen[at[1]] = 1
        else:
            got = _unit(key, group, None, verified=verified, withdrawn=withdrawn)
            if got is not None:
                put(count, got, None)
                count += 1
        save(group)
    if packed is not None:
        for key, n in packed.by_keys():
            if not seen[n]:
                put(n, Row(key=key), n)
        count = len(packed)
    del seen
    units.many("INSERT INTO row VALUES (?, ?, ?, ?, ?, ?, ?)", made)
    returns.save(changed)
    units.rows, units.row_base = count, 0
    keys = (untext(k) for _n, k in units.walk("SELECT n, key FROM row WHERE n > ? ORDER BY n LIMIT ?", (-1,), slice(0, 1)))
    if not _in_natural_order(keys):
        db = units.db
        assert db is not None
        db.create_function("natkey", 1, lambda k: _natural_bytes(untext(k)), deterministic=True)
        units.renumber_rows("natkey(key), n")
    # the indexes the roll-up reads by, made now: nothing is written after matching (see .units: a forked process)
    units.index("ret_p", "CREATE INDEX ret_p ON ret(path, n)")
    units.index("row_k", "CREATE INDEX row_k ON row(key, n)")
    return StoredRows(returns, packed)


@dataclass
class Collection:
    spec: Spec
    rows: Sequence[Row]  # a list, or collect's own kept on disk (:class:`StoredRows`, see :data:`STORE`)
    returns: Sequence[Return]  # a list, or :class:`StoredReturns`
    skipped: list[tuple[str, str]]
    roster: Roster | None
    identity_verified: bool = False  # a secret was given: every return's signature was checked
    round: RoundView | None = None  # with a ledger: 提交记录 and the "since the last run" columns
    template_detected: bool = False  # the template was the one most returns name (no --template)
    template_from_ledger: bool = False  # the template of the round's last run (collect --ledger, no --template)
    spill: Spill | None = None  # where the returns' reports are kept (collect's own); closed by close()
    # what else holds the returns' reports and is let go by close() (a round's read-only ledger connection)
    closing: list[Callable[[], None]] = field(default_factory=list)
    # the counts, made as the collection is closed when its returns and rows are kept on disk (they go with it)
    closed_counts: "Counts | None" = field(default=None, repr=False)

    def close(self) -> None:
        """Let go of the reports' temporary file (nothing is left behind in any case: see :mod:`.spill`) and of
        anything else the reports are read from. The counts stay (:meth:`counts`)."""
        if isinstance(self.returns, StoredReturns) and self.closed_counts is None and self.returns.units.db is not None:
            self.closed_counts = self.counts()
        if self.spill is not None:
            self.spill.close()
        for close in self.closing:
            close()

    def __enter__(self) -> "Collection":
        return self

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        try:
            self.close()
        except Exception as failed:  # (a full disk fails the spill's flush at its close too)
            if exc is not None:
                return  # the error that stopped the outputs is the one told, not this one over it
            told = scratch_error(failed)
            if told is not None:
                raise told from failed
            raise

    def template_line(self) -> str:
        """Which template was collected, and how it was chosen (the CLI and the 汇总 note say it)."""
        how = ("按台账上次汇总所用的模板" if self.template_from_ledger
               else "按多数交回文件中记录的模板选定" if self.template_detected else "按指定")
        return f"模板：{self.spec.id} {self.spec.version}（{self.spec.title}，{how}）"

    @property
    def valid_rows(self) -> list[Row]:
        return [r for r in self.rows if r.valid]

    def counts(self) -> "Counts":
        """Every count, once: the CLI line, the 汇总 note, 统计 and ``--json`` all read this."""
        if self.closed_counts is not None:
            return self.closed_counts
        statuses: Counter[str]
        if isinstance(self.returns, StoredReturns) and isinstance(self.rows, StoredRows):
            # (counted in the store, not by making every return and row: the view's returns, a round's among its own)
            q, only = self.returns.units.query, f"WHERE {self.returns.where} " if self.returns.where else ""
            statuses, fates = Counter(dict(q(f"SELECT status, count(*) FROM ret {only}GROUP BY status"))), Counter(
                dict(q(f"SELECT fate, count(*) FROM ret {only}GROUP BY fate")))
            by = dict(q("SELECT CASE WHEN row.counted IS NULL THEN 0 WHEN ret.status = ? THEN 1 ELSE 2 END, count(*) "
                        "FROM row LEFT JOIN ret ON ret.n = row.counted GROUP BY 1", (VALID,)))
            units = Counter({MISSING: by.get(0, 0), UNIT_VALID: by.get(1, 0), UNIT_INVALID: by.get(2, 0)})
            archived = self.returns.archived()  # (a round's gone from the inbox; collect's none)
        else:
            statuses = Counter(r.brief.status for r in self.returns)
            fates = Counter(r.fate for r in self.returns)
            units = Counter(r.status for r in self.rows)
            archived = sum(1 for r in self.returns if r.archived) if self.round is not None else 0
        ledger = self.round is not None
        return Counts(
            roster=len(self.roster.rows) if self.roster else None,
            units_valid=units[UNIT_VALID], units_invalid=units[UNIT_INVALID],
            units_missing=units[MISSING] if self.roster else None,
            files_read=len(self.returns), files_valid=statuses[VALID], files_invalid=statuses[INVALID],
            files_unreadable=statuses[UNREADABLE],
            counted=fates[COUNTED], superseded=fates[SUPERSEDED], duplicate=fates[DUPLICATE],
            unmatched=fates[UNMATCHED], skipped=len(self.skipped),
            withdrawn=fates[WITHDRAWN] if ledger else None, not_checked=fates[NOT_CHECKED] if ledger else None,
            from_archive=archived if ledger else None,
        )

    def all_findings(self) -> list[tuple[Return, Finding]]:
        # a return whose report has no finding is not loaded for its findings (its brief says it has none)
        return [(ret, f) for ret in self.returns for f in (ret.findings if ret.brief.codes else ret.extra)]

    def tables(self) -> dict[str, Any]:
        """The roll-up's tables as pandas DataFrames: see :func:`xltemplate.rollup.tables.tables` for their columns."""
        return tables.tables(self)



@dataclass(frozen=True)
class Counts:
    """Units and files, counted once in the words of the README's table.

    Units: ``roster`` (None without a roster) = 已提交有效 + 已提交有误 + 未提交.
    Files: every file found = read + 跳过; the files read are split by status
    (有效 / 有误 / 无法读取) and, independently, by fate (计入 / 被替代 / 重复 / 未匹配, and
    with a ledger 已撤回 / 未校验). With a ledger, the files read include the counted files no
    longer in the inbox (``from_archive``), which stand from the archive.
    """

    roster: int | None
    units_valid: int
    units_invalid: int
    units_missing: int | None  # None without a roster: who did not return is unknown
    files_read: int
    files_valid: int
    files_invalid: int
    files_unreadable: int
    counted: int
    superseded: int
    duplicate: int
    unmatched: int
    skipped: int
    # With a ledger only (None without one): fates of a round, and the counted files no longer in the inbox.
    withdrawn: int | None = None
    not_checked: int | None = None
    from_archive: int | None = None

    @property
    def units(self) -> int:
        return self.roster if self.roster is not None else self.units_valid + self.units_invalid

    @property
    def files(self) -> int:
        return self.files_read + self.skipped

    def as_dict(self) -> dict[str, dict[str, int | None]]:
        """For ``--json`` (keys in English; the README's table gives the Chinese word of each)."""
        return {
            "units": {"total": self.units, "roster": self.roster, "valid": self.units_valid,
                      "invalid": self.units_invalid, "missing": self.units_missing},
            "files": {"total": self.files, "read": self.files_read, "valid": self.files_valid,
                      "invalid": self.files_invalid, "unreadable": self.files_unreadable,
                      "counted": self.counted, "superseded": self.superseded, "duplicate": self.duplicate,
                      "unmatched": self.unmatched, "skipped": self.skipped,
                      **({"withdrawn": self.withdrawn, "not_checked": self.not_checked, "from_archive": self.from_archive}
                         if self.withdrawn is not None else {})},
        }

    def lines(self) -> list[str]:
        """Two lines, units then files: the CLI prints them and the 汇总 sheet's note repeats them."""
        if self.roster is not None:
            units = (f"名单 {self.units} 个单位：{UNIT_VALID} {self.units_valid}，{UNIT_INVALID} {self.units_invalid}，"
                     f"{MISSING} {self.units_missing}")
        else:
            units = (f"单位 {self.units} 个（未提供名单，每个计入的文件算一个单位）：{UNIT_VALID} {self.units_valid}，"
                     f"{UNIT_INVALID} {self.units_invalid}")
        ledger = (f"，{WITHDRAWN} {self.withdrawn}，{NOT_CHECKED} {self.not_checked}" if self.withdrawn is not None else "")
        files = (f"文件 {self.files} 个：读取 {self.files_read} 个（{STATUS_ZH[VALID]} {self.files_valid}，"
                 f"{STATUS_ZH[INVALID]} {self.files_invalid}，{STATUS_ZH[UNREADABLE]} {self.files_unreadable}；"
                 f"{COUNTED} {self.counted}，{SUPERSEDED} {self.superseded}，{DUPLICATE} {self.duplicate}，"
                 f"{UNMATCHED} {self.unmatched}{ledger}），{SKIPPED} {self.skipped}")
        if self.from_archive:
            files += f"；其中 {self.from_archive} 个已不在收件文件夹，按台账中的归档副本计入"
        return [units, files]

    def table(self) -> list[tuple[str, str, int | None]]:
        """(group, word, count) rows for the 统计 sheet, in the order of :meth:`lines`."""
        rows: list[tuple[str, str, int | None]] = [("单位", "名单单位数" if self.roster is not None else "单位数", self.units),
                                                   ("单位", UNIT_VALID, self.units_valid), ("单位", UNIT_INVALID, self.units_invalid)]
        if self.roster is not None:
            rows.append(("单位", MISSING, self.units_missing))
        rows += [("文件", "文件总数", self.files), ("文件", "读取", self.files_read),
                 ("文件", STATUS_ZH[VALID], self.files_valid), ("文件", STATUS_ZH[INVALID], self.files_invalid),
                 ("文件", STATUS_ZH[UNREADABLE], self.files_unreadable), ("文件", COUNTED, self.counted),
                 ("文件", SUPERSEDED, self.superseded), ("文件", DUPLICATE, self.duplicate),
                 ("文件", UNMATCHED, self.unmatched)]
        if self.withdrawn is not None:
            rows += [("文件", WITHDRAWN, self.withdrawn), ("文件", NOT_CHECKED, self.not_checked),
                     ("文件", "不在收件文件夹（按归档副本计入）", self.from_archive)]
        rows.append(("文件", SKIPPED, self.skipped))
        return rows


def choose_template(reports: Iterable[FileReport | Brief | _Named], run: RunContext) -> Spec:
    """The template most of the readable returns name (id, then its newest known version).

    Raises :class:`~xltemplate.errors.TemplateChoiceError` (Chinese, asking for ``--template``)
    when none names a known template, or two are named equally often.
    """
    counts = Counter(r.template[0] for r in reports if r.template and r.template[0])
    known = {tid for tid, _v in run.known}
    ranked = [(n, tid) for tid, n in counts.most_common() if tid in known]
    if not ranked:
        named = "、".join(sorted(counts)) or "无"
        raise TemplateChoiceError(f"交回的文件中没有可识别的模板（文件中记录的模板：{named}）；请用 --template 指定要汇总的模板")
    if len(ranked) > 1 and ranked[0][0] == ranked[1][0]:
        tied = "、".join(f"{tid}（{n} 个文件）" for n, tid in ranked if n == ranked[0][0])
        raise TemplateChoiceError(f"交回的文件来自几个模板，份数相同：{tied}；请用 --template 指定要汇总的模板")
    tid = ranked[0][1]
    return run.known[(tid, run.versions(tid)[-1])]


#: Find the template from a sample of the returns first, then read them all once (see :func:`collect_found`);
#: False: read them all twice, once to find the template and once with the roster (the tests compare).
GUESS_FIRST = True
TEMPLATE_SAMPLE = 64  # returns read to guess the template: evenly spread over the inbox


def guess_template(files: Sequence[Path], context: RunContext, *, jobs: int | None = None) -> Spec | None:
    """The template an even sample of ``files`` names most (:func:`choose_template`), or None: too few files to
    sample, or no clear choice. Only a guess: the caller holds it to what all the reports name."""
    if len(files) <= TEMPLATE_SAMPLE:
        return None
    step = len(files) / TEMPLATE_SAMPLE
    sample = [files[int(n * step)] for n in range(TEMPLATE_SAMPLE)]
    try:
        return choose_template(validate_files(sample, context, jobs=jobs), context)
    except TemplateChoiceError:
        return None


def same_template(a: Spec, b: Spec) -> bool:
    return (a.id, a.version) == (b.id, b.version)


def collect_found(found: Inputs, given: Callable[[Spec], tuple[Roster | None, RunContext]], *, jobs: int | None = None,
                  progress: Callable[[int], None] | None = None, context: RunContext | None = None) -> Collection:
    """Collect returns whose template is not given but whose roster (or targets) must be read as that template's.

    ``given(spec)``: the roster read as ``spec``'s, and the run's context (the targets, the secret), or raises
    (a roster that does not fit). The template is the one most returns name (:func:`choose_template`); to read
    every return once instead of twice (once to find the template, once with the roster), it is guessed from
    an even sample of them, every return is read with the roster as that template's, and the guess is then
    held to what all the reports name: the same choice :func:`choose_template` makes over a first reading of
    every return (what a report says its file names does not depend on the roster, the template chosen or the
    secret). When the guess was not it (the sample misled, the roster did not fit), every return is read
    again, as without a guess (``progress`` follows the last reading). ``context``: the templates the returns
    may name, without a roster or an explicit template (default: the built-ins).
    """
    with kept_pool():  # (the sample's workers read every return: see workers.KEEP_POOL)
        return _collect_found(found, given, jobs, progress, context)


def _collect_found(found: Inputs, given: Callable[[Spec], tuple[Roster | None, RunContext]], jobs: int | None,
                   progress: Callable[[int], None] | None, context: RunContext | None) -> Collection:
    builtin = context if context is not None else RunContext.builtin()
    files = found.files
    guess = guess_template(files, builtin, jobs=jobs) if GUESS_FIRST else None
    if guess is not None:
        try:
            roster, run = given(guess)
        except XltemplateError:
            pass  # the roster or the targets do not fit the guess: find the template from every return
        else:
            result = collect([], guess, roster=roster, templates=run, progress=progress, inputs=found, jobs=jobs)
            try:
                chosen = choose_template(_templates(result.returns), builtin)  # (no list of them)
            except BaseException:
                result.close()  # (its spill and store let go now, not when collected)
                raise
            if (chosen.id, chosen.version) == (guess.id, guess.version):
                result.template_detected = True
                return result
            result.close()
    first = validate_files(files, builtin, jobs=jobs)
    spec = choose_template(first, builtin)
    del first
    roster, run = given(spec)
    result = collect([], spec, roster=roster, templates=run, progress=progress, inputs=found, jobs=jobs)
    result.template_detected = True
    return result


def collect(paths: Iterable[str | os.PathLike[str]], spec: TemplateLike | None, *, roster: Roster | None = None,
            templates: RunContext | None = None,
            progress: Callable[[int], None] | None = None, reports: list[FileReport] | None = None,
            inputs: Inputs | None = None, jobs: int | None = None, reader: ReaderName | None = None) -> Collection:
    """Read and validate every return under ``paths`` (or the already discovered ``inputs``) and match them to ``roster``.

    ``spec`` is the template of the returns: a built-in id, a spec path or a :class:`Spec`; None: the
    template most returns name (:func:`choose_template`; ``Collection.template_detected`` says so),
    their files read once more only where the first reading could not serve (a roster given, or a
    file of another template). ``templates``: the run's context (default: the built-ins and ``spec``);
    ``jobs``: worker processes (None: this process); ``reports``: reports already made for the files found.
    """
    detected = spec is None
    found = inputs if inputs is not None else discover(list(paths))
    if spec is None and roster is not None and reports is None and GUESS_FIRST:
        # with a roster every return is read again as the chosen template's: guess it first, read them once
        first = RunContext.of(templates if templates is not None else RunContext.builtin(), reader=reader)
        return collect_found(found, lambda guess: (roster, replace(first, explicit=guess)), jobs=jobs, progress=progress,
                             context=replace(first, roster=None, explicit=None))
    spill = Spill() if SPILL and reports is None else None
    try:
        if spill is not None and STORE and _units.AVAILABLE and (  # (an old SQLite: lists, see .units)
                roster is None or (isinstance(roster.rows, PackedRows) and MERGE_MATCH)):
            spill.units = Units()  # (closed with the spill)
        given: Sequence[Return] | None = [Return(r, _mtime(r.path)) for r in reports] if reports is not None else None
        if spec is None:
            first = RunContext.of(templates if templates is not None else RunContext.builtin(), reader=reader)
            if given is None:
                given = _read(found.files, replace(first, roster=None, explicit=None), jobs, progress, spill)
            spec = choose_template(_templates(given), first)
            again = [n for n, r in enumerate(given)
                     if roster is not None or (r.brief.template is not None and r.brief.template[0] != spec.id)]
            run = replace(first, explicit=spec).with_roster(roster)
            if again:
                redone = _read([found.files[n] for n in again], run, jobs, None, spill, numbers=again)
                if isinstance(given, list):
                    for n, ret in zip(again, redone):
                        given[n] = ret
            spec = as_spec(spec)
        else:
            spec = as_spec(spec)
            run = RunContext.of(templates if templates is not None else RunContext.builtin(spec), reader=reader)
            run = run.with_roster(roster)  # validation compares keys and prefilled values with it
        if given is None:
            given = _read(found.files, run, jobs, progress, spill)
        c = assemble(spec, roster, given, found.skipped, verified=run.identity_verified)
    except BaseException as exc:
        if spill is not None:
            try:
                spill.close()
            except OSError:
                pass  # (a full disk fails the close's flush too: the error that stopped the run is the one told)
        told = scratch_error(exc)
        if told is not None:
            raise told from exc
        raise
    c.template_detected = detected
    c.spill = spill
    return c


#: Keep each report in a private temporary file as it comes, and only a brief of it in memory (see
#: :mod:`xltemplate.rollup.spill`); False: hold every report in memory (the tests compare the two).
SPILL = True
#: With the spill and workers: each worker pickles its report and makes its brief itself (:func:`.spill.pack`),
#: and this process appends the bytes to the spill as they come, never unpickling the report nor pickling it
#: again (issue 15: this process's CPU competes with the workers'); False: the worker sends the report.
PREPICKLE = True


def _read(files: Sequence[Path], run: RunContext, jobs: int | None, progress: Callable[[int], None] | None,
          spill: Spill | None, numbers: Sequence[int] | None = None) -> Sequence[Return]:
    """A return for each file, in order: its report held, or spilled as it comes (``spill``); with the spill's
    records on disk (:data:`STORE`) they go there, as the ``numbers[n]``-th returns (default: the ``n``-th), and
    the result is the view of them all."""
    if spill is None:
        return [Return(r, _mtime(r.path)) for r in validate_files(files, run, jobs=jobs, progress=progress)]
    packer = _packer(run)
    if spill.units is not None:
        stored = StoredReturns(spill.units, spill)

        def put(n: int, got: FileReport | Packed) -> None:
            stored.add(numbers[n] if numbers is not None else n, *_spilled(got, spill, packer))

        validate_files(files, run, jobs=jobs, progress=progress, each=put, keep=False, pack=packer)
        stored.flush()
        assert numbers is not None or len(stored) == len(files)
        return stored
    out: list[Return | None] = [None] * len(files)

    def keep(n: int, got: FileReport | Packed) -> None:
        brief, mtime, where = _spilled(got, spill, packer)
        out[n] = Return(None, mtime, brief=brief, store=spill, where=where)

    validate_files(files, run, jobs=jobs, progress=progress, each=keep, keep=False, pack=packer)
    assert all(r is not None for r in out)
    return out  # type: ignore[return-value]


def _spilled(got: FileReport | Packed, spill: Spill, packer: Callable[[FileReport], Any] | None = None
             ) -> tuple[Brief, float, int]:
    """A worker's result put in the spill: its brief, its file's modification time, its place in the spill.
    ``packer``: what the workers pack with (:func:`_packer`): a report read in this process (no workers) is packed
    with it here, with its head (:data:`HEADS`)."""
    if not isinstance(got, Packed) and packer is not None and packer is not pack and got.results is not None:
        got = packer(got)
    if isinstance(got, Packed):  # pickled by our own worker (a report it could not make comes as one)
        return got.brief, _mtime(got.brief.path), spill.put_packed(got.data, got.head)
    return Brief(got), _mtime(got.path), spill.put(got)


#: Each worker pickles a report's head too (:func:`pack_headed`: its results without their items, and of their fields
#: only those 汇总 reads), which the spill keeps beside the report (:meth:`.spill.Spill.head`): 汇总's rows read the
#: head where they loaded the whole report, this process's largest cost in writing the roll-up (10,000 units: a
#: quarter of its samples, ~0.1 ms a report, while the second process loads them whole for 指标得分 anyway); as a
#: round's stored reports have their heads (rounds/run.py). False: no head, the report loaded (the tests compare).
HEADS = True


def head_fields(spec: Spec) -> tuple[str, ...]:
    """The header fields a report's head keeps: those the spec's summary names and its rate's operands."""
    return tuple(sorted({fid for fid in spec.summary.values() if isinstance(fid, str)} | set(_rate_operands(spec))))


def pack_headed(fields: tuple[str, ...], report: FileReport) -> Packed:
    """In a worker: :func:`.spill.pack`, with the report's head pickled (see :data:`HEADS`; ``fields``:
    :func:`head_fields`)."""
    got = pack(report)
    res = report.results
    if res is not None:
        head = replace(res, items=(), fields={fid: res.fields[fid] for fid in fields if fid in res.fields})
        got.head = pickle.dumps(head, protocol=pickle.HIGHEST_PROTOCOL)
    return got


def _packer(run: RunContext) -> Callable[[FileReport], Any] | None:
    """What each worker sends for a report read with ``run``: :func:`pack_headed` for the run's template, when it has
    one; else :func:`.spill.pack`; None: the report itself (:data:`PREPICKLE` off)."""
    if not PREPICKLE:
        return None
    if HEADS and run.explicit is not None:
        return functools.partial(pack_headed, head_fields(run.explicit))
    return pack


def assemble(spec: Spec, roster: Roster | None, returns: Sequence[Return], skipped: list[tuple[str, str]], *,
             verified: bool = False, withdrawn: dict[tuple[str, str], str] | None = None) -> Collection:
    """Match ``returns`` to the roster and choose each unit's file: the :class:`Collection`.

    ``verified``: a secret was given (a return whose signature is not valid cannot stand for its unit);
    ``withdrawn``: (key, sha256) → why, the returns the clerk took out of the count (fate 已撤回).
    """
    rows = _match(spec, roster, returns, verified=verified, withdrawn=withdrawn or {})
    return Collection(spec=spec, rows=rows, returns=returns, skipped=skipped, roster=roster, identity_verified=verified)


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def _match(spec: Spec, roster: Roster | None, returns: Sequence[Return], *, verified: bool = False,
           withdrawn: dict[tuple[str, str], str] | None = None) -> Sequence[Row]:
    """Group the returns by key, one row per roster unit (or per key), and choose each unit's file.

    ``verified``: a secret was given, so a return whose signature is not valid cannot stand for
    the unit it names (it may be forged); it is listed beside the unit, never counted. A return
    ``withdrawn`` by the clerk is listed beside its unit too.
    """
    withdrawn = withdrawn or {}
    if isinstance(returns, StoredReturns):
        return _match_stored(roster, returns, verified=verified, withdrawn=withdrawn)
    if roster is not None and isinstance(roster.rows, PackedRows) and MERGE_MATCH:
        return _match_packed(roster.rows, returns, verified=verified, withdrawn=withdrawn)
    # a key's returns: the one return, or a list when there are several (issue 15: no list a unit)
    by_key: dict[str, Return | list[Return]] = {}
    for ret in returns:
        key = ret.brief.key
        if key is None:
            if roster is not None:
                _keyless(ret)
                continue
            # Without a roster a keyless return is its own row, named by its path: two files that
            # share a name in different folders are two returns, never one superseding the other.
            key = f"(无编号) {shown(ret.path)}"
        had = by_key.get(key)
        if had is None:
            by_key[key] = ret if LIGHT_UNITS else [ret]
        elif isinstance(had, list):
            had.append(ret)
        else:
            by_key[key] = [had, ret]

    known = roster.by_key() if roster is not None else {}
    rows: dict[str, Row]
    if roster is not None and isinstance(roster.rows, PackedRows):
        packed = roster.rows  # each row's roster row stays packed until a sheet asks for it
        rows = {k: Row(key=k, source=(packed, n)) for k, n in packed.keyed()}
    else:
        rows = {k: Row(key=k, roster=r) for k, r in known.items()}
    for key in sorted(by_key):
        got = by_key[key]
        group = got if isinstance(got, list) else [got]
        if roster is not None and key not in known:
            _not_in_roster(key, group)
            continue
        row = _unit(key, group, rows.get(key), verified=verified, withdrawn=withdrawn)
        if row is not None and key not in rows:
            rows[key] = row
    if LIGHT_UNITS and _in_natural_order(rows):
        return list(rows.values())  # (what the stable sort would give: a roster in order is not sorted again)
    return [rows[k] for k in sorted(rows, key=natural_key)]


def _keyless(ret: Return) -> None:
    """With a roster: a return without a key is listed, never lost."""
    ret.fate = UNMATCHED  # listed in 文件清单 and 问题清单, never lost
    if ret.brief.status == UNREADABLE:
        ret.note = "文件无法读取，读不出编号"
    else:
        ret.note = "文件中没有编号"
        _once(ret, "key-missing")


def _not_in_roster(key: str, group: list[Return]) -> None:
    for ret in group:
        ret.fate = UNMATCHED
        ret.note = f"编号“{shown(key)}”不在名单中"
        _once(ret, "key-not-in-roster", value=key, key=key)


def _unit(key: str, group: list[Return], row: Row | None, *, verified: bool,
          withdrawn: dict[tuple[str, str], str]) -> Row | None:
    """A unit's returns (``group``, in their order) settled on its ``row`` (None: a row is made for the key, unless only
    unproven or withdrawn files claim it, without a roster): the row, or None."""
    out = [r for r in group if (key, r.brief.sha256 or "") in withdrawn]
    for ret in out:
        ret.fate = WITHDRAWN
        ret.note = withdrawn[(key, ret.brief.sha256 or "")]
    group = [r for r in group if all(r is not o for o in out)]
    unproven = [r for r in group if r.brief.signature != SIGNATURE_VALID] if verified else []
    for ret in unproven:
        ret.fate = UNMATCHED
        ret.note = f"身份签名{'缺失' if ret.brief.signature == SIGNATURE_MISSING else '无效'}，不能确认是编号“{shown(key)}”的单位提交的，未计入"
    group = [r for r in group if all(r is not u for u in unproven)]
    if not group and row is None:
        return None  # without a roster, no unit is known that only unproven or withdrawn files claim
    if row is None:
        row = Row(key=key, roster=None)
    if LIGHT_UNITS:
        for ret in out + unproven + group:
            if ret.brief.key == row.key:
                ret.brief.key = row.key  # the same text: kept once (the row's), not again in each brief
    row.add_others(out + unproven)  # the 未提交 sheet names them beside the unit
    if group:
        _choose(row, group)
    if isinstance(row.others, list):
        row.others.sort(key=lambda r: r.path)
    return row


#: With a packed roster, match by going through the returns sorted by key beside the roster's sorted key index,
#: each matched row taking its key's text from its return (issue 15: neither a dict of the returns by key nor one of
#: the rows by key, nor the key decoded again for each unit that returned: ~15 MB at 100,000); False: the dicts, as
#: before (the tests compare).
MERGE_MATCH = True


def _brief_key(ret: Return) -> str:
    return ret.brief.key  # type: ignore[return-value]  # (only returns with a key are sorted by it)


def _match_packed(packed: PackedRows, returns: Sequence[Return], *, verified: bool,
                  withdrawn: dict[tuple[str, str], str]) -> list[Row]:
    """:func:`_match` for a packed roster (see :data:`MERGE_MATCH`): the same rows, fates and notes."""
    keyed: list[Return] = []
    for ret in returns:
        if ret.brief.key is None:
            _keyless(ret)
        else:
            keyed.append(ret)
    keyed.sort(key=_brief_key)  # (stable: a key's returns in their order, as the dict's lists had them)
    rows: list[Row | None] = [None] * len(packed)
    index = packed.by_keys()
    at = next(index, None)
    for key, same in groupby(keyed, key=_brief_key):
        group = list(same)
        while at is not None and at[0] < key:
            at = next(index, None)
        if at is None or at[0] != key:
            _not_in_roster(key, group)
            continue
        rows[at[1]] = _unit(key, group, Row(key=key, source=(packed, at[1])), verified=verified, withdrawn=withdrawn)
    del keyed
    for key, n in packed.by_keys():
        if rows[n] is None:
            rows[n] = Row(key=key, source=(packed, n))
    done: list[Row] = rows  # type: ignore[assignment]  # (every place filled)
    if LIGHT_UNITS and _in_natural_order(r.key for r in done):
        return done
    return sorted(done, key=lambda r: natural_key(r.key))


def _in_natural_order(keys: Iterable[str]) -> bool:
    """Whether ``keys`` come in :func:`natural_key` order already (each key's sort key made once, two at a time)."""
    last: tuple[Any, ...] | None = None
    for k in keys:
        now = natural_key(k)
        if last is not None and now < last:
            return False
        last = now
    return True


def _once(ret: Return, code: str, **params: Any) -> None:
    """Add a matching finding unless validation (given the roster) already made it."""
    if code not in ret.brief.codes and not any(f.code == code for f in ret.extra):
        ret.add_finding(finding(code, **params))


_DIGITS = re.compile(r"([0-9]+)")


def natural_key(key: str) -> tuple[Any, ...]:
    """Sort keys as people read them: SH2 before SH10, 999 before 1000.

    Only ASCII digits count as a number: ``²`` or ``١`` are digits to ``str.isdigit`` but not to ``int``.
    """
    parts = _DIGITS.split(key)
    return tuple(int(p) if n % 2 else p for n, p in enumerate(parts))


def _choose(row: Row, group: list[Return]) -> None:
    """Identical copies count once; of the distinct files the newest counts, the others are superseded.

    Which copy and which file: :mod:`xltemplate.resubmission`, whose rule is written into the notes.
    """
    copies: dict[str, list[Return]] = {}
    for ret in sorted(group, key=lambda r: r.path):
        copies.setdefault(ret.brief.sha256 or ret.path, []).append(ret)
    distinct: list[Return] = []
    notes: dict[int, list[str]] = {}
    for same in copies.values():
        n, rule = original([r.copy_candidate() for r in same])
        first = same[n]
        distinct.append(first)
        for ret in same:
            if ret is first:
                continue
            ret.fate = DUPLICATE
            ret.replaced_by = first.path
            ret.note = f"与“{first.name}”内容完全相同，只计一次（{rule}选定计入的一份）"
            ret.add_finding(finding("return-duplicate", value=first.name, first=first.name, rule=rule))
            row.add_others([ret])
            notes.setdefault(id(first), []).append(f"与“{ret.name}”内容完全相同（{rule}选定本文件）")
    n, rule = newest([r.candidate() for r in distinct])
    counted = distinct[n]
    counted.fate = COUNTED
    row.counted, row.rule, row.candidates = counted, rule, len(distinct)
    for ret in distinct:
        if ret is counted:
            continue
        ret.fate = SUPERSEDED
        ret.replaced_by = counted.path
        ret.note = f"被更新的“{counted.name}”替代（{rule}判断）"
        ret.add_finding(finding("return-superseded", value=counted.name, newer=counted.name, rule=rule))
        row.add_others([ret])
        notes.setdefault(id(counted), []).append(f"替代了“{ret.name}”（{rule}判断）")
    if id(counted) in notes:
        counted.note = "；".join(notes[id(counted)])
    if isinstance(row.others, list):
        row.others.sort(key=lambda r: r.path)
