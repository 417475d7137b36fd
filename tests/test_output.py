"""Outputs a clerk can rely on: one clear Chinese line when one cannot be written, nothing half-written
left behind, ordinary file permissions, and nothing overwritten without --force (issue 9)."""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from xltemplate.cli import main
from xltemplate import errors
from xltemplate.errors import OutputPathError
from xltemplate.fsutil import atomic_path, sha256_file, write_atomic

from .conftest import SAMPLES

RETURNS = SAMPLES / "returns"
ROSTER = SAMPLES / "roster.csv"
TEMPLATE = "sh-project-self-eval"


def cli(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def leftovers(root: Path) -> list[Path]:
    """Temporary files and folders a writer might leave behind."""
    return [p for p in root.rglob("*") if p.name.endswith(".part") or ".part" in p.name]


def one_clear_line(result, path_part: str) -> str:
    """The failure is a single Chinese line on stderr naming the file, exit 2, no traceback."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    errors = [line for line in result.stderr.splitlines() if line.startswith("错误：")]
    assert len(errors) == 1, result.stderr
    assert "无法写入" in errors[0] and path_part in errors[0], errors[0]
    return errors[0]


# -- every command, a path that cannot be written (a folder under a file: ENOTDIR even for root) ---------

def _commands(tmp: Path) -> dict[str, list[str]]:
    blocker = tmp / "a-file.txt"
    return {
        "generate": ["generate", TEMPLATE, "-o", blocker / "form.xlsx"],
        "generate --roster": ["generate", TEMPLATE, "--roster", ROSTER, "-o", blocker / "forms"],
        "validate --annotate": ["validate", RETURNS / "无线电监测站.xlsx", "--annotate", blocker / "back", "--jobs", "1"],
        "collect -o": ["collect", RETURNS, "--roster", ROSTER, "-o", blocker / "rollup.xlsx", "--quiet"],
        "collect --export": ["collect", RETURNS, "--roster", ROSTER, "-o", tmp / "ok" / "rollup.xlsx",
                             "--export", blocker / "csv", "--quiet"],
    }


@pytest.mark.parametrize("command", list(_commands(Path("."))))
def test_an_output_that_cannot_be_written_is_one_clear_line(command: str, tmp_path: Path) -> None:
    (tmp_path / "a-file.txt").write_text("not a folder", encoding="utf-8")
    result = cli(*_commands(tmp_path)[command])
    line = one_clear_line(result, "a-file.txt")
    assert "“a-file.txt”是文件而不是文件夹" in line
    assert not leftovers(tmp_path)
    assert (tmp_path / "a-file.txt").read_text(encoding="utf-8") == "not a folder"


def test_a_full_disk_while_writing_the_rollup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from xltemplate.rollup import workbook as rollup

    class Full:
        """The roll-up's file on a disk with 4 bytes left."""

        def __init__(self, fh) -> None:
            self.fh, self.room = fh, 4

        def write(self, data: bytes) -> int:
            self.fh.write(data[:self.room])
            if len(data) > self.room:
                raise OSError(errno.ENOSPC, "No space left on device")
            return len(data)

        def __getattr__(self, name: str):
            return getattr(self.fh, name)

    def full(self) -> None:
        self.wb.filename.write(b"PK half a workbook")  # (the file XlsxWriter writes its zip to: workbook._Output)

    monkeypatch.setattr(rollup, "open", lambda path, mode: Full(open(path, mode)), raising=False)
    monkeypatch.setattr(rollup._Writer, "write", full)
    out = tmp_path / "rollup.xlsx"
    result = cli("collect", RETURNS, "-o", out, "--quiet")
    line = one_clear_line(result, str(out))
    assert "磁盘空间不足" in line
    assert not out.exists() and not leftovers(tmp_path) and list(tmp_path.iterdir()) == []


def test_a_file_open_in_excel_keeps_the_previous_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On Windows a workbook open in Excel cannot be replaced: os.replace raises PermissionError."""
    out = tmp_path / "rollup.xlsx"
    out.write_bytes(b"the previous roll-up")
    real_replace = os.replace

    def locked(src, dst):
        if Path(dst) == out:
            raise PermissionError(errno.EACCES, "Permission denied", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", locked)
    result = cli("collect", RETURNS, "-o", out, "--quiet")
    line = one_clear_line(result, str(out))
    assert "权限不足" in line and "Excel" in line and "关闭后重新运行" in line
    assert out.read_bytes() == b"the previous roll-up" and not leftovers(tmp_path)


def test_a_full_disk_while_generating_from_a_roster_leaves_the_folder_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from xltemplate.form import generate

    out = tmp_path / "forms"
    assert cli("generate", TEMPLATE, "--roster", ROSTER, "-o", out, "--jobs", "1").exit_code == 0
    before = {p.name: sha256_file(p) for p in out.iterdir()}
    calls = {"n": 0}
    real = generate._Writer.write

    def fills_up(self) -> None:
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(self)

    monkeypatch.setattr(generate._Writer, "write", fills_up)
    result = cli("generate", TEMPLATE, "--roster", ROSTER, "-o", out, "--jobs", "1", "--force", "--password", "new")
    assert "磁盘空间不足" in one_clear_line(result, "forms")
    assert {p.name: sha256_file(p) for p in out.iterdir()} == before  # not one workbook replaced
    assert not leftovers(tmp_path)


# -- fsutil.atomic_path on every failure ---------------------------------------------------------

@pytest.mark.parametrize("failure", ["enospc", "eacces-replace", "interrupt", "bug"])
def test_atomic_path_leaves_nothing_behind(failure: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "new" / "deeper" / "out.xlsx"
    if failure == "eacces-replace":
        monkeypatch.setattr(os, "replace", lambda a, b: (_ for _ in ()).throw(PermissionError(errno.EACCES, "denied")))
    expected = {"enospc": errors.OutputWriteError, "eacces-replace": errors.OutputWriteError, "interrupt": KeyboardInterrupt,
                "bug": ZeroDivisionError}[failure]
    with pytest.raises(expected):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            if failure == "enospc":
                raise OSError(errno.ENOSPC, "No space left on device")
            if failure == "interrupt":
                raise KeyboardInterrupt
            if failure == "bug":
                raise ZeroDivisionError
    assert list(tmp_path.iterdir()) == []  # no .part, and the folders made for it are gone too


def test_atomic_path_refuses_a_folder_and_a_path_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "dir.xlsx").mkdir()
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(errors.OutputWriteError, match="已有同名的文件夹"):
        write_atomic(tmp_path / "dir.xlsx", lambda tmp: tmp.write_bytes(b"x"))
    with pytest.raises(errors.OutputWriteError, match="“file”是文件而不是文件夹"):
        write_atomic(tmp_path / "file" / "sub" / "out.csv", lambda tmp: tmp.write_bytes(b"x"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.xlsx", "file"] and not any((tmp_path / "dir.xlsx").iterdir())


def test_a_read_only_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """chmod is ignored by root (CI): the refusal the folder gives is simulated where the temporary file is made."""
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(errors.OutputWriteError, match="权限不足") as info:
        write_atomic(tmp_path / "out.xlsx", lambda tmp: tmp.write_bytes(b"x"))
    assert str(tmp_path / "out.xlsx") in str(info.value)
    assert list(tmp_path.iterdir()) == []


# -- permissions -------------------------------------------------------------------------------------

def test_outputs_get_ordinary_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        assert cli("generate", TEMPLATE, "-o", tmp_path / "form.xlsx").exit_code == 0
        assert cli("generate", TEMPLATE, "--roster", ROSTER, "-o", tmp_path / "forms", "--jobs", "1").exit_code == 0
        assert cli("collect", RETURNS, "--roster", ROSTER, "-o", tmp_path / "r.xlsx", "--export", tmp_path / "csv",
                   "--quiet").exit_code == 0
        cli("validate", RETURNS / "无线电监测站.xlsx", "--annotate", tmp_path / "back", "--jobs", "1")
    finally:
        os.umask(old)
    outputs = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(outputs) == 1 + 21 + 1 + 3 + 1
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in outputs} == {p.name: 0o644 for p in outputs}


# -- nothing overwritten without --force -----------------------------------------------------------------

def test_generate_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    out = tmp_path / "form.xlsx"
    out.write_bytes(b"the clerk's own workbook")
    result = cli("generate", TEMPLATE, "-o", out)
    assert result.exit_code == 2 and "已存在" in result.output and "--force" in result.output
    assert out.read_bytes() == b"the clerk's own workbook"
    assert cli("generate", TEMPLATE, "-o", out, "--force").exit_code == 0
    assert openpyxl.load_workbook(out).sheetnames[0] == "项目绩效自评"


def _roster(path: Path, keys: list[str]) -> Path:
    lines = ["编号,预算单位,项目名称"] + [f"{k},单位{k},项目{k}" for k in keys]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_generate_from_a_roster_into_a_folder_with_workbooks(tmp_path: Path) -> None:
    out = tmp_path / "forms"
    first = _roster(tmp_path / "r1.csv", ["A1", "A2", "A3"])
    assert cli("generate", TEMPLATE, "--roster", first, "-o", out).exit_code == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["A1_单位A1_项目A1.xlsx", "A2_单位A2_项目A2.xlsx", "A3_单位A3_项目A3.xlsx", "manifest.csv"]

    # without --force: refused, nothing touched
    second = _roster(tmp_path / "r2.csv", ["A1", "A3", "A4"])
    before = {p.name: sha256_file(p) for p in out.iterdir()}
    result = cli("generate", TEMPLATE, "--roster", second, "-o", out, "--password", "changed")
    assert result.exit_code == 2 and "已有 3 个工作簿" in result.output and "--force" in result.output
    assert {p.name: sha256_file(p) for p in out.iterdir()} == before

    # with --force: the workbook the new roster no longer has is removed, the manifest matches the folder
    result = cli("generate", TEMPLATE, "--roster", second, "-o", out, "--force", "--password", "changed")
    assert result.exit_code == 0, result.output
    assert "A2_单位A2_项目A2.xlsx" in result.output
    workbooks = sorted(p.name for p in out.glob("*.xlsx"))
    manifest = (out / "manifest.csv").read_text(encoding="utf-8-sig")
    assert workbooks == ["A1_单位A1_项目A1.xlsx", "A3_单位A3_项目A3.xlsx", "A4_单位A4_项目A4.xlsx"]
    assert sorted(line.split(",")[3] for line in manifest.splitlines()[1:]) == workbooks
    assert sha256_file(out / "A1_单位A1_项目A1.xlsx") != before["A1_单位A1_项目A1.xlsx"]  # replaced: new password

    # a workbook no manifest lists may be the clerk's own: never removed, even with --force
    shutil.copy(out / "A1_单位A1_项目A1.xlsx", out / "我的草稿.xlsx")
    before = {p.name: sha256_file(p) for p in out.iterdir()}
    result = cli("generate", TEMPLATE, "--roster", first, "-o", out, "--force")
    assert result.exit_code == 2 and "我的草稿.xlsx" in result.output and "不会删除" in result.output
    assert {p.name: sha256_file(p) for p in out.iterdir()} == before


def test_distribute_refuses_in_the_library_too(spec, tmp_path: Path) -> None:
    from xltemplate.distribute import distribute
    from xltemplate.roster import read_roster

    rows = read_roster(_roster(tmp_path / "r.csv", ["B1"]), spec)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x.xlsx").write_bytes(b"x")
    with pytest.raises(OutputPathError, match="--force"):
        distribute(spec, rows, tmp_path / "out")


def test_annotated_copies_never_go_beside_an_input_file(tmp_path: Path) -> None:
    src = tmp_path / "无线电监测站.xlsx"
    shutil.copy(RETURNS / src.name, src)
    before = sha256_file(src)
    result = cli("validate", src, "--annotate", tmp_path, "--jobs", "1")
    assert result.exit_code == 2 and "所在的文件夹" in result.output
    assert [p.name for p in tmp_path.iterdir()] == [src.name] and sha256_file(src) == before
