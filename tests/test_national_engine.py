"""The national form itself in real engines: LibreOffice and Gnumeric compute every cell as we cached it.

Workbooks of the built-in ``cn-project-self-eval``, filled with values around every rule's edges
(B just below, at and above A; at 2A for ≤; A = 0 for =; each 完成情况 band's bounds; 130 % of a ≥
target with and without a 偏差原因; funding parts that do and do not add up, a budget of 0), are
stripped of every cached formula value, recalculated by the engine, and every formula cell (校验
texts included) must equal the value we cached, which is the Python twin's. A few cells are also
checked against values worked out by hand, so that twin and engine cannot agree on a wrong rule.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from tests.engines import formula_cells, same_value, strip_cached_values
from tools.gnumeric import recalc
from tools.soffice import convert
from xltemplate.catalog import resolve_template
from xltemplate.families.rule_scored.layout import Layout
from xltemplate.families.rule_scored.spec import RuleSpec, Target
from xltemplate.form.generate import generate_workbook

pytestmark = [pytest.mark.engine, pytest.mark.filterwarnings("ignore:Workbook contains no default style")]

D = Decimal
FULL, PART, POOR = "达成年度指标", "部分达成年度指标并具有一定效果", "未达成年度指标且效果较差"
REASON = "原因已说明"
STAMP = dt.datetime(2021, 3, 1, 9, tzinfo=dt.timezone.utc)


def spec() -> RuleSpec:
    s = resolve_template("cn-project-self-eval")
    assert isinstance(s, RuleSpec)
    return s


# (kind, target, actual, points, reason, expected score) — worked out by hand from the rules
QUANTITATIVE: list[tuple[str, Any, Any, Any, Any, Any]] = [
    ("≥", 10, 9.99, 10, REASON, D("9.99")), ("≥", 10, 10, 10, None, D(10)), ("≥", 10, 10.01, 10, None, D(10)),
    ("≥", 10, 12.99, 10, None, D(10)), ("≥", 10, 13, 10, None, D(10)), ("≥", 10, 13, 10, REASON, D(10)),
    ("≥", 10, 0, 10, REASON, D(0)), ("≥", 10, -1, 10, None, D(0)), ("≥", 100, 1.005, 100, REASON, D("1.01")),
    ("≥", 0, 5, 10, None, D(10)), ("≥", 10, None, 10, None, ""), ("≥", 10, "五", 10, None, ""),
    ("≤", 10, 9.99, 10, None, D(10)), ("≤", 10, 10, 10, None, D(10)), ("≤", 10, 10.01, 10, REASON, D("9.99")),
    ("≤", 10, 15, 10, REASON, D(5)), ("≤", 10, 19.99, 10, REASON, D("0.01")), ("≤", 10, 20, 10, REASON, D(0)),
    ("≤", 10, 20.01, 10, None, D(0)), ("≤", 0, 0.01, 10, None, D(0)), ("≤", 0, 0, 10, None, D(10)),
    ("=", 10, 9.99, 10, REASON, D("9.99")), ("=", 10, 10, 10, None, D(10)), ("=", 10, 11, 10, None, D(10)),
    ("=", 0, -0.01, 10, None, D(10)), ("=", 0, 0, 10, None, D(10)), ("=", 0, 0.01, 10, None, D(0)),
    ("≥", 7, 9.1, 3.5, None, D("3.5")), ("≤", 3, 3.3, 2.5, None, D("2.25")),
]
# (points, 完成情况, given score, reason, expected score)
QUALITATIVE: list[tuple[Any, Any, Any, Any, Any]] = [
    (10, FULL, 8, REASON, D(8)), (10, FULL, 7.99, None, ""), (10, FULL, 10, None, D(10)), (10, FULL, 10.01, None, ""),
    (10, PART, 8, REASON, D(8)), (10, PART, 6, REASON, D(6)), (10, PART, 5.99, None, ""), (10, PART, 8.01, None, ""),
    (10, POOR, 0, REASON, D(0)), (10, POOR, 6, None, D(6)), (10, POOR, 6.01, None, ""), (7, PART, 4.2, REASON, D("4.2")),
    (7, PART, 4.19, None, ""), (10, None, 9, None, ""), (10, FULL, None, None, ""), (10, "其他", 9, None, ""),
]


def edge_targets() -> tuple[list[dict[str, str]], dict[str, Any], list[tuple[str, Any]]]:
    """Targets (one per case, every 一级 kept), the values typed, and (score cell name, expected) by hand."""
    subs = [("output", "quantity"), ("output", "quality"), ("benefit", "social"), ("satisfaction", "served")]
    targets: list[Target] = []
    cases: list[tuple[str, str, Any, Any, Any, Any, Any, Any]] = []  # sub, kind, target, actual, points, given, reason, want
    for n, (kind, a, b, p, reason, want) in enumerate(QUANTITATIVE):
        level, sub = subs[n % len(subs)]
        targets.append(Target(level, sub, f"定量{n}", kind, "个", D(str(a)), D(str(p))))
        cases.append((sub, kind, a, b, p, None, reason, want))
    for n, (p, choice, given, reason, want) in enumerate(QUALITATIVE):
        level, sub = subs[n % len(subs)]
        targets.append(Target(level, sub, f"定性{n}", "定性", "", "有效提升", D(str(p))))
        cases.append((sub, "定性", "有效提升", choice, p, given, reason, want))
    order = {"quantity": 0, "quality": 1, "social": 2, "served": 3}
    ranked = sorted(range(len(targets)), key=lambda i: order[targets[i].sublevel])
    records = [targets[i].record() for i in ranked]
    layout = Layout(spec(), tuple(records))
    rows = list(layout.rows)
    values: dict[str, Any] = {}
    expected: list[tuple[str, Any]] = []
    for r, i in zip(rows, ranked):
        _sub, _kind, _a, b, _p, given, reason, want = cases[i]
        assert r.target is not None and r.target.name == targets[i].name
        if b is not None:
            values[r.actual.name] = b
        if given is not None:
            values[r.given.name] = given
        if reason is not None:
            values[r.reason.name] = reason
        expected.append((r.score.name, want))
    values.update({"fund_total_budget": 100, "fund_total_executed": 76, "fund_current_budget": 60, "fund_carryover_budget": 30,
                   "fund_other_budget": 10, "fund_current_executed": 50, "fund_carryover_executed": 20,
                   "fund_other_executed": 5, "fund_total_budget_start": 100, "fund_current_budget_start": 100})
    expected += [("fund_total_score", D("7.6")), ("fund_total_rate", D("0.76")), ("fund_executed_check", "全年执行数：其中各项之和应等于年度资金总额"),
                 ("fund_budget_check", ""), ("fund_budget_start_check", "")]
    return records, values, expected


def blank_values() -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    """A blank form filled by the unit: the rule chosen per row (the formula picks it), edges again."""
    layout = Layout(spec())
    rows = list(layout.rows)
    typed: list[tuple[str, Any, Any, Any, Any, Any, Any]] = [  # name, kind, unit, A, B, P, given → score
        ("a", "≥", "个", 10, 9.5, 10, None), ("b", "≤", "天", 10, 15, 10, None), ("c", "=", "起", 0, 0.01, 10, None),
        ("d", "定性", "", "提升", PART, 10, 7), ("e", "定性", "", "提升", FULL, 10, 7), ("f", "≥", "%", "九十", 90, 10, None),
        ("g", "", "", 10, 9, 10, None), ("", "≥", "", 10, 10, 10, None), ("h", "≧", "", 10, 10, 10, None),
    ]
    want = [D("9.5"), D(5), D(0), D(7), "", "", "", D(10), ""]
    values: dict[str, Any] = {"fund_total_budget": 0, "fund_total_executed": 5}
    expected: list[tuple[str, Any]] = [("fund_total_score", ""), ("fund_total_rate", "")]
    for r, (name, kind, unit, a, b, p, given), w in zip(rows, typed, want):
        for cell, v in ((r.name, name), (r.kind, kind), (r.unit, unit), (r.target_cell, a), (r.actual, b), (r.points, p), (r.given, given)):
            if v not in (None, ""):
                values[cell.name] = v
        expected.append((r.score.name, w))
    checks = {rows[5].check.name: "年度指标值须为数字", rows[6].check.name: "请从下拉列表中选择指标性质",
              rows[7].check.name: "请填写三级指标名称", rows[8].check.name: "请从下拉列表中选择指标性质",
              rows[4].check.name: "“达成年度指标”的得分应在8至10分之间",
              rows[0].check.name: "未完全达成年度指标，请填写偏差原因分析及改进措施"}
    expected += list(checks.items())
    return values, expected


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list[tuple[str, Any]]]]:
    tmp = tmp_path_factory.mktemp("national-engine")
    s = spec()
    records, values, expected = edge_targets()
    blank_typed, blank_expected = blank_values()
    prefill = {"project_name": "测试项目", "department": "测试局", "implementer": "测试中心"}
    return {
        "edges": (generate_workbook(s, tmp / "edges.xlsx", values=values, targets=records, prefill=prefill,
                                    roster_key="T1", generated_at=STAMP).path, expected),
        "blank": (generate_workbook(s, tmp / "blank.xlsx", generated_at=STAMP).path, []),
        "blank-filled": (generate_workbook(s, tmp / "blank-filled.xlsx", values=blank_typed, generated_at=STAMP).path, blank_expected),
    }


def named(path: Path, names: list[str]) -> dict[str, Any]:
    """Cached values by defined name (plain openpyxl)."""
    wb = openpyxl.load_workbook(path, data_only=True)
    out = {}
    for name in names:
        dn = wb.defined_names[name]
        ((sheet, ref),) = list(dn.destinations)
        out[name] = wb[sheet][ref.replace("$", "")].value
    return out


def test_the_cached_values_are_what_the_rules_give_by_hand(books: dict[str, tuple[Path, list[tuple[str, Any]]]]) -> None:
    for name, (path, expected) in books.items():
        got = named(path, [n for n, _ in expected])
        wrong = [(n, want, got[n]) for n, want in expected if not same_value(got[n], want)]
        assert wrong == [], name
    edges = books["edges"][1]
    assert len(edges) > len(QUANTITATIVE) + len(QUALITATIVE)  # every case is a row


def _disagreements(ours: dict[tuple[str, str], tuple[str, Any]], theirs: dict[tuple[str, str], tuple[str, Any]]) -> list[tuple]:
    assert set(theirs) == set(ours) and ours
    return [(k, v, theirs[k][1]) for k, (_, v) in sorted(ours.items()) if not same_value(theirs[k][1], v)]


@pytest.mark.parametrize("book", ["edges", "blank", "blank-filled"])
def test_libreoffice_recalculates_what_we_cached(soffice: str, books: dict[str, tuple[Path, list[tuple[str, Any]]]],
                                                  book: str, tmp_path: Path) -> None:
    src = books[book][0]
    stripped = strip_cached_values(src, tmp_path / "stripped.xlsx")
    assert all(v is None for _, v in formula_cells(stripped).values())
    (out,) = convert([stripped], tmp_path / "lo")
    assert _disagreements(formula_cells(src), formula_cells(out)) == []


@pytest.mark.parametrize("book", ["edges", "blank", "blank-filled"])
def test_gnumeric_recalculates_what_we_cached(gnumeric: str, books: dict[str, tuple[Path, list[tuple[str, Any]]]],
                                              book: str, tmp_path: Path) -> None:
    src = books[book][0]
    stripped = strip_cached_values(src, tmp_path / "stripped.xlsx")
    converted = recalc(stripped, tmp_path / "gnumeric.xlsx")
    assert _disagreements(formula_cells(src), formula_cells(converted.path)) == []


@pytest.mark.parametrize("key", [None, "N06", "N03"])
def test_the_form_prints_on_a4_with_every_indicator_and_its_header_on_every_page(soffice: str, key: str | None, tmp_path: Path) -> None:
    """Blank, 3 and 30 indicators: landscape A4 at a readable scale, the table's header repeated, every name printed."""
    import re
    import subprocess

    from tests.conftest import SAMPLES
    from xltemplate.roster import read_roster
    from xltemplate.targets import read_targets

    s = spec()
    roster = read_roster(SAMPLES / "national" / "roster.csv", s)
    targets = read_targets(SAMPLES / "national" / "targets.csv", s, roster).by_key[key] if key else None
    prefill = roster.by_key()[key].prefill if key else {}
    path = generate_workbook(s, tmp_path / "form.xlsx", targets=targets, prefill=prefill, roster_key=key, generated_at=STAMP).path
    ws = openpyxl.load_workbook(path)[s.sheet]
    layout = Layout(s, targets)
    assert ws.page_setup.orientation == "landscape" and ws.page_setup.paperSize == 9  # A4
    assert int(ws.page_setup.scale) >= 90  # text of 10 pt prints at 9 pt or more
    assert ws.print_title_rows == f"${layout.table_header_row + 1}:${layout.table_header_row + 1}"
    (pdf,) = convert([path], tmp_path / "pdf", target="pdf")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    pages = [p for p in text.split("\f") if p.strip() and "填报说明（" not in p]
    table_pages = [p for p in pages if "三级指标" in p]
    assert table_pages and all("偏差原因分析及改进措施" in p for p in table_pages)  # the header on every table page
    flat = re.sub(r"\s+", "", text)
    for r in layout.rows:
        if r.target is not None:
            assert re.sub(r"\s+", "", r.target.name) in flat, r.target.name
    assert "合计（含预算执行10分）" in flat and "年度资金总额" in flat and "说明：" in flat
