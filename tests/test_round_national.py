"""A round over the national form's returns (the second family): ``collect --ledger`` counts what
``collect`` counts, keeps the family's roll-up tables, takes the round's template from the ledger on
later runs, and reads again exactly the files whose key's targets changed in the targets table."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import openpyxl
from click.testing import CliRunner

from tests.conftest import SAMPLES
from xltemplate.cli import main

NATIONAL = SAMPLES / "national"
ROSTER, TARGETS = NATIONAL / "roster.csv", NATIONAL / "targets.csv"


def collect(out: Path, *extra: str, targets: Path = TARGETS) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["collect", str(NATIONAL / "returns"), "--roster", str(ROSTER), "--targets", str(targets),
                                       "-o", str(out), "--json", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def sheet(path: Path, name: str) -> list[tuple[Any, ...]]:
    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        return [tuple(r) for r in wb[name].iter_rows(values_only=True)]
    finally:
        wb.close()


def status(path: Path) -> dict[str, str]:
    """汇总's 状态 by key (its column found by its header: a round's 汇总 has three columns more)."""
    rows = sheet(path, "汇总")
    column = next(r.index("状态") for r in rows if "状态" in r)
    return {str(r[0]): str(r[column]) for r in rows if r[0] and str(r[0]).startswith("N")}


def test_a_round_over_the_national_returns_counts_what_collect_counts(tmp_path: Path) -> None:
    plain = collect(tmp_path / "plain.xlsx")
    files = sorted(p for p in (NATIONAL / "returns").iterdir() if p.suffix == ".xlsx")
    ledger = str(tmp_path / "第一轮.xlt.db")

    day1 = collect(tmp_path / "day1.xlsx", "--ledger", ledger)
    assert day1["units"] == plain["units"] and day1["units"]["valid"] == 7
    assert {k: v for k, v in day1["files"].items() if k not in ("withdrawn", "not_checked", "from_archive")} == plain["files"]
    assert day1["template"] == {"id": "cn-project-self-eval", "version": "2020.1", "detected": True, "from_ledger": False}
    assert (day1["ledger"]["received"], day1["ledger"]["read"], day1["ledger"]["reused"]) == (len(files), len(files), 0)

    # The family's own tables are there, the same rows as without a ledger, and 提交记录 beside them.
    names = openpyxl.load_workbook(tmp_path / "day1.xlsx", read_only=True).sheetnames
    assert {"指标结果", "统计", "差距分析", "提交记录"} <= set(names)
    for name in ("指标结果", "差距分析"):
        assert sheet(tmp_path / "day1.xlsx", name)[1:] == sheet(tmp_path / "plain.xlsx", name)[1:], name
    # 统计 the same but for the file counts a round adds (已撤回, 未校验 …: all 0 here)
    extra = [r for r in sheet(tmp_path / "day1.xlsx", "统计")[1:] if r not in sheet(tmp_path / "plain.xlsx", "统计")]
    assert extra and all(r[0] == "文件" and r[2] == 0 for r in extra), extra
    received = [r for r in sheet(tmp_path / "day1.xlsx", "提交记录") if isinstance(r[0], int)]
    assert sorted(r[0] for r in received) == list(range(1, len(files) + 1))

    # Day 2, nothing new, no --template: the ledger's template, nothing read, the same counts.
    day2 = collect(tmp_path / "day2.xlsx", "--ledger", ledger)
    assert day2["template"]["from_ledger"] is True and day2["template"]["detected"] is False
    assert (day2["ledger"]["read"], day2["ledger"]["reused"]) == (0, len(files))
    assert day2["units"] == plain["units"]
    assert sheet(tmp_path / "day2.xlsx", "指标结果")[1:] == sheet(tmp_path / "plain.xlsx", "指标结果")[1:]


def test_a_changed_target_reads_again_exactly_that_project_s_files(tmp_path: Path) -> None:
    ledger = str(tmp_path / "r.xlt.db")
    day1 = collect(tmp_path / "day1.xlsx", "--ledger", ledger)
    before = status(tmp_path / "day1.xlsx")
    assert before["N01"] == "已提交有效"
    # N01's files, known independently of the ledger: validate names each file's key.
    listed = json.loads(CliRunner().invoke(main, ["validate", str(NATIONAL / "returns"), "--json"]).output)["files"]
    n01 = [f for f in listed if f["key"] == "N01"]
    assert n01

    # The bureau corrects one target of N01 in its table: N01's returns no longer carry the table's targets.
    with open(TARGETS, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    first = next(n for n, r in enumerate(rows) if r[0] == "N01")
    rows[first][6] = str(int(rows[first][6]) + 1)
    changed = tmp_path / "targets.csv"
    with open(changed, "w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows(rows)

    day2 = collect(tmp_path / "day2.xlsx", "--ledger", ledger, targets=changed)
    assert day2["ledger"]["read_why"] == {"context": len(n01)}
    assert day2["ledger"]["reused"] == day1["ledger"]["received"] - len(n01)
    after = status(tmp_path / "day2.xlsx")
    assert after["N01"] == "已提交有误"
    assert {k: v for k, v in after.items() if k != "N01"} == {k: v for k, v in before.items() if k != "N01"}
    assert day2["units"]["valid"] == day1["units"]["valid"] - 1
    problems = [r for r in sheet(tmp_path / "day2.xlsx", "问题清单") if "target-changed" in map(str, r) and "N01" in map(str, r)]
    assert problems

    # Back to the table it was: read again, and valid again.
    day3 = collect(tmp_path / "day3.xlsx", "--ledger", ledger)
    assert day3["ledger"]["read_why"] == {"context": len(n01)}
    assert status(tmp_path / "day3.xlsx")["N01"] == "已提交有效"


def test_the_clerk_s_round_commands_over_national_returns(tmp_path: Path) -> None:
    collect(tmp_path / "plain.xlsx")
    plain = status(tmp_path / "plain.xlsx")  # what collect without a ledger says of each project
    invalid = sorted(k for k, v in plain.items() if v == "已提交有误")
    missing = sorted(k for k, v in plain.items() if v == "未提交")
    assert invalid and missing
    ledger = str(tmp_path / "r.xlt.db")
    collect(tmp_path / "day1.xlsx", "--ledger", ledger)
    runner = CliRunner()

    got = json.loads(runner.invoke(main, ["round", "status", "--ledger", ledger, "--json"]).output)
    assert sorted(u["key"] for u in got["invalid"]) == invalid and sorted(got["missing"]) == missing
    assert sorted(got["valid"]) == sorted(k for k, v in plain.items() if v == "已提交有效")

    result = runner.invoke(main, ["round", "remind", "--ledger", ledger, "-o", str(tmp_path / "催报名单.xlsx"), "--csv"])
    assert result.exit_code == 0, result.output
    with open(tmp_path / "催报名单.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["编号"] for r in rows) == sorted(invalid + missing)
    assert all(r["原因"] == "未收到文件" for r in rows if r["编号"] in missing)

    result = runner.invoke(main, ["round", "annotate", "--ledger", ledger, "-o", str(tmp_path / "退回")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name.split("_")[0] for p in (tmp_path / "退回").iterdir()) == invalid
