"""The collection ledger's storage layer: schema, migrations, refusals, lock, crashes, archive, queries, a 3-day round.

Returns here are small JSON files and reports are derived from their bytes
(tests/ledger_helpers.py): the ledger treats reports as opaque, so nothing
here needs the validator. Crash tests kill real processes with SIGKILL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from xltemplate.errors import XltemplateError
from xltemplate.ledger import (
    APPLICATION_ID, SCHEMA_VERSION, Ledger, LedgerBusyError, LedgerError, LedgerVersionError, NotALedgerError,
    RosterSnapshot, RosterUnit, RunInfo, archive, schema,
)
from xltemplate.ledger.archive import Archive, Stored, Unread

from .ledger_helpers import SPEC, fake_report, finish, make_return, validate_pending

ROOT = Path(__file__).resolve().parent.parent


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Clock:
    """A ledger clock the test moves by hand: each call is one microsecond later."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def day(self, n: int) -> None:
        self.now = dt.datetime(2021, 5, 9 + n, 9, 0, tzinfo=dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(microseconds=1)
        return self.now


def one_run(ledger: Ledger, inbox: Path, validator: str = "v1", roster: RosterSnapshot | None = None,
            extra: list[str] | None = None) -> Any:
    files = sorted(str(p) for p in inbox.rglob("*") if p.is_file()) + (extra or [])
    run = ledger.begin_run(RunInfo(validator, SPEC, inputs=(str(inbox),), roster=roster))
    intake = ledger.ingest(run, files)
    read = validate_pending(ledger, run)
    return run, intake, read, finish(ledger, run)


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(str(path))


# -- schema -----------------------------------------------------------------------------------------


def test_new_ledger_is_marked_versioned_and_in_wal_mode(tmp_path: Path) -> None:
    db = tmp_path / "round.xlt.db"
    with Ledger.open(db, create=True) as led:
        assert led.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert led.archive.root == tmp_path / "round.xlt.archive"
        meta = led.meta
    conn = raw(db)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"meta", "rosters", "runs", "files", "sightings", "unread", "reports", "decisions", "withdrawals",
                      "parts", "stats"}
    assert meta["format"] == "xltemplate-ledger" and len(meta["round_id"]) == 32
    assert meta["archive_dir"] == "round.xlt.archive"  # relative: the round's folder can move
    assert not list(tmp_path.glob(".round.xlt.db.*"))  # the temporary file it was built in is gone


def test_docs_describe_every_table_and_column(tmp_path: Path) -> None:
    """docs/ledger.md names every column of every table, and no column that does not exist."""
    doc = (ROOT / "docs" / "ledger.md").read_text(encoding="utf-8")
    documented: dict[str, set[str]] = {}
    table = None
    for line in doc.splitlines():
        if line.startswith("### `"):
            table = line.split("`")[1]
            documented[table] = set()
        elif table and line.startswith("| `"):
            documented[table].add(line.split("`")[1])
        elif line.startswith("## "):
            table = None
    with Ledger.open(tmp_path / "r.xlt.db", create=True) as led:
        actual = {t: {c[1] for c in led.conn.execute(f"PRAGMA table_info({t})")}
                  for (t,) in led.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert documented == actual
    assert f"version {SCHEMA_VERSION}" in doc


def test_foreign_keys_and_checks_are_enforced(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "r.xlt.db", create=True) as led:
        with pytest.raises(sqlite3.IntegrityError):
            led.conn.execute("INSERT INTO sightings(run_id, path, sha256, mtime, seen_at) VALUES (99, '/x', ?, '', '')",
                             ("0" * 64,))
        with pytest.raises(sqlite3.IntegrityError):  # a finished run must carry its finishing time
            led.conn.execute("INSERT INTO runs(state, started_at, xltemplate_version, validator_version, spec_hash, inputs)"
                             " VALUES ('finished', 'x', '0', 'v', 's', '[]')")


def test_schema_v1_is_frozen() -> None:
    """Version 1's script must never change: existing ledgers were made with it. Change the schema by a migration."""
    assert sha(schema.SCHEMA_V1.encode()) == V1_SHA256


V1_SHA256 = "9a4ae8e08edc0e2e25c620ebf3d173b05b6beb1a8be064a80988617b03ce9c39"


# -- refusals ---------------------------------------------------------------------------------------


def _other_sqlite(path: Path) -> None:
    conn = raw(path)
    conn.execute("CREATE TABLE t(x)")
    conn.commit()
    conn.close()


def _newer_ledger(path: Path) -> None:
    Ledger.open(path, create=True).close()
    conn = raw(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()


def _corrupt(path: Path) -> None:
    Ledger.open(path, create=True).close()
    data = bytearray(path.read_bytes())
    data[100:] = b"\xff" * (len(data) - 100)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("make, error, words", [
    (lambda p: p.write_bytes(b""), NotALedgerError, "文件为空"),
    (lambda p: p.write_text("编号,单位\nSH001,甲\n", encoding="utf-8"), NotALedgerError, "不是 SQLite 数据库"),
    (lambda p: p.write_bytes(b"PK\x03\x04" + b"\0" * 200), NotALedgerError, "不是 SQLite 数据库"),
    (_other_sqlite, NotALedgerError, "另一个 SQLite 数据库"),
    (_corrupt, NotALedgerError, "损坏"),
    (_newer_ledger, LedgerVersionError, f"比本程序支持的版本 {SCHEMA_VERSION} 新"),
    (lambda p: p.mkdir(), NotALedgerError, "文件夹"),
], ids=["empty", "text", "zip", "other-sqlite", "corrupt", "newer", "folder"])
@pytest.mark.parametrize("readonly", [False, True])
def test_refuses_what_is_not_a_usable_ledger(tmp_path: Path, make: Any, error: type, words: str, readonly: bool) -> None:
    db = tmp_path / "round.xlt.db"
    make(db)
    before = db.read_bytes() if db.is_file() else None
    around = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(error) as info:
        Ledger.open(db, create=True, readonly=readonly)
    assert sorted(p.name for p in tmp_path.iterdir()) == around  # nothing written beside it (no lock, no backup)
    message = str(info.value)
    assert isinstance(info.value, LedgerError) and isinstance(info.value, XltemplateError)
    assert str(db) in message and words in message and "。" in message
    if before is not None:
        assert db.read_bytes() == before  # never modified, never replaced


def test_missing_ledger_is_created_only_when_asked(tmp_path: Path) -> None:
    db = tmp_path / "round.xlt.db"
    for readonly in (False, True):
        with pytest.raises(LedgerError, match="台账文件不存在"):
            Ledger.open(db, readonly=readonly)
    assert not db.exists()
    with pytest.raises(LedgerError, match="不存在"):
        Ledger.open(tmp_path / "no" / "such" / "round.xlt.db", create=True)


def test_archive_folder_is_fixed_when_the_ledger_is_made(tmp_path: Path) -> None:
    db = tmp_path / "round.xlt.db"
    Ledger.open(db, create=True, archive_dir=tmp_path / "files").close()
    with Ledger.open(db) as led:
        assert led.archive.root == tmp_path / "files"
    Ledger.open(db, archive_dir=tmp_path / "files").close()
    with pytest.raises(LedgerError, match="归档文件夹是") as info:
        Ledger.open(db, archive_dir=tmp_path / "elsewhere")
    assert str(tmp_path / "files") in str(info.value)
    Ledger.open(db).close()  # the refused open released the lock


def test_readonly_ledger_refuses_writes(tmp_path: Path) -> None:
    db = tmp_path / "round.xlt.db"
    Ledger.open(db, create=True).close()
    with Ledger.open(db, readonly=True) as led:
        with pytest.raises(LedgerError, match="只读"):
            led.begin_run(RunInfo("v1", SPEC))
        with pytest.raises(sqlite3.OperationalError):
            led.conn.execute("DELETE FROM meta")


def test_a_finished_run_takes_no_more_records(tmp_path: Path) -> None:
    inbox = small_inbox(tmp_path, 2)
    with Ledger.open(tmp_path / "r.xlt.db", create=True) as led:
        run = one_run(led, inbox)[0]
        for attempt in (lambda: led.ingest(run, [str(inbox / "r0000.xlsx")]), lambda: finish(led, run),
                        lambda: led.store_reports(run, [])):
            with pytest.raises(LedgerError, match="不在进行中"):
                attempt()
        assert led.conn.execute("SELECT count(*) FROM sightings").fetchone()[0] == 2


# -- migrations -------------------------------------------------------------------------------------


def build_v1(path: Path) -> dict[str, str]:
    """A version-1 ledger as the first release wrote it, with a run, files, a report, a decision and withdrawals."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript(schema.SCHEMA_V1)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    a, b = "a" * 64, "b" * 64
    conn.executescript(f"""
        INSERT INTO meta VALUES ('format', 'xltemplate-ledger'), ('round_id', 'r1'), ('created_at', '2021-05-01'),
                                ('created_by', '0.1.0'), ('archive_dir', 'round.xlt.archive');
        INSERT INTO runs(id, state, started_at, finished_at, xltemplate_version, validator_version, spec_hash, inputs)
               VALUES (1, 'finished', '2021-05-01T09:00', '2021-05-01T09:01', '0.1.0', 'v1', '{SPEC}', '["inbox"]');
        INSERT INTO files(sha256, size, archive_name, first_seen_run, first_seen_at, first_mtime, origin)
               VALUES ('{a}', 10, 'aa/{a}.xlsx', 1, '2021-05-01T09:00', '2021-04-30T00:00', 'inbox'),
                      ('{b}', 11, 'bb/{b}.xlsx', 1, '2021-05-01T09:00', '2021-04-30T00:00', 'inbox');
        INSERT INTO sightings VALUES (1, '/inbox/a.xlsx', '{a}', 'm', 's'), (1, '/inbox/b.xlsx', '{b}', 'm', 's');
        INSERT INTO reports(sha256, spec_hash, validator_version, created_run, status, unit_key, errors, warnings, payload)
               VALUES ('{a}', '{SPEC}', 'v1', 1, 'valid', 'K1', 0, 0, '{{}}'),
                      ('{b}', '{SPEC}', 'v1', 1, 'valid', 'K1', 0, 0, '{{}}');
        INSERT INTO decisions VALUES (1, 'K1', '{a}', 'arrival', 2, 'valid', 0, 1, NULL);
        INSERT INTO withdrawals(unit_key, sha256, withdrawn_at, reason)
               VALUES ('K1', '{b}', '2021-05-02', '发错了'), ('K1', '{b}', '2021-05-03', '再次撤回');
    """)
    conn.close()
    return {"a": a, "b": b}


def _schema_sql(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    return sorted(conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"))


def test_v1_ledger_is_backed_up_then_migrated(tmp_path: Path) -> None:
    db = tmp_path / "round.xlt.db"
    ids = build_v1(db)
    with Ledger.open(db) as led:
        assert led.backup == tmp_path / "round.xlt.db.bak-v1"
        w = led.withdrawals()
        # The first withdrawal stands; the repeat is closed, not deleted.
        assert [(x.id, x.reason, x.reinstated_at) for x in w] == [(1, "发错了", None), (2, "再次撤回", "2021-05-03")]
        assert w[1].reinstate_reason == "重复撤回，已并入第 1 条"
        assert [d.sha256 for d in led.decisions(led.run(1))] == [ids["a"]]
        assert json.loads(led.meta["migration.2"])["backup"] == "round.xlt.db.bak-v1"
        with pytest.raises(LedgerError, match="已经撤回过"):
            led.withdraw("K1", ids["b"], "again")
        with pytest.raises(sqlite3.IntegrityError):  # version 2's rule, enforced by the index
            led.conn.execute("INSERT INTO withdrawals(unit_key, sha256, withdrawn_at, reason) VALUES ('K1', ?, 'x', 'y')",
                             (ids["b"],))
        migrated = _schema_sql(led.conn)
    backup = raw(tmp_path / "round.xlt.db.bak-v1")
    assert backup.execute("PRAGMA user_version").fetchone()[0] == 1
    assert backup.execute("SELECT count(*) FROM withdrawals").fetchone()[0] == 2
    assert [c[1] for c in backup.execute("PRAGMA table_info(withdrawals)")] == [
        "id", "unit_key", "sha256", "withdrawn_at", "reason"]
    with Ledger.open(tmp_path / "fresh.xlt.db", create=True) as fresh:
        assert _schema_sql(fresh.conn) == migrated  # migrating and creating give the same schema
    assert raw(db).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_readonly_open_migrates_too_and_backups_never_overwrite(tmp_path: Path) -> None:
    db = tmp_path / "round.xlt.db"
    build_v1(db)
    (tmp_path / "round.xlt.db.bak-v1").write_bytes(b"an older backup")
    with Ledger.open(db, readonly=True) as led:
        assert led.backup == tmp_path / "round.xlt.db.bak-v1-2"
        assert len(led.withdrawals()) == 2
    assert (tmp_path / "round.xlt.db.bak-v1").read_bytes() == b"an older backup"
    Ledger.open(db).close()  # the lock taken to migrate was let go


def test_failed_migration_leaves_the_ledger_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "round.xlt.db"
    build_v1(db)

    def half_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE withdrawals ADD COLUMN reinstated_at TEXT")
        raise RuntimeError("disk full")
    monkeypatch.setattr(schema, "MIGRATIONS", (schema.Migration(2, "x", half_then_fail),))
    with pytest.raises(RuntimeError):
        Ledger.open(db)
    conn = raw(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert "reinstated_at" not in [c[1] for c in conn.execute("PRAGMA table_info(withdrawals)")]
    monkeypatch.undo()
    with Ledger.open(db) as led:  # and the next attempt migrates
        assert led.withdrawals()[0].reinstated_at is None


# -- one writer at a time -------------------------------------------------------------------------


def child(db: Path, inbox: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tests.ledger_child", str(db), str(inbox), *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_opened(proc: subprocess.Popen[str]) -> int:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, proc.stderr.read() if proc.stderr else ""
    return int(json.loads(line)["opened"])


def small_inbox(root: Path, n: int, start: int = 0) -> Path:
    """n fake returns over 10 units with distinct saved times (so crashes cannot change what counts)."""
    inbox = root / "inbox"
    for i in range(start, start + n):
        make_return(inbox / f"r{i:04d}.xlsx", f"K{i % 10}", f"2021-04-01T09:{i // 60:02d}:{i % 60:02d}", i % 3)
    return inbox


def test_second_writer_is_refused_with_who_holds_the_lock_and_a_killed_holder_frees_it(tmp_path: Path) -> None:
    inbox = small_inbox(tmp_path, 5)
    db = tmp_path / "round.xlt.db"
    holder = child(db, inbox, "--hold", "60")
    pid = wait_opened(holder)
    try:
        t0 = time.monotonic()
        with pytest.raises(LedgerBusyError) as info:
            Ledger.open(db, wait=0.5)
        assert time.monotonic() - t0 >= 0.5
        assert f"进程 {pid}" in str(info.value) and "ledger_child" in str(info.value) and str(db) in str(info.value)
        with Ledger.open(db, readonly=True) as reader:  # readers are never blocked
            assert reader.runs() == []
    finally:
        os.kill(pid, signal.SIGKILL)
        holder.wait()
    t0 = time.monotonic()
    Ledger.open(db, wait=5).close()  # the operating system let go of the dead holder's lock
    assert time.monotonic() - t0 < 4  # not the 5 s a live holder would cost


def test_a_waiting_writer_gets_the_lock_when_the_holder_finishes(tmp_path: Path) -> None:
    inbox = small_inbox(tmp_path, 5)
    db = tmp_path / "round.xlt.db"
    holder = child(db, inbox, "--hold", "0.8")
    wait_opened(holder)
    t0 = time.monotonic()
    with Ledger.open(db, wait=30) as led:
        assert time.monotonic() - t0 > 0.3
        assert [r.state for r in led.runs()] == ["finished"]  # it waited for the whole run
    assert holder.wait() == 0


def test_concurrent_runs_are_serialised(tmp_path: Path) -> None:
    inbox = small_inbox(tmp_path, 60)
    db = tmp_path / "round.xlt.db"
    procs = [child(db, inbox, "--batch", "7", "--wait", "60") for _ in range(3)]
    for p in procs:
        assert p.wait() == 0, p.stderr.read() if p.stderr else ""
    with Ledger.open(db) as led:
        runs = led.runs()
        assert [r.state for r in runs] == ["finished"] * 3
        for a, b in zip(runs, runs[1:]):
            assert a.finished_at is not None and a.finished_at <= b.started_at  # no overlap
        assert led.conn.execute("SELECT count(*) FROM files").fetchone()[0] == 60
        assert led.conn.execute("SELECT count(*) FROM sightings").fetchone()[0] == 180


# -- crashes ------------------------------------------------------------------------------------------


def check_consistent(db: Path) -> Ledger:
    """The invariants a killed run must not break; returns the ledger opened for writing (recovery done)."""
    conn = raw(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.close()
    led = Ledger.open(db)
    assert led.conn.execute("SELECT count(*) FROM runs WHERE state = 'running'").fetchone()[0] == 0
    assert led.conn.execute("SELECT count(*) FROM decisions d JOIN runs r ON r.id = d.run_id"
                            " WHERE r.state != 'finished'").fetchone()[0] == 0
    recorded = dict(led.conn.execute("SELECT sha256, archive_name FROM files"))
    for digest, name in recorded.items():  # every recorded file is in the archive, intact and read-only
        assert led.archive.verify(name, digest)
        assert led.archive.path(name).stat().st_mode & 0o777 == 0o444
    assert dict(led.archive.names()) == recorded  # and nothing archived is unrecorded
    assert list(led.archive.root.glob(f"{archive.TMP_DIR}/*")) == []
    return led


def reference(tmp_path: Path, inbox: Path, days: list[list[Path]]) -> dict[str, str]:
    """What counts per unit after the same inbox states, run cleanly in a ledger of its own."""
    with Ledger.open(tmp_path / "reference.xlt.db", create=True) as led:
        for files in days:
            run = led.begin_run(RunInfo("v1", SPEC))
            led.ingest(run, [str(f) for f in files])
            validate_pending(led, run)
            outcome = finish(led, run)
    return {d.unit_key: d.sha256 for d in outcome.decisions}


@pytest.mark.parametrize("kill", [
    "fsync::4",                              # archiving: new copies written, not yet published
    "place::13",                             # archiving: 3 copies of the second batch published, not recorded
    "sql:INSERT OR REPLACE INTO sightings:14",  # recording a batch, inside its transaction
    "sql:COMMIT:3",                          # just before the second batch commits
    "sql:INSERT OR REPLACE INTO reports:37",  # storing reports (the 2nd batch of 50)
    "sql:INSERT INTO decisions:4",           # deciding, inside finish_run's transaction
    "sql:UPDATE runs:1",                     # marking the run finished
])
def test_a_run_killed_anywhere_leaves_a_consistent_ledger_and_the_next_run_completes(tmp_path: Path, kill: str) -> None:
    db = tmp_path / "round.xlt.db"
    inbox = small_inbox(tmp_path, 20)
    with Ledger.open(db, create=True) as led:  # day 1, clean
        one_run(led, inbox)
    day1 = sorted(inbox.iterdir())
    small_inbox(tmp_path, 80, start=20)  # day 2: 80 more returns
    proc = child(db, inbox, "--batch", "10", "--kill", kill)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    led = check_consistent(db)
    with led:
        assert [r.state for r in led.runs()] == ["finished", "interrupted"]
        assert led.interrupted == [2]
        run, intake, read, outcome = one_run(led, inbox)  # the next run completes the work
        assert led.needs_report(run) == [] and outcome.unreported == []
        assert led.conn.execute("SELECT count(*) FROM files").fetchone()[0] == 100
        files_now = sorted(inbox.iterdir())
        assert {d.unit_key: d.sha256 for d in outcome.decisions} == reference(tmp_path, inbox, [day1, files_now])
        # Reports stored by the killed run were kept: this run read only what was left.
        stored_before = led.conn.execute("SELECT count(*) FROM reports WHERE created_run = 2").fetchone()[0]
        assert read == 100 - 20 - stored_before
    check_consistent(db).close()


def test_runs_killed_at_random_moments_never_corrupt_the_ledger(tmp_path: Path) -> None:
    db = tmp_path / "round.xlt.db"
    inbox = small_inbox(tmp_path, 600)
    kills = 0
    for delay in (0.0, 0.05, 0.15, 0.3, 0.6):
        proc = child(db, inbox, "--batch", "25")
        wait_opened(proc)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        kills += proc.wait() == -signal.SIGKILL
        check_consistent(db).close()
    assert kills >= 3  # most kills landed before the run could finish
    with Ledger.open(db) as led:
        run, intake, read, outcome = one_run(led, inbox)
        assert len(intake.seen) == 600 and outcome.unreported == []
        assert {d.unit_key: d.sha256 for d in outcome.decisions} == reference(tmp_path, inbox, [sorted(inbox.iterdir())])


def test_a_migration_killed_midway_leaves_version_1(tmp_path: Path) -> None:
    db = tmp_path / "round.xlt.db"
    build_v1(db)
    proc = child(db, small_inbox(tmp_path, 1), "--kill", "migrate::1")
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert raw(db).execute("PRAGMA user_version").fetchone()[0] == 1
    with Ledger.open(db) as led:
        assert led.backup == tmp_path / "round.xlt.db.bak-v1-2"  # the killed attempt's backup is kept
        assert len(led.withdrawals()) == 2


def test_a_migration_killed_copying_leaves_a_part_the_next_open_removes(tmp_path: Path) -> None:
    """The backup is copied under a temporary name (its maker's pid in it) and moved to its own when whole: killed
    meanwhile, the half copy (as large as the ledger) stayed for ever; the next migration sweeps it (fsutil.sweep)."""
    db = tmp_path / "round.xlt.db"
    build_v1(db)
    proc = child(db, small_inbox(tmp_path, 1), "--kill", "backup::1")
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    left = list(tmp_path.glob(".round.xlt.db.bak-v1.*.part"))
    assert len(left) == 1 and not (tmp_path / "round.xlt.db.bak-v1").exists()  # (the test can fail: it was left)
    with Ledger.open(db) as led:
        assert led.backup == tmp_path / "round.xlt.db.bak-v1"
    assert not left[0].exists() and list(tmp_path.glob("*.part")) + list(tmp_path.glob(".*.part")) == []


# -- the archive ----------------------------------------------------------------------------------------


def test_archive_copies_by_content_read_only_and_verified(tmp_path: Path) -> None:
    src = tmp_path / "inbox"
    a = make_return(src / "SH001.XLSX", "SH001")
    b = make_return(src / "附件1-最终版(2).xlsx", "SH002")
    (src / "same-as-a.xlsx").write_bytes(a)
    (src / "odd.name.x$y").write_bytes(b"odd")
    store = Archive(tmp_path / "archive")
    got = store.ingest([src / "SH001.XLSX", src / "附件1-最终版(2).xlsx", src / "same-as-a.xlsx", src / "odd.name.x$y"], {})
    assert all(isinstance(g, Stored) for g in got)
    stored = [g for g in got if isinstance(g, Stored)]
    assert [g.name for g in stored] == [f"{sha(a)[:2]}/{sha(a)}.xlsx", f"{sha(b)[:2]}/{sha(b)}.xlsx",
                                        f"{sha(a)[:2]}/{sha(a)}.xlsx", f"{sha(b'odd')[:2]}/{sha(b'odd')}"]
    assert [g.published for g in stored] == [True, True, False, True]  # one copy per content
    assert [g.size for g in stored] == [len(a), len(b), len(a), 3]
    assert stored[0].path == str(src / "SH001.XLSX")
    for g in stored:
        copy = store.path(g.name)
        assert sha(copy.read_bytes()) == g.sha256
        assert copy.stat().st_mode & 0o777 == 0o444
        assert copy.stat().st_nlink == 1  # a copy, not a hard link to the inbox file (nor to a temp file)
    assert sorted(store.names()) == sorted({(g.sha256, g.name) for g in stored})
    assert list((store.root / archive.TMP_DIR).iterdir()) == []


def test_archive_never_overwrites_and_an_overwritten_inbox_file_leaves_the_copy_alone(tmp_path: Path) -> None:
    src = tmp_path / "SH001.xlsx"
    first = make_return(src, "SH001", nonce="1")
    store = Archive(tmp_path / "archive")
    (s1,) = store.ingest([src], {})
    assert isinstance(s1, Stored)
    copy = store.path(s1.name)
    inode, mtime = copy.stat().st_ino, copy.stat().st_mtime_ns
    (again,) = store.ingest([src], {s1.sha256: s1.name})
    assert isinstance(again, Stored) and not again.published
    assert (copy.stat().st_ino, copy.stat().st_mtime_ns) == (inode, mtime)
    os.chmod(src, 0o644)
    second = make_return(src, "SH001", nonce="2")  # the unit's file overwritten in the inbox
    (s2,) = store.ingest([src], {s1.sha256: s1.name})
    assert isinstance(s2, Stored) and s2.sha256 == sha(second) != s1.sha256
    assert copy.read_bytes() == first


def test_archive_puts_back_a_copy_that_went_missing_and_refuses_a_damaged_one(tmp_path: Path) -> None:
    src = tmp_path / "SH001.xlsx"
    make_return(src, "SH001")
    store = Archive(tmp_path / "archive")
    (s1,) = store.ingest([src], {})
    assert isinstance(s1, Stored)
    store.path(s1.name).unlink()
    (s2,) = store.ingest([src], {s1.sha256: s1.name})
    assert isinstance(s2, Stored) and s2.published and store.verify(s1.name, s1.sha256)
    copy = store.path(s1.name)
    copy.chmod(0o644)
    copy.write_bytes(b"damaged")
    assert not store.verify(s1.name, s1.sha256)
    with pytest.raises(LedgerError, match="已损坏") as info:
        store.ingest([src], {s1.sha256: s1.name})
    assert str(copy) in str(info.value)


def test_archive_streams_large_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "MEMORY_LIMIT", 1000)
    monkeypatch.setattr(archive, "_CHUNK", 333)
    data = os.urandom(10_000)
    (tmp_path / "big.xlsx").write_bytes(data)
    (tmp_path / "big-again.xlsx").write_bytes(data)
    store = Archive(tmp_path / "archive")
    got = store.ingest([tmp_path / "big.xlsx", tmp_path / "big-again.xlsx"], {})
    assert [(g.sha256, g.size, g.published) for g in got if isinstance(g, Stored)] == [
        (sha(data), 10_000, True), (sha(data), 10_000, False)]
    assert store.path(got[0].name).read_bytes() == data  # type: ignore[union-attr]
    assert list((store.root / archive.TMP_DIR).iterdir()) == []


def test_archive_reports_what_it_cannot_read_and_goes_on(tmp_path: Path) -> None:
    good = tmp_path / "good.xlsx"
    make_return(good, "SH001")
    (tmp_path / "folder.xlsx").mkdir()
    store = Archive(tmp_path / "archive")
    got = store.ingest([tmp_path / "gone.xlsx", tmp_path / "folder.xlsx", good], {})
    assert [type(g) for g in got] == [Unread, Unread, Stored]
    assert isinstance(got[0], Unread) and "被删除或移走" in got[0].reason
    assert isinstance(got[1], Unread) and "文件夹" in got[1].reason


def test_a_corrupted_copy_is_never_published(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "SH001.xlsx"
    make_return(src, "SH001")
    real = archive.Archive._write_temp

    def flip(self: Archive, data: bytes) -> Path:
        return real(self, data[:-1] + b"#")
    monkeypatch.setattr(archive.Archive, "_write_temp", flip)
    store = Archive(tmp_path / "archive")
    with pytest.raises(LedgerError, match="内容不符"):
        store.ingest([src], {})
    assert list(store.names()) == []


def test_ledger_cleans_up_after_a_killed_archiver(tmp_path: Path) -> None:
    db = tmp_path / "round.xlt.db"
    Ledger.open(db, create=True).close()
    tmp = tmp_path / "round.xlt.archive" / archive.TMP_DIR
    tmp.mkdir(parents=True)
    (tmp / "x.part").write_bytes(b"half")
    Ledger.open(db, readonly=True).close()
    assert (tmp / "x.part").exists()  # a reader leaves them: a writer may be using them
    Ledger.open(db).close()
    assert list(tmp.iterdir()) == []


# -- queries ----------------------------------------------------------------------------------------------


def test_cached_answers_in_one_query_and_a_new_template_or_validator_invalidates_exactly(tmp_path: Path) -> None:
    inbox = small_inbox(tmp_path, 30)
    with Ledger.open(tmp_path / "r.xlt.db", create=True) as led:
        run, intake, read, _ = one_run(led, inbox)
        assert read == 30
        shas = [s.sha256 for s in intake.seen]
        statements: list[str] = []
        led.conn.set_trace_callback(statements.append)
        assert led.cached(shas + ["f" * 64], spec_hash=SPEC, validator_version="v1") == set(shas)
        assert len(statements) == 1
        led.conn.set_trace_callback(None)
        assert led.cached(shas, spec_hash=SPEC, validator_version="v2") == set()
        assert led.cached(shas, spec_hash="spec-B", validator_version="v1") == set()
        # Same inbox, same template and validator: nothing to read. A new validator: everything, once.
        assert one_run(led, inbox)[2] == 0
        assert one_run(led, inbox, validator="v2")[2] == 30
        assert one_run(led, inbox, validator="v2")[2] == 0
        assert one_run(led, inbox, validator="v1")[2] == 0  # the v1 reports are still there


def test_resolve_file_by_path_name_old_path_or_sha_prefix(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    a = make_return(inbox / "甲" / "SH001.xlsx", "SH001")
    b = make_return(inbox / "乙" / "SH001.xlsx", "SH001", nonce="other")
    c = make_return(inbox / "SH003.xlsx", "SH003")
    with Ledger.open(tmp_path / "r.xlt.db", create=True) as led:
        one_run(led, inbox)
        assert led.resolve_file(str(inbox / "甲" / "SH001.xlsx")) == sha(a)
        assert led.resolve_file(sha(b)[:8].upper()) == sha(b)
        (inbox / "SH003.xlsx").unlink()
        assert led.resolve_file(str(inbox / "SH003.xlsx")) == sha(c)  # gone from the inbox, known by its old path
        assert led.resolve_file("SH003.xlsx") == sha(c)
        with pytest.raises(LedgerError, match="2 个不同的文件"):
            led.resolve_file("SH001.xlsx")
        with pytest.raises(LedgerError, match="找不到"):
            led.resolve_file("SH404.xlsx")
        stranger = make_return(tmp_path / "stranger.xlsx", "SH001", nonce="never sent")
        with pytest.raises(LedgerError, match="不在台账"):
            led.resolve_file(str(tmp_path / "stranger.xlsx"))
        assert sha(stranger) not in {s for (s,) in led.conn.execute("SELECT sha256 FROM files")}


def test_withdraw_checks_the_unit_and_can_be_undone(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    old = make_return(inbox / "K1-old.xlsx", "K1", "2021-04-01T00:00:00")
    new = make_return(inbox / "K1-new.xlsx", "K1", "2021-04-02T00:00:00", errors=2)
    with Ledger.open(tmp_path / "r.xlt.db", create=True) as led:
        outcome = one_run(led, inbox)[3]
        assert [(d.sha256, d.rule) for d in outcome.decisions] == [(sha(new), "saved_at")]
        with pytest.raises(LedgerError, match="属于单位 K1，不是 K2"):
            led.withdraw("K2", sha(new), "错")
        with pytest.raises(LedgerError, match="没有 sha256"):
            led.withdraw("K1", "0" * 64, "错")
        w = led.withdraw("K1", sha(new), "单位来电：误发")
        assert (w.unit_key, w.sha256, w.reason, w.reinstated_at) == ("K1", sha(new), "单位来电：误发", None)
        outcome = one_run(led, inbox)[3]
        assert [(d.sha256, d.rule, d.supersedes) for d in outcome.decisions] == [(sha(old), "only", sha(new))]
        led.reinstate("K1", sha(new), "单位确认以新文件为准")
        with pytest.raises(LedgerError, match="没有被撤回"):
            led.reinstate("K1", sha(new), "again")
        outcome = one_run(led, inbox)[3]
        assert [(d.sha256, d.supersedes) for d in outcome.decisions] == [(sha(new), sha(old))]
        assert [(w.reinstated_at is not None, w.reinstate_reason) for w in led.withdrawals()] == [
            (True, "单位确认以新文件为准")]


def test_a_name_that_is_not_utf8_is_recorded_exactly(tmp_path: Path) -> None:
    """unzip makes such names of a zip from Chinese Windows; SQLite cannot hold their bytes as text."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    odd = os.fsdecode(os.fsencode(str(inbox)) + b"/\xd7\xd4\xc6\xc0\xb1\xed.xlsx")  # 自评表 in GBK
    make_return(Path(odd), "K1", "2021-04-01T09:00:00")
    with Ledger.open(tmp_path / "r.xlt.db", create=True) as led:
        run = one_run(led, inbox)[0]
        (fate,) = led.fates(run)
        assert fate.paths == (odd,) and led.files(run)[0].last_path == odd
        assert led.resolve_file(odd) == fate.sha256
        assert led.conn.execute("SELECT path FROM sightings").fetchone()[0].startswith("hex:")


def test_unread_inputs_are_recorded_with_the_run(tmp_path: Path) -> None:
    inbox = small_inbox(tmp_path, 2)
    (tmp_path / "x.xlsx").mkdir()
    with Ledger.open(tmp_path / "r.xlt.db", create=True) as led:
        run, intake, _, _ = one_run(led, inbox, extra=[str(tmp_path / "x.xlsx"), str(tmp_path / "gone.xlsx")])
        assert [u.path for u in intake.unread] == [str(tmp_path / "x.xlsx"), str(tmp_path / "gone.xlsx")]
        rows = led.conn.execute("SELECT run_id, path, reason FROM unread ORDER BY path").fetchall()
        assert [(r[0], Path(r[1]).name) for r in rows] == [(run.id, "gone.xlsx"), (run.id, "x.xlsx")]
        assert all("。" in r[2] for r in rows)


def test_status_constants_match_the_reports() -> None:
    from xltemplate import report
    from xltemplate.ledger import model

    assert (model.VALID, model.INVALID, model.UNREADABLE) == (report.VALID, report.INVALID, report.UNREADABLE)


def test_roster_snapshot_hash_is_canonical() -> None:
    a = RosterSnapshot((RosterUnit("K1", {"联系人": "张三", "电话": "1"}),))
    b = RosterSnapshot((RosterUnit("K1", {"电话": "1", "联系人": "张三"}),))
    c = RosterSnapshot((RosterUnit("K1", {"电话": "2", "联系人": "张三"}),))
    assert a.hash == b.hash != c.hash
    assert RosterSnapshot.from_json(a.as_json()) == a


# -- a round replayed over three days ----------------------------------------------------------------------


def roster(*keys: str) -> RosterSnapshot:
    return RosterSnapshot(tuple(RosterUnit(k, {"联系人": f"{k} 联系人", "电话": "021-0000", "邮箱": f"{k}@example.cn"})
                                for k in keys))


def set_mtime(path: Path, day: int, minute: int) -> None:
    stamp = dt.datetime(2021, 5, 9 + day, 8, minute, tzinfo=dt.timezone.utc).timestamp()
    os.utime(path, (stamp, stamp))


def test_a_round_over_three_days(tmp_path: Path) -> None:
    """Day 1 some returns; day 2 resubmissions and new ones; day 3 a file deleted, one renamed, one overwritten,
    a withdrawal, a new validator and a changed roster. Every figure below was worked out by hand."""
    inbox = tmp_path / "inbox"
    db = tmp_path / "round.xlt.db"
    clock = Clock(dt.datetime(2021, 5, 10, tzinfo=dt.timezone.utc))
    written: set[str] = set()  # every content ever put in the inbox: all of it must end up in the ledger

    def put(name: str, key: str | None, saved: str | None, errors: int = 0, minute: int = 0, day: int = 1,
            nonce: str = "") -> str:
        data = make_return(inbox / name, key, saved, errors, nonce or name)
        set_mtime(inbox / name, day, minute)
        written.add(sha(data))
        return sha(data)

    # Day 1.
    clock.day(1)
    k1 = put("a/K1.xlsx", "K1", "2021-04-28T10:00:00")
    (inbox / "a" / "K1-copy.xlsx").write_bytes((inbox / "a" / "K1.xlsx").read_bytes())  # the same file sent twice
    k2v1 = put("a/K2.xlsx", "K2", "2021-04-29T10:00:00", errors=3)
    k3 = put("a/K3.xlsx", "K3", "2021-04-30T10:00:00")
    k9 = put("a/K9.xlsx", "K9", "2021-04-30T11:00:00")
    nokey = put("a/nokey.xlsx", None, "2021-04-30T12:00:00")
    (inbox / "a" / "broken.xlsx").write_bytes(b"PK\x03\x04 not a workbook")
    broken = sha(b"PK\x03\x04 not a workbook")
    written.add(broken)
    roster1 = roster("K1", "K2", "K3", "K4", "K5", "K6")
    with Ledger.open(db, create=True, clock=clock) as led:
        assert led.roster_change(roster1) is None  # nothing to compare with yet
        run1, intake, read, outcome = one_run(led, inbox, roster=roster1)
        assert (len(intake.seen), len(intake.new), read) == (7, 6, 6)
        assert [(d.unit_key, d.sha256, d.rule, d.status, d.errors) for d in outcome.decisions] == [
            ("K1", k1, "only", "valid", 0), ("K2", k2v1, "only", "invalid", 3), ("K3", k3, "only", "valid", 0),
            ("K9", k9, "only", "valid", 0)]
        s = led.summary()
        assert (s.roster_units, s.valid, s.invalid, s.missing, s.not_in_roster, s.files) == (
            6, ["K1", "K3"], [("K2", 3)], ["K4", "K5", "K6"], ["K9"], 6)
        assert s.changes.previous_run_id is None and s.changes.new_files == [k1, k2v1, k3, k9, broken, nokey]
        assert s.changes.newly_valid == ["K1", "K3", "K9"]
        assert [(Path(f.paths[0]).name, f.fate, f.why) for f in led.fates(run1)] == [
            ("K1-copy.xlsx", "counted", None), ("K2.xlsx", "counted", None), ("K3.xlsx", "counted", None),
            ("K9.xlsx", "unmatched", "not-in-roster"), ("broken.xlsx", "unmatched", "unreadable"),
            ("nokey.xlsx", "unmatched", "no-key")]
        assert led.fates(run1)[0].paths == (str(inbox / "a" / "K1-copy.xlsx"), str(inbox / "a" / "K1.xlsx"))

    # Day 2: K2 corrects its return; K3 sends an older version again; K4 and K5 (twice, no saved time) arrive.
    clock.day(2)
    k2v2 = put("b/K2-v2.xlsx", "K2", "2021-05-10T10:00:00", day=2)
    k3old = put("b/K3-old.xlsx", "K3", "2021-04-20T10:00:00", day=2)
    k4 = put("b/K4.xlsx", "K4", "2021-05-09T10:00:00", errors=1, day=2)
    k5a = put("b/K5-a.xlsx", "K5", None, day=2, minute=30)
    k5b = put("b/K5-b.xlsx", "K5", None, day=2, minute=10)
    with Ledger.open(db, clock=clock) as led:
        assert led.roster_change(roster1) is None  # the same roster: nothing to report
        run2, intake, read, outcome = one_run(led, inbox, roster=roster1)
        assert (len(intake.seen), len(intake.new), read) == (12, 5, 5)  # day-1 files are not read again
        assert [(d.unit_key, d.sha256, d.rule, d.candidates, d.supersedes) for d in outcome.decisions] == [
            ("K1", k1, "only", 1, None), ("K2", k2v2, "saved_at", 2, k2v1), ("K3", k3, "saved_at", 2, None),
            ("K4", k4, "only", 1, None), ("K5", k5a, "file_time", 2, None), ("K9", k9, "only", 1, None)]
        s = led.summary()
        assert (s.valid, s.invalid, s.missing) == (["K1", "K2", "K3", "K5"], [("K4", 1)], ["K6"])
        assert s.changes.previous_run_id == run1.id and s.changes.new_files == [k2v2, k3old, k4, k5a, k5b]
        assert [u.key for u in s.changes.units] == ["K2", "K4", "K5"] and s.changes.newly_valid == ["K2", "K5"]
        assert s.changes.absent == [] and led.moves(run2) == []

    # Day 3: K1's files deleted; K4's renamed; K5-a overwritten by a newer return; K2's correction withdrawn
    # (sent by mistake); a new validator version; K6 leaves the roster and K7 joins.
    clock.day(3)
    (inbox / "a" / "K1.xlsx").unlink()
    (inbox / "a" / "K1-copy.xlsx").unlink()
    (inbox / "b" / "K4.xlsx").rename(inbox / "b" / "K4-renamed.xlsx")
    k5new = put("b/K5-a.xlsx", "K5", "2021-05-11T09:00:00", day=3, nonce="K5 final")
    roster3 = roster("K1", "K2", "K3", "K4", "K5", "K7")
    with Ledger.open(db, clock=clock) as led:
        led.withdraw("K2", led.resolve_file(str(inbox / "b" / "K2-v2.xlsx")), "单位称误发")
        change = led.roster_change(roster3)
        assert change is not None and (change.added, change.removed, change.changed) == (("K7",), ("K6",), ())
        assert change.describe() == "新增单位 K7；删除单位 K6"
        run3, intake, read, outcome = one_run(led, inbox, validator="v2", roster=roster3)
        # The new validator re-reads every file the ledger holds, from the archive: deleted ones too.
        assert (len(intake.seen), len(intake.new), read) == (10, 1, 12)
        assert [(d.unit_key, d.sha256, d.rule, d.candidates, d.in_inbox, d.supersedes) for d in outcome.decisions] == [
            ("K1", k1, "only", 1, False, None), ("K2", k2v1, "only", 1, True, k2v2),
            ("K3", k3, "saved_at", 2, True, None), ("K4", k4, "only", 1, True, None),
            ("K5", k5new, "arrival", 3, True, k5a), ("K9", k9, "only", 1, True, None)]
        s = led.summary()
        assert (s.roster_units, s.valid, s.invalid, s.missing, s.not_in_roster) == (
            6, ["K1", "K3", "K5"], [("K2", 3), ("K4", 1)], ["K7"], ["K9"])
        c = s.changes
        assert c.new_files == [k5new] and [u.key for u in c.units] == ["K2", "K5"] and c.newly_valid == []
        assert [(a.sha256, Path(a.last_path).name, a.how) for a in c.absent] == [
            (k1, "K1-copy.xlsx", "deleted"), (k5a, "K5-a.xlsx", "overwritten")]
        assert c.roster is not None and (c.roster.added, c.roster.removed) == (("K7",), ("K6",))
        assert [(m.sha256, [Path(p).name for p in m.old_paths], [Path(p).name for p in m.new_paths])
                for m in led.moves(run3)] == [(k4, ["K4.xlsx"], ["K4-renamed.xlsx"])]
        assert [(Path(f.paths[-1]).name, f.in_inbox, f.fate, f.counted_instead) for f in led.fates(run3)] == [
            ("K1.xlsx", False, "counted", None), ("K2.xlsx", True, "counted", None),
            ("K3.xlsx", True, "counted", None), ("K9.xlsx", True, "unmatched", None),
            ("broken.xlsx", True, "unmatched", None), ("nokey.xlsx", True, "unmatched", None),
            ("K2-v2.xlsx", True, "withdrawn", None), ("K3-old.xlsx", True, "superseded", k3),
            ("K4-renamed.xlsx", True, "counted", None), ("K5-a.xlsx", False, "superseded", k5new),
            ("K5-b.xlsx", True, "superseded", k5new), ("K5-a.xlsx", True, "counted", None)]
        h = led.history("K5")
        assert [(e.sha256, e.fate, e.superseded_by, e.last_seen_run) for e in h.entries] == [
            (k5a, "superseded", k5new, run2.id), (k5b, "superseded", k5new, run3.id), (k5new, "counted", None, run3.id)]
        assert [(d.run_id, d.sha256, d.rule, d.supersedes) for d in h.decisions] == [
            (run2.id, k5a, "file_time", None), (run3.id, k5new, "arrival", k5a)]
        h2 = led.history("K2")
        assert [(e.sha256, e.fate) for e in h2.entries] == [(k2v1, "counted"), (k2v2, "withdrawn")]
        assert h2.entries[1].withdrawn is not None and h2.entries[1].withdrawn.reason == "单位称误发"
        assert [d.sha256 for d in h2.decisions] == [k2v1, k2v2, k2v1]
        # Nothing is lost: every content ever put in the inbox is in the ledger and in the archive.
        held = dict(led.conn.execute("SELECT sha256, archive_name FROM files"))
        assert set(held) == written
        assert all(led.archive.verify(name, digest) for digest, name in held.items())
        assert led.archive_path(k1).read_bytes() == json.dumps(
            {"key": "K1", "saved": "2021-04-28T10:00:00", "errors": 0, "nonce": "a/K1.xlsx"}, sort_keys=True).encode()

    # round status reads the same figures from a read-only ledger, as JSON for scripts.
    with Ledger.open(db, readonly=True) as led:
        doc = led.summary().as_dict()
    assert (doc["run"]["id"], doc["valid"], doc["missing"], doc["since_previous_run"]["changed_units"]) == (
        3, ["K1", "K3", "K5"], ["K7"], ["K2", "K5"])
    assert doc["invalid"] == [{"key": "K2", "errors": 3}, {"key": "K4", "errors": 1}]
    assert doc["since_previous_run"]["roster"] == {"added": ["K7"], "removed": ["K6"], "changed": [], "contacts": []}
    assert [a["how"] for a in doc["since_previous_run"]["absent"]] == ["deleted", "overwritten"]
    json.dumps(doc)  # plain JSON all through


def test_a_full_disk_stops_the_run_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inbox = small_inbox(tmp_path, 40)
    db = tmp_path / "round.xlt.db"
    with Ledger.open(db, create=True) as led:
        run = led.begin_run(RunInfo("v1", SPEC))
        pages = led.conn.execute("PRAGMA page_count").fetchone()[0]
        led.conn.execute(f"PRAGMA max_page_count = {pages + 1}")  # the ledger's disk is (nearly) full
        with pytest.raises(LedgerError, match="写入台账失败") as info:
            led.ingest(run, sorted(str(p) for p in inbox.iterdir()), batch=40)
        assert str(db) in str(info.value) and "磁盘空间" in str(info.value)
        assert led.conn.execute("SELECT count(*) FROM files").fetchone()[0] == 0  # the batch was rolled back

    def no_space(self: Archive, data: bytes) -> Path:
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(archive.Archive, "_write_temp", no_space)
    small_inbox(tmp_path, 5, start=100)  # new returns: they must be copied
    with Ledger.open(db) as led:
        assert len(led.recovered) == 40  # the copies archived before the ledger filled up
        run = led.begin_run(RunInfo("v1", SPEC))
        with pytest.raises(LedgerError, match="无法写入归档文件夹") as info:
            led.ingest(run, sorted(str(p) for p in inbox.iterdir()))
        assert str(tmp_path / "round.xlt.archive") in str(info.value) and "磁盘空间不足" in str(info.value)
    monkeypatch.undo()
    with check_consistent(db) as led:
        assert one_run(led, inbox)[2] == 45


def test_the_archive_hashes_in_threads_as_it_does_in_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HASH_THREADS = 2 reads and hashes the sources in two threads, a few files ahead: the same results, in the same
    order (a missing file and a folder among them are Unread where they stand), as one at a time (the default)."""
    src = tmp_path / "inbox"
    paths: list[Path] = []
    for n in range(12):
        paths.append(src / f"r{n:02}.xlsx")
        make_return(paths[-1], f"SH{n % 5:03}")  # (some byte-identical: one copy each)
    paths[3:3] = [src / "gone.xlsx"]
    (src / "a folder.xlsx").mkdir()
    paths[8:8] = [src / "a folder.xlsx"]
    got = {}
    for threads in (1, 2):
        monkeypatch.setattr(archive, "HASH_THREADS", threads)
        got[threads] = Archive(tmp_path / f"archive{threads}").ingest(paths, {})
    assert [type(g) for g in got[2]] == [type(g) for g in got[1]]
    assert [isinstance(g, Unread) for g in got[2]] == [p.name in ("gone.xlsx", "a folder.xlsx") for p in paths]
    assert got[2] == got[1]


@pytest.mark.parametrize("joined", [True, False])
def test_the_files_without_a_report_are_those_of_no_report_under_the_runs_template_and_validator(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, joined: bool) -> None:
    """ledger.store.UNREPORTED_JOINED (one query) and the set it replaced give the same files, in arrival order: a file
    whose only report is another validator's or another template's still needs one, a file reported under the run's
    pair does not, whatever order the reports were stored in."""
    from xltemplate.ledger import store as store_mod

    monkeypatch.setattr(store_mod, "UNREPORTED_JOINED", joined)
    inbox = tmp_path / "inbox"
    datas = [make_return(inbox / f"r{n:02d}.json", f"SH{n:03d}", nonce=str(n)) for n in range(12)]
    with Ledger.open(tmp_path / "round.xlt.db", create=True) as led:
        old = led.begin_run(RunInfo("v0", SPEC, inputs=(str(inbox),)))
        led.ingest(old, sorted(str(p) for p in inbox.iterdir()))
        led.store_reports(old, [fake_report(sha(d), d) for d in datas[::2]])  # (v0's reports: not the next run's)
        finish(led, old)
        run = led.begin_run(RunInfo("v1", SPEC, inputs=(str(inbox),)))
        led.ingest(run, sorted(str(p) for p in inbox.iterdir()))
        assert [t.sha256 for t in led.needs_report(run)] == [sha(d) for d in datas]
        led.store_reports(run, [fake_report(sha(d), d) for d in (datas[7], datas[3], datas[10])])
        other = led.begin_run(RunInfo("v1", "spec-B", inputs=(str(inbox),)))  # (another template's: not run's pair)
        led.store_reports(other, [fake_report(sha(d), d) for d in datas[:6]])
        assert [t.sha256 for t in led.needs_report(run)] == [sha(d) for n, d in enumerate(datas) if n not in (3, 7, 10)]
        assert [t.archive_path.read_bytes() for t in led.needs_report(run)][:1] == [datas[0]]


def test_opening_reads_the_archive_setting_not_the_memos_and_a_ledger_without_it_is_refused(tmp_path: Path) -> None:
    """Ledger.meta and Ledger.open leave the memos (megabytes at 100,000 units) unread; a ledger whose archive_dir row
    is gone is refused in Chinese (before: a KeyError's traceback), the lock let go."""
    db = tmp_path / "round.xlt.db"
    with Ledger.open(db, create=True) as led:
        led.remember("verdict contexts packed", "x" * 1000)
        assert "memo verdict contexts packed" not in led.meta and led.meta["format"] == "xltemplate-ledger"
        assert led.memo("verdict contexts packed") == "x" * 1000
    with raw(db) as conn:
        conn.execute("DELETE FROM meta WHERE key = 'archive_dir'")
    with pytest.raises(NotALedgerError, match="台账文件不完整或已损坏（缺少归档文件夹的记录 archive_dir）"):
        Ledger.open(db)
    with raw(db) as conn:
        conn.execute("INSERT INTO meta(key, value) VALUES ('archive_dir', 'round.xlt.archive')")
    with Ledger.open(db) as led:  # (the lock was let go: opened again)
        assert led.archive.root == tmp_path / "round.xlt.archive"
