"""The funding block's rules: execution rate and score, and the 其中 rows adding up to the total.

Formulas beside their Python twins, as in :mod:`.rules` (whose rounding and cell semantics they share).
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import Any, Sequence

from . import rules as R
from .rules import (
    AMOUNT_TOLERANCE, MSG_NOT_NUMBER, MSG_SUM, RuleSet, _bad, _bad_formula, _inputs, _isnum_all, _ratio_core, _ratio_value, _text,
    number, plain, round_formula, round_score,
)


def execution_rate_formula(a: str, b: str) -> str:
    """执行率 = B/A; blank unless both are numbers and A > 0."""
    return f'=IF({_isnum_all(a, b)},IF({a}>0,{b}/{a},""),"")'


def execution_rate(a: Any, b: Any) -> Decimal | str:
    na, nb = number(a), number(b)
    if na is None or nb is None or na <= 0:
        return ""
    return nb / na


def execution_score_formula(a: str, b: str, p: str, rules: RuleSet = RuleSet()) -> str:
    """得分 = 分值 × 执行率, rounded, at most 分值 when capped; blank when A is blank or ≤ 0."""
    if rules.cap_execution:
        core = _ratio_core(a, b, p, rules)
    else:
        core = f"IF({b}<=0,0,{round_formula(f'{b}/{a}*{p}', rules.digits)})"
    return f'=IF({_isnum_all(a, b, p)},IF(OR({a}<=0,{p}<0),"",{core}),"")'


def execution_score(a: Any, b: Any, p: Any, rules: RuleSet = RuleSet()) -> Decimal | str:
    v = _inputs(a, b, p)
    if v is None or v[0] <= 0:
        return ""
    na, nb, np_ = v
    if rules.cap_execution:
        return _ratio_value(na, nb, np_, rules)
    if nb <= 0:
        return Decimal(0)
    if R.FIXED_CONTEXT:
        c = R._PREC40
        return round_score(c.divide(c.multiply(nb, np_), na), rules.digits)
    with localcontext() as ctx:
        ctx.prec = 40
        return round_score(nb * np_ / na, rules.digits)


def sum_check_formula(total: str, parts: Sequence[str], column: str) -> str:
    """校验 of one column of the funding block: the 其中 rows add up to the total row (blank counts 0)."""
    cells = [total, *parts]
    bad = "OR(" + ",".join(_bad_formula(c) for c in cells) + ")"
    return (
        f'=IF({bad},{_text(MSG_NOT_NUMBER.format(label=column))},'
        f'IF(ABS(SUM({",".join(parts)})-SUM({total}))>={plain(AMOUNT_TOLERANCE)},{_text(MSG_SUM.format(column=column))},""))'
    )


def sum_check(total: Any, parts: Sequence[Any], column: str) -> str:
    if any(_bad(v) for v in (total, *parts)):
        return MSG_NOT_NUMBER.format(label=column)
    diff = sum((number(v) or Decimal(0) for v in parts), Decimal(0)) - (number(total) or Decimal(0))
    return MSG_SUM.format(column=column) if abs(diff) >= AMOUNT_TOLERANCE else ""
