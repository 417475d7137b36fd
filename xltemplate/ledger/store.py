"""The ledger: open it, record a run's files, cache reports, decide what counts, withdraw.

A run is used like this (what ``collect --ledger`` will do)::

    with Ledger.open("round.xlt.db", create=True, purpose="collect") as ledger:
        change = ledger.roster_change(snapshot)        # refuse or report when the roster changed
        run = ledger.begin_run(RunInfo(VALIDATOR_VERSION, spec_hash, inputs=paths, roster=snapshot))
        intake = ledger.ingest(run, files)             # hash, archive, record where each file was seen
        for todo in ledger.needs_report(run):          # only files never read under this template+validator
            ledger.store_reports(run, [to_stored(validate(todo.archive_path))])
        outcome = ledger.finish_run(run)               # which file counts per unit, and why

Every write is a transaction and files are archived before they are recorded,
so a process killed anywhere leaves a consistent ledger: the next process to
take the lock marks the run ``interrupted``, records the copies it had archived
(``origin = 'recovered'``) and removes its temporary files; reports it had
stored stay cached, so the next run only does what is left.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import sqlite3
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Collection, Iterable, Iterator, Sequence, TypeVar, overload

from ..fsutil import disk_full, scratch_full
from ..version import __version__
from . import archive as archive_mod, model, queries, schema, withdrawals
from .archive import Archive, Stored, Unread, archive_root, archive_setting, default_archive_dir, path_of, path_text
from ..errors import LedgerError, NotALedgerError
from .lock import LedgerLock
from .model import (
    FINISHED, INTERRUPTED, RULES, RUNNING, STATUSES, Absence, Cached, Changes, Choice, Decision, FileFate, FileRow, Intake, Move,
    Outcome, RosterChange, RosterSnapshot, Run, RunInfo, StoredReport, Summary, ToRead, UnitHistory, Withdrawal,
    canonical_json, saved_text, utc_text,
)

BATCH = 2000  # files archived, then recorded, per transaction (each commit is an fsync)
DEFAULT_WAIT = 10.0  # seconds a writer waits for another to finish before refusing


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Ledger:
    """One collection round's ledger (a SQLite file) and its archive; see the module docstring."""

    def __init__(self, path: Path, conn: sqlite3.Connection, lock: LedgerLock, archive: Archive,
                 clock: Callable[[], dt.datetime], readonly: bool) -> None:
        self.path = path
        self.conn = conn
        self.archive = archive
        self.readonly = readonly
        self._lock = lock
        self._clock = clock
        self.interrupted: list[int] = []  # runs found killed when this ledger was opened
        self.recovered: list[str] = []  # archived copies those runs had not recorded, now recorded
        self.backup: Path | None = None  # the copy made before migrating, when this open migrated
        self._rosters: dict[str, RosterSnapshot] = {}  # (see _roster)
        self.closed = False

    # -- opening --------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, create: bool = False, archive_dir: str | os.PathLike[str] | None = None,
             readonly: bool = False, wait: float = DEFAULT_WAIT, purpose: str = "",
             clock: Callable[[], dt.datetime] | None = None) -> "Ledger":
        """Open (or with ``create`` make) a ledger; a writer holds the ledger's lock until :meth:`close`.

        ``readonly`` takes no lock (SQLite's WAL lets it read while a run writes)
        unless the file must first be migrated. Refuses, with a Chinese message,
        a file that is not a ledger, a ledger from a newer xltemplate, and an
        ``archive_dir`` other than the one the ledger was made with.
        """
        path = Path(path)
        clock = clock or _now
        if not path.parent.is_dir():
            raise LedgerError(f"{path}：所在文件夹 {path.parent} 不存在。请先建立该文件夹，或换一个台账路径。")
        # Refuse what is not a ledger before taking the lock: nothing is written beside a wrong file.
        if path.exists() or path.is_symlink():
            schema.probe(path)
        elif readonly or not create:
            raise LedgerError(f"{path}：台账文件不存在。请检查路径；第一次汇总时会自动建立台账。")
        lock = LedgerLock(path)
        backup: Path | None = None
        try:
            if not readonly:
                lock.acquire(wait, purpose)
            if not path.exists() and not path.is_symlink():
                lock.acquire(wait, purpose)
                if not path.exists():
                    where = Path(archive_dir) if archive_dir is not None else default_archive_dir(path)
                    schema.create(path, {"round_id": uuid.uuid4().hex, "created_at": utc_text(clock()),
                                         "created_by": __version__, "archive_dir": archive_setting(path, where)})
            if schema.probe(path) < schema.SCHEMA_VERSION:
                lock.acquire(wait, purpose)
                backup = schema.migrate_file(path, utc_text(clock()), __version__)
            conn = schema.connect(path, readonly=readonly)
        except BaseException:
            lock.release()
            raise
        try:
            if readonly:
                lock.release()
            kept_dir = conn.execute("SELECT value FROM meta WHERE key = 'archive_dir'").fetchone()  # (not every memo)
            if kept_dir is None or not isinstance(kept_dir[0], str):
                raise NotALedgerError(f"{path}：台账文件不完整或已损坏（缺少归档文件夹的记录 archive_dir）。"
                                      "请用备份恢复，或换一个文件名建立新台账。")
            archive = Archive(archive_root(path, kept_dir[0], archive_dir))
            ledger = cls(path, conn, lock, archive, clock, readonly)
            ledger.backup = backup
            if not readonly:
                ledger._recover()
            return ledger
        except BaseException:
            conn.close()
            lock.release()
            raise

    def close(self) -> None:
        self.closed = True
        self.conn.close()
        self._lock.release()

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def meta(self) -> dict[str, str]:
        """meta's rows but the memos (:meth:`memo`: work kept to save doing it again, megabytes at 100,000 units)."""
        return dict(self.conn.execute("SELECT key, value FROM meta WHERE key NOT GLOB 'memo *'"))

    def memo(self, name: str) -> str | None:
        """What this tool kept in the ledger under ``name`` to save work it checks before it uses it (see
        :meth:`remember`), or None."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (f"memo {name}",)).fetchone()
        return str(row[0]) if row is not None else None

    def remember_parts(self, name: str, head: str, parts: Iterable[str], *, instead_of: Iterable[str] = ()) -> None:
        """Keep a memo too long for one row as a head (``memo NAME``, for :meth:`memo`) and its parts (``memo NAME/0``,
        ``memo NAME/1``, ...: ``memo(f"{name}/{i}")``), in one transaction, those of an earlier one of the name let go:
        each part made as it is written, not the whole text at once. ``instead_of``: the names of memos this one takes
        the place of (kept by an earlier layout: let go in the same transaction)."""
        self._writable()
        with schema.transaction(self.conn):
            for old in instead_of:
                self.conn.execute("DELETE FROM meta WHERE key = ?", (f"memo {old}",))
            self.conn.execute("DELETE FROM meta WHERE key > ? AND key < ?", (f"memo {name}/", f"memo {name}0"))
            for i, part in enumerate(parts):
                self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (f"memo {name}/{i}", part))
            self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (f"memo {name}", head))

    def remember(self, name: str, value: str) -> None:
        """Keep ``value`` under ``name`` for :meth:`memo` (a row of meta, ``memo NAME``: one kept a name)."""
        self._writable()
        with schema.transaction(self.conn):
            self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (f"memo {name}", value))

    @property
    def round_id(self) -> str:
        return self.meta["round_id"]

    def _recover(self) -> None:
        """Finish what killed runs left: mark them interrupted, record copies they archived, drop their temp files."""
        with schema.transaction(self.conn):
            running = [r for (r,) in self.conn.execute("SELECT id FROM runs WHERE state = ? ORDER BY id", (RUNNING,))]
            if running:
                self.conn.execute("UPDATE runs SET state = ? WHERE state = ?", (INTERRUPTED, RUNNING))
                known = {sha for (sha,) in self.conn.execute("SELECT sha256 FROM files")}
                stamp = utc_text(self._clock())
                for sha, name in self.archive.names():
                    if sha in known or not self.archive.verify(name, sha):
                        continue  # a copy that does not match its name is left alone, never recorded
                    known.add(sha)
                    self.conn.execute(
                        "INSERT INTO files(sha256, size, archive_name, first_seen_run, first_seen_at, first_mtime, origin)"
                        " VALUES (?, ?, ?, ?, ?, NULL, 'recovered')",
                        (sha, self.archive.path(name).stat().st_size, name, running[-1], stamp))
                    self.recovered.append(sha)
            self.interrupted = running
        self.archive.clean_temporary()

    def _writable(self, run: Run | None = None) -> None:
        if self.readonly:
            raise LedgerError(f"{self.path}：台账以只读方式打开，不能写入。")
        if run is not None:
            row = self.conn.execute("SELECT state FROM runs WHERE id = ?", (run.id,)).fetchone()
            if row is None or row[0] != RUNNING:
                raise LedgerError(f"{self.path}：第 {run.id} 次运行不在进行中（{row[0] if row else '不存在'}），不能再记录。")

    # -- runs -----------------------------------------------------------------------------

    def begin_run(self, info: RunInfo) -> Run:
        """Record that a run starts (committed at once: a run killed later shows as interrupted)."""
        self._writable()
        with schema.transaction(self.conn):
            roster_hash = self._keep_roster(info)
            cur = self.conn.execute(
                "INSERT INTO runs(state, started_at, xltemplate_version, validator_version, spec_hash, template_id,"
                " template_version, inputs, roster_hash, pid, host) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (RUNNING, utc_text(self._clock()), info.xltemplate_version or __version__, info.validator_version,
                 info.spec_hash, info.template_id, info.template_version,
                 json.dumps(list(info.inputs), ensure_ascii=False), roster_hash, os.getpid(), socket.gethostname()))
        return self.run(int(cur.lastrowid or 0))

    def _keep_roster(self, info: RunInfo) -> str | None:
        """Store the run's roster once by its hash (inside the caller's transaction); its hash, or None without one."""
        if info.roster is None:
            return None
        roster_hash = info.roster.hash
        if not model.STREAM_SNAPSHOT:
            self.conn.execute("INSERT OR IGNORE INTO rosters(hash, units, rows) VALUES (?, ?, ?)",
                              (roster_hash, len(info.roster.units), canonical_json(info.roster.as_json())))
        elif self.conn.execute("SELECT 1 FROM rosters WHERE hash = ?", (roster_hash,)).fetchone() is None:
            # (the text only for a roster the ledger has not kept: every run of a round given the same roster skips it)
            if not ROSTER_IN_PIECES or getattr(self.conn, "blobopen", None) is None:  # (Python 3.11's)
                self.conn.execute("INSERT INTO rosters(hash, units, rows) VALUES (?, ?, ?)",
                                  (roster_hash, len(info.roster.units), info.roster.text()))
            else:
                self._roster_in_pieces(roster_hash, info.roster)
        return roster_hash

    def _roster_in_pieces(self, roster_hash: str, roster: RosterSnapshot) -> None:
        """Store the roster's text (:meth:`RosterSnapshot.text`) a unit's piece at a time (:data:`ROSTER_IN_PIECES`):
        its length in UTF-8 first, a blank value of that length, then each piece written into it."""
        size = sum(len(piece.encode("utf-8")) for piece in roster.pieces())
        cur = self.conn.execute("INSERT INTO rosters(hash, units, rows) VALUES (?, ?, zeroblob(?))",
                                (roster_hash, len(roster.units), size))
        with getattr(self.conn, "blobopen")("rosters", "rows", int(cur.lastrowid or 0)) as blob:
            for piece in roster.pieces():
                blob.write(piece.encode("utf-8"))

    def retemplate(self, run: Run, info: RunInfo) -> Run:
        """A running run is another template's (its spec, template and roster as ``info`` says): a run whose template
        was a guess that the returns, once read, did not bear out. What it recorded and stored stays."""
        self._writable(run)
        with schema.transaction(self.conn):
            roster_hash = self._keep_roster(info)
            self.conn.execute("UPDATE runs SET validator_version = ?, spec_hash = ?, template_id = ?, template_version = ?,"
                              " roster_hash = ? WHERE id = ?", (info.validator_version, info.spec_hash, info.template_id,
                                                                info.template_version, roster_hash, run.id))
        return self.run(run.id)

    def run(self, run_id: int) -> Run:
        return queries.run(self.conn, run_id)

    def runs(self) -> list[Run]:
        return queries.runs(self.conn)

    def last_finished_run(self, before: int | None = None) -> Run | None:
        return queries.last_finished(self.conn, before)

    def finish_run(self, run: Run, choices: Iterable[Choice]) -> Outcome:
        """Record the caller's choices (which file counts for each unit, and why) and mark the run finished."""
        with self.finishing(run, choices) as outcome:
            pass
        return replace(outcome, run=self.run(run.id))

    @contextlib.contextmanager
    def finishing(self, run: Run, choices: Iterable[Choice], *, keep: bool = True) -> Iterator[Outcome]:
        """Record the choices and mark the run finished in one transaction that commits when the block ends.

        The ledger does not decide: ``collect`` does, by :mod:`xltemplate.resubmission`'s rules,
        and the ledger records each choice with what it knows (whether this run saw the file in
        the inbox, what counted in the previous finished run). Inside the block the queries
        (``changes``, ``fates`` …) already see this run as finished; the caller writes the roll-up
        there, so that a run whose roll-up was never written (killed, a full disk, a file open in
        Excel) is never recorded as finished: the next run's "since the last run" compares with
        the last roll-up the clerk could see. Any exception rolls everything back.

        ``keep=False``: the outcome's ``decisions`` are left empty (they are in the ledger: :meth:`decisions`), so that
        nothing a unit is held while the block runs (a round writes its roll-up there: issue 15).
        """
        with schema.transaction(self.conn):
            self._writable(run)
            if VERDICTS_INDEXED:
                self._verdicts_index()  # (a first run's, made once its reports are stored: see cached_by_file)
            if PARTS_XML_LAST:
                self._parts_xml_last()  # (before the roll-up reads or keeps a part: no part's blob is open)
            previous = queries.last_finished(self.conn, run.id)
            decisions: list[Decision] = []
            if keep:
                before = {d.unit_key: d.sha256 for d in queries.decisions(self.conn, previous.id)} if previous else {}
                here = {sha for (sha,) in self.conn.execute("SELECT sha256 FROM sightings WHERE run_id = ?", (run.id,))}

                def decided(c: Choice) -> Decision:
                    _known_rule(c)
                    prior = before.get(c.unit_key)
                    return Decision(run.id, c.unit_key, c.sha256, c.rule, c.candidates, c.status, c.errors,
                                    c.sha256 in here, prior if prior != c.sha256 else None)

                decisions = [decided(c) for c in sorted(choices, key=lambda c: c.unit_key)]
                del before, here  # (this frame stays while the caller's block runs)
                self.conn.executemany(
                    "INSERT INTO decisions(run_id, unit_key, sha256, rule, candidates, status, errors, in_inbox, supersedes)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    ((d.run_id, d.unit_key, d.sha256, d.rule, d.candidates, d.status, d.errors, int(d.in_inbox),
                      d.supersedes) for d in decisions))
            else:
                # Each choice inserted as it comes, whether this run saw its file and what it supersedes asked of the
                # ledger in the same statement (two index look-ups): no dict of the last run's decisions, no set of
                # this run's files, no list of the choices (each ~100,000 at 100,000 units, issue 15). The table is
                # WITHOUT ROWID: its rows are the same in whatever order they are inserted.
                prior = previous.id if previous else None
                self.conn.executemany(
                    "INSERT INTO decisions(run_id, unit_key, sha256, rule, candidates, status, errors, in_inbox, supersedes)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, EXISTS (SELECT 1 FROM sightings WHERE run_id = ? AND sha256 = ?),"
                    " (SELECT nullif(d.sha256, ?) FROM decisions AS d WHERE d.run_id = ? AND d.unit_key = ?))",
                    ((run.id, c.unit_key, c.sha256, c.rule, c.candidates, c.status, c.errors, run.id, c.sha256, c.sha256,
                      prior, c.unit_key) for c in choices if _known_rule(c)))
            unreported = [sha for sha, _ in self._unreported(run)]
            self.conn.execute("UPDATE runs SET state = ?, finished_at = ? WHERE id = ?",
                              (FINISHED, utc_text(self._clock()), run.id))
            yield Outcome(self.run(run.id), decisions, unreported)

    def abandon(self, run: Run) -> None:
        """Mark a run that will not finish (its roll-up could not be written) as interrupted; what it stored stays."""
        with schema.transaction(self.conn):
            self.conn.execute("UPDATE runs SET state = ? WHERE id = ? AND state = ?", (INTERRUPTED, run.id, RUNNING))

    # -- files ----------------------------------------------------------------------------

    def ingest(self, run: Run, paths: Sequence[str | os.PathLike[str]], *, batch: int = BATCH,
               progress: Callable[[int], None] | None = None, rehash: bool = False) -> Intake:
        """Hash and archive every input, and record where each was seen, ``batch`` files per transaction.

        An input unchanged since a run hashed it (:data:`~xltemplate.ledger.archive.STAT_SKIP`'s rule) is not read
        again, unless ``rehash``. ``progress(n)`` is called as each batch is recorded.
        """
        self._writable(run)
        began = time.time_ns()  # (before any input is read: see STAT_SKIP)
        skip = not rehash and archive_mod.STAT_SKIP
        known: Any
        hashed: Any
        if not INGEST_BY_BATCH:
            known = dict(self.conn.execute("SELECT sha256, archive_name FROM files"))
            hashed = None if not skip else {
                path: ((node, size, mtime, ctime), sha, checked) for path, node, size, mtime, ctime, sha, checked in
                self.conn.execute("SELECT path, node, size, mtime_ns, ctime_ns, sha256, checked_ns FROM stats")}
        seen: list[Stored] = []
        unread: list[Unread] = []
        first: set[str] = set()
        kept = SeenKept(self) if SEEN_IN_LEDGER else None  # (the inputs seen: in a table of the connection's own)
        for start in range(0, len(paths), batch):
            if INGEST_BY_BATCH:
                known, hashed = self._known_for(paths[start:start + batch], skip, began)
            results = self.archive.ingest(paths[start:start + batch], known, hashed)
            stamp = utc_text(self._clock())
            new_rows, sightings, problems, stats = [], [], [], []
            for res in results:
                if isinstance(res, Unread):
                    problems.append((run.id, path_text(res.path), res.reason))
                    unread.append(res)
                    continue
                is_first = res.sha256 not in known
                where, when = path_text(res.path), utc_text(res.mtime)
                if kept is not None:
                    kept.add(res, is_first, where, when)
                else:
                    seen.append(res if not SEEN_WITHOUT_STAT or res.stat is None else replace(res, stat=None))
                if is_first:
                    known[res.sha256] = res.name
                    if kept is None:
                        first.add(res.sha256)
                    new_rows.append((res.sha256, res.size, res.name, run.id, stamp, when))
                sightings.append((run.id, where, res.sha256, when, stamp))
                if res.stat is not None:
                    stats.append((path_text(res.path), *res.stat, res.sha256, began))
            self._record_batch(new_rows, sightings, problems, stats, kept)
            if progress:
                progress(len(results))
        if kept is not None:
            return Intake(kept, unread, _FirstSeen(self))
        return Intake(seen, unread, frozenset(first))

    def _known_for(self, paths: Sequence[str | os.PathLike[str]], skip: bool, began: int
                   ) -> tuple["_Known", dict[str, tuple[tuple[Any, ...], str, int]] | None]:
        """For one batch of :meth:`ingest`'s inputs: what the ledger knows of their paths (``hashed``: the stats table's
        rows for them, written before this run began), and the files it records (``known``, asked as needed)."""
        known = _Known(self.conn)
        if not skip:
            return known, None
        texts = [path_text(os.path.abspath(p)) for p in paths]
        hashed: dict[str, tuple[tuple[Any, ...], str, int]] = {}
        for at in range(0, len(texts), 500):  # (under SQLite's bound on a statement's parameters)
            part = texts[at:at + 500]
            for path, node, size, mtime, ctime, sha, checked, name in self.conn.execute(
                    "SELECT s.path, s.node, s.size, s.mtime_ns, s.ctime_ns, s.sha256, s.checked_ns, f.archive_name"
                    " FROM stats AS s LEFT JOIN files AS f ON f.sha256 = s.sha256"
                    f" WHERE s.path IN ({','.join('?' * len(part))}) AND s.checked_ns <> ?", (*part, began)):
                hashed[path] = ((node, size, mtime, ctime), sha, checked)
                known.names[sha] = name  # (asked by the hashing threads: they never query)
        return known, hashed

    def _record_batch(self, new_rows: list[tuple[Any, ...]], sightings: list[tuple[Any, ...]],
                      problems: list[tuple[Any, ...]], stats: Sequence[tuple[Any, ...]] = (),
                      kept: "SeenKept | None" = None) -> None:
        with schema.transaction(self.conn):
            if kept is not None:
                kept.record()
            self.conn.executemany("INSERT OR REPLACE INTO stats(path, node, size, mtime_ns, ctime_ns, sha256, checked_ns)"
                                  " VALUES (?, ?, ?, ?, ?, ?, ?)", stats)
            self.conn.executemany(
                "INSERT INTO files(sha256, size, archive_name, first_seen_run, first_seen_at, first_mtime, origin)"
                " VALUES (?, ?, ?, ?, ?, ?, 'inbox')", new_rows)
            # A path given twice in one run keeps what was read last.
            self.conn.executemany("INSERT OR REPLACE INTO sightings(run_id, path, sha256, mtime, seen_at)"
                                  " VALUES (?, ?, ?, ?, ?)", sightings)
            self.conn.executemany("INSERT OR REPLACE INTO unread(run_id, path, reason) VALUES (?, ?, ?)", problems)

    def files(self, run: Run) -> list[FileRow]:
        """Every file recorded up to ``run`` in arrival order, with where it was last seen (one query each)."""
        return queries.files(self.conn, run)

    def file_rows(self, run: Run) -> "Sequence[FileRow]":
        """:meth:`files` as a round's run reads them: with :data:`FILES_READ_AGAIN`, a view that reads them from the
        ledger each time it is walked (through a read-only connection of its own once this ledger is closed); else
        the list."""
        return FileRows(self, run) if FILES_READ_AGAIN else self.files(run)

    def archive_path(self, sha256: str) -> Path:
        row = self.conn.execute("SELECT archive_name FROM files WHERE sha256 = ?", (sha256,)).fetchone()
        if row is None:
            raise LedgerError(f"{self.path}：台账中没有 sha256 为 {sha256} 的文件。")
        return self.archive.path(row[0])

    def resolve_file(self, ref: str) -> str:
        """The sha256 of a file named by the clerk: a path (present or once seen), a file name, or a sha256 prefix."""
        return withdrawals.resolve_file(self.conn, self.path, ref)

    # -- reports --------------------------------------------------------------------------

    def cached(self, shas: Iterable[str], *, spec_hash: str, validator_version: str) -> set[str]:
        """Which of ``shas`` already have a report for this template and validator (one query)."""
        have = {sha for (sha,) in self.conn.execute(
            "SELECT sha256 FROM reports WHERE spec_hash = ? AND validator_version = ?", (spec_hash, validator_version))}
        return have.intersection(shas)

    def needs_report(self, run: Run) -> list[ToRead]:
        """Every file in the ledger (inbox or archive only) without a report for this run's template and validator."""
        here = {sha: path_of(p) for sha, p in self.conn.execute(
            "SELECT sha256, min(path) FROM sightings WHERE run_id = ? GROUP BY sha256", (run.id,))}
        return [ToRead(sha, self.archive.path(name), here.get(sha)) for sha, name in self._unreported(run)]

    def _unreported(self, run: Run) -> list[tuple[str, str]]:
        """(sha256, archive name) of files without a report for the run's pair, in arrival order (see
        :data:`UNREPORTED_JOINED`)."""
        if UNREPORTED_JOINED:
            return self.conn.execute(
                "SELECT f.sha256, f.archive_name FROM files AS f WHERE NOT EXISTS (SELECT 1 FROM reports AS r"
                " WHERE r.sha256 = f.sha256 AND r.spec_hash = ? AND r.validator_version = ?) ORDER BY f.id",
                (run.spec_hash, run.validator_version)).fetchall()
        have = {sha for (sha,) in self.conn.execute(
            "SELECT sha256 FROM reports WHERE spec_hash = ? AND validator_version = ?", (run.spec_hash, run.validator_version))}
        return [(sha, name) for sha, name in self.conn.execute("SELECT sha256, archive_name FROM files ORDER BY id")
                if sha not in have]

    def store_reports(self, run: Run, reports: Iterable[StoredReport]) -> None:
        """Cache reports under this run's template and validator, in one transaction.

        Do not store a result that depends on the machine rather than the bytes
        (a time-out, a crashed reader): it would be served again next time.
        """
        self._writable(run)
        rows = []
        for r in reports:
            if r.status not in STATUSES:
                raise ValueError(f"unknown report status {r.status!r}")
            rows.append((r.sha256, run.spec_hash, run.validator_version, run.id, r.status, r.unit_key,
                         saved_text(r.saved_at), r.template_id, r.template_version, r.errors, r.warnings,
                         r.total, r.grade, r.payload, r.context, _day(r.checked_on), _day(r.valid_until), r.slim, r.brief))
        with schema.transaction(self.conn):
            # A report made again (its context changed, its day passed) replaces the one it renews.
            self.conn.executemany(
                "INSERT OR REPLACE INTO reports(sha256, spec_hash, validator_version, created_run, status, unit_key,"
                " saved_at, template_id, template_version, errors, warnings, total, grade, payload, context, checked_on,"
                " valid_until, slim, brief) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def cached_by_file(self, run: Run) -> Iterator[Cached | None]:
        """For each file :meth:`files` gives, in its order, its stored report (:meth:`cached_reports`'s) or None."""
        indexed = False
        if VERDICTS_INDEXED:
            if not self.readonly and self.conn.execute("SELECT 1 FROM reports LIMIT 1").fetchone() is not None:
                # (a new ledger's is made when its first run finishes: an index kept up to date as each report is stored
                # costs ~4-5 s of CPU over 100,000 reports, made once after them ~0.25 s)
                self._verdicts_index()
            # (named only as this program makes it: one of the name made otherwise — another table's, partial, other
            # columns — may answer no such query, and is read around, as a ledger without it)
            indexed = self.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ? AND tbl_name = 'reports'"
                                        " AND sql = ?", (queries.VERDICTS_INDEX, _VERDICTS_MADE)).fetchone() is not None
        return queries.cached_by_file(self.conn, run, indexed=indexed)

    def _verdicts_index(self) -> None:
        """Make :data:`VERDICTS_INDEXED`'s index if the ledger lacks it (writable ledgers only)."""
        self.conn.execute(_VERDICTS_MADE.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1))

    def cached_reports(self, run: Run) -> list[Cached]:
        """Every stored report for this run's template and validator, without its payload (one query)."""
        return queries.cached(self.conn, run)

    def report_payloads(self, run: Run) -> Iterator[tuple[str, str]]:
        """(sha256, payload) of every cached report for this run's template and validator, one at a time: the
        payloads of a whole round are never all in memory at once."""
        return queries.payloads(self.conn, run)

    def report_payloads_made(self, run: Run, *, slim: bool = False) -> Iterator[tuple[str, str, int | None]]:
        """(sha256, payload, the run that made it) of every cached report for this run's template and validator:
        :meth:`report_payloads` with what tells one report of the same file from another made later. ``slim``: the
        slim payload where there is one (version 4)."""
        yield from self.conn.execute(
            f"SELECT sha256, {'coalesce(slim, payload)' if slim else 'payload'}, created_run FROM reports"
            " WHERE spec_hash = ? AND validator_version = ?", (run.spec_hash, run.validator_version))

    def report_briefs(self, run: Run) -> Iterator[tuple[str, str | None, int | None]]:
        """(sha256, the caller's brief or None, the run that made it) of every cached report for this run's template
        and validator (version 4: a report stored before has no brief)."""
        yield from self.conn.execute("SELECT sha256, brief, created_run FROM reports WHERE spec_hash = ? AND validator_version = ?",
                                     (run.spec_hash, run.validator_version))

    def report_briefs_by_file(self, run: Run) -> Iterator[tuple[str | None, int | None]]:
        """For each file :meth:`files` gives, in its order: its stored report's brief (the caller's; None without a
        stored report for this run's template and validator, or one stored before the ledger kept briefs) and the run
        that made it; one at a time, from one query."""
        yield from self.conn.execute(
            "SELECT r.brief, r.created_run FROM files AS f"
            " LEFT JOIN reports AS r ON r.sha256 = f.sha256 AND r.spec_hash = ? AND r.validator_version = ?"
            " WHERE coalesce(f.first_seen_run, 0) <= ? ORDER BY f.id", (run.spec_hash, run.validator_version, run.id))

    def briefs_kept(self, run: Run) -> bool:
        """Whether every stored report for this run's template and validator keeps its brief (none stored before)."""
        return self.conn.execute("SELECT 1 FROM reports WHERE spec_hash = ? AND validator_version = ? AND brief IS NULL"
                                 " LIMIT 1", (run.spec_hash, run.validator_version)).fetchone() is None

    def seen_templates(self, run: Run) -> Iterator[tuple[str, str | None, str | None]]:
        """For each input this run's intake saw (:class:`SeenKept`), in order: its file's sha256 and the template
        (id, version) its stored report for this run's template and validator names (None, None: none stored)."""
        yield from self.conn.execute(
            "SELECT s.sha256, r.template_id, r.template_version FROM temp.seen_now AS s"
            " LEFT JOIN reports AS r ON r.sha256 = s.sha256 AND r.spec_hash = ? AND r.validator_version = ?"
            " ORDER BY s.seq", (run.spec_hash, run.validator_version))

    def report_payload(self, run: Run, sha256: str, *, slim: bool = False) -> str:
        """One cached report's payload for this run's template and validator (``slim``: the slim one where there is
        one), by its file's sha256."""
        row = self.conn.execute(
            f"SELECT {'coalesce(slim, payload)' if slim else 'payload'} FROM reports"
            " WHERE sha256 = ? AND spec_hash = ? AND validator_version = ?",
            (sha256, run.spec_hash, run.validator_version)).fetchone()
        if row is None:
            raise LedgerError(f"{self.path}：台账中没有 sha256 为 {sha256} 的核对结果。")
        return str(row[0])

    def report_made(self, run: Run) -> dict[str, int | None]:
        """The run that made each cached report for this run's template and validator, by sha256 (no payload)."""
        return dict(self.conn.execute("SELECT sha256, created_run FROM reports WHERE spec_hash = ? AND validator_version = ?",
                                      (run.spec_hash, run.validator_version)))

    # -- the roll-up's parts --------------------------------------------------------------

    def parts(self, lazy: bool = False) -> dict[str, Sequence[Any]]:
        """The sheets the last finished run kept (:mod:`xltemplate.rollup.reuse`): name → (key, state JSON, zlib XML).

        ``lazy``: each one's XML read from the ledger when asked for (``part[2]``: a sheet given whole), not with
        the others: a sheet written anew never reads it (at 100,000 units the six parts are ~54 MB, issue 15)."""
        if lazy:
            return {name: _KeptPart(self, name, key, state) for name, key, state in
                    self.conn.execute("SELECT name, key, state FROM parts")}
        return {name: (key, state, bytes(xml)) for name, key, state, xml in
                self.conn.execute("SELECT name, key, state, xml FROM parts")}

    def store_parts(self, run: Run, parts: Iterable[tuple[str, str, str, Any]]) -> None:
        """Keep (name, key, state JSON, zlib XML) of sheets this run wrote: in the caller's transaction (the run's
        :meth:`finishing`), so that what is kept is what the finished run's roll-up holds. The XML is bytes, or
        where a file holds it (``len`` and ``pieces(size)``: rollup.reuse.Slice), written in pieces."""
        self._writable()  # (the run is already marked finished inside finishing's transaction)
        try:
            self._store_parts(run, parts)
        except sqlite3.OperationalError as exc:
            # (review: called while the roll-up is written, whose writer said a full ledger disk as a full temporary
            # folder, fsutil.scratch_error; said as the ledger's here, naming it, as schema.transaction says it)
            told = schema.storage_error(self.conn, exc)
            if told is None:
                raise
            raise told from exc

    def _store_parts(self, run: Run, parts: Iterable[tuple[str, str, str, Any]]) -> None:
        whole: list[tuple[Any, ...]] = []
        conn: Any = self.conn
        for name, key, state, xml in parts:
            if isinstance(xml, bytes) or not hasattr(conn, "blobopen"):
                whole.append((name, key, state, xml if isinstance(xml, bytes) else b"".join(xml.pieces(PIECE)), run.id))
                continue
            # where a file holds it (rollup.reuse.Slice): written into the ledger in pieces, never held whole
            row = conn.execute("INSERT OR REPLACE INTO parts(name, key, state, xml, run_id) VALUES (?, ?, ?, zeroblob(?), ?)",
                               (name, key, state, len(xml), run.id)).lastrowid
            with conn.blobopen("parts", "xml", row) as blob:
                for piece in xml.pieces(PIECE):
                    blob.write(piece)
        self.conn.executemany("INSERT OR REPLACE INTO parts(name, key, state, xml, run_id) VALUES (?, ?, ?, ?, ?)", whole)

    def _parts_xml_last(self) -> None:
        """``parts`` made again with ``xml`` its last column (:data:`PARTS_XML_LAST`), once, in the caller's transaction:
        each kept part moved a piece at a time (SQLite's incremental blob I/O), never held whole. A table of any
        other columns (a newer program's) is left as it is; so is one whose rows the new table refuses (a part of a
        run the ledger does not have, left by a tool that wrote the file with foreign keys off: the run goes on as
        the code before went on, the move only saves memory)."""
        conn: Any = self.conn
        columns = [c[1] for c in conn.execute("PRAGMA table_info(parts)")]
        if columns != list(_PARTS_XML_BEFORE) or not hasattr(conn, "blobopen"):  # (Python before 3.11: as it is)
            return
        conn.execute("SAVEPOINT parts_xml_last")
        try:
            self._move_parts(conn)
        except sqlite3.IntegrityError:
            conn.execute("ROLLBACK TO parts_xml_last")
        conn.execute("RELEASE parts_xml_last")

    @staticmethod
    def _move_parts(conn: Any) -> None:
        conn.execute(_PARTS_XML_LAST_TABLE)
        for rowid, name, key, state, run_id, kind, size in conn.execute(
                "SELECT rowid, name, key, state, run_id, typeof(xml), length(xml) FROM parts ORDER BY rowid").fetchall():
            if kind != "blob":  # (never kept so by this program: moved as it is, its type too)
                conn.execute("INSERT INTO parts_xml_last(name, key, state, run_id, xml)"
                             " SELECT name, key, state, run_id, xml FROM parts WHERE rowid = ?", (rowid,))
                continue
            new = conn.execute("INSERT INTO parts_xml_last(name, key, state, run_id, xml) VALUES (?, ?, ?, ?, zeroblob(?))",
                               (name, key, state, run_id, size)).lastrowid
            with conn.blobopen("parts", "xml", rowid, readonly=True) as src, \
                    conn.blobopen("parts_xml_last", "xml", new) as dst:
                while piece := src.read(PIECE):
                    dst.write(piece)
        conn.execute("DROP TABLE parts")
        conn.execute("ALTER TABLE parts_xml_last RENAME TO parts")

    def reports(self, run: Run, shas: Iterable[str] | None = None) -> dict[str, StoredReport]:
        """The cached reports for this run's template and validator (all, or those of ``shas``)."""
        return queries.reports(self.conn, run, shas)

    # -- roster ---------------------------------------------------------------------------

    def roster(self, run: Run) -> RosterSnapshot | None:
        return self._roster(run.roster_hash)

    def _roster(self, roster_hash: str | None) -> RosterSnapshot | None:
        """The roster snapshot of ``roster_hash`` (its content's sha256: loaded once per ledger opened, 10,000 units
        take a tenth of a second)."""
        if roster_hash is None:
            return None
        got = self._rosters.get(roster_hash)
        if got is None:
            got = queries.roster(self.conn, roster_hash)
            if got is not None:
                self._rosters = {roster_hash: got}  # (one kept: a run asks for its last run's, a few times)
        return got

    def roster_change(self, snapshot: RosterSnapshot | None) -> RosterChange | None:
        """What differs between ``snapshot`` and the last finished run's roster; None when nothing does.

        The caller reports units added or removed and lets the clerk decide; the
        ledger only records each run's roster. None too when there is nothing to
        compare (no earlier run with a roster, or no roster now).
        """
        last = queries.last_finished(self.conn, None)
        if model.STREAM_SNAPSHOT and (last is None or snapshot is None or last.roster_hash == snapshot.hash):
            return None  # (the same hash, the same canonical text: nothing differs, and the last one is not loaded)
        before = self._roster(last.roster_hash) if last else None
        if before is None or snapshot is None:
            return None
        return queries.compare_rosters(before, snapshot) or None

    def roster_size(self, run: Run) -> int | None:
        """How many units the roster of ``run`` had (None: it had none), without loading it."""
        if run.roster_hash is None:
            return None
        row = self.conn.execute("SELECT units FROM rosters WHERE hash = ?", (run.roster_hash,)).fetchone()
        return None if row is None else int(row[0])

    # -- withdrawals ----------------------------------------------------------------------

    def withdraw(self, key: str, sha256: str, reason: str) -> Withdrawal:
        """Take a unit's return out of the count from the next run on (it stays in the ledger and archive)."""
        self._writable()
        return withdrawals.withdraw(self.conn, self.path, key, sha256, reason, utc_text(self._clock()))

    def reinstate(self, key: str, sha256: str, reason: str) -> Withdrawal:
        """Undo a withdrawal: the file is a candidate again from the next run on."""
        self._writable()
        return withdrawals.reinstate(self.conn, self.path, key, sha256, reason, utc_text(self._clock()))

    def withdrawals(self) -> list[Withdrawal]:
        return queries.withdrawals(self.conn)

    # -- what the clerk asks --------------------------------------------------------------

    def decisions(self, run: Run) -> list[Decision]:
        return queries.decisions(self.conn, run.id)

    def history(self, key: str) -> UnitHistory:
        return queries.history(self.conn, key)

    def changes(self, run: Run) -> Changes:
        return queries.changes(self.conn, run)

    def changed_units(self, run: Run) -> Iterator[tuple[str, bool]]:
        """The units whose counted file or status ``run`` changed, in key order, each with whether it is newly valid:
        :meth:`changes`' ``units`` walked as they come, without the rest of what :meth:`changes` gathers."""
        return queries.changed_units(self.conn, run)

    def absent(self, run: Run) -> list[Absence]:
        return queries.absent(self.conn, run)

    def moves(self, run: Run) -> list[Move]:
        return queries.moves(self.conn, run)

    def fates(self, run: Run) -> list[FileFate]:
        return queries.fates(self.conn, run)

    def summary(self, run: Run | None = None) -> Summary:
        return queries.summary(self.conn, self.path, run)



#: Ledger.ingest asks the ledger, a batch of inputs at a time, for the stats of their paths and the archive names of
#: the files it hashes, where it held a dict of every path's stats and one of every file's archive name (~100,000
#: each at 100,000 returns, issue 15). False: the dicts (the tests compare).
INGEST_BY_BATCH = True


#: :meth:`Ledger.ingest`'s ``seen`` hold no stat (it is recorded in the ledger's ``stats`` as the batch is, and read
#: nowhere else: ~200 bytes a file, 20 MB at 100,000 held through a run's reading and matching, issue 15). False:
#: each input's stat kept (the tests compare).
SEEN_WITHOUT_STAT = True
#: A round's run walks its files (every file the round has received) from the ledger each time it reads them
#: (:class:`FileRows`: ~5 walks a run), where a list held a FileRow a file (~500 bytes: ~50 MB at 100,000, issue 15).
#: False: the list (the tests compare).
FILES_READ_AGAIN = True


#: :meth:`Ledger.ingest` keeps the inputs it saw (and which of them it recorded first) in a temporary table of the
#: ledger's connection, in the inputs' order, read back when walked (:class:`SeenKept`), where ``Intake.seen`` held a
#: Stored for every input (path, sha256, archive name, datetime: ~500 bytes a file, and the set of the files recorded
#: first: ~50 MB at 100,000 held from the intake to the end of matching, issue 15). False: the list and the set (the
#: tests compare).
SEEN_IN_LEDGER = True


#: The pieces a kept part is written into the ledger in, when it is given as where a file holds it (Ledger.store_parts).
PIECE = 1 << 16

#: ``parts`` with ``xml`` its last column (:meth:`Ledger._parts_xml_last`, as a run finishes, once a ledger), so that a
#: part kept as made (``INSERT … zeroblob(n)``, then written a piece at a time) is written without SQLite holding it:
#: with a column after ``xml`` (``run_id``, whose value takes bytes in the record) SQLite fills the zeroblob with zeros
#: in memory and then makes the record from it, twice the part's size for the moment of the INSERT (measured: 42 MB of
#: SQLite's memory for a 20 MB part; none with ``xml`` last). At 100,000 units the largest part (指标得分) is 14.5 MB:
#: a round's third run peaked 63 -> 90 MB in the roll-up's last step, as the zip's parts were kept. Older programs read
#: and write the table by its columns' names: the same table to them (no schema version). False: the table as it is.
PARTS_XML_LAST = True
#: ``parts``' columns as version 4 made them, and the table :data:`PARTS_XML_LAST` makes in its place.
_PARTS_XML_BEFORE = ("name", "key", "state", "xml", "run_id")
_PARTS_XML_LAST_TABLE = """CREATE TABLE parts_xml_last (
    name   TEXT PRIMARY KEY,          -- the roll-up sheet's name
    key    TEXT NOT NULL,             -- sha256 of everything the sheet is made from
    state  TEXT NOT NULL,             -- JSON: what writing the sheet leaves beside its XML (its last row, sums)
    run_id INTEGER NOT NULL REFERENCES runs(id),  -- the run that wrote it
    xml    BLOB NOT NULL              -- the sheet's XML part, zlib-compressed (last: see PARTS_XML_LAST)
)"""


_T = TypeVar("_T")


class Walked(Sequence[_T]):
    """A sequence made each time it is walked (``__iter__``, ``__len__``: the subclass's); an item or a slice asked
    for makes it whole (nothing asks so: as a list would)."""

    @overload
    def __getitem__(self, i: int) -> _T: ...
    @overload
    def __getitem__(self, i: slice) -> list[_T]: ...
    def __getitem__(self, i: int | slice) -> _T | list[_T]:
        return list(self)[i]


#: What a stored report's verdict is read by (Ledger.cached_by_file: its key, context and the days it holds) is read
#: from an index of those columns (``reports_verdicts``, made when first asked for on a writable ledger: 0.09 s at
#: 10,000 reports, once), not from the reports' rows, where each row's payload (~8 KB, before those columns) has its
#: overflow pages walked to reach them: the query 0.11 -> 0.03 s of a second run's CPU at 10,000 (issue 15). An index
#: older programs ignore (no schema version). False: the rows (the tests compare).
VERDICTS_INDEXED = True


#: The files without a report for a run's template and validator (:meth:`Ledger._unreported`, asked as every run
#: finishes and by :meth:`Ledger.needs_report`) found by one query, each file's report looked up in the reports'
#: primary key (NOT EXISTS, a covering index search a file), where a set held the sha256 of every stored report, a str
#: each (~150 bytes a report: at 100,000 files a round's second run peaked 57 -> 71 MB as it finished, issue 15); also
#: the quicker (CPU at 10,000 / 30,000 / 100,000 files: 0.009 / 0.075 / 0.32 s, the set 0.033 / 0.131 / 0.46 s).
#: False: the set (the tests compare).
UNREPORTED_JOINED = True
#: How this program makes that index (one of its name made otherwise is read around: Ledger.cached_by_file).
_VERDICTS_MADE = f"CREATE INDEX {queries.VERDICTS_INDEX} ON reports({queries.VERDICTS_COLUMNS})"


#: A first run's roster (one the ledger has not kept) is stored a unit's text at a time, written into its value in the
#: ledger (Connection.blobopen), where its whole canonical JSON was made at once, copied and bound (~1 KB a unit for a
#: moment: 49 -> 68 MB at the intake's end from 10,000 to 30,000 units, the first run's early peak). The same bytes,
#: kept as a BLOB rather than TEXT (the ledger reads either: json.loads). False: the text (the tests compare).
ROSTER_IN_PIECES = True


class FileRows(Walked[FileRow]):
    """:meth:`Ledger.files` read from the ledger each time it is walked (:func:`queries.files_joined`), its length
    counted once; after the ledger is closed, through a read-only connection opened for the walk."""

    def __init__(self, led: Ledger, run: Run) -> None:
        self._led, self._path, self._run = led, led.path, run
        self._len = queries.count_files(led.conn, run)

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[FileRow]:
        led = self._led
        if not led.closed:
            yield from queries.files_joined(led.conn, self._run)
            return
        conn = schema.connect(self._path, readonly=True)
        try:
            yield from queries.files_joined(conn, self._run)
        finally:
            conn.close()


class _Known:
    """``Ledger.ingest``'s ``known`` for one batch (:meth:`Ledger._known_for`): a file's archive name by sha256, None
    for a file the ledger does not record, asked of the ledger once and kept for the batch. The hashing threads ask
    only for the files ``hashed`` names, which are kept before they start: only the caller's thread queries."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.names: dict[str, str | None] = {}

    def get(self, sha: str, default: str | None = None) -> str | None:
        if sha not in self.names:
            row = self.conn.execute("SELECT archive_name FROM files WHERE sha256 = ?", (sha,)).fetchone()
            self.names[sha] = row[0] if row is not None else None
        got = self.names[sha]
        return default if got is None else got

    def __contains__(self, sha: object) -> bool:
        return isinstance(sha, str) and self.get(sha) is not None

    def __setitem__(self, sha: str, name: str) -> None:
        self.names[sha] = name


def _known_rule(c: Choice) -> bool:
    if c.rule not in RULES:
        raise ValueError(f"unknown decision rule {c.rule!r}")
    return True


class _KeptPart(Sequence[Any]):
    """A kept sheet as :meth:`Ledger.parts` gives it with ``lazy``: (key, state JSON, zlib XML), the XML read from the
    ledger (through its connection, open while the roll-up is written) when asked for."""

    def __init__(self, led: Ledger, name: str, key: str, state: str) -> None:
        self._led, self._name, self._key, self._state = led, name, key, state

    @property
    def available(self) -> bool:
        """Whether its XML can still be read: not once the ledger is closed (a round's collection written again
        after its run, as the library allows: its sheets are then written anew, the same bytes)."""
        return not self._led.closed

    def __len__(self) -> int:
        return 3

    @overload
    def __getitem__(self, i: int) -> Any: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[Any, ...]: ...
    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return tuple(self[n] for n in range(3)[i])
        n = range(3)[i]  # (IndexError past the three)
        if n == 0:
            return self._key
        if n == 1:
            return self._state
        row = self._led.conn.execute("SELECT xml FROM parts WHERE name = ?", (self._name,)).fetchone()
        if row is None:
            raise LedgerError(f"{self._led.path}：台账中没有工作表 {self._name} 的保存内容。")
        return bytes(row[0])

    def deflated_size(self) -> int:
        """How many bytes its XML is (as kept: zlib)."""
        row = self._led.conn.execute("SELECT length(xml) FROM parts WHERE name = ?", (self._name,)).fetchone()
        if row is None:
            raise LedgerError(f"{self._led.path}：台账中没有工作表 {self._name} 的保存内容。")
        return int(row[0])

    def pieces(self, size: int) -> Iterator[bytes]:
        """Its XML (as ``self[2]``) in pieces of ``size`` bytes, read from the ledger as they are asked for (SQLite's
        incremental blob I/O: the part is never held whole)."""
        conn: Any = self._led.conn
        if not hasattr(conn, "blobopen"):  # (Python before 3.11: read whole)
            whole = self[2]
            for start in range(0, len(whole), size):
                yield whole[start:start + size]
            return
        row = conn.execute("SELECT rowid FROM parts WHERE name = ?", (self._name,)).fetchone()
        if row is None:
            raise LedgerError(f"{self._led.path}：台账中没有工作表 {self._name} 的保存内容。")
        with conn.blobopen("parts", "xml", row[0], readonly=True) as blob:
            while True:
                piece = blob.read(size)
                if not piece:
                    return
                yield piece


def _day(day: dt.date | None) -> str | None:
    return day.isoformat() if day is not None else None


class SeenKept(Walked[Stored]):
    """``Intake.seen`` with :data:`SEEN_IN_LEDGER`: each input seen (stat aside, as :data:`SEEN_WITHOUT_STAT` keeps it),
    kept in the temporary table ``seen_now`` of the ledger's connection in the inputs' order (``seq``), with whether
    this run recorded its file first; added a batch at a time inside the batch's transaction (:meth:`record`). Read
    while the ledger is open (a run reads it before it finishes). An ingest begins it anew."""

    def __init__(self, led: Ledger) -> None:
        self._conn = led.conn
        self._conn.execute("CREATE TEMP TABLE IF NOT EXISTS seen_now (seq INTEGER PRIMARY KEY, path TEXT NOT NULL,"
                           " sha256 TEXT NOT NULL, size INTEGER NOT NULL, name TEXT NOT NULL, mtime TEXT NOT NULL,"
                           " stamp REAL NOT NULL, published INTEGER NOT NULL, first INTEGER NOT NULL)")
        self._conn.execute("DELETE FROM temp.seen_now")
        self._rows: list[tuple[Any, ...]] = []
        self._len = 0

    def add(self, res: Stored, first: bool, where: str, when: str) -> None:
        """Keep ``res`` (its path as the ledger stores it, ``where``, and its time, ``when``: :func:`utc_text`)."""
        self._rows.append((self._len, where, res.sha256, res.size, res.name, when, res.mtime.timestamp(),
                           res.published, first))
        self._len += 1

    def record(self) -> None:
        """Write the inputs added since the last call (inside the caller's transaction)."""
        try:
            self._conn.executemany("INSERT INTO temp.seen_now VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", self._rows)
        except sqlite3.OperationalError as exc:
            # (review: the temporary table is SQLite's file in TMPDIR, not the ledger: a full disk here is said as the
            # temporary folder's, as the roll-up's writer says it, where the batch's transaction said the ledger's)
            if disk_full(exc):
                raise scratch_full() from exc
            raise
        self._rows = []

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[Stored]:
        for path, sha, size, name, mtime, published in self._conn.execute(
                "SELECT path, sha256, size, name, mtime, published FROM temp.seen_now ORDER BY seq"):
            yield Stored(path_of(path), sha, size, name, dt.datetime.fromisoformat(mtime), published=bool(published))

    def by_file(self) -> Iterator[tuple[str, list[tuple[str, float]]]]:
        """Each file seen (its sha256) with the paths it was seen at and their modification times (as a timestamp), in
        the files' order (arrival, as :func:`queries.files_joined` walks them), each file's paths in the inputs'."""
        sha: str | None = None
        at: list[tuple[str, float]] = []
        for s, path, stamp in self._conn.execute(
                "SELECT k.sha256, k.path, k.stamp FROM temp.seen_now AS k JOIN files AS f ON f.sha256 = k.sha256"
                " ORDER BY f.id, k.seq"):
            if s != sha:
                if sha is not None:
                    yield sha, at
                sha, at = s, []
            at.append((path_of(path), stamp))
        if sha is not None:
            yield sha, at


class _FirstSeen(Collection[str]):
    """``Intake.first_seen`` with :data:`SEEN_IN_LEDGER`: the sha256 of the files this run recorded first, asked of
    :class:`SeenKept`'s table (counted once)."""

    def __init__(self, led: Ledger) -> None:
        self._conn = led.conn
        self._len = int(self._conn.execute("SELECT count(DISTINCT sha256) FROM temp.seen_now WHERE first").fetchone()[0])

    def __len__(self) -> int:
        return self._len

    def __contains__(self, sha: object) -> bool:
        return isinstance(sha, str) and self._conn.execute(
            "SELECT 1 FROM temp.seen_now WHERE sha256 = ? AND first LIMIT 1", (sha,)).fetchone() is not None

    def __iter__(self) -> Iterator[str]:
        for (sha,) in self._conn.execute("SELECT sha256 FROM temp.seen_now WHERE first GROUP BY sha256 ORDER BY min(seq)"):
            yield sha
