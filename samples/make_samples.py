"""Remake samples/returns/: the returns of the units in samples/roster.csv; then samples/national/.

    python samples/make_samples.py            # needs LibreOffice (soffice) for the re-saved files

(The national form's samples are made by samples/national/make_national.py, which this runs last.)

Each return is the unit's generated workbook filled in as a person would
(the bureau's prefill from the roster, the unit's own figures), some saved
through LibreOffice. The mix: most units valid across all four grades, the
seed's real unit (SH001) with its real figures, typical mistakes, one
resubmission, one return from another template, a byte-identical duplicate,
an Excel lock file, and two units (SH016, SH019) that never returned.
Everything is derived from a fixed random seed, so a rerun gives the same figures.
"""

from __future__ import annotations

import datetime as dt
import random
import shutil
import sys
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from xltemplate.form.generate import generate_workbook  # noqa: E402
from xltemplate.families.self_scored.layout import Layout  # noqa: E402
from xltemplate.roster import read_roster  # noqa: E402
from tools.soffice import convert  # noqa: E402
from xltemplate.catalog import load_spec, spec_from_dict, templates_dir  # noqa: E402

OUT = HERE / "returns"
MISSING = {"SH016", "SH019"}
RESAVED = {"SH003", "SH004", "SH008", "SH012", "SH017", "SH011"}  # through LibreOffice
# Target totals: all four grades, most units good.
TARGETS = {
    "SH002": 93, "SH003": 88.5, "SH004": 91, "SH005": 78, "SH006": 95, "SH007": 72, "SH008": 97.5,
    "SH009": 90, "SH010": 84, "SH011": 86, "SH012": 62.5, "SH013": 80, "SH014": 55, "SH015": 92,
    "SH017": 76, "SH018": 89.5, "SH020": 94,
}
FILE_NAMES = {
    "SH001": "附件1-上海市中小企业发展服务中心-企业服务专项-自评表.xlsx",
    "SH002": "SH002 经济信息中心 绩效自评.xlsx",
    "SH003": "附件1-最终版(2).xlsx",
    "SH004": "质检院-重点产品质量监督抽检-自评.xlsx",
    "SH005": "信息中心_政务外网_自评表.xlsx",
    "SH006": "节能监察中心自评表 (已填).xlsx",
    "SH007": "无线电监测站.xlsx",
    "SH008": "工业互联网平台培育 绩效自评 🚀.xlsx",
    "SH009": "化工区服务中心-自评.xlsx",
    "SH010": "需求侧管理中心.xlsx",
    "SH011": "发展研究中心-产业政策课题研究.xlsx",
    "SH012": "软件评测中心 自评.xlsx",
    "SH013": "浦东分中心.xlsx",
    "SH014": "工经联秘书处-企业家培训.xlsx",
    "SH015": "信息安全测评认证中心.xlsx",
    "SH017": "新材料首批次 自评表.xlsx",
    "SH018": "生产性服务业促进中心.xlsx",
    "SH020": "都市工业园区改造补贴-自评.xlsx",
}
OTHER_TEMPLATE = {
    "id": "sh-dept-overall-eval", "version": "2020.1", "title": "部门整体支出绩效自评表", "sheet": "部门整体自评",
    "fields": [
        {"id": "unit", "label": "预算单位", "type": "text", "required": True},
        {"id": "grade", "label": "绩效等级", "type": "text", "compute": "grade"},
    ],
    "categories": [
        {"id": "plan", "name": "预算编制", "points": 40, "indicators": [
            {"id": "plan_quality", "name": "预算编制质量", "weight": 40}]},
        {"id": "exec", "name": "预算执行", "points": 60, "indicators": [
            {"id": "exec_rate", "name": "预算执行率", "weight": 60}]},
    ],
    "grades": [{"label": "优秀", "min": 90}, {"label": "良好", "min": 75}, {"label": "合格", "min": 60}, {"label": "不合格", "min": 0}],
}
ACHIEVEMENTS = ["按计划完成年度主要工作任务", "服务对象覆盖面进一步扩大", "资金使用规范，专款专用", "形成了可复制推广的工作机制",
                "完成阶段性验收并通过专家评审", "服务效率和质量明显提升"]
PROBLEMS = ["绩效目标设置有待进一步细化", "部分项目进度滞后于计划", "成果统计和归档不够及时", "跨部门协同机制有待加强"]
MEASURES = ["细化绩效目标，完善指标体系", "加强项目进度管理，按月跟踪", "及时开展验收和成果统计", "建立定期沟通协调机制"]


def scores_for(layout: Layout, target: Decimal, rng: random.Random) -> dict[str, float]:
    """Scores on the applicable indicators adding up to ``target``: points lost spread at random, in halves."""
    rows = [r for r in layout.rows if r.indicator is not None and r.spec_weight]
    scores = {r.score.name: r.spec_weight for r in rows}
    lost = Decimal(100) - target
    while lost > 0:
        r = rng.choice(rows)
        step = min(Decimal("0.5") * rng.randint(1, 4), lost, scores[r.score.name])
        if step <= 0:
            continue
        scores[r.score.name] -= step
        lost -= step
    values = {k: float(v) for k, v in scores.items()}
    for r in layout.rows:
        if r.indicator is not None and not r.spec_weight:
            values[r.score.name] = 0.0
    return values


def unit_values(layout: Layout, key: str, budget: Decimal, rng: random.Random) -> dict:
    rate = Decimal(rng.randint(8500, 10000)) / 10000
    day = dt.date(2020, 4, 15) + dt.timedelta(days=rng.randint(0, 30))
    values = {
        "fld_implementer": rng.choice(["综合处", "业务一部", "项目管理科", "财务审计处", "中心各部门"]),
        "fld_recurring": rng.choice(["是", "是", "否"]),
        "fld_prev_budget": float((budget * Decimal(rng.randint(80, 110)) / 100).quantize(Decimal("1"))),
        "fld_executed": float((budget * rate).quantize(Decimal("0.01"))),
        "fld_annual_goal": f"围绕年度重点任务，完成{rng.randint(3, 12)}项主要工作，服务对象满意度达到90%以上。",
        "fld_eval_date": day,
        "fld_achievements": "；".join(rng.sample(ACHIEVEMENTS, 3)) + "。",
        "fld_problems": "；".join(rng.sample(PROBLEMS, 2)) + "。",
        "fld_improvements": "；".join(rng.sample(MEASURES, 2)) + "。",
    }
    values.update(scores_for(layout, Decimal(str(TARGETS[key])), rng))
    return values


def save_keeping_time(wb: Any, dest: Path, saved: dt.datetime) -> None:
    """Save an edited workbook with ``saved`` as its own last-saved time.

    ``openpyxl.Workbook.save`` stamps the time of the run, which put one sample in another
    year than all the others (the year the samples happened to be made).
    """
    import zipfile

    from openpyxl.writer.excel import ExcelWriter

    wb.properties.modified = saved.astimezone(dt.timezone.utc).replace(tzinfo=None)
    archive = zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
    ExcelWriter(wb, archive).save()  # closes the archive


def main() -> None:
    spec = load_spec(templates_dir() / "sh-project-self-eval.yaml")
    layout = Layout(spec)
    roster = read_roster(HERE / "roster.csv", spec)
    seed = yaml.safe_load((HERE / "seed-values.yaml").read_text(encoding="utf-8"))
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir()
    work = Path(tempfile.mkdtemp(prefix="xlt-samples-"))
    to_resave: list[tuple[Path, Path]] = []
    for n, row in enumerate(roster.rows):
        key = row.key
        if key in MISSING:
            continue
        rng = random.Random(f"xltemplate-sample-{key}")
        saved = dt.datetime(2020, 4, 20, 9, 0, tzinfo=dt.timezone.utc) + dt.timedelta(hours=7 * n)
        if key == "SH001":
            values = {k: v for k, v in seed.items() if k not in ("fld_unit", "fld_project_name", "fld_budget")}
        else:
            values = unit_values(layout, key, row.prefill["budget"], rng)
        # typical mistakes
        if key == "SH004":  # typed as text: normalised with warnings, still valid
            values.update({"fld_executed": f"{values['fld_executed']:,.2f}", "fld_eval_date": "2020年5月6日",
                           "ind_fund_compliance_score": f"{values['ind_fund_compliance_score']:g}分"})
        if key == "SH007":  # a score above its weight
            values["ind_goal_rationality_score"] = 9.0
        if key == "SH020":  # spent more than budgeted: a warning
            values["fld_executed"] = float(row.prefill["budget"] * Decimal("1.02"))
        dest = OUT / FILE_NAMES[key]
        if key == "SH013":  # filled the wrong form: another template
            generate_workbook(spec_from_dict(OTHER_TEMPLATE), dest, roster_key=key, generated_at=saved,
                              values={"fld_unit": "上海市中小企业服务中心浦东分中心", "ind_plan_quality_score": 36, "ind_exec_rate_score": 55})
            continue
        src = work / dest.name if key in RESAVED else dest
        generate_workbook(spec, src, prefill=row.prefill, values=values, roster_key=key, generated_at=saved)
        if key in RESAVED:
            to_resave.append((src, dest))
        if key == "SH011":  # first attempt: weights off, sent too early; the corrected file came later
            bad = dict(values)
            bad["ind_quality_rate_weight"] = 16.0
            generate_workbook(spec, OUT / "发展研究中心-产业政策课题研究（初稿）.xlsx", prefill=row.prefill, values=bad,
                              roster_key=key, generated_at=saved - dt.timedelta(days=5))
        if key == "SH009":  # the total typed over its formula (after unprotecting), saved two hours later
            import openpyxl

            wb = openpyxl.load_workbook(dest)
            ws = wb[spec.sheet]
            ws.protection.sheet = False
            ws[layout.total_score.a1] = 95
            save_keeping_time(wb, dest, saved + dt.timedelta(hours=2))
        if key == "SH002":  # sent twice by mail: a byte-identical copy
            shutil.copy(dest, OUT / "SH002 经济信息中心 绩效自评 (1).xlsx")
    if to_resave:
        outs = convert([s for s, _ in to_resave], work / "lo")
        for out, (_, dest) in zip(outs, to_resave):
            shutil.move(str(out), dest)
    (OUT / "~$附件1-最终版(2).xlsx").write_bytes(b"\x0bxltemplate" + b"\x00" * 150)  # Excel's lock file
    shutil.rmtree(work, ignore_errors=True)
    for p in sorted(OUT.iterdir()):
        print(f"{p.stat().st_size:>8}  {p.name}")
    # the national form's samples: samples/national/ (its targets table and returns)
    import runpy

    runpy.run_path(str(HERE / "national" / "make_national.py"), run_name="__main__")


if __name__ == "__main__":
    main()
