"""Data validation of the indicator table's input cells: scores, flexible weights, extra rows, remarks."""

from __future__ import annotations

from typing import Any

from ...errors import Problem
from ...form.layout import Cell
from ...form.prompts import excel_number, rule, too_long
from ...text import plain_number
from .layout import Layout, RowSlot
from .spec import ScoredSpec


def cell_validation(r: RowSlot, cell: Cell) -> dict[str, Any]:
    """The validation of an input cell of the indicator table."""
    cat = r.category
    if cell is r.score:
        if r.indicator is not None and r.spec_weight is None and cat.fixed:
            prompt = "本指标不适用（权重为空），自评分请填 0 或留空。"
        else:
            prompt = "填写本指标自评分：0 至本行权重之间的数字。"
        return rule({"validate": "decimal", "criteria": "between", "minimum": 0, "maximum": "=" + r.weight.ref},
                    "自评分", prompt, "自评分须为 0 至本行权重之间的数字；权重为空的指标不适用，只能填 0。")
    if cell is r.weight:
        pts = plain_number(cat.points)
        return rule({"validate": "decimal", "criteria": "between", "minimum": 0, "maximum": excel_number(cat.points)},
                    "权重", f"{cat.name}可调整各指标权重，本类权重合计须等于{pts}分；留空表示该指标不适用。",
                    f"权重须为 0 至 {pts} 之间的数字，且本类权重合计须等于{pts}分。")
    if cell is r.name:
        return rule({"validate": "length", "criteria": "<=", "value": 200}, "自定义指标名称",
                    f"可在{cat.name}下自行增加指标：填写指标名称，并填写权重和自评分。", "指标名称不能超过200个字符。")
    if cell is r.explanation:
        return rule({"validate": "length", "criteria": "<=", "value": 2000}, "指标解释",
                    "简要说明该指标的含义和评价标准（可选）。", "指标解释不能超过2000个字符。")
    return rule({"validate": "length", "criteria": "<=", "value": 2000}, "备注",
                f"{r.label}的备注（可选），如扣分原因。", "备注不能超过2000个字符。")


def problems(spec: ScoredSpec) -> list[Problem]:
    """Every table cell whose validation texts would exceed Excel's limits, by its category's key path."""
    out: list[Problem] = []
    layout = Layout(spec)  # positions only: a few hundred small objects, no workbook
    for r in layout.rows:
        for cell in r.inputs():
            out += too_long(cell_validation(r, cell), f"categories[{spec.categories.index(r.category)}]")
    return out
