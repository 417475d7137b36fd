"""Remake samples/national/: the targets table and the returns of the projects in roster.csv.

    python samples/national/make_national.py      # needs LibreOffice (soffice) for the re-saved files
    (samples/make_samples.py runs it after the Shanghai samples)

``targets.csv`` is each project's 绩效目标表: from 3 indicators (N06: one per 一级) to 30 (N03),
every rule (≥ ≤ = 定性), 分值 adding up to each 一级's points. ``returns/`` holds what the projects
sent back, filled as a person would: all four grades (优 良 中 差), text-shaped values that are
normalised with a warning (N02), an overshoot of 130 % without 偏差原因 (N03), a qualitative score
outside its band (N04), funding parts that do not add up (N05), a target changed after unprotecting
the sheet (N07), a first draft without a 偏差原因 replaced by the corrected file (N09), some saved
through LibreOffice, and one project (N08) that never returned. Everything follows from a fixed seed.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import shutil
import sys
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from tools.soffice import convert  # noqa: E402
from xltemplate.catalog import load_spec, templates_dir  # noqa: E402
from xltemplate.families.rule_scored.layout import Layout  # noqa: E402
from xltemplate.families.rule_scored import rules as R  # noqa: E402
from xltemplate.form.generate import generate_workbook  # noqa: E402
from xltemplate.roster import read_roster  # noqa: E402
from xltemplate.targets import read_targets  # noqa: E402

OUT = HERE / "returns"
SPEC = templates_dir() / "cn-project-self-eval.yaml"
MISSING = {"N08"}
RESAVED = {"N01", "N06", "N10", "N12"}
#: How well each project did (1: every target met): the grades come out 优 良 中 差.
PERFORMANCE = {"N01": 1.0, "N02": 0.97, "N03": 1.0, "N04": 0.9, "N05": 0.95, "N06": 0.88, "N07": 0.96, "N09": 0.8,
               "N10": 0.72, "N11": 0.45, "N12": 1.0}
EXECUTION = {"N01": 0.99, "N02": 0.96, "N03": 1.0, "N04": 0.92, "N05": 0.97, "N06": 0.9, "N07": 0.95, "N09": 0.86,
             "N10": 0.7, "N11": 0.55, "N12": 1.0}
COUNTS = {"N01": 12, "N02": 8, "N03": 30, "N04": 10, "N05": 15, "N06": 3, "N07": 18, "N08": 6, "N09": 9, "N10": 20,
          "N11": 5, "N12": 24}
FILE_NAMES = {
    "N01": "公路中心-农村公路养护-自评表.xlsx", "N02": "教育装备中心 校舍维修 自评.xlsx", "N03": "附件3-项目支出绩效自评表.xlsx",
    "N04": "职业技能鉴定中心.xlsx", "N05": "农田水利-自评(定稿).xlsx", "N06": "群众艺术馆_免费开放.xlsx",
    "N07": "环卫处垃圾分类自评表.xlsx", "N09": "科技创新服务中心-创新补助.xlsx", "N10": "环境监测站 自评.xlsx",
    "N11": "食品药品检验所.xlsx", "N12": "大数据中心-政务平台运维.xlsx",
}
# (二级 id, name, kind, unit, target) pools, drawn in order
POOL: dict[str, list[tuple[str, str, str, Any]]] = {
    "quantity": [("完成项目数量", "≥", "个", 12), ("服务人次", "≥", "人次", 5000), ("覆盖乡镇数", "≥", "个", 18),
                 ("培训场次", "≥", "场", 40), ("设备购置数量", "=", "台", 25), ("新增服务点", "≥", "个", 6)],
    "quality": [("验收合格率", "≥", "%", 95), ("问题整改率", "≥", "%", 100), ("设备完好率", "≥", "%", 98),
                ("质量投诉件数", "≤", "件", 5), ("资料归档规范性", "定性", "", "规范完整")],
    "timeliness": [("项目完成时限", "≤", "天", 300), ("资金拨付及时率", "≥", "%", 100), ("响应时间", "≤", "小时", 24)],
    "cost": [("项目成本控制", "≤", "万元", 1200), ("单位服务成本", "≤", "元", 80), ("超概算比例", "≤", "%", 5)],
    "economic": [("带动社会投资", "≥", "万元", 500), ("节约运行成本", "≥", "万元", 60)],
    "social": [("受益群众人数", "≥", "人", 20000), ("社会公众知晓度", "定性", "", "明显提高"), ("安全事故发生数", "=", "起", 0)],
    "ecological": [("节能减排量", "≥", "吨", 300), ("生态环境改善", "定性", "", "有所改善")],
    "sustainable": [("长效管理机制建设", "定性", "", "健全有效"), ("设施持续使用年限", "≥", "年", 10)],
    "served": [("服务对象满意度", "≥", "%", 90), ("群众满意度调查", "定性", "", "满意")],
}
ORDER = [("output", ["quantity", "quality", "timeliness", "cost"], 50), ("benefit", ["economic", "social", "ecological", "sustainable"], 30),
         ("satisfaction", ["served"], 10)]
LEVEL_NAMES = {"output": "产出指标", "benefit": "效益指标", "satisfaction": "满意度指标"}
SUB_NAMES = {"quantity": "数量指标", "quality": "质量指标", "timeliness": "时效指标", "cost": "成本指标", "economic": "经济效益指标",
             "social": "社会效益指标", "ecological": "生态效益指标", "sustainable": "可持续影响指标", "served": "服务对象满意度指标"}


def split(points: int, n: int) -> list[Decimal]:
    """``points`` in ``n`` parts, whole or half points, adding up exactly."""
    base = Decimal(points * 2 // n) / 2
    parts = [base] * n
    parts[0] += Decimal(points) - base * n
    return parts


def targets_for(key: str, count: int) -> list[tuple[str, str, str, str, str, Any, Decimal]]:
    """(level, sub, name, kind, unit, target, points) for a project with ``count`` indicators."""
    rng = random.Random(f"national-targets-{key}")
    shares = {"output": max(1, round(count * 0.6)), "satisfaction": 1 if count < 8 else 2}
    shares["benefit"] = max(1, count - shares["output"] - shares["satisfaction"])
    shares["output"] = count - shares["benefit"] - shares["satisfaction"]
    out = []
    for level, subs, points in ORDER:
        n = shares[level]
        picked: list[tuple[str, tuple[str, str, str, Any]]] = []
        k = 0
        while len(picked) < n:
            sub = subs[k % len(subs)]
            pool = POOL[sub]
            taken = sum(1 for s, _ in picked if s == sub)
            name, kind, unit, target = pool[taken % len(pool)]
            if taken >= len(pool):
                name = f"{name}（{taken // len(pool) + 1}期）"
            picked.append((sub, (name, kind, unit, target)))
            k += 1
        for (sub, (name, kind, unit, target)), pts in zip(picked, split(points, n)):
            if kind != "定性" and target:
                target = target * rng.choice((1, 1, 2)) if unit not in ("%",) else target
            out.append((level, sub, name, kind, unit, target, pts))
    return out


def write_targets(keys: list[str]) -> None:
    with open(HERE / "targets.csv", "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh, lineterminator="\r\n")
        w.writerow(["编号", "一级指标", "二级指标", "三级指标", "指标性质", "计量单位", "年度指标值", "分值"])
        for key in keys:
            for level, sub, name, kind, unit, target, pts in targets_for(key, COUNTS[key]):
                w.writerow([key, LEVEL_NAMES[level], SUB_NAMES[sub], name, kind, unit, target, f"{pts:g}"])


def actuals(layout: Layout, key: str, rng: random.Random) -> dict[str, Any]:
    """The unit's figures: each result at its project's performance, 偏差原因 where points are lost."""
    perf = PERFORMANCE[key]
    rules = layout.spec.rules
    values: dict[str, Any] = {}
    for r in layout.rows:
        t = r.target
        assert t is not None
        f = perf if rng.random() < 0.7 else min(1.0, perf + 0.1)
        if t.kind == R.QUALITATIVE:
            band = rules.qualitative[0] if f >= 0.9 else rules.qualitative[1] if f >= 0.6 else rules.qualitative[2]
            score = (band.low + (band.high - band.low) * Decimal(str(min(f, 1.0)))) * t.points
            values[r.actual.name] = band.label
            given = t.points if f >= 0.97 else R.round_score(min(score, band.high * t.points), 1)
            values[r.given.name] = float(given)
            met = given >= t.points
        else:
            a = t.target if isinstance(t.target, Decimal) else Decimal(0)
            if t.kind == R.AT_MOST:
                b = a * Decimal(str(2 - f)) if f < 1 else a * Decimal("0.9")
            elif a == 0:
                b = Decimal(0) if f >= 0.9 else Decimal(1)
            else:
                b = a * Decimal(str(f))
            values[r.actual.name] = float(round(b, 1))
            met = R.score(t.kind, a, round(b, 1), t.points, rules) == t.points
        if not met:
            values[r.reason.name] = rng.choice(["受天气和工期影响，部分工作顺延至次年，已制定赶工计划。", "项目审批手续办理时间较长，下年度提前启动。",
                                                 "实际需求低于预期，下年度将合理调整指标值。", "部分资金到位较晚，影响实施进度，将加强资金调度。"])
    return values


def unit_values(layout: Layout, key: str, prefill: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    ex = Decimal(str(EXECUTION[key]))
    values: dict[str, Any] = {
        "fld_manager": rng.choice(["张明", "李华", "王芳", "刘强", "陈静", "杨帆"]),
        "fld_phone": f"0{rng.randint(10, 99)}-{rng.randint(60000000, 89999999)}",
        "goal_expected": None,
        "goal_actual": "按计划推进项目实施，完成年度主要建设和服务任务，资金使用规范，群众获得感进一步增强。",
    }
    del values["goal_expected"]
    for fs in layout.funding:
        budget = prefill.get(fs.budget.name)
        if isinstance(budget, Decimal):
            values[fs.executed.name] = float((budget * ex).quantize(Decimal("0.01")))
    values.update(actuals(layout, key, rng))
    return values


def main() -> None:
    spec = load_spec(SPEC)
    roster = read_roster(HERE / "roster.csv", spec)
    write_targets([r.key for r in roster.rows])
    table = read_targets(HERE / "targets.csv", spec, roster)
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir()
    work = Path(tempfile.mkdtemp(prefix="xlt-national-"))
    to_resave: list[tuple[Path, Path]] = []
    for n, row in enumerate(roster.rows):
        key = row.key
        if key in MISSING:
            continue
        targets = table.by_key[key]
        layout = Layout(spec, targets)  # type: ignore[arg-type]
        rng = random.Random(f"xltemplate-national-{key}")
        sent = dt.datetime(2021, 3, 1, 9, tzinfo=dt.timezone.utc)
        values = unit_values(layout, key, row.prefill, rng)
        rows = list(layout.rows)
        if key == "N02":  # typed as people type: normalised with warnings, still valid
            fs = layout.funding_total
            values[fs.executed.name] = f"{values[fs.executed.name]:,.2f} 万元"
            pct = next(r for r in rows if r.target is not None and r.target.unit == "%")
            values[pct.actual.name] = f"{values[pct.actual.name]:g}%"
            other = next(r for r in rows if r.target is not None and r.target.unit not in ("%", "") and r is not pct)
            values[other.actual.name] = f"{values[other.actual.name]:g}".translate(str.maketrans("0123456789", "０１２３４５６７８９")) + other.target.unit  # type: ignore[union-attr]
        if key == "N03":  # a ≥ result at 150 % of its target, no 偏差原因
            ge = next(r for r in rows if r.target is not None and r.target.kind == "≥" and isinstance(r.target.target, Decimal) and r.target.target > 0)
            values[ge.actual.name] = float(ge.target.target * Decimal("1.5"))  # type: ignore[union-attr,operator]
            values.pop(ge.reason.name, None)
        if key == "N04":  # a qualitative score outside the band chosen
            q = next(r for r in rows if r.target is not None and r.target.kind == "定性")
            values[q.actual.name] = spec.rules.qualitative[0].label
            values[q.given.name] = float(q.target.points * Decimal("0.5"))  # type: ignore[union-attr]
        if key == "N05":  # 其中 parts that do not add up: 当年财政拨款 typed for the whole
            values[layout.funding[1].executed.name] = values[layout.funding_total.executed.name]
        dest = OUT / FILE_NAMES[key]
        saved = sent + dt.timedelta(days=30, hours=5 * n)
        src = work / dest.name if key in RESAVED else dest
        generate_workbook(spec, src, prefill=row.prefill, values=values, roster_key=key, generated_at=sent, targets=targets)
        if key in RESAVED:
            to_resave.append((src, dest))
        if key == "N07":  # a target lowered after unprotecting the sheet, so that it is met
            import openpyxl

            from samples.make_samples import save_keeping_time

            r0 = next(r for r in rows if r.target is not None and r.target.kind == "≥" and r.target.unit != "%"
                      and values[r.actual.name] < float(r.target.target))  # type: ignore[arg-type]
            wb = openpyxl.load_workbook(dest)
            ws = wb[spec.sheet]
            ws.protection.sheet = False
            ws[r0.target_cell.a1] = float(values[r0.actual.name])
            save_keeping_time(wb, dest, saved)
        if key == "N09":  # the first draft: a 偏差原因 missing; the corrected file came five days later
            draft = {k: v for k, v in values.items() if not k.endswith("_reason")}
            generate_workbook(spec, OUT / "科技创新服务中心-创新补助（初稿）.xlsx", prefill=row.prefill, values=draft, roster_key=key, targets=targets,
                              generated_at=sent - dt.timedelta(days=5))
    if to_resave:
        outs = convert([s for s, _ in to_resave], work / "lo")
        for out, (_, dest) in zip(outs, to_resave):
            shutil.move(str(out), dest)
    shutil.rmtree(work, ignore_errors=True)
    for p in sorted(OUT.iterdir()):
        print(f"{p.stat().st_size:>8}  {p.name}")


if __name__ == "__main__":
    main()
