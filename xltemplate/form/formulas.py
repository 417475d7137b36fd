"""Formulas every family shares, and the Python twin's arithmetic.

Every computed cell has a formula (written into the workbook) and a Python evaluation that
follows the same rules (used for the cached values the generator writes, and by validation to
recompute from the inputs). The header fields' formulas (the grade from the total, a ratio such
as the execution rate) live here beside their twins; each family keeps its body's formulas and
twins side by side in its own ``formulas`` module. The real-engine tests check the agreement
with LibreOffice and Gnumeric. The conditional-format rules that turn cells red are formulas
too, and live with their twins.

Formulas call only the functions in :data:`ALLOWED_FUNCTIONS`.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping

from ..text import plain_number
from ..values import EXCEL_EPOCH
from .family import family_of
from .layout import LAYOUT_VERSION, FieldSlot, FormLayout

#: Every worksheet function a template may call, in cell formulas, conditional formats, data
#: validations and defined names alike (a test tokenizes generated workbooks and proves it).
#: All are Excel 2007 functions, so none needs XlsxWriter's ``_xlfn.`` prefix (``form.sheet.FormSheet``
#: skips that expansion, and the same test proves it safe), and Excel, WPS, LibreOffice, Gnumeric and
#: Apache POI (which provincial systems use to read returns) all evaluate them.
#: ``N`` is left out on purpose: POI does not implement it (``evaluateAll()`` throws
#: ``NotImplementedFunctionException: N``) and Gnumeric returns ``#NUM!`` for ``N(blank cell)``.
#: ``ABS`` (the national form's funding sums, compared within a tolerance) and ``TRIM`` (a 偏差原因
#: of only spaces is no reason) came with the national family's scoring rules.
ALLOWED_FUNCTIONS: frozenset[str] = frozenset({
    "IF", "AND", "OR", "NOT", "ISNUMBER", "SUM", "COUNT", "COUNTA", "ROUND", "LEN", "ABS", "TRIM",
})

#: The formula texts of every layout version still in the field. Version 1 workbooks (sent out
#: before the change) wrote ``N(x)`` where later versions write ``IF(ISNUMBER(x),x,0)``; both show
#: the same result wherever ``N`` is implemented, and validation accepts a file's formulas in the
#: version its metadata names, so a bureau can upgrade in the middle of a round.
FORMULA_VERSIONS: tuple[int, ...] = (1, LAYOUT_VERSION)


# ---------------------------------------------------------------------------
# Formula text


def number_or_zero_formula(ref: str, version: int = LAYOUT_VERSION) -> str:
    """A cell as a number, 0 when it is blank, text or a boolean. Twin: :func:`number_or_zero`."""
    if version == 1:
        return f"N({ref})"  # only to recognise version 1 workbooks already sent out
    return f"IF(ISNUMBER({ref}),{ref},0)"


def grade_formula(layout: FormLayout) -> str:
    """The grade from the total score and the bands; blank until a score is typed. Twin: :func:`evaluate`."""
    t = f"ROUND({layout.total_score.ref},2)"
    bands = layout.spec.bands
    expr = f'"{bands[-1].label}"'
    for band in reversed(bands[:-1]):
        expr = f'IF({t}>={plain_number(band.min)},"{band.label}",{expr})'
    return f'=IF(COUNT({",".join(layout.score_ranges())})=0,"",{expr})'


def ratio_formula(layout: FormLayout, slot: FieldSlot) -> str:
    num = layout.field(slot.field.operands[0]).cell.ref
    den = layout.field(slot.field.operands[1]).cell.ref
    return f'=IF(AND(ISNUMBER({num}),ISNUMBER({den})),IF({den}>0,{num}/{den},""),"")'


def field_formula(layout: FormLayout, slot: FieldSlot) -> str:
    if slot.field.compute == "grade":
        return grade_formula(layout)
    return ratio_formula(layout, slot)


def formulas(layout: FormLayout, version: int = LAYOUT_VERSION) -> dict[str, str]:
    """Defined name → formula, for every computed cell, as layout ``version`` writes them."""
    if version not in FORMULA_VERSIONS:
        raise ValueError(f"no formulas for layout version {version}")
    out: dict[str, str] = {}
    for s in layout.fields:
        if s.field.computed:
            out[s.cell.name] = field_formula(layout, s)
    out.update(family_of(layout.spec).formulas(layout, version))
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


def alert_rules(layout: FormLayout, version: int = LAYOUT_VERSION) -> list[AlertRule]:
    """The conditional formats of the form sheet, as layout ``version`` writes them."""
    rules = family_of(layout.spec).alert_rules(layout, version)
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
    kind = type(v)  # the usual kinds first, by their exact type (the twins ask this ~300 times a return)
    if kind is Decimal:
        return v.is_finite()
    if kind is float:
        return math.isfinite(v)
    if kind is int:
        return True
    if v is None or kind is str:
        return False
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
    if type(v) is Decimal or isinstance(v, Decimal):
        return v
    if isinstance(v, float):
        return Decimal(repr(v))
    if isinstance(v, int):
        return Decimal(v)
    raise TypeError(f"not a number: {v!r}")


_ZERO = Decimal(0)


def number_or_zero(v: Any) -> Decimal:
    """``IF(ISNUMBER(x),x,0)``, and what SUM adds for a cell: the number (a date as its serial), else 0."""
    kind = type(v)  # the usual kinds first, by their exact type
    if kind is Decimal:
        return v if v.is_finite() else _ZERO
    if v is None or kind is str:
        return _ZERO
    if kind is float:
        return Decimal(repr(v)) if math.isfinite(v) else _ZERO
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


def blank(v: Any) -> bool:
    return v is None or v == ""


def ratio(num: Any, den: Any) -> Decimal | str:
    """Twin of :func:`ratio_formula`: num / den, blank when either is not a number or den is not above 0."""
    if is_number(num) and is_number(den) and number_or_zero(den) > 0:
        return number_or_zero(num) / number_or_zero(den)
    return ""


def alert(rule: AlertRule, cells: Mapping[str, Any]) -> bool:
    """Twin of an :class:`AlertRule` for one cell of its range.

    ``cells`` holds what the rule reads for that cell: ``check`` (the 校验 text), ``weight``
    and ``score`` (the row's weight and score cells), ``total`` and ``grade``.
    """
    if rule.kind == "check":
        return not blank(cells.get("check"))  # LEN(x)>0
    if rule.kind == "score":
        s = cells.get("score")
        return is_number(s) and number_or_zero(s) > number_or_zero(cells.get("weight"))
    if rule.kind == "grade":
        return is_number(cells.get("total")) and cells.get("grade") == rule.label
    raise ValueError(f"unknown alert rule {rule.kind!r}")


def evaluate(layout: FormLayout, values: Mapping[str, Any]) -> dict[str, Any]:
    """What every computed cell shows, given the cells' values by defined name.

    Numbers come back as :class:`Decimal`, texts as ``str`` (``""`` for an empty result).
    """
    out = family_of(layout.spec).evaluate(layout, values)
    # a score cell is typed (the first form) or computed by the family (the national form's 得分)
    any_score = any(is_number(values[c.name] if c.name in values else out.get(c.name)) for c in layout.score_cells())
    total = out[layout.total_score.name]
    for slot in layout.fields:
        f = slot.field
        if f.compute == "grade":
            out[slot.cell.name] = layout.spec.grade_for(round2(total)) if any_score else ""
        elif f.compute == "ratio":
            num = values.get(layout.field(f.operands[0]).cell.name)
            den = values.get(layout.field(f.operands[1]).cell.name)
            out[slot.cell.name] = ratio(num, den)
    return out
