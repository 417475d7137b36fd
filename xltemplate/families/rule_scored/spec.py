"""The national family's spec: funding block, 年度总体目标, 一级/二级 indicators and the scoring rules.

Everything the form varies by authority is data here, never code: the money unit, the funding
rows and their 分值, whether the execution score is capped, the two texts of 年度总体目标, the
一级 list with points and each 一级's 二级 list, the empty rows a blank form offers per 二级, and
the rules (``rules:``, defaults in :class:`~.rules.RuleSet`). Checked with the shared
:class:`~xltemplate.spec.SpecChecker`, every problem with its key path.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping

from ...errors import Problem, SpecError
from ...shaped import derived
from ...spec import EMPTY, MAX_LIST_SOURCE, Field, Spec, SpecChecker, join_path, kind_name
from ...text import plain_number
from .rules import KINDS, Band, RuleSet

KEYS = {"money_unit": False, "funding": True, "goals": True, "levels": True, "blank_rows": False, "rules": False}
_FUNDING_KEYS = {"label": False, "score_label": False, "points": True, "rows": True}
_FUNDING_ROW_KEYS = {"id": True, "label": True}
_GOALS_KEYS = {"label": False, "expected": True, "actual": True}
_LEVEL_KEYS = {"id": True, "name": True, "points": True, "sublevels": True}
_SUBLEVEL_KEYS = {"id": True, "name": True}
_RULES_KEYS = {"digits": False, "reverse_zero": False, "qualitative": False, "reason_below": False, "overshoot": False,
               "cap_execution": False}
_BAND_KEYS = {"label": True, "min": True, "max": True}
#: Decimals a score may be rounded to: below the noise rounding of :func:`.rules.round_formula`.
MAX_DIGITS = 4
#: The columns of the funding block a roster may prefill (the budget), and the one the unit reports.
FUNDING_COLUMNS = (("budget_start", "年初预算数"), ("budget", "全年预算数"), ("executed", "全年执行数"))
#: At most this many empty indicator rows per 二级 on a blank form.
MAX_BLANK_ROWS = 20


@dataclass(frozen=True)
class FundingRow:
    """A row of the funding block: the first is the total (年度资金总额), the others its parts (其中)."""

    id: str
    label: str


@dataclass(frozen=True)
class Sublevel:
    """A 二级指标 (数量指标, 经济效益指标 …)."""

    id: str
    name: str


@dataclass(frozen=True)
class Level:
    """A 一级指标 with its points and its 二级 list."""

    id: str
    name: str
    points: Decimal
    sublevels: tuple[Sublevel, ...]


@dataclass(frozen=True)
class RuleSpec(Spec):
    """A spec of the rule-scored (national) family."""

    funding_label: str = "项目资金"
    funding_score_label: str = "预算执行率"  # what the roll-up calls the funding score's column
    funding_points: Decimal = Decimal(10)
    funding_rows: tuple[FundingRow, ...] = ()
    goals_label: str = "年度总体目标"
    goal_expected: str = "预期目标"
    goal_actual: str = "实际完成情况"
    levels: tuple[Level, ...] = ()
    blank_rows: int = 2
    rules: RuleSet = RuleSet()

    def level(self, level_id: str) -> Level:
        for lv in self.levels:
            if lv.id == level_id:
                return lv
        raise KeyError(level_id)

    def sublevel(self, sub_id: str) -> tuple[Level, Sublevel]:
        for lv in self.levels:
            for sub in lv.sublevels:
                if sub.id == sub_id:
                    return lv, sub
        raise KeyError(sub_id)


def funding_field_id(row: str, column: str) -> str:
    """The field id (and defined name) of a funding cell: ``fund_total_budget``."""
    return f"fund_{row}_{column}"


def body_fields(funding_rows: tuple[FundingRow, ...], goals: tuple[str, str], money_unit: str) -> tuple[Field, ...]:
    """The body's cells that act as fields: the funding amounts (a roster may prefill the budgets,
    never the executed amounts) and the two texts of 年度总体目标 (a roster may prefill 预期目标)."""
    out = []
    for row in funding_rows:
        for col, name in FUNDING_COLUMNS:
            out.append(Field(id=funding_field_id(row.id, col), label=f"{row.label}-{name}", type="money", min=Decimal(0),
                             help=f"单位为{money_unit}", prefillable=col != "executed"))
    out.append(Field(id="goal_expected", label=goals[0], type="longtext"))
    out.append(Field(id="goal_actual", label=goals[1], type="longtext", prefillable=False))
    return tuple(out)


def parse(data: Mapping[str, Any], ck: SpecChecker, total: Decimal | None) -> tuple[dict[str, Any], list[str]]:
    """The family's keys, and every id they declare (funding rows, 一级 and 二级)."""
    money_unit = ck.text(dict(data), "money_unit", "", required=False, limit=10) or "元"
    funding_label, score_label, points, rows = _funding(ck, data.get("funding"))
    goals_label, expected, actual = _goals(ck, data.get("goals"))
    levels = _levels(ck, data.get("levels"))
    blank = data.get("blank_rows", 2)
    if isinstance(blank, bool) or not isinstance(blank, int) or not 1 <= blank <= MAX_BLANK_ROWS:
        # a blank form needs a row under every 二级 (the unit fills them; a level of no row has no sums)
        ck.err("blank_rows", f"应为 1 至 {MAX_BLANK_ROWS} 的整数，这里是“{blank}”", blank)
        blank = 2
    rules = parse_rules(ck, data.get("rules"), "rules")
    psum = points + sum((lv.points for lv in levels), Decimal(0))
    if total is not None and levels and psum != total:
        ck.err("levels", f"资金分值 {plain_number(points)} 与各一级指标分值合计 {plain_number(psum)}，应为总分 "
                         f"{plain_number(total)}", psum)
    ids = [r.id for r in rows] + [lv.id for lv in levels] + [s.id for lv in levels for s in lv.sublevels]
    values = {
        "money_unit": money_unit, "funding_label": funding_label, "funding_score_label": score_label, "funding_points": points, "funding_rows": tuple(rows),
        "goals_label": goals_label, "goal_expected": expected, "goal_actual": actual, "levels": tuple(levels),
        "blank_rows": blank, "rules": rules, "body_fields": body_fields(tuple(rows), (expected, actual), money_unit),
    }
    return values, ids


def _funding(ck: SpecChecker, value: Any) -> tuple[str, str, Decimal, list[FundingRow]]:
    if not ck.keys(value, _FUNDING_KEYS, "funding"):
        return "项目资金", "预算执行率", Decimal(10), []
    label = ck.text(value, "label", "funding", required=False, limit=20) or "项目资金"
    score_label = ck.text(value, "score_label", "funding", required=False, limit=20) or "预算执行率"
    points = ck.number(value, "points", "funding") or Decimal(0)
    raw = value.get("rows")
    if not isinstance(raw, list) or not raw:
        ck.err("funding.rows", "至少要有资金行：先写总额（年度资金总额），再写其中各项", raw)
        return label, score_label, points, []
    rows = []
    for n, r in enumerate(raw):
        path = f"funding.rows[{n}]"
        if ck.keys(r, _FUNDING_ROW_KEYS, path):
            rows.append(FundingRow(ck.ident(r, path), ck.text(r, "label", path, limit=30)))
    if len(rows) == 1:
        ck.err("funding.rows", "只有总额一行无法核对：请在它后面列出其中各项", raw)
    return label, score_label, points, rows


def _goals(ck: SpecChecker, value: Any) -> tuple[str, str, str]:
    if not ck.keys(value, _GOALS_KEYS, "goals"):
        return "年度总体目标", "预期目标", "实际完成情况"
    return (ck.text(value, "label", "goals", required=False, limit=20) or "年度总体目标",
            ck.text(value, "expected", "goals", limit=30), ck.text(value, "actual", "goals", limit=30))


def _levels(ck: SpecChecker, value: Any) -> list[Level]:
    if not isinstance(value, list) or not value:
        ck.err("levels", "至少要有一个一级指标", value)
        return []
    out = []
    names: dict[str, str] = {}
    for n, raw in enumerate(value):
        path = f"levels[{n}]"
        if not ck.keys(raw, _LEVEL_KEYS, path):
            continue
        subs = []
        raw_subs = raw.get("sublevels")
        if not isinstance(raw_subs, list) or not raw_subs:
            ck.err(join_path(path, "sublevels"), "每个一级指标至少要有一个二级指标", raw_subs)
            raw_subs = []
        for k, rs in enumerate(raw_subs):
            spath = f"{path}.sublevels[{k}]"
            if ck.keys(rs, _SUBLEVEL_KEYS, spath):
                subs.append(Sublevel(ck.ident(rs, spath), ck.text(rs, "name", spath, limit=30)))
        level = Level(ck.ident(raw, path), ck.text(raw, "name", path, limit=30), ck.number(raw, "points", path) or Decimal(0),
                      tuple(subs))
        # The targets table names 一级 and 二级 by name: two of one name could not be told apart.
        for name, where in [(level.name, path)] + [(s.name, f"{path}.sublevels[{k}]") for k, s in enumerate(subs)]:
            if name and name in names:
                ck.err(join_path(where, "name"), f"名称“{name}”已被另一个一级或二级指标使用（指标目标表按名称对应，不能重名）", name)
            names.setdefault(name, where)
        out.append(level)
    return out


def parse_rules(ck: SpecChecker, data: Any, path: str = "rules") -> RuleSet:
    """A ``rules:`` mapping as a :class:`RuleSet`; a missing key takes the default."""
    if data is None:
        return RuleSet()
    if not ck.keys(data, _RULES_KEYS, path):
        return RuleSet()
    out: dict[str, Any] = {}
    if "digits" in data:
        d = data["digits"]
        if isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= MAX_DIGITS:
            ck.err(f"{path}.digits", f"应为 0 至 {MAX_DIGITS} 的整数，这里是“{d}”", d)
        else:
            out["digits"] = d
    for key, lo, lo_open, hi in (("reverse_zero", 1, True, None), ("reason_below", 0, False, 1), ("overshoot", 1, True, None)):
        if key in data:
            n = _bounded(ck, data[key], f"{path}.{key}", Decimal(lo), lo_open, None if hi is None else Decimal(hi))
            if n is not None:
                out[key] = n
    if "cap_execution" in data:
        if isinstance(data["cap_execution"], bool):
            out["cap_execution"] = data["cap_execution"]
        else:
            ck.err(f"{path}.cap_execution", f"应为 是 或 否（true 或 false），这里是“{data['cap_execution']}”", data["cap_execution"])
    if "qualitative" in data:
        bands = _bands(ck, data["qualitative"], f"{path}.qualitative")
        if bands:
            out["qualitative"] = bands
    return RuleSet(**out)


def rules_from_dict(data: Any, path: str = "rules", source: str = "<spec>") -> RuleSet:
    """Check a ``rules:`` mapping alone; raises :class:`SpecError` listing every problem with its key path."""
    ck = SpecChecker()
    if data is not None and not isinstance(data, dict):
        raise SpecError(source, [Problem(path, f"应为一组“键: 值”（映射），这里是{kind_name(data)}", data)])
    rules = parse_rules(ck, data, path)
    if ck.problems:
        raise SpecError(source, ck.problems)
    return rules


def _bounded(ck: SpecChecker, value: Any, path: str, lo: Decimal, lo_open: bool, hi: Decimal | None) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        ck.err(path, f"应为数字，这里是{kind_name(value)}", value)
        return None
    try:
        d = Decimal(str(value).strip())
    except ArithmeticError:
        d = Decimal("NaN")
    if not d.is_finite():
        ck.err(path, f"“{value}” 不是数字", value)
        return None
    if (d <= lo if lo_open else d < lo) or (hi is not None and d > hi):
        where = f"大于 {lo}" if lo_open else f"不小于 {lo}"
        ck.err(path, f"{value} 不合适：应{where}" + (f"且不大于 {hi}" if hi is not None else ""), value)
        return None
    return d


def _bands(ck: SpecChecker, value: Any, path: str) -> tuple[Band, ...]:
    if not isinstance(value, list) or not value:
        ck.err(path, "至少要有一档（完成情况、最低、最高）", value)
        return ()
    out: list[Band] = []
    seen: dict[str, int] = {}
    for n, raw in enumerate(value):
        p = f"{path}[{n}]"
        if not isinstance(raw, dict):
            ck.err(p, f"每一档应有 label、min、max，这里是{kind_name(raw)}", raw)
            continue
        ck.keys(raw, _BAND_KEYS, p)
        ok = all(k in raw for k in _BAND_KEYS)
        label = raw.get("label")
        if "label" in raw:
            if not isinstance(label, str) or not label.strip():
                ck.err(f"{p}.label", EMPTY, label)
                ok = False
            elif "," in label or '"' in label:
                ck.err(f"{p}.label", "不能含英文逗号或双引号（Excel 下拉列表的限制）", label)
                ok = False
            elif label.strip() in KINDS:
                ck.err(f"{p}.label", f"“{label}”是指标性质，不是完成情况", label)
                ok = False
            elif label.strip().lower() in seen:
                ck.err(f"{p}.label", f"“{label}”与前面的“{value[seen[label.strip().lower()]]['label']}”重复（Excel 比较文字时不分大小写）", label)
                ok = False
            else:
                seen[label.strip().lower()] = n
        low, high = (_bounded(ck, raw[k], f"{p}.{k}", Decimal(0), False, Decimal(1)) if k in raw else None for k in ("min", "max"))
        if low is not None and high is not None and low > high:
            ck.err(f"{p}.min", f"最低 {low} 大于最高 {high}", low)
            ok = False
        if ok and low is not None and high is not None and isinstance(label, str):
            out.append(Band(label.strip(), low, high))
    if len(",".join(seen)) > MAX_LIST_SOURCE:
        ck.err(path, f"各档名称连起来超过 {MAX_LIST_SOURCE} 个字符（Excel 下拉列表的限制）", value)
    return tuple(out)


@dataclass(frozen=True)
class Target:
    """One indicator of a project's approved targets (绩效目标表), as a workbook records it.

    ``target`` is the 年度指标值: a number for ≥ ≤ =, a text for 定性; ``points`` the 分值.
    """

    level: str  # 一级 id
    sublevel: str  # 二级 id
    name: str  # 三级指标
    kind: str  # ≥ ≤ = 定性
    unit: str  # 计量单位
    target: Decimal | str
    points: Decimal

    def record(self) -> dict[str, str]:
        """The plain mapping of texts a workbook's metadata holds (canonical JSON, signed)."""
        target = plain_number(self.target) if isinstance(self.target, Decimal) else self.target
        return {"level": self.level, "sublevel": self.sublevel, "name": self.name, "kind": self.kind, "unit": self.unit,
                "target": target, "points": plain_number(self.points)}

    @classmethod
    def from_record(cls, spec: RuleSpec, rec: Mapping[str, Any]) -> "Target":
        """A recorded target back; raises ValueError for one this spec cannot hold (an edited record)."""
        if RECORD_IN_LINE and type(rec) is dict:
            got = _in_line(cls, spec, rec)
            if got is not None:
                return got
        if not isinstance(rec, Mapping):
            raise ValueError("not a mapping")
        texts = {k: rec.get(k) for k in ("level", "sublevel", "name", "kind", "unit", "target", "points")}
        if not all(isinstance(v, str) for v in texts.values()):
            raise ValueError("a target's values are texts")
        level, sub = spec.sublevel(str(texts["sublevel"]))  # KeyError is a ValueError's cousin: caught below
        if level.id != texts["level"] or texts["kind"] not in KINDS:
            raise ValueError("an unknown 一级 or 指标性质")
        try:
            points = Decimal(str(texts["points"]))
            target: Decimal | str = str(texts["target"]) if texts["kind"] == KINDS[3] else Decimal(str(texts["target"]))
        except ArithmeticError as exc:
            raise ValueError("a number that is not one") from exc
        if not points.is_finite() or points < 0 or (isinstance(target, Decimal) and not target.is_finite()):
            raise ValueError("a number out of range")
        return cls(level.id, sub.id, str(texts["name"]), str(texts["kind"]), str(texts["unit"]), target, points)


#: :meth:`Target.from_record` of a plain dict whose seven values are exact texts (what a workbook's JSON gives), an
#: indicator a valid spec holds with finite numbers, in straight lines: its 二级 found in a dict by id made once per
#: spec's levels (the first level holding it, as :meth:`RuleSpec.sublevel` finds), the Target made without its frozen
#: constructor (its fields set in their order, as ``__init__`` sets them). Any other record, or one it refuses, goes
#: the way below, which gives the error; :func:`targets_of` reads a return's records so (:func:`_all_in_line`), or, when
#: any is not such, each by :meth:`Target.from_record`. False: every record the way below (the tests compare).
RECORD_IN_LINE = True
_KIND_SET = frozenset(KINDS)


def _sublevels(spec: RuleSpec) -> dict[str, tuple[str, str]]:
    """二级 id → (一级 id, 二级 id), the first level holding it first (:meth:`RuleSpec.sublevel`)."""
    def make() -> dict[str, tuple[str, str]]:
        out: dict[str, tuple[str, str]] = {}
        for lv in spec.levels:
            for sub in lv.sublevels:
                out.setdefault(sub.id, (lv.id, sub.id))
        return out
    return derived(spec.levels, "sublevels by id", make)


def _in_line(cls: type[Target], spec: RuleSpec, rec: dict[str, Any]) -> Target | None:
    return _plain(cls, rec, _sublevels(spec).get)


def _plain(cls: type[Target], rec: dict[str, Any], ids_of: Any) -> Target | None:
    """:func:`_in_line` of ``rec``, the spec's 二级 look-up given (``_sublevels(spec).get``)."""
    get = rec.get
    level, sublevel, name, kind, unit, target, points = (get("level"), get("sublevel"), get("name"), get("kind"),
                                                         get("unit"), get("target"), get("points"))
    if not (type(level) is str and type(sublevel) is str and type(name) is str and type(kind) is str
            and type(unit) is str and type(target) is str and type(points) is str):
        return None
    ids = ids_of(sublevel)
    if ids is None or ids[0] != level or kind not in _KIND_SET:
        return None
    try:
        pts = Decimal(points)
        value: Decimal | str = target if kind == KINDS[3] else Decimal(target)
    except ArithmeticError:
        return None
    if not pts.is_finite() or pts < 0 or (type(value) is Decimal and not value.is_finite()):
        return None
    out = object.__new__(cls)
    out.__dict__.update(level=ids[0], sublevel=ids[1], name=name, kind=kind, unit=unit, target=value, points=pts)
    return out


def targets_of(spec: RuleSpec, records: Any) -> tuple[Target, ...] | None:
    """The targets a workbook records (None when it records none); raises ValueError for damaged ones."""
    if records is None:
        return None
    if not isinstance(records, (list, tuple)) or not records:
        raise ValueError("expected a non-empty list of targets")
    if RECORD_IN_LINE:
        made = _all_in_line(spec, records)
        if made is not None:
            return made
    try:
        return tuple(Target.from_record(spec, r) for r in records)
    except KeyError as exc:
        raise ValueError(f"unknown 二级 {exc}") from exc


# (A memo of the targets read, by the spec and a record's seven texts, was measured not to pay and is gone: a real
# bureau's projects each have their own indicators (the honest corpus: 31,944 distinct records of 32,904), so a
# 4,096-entry memo was always full, dropped one entry a target and almost never hit; with it, the 30 targets of a large
# return took 207 us against 132 us without, read by the record alone (CPU, load 4.1). Validation reads a return's
# targets once (its layout; twice when its shape is laid out for the first time), so little within a return asks
# again either.)


def _all_in_line(spec: RuleSpec, records: list[Any] | tuple[Any, ...]) -> tuple[Target, ...] | None:
    """:func:`targets_of` of records that are all :data:`RECORD_IN_LINE`'s (plain dicts of seven exact texts, an
    indicator a valid spec holds with finite numbers), each as :func:`_in_line` makes it, the spec's 二级 look-up
    asked once for all; None when any record is not such (then each is read by :meth:`Target.from_record`, which
    gives the same targets, or the error)."""
    ids_of = _sublevels(spec).get
    out = []
    for rec in records:
        t = _plain(Target, rec, ids_of) if type(rec) is dict else None
        if t is None:
            return None
        out.append(t)
    return tuple(out)
