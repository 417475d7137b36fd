"""The self-scored family's checks: fixed weights kept, each row's score against its weight, weight sums.

Independent functions of the frozen validation context (:class:`xltemplate.normalise.Context`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Iterator

from ...findings import Finding
from ...form.formulas import as_decimal, is_number
from ...normalise import Context
from ...text import show
from .layout import Layout, RowSlot


def _layout(ctx: Context) -> Layout:
    layout = ctx.layout
    assert isinstance(layout, Layout)
    return layout


def fixed_weights(ctx: Context) -> Iterator[Finding]:
    """A weight the spec fixes must be in the file as the spec has it (blank for 不适用)."""
    for r in _layout(ctx).locked_weights():
        got = ctx.raw(r.weight)
        want = r.spec_weight
        numeric = isinstance(got, (int, float, Decimal)) and is_number(got)
        same = (got is None or got == "") if want is None else (numeric and as_decimal(got) == want)
        if not same:
            expected = "空（不适用）" if want is None else f"{want}"
            yield ctx.at("weight-changed", r.weight, field=r.id, value=got, label=r.label, expected=expected)


def scores(ctx: Context) -> Iterator[Finding]:
    """Each row: an extra row complete or empty, no negative weight, a score present, not negative,
    not above its weight, none for an indicator that does not apply."""
    for r in _layout(ctx).rows:
        yield from _row(ctx, r)


def _row(ctx: Context, r: RowSlot) -> Iterator[Finding]:
    label = r.label
    if r.indicator is None:
        filled = [ctx.raw(c) not in (None, "") for c in (r.name, r.explanation, r.weight, r.score, r.remark)]
        if not any(filled):
            return
        missing = [n for n, c in (("名称", r.name), ("权重", r.weight), ("自评分", r.score)) if ctx.raw(c) in (None, "")]
        if missing:
            yield ctx.at("extra-row-incomplete", r.name, field=r.id, label=label, missing="、".join(missing))
            return
    w_ok, s_ok = r.weight.name in ctx.readable, r.score.name in ctx.readable
    w, s = ctx.values.get(r.weight.name), ctx.values.get(r.score.name)
    if w_ok and w is not None and w < 0:
        yield ctx.at("value-out-of-range", r.weight, "negative-weight", field=r.id, value=ctx.raw(r.weight), label=label)
        return
    if not (w_ok and s_ok):
        return
    weight = w or Decimal(0)
    if s is None:
        if weight > 0:
            yield ctx.at("score-missing", r.score, field=r.id, label=label, weight=show(weight))
        return
    if s < 0:
        yield ctx.at("score-negative", r.score, field=r.id, value=ctx.raw(r.score), label=label, weight=show(weight))
    elif weight == 0 and s > 0:
        yield ctx.at("score-not-applicable", r.score, field=r.id, value=ctx.raw(r.score), label=label)
    elif s > weight:
        yield ctx.at("score-above-weight", r.score, field=r.id, value=ctx.raw(r.score), label=label, score=show(s), weight=show(weight))


def weight_sums(ctx: Context) -> Iterator[Finding]:
    """Each category's weights add up to its points, and all of them to the total (when every weight was read)."""
    layout = _layout(ctx)
    total = Decimal(0)
    complete = True
    for c in layout.categories:
        names = [r.weight.name for r in c.rows]
        if any(n not in ctx.readable for n in names):
            complete = False
            continue
        s = sum((ctx.values.get(n) or Decimal(0)) for n in names)
        total += s
        if s != c.category.points:
            yield ctx.at("category-weight-sum", c.weight, field=c.category.id, value=show(s),
                         category=c.category.name, total=show(s), points=show(c.category.points))
    if complete and total != ctx.spec.total:
        yield ctx.at("total-weight-sum", layout.total_weight, value=show(total), total=show(total), points=show(ctx.spec.total))


CHECKS = (fixed_weights, scores, weight_sums)
