"""Issue 15, seventh pass: a roster of 100,000 read as a stream and held in a temporary file.

``roster.STREAM_CSV``: a CSV roster is read a chunk at a time each time its rows are gone through (its bytes and text
never all held), its bytes checked against the first pass's SHA-256. ``roster.ON_DISK``: the packed rows and their
keys go to a temporary file past ``roster.DISK_FROM`` bytes and are read back with ``pread``. With each switch off
everything is as before: the same rows, problems (their order and messages), lookups, and collect's outputs.
"""

from __future__ import annotations

import copy
import csv
import gc
import multiprocessing as mp
import os
import pickle
import random
import sys
import tracemalloc
import weakref
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from xltemplate import roster as roster_mod
from xltemplate.errors import RosterError
from xltemplate.roster import PackedRows, RosterRow, read_roster

from .conftest import SAMPLES

WAYS = {  # name: (PACKED, STREAM_CSV, ON_DISK, DISK_FROM)
    "as before": (True, False, False, roster_mod.DISK_FROM),
    "plain rows": (False, False, False, roster_mod.DISK_FROM),
    "streamed": (True, True, False, roster_mod.DISK_FROM),
    "streamed, on disk": (True, True, True, 0),
    "streamed, on disk past 300 bytes": (True, True, True, 300),
    "on disk, read at once": (True, False, True, 0),
}


def _way(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    packed, stream, disk, disk_from = WAYS[name]
    monkeypatch.setattr(roster_mod, "PACKED", packed)
    monkeypatch.setattr(roster_mod, "STREAM_CSV", stream)
    monkeypatch.setattr(roster_mod, "XLSX_PACKED", stream)  # (the reading's transient: the .xlsx's rows likewise)
    monkeypatch.setattr(roster_mod, "ON_DISK", disk)
    monkeypatch.setattr(roster_mod, "DISK_FROM", disk_from)


def _surface(rows: Any) -> dict[str, Any]:
    """Everything the roster's rows answer, as plain values."""
    plain = [(r.key, r.line, r.prefill, r.contact) for r in rows]
    got: dict[str, Any] = {"rows": plain, "len": len(rows)}
    if plain:
        got["ends"] = [(r.key, r.line) for r in (rows[0], rows[-1], rows[len(rows) // 2])]
        got["slices"] = [[(r.key, r.line) for r in rows[a:b:c]] for a, b, c in ((None, None, 2), (1, -1, 3), (-2, None, -1))]
    if isinstance(rows, PackedRows):
        keys = [r.key for r in rows]
        got["index"] = [(k, rows.index(k)) for k in keys] + [(k, _index(rows, k)) for k in ("", "zz", "K", "\U0010ffff", 5)]
        got["by_keys"] = list(rows.by_keys())
        got["keyed"] = list(rows.keyed())
        got["keys"] = list(rows.keys())
        got["repeated"] = list(rows.repeated())
        assert got["keys"] == keys and got["keyed"] == list(zip(keys, range(len(keys))))
        assert got["by_keys"] == sorted(got["keyed"])  # (str order; a key's rows in their order)
        assert rows == tuple(rows) and rows == rows[:]
    return got


def _index(rows: PackedRows, key: Any) -> int | None:
    try:
        return rows.index(key)
    except ValueError:
        return None


def _outcome(path: Path, spec: str = "sh-project-self-eval") -> tuple[str, Any]:
    try:
        got = read_roster(path, spec)
    except RosterError as exc:
        return "problems", [(p.path, p.message) for p in exc.problems]
    return "rows", ([(r.key, r.line, r.prefill, r.contact) for r in got.rows], got.columns, got.contact_columns,
                    {k: got.by_key()[k].line for k in list(got.keys())[::3]})


def _random_roster(seed: int, path: Path) -> None:
    """A CSV roster: repeated keys or not, in order or not, blank lines, empty keys, bad values, contacts, quoted line
    breaks, an untitled column with content; UTF-8 with or without BOM or GB18030; lines ending CRLF or LF."""
    rng = random.Random(seed)
    n = rng.choice([0, 1, 3, 30, 200])
    keys = [f"{rng.choice(['K', 'B', '单位', 'k'])}{rng.randrange(15 if seed % 4 == 1 else 10 ** 6)}" for _ in range(n)]
    if seed % 3 == 0:
        keys.sort()
    header = ["编号", "预算单位", "项目名称", "当年预算数（元）", "联系人", "电话"]
    if seed % 11 == 5:
        header.append("")
    rows: list[list[str]] = [header]
    for k, key in enumerate(keys):
        pick = rng.random()
        if pick < 0.05:
            rows.append([""] * len(header))
        elif pick < 0.08 and seed % 5 == 2:
            rows.append(["", f"单位{k}", "", "100", "", ""] + ([""] if len(header) > 6 else []))
        else:
            budget = rng.choice(["100", "1,200.50", "5800000.00", "", "0.01"] + (["八百万"] if seed % 7 == 3 else []))
            unit = rng.choice([f"上海市某某单位（{k}）", f"单位{k}\n第二行", f"“引号”{k}", f"a,b{k}", ""])
            rows.append([key, unit, f"项目{k}", budget, rng.choice(["", "张三", " 李四 "]),
                         rng.choice(["", "13812345678"])] + ([rng.choice(["", "x"])] if len(header) > 6 else []))
    encoding = ["utf-8-sig", "utf-8", "gb18030"][seed % 3]
    with open(path, "w", encoding=encoding, newline="") as fh:
        csv.writer(fh, lineterminator="\r\n" if seed % 2 else "\n").writerows(rows)


@pytest.mark.parametrize("seed", range(36))
def test_a_random_roster_reads_the_same_every_way(seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "r.csv"
    _random_roster(seed, path)
    got = {}
    for way in WAYS:
        _way(monkeypatch, way)
        got[way] = _outcome(path)
    assert all(v == got["as before"] for v in got.values()), {k: v == got["as before"] for k, v in got.items()}


def test_the_random_rosters_reach_every_case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """(That the differential above sees rows and problems: repeated keys, bad values, an untitled column.)"""
    _way(monkeypatch, "streamed, on disk")
    messages, read = set(), 0
    for seed in range(36):
        _random_roster(seed, tmp_path / f"{seed}.csv")
        kind, what = _outcome(tmp_path / f"{seed}.csv")
        if kind == "rows":
            read += bool(what[0])
        else:
            messages.update(m for _p, m in what)
    assert read >= 5 and any("重复" in m for m in messages) and any("没有标题" in m for m in messages), sorted(messages)[:20]


@pytest.mark.parametrize("text", [
    "编号,预算单位\r\nB1,甲\rB2,乙\r\n",  # a lone CR inside a line: refused by csv as before (an exception)
    "编号,预算单位\nB1,\"甲\r\n乙\"\nB2,乙",  # a quoted line break, no line end at the end
    "\ufeff编号,预算单位\n\n\nB2,乙\n,\n",
    "", "\ufeff", "编号\n", "编号,预算单位,联系人\nB1,甲,\"张\n三\"\nB1,乙,\n",
])
def test_edge_texts_read_the_same_streamed(text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(text.encode("utf-8"))
    got = []
    for way in ("as before", "streamed, on disk"):
        _way(monkeypatch, way)
        try:
            got.append(_outcome(path))
        except csv.Error as exc:
            got.append(("csv.Error", str(exc)))
    assert got[0] == got[1]


def test_bytes_neither_utf8_nor_gb18030_are_told_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes("编号,预算单位\nB1,".encode() + b"\x80\xff\n")
    got = []
    for way in ("as before", "streamed"):
        _way(monkeypatch, way)
        got.append(_outcome(path))
    assert got[0] == got[1]


def test_an_xlsx_roster_reads_the_same_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import openpyxl

    path = tmp_path / "r.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["编号", "预算单位", "当年预算数（元）", "联系电话"])
    for n in range(60):
        ws.append([f"B{(n * 37) % 61:03d}", f"单位{n}", n * 1000.5, 13812345678 if n % 3 else None])
    ws.append([None, None, None, None])
    ws.append(["B999", "单位", "八百万", None])
    wb.save(path)
    (tmp_path / "bad.xlsx").write_bytes(b"PK\x03\x04 not a workbook")
    (tmp_path / "empty.xlsx").write_bytes(b"")
    got = {}
    for way in ("as before", "plain rows", "streamed, on disk"):
        _way(monkeypatch, way)
        got[way] = [_outcome(tmp_path / name) for name in ("bad.xlsx", "empty.xlsx")]
    assert got["as before"] == got["streamed, on disk"] == got["plain rows"] and got["as before"][0][0] == "problems"
    got = {}
    sent = []
    real = roster_mod.run_bounded
    monkeypatch.setattr(roster_mod, "run_bounded", lambda fn, *a, **k: sent.append(fn.__name__) or real(fn, *a, **k))
    for way in ("as before", "plain rows", "streamed, on disk"):
        _way(monkeypatch, way)
        got[way] = _outcome(path)
    assert got["as before"][0] == "problems" and "八百万" in str(got["as before"][1])
    assert got["streamed, on disk"] == got["as before"] == got["plain rows"]
    assert sent == ["_xlsx_rows", "_xlsx_rows", "_xlsx_packed"]
    path.write_bytes(b"")  # (now the rows read: the same rows every way)
    wb.active.delete_rows(63)
    wb.save(path)
    for way in ("as before", "plain rows", "streamed, on disk"):
        _way(monkeypatch, way)
        got[way] = _outcome(path)
    assert got["as before"][0] == "rows" and len(got["as before"][1][0]) == 60
    assert got["streamed, on disk"] == got["as before"] == got["plain rows"]


def _rows(seed: int) -> list[RosterRow]:
    rng = random.Random(seed)
    keys = [rng.choice(["K1", "K2", "", "单位", "\udc80x", "a" * 300, f"B{rng.randrange(50)}"]) for _ in range(rng.randrange(1, 300))]
    return [RosterRow(key=k, line=n + 2, prefill={"unit": f"单位{n}"} if n % 3 else {"budget": Decimal(n) / 7},
                      contact={"联系人": "张三"} if n % 4 == 0 else {}) for n, k in enumerate(keys)]


@pytest.mark.parametrize("fence", [1, 3, 64])
@pytest.mark.parametrize("seed", range(12))
def test_packed_rows_answer_the_same_from_the_file(seed: int, fence: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every question PackedRows answers, in memory and from the file (all of it, or past a few hundred bytes), over
    rows with repeated, empty, non-ASCII, lone-surrogate and long keys, whatever keys the lookup's fence keeps; and its
    copies (pickled, copied) the same."""
    monkeypatch.setattr(roster_mod, "_FENCE", fence)
    rows = _rows(seed)
    made = {}
    for disk, disk_from in ((False, 0), (True, 0), (True, 500)):
        monkeypatch.setattr(roster_mod, "ON_DISK", disk)
        monkeypatch.setattr(roster_mod, "DISK_FROM", disk_from)
        made[(disk, disk_from)] = PackedRows(iter(rows), ["unit", "budget"], ["联系人"])
    assert made[(True, 0)].on_disk and not made[(False, 0)].on_disk
    want = _surface(tuple(rows))
    for packed in made.values():
        got = _surface(packed)
        assert {k: v for k, v in got.items() if k in want} == want
        assert got == _surface(made[(False, 0)])
        for again in (pickle.loads(pickle.dumps(packed)), copy.deepcopy(packed), copy.copy(packed)):
            assert not again.on_disk and _surface(again) == got


def test_keys_in_order_are_not_sorted_and_others_are(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(roster_mod, "DISK_FROM", 0)
    ordered = PackedRows((RosterRow(key=f"B{n:05d}", line=n + 2) for n in range(1000)), [], [])
    assert ordered._order is None and ordered.index("B00500") == 500
    shuffled = PackedRows((RosterRow(key=f"B{(n * 7919) % 1000:05d}", line=n + 2) for n in range(1000)), [], [])
    assert shuffled._order is not None and shuffled[shuffled.index("B00500")].key == "B00500"


def test_the_file_is_closed_with_the_rows_and_has_no_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(roster_mod, "DISK_FROM", 0)
    monkeypatch.setattr(roster_mod.tempfile, "tempdir", str(tmp_path))
    packed = PackedRows(iter(_rows(1)), ["unit", "budget"], ["联系人"])
    assert packed.on_disk
    if sys.platform == "linux":
        assert list(tmp_path.iterdir()) == []  # (no name from the start: nothing is left whatever ends the run)
    files = [weakref.ref(packed._rows._file), weakref.ref(packed._keys._file)]
    del packed
    gc.collect()
    assert all(f() is None for f in files)


def test_a_full_disk_keeps_the_rows_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _rows(3) * 20
    want = _surface(PackedRows(iter(rows), ["unit", "budget"], ["联系人"]))
    monkeypatch.setattr(roster_mod, "DISK_FROM", 100)
    monkeypatch.setattr(roster_mod, "_FLUSH", 1000)

    def no_file(*a: Any, **k: Any) -> Any:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(roster_mod.tempfile, "TemporaryFile", no_file)
        packed = PackedRows(iter(rows), ["unit", "budget"], ["联系人"])
    assert not packed.on_disk and _surface(packed) == want
    real, calls = os.write, [0]

    def full(fd: int, data: Any) -> int:
        calls[0] += 1
        if calls[0] > 3:
            raise OSError(28, "No space left on device")
        return real(fd, data[: len(data) // 2 + 1])  # (partial writes too)

    with monkeypatch.context() as m:
        m.setattr(roster_mod.os, "write", full)
        packed = PackedRows(iter(rows), ["unit", "budget"], ["联系人"])
    assert calls[0] > 3 and not packed.on_disk and _surface(packed) == want


def _child(rows: PackedRows, conn: Any) -> None:
    conn.send(_surface(rows))


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="fork")
def test_a_forked_process_reads_the_rows_from_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(roster_mod, "DISK_FROM", 0)
    packed = PackedRows(iter(_rows(5)), ["unit", "budget"], ["联系人"])
    packed[3], packed.index(packed[7].key)  # (a window read before the fork: the child's copy of it)
    ctx = mp.get_context("fork")
    here, there = ctx.Pipe()
    proc = ctx.Process(target=_child, args=(packed, there))
    proc.start()
    got = here.recv()
    proc.join(10)
    assert got == _surface(packed) and proc.exitcode == 0


def _child_started_anew(rows: PackedRows, conn: Any) -> None:
    wrote = False
    if rows.on_disk:
        try:
            os.write(rows._rows._file.fileno(), b"x")
            wrote = True
        except OSError:
            pass
    conn.send((rows.on_disk, wrote, _surface(rows)))


@pytest.mark.skipif("forkserver" not in mp.get_all_start_methods(), reason="forkserver")
@pytest.mark.parametrize("to_children", [True, False])
def test_a_process_started_anew_reads_the_rows_from_the_file_read_only(to_children: bool,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """roster.FILE_TO_CHILDREN: a forkserver's worker (a round's pools) is sent the rows' file as a read-only
    descriptor, not every byte pickled (~30 MB made by the run's process for each worker at 100,000 units); it reads
    the same rows and cannot write the file. Off: the bytes, held in the worker's memory."""
    monkeypatch.setattr(roster_mod, "DISK_FROM", 0)
    monkeypatch.setattr(roster_mod, "FILE_TO_CHILDREN", to_children)
    packed = PackedRows(iter(_rows(5) * 4), ["unit", "budget"], ["联系人"])
    assert packed.on_disk
    ctx = mp.get_context("forkserver")
    got = []
    for _ in range(2):  # (a second worker: the same descriptor sent again)
        here, there = ctx.Pipe()
        proc = ctx.Process(target=_child_started_anew, args=(packed, there))
        proc.start()
        got.append(here.recv())
        proc.join(30)
        assert proc.exitcode == 0
    assert got[0] == got[1] == (to_children, False, _surface(packed))
    assert not pickle.loads(pickle.dumps(packed)).on_disk  # (a copy that is not a started process's: the bytes)


def test_a_file_changed_while_read_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bytes of every pass read to its end are those the encoding was decided on: a roster rewritten between
    passes (its rows, or only its header, or made not UTF-8) is refused, never read half one and half the other."""
    _way(monkeypatch, "streamed, on disk")
    path = tmp_path / "r.csv"
    for change in ("编号,预算单位\nB1,甲\nB2,乙改\n".encode(), "key,预算单位\nB1,甲\nB2,乙\n".encode(),
                   "编号,预算单位\nB1,甲\nB2,".encode() + b"\xff\n"):
        path.write_text("编号,预算单位\nB1,甲\nB2,乙\n", encoding="utf-8")
        header, records = roster_mod.read_table(path, lazy=True)
        assert header == ["编号", "预算单位"] and list(records) == [(2, ["B1", "甲"]), (3, ["B2", "乙"])]
        path.write_bytes(change)
        with pytest.raises(RosterError) as exc:
            list(records)
        assert "读取过程中被改动" in exc.value.problems[0].message
    path.unlink()
    with pytest.raises(RosterError) as exc:
        list(records)
    assert "无法读取文件" in exc.value.problems[0].message


def test_a_large_roster_is_read_and_held_in_little_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """30,000 units (2.1 MB of CSV): read with a transient far below the file's text, and held in ~12 bytes a unit."""
    path = tmp_path / "r.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows([["编号", "预算单位", "项目名称", "当年预算数（元）"]]
                                 + [[f"B{n:05d}", f"上海市某某研究院（{n}）", f"平台运维{n}", f"{n * 10}.00"] for n in range(30000)])
    got = {}
    for way in ("as before", "streamed, on disk"):
        _way(monkeypatch, way if way == "as before" else "streamed")
        monkeypatch.setattr(roster_mod, "ON_DISK", way != "as before")
        monkeypatch.setattr(roster_mod, "DISK_FROM", roster_mod.DISK_FROM if way == "as before" else 2 << 20)
        gc.collect()
        tracemalloc.start()
        try:
            r = read_roster(path, "sh-project-self-eval")
            held, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        got[way] = held, peak
        assert len(r.rows) == 30000 and r.rows[29999].prefill["budget"] == Decimal("299990.00")
        del r
    (held_before, peak_before), (held_now, peak_now) = got["as before"], got["streamed, on disk"]
    assert held_now / 30000 < 40 < 100 < held_before / 30000, got
    # (what stays in memory until it passes DISK_FROM, and the chunks in flight; not the file's 2.3 MB of text)
    assert peak_now * 3 < peak_before and peak_now < (2 << 20) + (3 << 19), got


@pytest.mark.parametrize("case", ["first form", "national", "both forms"])
def test_the_same_outputs_with_the_roster_on_disk_or_not(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         mixed: Path) -> None:
    """collect with 2 jobs (workers forked from the process holding the roster, looking its rows up by key): the same
    roll-up, CSVs and --json with the roster streamed and held on disk as read at once and held in memory."""
    args = {"first form": [str(SAMPLES / "returns"), "--roster", str(SAMPLES / "roster.csv"), "--template",
                           "sh-project-self-eval"],
            "national": [str(SAMPLES / "national" / "returns"), "--roster", str(SAMPLES / "national" / "roster.csv"),
                         "--targets", str(SAMPLES / "national" / "targets.csv")],
            "both forms": [str(mixed), "--roster", str(SAMPLES / "roster.csv")]}[case]
    seen: list[bool] = []
    real = roster_mod.read_roster

    def watched(*a: Any, **k: Any) -> Any:
        got = real(*a, **k)
        seen.append(isinstance(got.rows, PackedRows) and got.rows.on_disk)
        return got

    monkeypatch.setattr(roster_mod, "read_roster", watched)
    out = {}
    for way in ("as before", "streamed, on disk"):
        _way(monkeypatch, way)
        out[way] = _run2(args, tmp_path / way.replace(",", "").replace(" ", "-"))
    assert seen and seen[0] is False and seen[-1] is True
    assert out["as before"] == out["streamed, on disk"] and len(out["as before"][0]) >= 4


def _run2(args: list[str], out: Path) -> Any:
    import json

    from click.testing import CliRunner

    from xltemplate.cli import main

    (out / "csv").mkdir(parents=True)
    result = CliRunner().invoke(main, ["collect", *args, "-o", str(out / "汇总.xlsx"), "--export", str(out / "csv"),
                                       "--json", "--quiet", "--jobs", "2"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    got.pop("outputs")
    return {p.name: p.read_bytes() for p in [out / "汇总.xlsx", *sorted((out / "csv").iterdir())]}, got


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from .test_spill import mixed_inbox

    return mixed_inbox(tmp_path_factory.mktemp("mixed"))
