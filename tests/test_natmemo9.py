"""The ninth pass's shortcuts of a national return's validation that do not depend on projects sharing their
indicators (issue 15, helper natmemo), each against what it stands for; the whole reports are compared both ways by
``tests/test_fast_paths.py`` (``VALIDATION_SWITCHES``) over the national, LibreOffice-saved, hostile and fuzz corpora.

- ``rule_scored.SLOTS_BY_PLACE``: a target row's input slots made once per place, rule and unit, the target's name
  taken into a message's label when a finding is made (``InputSlot.named_by``);
- ``normalise.READS_BY_TEXT``: the cells the formulas read found formula by formula (each text's places remembered);
- ``rule_scored.formulas.ROW_FORMULAS``: a target row's formulas made once per place and rule;
- ``rule_scored.spec.RECORD_IN_LINE``: a recorded target read back in straight lines;
- ``normalise.LOCKED_BY_TEXT``: a fixed text's entry of a plan made once per place and text.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any, Iterator

import pytest

from xltemplate import normalise as N
from xltemplate.catalog import resolve_template
from xltemplate.families import rule_scored as RS
from xltemplate.families.rule_scored import formulas as F
from xltemplate.families.rule_scored import layout as L
from xltemplate.families.rule_scored.rules import KINDS, QUALITATIVE
from xltemplate.form.layout import Cell
from xltemplate.identify import RunContext, identify
from xltemplate.readers import read_submission
from xltemplate.submission import CellData

from .conftest import SAMPLES

NATIONAL = SAMPLES / "national"
TODAY = dt.date(2026, 6, 30)


def _paths() -> list[Path]:
    return sorted(p for p in (NATIONAL / "returns").glob("*.xlsx") if not p.name.startswith("~$"))


@pytest.fixture
def switched() -> Iterator[None]:
    from xltemplate.families.rule_scored import spec as S

    saved = [(m, s, getattr(m, s)) for m, s in ((RS, "SLOTS_BY_PLACE"), (N, "READS_BY_TEXT"), (F, "ROW_FORMULAS"),
                                                (S, "RECORD_IN_LINE"), (N, "LOCKED_BY_TEXT"))]
    yield
    for m, s, v in saved:
        setattr(m, s, v)
    N._PLANS.clear()
    N._READS.clear()
    N._SHAPES.clear()
    F._BY_SHAPE.clear()


def _records() -> list[tuple[dict[str, str], ...]]:
    """The sample projects' targets, and each again with every row's rule turned (a shape of its own, the names,
    units and values of other projects): rows of every rule at every place."""
    from xltemplate.roster import read_roster
    from xltemplate.targets import read_targets

    spec = resolve_template("cn-project-self-eval")
    table = read_targets(NATIONAL / "targets.csv", spec, read_roster(NATIONAL / "roster.csv", spec))
    out = [tuple(dict(r) for r in records) for records in table.by_key.values()]
    for turn in range(1, len(KINDS)):
        for n, records in enumerate(list(out[: len(table.by_key)])):
            turned = []
            for k, r in enumerate(records):
                kind = KINDS[(KINDS.index(r["kind"]) + turn + k) % len(KINDS)]
                target = "明显提高" if kind == QUALITATIVE else str(10 + n + k)
                turned.append(dict(r, kind=kind, target=target, name=f"{r['name']}（{turn}）", unit="%" if k % 2 else "个"))
            out.append(tuple(turned))
    return out


def _slots(plan: Any) -> list[Any]:
    """Every input slot as a person's messages and the reading see it: the label in full, the reader's unit."""
    return [(s.cell, s.kind, s.label_in(plan.spec_values), s.id, s.choices, s.invalid_code, type(s.reader),
             getattr(s.reader, "unit", None)) for s in plan.inputs]


def test_slots_by_place_are_those_made_by_name(switched: None) -> None:
    """SLOTS_BY_PLACE: the plans of every sample project's targets, and of the same turned to every rule, hold input
    slots of the same cells, kinds, labels in full, ids, choices, codes and readers as with it off; rows of one place,
    rule and unit share their slots whatever their names; a name a character apart is in the label."""
    spec = resolve_template("cn-project-self-eval")
    every = _records()
    got: dict[bool, list[Any]] = {}
    for on in (True, False):
        RS.SLOTS_BY_PLACE = on
        RS._SLOTS_BY_PLACE.clear()
        plans = []
        for records in every:
            N._PLANS.clear()
            plans.append(N.plan(spec, records))  # type: ignore[arg-type]
        got[on] = [_slots(p) for p in plans]
        if on:
            named = [s for p in plans for s in p.inputs if s.named_by is not None]
            assert len(named) > 100 and len({id(s) for s in named}) < len(named)  # (shared among projects)
    assert got[True] == got[False]
    RS.SLOTS_BY_PLACE = True
    records = every[0]
    q = next(i for i, r in enumerate(records) if r["kind"] != QUALITATIVE)
    other = tuple(dict(r, name=r["name"] + "甲") if i == q else r for i, r in enumerate(records))
    N._PLANS.clear()
    labels = {s.label_in(N.plan(spec, other).spec_values) for s in N.plan(spec, other).inputs}  # type: ignore[arg-type]
    assert f"{records[q]['name']}甲的实际完成值" in labels and f"{records[q]['name']}的实际完成值" not in labels


def test_a_label_in_full_is_its_name_and_the_rest() -> None:
    """InputSlot.label_in: the label alone without a cell naming it; else that cell's fixed value, then the label."""
    c = Cell(3, 4, "x")
    plain = RS.InputSlot(c, "number", "执行数", "f")
    named = dataclasses.replace(plain, label="的实际完成值", named_by=Cell(3, 1, "ind_name"))
    assert plain.label_in({}) == "执行数"
    assert named.label_in({"ind_name": "培训场次"}) == "培训场次的实际完成值"
    with pytest.raises(KeyError):
        named.label_in({})


@pytest.mark.parametrize("seen", ["12.5 个", "很多", "=A1", "#REF!"])
def test_a_finding_on_a_target_row_names_its_target_both_ways(seen: str, switched: None) -> None:
    """A value normalised, one that cannot be read, a formula and an error in a target row's 实际完成值 (and a
    qualitative row's 完成情况 and 自评分): the same findings both ways, whose message names the row's indicator."""
    sub = read_submission(_paths()[0])
    ident, _ = identify(sub, RunContext.builtin(today=TODAY))
    assert ident.spec is not None and ident.targets is not None
    cells = sub.cells[ident.spec.sheet]
    lay = N.plan(ident.spec, ident.targets).layout
    assert isinstance(lay, L.Layout)
    rows = [r for r in lay.rows if r.target is not None]
    for r in rows:
        for c in (r.actual, r.given):
            if seen == "=A1":
                cells[c.a1] = CellData(5, "=A1", False)
            elif seen == "#REF!":
                cells[c.a1] = CellData("#REF!", None, True)
            else:
                cells[c.a1] = CellData(seen)
    got = {}
    for on in (True, False):
        RS.SLOTS_BY_PLACE = on
        N._PLANS.clear()
        _, found = N.normalise(ident.spec, sub, prefill=ident.prefill, today=TODAY, targets=ident.targets)
        got[on] = [(f.code, f.cell, f.field, repr(f.value), f.message) for f in found]
    assert got[True] == got[False]
    by_cell = {cell: message for _, cell, _, _, message in got[True]}
    for r in rows:
        assert r.target is not None
        assert r.actual.a1 in by_cell and r.target.name in by_cell[r.actual.a1], (r.actual.a1, by_cell.get(r.actual.a1))


def test_formulas_and_their_reads_by_row_and_text_are_those_made_whole(switched: None, tmp_path: Path) -> None:
    """ROW_FORMULAS, READS_BY_TEXT and LOCKED_BY_TEXT: every layout of the sample targets and of them turned to every
    rule, the blank national form and the first form give the same formulas, cells read and fixed texts' entries as
    with all three off."""
    from xltemplate.form.family import family_of

    spec = resolve_template("cn-project-self-eval")
    first = resolve_template("sh-project-self-eval")
    layouts: list[Any] = [L.layout_of(spec, records) for records in _records()] + [L.layout_of(spec, None)]  # type: ignore[arg-type]
    layouts.append(family_of(first).layout(first))
    got: dict[bool, list[Any]] = {}
    for on in (True, False):
        F.ROW_FORMULAS = N.READS_BY_TEXT = N.LOCKED_BY_TEXT = on
        F._BY_ROW.clear()
        N._TEXT_READS.clear()
        N._LOCKED.clear()
        out = []
        for lay in layouts * 2:
            F._BY_SHAPE.clear()
            N._READS.clear()
            N._SHAPES.clear()
            N._CELLS.clear()  # (else a cell shape an earlier test laid out is found there, and its fixed texts not made)
            shaped = N._shaped(lay.spec, lay)
            out.append((shaped["formulas"], [(c.name, c.a1) for c in shaped["reads"]], shaped["locked_texts"]))
        got[on] = out
        if on:
            assert F._BY_ROW and N._TEXT_READS and N._LOCKED
    assert got[True] == got[False]
    assert all(reads and locked for _, reads, locked in got[True])


@pytest.mark.parametrize("text", ["=B05+C6", "=SUM(A1:Z500)+D3", "=SUM($C$2:$B$9)", '="A1"&B2', "=Sheet1!A1+AB12",
                                  "=SUM(C4:C4,E7)", "=A0+B1"])
def test_reads_by_text_of_hand_made_formulas(text: str, switched: None) -> None:
    """READS_BY_TEXT on formulas a layout does not make: a row with a leading zero names no cell, a range wider than
    the places kept is tested as a range, reversed ranges, string literals, other sheets' names: the same cells."""
    cells = tuple(Cell(r, c, f"n{r}_{c}") for r in range(0, 520) for c in range(0, 30))
    got = {}
    for on in (True, False):
        N.READS_BY_TEXT = on
        N._READS.clear()
        N._TEXT_READS.clear()
        got[on] = [c.name for c in N.formula_reads({2: {"x": text}}, cells)]
    assert got[True] == got[False]
    assert got[True] or text == "=A0+B1"


def test_shared_row_formulas_follow_the_rule(switched: None) -> None:
    """A row's remembered formulas are its rule's: the same place under another rule gets that rule's formulas."""
    spec = resolve_template("cn-project-self-eval")
    records = _records()[0]
    q = next(i for i, r in enumerate(records) if r["kind"] != QUALITATIVE)
    F.ROW_FORMULAS = True
    base = F.make_formulas(L.layout_of(spec, records), 2)  # type: ignore[arg-type]
    kind = next(k for k in KINDS if k not in (records[q]["kind"], QUALITATIVE))
    other = tuple(dict(r, kind=kind) if i == q else r for i, r in enumerate(records))
    lay = L.layout_of(spec, other)  # type: ignore[arg-type]
    on = F.make_formulas(lay, 2)
    F.ROW_FORMULAS = False
    assert on == F.make_formulas(lay, 2) != base


class _Text(str):
    pass


def test_targets_read_in_line_are_those_read_the_way_around(switched: None) -> None:
    """RECORD_IN_LINE: every sample target, and each with one of its texts changed to every kind of value a damaged
    record may hold, read both ways: the same Target (fields, their order, hash) or the same error."""
    from collections import OrderedDict

    from xltemplate.families.rule_scored import spec as S

    spec = resolve_template("cn-project-self-eval")
    records = [r for records in _records() for r in records]
    changes: list[dict[str, Any]] = [{}, {"points": " 5 "}, {"points": "1e1"}, {"points": "NaN"}, {"points": "-1"}, {"points": "x"},
                                     {"points": "Infinity"}, {"points": 5}, {"target": "Infinity"}, {"target": "sNaN"},
                                     {"target": "0.0001"}, {"target": ""}, {"kind": "≈"}, {"kind": _Text("≥")},
                                     {"sublevel": "无此二级"}, {"level": "benefit"}, {"name": None}, {"unit": 0},
                                     {"name": _Text("名")}, {"level": "output", "sublevel": "quality"}]
    outcomes = 0
    for rec in records[:40]:
        for change in changes:
            for shape in (dict, OrderedDict):
                got = []
                for on in (True, False):
                    S.RECORD_IN_LINE = on
                    try:
                        t = S.Target.from_record(spec, shape(rec, **change))
                        got.append((t, list(t.__dict__.items()), hash(t), type(t.target), type(t.name)))
                    except (ValueError, KeyError) as exc:
                        got.append((type(exc), str(exc)))
                assert got[0] == got[1], (rec, change, got)
                outcomes += len(got[0]) == 5
    assert 40 * 2 < outcomes < 40 * 2 * len(changes)
    S.RECORD_IN_LINE = True
    calls: list[int] = []
    real = S._in_line
    S._in_line = lambda *a: calls.append(1) or real(*a)  # type: ignore[assignment]
    try:
        S.Target.from_record(spec, dict(records[0]))
    finally:
        S._in_line = real  # type: ignore[assignment]
    assert calls, "the way in line was not taken"


def _freeze_count(context: object, payload: object) -> int:
    import gc

    return gc.get_freeze_count()


def _threshold(context: object, payload: object) -> int:
    import gc

    return gc.get_threshold()[0]


def _failed(payload: object, code: str, what: str) -> int:
    return -1


@pytest.mark.parametrize("on", [True, False])
def test_a_worker_freezes_what_it_holds_once_warm(on: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """workers.FREEZE_AFTER_WARM: a worker's objects once warm are out of the collector's reach (frozen) before its
    first task, and only with it on."""
    import gc

    from xltemplate import workers

    monkeypatch.setattr(workers, "FREEZE_AFTER_WARM", on)
    got = workers.run_many(_freeze_count, _failed, [1, 2, 3], jobs=2)
    assert len(got) == 3 and all((n > 1000) if on else (n == 0) for n in got), got
    assert gc.get_freeze_count() == 0  # (the parent's are not)


@pytest.mark.parametrize("on", [True, False])
def test_a_worker_collects_its_young_less_often(on: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """workers.FEWER_COLLECTIONS: a worker's youngest generation's threshold is _YOUNG, only with it on; the
    parent's is left as it was."""
    import gc

    from xltemplate import workers

    before = gc.get_threshold()
    monkeypatch.setattr(workers, "FEWER_COLLECTIONS", on)
    got = workers.run_many(_threshold, _failed, [1, 2, 3], jobs=2)
    assert got == [workers._YOUNG if on else before[0]] * 3
    assert gc.get_threshold() == before


def test_a_national_collect_is_the_same_with_workers_frozen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """workers.FREEZE_AFTER_WARM and FEWER_COLLECTIONS on and off, two workers, the national samples: the same
    roll-up and --json."""
    from click.testing import CliRunner

    from xltemplate import workers
    from xltemplate.cli import main

    got = {}
    for on in (True, False):
        monkeypatch.setattr(workers, "FREEZE_AFTER_WARM", on)
        monkeypatch.setattr(workers, "FEWER_COLLECTIONS", on)
        out = tmp_path / f"{on}.xlsx"
        result = CliRunner().invoke(main, ["collect", str(NATIONAL / "returns"), "--roster", str(NATIONAL / "roster.csv"),
                                           "--targets", str(NATIONAL / "targets.csv"), "-o", str(out), "--jobs", "2", "--json"])
        assert result.exit_code in (0, 1), result.output
        got[on] = (out.read_bytes(), result.output.replace(str(out), "OUT"))
    assert got[True] == got[False]
