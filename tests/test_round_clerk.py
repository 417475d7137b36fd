"""The clerk's round commands: remind, annotate, withdraw and reinstate; and what the ledger commands refuse."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner

from xltemplate.cli import main
from xltemplate.ledger import SCHEMA_VERSION

from .round_helpers import KEYS, Round, write_roster


def cli(*args: object) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args])


def collect(r: Round, *extra: object) -> Any:
    result = cli("collect", r.inbox, "--roster", r.roster, "-o", r.root / "r.xlsx", "--ledger", r.root / "round.xlt.db", *extra)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture()
def round1(tmp_path: Path) -> Round:
    """SH001 valid; SH002 invalid; SH003 a valid draft and an invalid later return; the other nine units missing."""
    r = Round(tmp_path, write_roster(tmp_path / "名单.csv"))
    r.day = 1
    r.put("SH001.xlsx", "SH001", saved=dt.datetime(2021, 5, 1, 9))
    r.put("无线电 SH002.xlsx", "SH002", saved=dt.datetime(2021, 5, 1, 9), invalid=True)
    r.put("SH003-first.xlsx", "SH003", saved=dt.datetime(2021, 5, 1, 8))
    r.put("SH003-again.xlsx", "SH003", saved=dt.datetime(2021, 5, 1, 12), invalid=True)
    collect(r)
    return r


# -- remind --------------------------------------------------------------------------------------------------


def test_remind_lists_exactly_the_units_to_chase_with_their_contacts(round1: Round, tmp_path: Path) -> None:
    out = tmp_path / "催报名单.xlsx"
    result = cli("round", "remind", "--ledger", tmp_path / "round.xlt.db", "-o", out, "--csv")
    assert result.exit_code == 0, result.output
    chase = ["SH002", "SH003"] + KEYS[3:]
    assert f"要催报的单位 {len(chase)} 个" in result.output
    ws = openpyxl.load_workbook(out).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == ("编号", "预算单位", "项目名称", "状态", "原因", "联系人", "电话", "邮箱", "最新文件", "收到时间", "错误数")
    assert [r[0] for r in rows[1:]] == chase  # the header is row 1: ready for mail merge
    by_key = {r[0]: r for r in rows[1:]}
    roster = {r["编号"]: r for r in csv.DictReader(open(round1.roster, encoding="utf-8-sig"))}
    for key in chase:
        assert by_key[key][1:3] == (roster[key]["预算单位"], roster[key]["项目名称"])
        assert by_key[key][5:8] == (roster[key]["联系人"], roster[key]["电话"], roster[key]["邮箱"])  # 13800000001 keeps its digits
        assert "\n" not in by_key[key][4]  # the reason is one line
    assert by_key["SH002"][3:5] == ("已提交有误", "最新文件“无线电 SH002.xlsx”（05-01收到）".replace("05-01", by_key["SH002"][9].strftime("%m-%d"))
                                    + "有 1 个错误：自评分超过权重（E14），请修改后重新提交")
    assert by_key["SH003"][8] == "SH003-again.xlsx" and by_key["SH003"][10] == 1  # the newest return counts, invalid or not
    assert by_key["SH004"][3:5] == ("未提交", "未收到文件") and by_key["SH004"][8:] == (None, None, None)
    with open(tmp_path / "催报名单.csv", encoding="utf-8-sig", newline="") as fh:
        assert [r[0] for r in csv.reader(fh)] == ["编号"] + chase
    assert ws.print_title_rows == "$1:$1" and ws.page_setup.orientation == "landscape"


def test_remind_without_contact_columns_and_a_file_withdrawn(tmp_path: Path) -> None:
    r = Round(tmp_path, write_roster(tmp_path / "名单.csv", contacts=False))
    r.day = 1
    r.put("SH001.xlsx", "SH001", saved=dt.datetime(2021, 5, 1, 9))
    collect(r)
    assert cli("round", "withdraw", "SH001", "SH001.xlsx", "--ledger", tmp_path / "round.xlt.db").exit_code == 0
    collect(r)
    assert cli("round", "remind", "--ledger", tmp_path / "round.xlt.db", "-o", tmp_path / "c.xlsx").exit_code == 0
    rows = list(openpyxl.load_workbook(tmp_path / "c.xlsx").active.iter_rows(values_only=True))
    assert rows[0] == ("编号", "预算单位", "项目名称", "状态", "原因", "最新文件", "收到时间", "错误数")
    assert rows[1][0] == "SH001" and rows[1][4].startswith("收到的文件都没有计入")


# -- annotate ------------------------------------------------------------------------------------------------


def test_annotate_writes_the_invalid_units_copies_from_the_archive(round1: Round, tmp_path: Path) -> None:
    (round1.inbox / "无线电 SH002.xlsx").unlink()  # gone from the inbox: the copy is made from the archive
    collect(round1)
    result = cli("round", "annotate", "--ledger", tmp_path / "round.xlt.db", "-o", tmp_path / "退回")
    assert result.exit_code == 0, result.output
    made = sorted(p.name for p in (tmp_path / "退回").iterdir())
    assert made == ["SH002_无线电 SH002_批注.xlsx", "SH003-again_批注.xlsx"]  # exactly the invalid units (a name
    # that starts with its key does not get it twice)
    wb = openpyxl.load_workbook(tmp_path / "退回" / made[0])
    assert wb.sheetnames[0] == "问题清单" and "无线电 SH002.xlsx" in wb["问题清单"]["A1"].value
    assert [r[6] for r in wb["问题清单"].iter_rows(min_row=3, values_only=True)] == ["score-above-weight"]
    refused = cli("round", "annotate", "--ledger", tmp_path / "round.xlt.db", "-o", round1.inbox / "back")
    assert refused.exit_code == 2 and "输入文件夹" in refused.output


# -- withdraw and reinstate ----------------------------------------------------------------------------------


def test_withdrawing_the_counted_return_lets_the_one_before_count_and_can_be_undone(round1: Round, tmp_path: Path) -> None:
    ledger = tmp_path / "round.xlt.db"
    wrong = cli("round", "withdraw", "SH001", "SH003-again.xlsx", "--ledger", ledger)
    assert wrong.exit_code == 2 and "属于单位 SH003，不是 SH001" in wrong.output
    done = cli("round", "withdraw", "SH003", "SH003-again.xlsx", "--ledger", ledger, "--reason", "单位称误发了错误版本")
    assert done.exit_code == 0 and "下次汇总起不再计入" in done.output
    again = cli("round", "withdraw", "SH003", "SH003-again.xlsx", "--ledger", ledger)
    assert again.exit_code == 2 and "已经撤回过" in again.output
    data = json.loads(collect(round1, "--json").output)
    assert data["units"]["valid"] == 2 and data["files"]["withdrawn"] == 1  # SH003's first return counts again
    wb = openpyxl.load_workbook(tmp_path / "r.xlsx")
    files = {r[0]: r for r in wb["文件清单"].iter_rows(min_row=4, values_only=True)}
    assert files["SH003-again.xlsx"][3] == "已撤回" and "单位称误发了错误版本" in files["SH003-again.xlsx"][4]
    record = {r[4]: r for r in wb["提交记录"].iter_rows(min_row=4, values_only=True)}
    assert record["SH003-again.xlsx"][7] == "已撤回" and record["SH003-first.xlsx"][7] == "计入"
    st = json.loads(cli("round", "status", "--ledger", ledger, "--json").output)
    assert [w["key"] for w in st["withdrawn"]] == ["SH003"] and "SH003" in st["since_previous_run"]["changed_units"]
    back = cli("round", "reinstate", "SH003", "SH003-again.xlsx", "--ledger", ledger, "--reason", "核实后有效")
    assert back.exit_code == 0
    data = json.loads(collect(round1, "--json").output)
    assert data["units"]["valid"] == 1 and data["files"]["withdrawn"] == 0


def test_a_withdrawn_return_gone_from_the_inbox_leaves_its_unit_missing(round1: Round, tmp_path: Path) -> None:
    (round1.inbox / "SH001.xlsx").unlink()
    text = collect(round1).output
    assert "提示：1 个计入的文件已不在收件文件夹，按台账中的归档副本计入：SH001（SH001.xlsx）" in text
    sha = next(e.sha256 for e in round1.entries if e.key == "SH001")
    assert cli("round", "withdraw", "SH001", sha[:8], "--ledger", tmp_path / "round.xlt.db").exit_code == 0
    data = json.loads(collect(round1, "--json").output)
    assert data["units"]["missing"] == 10 and data["files"]["from_archive"] == 0


# -- what the ledger commands refuse --------------------------------------------------------------------------


def _csv(folder: Path, _: Round | None = None) -> Path:
    p = folder / "名单.xlt.db"
    p.write_text("编号,预算单位\nSH001,x\n", encoding="utf-8")
    return p


def _newer(p: Path, round1: Round) -> Path:
    db = round1.root / "round.xlt.db"
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    return db


@pytest.mark.parametrize("make,words", [
    (lambda p, r: p / "missing.xlt.db", "台账文件不存在"),
    (_csv, "不是 SQLite 数据库"),
    (lambda p, r: (p / "empty.db").write_bytes(b"") or p / "empty.db", "文件为空，不是台账"),
    (_newer, f"比本程序支持的版本 {SCHEMA_VERSION} 新"),
])
@pytest.mark.parametrize("command", [
    ["round", "status"], ["round", "remind", "-o", "{tmp}/c.xlsx"], ["round", "annotate", "-o", "{tmp}/back"],
    ["round", "withdraw", "SH001", "SH001.xlsx"],
])
def test_round_commands_refuse_what_is_not_a_usable_ledger(round1: Round, tmp_path: Path, make, words, command) -> None:
    target = make(tmp_path, round1)
    before = target.read_bytes() if target.exists() else None
    result = cli(*[a.replace("{tmp}", str(tmp_path)) for a in command], "--ledger", target)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("错误：") and words in result.output and "Traceback" not in result.output
    assert (target.read_bytes() if target.exists() else None) == before  # never touched
    assert not (tmp_path / "c.xlsx").exists() and not (tmp_path / "back").exists()


def test_collect_refuses_a_ledger_it_cannot_use_and_writes_nothing(round1: Round, tmp_path: Path) -> None:
    bad = _csv(tmp_path)
    result = cli("collect", round1.inbox, "-o", tmp_path / "new.xlsx", "--ledger", bad)
    assert result.exit_code == 2 and "不是 SQLite 数据库" in result.output
    assert not (tmp_path / "new.xlsx").exists() and not (tmp_path / "名单.xlt.archive").exists()
    newer = _newer(tmp_path, round1)
    result = cli("collect", round1.inbox, "--roster", round1.roster, "-o", tmp_path / "new.xlsx", "--ledger", newer)
    assert result.exit_code == 2 and "请升级 xltemplate" in result.output and not (tmp_path / "new.xlsx").exists()


def test_the_ledger_and_its_archive_never_go_inside_the_inbox(round1: Round, tmp_path: Path) -> None:
    result = cli("collect", round1.inbox, "-o", tmp_path / "new.xlsx", "--ledger", round1.inbox / "round.xlt.db")
    assert result.exit_code == 2 and "与收件文件夹" in result.output and not (round1.inbox / "round.xlt.db").exists()
    result = cli("collect", tmp_path / "round.xlt.archive", "-o", tmp_path / "new.xlsx", "--ledger", tmp_path / "round.xlt.db")
    assert result.exit_code == 2 and "与收件文件夹" in result.output
    result = cli("collect", round1.inbox, "--roster", round1.roster, "-o", tmp_path / "round.xlt.archive" / "x.xlsx",
                 "--ledger", tmp_path / "round.xlt.db")
    assert result.exit_code == 2 and "归档文件夹" in result.output


def test_archive_and_roster_changed_ok_need_a_ledger(round1: Round, tmp_path: Path) -> None:
    result = cli("collect", round1.inbox, "-o", tmp_path / "new.xlsx", "--roster-changed-ok")
    assert result.exit_code == 2 and "只能与 --ledger 一起使用" in result.output


def test_a_name_that_is_not_utf8_goes_through_a_round(tmp_path: Path) -> None:
    r = Round(tmp_path, write_roster(tmp_path / "名单.csv"))
    r.day = 1
    r.put("SH001.xlsx", "SH001", saved=dt.datetime(2021, 5, 1, 9))
    odd = os.fsdecode(os.fsencode(str(r.inbox)) + b"/\xd7\xd4\xc6\xc0\xb1\xed.xlsx")  # 自评表 in GBK, as unzip leaves it
    os.rename(r.inbox / "SH001.xlsx", odd)
    collect(r)
    record = list(openpyxl.load_workbook(tmp_path / "r.xlsx")["提交记录"].iter_rows(min_row=4, values_only=True))
    assert record[0][4] == "\ufffd" * 6 + ".xlsx" and record[0][7] == "计入"
    os.rename(odd, r.inbox / "自评表.xlsx")
    data = json.loads(collect(r, "--json").output)
    assert data["ledger"]["read"] == 0 and data["units"]["valid"] == 1
