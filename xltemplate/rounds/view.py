"""What a round's run shows in its roll-up: 提交记录 (every file received, in arrival order, with what became of
it and why) and the "since the last run" columns of 汇总, built from the ledger's files and the run's matching."""

from __future__ import annotations

import copy
import zlib
from collections import Counter
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, cast

from ..ledger import FileRow, Ledger, local_time
from ..ledger.store import Walked
from ..pathtext import file_name, shown
from ..resubmission import ONLY
from ..report import FileReport
from ..rollup.collect import _RET, Collection, Return, StoredReturns, StoredRows, _Kept, _rare_state
from ..rollup.record import Received, Since
from ..rollup.spill import Brief, Spill
from ..rollup.units import Units, text
from ..words import COUNTED, DUPLICATE, NOT_CHECKED, STATUS_ZH, SUPERSEDED, UNMATCHED, WITHDRAWN

#: How a file no longer in the inbox is told (文件清单 and 提交记录).
GONE = "已不在收件文件夹"


_PRIORITY = (COUNTED, WITHDRAWN, SUPERSEDED, UNMATCHED, NOT_CHECKED, DUPLICATE)


#: 提交记录's rows made as they are read (:class:`_Received`: the sheet's digest, the sheet, received.csv each go
#: through them once), where a list held a :class:`Received` for every file the round has received: +25 MB at
#: 10,000 files (issue 15). False: the list (the tests compare).
LAZY_RECEIVED = True


class Filed(Return):
    """A return made from a file the ledger records (a round's every return but those of inputs it could not read):
    the file's sha256 and its arrival (its place in the files' order) held on it, where a dict by ``id`` held every
    return's sha256 (see rounds.run.SHAS_ON_RETURNS)."""

    __slots__ = ("sha256", "file_at")
    sha256: str
    file_at: int

    @property
    def report(self) -> FileReport:
        """The full report; from a store that makes it as of a path (rounds.run.WHERE_UNPAIRED), as of this return's."""
        store = self._store
        if store is not None and getattr(store, "as_of_path", False) and type(self._where) is not tuple:
            return store.load((self._where, self.brief.path))
        return super().report


class StoredFiled(_Kept):
    """A :class:`Filed` made from its record in a round's store (:class:`RoundReturns`, rounds.run.MATCH_STORED)."""

    __slots__ = ("sha256", "file_at")
    sha256: str
    file_at: int

    report = Filed.report


#: What a return made from a file the ledger records is: held, or made from the round's store.
FILED = (Filed, StoredFiled)

#: A record's place in a round's store (its ``n``): which list it is in, shifted by this, and its order in the run's
#: walk of the files; so that ``ORDER BY n`` is the lists one after the other, as the run's lists were.
LIST_SHIFT = 40
#: The lists: judged (matched), not judged (this run could not check them: not matched), gone from the inbox (matched).
JUDGED, UNJUDGED, GONE_LIST = 0, 1, 2
#: Where a stored return's report is: the run's spill as of the return's path (:class:`~.run._Moved`), the ledger (its
#: sha256: :class:`~.run._Ledgered`), the run's spill as it is (an input the intake could not read: not a Filed).
IN_MOVED, IN_LEDGER, IN_SPILL = 0, 1, 2


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class RoundReturns(StoredReturns):
    """A round's returns kept in a store of the run's own (collect's :class:`~xltemplate.rollup.units.Units`, with the
    file's sha256, its place in the files' order, where its report is and, gone from the inbox, the last run that saw
    it): matched there as collect's are (:func:`~xltemplate.rollup.collect._match_stored`), each return made when
    asked for, where a round held lists of every :class:`Filed` from matching to the end of its roll-up."""

    COLS = _RET + ", sha, file_at, held, arrival, received"
    DENSE = False

    def __init__(self, units: Units, spill: Spill, moved: Any, ledgered: Any, settle: bool = True) -> None:
        super().__init__(units, spill)
        self.settle = settle  # (matched: a return saved lets go of its arrival and time received, Return.settled)
        assert units.db is not None
        units.db.executescript("".join(f"ALTER TABLE ret ADD COLUMN {c};" for c in (
            "sha TEXT", "file_at INTEGER", "held INTEGER", "arrival INTEGER", "received REAL", "last_run INTEGER",
            "made INTEGER", "head INTEGER")))
        self.moved, self.ledgered = moved, ledgered
        # (matched: a return made lets go of its arrival and time received, which only matching reads; shared by views)
        self._matched = [False]

    def add_filed(self, kind: int, seq: int, ret: Filed, last_run: int | None = None, made: int | None = None,
                  head: int | None = None) -> None:
        """A return made from a file (its report as it says: in the ledger or in the run's spill), in list ``kind``;
        ``made``, ``head``: the run that stored its report and where the run's spill keeps the report's head (when the
        stored reports are loaded as the files are walked: rounds.run.LOAD_WHEN_MATCHED)."""
        if self.ledgered is not None and ret._store is self.ledgered:
            held, where = IN_LEDGER, 0
        else:
            assert ret._store is self.moved and type(ret._where) is int
            held, where = IN_MOVED, ret._where
        arrival, received = ret.arrival, ret.received
        ret.settled()  # (those two in columns of their own: most returns then have no rare values to pickle)
        self._pending.append((*self._fields(kind << LIST_SHIFT | seq, ret.brief, ret.mtime, where, ret.fate,
                                            _rare_state(ret)), ret.sha256, ret.file_at, held, arrival, received,
                              last_run, made, head))
        if len(self._pending) >= 256:
            self._write()

    def matched(self) -> None:
        """Matching is done: the returns made from here on are without their arrival and time received."""
        self._matched[0] = True

    def add_held(self, kind: int, seq: int, ret: Return) -> None:
        """A return whose report it holds (an input the intake could not read), its report put in the run's spill."""
        where = self.spill.put(ret.report)
        self._pending.append((*self._fields(kind << LIST_SHIFT | seq, ret.brief, ret.mtime, where, ret.fate,
                                            _rare_state(ret)), None, None, IN_SPILL, None, None, None, None, None))
        if len(self._pending) >= 256:
            self._write()

    def save(self, rets: Iterable[Return]) -> None:
        if self.settle:
            rets = list(rets)
            for r in rets:
                r.settled()  # (only choosing among a unit's files reads them: each made after holds fewer values)
        super().save(rets)

    def made(self, rec: Sequence[Any]) -> _Kept:
        held = rec[14]
        if held == IN_SPILL:
            return self._made(rec[:12], _Kept)
        ret = self._made(rec[:12], StoredFiled)
        if held == IN_LEDGER:
            ret._store, ret._where = self.ledgered, rec[12]
        else:
            ret._store = self.moved
        ret.sha256, ret.file_at = rec[12], rec[13]
        if not self._matched[0]:
            ret.arrival, ret.received = rec[15], rec[16]
        return ret

    def view(self, where: str) -> "RoundReturns":
        """The same store, its returns those that meet ``where`` (SQL on ``ret``)."""
        other = copy.copy(self)
        other.where, other._len = where, None
        return other

    def in_list(self, *kinds: int) -> "RoundReturns":
        """The view of the returns in the lists ``kinds``."""
        return self.view(" OR ".join(f"(n >= {k << LIST_SHIFT} AND n < {(k + 1) << LIST_SHIFT})" for k in kinds))

    def shown(self, counted: str) -> "RoundReturns":
        """The view of the collection's returns: every return but those gone from the inbox that are not ``counted``."""
        return self.view(f"n < {GONE_LIST << LIST_SHIFT} OR fate = {_quoted(counted)}")

    def archived(self) -> int:
        return self.units.query(f"SELECT count(*) FROM ret WHERE {self._and()}n >= {GONE_LIST << LIST_SHIFT}")[0][0]

    def gone(self, fate: str) -> Iterator[tuple[_Kept, int | None]]:
        """The returns gone from the inbox whose fate is ``fate``, in order, and the last run that saw each."""
        for rec in self.units.walk(f"SELECT {self.COLS}, last_run FROM ret WHERE fate = {_quoted(fate)} AND n > ? "
                                   "ORDER BY n LIMIT ?", ((GONE_LIST << LIST_SHIFT) - 1,), slice(0, 1)):
            yield self.made(rec[:-1]), rec[-1]

    def of_file(self, column: str) -> "OfFile":
        """A file's ``column`` (made, head) by its sha256, read from its returns' records."""
        self.units.index("ret_s", "CREATE INDEX ret_s ON ret(sha)")
        return OfFile(self.units, column)

    def by_file_at(self) -> Iterator[Return]:
        """The returns made from a file, in the files' order (then in order), as :func:`by_file` walks them."""
        self.units.index("ret_f", "CREATE INDEX ret_f ON ret(file_at, n)")
        for rec in self.units.walk(f"SELECT file_at, {self.COLS} FROM ret WHERE {self._and()}held != {IN_SPILL} AND "
                                   "(file_at, n) > (?, ?) ORDER BY file_at, n LIMIT ?", (-1, -1), slice(0, 2)):
            yield self.made(rec[1:])


class OfFile:
    """A value kept on each return of a file (:meth:`RoundReturns.of_file`), by the file's sha256: what a dict by sha256
    of every file held (``get``; ``items`` walks them all)."""

    def __init__(self, units: Units, column: str) -> None:
        self.units, self.column = units, column

    def get(self, sha: str | None, default: Any = None) -> Any:
        got = self.units.query(f"SELECT {self.column} FROM ret WHERE sha = ? AND {self.column} IS NOT NULL LIMIT 1", (sha,))
        return got[0][0] if got else default

    def items(self) -> Iterator[tuple[str, Any]]:
        yield from self.units.query(f"SELECT sha, {self.column} FROM ret WHERE {self.column} IS NOT NULL GROUP BY sha")


#: A return's sha256 (None for a return not made from a file the ledger records).
ShaOf = Callable[[Return], "str | None"]


def sha_getter(shas: Mapping[int, str] | None) -> ShaOf:
    """What gives a return's sha256: the dict by ``id`` when there is one, else the return's own (:class:`Filed`)."""
    if shas is not None:
        return lambda r: shas.get(id(r))
    return _filed_sha


def _filed_sha(r: Return) -> str | None:
    return r.sha256 if isinstance(r, FILED) else None


def _file_at(r: Filed) -> int:
    return r.file_at


def _ident(r: Return) -> int:
    """What tells a return apart while the run holds it: its place in the round's store (made anew each time it is
    asked for: rounds.run.MATCH_STORED), else its id."""
    return r._n if isinstance(r, _Kept) else id(r)


def by_file(files: Sequence[FileRow], every: Sequence[Return], briefs: Mapping[str, Brief], sha_of: ShaOf
            ) -> Iterator[tuple[FileRow, Brief, list[Return]]]:
    """Each file in arrival order, its brief, and the returns made from it in ``every``'s order. Returns that are
    :class:`Filed` are sorted by their place in the files' order and walked beside them (a list of references); else
    a dict of every file's returns by sha256. A file whose brief was let go (rounds.run.BRIEFS_LET_GO) has returns:
    its brief is theirs (the same but for the path, which no reader of the file's brief reads)."""
    if sha_of is _filed_sha:
        walk = every.by_file_at() if isinstance(every, RoundReturns) else iter(
            sorted((r for r in every if isinstance(r, Filed)), key=_file_at))  # type: ignore[arg-type]
        ahead = cast("Filed | None", next(walk, None))
        for f in files:
            mine: list[Return] = []
            while ahead is not None and ahead.file_at == f.arrival:
                mine.append(ahead)
                ahead = cast("Filed | None", next(walk, None))
            brief = briefs.get(f.sha256)
            yield f, brief if brief is not None else mine[0].brief, mine
        assert ahead is None, "a return made from a file the run did not walk"
        return
    rets: dict[str, list[Return]] = {}
    for r in every:
        sha = sha_of(r)
        if sha is not None:
            rets.setdefault(sha, []).append(r)
    for f in files:
        yield f, briefs[f.sha256], rets.get(f.sha256, [])


def received(c: Collection, every: Sequence[Return], files: Sequence[FileRow], reports: Mapping[str, Brief],
             sha_of: ShaOf, led: Ledger) -> Sequence[Received]:
    """Every file the round has received, in arrival order, with what became of it in this run."""
    if LAZY_RECEIVED:
        return _Received(c, every, files, reports, sha_of, led)
    return list(_received(c, every, files, reports, sha_of, led))


class _Received(Walked[Received]):
    """:func:`received`'s rows, made each time they are read from what the run holds anyway (its files, their briefs,
    its returns): the roll-up's 提交记录 and its digest, and received.csv, read them one at a time."""

    def __init__(self, c: Collection, every: Sequence[Return], files: Sequence[FileRow], reports: Mapping[str, Brief],
                 sha_of: ShaOf, led: Ledger) -> None:
        self._made = (c, every, files, reports, sha_of, led)
        self._files = files

    def __len__(self) -> int:
        return len(self._files)

    def __iter__(self) -> Iterator[Received]:
        return _received(*self._made)

    def facts(self) -> Iterator[Any]:
        """What each row is made of, in the rows' order (see :data:`RECEIVED_FACTS`); without it, the rows."""
        return _received_facts(*self._made) if RECEIVED_FACTS else iter(self)


#: 提交记录's key (its kept sheet's, rollup.reuse.DIGESTS_OF_FACTS) made from what each of its rows is made of (the file's
#: ledger record; its brief's key, status and saved time; each of its returns' fate, note, place and rule, in order)
#: rather than from the rows made from them (a Received each, with Beijing times and shown paths: ~0.1 s of a second
#: run at 10,000, issue 15): :func:`_received` makes the rows from those alone, with the writer's code, which the key
#: holds. False: from the rows (the tests compare).
RECEIVED_FACTS = True


def _rules(c: Collection) -> Mapping[int, str | None]:
    """The rule that chose each counted return (by :func:`_ident`), where it is not the only file's (most are: a dict
    of a few)."""
    return c.rows.rules(ONLY) if isinstance(c.rows, StoredRows) else {
        _ident(row.counted): row.rule for row in c.rows if row.counted is not None and row.rule not in (None, ONLY)}


def _received_facts(c: Collection, every: Sequence[Return], files: Sequence[FileRow], reports: Mapping[str, Brief],
                    sha_of: ShaOf, led: Ledger) -> Iterator[tuple[Any, ...]]:
    """For each row :func:`_received` makes, in order, all it makes the row from."""
    rules = _rules(c)
    for f, report, mine in by_file(files, every, reports, sha_of):
        # (when the last run that saw it is told: a file not in the inbox; one every return of which is, never)
        yield (f.arrival, f.first_seen_run, f.first_seen_at, f.sha256,
               f.last_seen_run if not mine or any(r.archived for r in mine) else None,
               None if mine else f.last_path or led.archive.text(f.archive_name),
               report.key, report.transient, report.status, report.saved_at,
               [(r.fate, r.note, r.archived, r.path, rules.get(_ident(r))) for r in mine])


def _received(c: Collection, every: Sequence[Return], files: Sequence[FileRow], reports: Mapping[str, Brief],
              sha_of: ShaOf, led: Ledger) -> Iterator[Received]:
    rules = _rules(c)
    for f, report, mine in by_file(files, every, reports, sha_of):
        if mine:
            best = min(mine, key=lambda r: _PRIORITY.index(r.fate) if r.fate in _PRIORITY else len(_PRIORITY))
            fate, note, in_inbox = best.fate, _why(best, rules.get(_ident(best))), not best.archived
            path = best.path
        else:  # not a candidate for any unit: no key, unreadable, not judged, or gone and withdrawn
            in_inbox, path = False, f.last_path or led.archive.text(f.archive_name)
            fate, note = _alone(report)
        if not in_inbox and f.last_seen_run is not None and not (note or "").startswith(GONE):
            note = f"{GONE}（最后一次见于第 {f.last_seen_run} 次汇总）" + (f"；{note}" if note else "")
        yield Received(
            arrival=f.arrival, first_run=f.first_seen_run, first_seen=local_time(f.first_seen_at), name=shown(file_name(path)),
            path=shown(path), in_inbox=in_inbox, key=report.key, status=None if report.transient else STATUS_ZH[report.status],
            saved_at=report.saved_at, fate=fate, note=note, copies=sum(1 for r in mine if not r.archived) or 1,
            sha256=f.sha256)


def _why(r: Return, rule: str | None) -> str | None:
    """提交记录's 说明: a counted file that replaced others says so with the rule (its note); the only one says that.
    ``rule``: the rule that chose ``r`` for its row (None: none, or not counted for a row)."""
    if r.fate == COUNTED:
        if rule in (None, ONLY):
            if r.note and r.note.startswith(GONE):  # where it stands from first, then why it counts
                head, _, rest = r.note.partition("；")
                return f"{head}；该单位唯一的文件" + (f"；{rest}" if rest else "")
            return "该单位唯一的文件" + (f"；{r.note}" if r.note else "")
    return r.note


def _alone(report: Brief) -> tuple[str, str]:
    """The fate of a file gone from the inbox that no unit could take: not judged, unreadable, without a key."""
    if report.transient:
        return NOT_CHECKED, "未能核对，下次汇总时会重新读取"
    if report.status == "unreadable":
        return UNMATCHED, "文件无法读取，读不出编号"
    return UNMATCHED, "文件中没有编号"


def since(c: Collection, every: Sequence[Return], files: Sequence[FileRow], reports: Mapping[str, Brief], sha_of: ShaOf,
          previous: int | None, changed: set[str] | Iterable[tuple[str, bool]], newly_valid: set[str] | None = None, *,
          new: tuple[int | None, Mapping[str, int]] | None = None) -> Mapping[str, Since]:
    """Each unit's "since the last run" (by its row's key): files received since, counted file or status changed,
    newly valid. ``changed``: the units changed, and ``newly_valid`` those of them newly valid; or, ``newly_valid``
    None, each changed unit as (key, whether newly valid) to be walked once (:meth:`Ledger.changed_units`).
    ``new``: (the run they were counted since, the files received since it by unit), when counted already
    (rounds.run.NEW_COUNTED_WHEN_MATCHED); used when that run is ``previous``."""
    if new is not None and new[0] == previous:
        counted = new[1]
    else:
        counted = Counter(brief.key for f, brief, _mine in by_file(files, every, reports, sha_of)
                          if (f.first_seen_run or 0) > (previous or 0) and brief.key)
    if newly_valid is None:  # (walked: each changed unit flagged on its row's key, no set of the keys)
        walked = cast("Iterable[tuple[str, bool]]", changed)
        if LAZY_SINCE and SINCE_STORED and isinstance(c.rows, StoredRows):
            return _StoredSince(c.rows, counted, flags=walked)
        if LAZY_SINCE:
            return _Since(_keys(c), counted, flags=walked)
        pairs = list(walked)
        changed, newly_valid = {k for k, _n in pairs}, {k for k, n in pairs if n}
    assert isinstance(changed, set)
    if LAZY_SINCE and SINCE_STORED and isinstance(c.rows, StoredRows):
        return _StoredSince(c.rows, counted, changed, newly_valid)
    if LAZY_SINCE:
        return _Since(_keys(c), counted, changed, newly_valid)
    return {row.key: Since(counted.get(row.key, 0), row.key in changed, row.key in newly_valid) for row in c.rows}


def _keys(c: Collection) -> list[str]:
    """The keys of the collection's rows, in order."""
    return c.rows.keys() if isinstance(c.rows, StoredRows) else [row.key for row in c.rows]


#: :func:`since`'s values made when asked for (:class:`_Since`), where a dict held a :class:`Since` for every unit
#: (issue 15). False: the dict (the tests compare).
LAZY_SINCE = True


class _Since(Mapping[str, Since]):
    """:func:`since`'s mapping, each unit's :class:`Since` made when asked for, in the rows' order. ``flags``: the
    changed units walked once, (key, newly valid) each, kept as a small int on the row's key (1 changed, 2 newly
    valid) where two sets held a key each (a first run's every unit: ~10 MB at 100,000, issue 15)."""

    def __init__(self, keys: list[str], new: Mapping[str, int], changed: set[str] | None = None,
                 newly_valid: set[str] | None = None, *, flags: Iterable[tuple[str, bool]] | None = None) -> None:
        self._keys = keys
        self._known: frozenset[str] | dict[str, int]
        self._new, self._changed, self._newly_valid = new, changed or set(), newly_valid or set()
        if flags is None:
            self._known = frozenset(keys)
            return
        known = self._known = dict.fromkeys(keys, 0)  # (0-3: Python's own small ints, nothing made a unit)
        for key, newly in flags:
            if key in known:
                known[key] = 3 if newly else 1

    def __getitem__(self, key: str) -> Since:
        known = self._known
        if key not in known:
            raise KeyError(key)
        if type(known) is dict:
            flag = known[key]
            return Since(self._new.get(key, 0), flag != 0, flag == 3)
        return Since(self._new.get(key, 0), key in self._changed, key in self._newly_valid)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


#: A round's rows kept in its store (rounds.run.MATCH_STORED): :func:`since`'s mapping asks the store for the rows' keys
#: (walked in order when iterated; a key looked up by the store's index only when it is flagged or has files received
#: since) and keeps a flag only for each changed unit (:class:`_StoredSince`), where :class:`_Since` held a list of
#: every row's key, each a str made from the store, and a dict of them all (~100 bytes a unit: a third run's 100,000
#: units ~10 MB, made just before the roll-up is written, issue 15). False: :class:`_Since` (the tests compare).
SINCE_STORED = True
#: With SINCE_STORED, the changed units' flags walked from the ledger (a first run's: every unit) are kept in the run's
#: store too (a table of the keys and their flags, written as they come, a few hundred at a time; before the roll-up's
#: second process is forked), each looked up with its row's key in one query, a unit not flagged told by a bit of
#: :data:`_FLAG_BYTES` (a bit shared with a flagged one only costs the query), where a dict held every flagged key, a
#: str each (a first run at 100,000 units: ~10 MB through the roll-up's writing, since() 66.4 -> 70.1 MB, issue 15).
#: False: the dict (the tests compare).
FLAGS_STORED = True
_FLAG_BYTES = 1 << 18
_NOTHING = Since(0, False, False)


class _StoredSince(_Since):
    """:class:`_Since` over a round's store (:data:`SINCE_STORED`): the flags of the changed units only, the keys from
    the store. A key neither flagged nor with files received since is a unit's with nothing since (``get``: what
    :meth:`RoundView.since_of` asks), or no unit's (the default), so it is looked up only when asked strictly."""

    def __init__(self, rows: StoredRows, new: Mapping[str, int], changed: set[str] | None = None,
                 newly_valid: set[str] | None = None, *, flags: Iterable[tuple[str, bool]] | None = None) -> None:
        self._rows = rows
        self._new = new
        known: dict[str, int] = {}  # (only the flagged keys: 1 changed, 3 changed and newly valid)
        self._bits: bytearray | None = None  # (FLAGS_STORED: a bit set for each flagged key, the flags in the store)
        if flags is None:
            for key in changed or ():
                known[key] = 3 if key in (newly_valid or ()) else 1
        elif FLAGS_STORED:
            self._store_flags(flags)
        else:
            for key, newly in flags:
                known[key] = 3 if newly else 1
        self._flags = known

    def _store_flags(self, flags: Iterable[tuple[str, bool]]) -> None:
        """Keep the flags in the store (:data:`FLAGS_STORED`)."""
        units = self._rows.units
        assert units.db is not None
        units.db.execute("CREATE TABLE since_flag(key BLOB PRIMARY KEY, flag INTEGER NOT NULL) WITHOUT ROWID")
        bits = self._bits = bytearray(_FLAG_BYTES)
        pending: list[tuple[bytes, int]] = []
        for key, newly in flags:
            n = self._bit(key)
            bits[n >> 3] |= 1 << (n & 7)
            pending.append((text(key), 3 if newly else 1))
            if len(pending) >= 256:
                units.many("INSERT OR REPLACE INTO since_flag VALUES (?, ?)", pending)
                pending.clear()
        units.many("INSERT OR REPLACE INTO since_flag VALUES (?, ?)", pending)

    @staticmethod
    def _bit(key: str) -> int:
        """The key's bit: the same in every process (``hash`` of a str is seeded anew in each interpreter)."""
        return zlib.crc32(text(key)) % (_FLAG_BYTES * 8)

    def _flagged(self, key: str) -> bool:
        """Whether ``key`` may be flagged (never False for one that is)."""
        bits = self._bits
        if bits is None:
            return key in self._flags
        n = self._bit(key)
        return bool(bits[n >> 3] >> (n & 7) & 1)

    def _rows_by_key(self) -> Units:
        units = self._rows.units
        units.index("row_k", "CREATE INDEX row_k ON row(key, n)")
        return units

    def _has(self, key: str) -> bool:
        units = self._rows_by_key()
        return bool(units.query("SELECT 1 FROM row WHERE key = ? AND n >= ? LIMIT 1", (text(key), units.row_base)))

    def _looked_up(self, key: str) -> Since | None:
        """The key's since, or None when no row has the key."""
        if self._bits is None:
            flag = self._flags.get(key, 0) if self._has(key) else None
        else:
            units = self._rows_by_key()
            got = units.query("SELECT (SELECT flag FROM since_flag WHERE key = ?1) FROM row WHERE key = ?1 AND n >= ?2 "
                              "LIMIT 1", (text(key), units.row_base))
            flag = (got[0][0] or 0) if got else None
        return None if flag is None else Since(self._new.get(key, 0), flag != 0, flag == 3)

    def __getitem__(self, key: str) -> Since:
        got = self._looked_up(key)
        if got is None:
            raise KeyError(key)
        return got

    def get(self, key: str, default: Any = None) -> Any:
        if not self._flagged(key) and key not in self._new and default == _NOTHING:
            return default  # (a unit's with nothing since, or none: the same either way)
        got = self._looked_up(key)
        return default if got is None else got

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._has(key)

    def __iter__(self) -> Iterator[str]:
        return self._rows.iter_keys()

    def __len__(self) -> int:
        return len(self._rows)
