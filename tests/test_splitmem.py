"""The roll-up's second process (rollup/split.py) at any N, and the roll-up's write on a full disk (issue 15, eighth
pass).

- The child's rows are given their formats' numbers a bounded piece at a time (``split.SMALL_CHUNKS``): the same
  bytes as a whole file at once, whatever the pieces' size, and what the substitution holds does not grow with the
  file (at 4 M characters a piece, as text, it was some 40 MB of the child's peak at any N).
"""

from __future__ import annotations

import errno
import importlib
import io
import os
import random
import re
import tempfile
import tracemalloc
from pathlib import Path

import pytest

from xltemplate.rollup import write_rollup

from .test_rollup_onepass import _first

split = importlib.import_module("xltemplate.rollup.split")


def _splitting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(split, "SPLIT_FROM", 1)
    monkeypatch.setattr(split, "SPLIT_PARENT_MB", float("inf"))  # (the test process is larger than a collect's)
    monkeypatch.setattr(split, "available_cpus", lambda: 2)  # (a machine of one CPU never splits)


def _rows(rng: random.Random, n: int) -> bytes:
    """Rows as the child writes them: cells with format tokens, CJK and ASCII text, rows ending in ">"."""
    words = ["指标", "得分", "完成率", "abc", "&amp;", "0.5", "满意度调查", "\U0001d518"]
    out = []
    for r in range(n):
        cells = "".join(f'<c r="A{r}" s="\x01{rng.randint(0, 40)}" t="inlineStr"><is><t>{rng.choice(words) * rng.randint(1, 9)}</t></is></c>'
                        for _ in range(rng.randint(0, 6)))
        out.append(f'<row r="{r}">{cells}</row>')
    return "".join(out).encode("utf-8")


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 4096])
def test_the_formats_are_numbered_alike_whatever_the_pieces(chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A piece ends where a row ends (a token is never cut, a character may be: bytes), so the output is the whole
    text substituted at once; formats without a number are left and said."""
    rng = random.Random(chunk)
    for case in range(20):
        src = _rows(rng, rng.randint(0, 60))
        numbers = {n: n * 3 + 1 for n in range(41) if rng.random() < 0.9}
        expected_missing: set[int] = set()

        def whole(m: re.Match[bytes]) -> bytes:
            n = int(m.group(1))
            if n not in numbers:
                expected_missing.add(n)
                return m.group(0)
            return b' s="%d"' % numbers[n]

        expected = re.sub(rb' s="\x01(\d+)"', whole, src)
        for small in (True, False):
            monkeypatch.setattr(split, "SMALL_CHUNKS", small)
            monkeypatch.setattr(split, "CHUNK", chunk)
            out, missing = io.BytesIO(), set()
            split._substitute(io.BytesIO(src), out, numbers.get, missing)
            assert out.getvalue() == expected, (chunk, case, small)
            assert missing == expected_missing
        assert (b"\x01" in expected) == bool(expected_missing)


def test_what_the_substitution_holds_does_not_grow_with_the_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Python memory while 1 and 16 MB of rows (in a file, as the child's are) are numbered: under 1 MB, the same at
    both sizes (4 MB pieces held 4 MB at any size, and some 20 MB at 16 MB: a piece, its substitute, their join)."""
    src = _rows(random.Random(1), 60_000)
    assert len(src) > 16 << 20
    numbers = {n: n for n in range(41)}
    peaks = {}
    for size in (1 << 20, 16 << 20):
        rows = tmp_path / f"{size}.rows"
        rows.write_bytes(src[:size])
        for small in (True, False):
            monkeypatch.setattr(split, "SMALL_CHUNKS", small)
            with open(rows, "rb") as inp:
                tracemalloc.start()
                try:
                    split._substitute(inp, _Sink(), numbers.get, set())
                    peaks[small, size] = tracemalloc.get_traced_memory()[1]
                finally:
                    tracemalloc.stop()
    assert peaks[True, 1 << 20] < 1 << 20 and peaks[True, 16 << 20] < 1 << 20, peaks
    assert peaks[False, 16 << 20] > 16 << 20, peaks  # (the measure can see the difference)


class _Sink:
    """A file that keeps nothing (what it was given is counted)."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)


def test_a_split_roll_up_is_the_same_in_small_pieces_and_large(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The child's numbering and the join's copy in pieces of a few bytes (every row cut somewhere) and of 4 MB,
    against one process."""
    c = _first()
    _splitting(monkeypatch)
    started = []
    real = split.start
    monkeypatch.setattr(split, "start", lambda *a: started.append(1) or real(*a))
    got = {}
    for small, chunk in ((True, 5), (True, 1 << 16), (False, 1 << 16)):
        monkeypatch.setattr(split, "SMALL_CHUNKS", small)
        monkeypatch.setattr(split, "CHUNK", chunk)
        got[small, chunk] = write_rollup(c, tmp_path / f"{small}-{chunk}.xlsx").read_bytes()
    assert len(started) == 3
    monkeypatch.setattr(split, "SPLIT", False)
    one = write_rollup(c, tmp_path / "one.xlsx").read_bytes()
    assert [k for k, v in got.items() if v != one] == []


# -- a full disk while the roll-up itself is written -------------------------------------------------------------


class _FullFile:
    """A file on a disk with ``room`` bytes left: a write past it raises ENOSPC (as does the close, for what the
    file buffered: a real file's close flushes)."""

    def __init__(self, fh: object, room: int) -> None:
        self._fh, self._room = fh, room

    def write(self, data: object) -> int:
        self._room -= len(data)  # type: ignore[arg-type]
        if self._room < 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self._fh.write(data)  # type: ignore[attr-defined,no-any-return]

    def __enter__(self) -> "_FullFile":
        return self

    def __exit__(self, *a: object) -> None:
        self._fh.close()  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self._fh, name)


def _full_open(room: int) -> object:
    """``open``, its files for writing on a disk with ``room`` bytes left (each)."""
    def opened(file: object, mode: str = "r", *a: object, **k: object) -> object:
        fh = open(file, mode, *a, **k)  # type: ignore[call-overload]  # noqa: SIM115
        return fh if mode.startswith("r") else _FullFile(fh, room)
    return opened


def _sqlite_full() -> BaseException:
    """A real SQLITE_FULL from SQLite (as a sort's temporary file on a full disk gives it)."""
    import sqlite3

    db = sqlite3.connect(":memory:")
    db.execute("PRAGMA max_page_count = 2")
    db.execute("CREATE TABLE t (x)")
    try:
        db.execute("INSERT INTO t VALUES (?)", (b"x" * 100_000,))
    except sqlite3.OperationalError as exc:
        return exc
    raise AssertionError("SQLite took 100 KB in 2 pages")


def _inject(stage: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import xlsxwriter.worksheet
    import xlsxwriter.xmlwriter

    from xltemplate import fsutil
    from xltemplate.rollup import units

    workbook = importlib.import_module("xltemplate.rollup.workbook")
    if stage == "sheets":  # XlsxWriter's constant-memory sheets (TMPDIR)
        monkeypatch.setattr(xlsxwriter.worksheet, "open", _full_open(5000), raising=False)
    elif stage == "parts":  # the parts XlsxWriter writes out before zipping them (TMPDIR)
        monkeypatch.setattr(xlsxwriter.xmlwriter, "open", _full_open(2000), raising=False)
    elif stage == "second":  # the roll-up's second process's rows (TMPDIR)
        _splitting(monkeypatch)
        monkeypatch.setattr(split, "open", _full_open(3000), raising=False)
    elif stage == "sort":  # SQLite's sort files while the roll-up reads the store (TMPDIR)
        writing = [False]
        real_write, real_walk = workbook._Writer.write, units.Units.walk

        def write(self: object) -> None:
            writing[0] = True
            real_write(self)

        def walk(self: object, *a: object, **k: object) -> object:
            if writing[0]:
                raise _sqlite_full()
            return real_walk(self, *a, **k)

        monkeypatch.setattr(workbook._Writer, "write", write)
        monkeypatch.setattr(units.Units, "walk", walk)
    elif stage == "output":  # the roll-up's zip, beside the output
        monkeypatch.setattr(workbook, "open", _full_open(20_000), raising=False)
    elif stage == "rename":  # the atomic rename's temporary, beside the output
        real = tempfile.mkstemp

        def mkstemp(*a: object, **k: object) -> object:
            if k.get("suffix") == ".part":
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real(*a, **k)  # type: ignore[call-overload]

        monkeypatch.setattr(fsutil.tempfile, "mkstemp", mkstemp)
    else:
        raise AssertionError(stage)


_TEMPORARY = ("sheets", "parts", "second", "sort")


@pytest.mark.parametrize("stage", [*_TEMPORARY, "output", "rename"])
def test_a_full_disk_while_the_roll_up_is_written_is_said_in_chinese(stage: str, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Each place the roll-up's write puts bytes, on a full disk: one Chinese line naming the folder that is full
    (TMPDIR for the run's temporary files, the output for the zip and its temporary) and what to do, exit 2, no
    traceback, nothing left in either folder. Before: the temporary files' disk was said to be the output's, SQLite's
    error was a traceback, and the second process's was "异常退出，代码 1" with its traceback."""
    from click.testing import CliRunner

    from xltemplate.cli import main

    from .conftest import SAMPLES

    scratch, outdir = tmp_path / "tmp", tmp_path / "out"
    scratch.mkdir()
    outdir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    _inject(stage, monkeypatch)
    out = outdir / "汇总.xlsx"
    started = []
    real = split.start
    monkeypatch.setattr(split, "start", lambda *a: started.append(1) or real(*a))
    result = CliRunner().invoke(main, ["collect", str(SAMPLES / "returns"), "--roster", str(SAMPLES / "roster.csv"),
                                       "-o", str(out), "--quiet", "--jobs", "1"])
    text = result.output
    assert result.exit_code == 2, (text, result.exception)
    assert "Traceback" not in text and "异常退出" not in text, text
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("错误：") and "磁盘空间不足" in lines[0], text
    if stage in _TEMPORARY:
        assert f"临时文件夹 {scratch}" in lines[0] and "TMPDIR" in lines[0], text
    else:
        assert str(out) in lines[0], text
    assert started == ([1] if stage == "second" else []), "the second process was (not) used"
    assert os.listdir(outdir) == [] and os.listdir(scratch) == []


def test_the_roll_up_is_the_same_whether_a_full_disk_would_be_told_where(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """workbook.TOLD_WHERE (XlsxWriter writes its zip through workbook._Output, not to the path): the same bytes,
    split or not."""
    c = _first()
    _splitting(monkeypatch)
    got = {}
    for told in (True, False):
        for on in (True, False):
            monkeypatch.setattr(importlib.import_module("xltemplate.rollup.workbook"), "TOLD_WHERE", told)
            monkeypatch.setattr(split, "SPLIT", on)
            got[told, on] = write_rollup(c, tmp_path / f"{told}-{on}.xlsx").read_bytes()
    assert len(set(got.values())) == 1


@pytest.mark.parametrize("exc, full", [
    (OSError(errno.ENOSPC, "No space left on device"), True),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), True),
    (OSError(errno.EFBIG, "File too large"), True),
    (OSError(errno.EACCES, "Permission denied"), False),
    (OSError(errno.EIO, "Input/output error"), False),
    (ValueError("disk is full"), False),
])
def test_one_answer_to_a_full_disk(exc: BaseException, full: bool) -> None:
    """fsutil.disk_full: what an output, the run's temporary files and the ledger each ask (three checks before)."""
    import sqlite3

    from xltemplate import fsutil
    from xltemplate.ledger import schema

    assert fsutil.disk_full(exc) is full
    assert ("磁盘空间不足" in fsutil.os_error_reason(exc)) is full if isinstance(exc, OSError) else True
    assert (fsutil.scratch_error(exc) is not None) is full
    sql = _sqlite_full()
    assert isinstance(sql, sqlite3.OperationalError) and fsutil.disk_full(sql) and schema._storage_failure(sql)
    assert fsutil.scratch_error(sql) is not None
    assert not fsutil.disk_full(sqlite3.OperationalError("no such table: t"))


@pytest.mark.parametrize("write_fails", [True, False])
def test_a_full_disk_at_the_collections_close_is_said_once(write_fails: bool, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The spill's close flushes what it buffered, and fails too on a full disk: after a failed write the write's
    error is the one told (before: the close's OSError traceback, over it); after a roll-up written, the close's
    full disk is said in Chinese (before: a traceback) with the roll-up said written."""
    from click.testing import CliRunner

    from xltemplate import fsutil
    from xltemplate.cli import main
    from xltemplate.rollup import spill as spill_mod

    from .conftest import SAMPLES

    real_close = spill_mod.Spill.close

    def close(self: object) -> None:
        real_close(self)  # type: ignore[arg-type]
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(spill_mod.Spill, "close", close)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    if write_fails:
        monkeypatch.setattr("xltemplate.rollup.write_rollup", lambda c, out: (_ for _ in ()).throw(fsutil.scratch_full()))
    out = tmp_path / "out" / "汇总.xlsx"
    result = CliRunner().invoke(main, ["collect", str(SAMPLES / "returns"), "-o", str(out), "--quiet", "--jobs", "1"])
    text = result.output
    assert result.exit_code == 2 and "Traceback" not in text, (text, result.exception)
    errors = [line for line in text.splitlines() if line.startswith("错误：")]
    assert len(errors) == 1 and "临时文件夹" in errors[0] and "磁盘空间不足" in errors[0], text
    assert out.exists() is (not write_fails)
    assert ("已写入" in text) is (not write_fails)


# -- workers get the run's temporary files read-only --------------------------------------------------------------


def _tries(fds: dict[str, int]) -> dict[str, object]:
    """In a worker: each descriptor read (its first byte) and written (one byte past its end, then taken back)."""
    got: dict[str, object] = {}
    for name, fd in fds.items():
        read = os.pread(fd, 1, 0)
        try:
            end = os.fstat(fd).st_size
            os.pwrite(fd, b"!", end)
            os.truncate(f"/proc/self/fd/{fd}", end)
            got[name] = ("written", read)
        except OSError as exc:
            got[name] = (errno.errorcode[exc.errno or 0], read)
    return got


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd") or not hasattr(os, "pread"), reason="Linux's /proc and pread")
def test_workers_get_the_runs_temporary_files_read_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The spill, the store and the roster's rows on disk, as a worker sees them: readable, not writable (EBADF), at
    the descriptors the parent has (before: writable, as the parent's); the parent's still writable; with the
    switch off a worker writes them (the measure can see it); closed, they are forgotten."""
    from xltemplate import workers
    from xltemplate import roster as roster_mod
    from xltemplate.rollup import spill as spill_mod
    from xltemplate.rollup import units as units_mod

    spill = spill_mod.Spill()
    spill.put_packed(b"a report")
    assert spill._fh is not None
    spill._fh.flush()
    units = units_mod.Units()
    spool = roster_mod._Spool(8)
    spool.append(b"rows of a roster")
    assert spool._file is not None
    spool._flush()
    store_fd = next(int(n) for n in os.listdir("/proc/self/fd")
                    if _same_file(int(n), units._id))
    fds = {"spill": spill._fh.fileno(), "store": store_fd, "roster": spool._file.fileno()}
    try:
        got = {on: None for on in (True, False)}
        for on in (True, False):
            monkeypatch.setattr(workers, "READ_ONLY", on)
            got[on] = workers.run_bounded(_tries, fds)
        assert got[True] == {"spill": ("EBADF", b"a"), "store": ("EBADF", b"S"), "roster": ("EBADF", b"r")}, got
        assert got[False] == {"spill": ("written", b"a"), "store": ("written", b"S"), "roster": ("written", b"r")}, got
        assert os.pwrite(fds["spill"], b"!", 1 << 20) == 1  # (the parent's own: writable)
    finally:
        spill.close()
        units.close()
    assert units._id not in workers._READ_ONLY and spill._ident not in workers._READ_ONLY
    ident = workers.file_id(fds["roster"])
    del spool
    import gc

    gc.collect()
    assert ident not in workers._READ_ONLY


def _same_file(fd: int, ident: tuple[int, int]) -> bool:
    try:
        st = os.fstat(fd)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == ident


def test_a_collect_is_the_same_with_its_files_read_only_in_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """workers.READ_ONLY on and off, two workers, the roster's rows on disk (roster.DISK_FROM 0), the second process
    writing 指标得分: the same roll-up and --json."""
    from click.testing import CliRunner

    from xltemplate import roster as roster_mod
    from xltemplate import workers
    from xltemplate.cli import main

    from .conftest import SAMPLES

    _splitting(monkeypatch)
    monkeypatch.setattr(roster_mod, "DISK_FROM", 0)
    got = {}
    for on in (True, False):
        monkeypatch.setattr(workers, "READ_ONLY", on)
        out = tmp_path / f"{on}.xlsx"
        result = CliRunner().invoke(main, ["collect", str(SAMPLES / "returns"), "--roster", str(SAMPLES / "roster.csv"),
                                           "-o", str(out), "--jobs", "2", "--json"])
        assert result.exit_code == 0, result.output
        got[on] = (out.read_bytes(), result.output.replace(str(out), "OUT"))
    assert got[True] == got[False]


def test_a_full_disk_while_the_csvs_are_made_is_said_in_chinese(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--export: SQLite full while the CSVs' rows are read from the store (before: its traceback); nothing written to
    the CSVs' folder, the roll-up (written before them) said written."""
    from click.testing import CliRunner

    from xltemplate.cli import main
    from xltemplate.rollup import tables, units

    from .conftest import SAMPLES

    exporting = [False]
    real_export, real_walk = tables._export_csv, units.Units.walk

    def export(*a: object) -> object:
        exporting[0] = True
        return real_export(*a)  # type: ignore[arg-type]

    def walk(self: object, *a: object, **k: object) -> object:
        if exporting[0]:
            raise _sqlite_full()
        return real_walk(self, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(tables, "_export_csv", export)
    monkeypatch.setattr(units.Units, "walk", walk)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    result = CliRunner().invoke(main, ["collect", str(SAMPLES / "returns"), "--roster", str(SAMPLES / "roster.csv"),
                                       "-o", str(tmp_path / "汇总.xlsx"), "--export", str(tmp_path / "csv"), "--quiet",
                                       "--jobs", "1"])
    text = result.output
    assert result.exit_code == 2 and "Traceback" not in text, (text, result.exception)
    errors = [line for line in text.splitlines() if line.startswith("错误：")]
    assert len(errors) == 1 and "临时文件夹" in errors[0] and "磁盘空间不足" in errors[0], text
    assert not (tmp_path / "csv").exists() or os.listdir(tmp_path / "csv") == []
    assert os.listdir(tmp_path / "tmp") == []
