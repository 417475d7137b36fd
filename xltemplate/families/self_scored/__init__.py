"""The first family of forms (``self-scored``): categories of weighted indicators, each scored by the unit.

The Shanghai 项目绩效自我评价 is one: 一级指标 with points, indicators with weights (fixed by
the bureau or re-allocated by the unit), a score per indicator typed by the unit, extra rows the
unit may add, subtotals, a total and its grade. This module is the family object generic code
reaches through :func:`xltemplate.form.family.family_of`; the parts live beside it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Hashable, Iterable, Mapping

from ...errors import Problem
from ...form.family import GroupDef, InputSlot, ItemDef, RollupSheets, register
from ...form.formulas import AlertRule
from ...form.layout import LAYOUT_VERSION, FormLayout, Targets
from ...form.sheet import SheetWriter
from ...normalise import QUIET
from ...results import Group, Item
from ...spec import Spec, SpecChecker
from . import checks, formulas, prompts, spec as family_spec, write
from .layout import Layout
from .spec import ScoredSpec


def _layout(layout: FormLayout) -> Layout:
    assert isinstance(layout, Layout)
    return layout


def _spec(spec: Spec) -> ScoredSpec:
    assert isinstance(spec, ScoredSpec)
    return spec


class SelfScored:
    """The family object: see :class:`xltemplate.form.family.FormFamily` for what each member does."""

    id = "self-scored"
    keys: Mapping[str, bool] = family_spec.KEYS
    formula_versions = (1, LAYOUT_VERSION)
    checks = checks.CHECKS
    takes_targets = False  # every workbook's indicators are the spec's own
    rollup_sheets = RollupSheets()

    # -- the spec ---------------------------------------------------------------------
    def parse(self, data: Mapping[str, Any], checker: SpecChecker, total: Decimal | None) -> tuple[dict[str, Any], list[str]]:
        return family_spec.parse(data, checker, total)

    def make_spec(self, **values: Any) -> Spec:
        return ScoredSpec(**values)

    def prompt_problems(self, spec: Spec) -> list[Problem]:
        return prompts.problems(_spec(spec))

    # -- the sheet -------------------------------------------------------------------------
    def layout(self, spec: Spec, targets: Targets | None = None) -> FormLayout:
        if targets is not None:
            raise ValueError("a self-scored form takes no targets")
        return Layout(_spec(spec))

    def spec_values(self, layout: FormLayout) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for r in _layout(layout).rows:
            if r.indicator is not None:
                out[r.name.name] = r.indicator.name
                out[r.weight.name] = r.indicator.weight
        return out

    def shape(self, layout: FormLayout) -> Hashable:
        return None  # the spec fixes every cell

    def cell_shape(self, layout: FormLayout) -> Hashable:
        return None  # the spec fixes every cell

    def formulas(self, layout: FormLayout, version: int) -> dict[str, str]:
        return formulas.formulas(_layout(layout), version)

    def evaluate(self, layout: FormLayout, values: Mapping[str, Any]) -> dict[str, Any]:
        return formulas.evaluate(_layout(layout), values)

    def alert_rules(self, layout: FormLayout, version: int) -> list[AlertRule]:
        return formulas.alert_rules(_layout(layout), version)

    def write_body(self, out: SheetWriter, layout: FormLayout) -> None:
        write.write_body(out, _layout(layout))

    # -- validation ----------------------------------------------------------------------------
    def inputs(self, layout: FormLayout) -> Iterable[InputSlot]:
        for r in _layout(layout).rows:
            if r.weight_editable:
                yield InputSlot(r.weight, "score", f"{r.label}的权重", r.id)
            yield InputSlot(r.score, "score", f"{r.label}的自评分", r.id)
            for c in (r.remark,) + ((r.name, r.explanation) if r.text_editable else ()):
                yield InputSlot(c, QUIET, r.label, r.id)

    def results(self, layout: FormLayout, values: Mapping[str, Any], computed: Mapping[str, Any]) -> tuple[tuple[Group, ...], tuple[Item, ...], Decimal]:
        lay = _layout(layout)
        groups = tuple(Group(c.category.id, c.category.name, c.category.points, computed[c.weight.name], computed[c.score.name])
                       for c in lay.categories)
        items = tuple(Item(r.id, r.category.id, values.get(r.name.name), values.get(r.weight.name), values.get(r.score.name),
                           extra=r.indicator is None) for r in lay.rows)
        return groups, items, computed["total_weight"]

    def read_targets(self, spec: Spec, header: list[str], records: list[tuple[int, list[Any]]]) -> tuple[dict[str, Targets], list[Problem]]:
        return {}, [Problem("", f"模板“{spec.id}”的指标是模板自带的，不使用指标目标表；请去掉 --targets")]

    def describe_lines(self, info: Mapping[str, Any]) -> list[str]:
        lines = []
        for c in info["categories"]:
            weights = "权重固定" if c["weights"] == "fixed" else "权重可调"
            lines.append(f"  {c['name']}（{c['points']}分，{weights}）：小计 {c['weight_subtotal']['cell']}/{c['score_subtotal']['cell']}")
            for r in c["indicators"] + c["extra"]:
                w = "—" if r["weight"] is None else r["weight"]
                lines.append(f"    第 {r['row']:>3} 行  {r['id']:<28} 权重 {w!s:<4} {r['score_cell']['name']}  {r['name'] or '（自定义）'}")
        t = info["total"]
        lines.append(f"  合计 {t['weight']['cell']}/{t['score']['cell']}")
        return lines

    # -- the roll-up ------------------------------------------------------------------------------
    def groups(self, spec: Spec) -> list[GroupDef]:
        return [GroupDef(c.id, c.name, c.points) for c in _spec(spec).categories]

    def items(self, spec: Spec) -> list[ItemDef]:
        return [ItemDef(i.id, c.id, i.name) for c, i in _spec(spec).indicators]


FAMILY = register(SelfScored())
