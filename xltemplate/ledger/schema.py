"""The ledger's file: schema, version, migrations, and the checks made before trusting a file.

The schema is documented here (the SQL comments are kept by SQLite, so any SQLite
tool shows them) and in ``docs/ledger.md``. Its version is ``PRAGMA user_version``;
``PRAGMA application_id`` marks the file as a ledger. A new ledger is built by
running version 1's script and then every migration, so a fresh ledger and a
migrated one are the same by construction. Version 1's script is frozen: change
the schema only by appending a migration.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ..errors import LedgerError, LedgerVersionError, NotALedgerError
from ..fsutil import disk_full, sweep
from ..signals import part_prefix

SCHEMA_VERSION = 5
APPLICATION_ID = 0x586C7444  # "XltD" in the file header: this SQLite file is an xltemplate ledger
FORMAT = "xltemplate-ledger"
_MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 10_000

# Version 1, frozen. Every table names its columns' meaning once, here. Tables whose rows are
# small are WITHOUT ROWID (clustered on their key); reports and rosters, whose rows hold
# kilobytes of JSON, are not (SQLite advises against WITHOUT ROWID for rows that large).
SCHEMA_V1 = """
-- Stable across versions (an older xltemplate reads it to say who made a newer ledger):
-- format = 'xltemplate-ledger', round_id, created_at, created_by (xltemplate version),
-- archive_dir (relative to the ledger's folder when inside it), migration.<n> (JSON: at, by, backup).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- Every roster a run was given, by the sha256 of its canonical JSON.
CREATE TABLE rosters (
    hash  TEXT PRIMARY KEY,           -- sha256 of rows
    units INTEGER NOT NULL,           -- number of rows
    rows  TEXT NOT NULL               -- JSON [{"key": ..., "values": {column: text}}]
);

-- One row per run of collect; finished_at stays NULL for a run that never finished.
CREATE TABLE runs (
    id                 INTEGER PRIMARY KEY,
    state              TEXT NOT NULL CHECK (state IN ('running', 'finished', 'interrupted')),
    started_at         TEXT NOT NULL,  -- ISO 8601, UTC
    finished_at        TEXT,           -- ISO 8601, UTC; NULL unless state = 'finished'
    xltemplate_version TEXT NOT NULL,
    validator_version  TEXT NOT NULL,  -- the validation rules' version: part of a cached report's key
    spec_hash          TEXT NOT NULL,  -- sha256 of the template spec(s): part of a cached report's key
    template_id        TEXT,
    template_version   TEXT,
    inputs             TEXT NOT NULL,  -- JSON list of the paths given on the command line
    roster_hash        TEXT REFERENCES rosters(hash),
    pid                INTEGER,
    host               TEXT,
    CHECK ((state = 'finished') = (finished_at IS NOT NULL))
);

-- Every file ever received, once per content; id is the arrival order.
CREATE TABLE files (
    id             INTEGER PRIMARY KEY,
    sha256         TEXT NOT NULL UNIQUE CHECK (length(sha256) = 64),
    size           INTEGER NOT NULL CHECK (size >= 0),
    archive_name   TEXT NOT NULL,      -- the copy, relative to the archive folder: ab/<sha256>.xlsx
    first_seen_run INTEGER REFERENCES runs(id),
    first_seen_at  TEXT NOT NULL,      -- ISO 8601, UTC
    first_mtime    TEXT,               -- the file's modification time when first seen (UTC); NULL if recovered
    origin         TEXT NOT NULL CHECK (origin IN ('inbox', 'recovered'))
                                       -- recovered: archived by a run killed before it recorded the file
);

-- Every time a file was seen at a path in a run: renames and deletions show here.
CREATE TABLE sightings (
    run_id  INTEGER NOT NULL REFERENCES runs(id),
    path    TEXT NOT NULL,             -- absolute
    sha256  TEXT NOT NULL REFERENCES files(sha256),
    mtime   TEXT NOT NULL,             -- the file's modification time (UTC)
    seen_at TEXT NOT NULL,             -- when the run read it (UTC)
    PRIMARY KEY (run_id, path)
) WITHOUT ROWID;
CREATE INDEX sightings_by_file ON sightings(sha256, run_id);

-- Inputs whose bytes could not be read in a run (no sha256, so not in files).
CREATE TABLE unread (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    path   TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (run_id, path)
) WITHOUT ROWID;

-- Validation results, cached per content, template and validator: a file is read once per pair.
CREATE TABLE reports (
    sha256            TEXT NOT NULL REFERENCES files(sha256),
    spec_hash         TEXT NOT NULL,
    validator_version TEXT NOT NULL,
    created_run       INTEGER REFERENCES runs(id),
    status            TEXT NOT NULL CHECK (status IN ('valid', 'invalid', 'unreadable')),
    unit_key          TEXT,            -- the roster key inside the file; NULL when it has none
    saved_at          TEXT,            -- the workbook's own saved time (naive ISO 8601)
    template_id       TEXT,
    template_version  TEXT,
    errors            INTEGER NOT NULL,
    warnings          INTEGER NOT NULL,
    total             TEXT,            -- the recomputed total score, a decimal as text
    grade             TEXT,
    payload           TEXT NOT NULL,   -- the caller's full report as JSON (findings included)
    PRIMARY KEY (sha256, spec_hash, validator_version)
);
CREATE INDEX reports_by_key ON reports(spec_hash, validator_version, unit_key);

-- Per finished run and unit: which file counts and why.
CREATE TABLE decisions (
    run_id     INTEGER NOT NULL REFERENCES runs(id),
    unit_key   TEXT NOT NULL,
    sha256     TEXT NOT NULL REFERENCES files(sha256),
    rule       TEXT NOT NULL CHECK (rule IN ('only', 'saved_at', 'arrival')),
    candidates INTEGER NOT NULL,      -- distinct files of the unit that were considered
    status     TEXT NOT NULL,         -- the counted file's status in this run
    errors     INTEGER NOT NULL,
    in_inbox   INTEGER NOT NULL,      -- 0: counted from the archive, gone from the inbox
    supersedes TEXT REFERENCES files(sha256), -- what counted in the previous finished run, if another file
    PRIMARY KEY (run_id, unit_key)
) WITHOUT ROWID;
CREATE INDEX decisions_by_unit ON decisions(unit_key, run_id);

-- Returns the clerk took out of the count (round withdraw KEY FILE).
CREATE TABLE withdrawals (
    id           INTEGER PRIMARY KEY,
    unit_key     TEXT NOT NULL,
    sha256       TEXT NOT NULL REFERENCES files(sha256),
    withdrawn_at TEXT NOT NULL,
    reason       TEXT NOT NULL
);
"""


def _v2(conn: sqlite3.Connection) -> None:
    """Version 2: a withdrawal can be reinstated, and one file is withdrawn at most once per unit."""
    conn.execute("ALTER TABLE withdrawals ADD COLUMN reinstated_at TEXT")
    conn.execute("ALTER TABLE withdrawals ADD COLUMN reinstate_reason TEXT")
    # Version 1 let a file be withdrawn twice; the first withdrawal stands, the repeats are closed.
    conn.execute(
        "UPDATE withdrawals SET reinstated_at = withdrawn_at,"
        " reinstate_reason = '重复撤回，已并入第 ' || (SELECT min(w.id) FROM withdrawals w"
        "   WHERE w.unit_key = withdrawals.unit_key AND w.sha256 = withdrawals.sha256) || ' 条'"
        " WHERE id NOT IN (SELECT min(id) FROM withdrawals GROUP BY unit_key, sha256)")
    conn.execute("CREATE UNIQUE INDEX withdrawals_active ON withdrawals(unit_key, sha256)"
                 " WHERE reinstated_at IS NULL")


def _v3(conn: sqlite3.Connection) -> None:
    """Version 3: what a cached report's verdict depends on besides the bytes; the rules ``collect`` decides by.

    A report holds while the run's verdict context for the file (the roster row of its key, the
    secrets, … as a fingerprint) is the one it was made under, and while the day taken as today is
    in [``checked_on``, ``valid_until``). Decisions are made by ``collect`` with
    :mod:`xltemplate.resubmission` and recorded with its rule, which adds two tie-breakers
    (the files' modification times, then the path) to version 1's rules: a CHECK constraint
    cannot be altered, so the table is rebuilt, its rows kept.
    """
    conn.execute("ALTER TABLE reports ADD COLUMN context TEXT NOT NULL DEFAULT ''")
    conn.execute("ALTER TABLE reports ADD COLUMN checked_on TEXT")
    conn.execute("ALTER TABLE reports ADD COLUMN valid_until TEXT")
    conn.execute("""
CREATE TABLE decisions_v3 (
    run_id     INTEGER NOT NULL REFERENCES runs(id),
    unit_key   TEXT NOT NULL,
    sha256     TEXT NOT NULL REFERENCES files(sha256),
    rule       TEXT NOT NULL CHECK (rule IN ('only', 'saved_at', 'arrival', 'file_time', 'path')),
    candidates INTEGER NOT NULL,      -- distinct files of the unit that were considered
    status     TEXT NOT NULL,         -- the counted file's status in this run
    errors     INTEGER NOT NULL,
    in_inbox   INTEGER NOT NULL,      -- 0: counted from the archive, gone from the inbox
    supersedes TEXT REFERENCES files(sha256), -- what counted in the previous finished run, if another file
    PRIMARY KEY (run_id, unit_key)
) WITHOUT ROWID""")
    conn.execute("INSERT INTO decisions_v3 SELECT run_id, unit_key, sha256, rule, candidates, status, errors, in_inbox,"
                 " supersedes FROM decisions")
    conn.execute("DROP TABLE decisions")
    conn.execute("ALTER TABLE decisions_v3 RENAME TO decisions")
    conn.execute("CREATE INDEX decisions_by_unit ON decisions(unit_key, run_id)")


def _v4(conn: sqlite3.Connection) -> None:
    """Version 4: the roll-up's big sheets as the last finished run wrote them (:mod:`xltemplate.rollup.reuse`).

    A sheet made from the same things as last time (the same reports in the same rows, the same template, the
    same writer …: its key) is reused whole instead of written again (issue 15: a round's second run). A report is
    also kept without its items (``slim``): what the sheets other than those read, five times quicker to load; and
    the caller's brief of it (``brief``: what matching reads), quicker still.
    """
    conn.execute("ALTER TABLE reports ADD COLUMN slim TEXT")  # payload without its items (NULL: stored before)
    conn.execute("ALTER TABLE reports ADD COLUMN brief TEXT")  # the caller's brief of the report (NULL: stored before)
    conn.execute("""
CREATE TABLE parts (
    name   TEXT PRIMARY KEY,          -- the roll-up sheet's name
    key    TEXT NOT NULL,             -- sha256 of everything the sheet is made from
    state  TEXT NOT NULL,             -- JSON: what writing the sheet leaves beside its XML (its last row, sums)
    xml    BLOB NOT NULL,             -- the sheet's XML part, zlib-compressed
    run_id INTEGER NOT NULL REFERENCES runs(id)  -- the run that wrote it
)""")  # (rows of megabytes: not WITHOUT ROWID, as reports)


def _v5(conn: sqlite3.Connection) -> None:
    """Version 5: what each input looked like when it was last hashed (``stats``).

    A run hashes every input again unless its path's file is, by every measure the operating system keeps, the one
    hashed then, and was last changed well before that hashing began (see :data:`xltemplate.ledger.archive.STAT_SKIP`,
    git's rule for a racily clean index entry); ``collect --rehash`` hashes every input.
    """
    conn.execute("""
CREATE TABLE stats (
    path       TEXT PRIMARY KEY,      -- the input, absolute (as sightings.path)
    node       TEXT NOT NULL,         -- "device:inode"
    size       INTEGER NOT NULL,
    mtime_ns   INTEGER NOT NULL,      -- modification time, nanoseconds
    ctime_ns   INTEGER NOT NULL,      -- inode change time, nanoseconds (no program sets it)
    sha256     TEXT NOT NULL,         -- what the bytes hashed to
    checked_ns INTEGER NOT NULL       -- when the run that hashed them began to (this machine's clock)
) WITHOUT ROWID""")


@dataclass(frozen=True)
class Migration:
    version: int  # the version this step leads to
    what: str
    apply: Callable[[sqlite3.Connection], None]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(2, "withdrawals can be reinstated", _v2),
    Migration(3, "a report's verdict context and dates; collect's decision rules", _v3),
    Migration(4, "the roll-up's big sheets kept for the next run; a report without its items", _v4),
    Migration(5, "what each input looked like when last hashed (an unchanged file is not read again)", _v5),
)
assert [m.version for m in MIGRATIONS] == list(range(2, SCHEMA_VERSION + 1))


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), foreign keys on."""
    conn = sqlite3.connect(str(path), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    # FULL: a committed run survives a power cut too, not just a killed process.
    conn.execute("PRAGMA synchronous = FULL")
    if readonly:
        conn.execute("PRAGMA query_only = ON")
    return conn


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any exception; a full or unwritable disk is a LedgerError."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        told = storage_error(conn, exc)
        if told is None:
            raise
        raise told from exc


def storage_error(conn: sqlite3.Connection, exc: sqlite3.OperationalError) -> LedgerError | None:
    """``exc`` (a write to the ledger of ``conn`` that failed) as the clerk is told it when the ledger's disk is full or
    unwritable (naming the ledger); None: another error. :func:`transaction`'s, and Ledger.store_parts' (a round's
    kept sheets stored while its roll-up is written, whose writer would take SQLite's full disk for its own
    temporary folder's: fsutil.scratch_error)."""
    if not _storage_failure(exc):
        return None
    where = conn.execute("PRAGMA database_list").fetchone()[2]
    why = "磁盘空间不足" if disk_full(exc) else exc
    return LedgerError(f"{where}：写入台账失败（{why}）。请检查磁盘空间和文件权限后重新运行；"
                       "台账中已有的内容不受影响。")


# SQLite's result codes, beside a full disk (fsutil.disk_full), for a disk that is unwritable, or a ledger held too long.
_STORAGE = ("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_BUSY", "SQLITE_LOCKED")


def _storage_failure(exc: sqlite3.OperationalError) -> bool:
    if disk_full(exc):
        return True
    name = getattr(exc, "sqlite_errorname", None)  # Python 3.11+
    if name is not None:
        return str(name).startswith(_STORAGE)
    text = str(exc)
    return any(w in text for w in ("readonly", "unable to open", "locked"))


def probe(path: Path) -> int:
    """The schema version of a ledger file; :class:`NotALedgerError` for anything else."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(_MAGIC))
    except IsADirectoryError as exc:
        raise NotALedgerError(f"{path}：这是一个文件夹，不是台账文件。请给出台账文件（如 round.xlt.db）的路径。") from exc
    except OSError as exc:
        raise LedgerError(f"{path}：无法读取台账文件（{exc.strerror}）。请检查文件权限。") from exc
    if not head:
        raise NotALedgerError(f"{path}：文件为空，不是台账。请删除这个空文件，或换一个文件名建立新台账。")
    if head != _MAGIC:
        raise NotALedgerError(f"{path}：不是 SQLite 数据库，不是 xltemplate 台账。请检查 --ledger 给出的文件名"
                              "（台账一般名为 *.xlt.db）。")
    # Opening a damaged WAL-mode file can leave -wal and -shm files: remove those this probe made
    # (only for files that are no ledger: a newer xltemplate could be using a newer ledger's).
    companions = [path.with_name(path.name + s) for s in ("-wal", "-shm")]
    made = [c for c in companions if not c.exists()]
    try:
        return _probe_sqlite(path)
    except NotALedgerError:
        for c in made:
            with contextlib.suppress(OSError):
                c.unlink()
        raise


def _probe_sqlite(path: Path) -> int:
    try:
        conn = connect(path, readonly=True)
    except sqlite3.Error as exc:
        raise NotALedgerError(f"{path}：文件已损坏，无法作为台账打开（{exc}）。请用备份恢复，或换一个文件名建立新台账。") from exc
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if app_id != APPLICATION_ID:
            raise NotALedgerError(f"{path}：是另一个 SQLite 数据库，不是 xltemplate 台账。"
                                  "请检查 --ledger 给出的文件名，或换一个文件名建立新台账。")
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        row = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        if version < 1 or row is None or row[0] != FORMAT:
            raise NotALedgerError(f"{path}：台账文件不完整或已损坏。请用备份恢复，或换一个文件名建立新台账。")
        if version > SCHEMA_VERSION:
            made_by = conn.execute("SELECT value FROM meta WHERE key = 'created_by'").fetchone()
            who = f"（由 xltemplate {made_by[0]} 创建）" if made_by else ""
            raise LedgerVersionError(
                f"{path}：台账格式版本为 {version}{who}，比本程序支持的版本 {SCHEMA_VERSION} 新。"
                "请升级 xltemplate（pip install -U xltemplate）后再使用这个台账；本程序不会改动它。")
        return version
    except sqlite3.DatabaseError as exc:
        raise NotALedgerError(f"{path}：文件已损坏，无法作为台账读取（{exc}）。请用备份恢复，或换一个文件名建立新台账。") from exc
    finally:
        conn.close()


def create(path: Path, meta: dict[str, str]) -> None:
    """Build a new ledger beside ``path`` and move it into place; never replaces an existing file.

    The caller holds the ledger's lock. Built under a temporary name, a ledger
    is never seen half-made, even by a process killed while creating it (what
    such a process left is removed here, as nobody else can be creating now).
    """
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.creating"):
        with contextlib.suppress(OSError):
            stale.unlink()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".creating", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        conn = sqlite3.connect(tmp_name, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")  # persistent: stored in the file header
            conn.execute("PRAGMA foreign_keys = ON")
            with transaction(conn):
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                for statement in _statements(SCHEMA_V1):
                    conn.execute(statement)
                conn.execute("PRAGMA user_version = 1")
                conn.executemany("INSERT INTO meta(key, value) VALUES (?, ?)",
                                 sorted({**meta, "format": FORMAT}.items()))
                for step in MIGRATIONS:
                    step.apply(conn)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        finally:
            conn.close()
        _usual_mode(tmp)
        _fsync(tmp)
        try:
            os.link(tmp, path)
        except FileExistsError as exc:
            raise LedgerError(f"{path}：文件已存在，没有覆盖。") from exc
        except OSError:
            if path.exists():
                raise LedgerError(f"{path}：文件已存在，没有覆盖。") from None
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def backup_path(path: Path, version: int) -> Path:
    """``round.xlt.db.bak-v1`` (``.bak-v1-2`` … when that exists already)."""
    candidate = path.with_name(f"{path.name}.bak-v{version}")
    n = 2
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.bak-v{version}-{n}")
        n += 1
    return candidate


def migrate(conn: sqlite3.Connection, path: Path, stamp: str, by: str) -> Path:
    """Copy the ledger aside (SQLite's backup API), then bring it to :data:`SCHEMA_VERSION` in one transaction."""
    old = int(conn.execute("PRAGMA user_version").fetchone()[0])
    target = backup_path(path, old)
    sweep(target)  # a migration killed outright left its half copy (as large as the ledger) under a name of its own
    fd, tmp_name = tempfile.mkstemp(prefix=part_prefix(target.name), suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        dest = sqlite3.connect(tmp_name)
        try:
            conn.backup(dest)
        finally:
            dest.close()
        _usual_mode(Path(tmp_name))
        _fsync(Path(tmp_name))
        os.replace(tmp_name, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
    with transaction(conn):
        for step in MIGRATIONS:
            if step.version > old:
                step.apply(conn)
                conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                             (f"migration.{step.version}",
                              json.dumps({"at": stamp, "by": by, "from": old, "backup": target.name, "what": step.what},
                                         ensure_ascii=False)))
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return target


def migrate_file(path: Path, stamp: str, by: str) -> Path | None:
    """Migrate the ledger at ``path`` (the caller holds the lock); None when another process just did."""
    if probe(path) >= SCHEMA_VERSION:
        return None
    conn = connect(path)
    try:
        return migrate(conn, path, stamp, by)
    finally:
        conn.close()


def _statements(script: str) -> list[str]:
    """Split a script into statements (sqlite3_complete knows comments and quotes) to run in one transaction."""
    statements, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            statements.append(buf.strip())
            buf = ""
    if buf.strip() and not all(not ln.strip() or ln.strip().startswith("--") for ln in buf.splitlines()):
        raise ValueError(f"incomplete SQL statement: {buf.strip()[:80]}")
    return statements


def _usual_mode(path: Path) -> None:
    """mkstemp makes 0600 files; give the ledger the permissions any new file would get."""
    if os.name != "nt":
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(path, 0o666 & ~umask)


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())
