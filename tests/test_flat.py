"""What collect holds per unit stays small (issue 15, memory flat in N), with the same results.

The roster's rows are kept packed (``roster.PACKED``), the files found as their encoded paths
(``inputs.PACKED_PATHS``), the roll-up's rows decode their roster row when asked, and the worker pool
takes each payload when a worker is free. With both switches off everything is as before: the roll-up,
every CSV and ``--json`` are compared byte for byte.
"""

from __future__ import annotations

import os
import sys
import tracemalloc
from decimal import Decimal
from pathlib import Path
from typing import Iterator

import pytest

from xltemplate import inputs, roster as roster_mod, workers
from xltemplate.identify import RunContext
from xltemplate.roster import PackedRows, Roster, RosterRow, read_roster
from .test_spill import CASES, _run, mixed  # noqa: F401 - mixed is the cases' fixture


def _switches(monkeypatch: pytest.MonkeyPatch, on: bool) -> None:
    monkeypatch.setattr(roster_mod, "PACKED", on)
    monkeypatch.setattr(inputs, "PACKED_PATHS", on)


@pytest.mark.parametrize("case", list(CASES))
def test_the_same_outputs_with_the_packing_on_or_off(case: str, mixed: Path, tmp_path: Path,  # noqa: F811
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    args = CASES[case](mixed)
    packed: list[int] = []
    real_init = PackedRows.__init__
    monkeypatch.setattr(PackedRows, "__init__", lambda self, *a: packed.append(1) or real_init(self, *a))
    _switches(monkeypatch, False)
    off = _run(args, tmp_path / "off")
    assert not packed
    _switches(monkeypatch, True)
    on = _run(args, tmp_path / "on")
    assert bool(packed) == ("--roster" in args), "the roster was not packed"
    assert on[1] == off[1]
    assert on[0].keys() == off[0].keys() and len(on[0]) >= 4
    for name in on[0]:
        assert on[0][name] == off[0][name], name


ROSTER = """编号,预算单位,项目名称,当年预算数（元）,联系人,电话
SH010,单位十,项目十,"1,000.50",张三,13812345678
SH002,单位二,,200,,
SH001,"单位一，含逗号
和换行",项目一,3,李四,
,,,,,
Zé9,单位Z,项目Z,0,王五,021-1234
"""


def _read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on: bool) -> Roster:
    path = tmp_path / "roster.csv"
    path.write_text(ROSTER, encoding="utf-8")
    monkeypatch.setattr(roster_mod, "PACKED", on)
    return read_roster(path, "sh-project-self-eval")


def test_a_packed_roster_reads_as_the_rows_it_packed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain, packed = _read(tmp_path, monkeypatch, False), _read(tmp_path, monkeypatch, True)
    assert isinstance(packed.rows, PackedRows) and isinstance(plain.rows, tuple)
    assert tuple(packed.rows) == plain.rows and packed.rows == plain.rows
    assert [packed.rows[n] for n in range(-len(plain.rows), len(plain.rows))] == list(plain.rows + plain.rows)
    assert packed.rows[1:3] == plain.rows[1:3]
    with pytest.raises(IndexError):
        packed.rows[len(plain.rows)]
    assert (packed.columns, packed.contact_columns) == (plain.columns, plain.contact_columns)
    assert list(packed.keys()) == [r.key for r in plain.rows] == ["SH010", "SH002", "SH001", "Zé9"]
    assert plain.rows[0].prefill["budget"] == Decimal("1000.50") and plain.rows[0].contact == {"联系人": "张三", "电话": "13812345678"}
    assert plain.rows[1].contact == {} and "project" not in plain.rows[1].prefill
    by_plain, by_packed = plain.by_key(), packed.by_key()
    assert dict(by_packed) == dict(by_plain) and len(by_packed) == 4
    for key in ["SH001", "SH002", "SH010", "Zé9", "SH0", "SH0010", "", "ZZ", "A"]:
        assert by_packed.get(key) == by_plain.get(key), key
        assert (key in by_packed) == (key in by_plain), key
    assert 5 not in by_packed
    run = RunContext.builtin("sh-project-self-eval", roster=packed)
    assert run.roster_row("SH002") == plain.rows[1] and run.roster_row("nope") is None
    assert run.verdict_context("SH010") == RunContext.builtin("sh-project-self-eval", roster=plain).verdict_context("SH010")


def test_a_packed_roster_refuses_what_the_plain_one_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "roster.csv"
    path.write_text("编号,预算单位,当年预算数（元）\nA1,x,abc\nA1,y,2\n,z,3\n", encoding="utf-8")
    messages = []
    for on in (False, True):
        monkeypatch.setattr(roster_mod, "PACKED", on)
        with pytest.raises(roster_mod.RosterError) as err:
            read_roster(path, "sh-project-self-eval")
        messages.append(str(err.value))
    assert messages[0] == messages[1] and "重复" in messages[0] and "编号为空" in messages[0]


def test_a_packed_roster_holds_far_less_than_its_rows() -> None:
    rows = [RosterRow(f"B{n:05d}", n + 2, {"unit": f"上海市某某单位（{n}）", "project": f"平台运维{n}",
                                           "budget": Decimal(f"{n * 10}.00")}) for n in range(5000)]

    def held(make: object) -> int:
        tracemalloc.start()
        try:
            kept = make()  # type: ignore[operator]
            size = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        del kept
        return size

    import pickle

    blob = pickle.dumps(rows)
    plain = held(lambda: pickle.loads(blob))
    packed = held(lambda: PackedRows(pickle.loads(blob), ["unit", "project", "budget"], ()))
    assert plain / len(rows) > 500  # what a RosterRow costs (746 bytes measured on the bench's roster)
    assert packed / len(rows) < 300, packed / len(rows)  # about 120 a pickled record, 30 its index, and slack


def test_packed_paths_are_the_paths_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = ["a.xlsx", "b 空格.xlsx", "单位.xlsx", "~$lock.xlsx", "x.csv", "z.XLSM", "sub/c.xlsx"]
    if sys.platform == "linux":
        names.append(os.fsdecode(b"bad\xff.xlsx"))
    for name in names:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = {}
    for on in (False, True):
        monkeypatch.setattr(inputs, "PACKED_PATHS", on)
        found[on] = inputs.discover([tmp_path, tmp_path / "a.xlsx", tmp_path / "gone.xlsx"])
    assert isinstance(found[True].files, inputs.PathList) and isinstance(found[False].files, list)
    assert found[True].files == found[False].files and list(found[True].files) == found[False].files
    assert found[True].skipped == found[False].skipped
    files = found[True].files
    assert [files[n] for n in range(len(files))] == found[False].files and files[-1] == found[False].files[-1]
    assert files[1:] == found[False].files[1:]
    assert all(os.path.exists(p) for p in files[:-1]) and not files[-1].exists()


def test_the_pool_takes_each_payload_when_a_worker_is_free() -> None:
    class Payloads:
        """A sequence that may only be indexed, and counts it: the pool must not copy it whole up front."""

        def __init__(self, n: int) -> None:
            self.n, self.taken = n, list[int]()

        def __len__(self) -> int:
            return self.n

        def __getitem__(self, i: int) -> int:
            self.taken.append(i)
            return i

        def __iter__(self) -> Iterator[int]:
            raise AssertionError("the payloads were copied")

    payloads = Payloads(7)
    got = workers.run_many(_square, _failed, payloads, jobs=2)  # type: ignore[arg-type]
    assert got == [n * n for n in range(7)] and payloads.taken == list(range(7))


def _square(context: object, n: int) -> int:
    return n * n


def _failed(payload: int, code: str, what: str) -> int:
    return -1
