"""A round's first run flat in N (issue 15, fifteenth pass, firstpeak): what it holds between its reading and its
matching, and from matching into the roll-up's writing. test_roundmem's runs flip each switch with the others (the same
roll-up, CSVs, lines, 提交记录, since values and decisions); these test what each holds instead."""

from __future__ import annotations

import gc
import json
import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable

import pytest
from click.testing import CliRunner

from xltemplate.cli import main
from xltemplate.rollup.record import Since
from xltemplate.rounds import run as run_mod
from xltemplate.rounds import view

from .conftest import SAMPLES

collect_mod = importlib.import_module("xltemplate.rollup.collect")


def _named_alive() -> int:
    return sum(1 for o in gc.get_objects() if type(o) is collect_mod._Named)


@pytest.mark.parametrize("on", [False, True])
def test_a_guessed_template_is_held_to_the_inputs_one_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                on: bool) -> None:
    """rounds.run.SEEN_STREAMED: a first run without --template, matched in its store (MATCH_STORED_FROM 0, each stored
    report's template read from the ledger beside it), holds the guess to the inputs' templates as the choice counts
    them, never more than one of them made at a time; off, a list of them all (fails on the code before: the list)."""
    monkeypatch.setattr(run_mod, "MATCH_STORED_FROM", 0)
    monkeypatch.setattr(run_mod, "SEEN_STREAMED", on)
    monkeypatch.setattr(collect_mod, "TEMPLATE_SAMPLE", 4)  # (the samples' returns: the guess made from four)
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES / "returns", inbox)
    real = collect_mod.choose_template
    held: list[tuple[bool, int, int]] = []  # (a list given, inputs named, the most _Named alive as they were counted)

    def choose(reports: Iterable[Any], run: Any) -> Any:
        templates: list[Any] = []
        most = 0
        named = False
        for r in reports:
            if type(r) is collect_mod._Named:
                named = True
                most = max(most, _named_alive())
            templates.append(r.template)
            del r
        if named:
            held.append((isinstance(reports, list), len(templates), most))
        return real([collect_mod._Named(t) for t in templates], run)

    monkeypatch.setattr(collect_mod, "choose_template", choose)
    res = CliRunner().invoke(main, ["collect", str(inbox), "--ledger", str(tmp_path / "r.xlt.db"), "-o",
                                    str(tmp_path / "out.xlsx"), "--quiet", "--json"])
    assert res.exit_code in (0, 1), res.output
    assert '"detected": true' in res.output
    assert len(held) == 1  # (the guess held to every input's template once)
    given_list, inputs, most = held[0]
    assert inputs >= len([p for p in inbox.iterdir() if p.suffix == ".xlsx"]) - 2 > 10  # (a skipped file or two)
    if on:
        assert not given_list and most <= 2
    else:
        assert given_list and most >= inputs - 2  # (every stored one's made before the count: the list)


@pytest.mark.parametrize("on", [False, True])
def test_a_first_runs_since_flags_are_kept_in_its_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on: bool) -> None:
    """rounds.view.FLAGS_STORED: a first run matched in its store flags every unit as changed; with the switch the flags
    are in the store (no key held), and every unit's since (and a key no unit has) is what the dict gives, by ``get``
    with the roll-up's default, by ``[]`` and by ``in`` (fails on the code before: the dict of every key)."""
    monkeypatch.setattr(run_mod, "MATCH_STORED_FROM", 0)
    monkeypatch.setattr(view, "FLAGS_STORED", on)
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES / "returns", inbox)
    real = run_mod.since
    checked: list[int] = []

    def since(c: Any, *a: Any, **k: Any) -> Any:
        flags = list(a[5])
        got = real(c, *a[:5], iter(flags), *a[6:], **k)
        assert isinstance(got, view._StoredSince)
        with monkeypatch.context() as m:
            m.setattr(view, "FLAGS_STORED", False)
            held = view._StoredSince(c.rows, got._new, flags=iter(flags))
        assert len(held._flags) == len(flags) and (len(flags) > 10 if not checked else not flags)  # (a first run:
        # every unit changed; the second, over the same inbox, none)
        stored = c.rows.units.query("SELECT count(*) FROM since_flag")[0][0] if on else None
        if on:
            assert got._flags == {} and stored == len(flags)
        else:
            assert got._flags == held._flags
        nothing = Since(0, False, False)
        for key in [*c.rows.iter_keys(), "no such unit"]:
            assert got.get(key, nothing) == held.get(key, nothing)
            assert got.get(key) == held.get(key)
            assert (key in got) == (key in held)
            if key in held:
                assert got[key] == held[key]
        checked.append(len(flags))
        return got

    monkeypatch.setattr(run_mod, "since", since)
    for _run in range(2):
        res = CliRunner().invoke(main, ["collect", str(inbox), "--ledger", str(tmp_path / "r.xlt.db"), "-o",
                                        str(tmp_path / "out.xlsx"), "--quiet", "--template", "sh-project-self-eval",
                                        "--roster", str(SAMPLES / "roster.csv")])
        assert res.exit_code in (0, 1), res.output
    assert len(checked) == 2


def test_a_since_flags_bit_is_the_same_in_every_interpreter() -> None:
    """rounds.view.FLAGS_STORED's bit set says "not flagged" by a key's bit: that bit must not depend on the process
    (a str's ``hash`` is seeded anew in each interpreter), or a bit set read in another process would tell a flagged
    unit as not flagged. Fails with ``hash``."""
    keys = ["B00001", "C00042", "单位甲", "\udcff-not-utf8"]
    here = [view._StoredSince._bit(k) for k in keys]
    code = ("import json, sys; from xltemplate.rounds import view; "
            "print(json.dumps([view._StoredSince._bit(k) for k in json.loads(sys.argv[1])]))")
    for seed in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", code, json.dumps(keys)], capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        assert json.loads(out) == here
