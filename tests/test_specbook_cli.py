"""The spec commands (spec export / import / diff, new) and a spec workbook wherever a template is taken."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import openpyxl
import yaml
from click.testing import CliRunner

from xltemplate.catalog import load_spec, resolve_template
from xltemplate.cli import main

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_export_then_import_gives_the_builtin_spec_back(tmp_path: Path) -> None:
    book, back = tmp_path / "form-spec.xlsx", tmp_path / "form.yaml"
    result = run("spec", "export", "sh-project-self-eval", "-o", book)
    assert result.exit_code == 0 and result.output == f"已写入 {book}（模板 sh-project-self-eval 2020.1）\n"
    result = run("spec", "import", book, "-o", back)
    assert result.exit_code == 0, result.output
    text = back.read_text(encoding="utf-8")
    assert text.startswith("# 由 form-spec.xlsx 转换") and "\nid: sh-project-self-eval\nversion: '2020.1'\n" in text
    assert load_spec(back).spec_hash == resolve_template("sh-project-self-eval").spec_hash
    # nothing is overwritten without --force, and an input never is
    again = run("spec", "export", "sh-project-self-eval", "-o", book)
    assert again.exit_code == 2 and "已存在，未覆盖；如要覆盖，请加 --force" in again.output
    assert run("spec", "import", book, "-o", tmp_path / "form.xlsx").exit_code == 2
    over = run("spec", "export", back, "-o", back.with_suffix(".xlsx"), "--force")
    assert over.exit_code == 0


def test_import_of_a_workbook_with_mistakes_writes_nothing(tmp_path: Path) -> None:
    book = tmp_path / "form-spec.xlsx"
    assert run("spec", "export", "sh-project-self-eval", "-o", book).exit_code == 0
    wb = openpyxl.load_workbook(book)
    wb["指标"]["D7"] = "８分"
    wb["类别"]["C4"] = 32
    wb.save(book)
    result = run("spec", "import", book, "-o", tmp_path / "form.yaml")
    assert result.exit_code == 2
    assert "指标 第 7 行 “权重”：“８分” 不是数字" in result.output
    assert "各类别分值合计 98，应为总分 100" in result.output
    assert not (tmp_path / "form.yaml").exists()


def test_new_starts_next_years_form_from_a_builtin(tmp_path: Path) -> None:
    book = tmp_path / "form-spec.xlsx"
    result = run("new", "sh-project-self-eval-2021", "--from", "sh-project-self-eval", "-o", book, "--version", "2021.1")
    assert result.exit_code == 0, result.output
    spec = load_spec(book)
    base = resolve_template("sh-project-self-eval")
    assert (spec.id, spec.version) == ("sh-project-self-eval-2021", "2021.1")
    assert spec.categories == base.categories and spec.fields == base.fields  # type: ignore[attr-defined]
    # to YAML as well; an id the checker refuses is refused in Chinese; the same id and version is no new form
    assert run("new", "next", "--from", "cn-project-self-eval", "-o", tmp_path / "n.yaml").exit_code == 0
    assert load_spec(tmp_path / "n.yaml").version == "1"
    bad = run("new", "Next Year", "--from", "sh-project-self-eval", "-o", tmp_path / "x.xlsx")
    assert bad.exit_code == 1 and "“Next Year” 不是有效的模板编号" in bad.output and not (tmp_path / "x.xlsx").exists()
    same = run("new", "sh-project-self-eval", "--from", "sh-project-self-eval", "-o", tmp_path / "y.xlsx", "--version", "2020.1")
    assert same.exit_code == 1 and "请用 --version 给出新的版本号" in same.output


def test_diff_lists_each_change_in_words(tmp_path: Path) -> None:
    book = tmp_path / "form-spec.xlsx"
    assert run("new", "sh-project-self-eval", "--from", "sh-project-self-eval", "-o", book, "--version", "2021.1").exit_code == 0
    wb = openpyxl.load_workbook(book)
    ind, cats, fields, grades = wb["指标"], wb["类别"], wb["字段"], wb["等级"]
    ind["D3"], ind["D4"] = 7, 7  # 资金使用的合规性 6 → 7, 绩效目标合理性 8 → 7
    ind["C9"] = "质量合格率"  # renamed
    ind.append(["产出目标", "cost_saving", "成本节约率", 0])  # added
    ind.delete_rows(15)  # 生态效益 removed
    fields["B5"] = "实施处室"  # a field renamed
    grades["B4"] = 80  # 良好 from 75 to 80
    ind["B16"] = "staff_stability"  # 人员流失率's 编号 (row 17 before the deletion)
    cats["E4"] = 4
    wb.save(book)
    result = run("spec", "diff", "sh-project-self-eval", book)
    assert result.exit_code == 1, result.output
    assert result.output.splitlines() == [
        "sh-project-self-eval 2020.1 → sh-project-self-eval 2021.1：10 处变化",
        "  - 设置“版本”：“2020.1” 改为 “2021.1”",
        "  - 字段“具体实施处（科室）”改名为“实施处室”（编号 implementer）",
        "  - 类别“产出目标”的自定义行数：3 改为 4",
        "  - 指标“人员流失率”的编号：staff_turnover 改为 staff_stability",
        "  - 新增指标“成本节约率”（编号 cost_saving）",
        "  - 删除指标“生态效益”（编号 eco_benefit）",
        "  - 指标“资金使用的合规性”的权重：6 改为 7",
        "  - 指标“绩效目标合理性”的权重：8 改为 7",
        "  - 指标“质量达标率”改名为“质量合格率”（编号 quality_rate）",
        "  - 等级“良好”的最低分：75 改为 80",
    ]
    same = run("spec", "diff", "sh-project-self-eval", "--json", "sh-project-self-eval")
    assert same.exit_code == 0 and json.loads(same.output)["changes"] == []


def test_diff_of_the_national_form_names_rules_levels_and_points(tmp_path: Path) -> None:
    data = yaml.safe_load((Path(resolve_template("cn-project-self-eval").source)).read_text(encoding="utf-8"))
    data["version"] = "2021.1"
    data["rules"]["overshoot"] = 1.5
    data["levels"][0]["points"], data["levels"][1]["points"] = 45, 35
    data["levels"][2]["sublevels"].append({"id": "staff", "name": "员工满意度指标"})
    data["rules"]["qualitative"][2]["label"] = "未达成年度指标"
    new = tmp_path / "new.yaml"
    new.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    lines = run("spec", "diff", "cn-project-self-eval", new).output.splitlines()
    for line in ("  - 规则“须说明超额的完成率”：1.3 改为 1.5", "  - 一级指标“产出指标”的一级分值：50 改为 45",
                 "  - 一级指标“效益指标”的一级分值：30 改为 35", "  - 新增二级指标“员工满意度指标”（编号 staff）",
                 "  - 新增定性档次“未达成年度指标”", "  - 删除定性档次“未达成年度指标且效果较差”"):
        assert line in lines


def test_a_spec_workbook_is_taken_wherever_a_yaml_path_is(tmp_path: Path) -> None:
    book = tmp_path / "form-spec.xlsx"
    assert run("spec", "export", "sh-project-self-eval", "-o", book).exit_code == 0
    described = run("describe", book, "--json")
    assert described.exit_code == 0
    assert json.loads(described.output) == json.loads(run("describe", "sh-project-self-eval", "--json").output)
    form = tmp_path / "form.xlsx"
    assert run("generate", book, "-o", form).exit_code == 0
    assert run("generate", book, "-o", book, "--force").exit_code == 2  # never over its own template
    returns = tmp_path / "returns"
    returns.mkdir()
    shutil.copy(SAMPLES / "returns" / "信息安全测评认证中心.xlsx", returns)
    checked = run("validate", returns, "--template", book, "--json")
    plain = run("validate", returns, "--template", "sh-project-self-eval", "--json")
    assert checked.exit_code == plain.exit_code and json.loads(checked.output) == json.loads(plain.output)
    collected = run("collect", returns, "--template", book, "-o", tmp_path / "汇总.xlsx", "--json", "--quiet")
    assert collected.exit_code == 0, collected.output
    template = json.loads(collected.output)["template"]
    assert (template["id"], template["version"], template["detected"]) == ("sh-project-self-eval", "2020.1", False)


def test_the_spec_commands_explain_themselves_in_chinese() -> None:
    for args in (["spec", "--help"], ["spec", "export", "--help"], ["spec", "import", "--help"], ["spec", "diff", "--help"],
                 ["new", "--help"]):
        result = run(*args)
        assert result.exit_code == 0 and "模板" in result.output, args
    assert "--old-template" in run("collect", "--help").output and "--old-template" in run("validate", "--help").output
