"""The sheet's formulas and their Python twin.

Every computed cell has a formula (written into the workbook) and a Python
evaluation that follows the same rules (used for the cached values the
generator writes, and by validation to recompute from the inputs). Keeping the
two side by side is what keeps them in agreement; the real-engine tests check
the agreement with LibreOffice.

Only functions from Excel 2007/2010 (IF, AND, OR, NOT, ISNUMBER, N, SUM, COUNT,
COUNTA, ROUND) are used, so Excel, WPS and LibreOffice all evaluate them.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any, Mapping

from .layout import CategorySlot, FieldSlot, Layout, RowSlot

# Messages shown in the 校验 column: short, in Chinese, saying what to fix.
MSG_WEIGHT_NOT_NUMBER = "权重须为数字"
MSG_WEIGHT_NEGATIVE = "权重不能为负"
MSG_SCORE_NOT_NUMBER = "自评分须为数字"
MSG_SCORE_NEGATIVE = "自评分不能为负"
MSG_NOT_APPLICABLE = "不适用指标不应得分"
MSG_SCORE_ABOVE_WEIGHT = "自评分超过权重"
MSG_EXTRA_INCOMPLETE = "请填写完整：名称、权重、自评分"


def weight_sum_message(points: Decimal) -> str:
    return f"权重合计应为{plain_number(points)}分"


# ---------------------------------------------------------------------------
# Formula text


def row_check_formula(r: RowSlot) -> str:
    d, e = r.weight.a1, r.score.a1
    core = (
        f'IF(AND({d}<>"",NOT(ISNUMBER({d}))),"{MSG_WEIGHT_NOT_NUMBER}",'
        f'IF(N({d})<0,"{MSG_WEIGHT_NEGATIVE}",'
        f'IF({e}="","",'
        f'IF(NOT(ISNUMBER({e})),"{MSG_SCORE_NOT_NUMBER}",'
        f'IF({e}<0,"{MSG_SCORE_NEGATIVE}",'
        f'IF({e}>N({d}),IF(N({d})=0,"{MSG_NOT_APPLICABLE}","{MSG_SCORE_ABOVE_WEIGHT}"),""))))))'
    )
    if r.indicator is not None:
        return "=" + core
    b = r.name.a1
    return (
        f'=IF(COUNTA({b},{r.explanation.a1},{d},{e},{r.remark.a1})=0,"",'
        f'IF(OR({b}="",{d}="",{e}=""),"{MSG_EXTRA_INCOMPLETE}",{core}))'
    )


def subtotal_formulas(c: CategorySlot) -> tuple[str, str, str]:
    """(weight subtotal, score subtotal, check) of a category."""
    first, last = c.first_row + 1, c.last_item_row + 1
    w = f"=SUM(D{first}:D{last})"
    s = f"=SUM(E{first}:E{last})"
    check = f'=IF(ROUND({c.weight.a1},2)<>{plain_number(c.category.points)},"{weight_sum_message(c.category.points)}","")'
    return w, s, check


def total_formulas(layout: Layout) -> tuple[str, str, str]:
    w = "=SUM(" + ",".join(c.weight.a1 for c in layout.categories) + ")"
    s = "=SUM(" + ",".join(c.score.a1 for c in layout.categories) + ")"
    check = f'=IF(ROUND({layout.total_weight.a1},2)<>{plain_number(layout.spec.total)},"{weight_sum_message(layout.spec.total)}","")'
    return w, s, check


def score_ranges(layout: Layout) -> str:
    return ",".join(f"E{c.first_row + 1}:E{c.last_item_row + 1}" for c in layout.categories)


def grade_formula(layout: Layout) -> str:
    t = f"ROUND({layout.total_score.ref},2)"
    bands = layout.spec.bands
    expr = f'"{bands[-1].label}"'
    for band in reversed(bands[:-1]):
        expr = f'IF({t}>={plain_number(band.min)},"{band.label}",{expr})'
    return f'=IF(COUNT({score_ranges(layout)})=0,"",{expr})'


def ratio_formula(layout: Layout, slot: FieldSlot) -> str:
    num = layout.field(slot.field.operands[0]).cell.ref
    den = layout.field(slot.field.operands[1]).cell.ref
    return f'=IF(AND(ISNUMBER({num}),ISNUMBER({den})),IF({den}>0,{num}/{den},""),"")'


def field_formula(layout: Layout, slot: FieldSlot) -> str:
    if slot.field.compute == "grade":
        return grade_formula(layout)
    return ratio_formula(layout, slot)


def formulas(layout: Layout) -> dict[str, str]:
    """Defined name → formula, for every computed cell."""
    out: dict[str, str] = {}
    for s in layout.fields:
        if s.field.computed:
            out[s.cell.name] = field_formula(layout, s)
    for c in layout.categories:
        for r in c.rows:
            out[r.check.name] = row_check_formula(r)
        out[c.weight.name], out[c.score.name], out[c.check.name] = subtotal_formulas(c)
    out["total_weight"], out["total_score"], out["total_check"] = total_formulas(layout)
    return out


# ---------------------------------------------------------------------------
# The Python twin


def is_number(v: Any) -> bool:
    """Excel's ISNUMBER: numbers and dates, never text or booleans (nor infinities, which no cell can hold)."""
    if isinstance(v, bool):
        return False
    if isinstance(v, float):
        return math.isfinite(v)
    if isinstance(v, Decimal):
        return v.is_finite()
    return isinstance(v, (int, dt.date, dt.datetime))


def round2(d: Decimal) -> Decimal:
    """ROUND(x, 2) for any finite Decimal (the default context cannot quantize past 28 digits)."""
    if d.is_finite() and d.adjusted() > 20:
        return d
    return round(d, 2)


def as_decimal(v: Any) -> Decimal:
    if isinstance(v, Decimal):
        return v
    if isinstance(v, float):
        return Decimal(repr(v))
    if isinstance(v, int):
        return Decimal(v)
    raise TypeError(f"not a number: {v!r}")


def _n(v: Any) -> Decimal:
    """Excel's N(): the number, or 0 for anything else."""
    return as_decimal(v) if is_number(v) and not isinstance(v, (dt.date, dt.datetime)) else Decimal(0)


def _blank(v: Any) -> bool:
    return v is None or v == ""


def row_check(r: RowSlot, values: Mapping[str, Any]) -> str:
    w, s = values.get(r.weight.name), values.get(r.score.name)
    if r.indicator is None:
        cells = [values.get(c.name) for c in (r.name, r.explanation, r.weight, r.score, r.remark)]
        if all(_blank(v) for v in cells):
            return ""
        if _blank(values.get(r.name.name)) or _blank(w) or _blank(s):
            return MSG_EXTRA_INCOMPLETE
    if not _blank(w) and not is_number(w):
        return MSG_WEIGHT_NOT_NUMBER
    if _n(w) < 0:
        return MSG_WEIGHT_NEGATIVE
    if _blank(s):
        return ""
    if not is_number(s):
        return MSG_SCORE_NOT_NUMBER
    sv = _n(s)
    if sv < 0:
        return MSG_SCORE_NEGATIVE
    if sv > _n(w):
        return MSG_NOT_APPLICABLE if _n(w) == 0 else MSG_SCORE_ABOVE_WEIGHT
    return ""


def evaluate(layout: Layout, values: Mapping[str, Any]) -> dict[str, Any]:
    """What every computed cell shows, given the cells' values by defined name.

    Numbers come back as :class:`Decimal`, texts as ``str`` (``""`` for an empty result).
    """
    out: dict[str, Any] = {}
    total_w = total_s = Decimal(0)
    any_score = False
    for c in layout.categories:
        w_sum = s_sum = Decimal(0)
        for r in c.rows:
            out[r.check.name] = row_check(r, values)
            w, s = values.get(r.weight.name), values.get(r.score.name)
            w_sum += _n(w)
            s_sum += _n(s)
            any_score = any_score or is_number(s)
        out[c.weight.name], out[c.score.name] = w_sum, s_sum
        out[c.check.name] = "" if round2(w_sum) == c.category.points else weight_sum_message(c.category.points)
        total_w += w_sum
        total_s += s_sum
    out["total_weight"], out["total_score"] = total_w, total_s
    out["total_check"] = "" if round2(total_w) == layout.spec.total else weight_sum_message(layout.spec.total)
    for slot in layout.fields:
        f = slot.field
        if f.compute == "grade":
            out[slot.cell.name] = layout.spec.grade_for(round2(total_s)) if any_score else ""
        elif f.compute == "ratio":
            num = values.get(layout.field(f.operands[0]).cell.name)
            den = values.get(layout.field(f.operands[1]).cell.name)
            if is_number(num) and is_number(den) and _n(den) > 0:
                out[slot.cell.name] = _n(num) / _n(den)
            else:
                out[slot.cell.name] = ""
    return out


def plain_number(d: Decimal) -> str:
    """A number as a formula literal: 36, 12.5."""
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
