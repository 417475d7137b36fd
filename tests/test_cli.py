"""The command line: thin, documented, with meaningful exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
from click.testing import CliRunner

from xltemplate import __version__
from xltemplate.cli import main
from xltemplate.spec import Spec


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_version_and_help() -> None:
    assert run("--version").output.strip() == f"xltemplate, version {__version__}"
    for cmd in ("templates", "generate", "describe"):
        result = run(cmd, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output


def test_templates_lists_the_builtin() -> None:
    result = run("templates", "--json")
    assert result.exit_code == 0
    assert [t["id"] for t in json.loads(result.output)] == ["sh-project-self-eval"]


def test_unknown_template_is_a_usage_error() -> None:
    result = run("describe", "sh-project-self-evl")
    assert result.exit_code == 2 and "did you mean 'sh-project-self-eval'" in result.output


def test_generate_one_workbook(tmp_path: Path) -> None:
    out = tmp_path / "form.xlsx"
    result = run("generate", "sh-project-self-eval", "-o", str(out), "--password", "pw")
    assert result.exit_code == 0, result.output
    assert openpyxl.load_workbook(out)["项目绩效自评"].protection.password


def test_generate_from_a_spec_path(tmp_path: Path) -> None:
    from tests.test_spec import SMALL  # a small spec written as a file
    import yaml

    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(SMALL, allow_unicode=True), encoding="utf-8")
    result = run("generate", str(path), "-o", str(tmp_path / "small.xlsx"))
    assert result.exit_code == 0, result.output
    assert openpyxl.load_workbook(tmp_path / "small.xlsx").sheetnames[0] == "自评"


def test_describe_json_agrees_with_the_workbook(spec: Spec, tmp_path: Path) -> None:
    info = json.loads(run("describe", "sh-project-self-eval", "--json").output)
    out = tmp_path / "form.xlsx"
    assert run("generate", "sh-project-self-eval", "-o", str(out)).exit_code == 0
    wb = openpyxl.load_workbook(out)
    ws = wb[info["sheet"]]
    names = {n: list(d.destinations)[0] for n, d in wb.defined_names.items()}

    def same(entry: dict) -> None:
        sheet, ref = names[entry["name"] if "name" in entry else entry["defined_name"]]
        assert sheet == entry["sheet"] and ref.replace("$", "") == entry["cell"]

    for f in info["fields"]:
        same(f)
        cell = ws[f["cell"]]
        label = ws.cell(cell.row, cell.column - 1).value
        assert label == f["label"] + "：", f["id"]
        # a workbook without a roster prefills nothing: only computed fields are locked
        assert cell.protection.locked is (f["role"] == "computed"), f["id"]
    seen = 0
    for c in info["categories"]:
        for key in ("weight_subtotal", "score_subtotal", "check"):
            same(c[key])
        for r in c["indicators"] + c["extra"]:
            seen += 1
            for key in ("weight_cell", "score_cell", "name_cell", "remark_cell", "check_cell"):
                if key != "name_cell" or r["name_editable"] or r["name"]:
                    same(r[key])
            assert ws[r["weight_cell"]["cell"]].protection.locked is (not r["weight_editable"])
            assert ws[r["score_cell"]["cell"]].protection.locked is False
            if r["name"]:
                assert ws[r["name_cell"]["cell"]].value == r["name"]
                assert ws[r["weight_cell"]["cell"]].value == r["weight"]
    assert seen == 17 + 9
    for key in ("weight", "score", "check"):
        same(info["total"][key])
    assert [g["label"] for g in info["grades"]] == ["优秀", "良好", "合格", "不合格"]
    roles = {f["id"]: f["role"] for f in info["fields"]}
    assert roles["grade"] == "computed" and roles["unit"] == "prefill" and roles["implementer"] == "input"
