"""The seventh pass's shortcuts of a national return's read + validate (issue 15, helper natp), each against what it
stands for, on values chosen to reach every branch; the whole reports are compared both ways by
``tests/test_fast_paths.py`` (``VALIDATION_SWITCHES``) over the national, LibreOffice-saved, hostile and fuzz corpora.

- ``values.NUMBERS_FIRST``: :func:`~xltemplate.values.parse_measure` decides a float, an int or a Decimal by one test;
- ``normalise.PLAIN_FIRST``: a quiet input holding a text is read in line (``parse_text`` of a str);
- ``normalise.SHARE_FIELD_INPUTS``, ``layout.SHARE_BODY_FIELDS``: slots made once per shape's part.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from xltemplate import normalise as N
from xltemplate import values as V
from xltemplate.families.rule_scored import layout as L
from xltemplate.identify import RunContext, identify
from xltemplate.readers import read_submission
from xltemplate.submission import CellData

from .conftest import SAMPLES

NATIONAL = SAMPLES / "national"
TODAY = dt.date(2026, 6, 30)

NUMBERS: tuple[Any, ...] = (
    0, 1, -1, 7, 10 ** 40, -(10 ** 40), 10 ** 400, 0.0, -0.0, 0.5, 1.005, 1e-7, 2.675, 33.333333333333336, 1e300, -1e300,
    5e-324, float("nan"), float("inf"), -float("inf"), Decimal("0"), Decimal("0.00"), Decimal("95"), Decimal("-3"),
    Decimal("1E+50"), Decimal("1E+5000"), Decimal("1E-50"), Decimal("12.345678901234567890123"), Decimal("NaN"),
    Decimal("sNaN"), Decimal("Infinity"), Decimal("-Infinity"), True, False, None, "", " ", "95", "95%", "1,200 万元",
    "３天", dt.date(2024, 1, 1), dt.datetime(2024, 1, 1, 12),
)
TEXTS: tuple[Any, ...] = (
    None, "", " ", "  x  ", "\t\n", "\u3000", "\u3000x\u3000", "'", "' ", "'x", "\u200b", "x\u200b", "\ufeff", "偏差原因",
    " 偏差 原因 ", "\r\n原因\r\n", "\xa0", "\xa0x", "'\u3000", "0", 0, 1.0, 1.5, True, dt.date(2024, 1, 1),
)


class _Str(str):
    """A str of another type: read by parse_text, never in line."""


def test_a_measure_of_a_number_is_read_as_before() -> None:
    """parse_measure of every kind of value: the same Parsed (value with its type and digits, note, error) both ways."""
    saved = V.NUMBERS_FIRST
    try:
        for unit in ("", "%", "万元", "个"):
            for raw in NUMBERS:
                got = []
                for on in (True, False):
                    V.NUMBERS_FIRST = on
                    p = V.parse_measure(raw, unit)
                    got.append((type(p.value), str(p.value), p.note, p.error))
                assert got[0] == got[1], (raw, unit)
    finally:
        V.NUMBERS_FIRST = saved


def _national() -> Path:
    return sorted(p for p in (NATIONAL / "returns").glob("*.xlsx") if not p.name.startswith("~$"))[0]


def _normalised(sub: Any, on: bool) -> tuple[dict[str, Any], frozenset[str], list[Any]]:
    saved = N.PLAIN_FIRST
    N.PLAIN_FIRST = on
    try:
        ident, _ = identify(sub, RunContext.builtin(today=TODAY))
        ctx, found = N.normalise(ident.spec, sub, prefill=ident.prefill, today=TODAY, targets=ident.targets)
        return {k: (type(v), v) for k, v in ctx.values.items()}, ctx.readable, [f.flatten() if hasattr(f, "flatten") else f for f in found]
    finally:
        N.PLAIN_FIRST = saved


def test_quiet_texts_read_in_line_are_read_as_parse_text_reads_them() -> None:
    """Every quiet input of a national return (its rows' 偏差原因, a blank form's names and units) given each text:
    the same values (type and all), the same readable names and findings, both ways; and the way in line is taken."""
    sub = read_submission(_national())
    ident, _ = identify(sub, RunContext.builtin(today=TODAY))
    plan = N.plan(ident.spec, ident.targets)
    quiet = [s.cell for s in plan.inputs if s.kind == N.QUIET]
    assert len(quiet) >= 5
    cells = sub.cells[ident.spec.sheet]
    for text in TEXTS + (_Str(" x "), _Str("")):
        for c in quiet:
            cells[c.a1] = CellData(text)
        on, off = _normalised(sub, True), _normalised(sub, False)
        assert on == off, repr(text)
        if type(text) is str:
            assert on[0][quiet[0].name] == (type(V.parse_text(text).value), V.parse_text(text).value)


def test_the_quiet_way_in_line_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not idle: with PLAIN_FIRST on, a quiet text input does not go through parse_text."""
    sub = read_submission(_national())
    ident, _ = identify(sub, RunContext.builtin(today=TODAY))
    quiet = [s.cell for s in N.plan(ident.spec, ident.targets).inputs if s.kind == N.QUIET]
    for n, c in enumerate(quiet):
        sub.cells[ident.spec.sheet][c.a1] = CellData(None if n % 2 else " 原因 ")
    calls: list[Any] = []
    real = N.parse_text
    monkeypatch.setattr(N, "parse_text", lambda raw: calls.append(raw) or real(raw))
    _normalised(sub, True)
    on = len(calls)
    _normalised(sub, False)
    assert len(calls) - on >= on + len(quiet)


def test_shared_slots_are_those_made_anew() -> None:
    """SHARE_FIELD_INPUTS and SHARE_BODY_FIELDS: the plans of every sample national return (several of one shape, read
    in a row) hold the same input slots and body fields as plans made with both off; and the shared ones are shared."""
    run = RunContext.builtin(today=TODAY)
    paths = sorted(p for p in (NATIONAL / "returns").glob("*.xlsx") if not p.name.startswith("~$"))
    idents = [identify(read_submission(p), run)[0] for p in paths]
    idents = [i for i in idents if i.spec is not None]
    assert len(idents) >= 3
    saved = N.SHARE_FIELD_INPUTS, L.SHARE_BODY_FIELDS
    got: dict[bool, list[Any]] = {}
    try:
        for on in (True, False):
            N.SHARE_FIELD_INPUTS = L.SHARE_BODY_FIELDS = on
            N._PLANS.clear()
            plans = []
            for _ in range(2):
                for i in idents:
                    N._PLANS.clear()
                    plans.append(N.plan(i.spec, i.targets))
            # (a slot's reader is a function made with it: compared by whether there is one; the report tests read them)
            got[on] = [([(*(getattr(s, f.name) for f in dataclasses.fields(s) if f.name != "reader"), s.reader is None)
                         for s in p.inputs], p.layout.body_fields(), p.spec_values) for p in plans]
            if on:
                assert len({id(p.layout.body_fields()) for p in plans}) < len(plans)
                assert len({id(p.inputs[0]) for p in plans}) < len(plans)
    finally:
        N.SHARE_FIELD_INPUTS, L.SHARE_BODY_FIELDS = saved
    assert got[True] == got[False]


HELD_VALUES: tuple[Any, ...] = (
    0, 1, 95, -3, 10 ** 20, 10 ** 400, 0.0, -0.0, 0.1, 95.5, 1e-7, 1e16, 1e22, 2.675, 1e300, float("nan"), float("inf"),
    True, False, None, "", "95", " 95 ", "95%", "1,200", "abc", dt.date(2024, 1, 1),
)


@pytest.fixture(scope="module")
def blank_national(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The national form without targets: its rows' cells are read by the 指标性质 the unit chose."""
    from xltemplate.catalog import resolve_template
    from xltemplate.form.generate import generate_workbook

    spec = resolve_template("cn-project-self-eval")
    return generate_workbook(spec, tmp_path_factory.mktemp("natp") / "blank.xlsx").path


@pytest.mark.parametrize("which", ["targets", "blank"])
def test_names_held_when_read_are_those_the_comparison_finds_held(which: str, blank_national: Path) -> None:
    """HELD_WHEN_READ: every input of a national return a twin reads (its rows' 实际完成值 and 自评分, the funding amounts)
    given each kind of value, as a value, a formula's result or an error: a name is known held only where the
    comparison of :meth:`Context._as_held` finds it held, and the context's verdict is the same both ways. On a return
    with targets and on the blank form (whose rows' kinds are typed: ≥ in some rows, 定性 in others, none in the rest)."""
    sub = read_submission(_national() if which == "targets" else blank_national)
    ident, _ = identify(sub, RunContext.builtin(today=TODAY))
    plan = N.plan(ident.spec, ident.targets)
    reads = {c.name for c in plan.reads}
    numbers = [s.cell for s in plan.inputs if s.cell.name in reads]  # (numbers and choices: every input a twin reads)
    assert len(numbers) >= 5
    cells = sub.cells[ident.spec.sheet]
    if which == "blank":  # each row's 指标性质 typed, three rows in turn
        from xltemplate.families.rule_scored.layout import Layout
        layout = plan.layout
        assert isinstance(layout, Layout)
        for k, r in enumerate(layout.rows):
            cells[r.kind.a1] = CellData(("≥", "定性", None)[k % 3])
            cells[r.unit.a1] = CellData("%")
    seen_held = seen_not = 0
    for n, value in enumerate(HELD_VALUES):
        for k, c in enumerate(numbers):
            v = HELD_VALUES[(n + k) % len(HELD_VALUES)]
            cells[c.a1] = CellData(v, "=1+1", False) if (n + k) % 7 == 3 else CellData(v, None, (n + k) % 11 == 5)
        ctx, _ = N.normalise(ident.spec, sub, prefill=ident.prefill, today=TODAY, targets=ident.targets)
        for name in ctx.held_when_read & reads:
            alone = dataclasses.replace(ctx, plan=dataclasses.replace(plan, reads=tuple(c for c in plan.reads if c.name == name)))
            assert alone._as_held(alone.referenced_values), (name, value)
            seen_held += 1
        assert ctx._held == ctx._as_held(ctx.referenced_values) == ctx._as_held(ctx.referenced_values, ctx.held_when_read)
        seen_not += len(reads - ctx.held_when_read)
    assert seen_held > 50 and seen_not > 50  # (not idle)


def test_a_name_read_again_otherwise_is_not_known_held() -> None:
    """A name first read as a number and then assigned another way (a quiet slot of the same cell) is not known held."""
    sub = read_submission(_national())
    ident, _ = identify(sub, RunContext.builtin(today=TODAY))
    plan = N.plan(ident.spec, ident.targets)
    number = next(s for s in plan.inputs if s.kind == "money")
    quiet = dataclasses.replace(number, kind=N.QUIET)
    sub.cells[ident.spec.sheet][number.cell.a1] = CellData(12.5)
    odd = dataclasses.replace(plan, inputs=plan.inputs + (quiet,))
    key = next(k for k, v in N._PLANS.items() if v is plan)
    N._PLANS[key] = odd
    try:
        ctx, _ = N.normalise(ident.spec, sub, prefill=ident.prefill, today=TODAY, targets=ident.targets)
    finally:
        N._PLANS[key] = plan
    assert ctx.plan is odd and number.cell.name not in ctx.held_when_read
    ctx, _ = N.normalise(ident.spec, sub, prefill=ident.prefill, today=TODAY, targets=ident.targets)
    assert number.cell.name in ctx.held_when_read
