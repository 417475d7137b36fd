"""Data validation of the national form's input cells, with Chinese prompts and error messages.

No prompt quotes an indicator's name (a target's 三级指标 may be 200 characters; Excel allows a
prompt 255): a prompt says what to type in the row's column, the row itself shows the name.
"""

from __future__ import annotations

from typing import Any

from ...errors import Problem
from ...form.layout import Cell
from ...form.prompts import excel_number, rule, too_long
from ...text import plain_number
from .layout import IndicatorSlot, Layout
from .rules import KINDS, QUALITATIVE
from .spec import RuleSpec

_TEXT_LIMIT = 2000


def amount_validation(spec: RuleSpec, label: str) -> dict[str, Any]:
    unit = spec.money_unit
    return rule({"validate": "decimal", "criteria": ">=", "value": 0}, label[:32],
                f"单位为{unit}，填写不小于 0 的数字，不要带“{unit}”或逗号。", f"金额须为不小于 0 的数字（单位：{unit}）。")


def goal_validation(label: str) -> dict[str, Any]:
    return rule({"validate": "length", "criteria": "<=", "value": _TEXT_LIMIT}, label,
                f"填写{label}（不超过{_TEXT_LIMIT}字）。", f"{label}不能超过{_TEXT_LIMIT}个字符。")


def cell_validation(spec: RuleSpec, r: IndicatorSlot, cell: Cell) -> dict[str, Any]:
    """The validation of an input cell of an indicator row."""
    rules = spec.rules
    choices = "、".join(rules.choices)
    qualitative = r.qualitative
    if cell is r.actual:
        if qualitative:
            return rule({"validate": "list", "source": list(rules.choices)}, "完成情况",
                        f"定性指标：从下拉列表中选择完成情况（{choices}），并在“自评分（定性）”列填写该档次内的得分。",
                        f"完成情况只能从下拉列表中选择：{choices}。")
        if qualitative is False:
            unit = r.target.unit if r.target is not None else ""
            hint = f"，计量单位为“{unit}”" if unit else ""
            return rule({"validate": "decimal", "criteria": "between", "minimum": -1e15, "maximum": 1e15}, "实际完成值",
                        f"填写实际完成的数值{hint}，只填数字，不要带单位；得分按指标性质自动计算。",
                        "实际完成值须为数字（不带单位）。")
        return rule({"validate": "length", "criteria": "<=", "value": 200}, "实际完成值",
                    f"定量指标填写实际完成的数值（只填数字）；定性指标从这些完成情况中填写一个：{choices}。",
                    "实际完成值不能超过200个字符。")
    if cell is r.given:
        return rule({"validate": "decimal", "criteria": "between", "minimum": 0, "maximum": "=" + r.points.ref},
                    "自评分（定性）", "仅定性指标填写：所选完成情况对应档次内的得分（0 至本行分值）。定量指标不填。",
                    "自评分须为 0 至本行分值之间的数字。")
    if cell is r.reason:
        return rule({"validate": "length", "criteria": "<=", "value": _TEXT_LIMIT}, "偏差原因分析及改进措施",
                    "未完全达成年度指标，或实际完成值远超指标值时必填：说明原因和改进措施。",
                    f"偏差原因分析及改进措施不能超过{_TEXT_LIMIT}个字符。")
    if cell is r.name:
        return rule({"validate": "length", "criteria": "<=", "value": 200}, "三级指标",
                    f"可在{r.sublevel.name}下填写本项目的三级指标名称，并填写指标性质、年度指标值、实际完成值和分值。",
                    "三级指标名称不能超过200个字符。")
    if cell is r.kind:
        return rule({"validate": "list", "source": list(KINDS)}, "指标性质",
                    f"从下拉列表中选择：≥（越大越好）、≤（越小越好）、=（等于）或{QUALITATIVE}。", "指标性质只能从下拉列表中选择。")
    if cell is r.unit:
        return rule({"validate": "length", "criteria": "<=", "value": 20}, "计量单位",
                    "填写计量单位，如 个、%、天、万元；定性指标可不填。", "计量单位不能超过20个字符。")
    if cell is r.target_cell:
        return rule({"validate": "length", "criteria": "<=", "value": 200}, "年度指标值",
                    "填写绩效目标表中的年度指标值：定量指标只填数字，定性指标填写文字描述。", "年度指标值不能超过200个字符。")
    pts = plain_number(r.level.points)
    return rule({"validate": "decimal", "criteria": "between", "minimum": 0, "maximum": excel_number(r.level.points)},
                "分值", f"本行指标的分值；{r.level.name}各指标分值合计须等于{pts}分。", f"分值须为 0 至 {pts} 之间的数字。")


def problems(spec: RuleSpec) -> list[Problem]:
    """Every input cell whose validation texts would exceed Excel's limits, by key path."""
    out: list[Problem] = []
    layout = Layout(spec)  # a blank form has a row of every kind of input cell
    for r in layout.rows:
        for cell in r.inputs():
            out += too_long(cell_validation(spec, r, cell), f"levels[{spec.levels.index(r.level)}]")
    out += too_long(rule({"validate": "list", "source": list(spec.rules.choices)}, "完成情况", "", ""), "rules.qualitative")
    for f in spec.body_fields:
        out += too_long(amount_validation(spec, f.label) if f.type == "money" else goal_validation(f.label), "funding")
    return out
