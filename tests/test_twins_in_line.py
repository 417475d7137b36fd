"""The self-scored twins' shortcut (issue 15, seventeenth pass): ``formulas.ROWS_IN_LINE`` decides the usual row (an
indicator's, weight and score finite Decimals, neither negative, the score not above the weight) inside
:func:`formulas.evaluate`, against every row through :func:`formulas.row_check` and ``number_or_zero``.

Every value kind a cell can give the twins (blank, text, ints, floats, Decimals with their digits, negative zero,
infinities and NaNs, booleans, dates) is tried as a weight and a score, in indicator rows and extra rows, the rest of
the table filled at random; results are compared with their type and digits (``8.0`` is not ``8.00``); and the samples'
reports are the same either way.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from decimal import Decimal
from typing import Any

import pytest

from xltemplate.families.self_scored import formulas as F
from xltemplate.families.self_scored.layout import Layout
from xltemplate.identify import RunContext
from xltemplate.spec import Spec
from xltemplate.validate import validate_path

from .conftest import FIRST_RETURNS

POOL: tuple[Any, ...] = (
    None, "", " ", "abc", "5", 0, 1, -1, 7, 100, 0.0, -0.0, 0.5, 2.675, 1e300, float("nan"), float("inf"),
    -float("inf"), Decimal("0"), Decimal("-0"), Decimal("0.00"), Decimal("5"), Decimal("5.00"), Decimal("-3"),
    Decimal("0.8"), Decimal("1E+50"), Decimal("1E-50"), Decimal("12.345678901234567890123"), Decimal("NaN"),
    Decimal("sNaN"), Decimal("Infinity"), Decimal("-Infinity"), True, False, dt.date(2024, 1, 1),
    dt.datetime(2024, 1, 1, 12), Decimal("10"), Decimal("20"), Decimal("9.99"),
)


def shown(out: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {k: (type(v).__name__, str(v)) for k, v in out.items()}


def both(layout: Layout, values: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    got = []
    for on in (True, False):
        monkeypatch.setattr(F, "ROWS_IN_LINE", on)
        try:
            got.append(shown(F.evaluate(layout, values)))
        except Exception as exc:  # (the same refusal both ways)
            got.append(("raises", type(exc).__name__))
    return got[0], got[1]


def test_every_value_kind_as_weight_and_score_in_every_kind_of_row(spec: Spec, monkeypatch: pytest.MonkeyPatch) -> None:
    layout = Layout(spec)
    indicator = next(r for r in layout.rows if r.indicator is not None)
    extras = [r for r in layout.rows if r.indicator is None]
    rows = [indicator] + extras[:1]
    assert extras, "the sample spec has extra rows"
    seen = set()
    for r, (w, s) in itertools.product(rows, itertools.product(POOL, POOL)):
        values = {r.weight.name: w, r.score.name: s, r.name.name: "名称"}
        on, off = both(layout, values, monkeypatch)
        assert on == off, (r.indicator, w, s)
        seen.add(on[r.check.name] if isinstance(on, dict) else on)
    assert seen >= {("str", ""), ("str", F.MSG_SCORE_ABOVE_WEIGHT), ("str", F.MSG_NOT_APPLICABLE),
                    ("str", F.MSG_WEIGHT_NEGATIVE), ("str", F.MSG_SCORE_NEGATIVE)}


def test_whole_tables_filled_at_random(spec: Spec, monkeypatch: pytest.MonkeyPatch) -> None:
    layout = Layout(spec)
    rng = random.Random(15)
    numbers = [v for v in POOL if type(v) is Decimal and v.is_finite()]
    for _ in range(300):
        values: dict[str, Any] = {}
        for r in layout.rows:
            usual = rng.random() < 0.7  # (most rows the usual kind: the sums then add Decimals of any digits)
            values[r.weight.name] = rng.choice(numbers if usual else POOL)
            values[r.score.name] = rng.choice(numbers if usual else POOL)
            if rng.random() < 0.5:
                values[r.name.name] = rng.choice(POOL)
        on, off = both(layout, values, monkeypatch)
        assert on == off


def test_the_samples_reports_are_the_same_either_way(monkeypatch: pytest.MonkeyPatch) -> None:
    run = RunContext.builtin()
    for path in FIRST_RETURNS:
        got = []
        for on in (True, False):
            monkeypatch.setattr(F, "ROWS_IN_LINE", on)
            got.append(validate_path(path, run).to_json())
        assert got[0] == got[1], path.name
