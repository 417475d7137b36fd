"""Data validation for every input cell, with Chinese prompts and error messages: the header fields'
here, each family's body cells in its own ``prompts`` module, both built with :func:`rule`.

Excel limits a validation title to 32 characters and a message to 255; the builders stay inside
those limits and :func:`too_long` proves it for every text a spec can make, so a too-long text is a
spec problem when the spec is loaded, not a silently dropped rule.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from ..errors import Problem
from ..spec import MAX_PROMPT, MAX_PROMPT_TITLE, Field, Spec
from ..text import plain_number

_DEFAULT_TEXT_LIMIT = 32767


def rule(kind: dict[str, Any], title: str, prompt: str, error: str) -> dict[str, Any]:
    """An XlsxWriter data validation: ``kind`` (what is allowed) with its Chinese title, prompt and error."""
    return {
        **kind,
        "input_title": title[:MAX_PROMPT_TITLE], "input_message": prompt,
        "error_title": "输入有误"[:MAX_PROMPT_TITLE], "error_message": error, "error_type": "stop",
        "ignore_blank": True,
    }


def excel_number(d: Any) -> float | int:
    """A bound as XlsxWriter writes it: a whole number stays an int."""
    if isinstance(d, Decimal):
        return int(d) if d == d.to_integral() else float(d)
    return int(d) if isinstance(d, int) else float(d)


def field_validation(f: Field) -> dict[str, Any]:
    """The validation of a header input field."""
    help_text = f.help or f"请填写{f.label}。"
    title = f.label
    if f.type == "choice":
        choices = "、".join(f.choices)
        return rule({"validate": "list", "source": list(f.choices)}, title, help_text,
                    f"{f.label}只能从下拉列表中选择：{choices}。")
    if f.type in ("money", "number", "percent"):
        lo = f.min if f.min is not None else (Decimal(0) if f.type == "money" else None)
        hi = f.max

        def show(d: Decimal) -> str:
            return f"{float(d) * 100:g}%" if f.type == "percent" else plain_number(d)

        kind: dict[str, Any]
        if lo is not None and hi is not None:
            kind = {"validate": "decimal", "criteria": "between", "minimum": excel_number(lo), "maximum": excel_number(hi)}
            err = f"{f.label}须为{show(lo)}至{show(hi)}之间的数字。"
        elif lo is not None:
            kind = {"validate": "decimal", "criteria": ">=", "value": excel_number(lo)}
            err = f"{f.label}须为不小于{show(lo)}的数字，不要输入文字、单位或逗号。"
        elif hi is not None:
            kind = {"validate": "decimal", "criteria": "<=", "value": excel_number(hi)}
            err = f"{f.label}须为不大于{show(hi)}的数字。"
        else:
            kind = {"validate": "decimal", "criteria": "between", "minimum": -1e15, "maximum": 1e15}
            err = f"{f.label}须为数字，不要输入文字或单位。"
        return rule(kind, title, help_text, err)
    if f.type == "date":
        dlo = f.min or dt.date(1990, 1, 1)
        dhi = f.max or dt.date(2100, 12, 31)
        kind = {"validate": "date", "criteria": "between",
                "minimum": dt.datetime(dlo.year, dlo.month, dlo.day), "maximum": dt.datetime(dhi.year, dhi.month, dhi.day)}
        return rule(kind, title, help_text, f"{f.label}须为{dlo.isoformat()}至{dhi.isoformat()}之间的日期，格式如 2021-04-30。")
    limit = f.max_length or _DEFAULT_TEXT_LIMIT
    return rule({"validate": "length", "criteria": "<=", "value": limit}, title, help_text,
                f"{f.label}不能超过{limit}个字符。")


def too_long(texts: dict[str, Any], path: str) -> list[Problem]:
    """A problem for each message of a validation (or of its texts) longer than Excel allows."""
    out = []
    for key in ("input_message", "error_message"):
        if len(texts.get(key, "")) > MAX_PROMPT:
            what = "输入提示" if key == "input_message" else "出错提示"
            out.append(Problem(path, f"由此生成的{what}有 {len(texts[key])} 个字符，Excel 最多 {MAX_PROMPT} 个；请缩短说明、标签或选项",
                               texts[key]))
    return out


def field_problems(spec: Spec) -> list[Problem]:
    """Every header field whose validation texts would exceed Excel's limits, by key path."""
    problems = []
    for n, f in enumerate(spec.fields):
        if not f.computed:
            problems += too_long(field_validation(f), f"fields[{n}]")
    return problems
