"""Issue 10, section 4: every file in the inputs accounted for, none outside them read, and file names
that are not text (or hold a newline) neither crash anything nor forge a line of the report."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from xltemplate.cli import main
from xltemplate.rollup.collect import collect, natural_key
from xltemplate.form.generate import generate_workbook
from xltemplate.pathtext import shown
from xltemplate.batch import validate_paths

from .conftest import SAMPLES

RETURNS = SAMPLES / "returns"
VALID = RETURNS / "无线电监测站.xlsx"  # SH007: invalid (a score above its weight), so it gets an annotated copy
GOOD = RETURNS / "需求侧管理中心.xlsx"  # SH010, valid
STATUS_LINE = re.compile(r"^(有效 \(valid\)|有误 \(invalid\)|无法读取 \(unreadable\)|跳过 \(skipped\)) ")


def cli(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def entries(*tops: Path) -> int:
    """Files in, counted independently: every directory entry that is not a folder walked into."""
    n = 0
    for top in tops:
        if not top.is_dir():
            n += 1
            continue
        for root, dirs, names in os.walk(top, followlinks=False):
            n += len(names)
            for d in list(dirs):
                if os.path.islink(Path(root) / d) or d.lower().endswith((".xlsx", ".xlsm")):
                    n += 1
                    dirs.remove(d)
    return n


def accounted(report) -> int:
    s = report.summary()
    return s["valid"] + s["invalid"] + s["unreadable"] + s["skipped"]


def skipped(report) -> dict[str, str]:
    return {Path(p).name: why for p, why in report.skipped}


# -- links -------------------------------------------------------------------------------------------

def test_a_link_to_a_file_outside_the_inputs_is_never_read_nor_annotated(tmp_path: Path) -> None:
    secret = tmp_path / "elsewhere" / "另一局的文件.xlsx"
    secret.parent.mkdir()
    shutil.copy(VALID, secret)
    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "看这里.xlsx").symlink_to(secret)
    report = validate_paths([inbox])
    assert report.files == [] and "链接指向输入之外的文件" in skipped(report)["看这里.xlsx"]
    back = tmp_path / "back"
    result = cli("validate", inbox, "--annotate", back, "--jobs", "1")
    assert not back.exists() or not any(back.iterdir())
    assert "跳过 (skipped)" in result.stdout


def test_a_linked_folder_never_vanishes(tmp_path: Path) -> None:
    inbox, outside = tmp_path / "in", tmp_path / "outside"
    (inbox / "科室").mkdir(parents=True)
    outside.mkdir()
    shutil.copy(GOOD, inbox / "科室" / "a.xlsx")
    shutil.copy(VALID, outside / "b.xlsx")
    (inbox / "同一科室").symlink_to(inbox / "科室", target_is_directory=True)
    (inbox / "外面").symlink_to(outside, target_is_directory=True)
    report = validate_paths([inbox])
    assert [Path(f.path).name for f in report.files] == ["a.xlsx"]  # read once, by its real path
    why = skipped(report)
    assert "输入中的文件夹" in why["同一科室"] and "输入之外的文件夹" in why["外面"]
    assert accounted(report) == entries(inbox) == 3


def test_a_link_beside_its_target_never_hides_the_target(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    shutil.copy(GOOD, inbox / "z-真正的文件.xlsx")
    (inbox / "a-链接.xlsx").symlink_to(inbox / "z-真正的文件.xlsx")  # sorts first
    report = validate_paths([inbox])
    assert [Path(f.path).name for f in report.files] == ["z-真正的文件.xlsx"]
    assert "已按实际路径列出" in skipped(report)["a-链接.xlsx"]
    assert accounted(report) == entries(inbox) == 2


def test_a_link_to_a_file_inside_the_inputs_is_read_by_its_real_path(tmp_path: Path) -> None:
    inbox, other = tmp_path / "in", tmp_path / "other"
    inbox.mkdir()
    other.mkdir()
    shutil.copy(GOOD, other / "real.xlsx")
    (inbox / "link.xlsx").symlink_to(other / "real.xlsx")
    report = validate_paths([inbox, other])
    assert [f.path for f in report.files] == [str(other / "real.xlsx")]
    assert len(report.skipped) == 1 and accounted(report) == entries(inbox, other)


def test_dangling_links_devices_and_pipes_are_skipped_with_a_reason(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "gone.xlsx").symlink_to(tmp_path / "nowhere.xlsx")
    os.mkfifo(inbox / "pipe.xlsx")  # reading it would block until the deadline
    (inbox / "null.xlsx").symlink_to("/dev/null")
    report = validate_paths([inbox], jobs=1)
    why = skipped(report)
    assert "不存在" in why["gone.xlsx"] and "不是普通文件" in why["pipe.xlsx"]
    assert "输入之外" in why["null.xlsx"]
    assert report.files == [] and accounted(report) == entries(inbox) == 3
    explicit = validate_paths([inbox / "pipe.xlsx"], jobs=1)
    assert explicit.files == [] and "不是普通文件" in explicit.skipped[0][1]


def test_a_file_named_explicitly_is_read_even_through_a_link(tmp_path: Path) -> None:
    elsewhere = tmp_path / "e"
    elsewhere.mkdir()
    shutil.copy(GOOD, elsewhere / "x.xlsx")
    (tmp_path / "link.xlsx").symlink_to(elsewhere / "x.xlsx")
    report = validate_paths([tmp_path / "link.xlsx"])
    assert [f.path for f in report.files] == [str(tmp_path / "link.xlsx")] and report.files[0].status == "valid"


def test_the_same_file_given_twice_is_read_once_and_said_so(tmp_path: Path) -> None:
    shutil.copy(GOOD, tmp_path / "a.xlsx")
    report = validate_paths([tmp_path, tmp_path / "a.xlsx"])
    assert len(report.files) == 1 and "同一个文件" in report.skipped[0][1]
    assert accounted(report) == 2


def test_a_folder_that_cannot_be_opened_is_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inbox = tmp_path / "in"
    (inbox / "locked").mkdir(parents=True)
    shutil.copy(GOOD, inbox / "a.xlsx")
    real_scandir = os.scandir

    def scandir(path):  # root reads everything: make one folder refuse as it would for another user
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    report = validate_paths([inbox])
    assert "无法打开文件夹" in skipped(report)["locked"]


def test_files_in_equal_files_reported_on_a_tree_of_every_kind(tmp_path: Path) -> None:
    inbox, outside = tmp_path / "in", tmp_path / "outside"
    (inbox / "a" / "b").mkdir(parents=True)
    outside.mkdir()
    shutil.copy(GOOD, inbox / "a" / "good.xlsx")
    shutil.copy(VALID, inbox / "a" / "b" / "bad.xlsx")
    (inbox / "note.txt").write_text("x", encoding="utf-8")
    (inbox / "~$good.xlsx").write_bytes(b"lock")
    (inbox / "empty.xlsx").write_bytes(b"")
    (inbox / "dir.xlsx").mkdir()
    shutil.copy(GOOD, outside / "o.xlsx")
    (inbox / "a" / "to-good.xlsx").symlink_to(inbox / "a" / "good.xlsx")
    (inbox / "to-outside.xlsx").symlink_to(outside / "o.xlsx")
    (inbox / "dangling.xlsx").symlink_to(tmp_path / "no.xlsx")
    (inbox / "b-again").symlink_to(inbox / "a" / "b", target_is_directory=True)
    (inbox / "out-dir").symlink_to(outside, target_is_directory=True)
    os.mkfifo(inbox / "fifo.xlsx")
    report = validate_paths([inbox], jobs=2)
    assert accounted(report) == entries(inbox) == 12
    assert report.summary() == {"files": 4, "valid": 1, "invalid": 1, "unreadable": 2, "skipped": 8}
    c = collect([inbox], "sh-project-self-eval", jobs=2)
    counts = c.counts()
    assert counts.files == entries(inbox) and counts.files_read + counts.skipped == 12


# -- file names ----------------------------------------------------------------------------------------

def test_names_that_are_not_utf8_or_hold_a_newline(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    gbk = os.fsdecode("自评表".encode("gbk") + b".xlsx")  # what unzip makes of a zip from Chinese Windows
    forged = "a.xlsx\n有效 (valid)  伪造.xlsx  [SH999]  总分 100 优秀\nb.xlsx"
    shutil.copy(VALID, inbox / gbk)
    shutil.copy(GOOD, inbox / forged)
    shutil.copy(GOOD, inbox / "tab\tand\u202eright.xlsx")
    result = cli("validate", inbox, "--jobs", "1")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    heads = [line for line in result.stdout.splitlines() if STATUS_LINE.match(line)]
    assert len(heads) == 3  # one per file: the name's newline forged nothing
    assert not any(line.startswith("有效 (valid)  伪造") for line in result.stdout.splitlines())
    assert "\\n有效 (valid)" in result.stdout and "\ufffd" in result.stdout and "\\u202e" in result.stdout
    data = json.loads(cli("validate", inbox, "--json", "--jobs", "1").stdout)
    by_bytes = [f for f in data["files"] if "path_bytes" in f]
    assert len(by_bytes) == 1 and bytes.fromhex(by_bytes[0]["path_bytes"]) == os.fsencode(inbox / gbk)
    assert any(f["path"].endswith(forged) for f in data["files"])  # JSON keeps the name exact (it escapes \n itself)
    back = tmp_path / "back"
    annotated = cli("validate", inbox, "--annotate", back, "--jobs", "1")
    assert annotated.exit_code == 1, annotated.output
    assert [p.name for p in back.iterdir()] == [f"SH007_{shown(Path(gbk).stem)}_批注.xlsx"]  # valid UTF-8, the key first
    out, export = tmp_path / "r.xlsx", tmp_path / "csv"
    rolled = cli("collect", inbox, "-o", out, "--export", export, "--quiet")
    assert rolled.exit_code == 0, rolled.output
    names = [r[0] for r in openpyxl.load_workbook(out)["文件清单"].iter_rows(min_row=4, values_only=True)]
    assert shown(gbk) in names and shown(forged) in names
    text = (export / "findings.csv").read_text(encoding="utf-8-sig")
    assert "\ufffd" in text


def test_keys_with_unusual_characters(tmp_path: Path, spec, seed_values) -> None:
    for key in ("SH2²", "²", "ＳＨ１", "SH¹⁰", "../../etc/passwd", "SH\n1"):
        safe = re.sub(r"[^\w]", "_", key)
        generate_workbook(spec, tmp_path / "in" / f"{safe}.xlsx", values=seed_values, roster_key=key)
    assert sorted(["SH10", "SH2²", "²", "SH2"], key=natural_key) == ["SH2", "SH2²", "SH10", "²"]
    out = tmp_path / "r.xlsx"
    result = cli("collect", tmp_path / "in", "-o", out, "--quiet")
    assert result.exit_code == 0, result.output
    back = tmp_path / "back"
    annotated = cli("validate", tmp_path / "in", "--annotate", back, "--jobs", "1")
    assert annotated.exception is None or isinstance(annotated.exception, SystemExit)
    for p in back.iterdir():
        assert p.parent == back and "\n" not in p.name and "/" not in p.name
    heads = [line for line in annotated.stdout.splitlines() if STATUS_LINE.match(line)]
    assert len(heads) == 6
