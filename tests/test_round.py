"""A collection round kept by a ledger, through the CLI: collect --ledger over three days, and round status,
checked after each day against a model of the round worked out in the test (tests/round_helpers.py)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner

from xltemplate.cli import main
from xltemplate.words import COUNTED, DUPLICATE, MISSING, SUPERSEDED, UNIT_INVALID, UNIT_VALID

from .round_helpers import KEYS, Round, write_roster


def cli(*args: object) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args])


def t(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2021, 5, day, hour, minute)


def sheet(wb: Any, name: str, header_row: int = 3) -> list[dict[str, Any]]:
    ws = wb[name]
    head = [c.value for c in ws[header_row]]
    return [dict(zip(head, r)) for r in ws.iter_rows(min_row=header_row + 1, values_only=True) if r[0] is not None]


def collect_day(r: Round, out: Path, *extra: object) -> dict[str, Any]:
    res = cli("collect", r.inbox, "--roster", r.roster, "-o", out, "--ledger", r.root / "round.xlt.db", "--json", *extra)
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def status(r: Round) -> dict[str, Any]:
    res = cli("round", "status", "--ledger", r.root / "round.xlt.db", "--json")
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


class Day:
    """What the model says about one day: counted files, fates, what changed since the day before."""

    def __init__(self, r: Round, before: dict[str, Any] | None) -> None:
        self.counted = r.counted()
        self.valid, self.invalid, self.missing = r.statuses()
        self.inbox = r.in_inbox()
        self.distinct = r.distinct()
        self.new = [e for e in self.distinct if e.day == r.day]
        prev = before["counted"] if before else {}
        self.changed = [k for k in KEYS if k in self.counted and (k not in prev or
                        (prev[k].sha256, prev[k].valid) != (self.counted[k].sha256, self.counted[k].valid))]
        self.newly_valid = [k for k in self.valid if not (k in prev and prev[k].valid)]
        # Copies of one content: the one with the earliest file time counts (then the shortest name), the rest are 重复.
        by_sha: dict[str, list[str]] = {}
        for name, sha in self.inbox.items():
            by_sha.setdefault(sha, []).append(name)
        first = {sha: min(names, key=lambda n: ((r.inbox / n).stat().st_mtime // 1, len(n), n)) for sha, names in by_sha.items()}
        counted_shas = {e.sha256 for e in self.counted.values()}
        self.fates = {name: (DUPLICATE if first[sha] != name else COUNTED if sha in counted_shas else SUPERSEDED)
                      for name, sha in self.inbox.items()}
        self.from_archive = [k for k, e in self.counted.items() if e.sha256 not in set(self.inbox.values())]

    def as_dict(self) -> dict[str, Any]:
        return {"counted": self.counted}


def check_day(r: Round, out: Path, data: dict[str, Any], model: Day, previous_run: int | None) -> None:
    # --- collect --json: units and files, counted independently -----------------------------------------
    assert data["units"] == {"total": 12, "roster": 12, "valid": len(model.valid), "invalid": len(model.invalid),
                             "missing": len(model.missing)}
    fates = list(model.fates.values())
    read = [next(e for e in r.entries if e.sha256 == sha) for sha in model.inbox.values()]
    read += [model.counted[k] for k in model.from_archive]  # counted from the archive: part of the files read
    assert data["files"] == {
        "total": len(read), "read": len(read), "valid": sum(e.valid for e in read),
        "invalid": sum(not e.valid for e in read), "unreadable": 0, "counted": fates.count(COUNTED) + len(model.from_archive),
        "superseded": fates.count(SUPERSEDED), "duplicate": fates.count(DUPLICATE), "unmatched": 0, "skipped": 0,
        "withdrawn": 0, "not_checked": 0, "from_archive": len(model.from_archive)}
    ledger = data["ledger"]
    assert (ledger["run"], ledger["previous_run"], ledger["received"]) == (r.day, previous_run, len(model.new))
    # Only what the ledger had never seen is read: a second day re-reads nothing it already judged.
    assert (ledger["read"], ledger["reused"]) == (len(model.new), len(model.distinct) - len(model.new))

    # --- the ledger itself ---------------------------------------------------------------------------------
    db = sqlite3.connect(r.root / "round.xlt.db")
    assert db.execute("SELECT count(*) FROM files").fetchone()[0] == len(model.distinct)
    decided = {k: (sha, rule, bool(inbox)) for k, sha, rule, inbox in db.execute(
        "SELECT unit_key, sha256, rule, in_inbox FROM decisions WHERE run_id = ?", (r.day,))}
    assert decided == {k: (e.sha256, r.rule(k), e.sha256 in model.inbox.values()) for k, e in model.counted.items()}
    assert [s for (s,) in db.execute("SELECT state FROM runs ORDER BY id")] == ["finished"] * r.day
    db.close()

    # --- round status --json --------------------------------------------------------------------------------
    st = status(r)
    assert (st["valid"], [i["key"] for i in st["invalid"]], st["missing"]) == (model.valid, model.invalid, model.missing)
    assert all(i["errors"] == 1 for i in st["invalid"])  # one score above its weight each
    since = st["since_previous_run"]
    assert since["previous_run"] == previous_run
    assert since["new_files"] == [e.sha256 for e in model.new]
    assert since["changed_units"] == model.changed and since["newly_valid"] == model.newly_valid
    assert [a["key"] for a in st["from_archive"]] == model.from_archive

    # --- the roll-up -----------------------------------------------------------------------------------------
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames[-1] == "提交记录"
    rows = {row["编号"]: row for row in sheet(wb, "汇总") if row["编号"] in KEYS}
    assert list(rows) == KEYS
    for k in KEYS:
        row, e = rows[k], model.counted.get(k)
        want = MISSING if e is None else UNIT_VALID if e.valid else UNIT_INVALID
        assert row["状态"] == want, k
        if e is not None and e.valid:
            assert row["总分"] == pytest.approx(float(e.total)), k  # the points the unit typed, added up here
        new = sum(1 for x in model.new if x.key == k)
        assert (row["本次新收"], row["本次变化"], row["本次新有效"]) == (
            new or None, "是" if k in model.changed else None, "是" if k in model.newly_valid else None), k
    note = wb["汇总"]["A2"].value
    assert (f"与第 {previous_run} 次汇总" in note) if previous_run else ("第 1 次汇总" in note)
    files = {row["文件"]: row for row in sheet(wb, "文件清单")}
    assert {n: row["处理"] for n, row in files.items() if row["编号"]} == (
        model.fates | {next(e.name for e in r.entries if e.sha256 == model.counted[k].sha256): COUNTED for k in model.from_archive})
    received = sheet(wb, "提交记录")
    names_now = {sha: name for name, sha in model.inbox.items() if model.fates[name] != DUPLICATE}
    assert [(x["序号"], x["编号"], x["文件"], x["处理"], x["在收件文件夹"]) for x in received] == [
        (n, e.key, names_now.get(e.sha256, e.name),
         COUNTED if model.counted.get(e.key) is e else SUPERSEDED, "是" if e.sha256 in model.inbox.values() else "否")
        for n, e in enumerate(model.distinct, start=1)]
    gone = [x for x in received if x["在收件文件夹"] == "否"]
    assert all(x["说明"].startswith("已不在收件文件夹") for x in gone)
    findings = sheet(wb, "问题清单")
    assert sorted(f["编号"] for f in findings if f["代码"] == "return-missing-from-inbox") == model.from_archive


def test_a_round_over_three_days(tmp_path: Path) -> None:
    r = Round(tmp_path, write_roster(tmp_path / "名单.csv"))
    history: list[Day] = []

    # Day 1: six units return; SH007's return has a score above its weight.
    r.day = 1
    for n, (key, loss) in enumerate([("SH001", 0), ("SH002", 2), ("SH003", 5), ("SH004", 1), ("SH010", 3)]):
        r.put(f"d1-{key}.xlsx", key, saved=t(1, 10, 5 * n), loss=loss)
    r.put("d1-SH007.xlsx", "SH007", saved=t(1, 10, 30), invalid=True)
    data = collect_day(r, tmp_path / "day1.xlsx")
    history.append(Day(r, None))
    check_day(r, tmp_path / "day1.xlsx", data, history[-1], None)

    # Day 2: SH007 corrects its return; SH011 sends a draft and, later that day, its final return; SH012 returns;
    # SH004 resends without a saved time, so the day it came decides (the first one had a saved time).
    r.day = 2
    r.put("d2-SH007.xlsx", "SH007", saved=t(2, 10), loss=4)
    r.put("d2-SH011-draft.xlsx", "SH011", saved=t(2, 8), invalid=True)
    r.put("d2-SH011.xlsx", "SH011", saved=t(2, 11))
    r.put("d2-SH012.xlsx", "SH012", saved=t(2, 9), loss=6)
    r.put("d2-SH004.xlsx", "SH004", saved=None, loss=2)
    data = collect_day(r, tmp_path / "day2.xlsx")
    history.append(Day(r, history[-1].as_dict()))
    check_day(r, tmp_path / "day2.xlsx", data, history[-1], 1)
    assert r.counted()["SH004"].name == "d2-SH004.xlsx" and r.rule("SH004") == "arrival"

    # Day 3: SH002's only return is deleted from the inbox (it still counts, from the archive, with a warning);
    # SH007's first, superseded attempt is deleted; SH010's file is renamed; SH003's is saved a second time.
    r.day = 3
    (r.inbox / "d1-SH002.xlsx").unlink()
    (r.inbox / "d1-SH007.xlsx").unlink()
    (r.inbox / "d1-SH010.xlsx").rename(r.inbox / "SH010 最终版.xlsx")
    shutil.copy(r.inbox / "d1-SH003.xlsx", r.inbox / "d1-SH003 (1).xlsx")
    r.touch(r.inbox / "d1-SH003 (1).xlsx")
    data = collect_day(r, tmp_path / "day3.xlsx")
    history.append(Day(r, history[-1].as_dict()))
    check_day(r, tmp_path / "day3.xlsx", data, history[-1], 2)
    st = status(r)
    assert sorted((a["how"], Path(a["path"]).name) for a in st["since_previous_run"]["absent"]) == [
        ("deleted", "d1-SH002.xlsx"), ("deleted", "d1-SH007.xlsx")]
    assert [(Path(m["from"][0]).name, Path(m["to"][0]).name) for m in st["moves"]] == [("d1-SH010.xlsx", "SH010 最终版.xlsx")]
    text = cli("round", "status", "--ledger", tmp_path / "round.xlt.db")
    assert "按归档副本计入：SH002（d1-SH002.xlsx）" in text.output and "改名或移动的文件 1 个" in text.output
