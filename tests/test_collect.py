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
from xltemplate.words import NOT_CHECKED, WITHDRAWN

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
    data = run["json"]
    assert data["units"] == {"total": 20, "roster": 20, "valid": 15, "invalid": 3, "missing": 2}
    assert data["files"] == {"total": 21, "read": 20, "valid": 16, "invalid": 4, "unreadable": 0, "counted": 18,
                             "superseded": 1, "duplicate": 1, "unmatched": 0, "skipped": 1}
    assert [Path(p).name for p in run["json"]["outputs"]] == ["rollup.xlsx", "submissions.csv", "scores.csv", "findings.csv"]
    assert run["wb"].sheetnames == ["汇总", "指标得分", "统计", "问题清单", "未提交", "文字材料", "文件清单"]


def test_inputs_are_untouched(run: dict) -> None:
    assert run["before"] == run["after"]


def test_every_figure_against_an_independent_calculation(run: dict) -> None:
    rows = [r for r in sheet_rows(run["wb"]["汇总"]) if r["编号"] and r["编号"].startswith("SH")]
    assert [r["编号"] for r in rows] == [f"SH{n:03d}" for n in range(1, 21)]  # one row per roster row, by key
    by_key = {r["编号"]: r for r in rows}
    valid = [r for r in rows if r["状态"] == "已提交有效"]
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
    assert total_row["编号"] == "合计（已提交有效 15）"
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
    assert {k for k, r in rows.items() if r["状态"] == "已提交有误"} == {"SH007", "SH009", "SH013"}
    assert rows["SH011"]["状态"] == "已提交有效" and rows["SH011"]["来源文件"] == "发展研究中心-产业政策课题研究.xlsx"
    missing = {r["编号"]: (r["状态"], r["原因"]) for r in sheet_rows(run["wb"]["未提交"])}
    assert missing == {"SH007": ("已提交有误", "文件有误（错误 1 个，见问题清单）"),
                       "SH009": ("已提交有误", "文件有误（错误 1 个，见问题清单）"),
                       "SH013": ("已提交有误", "文件有误（错误 1 个，见问题清单）"),
                       "SH016": ("未提交", "未收到文件"), "SH019": ("未提交", "未收到文件")}
    files = {r["文件"]: r for r in sheet_rows(run["wb"]["文件清单"])}
    draft = files["发展研究中心-产业政策课题研究（初稿）.xlsx"]
    assert (draft["状态"], draft["处理"]) == ("有误", "被替代")
    assert draft["说明"] == "被更新的“发展研究中心-产业政策课题研究.xlsx”替代（按文件内保存时间判断）"
    assert files["发展研究中心-产业政策课题研究.xlsx"]["说明"] == "替代了“发展研究中心-产业政策课题研究（初稿）.xlsx”（按文件内保存时间判断）"
    # the byte-identical copy a second download named "(1)" is the duplicate, the original counts
    assert files["SH002 经济信息中心 绩效自评.xlsx"]["处理"] == "计入"
    assert files["SH002 经济信息中心 绩效自评 (1).xlsx"]["处理"] == "重复"
    assert files["SH002 经济信息中心 绩效自评 (1).xlsx"]["说明"] == "与“SH002 经济信息中心 绩效自评.xlsx”内容完全相同，只计一次（按文件名长度选定计入的一份）"
    assert (files["~$附件1-最终版(2).xlsx"]["状态"], files["~$附件1-最终版(2).xlsx"]["处理"]) == (None, "跳过")
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
    from xltemplate.form.generate import generate_workbook

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
    assert result.exit_code == 2 and "会把它覆盖" in result.output
    assert sha256_file(target) == before
    result = cli("collect", str(tmp_path), "-o", str(tmp_path / "sub" / "rollup.xlsx"))
    assert result.exit_code == 2 and "在输入文件夹" in result.output
    assert not (tmp_path / "sub").exists()


def test_library_tables(spec) -> None:
    from xltemplate.rollup.collect import collect
    from xltemplate.roster import read_roster

    c = collect([RETURNS], spec, roster=read_roster(SAMPLES / "roster.csv", spec))
    t = c.tables()
    assert list(t) == ["submissions", "scores", "findings", "missing", "files"]
    assert len(t["submissions"]) == 20 and t["submissions"].loc[0, "total"] == 96
    assert sorted(t["missing"]["key"]) == ["SH007", "SH009", "SH013", "SH016", "SH019"]


def test_a_units_other_files_are_named_as_what_they_are(spec) -> None:
    """The column lists every other file of the unit (superseded, duplicate or unproven), not only the
    superseded ones: it is ``other_files``; 文件清单 says which each one is."""
    from xltemplate.rollup.collect import collect
    from xltemplate.roster import read_roster

    c = collect([RETURNS], spec, roster=read_roster(SAMPLES / "roster.csv", spec))
    subs = c.tables()["submissions"].set_index("key")
    assert "superseded" not in subs.columns
    assert subs.loc["SH002", "other_files"] == "SH002 经济信息中心 绩效自评 (1).xlsx"  # a duplicate, not superseded
    assert subs.loc["SH011", "other_files"] == "发展研究中心-产业政策课题研究（初稿）.xlsx"  # superseded
    fates = c.tables()["files"].set_index("file")["fate"]
    assert fates["SH002 经济信息中心 绩效自评 (1).xlsx"] == "重复" and fates["发展研究中心-产业政策课题研究（初稿）.xlsx"] == "被替代"


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
    from xltemplate.rollup.collect import natural_key

    assert sorted(["SH10", "SH2", "1000", "999", "SH1"], key=natural_key) == ["999", "1000", "SH1", "SH2", "SH10"]


# -- counts a clerk can trust (issue 9) -------------------------------------------------------------------

WORDS = ["已提交有效", "已提交有误", "未提交", "有效", "有误", "无法读取", "计入", "被替代", "重复", "未匹配", "跳过"]
JSON_WORDS = {("units", "valid"): "已提交有效", ("units", "invalid"): "已提交有误", ("units", "missing"): "未提交",
              ("files", "valid"): "有效", ("files", "invalid"): "有误", ("files", "unreadable"): "无法读取",
              ("files", "counted"): "计入", ("files", "superseded"): "被替代", ("files", "duplicate"): "重复",
              ("files", "unmatched"): "未匹配", ("files", "skipped"): "跳过"}


def counted_words(text: str) -> dict[str, int]:
    """{word: n} for every 'word n' in a line, each word taken whole (有效 is not 已提交有效)."""
    found = {}
    for word, n in re.findall(r"(?:^|[，（：；\s])(" + "|".join(WORDS) + r") (\d+)", text):
        assert word not in found, f"{word} twice in {text!r}"
        found[word] = int(n)
    return found


def test_one_vocabulary_and_the_same_counts_everywhere(run: dict, tmp_path: Path) -> None:
    out = tmp_path / "r.xlsx"
    result = cli("collect", str(RETURNS), "--roster", str(SAMPLES / "roster.csv"), "-o", str(out), "--quiet")
    assert result.exit_code == 0, result.output
    line = counted_words(" ".join(result.stdout.splitlines()[1:3]))
    expected = {"已提交有效": 15, "已提交有误": 3, "未提交": 2, "有效": 16, "有误": 4, "无法读取": 0, "计入": 18,
                "被替代": 1, "重复": 1, "未匹配": 0, "跳过": 1}
    assert line == expected
    as_json = {word: run["json"][group][key] for (group, key), word in JSON_WORDS.items()}
    assert as_json == expected
    wb = openpyxl.load_workbook(out)
    assert counted_words(wb["汇总"]["A2"].value) == expected
    total_row = sheet_rows(wb["汇总"])[-1]
    assert counted_words(total_row["编号"]) == {"已提交有效": 15}
    stats = wb["统计"]
    cells = [[c.value for c in row] for row in stats.iter_rows(max_col=3)]
    start = next(n for n, r in enumerate(cells) if r[1] == "提交情况")
    table = {r[1]: r[2] for r in cells[start + 1:] if r[1] in WORDS}
    assert table == expected
    assert stats["A2"].value.startswith("仅统计已提交有效的单位（15 个）")
    statuses = [r["状态"] for r in sheet_rows(wb["汇总"])[:-1]]
    assert {s: statuses.count(s) for s in set(statuses)} == {"已提交有效": 15, "已提交有误": 3, "未提交": 2}
    fates = [r["处理"] for r in sheet_rows(wb["文件清单"])]
    assert {f: fates.count(f) for f in set(fates)} == {"计入": 18, "被替代": 1, "重复": 1, "跳过": 1}


def test_the_readme_defines_each_word_once() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("| word | of | `--json` | meaning |")[1].split("\n\n")[0]
    defined = [line.split("|")[1].strip() for line in table.splitlines()[2:]]
    # a round kept by a ledger adds two fates, counted in --json only with a ledger
    round_words = {("files", "withdrawn"): WITHDRAWN, ("files", "not_checked"): NOT_CHECKED}
    assert sorted(defined) == sorted(WORDS + list(round_words.values()) + ["未核定"])
    for (group, key), word in {**JSON_WORDS, **round_words}.items():
        assert f"| {word} | {'unit' if group == 'units' else 'file'} | `{group}.{key}` |" in table


def test_an_invalid_return_shows_its_scores_but_no_grade(run: dict) -> None:
    rows = {r["编号"]: r for r in sheet_rows(run["wb"]["汇总"]) if r["编号"] and r["编号"].startswith("SH")}
    for key in ("SH007", "SH009"):
        assert rows[key]["状态"] == "已提交有误" and rows[key]["绩效等级"] == "未核定"
        assert isinstance(rows[key]["总分"], (int, float))  # the clerk sees the figures
    assert {r["绩效等级"] for r in rows.values() if r["状态"] == "已提交有效"} <= {"优秀", "良好", "合格", "不合格"}
    with open(run["dir"] / "export" / "submissions.csv", encoding="utf-8-sig", newline="") as fh:
        subs = {s["key"]: s for s in csv.DictReader(fh)}
    assert subs["SH007"]["grade"] == "未核定" and subs["SH007"]["valid"] == "否" and subs["SH001"]["valid"] == "是"


def test_the_readme_pandas_example_gives_the_statistics_sheet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- pandas-example -->")[1].split("```python")[1].split("```")[0]
    monkeypatch.chdir(tmp_path)
    shutil.copytree(SAMPLES, tmp_path / "samples", ignore=shutil.ignore_patterns("*.py"))
    space: dict = {}
    exec(compile(block, "README.md", "exec"), space)  # noqa: S102 - the README's own example, run as written
    wb = openpyxl.load_workbook(tmp_path / "rollup.xlsx")
    cells = [[c.value for c in row] for row in wb["统计"].iter_rows(max_col=7)]
    start = next(n for n, r in enumerate(cells) if r[0] == "指标" and r[5] == "平均失分")
    sheet = {r[0]: r[5] for r in cells[start + 1:] if r[0] and isinstance(r[5], (int, float))}
    lost = space["lost"]
    assert len(sheet) == 15 and dict(lost) == pytest.approx(sheet)  # the 15 indicators with a weight
    mean_row = next(r for r in cells if r[0] == "已提交有效")
    assert space["mean_total"] == pytest.approx(mean_row[1])


def test_csv_numbers_are_rounded_as_displayed(run: dict) -> None:
    with open(run["dir"] / "export" / "submissions.csv", encoding="utf-8-sig", newline="") as fh:
        subs = list(csv.DictReader(fh))
    rates = [s["execution_rate"] for s in subs if s["execution_rate"]]
    assert rates and all(len(r.split(".")[-1]) <= 4 for r in rates), rates
    seed = next(s for s in subs if s["key"] == "SH001")
    assert seed["execution_rate"] == "0.9971"  # 8,967,171 / 8,993,600, shown as 99.71 %
    assert all(len(s["budget"].split(".")[-1]) <= 2 for s in subs if "." in s["budget"])


def test_the_output_must_be_an_xlsx_file(tmp_path: Path) -> None:
    for name in ("汇总", "r.csv", "r.xlsm"):
        result = cli("collect", str(RETURNS), "-o", str(tmp_path / name), "--quiet")
        assert result.exit_code == 2 and "-o 必须是 .xlsx 文件" in result.output, name
    assert list(tmp_path.iterdir()) == []


def test_inputs_without_a_workbook_write_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "returns"
    empty.mkdir()
    (empty / "说明.txt").write_text("no workbooks here", encoding="utf-8")
    result = cli("collect", str(empty), "--roster", str(SAMPLES / "roster.csv"), "-o", str(tmp_path / "r.xlsx"))
    assert result.exit_code == 1 and "没有找到工作簿文件" in result.stderr and "未写出汇总表" in result.stderr
    assert not (tmp_path / "r.xlsx").exists()


@pytest.mark.parametrize("template", ["sh-project-self-eval", ROOT / "templates" / "sh-project-self-eval.yaml", "spec"])
def test_every_public_function_takes_an_id_a_path_or_a_spec(template, spec, tmp_path: Path) -> None:
    from xltemplate.rollup.collect import collect
    from xltemplate.distribute import distribute
    from xltemplate.form.generate import generate_workbook
    from xltemplate.roster import read_roster
    from xltemplate.batch import validate_paths
    from xltemplate.validate import validate_path

    template = spec if template == "spec" else template
    roster = read_roster(SAMPLES / "roster.csv", template)
    c = collect([RETURNS], template, roster=roster, jobs=1)
    assert c.counts().units_valid == 15
    assert validate_paths([RETURNS / "无线电监测站.xlsx"], template).summary()["invalid"] == 1
    assert validate_path(RETURNS / "浦东分中心.xlsx", template).findings[0].code == "template-mismatch"
    assert generate_workbook(template, tmp_path / "f.xlsx").path.exists()
    small = read_roster(SAMPLES / "roster.csv", template)
    small = type(small)(small.path, small.rows[:2], small.columns)
    assert len(distribute(template, small, tmp_path / "out", jobs=1).files) == 2


def test_tables_docstring_lists_every_table_and_column(spec) -> None:
    from xltemplate.rollup.collect import Collection, collect
    from xltemplate.rollup.tables import tables

    c = collect([RETURNS], spec, jobs=1)
    doc = tables.__doc__ or ""
    assert "tables" in (Collection.tables.__doc__ or "")
    for name, frame in c.tables().items():
        assert f"``{name}``" in doc, name
        section = doc.split(f"``{name}``")[1].split("- ``")[0]
        for column in frame.columns:
            if not column.startswith("score_"):
                assert column in section, (name, column)


def test_the_samples_script_keeps_an_edited_returns_saved_time(spec, tmp_path: Path) -> None:
    """SH009 is edited with openpyxl after it was made; its saved time must stay in the samples' year."""
    import datetime as dt
    import importlib.util

    import openpyxl

    from xltemplate.form.generate import generate_workbook
    from xltemplate.validate import validate_path

    loader = importlib.util.spec_from_file_location("make_samples", SAMPLES / "make_samples.py")
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    saved = dt.datetime(2020, 4, 21, 11, 0, tzinfo=dt.timezone.utc)
    dest = tmp_path / "edited.xlsx"
    generate_workbook(spec, dest, roster_key="SH009", generated_at=saved)
    wb = openpyxl.load_workbook(dest)
    wb[spec.sheet].protection.sheet = False
    module.save_keeping_time(wb, dest, saved + dt.timedelta(hours=2))
    assert validate_path(dest, spec).saved_at == dt.datetime(2020, 4, 21, 13, 0)


def test_every_shipped_sample_was_saved_in_the_fiscal_round() -> None:
    """The samples tell one story: returns saved in spring 2020, as the seed was, none on the day the samples were made."""
    from xltemplate.readers import read_submission

    years = {p.name: read_submission(p).saved_at for p in sorted(RETURNS.glob("*.xlsx")) if not p.name.startswith("~$")}
    assert years and all(t is not None and t.year == 2020 and 3 <= t.month <= 5 for t in years.values()), years
