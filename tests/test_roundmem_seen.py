"""A round's first run flat in N (issue 15, fifteenth pass, firstpeak): what it holds between its reading and its
matching. test_roundmem's runs flip each switch with the others (the same roll-up, CSVs, lines, 提交记录, since values
and decisions); these test what each holds instead."""

from __future__ import annotations

import gc
import importlib
import shutil
from pathlib import Path
from typing import Any, Iterable

import pytest
from click.testing import CliRunner

from xltemplate.cli import main
from xltemplate.rounds import run as run_mod

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
