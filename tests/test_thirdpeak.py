"""A round's third run's roll-up at 100,000 units (issue 15, fifteenth pass, thirdpeak): the ledger's kept parts
written without SQLite holding them (store.PARTS_XML_LAST)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from xltemplate.ledger import Ledger, RunInfo, store
from xltemplate.rollup import reuse


def _columns(led: Ledger) -> list[str]:
    return [c[1] for c in led.conn.execute("PRAGMA table_info(parts)")]


def _kept(led: Ledger) -> list[tuple[Any, ...]]:
    return sorted(led.conn.execute("SELECT name, key, state, run_id, typeof(xml), xml FROM parts"))


_OPEN: list[Any] = []


@pytest.fixture(autouse=True)
def _closed() -> Any:
    yield
    while _OPEN:
        _OPEN.pop().close()


def _part(path: Path, size: int, seed: int) -> reuse.Slice:
    """A part of ``size`` bytes where a file holds it (as a round's writer gives a kept sheet to the ledger)."""
    data = (bytes(range(256)) * (size // 256 + 1))[seed:seed + size]
    path.write_bytes(b"head" + data)
    _OPEN.append(open(path, "rb"))  # noqa: SIM115 - (closed as the test ends)
    return reuse.Slice(_OPEN[-1], 4, size)


def _run(led: Ledger, parts: list[tuple[str, str, str, Any]]) -> None:
    run = led.begin_run(RunInfo("v1", "s1"))
    with led.finishing(run, iter([]), keep=False):
        led.store_parts(run, parts)


@pytest.mark.skipif(not hasattr(sqlite3.Connection, "blobopen"), reason="incremental blob I/O came in Python 3.11")
def test_parts_are_moved_with_xml_last_and_kept_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ledger whose parts were kept with ``xml`` before ``run_id`` (version 4's table): as the next run finishes
    the table has ``xml`` last and holds the same rows, each part's bytes the same (one of them larger than a piece,
    one empty); the run's own part then stored as before; with the switch off the table is left as it was."""
    for on in (False, True):
        monkeypatch.setattr(store, "PARTS_XML_LAST", False)
        with Ledger.open(tmp_path / f"{on}.db", create=True) as led:
            assert _columns(led) == ["name", "key", "state", "xml", "run_id"]  # (as a ledger of the code before)
            _run(led, [("指标得分", "k1", '{"a": 1}', _part(tmp_path / "a", 3 * store.PIECE + 17, 1)),
                       ("文字材料", "k2", "{}", _part(tmp_path / "b", 0, 2)),
                       ("问题清单", "k3", "{}", b"bytes given whole")])
            led.conn.execute("INSERT INTO parts VALUES ('文本', 'k6', '{}', '汉字 text', 1)")  # (not a blob: kept so)
            before = _kept(led)
            monkeypatch.setattr(store, "PARTS_XML_LAST", on)
            _run(led, [("文件清单", "k4", "{}", _part(tmp_path / "c", store.PIECE + 1, 3))])
            assert _columns(led) == (["name", "key", "state", "run_id", "xml"] if on else
                                     ["name", "key", "state", "xml", "run_id"])
            after = _kept(led)
            assert [r for r in after if r[0] != "文件清单"] == before
            assert [r[:5] for r in after if r[0] == "文件清单"] == [("文件清单", "k4", "{}", 2, "blob")]
            assert dict((r[0], r[5]) for r in after)["文件清单"] == (bytes(range(256)) * 300)[3:3 + store.PIECE + 1]
            parts = led.parts(lazy=True)  # (read back as a run reads them: lazily, by name)
            assert [bytes(parts[r[0]][2]) for r in before if r[4] == "blob"] == [r[5] for r in before if r[4] == "blob"]
            assert ("文本", "k6", "{}", 1, "text", "汉字 text") in after
            _run(led, [("指标得分", "k5", "{}", _part(tmp_path / "d", 100, 4))])  # (again: nothing to move)
            assert _columns(led)[-1] == ("xml" if on else "run_id")
            assert dict((r[0], r[1:4]) for r in _kept(led))["指标得分"] == ("k5", "{}", 3)


def test_a_parts_table_of_other_columns_is_left_as_it_is(tmp_path: Path) -> None:
    """A table this program did not make (a newer program's, say): not made again."""
    with Ledger.open(tmp_path / "r.db", create=True) as led:
        led.conn.execute("ALTER TABLE parts ADD COLUMN newer TEXT")
        _run(led, [("指标得分", "k1", "{}", b"x" * 10)])
        assert _columns(led) == ["name", "key", "state", "xml", "run_id", "newer"]
        assert [r[:5] for r in _kept(led)] == [("指标得分", "k1", "{}", 1, "blob")]


@pytest.mark.skipif(not hasattr(sqlite3.Connection, "blobopen"), reason="incremental blob I/O came in Python 3.11")
def test_a_part_of_a_run_the_ledger_does_not_have_leaves_the_table_as_it_is(tmp_path: Path) -> None:
    """A kept part naming a run the ledger does not have (written by a tool with foreign keys off): the new table would
    refuse it, so the table is left as it is (the rows too), the run finishes, and the next one as well."""
    with Ledger.open(tmp_path / "r.db", create=True) as led:
        led.conn.execute("PRAGMA foreign_keys = OFF")
        led.conn.execute("INSERT INTO parts VALUES ('指标得分', 'k1', '{}', x'0102', 99)")
        led.conn.execute("PRAGMA foreign_keys = ON")
        before = _kept(led)
        _run(led, [("文字材料", "k2", "{}", b"x" * 10)])
        _run(led, [])
        assert _columns(led) == ["name", "key", "state", "xml", "run_id"]
        assert [r for r in _kept(led) if r[0] == "指标得分"] == before
        assert led.conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'parts_xml_last'").fetchone()[0] == 0
        assert [r[:4] for r in _kept(led) if r[0] == "文字材料"] == [("文字材料", "k2", "{}", 1)]


def _sqlite_library() -> Any:
    """The SQLite library the sqlite3 module uses, where ctypes can reach the same one (else None)."""
    name = ctypes.util.find_library("sqlite3")
    if os.name != "posix" or name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    lib.sqlite3_libversion.restype = ctypes.c_char_p
    if lib.sqlite3_libversion().decode() != sqlite3.sqlite_version:
        return None
    lib.sqlite3_status64.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_int64),
                                     ctypes.c_int]
    return lib


@pytest.mark.skipif(not hasattr(sqlite3.Connection, "blobopen"), reason="incremental blob I/O came in Python 3.11")
def test_a_part_kept_as_made_is_not_held_by_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's peak of memory while a run keeps an 8 MB part given where a file holds it: with the switch, well under
    the part's size; without it (``xml`` before ``run_id``) at least twice it (the zeroblob filled, then the record),
    which is what shows the measure can fail."""
    lib = _sqlite_library()
    if lib is None:
        pytest.skip("SQLite's memory status is not reachable here (not the library the sqlite3 module uses)")
    size = 8 << 20
    peaks = {}
    for on in (False, True):
        monkeypatch.setattr(store, "PARTS_XML_LAST", on)
        with Ledger.open(tmp_path / f"{on}.db", create=True) as led:
            part = _part(tmp_path / f"{on}.part", size, 5)
            _run(led, [])  # (a run 1's id takes no byte in the record: SQLite would not fill the zeroblob for it)
            run = led.begin_run(RunInfo("v1", "s1"))
            with led.finishing(run, iter([]), keep=False):
                cur, high = ctypes.c_int64(), ctypes.c_int64()
                lib.sqlite3_status64(0, ctypes.byref(cur), ctypes.byref(high), 1)  # (SQLITE_STATUS_MEMORY_USED, reset)
                led.store_parts(run, [("指标得分", "k", "{}", part)])
                lib.sqlite3_status64(0, ctypes.byref(cur), ctypes.byref(high), 0)
                peaks[on] = high.value - cur.value
            assert led.conn.execute("SELECT length(xml) FROM parts").fetchone()[0] == size
    assert peaks[False] >= 2 * size
    assert peaks[True] < size // 4
