"""A round's roll-up has its parts written anew deflated by rollup.deflate's second process (rollup.reuse.DEFLATED_AHEAD,
issue 15, sixteenth pass): the same bytes, CSVs and figures as the round's zip deflating every part itself, run after
run (a first run, kept sheets written anew and read back for the keeper; a second over the same inbox, kept sheets
given and 提交记录 spliced; a changed file; a file removed), and the kept parts the next run gives are the same."""

from __future__ import annotations

import importlib
import shutil
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from xltemplate.ledger import Ledger, store
from xltemplate.rollup import reuse
from xltemplate.roster import read_roster
from xltemplate.rounds import collect_round

from .conftest import SAMPLES
from .tamper import replace_text, rewrite
from .test_roundmem import FORM, _Clock, _roster, _same, each_way, shown

deflate = importlib.import_module("xltemplate.rollup.deflate")


def _copies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The parts copied into the zip as the second process deflated them (by name)."""
    seen: list[str] = []
    real_copy = reuse._KeepingZip._copy

    def copied(self: Any, data: Any, crc: int, size: int, filename: str, arcname: Any) -> None:
        if isinstance(data, deflate._Deflated):
            seen.append(arcname)
        real_copy(self, data, crc, size, filename, arcname)

    monkeypatch.setattr(reuse._KeepingZip, "_copy", copied)
    return seen


def test_a_rounds_parts_deflated_ahead_are_the_bytes_of_its_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _Clock()
    monkeypatch.setattr(store, "_now", clock)
    monkeypatch.setattr(deflate, "LARGE", 1)  # (the samples' parts are small: every part is the second process's to take)
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES / "returns", inbox)
    roster_csv = _roster(tmp_path / "roster.csv")
    copied = _copies(monkeypatch)
    slow = zipfile.ZipFile.write

    def zip_slowly(*a: Any, **k: Any) -> None:  # (the second process gets to claim the parts from the end first)
        time.sleep(0.05)
        slow(*a, **k)

    monkeypatch.setattr(zipfile.ZipFile, "write", zip_slowly)
    steps = [("first", lambda: None), ("again", lambda: None),
             ("changed", lambda: rewrite(SAMPLES / "returns" / "无线电监测站.xlsx", inbox / "无线电监测站.xlsx",
                                         {"xl/sharedStrings.xml": replace_text("成果统计和归档不够及时", "成果统计不够及时")})),
             ("removed", lambda: (inbox / "浦东分中心.xlsx").unlink()),
             ("again after", lambda: None)]
    ahead: dict[str, list[str]] = {}
    reused: dict[str, list[str]] = {}
    for step, change in steps:
        change()
        got: dict[bool, dict[str, Any]] = {}
        for on in each_way(tmp_path, clock):
            monkeypatch.setattr(reuse, "DEFLATED_AHEAD", on)
            copied.clear()
            out, export = tmp_path / f"{step}-{on}.xlsx", tmp_path / f"{step}-{on}-csv"
            done = collect_round([inbox], FORM, ledger=tmp_path / "round" / "r.xlt.db", output=out, export_dir=export,
                                 roster=read_roster(roster_csv, FORM), jobs=1)
            got[on] = shown(done, out, export)
            with Ledger.open(tmp_path / "round" / "r.xlt.db", readonly=True) as led:
                run = led.last_finished_run()
                assert run is not None
                got[on]["parts"] = {name: (p[0], p[1], bytes(p[2])) for name, p in led.parts().items()}
            if on:
                ahead[step] = list(copied)
                reused[step] = list(done.collection.round.parts.reused)
            else:
                assert copied == [], step  # (off: the round's zip deflates every part itself)
            done.collection.close()
        _same(got, step)
    # what the steps were meant to show: parts written anew went in as the second process deflated them, a kept
    # sheet written anew among them (its keeper read it back from the zip), and a second run gave the kept ones
    assert all(ahead[step] for step in ahead), ahead
    kept = {"xl/worksheets/sheet2.xml", "xl/worksheets/sheet4.xml", "xl/worksheets/sheet6.xml",
            "xl/worksheets/sheet7.xml", "xl/worksheets/sheet8.xml"}  # (指标得分, 问题清单, 文字材料, 文件清单, 提交记录)
    assert kept & set(ahead["first"]), ahead["first"]
    assert "指标得分" in reused["again"] and "提交记录" in reused["again"], reused
    assert "xl/worksheets/sheet2.xml" not in ahead["again"]  # (given: copied as kept, its file left empty)
