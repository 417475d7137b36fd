"""Reading the ledger: runs, decisions, a unit's history, what changed, what went missing, 提交记录.

Each query is one or a few SQL statements over indexed columns; the Python
around them only groups rows. They read, never write, so they work on a ledger
opened read-only while a run is writing it.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..errors import LedgerError
from .archive import path_of
from .model import (
    COUNTED, FINISHED, INTERRUPTED, NO_KEY, NOT_CHECKED, NOT_IN_ROSTER, SUPERSEDED, UNMATCHED, UNREADABLE,
    UNREADABLE_FILE,
    VALID, WITHDRAWN, Absence, Cached, Changes, Decision, FileFate, FileRow, HistoryEntry, Move, RosterChange, RosterSnapshot,
    RosterUnit, Run,
    StoredReport, Summary, UnitChange, UnitHistory, Withdrawal,
)

_RUN_COLUMNS = ("id, state, started_at, finished_at, xltemplate_version, validator_version, spec_hash,"
                " template_id, template_version, inputs, roster_hash")


def _run(row: tuple[Any, ...]) -> Run:
    return Run(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], tuple(json.loads(row[9])), row[10])


def run(conn: sqlite3.Connection, run_id: int) -> Run:
    row = conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise LedgerError(f"台账中没有第 {run_id} 次运行。")
    return _run(row)


def runs(conn: sqlite3.Connection) -> list[Run]:
    return [_run(r) for r in conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY id")]


def last_finished(conn: sqlite3.Connection, before: int | None) -> Run | None:
    row = conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE state = ? AND id < ? ORDER BY id DESC LIMIT 1",
                       (FINISHED, before if before is not None else 1 << 62)).fetchone()
    return _run(row) if row else None


def decisions(conn: sqlite3.Connection, run_id: int) -> list[Decision]:
    return [_decision(r) for r in conn.execute(
        "SELECT run_id, unit_key, sha256, rule, candidates, status, errors, in_inbox, supersedes"
        " FROM decisions WHERE run_id = ? ORDER BY unit_key", (run_id,))]


def _decision(r: tuple[Any, ...]) -> Decision:
    return Decision(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7]), r[8])


def reports(conn: sqlite3.Connection, run: Run, shas: Iterable[str] | None) -> dict[str, StoredReport]:
    wanted = set(shas) if shas is not None else None
    out = {}
    for r in conn.execute(
            "SELECT sha256, status, unit_key, saved_at, errors, warnings, payload, template_id, template_version, total,"
            " grade, context, checked_on, valid_until FROM reports WHERE spec_hash = ? AND validator_version = ?",
            (run.spec_hash, run.validator_version)):
        if wanted is None or r[0] in wanted:
            saved = dt.datetime.fromisoformat(r[3]) if r[3] else None
            out[r[0]] = StoredReport(r[0], r[1], r[2], saved, r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11],
                                     _date(r[12]), _date(r[13]))
    return out


def payloads(conn: sqlite3.Connection, run: Run) -> Iterator[tuple[str, str]]:
    yield from conn.execute("SELECT sha256, payload FROM reports WHERE spec_hash = ? AND validator_version = ?",
                            (run.spec_hash, run.validator_version))


def files(conn: sqlite3.Connection, run: Run) -> list[FileRow]:
    """Every file recorded up to ``run``, in arrival order, with the last path a run saw it at."""
    # SQLite returns the other columns of the row that holds max(): the last sighting's path.
    last = {sha: (path_of(path), rid) for sha, path, rid in conn.execute(
        "SELECT sha256, path, max(run_id) FROM sightings WHERE run_id <= ? GROUP BY sha256", (run.id,))}
    # (a time a batch of files was recorded at is one string for the batch: not one held for every file, issue 15)
    stamps: dict[str, str] = {}
    return [FileRow(r[0], r[1], r[2], r[3], r[4], stamps.setdefault(r[5], r[5]), r[6], *last.get(r[0], (None, None)))
            for r in conn.execute("SELECT sha256, id, size, archive_name, first_seen_run, first_seen_at, first_mtime FROM files"
                                  " WHERE coalesce(first_seen_run, 0) <= ? ORDER BY id", (run.id,))]


def files_joined(conn: sqlite3.Connection, run: Run) -> Iterator[FileRow]:
    """:func:`files`, one at a time from one query: each file's last sighting joined to it in SQL (the same grouped
    query), not a dict of every file's last path beside a list of every file (issue 15: ~500 bytes a file held)."""
    stamps: dict[str, str] = {}
    for r in conn.execute(
            "SELECT f.sha256, f.id, f.size, f.archive_name, f.first_seen_run, f.first_seen_at, f.first_mtime, l.path, l.rid"
            " FROM files AS f LEFT JOIN (SELECT sha256, path, max(run_id) AS rid FROM sightings WHERE run_id <= ?"
            " GROUP BY sha256) AS l ON l.sha256 = f.sha256 WHERE coalesce(f.first_seen_run, 0) <= ? ORDER BY f.id",
            (run.id, run.id)):
        yield FileRow(r[0], r[1], r[2], r[3], r[4], stamps.setdefault(r[5], r[5]), r[6],
                      None if r[8] is None else path_of(r[7]), r[8])


def count_files(conn: sqlite3.Connection, run: Run) -> int:
    """How many files :func:`files` gives."""
    return int(conn.execute("SELECT count(*) FROM files WHERE coalesce(first_seen_run, 0) <= ?", (run.id,)).fetchone()[0])


def cached(conn: sqlite3.Connection, run: Run) -> list[Cached]:
    return [Cached(r[0], r[1], r[2], _date(r[3]), _date(r[4])) for r in conn.execute(
        "SELECT sha256, unit_key, context, checked_on, valid_until FROM reports WHERE spec_hash = ? AND validator_version = ?",
        (run.spec_hash, run.validator_version))]


#: An index of what :func:`cached_by_file` reads of a stored report (see ledger.store.VERDICTS_INDEXED).
VERDICTS_INDEX = "reports_verdicts"
VERDICTS_COLUMNS = "sha256, spec_hash, validator_version, unit_key, context, checked_on, valid_until"


def cached_by_file(conn: sqlite3.Connection, run: Run, *, indexed: bool = False) -> Iterator[Cached | None]:
    """For each file :func:`files` gives, in its order, its stored report for the run's template and validator (as
    :func:`cached` gives it), or None: one at a time, from one query. ``indexed``: read from :data:`VERDICTS_INDEX`
    (which exists), not from the reports' rows."""
    for r in conn.execute(
            "SELECT r.sha256, r.unit_key, r.context, r.checked_on, r.valid_until FROM files AS f"
            f" LEFT JOIN reports AS r{f' INDEXED BY {VERDICTS_INDEX}' if indexed else ''}"
            " ON r.sha256 = f.sha256 AND r.spec_hash = ? AND r.validator_version = ?"
            " WHERE coalesce(f.first_seen_run, 0) <= ? ORDER BY f.id", (run.spec_hash, run.validator_version, run.id)):
        yield None if r[0] is None else Cached(r[0], r[1], r[2], _date(r[3]), _date(r[4]))


def _date(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def roster(conn: sqlite3.Connection, roster_hash: str | None) -> RosterSnapshot | None:
    if roster_hash is None:
        return None
    row = conn.execute("SELECT rows FROM rosters WHERE hash = ?", (roster_hash,)).fetchone()
    return RosterSnapshot.from_json(json.loads(row[0])) if row else None


def compare_rosters(before: RosterSnapshot, after: RosterSnapshot) -> RosterChange:
    old, new = before.by_key(), after.by_key()

    def named(u: RosterUnit) -> tuple[Any, ...]:
        return dict(u.values), u.unit, u.project

    both = [k for k in new if k in old]
    return RosterChange(
        added=tuple(k for k in new if k not in old),
        removed=tuple(k for k in old if k not in new),
        changed=tuple(k for k in both if named(old[k]) != named(new[k])),
        contacts=tuple(k for k in both if named(old[k]) == named(new[k]) and dict(old[k].contact) != dict(new[k].contact)))


def withdrawals(conn: sqlite3.Connection) -> list[Withdrawal]:
    return [Withdrawal(*r) for r in conn.execute(
        "SELECT id, unit_key, sha256, withdrawn_at, reason, reinstated_at, reinstate_reason FROM withdrawals ORDER BY id")]


def _withdrawn_at(conn: sqlite3.Connection, run: Run) -> dict[tuple[str, str], Withdrawal]:
    """Withdrawals in force when ``run`` decided (withdrawals happen between runs: the lock sees to it)."""
    moment = run.finished_at or run.started_at
    return {(w.unit_key, w.sha256): w for w in withdrawals(conn)
            if w.withdrawn_at <= moment and (w.reinstated_at is None or w.reinstated_at > moment)}


def _paths(conn: sqlite3.Connection, shas: Iterable[str] | None = None) -> dict[str, list[str]]:
    """Every path each file (of ``shas``, or all) was seen at, in order of first sighting."""
    out: dict[str, list[str]] = {}
    if shas is None:
        rows = conn.execute("SELECT sha256, path FROM sightings GROUP BY sha256, path ORDER BY min(run_id), path")
    else:
        wanted = sorted(set(shas))
        marks = ",".join("?" * len(wanted))
        rows = conn.execute(f"SELECT sha256, path FROM sightings WHERE sha256 IN ({marks})"
                            " GROUP BY sha256, path ORDER BY min(run_id), path", wanted)
    for sha, path in rows:
        out.setdefault(sha, []).append(path_of(path))
    return out


def history(conn: sqlite3.Connection, key: str) -> UnitHistory:
    """Every return of a unit in arrival order, what became of each, and the decision of every run."""
    ruled = [_decision(r) for r in conn.execute(
        "SELECT run_id, unit_key, sha256, rule, candidates, status, errors, in_inbox, supersedes"
        " FROM decisions WHERE unit_key = ? ORDER BY run_id", (key,))]
    basis = last_finished(conn, None)
    if basis is None:
        row = conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        basis = _run(row) if row else None
    if basis is None:
        return UnitHistory(key, [], ruled)
    counted = next((d.sha256 for d in reversed(ruled) if d.run_id == basis.id), None)
    active = {w.sha256: w for w in withdrawals(conn) if w.unit_key == key and w.reinstated_at is None}
    # The unit's files: those whose report names it, and those withdrawn for it (two indexed look-ups).
    rows = conn.execute(
        "WITH mine AS (SELECT sha256 FROM reports WHERE spec_hash = :s AND validator_version = :v AND unit_key = :k"
        "  UNION SELECT sha256 FROM withdrawals WHERE unit_key = :k)"
        " SELECT f.sha256, f.id, f.first_seen_run, f.first_seen_at, r.saved_at, r.status, r.errors,"
        "  (SELECT max(run_id) FROM sightings s WHERE s.sha256 = f.sha256)"
        " FROM mine JOIN files f ON f.sha256 = mine.sha256"
        " LEFT JOIN reports r ON r.sha256 = f.sha256 AND r.spec_hash = :s AND r.validator_version = :v ORDER BY f.id",
        {"s": basis.spec_hash, "v": basis.validator_version, "k": key}).fetchall()
    paths = _paths(conn, [r[0] for r in rows])
    entries = []
    for sha, arrival, first_run, first_at, saved, status, errors, last_run in rows:
        if sha in active:
            fate = WITHDRAWN
        elif counted is None:
            fate = NOT_CHECKED  # no finished run has decided for the unit yet
        else:
            fate = COUNTED if sha == counted else SUPERSEDED
        entries.append(HistoryEntry(sha, arrival, first_run, first_at, saved, status, errors, tuple(paths.get(sha, ())),
                                    last_run, active.get(sha), fate, counted if fate == SUPERSEDED else None))
    return UnitHistory(key, entries, ruled)


def absent(conn: sqlite3.Connection, run: Run, since: int | None = None) -> list[Absence]:
    """Files seen in an earlier run (or only in run ``since``) that this run saw at no path."""
    rows = conn.execute(
        "WITH last AS (SELECT sha256, max(run_id) AS rid FROM sightings WHERE run_id < ? GROUP BY sha256)"
        " SELECT l.sha256, (SELECT min(path) FROM sightings s WHERE s.sha256 = l.sha256 AND s.run_id = l.rid), l.rid"
        " FROM last l JOIN files f ON f.sha256 = l.sha256"
        " WHERE NOT EXISTS (SELECT 1 FROM sightings t WHERE t.run_id = ? AND t.sha256 = l.sha256) ORDER BY f.id",
        (run.id, run.id)).fetchall()
    now = dict(conn.execute("SELECT path, sha256 FROM sightings WHERE run_id = ?", (run.id,)))
    out = []
    for sha, path, last in rows:
        if since is not None and last != since:
            continue
        out.append(Absence(sha, path_of(path), last, "overwritten" if now.get(path, sha) != sha else "deleted"))
    return out


def moves(conn: sqlite3.Connection, run: Run) -> list[Move]:
    """Files this run saw only at paths other than those of the last run that saw them."""
    rows = conn.execute(
        "WITH cur AS (SELECT sha256, path FROM sightings WHERE run_id = :r),"
        " prev AS (SELECT s.sha256, max(s.run_id) AS rid FROM sightings s"
        "   WHERE s.run_id < :r AND s.sha256 IN (SELECT sha256 FROM cur) GROUP BY s.sha256)"
        " SELECT 'old', s.sha256, s.path FROM sightings s JOIN prev ON s.sha256 = prev.sha256 AND s.run_id = prev.rid"
        " UNION ALL SELECT 'new', sha256, path FROM cur", {"r": run.id}).fetchall()
    old: dict[str, set[str]] = {}
    new: dict[str, set[str]] = {}
    for which, sha, path in rows:
        (old if which == "old" else new).setdefault(sha, set()).add(path_of(path))
    order = dict(conn.execute("SELECT sha256, id FROM files"))
    return [Move(sha, tuple(sorted(old[sha])), tuple(sorted(new[sha])))
            for sha in sorted(old, key=order.__getitem__) if not old[sha] & new[sha]]


def changes(conn: sqlite3.Connection, run: Run) -> Changes:
    """What this run changed compared with the finished run before it."""
    prev = last_finished(conn, run.id)
    floor = prev.id if prev else 0
    new_files = [sha for (sha,) in conn.execute(
        "SELECT sha256 FROM files WHERE coalesce(first_seen_run, 0) > ? AND coalesce(first_seen_run, 0) <= ? ORDER BY id",
        (floor, run.id))]
    units = []
    if CHANGES_MERGED:
        for key, b, a in _both(conn, run.id, prev.id if prev else None):
            if (a and a[0], a and a[1]) != (b and b[0], b and b[1]):
                units.append(UnitChange(key, b[0] if b else None, a[0] if a else None, b[1] if b else None,
                                        a[1] if a else None))
    else:
        after = {d.unit_key: d for d in decisions(conn, run.id)}
        before = {d.unit_key: d for d in decisions(conn, prev.id)} if prev else {}
        for key in sorted(set(after) | set(before)):
            x, y = after.get(key), before.get(key)
            if (x and x.sha256, x and x.status) != (y and y.sha256, y and y.status):
                units.append(UnitChange(key, y.sha256 if y else None, x.sha256 if x else None,
                                        y.status if y else None, x.status if x else None))
    roster_change = None
    if prev is not None and prev.roster_hash != run.roster_hash:  # (the same hash, the same roster: not loaded)
        old, cur = roster(conn, prev.roster_hash), roster(conn, run.roster_hash)
        if old is not None and cur is not None:
            roster_change = compare_rosters(old, cur)
    gone = absent(conn, run, since=prev.id) if prev else []
    return Changes(run.id, prev.id if prev else None, new_files, units, gone, roster_change)


def changed_units(conn: sqlite3.Connection, run: Run) -> Iterator[tuple[str, bool]]:
    """The units whose counted file or status ``run`` changed, compared with the finished run before it (as
    :func:`changes`' ``units``), in key order: (key, whether it is newly valid), walked as they come, where
    :func:`changes` makes a list of them (a first run's every unit: ~450 bytes each, with the files it received and
    those gone: +26 MB at 100,000 units, issue 15)."""
    prev = last_finished(conn, run.id)
    for key, b, a in _both(conn, run.id, prev.id if prev else None):
        if (a and a[0], a and a[1]) != (b and b[0], b and b[1]):
            yield key, (a[1] if a else None) == VALID and (b[1] if b else None) != VALID


#: :func:`changes` walks the two runs' decisions side by side in key order (two cursors, (sha256, status) each), where
#: it held both as dicts of Decision (~100,000 each at 100,000 units, while a round writes its roll-up: issue 15).
#: False: the dicts (the tests compare).
CHANGES_MERGED = True


def _both(conn: sqlite3.Connection, run_id: int, prev_id: int | None
          ) -> Iterator[tuple[str, tuple[str, str] | None, tuple[str, str] | None]]:
    """Every unit either run decided, in key order: (key, the earlier run's (sha256, status) or None, this run's).
    SQLite orders text by its UTF-8 bytes, which is the order of the code points: ``sorted``'s order of the keys."""
    query = "SELECT unit_key, sha256, status FROM decisions WHERE run_id = ? ORDER BY unit_key"
    now = conn.execute(query, (run_id,))
    then: Iterator[tuple[str, str, str]] = conn.execute(query, (prev_id,)) if prev_id is not None else iter(())
    a, b = next(now, None), next(then, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a[0] < b[0]):
            assert a is not None
            yield a[0], None, (a[1], a[2])
            a = next(now, None)
        elif a is None or b[0] < a[0]:
            yield b[0], (b[1], b[2]), None
            b = next(then, None)
        else:
            yield a[0], (b[1], b[2]), (a[1], a[2])
            a, b = next(now, None), next(then, None)


def fates(conn: sqlite3.Connection, run: Run) -> list[FileFate]:
    """Every file the ledger held when ``run`` decided, in arrival order, with what became of it (提交记录)."""
    counted = {d.unit_key: d.sha256 for d in decisions(conn, run.id)}
    out_of_count = _withdrawn_at(conn, run)
    units = roster(conn, run.roster_hash)
    on_roster = set(units.by_key()) if units is not None else None
    here = {sha for (sha,) in conn.execute("SELECT DISTINCT sha256 FROM sightings WHERE run_id = ?", (run.id,))}
    paths = _paths(conn)
    out = []
    for sha, arrival, first_at, size, name, key, status, saved in conn.execute(
            "SELECT f.sha256, f.id, f.first_seen_at, f.size, f.archive_name, r.unit_key, r.status, r.saved_at"
            " FROM files f LEFT JOIN reports r ON r.sha256 = f.sha256 AND r.spec_hash = ? AND r.validator_version = ?"
            " WHERE coalesce(f.first_seen_run, 0) <= ? ORDER BY f.id", (run.spec_hash, run.validator_version, run.id)):
        instead = why = None
        if status is None:
            fate = NOT_CHECKED
        elif status == UNREADABLE:
            fate, why = UNMATCHED, UNREADABLE_FILE
        elif key is None:
            fate, why = UNMATCHED, NO_KEY
        elif on_roster is not None and key not in on_roster:
            fate, why = UNMATCHED, NOT_IN_ROSTER
        elif counted.get(key) == sha:
            fate = COUNTED
        elif (key, sha) in out_of_count:
            fate = WITHDRAWN
        else:
            fate, instead = SUPERSEDED, counted.get(key)
        out.append(FileFate(sha, arrival, first_at, size, name, tuple(paths.get(sha, ())), sha in here, key, status,
                            saved, fate, why, instead))
    return out


def summary(conn: sqlite3.Connection, ledger: Path, run_: Run | None) -> Summary:
    """The round at a glance after ``run_`` (default: the last finished run)."""
    target = run_ or last_finished(conn, None)
    if target is None:
        raise LedgerError(f"{ledger}：台账中还没有完成的汇总。请先运行一次 collect --ledger。")
    units = roster(conn, target.roster_hash)
    decided = decisions(conn, target.id)
    keys = set(units.by_key()) if units is not None else None
    valid = [d.unit_key for d in decided if d.status == VALID and (keys is None or d.unit_key in keys)]
    invalid = [(d.unit_key, d.errors) for d in decided if d.status != VALID and (keys is None or d.unit_key in keys)]
    got = {d.unit_key for d in decided}
    missing = [u.key for u in units.units if u.key not in got] if units is not None else []
    stray = [d.unit_key for d in decided if keys is not None and d.unit_key not in keys]
    files = conn.execute("SELECT count(*) FROM files WHERE coalesce(first_seen_run, 0) <= ?", (target.id,)).fetchone()[0]
    later = [r for (r,) in conn.execute("SELECT id FROM runs WHERE id > ? AND state = ?", (target.id, INTERRUPTED))]
    return Summary(target, len(units.units) if units is not None else None, valid, invalid, missing, stray, files,
                   changes(conn, target), later)
