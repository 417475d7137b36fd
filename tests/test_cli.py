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
    assert [t["id"] for t in json.loads(result.output)] == ["cn-project-self-eval", "sh-project-self-eval"]


def test_unknown_template_is_a_usage_error() -> None:
    result = run("describe", "sh-project-self-evl")
    assert result.exit_code == 2 and "是否想用“sh-project-self-eval”" in result.output


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


# -- a clerk's console (issue 9) ------------------------------------------------------------------------

def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_help_is_chinese_for_the_group_every_command_and_every_option() -> None:
    import click

    assert _has_chinese(run("--help").output) and "xltemplate collect" in run("--help").output
    for name, command in main.commands.items():
        assert _has_chinese(command.help or ""), name
        assert run(name, "--help").exit_code == 0
        for param in command.params:
            if isinstance(param, click.Option):
                assert _has_chinese(param.help or ""), (name, param.name)


def test_our_usage_errors_are_chinese(tmp_path: Path) -> None:
    result = run("validate", str(tmp_path / "nothere"))
    assert result.exit_code == 2 and f"路径不存在：{tmp_path / 'nothere'}" in result.output
    assert "does not exist" not in result.output
    result = run("collect", str(tmp_path), "--roster", str(tmp_path / "r.csv"), "-o", str(tmp_path / "r.xlsx"))
    assert result.exit_code == 2 and "路径不存在" in result.output
    result = run("generate", "sh-project-self-eval", "-o", str(tmp_path / "form.ods"))
    assert result.exit_code == 2 and "-o 必须是 .xlsx 文件" in result.output


SAMPLE_RETURNS = Path(__file__).resolve().parent.parent / "samples" / "returns"
ROCKET = "工业互联网平台培育 绩效自评 🚀.xlsx"


def test_a_gbk_console_never_crashes(tmp_path: Path) -> None:
    """Chinese Windows writes GBK: an emoji in a file name is replaced on screen, and --json stays exact."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONIOENCODING": "gbk"}
    for args in (["validate", str(SAMPLE_RETURNS)], ["validate", "--json", str(SAMPLE_RETURNS)],
                 ["collect", str(SAMPLE_RETURNS), "-o", str(tmp_path / "r.xlsx"), "--json"]):
        proc = subprocess.run([sys.executable, "-m", "xltemplate.cli", *args], capture_output=True, env=env, timeout=300)
        assert b"Traceback" not in proc.stderr, proc.stderr.decode("gbk", "replace")
        assert proc.returncode in (0, 1), proc.stderr.decode("gbk", "replace")
        text = proc.stdout.decode("gbk")  # what the console shows: GBK throughout
        if "--json" in args:
            data = json.loads(text)
            if args[0] == "validate":
                assert any(f["path"].endswith(ROCKET) for f in data["files"])  # the real name, escaped
            else:
                assert data["files"]["read"] == 20
        else:
            assert ROCKET.replace("🚀", "?") in text and "共 20 个文件" in text


def test_a_gbk_runner_sees_every_line() -> None:
    result = CliRunner(charset="gbk").invoke(main, ["validate", str(SAMPLE_RETURNS), "--jobs", "1"])
    assert result.exit_code == 1, result.exception  # 1: some returns are invalid; not a UnicodeEncodeError
    assert ROCKET.replace("🚀", "?") in result.output and "共 20 个文件" in result.output


def test_a_roster_given_as_a_return_gets_a_hint(tmp_path: Path) -> None:
    roster = SAMPLE_RETURNS.parent / "roster.csv"
    result = run("collect", str(SAMPLE_RETURNS), str(roster), "-o", str(tmp_path / "r.xlsx"), "--quiet")
    assert f"是否想写 --roster {roster}" in result.stderr
    result = run("validate", str(roster))
    assert result.exit_code == 1 and "--roster" in result.stderr


def test_a_file_named_explicitly_is_read_even_a_lock_file() -> None:
    lock = SAMPLE_RETURNS / "~$附件1-最终版(2).xlsx"
    data = json.loads(run("validate", "--json", str(lock)).output)
    assert [f["path"] for f in data["files"]] == [str(lock)] and data["skipped"] == []
    assert data["files"][0]["status"] == "unreadable"
    folder = json.loads(run("validate", "--json", "--jobs", "1", str(SAMPLE_RETURNS)).output)
    assert [s["path"] for s in folder["skipped"]] == [str(lock)]  # found in a folder: skipped, and listed
