"""collect keeps its reports in a spill file, not in memory (issue 15: memory flat in N).

The roll-up, the CSV exports, ``--json`` and the pandas tables are the same with the spill forced off
(``collect.SPILL``: every report held, as before); with it on, a return holds only its brief until a
sheet writes its row, and the spill leaves nothing behind, whatever ends the run.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from xltemplate.cli import main
from xltemplate.rollup import spill as spill_mod
from .conftest import FIRST_RETURNS, NATIONAL_RETURNS, SAMPLES, mixed_inbox

collect_mod = importlib.import_module("xltemplate.rollup.collect")

FIRST, NATIONAL = FIRST_RETURNS, NATIONAL_RETURNS


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return mixed_inbox(tmp_path_factory.mktemp("mixed"))


def _run(args: list[str], out: Path) -> tuple[dict[str, bytes], dict]:
    (out / "csv").mkdir(parents=True)
    result = CliRunner().invoke(main, ["collect", *args, "-o", str(out / "汇总.xlsx"), "--export", str(out / "csv"),
                                       "--json", "--quiet", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    got.pop("outputs")
    files = {p.name: p.read_bytes() for p in [out / "汇总.xlsx", *sorted((out / "csv").iterdir())]}
    return files, got


CASES = {
    "first form, roster": lambda mixed: [str(SAMPLES / "returns"), "--roster", str(SAMPLES / "roster.csv"),
                                         "--template", "sh-project-self-eval"],
    "first form, no roster": lambda mixed: [str(SAMPLES / "returns")],
    "national, roster and targets": lambda mixed: [str(SAMPLES / "national" / "returns"), "--roster",
                                                   str(SAMPLES / "national" / "roster.csv"), "--targets",
                                                   str(SAMPLES / "national" / "targets.csv")],
    "both forms, template found": lambda mixed: [str(mixed)],
    "both forms, roster": lambda mixed: [str(mixed), "--roster", str(SAMPLES / "roster.csv")],
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_same_outputs_with_the_spill_on_or_off(case: str, mixed: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Three ways: every report held; spilled as the worker sends it (``PREPICKLE`` off); pickled by the worker."""
    args = CASES[case](mixed)
    puts: list[int] = []
    packed: list[int] = []
    real_put, real_packed = spill_mod.Spill.put, spill_mod.Spill.put_packed
    monkeypatch.setattr(spill_mod.Spill, "put", lambda self, r: puts.append(1) or real_put(self, r))
    monkeypatch.setattr(spill_mod.Spill, "put_packed", lambda self, d, head=None: packed.append(1) or real_packed(self, d, head))
    monkeypatch.setattr(collect_mod, "SPILL", False)
    off = _run(args, tmp_path / "off")
    assert not puts and not packed
    monkeypatch.setattr(collect_mod, "SPILL", True)
    monkeypatch.setattr(collect_mod, "PREPICKLE", False)
    spilled = _run(args, tmp_path / "spilled")
    assert puts and len(packed) == len(puts), "the spill was not used"
    puts.clear()
    packed.clear()
    monkeypatch.setattr(collect_mod, "PREPICKLE", True)
    on = _run(args, tmp_path / "on")
    assert packed and not puts, "the workers' bytes were not appended as they came"
    for got in (spilled, on):
        assert got[1] == off[1]
        assert got[0].keys() == off[0].keys() and len(got[0]) >= 4
        for name in got[0]:
            assert got[0][name] == off[0][name], name


def test_a_report_the_worker_could_not_make_is_spilled_beside_the_packed_ones(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that crashes on a file sends no packed bytes: its failure report is spilled as before."""
    from xltemplate import validate

    real = validate.validate_path
    bad = FIRST[1].name

    def crashing(path: Path, run: object) -> object:
        if Path(path).name == bad:
            raise RuntimeError("boom")
        return real(path, run)  # type: ignore[arg-type]

    monkeypatch.setattr(validate, "validate_path", crashing)  # the workers are forked with it
    args = [str(SAMPLES / "returns"), "--roster", str(SAMPLES / "roster.csv"), "--template", "sh-project-self-eval"]
    monkeypatch.setattr(collect_mod, "PREPICKLE", False)
    before = _run(args, tmp_path / "before")
    monkeypatch.setattr(collect_mod, "PREPICKLE", True)
    kinds: list[str] = []
    real_keep = spill_mod.Spill.put
    monkeypatch.setattr(spill_mod.Spill, "put", lambda self, r: kinds.append(r.path) or real_keep(self, r))
    after = _run(args, tmp_path / "after")
    assert [Path(k).name for k in kinds] == [bad]
    assert any(b"file-reader-crashed" in data for name, data in after[0].items() if name.endswith(".csv"))
    assert after == before


def test_a_brief_made_in_a_worker_shares_what_briefs_made_here_share() -> None:
    """Unpickled, a brief's template, codes and status are the objects every other brief holds (memory flat in N)."""
    import pickle

    from xltemplate.validate import validate_path
    from xltemplate.identify import RunContext

    report = validate_path(FIRST[0], RunContext.of("sh-project-self-eval"))
    here = spill_mod.Brief(report)
    came = spill_mod.pack(report)
    again = pickle.loads(pickle.dumps(came, protocol=pickle.HIGHEST_PROTOCOL))
    assert again.brief.template is here.template and again.brief.codes is here.codes
    assert again.brief.status is here.status
    assert {n: getattr(again.brief, n) for n in spill_mod.Brief.FIELDS} == {
        n: getattr(here, n) for n in spill_mod.Brief.FIELDS}
    assert pickle.loads(again.data).to_json() == report.to_json()


def test_a_spilled_return_holds_a_brief_and_loads_its_report_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    from xltemplate.rollup.collect import collect

    monkeypatch.setattr(collect_mod, "SPILL", False)
    held = collect([SAMPLES / "returns"], "sh-project-self-eval")
    monkeypatch.setattr(collect_mod, "SPILL", True)
    loads: list[int] = []
    real_load = spill_mod.Spill.load
    monkeypatch.setattr(spill_mod.Spill, "load", lambda self, w: loads.append(w) or real_load(self, w))
    with collect([SAMPLES / "returns"], "sh-project-self-eval") as spilled:
        assert spilled.spill is not None
        assert all(r._store is not None for r in spilled.returns)  # nothing but briefs in memory
        spilled.counts()
        [r.candidate() for r in spilled.returns]
        assert not loads, "counting and matching loaded full reports"
        assert spilled.counts() == held.counts()
        assert [(r.path, r.fate, r.note, r.report.to_json()) for r in spilled.returns] == [
            (r.path, r.fate, r.note, r.report.to_json()) for r in held.returns]
        assert loads
        for name, frame in held.tables().items():
            assert spilled.tables()[name].equals(frame), name
    assert spilled.spill._fh is None  # closed on leaving the block


def test_the_spill_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nameless from the start: nothing in TMPDIR during the run, or after it ends, even by an error."""
    from xltemplate.rollup.collect import collect

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    c = collect([SAMPLES / "returns"], "sh-project-self-eval")
    assert c.spill is not None and c.returns[0].report is not None
    assert os.listdir(tmp_path) == []
    c.close()

    def broken(*a: object, **k: object) -> None:
        raise RuntimeError("the roll-up could not be written")

    opened: list[spill_mod.Spill] = []
    real_init = spill_mod.Spill.__init__
    monkeypatch.setattr(spill_mod.Spill, "__init__", lambda self: opened.append(self) or real_init(self))
    monkeypatch.setattr("xltemplate.rollup.write_rollup", broken)
    result = CliRunner().invoke(main, ["collect", str(SAMPLES / "returns"), "-o", str(tmp_path / "out.xlsx"), "--jobs", "1"])
    assert isinstance(result.exception, RuntimeError)
    assert opened and all(s._fh is None for s in opened)  # closed by the error
    assert os.listdir(tmp_path) == []


def test_reports_given_are_held(monkeypatch: pytest.MonkeyPatch) -> None:
    from xltemplate.batch import validate_files
    from xltemplate.identify import RunContext
    from xltemplate.inputs import discover
    from xltemplate.rollup.collect import collect

    found = discover([SAMPLES / "returns"])
    reports = validate_files(found.files, RunContext.builtin())
    c = collect([], "sh-project-self-eval", reports=reports, inputs=found)
    assert c.spill is None and all(r.report is rep for r, rep in zip(c.returns, reports))


def test_a_round_is_the_same_with_the_spill_on_or_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """collect --ledger: the reports made now and those loaded from the ledger are spilled too; every table is the
    same as with every report held, on a first run, a second over the same inbox, and one with a file gone from it
    (it stands from its archive copy)."""
    from xltemplate.roster import read_roster
    from xltemplate.rounds import collect_round

    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES / "returns", inbox)
    roster = read_roster(SAMPLES / "roster.csv", "sh-project-self-eval")
    got: dict[bool, list[dict]] = {True: [], False: []}
    for step in range(3):
        if step == 2:
            (inbox / "无线电监测站.xlsx").unlink()
        for on in (False, True):
            monkeypatch.setattr(collect_mod, "SPILL", on)
            done = collect_round([inbox], "sh-project-self-eval", ledger=tmp_path / f"{on}.db", roster=roster,
                                 output=tmp_path / f"{on}-{step}.xlsx")
            c = done.collection
            assert (c.spill is not None) is on
            frames = c.tables()
            frames["received"] = frames["received"].drop(columns=["first_seen"])  # the clock's
            got[on].append({"tables": frames, "counts": c.counts(), "lines": done.lines()[1:], "read": dict(done.read),
                            "reused": done.reused})
            c.close()
    assert got[True][1]["reused"] > 0 and got[True][2]["counts"].from_archive == 1
    for on_run, off_run in zip(got[True], got[False]):
        assert on_run["counts"] == off_run["counts"] and on_run["lines"] == off_run["lines"]
        assert (on_run["read"], on_run["reused"]) == (off_run["read"], off_run["reused"])
        assert on_run["tables"].keys() == off_run["tables"].keys()
        for name, frame in off_run["tables"].items():
            assert on_run["tables"][name].equals(frame), name


def test_a_stored_report_reads_back_the_same_decoded_as_it_is_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    """report_from_text decodes each JSON object as the parser makes it (DECODE_IN_PARSE); forced off, it parses
    and then walks the tree (from_json). Both give back the report, on both families' samples, and any value."""
    import datetime as dt
    from decimal import Decimal

    from xltemplate import jsonvalue, report as report_mod
    from xltemplate.batch import validate_paths
    from xltemplate.identify import RunContext
    from xltemplate.report import FileReport, report_from_text

    reports = validate_paths([SAMPLES / "returns", SAMPLES / "national" / "returns"], RunContext.builtin()).files
    assert any(r.findings for r in reports) and any(r.results for r in reports)
    for r in reports:
        text = json.dumps(r.to_json(), ensure_ascii=False)
        monkeypatch.setattr(report_mod, "DECODE_IN_PARSE", True)
        fast = report_from_text(text)
        monkeypatch.setattr(report_mod, "DECODE_IN_PARSE", False)
        assert fast == report_from_text(text) == FileReport.from_json(json.loads(text)) == r
    odd = [Decimal("35.10"), dt.date(2021, 4, 1), dt.datetime(2021, 4, 1, 9, 30), ("a", (1, Decimal("2"))),
           {"$decimal": "not a decimal"}, {("k", 1): [dt.date(2020, 1, 1)], "$x": None}, {"a": {"b": ["c", 1.5]}},
           [[], {}, "", None, True]]
    for v in odd:
        text = json.dumps(jsonvalue.encode(v))
        assert jsonvalue.loads(text) == jsonvalue.decode(json.loads(text)) == v
    with pytest.raises(ValueError):
        report_from_text(json.dumps({"format": "something else"}))


def test_groups_and_items_unpickle_the_same_as_tuples_in_c(monkeypatch: pytest.MonkeyPatch) -> None:
    import pickle

    from xltemplate import results as results_mod
    from xltemplate.batch import validate_paths
    from xltemplate.identify import RunContext

    reports = validate_paths([SAMPLES / "returns", SAMPLES / "national" / "returns"], RunContext.builtin()).files
    assert any(r.results is not None and r.results.items and r.results.groups for r in reports)
    for r in reports:
        got = []
        sizes = []
        for on, flat in ((True, True), (False, True), (True, False), (False, False)):  # (results.PICKLE_FLAT too)
            monkeypatch.setattr(results_mod, "PICKLE_AS_TUPLE", on)
            monkeypatch.setattr(results_mod, "PICKLE_FLAT", flat)
            data = pickle.dumps(r, protocol=pickle.HIGHEST_PROTOCOL)
            sizes.append(len(data))
            got.append(pickle.loads(data))
        assert got[0] == got[1] == got[2] == got[3] == r
        if r.results is not None:
            assert sizes[0] < sizes[2]  # (flat: no REDUCE a group and an item)
            for one in got:
                assert type(one.results) is type(r.results)
                for a, b in zip(one.results.items + one.results.groups, r.results.items + r.results.groups):
                    assert type(a) is type(b) and a._asdict() == b._asdict()
