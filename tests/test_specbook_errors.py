"""A spec workbook's problems, as its author reads them: every spec-loader check reported by sheet, row and
column header, in Chinese, with the value found; the problems only a workbook can have; and the habits of
a Chinese Windows author (full-width digits, 是/否, √/×, Y/N, spaces, merged cells, numbers stored as
text, blank rows, a leading apostrophe), each loaded or refused with a clear message."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from xltemplate.catalog import load_spec, resolve_template, spec_from_dict
from xltemplate.errors import SpecError
from xltemplate.spec import Spec
from xltemplate.specbook import write_specbook
from tests.test_spec import SMALL

Edits = list[tuple[str, str, Any]]  # (sheet, cell, value); value None empties the cell


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("books")
    return {"small": write_specbook(spec_from_dict(dict(SMALL)), root / "small.xlsx"),
            "national": write_specbook(resolve_template("cn-project-self-eval"), root / "national.xlsx")}


def edited(books: dict[str, Path], base: str, edits: Edits, tmp_path: Path, rename: dict[str, str] | None = None) -> Path:
    path = tmp_path / f"{base}-edited.xlsx"
    shutil.copy(books[base], path)
    wb = openpyxl.load_workbook(path)
    for sheet, cell, value in edits:
        wb[sheet][cell] = value
    for old, new in (rename or {}).items():
        wb[old].title = new
    wb.save(path)
    return path


def problems(path: Path) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert str(info.value).startswith(f"模板 {path} 有 ") and "未生成任何文件" in str(info.value)
    return [(p.path, p.message) for p in info.value.problems]


def loads(books: dict[str, Path], base: str, edits: Edits, tmp_path: Path) -> Spec:
    return load_spec(edited(books, base, edits, tmp_path))


# Each check of the spec loader, made in the workbook: the edits, then (where, what the message says).
# The small spec's 设置 rows: 2 id, 3 version, 4 title, 5 sheet; 字段 rows 3 name, 4 grade; 类别 rows 3 甲 (fixed),
# 4 乙 (flexible); 指标 rows 3-4 甲, 5-6 乙; 等级 rows 3 好 80, 4 差 0. Columns by header.
SMALL_CASES: list[tuple[str, Edits, str, str]] = [
    ("template id", [("设置", "B2", "Small Form")], "设置 第 2 行 “模板编号”", "“Small Form” 不是有效的模板编号"),
    ("version empty", [("设置", "B3", None)], "设置 第 3 行 “版本”", "不能为空"),
    ("title too long", [("设置", "B4", "长" * 201)], "设置 第 4 行 “标题”", "有 201 个字，这里最多 200 个字"),
    ("sheet name", [("设置", "B5", "自评/2021")], "设置 第 5 行 “工作表名称”", "不能作工作表名称"),
    ("total", [("设置", "A6", "总分"), ("设置", "B6", "一百")], "设置 第 6 行 “总分”", "“一百” 不是数字"),
    ("fiscal year", [("设置", "A6", "年度"), ("设置", "B6", 1900)], "设置 第 6 行 “年度”", "应为年份（如 2020），这里是“1900”"),
    ("field id", [("字段", "A3", "Name")], "字段 第 3 行 “编号”", "“Name” 不是有效的编号"),
    ("field label missing", [("字段", "B3", None)], "字段 第 3 行 “标签”", "不能为空"),
    ("field type", [("字段", "C3", "文体")], "字段 第 3 行 “类型”", "不认识的类型“文体”；是否想写文字（text）？"),
    ("choices missing", [("字段", "C3", "选项")], "字段 第 3 行 “选项”", "选项类字段须列出选项"),
    ("choices repeat", [("字段", "C3", "选项"), ("字段", "E3", "是、否、是")], "字段 第 3 行 “选项”", "选项有重复"),
    ("choices comma", [("字段", "C3", "选项"), ("字段", "E3", "甲\n乙,丙")], "字段 第 3 行 “选项”", "不能有英文逗号"),
    ("choices too long", [("字段", "C3", "选项"), ("字段", "E3", "、".join(f"选项{n:03}" for n in range(60)))],
     "字段 第 3 行 “选项”", "超过 255 个字符"),
    ("choices on text", [("字段", "E3", "是、否")], "字段 第 3 行 “选项”", "只有选项类字段才有选项（这个字段是文字（text））"),
    ("bounds on text", [("字段", "F3", 1)], "字段 第 3 行 “最小值”", "文字（text）字段没有最小值、最大值"),
    ("a date bound", [("字段", "C3", "日期"), ("字段", "G3", "明年")], "字段 第 3 行 “最大值”", "“明年” 不是日期"),
    ("min above max", [("字段", "C3", "数字"), ("字段", "F3", 5), ("字段", "G3", 3)], "字段 第 3 行 “最小值”", "最小值 5 大于最大值 3"),
    ("max length", [("字段", "H3", 0)], "字段 第 3 行 “最大长度”", "应为 1 至 32767 的整数，这里是“0”"),
    ("flag", [("字段", "D3", "必须")], "字段 第 3 行 “必填”", "应为 是 或 否（true 或 false），这里是“必须”"),
    ("help too long", [("字段", "I3", "说" * 256)], "字段 第 3 行 “说明”", "这里最多 255 个字"),
    ("prompt too long", [("字段", "B3", "项" * 60), ("字段", "C3", "选项"), ("字段", "E3", "、".join(f"选项{n:03}" for n in range(40)))],
     "字段 第 3 行", "由此生成的出错提示有 311 个字符，Excel 最多 255 个"),
    ("compute", [("字段", "K4", "平均")], "字段 第 4 行 “计算”", "“平均” 不是可用的计算"),
    ("computed and required", [("字段", "D4", "是")], "字段 第 4 行", "计算得出的字段不能设为必填或预填"),
    ("two grades", [("字段", "K3", "等级")], "字段 第 4 行 “计算”", "只能有一个字段显示等级"),
    ("ratio of nothing", [("字段", "C4", "百分数"), ("字段", "K4", "比率：spent/name")], "字段 第 4 行 “计算”", "没有编号为“spent”的字段"),
    ("ratio of text", [("字段", "C4", "百分数"), ("字段", "K4", "比率：name/name")], "字段 第 4 行 “计算”", "“name”须为由人填写的数字类字段"),
    ("ratio type", [("字段", "K4", "比率：name/name")], "字段 第 4 行 “类型”", "比率字段的类型须为百分数（percent）或数字（number）"),
    ("label twice", [("字段", "B4", "项目名称")], "字段 第 4 行 “标签”", "标签“项目名称”已被字段“name”使用"),
    ("no fields", [("字段", "A3", None), ("字段", "B3", None), ("字段", "C3", None), ("字段", "D3", None),
                   ("字段", "A4", None), ("字段", "B4", None), ("字段", "C4", None), ("字段", "K4", None)],
     "“字段”表", "至少要有一个字段"),
    ("id twice", [("指标", "B6", "a1")], "指标 第 6 行 “编号”", "编号“a1”用了不止一次"),
    ("category points", [("类别", "C3", "六十")], "类别 第 3 行 “分值”", "“六十” 不是数字"),
    ("negative points", [("类别", "C3", -60)], "类别 第 3 行 “分值”", "-60 不能为负数"),
    ("weights", [("类别", "D4", "随意")], "类别 第 4 行 “权重方式”", "权重方式应为 固定（fixed）或 可调（flexible），这里是“随意”"),
    ("extra rows", [("类别", "E4", 51)], "类别 第 4 行 “自定义行数”", "应为 0 至 50 的整数，这里是“51”"),
    ("fixed with extra rows", [("类别", "E3", 2)], "类别 第 3 行 “自定义行数”", "类别“甲”的权重固定，不能留自定义行"),
    ("a category without indicators", [("类别", "A5", "c"), ("类别", "B5", "丙"), ("类别", "C5", 0)], "类别 第 5 行",
     "类别“丙”至少要有一个指标"),
    ("weight above points", [("指标", "D5", 41), ("类别", "C3", 59)], "指标 第 5 行 “权重”", "权重 41 大于类别“乙”的分值 40"),
    ("weight not a number", [("指标", "D3", "８分")], "指标 第 3 行 “权重”", "“８分” 不是数字"),
    ("fixed weights sum", [("指标", "D4", 12)], "类别 第 3 行", "类别“甲”的权重合计 52，应为 60"),
    ("flexible weights sum", [("指标", "D6", 5)], "类别 第 4 行", "类别“乙”的默认权重合计 45，超过本类分值 40"),
    ("category points sum", [("类别", "C4", 30)], "“类别”表", "各类别分值合计 90，应为总分 100"),
    ("no categories", [("类别", f"{c}{r}", None) for c in "ABCDE" for r in (3, 4)], "“类别”表", "至少要有一个类别"),
    ("grade label", [("等级", "A3", None)], "等级 第 3 行 “等级”", "不能为空"),
    ("grade min", [("等级", "B3", "八十")], "等级 第 3 行 “最低分”", "“八十” 不是数字"),
    ("grade above total", [("等级", "B3", 101)], "等级 第 3 行 “最低分”", "最低分 101 高于总分 100"),
    ("grades overlap", [("等级", "B3", 0)], "等级 第 4 行 “最低分”", "与等级“好”重叠"),
    ("grade twice", [("等级", "A4", "好")], "等级 第 4 行 “等级”", "等级“好”重复"),
    ("grade gap", [("等级", "B4", 10)], "等级 第 4 行 “最低分”", "最低的等级从 10 分起"),
    ("no grades", [("等级", "A3", None), ("等级", "B3", None), ("等级", "A4", None), ("等级", "B4", None)], "“等级”表",
     "至少要有一个等级"),
    ("summary field", [("汇总", "A2", "项目字段"), ("汇总", "B2", "nmae")], "汇总 第 2 行 “项目字段”", "没有编号为“nmae”的字段；是否想写“name”？"),
    ("summary type", [("汇总", "A2", "预算数字段"), ("汇总", "B2", "name")], "汇总 第 2 行 “预算数字段”", "“name”是文字（text）字段"),
    ("summary texts", [("汇总", "A2", "文字字段"), ("汇总", "B2", "name、grade")], "汇总 第 2 行 “文字字段”", "“grade”是文字（text）字段"),
    ("family", [("设置", "A6", "表式"), ("设置", "B6", "rule-scord")], "设置 第 6 行 “表式”", "不认识的表式“rule-scord”；是否想写“rule-scored”？"),
]

# The national form's 设置 rows: 9 money_unit, 10 blank_rows, 13 funding.points; 资金 rows 3-6; 一级二级 rows 3
# (产出 50, 数量), 7 (效益 30), 11 (满意度 10); 规则 rows 2 digits … 6 cap_execution; 定性档次 rows 3-5.
NATIONAL_CASES: list[tuple[str, Edits, str, str]] = [
    ("money unit", [("设置", "B9", "人民币万元（含税，不含利息）")], "设置 第 9 行 “金额单位”", "这里最多 10 个字"),
    ("blank rows", [("设置", "B10", 21)], "设置 第 10 行 “每个二级指标的空行数”", "应为 1 至 20 的整数，这里是“21”"),
    ("funding points", [("设置", "B13", "十分")], "设置 第 13 行 “资金分值”", "“十分” 不是数字"),
    ("funding points blank", [("设置", "B13", None)], "设置 第 13 行 “资金分值”", "不能为空，请填写"),
    ("funding points missing", [("设置", "A13", None), ("设置", "B13", None), ("设置", "C13", None)], "设置 “资金分值”",
     "缺少这一项：请在“项目”列写“资金分值”，在“值”列填写"),
    ("expected goal", [("设置", "B15", None)], "设置 第 15 行 “预期目标名称”", "不能为空"),
    ("no goals", [("设置", f"{c}{r}", None) for c in "ABC" for r in (14, 15, 16)], "设置 “总体目标名称、预期目标名称、实际完成名称”",
     "缺少这几项：请在“项目”列逐项写上，在“值”列填写"),
    ("funding row", [("资金", "B4", None)], "资金 第 4 行 “名称”", "不能为空"),
    ("funding row id", [("资金", "A5", "上年")], "资金 第 5 行 “编号”", "“上年” 不是有效的编号"),
    ("a total alone", [("资金", f"{c}{r}", None) for c in "AB" for r in (4, 5, 6)], "“资金”表", "只有总额一行无法核对"),
    ("levels' points", [("一级二级", "C3", 55)], "“一级二级”表", "资金分值 10 与各一级指标分值合计 105，应为总分 100"),
    ("level points", [("一级二级", "C7", "三十")], "一级二级 第 7 行 “一级分值”", "“三十” 不是数字"),
    ("level name twice", [("一级二级", "B7", "产出指标")], "一级二级 第 7 行 “一级名称”", "名称“产出指标”已被另一个一级或二级指标使用"),
    ("sublevel name", [("一级二级", "E5", None)], "一级二级 第 5 行 “二级名称”", "不能为空"),
    ("sublevel id", [("一级二级", "D8", "Social")], "一级二级 第 8 行 “二级编号”", "“Social” 不是有效的编号"),
    ("a level without sublevels", [("一级二级", "D11", None), ("一级二级", "E11", None)], "一级二级 第 11 行",
     "每个一级指标至少要有一个二级指标"),
    ("digits", [("规则", "B2", 5)], "规则 第 2 行 “得分小数位数”", "应为 0 至 4 的整数，这里是“5”"),
    ("reverse zero", [("规则", "B3", 1)], "规则 第 3 行 “反向指标零分倍数”", "1 不合适：应大于 1"),
    ("reason below", [("规则", "B4", 1.5)], "规则 第 4 行 “须说明偏差的得分率”", "1.5 不合适：应不小于 0且不大于 1"),
    ("overshoot", [("规则", "B5", "很多")], "规则 第 5 行 “须说明超额的完成率”", "“很多” 不是数字"),
    ("cap", [("规则", "B6", "封顶")], "规则 第 6 行 “执行率得分封顶”", "应为 是 或 否（true 或 false），这里是“封顶”"),
    ("band label", [("定性档次", "A3", "≥")], "定性档次 第 3 行 “完成情况”", "“≥”是指标性质，不是完成情况"),
    ("band comma", [("定性档次", "A3", "达成,完成")], "定性档次 第 3 行 “完成情况”", "不能含英文逗号或双引号"),
    ("band twice", [("定性档次", "A4", "达成年度指标")], "定性档次 第 4 行 “完成情况”", "与前面的“达成年度指标”重复"),
    ("band min above max", [("定性档次", "B4", 0.9)], "定性档次 第 4 行 “最低得分率”", "最低 0.9 大于最高 0.8"),
    ("band max missing", [("定性档次", "C5", None)], "定性档次 第 5 行 “最高得分率”", "不能为空"),
    ("band bound", [("定性档次", "C3", 1.2)], "定性档次 第 3 行 “最高得分率”", "1.2 不合适"),
    ("bands too long", [("定性档次", f"A{r}", f"{r}" + "档" * 100) for r in (3, 4, 5)], "“定性档次”表", "各档名称连起来超过 255 个字符"),
    ("no funding rows", [("资金", f"{c}{r}", None) for c in "AB" for r in (3, 4, 5, 6)], "“资金”表", "缺少这张工作表或表中没有内容"),
    ("no levels", [("一级二级", f"{c}{r}", None) for c in "ABCDE" for r in range(3, 12)], "“一级二级”表", "缺少这张工作表或表中没有内容"),
]


@pytest.mark.parametrize("name, edits, where, says", SMALL_CASES, ids=[c[0] for c in SMALL_CASES])
def test_every_check_of_a_self_scored_workbook_names_sheet_row_and_column(
        books: dict[str, Path], tmp_path: Path, name: str, edits: Edits, where: str, says: str) -> None:
    found = problems(edited(books, "small", edits, tmp_path))
    assert any(w == where and says in m for w, m in found), found


@pytest.mark.parametrize("name, edits, where, says", NATIONAL_CASES, ids=[c[0] for c in NATIONAL_CASES])
def test_every_check_of_a_national_workbook_names_sheet_row_and_column(
        books: dict[str, Path], tmp_path: Path, name: str, edits: Edits, where: str, says: str) -> None:
    found = problems(edited(books, "national", edits, tmp_path))
    assert any(w == where and says in m for w, m in found), found


def test_every_problem_at_once_and_nothing_generated(books: dict[str, Path], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from xltemplate.cli import main

    path = edited(books, "small", [("指标", "D3", "８分"), ("类别", "C4", 30), ("字段", "C3", "文体"), ("指标", "F1", "备注")], tmp_path)
    found = problems(path)
    assert ("指标 第 3 行 “权重”", "“８分” 不是数字") in found
    assert ("类别 第 3 行", "类别“甲”的权重合计 20，应为 60（权重固定时须等于本类分值）") in found
    assert found[0][0] == "指标 F1"  # the workbook's own problems first, then the checker's
    assert {"字段 第 3 行 “类型”", "指标 第 3 行 “权重”", "类别 第 3 行", "“类别”表"} <= {w for w, _ in found}
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["generate", str(path), "-o", str(out)])
    assert result.exit_code == 2 and "指标 第 3 行 “权重”：“８分” 不是数字" in result.output
    assert not out.exists()


def test_unknown_sheets_and_columns_get_a_did_you_mean(books: dict[str, Path], tmp_path: Path) -> None:
    path = edited(books, "small", [("字段", "B1", "标鉴"), ("指标", "D1", "权数")], tmp_path, rename={"等级": "等极"})
    found = problems(path)
    assert ("工作表“等极”", "不认识这个工作表名称；是否想写“等级”？（用不到的工作表请删除）") in found
    assert ("字段 B1", "不认识的列名“标鉴”；是否想写“标签”？") in found
    assert ("指标 D1", "不认识的列名“权数”；是否想写“权重”？") in found


def test_english_sheet_and_column_names_are_accepted(books: dict[str, Path], tmp_path: Path) -> None:
    path = edited(books, "small", [("字段", "B1", "label"), ("指标", "D1", "Weight"), ("设置", "A3", "version")], tmp_path,
                  rename={"等级": "grades", "指标": "indicators"})
    assert load_spec(path).spec_hash == spec_from_dict(dict(SMALL)).spec_hash


def test_a_sheet_of_the_other_family_is_refused(books: dict[str, Path], tmp_path: Path) -> None:
    wb = openpyxl.load_workbook(books["national"])
    ws = wb.create_sheet("类别")
    ws.append(["编号", "名称", "分值"])
    ws.append(["x", "某类", 10])
    path = tmp_path / "mixed.xlsx"
    wb.save(path)
    assert ("工作表“类别”", "表式为 rule-scored 的模板没有“类别”表：请删除此表，或把“设置”中的“表式”改为 self-scored") in problems(path)


def test_an_indicator_needs_a_known_category(books: dict[str, Path], tmp_path: Path) -> None:
    found = problems(edited(books, "small", [("指标", "A5", "已")], tmp_path))
    assert ("指标 第 5 行 “类别”", "没有名称或编号为“已”的类别；“类别”表中的类别：甲、乙") in found


# -- a Chinese Windows author's habits ------------------------------------------------------------------

def test_full_width_digits_and_numbers_stored_as_text_load(books: dict[str, Path], tmp_path: Path) -> None:
    spec = loads(books, "small", [("指标", "D3", "４０"), ("指标", "D4", "20"), ("类别", "C3", "６０"), ("类别", "E4", "２"),
                                  ("等级", "B3", "８０")], tmp_path)
    assert spec.spec_hash == spec_from_dict(dict(SMALL)).spec_hash


def test_yes_no_in_every_spelling_loads(books: dict[str, Path], tmp_path: Path) -> None:
    for yes, no in (("是", "否"), ("√", "×"), ("Y", "N"), ("y", "n"), ("TRUE", "FALSE"), ("１", "０")):
        spec = loads(books, "small", [("字段", "D3", yes), ("字段", "J3", no)], tmp_path)
        assert spec.fields[0].required is True and spec.fields[0].prefill is False
        assert spec.raw["fields"][0]["prefill"] is False  # written, so the hash records it


def test_spaces_and_a_leading_apostrophe_are_not_part_of_a_value(books: dict[str, Path], tmp_path: Path) -> None:
    spec = loads(books, "small", [("字段", "A3", " name "), ("字段", "B3", "项目名称\u3000"), ("指标", "A3", "甲 "),
                                  ("指标", "D3", "'40"), ("设置", "B3", "'1"), ("字段", "C3", " 文字 ")], tmp_path)
    assert spec.spec_hash == spec_from_dict(dict(SMALL)).spec_hash


def test_a_blank_row_in_the_middle_is_skipped(books: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "blank.xlsx"
    wb = openpyxl.load_workbook(books["small"])
    wb["指标"].insert_rows(5)
    wb["字段"].insert_rows(4, 2)
    wb.save(path)
    assert load_spec(path).spec_hash == spec_from_dict(dict(SMALL)).spec_hash


def test_merged_category_cells_down_the_indicators_load(books: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "merged.xlsx"
    wb = openpyxl.load_workbook(books["small"])
    wb["指标"].merge_cells("A3:A4")  # 甲 over its two indicators, as people lay a table out
    wb["指标"].merge_cells("A5:A6")
    wb.save(path)
    assert load_spec(path).spec_hash == spec_from_dict(dict(SMALL)).spec_hash


def test_a_merged_header_over_a_column_of_data_is_refused(books: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "merged-header.xlsx"
    wb = openpyxl.load_workbook(books["small"])
    wb["指标"].merge_cells("C1:D1")  # 名称 over 名称 and 权重: the weights lose their header
    wb.save(path)
    found = problems(path)
    assert ("指标 C1:D1", "标题单元格合并了多列，而第 D 列有内容、没有列名；请取消合并，每列写一个列名") in found
    # a header merged over an empty column only is harmless
    wb = openpyxl.load_workbook(books["small"])
    wb["等级"].merge_cells("B1:C1")
    wb.save(path)
    assert load_spec(path).spec_hash == spec_from_dict(dict(SMALL)).spec_hash


def test_the_example_row_is_skipped_refused_when_typed_into_and_read_once_typed_over(books: dict[str, Path], tmp_path: Path) -> None:
    assert loads(books, "small", [], tmp_path).spec_hash == spec_from_dict(dict(SMALL)).spec_hash
    found = problems(edited(books, "small", [("等级", "B2", 50)], tmp_path))  # a number typed into the grey example row
    assert found == [("等级 第 2 行", "这是示例行（第一格以“示例”开头），其中的内容不会读入；要加一行请写在下面的空行，或把第一格改为实际内容")]
    spec = loads(books, "small", [("等级", "A2", "中"), ("等级", "B2", 50)], tmp_path)  # typed over: now a grade
    assert [b.label for b in spec.bands] == ["好", "中", "差"]


def test_a_file_that_is_no_workbook_is_refused_in_chinese(tmp_path: Path) -> None:
    path = tmp_path / "form-spec.xlsx"
    path.write_bytes(b"not a zip")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert str(info.value).startswith(f"模板 {path} 有 1 个问题") and "无法读取模板定义工作簿" in str(info.value)
