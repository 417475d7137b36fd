"""Review of issue 15's fifteenth pass (session 30): a round's runs with the new switches off, then on, from one ledger
state and one clock, through the CLI, matched on the run's store (``MATCH_STORED_FROM = 0``) and on the lists.
``rounds.run.SEEN_STREAMED`` (branch firstpeak: a guessed template held to the inputs' templates one at a time) acts
only where a round's template is guessed, so these runs give no ``--template`` (a round's first run, or a run over a
ledger whose template is not known yet) with the CLI's sample made small (``TEMPLATE_SAMPLE``) so that the samples'
few returns are guessed from: mixed templates, a guess the returns overrule, a tie, inputs of another form, unreadable
inputs, with a roster and without, ``--jobs`` 1 and 2. The switches a tree does not have are left as they are (this
file runs on main and on each branch). Compared each time: the roll-up's bytes, the CSVs, ``--json``, the printed
lines, the exit code and every table of the ledger (test_revstore's :class:`Both`)."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path
from typing import Any

import pytest

from xltemplate.rounds import run as run_mod

from .conftest import SAMPLES
from .test_revflat2 import Flip
from .test_revstore import NATIONAL

collect_mod = importlib.import_module("xltemplate.rollup.collect")

FORM = "sh-project-self-eval"
#: The switches this pass added, each (owner, name): flipped together.
NEW_SWITCHES: list[tuple[Any, str]] = [(run_mod, "SEEN_STREAMED")]


def _present() -> list[tuple[Any, str]]:
    got = [(o, n) for o, n in NEW_SWITCHES if hasattr(o, n)]
    return got or [(run_mod, "MATCH_STORED")]  # (main: nothing new to flip; the store compared with itself)


def _inbox(tmp_path: Path, sh: int, national: int, *, junk: bool = False, first: str = "") -> Path:
    """``sh`` of the samples' returns and ``national`` of the national ones; ``junk``: a file that is no workbook,
    an empty one, a text file and an Excel lock file beside them; ``first``: the national ones' names begin with it
    (an inbox's order decides which returns the CLI's sample reads)."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for p in [p for p in sorted((SAMPLES / "returns").glob("*.xlsx")) if not p.name.startswith("~$")][:sh]:
        shutil.copy2(p, inbox / p.name)
    for p in sorted((NATIONAL / "returns").glob("*.xlsx"))[:national]:
        shutil.copy2(p, inbox / f"{first}{p.name}")
    if junk:
        (inbox / "坏文件.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
        (inbox / "空文件.xlsx").write_bytes(b"")
        (inbox / "说明.txt").write_text("不是报表", encoding="utf-8")
    return inbox


def _guesses(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str | None]]:
    """What the CLI guessed from its sample ("guess") and what the run's check of it chose ("held"), each run."""
    got: dict[str, list[str | None]] = {"guess": [], "held": []}
    real_guess, real_choose = collect_mod.guess_template, collect_mod.choose_template

    def guess(*a: Any, **kw: Any) -> Any:
        spec = real_guess(*a, **kw)
        got["guess"].append(spec.id if spec is not None else None)
        return spec

    def choose(reports: Any, run: Any) -> Any:
        spec = real_choose(reports, run)
        if not isinstance(reports, list) or not reports or not isinstance(reports[0], collect_mod.FileReport):
            got["held"].append(spec.id)  # (the sample's choice is of FileReports; the run's, of briefs)
        return spec

    monkeypatch.setattr(collect_mod, "guess_template", guess)
    monkeypatch.setattr(collect_mod, "choose_template", choose)
    return got


@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize("stored", [True, False], ids=["store", "lists"])
@pytest.mark.parametrize("mix", ["sh", "mixed", "national-first", "junk", "tie"])
def test_a_first_run_without_a_template_off_and_on(mix: str, stored: bool, jobs: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A round's first run without --template (its template guessed from a sample of three, then held to every
    return's), then a second and a third over a changed inbox: each the same with the new switches off and on."""
    monkeypatch.setattr(collect_mod, "TEMPLATE_SAMPLE", 3)
    monkeypatch.setattr(collect_mod, "GUESS_FIRST", True)
    both = Flip(tmp_path, monkeypatch, _present())
    guesses = _guesses(monkeypatch)
    sh, national, junk, first, exit = {
        "sh": (20, 0, False, "", 0),
        "mixed": (20, 6, False, "", 0),  # most name the samples' template: the guess holds, the others refused
        "national-first": (20, 12, False, "0-", 0),  # the sample lands on national ones: overruled by every return
        "junk": (14, 2, True, "", 0),  # unreadable inputs beside
        "tie": (10, 10, False, "", 1),  # as many of each: the choice refused in Chinese
    }[mix]
    inbox = _inbox(tmp_path, sh, national, junk=junk, first=first)
    args = ("--json", "--jobs", jobs)
    got = both.go([inbox], *args, name=f"{mix} first", exit=exit, stored=stored and exit == 0)
    if exit:
        assert "请用 --template 指定" in got[True]["output"], got[True]["output"]
        return
    assert '"detected": true' in got[True]["output"]
    assert '"id": "sh-project-self-eval"' in got[True]["output"]
    # what the runs were meant to show, so that the comparisons compare something: the guess made (both ways) and
    # held to every return's template by the run (overruled where the sample landed on the national ones)
    assert guesses["guess"] == [("cn-project-self-eval" if mix == "national-first" else FORM)] * 2, guesses
    assert len(guesses["held"]) == 2 and set(guesses["held"]) == {FORM}, guesses
    assert (both.deferred > 0) is stored
    # new files, a file replaced, a file gone: the ledger's template now (the guess not asked again)
    shutil.copy2(sorted((NATIONAL / "returns").glob("*.xlsx"))[-1], inbox / "新来的国家表.xlsx")
    (inbox / sorted(p.name for p in inbox.glob("*.xlsx"))[-1]).unlink()
    both.go([inbox], *args, name=f"{mix} second", stored=stored)
    both.go([inbox], *args, name=f"{mix} third", stored=stored)


@pytest.mark.parametrize("stored", [True, False], ids=["store", "lists"])
def test_a_first_run_without_a_template_with_a_roster_off_and_on(stored: bool, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """With the samples' roster: the guess read with it (a national guess does not fit it and is dropped)."""
    monkeypatch.setattr(collect_mod, "TEMPLATE_SAMPLE", 3)
    monkeypatch.setattr(collect_mod, "GUESS_FIRST", True)
    both = Flip(tmp_path, monkeypatch, _present())
    inbox = _inbox(tmp_path, 20, 6, junk=True)
    args = ("--json", "--jobs", "1", "--roster", str(SAMPLES / "roster.csv"))
    got = both.go([inbox], *args, name="roster first", stored=stored)
    assert '"id": "sh-project-self-eval"' in got[True]["output"]
    (inbox / "无线电监测站.xlsx").unlink()
    both.go([inbox], *args, name="roster second", stored=stored)
