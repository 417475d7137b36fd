"""A targets table (绩效目标表) checked against a national spec: each project's indicators.

Columns (Chinese or English ids): 编号 (key), 一级指标 (level), 二级指标 (sublevel), 三级指标 (name),
指标性质 (kind), 计量单位 (unit), 年度指标值 (target), 分值 (points). Every problem is named by row
and column, in Chinese; :mod:`xltemplate.targets` reads the file and checks it against the roster.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from decimal import Decimal
from typing import Any

from ...errors import Problem
from ...form.layout import Targets
from ...text import did_you_mean, plain_number
from ...values import Parsed, is_blank, parse_measure, parse_number
from .rules import AT_LEAST, AT_MOST, EQUAL, KINDS, QUALITATIVE
from .spec import Level, RuleSpec, Sublevel, Target

#: Column id → the headers that name it (the first is the one messages use).
COLUMNS = {
    "key": ("编号", "key"), "level": ("一级指标", "level"), "sublevel": ("二级指标", "sublevel"),
    "name": ("三级指标", "name"), "kind": ("指标性质", "kind"), "unit": ("计量单位", "unit"),
    "target": ("年度指标值", "target"), "points": ("分值", "points"),
}
REQUIRED = ("key", "level", "sublevel", "name", "kind", "target", "points")
#: How people write a 指标性质 (after NFKC: full-width ＞＝ is >=).
KIND_ALIASES = {
    "≥": AT_LEAST, ">=": AT_LEAST, "正向": AT_LEAST, "正向指标": AT_LEAST,
    "≤": AT_MOST, "<=": AT_MOST, "反向": AT_MOST, "反向指标": AT_MOST,
    "=": EQUAL, "等于": EQUAL, "定性": QUALITATIVE, "定性指标": QUALITATIVE,
}
#: The most indicators one project may have: the metadata keeps them in one cell.
MAX_TARGETS = 100
#: Read each distinct text of 年度指标值 (with its unit) and of 分值 once a table: a bureau's table repeats them (the
#: bench's 1,000 projects: 16,420 rows, a few hundred distinct texts), and parsing them was a third of reading it
#: (0.37 -> 0.29 s CPU, medians of 6 alternating runs; read before generate starts its workers). The outcomes are immutable named tuples, keyed by
#: the whole text; a cell that is not text is parsed each time. False: every cell parsed.
REMEMBER_PARSED = True


def _cell(rec: list[Any], n: int | None) -> Any:
    return rec[n] if n is not None and n < len(rec) else None


def _text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def read(spec: RuleSpec, header: list[str], records: list[tuple[int, list[Any]]]) -> tuple[dict[str, Targets], list[Problem]]:
    """Each key's targets (records, in the table's order within each 二级) and every problem."""
    problems: list[Problem] = []
    names = {h: cid for cid, hs in COLUMNS.items() for h in hs}
    where: dict[str, int] = {}
    for n, h in enumerate(header):
        if not h:
            continue
        cid = names.get(h) or names.get(h.lower())
        if cid is None:
            hint = did_you_mean(h, list(names), cutoff=0.5)
            extra = f"是否想写“{hint}”？" if hint else f"列应为：{'、'.join(hs[0] for hs in COLUMNS.values())}"
            problems.append(Problem(f"第 1 行，“{h}”列", f"不是指标目标表的列；{extra}"))
        elif cid in where:
            problems.append(Problem(f"第 1 行，“{h}”列", f"“{COLUMNS[cid][0]}”已由第 {where[cid] + 1} 列给出；请删除其中一列"))
        else:
            where[cid] = n
    missing = [COLUMNS[c][0] for c in REQUIRED if c not in where]
    if missing:
        problems.append(Problem("第 1 行", f"缺少列：{'、'.join(missing)}（现有的列：{'、'.join(h for h in header if h) or '无'}）"))
        return {}, problems
    head = {cid: header[n] for cid, n in where.items()}
    levels = {lv.name: lv for lv in spec.levels} | {lv.id: lv for lv in spec.levels}
    by_key: dict[str, list[Target]] = defaultdict(list)
    lines: dict[str, dict[str, int]] = defaultdict(dict)  # key → 三级 name → first line
    measures: dict[tuple[str, str], Parsed] = {}
    numbers: dict[str, Parsed] = {}
    for line, rec in records:
        if all(is_blank(v) for v in rec):
            continue
        cells = {cid: _cell(rec, where.get(cid)) for cid in COLUMNS}

        def bad(cid: str, message: str) -> None:
            problems.append(Problem(f"第 {line} 行，“{head.get(cid, COLUMNS[cid][0])}”列", message))

        key = _text(cells["key"])
        if not key:
            bad("key", "编号为空；请填写项目编号（与名单相同），或删除这一行")
            continue
        level, sub = _level(spec, levels, cells, bad)
        name = _text(cells["name"])
        if not name:
            bad("name", "三级指标名称为空；请填写")
        elif len(name) > 200:
            bad("name", f"三级指标名称有 {len(name)} 个字，最多 200 个")
        elif name in lines[key]:
            bad("name", f"编号“{key}”的三级指标“{name}”与第 {lines[key][name]} 行重复；同一项目的三级指标名称不能相同")
        else:
            lines[key][name] = line
        kind = KIND_ALIASES.get(unicodedata.normalize("NFKC", _text(cells["kind"])).replace(" ", ""))
        if kind is None:
            bad("kind", f"指标性质“{_text(cells['kind'])}”无法识别；应为 {'、'.join(KINDS)} 之一")
        unit = unicodedata.normalize("NFKC", _text(cells["unit"]))
        if len(unit) > 20:
            bad("unit", f"计量单位有 {len(unit)} 个字，最多 20 个")
        target: Decimal | str = _text(cells["target"])
        if kind == QUALITATIVE:
            if not target:
                bad("target", "定性指标的年度指标值为空；请填写目标的文字描述")
        elif kind is not None:
            raw = cells["target"]
            found = measures.get((raw, unit)) if REMEMBER_PARSED and type(raw) is str else None
            parsed = found if found is not None else parse_measure(raw, unit)
            if found is None and REMEMBER_PARSED and type(raw) is str:
                measures[(raw, unit)] = parsed
            if not parsed.ok or parsed.value is None:
                bad("target", f"{parsed.error or '年度指标值为空'}（{kind} 指标的年度指标值须为数字）")
            else:
                target = parsed.value
        raw = cells["points"]
        known = numbers.get(raw) if REMEMBER_PARSED and type(raw) is str else None
        points = known if known is not None else parse_number(raw, "number")
        if known is None and REMEMBER_PARSED and type(raw) is str:
            numbers[raw] = points
        if not points.ok or points.value is None or points.value < 0:
            bad("points", f"{points.error or '分值为空'}（分值须为不小于 0 的数字）" if not points.ok or points.value is None
                else "分值不能为负数")
        if level is None or sub is None or kind is None or not name or not points.ok or points.value is None:
            continue
        if isinstance(target, str) and kind != QUALITATIVE:
            continue
        by_key[key].append(Target(level.id, sub.id, name, kind, unit, target, points.value))
    out: dict[str, Targets] = {}
    for key, targets in by_key.items():
        if len(targets) > MAX_TARGETS:
            problems.append(Problem(f"编号“{key}”", f"有 {len(targets)} 个指标，超过上限 {MAX_TARGETS} 个"))
        for lv in spec.levels:
            total = sum((t.points for t in targets if t.level == lv.id), Decimal(0))
            if total != lv.points:
                problems.append(Problem(f"编号“{key}”，“{head['points']}”列",
                                        f"“{lv.name}”各指标分值合计为 {plain_number(total)}，应为 {plain_number(lv.points)} 分"))
        # the workbook's rows follow the spec's order of 二级, the table's order within each
        order = {s.id: n for n, s in enumerate(s for lv in spec.levels for s in lv.sublevels)}
        out[key] = tuple(t.record() for t in sorted(targets, key=lambda t: order[t.sublevel]))
    return out, problems


def _level(spec: RuleSpec, levels: dict[str, Level], cells: dict[str, Any], bad: Any) -> tuple[Level | None, Sublevel | None]:
    lname, sname = _text(cells["level"]), _text(cells["sublevel"])
    level = levels.get(lname)
    if level is None:
        hint = did_you_mean(lname, [lv.name for lv in spec.levels], cutoff=0.4)
        bad("level", f"一级指标“{lname}”不在模板中" + (f"；是否想写“{hint}”？" if hint else f"；应为 {'、'.join(lv.name for lv in spec.levels)} 之一"))
        return None, None
    subs = {s.name: s for s in level.sublevels} | {s.id: s for s in level.sublevels}
    sub = subs.get(sname)
    if sub is None:
        hint = did_you_mean(sname, [s.name for s in level.sublevels], cutoff=0.4)
        bad("sublevel", f"二级指标“{sname}”不在“{level.name}”下" + (f"；是否想写“{hint}”？" if hint else f"；应为 {'、'.join(s.name for s in level.sublevels)} 之一"))
    return level, sub
