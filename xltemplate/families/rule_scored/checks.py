"""The national family's checks: targets kept, funding parts adding up, each indicator scored by its rule.

Independent functions of the frozen validation context (:class:`xltemplate.normalise.Context`):
every figure is the normalised value (``95%`` read as 95 in a row measured in %), every rule the
one the twin evaluates (:mod:`.rules`), so what validation says is what the sheet's 校验 says of
the same values.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any, Iterator

from ...findings import Finding
from ...form.formulas import as_decimal, is_number
from ...normalise import Context, norm_text
from ...text import money, plain_number, show
from . import funding as F
from . import rules as R
from .formulas import twin_rows
from .layout import IndicatorSlot, Layout
from .spec import FUNDING_COLUMNS, Target

_COLUMNS = {"name": "三级指标", "kind": "指标性质", "unit": "计量单位", "target": "年度指标值", "points": "分值"}


def _layout(ctx: Context) -> Layout:
    layout = ctx.layout
    assert isinstance(layout, Layout)
    return layout


#: Decide the usual comparisons of :func:`_same` first by the values' exact types (the text as sent, a number held as a
#: float or an int, a blank unit left blank), some 80 a national return; the rest as before. False: every one the general way (the tests compare).
EXACT_FIRST = True


def _same(got: Any, want: Any) -> bool:
    """A locked cell against what was sent: numbers as numbers, texts without white space."""
    if EXACT_FIRST:
        kind = type(got)
        if kind is str and got == want:  # (want is that text: equal, whatever it is; a number is never equal to a text)
            return True
        if type(want) is Decimal:
            if kind is float:
                return math.isfinite(got) and Decimal(repr(got)) == want  # (is_number and as_decimal, for a float)
            if kind is int:
                return Decimal(got) == want
        elif got is None and want is None:
            return True
    return _same_general(got, want)


def _same_general(got: Any, want: Any) -> bool:
    """:func:`_same`, for any values."""
    if want is None or want == "":
        return got is None or (isinstance(got, str) and not got.strip())
    if isinstance(want, Decimal):
        return isinstance(got, (int, float, Decimal)) and not isinstance(got, bool) and is_number(got) and as_decimal(got) == want
    return isinstance(got, str) and (got == want or norm_text(got) == norm_text(want))


def targets_kept(ctx: Context) -> Iterator[Finding]:
    """Every cell the targets fix (and the funding 分值) holds what the workbook was sent with."""
    lay = _layout(ctx)
    fp = lay.funding_total.points
    if fp is not None and not _same(ctx.raw(fp), lay.spec.funding_points):
        yield ctx.at("target-changed", fp, "points", field="funding", value=ctx.raw(fp), label=lay.spec.funding_rows[0].label,
                     expected=plain_number(lay.spec.funding_points))
    get = ctx.cells.get
    if KEPT_BY_ROW:
        for places, r in zip(lay.row_places(), lay.rows):
            t = r.target
            if t is not None and not _row_kept(get, places, t):
                yield from _row_changed(ctx, r, t)
        return
    for r in lay.rows:
        t = r.target
        if t is not None:
            yield from _row_changed(ctx, r, t)


def _row_changed(ctx: Context, r: IndicatorSlot, t: Target) -> Iterator[Finding]:
    """The cells of target row ``r`` that do not hold what its target ``t`` says, each compared by :func:`_same`."""
    get = ctx.cells.get
    for part, cell, want in (("name", r.name, t.name), ("kind", r.kind, t.kind), ("unit", r.unit, t.unit or None),
                             ("target", r.target_cell, t.target), ("points", r.points, t.points)):
        data = get(cell.a1)
        got = None if data is None else data.value  # (ctx.raw)
        if not _same(got, want):
            yield ctx.at("target-changed", cell, field=r.id, value=got, label=t.name, column=_COLUMNS[part],
                         expected=show(want) or "空")


#: :func:`targets_kept` decides a target row kept in one go, by its five cells' places made once per shape
#: (:meth:`~.layout.Layout.row_places`) and the usual exact types (:func:`_row_kept`: each a case where :func:`_same`
#: says the same); a row not so decided (a change, or any other type) is compared cell by cell, as before, which gives
#: its findings. False: every row cell by cell (the tests compare).
KEPT_BY_ROW = True


def _row_kept(get: Any, places: tuple[str, str, str, str, str], t: Target) -> bool:
    """Whether the five cells at ``places`` hold target ``t``'s name, kind, unit, 年度指标值 and 分值 as sent, each
    as :func:`_same` finds it (False: not decided here)."""
    name_at, kind_at, unit_at, target_at, points_at = places
    data = get(name_at)
    got = None if data is None else data.value
    if type(got) is not str or got != t.name:
        return False
    data = get(kind_at)
    got = None if data is None else data.value
    if type(got) is not str or got != t.kind:
        return False
    data = get(unit_at)
    got = None if data is None else data.value
    if t.unit:
        if type(got) is not str or got != t.unit:
            return False
    elif got is not None:
        return False
    data = get(target_at)
    got = None if data is None else data.value
    want = t.target
    if type(want) is str:
        if type(got) is not str or got != want:
            return False
    elif not _number_kept(got, want):
        return False
    data = get(points_at)
    return _number_kept(None if data is None else data.value, t.points)


def _number_kept(got: Any, want: Any) -> bool:
    """:func:`_same` of a float or an int against a Decimal (EXACT_FIRST's case); False for anything else."""
    if type(want) is not Decimal:
        return False
    kind = type(got)
    if kind is float:
        return math.isfinite(got) and Decimal(repr(got)) == want
    if kind is int:
        return Decimal(got) == want
    return False


def funding(ctx: Context) -> Iterator[Finding]:
    """No negative amount, and in each column the parts (其中) add up to the total row."""
    lay = _layout(ctx)
    unit = ctx.spec.money_unit
    for fs in lay.funding:
        for cell in fs.amounts:
            v = ctx.value(cell)
            if isinstance(v, Decimal) and v < 0:
                label = ctx.spec.field(cell.name).label
                yield ctx.at("value-out-of-range", cell, field=cell.name, value=ctx.raw(cell), label=label, bounds="不小于0",
                             seen=show(v))
    total, parts = lay.funding_total, lay.funding[1:]
    for cell in (total.budget, total.executed):  # the rate and its score need both
        if cell.name in ctx.readable and ctx.values.get(cell.name) is None:
            yield ctx.at("required-missing", cell, field=cell.name, label=ctx.spec.field(cell.name).label)
    referenced = ctx.plan.referenced_names
    for n, (col, name) in enumerate(FUNDING_COLUMNS):
        cells = [total.amounts[n]] + [p.amounts[n] for p in parts]
        if any(c.name not in ctx.readable for c in cells):
            continue  # a value that could not be read is reported already
        values = [ctx.values.get(c.name) for c in cells]
        if REUSE_FUNDING_SUMS and all(c.name in referenced for c in cells):
            wrong = ctx.computed.get(lay.funding_checks[col].name)  # (see REUSE_FUNDING_SUMS)
        else:
            wrong = F.sum_check(values[0], values[1:], name)
        if wrong:
            psum = sum((v for v in values[1:] if isinstance(v, Decimal)), Decimal(0))
            tv = values[0] if isinstance(values[0], Decimal) else Decimal(0)
            yield ctx.at("funding-sum", total.amounts[n], field=total.amounts[n].name, value=show(values[0]),
                         column=name, parts=money(psum), total=money(tv), unit=unit, total_label=lay.spec.funding_rows[0].label)


#: The funding check takes each column's verdict (its 其中 rows adding up) from the twins' 校验 of that column
#: (:attr:`Context.computed`, evaluated once a return anyway) instead of summing again: the same call
#: (:func:`.funding.sum_check` of the column's total and parts, with the column's label) on the same values, when
#: every cell of the column is among those the twins are given (as :data:`REUSE_SCORES` argues for a row's score);
#: the finding is made as before. False: summed again (the tests compare).
REUSE_FUNDING_SUMS = True


def indicators(ctx: Context) -> Iterator[Finding]:
    """Each indicator row: complete, its actual value given, its score by its rule, its 偏差原因 when due."""
    lay = _layout(ctx)
    rules = lay.spec.rules
    for r, _kind, a, b, p, g, _reason, score, _check in twin_rows(lay):
        found = _row(ctx, r, rules, a, b, p, g, score)  # (at most one a row)
        if found is not None:
            yield found


def _row(ctx: Context, r: IndicatorSlot, rules: R.RuleSet, a_name: str, b_name: str, p_name: str, g_name: str,
         score_name: str) -> Finding | None:
    """Row ``r``'s finding (None: none); the defined names of its 年度指标值, 实际完成值, 分值, 自评分 and 得分 given
    (:func:`formulas.twin_rows`, made once a layout)."""
    v = ctx.values.get
    if r.target is None:
        if all(ctx.raw(c) in (None, "") for c in r.inputs()):
            return None
        missing = [w for w, c in (("三级指标名称", r.name), ("指标性质", r.kind), ("年度指标值", r.target_cell), ("分值", r.points))
                   if ctx.raw(c) in (None, "")]
        if missing:
            return ctx.at("indicator-incomplete", r.name, field=r.id, label=r.label, missing="、".join(missing))
        if any(c.name not in ctx.readable for c in (r.kind, r.target_cell, r.points)):
            return None  # reported when read
        kind = v(r.kind.name)
        label = str(v(r.name.name))
        p = v(r.points.name)
        if isinstance(p, Decimal) and p < 0:
            return ctx.at("value-out-of-range", r.points, "negative-weight", field=r.id, value=ctx.raw(r.points), label=label)
    else:
        kind, label = r.target.kind, r.target.name
    if b_name not in ctx.readable or (kind == R.QUALITATIVE and g_name not in ctx.readable):
        return None  # reported when read
    a, b, p, g = v(a_name), v(b_name), v(p_name), v(g_name)
    if kind == R.QUALITATIVE:
        band = rules.band(b)
        if band is None:
            return ctx.at("qualitative-band", r.actual, "choose", field=r.id, value=ctx.raw(r.actual), label=label,
                        choices="、".join(rules.choices))
        low, high = R._band_bounds(band, p, rules) if isinstance(p, Decimal) else (Decimal(0), Decimal(0))
        if g is None:
            return ctx.at("qualitative-band", r.given, "missing", field=r.id, label=label, choice=band.label,
                        low=plain_number(low), high=plain_number(high))
        if not low <= g <= high:
            return ctx.at("qualitative-band", r.given, field=r.id, value=ctx.raw(r.given), label=label, choice=band.label,
                        low=plain_number(low), high=plain_number(high), score=plain_number(g))
    elif b is None:
        unit = (r.target.unit if r.target is not None else v(r.unit.name)) or ""
        return ctx.at("actual-missing", r.actual, field=r.id, label=label, what=f"实际完成值（数字{'，计量单位：' + str(unit) if unit else ''}）")
    kind = str(kind)
    score = _twins_score(ctx, a_name, b_name, p_name, g_name, score_name) if REUSE_SCORES and r.target is not None else None
    if score is None:
        score = R.score(kind, a, b, p, rules, choice=b, given=g)
    reason = R.reason_check(kind, score, p, ctx.raw(r.reason), a, b, rules)
    if reason == R.MSG_REASON_NOT_MET:
        return ctx.at("reason-missing", r.reason, field=r.id, label=label, score=show(score), points=show(p))
    elif reason:
        return ctx.at("reason-missing", r.reason, "overshoot", field=r.id, label=label, actual=show(b), target=show(a),
                    percent=R.plain(rules.overshoot * 100))
    return None


#: A target row's score as the formulas' twins computed it (:attr:`Context.computed`, evaluated once a return
#: anyway) instead of scoring the row again. The same call on the same values: the twins score a target row by its
#: target's kind with :func:`rules.score` on the values read of the four cells, when those are among the cells the
#: twins are given (``referenced``; :attr:`Context.computed` is the twins on exactly those values, or
#: :attr:`Context.shown` once proved the same). False: scored again (the tests compare the reports).
REUSE_SCORES = True


def _twins_score(ctx: Context, a: str, b: str, p: str, g: str, score: str) -> Any:
    names = ctx.plan.referenced_names
    if a in names and b in names and p in names and g in names:
        return ctx.computed.get(score)
    return None


def points_sums(ctx: Context) -> Iterator[Finding]:
    """Each 一级's 分值 add up to its points (a blank form, where the unit sets them), when every one was read."""
    lay = _layout(ctx)
    for lv in lay.levels:
        names = [r.points.name for r in lv.rows]
        if any(n not in ctx.readable for n in names if n not in ctx.plan.spec_values):
            continue
        total = sum((ctx.values.get(n) or Decimal(0) for n in names), Decimal(0))
        if total != lv.level.points:
            yield ctx.at("points-sum", lv.points, field=lv.level.id, value=show(total), level=lv.level.name,
                         total=show(total), points=show(lv.level.points))


CHECKS = (targets_kept, funding, indicators, points_sums)
