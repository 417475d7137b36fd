"""Distribution from a roster: one prefilled workbook per row, or nothing at all."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pytest

from xltemplate.distribute import distribute, safe_filename
from xltemplate.errors import RosterError
from xltemplate.fsutil import sha256_file
from xltemplate.families.self_scored.layout import Layout
from xltemplate.roster import read_roster
from xltemplate.spec import Spec


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8-sig") -> Path:
    with open(path, "w", encoding=encoding, newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


GOOD = [["编号", "预算单位", "项目名称", "当年预算数（元）"],
        ["SH001", "上海市中小企业发展服务中心", "企业服务专项", "8,993,600.00"],
        ["SH002", "上海市某某局", "信息化/运维: 二期", "1200000"]]


def problems(path: Path, spec: Spec) -> list[str]:
    with pytest.raises(RosterError) as info:
        read_roster(path, spec)
    return [f"{p.path}：{p.message}" for p in info.value.problems]


def test_roster_prefills_and_locks(spec: Spec, tmp_path: Path) -> None:
    roster = read_roster(write_csv(tmp_path / "r.csv", GOOD), spec)
    assert [r.key for r in roster.rows] == ["SH001", "SH002"]
    assert str(roster.rows[0].prefill["budget"]) == "8993600.00"
    dist = distribute(spec, roster, tmp_path / "out")
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["SH001_上海市中小企业发展服务中心_企业服务专项.xlsx", "SH002_上海市某某局_信息化_运维_ 二期.xlsx", "manifest.csv"]
    layout = Layout(spec)
    ws = openpyxl.load_workbook(dist.files[0].path)[spec.sheet]
    cell = ws[layout.field("budget").cell.a1]
    assert cell.value == 8993600 and cell.protection.locked is True
    assert ws[layout.field("executed").cell.a1].protection.locked is False
    with open(dist.manifest, encoding="utf-8-sig", newline="") as fh:
        manifest = list(csv.DictReader(fh))
    assert [(m["key"], m["unit"], m["project"]) for m in manifest] == [(r[0], r[1], r[2]) for r in GOOD[1:]]
    for m, g in zip(manifest, dist.files):
        assert m["file"] == g.path.name and m["sha256"] == sha256_file(g.path)


def test_roster_in_gb18030_and_xlsx(spec: Spec, tmp_path: Path) -> None:
    gbk = read_roster(write_csv(tmp_path / "gbk.csv", GOOD, encoding="gb18030"), spec)
    wb = openpyxl.Workbook()
    for row in [["key", "unit", "project_name"], [1001, "单位甲", "项目甲"]]:
        wb.active.append(row)
    wb.save(tmp_path / "r.xlsx")
    xlsx = read_roster(tmp_path / "r.xlsx", spec)
    assert gbk.rows[0].prefill["unit"] == "上海市中小企业发展服务中心"
    assert xlsx.rows[0].key == "1001" and xlsx.rows[0].prefill == {"unit": "单位甲", "project_name": "项目甲"}


@pytest.mark.parametrize("rows,expected", [
    ([["id", "预算单位"], ["A", "x"]], ["第 1 行：没有编号列", "第 1 行，“id”列：不是模板“sh-project-self-eval”的字段"]),
    ([["编号", "预算单位"], ["A", "x"], ["A", "y"]], ["第 3 行，“编号”列：编号“A”与第 2 行重复"]),
    ([["编号", "预算单位"], ["", "x"]], ["第 2 行，“编号”列：编号为空"]),
    ([["编号", "项目名"], ["A", "x"]], ["第 1 行，“项目名”列：不是模板“sh-project-self-eval”的字段；是否想写“项目名称”？"]),
    ([["编号", "当年预算数（元）"], ["A", "八百万"]], ["第 2 行，“当年预算数（元）”列：“八百万”以“万元”为单位"]),
    ([["编号", "绩效等级"], ["A", "优秀"]], ["第 1 行，“绩效等级”列：“绩效等级”由公式自动计算"]),
    ([["编号", "是否为经常性项目"], ["A", "可能"]], ["第 2 行，“是否为经常性项目”列：“可能”不是可选项"]),
])
def test_bad_rosters_name_row_and_column_and_write_nothing(spec: Spec, tmp_path: Path, rows, expected) -> None:
    found = problems(write_csv(tmp_path / "r.csv", rows), spec)
    assert len(found) == len(expected)
    for f, e in zip(found, expected):
        assert f.startswith(e), f


def test_cli_writes_nothing_for_a_bad_roster(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from xltemplate.cli import main

    bad = write_csv(tmp_path / "r.csv", [["编号", "预算单位"], ["A", "x"], ["A", "y"]])
    result = CliRunner().invoke(main, ["generate", "sh-project-self-eval", "--roster", str(bad), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1 and "第 3 行，“编号”列：编号“A”与第 2 行重复" in result.output
    assert "Traceback" not in result.output and "名单" in result.output.splitlines()[0]
    assert not (tmp_path / "out").exists()


def test_contact_columns_are_kept_as_text_and_never_prefilled(spec: Spec, tmp_path: Path) -> None:
    rows = [["编号", "预算单位", "联系人", "电话", "E-mail"],
            ["SH001", "单位甲", "张三", "021-12345678", "zhang@example.cn"], ["SH002", "单位乙", "", "13812345678", ""]]
    roster = read_roster(write_csv(tmp_path / "r.csv", rows), spec)
    assert roster.contact_columns == ("联系人", "电话", "E-mail") and roster.columns == {"预算单位": "unit"}
    assert roster.rows[0].contact == {"联系人": "张三", "电话": "021-12345678", "E-mail": "zhang@example.cn"}
    assert roster.rows[1].contact == {"电话": "13812345678"} and roster.rows[1].prefill == {"unit": "单位乙"}
    wb = openpyxl.Workbook()
    for row in [["编号", "手机"], ["A", 13812345678]]:  # a phone number Excel stored as a number keeps its digits
        wb.active.append(row)
    wb.save(tmp_path / "r.xlsx")
    assert read_roster(tmp_path / "r.xlsx", spec).rows[0].contact == {"手机": "13812345678"}
    dist = distribute(spec, roster, tmp_path / "out")  # a contact is not written into the workbook
    assert all("张三" not in str(c.value) for ws in openpyxl.load_workbook(dist.files[0].path).worksheets
               for row in ws.iter_rows() for c in row)


def test_an_unknown_column_names_the_contact_columns_too(spec: Spec, tmp_path: Path) -> None:
    found = problems(write_csv(tmp_path / "r.csv", [["编号", "负责人"], ["A", "x"]]), spec)
    assert found == ["第 1 行，“负责人”列：不是模板“sh-project-self-eval”的字段；请改成模板中的字段名称，或删除这一列"
                     "（联系方式列可写作联系人、联系电话、电话、手机、邮箱、电子邮箱）"]


def test_safe_filenames() -> None:
    assert safe_filename("A/1", "单位:甲", "项目*?") == "A_1_单位_甲_项目_"
    assert safe_filename("", "") == "workbook"
    assert len(safe_filename("a" * 300)) == 120
    # (and at most 200 bytes of UTF-8, what a file name with its suffix and temporary name's additions fits in)
    assert safe_filename("长" * 300) == "长" * 66 and safe_filename("a" + "长" * 300) == "a" + "长" * 66
    assert safe_filename("长" * 66 + "ab") == "长" * 66 + "ab" and safe_filename("长" * 67) == "长" * 66
    assert safe_filename("k", "🚀 项目") == "k_🚀 项目"
