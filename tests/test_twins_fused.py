"""The national twins' shortcuts against the twins they stand for (issue 15, sixth pass).

- ``formulas.FUSED_ROWS``: a target row's score and 校验 evaluated together, each value read as a number once,
  against :func:`rules.score` and the row's check made of :func:`rules.input_check` / :func:`rules.band_check` and
  :func:`rules.reason_check`, as the formulas are built;
- ``rules.FIXED_CONTEXT``: the rounding in decimal contexts of the module's own, against a local copy of the
  caller's context (the same figures under the default context, and no dependence on the caller's).

Every value kind a cell can give the twins (blank, text, a band's label in any case, ints, floats, Decimals,
infinities and NaNs, booleans, dates) is tried in every position, under default and other rules; figures are
compared with their type and digits (``8.0`` is not ``8.00``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
import random
from decimal import Decimal
from typing import Any, Callable, Iterator

import pytest

from xltemplate.families.rule_scored import formulas as F
from xltemplate.families.rule_scored import funding as FU
from xltemplate.families.rule_scored import rules as R

from .conftest import SAMPLES

NATIONAL = SAMPLES / "national"

POOL: tuple[Any, ...] = (
    None, "", " ", "  ", "\t", "abc", "达成年度指标", "达成年度指标".upper(), "部分达成年度指标并具有一定效果", "未达成年度指标且效果较差",
    0, 1, -1, 2, 3, 7, 10, 100, 0.0, -0.0, 0.5, 1.005, 9.995, 1e-7, 2.675, 33.333333333333336, 1e300, -1e300,
    float("nan"), float("inf"), -float("inf"), Decimal("0"), Decimal("0.00"), Decimal("95"), Decimal("-3"), Decimal("0.8"),
    Decimal("1E+50"), Decimal("1E-50"), Decimal("12.345678901234567890123"), Decimal("NaN"), Decimal("Infinity"),
    Decimal("-Infinity"), True, False, dt.date(2024, 1, 1), dt.datetime(2024, 1, 1, 12), Decimal("79.995"), Decimal("8"),
)
RULES = (
    R.RuleSet(),
    R.RuleSet(digits=1, reverse_zero=Decimal(3), reason_below=Decimal("0.9"), overshoot=Decimal("1.2"),
              qualitative=(R.Band("好", Decimal("0.75"), Decimal(1)), R.Band("差", Decimal(0), Decimal("0.75")))),
    R.RuleSet(digits=0, reverse_zero=Decimal("1.5"), cap_execution=False),
)


def shown(v: Any) -> tuple[str, str]:
    """A result with its type and digits."""
    return type(v).__name__, str(v)


def outcome(fn: Callable[[], Any]) -> Any:
    try:
        out = fn()
    except Exception as exc:  # (the same refusal both ways)
        return "raises", type(exc).__name__
    return tuple(shown(v) for v in out) if isinstance(out, tuple) else shown(out)


def reference_row(kind: str, a: Any, b: Any, p: Any, g: Any, reason: Any, rules: R.RuleSet) -> tuple[Any, str]:
    """A target row's score and check as :func:`formulas.kind_score` and :func:`formulas.kind_check` make them."""
    score = R.score(kind, a, b, p, rules, choice=b, given=g)
    first = R.band_check(b, g, p, rules) if kind == R.QUALITATIVE else R.input_check(a, b, p)
    return score, first or R.reason_check(kind, score, p, reason, a, b, rules)


def cases(n: int, seed: int) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(seed)
    reasons = (None, "", "   ", "\u3000", "原因", 0)
    for _ in range(n):
        yield rng.choice(R.KINDS), rng.choice(POOL), rng.choice(POOL), rng.choice(POOL), rng.choice(POOL), rng.choice(reasons)


@pytest.fixture
def switches() -> Iterator[None]:
    saved = F.FUSED_ROWS, R.FIXED_CONTEXT
    yield
    F.FUSED_ROWS, R.FIXED_CONTEXT = saved


def test_a_target_row_fused_is_the_rules_functions_on_every_kind_of_value(switches: None) -> None:
    seen: set[tuple[Any, ...]] = set()
    for rules in RULES:
        for kind, a, b, p, g, reason in cases(6000, 15):
            R.FIXED_CONTEXT = True
            fused = outcome(lambda: F.target_row(kind, a, b, p, g, reason, rules))
            R.FIXED_CONTEXT = False
            ref = outcome(lambda: reference_row(kind, a, b, p, g, reason, rules))
            assert fused == ref, (kind, a, b, p, g, reason, rules)
            seen.add((kind, ref[1][1]))  # (which check each kind came to)
    # the cases reach every check's message of every kind (so the comparison above meant something)
    messages = {m for _, m in seen}
    assert {R.MSG_REASON_NOT_MET, R.MSG_POINTS_NEGATIVE, R.MSG_CHOOSE, "", R.MSG_NOT_NUMBER.format(label=R.TARGET),
            R.MSG_NOT_NUMBER.format(label=R.RESULT), R.MSG_NOT_NUMBER.format(label=R.POINTS),
            R.MSG_NOT_NUMBER.format(label=R.SCORE), R.MSG_MISSING.format(label=R.TARGET),
            R.MSG_MISSING.format(label=R.POINTS)} <= messages, messages
    assert any(m.startswith("实际完成值达到") for m in messages) and any(m.startswith("请填写得分") for m in messages)
    assert any(m.endswith("分之间") for m in messages)


def test_scores_and_bounds_are_the_same_in_the_module_s_contexts(switches: None) -> None:
    """Every rounding path (≥, ≤, =, the bands, the funding score capped and not) with numbers of many sizes."""
    rng = random.Random(3)
    numbers = [Decimal(rng.randint(-10**7, 10**7)).scaleb(-rng.randint(0, 9)) for _ in range(400)]
    numbers += [Decimal(x) for x in ("0.005", "0.015", "1.005", "9.995", "2.675", "1E+45", "1E-45", "33.3333333333333333")]
    for rules in RULES:
        for _ in range(4000):
            a, b, p = (rng.choice(numbers) for _ in range(3))
            got = []
            for fixed in (True, False):
                R.FIXED_CONTEXT = fixed
                got.append([outcome(lambda: R.at_least_score(a, b, p, rules)), outcome(lambda: R.at_most_score(a, b, p, rules)),
                            outcome(lambda: R.equal_score(a, b, p, rules)), outcome(lambda: R.round_score(a * b, rules.digits)),
                            outcome(lambda: R._bound(a * b)), outcome(lambda: FU.execution_score(a, b, p, rules)),
                            outcome(lambda: R._band_bounds(rules.qualitative[0], abs(p), rules))])
            assert got[0] == got[1], (a, b, p, rules)


def test_the_rounding_does_not_follow_the_caller_s_context(switches: None) -> None:
    """A caller with a low precision, another rounding, tight exponents or every trap set gets the same figures
    from what is computed in those contexts: the rounding, the bounds, the ratio's quotient, the funding score."""
    R.FIXED_CONTEXT = True
    args = [(Decimal(a), Decimal(b), Decimal(p), Decimal(a) * Decimal(b) * Decimal("1.0001"))
            for a, b, p in itertools.product(("3", "7.7", "12345.678"), ("1", "2.5", "9999.99"), ("5", "7", "33.3"))]

    def figures() -> list[Any]:
        return [(R.at_least_score(a, b, p), R.round_score(x, 2), R.round_score(x, 0), R._bound(x),
                 FU.execution_score(a, b, p, R.RuleSet(cap_execution=False)), FU.execution_score(a, b, p, R.RuleSet()))
                for a, b, p, x in args]

    want = [tuple(shown(x) for x in row) for row in figures()]
    odd = decimal.Context(prec=3, rounding=decimal.ROUND_DOWN, Emax=9, Emin=-9,
                          traps=[decimal.Inexact, decimal.Rounded, decimal.InvalidOperation])
    with decimal.localcontext(odd):
        got = [tuple(shown(x) for x in row) for row in figures()]
    assert got == want
    assert want[0][0] == ("Decimal", "1.67") and len({row[0] for row in want}) > 10  # (figures, not blanks)
    R.FIXED_CONTEXT = False  # (the old way follows the caller: the test can tell)
    assert [tuple(shown(x) for x in row) for row in figures()] == want
    with decimal.localcontext(odd), pytest.raises(decimal.DecimalException):
        figures()


def national_layouts() -> list[Any]:
    from xltemplate.catalog import resolve_template
    from xltemplate.families.rule_scored.layout import Layout
    from xltemplate.roster import read_roster
    from xltemplate.targets import read_targets

    spec = resolve_template("cn-project-self-eval")
    table = read_targets(NATIONAL / "targets.csv", spec, read_roster(NATIONAL / "roster.csv", spec))
    return [Layout(spec, None)] + [Layout(spec, tuple(records)) for records in list(table.by_key.values())[:6]]  # type: ignore[arg-type]


def test_a_layout_evaluated_fused_is_evaluated_row_by_row(switches: None) -> None:
    """Whole layouts (a blank form's empty rows, whose rule the unit chooses, and projects' targets) on random
    values of every kind, and on values a person would type: every computed cell the same both ways."""
    rng = random.Random(21)
    layouts = national_layouts()
    assert any(r.target is None for r in layouts[0].rows) and all(r.target is not None for r in layouts[1].rows)
    typed = (None, "", 0, 5, 10, 12.5, 80.0, 100, Decimal("95.5"), "≥", "≤", "=", "定性", "达成年度指标", "原因")
    checked = 0
    for lay in layouts:
        names = [c.name for c in lay.named_cells() if c.name not in {x.name for x in lay.computed_cells()}]
        for trial in range(60):
            pool = POOL + R.KINDS if trial % 2 else typed
            values = {n: rng.choice(pool) for n in names}
            got = []
            for fused in (True, False):
                F.FUSED_ROWS = fused
                got.append(outcome(lambda: tuple(sorted((k, v) for k, v in F.evaluate(lay, values).items()))))
            assert got[0] == got[1]
            checked += 1
    assert checked == 60 * len(layouts)


def test_a_kind_no_rule_has_is_refused_both_ways(switches: None) -> None:
    import dataclasses

    lay = national_layouts()[1]
    first = next(iter(lay.rows))
    assert first.target is not None
    odd = dataclasses.replace(first, target=dataclasses.replace(first.target, kind="≈"))
    lay.__dict__.pop("_twin_rows", None)
    lay.levels = (dataclasses.replace(lay.levels[0], rows=(odd,) + lay.levels[0].rows[1:]),) + lay.levels[1:]
    for fused in (True, False):
        F.FUSED_ROWS = fused
        lay.__dict__.pop("_twin_rows", None)
        with pytest.raises(ValueError, match="unknown 指标性质"):
            F.evaluate(lay, {})


def test_the_checks_comparisons_decided_by_exact_types_first_are_the_general_ones() -> None:
    """checks._same (a cached value against what the twins show) and the national targets_kept's _same (a locked
    cell against what was sent), on every pair of values: the shortcut never says otherwise than the general way."""
    from xltemplate import checks as C
    from xltemplate.families.rule_scored import checks as RC

    texts = ("名称", " 名称", "名 称", "名称\u3000", "个", "")
    values = POOL + texts + (26.97, Decimal("26.97"), Decimal("26.970"), 26.969999, 0.1 + 0.2, Decimal("0.3"), 80.0)
    taken = 0
    for got, want in itertools.product(values, repeat=2):
        for module in (C, RC):
            general = outcome(lambda: module._same_general(got, want))
            assert outcome(lambda: module._same(got, want)) == general, (module.__name__, got, want)
            taken += type(got) in (str, float)
    assert taken > 1000
    assert C._same(26.969999999, Decimal("26.97")) and not C._same(26.96, Decimal("26.97"))  # (within the tolerance)
    assert RC._same(" 名 称", "名称") and not RC._same(26.969999999, Decimal("26.97"))


def test_values_read_as_held_are_judged_the_same_by_the_float_s_repr_first() -> None:
    """normalise.REPR_FIRST: a national return's context, each number its formulas read (held as a float) given as
    the Decimal the twins read, with other digits, with trailing zeros, and floats with an exponent: the same verdict
    of Context._as_held both ways."""
    import datetime as dt

    from xltemplate import normalise as N
    from xltemplate.identify import RunContext, identify
    from xltemplate.readers import read_submission

    path = sorted((NATIONAL / "returns").glob("*.xlsx"))[0]
    run = RunContext.builtin(today=dt.date(2021, 3, 1))
    sub = read_submission(path)
    ident, _ = identify(sub, run)
    assert ident.spec is not None
    ctx, _ = N.normalise(ident.spec, sub, prefill=ident.prefill, today=dt.date(2021, 3, 1), targets=ident.targets)
    inputs = dict(ctx.referenced_values)
    floats = [(c.name, c.a1) for c in ctx.plan.reads if type(ctx.raw(c)) is float]
    assert len(floats) >= 2
    saved = N.REPR_FIRST, {a1: ctx.cells[a1] for _, a1 in floats}
    verdicts = []
    try:
        for held in (80.0, 0.1 + 0.2, 1e-05, 1e16, 123456.789, -0.0, 2.5e-7, 1e300, 0, 7, -12, 80, 10**20):
            for used in (Decimal(repr(held)), Decimal(str(held)) + 0, Decimal(repr(held)).normalize(), Decimal(held), Decimal(int(held)),
                         Decimal(repr(held)) * 1, Decimal("80.00"), Decimal("1E-5"), Decimal("0.00001"), Decimal("1E+16")):
                for name, a1 in floats[:2]:
                    ctx.cells[a1] = ctx.cells[a1]._replace(value=held)  # type: ignore[index]
                    trial = {**inputs, name: used}
                    got = []
                    for first in (True, False):
                        N.REPR_FIRST = first
                        got.append(ctx._as_held(trial))
                    assert got[0] == got[1], (held, used)
                    verdicts.append(got[0])
                    ctx.cells[a1] = saved[1][a1]  # type: ignore[index]
    finally:
        N.REPR_FIRST = saved[0]
        for a1, data in saved[1].items():
            ctx.cells[a1] = data  # type: ignore[index]
    assert any(verdicts) and not all(verdicts)



def test_the_twins_read_only_the_cells_their_formulas_name(spec: Any) -> None:
    """What :attr:`Context.computed` rests on (the twins evaluated once, on the values read, when those a formula
    reads are held as read): a twin reads what its formula names (:attr:`Plan.reads`), nothing else of the cells
    given (:attr:`Plan.referenced`). Both families, random values of every kind in every cell: the same figures
    with the other cells given other values, or none."""
    from xltemplate import normalise as N
    from xltemplate.form.formulas import evaluate

    rng = random.Random(5)
    plans = [N.plan(spec)] + [N.plan(lay.spec, lay.targets) for lay in national_layouts()]
    typed = (None, "", 0, 5, 10, 12.5, 80.0, 100, Decimal("95.5"), "≥", "≤", "=", "定性", "达成年度指标", "原因", "优", "是")
    for p in plans:
        reads = {c.name for c in p.reads}
        others = [c.name for c in p.referenced if c.name not in reads]
        assert reads and others  # (names, kinds, units, texts: cells no formula reads)
        for trial in range(40):
            pool = POOL + R.KINDS if trial % 2 else typed
            values = {c.name: rng.choice(pool) for c in p.referenced}
            want = outcome(lambda: tuple(sorted(evaluate(p.layout, values).items())))
            only = {n: v for n, v in values.items() if n in reads}
            moved = {**values, **{n: rng.choice(pool) for n in others}}
            assert outcome(lambda: tuple(sorted(evaluate(p.layout, only).items()))) == want
            assert outcome(lambda: tuple(sorted(evaluate(p.layout, moved).items()))) == want
