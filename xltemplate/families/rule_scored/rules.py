"""Scoring rules of the national 项目支出绩效自评表 (财预〔2020〕10号): formulas and their Python twins.

Each computed cell of the national form gets an Excel formula from a builder
here, which takes cell references (``"$G12"``), and a Python twin, which takes
the values the cells hold (``None``/``""`` blank, ``int``/``float``/``Decimal``
numbers, a date as its serial number, ``str`` text) and returns exactly what the formula shows: a
:class:`~decimal.Decimal` or a text (``""`` for a blank result). The two sit
side by side, as in :mod:`xltemplate.families.self_scored.formulas` for the first form, and the
tests prove them equal in LibreOffice, Gnumeric and the ``formulas`` package.
The rules' parameters are spec data (:class:`RuleSet`, read from a spec's ``rules:``
mapping by :mod:`.spec`); the defaults are the common provincial ones.

Indicator scores, chosen by 指标性质 (A = 年度指标值, B = 实际完成值, P = 分值):

- ``≥`` (正向): B ≥ A gives P; otherwise B/A × P, rounded. A ≤ 0 or B ≤ 0 (below
  A) gives 0.
- ``≤`` (反向): B ≤ A gives P; between A and k·A (k = ``reverse_zero``, 2) the
  score falls linearly, (k·A − B)/((k − 1)·A) × P, which for k = 2 is
  (1 − (B − A)/A) × P; k·A or more gives 0, and so does any B above A when A ≤ 0.
- ``=``: as ``≥``, except that A = 0 gives P only when B ≤ 0, else 0.
- ``定性``: the department chooses a 完成情况 from a list and gives the score,
  which is shown only when it lies in that band: [low × P, high × P], both
  bounds rounded like a score and both inclusive (so 0.8 × P is valid for
  达成 and for 部分达成). Otherwise the score shows blank and the band check
  says why.

Decisions where the form is silent, the same in formula and twin:

- A score is blank, never 0, until A, B and P are all numbers (B blank means
  not yet reported); text in any of them also leaves it blank, and
  :func:`input_check` says which cell is wrong. P < 0 gives a blank score.
- Every branch keeps the score within [0, P]: B negative scores 0.
- 执行率 is B/A when A > 0, else blank (never #DIV/0!); it is not rounded (the
  cell's format shows it), so the twin's quotient agrees with an engine's to
  15 significant digits. 得分 follows the ``≥`` rule, except that A blank or
  ≤ 0 gives a blank score; with ``cap_execution`` off it is B/A × P even
  above P.
- 偏差原因 is required when the score is below ``reason_below`` × P (1: any
  point lost), and for a ``≥`` indicator with A > 0 when B ≥ ``overshoot`` × A
  (1.3: the target was set too low). A reason of only ASCII spaces is no
  reason (``TRIM``); LibreOffice and Excel keep other white space (a
  full-width space, a tab) as text, Gnumeric's TRIM removes it too.
- Text compares as Excel does, ignoring case (the twin lower-cases both sides).

Rounding. Engines compute in binary floating point: 1.005 × 100 is
100.49999999999999. LibreOffice's ROUND first rounds to 15 significant digits
(ROUND(9.995; 2) = 10, as in Excel), Gnumeric's forgives only about one unit in
the last place (ROUND(9.995, 2) = 9.99, measured with Gnumeric 1.12.55), the
``formulas`` package not at all. So no score is written as ROUND(x, 2): the
formulas scale x to its last kept digit, round that to :data:`NOISE_DIGITS`
decimals, which lands a tie on n + 0.5 (exact in binary) whatever the noise,
then round to 0 decimals and scale back: ``ROUND(ROUND(x*100,6),0)/100``. The
twin does the same in exact decimal arithmetic, half away from zero. This holds
for scores below about 10^7; a score is at most its 分值.
Comparisons against computed bounds (k × A, 1.3 × A, fractions of P) round the
bound to 6 decimals first, so 1.1 × 3 is 3.3 and not 3.3000000000000003.

Only the functions in the project's one list (:data:`xltemplate.form.formulas.ALLOWED_FUNCTIONS`,
which ABS and TRIM joined for these rules) are used: all in Excel 2007,
and implemented by LibreOffice, Gnumeric and Apache POI (the first two are
tested here). Never ``N()`` (POI lacks it; Gnumeric gives #NUM! for N(blank)),
nor ``COUNTA`` (a cell holding an empty text counts in Gnumeric, not in
LibreOffice): a cell is blank when ``x=""``, typed but not a number when
``AND(x<>"",NOT(ISNUMBER(x)))``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal, DivisionByZero, InvalidOperation, Overflow, localcontext
from typing import Any

from ...form.formulas import ALLOWED_FUNCTIONS
from ...values import EXCEL_EPOCH

__all__ = ["ALLOWED_FUNCTIONS"]  # the project's one list; these formulas use part of it
#: Decimals a scaled score is rounded to before its final rounding (see the module docstring).
NOISE_DIGITS = 6
#: Two amounts are equal when they differ by less than this (exact sums of amounts with up to 6 decimals).
AMOUNT_TOLERANCE = Decimal("0.0000005")

AT_LEAST, AT_MOST, EQUAL, QUALITATIVE = "≥", "≤", "=", "定性"
#: The 指标性质 values, each naming a rule.
KINDS = (AT_LEAST, AT_MOST, EQUAL, QUALITATIVE)

# Messages shown in 校验 cells: short, Chinese, saying what to do.
MSG_NOT_NUMBER = "{label}须为数字"
MSG_MISSING = "请填写{label}"
MSG_POINTS_NEGATIVE = "分值不能为负"
MSG_SUM = "{column}：其中各项之和应等于年度资金总额"
MSG_CHOOSE = "请从下拉列表中选择完成情况"
MSG_BAND_SCORE_MISSING = "请填写得分（“{label}”为{lo}至{hi}分）"
MSG_BAND_OUT = "“{label}”的得分应在{lo}至{hi}分之间"
MSG_REASON_NOT_MET = "未完全达成年度指标，请填写偏差原因分析及改进措施"
MSG_REASON_OVERSHOOT = "实际完成值达到年度指标值的{percent}%以上，请在偏差原因中说明指标值是否偏低"
TARGET, RESULT, POINTS, SCORE = "年度指标值", "实际完成值", "分值", "得分"


# ---------------------------------------------------------------------------
# Parameters


@dataclass(frozen=True)
class Band:
    """A 完成情况 of a qualitative indicator: its score lies in [low × 分值, high × 分值]."""

    label: str
    low: Decimal
    high: Decimal


DEFAULT_BANDS = (
    Band("达成年度指标", Decimal("0.8"), Decimal(1)),
    Band("部分达成年度指标并具有一定效果", Decimal("0.6"), Decimal("0.8")),
    Band("未达成年度指标且效果较差", Decimal(0), Decimal("0.6")),
)


@dataclass(frozen=True)
class RuleSet:
    """The scoring rules' parameters, spec data with the common defaults."""

    digits: int = 2  # decimals a score is rounded to
    reverse_zero: Decimal = Decimal(2)  # a ≤ indicator scores 0 from this multiple of its target
    qualitative: tuple[Band, ...] = DEFAULT_BANDS
    reason_below: Decimal = Decimal(1)  # a score below this fraction of 分值 needs a 偏差原因
    overshoot: Decimal = Decimal("1.3")  # a ≥ result at this multiple of its target needs one too
    cap_execution: bool = True  # the funding score never exceeds its 分值

    @property
    def choices(self) -> tuple[str, ...]:
        """The 完成情况 list, in order, for the cell's list validation."""
        return tuple(b.label for b in self.qualitative)

    def band(self, choice: Any) -> Band | None:
        """The band a 完成情况 cell names (compared as Excel compares text), or None."""
        if not isinstance(choice, str):
            return None
        for b in self.qualitative:
            if b.label.lower() == choice.lower():
                return b
        return None


# ---------------------------------------------------------------------------
# Shared pieces: what a cell holds, rounding, formula fragments


def number(v: Any) -> Decimal | None:
    """What ISNUMBER accepts, as a Decimal (a float as the shortest decimal that reads back to it); else None.

    Asked some 300 times a national return: the usual exact types first (what :func:`_number` decides for them,
    one comparison each), anything else (a bool, a subclass, a date) by :func:`_number`.
    """
    kind = type(v)
    if kind is float:
        return Decimal(repr(v)) if math.isfinite(v) else None
    if kind is Decimal:
        return v if v.is_finite() else None
    if kind is str or v is None:
        return None
    if kind is int:
        return Decimal(v)
    return _number(v)


def _number(v: Any) -> Decimal | None:
    """:func:`number`, for any value."""
    if isinstance(v, bool):
        return None
    if isinstance(v, Decimal):
        return v if v.is_finite() else None
    if isinstance(v, float):
        return Decimal(repr(v)) if math.isfinite(v) else None
    if isinstance(v, int):
        return Decimal(v)
    if isinstance(v, dt.datetime):  # a date typed into a number cell is its serial to a formula
        return Decimal((v - dt.datetime.combine(EXCEL_EPOCH, dt.time())).total_seconds()) / 86400
    if isinstance(v, dt.date):
        return Decimal((v - EXCEL_EPOCH).days)
    return None


def _blank(v: Any) -> bool:
    """``x=""`` in a formula: an empty cell or an empty text."""
    if BLANK_BY_TYPE:
        kind = type(v)
        if kind is Decimal or kind is float or kind is int:
            return False  # (see BLANK_BY_TYPE)
    return v is None or v == ""


#: :func:`_blank` of a Decimal, a float or an int (exact types) is False at once: none of them equals a text, and
#: ``Decimal == ""`` is slow (the Decimal asks the numbers ABCs about the str before giving up), some 40 a national
#: return (the 年度指标值 and 分值 of every row's input check, the funding amounts' sum checks). False: compared with
#: ``""`` as before (the tests compare).
BLANK_BY_TYPE = True


def _bad(v: Any) -> bool:
    """Something typed that is not a number."""
    return not _blank(v) and number(v) is None


def _no_text(v: Any) -> bool:
    """``LEN(TRIM(x))=0``: empty, or only ASCII spaces."""
    return v is None or (isinstance(v, str) and not v.strip(" "))


#: Work in decimal contexts of this module's own, made once (:data:`_PREC60`, :data:`_PREC40`), passed to every
#: operation: entering a ``localcontext`` cost three times the rounding itself (~19 a national return), and the
#: result no longer depends on the caller's context (its traps, rounding or exponent limits). False: a local copy of
#: the caller's context with the precision set, as before (the same figures under the default context; the tests
#: compare).
FIXED_CONTEXT = True


def _context(prec: int) -> Context:
    """The default context's settings (written out, not read from :data:`decimal.DefaultContext`, which a program
    may change) with precision ``prec``."""
    return Context(prec=prec, rounding=ROUND_HALF_EVEN, Emin=-999999, Emax=999999, capitals=1, clamp=0, flags=[],
                   traps=[DivisionByZero, Overflow, InvalidOperation])


_PREC60, _PREC40 = _context(60), _context(40)
_NOISE_STEP = Decimal(1).scaleb(-NOISE_DIGITS)
_ONE = Decimal(1)


def round_score(x: Decimal, digits: int) -> Decimal:
    """The twin of :func:`round_formula`: to ``digits`` decimals, half away from zero, after the noise rounding."""
    if FIXED_CONTEXT:
        c = _PREC60
        y = x.scaleb(digits, c)
        if y.adjusted() > 40:  # beyond any score; engines leave such a number as it is too
            return x
        return y.quantize(_NOISE_STEP, ROUND_HALF_UP, c).quantize(_ONE, ROUND_HALF_UP, c).scaleb(-digits, c)
    with localcontext() as ctx:
        ctx.prec = 60
        y = x.scaleb(digits)
        if y.adjusted() > 40:  # beyond any score; engines leave such a number as it is too
            return x
        y = y.quantize(Decimal(1).scaleb(-NOISE_DIGITS), ROUND_HALF_UP).quantize(Decimal(1), ROUND_HALF_UP)
        return y.scaleb(-digits)


def round_formula(expr: str, digits: int) -> str:
    """``expr`` rounded to ``digits`` decimals alike in every engine (see the module docstring)."""
    if digits == 0:
        return f"ROUND(ROUND({expr},{NOISE_DIGITS}),0)"
    scale = 10**digits
    return f"ROUND(ROUND(({expr})*{scale},{NOISE_DIGITS}),0)/{scale}"


def _bound(x: Decimal) -> Decimal:
    """The twin of ``ROUND(x,6)``, for a computed bound that a typed value is compared with."""
    if FIXED_CONTEXT:
        return x.quantize(_NOISE_STEP, ROUND_HALF_UP, _PREC60) if x.adjusted() < 40 else x
    with localcontext() as ctx:
        ctx.prec = 60
        return x.quantize(Decimal(1).scaleb(-NOISE_DIGITS), ROUND_HALF_UP) if x.adjusted() < 40 else x


def _bound_formula(factor: Decimal, ref: str) -> str:
    return ref if factor == 1 else f"ROUND({plain(factor)}*{ref},{NOISE_DIGITS})"


def _bound_value(factor: Decimal, x: Decimal) -> Decimal:
    return x if factor == 1 else _bound(factor * x)


def plain(d: Decimal) -> str:
    """A number as a formula literal or as an engine shows a short number in text: 10, 4.8, 0.05."""
    text = format(d, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _text(s: str) -> str:
    """A formula string literal."""
    return '"' + s.replace('"', '""') + '"'


def _isnum_all(*refs: str) -> str:
    return "AND(" + ",".join(f"ISNUMBER({r})" for r in refs) + ")"


def _bad_formula(ref: str) -> str:
    return f'AND({ref}<>"",NOT(ISNUMBER({ref})))'


_FUNC_RE = re.compile(r"([A-Z][A-Z0-9.]*)\(")
_STRING_RE = re.compile(r'"(?:[^"]|"")*"')


def functions_used(formula: str) -> set[str]:
    """The function names a formula calls (outside its string literals)."""
    return set(_FUNC_RE.findall(_STRING_RE.sub('""', formula)))


# ---------------------------------------------------------------------------
# Quantitative indicators: ≥, ≤, =


def _ratio_core(a: str, b: str, p: str, rules: RuleSet) -> str:
    """B ≥ A gives P; A ≤ 0 or B ≤ 0 gives 0; else B/A × P rounded."""
    return f"IF({b}>={a},{p},IF(OR({a}<=0,{b}<=0),0,{round_formula(f'{b}/{a}*{p}', rules.digits)}))"


def _ratio_value(a: Decimal, b: Decimal, p: Decimal, rules: RuleSet) -> Decimal:
    if b >= a:
        return p
    if a <= 0 or b <= 0:
        return Decimal(0)
    if FIXED_CONTEXT:
        c = _PREC40
        return round_score(c.divide(c.multiply(b, p), a), rules.digits)
    with localcontext() as ctx:
        ctx.prec = 40
        return round_score(b * p / a, rules.digits)


def _guarded(a: str, b: str, p: str, core: str) -> str:
    return f'=IF({_isnum_all(a, b, p)},IF({p}<0,"",{core}),"")'


def _inputs(a: Any, b: Any, p: Any) -> tuple[Decimal, Decimal, Decimal] | None:
    na, nb, np_ = number(a), number(b), number(p)
    if na is None or nb is None or np_ is None or np_ < 0:
        return None
    return na, nb, np_


def at_least_formula(a: str, b: str, p: str, rules: RuleSet = RuleSet()) -> str:
    """≥ (正向): full when B ≥ A, else B/A × P rounded."""
    return _guarded(a, b, p, _ratio_core(a, b, p, rules))


def at_least_score(a: Any, b: Any, p: Any, rules: RuleSet = RuleSet()) -> Decimal | str:
    v = _inputs(a, b, p)
    return "" if v is None else _ratio_value(*v, rules)


def at_most_formula(a: str, b: str, p: str, rules: RuleSet = RuleSet()) -> str:
    """≤ (反向): full when B ≤ A, falling linearly to 0 at k·A."""
    k = rules.reverse_zero
    den = a if k - 1 == 1 else f"({plain(k - 1)}*{a})"
    falling = round_formula(f"({plain(k)}*{a}-{b})/{den}*{p}", rules.digits)
    core = f"IF({b}<={a},{p},IF(OR({a}<=0,{b}>={plain(k)}*{a}),0,{falling}))"
    return _guarded(a, b, p, core)


def at_most_score(a: Any, b: Any, p: Any, rules: RuleSet = RuleSet()) -> Decimal | str:
    v = _inputs(a, b, p)
    return "" if v is None else _at_most_value(*v, rules)


def _at_most_value(na: Decimal, nb: Decimal, np_: Decimal, rules: RuleSet) -> Decimal:
    k = rules.reverse_zero
    if nb <= na:
        return np_
    if na <= 0 or nb >= k * na:
        return Decimal(0)
    if FIXED_CONTEXT:
        c = _PREC40
        return round_score(c.divide(c.multiply(c.subtract(c.multiply(k, na), nb), np_), c.multiply(c.subtract(k, 1), na)),
                           rules.digits)
    with localcontext() as ctx:
        ctx.prec = 40
        return round_score((k * na - nb) * np_ / ((k - 1) * na), rules.digits)


def equal_formula(a: str, b: str, p: str, rules: RuleSet = RuleSet()) -> str:
    """=: as ≥, but a target of 0 is met only by a result ≤ 0."""
    return _guarded(a, b, p, f"IF({a}=0,IF({b}<=0,{p},0),{_ratio_core(a, b, p, rules)})")


def equal_score(a: Any, b: Any, p: Any, rules: RuleSet = RuleSet()) -> Decimal | str:
    v = _inputs(a, b, p)
    return "" if v is None else _equal_value(*v, rules)


def _equal_value(na: Decimal, nb: Decimal, np_: Decimal, rules: RuleSet) -> Decimal:
    if na == 0:
        return np_ if nb <= 0 else Decimal(0)
    return _ratio_value(na, nb, np_, rules)


def input_check_formula(a: str, b: str, p: str) -> str:
    """校验 of a quantitative row's inputs: what keeps its score blank."""
    return (
        f'=IF({_bad_formula(p)},{_text(MSG_NOT_NUMBER.format(label=POINTS))},'
        f'IF({p}<0,{_text(MSG_POINTS_NEGATIVE)},'
        f'IF({_bad_formula(a)},{_text(MSG_NOT_NUMBER.format(label=TARGET))},'
        f'IF({_bad_formula(b)},{_text(MSG_NOT_NUMBER.format(label=RESULT))},'
        f'IF(AND(ISNUMBER({b}),{a}=""),{_text(MSG_MISSING.format(label=TARGET))},'
        f'IF(AND(ISNUMBER({b}),{p}=""),{_text(MSG_MISSING.format(label=POINTS))},""))))))'
    )


def input_check(a: Any, b: Any, p: Any) -> str:
    return _input_check(a, b, p, number(a), number(b), number(p))


def _input_check(a: Any, b: Any, p: Any, na: Decimal | None, nb: Decimal | None, np_: Decimal | None) -> str:
    """:func:`input_check`, given :func:`number` of each value (``_bad(x)`` is ``not _blank(x) and nx is None``)."""
    if np_ is None and not _blank(p):
        return _MSG_POINTS_NOT_NUMBER
    if np_ is not None and np_ < 0:
        return MSG_POINTS_NEGATIVE
    if na is None and not _blank(a):
        return _MSG_TARGET_NOT_NUMBER
    if nb is None and not _blank(b):
        return _MSG_RESULT_NOT_NUMBER
    if nb is not None and _blank(a):
        return _MSG_TARGET_MISSING
    if nb is not None and _blank(p):
        return _MSG_POINTS_MISSING
    return ""


_MSG_POINTS_NOT_NUMBER = MSG_NOT_NUMBER.format(label=POINTS)
_MSG_TARGET_NOT_NUMBER = MSG_NOT_NUMBER.format(label=TARGET)
_MSG_RESULT_NOT_NUMBER = MSG_NOT_NUMBER.format(label=RESULT)
_MSG_TARGET_MISSING = MSG_MISSING.format(label=TARGET)
_MSG_POINTS_MISSING = MSG_MISSING.format(label=POINTS)


# ---------------------------------------------------------------------------
# Qualitative indicators (定性)


def _fraction_formula(f: Decimal, p: str, rules: RuleSet) -> str:
    """f × P rounded like a score; 0 and P themselves as they are (so no band reaches above P)."""
    return "0" if f == 0 else p if f == 1 else round_formula(f"{plain(f)}*{p}", rules.digits)


def _fraction(f: Decimal, p: Decimal, rules: RuleSet) -> Decimal:
    return Decimal(0) if f == 0 else p if f == 1 else round_score(f * p, rules.digits)


def _band_bounds_formula(band: Band, p: str, rules: RuleSet) -> tuple[str, str]:
    return _fraction_formula(band.low, p, rules), _fraction_formula(band.high, p, rules)


def _band_bounds(band: Band, p: Decimal, rules: RuleSet) -> tuple[Decimal, Decimal]:
    return _fraction(band.low, p, rules), _fraction(band.high, p, rules)


def qualitative_formula(choice: str, given: str, p: str, rules: RuleSet = RuleSet()) -> str:
    """定性: the department's score when it lies in the band of the chosen 完成情况, else blank."""
    in_band = "FALSE"
    for band in reversed(rules.qualitative):
        lo, hi = _band_bounds_formula(band, p, rules)
        in_band = f"IF({choice}={_text(band.label)},AND({given}>={lo},{given}<={hi}),{in_band})"
    return f'=IF({_isnum_all(given, p)},IF({p}<0,"",IF({in_band},{given},"")),"")'


def qualitative_score(choice: Any, given: Any, p: Any, rules: RuleSet = RuleSet()) -> Decimal | str:
    np_ = number(p)
    band = rules.band(choice)
    bounds = None if np_ is None or np_ < 0 or band is None else _band_bounds(band, np_, rules)
    return _qualitative_value(number(given), bounds)


def _qualitative_value(ng: Decimal | None, bounds: tuple[Decimal, Decimal] | None) -> Decimal | str:
    """:func:`qualitative_score`, given the score as a number and the chosen band's bounds (None: 分值 not a number
    ≥ 0, or no band chosen)."""
    if ng is None or bounds is None:
        return ""
    lo, hi = bounds
    return ng if lo <= ng <= hi else ""


def _message(template: str, label: str, lo: str, hi: str) -> str:
    """A message with the band's bounds computed in the sheet: the text joined with ``&``."""
    head, rest = template.format(label=label, lo="\0", hi="\1").split("\0")
    middle, tail = rest.split("\1")
    return f"{_text(head)}&{lo}&{_text(middle)}&{hi}&{_text(tail)}"


def band_check_formula(choice: str, given: str, p: str, rules: RuleSet = RuleSet()) -> str:
    """校验 of a qualitative row: a 完成情况 from the list and a score in its band, naming the band."""
    inner = _text(MSG_CHOOSE)
    for band in reversed(rules.qualitative):
        lo, hi = _band_bounds_formula(band, p, rules)
        missing = _message(MSG_BAND_SCORE_MISSING, band.label, lo, hi)
        out = _message(MSG_BAND_OUT, band.label, lo, hi)
        inner = (
            f'IF({choice}={_text(band.label)},IF({given}="",{missing},'
            f'IF(NOT(ISNUMBER({given})),{_text(MSG_NOT_NUMBER.format(label=SCORE))},'
            f'IF(AND({given}>={lo},{given}<={hi}),"",{out}))),{inner})'
        )
    return (
        f'=IF(AND({choice}="",{given}=""),"",'
        f'IF({p}="",{_text(MSG_MISSING.format(label=POINTS))},'
        f'IF(NOT(ISNUMBER({p})),{_text(MSG_NOT_NUMBER.format(label=POINTS))},'
        f'IF({p}<0,{_text(MSG_POINTS_NEGATIVE)},{inner}))))'
    )


def band_check(choice: Any, given: Any, p: Any, rules: RuleSet = RuleSet()) -> str:
    np_ = number(p)
    band = rules.band(choice)
    bounds = None if np_ is None or np_ < 0 or band is None else _band_bounds(band, np_, rules)
    return _band_check(choice, given, p, np_, number(given), band, bounds)


def _band_check(choice: Any, given: Any, p: Any, np_: Decimal | None, ng: Decimal | None, band: Band | None,
                bounds: tuple[Decimal, Decimal] | None) -> str:
    """:func:`band_check`, given :func:`number` of 分值 and the score, the band chosen and its bounds (as
    :func:`qualitative_score` is given them: None when 分值 is not a number ≥ 0 or no band is chosen)."""
    if _blank(choice) and _blank(given):
        return ""
    if _blank(p):
        return _MSG_POINTS_MISSING
    if np_ is None:
        return _MSG_POINTS_NOT_NUMBER
    if np_ < 0:
        return MSG_POINTS_NEGATIVE
    if band is None or bounds is None:
        return MSG_CHOOSE
    lo, hi = bounds
    if _blank(given):
        return MSG_BAND_SCORE_MISSING.format(label=band.label, lo=plain(lo), hi=plain(hi))
    if ng is None:
        return _MSG_SCORE_NOT_NUMBER
    if not lo <= ng <= hi:
        return MSG_BAND_OUT.format(label=band.label, lo=plain(lo), hi=plain(hi))
    return ""


_MSG_SCORE_NOT_NUMBER = MSG_NOT_NUMBER.format(label=SCORE)


# ---------------------------------------------------------------------------
# 偏差原因 required


def reason_check_formula(kind: str, score: str, p: str, reason: str, a: str = "", b: str = "", rules: RuleSet = RuleSet()) -> str:
    """校验: a 偏差原因 is required when points were lost, or (≥) when B ≥ overshoot × A.

    ``score`` is the row's score cell (its formula's result); ``a`` and ``b`` are needed for ``≥`` only.
    """
    _check_kind(kind)
    overshoot = '""'
    if kind == AT_LEAST:
        if not (a and b):
            raise ValueError("a ≥ indicator's reason check needs the cells of A and B")
        msg = MSG_REASON_OVERSHOOT.format(percent=plain(rules.overshoot * 100))
        overshoot = (
            f'IF({_isnum_all(a, b)},IF({a}>0,'
            f'IF({b}>={_bound_formula(rules.overshoot, a)},{_text(msg)},""),""),"")'
        )
    return (
        f'=IF(LEN(TRIM({reason}))>0,"",IF(NOT({_isnum_all(score, p)}),"",'
        f'IF({score}<{_bound_formula(rules.reason_below, p)},{_text(MSG_REASON_NOT_MET)},{overshoot})))'
    )


def reason_check(kind: str, score: Any, p: Any, reason: Any, a: Any = None, b: Any = None, rules: RuleSet = RuleSet()) -> str:
    _check_kind(kind)
    return _reason_check(kind, number(score), number(p), reason, number(a), number(b), rules)


def _reason_check(kind: str, ns: Decimal | None, np_: Decimal | None, reason: Any, na: Decimal | None,
                  nb: Decimal | None, rules: RuleSet) -> str:
    """:func:`reason_check` of a known ``kind``, given :func:`number` of the score, 分值, A and B."""
    if not _no_text(reason) or ns is None or np_ is None:
        return ""
    if ns < _bound_value(rules.reason_below, np_):
        return MSG_REASON_NOT_MET
    if kind == AT_LEAST and na is not None and nb is not None and na > 0 and nb >= _bound_value(rules.overshoot, na):
        return MSG_REASON_OVERSHOOT.format(percent=plain(rules.overshoot * 100))
    return ""


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown 指标性质 {kind!r}; one of {', '.join(KINDS)}")


def score_formula(kind: str, a: str, b: str, p: str, rules: RuleSet = RuleSet(), *, choice: str = "", given: str = "") -> str:
    """The score formula of an indicator by its 指标性质 (定性 needs ``choice`` and ``given``)."""
    _check_kind(kind)
    if kind == QUALITATIVE:
        return qualitative_formula(choice, given, p, rules)
    return {AT_LEAST: at_least_formula, AT_MOST: at_most_formula, EQUAL: equal_formula}[kind](a, b, p, rules)


def score(kind: str, a: Any, b: Any, p: Any, rules: RuleSet = RuleSet(), *, choice: Any = None, given: Any = None) -> Decimal | str:
    """The twin of :func:`score_formula`."""
    _check_kind(kind)
    if kind == QUALITATIVE:
        return qualitative_score(choice, given, p, rules)
    return {AT_LEAST: at_least_score, AT_MOST: at_most_score, EQUAL: equal_score}[kind](a, b, p, rules)
