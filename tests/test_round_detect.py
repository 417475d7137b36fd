"""collect --ledger without --template, a round's first run: the template is guessed from a sample of the returns and
the run holds the guess to what every return names once all are read (rounds.run.collect_round's ``guessed``).

Every return is read once when the guess holds (twice before: once to find the template, once in the run); when it
does not, the run becomes the chosen template's and reads them again. Either way the roll-up, ``--json`` and the
ledger's record of the run are what they are with the guess forced off (``collect.GUESS_FIRST``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from xltemplate import batch
from xltemplate.cli import main
from xltemplate.inputs import discover
from xltemplate.ledger import store
from xltemplate.rounds import run as run_mod
from .conftest import FIRST_RETURNS, NATIONAL_RETURNS, SAMPLES, mixed_inbox

collect_mod = importlib.import_module("xltemplate.rollup.collect")

FIRST, NATIONAL = FIRST_RETURNS, NATIONAL_RETURNS


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first form's samples and the national ones, mixed; a national return sorts first (``000 …``)."""
    return mixed_inbox(tmp_path_factory.mktemp("mixed"), national_first=True)


@pytest.mark.parametrize("sample, roster", [(9, True), (9, False), (1, False), (1, True)])
def test_a_first_run_reads_each_return_once_with_the_template_guessed(inbox: Path, tmp_path: Path, sample: int, roster: bool,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Sample 9 names the first form six times: the guess holds, each return is read once (and the sample). Sample 1
    takes the national return that sorts first: without a roster the run reads every return as national, then as
    the first form that they name; with the first form's roster the guess is dropped at once (the roster does not
    fit it) and the template found from every return, as without a guess."""
    tick = [0]

    def now() -> dt.datetime:
        tick[0] += 1
        return dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=tick[0])

    monkeypatch.setattr(store, "_now", now)
    calls: list[str] = []  # every file given to be read (in the workers)
    real = batch.validate_files

    def counted(files, *a, **k):  # type: ignore[no-untyped-def]
        calls.extend(str(f) for f in files)
        return real(files, *a, **k)

    for module in (batch, collect_mod, run_mod):
        monkeypatch.setattr(module, "validate_files", counted)
    monkeypatch.setattr(collect_mod, "TEMPLATE_SAMPLE", sample)
    files = discover([inbox]).files
    n, distinct = len(files), len({hashlib.sha256(f.read_bytes()).hexdigest() for f in files})  # (the run reads contents)
    got = {}
    for on in (False, True):
        monkeypatch.setattr(collect_mod, "GUESS_FIRST", on)
        tick[0] = 0
        calls.clear()
        shutil.rmtree(tmp_path / "round", ignore_errors=True)
        (tmp_path / "round").mkdir()
        args = ["collect", str(inbox), "--ledger", str(tmp_path / "round" / "r.xlt.db"), "-o", str(tmp_path / f"{on}.xlsx"),
                "--json", "--quiet", "--jobs", "1"] + (["--roster", str(SAMPLES / "roster.csv")] if roster else [])
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        data.pop("outputs")
        with sqlite3.connect(tmp_path / "round" / "r.xlt.db") as conn:
            runs = conn.execute("SELECT id, state, spec_hash, template_id, template_version, roster_hash FROM runs").fetchall()
            decisions = conn.execute("SELECT * FROM decisions ORDER BY unit_key").fetchall()
        got[on] = ((tmp_path / f"{on}.xlsx").read_bytes(), data, runs, decisions, len(calls))
    assert got[False][4] == n + distinct  # every return to find the template, then each content in the run
    want_reads = 9 + distinct if sample == 9 else 1 + (2 * distinct if not roster else n + distinct)
    assert got[True][4] == want_reads
    assert got[True][1] == got[False][1] and got[True][1]["template"]["detected"] is True
    assert got[True][1]["template"]["id"] == "sh-project-self-eval"
    assert got[True][2] == got[False][2] and [r[3] for r in got[True][2]] == ["sh-project-self-eval"]
    assert got[True][3] == got[False][3]
    assert got[True][0] == got[False][0]
