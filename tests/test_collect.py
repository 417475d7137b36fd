"""End to end on the shipped samples: the roll-up's figures against an independent calculation."""

from __future__ import annotations

import csv
import json
import re
import shutil
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
import yaml
from click.testing import CliRunner

from xltemplate.cli import main
from xltemplate.fsutil import sha256_file

from .conftest import ROOT, SAMPLES

RETURNS = SAMPLES / "returns"
SPEC = yaml.safe_load((ROOT / "templates" / "sh-project-self-eval.yaml").read_text(encoding="utf-8"))


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("rollup")
    before = {p.name: sha256_file(p) for p in RETURNS.iterdir()}
    result = cli("collect", str(RETURNS), "--roster", str(SAMPLES / "roster.csv"), "-o", str(out / "rollup.xlsx"),
                 "--export", str(out / "export"), "--json")
    assert result.exit_code == 0, result.output
    after = {p.name: sha256_file(p) for p in RETURNS.iterdir()}
    return {"dir": out, "json": json.loads(result.output), "before": before, "after": after,
            "wb": openpyxl.load_workbook(out / "rollup.xlsx")}


def sheet_rows(ws) -> list[dict]:
    header = [c.value for c in ws[3]]
    rows = []
    for r in ws.iter_rows(min_row=4, values_only=True):
        rows.append(dict(zip(header, r)))
    return rows


# -- an independent reading of a return: defined names, plain openpyxl, simple number parsing ------

def number(v) -> Decimal | None:
    if v is None or v == "":
        return None
    if isinstance(v, (int, float)):
        return Decimal(str(v))
    return Decimal(re.sub(r"[分元,\s']", "", str(v)))


def read_return(path: Path) -> dict:
    wb = openpyxl.load_workbook(path)
    names = {n: list(d.destinations)[0] for n, d in wb.defined_names.items()}

    def get(name):
        sheet, ref = names[name]
        return wb[sheet][ref.replace("$", "")].value

    cats = {}
    for cat in SPEC["categories"]:
        total = Decimal(0)
        for ind in cat["indicators"]:
            total += number(get(f"ind_{ind['id']}_score")) or Decimal(0)
        for n in range(1, cat.get("extra_rows", 0) + 1):
            total += number(get(f"ext_{cat['id']}_{n}_score")) or Decimal(0)
        cats[cat["name"]] = total
    meta = wb["_xltemplate"]
    key = next(meta.cell(r, 2).value for r in range(1, 20) if meta.cell(r, 1).value == "roster_key")
    return {"key": key, "cats": cats, "total": sum(cats.values()), "budget": number(get("fld_budget")),
            "executed": number(get("fld_executed"))}


def grade(total: Decimal) -> str:
    for band in sorted(SPEC["grades"], key=lambda b: -b["min"]):
        if total >= band["min"]:
            return band["label"]
    raise AssertionError


# -- the tests ----------------------------------------------------------------------

def test_counts_and_outputs(run: dict) -> None:
    counts = run["json"]["counts"]
    assert counts == {"roster_rows": 20, "returns_read": 20, "valid": 16, "invalid": 4, "unreadable": 0, "missing": 5,
                      "superseded": 1, "duplicates": 1, "unmatched": 0, "skipped": 1}
    assert [Path(p).name for p in run["json"]["outputs"]] == ["rollup.xlsx", "submissions.csv", "scores.csv", "findings.csv"]
    assert run["wb"].sheetnames == ["汇总", "指标得分", "统计", "问题清单", "未提交", "文字材料", "文件清单"]


def test_inputs_are_untouched(run: dict) -> None:
    assert run["before"] == run["after"]


def test_every_figure_against_an_independent_calculation(run: dict) -> None:
    rows = [r for r in sheet_rows(run["wb"]["汇总"]) if r["编号"] and r["编号"].startswith("SH")]
    assert [r["编号"] for r in rows] == [f"SH{n:03d}" for n in range(1, 21)]  # one row per roster row, by key
    by_key = {r["编号"]: r for r in rows}
    valid = [r for r in rows if r["状态"] == "有效"]
    budget = executed = Decimal(0)
    grades: dict[str, int] = {}
    for r in valid:
        ind = read_return(RETURNS / r["来源文件"])
        assert ind["key"] == r["编号"]
        cat_cols = [c for c in r if c and "分)" in c]
        assert [Decimal(str(r[c])) for c in cat_cols] == list(ind["cats"].values()), r["编号"]
        assert Decimal(str(r["总分"])) == ind["total"]
        assert r["绩效等级"] == grade(ind["total"])
        assert r["预算执行率"] == pytest.approx(float(ind["executed"] / ind["budget"]))
        budget += ind["budget"]
        executed += ind["executed"]
        grades[r["绩效等级"]] = grades.get(r["绩效等级"], 0) + 1
    assert len(valid) == 15 and set(grades) == {"优秀", "良好", "合格", "不合格"}
    total_row = sheet_rows(run["wb"]["汇总"])[-1]
    assert total_row["编号"] == "合计（有效 15 份）"
    assert Decimal(str(total_row["当年预算数（元）"])) == budget
    assert Decimal(str(total_row["预算执行数（元）"])) == executed
    assert total_row["预算执行率"] == pytest.approx(float(executed / budget))
    stats = run["wb"]["统计"]
    table = {stats.cell(r, 1).value: stats.cell(r, 2).value for r in range(5, 9)}
    assert table == {k: grades.get(k, 0) for k in ("优秀", "良好", "合格", "不合格")}
    # the seed's unit, with its real figures
    seed = by_key["SH001"]
    assert [seed[c] for c in seed if c and "分)" in c] == [35, 33, 14, 14] and seed["总分"] == 96 and seed["绩效等级"] == "优秀"
    assert round(seed["预算执行率"] * 100, 2) == 99.71


def test_statuses_superseded_and_missing(run: dict) -> None:
    rows = {r["编号"]: r for r in sheet_rows(run["wb"]["汇总"]) if r["编号"] and r["编号"].startswith("SH")}
    assert {k for k, r in rows.items() if r["状态"] == "未提交"} == {"SH016", "SH019"}
    assert {k for k, r in rows.items() if r["状态"] == "有误"} == {"SH007", "SH009", "SH013"}
    assert rows["SH011"]["状态"] == "有效" and rows["SH011"]["来源文件"] == "发展研究中心-产业政策课题研究.xlsx"
    missing = {r["编号"]: r["原因"] for r in sheet_rows(run["wb"]["未提交"])}
    assert missing == {"SH007": "仅有有误的文件", "SH009": "仅有有误的文件", "SH013": "仅有有误的文件",
                       "SH016": "未收到文件", "SH019": "未收到文件"}
    files = {r["文件"]: r for r in sheet_rows(run["wb"]["文件清单"])}
    assert files["发展研究中心-产业政策课题研究（初稿）.xlsx"]["处理"] == "已被替代"
    assert files["发展研究中心-产业政策课题研究（初稿）.xlsx"]["替代它的文件"] == "发展研究中心-产业政策课题研究.xlsx"
    assert sorted(r["处理"] for r in files.values() if r["编号"] == "SH002") == ["计入", "重复副本"]
    assert files["~$附件1-最终版(2).xlsx"]["状态"] == "跳过"
    assert len(files) == len(list(RETURNS.iterdir()))  # every file accounted for


def test_findings_sheet_and_csv_exports(run: dict) -> None:
    listed = sheet_rows(run["wb"]["问题清单"])
    codes = {(r["编号"], r["代码"]) for r in listed}
    assert ("SH007", "score-above-weight") in codes and ("SH009", "formula-overwritten") in codes
    assert ("SH013", "template-mismatch") in codes and ("SH011", "return-superseded") in codes
    export = run["dir"] / "export"
    raw = (export / "submissions.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel opens it right
    with open(export / "submissions.csv", encoding="utf-8-sig", newline="") as fh:
        subs = list(csv.DictReader(fh))
    assert {"key", "unit", "project", "status", "total", "grade", "errors", "warnings", "file"} <= set(subs[0])
    assert [s["key"] for s in subs] == [f"SH{n:03d}" for n in range(1, 21)]
    assert next(s for s in subs if s["key"] == "SH001")["total"] == "96"
    with open(export / "scores.csv", encoding="utf-8-sig", newline="") as fh:
        scores = list(csv.DictReader(fh))
    assert {"key", "category", "indicator", "weight", "score"} <= set(scores[0])
    seed_scores = [s for s in scores if s["key"] == "SH001"]
    assert sum(Decimal(s["score"]) for s in seed_scores) == 96
    with open(export / "findings.csv", encoding="utf-8-sig", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == len(listed)


def test_two_runs_are_identical(run: dict, tmp_path: Path) -> None:
    again = tmp_path / "again.xlsx"
    assert cli("collect", str(RETURNS), "--roster", str(SAMPLES / "roster.csv"), "-o", str(again), "--quiet").exit_code == 0
    assert sha256_file(again) == sha256_file(run["dir"] / "rollup.xlsx")


def test_hyperlink_typed_into_a_text_field_stays_text(tmp_path: Path, spec, seed_values) -> None:
    from xltemplate.generate import generate_workbook

    returns = tmp_path / "returns"
    shutil.copytree(RETURNS, returns)
    evil = '=HYPERLINK("http://example.invalid/x","点我领取")'
    values = {k: v for k, v in seed_values.items() if k not in ("fld_unit", "fld_project_name", "fld_budget")}
    values["fld_achievements"] = evil
    values["ind_fund_compliance_score"] = evil  # a value-invalid finding carries it into findings.csv
    generate_workbook(spec, returns / "SH001-resubmitted.xlsx", values=values, roster_key="SH001",
                      prefill={"unit": "上海市中小企业发展服务中心", "project_name": "企业服务专项", "budget": Decimal("8993600")})
    out = tmp_path / "rollup.xlsx"
    result = cli("collect", str(returns), "--roster", str(SAMPLES / "roster.csv"), "-o", str(out), "--export", str(tmp_path / "csv"), "--quiet")
    assert result.exit_code == 0, result.output
    wb = openpyxl.load_workbook(out)
    for sheet in ("文字材料", "问题清单"):
        cells = [c for row in wb[sheet].iter_rows() for c in row if c.value == evil]
        assert cells and all(c.data_type == "s" for c in cells), sheet
    with zipfile.ZipFile(out) as z:
        assert not any("<f>" in z.read(n).decode("utf-8") for n in z.namelist() if n.startswith("xl/worksheets/"))
    text = (tmp_path / "csv" / "findings.csv").read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in text and ',=HYPERLINK' not in text


def test_without_a_roster_one_row_per_return(tmp_path: Path) -> None:
    out = tmp_path / "r.xlsx"
    result = cli("collect", str(RETURNS), "-o", str(out), "--json")
    assert result.exit_code == 0
    rows = [r for r in sheet_rows(openpyxl.load_workbook(out)["汇总"]) if r["编号"] and not r["编号"].startswith("合计")]
    assert len(rows) == 18  # 20 files less one duplicate and one superseded


def test_output_over_an_input_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "in.xlsx"
    shutil.copy(next(RETURNS.glob("SH002*")), target)
    before = sha256_file(target)
    result = cli("collect", str(target), "-o", str(target))
    assert result.exit_code == 1 and "overwrite" in result.output
    assert sha256_file(target) == before
    result = cli("collect", str(tmp_path), "-o", str(tmp_path / "sub" / "rollup.xlsx"))
    assert result.exit_code == 1 and "inside the input folder" in result.output


def test_library_tables(spec) -> None:
    from xltemplate.collect import collect
    from xltemplate.roster import read_roster

    c = collect([RETURNS], spec, roster=read_roster(SAMPLES / "roster.csv", spec))
    t = c.tables()
    assert list(t) == ["submissions", "scores", "findings", "missing", "files"]
    assert len(t["submissions"]) == 20 and t["submissions"].loc[0, "total"] == 96
    assert sorted(t["missing"]["key"]) == ["SH007", "SH009", "SH013", "SH016", "SH019"]


def test_jobs_do_not_change_the_results(run: dict, tmp_path: Path) -> None:
    outs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"rollup-{jobs}.xlsx"
        result = cli("collect", str(RETURNS), "--roster", str(SAMPLES / "roster.csv"), "-o", str(out), "--quiet", "--jobs", jobs)
        assert result.exit_code == 0, result.output
        outs.append(sha256_file(out))
    assert outs[0] == outs[1] == sha256_file(run["dir"] / "rollup.xlsx")
    one = json.loads(cli("validate", "--json", "--jobs", "1", str(RETURNS)).output)
    two = json.loads(cli("validate", "--json", "--jobs", "2", str(RETURNS)).output)
    assert one == two and one["summary"]["files"] == 20


def test_units_by_indicators_matrix(run: dict) -> None:
    ws = run["wb"]["指标得分"]
    headers = [c.value for c in ws[3]]
    assert headers[:4] == ["编号", "预算单位", "状态", "资金使用的合规性（投入与管理）"]
    assert [c.value for c in ws[4]][3:5] == ["得分", "失分"]
    rows = {r[0]: r for r in ws.iter_rows(min_row=5, values_only=True)}
    seed = rows["SH001"]
    col = headers.index("绩效目标合理性（投入与管理）")
    assert (seed[col], seed[col + 1]) == (7, 1)  # weight 8, scored 7: one point lost
    na = headers.index("财政投入乘数（产出目标）")
    assert (seed[na], seed[na + 1]) == (None, None)  # not applicable: blank
    assert "SH016" not in rows  # nothing returned, nothing to show


def test_rows_sort_as_people_read_keys() -> None:
    from xltemplate.collect import natural_key

    assert sorted(["SH10", "SH2", "1000", "999", "SH1"], key=natural_key) == ["999", "1000", "SH1", "SH2", "SH10"]
