"""Review of the seventeenth pass's plain-collect work (collectover), adversarially.

A pool kept from one pass to the next (``workers.KEEP_POOL``, :func:`workers.kept_pool`: the template's guess with the
built-ins, then every return with the roster) must give each task of a pass that pass's context, and each file its
bounds, whatever the first pass did to its workers: a worker killed for a time-out or a crash in the first pass, one
that died between the passes, one that ran out of memory; and a second pass's task must run within its bounds. Each compared with a pool a pass (the switch off). Guarded: on a tree without the kept pool, skipped.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from xltemplate import workers

pytestmark = pytest.mark.skipif(not hasattr(workers, "kept_pool"), reason="no kept pool on this tree (collectover)")

_LEFT: list[Any] = []  # what a task leaves behind in its worker (a module global: a kept worker keeps it)


def _task(context: Any, payload: tuple[str, int]) -> Any:
    what, n = payload
    if what == "crash":
        os._exit(3)
    if what == "hang":
        time.sleep(60)
    if what == "memory":
        raise MemoryError
    if what == "grow":  # holds ~48 MB in the worker after the task (a first pass's file that leaves memory behind)
        _LEFT.append(bytearray(48 << 20))
    if what == "big":  # needs ~100 MB for the file alone: within a bound of 160 MB, whatever the worker holds
        block = bytearray(100 << 20)
        block[-1] = 1
        del block
    return (what, n, context, os.getpid())


def _failed(payload: tuple[str, int], code: str, what: str) -> Any:
    return ("failed", payload, code)


FIRST = [("ok", 0), ("hang", 1), ("crash", 2), ("grow", 3), ("ok", 5), ("memory", 6), ("crash", 7), ("ok", 8), ("ok", 9)]
SECOND = [("ok", 10), ("big", 11), ("crash", 13), ("ok", 14), ("big", 15), ("hang", 16), ("ok", 17), ("big", 19)]


def _passes(keep: bool, monkeypatch: pytest.MonkeyPatch, jobs: int) -> list[list[Any]]:
    monkeypatch.setattr(workers, "KEEP_POOL", keep)
    monkeypatch.setattr(workers, "FORKSERVER_FROM", None)  # (forked pools: the only ones kept)
    bounds = workers.Bounds(seconds=3, memory_mb=160)
    got = []
    with workers.kept_pool():
        got.append(workers.run_many(_task, _failed, FIRST, context="built-ins", jobs=jobs, bounds=bounds))
        got.append(workers.run_many(_task, _failed, SECOND, context="roster", jobs=jobs, bounds=bounds))
    return got


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_kept_pool_gives_each_pass_its_context_and_each_file_its_bounds(jobs: int, monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = _passes(False, monkeypatch, jobs)
    kept = _passes(True, monkeypatch, jobs)
    assert [[r[:3] for r in p] for p in kept] == [[r[:3] for r in p] for p in fresh]
    # the kept pool was kept: a worker of the first pass did a task of the second (none did with a pool a pass)
    pids = [{r[3] for r in p if r[0] != "failed"} for p in kept]
    assert pids[0] & pids[1]
    pids = [{r[3] for r in p if r[0] != "failed"} for p in fresh]
    assert not pids[0] & pids[1]
    # what the passes were meant to show
    assert [r[2] for r in fresh[1] if r[0] != "failed"] == ["roster"] * 6
    assert [r[0] for r in fresh[1]].count("big") == 3


@pytest.fixture(scope="module")
def hostile_inbox(spec: Any, seed_values: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hostile corpus (tests/hostile.py: bombs, truncations, encrypted, .xls, ODS, unsafe XML, formulas, …) and the
    samples' returns in one inbox."""
    import shutil

    from tools.soffice import soffice_path

    from .conftest import SAMPLES
    from .hostile import build

    root = tmp_path_factory.mktemp("hostile-inbox")
    build(spec, seed_values, root, with_engine=soffice_path() is not None)
    for p in (SAMPLES / "returns").iterdir():
        shutil.copy2(p, root / p.name)
    return root


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_plain_collect_of_a_hostile_inbox_is_the_same_with_the_pool_kept(jobs: str, hostile_inbox: Path, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """``collect`` without --template (the guess's pass, then the roster's) over the hostile corpus and the samples,
    workers kept from the CLI's start or a pool a pass: the roll-up's bytes, the CSVs, --json and the exit code."""
    from click.testing import CliRunner

    from xltemplate.cli import main

    from .conftest import SAMPLES

    got = {}
    for keep in (False, True):
        monkeypatch.setattr(workers, "KEEP_POOL", keep)
        here = tmp_path / str(keep)
        here.mkdir()
        out, export = here / "r.xlsx", here / "csv"
        result = CliRunner().invoke(main, ["collect", str(hostile_inbox), "--roster", str(SAMPLES / "roster.csv"),
                                           "-o", str(out), "--export", str(export), "--json", "--jobs", jobs])
        got[keep] = (result.exit_code, result.output.replace(str(here), "<here>"), out.read_bytes() if out.exists() else None,
                     {p.name: p.read_bytes() for p in sorted(export.iterdir())} if export.exists() else None)
    assert got[True] == got[False]
    assert got[True][0] == 0 and got[True][2] is not None


def test_rows_decided_in_line_change_no_report_of_the_hostile_corpus(hostile_inbox: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """collectover's self_scored.formulas.ROWS_IN_LINE (not in tests/test_fast_paths.VALIDATION_SWITCHES, so the
    differential corpora do not read it both ways): every report of the hostile corpus and the samples the same
    with it off and on (status, findings, results)."""
    import importlib

    from xltemplate.identify import RunContext
    from xltemplate.validate import validate_path

    from .corpus import TODAY

    formulas = importlib.import_module("xltemplate.families.self_scored.formulas")
    if not hasattr(formulas, "ROWS_IN_LINE"):
        pytest.skip("no ROWS_IN_LINE on this tree")
    got = {}
    for on in (False, True):
        monkeypatch.setattr(formulas, "ROWS_IN_LINE", on)
        run = RunContext.builtin(today=TODAY)
        got[on] = [(p.name, r.status, r.flatten(), r.results) for p in sorted(hostile_inbox.iterdir())
                   for r in [validate_path(p, run)]]
    assert got[True] == got[False] and len(got[True]) > 40
