"""Where collect keeps its returns and its rows while it runs: a private SQLite file (issue 15: memory flat in N).

With the spill (:mod:`.spill`) a return's full report is already on disk; what was still held in memory per unit
was its brief, path, modification time, place in the spill, fate and notes, and each roll-up row: about 600 bytes a
unit, 60 MB at 100,000. Here each of them is a record in a SQLite database of this run's own, and the collection's
``returns`` and ``rows`` are views that make a :class:`~xltemplate.rollup.collect.Return` or
:class:`~xltemplate.rollup.collect.Row` when one is asked for (:class:`~xltemplate.rollup.collect.StoredReturns`,
:class:`~xltemplate.rollup.collect.StoredRows`). Matching reads the returns in the order of their keys from an
index (never a dict of them), and the roll-up reads the rows one chunk at a time.

The database is scratch: journal off, no syncing, a bounded page cache (:data:`CACHE_KB`), and, as the spill
file, nameless: made in a private folder (:func:`tempfile.mkdtemp`, mode 0700) in TMPDIR, opened, and unlinked at
once with its folder, so that nothing is left behind whatever ends the run, a kill included (SQLite's own
temporary files, for its sorts, are nameless too); where an open file cannot be removed (Windows) the folder is
removed when the database is closed, so a kill there leaves it. It is held in exclusive locking mode: no other connection can
open it (it has no name), and a process forked from this one (the roll-up's second process, rollup/split.py)
reads it through the connection it was forked with, where SQLite's cache and lock are its own copies, and the
file through a description of its own (:meth:`Units.own_offset`): the records are all written, and the indexes
made, before any fork (matching is their last writer, but for a round's since flags, written before the roll-up:
rounds.view.FLAGS_STORED), and neither process writes after. Only this process writes it; what it unpickles from it (a brief, a return's rare values) it
pickled itself. Text is kept as UTF-8 with surrogates passed through (a path that is not UTF-8 keeps its escapes),
whose byte order is the order of ``str``: ``ORDER BY`` gives what ``sorted`` gives.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any, Iterator, Sequence

from ..signals import deferred, scratch_prefix
from ..workers import forget, read_only_in_workers

#: The page cache each connection may use, in KB (SQLite's default is 2,000 KB; the run's memory is the point).
CACHE_KB = 1024
#: Records read at a time when a view is walked.
CHUNK = 256
#: Row values (``(a, b) > (?, ?)``, the walks' paging) came in SQLite 3.15: an older library keeps the lists.
AVAILABLE = sqlite3.sqlite_version_info >= (3, 15, 0)


def text(value: str) -> bytes:
    """``value`` as the database keeps it (its byte order is ``str``'s order)."""
    return value.encode("utf-8", "surrogatepass")


def untext(value: bytes) -> str:
    return value.decode("utf-8", "surrogatepass")


_SCHEMA = """
CREATE TABLE ret(n INTEGER PRIMARY KEY, path BLOB NOT NULL, key BLOB, gkey BLOB NOT NULL, status TEXT NOT NULL,
                 mtime REAL NOT NULL, hi INTEGER NOT NULL, lo INTEGER NOT NULL, own BLOB NOT NULL,
                 plain INTEGER NOT NULL, common BLOB NOT NULL,
                 fate TEXT NOT NULL, rare BLOB);
CREATE TABLE row({row});
"""
# (a row's columns after ``n``, the row number; the table is made again, renumbered, by Units.renumber_rows)
_ROW_COLUMNS = "key BLOB NOT NULL, at INTEGER, counted INTEGER, others BLOB, rule TEXT, candidates INTEGER NOT NULL"
_SCHEMA = _SCHEMA.format(row=f"n INTEGER PRIMARY KEY, {_ROW_COLUMNS}")


class Units:
    """The database (see the module): raw records in, raw records out; the views in :mod:`.collect` make objects."""

    db: sqlite3.Connection | None

    def __init__(self) -> None:
        with deferred():
            folder = Path(tempfile.mkdtemp(prefix=f"{scratch_prefix()}units-"))  # (whose: see fsutil.sweep)
            self._name = str(folder / "units.db")
            try:
                # (check_same_thread off: the workers' results may be taken on another thread; one at a time)
                db = self.db = sqlite3.connect(folder / "units.db", isolation_level=None, check_same_thread=False)
                for pragma in ("journal_mode = OFF", "synchronous = OFF", f"cache_size = -{CACHE_KB}",
                               "temp_store = FILE", "locking_mode = EXCLUSIVE"):
                    db.execute(f"PRAGMA {pragma}")
                db.executescript(_SCHEMA)  # (the file written: open from here on, and its lock held)
                # which file it is, for own_offset (not by its name: /proc shows it with symbolic links resolved)
                st = os.stat(self._name)
                self._id = (st.st_dev, st.st_ino)
                read_only_in_workers(self._id)  # (workers never touch it)
            finally:
                shutil.rmtree(folder, ignore_errors=True)  # (Windows refuses while the file is open: again at close)
        self._folder: Path | None = folder if folder.exists() else None
        self.returns = 0  # records in ``ret``
        self.rows = 0  # records in ``row``
        self.row_base = 0  # the first row's ``n`` (rows are numbered again when put in their natural order)
        self.indexed: set[str] = set()

    def own_offset(self) -> None:
        """In a process forked from this one (Linux): the file through a file description of its own, at the same
        descriptor, so that its offset is not the parent's (SQLite built without ``pread`` seeks, then reads; as
        the split's child does with the spill). Found among this process's descriptors by its device and inode (its
        name as /proc shows it has the symbolic links on its way resolved)."""
        for name in os.listdir("/proc/self/fd"):
            try:
                st = os.fstat(int(name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == self._id:
                mine = os.open(f"/proc/self/fd/{name}", os.O_RDWR | os.O_CLOEXEC)
                os.dup2(mine, int(name), inheritable=False)
                os.close(mine)

    def renumber_rows(self, order: str) -> None:
        """The rows numbered again in the order ``ORDER BY order`` gives (a new table, filled in that order, in place
        of the old); :attr:`row_base` the first row's new number."""
        assert self.db is not None, "the collection's records are closed"
        names = ", ".join(c.split()[0] for c in _ROW_COLUMNS.split(", "))
        self.db.execute("BEGIN")
        self.db.execute(f"CREATE TABLE row2(n INTEGER PRIMARY KEY, {_ROW_COLUMNS})")
        self.db.execute(f"INSERT INTO row2({names}) SELECT {names} FROM row ORDER BY {order}")
        self.db.execute("DROP TABLE row")
        self.db.execute("ALTER TABLE row2 RENAME TO row")
        self.db.execute("COMMIT")
        self.indexed = {name for name in self.indexed if not name.startswith("row_")}  # (they went with the table)
        self.row_base = self.query("SELECT min(n) FROM row")[0][0] or 0

    def index(self, name: str, sql: str) -> None:
        """Make an index once (after the records it covers are in: one sort, not one insert at a time)."""
        if name not in self.indexed:
            assert self.db is not None
            self.db.execute(sql)
            self.indexed.add(name)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        assert self.db is not None, "the collection's records are closed"
        return self.db.execute(sql, params).fetchall()

    def many(self, sql: str, params: list[tuple[Any, ...]]) -> None:
        assert self.db is not None, "the collection's records are closed"
        if params:
            self.db.execute("BEGIN")
            self.db.executemany(sql, params)
            self.db.execute("COMMIT")

    def walk(self, sql: str, first: tuple[Any, ...], at: slice) -> Iterator[Any]:
        """The records of ``sql`` (``... WHERE (cols) > (?, ...) ORDER BY cols LIMIT ?``), a chunk at a time, no
        statement left open between chunks (so that the caller may write as it goes): ``first`` the values before
        the first record, ``at`` the columns of a record that are the next chunk's start."""
        after = first
        while True:
            got = self.query(sql, (*after, CHUNK))
            yield from got
            if len(got) < CHUNK:
                return
            after = tuple(got[-1][at])

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None
            forget(self._id)
        if self._folder is not None:  # (where an open file cannot be removed: now it is closed)
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


__all__ = ["AVAILABLE", "CACHE_KB", "CHUNK", "Units", "text", "untext"]
