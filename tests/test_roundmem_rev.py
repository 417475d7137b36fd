"""A round the same with the twelfth pass's switches off and on, in what test_roundmem does not reach (review of
roundflat, issue 15): withdrawals (of a file in the inbox, of one gone from it, reinstated), a round kept without
a roster, and each of the pass's switches alone (the others on), so that one switch's fault is not hidden by
another's (rounds.run.BRIEF_MOVED_IN_PLACE with BRIEFS_LET_GO on reads the returns' briefs, off the files')."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest

from xltemplate import workers
from xltemplate.ledger import Ledger, store
from xltemplate.roster import read_roster
from xltemplate.rounds import run as run_mod
from xltemplate.rounds import view

from . import test_roundmem as roundmem
from .conftest import SAMPLES
from .tamper import set_saved_time

#: The switches of this pass (roundflat's), each flipped alone below.
PASS = [(run_mod, "CHANGES_WALKED"), (run_mod, "BRIEF_MOVED_IN_PLACE"), (run_mod, "WHERE_UNPAIRED"),
        (run_mod, "LEDGERED_UNLISTED")]


def _alone(owner: Any, name: str) -> Callable[[pytest.MonkeyPatch, bool], None]:
    """test_roundmem's switching with every switch on but ``name`` (and those whose way the comparison asserts)."""
    def switch(monkeypatch: pytest.MonkeyPatch, on: bool) -> None:
        for o, n in roundmem.SWITCHES:
            monkeypatch.setattr(o, n, True)
        for o, n, off_value, on_value in roundmem.VALUED:
            monkeypatch.setattr(o, n, on_value if on else off_value)
        monkeypatch.setattr(view, "LAZY_RECEIVED", on)
        monkeypatch.setattr(view, "LAZY_SINCE", on)
        monkeypatch.setattr(owner, name, on)
    return switch


def _withdraw(tmp_path: Path, name: str, reason: str, *, reinstate: bool = False, _keys: dict[str, str] = {}) -> None:
    """Withdraw the file ``name`` of the samples for the unit it counts for, in the round's ledger (or reinstate it
    for the unit it was withdrawn from)."""
    import hashlib

    sha = hashlib.sha256((SAMPLES / "returns" / name).read_bytes()).hexdigest()
    with Ledger.open(tmp_path / "round" / "r.xlt.db") as led:
        last = led.last_finished_run()
        assert last is not None
        if not reinstate:
            keys = [d.unit_key for d in led.decisions(last) if d.sha256 == sha]
            assert keys, name  # (a file counted for its unit)
            _keys[sha] = keys[0]
        key = _keys[sha]
        (led.reinstate if reinstate else led.withdraw)(key, sha, reason)


def _steps(tmp_path: Path, inbox: Path, roster: Path | None) -> list[tuple[str, Callable[[], Any], bool]]:
    two = "SH002 经济信息中心 绩效自评.xlsx"  # (SH002 has two files: withdrawing the one counted counts the other)

    def withdrawn_and_gone() -> None:
        _withdraw(tmp_path, "无线电监测站.xlsx", "重复")
        (inbox / "无线电监测站.xlsx").unlink()

    return [
        ("first", lambda: None, False),
        ("withdrawn in the inbox", lambda: _withdraw(tmp_path, two, "填错了"), False),
        ("withdrawn and gone", withdrawn_and_gone, False),
        ("gone, not withdrawn", lambda: (inbox / "浦东分中心.xlsx").unlink(), False),
        ("resubmitted", lambda: set_saved_time(SAMPLES / "returns" / "需求侧管理中心.xlsx",
                                               inbox / "需求侧管理中心 (2).xlsx", dt.datetime(2021, 6, 1, 9, 30)), False),
        ("a copy", lambda: shutil.copy2(SAMPLES / "returns" / "需求侧管理中心.xlsx", inbox / "副本 需求侧管理中心.xlsx"),
         False),
        ("reinstated", lambda: _withdraw(tmp_path, two, "弄错了", reinstate=True), False),
        ("again", lambda: None, False),
    ]


def _rounds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_roster: bool) -> dict[str, dict[bool, dict[str, Any]]]:
    clock = roundmem._Clock()
    monkeypatch.setattr(store, "_now", clock)
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES / "returns", inbox)
    roster = roundmem._roster(tmp_path / "roster.csv") if with_roster else tmp_path / "none.csv"
    if not with_roster:  # (test_roundmem reads a roster for each run: none for this one)
        real = read_roster
        monkeypatch.setattr(roundmem, "read_roster", lambda p, form: None if Path(p).name == "none.csv" else real(p, form))
    seen = {}
    for step, change, ok in _steps(tmp_path, inbox, roster):
        change()
        seen[step] = got = roundmem._run_both_ways(tmp_path, monkeypatch, clock, inbox, roster, step.replace(" ", "-"), ok)
        roundmem._same(got, step)
    return seen


def _shows_what_it_says(seen: dict[str, dict[bool, dict[str, Any]]]) -> None:
    """What the steps were meant to make, so that the comparisons compare something."""
    for step in seen:
        assert "bytes" in seen[step][True], step
    notes = [r.note or "" for r in seen["withdrawn and gone"][True]["received"]]
    assert sum("已撤回" in n for n in notes) == 2
    assert any(r.in_inbox is False for r in seen["gone, not withdrawn"][True]["received"])
    assert seen["a copy"][True]["received_len"] == seen["resubmitted"][True]["received_len"]  # (the same file)
    assert not any("已撤回" in (r.note or "") and "经济信息中心" in r.path for r in seen["reinstated"][True]["received"])


@pytest.mark.parametrize("with_roster", [True, False], ids=["roster", "no-roster"])
def test_withdrawals_and_a_round_without_a_roster_are_the_same_both_ways(
        with_roster: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _shows_what_it_says(_rounds(tmp_path, monkeypatch, with_roster))


@pytest.mark.parametrize("switch", PASS, ids=[n for _o, n in PASS])
def test_each_switch_of_the_pass_alone_changes_nothing(switch: tuple[Any, str], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(roundmem, "_switches", _alone(*switch))
    assert workers  # (test_roundmem's VALUED switch is set by _alone)
    _shows_what_it_says(_rounds(tmp_path, monkeypatch, True))


def _cli_both_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: roundmem._Clock, args: list[str],
                   name: str) -> dict[bool, dict[str, Any]]:
    """One ``collect --ledger`` run by the CLI in ``tmp_path / "round"``, from one ledger state, switches off then on:
    the roll-up's bytes, the CSVs, --json and the ledger's decisions."""
    import json
    import sqlite3

    from click.testing import CliRunner

    from xltemplate.cli import main

    work, saved = tmp_path / "round", tmp_path / "saved"
    work.mkdir(exist_ok=True)
    shutil.rmtree(saved, ignore_errors=True)
    shutil.copytree(work, saved)
    start, got = clock.tick, {}
    for on in (False, True):
        if on:
            shutil.rmtree(work)
            shutil.copytree(saved, work)
            clock.tick = start
        roundmem._switches(monkeypatch, on)
        out, export = tmp_path / f"{name}-{on}.xlsx", tmp_path / f"{name}-{on}-csv"
        result = CliRunner().invoke(main, ["collect", *args, "--ledger", str(work / "r.xlt.db"), "-o", str(out),
                                           "--export", str(export), "--json", "--quiet", "--jobs", "1"])
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        data.pop("outputs")
        with sqlite3.connect(work / "r.xlt.db") as conn:
            runs = conn.execute("SELECT id, state, spec_hash, template_id, roster_hash FROM runs").fetchall()
            decisions = conn.execute("SELECT * FROM decisions ORDER BY run_id, unit_key").fetchall()
        got[on] = {"bytes": out.read_bytes(), "csv": {p.name: p.read_bytes() for p in sorted(export.iterdir())},
                   "json": data, "runs": runs, "decisions": decisions}
    return got


def test_a_template_chosen_again_mid_run_and_a_national_round_are_the_same_both_ways(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """By the CLI: a round over both forms' samples without a roster, its template guessed from one return (a national
    one) and chosen again from every return once read (the first form's); then one file gone. And a national round
    with its roster and targets, then one with a national file gone."""
    import importlib

    from .conftest import mixed_inbox

    collect_mod = importlib.import_module("xltemplate.rollup.collect")
    monkeypatch.setattr(collect_mod, "TEMPLATE_SAMPLE", 1)
    clock = roundmem._Clock()
    monkeypatch.setattr(store, "_now", clock)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    mixed_inbox(mixed, national_first=True)
    got = _cli_both_ways(tmp_path, monkeypatch, clock, [str(mixed)], "guessed")
    roundmem._same(got, "guessed")
    assert [r[3] for r in got[True]["runs"]] == ["sh-project-self-eval"] and got[True]["json"]["template"]["detected"]
    (mixed / "无线电监测站.xlsx").unlink()
    roundmem._same(_cli_both_ways(tmp_path, monkeypatch, clock, [str(mixed)], "guessed-gone"), "guessed, a file gone")
    national = SAMPLES / "national"
    shutil.rmtree(tmp_path / "round")
    inbox = tmp_path / "national"
    shutil.copytree(national / "returns", inbox)
    args = [str(inbox), "--roster", str(national / "roster.csv"), "--targets", str(national / "targets.csv")]
    got = _cli_both_ways(tmp_path, monkeypatch, clock, args, "national")
    roundmem._same(got, "national")
    assert got[True]["runs"][0][3] != "sh-project-self-eval" and len(got[True]["decisions"]) > 3
    next(iter(sorted(inbox.iterdir()))).unlink()
    roundmem._same(_cli_both_ways(tmp_path, monkeypatch, clock, args, "national-gone"), "national, a file gone")
