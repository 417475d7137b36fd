"""A report's head in the spill (collect.HEADS, issue 15: collect 10,000 --jobs 2): 汇总's rows read each counted
report's head (its results without items) where they loaded the whole report, with the same bytes as loading it;
a report without results, or from a run without a template (none to say which fields), has none."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from xltemplate.catalog import resolve_template
from xltemplate.rollup import collect, write_rollup
from xltemplate.roster import read_roster

from .conftest import SAMPLES

collect_mod = importlib.import_module("xltemplate.rollup.collect")
spill_mod = importlib.import_module("xltemplate.rollup.spill")


def _rollup(tmp_path: Path, name: str, roster: bool, jobs: int | None, national: bool = False) -> tuple[bytes, int, int]:
    """The roll-up's bytes, and how many reports and heads were loaded from the spill while it was written."""
    loads, heads = [0], [0]
    real_load, real_head = spill_mod.Spill.load, spill_mod.Spill.head

    def load(self: object, where: int) -> object:
        loads[0] += 1
        return real_load(self, where)  # type: ignore[arg-type]

    def head(self: object, where: int) -> object:
        got = real_head(self, where)  # type: ignore[arg-type]
        heads[0] += got is not None
        return got

    if national:
        spec = resolve_template("cn-project-self-eval")
        c = collect([SAMPLES / "national" / "returns"], spec, jobs=jobs)
    else:
        spec = resolve_template("sh-project-self-eval")
        c = collect([SAMPLES / "returns"], spec, roster=read_roster(SAMPLES / "roster.csv", spec) if roster else None,
                    jobs=jobs)
    with c:
        spill_mod.Spill.load, spill_mod.Spill.head = load, head  # type: ignore[method-assign]
        try:
            data = write_rollup(c, tmp_path / f"{name}.xlsx").read_bytes()
        finally:
            spill_mod.Spill.load, spill_mod.Spill.head = real_load, real_head  # type: ignore[method-assign]
    return data, loads[0], heads[0]


@pytest.mark.parametrize("roster", [True, False])
@pytest.mark.parametrize("jobs", [None, 2])
def test_the_heads_give_the_bytes_of_the_reports(roster: bool, jobs: int | None, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collect_mod, "HEADS", True)
    on, loads_on, heads_on = _rollup(tmp_path, "on", roster, jobs)
    monkeypatch.setattr(collect_mod, "HEADS", False)
    off, loads_off, heads_off = _rollup(tmp_path, "off", roster, jobs)
    assert on == off
    assert heads_off == 0 and heads_on > 0  # (the heads were read: a row reads its unit's a few times)
    assert loads_on < loads_off


def test_the_national_forms_heads_give_the_bytes_of_its_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collect_mod, "HEADS", True)
    on, _, heads_on = _rollup(tmp_path, "on", False, 2, national=True)
    monkeypatch.setattr(collect_mod, "HEADS", False)
    off, _, _ = _rollup(tmp_path, "off", False, 2, national=True)
    assert on == off and heads_on > 0


def test_a_head_is_found_only_where_one_was_put(tmp_path: Path) -> None:
    """The mark after a report's pickle says whether a head follows; the next report's pickle never reads as one."""
    import pickle

    s = spill_mod.Spill()
    try:
        a = s.put_packed(pickle.dumps("a"))
        b = s.put_packed(pickle.dumps("b"), pickle.dumps({"head": 1}))
        c = s.put_packed(pickle.dumps("c"))
        assert s.head(a) is None and s.head(c) is None  # (followed by another pickle; by the end of the file)
        assert s.head(b) == {"head": 1}
        assert [s.load(w) for w in (a, b, c)] == ["a", "b", "c"]
        assert s.raw(b) == pickle.dumps("b")
    finally:
        s.close()


def test_head_fields_are_the_summarys_and_the_rates() -> None:
    spec = resolve_template("sh-project-self-eval")
    got = collect_mod.head_fields(spec)
    assert set(got) >= {fid for fid in spec.summary.values() if isinstance(fid, str)}
    assert list(got) == sorted(got)
