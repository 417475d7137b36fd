"""The template spec: what every form family shares, and the checker every family's keys go through.

A spec is YAML (see ``templates/``); :mod:`xltemplate.catalog` loads it. This module is the
model: a frozen :class:`Spec` with what every family of forms has (id, version, title, the
header fields, the total and its grade bands, notes, instructions, the summary roles), and
:class:`SpecChecker`, which walks the raw data collecting every problem with its key path
(``categories[1].indicators[2].weight``), the offending value and a did-you-mean. A form
family (:mod:`xltemplate.families`) adds its own keys (the first family: ``categories``) and
makes a subclass of :class:`Spec` that carries them. Nothing about a particular form (points,
bands, labels) lives in code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any, Mapping

from .errors import Problem
from .text import clip, did_you_mean, plain_number, show

#: Field types a header field may have, and their Chinese names (a spec workbook accepts either).
FIELD_TYPES = ("text", "longtext", "money", "number", "percent", "date", "choice")
FIELD_TYPE_NAMES = {"text": "文字", "longtext": "长文字", "money": "金额", "number": "数字", "percent": "百分数",
                    "date": "日期", "choice": "选项"}
#: The two messages every checker says most often.
MISSING = "必须填写，这里缺少"
EMPTY = "不能为空"
#: Excel's own limits where spec texts end up in data validation or cells.
MAX_PROMPT = 255  # data validation input/error message
MAX_PROMPT_TITLE = 32  # data validation input/error title
MAX_LIST_SOURCE = 255  # a choice list, joined with commas
MAX_CELL_TEXT = 32767
MAX_SHEET_NAME = 31
#: The family of a spec that names none: the first form (categories of weighted indicators, scored by the unit).
DEFAULT_FAMILY = "self-scored"
_ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
_TEMPLATE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_SHEET_FORBIDDEN = set("[]:*?/\\")


@dataclass(frozen=True)
class Field:
    """A header field of the form (项目名称, 当年预算数（元）, 绩效等级 ...)."""

    id: str
    label: str
    type: str
    required: bool = False
    choices: tuple[str, ...] = ()
    min: Any = None
    max: Any = None
    max_length: int | None = None
    help: str = ""
    prefill: bool = False
    compute: str | None = None  # None, "ratio" or "grade"
    operands: tuple[str, ...] = ()  # for "ratio": (numerator id, denominator id)
    #: False for a figure only the unit can report (the national form's 全年执行数): a roster may not prefill it.
    prefillable: bool = True

    @property
    def computed(self) -> bool:
        return self.compute is not None

    @property
    def numeric(self) -> bool:
        return self.type in ("money", "number", "percent")


@dataclass(frozen=True)
class Band:
    """A grade band: the label applies from ``min`` (inclusive) up to the next band."""

    label: str
    min: Decimal


@dataclass(frozen=True)
class Spec:
    """A checked, immutable template spec: the part every form family shares.

    A family's spec is a subclass that adds the family's own content (see :mod:`xltemplate.families`).
    """

    id: str
    version: str
    title: str
    sheet: str
    total: Decimal
    fields: tuple[Field, ...]
    bands: tuple[Band, ...]  # highest first
    notes: tuple[str, ...]
    instructions: tuple[str, ...]
    fiscal_year: int | None
    summary: Mapping[str, Any] = field(default_factory=dict)  # role → field id(s), see SUMMARY_ROLES
    source: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    family: str = DEFAULT_FAMILY
    #: Cells of a family's body that behave as fields: a roster may prefill them and the summary roles
    #: may name them (the national form's funding amounts and its two texts of 年度总体目标).
    body_fields: tuple[Field, ...] = ()
    #: The unit of every amount of money on the form, as messages print it.
    money_unit: str = "元"

    # -- look-ups -------------------------------------------------------
    @property
    def all_fields(self) -> tuple[Field, ...]:
        """The header fields, then the body's fields."""
        return self.fields + self.body_fields

    def field(self, field_id: str) -> Field:
        for f in self.all_fields:
            if f.id == field_id:
                return f
        raise KeyError(field_id)

    @cached_property
    def spec_hash(self) -> str:
        """sha256 of the canonical JSON of the spec's content (not of its YAML text)."""
        canon = json.dumps(self.raw, ensure_ascii=False, sort_keys=True, default=str)
        return hashlib.sha256(canon.encode("utf-8")).hexdigest()

    def grade_for(self, total: Decimal) -> str:
        """The band label for a total score (bands are inclusive lower bounds)."""
        for band in self.bands:
            if total >= band.min:
                return band.label
        return self.bands[-1].label


#: What the roll-up needs to know about a spec's fields: role → (expected type(s), many?).
SUMMARY_ROLES = {
    "unit": (("text",), False), "project": (("text",), False),
    "budget": (("money", "number"), False), "executed": (("money", "number"), False),
    "date": (("date",), False), "texts": (("text", "longtext"), True),
}
#: The keys every spec has (name → required), before and after the family's own.
TOP_KEYS_BEFORE = {
    "id": True, "version": True, "title": True, "sheet": True, "total": False,
    "fiscal_year": False, "fields": True,
}
TOP_KEYS_AFTER = {"grades": True, "notes": False, "instructions": False, "summary": False, "family": False}
_FIELD_KEYS = {
    "id": True, "label": True, "type": True, "required": False, "choices": False,
    "min": False, "max": False, "max_length": False, "help": False, "prefill": False,
    "compute": False,
}
_BAND_KEYS = {"label": True, "min": True}


#: What the roll-up roles are called in messages.
ROLE_NAMES = {"unit": "单位（unit）", "project": "项目（project）", "budget": "预算数（budget）",
              "executed": "执行数（executed）", "date": "日期（date）", "texts": "文字（texts）"}


def type_name(ftype: str) -> str:
    """A field type as a message names it: 金额（money）."""
    return f"{FIELD_TYPE_NAMES[ftype]}（{ftype}）" if ftype in FIELD_TYPE_NAMES else f"“{ftype}”"


def kind_name(value: Any) -> str:
    """What a value of the wrong shape is, in words: 一组值（列表）, 数字, 文字 ..."""
    if isinstance(value, bool):
        return "是/否"
    if isinstance(value, (int, float, Decimal)):
        return f"数字 {value}"
    if isinstance(value, str):
        return f"文字“{clip(value)}”"
    if isinstance(value, (list, tuple)):
        return "一组值（列表）"
    if isinstance(value, dict):
        return "一组“键: 值”（映射）"
    if isinstance(value, (dt.date, dt.datetime)):
        return f"日期 {show(value)}"
    return "空值" if value is None else type(value).__name__


def join_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class SpecChecker:
    """Walks the raw data, collecting problems with their key paths (and the values that caused them).

    The generic parts are checked here (:meth:`head`, :meth:`tail`); a family checks its own keys
    with the same helpers (:meth:`keys`, :meth:`text`, :meth:`ident`, :meth:`number`, :meth:`flag`).
    """

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def err(self, path: str, message: str, value: Any = None) -> None:
        self.problems.append(Problem(path, message, value))

    # -- generic helpers ---------------------------------------------------
    def keys(self, obj: Any, allowed: Mapping[str, bool], path: str) -> bool:
        if not isinstance(obj, dict):
            self.err(path, f"应为一组“键: 值”（映射），这里是{kind_name(obj)}", obj)
            return False
        for key in obj:
            if key not in allowed:
                hint = did_you_mean(str(key), allowed)
                extra = f"；是否想写“{hint}”？" if hint else f"；可用的有：{'、'.join(allowed)}"
                self.err(join_path(path, str(key)), f"不认识的项“{key}”{extra}", key)
        for key, required in allowed.items():
            if required and key not in obj:
                self.err(join_path(path, key), MISSING)
        return True

    def text(self, obj: dict[str, Any], key: str, path: str, *, required: bool = True, limit: int = MAX_CELL_TEXT) -> str:
        value = obj.get(key)
        p = join_path(path, key)
        if value is None:
            return ""
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.err(p, f"应为文字，这里是{kind_name(value)}", value)
            return ""
        value = str(value).strip()
        if required and not value:
            self.err(p, EMPTY, value)
        if len(value) > limit:
            self.err(p, f"有 {len(value)} 个字，这里最多 {limit} 个字（Excel 的限制）", clip(value))
        return value

    def ident(self, obj: dict[str, Any], path: str) -> str:
        value = obj.get("id")
        if value is None:
            return ""
        if not isinstance(value, str) or not _ID_RE.match(value):
            self.err(join_path(path, "id"), f"“{value}” 不是有效的编号：只用小写英文字母、数字和 _，以字母开头，最多 41 个字符", value)
            return str(value)
        return value

    def number(self, obj: dict[str, Any], key: str, path: str, *, allow_none: bool = False) -> Decimal | None:
        value = obj.get(key)
        p = join_path(path, key)
        if value is None or value == "":
            if not allow_none and key in obj:
                self.err(p, "应为数字，不能空着", value)
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            self.err(p, f"应为数字，这里是{kind_name(value)}", value)
            return None
        try:
            d = Decimal(str(value))
        except Exception:
            self.err(p, f"“{value}” 不是数字", value)
            return None
        if not d.is_finite() or d < 0:
            self.err(p, f"{value} 不能为负数", value)
            return None
        return d

    def flag(self, obj: dict[str, Any], key: str, path: str) -> bool:
        value = obj.get(key, False)
        if not isinstance(value, bool):
            self.err(join_path(path, key), f"应为 是 或 否（true 或 false），这里是“{value}”", value)
            return False
        return value

    def duplicates(self, ids: list[str]) -> None:
        seen: set[str] = set()
        for i in ids:
            if i in seen:
                self.err("", f"编号“{i}”用了不止一次（字段、类别、指标等的编号不能重复）", i)
            seen.add(i)

    # -- the generic parts -----------------------------------------------------------
    def head(self, data: dict[str, Any]) -> dict[str, Any]:
        """The keys before the family's own: id, version, title, sheet, total, fiscal year, fields."""
        sid = data.get("id")
        if sid is not None and (not isinstance(sid, str) or not _TEMPLATE_ID_RE.match(sid)):
            self.err("id", f"“{sid}” 不是有效的模板编号：只用小写英文字母、数字和 . - _", sid)
        sid = str(sid or "")
        version = self.text(data, "version", "")
        title = self.text(data, "title", "", limit=200)
        sheet = self.text(data, "sheet", "", limit=MAX_SHEET_NAME)
        if sheet and (set(sheet) & _SHEET_FORBIDDEN or sheet.startswith("'") or sheet.startswith("_")):
            self.err("sheet", f"“{sheet}” 不能作工作表名称：不能含 [ ] : * ? / \\，也不能以 ' 或 _ 开头", sheet)
        total = self.number(data, "total", "") if "total" in data else Decimal(100)
        fiscal_year = data.get("fiscal_year")
        if fiscal_year is not None and (not isinstance(fiscal_year, int) or not 1990 <= fiscal_year <= 2200):
            self.err("fiscal_year", f"应为年份（如 2020），这里是“{fiscal_year}”", fiscal_year)
            fiscal_year = None
        return {"id": sid, "version": version, "title": title, "sheet": sheet, "total": total,
                "fiscal_year": fiscal_year, "fields": tuple(self.fields(data.get("fields")))}

    def tail(self, data: dict[str, Any], head: dict[str, Any], family_ids: list[str],
             body_fields: tuple[Field, ...] = ()) -> dict[str, Any]:
        """The keys after the family's own: grades, notes, instructions; then the checks across them.

        ``body_fields``: the family's cells that act as fields (the summary roles may name them too).
        """
        fields: tuple[Field, ...] = head["fields"]
        bands = self.bands(data.get("grades"), head["total"])
        notes = self.texts(data.get("notes"), "notes")
        instructions = self.texts(data.get("instructions"), "instructions")
        self.duplicates([f.id for f in fields] + family_ids)
        self.cross_check(list(fields))
        summary = self.summary(data.get("summary"), list(fields) + list(body_fields))
        return {"bands": tuple(bands), "notes": tuple(notes), "instructions": tuple(instructions), "summary": summary}

    def texts(self, value: Any, path: str) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.err(path, "应为一组文字（列表）", value)
            return []
        out = []
        for n, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.err(f"{path}[{n}]", EMPTY, item)
            else:
                out.append(item.strip())
        return out

    def fields(self, value: Any) -> list[Field]:
        if not isinstance(value, list) or not value:
            self.err("fields", "至少要有一个字段", value)
            return []
        out = []
        for n, raw in enumerate(value):
            path = f"fields[{n}]"
            if not self.keys(raw, _FIELD_KEYS, path):
                continue
            fid = self.ident(raw, path)
            label = self.text(raw, "label", path, limit=60)
            ftype = raw.get("type")
            if ftype not in FIELD_TYPES:
                # near misses of the Chinese names too (a workbook's author types those)
                by_name = {name: key for key, name in FIELD_TYPE_NAMES.items()}
                hint = did_you_mean(str(ftype), list(FIELD_TYPES) + list(by_name), cutoff=0.5)
                extra = f"；是否想写{type_name(by_name.get(hint, hint))}？" if hint else "；"
                known = "、".join(f"{FIELD_TYPE_NAMES[t]}（{t}）" for t in FIELD_TYPES)
                self.err(join_path(path, "type"), f"不认识的类型“{ftype}”{extra}可用：{known}", ftype)
                ftype = "text"
            help_text = self.text(raw, "help", path, required=False, limit=MAX_PROMPT)
            choices: tuple[str, ...] = ()
            if ftype == "choice":
                raw_choices = raw.get("choices")
                if not isinstance(raw_choices, list) or not raw_choices or not all(isinstance(c, (str, int)) for c in raw_choices):
                    self.err(join_path(path, "choices"), "选项类字段须列出选项（至少一个）", raw_choices)
                else:
                    choices = tuple(str(c).strip() for c in raw_choices)
                    if len(set(choices)) != len(choices):
                        self.err(join_path(path, "choices"), "选项有重复", raw_choices)
                    if any("," in c for c in choices):
                        self.err(join_path(path, "choices"), "选项中不能有英文逗号（Excel 下拉列表的限制）", raw_choices)
                    if len(",".join(choices)) > MAX_LIST_SOURCE:
                        self.err(join_path(path, "choices"), f"选项连起来超过 {MAX_LIST_SOURCE} 个字符（Excel 下拉列表的限制）", raw_choices)
            elif "choices" in raw:
                self.err(join_path(path, "choices"), f"只有选项类字段才有选项（这个字段是{type_name(ftype)}）", raw.get("choices"))
            lo, hi = self.bounds(raw, ftype, path)
            max_length = raw.get("max_length")
            if max_length is not None and (not isinstance(max_length, int) or isinstance(max_length, bool) or not 1 <= max_length <= MAX_CELL_TEXT):
                self.err(join_path(path, "max_length"), f"应为 1 至 {MAX_CELL_TEXT} 的整数，这里是“{max_length}”", max_length)
                max_length = None
            compute, operands = self.compute(raw.get("compute"), join_path(path, "compute"))
            if compute == "ratio" and ftype not in ("percent", "number"):
                self.err(join_path(path, "type"), f"比率字段的类型须为{type_name('percent')}或{type_name('number')}，这里是{type_name(ftype)}", ftype)
            required = self.flag(raw, "required", path)
            prefill = self.flag(raw, "prefill", path)
            if compute and (required or prefill):
                self.err(path, "计算得出的字段不能设为必填或预填：它不由人填写")
            out.append(Field(
                id=fid, label=label, type=ftype, required=required, choices=choices,
                min=lo, max=hi, max_length=max_length, help=help_text, prefill=prefill,
                compute=compute, operands=operands,
            ))
        return out

    def bounds(self, raw: dict[str, Any], ftype: str, path: str) -> tuple[Any, Any]:
        out: list[Any] = []
        for key in ("min", "max"):
            value = raw.get(key)
            if value is None:
                out.append(None)
                continue
            if ftype == "date":
                if isinstance(value, dt.datetime):
                    value = value.date()
                if not isinstance(value, dt.date):
                    try:
                        value = dt.date.fromisoformat(str(value))
                    except ValueError:
                        self.err(join_path(path, key), f"“{value}” 不是日期（格式如 2021-04-30）", value)
                        value = None
                out.append(value)
            elif ftype in ("money", "number", "percent"):
                out.append(self.number(raw, key, path) if not (isinstance(value, (int, float)) and value < 0) else Decimal(str(value)))
            else:
                self.err(join_path(path, key), f"{type_name(ftype)}字段没有最小值、最大值", value)
                out.append(None)
        lo, hi = out
        if lo is not None and hi is not None and lo > hi:
            self.err(join_path(path, "min"), f"最小值 {show(lo)} 大于最大值 {show(hi)}", lo)
        return lo, hi

    def compute(self, value: Any, path: str) -> tuple[str | None, tuple[str, ...]]:
        if value is None:
            return None, ()
        if value == "grade":
            return "grade", ()
        if isinstance(value, dict) and set(value) == {"ratio"}:
            ops = value["ratio"]
            if isinstance(ops, list) and len(ops) == 2 and all(isinstance(o, str) for o in ops):
                return "ratio", (ops[0], ops[1])
            self.err(join_path(path, "ratio"), "比率应写成 [分子字段编号, 分母字段编号]", ops)
            return None, ()
        self.err(path, f"“{value}” 不是可用的计算：应为 grade（等级）或 ratio（比率，写分子和分母字段编号）", value)
        return None, ()

    def cross_check(self, fields: list[Field]) -> None:
        by_id = {f.id: f for f in fields}
        grades = [n for n, f in enumerate(fields) if f.compute == "grade"]
        if len(grades) > 1:
            self.err(f"fields[{grades[1]}].compute", "只能有一个字段显示等级")
        labels: dict[str, int] = {}
        for n, f in enumerate(fields):
            if f.label in labels:
                self.err(f"fields[{n}].label", f"标签“{f.label}”已被字段“{fields[labels[f.label]].id}”使用", f.label)
            labels.setdefault(f.label, n)
            if f.compute == "ratio":
                for k, op in enumerate(f.operands):
                    target = by_id.get(op)
                    if target is None:
                        hint = did_you_mean(op, by_id)
                        extra = f"；是否想写“{hint}”？" if hint else ""
                        self.err(f"fields[{n}].compute.ratio[{k}]", f"没有编号为“{op}”的字段{extra}", op)
                    elif not target.numeric or target.computed:
                        self.err(f"fields[{n}].compute.ratio[{k}]", f"“{op}”须为由人填写的数字类字段", op)

    def summary(self, value: Any, fields: list[Field]) -> dict[str, Any]:
        if value is None:
            return {}
        if not self.keys(value, {k: False for k in SUMMARY_ROLES}, "summary"):
            return {}
        by_id = {f.id: f for f in fields}
        out: dict[str, Any] = {}
        for role, (types, many) in SUMMARY_ROLES.items():
            if role not in value:
                continue
            ids = value[role] if many else [value[role]]
            if not isinstance(ids, list):
                self.err(f"summary.{role}", "应为一组字段编号（列表）", ids)
                continue
            for n, fid in enumerate(ids):
                path = f"summary.{role}[{n}]" if many else f"summary.{role}"
                f = by_id.get(fid) if isinstance(fid, str) else None
                if f is None:
                    hint = did_you_mean(str(fid), by_id)
                    extra = f"；是否想写“{hint}”？" if hint else ""
                    self.err(path, f"没有编号为“{fid}”的字段{extra}", fid)
                elif f.type not in types or f.computed:
                    self.err(path, f"“{fid}”是{type_name(f.type)}字段；{ROLE_NAMES[role]}须为由人填写的{'或'.join(type_name(t) for t in types)}字段", fid)
            out[role] = tuple(ids) if many else ids[0]
        return out

    def bands(self, value: Any, total: Decimal | None) -> list[Band]:
        if not isinstance(value, list) or not value:
            self.err("grades", "至少要有一个等级", value)
            return []
        out = []
        for n, raw in enumerate(value):
            path = f"grades[{n}]"
            if not self.keys(raw, _BAND_KEYS, path):
                continue
            label = self.text(raw, "label", path, limit=20)
            lo = self.number(raw, "min", path)
            if lo is None:
                continue
            if total is not None and lo > total:
                self.err(join_path(path, "min"), f"最低分 {plain_number(lo)} 高于总分 {plain_number(total)}：这个等级永远达不到", lo)
            out.append((n, Band(label=label, min=lo)))
        seen_min: dict[Decimal, int] = {}
        seen_label: dict[str, int] = {}
        for n, band in out:
            if band.min in seen_min:
                self.err(f"grades[{n}].min", f"与等级“{dict(out)[seen_min[band.min]].label}”重叠：两个等级都从 {plain_number(band.min)} 分起", band.min)
            seen_min.setdefault(band.min, n)
            if band.label in seen_label:
                self.err(f"grades[{n}].label", f"等级“{band.label}”重复", band.label)
            seen_label.setdefault(band.label, n)
        if out and min(b.min for _, b in out) != 0:
            n, lowest = min(out, key=lambda nb: nb[1].min)
            self.err(f"grades[{n}].min", f"最低的等级从 {plain_number(lowest.min)} 分起：0 分到它之间的得分没有等级；请把它的最低分改为 0", lowest.min)
        return sorted((b for _, b in out), key=lambda b: b.min, reverse=True)
