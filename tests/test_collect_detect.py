"""collect without --template but with a roster (or targets): the template is found from the returns.

Every return is read once: the template is guessed from an even sample, every return read with the roster as
that template's, and the guess held to what all the reports name (the choice a first reading of every return
makes). Each way the guess can fail (the sample misleads; the roster does not fit the guess) falls back to
reading every return again; the roll-up is the same as with the guess forced off (``GUESS_FIRST``).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from xltemplate import validate
from xltemplate.cli import main
from xltemplate.identify import RunContext
from xltemplate.inputs import discover
from .conftest import FIRST_RETURNS, NATIONAL_RETURNS, SAMPLES, mixed_inbox

collect_mod = importlib.import_module("xltemplate.rollup.collect")  # the module (its package exports a function of that name)

FIRST, NATIONAL = FIRST_RETURNS, NATIONAL_RETURNS


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first form's samples and the national ones, mixed; a national return sorts first (``000 …``)."""
    return mixed_inbox(tmp_path_factory.mktemp("mixed"), national_first=True)


def _collect(inbox: Path, out: Path, *extra: str) -> tuple[bytes, dict]:
    result = CliRunner().invoke(main, ["collect", str(inbox), "-o", str(out), "--json", "--quiet", *extra])
    assert result.exit_code == 0, result.output
    return out.read_bytes(), json.loads(result.output)


@pytest.mark.parametrize("sample", [1, 4, 9])
def test_the_same_roll_up_with_the_template_guessed_or_found_from_every_return(inbox: Path, tmp_path: Path, sample: int,
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Sample 1 takes the national return that sorts first: the guess is wrong (the roster does not fit it);
    4 names both templates twice (no guess); 9 names the first form six times: the guess holds."""
    roster = str(SAMPLES / "roster.csv")
    monkeypatch.setattr(collect_mod, "GUESS_FIRST", False)
    (tmp_path / "off").mkdir()
    (tmp_path / "on").mkdir()
    off = _collect(inbox, tmp_path / "off" / "汇总.xlsx", "--roster", roster, "--jobs", "1")
    monkeypatch.setattr(collect_mod, "GUESS_FIRST", True)
    monkeypatch.setattr(collect_mod, "TEMPLATE_SAMPLE", sample)
    on = _collect(inbox, tmp_path / "on" / "汇总.xlsx", "--roster", roster, "--jobs", "1")
    for got in (on, off):
        got[1].pop("outputs")
    assert on[1] == off[1] and on[1]["template"]["detected"] is True
    assert on[1]["template"]["id"] == "sh-project-self-eval"
    assert on[0] == off[0]


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = validate.validate_path
    monkeypatch.setattr(validate, "validate_path", lambda path, *a, **k: calls.append(str(path)) or real(path, *a, **k))
    return calls


def test_every_return_is_read_once_when_the_guess_holds(inbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from xltemplate.roster import read_roster

    found = discover([inbox])
    monkeypatch.setattr(collect_mod, "TEMPLATE_SAMPLE", 9)

    def given(spec):  # type: ignore[no-untyped-def]
        return read_roster(SAMPLES / "roster.csv", spec), RunContext.builtin(spec)

    calls = _counting(monkeypatch)
    on = collect_mod.collect_found(found, given)
    assert len(calls) == len(found.files) + 9  # the sample, then every return once
    monkeypatch.setattr(collect_mod, "GUESS_FIRST", False)
    calls.clear()
    off = collect_mod.collect_found(found, given)
    assert len(calls) == 2 * len(found.files)
    assert [(r.path, r.report.to_json()) for r in on.returns] == [(r.path, r.report.to_json()) for r in off.returns]
    assert on.spec.id == off.spec.id == "sh-project-self-eval" and on.template_detected and off.template_detected


def test_a_guess_the_returns_do_not_bear_out_is_read_again(inbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A roster that fits any template (none): the sample of one names the national form, most returns the
    first; what all the reports name wins, and every return is read again as its template's."""
    found = discover([inbox])
    monkeypatch.setattr(collect_mod, "TEMPLATE_SAMPLE", 1)
    calls = _counting(monkeypatch)
    got = collect_mod.collect_found(found, lambda spec: (None, RunContext.builtin(spec)))
    assert got.spec.id == "sh-project-self-eval"
    assert len(calls) == 1 + 3 * len(found.files)  # the sample, the guess's reading, then the search and the reading
    monkeypatch.setattr(collect_mod, "GUESS_FIRST", False)
    want = collect_mod.collect_found(found, lambda spec: (None, RunContext.builtin(spec)))
    assert [r.report.to_json() for r in got.returns] == [r.report.to_json() for r in want.returns]


def test_the_library_collect_with_a_roster_and_no_template_reads_every_return_once(inbox: Path,
                                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """``collect(paths, None, roster=...)`` read every return twice (to find the template, then with the roster)."""
    from xltemplate.catalog import as_spec
    from xltemplate.roster import read_roster

    roster = read_roster(SAMPLES / "roster.csv", as_spec("sh-project-self-eval"))
    n = len(discover([inbox]).files)
    monkeypatch.setattr(collect_mod, "TEMPLATE_SAMPLE", 9)
    calls = _counting(monkeypatch)
    on = collect_mod.collect([inbox], None, roster=roster)
    assert len(calls) == n + 9
    monkeypatch.setattr(collect_mod, "GUESS_FIRST", False)
    calls.clear()
    off = collect_mod.collect([inbox], None, roster=roster)
    assert len(calls) == 2 * n
    assert [(r.path, r.fate, r.report.to_json()) for r in on.returns] == [(r.path, r.fate, r.report.to_json()) for r in off.returns]
    assert on.counts() == off.counts() and on.spec.id == off.spec.id == "sh-project-self-eval"
    assert on.template_detected and off.template_detected


@pytest.mark.parametrize("sample", [1, 9])
def test_validate_with_a_roster_and_no_template_reads_every_return_once(inbox: Path, sample: int,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """validate --roster without --template read every return twice; now once when the guess holds (sample 9),
    and as before when it does not (sample 1: the national return, whose template the roster does not fit)."""
    n = len(discover([inbox]).files)

    def run() -> dict:
        result = CliRunner().invoke(main, ["validate", str(inbox), "--roster", str(SAMPLES / "roster.csv"), "--json",
                                           "--jobs", "1"])
        assert result.exit_code in (0, 1), result.output
        return json.loads(result.output)

    from xltemplate import batch

    monkeypatch.setattr(collect_mod, "TEMPLATE_SAMPLE", sample)
    calls: list[str] = []  # the CLI validates in worker processes: count the files handed to them
    real = batch.validate_files

    def counted(files, *a, **k):  # type: ignore[no-untyped-def]
        calls.extend(str(f) for f in files)
        return real(files, *a, **k)

    monkeypatch.setattr(batch, "validate_files", counted)
    monkeypatch.setattr(collect_mod, "validate_files", counted)
    on = run()
    assert len(calls) == (n + sample if sample == 9 else 2 * n + sample)
    monkeypatch.setattr(collect_mod, "GUESS_FIRST", False)
    calls.clear()
    off = run()
    assert len(calls) == 2 * n
    assert on == off and any(f["status"] == "invalid" for f in on["files"])
