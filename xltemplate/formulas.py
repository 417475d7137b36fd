"""The sheet's formulas and their Python twin.

Every computed cell has a formula (written into the workbook) and a Python
evaluation that follows the same rules (used for the cached values the
generator writes, and by validation to recompute from the inputs). Keeping the
two side by side is what keeps them in agreement; the real-engine tests check
the agreement with LibreOffice and Gnumeric. The conditional-format rules that
turn cells red are formulas too, and live here with their twins.

Formulas call only the functions in :data:`ALLOWED_FUNCTIONS`.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from dataclasses import dataclass
from typing import Any, Mapping

from .layout import (
    COL_CHECK, COL_SCORE, COL_WEIGHT, LAYOUT_VERSION, CategorySlot, FieldSlot, Layout, RowSlot, col_letter,
)
from .values import EXCEL_EPOCH

#: Every worksheet function a template may call, in cell formulas, conditional formats, data
#: validations and defined names alike (a test tokenizes generated workbooks and proves it).
#: All are Excel 2007 functions, so none needs XlsxWriter's ``_xlfn.`` prefix (``generate._FormSheet``
#: skips that expansion, and the same test proves it safe), and Excel, WPS, LibreOffice, Gnumeric and
#: Apache POI (which provincial systems use to read returns) all evaluate them.
#: ``N`` is left out on purpose: POI does not implement it (``evaluateAll()`` throws
#: ``NotImplementedFunctionException: N``) and Gnumeric returns ``#NUM!`` for ``N(blank cell)``.
ALLOWED_FUNCTIONS: frozenset[str] = frozenset({
    "IF", "AND", "OR", "NOT", "ISNUMBER", "SUM", "COUNT", "COUNTA", "ROUND", "LEN",
})

#: The formula texts of every layout version still in the field. Version 1 workbooks (sent out
#: before the change) wrote ``N(x)`` where later versions write ``IF(ISNUMBER(x),x,0)``; both show
#: the same result wherever ``N`` is implemented, and validation accepts a file's formulas in the
#: version its metadata names, so a bureau can upgrade in the middle of a round.
FORMULA_VERSIONS: tuple[int, ...] = (1, LAYOUT_VERSION)

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


def number_or_zero_formula(ref: str, version: int = LAYOUT_VERSION) -> str:
    """A cell as a number, 0 when it is blank, text or a boolean. Twin: :func:`number_or_zero`."""
    if version == 1:
        return f"N({ref})"  # only to recognise version 1 workbooks already sent out
    return f"IF(ISNUMBER({ref}),{ref},0)"


def row_check_formula(r: RowSlot, version: int = LAYOUT_VERSION) -> str:
    d, e = r.weight.a1, r.score.a1
    dn = number_or_zero_formula(d, version)
    core = (
        f'IF(AND({d}<>"",NOT(ISNUMBER({d}))),"{MSG_WEIGHT_NOT_NUMBER}",'
        f'IF({dn}<0,"{MSG_WEIGHT_NEGATIVE}",'
        f'IF({e}="","",'
        f'IF(NOT(ISNUMBER({e})),"{MSG_SCORE_NOT_NUMBER}",'
        f'IF({e}<0,"{MSG_SCORE_NEGATIVE}",'
        f'IF({e}>{dn},IF({dn}=0,"{MSG_NOT_APPLICABLE}","{MSG_SCORE_ABOVE_WEIGHT}"),""))))))'
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


def formulas(layout: Layout, version: int = LAYOUT_VERSION) -> dict[str, str]:
    """Defined name → formula, for every computed cell, as layout ``version`` writes them."""
    if version not in FORMULA_VERSIONS:
        raise ValueError(f"no formulas for layout version {version}")
    out: dict[str, str] = {}
    for s in layout.fields:
        if s.field.computed:
            out[s.cell.name] = field_formula(layout, s)
    for c in layout.categories:
        for r in c.rows:
            out[r.check.name] = row_check_formula(r, version)
        out[c.weight.name], out[c.score.name], out[c.check.name] = subtotal_formulas(c)
    out["total_weight"], out["total_score"], out["total_check"] = total_formulas(layout)
    return out


@dataclass(frozen=True)
class AlertRule:
    """A conditional format that turns cells red: the range it covers (0-based, inclusive) and its formula.

    The formula is written for the range's top-left cell; an engine moves its relative
    references along the range. ``kind`` names its twin: :func:`alert`.
    """

    kind: str  # "check" | "score" | "grade"
    first_row: int
    first_col: int
    last_row: int
    last_col: int
    formula: str
    label: str = ""  # for "grade": the grade that alerts


def alert_rules(layout: Layout, version: int = LAYOUT_VERSION) -> list[AlertRule]:
    """The conditional formats of the form sheet, as layout ``version`` writes them."""
    first, last = layout.categories[0].first_row, layout.total_row
    g0, e0, d0 = (f"${col_letter(c)}{first + 1}" for c in (COL_CHECK, COL_SCORE, COL_WEIGHT))
    rules = [
        # a 校验 text is showing
        AlertRule("check", first, COL_CHECK, last, COL_CHECK, f"=LEN({g0})>0"),
        # a score above its row's weight (blank or text weight counts as 0), subtotals and total too
        AlertRule("score", first, COL_SCORE, last, COL_SCORE, f"=AND(ISNUMBER({e0}),{e0}>{number_or_zero_formula(d0, version)})"),
    ]
    for c in layout.categories:
        rules.append(AlertRule("check", c.subtotal_row, COL_WEIGHT, c.subtotal_row, COL_WEIGHT,
                               f"=LEN({c.check.a1})>0"))
    grade = layout.grade_field
    if grade is not None and len(layout.spec.bands) > 1:
        # a total below the pass mark stands out on the grade cell
        fail = layout.spec.bands[-1].label
        rules.append(AlertRule("grade", grade.cell.row, grade.cell.col, grade.cell.row, grade.cell.col,
                               f'=AND(ISNUMBER({layout.total_score.ref}),{grade.cell.a1}="{fail}")', fail))
    return rules


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


def number_or_zero(v: Any) -> Decimal:
    """``IF(ISNUMBER(x),x,0)``, and what SUM adds for a cell: the number (a date as its serial), else 0."""
    if not is_number(v):
        return Decimal(0)
    if isinstance(v, (dt.date, dt.datetime)):
        return excel_serial(v)
    return as_decimal(v)


def excel_serial(v: dt.date | dt.datetime) -> Decimal:
    """A date as the number a spreadsheet stores for it (1900 date system)."""
    if isinstance(v, dt.datetime):
        delta = v - dt.datetime(EXCEL_EPOCH.year, EXCEL_EPOCH.month, EXCEL_EPOCH.day, tzinfo=v.tzinfo)
        return Decimal(delta.days) + Decimal(delta.seconds * 1_000_000 + delta.microseconds) / Decimal(86_400_000_000)
    return Decimal((v - EXCEL_EPOCH).days)


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
    if number_or_zero(w) < 0:
        return MSG_WEIGHT_NEGATIVE
    if _blank(s):
        return ""
    if not is_number(s):
        return MSG_SCORE_NOT_NUMBER
    sv = number_or_zero(s)
    if sv < 0:
        return MSG_SCORE_NEGATIVE
    if sv > number_or_zero(w):
        return MSG_NOT_APPLICABLE if number_or_zero(w) == 0 else MSG_SCORE_ABOVE_WEIGHT
    return ""


def alert(rule: AlertRule, cells: Mapping[str, Any]) -> bool:
    """Twin of an :class:`AlertRule` for one cell of its range.

    ``cells`` holds what the rule reads for that cell: ``check`` (the 校验 text), ``weight``
    and ``score`` (the row's D and E cells), ``total`` and ``grade``.
    """
    if rule.kind == "check":
        return not _blank(cells.get("check"))  # LEN(x)>0
    if rule.kind == "score":
        s = cells.get("score")
        return is_number(s) and number_or_zero(s) > number_or_zero(cells.get("weight"))
    if rule.kind == "grade":
        return is_number(cells.get("total")) and cells.get("grade") == rule.label
    raise ValueError(f"unknown alert rule {rule.kind!r}")


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
            w_sum += number_or_zero(w)
            s_sum += number_or_zero(s)
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
            if is_number(num) and is_number(den) and number_or_zero(den) > 0:
                out[slot.cell.name] = number_or_zero(num) / number_or_zero(den)
            else:
                out[slot.cell.name] = ""
    return out


def plain_number(d: Decimal) -> str:
    """A number as a formula literal: 36, 12.5."""
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
