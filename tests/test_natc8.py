"""The eighth pass's shortcuts of a national return's validation (issue 15, helper natc), each against what it stands
for, on values chosen to reach every branch; the whole reports are compared both ways by ``tests/test_fast_paths.py``
(``VALIDATION_SWITCHES``) over the national, LibreOffice-saved, hostile and fuzz corpora.

- ``layout.SHARE_ROW_NAMES``: a layout's rows' names and places made once per shape (``target_values`` by them);
- ``rule_scored.SHARE_BODY_INPUTS``: the body fields' input slots made once per shape's body fields;
- ``rule_scored.checks.KEPT_BY_ROW``: a target row found kept in one go (``targets_kept``);
- ``checks.NAMES_AT_ONCE``: every defined name where it must point, in one comparison;
- ``normalise.NUMBER_IN_LINE``: a float or an int in a number input read in line.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import pytest

from xltemplate import checks as C
from xltemplate import normalise as N
from xltemplate.families import rule_scored as RS
from xltemplate.families.rule_scored import checks as RC
from xltemplate.families.rule_scored import formulas as F
from xltemplate.families.rule_scored import layout as L
from xltemplate.identify import RunContext, identify
from xltemplate.readers import read_submission
from xltemplate.submission import CellData, Submission

from .conftest import SAMPLES

NATIONAL = SAMPLES / "national"
TODAY = dt.date(2026, 6, 30)

#: Values of every kind a cell may hold, as the readers give them.
VALUES: tuple[Any, ...] = (
    None, "", " ", "x", " x ", "\u3000", "定性", "≥", "%", "个", "达成年度指标", 0, 1, 5, 10, 95, -3, 10 ** 20, 10 ** 400,
    0.0, -0.0, 0.5, 5.0, 10.0, 95.0, 95.5, 1e-7, 1e16, 2.675, 1e300, float("nan"), float("inf"), -float("inf"), True, False,
    Decimal("5"), Decimal("95"), Decimal("NaN"), "95", "5", " 95 ", "95%", dt.date(2024, 1, 1), dt.datetime(2024, 1, 1, 12),
)


def _paths() -> list[Path]:
    return sorted(p for p in (NATIONAL / "returns").glob("*.xlsx") if not p.name.startswith("~$"))


@pytest.fixture
def switched() -> Iterator[None]:
    saved = [(m, s, getattr(m, s)) for m, s in ((L, "SHARE_ROW_NAMES"), (RS, "SHARE_BODY_INPUTS"), (RC, "KEPT_BY_ROW"),
                                                (C, "NAMES_AT_ONCE"), (N, "NUMBER_IN_LINE"))]
    yield
    for m, s, v in saved:
        setattr(m, s, v)
    N._PLANS.clear()
    L._SHAPED.clear()


def _with_targets(sub: Submission) -> Any:
    ident, _ = identify(sub, RunContext.builtin(today=TODAY))
    assert ident.spec is not None and ident.targets is not None
    return ident


def test_shared_row_names_and_body_inputs_are_those_made_anew(switched: None) -> None:
    """SHARE_ROW_NAMES and SHARE_BODY_INPUTS: the plans of every sample national return, made twice in turn (so that
    later ones are their shape's copies), hold the same spec values (in the same order) and input slots as plans made
    with both off; and the shared lists are shared."""
    run = RunContext.builtin(today=TODAY)
    idents = [i for i in (identify(read_submission(p), run)[0] for p in _paths()) if i.spec is not None]
    assert len(idents) >= 3
    got: dict[bool, list[Any]] = {}
    for on in (True, False):
        L.SHARE_ROW_NAMES = RS.SHARE_BODY_INPUTS = on
        L._SHAPED.clear()
        plans = []
        for _ in range(2):
            for i in idents:
                N._PLANS.clear()
                plans.append(N.plan(i.spec, i.targets))
        got[on] = [(list(p.spec_values.items()),
                    [(*(getattr(s, f.name) for f in dataclasses.fields(s) if f.name != "reader"), type(s.reader),
                      getattr(s.reader, "unit", None)) for s in p.inputs]) for p in plans]
        lays = [p.layout for p in plans]
        assert isinstance(lays[0], L.Layout)
        if on:
            assert len({id(lay.row_names()) for lay in lays}) < len(lays)  # type: ignore[attr-defined]
            body = [s for s in plans[0].inputs if s.cell.name.startswith("fund_")]
            assert body and sum(1 for p in plans if any(s is body[0] for s in p.inputs)) > 1
        for lay in lays:  # (a shape's names and places are those of its rows, whichever way)
            assert lay.row_names() == tuple((r.name.name, r.kind.name, r.unit.name, r.target_cell.name, r.points.name)  # type: ignore[attr-defined]
                                            for r in lay.rows)  # type: ignore[attr-defined]
            assert lay.row_places() == tuple((r.name.a1, r.kind.a1, r.unit.a1, r.target_cell.a1, r.points.a1)  # type: ignore[attr-defined]
                                             for r in lay.rows)  # type: ignore[attr-defined]
            assert lay.twin_names() == tuple((r.target_cell.name, r.actual.name, r.points.name, r.given.name,  # type: ignore[attr-defined]
                                              r.reason.name, r.score.name, r.check.name) for r in lay.rows)  # type: ignore[attr-defined]
        got[on].append([[(row[0].id, *row[1:]) for row in F.twin_rows(p.layout)] for p in plans])  # type: ignore[arg-type]
    assert got[True] == got[False]


def _findings(found: Any) -> list[Any]:
    return [(f.code, f.sheet, f.cell, f.field, repr(f.value), f.message) for f in found]


def test_a_target_row_kept_in_one_go_is_what_the_cells_one_by_one_say(switched: None) -> None:
    """KEPT_BY_ROW: each of a target row's five locked cells given every kind of value (the target's own, as a float,
    an int or a text, and all of VALUES), the other cells as sent: the same findings both ways; and some rows are
    found kept in one go (not idle), none where a cell was changed."""
    sub = read_submission(_paths()[0])
    ident = _with_targets(sub)
    ctx, _ = N.normalise(ident.spec, sub, prefill=ident.prefill, today=TODAY, targets=ident.targets)
    lay = ctx.layout
    assert isinstance(lay, L.Layout)
    cells = sub.cells[ident.spec.sheet]
    rows = [(r, places) for r, places in zip(lay.rows, lay.row_places()) if r.target is not None]
    assert len(rows) >= 5
    kept = compared = 0
    for r, places in rows:
        t = r.target
        assert t is not None
        own = [t.name, t.kind, t.unit or None, t.target, t.points]
        for part, at in enumerate(places):
            sent = cells.get(at)
            want = own[part]
            tries = list(VALUES) + ([float(want), int(want) if want == int(want) else float(want), str(want)]
                                    if isinstance(want, Decimal) else [want, f" {want} " if want else want])
            for v in tries:
                cells[at] = CellData(v)
                got = {}
                for on in (True, False):
                    RC.KEPT_BY_ROW = on
                    got[on] = _findings(RC.targets_kept(ctx))
                assert got[True] == got[False], (r.id, part, v)
                found_kept = RC._row_kept(cells.get, places, t)
                if found_kept:
                    kept += 1
                    assert not [f for f in got[False] if f[3] == r.id], (r.id, part, v)  # (kept: nothing to say)
                compared += 1
            if sent is None:
                del cells[at]
            else:
                cells[at] = sent
        assert RC._row_kept(cells.get, places, t)  # (as sent: kept)
    assert kept > len(rows) and compared > 100 * len(rows)


def test_defined_names_at_once_as_name_by_name(switched: None) -> None:
    """NAMES_AT_ONCE: the file's defined names as sent, one moved, one gone, one on another sheet, one given as a list,
    extra names, none: the same finding both ways."""
    sub = read_submission(_paths()[0])
    ident = _with_targets(sub)
    ctx, _ = N.normalise(ident.spec, sub, prefill=ident.prefill, today=TODAY, targets=ident.targets)
    sent = dict(sub.defined_names)
    name, (sheet, a1) = next((c.name, p) for c, p in ctx.plan.places)
    variants: list[dict[str, Any]] = [
        sent, {**sent, name: (sheet, "A1")}, {k: v for k, v in sent.items() if k != name}, {**sent, name: ("x", a1)},
        {**sent, name: [sheet, a1]}, {**sent, name: None}, {**sent, "extra": ("x", "A1")}, {},
    ]
    for names, wrong in zip(variants, (False, True, True, True, True, True, False, True)):
        sub.defined_names.clear()
        sub.defined_names.update(names)
        got = {}
        for on in (True, False):
            C.NAMES_AT_ONCE = on
            got[on] = _findings(C.names(ctx))
        assert got[True] == got[False]
        assert bool(got[True]) == wrong
    sub.defined_names.clear()
    sub.defined_names.update(sent)


def _normalised(sub: Submission, ident: Any) -> tuple[Any, ...]:
    ctx, found = N.normalise(ident.spec, sub, prefill=ident.prefill, today=TODAY, targets=ident.targets)
    return ({k: (type(v), str(v)) for k, v in ctx.values.items()}, ctx.readable, ctx.held_when_read, _findings(found))


def _return_of(which: str, tmp_path: Path) -> tuple[Submission, Any, Any, dict[str, CellData]]:
    """A national return read, identified and planned, and its form sheet's cells: the sample's (``targets``) or the
    blank form's (``blank``)."""
    if which == "targets":
        path = _paths()[0]
    else:
        from xltemplate.catalog import resolve_template
        from xltemplate.form.generate import generate_workbook
        path = generate_workbook(resolve_template("cn-project-self-eval"), tmp_path / "blank.xlsx").path
    sub = read_submission(path)
    ident, _ = identify(sub, RunContext.builtin(today=TODAY))
    return sub, ident, N.plan(ident.spec, ident.targets), sub.cells[ident.spec.sheet]


@pytest.mark.parametrize("which", ["targets", "blank"])
def test_numbers_read_in_line_are_read_as_their_readers_read_them(which: str, switched: None, tmp_path: Path) -> None:
    """NUMBER_IN_LINE: every input of a national return (with targets, and the blank form with kinds typed) given
    every kind of value, as a value, a formula's result or an error: the same values (type and digits), readable
    names, names known held and findings both ways; and the way in line is taken (not idle)."""
    sub, ident, plan, cells = _return_of(which, tmp_path)
    inputs = [s for s in plan.inputs if s.kind != N.QUIET]
    assert len(inputs) >= 10
    if which == "blank":
        lay = plan.layout
        assert isinstance(lay, L.Layout)
        for k, r in enumerate(lay.rows):
            cells[r.kind.a1] = CellData(("≥", "定性", None, "≤")[k % 4])
            cells[r.unit.a1] = CellData(("%", "个", None)[k % 3])
    in_line = 0
    for n in range(len(VALUES)):
        for k, s in enumerate(inputs):
            v = VALUES[(n + k) % len(VALUES)]
            cells[s.cell.a1] = CellData(v, "=1+1", False) if (n + k) % 7 == 3 else CellData(v, None, (n + k) % 11 == 5)
            in_line += type(v) in (int, float) and (n + k) % 7 != 3 and (n + k) % 11 != 5
            if (n + k) % 6 == 1:
                del cells[s.cell.a1]  # (an empty cell: none in the sheet)
        got = {}
        for on in (True, False):
            N.NUMBER_IN_LINE = on
            got[on] = _normalised(sub, ident)
        assert got[True] == got[False], n
    assert in_line > 100


def test_the_number_way_in_line_is_taken(switched: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not idle: with NUMBER_IN_LINE on, a float in a 实际完成值 or a money input is not read by its reader."""
    sub = read_submission(_paths()[0])
    ident = _with_targets(sub)
    calls: list[Any] = []
    real = N.parse_field
    monkeypatch.setattr(N, "parse_field", lambda *a: calls.append(a) or real(*a))  # type: ignore[func-returns-value]
    from xltemplate import values as V
    real_measure = V.Measure.__call__
    monkeypatch.setattr(V.Measure, "__call__", lambda self, *a: calls.append(a) or real_measure(self, *a))  # type: ignore[func-returns-value]
    plan = N.plan(ident.spec, ident.targets)
    numbers = [s for s in plan.inputs if isinstance(s.reader, V.Measure)]
    assert len(numbers) >= 5
    for s in numbers:
        sub.cells[ident.spec.sheet][s.cell.a1] = CellData(12.5)
    counts = []
    for on in (True, False):
        N.NUMBER_IN_LINE = on
        calls.clear()
        _normalised(sub, ident)
        counts.append(len(calls))
    assert counts[1] - counts[0] >= len(numbers)


def test_the_funding_check_takes_the_twins_sums_as_summing_again(switched: None) -> None:
    """REUSE_FUNDING_SUMS: every funding amount given every kind of value (as a value, a formula's result or an
    error): the same findings of the funding check both ways; the twins' 校验 of a column is the one of that column."""
    sub = read_submission(_paths()[0])
    ident = _with_targets(sub)
    plan = N.plan(ident.spec, ident.targets)
    lay = plan.layout
    assert isinstance(lay, L.Layout)
    assert [col for col, _ in RC.FUNDING_COLUMNS] == list(lay.funding_checks)  # (the columns in one order)
    cells = sub.cells[ident.spec.sheet]
    amounts = [c for fs in lay.funding for c in fs.amounts]
    seen = 0
    for n in range(len(VALUES)):
        for k, c in enumerate(amounts):
            v = VALUES[(n * 3 + k) % len(VALUES)] if (n + k) % 4 else VALUES[(n + 2 * k) % len(VALUES)]
            cells[c.a1] = CellData(v, "=1+1", False) if (n + k) % 9 == 4 else CellData(v, None, (n + k) % 13 == 6)
        got = {}
        for on in (True, False):
            RC.REUSE_FUNDING_SUMS = on
            ctx, _ = N.normalise(ident.spec, sub, prefill=ident.prefill, today=TODAY, targets=ident.targets)
            got[on] = _findings(RC.funding(ctx))
        assert got[True] == got[False], n
        seen += any(f[0] == "funding-sum" for f in got[True])
    for k, c in enumerate(amounts):  # parts that do not add up, in every column
        cells[c.a1] = CellData(100.5 + k if k >= 3 else 1.0)
    ctx, _ = N.normalise(ident.spec, sub, prefill=ident.prefill, today=TODAY, targets=ident.targets)
    assert len([f for f in RC.funding(ctx) if f.code == "funding-sum"]) == 3
    assert seen > 3


def test_shared_look_ups_are_those_made_anew(switched: None) -> None:
    """SHARE_LOOKUPS: the layouts of every sample national return, made twice in turn, find every field and the
    grade field as layouts made with it off; and the look-ups are shared."""
    run = RunContext.builtin(today=TODAY)
    idents = [i for i in (identify(read_submission(p), run)[0] for p in _paths()) if i.spec is not None]
    got: dict[bool, list[Any]] = {}
    for on in (True, False):
        L.SHARE_LOOKUPS = on
        L._SHAPED.clear()
        lays = []
        for _ in range(2):
            for i in idents:
                lay = L.layout_of(i.spec, i.targets)
                lays.append(lay)
                lay._field_index, lay.grade_field  # (asked, as validation asks them)
        got[on] = [([(s.field.id, lay.field(s.field.id)) for s in lay.fields + lay.body_fields()], lay.grade_field)
                   for lay in lays]
        if on:
            assert len({id(lay._field_index) for lay in lays}) < len(lays)
    assert got[True] == got[False]


PREFILL_VALUES: tuple[Any, ...] = VALUES + (
    "1004", "1004.0", "-3", "-0.0", "0", "12.5", "1e+16", "1e16", "1.5e-07", "nan", "inf", " 1004", "1004 ", "1,004",
    "１００４", "1004元", "95%", "0.95", 1004, 1004.0, 12.5, 1.5e-7, "2024-01-01", "市财政局", " 市财政局 ", "是", "否",
)


def _field_slots() -> list[Any]:
    """Every field slot of the national form and of the first form (header and body): each field type."""
    from xltemplate.catalog import resolve_template
    out = []
    for tid in ("cn-project-self-eval", None):
        if tid is None:
            sub = read_submission(sorted((SAMPLES / "returns").glob("*.xlsx"))[0])
            spec = identify(sub, RunContext.builtin(today=TODAY))[0].spec
        else:
            spec = resolve_template(tid)
        assert spec is not None
        lay = N.plan(spec).layout
        out += list(lay.fields + lay.body_fields())
    assert {"money", "text"} <= {s.field.type for s in out} and len({s.field.type for s in out}) >= 4
    return out


def test_prefilled_values_compared_first_as_read_both(switched: None) -> None:
    """PREFILL_FIRST: every field type, a value got and a value wanted of every kind (texts equal, a number beside its
    repr or str, and all the rest), strict and not: _same_value the same both ways; and the shortcuts are taken."""
    slots = _field_slots()
    taken = 0
    for slot in slots:
        for got in PREFILL_VALUES:
            kind = type(got)
            wants = list(PREFILL_VALUES) + ([repr(got) if kind is float else str(got)] if kind in (int, float) else [got])
            for want in wants:
                for strict in (True, False):
                    got_ = {}
                    for on in (True, False):
                        C.PREFILL_FIRST = on
                        got_[on] = C._same_value(slot, got, want, strict)
                    assert got_[True] == got_[False], (slot.field.id, slot.field.type, got, want, strict)
                    taken += type(want) is str and (got == want or kind in (int, float) and want in (repr(got), str(got)))
    assert taken > 200



class _Odd(str):
    """A str of another type, equal to the empty text when empty."""


def test_blank_by_type_is_blank(switched: None) -> None:
    """BLANK_BY_TYPE: rules._blank of every kind of value (Decimals, floats, ints, bools, texts, str subclasses, dates,
    None) the same both ways; and a number is decided without comparing it with a text."""
    from xltemplate.families.rule_scored import rules as R
    saved = R.BLANK_BY_TYPE
    try:
        for v in VALUES + (_Odd(""), _Odd("x"), Decimal("-0"), Decimal("sNaN"), Decimal("Infinity"), 10 ** 400):
            got = []
            for on in (True, False):
                R.BLANK_BY_TYPE = on
                got.append(R._blank(v))
            assert got[0] == got[1], repr(v)

        class Spy(Decimal):
            pass
        R.BLANK_BY_TYPE = True
        assert R._blank(Spy("5")) is False  # (a subclass: compared as before)
    finally:
        R.BLANK_BY_TYPE = saved


@pytest.mark.parametrize("which", ["targets", "blank"])
def test_items_in_line_are_those_of_item(which: str, switched: None, tmp_path: Path) -> None:
    """ITEMS_IN_LINE: every input of a national return (with targets, and the blank form with kinds typed) given
    every kind of value: the same results' items (each field's type and value) both ways."""
    from xltemplate.validate import recompute
    sub, ident, plan, cells = _return_of(which, tmp_path)
    inputs = [s for s in plan.inputs]
    lay = plan.layout
    assert isinstance(lay, L.Layout)
    if which == "blank":
        for k, r in enumerate(lay.rows):
            cells[r.name.a1] = CellData(("指标", None, "x")[k % 3])
            cells[r.kind.a1] = CellData(("≥", "定性", None, "≤", "=")[k % 5])
    met = 0
    for n in range(len(VALUES)):
        for k, s in enumerate(inputs):
            if which == "blank" and s.cell in (r.name for r in lay.rows) or s.cell in (r.kind for r in lay.rows):
                continue
            cells[s.cell.a1] = CellData(VALUES[(n + k) % len(VALUES)])
        got = {}
        for on in (True, False):
            RS.ITEMS_IN_LINE = on
            ctx, _ = N.normalise(ident.spec, sub, prefill=ident.prefill, today=TODAY, targets=ident.targets)
            got[on] = [tuple((type(x), repr(x)) for x in item) for item in recompute(ctx).items]
        assert got[True] == got[False], n
        assert got[True]
        met += sum(1 for item in recompute(ctx).items if item.met)
    assert met > 5
