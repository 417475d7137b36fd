"""One run of a collection round: ``collect`` through the ledger (``collect --ledger round.xlt.db``).

A run records every file it is given (by sha256, archived: :mod:`xltemplate.ledger`), reads only
what the ledger cannot answer for, weighs every file the round has received (those since deleted
from the inbox too, from their archive copies) and writes the roll-up with 提交记录 and the
"since the last run" columns. In order:

1. the roster is compared with the last run's: units added or removed, or prefilled values changed,
   are refused unless the clerk says so (``roster_changed_ok``), never applied silently;
2. every input is hashed and archived, and where it was seen recorded (``Ledger.ingest``);
3. a stored report is reused when it was made for these bytes, this template and these rules
   (the ledger's key), under this run's verdict context for the file (the roster row of its key and
   the secrets: :meth:`RunContext.verdict_context`) and for today (:func:`verdict_until`). Every
   other file is validated from its archive copy (what is judged is what is kept), in the bounded
   workers, and its report stored as it comes, unless it is the machine's verdict (a time-out);
4. the returns are matched as ``collect`` matches them (:func:`xltemplate.rollup.collect.assemble`),
   with the ledger's arrival order, the clerk's withdrawals, and the counted files no longer in the
   inbox (``return-missing-from-inbox``);
5. the choices are recorded and the roll-up written inside one ledger transaction: a run whose
   roll-up could not be written is not a finished run (:meth:`Ledger.finishing`).
"""

from __future__ import annotations

import contextlib
import sys
from array import array
import datetime as dt
from decimal import Decimal
import importlib
import io
import itertools
import json
import os
import sqlite3
from collections import Counter
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterable, Iterator, Mapping, Sequence, overload

from ..batch import transient, validate_files
from ..catalog import TemplateLike, as_spec
from ..errors import LedgerError
from ..findings import finding
from ..fsutil import scratch_error, scratch_told
from ..identify import ReaderName, RunContext
from ..inputs import Inputs, discover
from ..ledger import schema
from ..ledger import (
    Cached, Choice, FileRow, Ledger, RosterSnapshot, Run, RunInfo, Stored, StoredReport, default_archive_dir, local_time, store,
)
from ..pathtext import shown
from .. import jsonvalue
from ..jsonvalue import encode
from ..report import FileReport, report_from_text
from ..results import Group, Results
from ..resubmission import ONLY, RULE_CODES
from ..rollup.collect import Collection, Return, _Named, _Stored, assemble, head_fields
from ..rollup import units as _units
from ..rollup.spill import RECENT, Brief, Spill, _shared
from ..rollup import reuse
from ..rollup.record import RoundView
from ..workers import stop_prestarted
from ..rollup.tables import export_csv
from ..rollup.workbook import write_rollup
from ..roster import PackedRows, Roster
from ..sign import Keyring
from ..spec import Spec
from ..targets import TargetsTable
from ..validate import VALIDATOR_VERSION, verdict_until
from ..words import COUNTED, NOT_CHECKED
from .preflight import check_places, keep_roster, recall_hash, recovery_notices, roster_notices, roster_snapshot, template_notices
from .view import GONE, GONE_LIST, JUDGED, LIST_SHIFT as _LIST_SHIFT, UNJUDGED, Filed, RoundReturns, received, sha_getter, since

#: The module (the package exports a function of its name): its SPILL switch decides here too.
_collect_module = importlib.import_module("xltemplate.rollup.collect")
#: The sheets the last run kept are read from the ledger when a sheet is given whole (Ledger.parts(lazy=True)), not
#: all at once before the roll-up is written: a sheet written anew never reads its part (~54 MB for the six at
#: 100,000 units, issue 15). False: all read first (the tests compare).
LAZY_PARTS = True
#: A progress bar: given what it counts and how many, a context that yields ``update(n)``.
Progress = Callable[[str, int], ContextManager[Callable[[int], None]]]
#: What checks a guessed template against every return's brief (see :func:`collect_round`).
Guessed = Callable[[Iterable[Brief]], "tuple[TemplateLike, Roster | None, TargetsTable | None] | None"]
#: Reports stored per transaction while reading (each commit is an fsync).
STORE_EVERY = 100

# Why a file is read again, for the clerk (the summary line of a run).
NEW, AGAIN, CONTEXT, DAY = "new", "again", "context", "day"
WHY_ZH = {NEW: "新收到", AGAIN: "模板或核对规则变化（或上次未能核对）", CONTEXT: "名单或密钥变化", DAY: "日期变化"}


@dataclass
class RoundResult:
    """What a run did: the collection (and its roll-up), and what the ledger saved it from doing."""

    collection: Collection
    outputs: list[Path]
    ledger: Path
    run: int
    previous: int | None
    received: int  # files recorded for the first time in this run
    read: Counter[str] = field(default_factory=Counter)  # files validated this run, by why (WHY_ZH)
    reused: int = 0  # files whose stored report still held
    notices: list[str] = field(default_factory=list)  # Chinese lines for the clerk
    # the counted files gone from the inbox, told before the collection's store is closed (MATCH_STORED): how many
    # and the first few named; None: told from the collection's returns when the lines are asked for
    gone_told: tuple[int, str] | None = None

    def lines(self) -> list[str]:
        """What the run did with the ledger, in Chinese (after the counts)."""
        read = sum(self.read.values())
        why = "，".join(f"{WHY_ZH[k]} {n}" for k, n in sorted(self.read.items(), key=lambda kv: list(WHY_ZH).index(kv[0])))
        out = [f"台账 {shown(self.ledger)}：第 {self.run} 次汇总；新收到文件 {self.received} 个；"
               f"核对 {read} 个{f'（{why}）' if why else ''}，沿用台账中的核对结果 {self.reused} 个"]
        gone, names = self.gone_told if self.gone_told is not None else _gone_told(self.collection.returns)
        if gone:
            out.append(f"提示：{gone} 个计入的文件已不在收件文件夹，按台账中的归档副本计入：{names}。"
                       "如不应计入，请用 round withdraw 撤回")
        return out + self.notices

    def as_dict(self) -> dict[str, object]:
        return {"ledger": str(self.ledger), "run": self.run, "previous_run": self.previous, "received": self.received,
                "read": sum(self.read.values()), "read_why": dict(self.read), "reused": self.reused,
                "notices": list(self.notices)}


def collect_round(paths: Sequence[str | os.PathLike[str]], spec: TemplateLike, *, ledger: str | os.PathLike[str],
                  output: str | os.PathLike[str], archive: str | os.PathLike[str] | None = None,
                  roster: Roster | None = None, keyring: Keyring | None = None, targets: TargetsTable | None = None,
                  export_dir: str | os.PathLike[str] | None = None, jobs: int | None = None, today: dt.date | None = None,
                  roster_changed_ok: bool = False, inputs: Inputs | None = None, reader: ReaderName | None = None,
                  progress: Progress | None = None, wait: float | None = None, older: Iterable[TemplateLike] = (),
                  guessed: Guessed | None = None, rehash: bool = False) -> RoundResult:
    """Collect ``paths`` into the roll-up ``output`` as one run of the round kept in ``ledger`` (see the module).

    ``guessed``: ``spec`` is only a guess (from a sample of the returns, without ``--template``): given the brief of
    every file in the inbox, once all are read, None when the choice they make is ``spec``, else the template they
    choose with the roster and the targets read as its (the run is then that template's, and reads them again).
    ``rehash``: hash every input, even one unchanged since a run hashed it (see :data:`~xltemplate.ledger.archive.STAT_SKIP`).

    Raises :class:`LedgerError` (a ledger that cannot be used, or is busy after ``wait`` seconds, by default
    the ledger's :data:`~xltemplate.ledger.store.DEFAULT_WAIT`),
    :class:`RosterChangedError`, :class:`OutputPathError` (an output over the ledger or in its
    archive; the ledger or the archive inside an input folder).
    """
    spec = as_spec(spec)
    ctx = RunContext.of(RunContext.builtin(spec, keyring=keyring, roster=roster, today=today, targets=targets, older=older),
                        reader=reader)
    found = inputs if inputs is not None else discover(list(paths))
    day = today or dt.date.today()
    ledger_path = Path(ledger)
    check_places(ledger_path, Path(archive) if archive else default_archive_dir(ledger_path), paths,
                 [Path(output)] + ([Path(export_dir)] if export_dir else []))
    bar = progress or _no_progress
    wait = wait if wait is not None else store.DEFAULT_WAIT
    with Ledger.open(ledger_path, create=True, archive_dir=archive, purpose=f"collect -o {output}", wait=wait) as led:
        check_places(ledger_path, led.archive.root, paths, [Path(output)] + ([Path(export_dir)] if export_dir else []))
        recovered = recovery_notices(led)
        snapshot = roster_snapshot(roster, spec) if roster is not None else None
        if snapshot is not None and roster is not None:
            recall_hash(led, roster, spec, snapshot)
            keep_roster(led, roster, spec)  # (for the next run's CLI: see preflight.ROSTER_KEPT)
        notices = recovered + roster_notices(led, snapshot, roster_changed_ok) + template_notices(led, spec)

        def info(spec: Spec, snapshot: RosterSnapshot | None) -> RunInfo:
            return RunInfo(VALIDATOR_VERSION, spec.spec_hash, spec.id, spec.version,
                           inputs=tuple(os.path.abspath(p) for p in paths), roster=snapshot)

        run = led.begin_run(info(spec, snapshot))
        reports: _Reports | None = None
        try:
            with bar("归档", len(found.files)) as update:
                intake = led.ingest(run, _texts(found.files), progress=update, rehash=rehash)
            files = led.file_rows(run)
            while True:
                contexts = _Contexts(led, ctx)
                todo, why, reused = _stale(led, run, files, ctx, day, contexts)
                reports = _Reports(Spill() if _collect_module.SPILL else None)
                deferred = _loads_when_matched(led, run, roster, reports, files, intake.seen)
                reports.deferred = deferred  # (a report made now and stored is read back as a stored one's: no brief held)
                with bar("读取", len(todo)) as update:
                    _read(led, run, todo, ctx, day, jobs, update, reports, len(files), contexts)
                del contexts
                _load_stored(led, run, reports, deferred=deferred)
                other = guessed(_seen_briefs(led, run, intake.seen, reports)) if guessed is not None else None
                if other is None:
                    break
                # The template was guessed from a sample, and every return says otherwise: this run is the chosen
                # template's, its roster and targets read as that template's; read again (what was stored stays)
                reports.close()
                spec, roster, targets = as_spec(other[0]), other[1], other[2]
                ctx = RunContext.of(RunContext.builtin(spec, keyring=keyring, roster=roster, today=today, targets=targets,
                                                       older=older), reader=reader)
                snapshot = roster_snapshot(roster, spec) if roster is not None else None
                notices = recovered + roster_notices(led, snapshot, roster_changed_ok) + template_notices(led, spec)
                run = led.retemplate(run, info(spec, snapshot))
                guessed = None
            if TODO_LET_GO:
                todo = []  # (read: the files validated are let go of, their archive names and the tuples)
            unread = (validate_files([Path(u.path) for u in intake.unread], ctx, jobs=jobs, held=len(files))
                      if intake.unread else [])
            # every file is read: the workers' server the CLI started (if it did) is ended and waited for now, before
            # the roll-up's second process is forked, so their peaks reach RUSAGE_CHILDREN apart from its
            stop_prestarted()
            last = led.last_finished_run(before=run.id) if NEW_COUNTED_WHEN_MATCHED else None
            since_run = last.id if last is not None else None  # (the files received since it: counted in matching)
            walked = (_Inputs(led, run, spec, roster, ctx, day, found.skipped)
                      if DIGESTS_RECALLED and reuse.REUSE and not unread and ctx.targets is None else None)
            c, every, shas, new = _collection(led, spec, roster, ctx, files, intake.seen, reports, unread, found.skipped,
                                              NEW_COUNTED_WHEN_MATCHED, since_run, walked)
            digest = walked.hexdigest() if walked is not None else None
            del walked
            new_files = len(intake.first_seen)  # (the files recorded first: len(intake.new), without making it)
            del intake  # (every input's record: what follows reads the returns, not the intake)
            reports.let_go(every)
            c.spill = reports.spill  # the collection's now: Collection.close() lets it go
            if reports.ledgered is not None:
                c.closing.append(reports.ledgered.close)  # (and the ledger connection its stored reports are read by)
            sha_of = sha_getter(shas)
            choices = (Choice(row.key, sha, RULE_CODES[row.rule or ONLY], max(row.candidates, 1),
                              row.counted.brief.status, row.counted.brief.errors)
                       for row in c.rows if row.counted is not None and row.counted.brief.key == row.key
                       and (sha := sha_of(row.counted)) is not None)  # (as finishing records them: not a list held)
            # the big sheets the last run kept, reused when made from the same reports (see rollup/reuse.py)
            storing: list[bool] = []  # (a part is stored as made only while this run writes its roll-up)

            def sink(name: str, key: str, state: str, xml: bytes | reuse.Slice) -> bool:
                if not storing:
                    return False
                led.store_parts(run, [(name, key, state, xml)])
                return True

            parts = (reuse.Parts(led.parts(lazy=LAZY_PARTS), lambda ret: reports.made_by(sha_of(ret)),
                                 sink=sink if PARTS_STORED_AS_MADE else None)
                     if reuse.REUSE else None)
            if parts is not None and digest is not None:
                parts.known = _recalled(led, digest)
            with led.finishing(run, choices, keep=False) as outcome:
                previous = led.last_finished_run(before=run.id)
                changed: set[str] | Iterator[tuple[str, bool]]
                if CHANGES_WALKED:  # (the changed units walked once into since's flags: no Changes made)
                    previous_id, changed, newly_valid = previous.id if previous else None, led.changed_units(outcome.run), None
                else:
                    changes = led.changes(outcome.run)
                    previous_id, changed, newly_valid = (changes.previous_run_id, {u.key for u in changes.units},
                                                         set(changes.newly_valid))
                    del changes  # (every unit's change, a first run's every unit: since keeps their keys)
                made_received = received(c, every, files, reports.briefs, sha_of, led)
                with scratch_told():  # (since may write into the run's store, rounds.view.FLAGS_STORED: told as TMPDIR's)
                    made_since = since(c, every, files, reports.briefs, sha_of, previous_id, changed, newly_valid,
                                       new=(since_run, new) if new is not None else None)
                c.round = RoundView(ledger=str(ledger), run=run.id, previous=previous_id,
                                    previous_at=local_time(previous.finished_at) if previous else None,
                                    received=made_received, since=made_since, parts=parts)
                del made_received, made_since
                del changed
                storing.append(True)
                try:
                    outputs = [write_rollup(c, Path(output))]
                finally:
                    storing.clear()
                if parts is not None:
                    led.store_parts(run, parts.stored())
                if export_dir is not None:
                    outputs += export_csv(c, Path(export_dir))
        except BaseException as exc:
            if reports is not None:
                with contextlib.suppress(OSError):  # (a full disk fails the spill's flush too: the first error is told)
                    reports.close()  # nameless, so nothing would be left anyway: closed now rather than when collected
            with contextlib.suppress(Exception):
                led.abandon(run)
            told = scratch_error(exc)  # a full TMPDIR under the run's spill or store: told in Chinese, as collect's
            if told is not None:
                raise told from exc
            raise
        finally:
            if reports is not None and reports.ledgered is not None:
                reports.ledgered.detach()
        if parts is not None and digest is not None and parts.found and parts.found != parts.known:
            # (after the run's transaction, a memo: what the digests say holds of the inputs, the run finished or not;
            # not kept, the next run makes them)
            with contextlib.suppress(LedgerError):
                led.remember(_DIGESTS, json.dumps({"form": _DIGESTS_FORM, "inputs": digest, "digests": parts.found},
                                                  ensure_ascii=False, sort_keys=True, separators=(",", ":")))
        return RoundResult(c, outputs, ledger_path, run.id, c.round.previous, new_files, why, reused, notices,
                           gone_told=_gone_told(c.returns) if isinstance(c.returns, RoundReturns) else None)


def _gone_told(returns: Iterable[Return]) -> tuple[int, str]:
    """How many of ``returns`` are gone from the inbox (counted from the archive), and the first five named."""
    if isinstance(returns, RoundReturns):
        returns = returns.view(f"({returns.where}) AND n >= {GONE_LIST << _LIST_SHIFT}" if returns.where
                               else f"n >= {GONE_LIST << _LIST_SHIFT}")
    count, names = 0, list[str]()
    for r in returns:
        if r.archived:
            count += 1
            if len(names) < 5:
                names.append(f"{r.brief.key}（{shown(Path(r.path).name)}）")
    return count, "、".join(names) + (" 等" if count > 5 else "")


#: The inputs' texts handed to the intake are read from the discovered paths' buffer as texts (PathList.texts), where
#: each was made a Path and then its text again (~8 µs a file: 0.08 s of a second run at 10,000, issue 15). False:
#: through the Paths (the tests compare).
PATHS_AS_TEXT = True


def _texts(files: Sequence[Path]) -> Sequence[str]:
    """The texts of ``files`` (discovered: a PathList, or a list of Paths), as ``str`` of each gives them."""
    texts = getattr(files, "texts", None) if PATHS_AS_TEXT else None
    if texts is not None and TEXTS_AS_ASKED:
        return _Texts(files)
    return list(texts()) if texts is not None else [str(p) for p in files]


#: The inputs' texts are handed to the intake as it asks for them, a batch at a time (:class:`_Texts`), where a list
#: held every input's text through the intake (~82 bytes a file: 8 MB at 100,000, the intake's own growth in N; issue
#: 15). False: the list (the tests compare).
TEXTS_AS_ASKED = True


class _Texts(Sequence[str]):
    """The texts of discovered paths (a PathList's :meth:`~xltemplate.inputs.PathList.texts`), decoded as the intake asks
    for its batches (slices in order, each maybe twice: the last kept); any other item from the paths themselves."""

    def __init__(self, files: Sequence[Path]) -> None:
        self._files = files
        self._walk: Iterator[str] = getattr(files, "texts")()
        self._at = 0  # how many the walk has given
        self._last: tuple[int, int, list[str]] = (0, 0, [])

    def __len__(self) -> int:
        return len(self._files)

    @overload
    def __getitem__(self, n: int) -> str: ...
    @overload
    def __getitem__(self, n: slice) -> list[str]: ...
    def __getitem__(self, n: int | slice) -> str | list[str]:
        if not isinstance(n, slice):
            return str(self._files[n])
        start, stop, step = n.indices(len(self))
        if step == 1:
            first, end, got = self._last
            if (start, stop) == (first, end):
                return got
            if start == self._at:
                got = list(itertools.islice(self._walk, max(0, stop - start)))
                self._at += len(got)
                self._last = (start, stop, got)
                return got
        return [str(self._files[i]) for i in range(start, stop, step)]

    def __eq__(self, other: object) -> bool:  # (as a list of the texts: the intake's input compared)
        if isinstance(other, (_Texts, list, tuple)):
            theirs = (str(b) for b in other._files) if isinstance(other, _Texts) else iter(other)
            return len(self) == len(other) and all(str(a) == b for a, b in zip(self._files, theirs))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # (as a list)


# -- reading what the ledger cannot answer for ----------------------------------------------------------------


#: A file to validate: its sha256 and its archive name (all that :func:`_read` reads of its FileRow).
ToDo = tuple[str, str]


def _stale(led: Ledger, run: Run, files: Sequence[FileRow], ctx: RunContext, day: dt.date,
           contexts: "_Contexts | None" = None) -> tuple["list[ToDo] | _ToDo", Counter[str], int]:
    """The files to validate (their sha256 and archive names; and why), and how many stored reports still hold.
    ``contexts``: the run's verdict contexts (:class:`_Contexts`), else each made by ``ctx``."""
    context = contexts.of if contexts is not None else ctx.verdict_context
    todo: list[ToDo] | _ToDo = _ToDo() if TODO_PACKED else []
    why: Counter[str] = Counter()
    if STALE_JOINED:  # (each file's stored report read beside it, in the files' order)
        pairs: Iterable[tuple[FileRow, Cached | None]] = zip(files, led.cached_by_file(run))
    else:
        cached = {c.sha256: c for c in led.cached_reports(run)}
        pairs = ((f, cached.get(f.sha256)) for f in files)
    for f, c in pairs:
        assert c is None or c.sha256 == f.sha256
        if c is None:
            reason = NEW if f.first_seen_run == run.id else AGAIN
        elif c.context != context(c.unit_key):
            reason = CONTEXT
        elif c.checked_on is None or day < c.checked_on or (c.valid_until is not None and day >= c.valid_until):
            reason = DAY
        else:
            continue
        todo.append((f.sha256, f.archive_name))
        why[reason] += 1
    return todo, why, len(files) - len(todo)


class _ToDo(_Stored[ToDo]):
    """:func:`_stale`'s files to validate, packed (:data:`TODO_PACKED`): each sha256 as its 32 bytes, its archive name as
    its suffix when it is the archive's name for the sha256 (``ab/<sha256><suffix>``; another kept whole, by place)."""

    def __init__(self) -> None:
        self._shas = bytearray()
        self._suffixes: list[str] = []
        self._odd: dict[int, ToDo] = {}  # (a file whose sha256 or archive name is not of the usual form: as it is)

    def append(self, item: ToDo) -> None:
        sha, name = item
        n = len(self._suffixes)
        head = f"{sha[:2]}/{sha}"
        try:
            digest = bytes.fromhex(sha)
        except ValueError:
            digest = b""
        if len(digest) == 32 and digest.hex() == sha and name.startswith(head):
            self._shas += digest
            self._suffixes.append(sys.intern(name[len(head):]))
        else:
            self._shas += bytes(32)
            self._suffixes.append("")
            self._odd[n] = item

    def __len__(self) -> int:
        return len(self._suffixes)

    def _record(self, n: int) -> tuple[int]:
        return (n,)

    def made(self, rec: Sequence[Any]) -> ToDo:
        n = rec[0]
        odd = self._odd.get(n)
        if odd is not None:
            return odd
        sha = self._shas[32 * n:32 * n + 32].hex()
        return sha, f"{sha[:2]}/{sha}{self._suffixes[n]}"


#: The files to validate are packed (:class:`_ToDo`: 32 bytes and a shared suffix a file), where a list held a tuple,
#: the sha256 and the archive name of each through the reading (a first run's every file: ~300 bytes a file, 9 MB at
#: 30,000, the first run's _read phase). False: the list (the tests compare).
TODO_PACKED = True


#: With LOAD_WHEN_MATCHED (matching walks the files beside the stored reports, from MATCH_STORED_FROM files), where the
#: run's spill keeps each report made now is kept in an array by the file's place among those validated (8 bytes, its
#: sha256 the packed todo's 32 bytes, kept to the end of matching), and matching, which walks the files in the same
#: order, meets them in turn (:class:`_Places`), where a dict by sha256 held a string of 64 hex digits and an int a
#: file from the reading to the end of matching (~185 bytes a file, issue 15). False: the dict (the tests compare).
PLACES_PACKED = True


#: With MATCH_STORED, the files received since the last finished run are counted by unit in the run's store
#: (:class:`_NewByUnit`: a table of keys and counts), where a Counter held every unit's key and count from matching to
#: the end of the roll-up's writing (a first run's every unit: ~110 bytes a unit, issue 15). False: the Counter (the
#: tests compare).
NEW_STORED = True


#: Each file's stored report read beside it from one query (files joined to reports, in arrival order), where a dict
#: held every stored report's Cached by sha256 (~200 bytes a file, issue 15). False: the dict (the tests compare).
STALE_JOINED = True


#: With VERDICTS_KEPT, the run holds each roster row's context as its 32 bytes (a bytearray of them all), and keeps them
#: in the ledger as a memo of parts (``memo verdict contexts packed``: a head, then CONTEXTS_A_PART rows' contexts a
#: part), read and written a part at a time, where it held the memo's text (64 characters a row, one row of meta) made
#: through an io.StringIO, whose buffer took 4 bytes a character once sought: at 100,000 units ~33 MB at a time as a
#: first run stored its first report (26 MB of buffer beside the text; the text, a copy SQLite binds and its record,
#: ~20 MB more as it was kept), 6.4 MB held through the reading. False: the text (the tests compare).
CONTEXTS_PACKED = True


#: The rows' contexts a part of the memo holds (CONTEXTS_PACKED): 256 KB of text.
CONTEXTS_A_PART = 4096
#: The memo's name with CONTEXTS_PACKED (its head; its parts under NAME/0, NAME/1, ...).
_CONTEXTS = "verdict contexts packed"


def _digests(text: str, size: int) -> bytes | None:
    """``size`` contexts' 32 bytes from their 64 lowercase hex digits each, ``text``; None when it is not that."""
    if len(text) != 64 * size:
        return None
    try:
        got = bytes.fromhex(text)
    except ValueError:
        return None
    return got if len(got) == 32 * size and got.hex() == text else None  # (fromhex reads past spaces, and capitals)


#: A run's verdict contexts (RunContext.verdict_context: a file's roster row, the secrets, older versions) are made once
#: for every roster row in the roster's order and kept in the ledger (``memo verdict contexts``: 64 hex digits a row),
#: beside a digest of all they are made from: the roster's rows as packed (PackedRows.digest: every byte, and the
#: columns), the secrets' fingerprint, the older versions' hashes, xltemplate's source (rollup.reuse.writer_digest) and
#: Python's version. A run whose digest is the kept one takes a file's context from there (the row found by its key's
#: place in the roster); a key on no row, or any key without a roster, has the one context made once. Where each
#: context was made for each file by its key (a row decoded, its values encoded, JSON, sha256): 0.2 s of a second run
#: at 10,000, issue 15. Not with a targets table (a key's targets are in its context: made for each file, as before).
#: False: made for each file (the tests compare).
VERDICTS_KEPT = True


class _Contexts:
    """A run's verdict contexts, by a file's key (:meth:`of`), as ``ctx.verdict_context`` makes them (see
    :data:`VERDICTS_KEPT`)."""

    def __init__(self, led: Ledger, ctx: RunContext) -> None:
        self._led, self._ctx = led, ctx
        self._on = VERDICTS_KEPT and ctx.targets is None
        self._absent: str | None = None  # (the context of a key on no row: made when first asked for)
        self._rows = ctx.roster.rows if ctx.roster is not None else None
        self._kept: str | None = None  # "DIGEST " and each row's context, in the rows' order (made when first asked for)
        self._raw: bytes | bytearray | None = None  # (CONTEXTS_PACKED) each row's context as its 32 bytes, in order

    def of(self, key: str | None) -> str:
        """``ctx.verdict_context(key)``."""
        if not self._on:
            return self._ctx.verdict_context(key)
        rows = self._rows
        if rows is not None and key is not None:
            if not isinstance(rows, PackedRows):
                return self._ctx.verdict_context(key)
            try:
                n = rows.index(key)
            except ValueError:
                pass
            else:
                if CONTEXTS_PACKED:
                    raw = self._raw if self._raw is not None else self._recall_packed(rows)
                    return raw[32 * n:32 * n + 32].hex()
                kept = self._kept if self._kept is not None else self._recall(rows)
                at = 65 + 64 * n
                return kept[at:at + 64]
        if self._absent is None:
            self._absent = self._ctx.verdict_context(None)  # (on no row: the key plays no part)
        return self._absent

    def _recall_packed(self, rows: PackedRows) -> bytes | bytearray:
        """The rows' contexts as their 32 bytes each (:data:`CONTEXTS_PACKED`), from the memo when it is of these rows,
        else made and kept. The memo's head is "DIGEST ROWS", its parts each :data:`CONTEXTS_A_PART` rows' contexts as
        their 64 hex digits (read and written a part at a time: no text of them all)."""
        of = f"{self._digest(rows)} {len(rows)}"
        raw: bytearray | None = None
        if self._led.memo(_CONTEXTS) == of:
            raw = bytearray()
            for part in range((len(rows) + CONTEXTS_A_PART - 1) // CONTEXTS_A_PART):
                text = self._led.memo(f"{_CONTEXTS}/{part}")
                size = min(CONTEXTS_A_PART, len(rows) - part * CONTEXTS_A_PART)
                got = _digests(text, size) if text is not None else None
                if got is None:
                    raw = None
                    break
                raw += got
        if raw is None:
            raw = bytearray()
            for context in self._ctx.roster_contexts():
                digest = bytes.fromhex(context)
                if len(digest) != 32 or digest.hex() != context:
                    raise ValueError(f"not a context: {context!r}")  # (a sha256's 64 hex digits, always)
                raw += digest
            if not self._led.readonly:
                a_part = 32 * CONTEXTS_A_PART
                self._led.remember_parts(_CONTEXTS, of, (raw[at:at + a_part].hex() for at in range(0, len(raw), a_part)),
                                         instead_of=("verdict contexts",))  # (the text the code before kept: never read here)
        self._raw = raw
        return raw

    def _digest(self, rows: PackedRows) -> str:
        """The digest of all the rows' contexts are made from (the memo's first 64 characters)."""
        ctx = self._ctx
        import hashlib
        import sys

        return hashlib.sha256(repr(("verdict contexts 1", reuse.writer_digest(), sys.version, rows.digest(),
                                    ctx.keyring.fingerprint if ctx.keyring is not None else None,
                                    sorted(s.spec_hash for s in ctx.older_versions()))
                                   ).encode("utf-8", "surrogatepass")).hexdigest()

    def _recall(self, rows: PackedRows) -> str:
        ctx = self._ctx
        of = self._digest(rows)
        kept = self._led.memo("verdict contexts")
        if kept is None or len(kept) != 65 + 64 * len(rows) or not kept.startswith(of + " "):
            made = io.StringIO(f"{of} ")  # (written as made: no list of every row's context)
            made.seek(0, io.SEEK_END)
            for context in ctx.roster_contexts():
                made.write(context)
            kept = made.getvalue()
            del made
            if not self._led.readonly:
                self._led.remember("verdict contexts", kept)
        self._kept = kept
        return kept


def _read(led: Ledger, run: Run, todo: Sequence[ToDo], ctx: RunContext, day: dt.date, jobs: int | None,
          update: Callable[[int], None], fresh: "_Reports", held: int = 0, contexts: _Contexts | None = None) -> None:
    """Validate the archive copies of ``todo``, storing each report as it comes (a killed run keeps them)."""
    pending: list[StoredReport] = []
    context = contexts.of if contexts is not None else ctx.verdict_context

    def keep(n: int, report: FileReport) -> None:
        sha = todo[n][0]
        fresh.keep(sha, report, n)
        if not transient(report):
            pending.append(_stored(sha, report, ctx, day, context))
            if not fresh.deferred:  # (deferred: the ledger says so beside its brief)
                fresh.made[sha] = run.id  # (a report is stored at most once a run for its file)
        if len(pending) >= STORE_EVERY:
            led.store_reports(run, pending)
            pending.clear()

    if PLACES_PACKED and fresh.deferred and fresh.spill is not None:
        fresh.places = _Places(todo)  # (each report's place in the spill by its place in todo: no dict by sha256)
    # (held: a later run with a few new files holds every file's brief by now: its workers are not forked from it)
    copies: Sequence[Path] = (_Copies(led, todo) if COPIES_WHEN_SENT
                              else [led.archive.path(name) for _sha, name in todo])
    validate_files(copies, ctx, jobs=jobs, progress=update, each=keep, keep=False, held=held)
    if pending:
        led.store_reports(run, pending)


#: The archive copies to validate are made a Path each as a worker is given it (:class:`_Copies`), where a list held
#: a Path for every file to read through the whole reading (~300 bytes a file on a first run, issue 15). False: the
#: list (the tests compare).
COPIES_WHEN_SENT = True


class _Copies(_Stored[Path]):
    """The archive copies of ``todo`` as :func:`~xltemplate.batch.validate_files` takes them, each made when asked for
    (the workers' pool takes its tasks one at a time)."""

    def __init__(self, led: Ledger, todo: Sequence[ToDo]) -> None:
        self._archive, self._todo = led.archive, todo

    def __len__(self) -> int:
        return len(self._todo)

    def _record(self, n: int) -> str:
        return self._todo[n][1]

    def made(self, rec: Any) -> Path:
        return self._archive.path(rec)


def _stored(sha: str, r: FileReport, ctx: RunContext, day: dt.date,
            context: Callable[[str | None], str] | None = None) -> StoredReport:
    data = r.to_json()
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    slim = None
    if data.get("results") and data["results"].get("items"):  # the report without its items (see _SlimResults)
        slim = json.dumps({**data, "results": {**data["results"], "items": []}}, ensure_ascii=False, separators=(",", ":"))
    brief = _brief_text(Brief(r), _head_text(r, ctx.explicit) if HEADS else None) if LOAD_SLIM else None
    return StoredReport(
        sha, r.status, r.key, r.saved_at, r.errors, r.warnings, payload, brief=brief,
        template_id=r.template[0] if r.template else None, template_version=r.template[1] if r.template else None,
        total=str(r.total) if r.total is not None else None, grade=r.grade,
        context=(context or ctx.verdict_context)(r.key), checked_on=day, valid_until=verdict_until(r, day), slim=slim)


class _Reports:
    """Every file's report for this run (made now, or stored and still holding), by sha256: a brief of each in
    memory and the report itself in the run's spill (see :mod:`xltemplate.rollup.spill`), or held (no spill)."""

    def __init__(self, spill: Spill | None) -> None:
        self.spill = spill
        self.briefs: dict[str, Brief] = {}
        self._where: dict[str, Any] = {}  # sha256 → where the spill keeps it, or the report itself
        self._moved = _Moved(spill) if spill is not None else None
        # sha256 → the run that stored its report (:meth:`made_by`): none for a report not stored
        self.made: dict[str, int] = {}
        self.ledgered: _Ledgered | None = None  # the stored reports loaded from the ledger when asked (LOAD_SLIM)
        # the stored reports' briefs are read as the files are walked by matching, not before (LOAD_WHEN_MATCHED)
        self.deferred = False
        # (PLACES_PACKED) where the spill keeps each report made now, by its place among the files validated, and the
        # file matching walks now with its report's place (:meth:`walked`)
        self.places: _Places | None = None
        self._here: tuple[str, int] | None = None

    def keep(self, sha: str, report: FileReport, n: int | None = None) -> None:
        """Keep the report of the file ``sha``; ``n``: its place among the files validated (:class:`_Places`)."""
        if not (self.deferred and self.spill is not None and not transient(report)):
            self.briefs[sha] = Brief(report)
        # (deferred, a report stored: its brief read back from the ledger as matching walks the files, as a stored one's)
        where = self.spill.put(report) if self.spill is not None else report
        if n is None or self.places is None or not self.places.put(n, sha, where):
            self._where[sha] = where

    def walked(self, sha: str) -> None:
        """Matching walks to the file ``sha`` (the files in their order, as :func:`_stale` found those to validate)."""
        if self.places is not None:
            at = self.places.next_if(sha)
            self._here = (sha, at) if at is not None else None

    def walked_all(self) -> bool:
        """Whether matching's walk met every report :attr:`places` keeps (the files in the same order as validated)."""
        return self.places is None or self.places.met()

    def place(self, sha: str) -> Any:
        """Where the spill keeps the file's report made now (or the report itself, without a spill); None: not made
        now (a stored one's)."""
        got = self._where.get(sha)
        if got is None and self._here is not None and self._here[0] == sha:
            return self._here[1]
        return got

    def returned(self, sha: str, path: str, mtime: float, *, last: bool = False, **kw: Any) -> Filed:
        """The file's return as of its copy at ``path`` (its report was made from the archive copy). ``last``: no
        other return is made from the file after this one (with :data:`BRIEF_MOVED_IN_PLACE`, it takes the file's
        brief itself)."""
        if last and BRIEF_MOVED_IN_PLACE and (self._moved is not None or self.ledgered is not None):
            brief = self.briefs[sha]
            brief.path = path  # (the file's brief: no reader of it reads its path, see view.by_file)
        at = self.place(sha)
        if self.ledgered is not None and (at is None if LEDGERED_UNLISTED else sha in self.ledgered.shas):
            if not (last and BRIEF_MOVED_IN_PLACE):
                brief = _moved(self.briefs[sha], path)
            return Filed(None, mtime, brief=brief, store=self.ledgered, where=sha if WHERE_UNPAIRED else (sha, path), **kw)
        if at is None:
            raise KeyError(sha)  # (as the dict of places said it)
        if self._moved is None:
            return Filed(_at(at, path), mtime, **kw)
        if not (last and BRIEF_MOVED_IN_PLACE):
            brief = self.briefs[sha].moved(path)
        return Filed(None, mtime, brief=brief, store=self._moved, where=at if WHERE_UNPAIRED else (at, path), **kw)

    def let_go(self, every: Sequence[Return]) -> None:
        """Matching is done: no return is made again. Let go of where each report is (the returns hold it) and of the
        brief of every file a return is made from (:func:`~.view.by_file` reads its return's), with
        :data:`BRIEFS_LET_GO` (a brief and its dict entry ~300 bytes a file, issue 15)."""
        if not BRIEFS_LET_GO and not isinstance(every, RoundReturns):
            return
        self._where = {}
        self.places, self._here = None, None
        if self.ledgered is not None:
            self.ledgered.shas = set()
        if isinstance(every, RoundReturns):
            return  # (each file's brief let go as its returns were stored, :func:`_collection_stored`; nothing shares)
        filed = {r.sha256 for r in every if isinstance(r, Filed)}
        self.briefs = {sha: brief for sha, brief in self.briefs.items() if sha not in filed}
        if SHAS_SHARED:  # (the sha256 keys made again from the returns' own strings: the others' are let go)
            own = {r.sha256: r.sha256 for r in every if isinstance(r, Filed)}
            self.made = {own.get(sha, sha): run for sha, run in self.made.items()}
            if self.ledgered is not None:
                self.ledgered.heads = {own.get(sha, sha): head for sha, head in self.ledgered.heads.items()}

    def forget(self, sha: str) -> None:
        """The file's returns are made and stored (:func:`_collection_stored`): let go of its brief and where its report
        is (the stored returns say both; a file without returns keeps its brief for 提交记录), and, with its stored
        reports loaded as it goes, of the run that made its report (its returns' records keep it)."""
        self.briefs.pop(sha, None)
        self._where.pop(sha, None)
        self._here = None
        if self.deferred:
            self.made.pop(sha, None)

    def made_by(self, sha: str | None) -> str | None:
        """Which stored report the file's is (its sha256 and the run that stored it: what a kept sheet's key holds), or
        None for a report not stored. Made when asked: an int a file held, not a string (issue 15)."""
        run = self.made.get(sha) if sha is not None else None
        return None if run is None else f"{sha} {run}"

    def close(self) -> None:
        if self.spill is not None:
            self.spill.close()


class _Places:
    """Where the run's spill keeps the report of each file :func:`_read` validates (:data:`PLACES_PACKED`), by the file's
    place in ``todo``: an int each in an array, beside the file's sha256 as its 32 bytes (``todo``'s own, packed, or
    here). Matching walks the files in the order :func:`_stale` found those to validate, so a file's report is the
    next one here exactly when its sha256 is the next one's (:meth:`next_if`)."""

    def __init__(self, todo: Sequence[ToDo]) -> None:
        n = len(todo)
        self._at = array("q", bytes(8 * n))
        # (the packed todo's digests, shared; a file of another form there, zeros, is kept by the caller instead)
        self._shas = todo._shas if isinstance(todo, _ToDo) else bytearray(32 * n)
        self._own = not isinstance(todo, _ToDo)
        self._kept = 0  # how many are put
        self._next = 0  # the next one matching's walk meets
        self._met = 0

    def put(self, n: int, sha: str, where: Any) -> bool:
        """Keep ``where`` for the ``n``-th file validated, ``sha``; False: not kept here (not a place in the spill, or
        a sha256 not of the usual form)."""
        if type(where) is not int or where == 0:  # (0 marks "not kept here": a spill's place never is, its length in it)
            return False
        try:
            digest = bytes.fromhex(sha)
        except ValueError:
            return False
        if len(digest) != 32 or digest.hex() != sha:
            return False
        at = 32 * n
        if self._own:
            self._shas[at:at + 32] = digest
        elif self._shas[at:at + 32] != digest:
            return False  # (an odd one of the packed todo's, zeros there)
        self._at[n] = where
        self._kept += 1
        return True

    def next_if(self, sha: str) -> int | None:
        """The place of the report of the file ``sha`` if it is the next one kept here (else None: its report was not
        made now, or is kept by the caller); the walk then moves past it."""
        at, end = self._next, len(self._at)
        while at < end and self._at[at] == 0:  # (not kept here: kept by the caller)
            at += 1
        if at >= end or self._shas[32 * at:32 * at + 32].hex() != sha:
            return None
        self._next = at + 1
        self._met += 1
        return self._at[at]

    def met(self) -> bool:
        """Whether the walk met every place kept."""
        return self._met == self._kept


def _moved(brief: Brief, path: str) -> Brief:
    """``brief.moved(path)``: the same brief for a copy of the file at ``path``, made slot by slot (copy.copy goes
    through the brief's pickling, which shares and interns its values again: 40 µs a return, issue 15)."""
    if not QUICK_MOVED:
        return brief.moved(path)
    other = Brief.__new__(Brief)
    for slot in _BRIEF_SLOTS:
        setattr(other, slot, getattr(brief, slot))
    other.path = path
    return other


#: :func:`_moved` copies a brief slot by slot; False: Brief.moved (the tests compare).
QUICK_MOVED = True
_BRIEF_SLOTS = Brief.__slots__


class _Moved:
    """A spill whose reports are loaded as of another path (:func:`_at`)."""

    #: A return of this store keeps only the place in the spill (:data:`WHERE_UNPAIRED`): given with its path when loaded.
    as_of_path = True

    def __init__(self, spill: Spill) -> None:
        self.spill = spill

    def load(self, where: tuple[int, str]) -> FileReport:
        return _at(self.spill.load(where[0]), where[1])


def _load_stored(led: Ledger, run: Run, reports: _Reports, deferred: bool = False) -> None:
    """Add every stored report (still holding) not made now: each read from the ledger once, then spilled; or, with
    :data:`LOAD_SLIM`, its brief made from its slim payload, and the report loaded from the ledger when asked.
    ``deferred``: none now, each read as matching walks the files (:data:`LOAD_WHEN_MATCHED`)."""
    if deferred:
        ledgered = reports.ledgered = _Ledgered(led, run)
        ledgered.spill = reports.spill
        reports.deferred = True
        return
    if not LOAD_SLIM:
        for sha, payload, made in led.report_payloads_made(run):
            if sha not in reports.briefs:
                reports.keep(sha, report_from_text(payload))
                if made is not None:
                    reports.made[sha] = made
        return
    ledgered = reports.ledgered = _Ledgered(led, run)
    ledgered.spill = reports.spill
    for sha, text, made in led.report_briefs(run):
        if sha not in reports.briefs:
            brief, head = _brief_and_head(text) if text is not None else (None, None)
            if head is not None and HEADS:
                ledgered.keep_head(sha, head)
            if brief is None:  # (stored before the ledger kept briefs)
                brief = Brief(report_from_text(led.report_payload(run, sha, slim=True)))
            reports.briefs[sha] = brief
            if not LEDGERED_UNLISTED:
                ledgered.shas.add(sha)
            if made is not None:
                reports.made[sha] = made


def _loads_when_matched(led: Ledger, run: Run, roster: Roster | None, reports: _Reports, files: Sequence[FileRow],
                        seen: Sequence[Stored]) -> bool:
    """Whether this run's stored reports are read as matching walks the files (:data:`LOAD_WHEN_MATCHED`)."""
    return (LOAD_WHEN_MATCHED and LOAD_SLIM and (HEADS_SPILLED or not HEADS) and LEDGERED_UNLISTED
            and isinstance(seen, store.SeenKept) and _matched_stored(roster, reports, files) and led.briefs_kept(run))


#: The guess of a round's template (a first run without --template) is held to the inputs' templates read one at a
#: time as the choice counts them (:func:`_seen_briefs` a generator), where a list held one for every input, with the
#: stored reports not loaded yet (:data:`LOAD_WHEN_MATCHED`) a :class:`_Named` and a tuple of two new strings each
#: (~240 bytes an input): a first run's peak at 100,000, 65.8 -> 79.7 MB between its reading and its matching (issue
#: 15). False: the list (the tests compare).
SEEN_STREAMED = True


def _seen_briefs(led: Ledger, run: Run, seen: Sequence[Stored], reports: _Reports) -> Iterable[Any]:
    """The brief of each input the intake saw (its template is what the guess is held to), in order; with the stored
    reports not loaded yet (:data:`LOAD_WHEN_MATCHED`), a stored one's template as the ledger keeps it beside it. Read
    as they are taken with :data:`SEEN_STREAMED` (walk them once, before anything else reads the ledger), else a list."""
    got = _seen_walked(led, run, seen, reports)
    return got if SEEN_STREAMED else list(got)


def _seen_walked(led: Ledger, run: Run, seen: Sequence[Stored], reports: _Reports) -> Iterator[Any]:
    if not reports.deferred:
        for s in seen:
            yield reports.briefs[s.sha256]
        return
    for sha, tid, version in led.seen_templates(run):
        brief = reports.briefs.get(sha)  # (made now)
        yield brief if brief is not None else _Named((tid, version) if tid is not None else None)


def _brief_text(brief: Brief, head: str | None = None) -> str:
    """A report's brief as the ledger keeps it (every slot, its values tagged: :mod:`xltemplate.jsonvalue`), and the
    report's head (:func:`_head_text`) under ``$head``, as a string (decoded only when a sheet asks for it)."""
    data: dict[str, Any] = {slot: encode(getattr(brief, slot)) for slot in Brief.FIELDS}
    if head is not None:
        data["$head"] = head
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _head_text(r: FileReport, spec: Spec | None) -> str | None:
    """What 汇总 reads of a report beyond its brief, as JSON: its results without their items, and of their header
    fields only those the spec's summary names (a unit's name, project, budget, executed: the rate's operands among
    them). A few hundred bytes, where the slim report is a few thousand, with findings and every text."""
    res = r.results
    if res is None or spec is None:
        return None
    fids = head_fields(spec)
    # (a list, its numbers as text: read back on every run for every unit, it is decoded without tags)
    numbers = [res.total, res.total_weight] + [x for g in res.groups for x in g[2:]]
    if (not all(type(x) is Decimal for x in numbers) or not (res.execution_rate is None or type(res.execution_rate) is Decimal)
            or not all(type(g.id) is str and type(g.name) is str for g in res.groups)):
        return None  # (not what a head holds: the report is loaded instead)
    head = [_HEAD, _text(res.total), _text(res.total_weight), res.grade, _text(res.execution_rate),
            encode({fid: res.fields.get(fid) for fid in fids}),
            [[g.id, g.name, *(_text(x) for x in g[2:])] for g in res.groups]]
    return json.dumps(head, ensure_ascii=False, separators=(",", ":"))


def _text(x: Decimal | None) -> str | None:
    return None if x is None else str(x)


def _number(x: str | None) -> Decimal | None:
    return None if x is None else Decimal(x)


#: The head's form (its first item): a head of another form is not read (the report is loaded instead).
_HEAD = "head 1"


def _head_of(text: str) -> Results | None:
    """:func:`_head_text` back: a :class:`Results` without items, whose fields are those the head holds; None for a
    head of another form."""
    data = json.loads(text)
    if not isinstance(data, list) or len(data) != 7 or data[0] != _HEAD:
        return None
    _form, total, weight, grade, rate, fields, groups = data
    return Results(total=Decimal(total), total_weight=Decimal(weight), grade=grade, execution_rate=_number(rate),
                   fields=jsonvalue.decode(fields),
                   groups=tuple(Group(gid, name, Decimal(p), Decimal(w), Decimal(sc)) for gid, name, p, w, sc in groups))


def _brief_of(text: str) -> Brief | None:
    """:func:`_brief_text` back (its head aside: :func:`_brief_and_head`); None when it is not a brief of this
    program's (its slots differ)."""
    return _brief_and_head(text)[0]


def _brief_and_head(text: str) -> tuple[Brief | None, str | None]:
    """:func:`_brief_text` back: the brief (None when it is not one of this program's: its slots differ) and the
    head's text, if it has one."""
    data = jsonvalue.loads(text)
    head = data.pop("$head", None) if isinstance(data, dict) else None
    if not isinstance(data, dict) or list(data) != list(Brief.FIELDS):
        return None, None
    brief = Brief.of({slot: _shared(value) if slot in _SHARED_SLOTS else value for slot, value in data.items()})
    return brief, head if isinstance(head, str) else None


#: The brief's slots whose values many reports share (one object each, as Brief makes them).
_SHARED_SLOTS = frozenset({"template", "application", "signature", "codes", "grade"})


#: Stored reports stay in the ledger until a sheet asks for one, and come back slim (without their items, which
#: only 指标得分 and the like read: five times quicker to load), their items loaded when read (_SlimResults);
#: False: every stored report loaded whole up front and spilled (the tests compare).
LOAD_SLIM = True
#: With LOAD_SLIM, 汇总 reads a stored report's head (:func:`_head_text`, kept with its brief) instead of loading the
#: report; False: it loads the slim report (the tests compare).
HEADS = True
#: With HEADS, each head's text is kept in the run's spill (its place in memory), read back when 汇总 asks for it:
#: a head is ~340 characters, ~730 bytes held a unit (10 MB at 10,000, issue 15). False: held (the tests compare).
HEADS_SPILLED = True


@dataclass(frozen=True)
class _SlimResults(Results):
    """A stored report's results without their items until they are read: then the whole report's are loaded."""

    whole: Callable[[], Results] | None = field(default=None, compare=False, repr=False)

    def __getattribute__(self, name: str) -> Any:
        if name == "items":
            return object.__getattribute__(self, "whole")().items
        return object.__getattribute__(self, name)


#: Which stored reports the roll-up asked for once already (:class:`_Ledgered`: a report asked for a second time is kept
#: in the run's spill for the sheets that ask next) told by bits (:class:`_AskedBits`, 512 KB however many), where a set
#: held every report's sha256 asked for, each a str of its own when the returns are made from the run's store: a third
#: run writes its sheets anew and asks for every report (30,000 units: 5.5 MB, ~180 bytes a unit, tracemalloc at the
#: write's peak, issue 15). A bit set for another report only spills one that need not be (the same report read back).
#: False: the set (the tests compare).
ASKED_BITS = True
_ASKED_BYTES = 1 << 19


class _AskedBits:
    """A set of sha256s (hex, as the ledger keeps them) that may hold one never added (a bit shared: ~2 % at 100,000
    added), never misses one added: each is a bit of :data:`_ASKED_BYTES` bytes, by its first 64 bits."""

    def __init__(self) -> None:
        self.bits = bytearray(_ASKED_BYTES)  # (zeroed pages: resident only once touched)

    @staticmethod
    def _bit(sha: str) -> int:
        return int(sha[:16], 16) % (_ASKED_BYTES * 8)

    def add(self, sha: str) -> None:
        n = self._bit(sha)
        self.bits[n >> 3] |= 1 << (n & 7)

    def __contains__(self, sha: str) -> bool:
        n = self._bit(sha)
        return bool(self.bits[n >> 3] >> (n & 7) & 1)


class _Ledgered:
    """The stored reports of a run, loaded from the ledger when asked, slim, as of a path (:func:`_at`), their items
    loaded whole when read; a few kept (a row's sheets ask for the same report a few times in a row), and each,
    once asked for a second time, kept in the run's spill for the sheets that ask next (when sheets are written anew)."""

    def __init__(self, led: Ledger, run: Run) -> None:
        self.led: Ledger | None = led
        self.run = run
        self.path = led.path
        self.shas: set[str] = set()
        self._own: Any = None  # a read-only connection of its own, once the run's ledger is closed
        self.spill: Spill | None = None  # where a report loaded once is kept for the next sheet that asks
        self._spilled: dict[str, int] = {}
        # (a report 汇总 alone asks for is not spilled: most, when sheets are reused)
        self._asked: set[str] | _AskedBits = _AskedBits() if ASKED_BITS else set()
        self._recent: dict[tuple[str, str], FileReport] = {}
        self._whole: dict[str, Results] = {}
        # sha256 → the report's head as stored (see _head_text), or where the run's spill keeps it (HEADS_SPILLED)
        self.heads: dict[str, str | int] = {}
        self._head: tuple[str, Results] | None = None  # (the last head asked for: a row asks a few times)

    #: A return of this store keeps only the sha256 (:data:`WHERE_UNPAIRED`): given with its path when loaded.
    as_of_path = True

    def head(self, where: tuple[str, str] | str) -> Results | None:
        """The report's head (its results without items, with the summary's fields: :func:`_head_text`) when the
        ledger keeps one, without loading the report; else None. ``where``: (sha256, path), or the sha256."""
        sha = where if type(where) is str else where[0]
        last = self._head
        if last is not None and last[0] == sha:
            return last[1]
        text = self.heads.get(sha)
        if text is None:
            return None
        if type(text) is int:
            assert self.spill is not None
            text = self.spill.raw(text).decode("utf-8", "surrogatepass")
        assert isinstance(text, str)
        got = _head_of(text)
        if got is None:
            return None
        self._head = (sha, got)
        return got

    def keep_head(self, sha: str, text: str) -> None:
        """Keep the report's head (its text as stored) for :meth:`head`: in the run's spill with :data:`HEADS_SPILLED`."""
        if HEADS_SPILLED and self.spill is not None:
            self.heads[sha] = self.spill.put_packed(text.encode("utf-8", "surrogatepass"))
        else:
            self.heads[sha] = text

    def load(self, where: tuple[str, str]) -> FileReport:
        got = self._recent.get(where)
        if got is not None:
            return got
        sha, path = where
        at = self._spilled.get(sha)
        if at is not None:
            report = self.spill.load(at) if self.spill is not None else report_from_text(self._payload(sha, slim=True))
        else:
            report = report_from_text(self._payload(sha, slim=True))
            if self.spill is not None and sha in self._asked:
                # asked for twice, so by every sheet (they are written anew): from the spill, quicker than parsed
                self._spilled[sha] = self.spill.put(report)
            self._asked.add(sha)
        res = report.results
        if res is not None and not res.items:  # slim (or truly without items: loading the whole says so)
            kept = {f.name: getattr(res, f.name) for f in fields(Results)}
            report = replace(report, results=_SlimResults(**kept, whole=lambda: self._items(sha)))
        got = _at(report, path)
        if len(self._recent) >= RECENT:
            del self._recent[next(iter(self._recent))]
        self._recent[where] = got
        return got

    def detach(self) -> None:
        """The run's ledger is closing: a report asked for later (the collection's tables, say) is read through a
        read-only connection of this store's own (closed by :meth:`close`, which ``Collection.close`` calls)."""
        self.led = None

    def close(self) -> None:
        """Close the read-only connection, if one was opened (a report asked for after this opens another)."""
        if self._own is not None:
            own, self._own = self._own, None
            own.close()

    def _payload(self, sha: str, slim: bool) -> str:
        if self.led is not None:
            return self.led.report_payload(self.run, sha, slim=slim)
        if self._own is None:
            self._own = schema.connect(self.path, readonly=True)
        row = self._own.execute(
            f"SELECT {'coalesce(slim, payload)' if slim else 'payload'} FROM reports"
            " WHERE sha256 = ? AND spec_hash = ? AND validator_version = ?",
            (sha, self.run.spec_hash, self.run.validator_version)).fetchone()
        if row is None:
            raise LedgerError(f"{self.path}：台账中没有 sha256 为 {sha} 的核对结果。")
        return str(row[0])

    def _items(self, sha: str) -> Results:
        got = self._whole.get(sha)
        if got is None:
            got = report_from_text(self._payload(sha, slim=False)).results
            assert got is not None
            if len(self._whole) >= RECENT:
                del self._whole[next(iter(self._whole))]
            self._whole[sha] = got
        return got


# -- matching ---------------------------------------------------------------------------------------------


def _at(report: FileReport, path: str) -> FileReport:
    """The report as of the file at ``path`` (it was made from the archive copy)."""
    return replace(report, path=path, findings=[replace(f, file=path) if f.file is not None else f for f in report.findings])


def _collection(led: Ledger, spec: Spec, roster: Roster | None, ctx: RunContext, files: Sequence[FileRow],
                seen: Sequence[Stored], reports: _Reports, unread: list[FileReport],
                skipped: list[tuple[str, str]], count_new: bool = False, since_run: int | None = None,
                inputs: "_Inputs | None" = None
                ) -> tuple[Collection, Sequence[Return], dict[int, str] | None, "Counter[str] | _NewByUnit | None"]:
    """The collection of this run; every return it weighed (those gone from the inbox that do not count too,
    which only 提交记录 shows); the sha256 of each return by ``id`` (None with :data:`SHAS_ON_RETURNS`: each
    return made from a file holds it, a :class:`~.view.Filed`); and with ``count_new``, the files received after run
    ``since_run`` by unit (None without). ``inputs``: told each file as it is walked (:class:`_Inputs`)."""
    if _matched_stored(roster, reports, files):
        return _collection_stored(led, spec, roster, ctx, files, seen, reports, unread, skipped, count_new, since_run,
                                  inputs)
    paths = _SeenWalk(seen)
    shas: dict[int, str] | None = None if SHAS_ON_RETURNS else {}
    inbox: list[Filed] = []
    gone: list[Filed] = []
    last_run: dict[int, int | None] = {}  # a return gone from the inbox: the last run that saw it (by ``id``)
    new: Counter[str] | None = Counter() if count_new else None
    for f in files:
        brief = reports.briefs[f.sha256]
        if new is not None and (f.first_seen_run or 0) > (since_run or 0) and brief.key:
            new[brief.key] += 1  # (the since-columns' files received since the last run, counted in this walk)
        at = paths.of(f)
        if inputs is not None:
            inputs.file(f, at, reports.made.get(f.sha256))
        for ret, archived in _returns_of(led, reports, f, at, brief):
            if archived:
                gone.append(ret)
                last_run[id(ret)] = f.last_seen_run
            else:
                inbox.append(ret)
            if shas is not None:
                shas[id(ret)] = f.sha256
    paths.done(led)
    judged: list[Return] = [r for r in inbox if not r.brief.transient]
    unjudged: list[Return] = [r for r in inbox if r.brief.transient] + [Return(r, 0.0) for r in unread]
    c = assemble(spec, roster, [*judged, *gone], skipped, verified=ctx.identity_verified, withdrawn=_withdrawn(led))
    for one in unjudged:
        _not_checked(one)
    for ret in gone:
        if ret.fate == COUNTED:
            _counted_from_archive(ret, last_run.get(id(ret)))
    every = judged + unjudged + gone
    if RETURNS_SETTLED:
        for one in every:
            one.settled()
    # Files gone from the inbox that do not count are in 提交记录 only; the roll-up's other sheets are this inbox.
    c.returns = judged + unjudged + [r for r in gone if r.fate == COUNTED]
    for row in c.rows:
        if not OTHERS_KEPT or any(o.archived for o in row.others):
            row.others = [o for o in row.others if not o.archived]
    return c, every, shas, new


def _matched_stored(roster: Roster | None, reports: _Reports, files: Sequence[FileRow]) -> bool:
    """Whether this run's returns are kept and matched in a store of its own (:data:`MATCH_STORED`)."""
    return (MATCH_STORED and len(files) >= MATCH_STORED_FROM and _units.AVAILABLE and reports.spill is not None
            and reports._moved is not None and WHERE_UNPAIRED and SHAS_ON_RETURNS
            and (roster is None or isinstance(roster.rows, PackedRows)))


def _collection_stored(led: Ledger, spec: Spec, roster: Roster | None, ctx: RunContext, files: Sequence[FileRow],
                       seen: Sequence[Stored], reports: _Reports, unread: list[FileReport],
                       skipped: list[tuple[str, str]], count_new: bool = False, since_run: int | None = None,
                       inputs: "_Inputs | None" = None
                       ) -> tuple[Collection, RoundReturns, None, "Counter[str] | _NewByUnit | None"]:
    """:func:`_collection` with the returns kept in a store of the run's own and matched there (:data:`MATCH_STORED`):
    the same collection, fates, notes and rows; every return the store's, made when asked for."""
    assert reports.spill is not None
    paths = _SeenWalk(seen)
    units = reports.spill.units = _units.Units()  # (closed with the spill, which the collection closes)
    kept = RoundReturns(units, reports.spill, reports._moved, reports.ledgered, settle=RETURNS_SETTLED)
    new: Counter[str] | _NewByUnit | None = None
    if count_new:
        new = _NewByUnit(units) if NEW_STORED and _NewByUnit.AVAILABLE else Counter()
    seq = 0  # (each return's order in the walk: its list's returns in the order the lists had them)
    run = reports.ledgered.run if reports.deferred and reports.ledgered is not None else None
    stored = led.report_briefs_by_file(run) if run is not None else None
    made: int | None = None
    head: int | None = None
    for f in files:
        reports.walked(f.sha256)
        if stored is not None:  # (the file's stored report read beside it: made now, or its brief and head now)
            text, made = next(stored)
            brief, head = reports.briefs.get(f.sha256), None
            if brief is None:
                if text is None:
                    raise LedgerError(f"{led.path}：台账中没有 sha256 为 {f.sha256} 的核对结果。")
                assert run is not None
                brief, head = _loaded(reports, led, run, f.sha256, text, head=reports.place(f.sha256) is None)
            else:
                made = reports.made.get(f.sha256)
        brief = reports.briefs[f.sha256]
        if new is not None and (f.first_seen_run or 0) > (since_run or 0) and brief.key:
            if isinstance(new, _NewByUnit):
                new.add(brief.key)
            else:
                new[brief.key] += 1
        made_any = False
        at = paths.of(f)
        if inputs is not None:
            inputs.file(f, at, made if stored is not None else reports.made.get(f.sha256))
        for ret, archived in _returns_of(led, reports, f, at, brief):
            if archived:
                kept.add_filed(GONE_LIST, seq, ret, f.last_seen_run, made=made, head=head)
            else:
                if ret.brief.transient:
                    _not_checked(ret)
                kept.add_filed(UNJUDGED if ret.brief.transient else JUDGED, seq, ret, made=made, head=head)
            seq += 1
            made_any = True
        if made_any:
            reports.forget(f.sha256)
    paths.done(led)
    if isinstance(new, _NewByUnit):
        new.flush()
    if not reports.walked_all():  # (a file validated not met in the files' order: they changed since)
        if stored is not None and hasattr(stored, "close"):
            stored.close()  # (the ledger's query, ended now)
        raise LedgerError(f"{led.path}：台账中的文件在汇总时发生了变化。")
    if stored is not None:
        if next(stored, None) is not None:
            raise LedgerError(f"{led.path}：台账中的文件在汇总时发生了变化。")
        # (where 汇总 and a kept sheet's key find them: the returns' records, by the file's sha256)
        assert reports.ledgered is not None
        reports.ledgered.heads = kept.of_file("head")  # type: ignore[assignment]
        reports.made = kept.of_file("made")  # type: ignore[assignment]
    for r in unread:
        one = Return(r, 0.0)
        _not_checked(one)
        kept.add_held(UNJUDGED, seq, one)
        seq += 1
    kept.flush()
    c = assemble(spec, roster, kept.in_list(JUDGED, GONE_LIST), skipped, verified=ctx.identity_verified,
                 withdrawn=_withdrawn(led))
    kept.matched()
    changed: list[Return] = []
    for one, last_seen in kept.gone(COUNTED):
        _counted_from_archive(one, last_seen)
        changed.append(one)
        if len(changed) >= 256:
            kept.save(changed)
            changed.clear()
    kept.save(changed)
    # a row's others without those gone from the inbox (the roll-up's other sheets are this inbox)
    redo: list[tuple[bytes | None, int]] = []
    for n, others in units.walk("SELECT n, others FROM row WHERE others IS NOT NULL AND n > ? ORDER BY n LIMIT ?", (-1,),
                                slice(0, 1)):
        places = array("q", others)
        here = array("q", (p for p in places if p >> _LIST_SHIFT != GONE_LIST))
        if len(here) != len(places):
            redo.append((here.tobytes() if here else None, n))
    units.many("UPDATE row SET others = ? WHERE n = ?", redo)
    units.index("ret_f", "CREATE INDEX ret_f ON ret(file_at, n)")  # (提交记录's walk: made now, as matching's are)
    c.returns = kept.shown(COUNTED)
    return c, kept, None, new


class _NewByUnit(Mapping[str, int]):
    """The files received since a run, counted by unit (:data:`NEW_STORED`): kept in the run's store (a table of the
    unit keys and their counts), a few hundred counted in memory at a time; read as a mapping (``get``), each key asked
    of the store."""

    #: An upsert (``ON CONFLICT ... DO UPDATE``) came in SQLite 3.24: an older library keeps the Counter.
    AVAILABLE = sqlite3.sqlite_version_info >= (3, 24, 0)

    def __init__(self, units: _units.Units) -> None:
        assert units.db is not None
        units.db.execute("CREATE TABLE new_by_key(key BLOB PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID")
        self._units = units
        self._pending: Counter[str] = Counter()

    def add(self, key: str) -> None:
        """One more file for ``key``."""
        self._pending[key] += 1
        if len(self._pending) >= 256:
            self.flush()

    def __getitem__(self, key: str) -> int:
        got = self._units.query("SELECT n FROM new_by_key WHERE key = ?", (_units.text(key),))
        if not got and key not in self._pending:
            raise KeyError(key)
        return (got[0][0] if got else 0) + self._pending.get(key, 0)

    def flush(self) -> None:
        """Add the counts held to the store's."""
        self._units.many("INSERT INTO new_by_key VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET n = n + excluded.n",
                         [(_units.text(k), n) for k, n in self._pending.items()])
        self._pending.clear()

    def __iter__(self) -> Iterator[str]:
        self.flush()
        for (key,) in self._units.query("SELECT key FROM new_by_key ORDER BY key"):
            yield _units.untext(key)

    def __len__(self) -> int:
        self.flush()
        return int(self._units.query("SELECT count(*) FROM new_by_key")[0][0])


def _returns_of(led: Ledger, reports: _Reports, f: FileRow, at: Sequence[tuple[str, float]], brief: Brief
                ) -> Iterator[tuple[Filed, bool]]:
    """The file's returns, each with whether it is gone from the inbox: one for each of its paths in the inbox (``at``),
    in order; or, with none, one from its archive copy when it may stand for a unit (a key, judged)."""
    received = _epoch(f.first_mtime)
    source = led.archive.text(f.archive_name)
    for i, (path, mtime) in enumerate(at):
        ret = reports.returned(f.sha256, path, mtime, last=i == len(at) - 1, arrival=f.first_seen_run,
                               received=received, source=None if SOURCE_UNHELD else source)
        ret.sha256, ret.file_at = f.sha256, f.arrival
        yield ret, False
    if not at and brief.key is not None and not brief.transient:
        # Gone from the inbox: it still stands for its unit if it is the newest (and not withdrawn).
        ret = reports.returned(f.sha256, f.last_path or source, received or 0.0, last=True, arrival=f.first_seen_run,
                               received=received, archived=True, source=source)
        ret.sha256, ret.file_at = f.sha256, f.arrival
        yield ret, True


def _loaded(reports: _Reports, led: Ledger, run: Run, sha: str, text: str, head: bool = True) -> tuple[Brief, int | None]:
    """A stored report's brief (now the file's, in ``reports``) and where the run's spill keeps its head (None: none;
    ``head`` False: not kept, the report made now is in the spill whole), from the text the ledger keeps
    (:data:`LOAD_WHEN_MATCHED`): as :func:`_load_stored` reads it."""
    brief, kept = _brief_and_head(text)
    if brief is None:  # (not this program's brief: the report's own, as _load_stored makes it)
        brief = Brief(report_from_text(led.report_payload(run, sha, slim=True)))
    reports.briefs[sha] = brief
    at = None
    if kept is not None and HEADS and head:
        assert reports.spill is not None
        at = reports.spill.put_packed(kept.encode("utf-8", "surrogatepass"))
    return brief, at


def _not_checked(ret: Return) -> None:
    """A return this run could not check (not matched): so told."""
    ret.fate = NOT_CHECKED
    ret.note = "本次未能核对（见问题清单），下次汇总时会重新读取"


def _counted_from_archive(ret: Return, last_seen: int | None) -> None:
    """A counted return gone from the inbox: so told, with the last run that saw it."""
    last = last_seen or "?"
    ret.note = f"{GONE}（最后一次见于第 {last} 次汇总），按台账中的归档副本计入" + (f"；{ret.note}" if ret.note else "")
    ret.add_finding(finding("return-missing-from-inbox", value=shown(ret.path), run=last, path=shown(ret.path)))


def _withdrawn(led: Ledger) -> dict[tuple[str, str], str]:
    """The returns the clerk withdrew (and did not reinstate): (unit key, sha256) → why, as matching takes them."""
    return {(w.unit_key, w.sha256): f"已撤回（{_local_day(w.withdrawn_at)}{'：' + w.reason if w.reason else ''}）"
            for w in led.withdrawals() if w.reinstated_at is None}


class _SeenWalk:
    """Each file's paths in this run's inbox, as the files are walked in their order: walked beside them (the ledger's
    :class:`~xltemplate.ledger.store.SeenKept`), or from a dict of the inputs by sha256."""

    def __init__(self, seen: Sequence[Stored]) -> None:
        self._by_sha: dict[str, list[Stored]] = {}
        self._walk: Iterator[tuple[str, list[tuple[str, float]]]] | None = None
        if isinstance(seen, store.SeenKept):
            self._walk = seen.by_file()  # (each file's paths this run, in the files' order: walked beside them)
        else:
            for s in seen:
                self._by_sha.setdefault(s.sha256, []).append(s)
        self._pending = next(self._walk, None) if self._walk is not None else None

    def of(self, f: FileRow) -> Sequence[tuple[str, float]]:
        """The file's paths and modification times in the inbox (none: gone from it)."""
        if self._walk is None:
            return [(s.path, s.mtime.timestamp()) for s in self._by_sha.get(f.sha256, ())]
        pending = self._pending
        if pending is not None and pending[0] == f.sha256:
            self._pending = next(self._walk, None)
            return pending[1]
        return ()

    def done(self, led: Ledger) -> None:
        """Every file seen is among the files (walked in the same order, none is left)."""
        if self._pending is not None:
            raise LedgerError(f"{led.path}：本次收到的文件 {self._pending[0]} 不在台账的文件中。")


#: A round's returns are kept in a store of the run's own (collect's, :class:`~.view.RoundReturns`) and matched there
#: as collect's are, each made when asked for (matching, 提交记录, the roll-up), where the run held lists of every
#: return (a :class:`~.view.Filed` a file) and every row from matching to the end of its roll-up, and each file's brief
#: to the end of matching (a second run at 30,000 files: 81 -> 69 MB, the matching's +27 MB between 10,000 and 30,000
#: now +5). Each return is made again for each walk (~5 us; a second run walks its returns and rows ~10 times): at
#: 10,000 files +0.34 s of matching's CPU and +0.39 s of the roll-up's (0.50 -> 0.84 and 1.07 -> 1.46 s, in process),
#: so from :data:`MATCH_STORED_FROM` files only. False: the lists (the tests compare).
MATCH_STORED = True
#: With MATCH_STORED, the stored reports' briefs are read as matching walks the files (each file's beside it, from one
#: query), not all before (:func:`_load_stored`): no dict of every file's brief, head and run that stored it from
#: loading to matching; the template guess is held to the templates the ledger keeps beside the stored reports. False:
#: loaded first (the tests compare). A report made by this run and stored is read back so too (its brief not held from
#: reading to matching: a first run's every file).
LOAD_WHEN_MATCHED = True
#: The files a round has received from which MATCH_STORED keeps its returns in the store (fewer: the lists, quicker
#: and a few MB more: 58 against 55 MB at 10,000). Tests set 0.
MATCH_STORED_FROM = 20_000


#: Each return made from a file holds its sha256 and its place in the files' order (:class:`~.view.Filed`): no dict
#: by ``id`` of every return's sha256 (~70 bytes a file), and 提交记录 walks the returns beside the files in arrival
#: order (:func:`~.view.by_file`), not a dict of every file's returns. False: the dicts (the tests compare).
SHAS_ON_RETURNS = True
#: Once matched, the run lets go of where each report is and of the briefs its returns hold a copy of
#: (:meth:`_Reports.let_go`). False: kept (the tests compare).
BRIEFS_LET_GO = True
#: The files validated (their sha256 and archive names: :func:`_stale`'s ``todo``) are let go of once read, where the
#: run held them to its end: on a first run every file, through matching and the roll-up's writing (~300 bytes a file,
#: 30 MB at 100,000, issue 15). False: held (the tests compare).
TODO_LET_GO = True
#: With BRIEFS_LET_GO, the dicts by sha256 that outlive matching (the run that stored each report, 汇总's heads) are
#: keyed again by the strings the returns hold (:class:`~.view.Filed`'s sha256, from the files' walk), where each kept
#: a second copy of every sha256 (read with the stored reports' briefs, or the files to validate: ~115 bytes a file,
#: 11 MB at 100,000, issue 15). False: kept as made (the tests compare).
SHAS_SHARED = True
#: Each sheet this run keeps for the next is stored in the ledger as it is made (inside finishing's transaction, as
#: before), not held until the roll-up is written (the six parts: ~54 MB of zlib XML at 100,000 units, issue 15).
#: False: held, then stored together (the tests compare).
PARTS_STORED_AS_MADE = True
#: The files received since the last finished run are counted by unit in matching's walk of the files (the last
#: finished run known before the run finishes: the same as its changes' previous run), not in a walk of their own for
#: the since-columns (a walk of every file from the ledger, ~0.1-0.2 s at 10,000). False: walked (the tests compare).
NEW_COUNTED_WHEN_MATCHED = True
#: The last return made from a file (most files have one) takes the file's brief itself, its path set to the return's
#: (:meth:`_Reports.returned`), where each return held a copy beside the file's, which was held to the end of
#: matching (a brief ~70 bytes a file, issue 15). False: a copy each (the tests compare).
BRIEF_MOVED_IN_PLACE = True
#: A return made from a file holds only where its report is (the sha256 of a stored report, or its place in the
#: run's spill), its path being its brief's, paired when the report is loaded (:meth:`~.view.Filed.report`), where
#: each held a tuple (where, path) through matching and the roll-up's writing (64 bytes a file, issue 15). False: the
#: tuple (the tests compare).
WHERE_UNPAIRED = True
#: A file's report is the stored one when it was not made by this run (not in the spill's places), where a set held the
#: sha256 of every stored report loaded, from loading to the end of matching (a set entry a file, ~4 MB at 100,000,
#: issue 15). False: the set (the tests compare).
LEDGERED_UNLISTED = True
#: The units a run changed (the since-columns' "changed" and "newly valid") are walked once from the ledger into a
#: flag on each row's key (:meth:`Ledger.changed_units`, :class:`~.view._Since`), where :meth:`Ledger.changes` made a
#: list of every change with the run's new files and those gone, then two sets of keys were held through the write
#: (a first run's every unit: +26 MB at 100,000 units between matching and 提交记录, issue 15). False: the Changes
#: and the sets (the tests compare).
CHANGES_WALKED = True
#: Once matched, a run's returns let go of their arrival and time received (:meth:`Return.settled`: only choosing
#: among a unit's files reads them), and with them, mostly, of their rare values (~110 bytes a file). False: kept
#: (the tests compare).
RETURNS_SETTLED = True
#: A return in the inbox holds no archive path (``Return.source``: nothing reads it; ~140 bytes a file, issue 15);
#: a return gone from the inbox still does. False: every return holds it (the tests compare).
SOURCE_UNHELD = True
#: A row's others are made again only when one of them is gone from the inbox, not an empty list for every row
#: (56 bytes a unit, issue 15). False: every row's (the tests compare).
OTHERS_KEPT = True


#: (samerun) The digests of what the kept sheets are made from — 文件清单's and 提交记录's facts, every row's key
#: (rollup.reuse._rows_key), 问题清单's returns, 汇总's counted files: each a walk of every file, return or row, 1.05 of 7.3 s
#: of a second run at 10,000 under cProfile; the whole command's CPU 3.24 -> 2.94 s, issue 15 — are taken from the last
#: run whose inputs were this run's (:class:`_Inputs`: a sha256 of everything matching reads, file by file as matching
#: walks them, ~0.03 s), kept in the ledger (``memo kept digests``), not made again. Only when every file's report is
#: stored (made now or before: a report made again is another), none is unread, and without a targets table. The digests
#: are the same either way (the kept sheets' keys, so the roll-up's bytes): False, each made (the tests compare;
#: tests/test_samerun.py checks each recalled one against the one made). Costs a run that keeps a memo (a first or a
#: third: a second one recalls and keeps none) ~0.4 MB of its peak at 10,000: SQLite's for the memo's write after the
#: run's transaction, at the peak (issue 15, 15q-samerun.md).
DIGESTS_RECALLED = True
_DIGESTS = "kept digests"
_DIGESTS_FORM = "kept digests 1"


class _Inputs:
    """A sha256 of everything a run's matching, its rows, its returns and the files' records read (so everything the
    kept sheets' digests are made from: rollup.reuse.Parts.digest): the writer (xltemplate's source, Python's version),
    the validator's version, the template, the roster's rows as packed and its columns, the keyring, the older versions,
    the clerk's withdrawals, the day, the local time zone, the archive's folder, the files skipped, the switches that
    choose a digest's form, and each file in arrival order (:meth:`file`): its ledger record (the last run that saw it
    told as "this run" when it is this one), its paths and modification times in this run's inbox (as the intake
    found them: their sha256 is the file's) and the run that stored its report (a report stored again is another).
    :meth:`hexdigest` is None when any file's report was not stored by a run (it cannot be told from another)."""

    def __init__(self, led: Ledger, run: Run, spec: Spec, roster: Roster | None, ctx: RunContext, day: dt.date,
                 skipped: Sequence[tuple[str, str]]) -> None:
        import hashlib
        import time

        self._run = run.id
        self._ok = roster is None or isinstance(roster.rows, PackedRows)
        rows = (roster.rows.digest(), roster.columns, roster.contact_columns
                ) if roster is not None and isinstance(roster.rows, PackedRows) else None
        view_mod = importlib.import_module("xltemplate.rounds.view")
        head = (_DIGESTS_FORM, reuse.writer_digest(), sys.version, VALIDATOR_VERSION, spec.spec_hash, spec.id,
                spec.version, roster is not None, rows, ctx.identity_verified,
                ctx.keyring.fingerprint if ctx.keyring is not None else None,
                sorted(s.spec_hash for s in ctx.older_versions()), led.withdrawals(), day.isoformat(),
                time.timezone, time.altzone, time.daylight, time.tzname, os.environ.get("TZ"), str(led.archive.root),
                list(skipped), reuse.DIGESTS_OF_FACTS, reuse.ROWS_KEY_PACKED, view_mod.RECEIVED_FACTS,
                view_mod.LAZY_RECEIVED)
        self._h = hashlib.sha256(repr(head).encode("utf-8", "surrogatepass") + b"\n")

    def file(self, f: FileRow, at: Sequence[tuple[str, float]], made: int | None) -> None:
        """The next file matching walks: its record, its paths in the inbox (``at``) and the run that stored its
        report."""
        if made is None:
            self._ok = False
            return
        self._h.update(repr((f.sha256, f.arrival, f.size, f.archive_name, f.first_seen_run, f.first_seen_at,
                             f.first_mtime, f.last_path, "now" if f.last_seen_run == self._run else f.last_seen_run,
                             made, list(at))).encode("utf-8", "surrogatepass") + b"\n")

    def hexdigest(self) -> str | None:
        return self._h.hexdigest() if self._ok else None


def _recalled(led: Ledger, digest: str) -> dict[str, str | None]:
    """The digests the kept sheets' keys are made of, as the last run whose inputs' digest was ``digest`` made them
    (``memo kept digests``); none when no such run kept them (or they are not of this form)."""
    text = led.memo(_DIGESTS)
    try:
        kept = json.loads(text) if text is not None else None
    except ValueError:
        return {}
    if not isinstance(kept, dict) or kept.get("form") != _DIGESTS_FORM or kept.get("inputs") != digest:
        return {}
    digests = kept.get("digests")
    if not isinstance(digests, dict):
        return {}
    return {str(k): v for k, v in digests.items() if v is None or (isinstance(v, str) and len(v) == 64)}


# -- small things ---------------------------------------------------------------------------------------------


def _epoch(text: str | None) -> float | None:
    return dt.datetime.fromisoformat(text).timestamp() if text else None


def _local_day(text: str) -> str:
    when = local_time(text)
    return f"{when:%Y-%m-%d}" if when else ""


@contextlib.contextmanager
def _no_progress(label: str, total: int) -> Iterator[Callable[[int], None]]:
    yield lambda n: None


__all__ = ["LedgerError", "Progress", "RoundResult", "collect_round"]
