"""The roll-up written in one pass over the units (workbook.ONE_PASS, issue 15) is the roll-up written sheet by sheet.

In one pass, 汇总, 指标得分 (指标结果), 未提交 and 文字材料 take their rows unit by unit, each unit's report loaded
once from the spill, and 统计's figures are summed on the way. The bytes must be those of a pass per sheet, with
the lean writer and with stock XlsxWriter, whatever order the units' statuses come in (formats are numbered in the
order a row using them is first written out).
"""

from __future__ import annotations

import importlib
import shutil
from collections import Counter
from pathlib import Path

import pytest

from xltemplate.catalog import resolve_template
from xltemplate.roster import read_roster
from xltemplate.rollup import Collection, collect, write_rollup
from xltemplate.rollup import spill as spill_mod
from xltemplate.words import MISSING, UNIT_INVALID, UNIT_VALID

from .conftest import SAMPLES

lean = importlib.import_module("xltemplate.rollup.lean")
workbook = importlib.import_module("xltemplate.rollup.workbook")


def _first(roster: bool = True) -> Collection:
    spec = resolve_template("sh-project-self-eval")
    return collect([SAMPLES / "returns"], spec, roster=read_roster(SAMPLES / "roster.csv", spec) if roster else None)


def _both_ways(c: Collection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str = "") -> dict[str, bytes]:
    """The roll-up of ``c`` in one pass and sheet by sheet, with the lean writer and with stock XlsxWriter."""
    got = {}
    for stock in (False, True):
        monkeypatch.setattr(lean, "USE_LEAN", not stock)
        for one in (True, False):
            monkeypatch.setattr(workbook, "ONE_PASS", one)
            way = f"{'stock' if stock else 'lean'}, {'one pass' if one else 'sheet by sheet'}"
            got[way] = write_rollup(c, tmp_path / f"{name}{way}.xlsx").read_bytes()
    monkeypatch.setattr(lean, "USE_LEAN", True)
    monkeypatch.setattr(workbook, "ONE_PASS", True)
    return got


def _same(got: dict[str, bytes]) -> None:
    first = next(iter(got.values()))
    assert [way for way, data in got.items() if data != first] == []


@pytest.mark.parametrize("case", ["first form, roster", "first form, no roster", "national, roster and targets",
                                  "national, no roster"])
def test_one_pass_writes_the_bytes_of_a_pass_per_sheet(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if case.startswith("first"):
        c = _first(roster=case.endswith(", roster"))
    elif case.endswith("targets"):
        from xltemplate.identify import RunContext
        from xltemplate.targets import read_targets

        spec = resolve_template("cn-project-self-eval")
        roster = read_roster(SAMPLES / "national" / "roster.csv", spec)
        run = RunContext.builtin(spec).with_targets(read_targets(SAMPLES / "national" / "targets.csv", spec, roster))
        c = collect([SAMPLES / "national" / "returns"], spec, roster=roster, templates=run)
    else:
        c = collect([SAMPLES / "national" / "returns"], None)
    statuses = Counter(r.status for r in c.rows)
    assert statuses[UNIT_VALID] and statuses[UNIT_INVALID], statuses
    _same(_both_ways(c, tmp_path, monkeypatch))


@pytest.mark.parametrize("national", [False, True])
def test_one_pass_numbers_formats_as_sheet_by_sheet_whatever_order_the_statuses_come_in(
        national: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each status's format is first used by the unit that first has it: put first and last in turn, each status's
    units (and a unit alone, and none at all)."""
    c = collect([SAMPLES / "national" / "returns"], None) if national else _first()
    rows = list(c.rows)
    statuses = sorted({r.status for r in rows})
    assert len(statuses) == (2 if national else 3)
    orders = {"as collected": rows, "reversed": rows[::-1], "one unit": rows[:1], "none": []}
    for status in statuses:
        these = [r for r in rows if r.status == status]
        others = [r for r in rows if r.status != status]
        orders[f"{status} first"] = these + others
        orders[f"{status} last"] = others + these
        orders[f"only the last {status}"] = others + these[-1:]
    for name, order in orders.items():
        c.rows = order
        got = _both_ways(c, tmp_path, monkeypatch, name)
        first = next(iter(got.values()))
        assert [way for way, data in got.items() if data != first] == [], name


def test_a_round_is_written_the_same_in_one_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """collect --ledger: 汇总's columns since the last run and 提交记录, on a second run with a file gone."""
    from xltemplate.rounds import collect_round

    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES / "returns", inbox)
    roster = read_roster(SAMPLES / "roster.csv", "sh-project-self-eval")
    collect_round([inbox], "sh-project-self-eval", ledger=tmp_path / "l.db", roster=roster, output=tmp_path / "1.xlsx")
    (inbox / "无线电监测站.xlsx").unlink()
    done = collect_round([inbox], "sh-project-self-eval", ledger=tmp_path / "l.db", roster=roster, output=tmp_path / "2.xlsx")
    with done.collection as c:
        assert c.round is not None and c.counts().from_archive == 1
        _same(_both_ways(c, tmp_path, monkeypatch))


def _loads(c: Collection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Counter[int]:
    """How many times each spilled report is loaded (not found among the spill's recent ones) to write the roll-up."""
    got: Counter[int] = Counter()
    real = spill_mod.Spill.load

    def load(self: spill_mod.Spill, where: int) -> object:
        if where not in self._recent:
            got[where] += 1
        return real(self, where)

    monkeypatch.setattr(spill_mod.Spill, "load", load)
    write_rollup(c, tmp_path / "loads.xlsx")
    monkeypatch.setattr(spill_mod.Spill, "load", real)
    return got


@pytest.mark.parametrize("one", [True, False])
def test_one_pass_loads_each_counted_report_once(one: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once for its unit's rows, and once more at most for 问题清单 when it has findings (its rows come file by file;
    a report still among the spill's recent ones is not loaded again)."""
    monkeypatch.setattr(workbook, "ONE_PASS", one)
    c = _first()
    assert c.spill is not None
    got = _loads(c, tmp_path, monkeypatch)
    counted = [r.counted for r in c.rows if r.counted is not None]
    plain = [ret._where for ret in counted if not ret.brief.codes]
    noted = [ret._where for ret in counted if ret.brief.codes]
    assert plain and noted
    if one:
        assert [got[w] for w in plain] == [1] * len(plain)
        assert all(1 <= got[w] <= 2 for w in noted)
    else:  # (what the one pass saves: the test can tell; 汇总 reads each report's head, collect.HEADS, not the report)
        assert all(got[w] >= 2 for w in plain)
    c.close()


def test_the_writer_keeps_no_list_of_the_units(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In one pass, no table is asked for whole (汇总's, 未提交's, 文字材料's, 文件清单's rows come one at a time)."""
    tables = importlib.import_module("xltemplate.rollup.tables")
    asked: list[str] = []
    for name in ("submissions", "missing", "texts", "files", "scores_by_unit"):
        real = getattr(tables, name)
        monkeypatch.setattr(tables, name, lambda *a, _n=name, _r=real, **k: asked.append(_n) or _r(*a, **k))
    c = _first()
    write_rollup(c, tmp_path / "one.xlsx")
    assert asked == []
    monkeypatch.setattr(workbook, "ONE_PASS", False)
    write_rollup(c, tmp_path / "apart.xlsx")
    assert set(asked) == {"submissions", "missing", "texts", "scores_by_unit"}
    assert (tmp_path / "one.xlsx").read_bytes() == (tmp_path / "apart.xlsx").read_bytes()
    assert MISSING in {r.status for r in c.rows}


@pytest.mark.parametrize("text, lines", [("甲\n乙", 2), ("一\n二\n三", 3), ("甲乙", 1), ("x" * 200, 0),
                                         ("𠀀" * 11, 2), ("😀" * 11, 2), ("ก" * 11, 2)])
def test_a_short_text_that_breaks_its_line_gets_a_row_of_its_lines(text: str, lines: int, tmp_path: Path) -> None:
    """A table's row is as tall as its texts: a short text with a line break in it too (it was given one line), and
    a short text of characters two ems wide (CJK beyond the BMP, as in a rare name; emoji; Thai), which its length
    alone took for one line (printing.surely_one_line)."""
    from xltemplate.printing import text_height, wrapped_lines

    c = _first()
    w = workbook._Writer(c, tmp_path / "x.xlsx")
    w.plans = {}
    widths = [8.0, 24.0]
    ws = w._sheet("表", "表", "说明", ["编号", "文字"], widths)
    table = workbook._Table(w, ws, ["key", "text"], {}, widths)
    table.put({"key": "K1", "text": text})
    table.put({"key": "K2", "text": "短"})
    table.end()
    expected = text_height(lines or wrapped_lines(text, widths[1], workbook.BODY_PT), workbook.BODY_PT)
    assert lines == 0 or wrapped_lines(text, widths[1], workbook.BODY_PT) == lines
    assert ws.row_sizes[3][0] == int(expected * 4 / 3 + 0.5)
    assert ws.row_sizes[4][0] == int(text_height(1, workbook.BODY_PT) * 4 / 3 + 0.5)
    w.wb.close()


def test_received_shows_each_sha256_whole_in_two_lines(tmp_path: Path) -> None:
    """提交记录: the 64 hex digits in two lines of 32 (a row two lines tall), not wrapped wherever the cell ends; joined,
    they are received.csv's sha256 (what sha256sum prints)."""
    import openpyxl

    from xltemplate.printing import text_height, wrapped_lines
    from xltemplate.rollup import tables
    from xltemplate.rounds import collect_round

    roster = read_roster(SAMPLES / "roster.csv", "sh-project-self-eval")
    done = collect_round([SAMPLES / "returns"], "sh-project-self-eval", ledger=tmp_path / "l.db", roster=roster,
                         output=tmp_path / "r.xlsx")
    with done.collection as c:
        shas = [r["sha256"] for r in tables.received(c)]
    ws = openpyxl.load_workbook(tmp_path / "r.xlsx")["提交记录"]
    shown = [ws.cell(row=n, column=12).value for n in range(4, 4 + len(shas))]
    assert shas and all(len(s) == 64 for s in shas)
    assert shown == [f"{s[:32]}\n{s[32:]}" for s in shas]
    assert ws.column_dimensions["L"].width >= 38  # (38 and XlsxWriter's padding)
    assert all(wrapped_lines(v, 38, workbook.BODY_PT) == 2 for v in shown)  # the two lines, each fits
    heights = [ws.row_dimensions[n].height for n in range(4, 4 + len(shas))]
    assert min(heights) >= round(text_height(2, workbook.BODY_PT), 2)  # (taller for its 说明 or 路径, some)


def test_the_file_list_shows_each_sha256_whole_in_two_lines(tmp_path: Path) -> None:
    """文件清单 as 提交记录: the 64 hex digits in two lines of 32, each fitting its column (it wrapped them wherever the
    cell ended, in four lines of uneven length); a skipped file has none."""
    import openpyxl

    from xltemplate.printing import wrapped_lines
    from xltemplate.rollup import tables

    roster = read_roster(SAMPLES / "roster.csv", "sh-project-self-eval")
    with collect([SAMPLES / "returns"], "sh-project-self-eval", roster=roster) as c:
        shas = [r["sha256"] for r in tables.iter_files(c)]
        write_rollup(c, tmp_path / "r.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "r.xlsx")["文件清单"]
    assert ws.cell(row=3, column=10).value == "SHA-256"
    shown = [ws.cell(row=n, column=10).value for n in range(4, 4 + len(shas))]
    assert len([s for s in shas if s]) >= 20 and None in shas  # (the samples' skipped file)
    assert shown == [f"{s[:32]}\n{s[32:]}" if s else None for s in shas]
    assert ws.column_dimensions["J"].width >= 38
    assert all(wrapped_lines(v, 38, workbook.BODY_PT) == 2 for v in shown if v)
