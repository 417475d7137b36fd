"""The national family of forms (``rule-scored``): the 项目支出绩效自评表 of 财预〔2020〕10号.

A funding block whose execution rate scores its 分值, 年度总体目标, and indicators in three levels
(一级 with points, 二级, 三级 per project) each scored by a rule chosen by its 指标性质 (≥ ≤ =
定性) from its 年度指标值 and 实际完成值. A workbook carries its project's own indicators (its
*targets*, from the bureau's targets table) locked and prefilled, or, on a blank form, empty rows
the unit fills. This module is the family object generic code reaches through
:func:`xltemplate.form.family.family_of`; the parts live beside it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Callable, Hashable, Iterable, Mapping

from ...errors import Problem
from ...form.family import GroupDef, InputSlot, ItemDef, RollupSheets, register
from ...form.formulas import AlertRule
from ...form.layout import LAYOUT_VERSION, Cell, FieldSlot, FormLayout, Targets
from ...form.sheet import SheetWriter
from ...normalise import QUIET
from ...results import Group, Item
from ...shaped import derived
from ...spec import Spec, SpecChecker
from ...values import Measure, Parsed, parse_choice, parse_measure, parse_text
from . import checks, formulas, prompts, spec as family_spec, targets as family_targets, write
from .layout import IndicatorSlot, Layout, layout_of
from .rules import KINDS, QUALITATIVE
from .spec import RuleSpec, Target

Lookup = Callable[[Cell], Any]


def _layout(layout: FormLayout) -> Layout:
    assert isinstance(layout, Layout)
    return layout


def _spec(spec: Spec) -> RuleSpec:
    assert isinstance(spec, RuleSpec)
    return spec


def _measure(unit: str) -> Callable[[Any, Lookup], Parsed]:
    return Measure(unit)  # (parse_measure in that unit: a value normalise knows, see normalise.HELD_WHEN_READ)


def _by_kind(r: IndicatorSlot, choices: tuple[str, ...], target: bool) -> Callable[[Any, Lookup], Parsed]:
    """How to read an empty row's 年度指标值 or 实际完成值: by the 指标性质 the unit chose in that row."""
    def read(seen: Any, raw: Lookup) -> Parsed:
        kind = raw(r.kind)
        if kind == QUALITATIVE:
            return parse_text(seen) if target else parse_choice(seen, choices)
        if kind in KINDS:
            unit = raw(r.unit)
            return parse_measure(seen, unit.strip() if isinstance(unit, str) else "")
        return parse_text(seen)  # no rule chosen yet: the row's check says so
    return read


class RuleScored:
    """The family object: see :class:`xltemplate.form.family.FormFamily` for what each member does."""

    id = "rule-scored"
    keys: Mapping[str, bool] = family_spec.KEYS
    formula_versions = (LAYOUT_VERSION,)
    checks = checks.CHECKS
    takes_targets = True
    rollup_sheets = RollupSheets(item_columns=False, item_results=True, gaps=True)

    # -- the spec ---------------------------------------------------------------------
    def parse(self, data: Mapping[str, Any], checker: SpecChecker, total: Decimal | None) -> tuple[dict[str, Any], list[str]]:
        return family_spec.parse(data, checker, total)

    def make_spec(self, **values: Any) -> Spec:
        return RuleSpec(**values)

    def prompt_problems(self, spec: Spec) -> list[Problem]:
        return prompts.problems(_spec(spec))

    # -- the sheet -------------------------------------------------------------------------
    def layout(self, spec: Spec, targets: Targets | None = None) -> FormLayout:
        return layout_of(_spec(spec), targets)

    def spec_values(self, layout: FormLayout) -> dict[str, Any]:
        return _layout(layout).target_values()

    def shape(self, layout: FormLayout) -> Hashable:
        return formulas.row_shape(_layout(layout))

    def cell_shape(self, layout: FormLayout) -> Hashable:
        return formulas.cell_shape(_layout(layout))

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
        lay = _layout(layout)
        spec = lay.spec
        choices = spec.rules.choices
        fields = lay.body_fields()
        if SHARE_BODY_INPUTS and lay.targets is not None:
            unit = spec.money_unit
            yield from derived(fields, f"input slots in {unit}", lambda: tuple(_body_inputs(fields, unit)))
        else:
            yield from _body_inputs(fields, spec.money_unit)
        for r in lay.rows:
            t = r.target
            if t is None:
                label = r.label
                yield InputSlot(r.name, QUIET, label, r.id)
                yield InputSlot(r.kind, "choice", f"{label}的指标性质", r.id, KINDS)
                yield InputSlot(r.unit, QUIET, label, r.id)
                yield InputSlot(r.target_cell, "number", f"{label}的年度指标值", r.id, reader=_by_kind(r, choices, True),
                                invalid_code="actual-not-number")
                yield InputSlot(r.actual, "number", f"{label}的实际完成值", r.id, reader=_by_kind(r, choices, False),
                                invalid_code="actual-not-number")
                yield InputSlot(r.points, "score", f"{label}的分值", r.id)
                yield InputSlot(r.given, "score", f"{label}的自评分", r.id)
                yield InputSlot(r.reason, QUIET, label, r.id)
            elif SLOTS_BY_PLACE:
                place = (choices, r.row, r.sublevel.id, r.n, t.kind, t.unit)
                found = _SLOTS_BY_PLACE.get(place)
                if found is None:
                    found = tuple(_place_row_inputs(r, t.kind, t.unit, choices))
                    if len(_SLOTS_BY_PLACE) >= _MAX_ROW_INPUTS:
                        _SLOTS_BY_PLACE.pop(next(iter(_SLOTS_BY_PLACE)))
                    _SLOTS_BY_PLACE[place] = found
                yield from found
            elif REMEMBER_ROW_INPUTS:
                key = (choices, r.row, r.sublevel.id, r.n, t.kind, t.name, t.unit)
                found = _ROW_INPUTS.get(key)
                if found is None:
                    found = tuple(_target_row_inputs(r, t, choices))
                    if len(_ROW_INPUTS) >= _MAX_ROW_INPUTS:
                        _ROW_INPUTS.pop(next(iter(_ROW_INPUTS)))
                    _ROW_INPUTS[key] = found
                yield from found
            else:
                yield from _target_row_inputs(r, t, choices)

    def results(self, layout: FormLayout, values: Mapping[str, Any], computed: Mapping[str, Any]) -> tuple[tuple[Group, ...], tuple[Item, ...], Decimal]:
        lay = _layout(layout)
        spec = lay.spec
        ft = lay.funding_total
        assert ft.points is not None and ft.score is not None
        fscore = computed[ft.score.name]
        groups = [Group("funding", spec.funding_score_label, spec.funding_points, spec.funding_points,
                        fscore if isinstance(fscore, Decimal) else Decimal(0))]
        groups += [Group(lv.level.id, lv.level.name, lv.level.points, computed[lv.points.name], computed[lv.score.name])
                   for lv in lay.levels]
        items = []
        if ITEMS_IN_LINE:
            v, c = values.get, computed.get
            met_label = spec.rules.qualitative[0].label
            make = tuple.__new__
            for r, _kind, a, b, p, _g, reason, score_name, _check in formulas.twin_rows(lay):
                t = r.target
                if t is None or not t.name:  # (an empty row of a blank form, or a target without a name: as _item)
                    item = _item(r, values, computed, spec, a, b, p, reason, score_name)
                    if item is not None:
                        items.append(item)
                    continue
                points, score = v(p), c(score_name)
                points = points if isinstance(points, Decimal) else None
                score = score if isinstance(score, Decimal) else None
                actual = v(b)
                kind = t.kind
                if kind == QUALITATIVE:
                    met = isinstance(actual, str) and actual == met_label
                else:
                    met = score is not None and points is not None and score >= points
                why = v(reason)
                unit = t.unit
                # (the fields of Item, in order, as _item gives them for a target row)
                items.append(make(Item, (r.id, r.level.id, str(t.name), points, score, False, r.sublevel.name,
                                         kind if isinstance(kind, str) else None, v(a), actual,
                                         unit if isinstance(unit, str) and unit else None, met,
                                         isinstance(why, str) and bool(why.strip()))))
            return tuple(groups), tuple(items), computed[lay.total_points.name]
        for r, _kind, a, b, p, _g, reason, score, _check in formulas.twin_rows(lay):
            item = _item(r, values, computed, spec, a, b, p, reason, score)
            if item is not None:
                items.append(item)
        return tuple(groups), tuple(items), computed[lay.total_points.name]

    def read_targets(self, spec: Spec, header: list[str], records: list[tuple[int, list[Any]]]) -> tuple[dict[str, Targets], list[Problem]]:
        return family_targets.read(_spec(spec), header, records)

    def describe_lines(self, info: Mapping[str, Any]) -> list[str]:
        f = info["funding"]
        lines = [f"  {f['label']}（{info['money_unit']}，分值 {f['points']}）："]
        for row in f["rows"]:
            score = f"，得分 {row['score']['cell']}" if "score" in row else ""
            lines.append(f"    第 {row['row']:>3} 行  {row['label']}：全年预算数 {row['budget']['cell']}，执行数 {row['executed']['cell']}，"
                         f"执行率 {row['rate']['cell']}{score}")
        g = info["goals"]
        lines.append(f"  {g['label']}：{g['expected']['cell']} / {g['actual']['cell']}")
        for lv in info["levels"]:
            lines.append(f"  {lv['name']}（{lv['points']}分）：小计 {lv['points_subtotal']['cell']}/{lv['score_subtotal']['cell']}")
            for r in lv["indicators"]:
                what = f"{r['kind']} {r['name']}" if r["locked"] else "（单位自填）"
                lines.append(f"    第 {r['row']:>3} 行  {r['id']:<16} 得分 {r['score_cell']['cell']}  {what}")
        t = info["total"]
        lines.append(f"  合计 {t['weight']['cell']}/{t['score']['cell']}")
        return lines

    # -- the roll-up ------------------------------------------------------------------------------
    def groups(self, spec: Spec) -> list[GroupDef]:
        s = _spec(spec)
        return [GroupDef("funding", s.funding_score_label, s.funding_points)] + [
            GroupDef(lv.id, lv.name, lv.points, tuple((sub.id, sub.name) for sub in lv.sublevels)) for lv in s.levels]

    def items(self, spec: Spec) -> list[ItemDef]:
        return []  # every project has its own indicators: none is a column of the roll-up


#: A target row's item (:func:`_item`: what the roll-up's 指标结果 shows of it) is made in line in :meth:`RuleScored.results`,
#: as a tuple of Item's fields in their order (``tuple.__new__``, without Item's Python-level constructor), from the same
#: values by the same tests; an empty row (or a target without a name) by :func:`_item`. False: every row by
#: :func:`_item` (the tests compare).
ITEMS_IN_LINE = True


#: The body fields' input slots (the funding amounts, the goals) are made once per
#: :meth:`~.layout.Layout.body_fields` (the very tuple the layouts of one shape share: see
#: :data:`.layout.SHARE_BODY_FIELDS`) and money unit, where each plan made them anew (some 11 frozen slots and
#: readers a return): they are a function of those alone. Only for a workbook's own targets, whose layout is a
#: shape's copy (a layout without targets is laid out anew, its plan kept). False: made for every plan (the tests
#: compare).
SHARE_BODY_INPUTS = True


def _body_inputs(fields: Iterable[FieldSlot], unit: str) -> Iterable[InputSlot]:
    for f in fields:
        if f.field.type == "money":
            yield InputSlot(f.cell, "money", f.field.label, f.cell.name, reader=_measure(unit))
        else:
            yield InputSlot(f.cell, f.field.type, f.field.label, f.field.id)


#: A target row's input slots are a pure function of its place (row, 二级, n: its cells and id), its target's
#: kind, name and unit, and the spec's choices; national returns repeat them (a project's resubmission, indicators
#: many projects share), so they are remembered by all of those (a full-value key; an :class:`InputSlot` is frozen
#: and its reader a pure function of the unit). False: made anew for every layout.
REMEMBER_ROW_INPUTS = True
_ROW_INPUTS: dict[tuple[Any, ...], tuple[InputSlot, ...]] = {}
_MAX_ROW_INPUTS = 4096


def _target_row_inputs(r: IndicatorSlot, t: Target, choices: tuple[str, ...]) -> Iterable[InputSlot]:
    if t.kind == QUALITATIVE:
        yield InputSlot(r.actual, "choice", f"{t.name}的完成情况", r.id, choices)
        yield InputSlot(r.given, "score", f"{t.name}的自评分", r.id)
    else:
        yield InputSlot(r.actual, "number", f"{t.name}的实际完成值", r.id, reader=_measure(t.unit),
                        invalid_code="actual-not-number")
    yield InputSlot(r.reason, QUIET, r.label, r.id)


#: A target row's input slots depend on its target's name only through the label a message gives them
#: (``f"{name}的实际完成值"``): with the label's name taken from the row's 三级指标 cell when a finding is made
#: (:attr:`InputSlot.named_by`: the plan's spec values hold the target's name there), they are a function of the
#: row's place (row, 二级, n: its cells and id), the target's 指标性质 and 计量单位 (the reader's unit) and the spec's
#: choices, and are made once for those: a bureau's projects each have their own indicators' names and values, but
#: their rows' places, rules and units recur (the units are a short list). The messages are the same words.
#: False: by :data:`REMEMBER_ROW_INPUTS` (the tests compare).
SLOTS_BY_PLACE = True
_SLOTS_BY_PLACE: dict[tuple[Any, ...], tuple[InputSlot, ...]] = {}


def _place_row_inputs(r: IndicatorSlot, kind: str, unit: str, choices: tuple[str, ...]) -> Iterable[InputSlot]:
    """:func:`_target_row_inputs`, the name left to the finding (:attr:`InputSlot.named_by`)."""
    if kind == QUALITATIVE:
        yield InputSlot(r.actual, "choice", "的完成情况", r.id, choices, named_by=r.name)
        yield InputSlot(r.given, "score", "的自评分", r.id, named_by=r.name)
    else:
        yield InputSlot(r.actual, "number", "的实际完成值", r.id, reader=_measure(unit), invalid_code="actual-not-number",
                        named_by=r.name)
    yield InputSlot(r.reason, QUIET, "", r.id, named_by=r.name)  # (r.label: a target row's is its name)


def _item(r: IndicatorSlot, values: Mapping[str, Any], computed: Mapping[str, Any], spec: RuleSpec, target_name: str,
          actual_name: str, points_name: str, reason_name: str, score_name: str) -> Item | None:
    """Row ``r``'s item; the defined names of its cells given (:func:`formulas.twin_rows`, made once a layout)."""
    v = values.get
    t = r.target
    name: Any
    kind: Any
    unit: Any
    if t is not None:
        name, kind, unit = t.name, t.kind, t.unit
    else:
        name, kind, unit = v(r.name.name), v(r.kind.name), v(r.unit.name)
    if not name:
        return None  # an empty row of a blank form
    points, score = v(points_name), computed.get(score_name)
    points = points if isinstance(points, Decimal) else None
    score = score if isinstance(score, Decimal) else None
    actual = v(actual_name)
    if kind == QUALITATIVE:
        met = isinstance(actual, str) and actual == spec.rules.qualitative[0].label
    else:
        met = score is not None and points is not None and score >= points
    reason = v(reason_name)
    return Item(r.id, r.level.id, str(name), points, score, t is None, r.sublevel.name,
                kind if isinstance(kind, str) else None, v(target_name), actual,
                unit if isinstance(unit, str) and unit else None, met,
                isinstance(reason, str) and bool(reason.strip()))


FAMILY = register(RuleScored())
