"""Data validation for every input cell, with Chinese prompts and error messages.

Excel limits a validation title to 32 characters and a message to 255; the
builders below stay inside those limits and :func:`check_lengths` proves it for
a whole spec, so a too-long text is a spec problem, not a silently dropped rule.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from .formulas import plain_number
from .layout import Cell, RowSlot
from .spec import MAX_PROMPT, MAX_PROMPT_TITLE, Field, Spec

_DEFAULT_TEXT_LIMIT = 32767


def _dv(kind: dict[str, Any], title: str, prompt: str, error: str) -> dict[str, Any]:
    return {
        **kind,
        "input_title": title[:MAX_PROMPT_TITLE], "input_message": prompt,
        "error_title": "输入有误"[:MAX_PROMPT_TITLE], "error_message": error, "error_type": "stop",
        "ignore_blank": True,
    }


def _num(d: Any) -> float | int:
    if isinstance(d, Decimal):
        return int(d) if d == d.to_integral() else float(d)
    return d


def field_validation(f: Field) -> dict[str, Any]:
    """The validation of a header input field."""
    help_text = f.help or f"请填写{f.label}。"
    title = f.label
    if f.type == "choice":
        choices = "、".join(f.choices)
        return _dv({"validate": "list", "source": list(f.choices)}, title, help_text,
                   f"{f.label}只能从下拉列表中选择：{choices}。")
    if f.type in ("money", "number", "percent"):
        lo = f.min if f.min is not None else (Decimal(0) if f.type == "money" else None)
        hi = f.max
        show = (lambda d: f"{float(d) * 100:g}%") if f.type == "percent" else plain_number
        if lo is not None and hi is not None:
            kind = {"validate": "decimal", "criteria": "between", "minimum": _num(lo), "maximum": _num(hi)}
            err = f"{f.label}须为{show(lo)}至{show(hi)}之间的数字。"
        elif lo is not None:
            kind = {"validate": "decimal", "criteria": ">=", "value": _num(lo)}
            err = f"{f.label}须为不小于{show(lo)}的数字，不要输入文字、单位或逗号。"
        elif hi is not None:
            kind = {"validate": "decimal", "criteria": "<=", "value": _num(hi)}
            err = f"{f.label}须为不大于{show(hi)}的数字。"
        else:
            kind = {"validate": "decimal", "criteria": "between", "minimum": -1e15, "maximum": 1e15}
            err = f"{f.label}须为数字，不要输入文字或单位。"
        return _dv(kind, title, help_text, err)
    if f.type == "date":
        lo = f.min or dt.date(1990, 1, 1)
        hi = f.max or dt.date(2100, 12, 31)
        kind = {"validate": "date", "criteria": "between",
                "minimum": dt.datetime(lo.year, lo.month, lo.day), "maximum": dt.datetime(hi.year, hi.month, hi.day)}
        return _dv(kind, title, help_text, f"{f.label}须为{lo.isoformat()}至{hi.isoformat()}之间的日期，格式如 2021-04-30。")
    limit = f.max_length or _DEFAULT_TEXT_LIMIT
    return _dv({"validate": "length", "criteria": "<=", "value": limit}, title, help_text,
               f"{f.label}不能超过{limit}个字符。")


def cell_validation(spec: Spec, r: RowSlot, cell: Cell) -> dict[str, Any]:
    """The validation of an input cell of the indicator table."""
    cat = r.category
    label = r.indicator.name if r.indicator else f"{cat.name}自定义指标{r.extra}"
    if cell is r.score:
        if r.indicator is not None and r.spec_weight is None and cat.fixed:
            prompt = "本指标不适用（权重为空），自评分请填 0 或留空。"
        else:
            prompt = "填写本指标自评分：0 至本行权重之间的数字。"
        return _dv({"validate": "decimal", "criteria": "between", "minimum": 0, "maximum": "=" + r.weight.ref},
                   "自评分", prompt, "自评分须为 0 至本行权重之间的数字；权重为空的指标不适用，只能填 0。")
    if cell is r.weight:
        pts = plain_number(cat.points)
        return _dv({"validate": "decimal", "criteria": "between", "minimum": 0, "maximum": _num(cat.points)},
                   "权重", f"{cat.name}可调整各指标权重，本类权重合计须等于{pts}分；留空表示该指标不适用。",
                   f"权重须为 0 至 {pts} 之间的数字，且本类权重合计须等于{pts}分。")
    if cell is r.name:
        return _dv({"validate": "length", "criteria": "<=", "value": 200}, "自定义指标名称",
                   f"可在{cat.name}下自行增加指标：填写指标名称，并填写权重和自评分。", "指标名称不能超过200个字符。")
    if cell is r.explanation:
        return _dv({"validate": "length", "criteria": "<=", "value": 2000}, "指标解释",
                   "简要说明该指标的含义和评价标准（可选）。", "指标解释不能超过2000个字符。")
    return _dv({"validate": "length", "criteria": "<=", "value": 2000}, "备注",
               f"{label}的备注（可选），如扣分原因。", "备注不能超过2000个字符。")


def check_lengths(spec: Spec) -> list[tuple[str, str]]:
    """Every (key path, problem) where a built validation text would exceed Excel's limits."""
    from .layout import Layout

    problems = []
    layout = Layout(spec)
    for n, slot in enumerate(layout.fields):
        if slot.field.computed:
            continue
        dv = field_validation(slot.field)
        problems += _lengths(dv, f"fields[{n}]")
    for r in layout.rows:
        for cell in r.inputs():
            problems += _lengths(cell_validation(spec, r, cell), f"categories[{spec.categories.index(r.category)}]")
    return problems


def _lengths(dv: dict[str, Any], path: str) -> list[tuple[str, str]]:
    out = []
    for key, limit in (("input_message", MAX_PROMPT), ("error_message", MAX_PROMPT)):
        if len(dv.get(key, "")) > limit:
            out.append((path, f"the {key.replace('_', ' ')} would be {len(dv[key])} characters; Excel allows {limit}"))
    return out
