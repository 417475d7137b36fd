"""Issue 10, section 5: no output ever clobbers an input, the roster, the secret file or a device, nor lands
where the next run would read it; annotated copies get unique names; the manifest is neutralised; outputs
get the umask's permissions; a failure while writing is one clear line."""

from __future__ import annotations

import csv
import errno
import os
import shutil
import stat
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from xltemplate.cli import main
from xltemplate.errors import OutputPathError
from xltemplate.fsutil import sha256_file, write_atomic
from xltemplate.outputs import Protected, check_output, check_output_dir

from .conftest import SAMPLES

RETURNS = SAMPLES / "returns"
ROSTER = SAMPLES / "roster.csv"
INVALID = RETURNS / "无线电监测站.xlsx"  # SH007: a score above its weight
TEMPLATE = "sh-project-self-eval"


def cli(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def refused(result, *words: str) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    line = next(line for line in result.output.splitlines() if line.startswith("错误："))
    for w in words:
        assert w in line, line
    return line


# -- never an input, the roster or the secret file --------------------------------------------------------

def test_the_rollup_over_the_roster_is_refused(tmp_path: Path) -> None:
    roster = tmp_path / "名单.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["编号", "预算单位"])
    wb.active.append(["SH001", "上海市中小企业发展服务中心"])
    wb.save(roster)
    before = sha256_file(roster)
    refused(cli("collect", RETURNS, "--roster", roster, "-o", roster, "--quiet"), "名单", "会把它覆盖")
    assert sha256_file(roster) == before


def test_no_output_over_the_secret_file(tmp_path: Path) -> None:
    key = tmp_path / "bureau.xlsx"
    key.write_bytes(b"0123456789abcdef0123456789abcdef\n")
    refused(cli("generate", TEMPLATE, "-o", key, "--force", "--secret-file", key), "密钥文件")
    refused(cli("collect", RETURNS, "-o", key, "--secret-file", key, "--quiet"), "密钥文件")
    assert key.read_bytes() == b"0123456789abcdef0123456789abcdef\n"


def test_the_manifest_never_overwrites_a_roster_named_like_it(tmp_path: Path) -> None:
    out = tmp_path / "下发"
    out.mkdir()
    roster = out / "manifest.csv"
    shutil.copy(ROSTER, roster)
    before = sha256_file(roster)
    refused(cli("generate", TEMPLATE, "--roster", roster, "-o", out, "--jobs", "1"), "名单")
    assert sha256_file(roster) == before and sorted(p.name for p in out.iterdir()) == ["manifest.csv"]


@pytest.mark.parametrize("name", ["rollup.xls", "rollup.ods", "rollup.XLSX", "rollup.xlsx.", "sub/rollup.xlsm", "rollup.et"])
def test_no_spreadsheet_inside_an_input_folder(tmp_path: Path, name: str) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    with pytest.raises(OutputPathError, match="在输入文件夹"):
        check_output(inbox / name, Protected.of([inbox]))
    check_output(inbox / "export.csv", Protected.of([inbox]))  # read as skipped next time, never as a return
    check_output(tmp_path / name.replace("sub/", ""), Protected.of([inbox]))


def test_an_input_folder_reached_through_a_link_is_still_an_input_folder(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    (tmp_path / "alias").symlink_to(inbox, target_is_directory=True)
    result = cli("collect", inbox, "-o", tmp_path / "alias" / "rollup.xlsx", "--quiet")
    refused(result, "在输入文件夹")


# -- never a device, a pipe or a link to one -------------------------------------------------------------

def test_a_device_node_is_never_replaced(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    node = tmp_path / "null.xlsx"
    os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a /dev/null of our own
    refused(cli("collect", RETURNS, "-o", node, "--quiet"), "不是普通文件")
    refused(cli("generate", TEMPLATE, "-o", node, "--force"), "不是普通文件")
    assert stat.S_ISCHR(os.lstat(node).st_mode)


def test_a_link_to_a_device_or_a_pipe_is_refused_and_kept(tmp_path: Path) -> None:
    link = tmp_path / "r.xlsx"
    link.symlink_to("/dev/null")
    refused(cli("collect", RETURNS, "-o", link, "--quiet"), "不是普通文件")
    assert os.path.islink(link) and os.readlink(link) == "/dev/null"
    fifo = tmp_path / "f.xlsx"
    os.mkfifo(fifo)
    refused(cli("generate", TEMPLATE, "-o", fifo, "--force"), "不是普通文件")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    dangling = tmp_path / "d.xlsx"
    dangling.symlink_to(tmp_path / "nowhere" / "x.xlsx")
    refused(cli("generate", TEMPLATE, "-o", dangling), "不存在")
    assert not (tmp_path / "nowhere").exists()
    with pytest.raises(OutputPathError, match="不是普通文件"):
        write_atomic(link, lambda tmp: tmp.write_bytes(b"x"))  # the writer itself refuses too


def test_a_link_to_a_regular_file_updates_the_file_and_keeps_the_link(tmp_path: Path) -> None:
    shared = tmp_path / "share" / "汇总.xlsx"
    shared.parent.mkdir()
    shared.write_bytes(b"last year's")
    link = tmp_path / "汇总.xlsx"
    link.symlink_to(shared)
    assert cli("collect", RETURNS, "-o", link, "--quiet").exit_code == 0
    assert os.path.islink(link) and openpyxl.load_workbook(shared).sheetnames[0] == "汇总"
    assert not [p for p in tmp_path.rglob("*.part")]


# -- annotated copies ---------------------------------------------------------------------------------------

def test_two_returns_with_one_name_get_two_annotated_copies(tmp_path: Path) -> None:
    for folder in ("科室甲", "科室乙", "科室丙"):
        (tmp_path / "in" / folder).mkdir(parents=True)
    shutil.copy(INVALID, tmp_path / "in" / "科室甲" / "自评表.xlsx")
    shutil.copy(INVALID, tmp_path / "in" / "科室乙" / "自评表.xlsx")  # the same unit twice: the folder tells them apart
    shutil.copy(RETURNS / "化工区服务中心-自评.xlsx", tmp_path / "in" / "科室丙" / "自评表.xlsx")  # SH009: its key does
    back = tmp_path / "back"
    result = cli("validate", tmp_path / "in", "--annotate", back, "--jobs", "1")
    assert result.exit_code == 1, result.output
    copies = sorted(p.name for p in back.iterdir())
    assert copies == ["SH007_科室乙_自评表_批注.xlsx", "SH007_科室甲_自评表_批注.xlsx", "SH009_自评表_批注.xlsx"]
    meta = openpyxl.load_workbook(back / "SH009_自评表_批注.xlsx")["_xltemplate"]
    assert "SH009" in [meta.cell(r, 2).value for r in range(1, 12)]  # each department gets its own


def test_annotated_names_carry_the_key_and_stay_safe(tmp_path: Path) -> None:
    from xltemplate.annotate import annotated_names
    from xltemplate.validate import validate_path

    shutil.copy(INVALID, tmp_path / "a.xlsx")
    shutil.copy(INVALID, tmp_path / "SH007 自评.xlsx")
    reports = [validate_path(tmp_path / "a.xlsx"), validate_path(tmp_path / "SH007 自评.xlsx")]
    assert annotated_names(reports) == {str(tmp_path / "SH007 自评.xlsx"): "SH007 自评_批注.xlsx",
                                        str(tmp_path / "a.xlsx"): "SH007_a_批注.xlsx"}


def test_annotate_never_overwrites_an_input_named_like_a_copy(tmp_path: Path) -> None:
    back = tmp_path / "back"
    back.mkdir()
    shutil.copy(INVALID, tmp_path / "X.xlsx")
    shutil.copy(RETURNS / "需求侧管理中心.xlsx", back / "SH007_X_批注.xlsx")
    before = sha256_file(back / "SH007_X_批注.xlsx")
    result = cli("validate", tmp_path / "X.xlsx", back / "SH007_X_批注.xlsx", "--annotate", back, "--jobs", "1")
    assert result.exit_code == 2 and "所在的文件夹" in result.output
    assert sha256_file(back / "SH007_X_批注.xlsx") == before
    with pytest.raises(OutputPathError, match="会把它覆盖"):
        check_output(back / "SH007_X_批注.xlsx", Protected.of([tmp_path / "X.xlsx", back / "SH007_X_批注.xlsx"]))
    with pytest.raises(OutputPathError, match="所在的文件夹"):
        check_output_dir(back, Protected.of([back / "SH007_X_批注.xlsx"]))


# -- the manifest, permissions, failures ---------------------------------------------------------------------

def test_manifest_cells_are_neutralised_and_read_back(tmp_path: Path) -> None:
    roster = tmp_path / "r.csv"
    roster.write_text('编号,预算单位,项目名称\n@A1,"=HYPERLINK(""http://x.invalid"",""点我"")",+项目\nA2,单位,项目\n', encoding="utf-8")
    out = tmp_path / "forms"
    assert cli("generate", TEMPLATE, "--roster", roster, "-o", out, "--jobs", "1").exit_code == 0
    with open(out / "manifest.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["key"] == "'@A1" and rows[0]["unit"].startswith("'=HYPERLINK") and rows[0]["project"] == "'+项目"
    assert rows[0]["file"].startswith("'@A1_") and (out / rows[0]["file"][1:]).is_file()
    again = cli("generate", TEMPLATE, "--roster", roster, "-o", out, "--jobs", "1", "--force")
    assert again.exit_code == 0, again.output  # the neutralised names are still recognised as ours


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_outputs_get_the_umasks_permissions(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        assert cli("generate", TEMPLATE, "-o", tmp_path / "new" / "form.xlsx").exit_code == 0
        assert cli("generate", TEMPLATE, "--roster", ROSTER, "-o", tmp_path / "forms", "--jobs", "2").exit_code == 0
        assert cli("collect", RETURNS, "--roster", ROSTER, "-o", tmp_path / "r" / "r.xlsx", "--export", tmp_path / "csv",
                   "--quiet").exit_code == 0
        cli("validate", INVALID, "--annotate", tmp_path / "back", "--jobs", "1")
    finally:
        os.umask(old)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    folders = [p for p in tmp_path.rglob("*") if p.is_dir()]
    assert len(files) == 1 + 21 + 1 + 3 + 1 and len(folders) == 5
    assert {str(p): stat.S_IMODE(p.stat().st_mode) for p in files} == {str(p): 0o666 & ~umask for p in files}
    assert {str(p): stat.S_IMODE(p.stat().st_mode) for p in folders} == {str(p): 0o777 & ~umask for p in folders}


def test_a_failed_annotated_copy_still_prints_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    real = tempfile.mkstemp

    def read_only(*args, **kwargs):  # root ignores chmod: the refusal a read-only folder gives, simulated
        if Path(kwargs.get("dir", "")).name == "back":
            raise PermissionError(errno.EACCES, "Permission denied", str(kwargs["dir"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    result = cli("validate", INVALID, RETURNS / "需求侧管理中心.xlsx", "--annotate", tmp_path / "back", "--jobs", "1")
    assert result.exit_code == 2
    out = result.stdout.splitlines()
    assert out[0].startswith("有误 (invalid)") and out[-1].startswith("共 2 个文件")  # the whole report first
    errors = [line for line in result.stderr.splitlines() if line.startswith("错误：")]
    assert len(errors) == 1 and "权限不足" in errors[0] and "back" in errors[0]
    assert "Traceback" not in result.output


def test_no_output_over_the_targets_table(tmp_path: Path) -> None:
    """The national form's targets table is an input like the roster: -o naming it is refused, the table untouched."""
    national = SAMPLES / "national"
    targets = tmp_path / "指标目标.xlsx"
    wb = openpyxl.Workbook()
    with (national / "targets.csv").open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.reader(fh):
            wb.active.append(row)
    wb.save(targets)
    before = sha256_file(targets)
    roster = national / "roster.csv"
    refused(cli("collect", national / "returns", "--roster", roster, "--targets", targets, "-o", targets, "--quiet"),
            "指标目标表", "会把它覆盖")
    assert sha256_file(targets) == before
