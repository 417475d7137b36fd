"""The national form's scoring rules (xltemplate.rules): the twins at every edge, the formulas through `formulas`.

The expected values here are worked out by hand from the rules; the property
tests then check each formula, evaluated by the ``formulas`` package, against
its twin on random inputs. tests/test_rules_engine.py does the same in
LibreOffice and Gnumeric.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import lru_cache
from typing import Any, Callable

import formulas
import numpy as np
import pytest
import schedula
from hypothesis import given, settings
from hypothesis import strategies as st

from xltemplate.families.rule_scored import rules as R
from xltemplate.families.rule_scored import funding as F
from xltemplate.families.rule_scored.spec import rules_from_dict
from xltemplate.errors import SpecError

D = Decimal
DEFAULT = R.RuleSet()
GE, LE, EQ, QL = R.AT_LEAST, R.AT_MOST, R.EQUAL, R.QUALITATIVE
FULL_MET, PARTLY, NOT_MET = (b.label for b in R.DEFAULT_BANDS)


# ---------------------------------------------------------------------------
# Parameters as spec data


def test_defaults_are_the_issue_s_rules() -> None:
    r = rules_from_dict(None)
    assert r == DEFAULT
    assert (r.digits, r.reverse_zero, r.overshoot, r.reason_below, r.cap_execution) == (2, 2, D("1.3"), 1, True)
    assert [(b.label, b.low, b.high) for b in r.qualitative] == [
        ("达成年度指标", D("0.8"), 1), ("部分达成年度指标并具有一定效果", D("0.6"), D("0.8")), ("未达成年度指标且效果较差", 0, D("0.6"))]
    assert r.choices == (FULL_MET, PARTLY, NOT_MET)


def test_rules_from_yaml_shaped_data() -> None:
    r = rules_from_dict({
        "digits": 1, "reverse_zero": 3, "reason_below": 0.9, "overshoot": "1.5", "cap_execution": False,
        "qualitative": [{"label": "好", "min": 0.75, "max": 1}, {"label": "差", "min": 0, "max": 0.75}],
    })
    assert r == R.RuleSet(digits=1, reverse_zero=D(3), reason_below=D("0.9"), overshoot=D("1.5"), cap_execution=False,
                          qualitative=(R.Band("好", D("0.75"), D(1)), R.Band("差", D(0), D("0.75"))))


def problems(data: Any) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as info:
        rules_from_dict(data, source="form.yaml")
    assert str(info.value).startswith("模板 form.yaml 有 ")
    return [(p.path, p.message) for p in info.value.problems]


def test_every_problem_is_reported_with_its_key_path() -> None:
    found = problems({
        "digits": 5, "reverse_zero": 1, "reason_below": 1.5, "overshot": 1.3, "cap_execution": "yes",
        "qualitative": [{"label": "达成", "min": 0.8, "max": 1}, {"label": "部分", "min": 0.8, "max": 0.6},
                        {"label": "达成", "min": -0.1, "max": 0.6}, {"label": "a,b", "min": 0}, "x"],
    })
    paths = [p for p, _ in found]
    assert paths == [
        "rules.overshot", "rules.digits", "rules.reverse_zero", "rules.reason_below", "rules.cap_execution",
        "rules.qualitative[1].min", "rules.qualitative[2].label", "rules.qualitative[2].min",
        "rules.qualitative[3].max", "rules.qualitative[3].label", "rules.qualitative[4]",
    ]
    messages = dict(found)
    assert "是否想写“overshoot”？" in messages["rules.overshot"]
    assert messages["rules.qualitative[1].min"] == "最低 0.8 大于最高 0.6"
    assert "与前面的“达成”重复" in messages["rules.qualitative[2].label"]
    assert messages["rules.qualitative[3].max"] == "必须填写，这里缺少"


@pytest.mark.parametrize("data, path", [
    ("strict", "rules"), ({"qualitative": []}, "rules.qualitative"), ({"qualitative": {"label": "x"}}, "rules.qualitative"),
    ({"digits": True}, "rules.digits"), ({"digits": 1.5}, "rules.digits"), ({"overshoot": "many"}, "rules.overshoot"),
    ({"overshoot": 1}, "rules.overshoot"), ({"qualitative": [{"label": " ", "min": 0, "max": 1}]}, "rules.qualitative[0].label"),
    ({"qualitative": [{"label": "A级", "min": 0, "max": 1}, {"label": "a级", "min": 0, "max": 1}]}, "rules.qualitative[1].label"),
    ({"qualitative": [{"label": "长" * 100, "min": 0, "max": 1}, {"label": "短" * 200, "min": 0, "max": 1}]}, "rules.qualitative"),
    ({"qualitative": [{"label": "x", "min": 0, "max": 1, "note": 1}]}, "rules.qualitative[0].note"),
])
def test_bad_values_are_refused(data: Any, path: str) -> None:
    assert path in [p for p, _ in problems(data)]


# ---------------------------------------------------------------------------
# Quantitative rules at their edges (A = 10, 分值 = 10 unless said)


@pytest.mark.parametrize("b, want", [
    (9.99, "9.99"), (10, "10"), (10.01, "10"), (5, "5"), (0.004, "0"), (0, "0"), (-1, "0"), (13, "10"), (None, ""), ("", ""), ("完成", ""),
])
def test_at_least(b: Any, want: str) -> None:
    assert R.at_least_score(10, b, 10) == (D(want) if want else "")


@pytest.mark.parametrize("b, want", [
    (9.99, "10"), (10, "10"), (10.01, "9.99"), (15, "5"), (19.99, "0.01"), (19.995, "0.01"), (19.996, "0"), (20, "0"), (25, "0"),
    (-3, "10"), (None, ""), ("少于", ""),
])
def test_at_most_falls_to_zero_at_twice_the_target(b: Any, want: str) -> None:
    assert R.at_most_score(10, b, 10) == (D(want) if want else "")


@pytest.mark.parametrize("b, want", [(9, "9"), (9.99, "9.99"), (10, "10"), (11, "10"), (0, "0"), (None, "")])
def test_equal_is_scored_as_at_least(b: Any, want: str) -> None:
    assert R.equal_score(10, b, 10) == (D(want) if want else "")


@pytest.mark.parametrize("kind, b, want", [
    (GE, -0.01, 0), (GE, 0, 10), (GE, 0.01, 10),
    (LE, -0.01, 10), (LE, 0, 10), (LE, 0.01, 0),
    (EQ, -0.01, 10), (EQ, 0, 10), (EQ, 0.01, 0),
])
def test_a_target_of_zero(kind: str, b: float, want: int) -> None:
    assert R.score(kind, 0, b, 10) == want


@pytest.mark.parametrize("kind, b, want", [(GE, -6, 0), (GE, -5, 10), (GE, -3, 10), (LE, -6, 10), (LE, -5, 10), (LE, -4, 0), (EQ, -6, 0), (EQ, -3, 10)])
def test_a_negative_target_scores_full_or_nothing(kind: str, b: int, want: int) -> None:
    assert R.score(kind, -5, b, 10) == want


@pytest.mark.parametrize("kind", [GE, LE, EQ])
@pytest.mark.parametrize("a, b, p, want", [
    (None, 5, 10, ""), ("十", 5, 10, ""), (10, 5, None, ""), (10, 5, "十", ""), (10, 5, -1, ""), (10, 5, 0, "0"),
    (True, 5, 10, ""),
])
def test_a_score_needs_three_numbers(kind: str, a: Any, b: Any, p: Any, want: str) -> None:
    assert R.score(kind, a, b, p) == (D(want) if want else "")


def test_a_date_is_its_serial_number_as_in_a_formula() -> None:
    assert R.number(dt.date(2020, 4, 30)) == 43951
    assert R.number(dt.datetime(2020, 4, 30, 12)) == D("43951.5")
    assert R.at_least_score(dt.date(2020, 4, 30), 43951, 10) == 10
    assert R.input_check(dt.date(2020, 4, 30), 5, 10) == ""


@pytest.mark.parametrize("kind", [GE, LE, EQ])
def test_ints_floats_and_decimals_are_the_same_number(kind: str) -> None:
    assert R.score(kind, 10, 12.5, 10) == R.score(kind, 10.0, D("12.5"), D(10)) == R.score(kind, D("10.00"), 12.5, 10.0)
    assert R.score(kind, 10, 7.3, 10) == R.score(kind, D(10), D("7.3"), 10) != ""


def test_other_parameters() -> None:
    r = R.RuleSet(digits=0, reverse_zero=D("1.5"))
    assert R.at_most_score(10, 12.5, 10, r) == 5  # (15 − 12.5)/(0.5 × 10) × 10
    assert R.at_most_score(10, 15, 10, r) == 0
    assert R.at_least_score(10, 7.45, 10, r) == 7  # rounded to whole points
    assert R.at_least_score(10, 7.5, 10, r) == 8
    assert R.at_most_formula("A1", "B1", "C1", r).count("(1.5*A1-B1)/(0.5*A1)") == 1
    assert "(2*A1-B1)/A1*C1" in R.at_most_formula("A1", "B1", "C1")


@pytest.mark.parametrize("exact, want", [
    ("1.005", "1.01"), ("2.675", "2.68"), ("0.285", "0.29"), ("9.995", "10.00"), ("0.565", "0.57"), ("1.004999", "1.00"),
    ("1.004999995", "1.01"), ("1.004999994", "1.00"), ("-1.005", "-1.01"), ("0", "0.00"),
])
def test_rounding_is_half_away_from_zero_after_the_noise_rounding(exact: str, want: str) -> None:
    assert R.round_score(D(exact), 2) == D(want)


def test_scores_land_on_the_rounding_ties_exactly() -> None:
    # B/A × P = 1.005 etc.: floats 1.00499999999999989…, which a plain ROUND(x, 2) may round down
    for tie, want in (("1.005", "1.01"), ("2.675", "2.68"), ("0.285", "0.29"), ("9.995", "10")):
        assert R.at_least_score(100, float(tie), 100) == D(want)
        assert R.at_least_score(200, 2 * float(tie), 100) == D(want)
        assert R.at_most_score(100, 200 - float(tie), 100) == D(want)


# ---------------------------------------------------------------------------
# 定性


@pytest.mark.parametrize("choice, given, want", [
    (FULL_MET, 8, 8), (FULL_MET, 7.99, ""), (FULL_MET, 10, 10), (FULL_MET, 10.01, ""),
    (PARTLY, 8, 8), (PARTLY, 6, 6), (PARTLY, 5.99, ""), (PARTLY, 8.01, ""),
    (NOT_MET, 0, 0), (NOT_MET, 6, 6), (NOT_MET, 6.01, ""), (NOT_MET, -1, ""),
    (None, 8, ""), ("", 8, ""), ("其他", 8, ""), (FULL_MET + " ", 9, ""), (FULL_MET, None, ""), (FULL_MET, "九分", ""),
])
def test_qualitative_score_in_the_chosen_band(choice: Any, given: Any, want: Any) -> None:
    assert R.qualitative_score(choice, given, 10) == want
    assert R.score(QL, None, None, 10, choice=choice, given=given) == want


def test_qualitative_band_bounds_are_rounded_like_scores() -> None:
    assert R.qualitative_score(PARTLY, 4.2, 7) == D("4.2")  # 0.6 × 7 = 4.2 (4.199999999999999 in floats)
    assert R.qualitative_score(PARTLY, 4.19, 7) == ""
    assert R.qualitative_score(FULL_MET, 7, 7) == 7
    labels = R.RuleSet(qualitative=(R.Band("A级", D("0.9"), D(1)),))
    assert R.qualitative_score("a级", 9.5, 10, labels) == D("9.5")  # Excel compares text ignoring case


@pytest.mark.parametrize("choice, given, p, want", [
    (None, None, 10, ""),
    (FULL_MET, 9, 10, ""),
    (FULL_MET, 7, 10, "“达成年度指标”的得分应在8至10分之间"),
    (PARTLY, 5.7, 7, "“部分达成年度指标并具有一定效果”的得分应在4.2至5.6分之间"),
    (NOT_MET, None, 7.5, "请填写得分（“未达成年度指标且效果较差”为0至4.5分）"),
    (FULL_MET, "九", 10, "得分须为数字"),
    (None, 9, 10, "请从下拉列表中选择完成情况"),
    ("达成", 9, 10, "请从下拉列表中选择完成情况"),
    (FULL_MET, 9, None, "请填写分值"),
    (FULL_MET, 9, "十", "分值须为数字"),
    (FULL_MET, 9, -1, "分值不能为负"),
])
def test_band_check_names_the_band(choice: Any, given: Any, p: Any, want: str) -> None:
    assert R.band_check(choice, given, p) == want


# ---------------------------------------------------------------------------
# 偏差原因, inputs, the funding block


@pytest.mark.parametrize("kind, a, b, reason, want", [
    (GE, 10, 9, None, R.MSG_REASON_NOT_MET), (GE, 10, 9, "原因", ""), (GE, 10, 9, "  ", R.MSG_REASON_NOT_MET),
    (GE, 10, 10, None, ""), (GE, 10, 12.99, None, ""), (GE, 10, 13, None, "实际完成值达到年度指标值的130%以上，请在偏差原因中说明指标值是否偏低"),
    (GE, 10, 13, "指标值偏低，明年调整", ""), (GE, 0, 5, None, ""),
    (LE, 10, 13, None, R.MSG_REASON_NOT_MET), (LE, 10, 5, None, ""), (EQ, 10, 13, None, ""),
    (GE, 10, None, None, ""),
])
def test_reason_required(kind: str, a: Any, b: Any, reason: Any, want: str) -> None:
    s = R.score(kind, a, b, 10)
    assert R.reason_check(kind, s, 10, reason, a, b) == want


def test_reason_thresholds_are_parameters() -> None:
    r = R.RuleSet(reason_below=D("0.9"), overshoot=D("1.1"))
    assert R.reason_check(GE, D("9"), 10, None, 10, 9, r) == ""
    assert R.reason_check(GE, D("8.99"), 10, None, 10, 8.99, r) == R.MSG_REASON_NOT_MET
    assert R.reason_check(GE, D(10), 10, None, 3, 3.3, r).startswith("实际完成值达到年度指标值的110%以上")  # 1.1 × 3 ≠ 3.3 in floats
    assert R.reason_check(QL, D(9), 10, None, rules=r) == ""
    with pytest.raises(ValueError):
        R.reason_check_formula(GE, "G1", "C1", "F1")
    with pytest.raises(ValueError):
        R.score("≧", 1, 1, 1)


@pytest.mark.parametrize("a, b, p, want", [
    (10, 5, 10, ""), (None, None, None, ""), (10, None, 10, ""),
    (10, 5, "十", "分值须为数字"), (10, 5, -1, "分值不能为负"), ("十", 5, 10, "年度指标值须为数字"),
    (10, "五", 10, "实际完成值须为数字"), (None, 5, 10, "请填写年度指标值"), (10, 5, None, "请填写分值"), (10, " ", 10, "实际完成值须为数字"),
])
def test_input_check_says_why_a_score_is_blank(a: Any, b: Any, p: Any, want: str) -> None:
    assert R.input_check(a, b, p) == want


@pytest.mark.parametrize("a, b, rate, capped, uncapped", [
    (100, 76, "0.76", "7.6", "7.6"), (100, 100, "1", "10", "10"), (100, 120, "1.2", "10", "12"), (100, 0, "0", "0", "0"),
    (100, -1, "-0.01", "0", "0"), (0, 5, "", "", ""), (None, 5, "", "", ""), ("一百", 5, "", "", ""), (-5, 5, "", "", ""),
    (100, None, "", "", ""), (8993600, 8967171, None, "9.97", "9.97"),
])
def test_funding_rate_and_score(a: Any, b: Any, rate: str | None, capped: str, uncapped: str) -> None:
    got = F.execution_rate(a, b)
    if rate is not None:
        assert got == (D(rate) if rate else "")
    assert F.execution_score(a, b, 10) == (D(capped) if capped else "")
    assert F.execution_score(a, b, 10, R.RuleSet(cap_execution=False)) == (D(uncapped) if uncapped else "")


@pytest.mark.parametrize("total, parts, want", [
    (100, (60, 30, 10), ""), (100, (60, 40, None), ""), (None, (None, None, None), ""), (0.3, (0.1, 0.2, None), ""),
    (100, (60, 30, 10.01), "全年预算数：其中各项之和应等于年度资金总额"), (100, (None, None, None), "全年预算数：其中各项之和应等于年度资金总额"),
    ("一百", (60, 30, 10), "全年预算数须为数字"), (100, (60, "三十", 10), "全年预算数须为数字"),
])
def test_sum_check(total: Any, parts: tuple[Any, ...], want: str) -> None:
    assert F.sum_check(total, parts, "全年预算数") == want


# ---------------------------------------------------------------------------
# The formulas: allowed functions only, and each equal to its twin (the `formulas` package)


def all_formulas(rules: R.RuleSet) -> list[str]:
    out = [R.score_formula(k, "$A2", "$B2", "$C2", rules, choice="$D2", given="$E2") for k in R.KINDS]
    out += [R.reason_check_formula(k, "$G2", "$C2", "$F2", "$A2", "$B2", rules) for k in R.KINDS]
    out += [R.band_check_formula("$D2", "$E2", "$C2", rules), R.input_check_formula("$A2", "$B2", "$C2"),
            F.execution_rate_formula("$A2", "$B2"), F.execution_score_formula("$A2", "$B2", "$C2", rules),
            F.sum_check_formula("$A2", ["$B2", "$C2", "$D2"], "全年执行数")]
    return out


@pytest.mark.parametrize("rules", [DEFAULT, R.RuleSet(digits=0, reverse_zero=D(3), reason_below=D("0.5"), cap_execution=False)])
def test_only_allowed_functions(rules: R.RuleSet) -> None:
    for f in all_formulas(rules):
        assert f.startswith("=")
        used = R.functions_used(f)
        assert used and used <= R.ALLOWED_FUNCTIONS, (used - R.ALLOWED_FUNCTIONS, f)
        assert "N" not in used  # never N(): Apache POI lacks it, Gnumeric gives #NUM! for N(blank)
        assert len(f) < 8192  # Excel's formula length limit


def test_the_rules_use_the_project_list_which_took_abs_and_trim() -> None:
    """One list of functions for the whole project: the rules joined ABS (the funding sum's tolerance) and
    TRIM (a reason of only spaces), Excel 2007 functions that LibreOffice, Gnumeric and Apache POI implement."""
    from xltemplate.form.formulas import ALLOWED_FUNCTIONS as PROJECT

    assert R.ALLOWED_FUNCTIONS is PROJECT
    used = set().union(*(R.functions_used(f) for f in all_formulas(DEFAULT)))
    assert {"ABS", "TRIM"} <= used <= PROJECT
    assert PROJECT - used == {"COUNT", "COUNTA"}  # what the first form uses and the rules need not


def test_functions_used_ignores_text() -> None:
    assert R.functions_used('=IF(A1="SUM(x)",MAX(1,2),"")') == {"IF", "MAX"}


@lru_cache(maxsize=None)
def compiled(formula: str) -> Any:
    return formulas.Parser().ast(formula)[1].compile()


def evaluate(formula: str, cells: dict[str, Any]) -> Any:
    """The formula's value by the `formulas` package; cells are passed as one-cell ranges, blanks as EMPTY."""
    fn = compiled(formula)
    args = [np.asarray([[schedula.EMPTY if cells.get(k) is None else cells[k]]], dtype=object) for k in fn.inputs]
    return np.asarray(fn(*args)).ravel()[0]


def same(twin: Any, got: Any, approx: bool = False) -> bool:
    if isinstance(twin, str) or isinstance(got, (str, bool, np.bool_)):
        return bool(got == twin)
    if approx:
        return abs(float(got) - float(twin)) <= 1e-12 * max(1.0, abs(float(twin)))
    return D(repr(float(got))) == twin


def cell(draw_decimal: st.SearchStrategy[Decimal]) -> st.SearchStrategy[Any]:
    """What a cell holds: mostly a number (as the float a sheet stores), sometimes blank, text, or 0."""
    return st.one_of(draw_decimal.map(float), draw_decimal.map(float), draw_decimal.map(float), st.just(0),
                     st.none(), st.sampled_from(["", "十", " "]))


AMOUNTS = cell(st.decimals(min_value=-50, max_value=100000, places=2) | st.decimals(min_value=0, max_value=100, places=3))
POINTS = st.one_of(st.sampled_from([0, 1, 2, 5, 8, 10, 15, 20, 30, 7.5, 100]), st.decimals(min_value=0, max_value=100, places=2).map(float),
                   st.none(), st.just("十"), st.just(-1))
#: A few parameter sets (each new one costs a compilation of every formula in `formulas`).
RULESETS = st.sampled_from([
    DEFAULT,
    R.RuleSet(digits=0, reverse_zero=D("1.5"), reason_below=D("0.9"), overshoot=D("1.1"), cap_execution=False),
    R.RuleSet(digits=1, reverse_zero=D(3), reason_below=D("0.6"), overshoot=D("1.5")),
    R.RuleSet(digits=4),
])


@st.composite
def ties(draw: st.DrawFn) -> tuple[float, float, float]:
    """A, B, P whose exact score is a tie of the rounding: B/A × P = n.nn5."""
    p = draw(st.sampled_from([D(1), D(2), D(5), D(10), D(20), D(50), D(100)]))
    t = D(draw(st.integers(0, int(p * 100) - 1))) / 100 + D("0.005")
    m = draw(st.sampled_from([D("0.1"), D("0.5"), D(1), D(2), D(4), D(10), D(100)]))
    return float(p * m), float(t * m), float(p)


QUANT: dict[str, tuple[Callable[..., str], Callable[..., Any]]] = {
    GE: (R.at_least_formula, R.at_least_score), LE: (R.at_most_formula, R.at_most_score), EQ: (R.equal_formula, R.equal_score),
}


def edges(rules: R.RuleSet) -> list[Decimal]:
    """Multiples of A at and around the edges of the rules: the target, the overshoot threshold, the ≤ zero point."""
    step = D("0.01")
    return [D(0), D("0.5"), 1 - step, D(1), 1 + step, rules.overshoot - step, rules.overshoot, rules.overshoot + step,
            rules.reverse_zero - step, rules.reverse_zero, rules.reverse_zero + step]


@settings(max_examples=60, deadline=None)  # each example checks 12 results: ~2 ms an evaluation in `formulas`
@given(st.sampled_from(sorted(QUANT)), AMOUNTS, AMOUNTS, POINTS, RULESETS, st.sampled_from([None, "", "  ", "原因"]))
def test_quantitative_formulas_equal_their_twins(kind: str, a: Any, b: Any, p: Any, rules: R.RuleSet, reason: Any) -> None:
    build, twin = QUANT[kind]
    results = [b] + ([float(round(D(repr(a)) * m, 3)) for m in edges(rules)] if isinstance(a, float) else [])
    for b in results:  # the drawn B, then B at every edge of this A
        cells = {"A2": a, "B2": b, "C2": p}
        want = twin(a, b, p, rules)
        assert same(want, evaluate(build("A2", "B2", "C2", rules), cells)), (want, cells)
        assert same(R.input_check(a, b, p), evaluate(R.input_check_formula("A2", "B2", "C2"), cells))
        cells.update(F2=reason, G2=None if want == "" else float(want))
        got = evaluate(R.reason_check_formula(kind, "G2", "C2", "F2", "A2", "B2", rules), cells)
        assert same(R.reason_check(kind, want, p, reason, a, b, rules), got), (cells, got)


@settings(max_examples=150, deadline=None)
@given(ties(), st.sampled_from(sorted(QUANT)))
def test_rounding_ties_equal_their_twins(abp: tuple[float, float, float], kind: str) -> None:
    a, b, p = abp
    if kind == LE:
        b = 2 * a - b  # (2A − B)/A × P is then the same tie
    build, twin = QUANT[kind]
    want = twin(a, b, p)
    assert same(want, evaluate(build("A2", "B2", "C2"), {"A2": a, "B2": b, "C2": p})), (a, b, p, want)


@settings(max_examples=150, deadline=None)
@given(AMOUNTS, AMOUNTS, POINTS, RULESETS)
def test_funding_formulas_equal_their_twins(a: Any, b: Any, p: Any, rules: R.RuleSet) -> None:
    cells = {"A2": a, "B2": b, "C2": p}
    assert same(F.execution_rate(a, b), evaluate(F.execution_rate_formula("A2", "B2"), cells), approx=True)
    assert same(F.execution_score(a, b, p, rules), evaluate(F.execution_score_formula("A2", "B2", "C2", rules), cells))


@settings(max_examples=150, deadline=None)
@given(AMOUNTS, AMOUNTS, AMOUNTS, AMOUNTS)
def test_sum_check_formula_equals_its_twin(total: Any, x: Any, y: Any, z: Any) -> None:
    if all(isinstance(v, float) for v in (x, y, z)) and isinstance(total, float) and total > 0:
        total = float(D(repr(x)) + D(repr(y)) + D(repr(z)))  # also the case where they do add up
    cells = {"A2": total, "B2": x, "C2": y, "D2": z}
    got = evaluate(F.sum_check_formula("A2", ["B2", "C2", "D2"], "全年执行数"), cells)
    assert same(F.sum_check(total, (x, y, z), "全年执行数"), got)


@st.composite
def qualitative_inputs(draw: st.DrawFn) -> tuple[R.RuleSet, Any, Any, Any]:
    rules = draw(st.sampled_from([DEFAULT, R.RuleSet(digits=1, qualitative=(R.Band("A级", D("0.9"), D(1)), R.Band("B级", D("0.35"), D("0.9"))))]))
    choice = draw(st.sampled_from([*rules.choices, None, "", "其他"]))
    p = draw(POINTS)
    band = rules.band(choice)
    edges: list[Any] = []
    if band is not None and isinstance(p, (int, float)) and not isinstance(p, bool):
        edges = [float(band.low * D(repr(p))), float(band.high * D(repr(p)))]
    given_ = draw(st.one_of(st.sampled_from(edges or [0]), st.decimals(min_value=-1, max_value=101, places=2).map(float),
                            st.none(), st.just("八")))
    return rules, choice, given_, p


@settings(max_examples=150, deadline=None)
@given(qualitative_inputs(), st.sampled_from([None, "原因"]))
def test_qualitative_formulas_equal_their_twins(inputs: tuple[R.RuleSet, Any, Any, Any], reason: Any) -> None:
    rules, choice, given_, p = inputs
    cells = {"C2": p, "D2": choice, "E2": given_, "F2": reason}
    want = R.qualitative_score(choice, given_, p, rules)
    assert same(want, evaluate(R.qualitative_formula("D2", "E2", "C2", rules), cells)), (cells, want)
    assert same(R.band_check(choice, given_, p, rules), evaluate(R.band_check_formula("D2", "E2", "C2", rules), cells)), cells
    cells["G2"] = None if want == "" else float(want)
    got = evaluate(R.reason_check_formula(QL, "G2", "C2", "F2", rules=rules), cells)
    assert same(R.reason_check(QL, want, p, reason, rules=rules), got)


class _Float(float):
    pass


class _Text(str):
    pass


@pytest.mark.parametrize("v", [
    None, "", "12", _Text("3"), 0, -7, 10**30, True, False, 0.0, -0.0, 1.5, 0.1 + 0.2, 1e300, float("nan"), float("inf"),
    -float("inf"), _Float(2.5), Decimal("1.20"), Decimal("-0"), Decimal("NaN"), Decimal("Infinity"),
    dt.date(2021, 3, 1), dt.datetime(2021, 3, 1, 12, 30), [1], b"1",
])
def test_number_by_exact_type_is_number_for_any_value(v: Any) -> None:
    """rules.number decides the usual exact types first; what it gives is what the general chain gives (the same
    Decimal, to its digits and sign), for those and for a bool, a subclass, a date."""
    got, want = R.number(v), R._number(v)
    assert (got is None) == (want is None) and str(got) == str(want)
    if type(v) in (float, Decimal, int) and want is not None and not isinstance(v, bool):
        assert type(got) is Decimal
