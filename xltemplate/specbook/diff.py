"""What changed between two versions of a form, in words its author reads (``xltemplate spec diff``).

Both specs' own data are compared sheet by sheet of the spec workbook, with the workbook's Chinese
names: a value of 设置 or 规则 changed, a field / 类别 / 指标 / 资金行 / 一级 or 二级指标 added,
removed, renamed or changed (matched by 编号), a grade band or 定性档次 added, removed or moved
(matched by its name), a note added, removed or reworded (by position).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from ..spec import Spec
from ..text import clip
from .columns import (
    CATEGORIES, FIELDS, FUNDING, GRADES, INDICATORS, INSTRUCTIONS, LEVELS, NOTES, QUALITATIVE, RULES, SETTINGS, SUMMARY,
    Col, Sheet,
)
from .paths import get_path
from .write import cell_value

_NOUNS = {FIELDS.key: "字段", CATEGORIES.key: "类别", INDICATORS.key: "指标", FUNDING.key: "资金行", LEVELS.key: "一级指标",
          "sublevels": "二级指标", GRADES.key: "等级", QUALITATIVE.key: "定性档次", NOTES.key: "说明", INSTRUCTIONS.key: "填报说明"}


def shown(col: Col | None, value: Any) -> str:
    """A value as the spec workbook shows it, quoted; nothing as （空）."""
    if value is None:
        return "（空，不适用）" if col is not None and col.key == "weight" else "（空）"
    v = cell_value(col, value) if col is not None else value
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return str(v)
    return f"“{clip(v, 60)}”"


def diff_specs(old: Spec, new: Spec) -> list[str]:
    """Every change from ``old`` to ``new``, one line each, in Chinese (empty when the forms are the same)."""
    a, b = dict(old.raw), dict(new.raw)
    out: list[str] = []
    for sheet in (SETTINGS, RULES, SUMMARY):
        out += _values(sheet, a, b)
    out += _keyed(FIELDS, a.get("fields"), b.get("fields"), "label")
    out += _keyed(CATEGORIES, a.get("categories"), b.get("categories"), "name")
    out += _keyed(INDICATORS, _indicators(a), _indicators(b), "name")
    out += _keyed(FUNDING, get_path(a, "funding.rows"), get_path(b, "funding.rows"), "label")
    out += _keyed(LEVELS, _levels(a), _levels(b), "name", cols=[c for c in LEVELS.cols if not c.key.startswith("sublevels.")])
    out += _keyed(LEVELS, _sublevels(a), _sublevels(b), "name", noun=_NOUNS["sublevels"],
                  cols=[Col("level", "所属一级指标", "text", "")] + [Col(c.key.split(".")[1], c.zh, c.kind, "")
                                                                  for c in LEVELS.cols if c.key.startswith("sublevels.")])
    out += _keyed(GRADES, a.get("grades"), b.get("grades"), "label", by="label")
    out += _keyed(QUALITATIVE, get_path(a, "rules.qualitative"), get_path(b, "rules.qualitative"), "label", by="label")
    for sheet in (NOTES, INSTRUCTIONS):
        out += _texts(sheet, a.get(sheet.path) or [], b.get(sheet.path) or [])
    return out


def _values(sheet: Sheet, a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    out = []
    for col in sheet.cols:
        va, vb = get_path(a, col.key), get_path(b, col.key)
        if va != vb:
            out.append(f"{sheet.zh}“{col.zh}”：{shown(col, va)} 改为 {shown(col, vb)}")
    return out


def _indicators(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{**ind, "category": c.get("name")} for c in data.get("categories") or [] for ind in c.get("indicators") or []]


def _levels(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in lv.items() if k != "sublevels"} for lv in data.get("levels") or []]


def _sublevels(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{**sub, "level": lv.get("name")} for lv in data.get("levels") or [] for sub in lv.get("sublevels") or []]


def _keyed(sheet: Sheet, old: Any, new: Any, name_key: str, *, by: str = "id", noun: str | None = None,
           cols: Iterable[Col] | None = None) -> list[str]:
    """Items matched by ``by`` (their 编号, or a band's name): added, removed, renamed, each changed column."""
    noun = noun or _NOUNS[sheet.key]
    columns = list(cols if cols is not None else sheet.cols)
    a = {str(i.get(by)): i for i in old or [] if isinstance(i, dict)}
    b = {str(i.get(by)): i for i in new or [] if isinstance(i, dict)}
    out = []
    if by == "id":  # one of the same name under another 编号: its 编号 changed (then compared as one)
        gone = {str(i.get(name_key)): k for k, i in a.items() if k not in b}
        for key, item in list(b.items()):
            was = gone.get(str(item.get(name_key))) if key not in a else None
            if was is not None:
                out.append(f"{noun}“{item.get(name_key)}”的编号：{was} 改为 {key}")
                b = {(was if k == key else k): v for k, v in b.items()}
    for key, item in b.items():
        if key not in a:
            out.append(f"新增{noun}“{item.get(name_key)}”" + (f"（编号 {key}）" if by == "id" else ""))
    for key, item in a.items():
        if key not in b:
            out.append(f"删除{noun}“{item.get(name_key)}”" + (f"（编号 {key}）" if by == "id" else ""))
    for key, item in a.items():
        if key not in b:
            continue
        other = b[key]
        label = f"{noun}“{item.get(name_key)}”"
        for col in columns:
            if col.key in ("id", by):
                continue
            k = col.key
            va, vb = item.get(k), other.get(k)
            if va == vb:
                continue
            if k == name_key:
                out.append(f"{label}改名为“{vb}”" + (f"（编号 {key}）" if by == "id" else ""))
            else:
                out.append(f"{label}的{col.zh}：{shown(col, va)} 改为 {shown(col, vb)}")
    return out


def _texts(sheet: Sheet, old: list[Any], new: list[Any]) -> list[str]:
    noun = _NOUNS[sheet.key]
    out = []
    for n in range(max(len(old), len(new))):
        if n >= len(old):
            out.append(f"新增{noun}第 {n + 1} 条：“{clip(new[n], 60)}”")
        elif n >= len(new):
            out.append(f"删除{noun}第 {n + 1} 条：“{clip(old[n], 60)}”")
        elif old[n] != new[n]:
            out.append(f"{noun}第 {n + 1} 条改为：“{clip(new[n], 60)}”")
    return out
