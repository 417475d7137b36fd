"""Issue 15, sixth pass: what collect holds for each return is compact, so its memory grows less with N.

``spill.COMPACT_BRIEFS``: a brief's per-file values (counts, sha256, saved times, total) are one bytes object,
decoded when read, and the values many reports share one shared tuple. ``collect.LEAN_RETURNS``: the values a
return rarely has (replaced_by, note, extra, a round's arrival …) are kept apart, only when it has one. With each
switch off everything is as before: the same values, and the same roll-up, CSVs and ``--json``.
"""

from __future__ import annotations

import datetime as dt
import pickle
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from xltemplate.identify import RunContext
from xltemplate.rollup import spill as spill_mod
from xltemplate.validate import validate_path

from .conftest import FIRST_RETURNS, NATIONAL_RETURNS, SAMPLES
from .test_spill import CASES, _run, mixed  # noqa: F401 - mixed is the cases' fixture

collect_mod = sys.modules["xltemplate.rollup.collect"]


def _values(brief: spill_mod.Brief) -> dict[str, object]:
    return {n: getattr(brief, n) for n in spill_mod.FIELDS}


def _same(a: spill_mod.Brief, b: spill_mod.Brief) -> None:
    for n in spill_mod.FIELDS:
        assert getattr(a, n) == getattr(b, n) and type(getattr(a, n)) is type(getattr(b, n)), n


def _both(report, monkeypatch: pytest.MonkeyPatch) -> tuple[spill_mod.Brief, spill_mod.Brief]:
    monkeypatch.setattr(spill_mod, "COMPACT_BRIEFS", True)
    on = spill_mod.Brief(report)
    monkeypatch.setattr(spill_mod, "COMPACT_BRIEFS", False)
    off = spill_mod.Brief(report)
    monkeypatch.setattr(spill_mod, "COMPACT_BRIEFS", True)
    return on, off


@pytest.fixture(scope="module")
def reports() -> list:
    got = [validate_path(p, RunContext.builtin()) for p in FIRST_RETURNS[:6] + NATIONAL_RETURNS[:3]]
    got.append(validate_path(SAMPLES / "roster.csv", RunContext.builtin()))  # unreadable: no results, no sha256?
    assert any(r.results is None for r in got) and any(r.total is not None for r in got)
    assert any(r.saved_at is not None for r in got) and any(r.findings for r in got)
    return got


def test_a_compact_brief_reads_as_a_plain_one(reports: list, monkeypatch: pytest.MonkeyPatch) -> None:
    for r in reports:
        on, off = _both(r, monkeypatch)
        assert type(on._own) is bytes and type(off._own) is tuple
        _same(on, off)
        assert on.has_results == (r.results is not None) and on.sha256 == r.sha256 and on.total == r.total
        for brief in (on, off):  # pickled (as a worker sends it) and moved
            again = pickle.loads(pickle.dumps(brief, protocol=pickle.HIGHEST_PROTOCOL))
            _same(again, brief)
            assert type(again._own) is type(brief._own) and again.template is brief.template
            moved = brief.moved("/elsewhere/x.xlsx")
            assert moved.path == "/elsewhere/x.xlsx" and moved.sha256 == brief.sha256 and brief.path == r.path


@pytest.mark.parametrize("change", [
    {"sha256": None}, {"sha256": "AB" * 32}, {"sha256": "ab" * 31}, {"sha256": "zz" * 32},
    {"saved_at": None}, {"saved_at": dt.datetime(2024, 2, 29, 23, 59, 59, 999999, fold=1)},
    {"saved_at": dt.datetime(2021, 4, 30, 9, tzinfo=dt.timezone(dt.timedelta(hours=8)))},
    {"saved_at": dt.datetime(1, 1, 1), "saved_at_trusted": dt.datetime(9999, 12, 31, 23, 59, 59)},
    {"total": None}, {"total": Decimal("1E+3")}, {"total": Decimal("-0")}, {"total": Decimal("0.000")},
    {"total": Decimal("NaN")}, {"total": Decimal("-Infinity")}, {"total": Decimal("123456789.123456789")},
    {"errors": 2 ** 40}, {"warnings": -1}, {"errors": True}, {"total": 1.5},
])
def test_every_value_reads_back_exactly_or_is_kept_as_it_is(change: dict, reports: list,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Values packed exactly (type included), or, for one the packing does not know, the brief's values kept plain."""
    base = _values(spill_mod.Brief(reports[0]))
    values = {**base, **change}
    monkeypatch.setattr(spill_mod, "COMPACT_BRIEFS", False)
    plain = spill_mod.Brief.of(values)
    monkeypatch.setattr(spill_mod, "COMPACT_BRIEFS", True)
    packed = spill_mod.Brief.of(values)
    for n, v in values.items():
        got = getattr(packed, n)
        assert repr(got) == repr(v) and type(got) is type(v), n
        if isinstance(v, Decimal):
            assert got.as_tuple() == v.as_tuple(), n
        if isinstance(v, dt.datetime):
            assert (got.fold, got.tzinfo) == (v.fold, v.tzinfo), n
    assert type(plain._own) is tuple
    again = pickle.loads(pickle.dumps(packed, protocol=pickle.HIGHEST_PROTOCOL))
    assert [repr(getattr(again, n)) for n in values] == [repr(getattr(packed, n)) for n in values]


def test_a_value_set_on_a_brief_reads_back(reports: list) -> None:
    brief = spill_mod.Brief(reports[0])
    before = _values(brief)
    brief.key = "K1"
    brief.sha256 = "00" * 32
    brief.total = Decimal("12.5")
    brief.codes = ("a", "b")
    assert _values(brief) == {**before, "key": "K1", "sha256": "00" * 32, "total": Decimal("12.5"), "codes": ("a", "b")}
    assert type(brief._own) is bytes


def test_a_compact_brief_holds_less_than_half(reports: list, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a brief holds of its own (the brief, and what only it points to): the issue's memory."""
    r = next(r for r in reports if r.total is not None and r.saved_at is not None)
    values = {**_values(spill_mod.Brief(r)), "sha256": "".join(reversed(r.sha256)),  # (values r's brief does not share)
              "total": r.total + Decimal("0.5"), "saved_at": r.saved_at + dt.timedelta(seconds=1),
              "saved_at_trusted": r.saved_at + dt.timedelta(seconds=1)}
    monkeypatch.setattr(spill_mod, "COMPACT_BRIEFS", True)
    on = spill_mod.Brief.of(values)
    monkeypatch.setattr(spill_mod, "COMPACT_BRIEFS", False)
    off = spill_mod.Brief.of(values)
    _same(on, off)

    def own(brief: spill_mod.Brief) -> int:
        values = brief._own if type(brief._own) is tuple else (brief._own,)
        return sys.getsizeof(brief) + sum(sys.getsizeof(v) for v in values if v is not None and not isinstance(v, (bool, int)))

    assert own(on) * 2 < own(off), (own(on), own(off))


@pytest.mark.parametrize("case", list(CASES))
def test_the_same_outputs_with_compact_briefs_or_not(case: str, mixed: Path, tmp_path: Path,  # noqa: F811
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    args = CASES[case](mixed)
    made: list[type] = []
    real = collect_mod.assemble

    def watched(spec, roster, returns, *a, **k):  # type: ignore[no-untyped-def]
        made.extend(type(r.brief._own) for r in returns)
        return real(spec, roster, returns, *a, **k)

    monkeypatch.setattr(collect_mod, "assemble", watched)
    monkeypatch.setattr(spill_mod, "COMPACT_BRIEFS", False)
    off = _run(args, tmp_path / "off")
    assert made and set(made) == {tuple}
    made.clear()
    monkeypatch.setattr(spill_mod, "COMPACT_BRIEFS", True)
    on = _run(args, tmp_path / "on")
    assert made and set(made) == {bytes}
    assert on == off and len(on[0]) >= 4


@pytest.mark.parametrize("case", list(CASES))
def test_the_same_outputs_with_lean_returns_or_not(case: str, mixed: Path, tmp_path: Path,  # noqa: F811
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    args = CASES[case](mixed)
    monkeypatch.setattr(collect_mod, "LEAN_RETURNS", False)
    off = _run(args, tmp_path / "off")
    monkeypatch.setattr(collect_mod, "LEAN_RETURNS", True)
    on = _run(args, tmp_path / "on")
    assert on == off and len(on[0]) >= 4


def test_a_return_keeps_its_rare_values_apart_only_when_it_has_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from xltemplate.roster import read_roster

    roster = read_roster(SAMPLES / "roster.csv", "sh-project-self-eval")
    monkeypatch.setattr(collect_mod, "STORE", False)  # (the returns held, as a round holds them; stored: none is)
    with collect_mod.collect([SAMPLES / "returns"], "sh-project-self-eval", roster=roster) as c:
        plain = [r for r in c.returns if r.fate == collect_mod.COUNTED and not r.extra and r.note is None]
        noted = [r for r in c.returns if r.note is not None]
        assert plain and noted and all(r._rare is None for r in plain) and all(r._rare is not None for r in noted)
        assert sys.getsizeof(plain[0]) <= 80
        ret = plain[0]
        ret.archived, ret.source = False, None  # (defaults: still nothing kept)
        assert ret._rare is None
        ret.arrival = 3
        assert ret._rare is not None and (ret.arrival, ret.note, ret.extra, ret.archived) == (3, None, (), False)
    monkeypatch.setattr(collect_mod, "LEAN_RETURNS", False)
    with collect_mod.collect([SAMPLES / "returns"], "sh-project-self-eval", roster=roster) as c:
        assert all(r._rare is not None for r in c.returns)


def test_a_round_is_the_same_with_compact_briefs_and_lean_returns_or_not(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """collect --ledger: its briefs are read back from the ledger (Brief.of) and its returns have a round's values; a
    first run, a second over the same inbox and one with a file gone give the same tables and lines either way."""
    import shutil

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
            monkeypatch.setattr(spill_mod, "COMPACT_BRIEFS", on)
            monkeypatch.setattr(collect_mod, "LEAN_RETURNS", on)
            done = collect_round([inbox], "sh-project-self-eval", ledger=tmp_path / f"{on}.db", roster=roster,
                                 output=tmp_path / f"{on}-{step}.xlsx")
            c = done.collection
            assert {type(r.brief._own) for r in c.returns} == {bytes if on else tuple}
            frames = c.tables()
            frames["received"] = frames["received"].drop(columns=["first_seen"])  # the clock's
            got[on].append({"tables": frames, "counts": c.counts(), "lines": done.lines()[1:], "read": dict(done.read),
                            "reused": done.reused})
            c.close()
    assert got[True][1]["reused"] > 0 and got[True][2]["counts"].from_archive == 1
    for on_run, off_run in zip(got[True], got[False]):
        assert on_run["counts"] == off_run["counts"] and on_run["lines"] == off_run["lines"]
        assert (on_run["read"], on_run["reused"]) == (off_run["read"], off_run["reused"])
        for name, frame in off_run["tables"].items():
            assert on_run["tables"][name].equals(frame), name


def _roster_outcome(path: Path) -> tuple[str, object]:
    from xltemplate.errors import RosterError
    from xltemplate.roster import read_roster

    try:
        got = read_roster(path, "sh-project-self-eval")
    except RosterError as exc:
        return "problems", [(p.path, p.message) for p in exc.problems]
    return "rows", [(r.key, r.line, r.prefill, r.contact) for r in got.rows]


@pytest.mark.parametrize("seed", range(40))
def test_repeated_keys_found_from_the_index_as_by_the_dict(seed: int, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """``roster.DUPLICATES_FROM_INDEX``: the same problems, in the same order (repeated keys among empty keys, bad
    values and blank lines), or the same rows, as the dict of every key gave."""
    import csv
    import random

    from xltemplate import roster as roster_mod

    rng = random.Random(seed)
    keys = [f"K{rng.randrange(12)}" for _ in range(30)] if seed % 4 else [f"K{n}" for n in range(30)]
    rows = [["编号", "预算单位", "当年预算数（元）", "联系人"]]
    for n, key in enumerate(keys):
        pick = rng.random()
        if pick < 0.08:
            rows.append(["", "", "", ""])  # a blank line
        elif pick < 0.15:
            rows.append(["", f"单位{n}", "100", ""])  # an empty key
        else:
            rows.append([key, f"单位{n}", rng.choice(["100", "1,200.50", "八百万", "100"]) if seed % 3 else "100",
                         rng.choice(["", "张三"])])
    path = tmp_path / "r.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows(rows)
    monkeypatch.setattr(roster_mod, "DUPLICATES_FROM_INDEX", False)
    old = _roster_outcome(path)
    monkeypatch.setattr(roster_mod, "DUPLICATES_FROM_INDEX", True)
    new = _roster_outcome(path)
    assert new == old
    if seed % 4:
        assert old[0] == "problems" and any("重复" in m for _p, m in old[1])  # type: ignore[union-attr]


def test_repeated_keys_keep_no_dict_of_every_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading a roster of 20,000 distinct keys peaks lower without the dict of every key (~1 MB here)."""
    import csv
    import tracemalloc

    from xltemplate import roster as roster_mod

    path = tmp_path / "r.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows([["编号", "预算单位"]] + [[f"B{n:05d}", f"单位{n}"] for n in range(20000)])
    peaks = {}
    for by_index in (False, True):
        monkeypatch.setattr(roster_mod, "DUPLICATES_FROM_INDEX", by_index)
        tracemalloc.start()
        try:
            got = roster_mod.read_roster(path, "sh-project-self-eval")
            peaks[by_index] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert len(got.rows) == 20000
    assert peaks[True] + 700_000 < peaks[False], peaks


def _matched(seed: int, merge: bool, monkeypatch: pytest.MonkeyPatch) -> list:
    """A random collection matched to a random packed roster: every row and return as the sheets read them."""
    import random

    from xltemplate.catalog import as_spec

    from .random_collections import random_inputs

    monkeypatch.setattr(collect_mod, "MERGE_MATCH", merge)
    rng = random.Random(seed)
    _keys, roster, reports, mtimes = random_inputs(rng, seed, ['SH', 'B', 'b', 'A-'], "abc")
    returns = [collect_mod.Return(r, m) for r, m in zip(reports, mtimes)]
    withdrawn = {(r.brief.key, r.brief.sha256): "撤回" for r in returns if r.brief.key and rng.random() < 0.1}
    c = collect_mod.assemble(as_spec("sh-project-self-eval"), roster, returns, [], verified=bool(seed % 3),
                             withdrawn=withdrawn)
    return ([(row.key, row.roster, row.counted and row.counted.path, [o.path for o in row.others], row.rule,
              row.candidates, row.status) for row in c.rows],
            [(r.path, r.fate, r.note, r.replaced_by, r.extra, r.brief.key) for r in c.returns], c.counts())


@pytest.mark.parametrize("seed", range(60))
def test_matching_by_the_sorted_index_as_by_the_dicts(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """``collect.MERGE_MATCH``: the same rows (keys, roster rows, counted, others, rule, order), fates, notes and
    findings over random rosters (in natural order or not) and returns (repeated keys, copies, keys not on the
    roster, no key, unproven signatures, withdrawn files)."""
    old = _matched(seed, False, monkeypatch)
    new = _matched(seed, True, monkeypatch)
    assert new == old


def test_the_random_collections_reach_every_fate(monkeypatch: pytest.MonkeyPatch) -> None:
    """(That the differential above sees every case: each fate, rows not in natural order, both ways of rows.)"""
    fates = {fate for seed in range(60) for _p, fate, *_x in _matched(seed, True, monkeypatch)[1]}
    assert {collect_mod.COUNTED, collect_mod.SUPERSEDED, collect_mod.DUPLICATE, collect_mod.UNMATCHED,
            collect_mod.WITHDRAWN} <= fates, fates


@pytest.mark.parametrize("case", list(CASES))
def test_the_same_outputs_matched_by_the_sorted_index_or_not(case: str, mixed: Path, tmp_path: Path,  # noqa: F811
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    args = CASES[case](mixed)
    monkeypatch.setattr(collect_mod, "MERGE_MATCH", False)
    off = _run(args, tmp_path / "off")
    monkeypatch.setattr(collect_mod, "MERGE_MATCH", True)
    on = _run(args, tmp_path / "on")
    assert on == off and len(on[0]) >= 4


def test_matched_rows_take_their_key_from_their_return(monkeypatch: pytest.MonkeyPatch) -> None:
    from xltemplate.roster import read_roster

    roster = read_roster(SAMPLES / "roster.csv", "sh-project-self-eval")
    calls: list[int] = []
    real = type(roster.rows).keyed
    monkeypatch.setattr(type(roster.rows), "keyed", lambda self: calls.append(1) or real(self))
    monkeypatch.setattr(collect_mod, "STORE", False)  # (about the rows held; stored, none is: collect.STORE)
    with collect_mod.collect([SAMPLES / "returns"], "sh-project-self-eval", roster=roster) as c:
        assert not calls, "the rows were made by key from the roster's order (the dict way)"
        counted = [row for row in c.rows if row.counted is not None]
        assert counted and all(row.counted.brief.key is row.key for row in counted)
