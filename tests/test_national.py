"""The national form (``cn-project-self-eval``, family ``rule-scored``): spec, targets table, workbook, validation.

Figures are recomputed here independently: cells read by defined name with plain openpyxl, the
rules restated in a few lines (not the package's twin), and compared with what validation says.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner

from tests.conftest import SAMPLES
from tests.test_describe import described_names, workbook_names
from xltemplate.catalog import resolve_template, spec_from_dict
from xltemplate.cli import main
from xltemplate.errors import SpecError, TargetsError
from xltemplate.families.rule_scored.layout import Layout
from xltemplate.families.rule_scored.spec import RuleSpec, Target
from xltemplate.form.generate import generate_workbook
from xltemplate.identify import RunContext
from xltemplate.roster import read_roster
from xltemplate.sign import Keyring
from xltemplate.targets import read_targets
from xltemplate.validate import validate_path
from xltemplate.values import parse_measure

NATIONAL = SAMPLES / "national"
TODAY = dt.date(2021, 5, 1)
STAMP = dt.datetime(2021, 3, 1, 9, tzinfo=dt.timezone.utc)
D = Decimal


@pytest.fixture(scope="module")
def spec() -> RuleSpec:
    s = resolve_template("cn-project-self-eval")
    assert isinstance(s, RuleSpec)
    return s


@pytest.fixture(scope="module")
def roster(spec: RuleSpec) -> Any:
    return read_roster(NATIONAL / "roster.csv", spec)


@pytest.fixture(scope="module")
def table(spec: RuleSpec, roster: Any) -> Any:
    return read_targets(NATIONAL / "targets.csv", spec, roster)


def cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


# -- the spec -----------------------------------------------------------------------------------

def test_the_builtin_spec_is_the_national_form(spec: RuleSpec) -> None:
    assert spec.family == "rule-scored" and spec.money_unit == "万元" and spec.funding_points == 10
    assert [(lv.name, lv.points) for lv in spec.levels] == [("产出指标", 50), ("效益指标", 30), ("满意度指标", 10)]
    assert [s.name for s in spec.levels[0].sublevels] == ["数量指标", "质量指标", "时效指标", "成本指标"]
    assert [b.label for b in spec.bands] == ["优", "良", "中", "差"] and [b.min for b in spec.bands] == [90, 80, 60, 0]
    assert spec.rules.choices == ("达成年度指标", "部分达成年度指标并具有一定效果", "未达成年度指标且效果较差")


def _national(**change: Any) -> dict[str, Any]:
    import yaml

    from xltemplate.catalog import templates_dir

    data = yaml.safe_load((templates_dir() / "cn-project-self-eval.yaml").read_text(encoding="utf-8"))
    data.update(change)
    return data


def problems(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        spec_from_dict(data)
    return {p.path: p.message for p in info.value.problems}


def test_spec_problems_name_their_key_paths() -> None:
    base = _national()
    levels = [dict(lv) for lv in base["levels"]]
    levels[0] = {**levels[0], "points": 55}
    levels[1] = {**levels[1], "sublevels": [{"id": "economic", "nmae": "经济效益指标"}]}
    got = problems({**base, "levels": levels, "blank_rows": 0, "rules": {"overshot": 1.3, "qualitative": [{"label": "好", "min": 0.9, "max": 0.8}]},
                    "funding": {"points": 10, "rows": [{"id": "total", "label": "年度资金总额"}]}})
    assert "是否想写“name”？" in got["levels[1].sublevels[0].nmae"]
    assert got["levels[1].sublevels[0].name"] == "必须填写，这里缺少"
    assert got["blank_rows"].startswith("应为 1 至 20 的整数")
    assert "是否想写“overshoot”？" in got["rules.overshot"]
    assert got["rules.qualitative[0].min"] == "最低 0.9 大于最高 0.8"
    assert "列出其中各项" in got["funding.rows"]
    assert "合计 105，应为总分 100" in got["levels"]


def test_a_spec_names_its_family_and_the_first_stays_the_default(spec: RuleSpec) -> None:
    assert resolve_template("sh-project-self-eval").family == "self-scored"
    assert problems(_national(family="rule-scored", levles=[]))["levles"].endswith("是否想写“levels”？")


# -- values measured in a unit ----------------------------------------------------------------------

@pytest.mark.parametrize("raw, unit, value, ok", [
    ("95%", "%", D(95), True), ("９５％", "%", D(95), True), ("1,200 万元", "万元", D(1200), True), ("３天", "天", D(3), True),
    ("12", "个", D(12), True), (12.5, "个", D("12.5"), True), ("95%", "个", None, False), ("1200元", "万元", None, False),
    ("约12个", "个", None, False), ("12个", "", None, False),
])
def test_a_typed_unit_must_be_the_row_s(raw: Any, unit: str, value: Any, ok: bool) -> None:
    """The decision: a unit that matches the row's 计量单位 is read (with a warning), any other is refused, never guessed."""
    got = parse_measure(raw, unit)
    assert got.ok is ok and (got.value == value if ok else "不一致" in got.error or "不是数字" in got.error)
    if ok and isinstance(raw, str):
        assert got.note


# -- the targets table --------------------------------------------------------------------------------

def test_the_sample_targets_table(table: Any, roster: Any) -> None:
    counts = {k: len(v) for k, v in table.by_key.items()}
    assert set(counts) == {r.key for r in roster.rows} and min(counts.values()) == 3 and max(counts.values()) == 30
    kinds = {t["kind"] for ts in table.by_key.values() for t in ts}
    assert kinds == {"≥", "≤", "=", "定性"}


def write_table(path: Path, rows: list[list[Any]], header: list[str] | None = None) -> Path:
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header or ["编号", "一级指标", "二级指标", "三级指标", "指标性质", "计量单位", "年度指标值", "分值"])
        w.writerows(rows)
    return path


GOOD = [["N01", "产出指标", "数量指标", "完成数量", "≥", "个", 10, 50], ["N01", "效益指标", "社会效益指标", "受益人数", "≥", "人", 100, 30],
        ["N01", "满意度指标", "服务对象满意度指标", "满意度", "定性", "", "满意", 10]]


def test_every_problem_of_a_targets_table_by_row_and_column(spec: RuleSpec, tmp_path: Path) -> None:
    rows = [
        ["N01", "产出指票", "数量指标", "完成数量", "≥", "个", 10, 50],
        ["N01", "效益指标", "社会效益", "受益人数", ">=", "人", 100, 30],
        ["N01", "满意度指标", "服务对象满意度指标", "满意度", "大于", "", 90, 10],
        ["N02", "产出指标", "数量指标", "完成数量", "≥", "个", "十个", 50],
        ["N02", "产出指标", "质量指标", "完成数量", "≤", "%", 5, 0],
        ["N02", "效益指标", "社会效益指标", "受益人数", "反向", "人", 100, 30],
        ["N02", "满意度指标", "服务对象满意度指标", "满意度", "定性", "", "满意", 10],
        ["N99", "产出指标", "数量指标", "完成数量", "≥", "个", 10, 50],
    ]
    roster = read_roster(NATIONAL / "roster.csv", spec)
    with pytest.raises(TargetsError) as info:
        read_targets(write_table(tmp_path / "t.csv", rows), spec, roster)
    got = [(p.path, p.message) for p in info.value.problems]
    text = "\n".join(f"{a}：{b}" for a, b in got)
    assert "第 2 行，“一级指标”列：一级指标“产出指票”不在模板中；是否想写“产出指标”？" in text
    assert "第 3 行，“二级指标”列：二级指标“社会效益”不在“效益指标”下；是否想写“社会效益指标”？" in text
    assert "第 4 行，“指标性质”列：指标性质“大于”无法识别" in text
    assert "第 5 行，“年度指标值”列" in text and "须为数字" in text
    assert "第 6 行，“三级指标”列：编号“N02”的三级指标“完成数量”与第 5 行重复" in text
    assert "“产出指标”各指标分值合计为" in text
    assert "编号“N99”不在名单中" in text
    assert "名单中的编号“N03”在指标目标表中没有任何指标" in text
    assert str(info.value).startswith("指标目标表 ")


def test_english_headers_and_an_xlsx_table(spec: RuleSpec, tmp_path: Path) -> None:
    header = ["key", "level", "sublevel", "name", "kind", "unit", "target", "points"]
    from_csv = read_targets(write_table(tmp_path / "t.csv", GOOD, header), spec)
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["编号", "一级指标", "二级指标", "三级指标", "指标性质", "计量单位", "年度指标值", "分值"])
    for r in GOOD:
        ws.append(r)
    wb.save(tmp_path / "t.xlsx")
    assert read_targets(tmp_path / "t.xlsx", spec).by_key == from_csv.by_key
    assert [t["name"] for t in from_csv.by_key["N01"]] == ["完成数量", "受益人数", "满意度"]


def test_a_bad_targets_table_writes_nothing(tmp_path: Path) -> None:
    bad = write_table(tmp_path / "t.csv", GOOD[:2])  # 满意度指标 has no indicator: its points do not add up
    out = tmp_path / "out"
    result = cli("generate", "cn-project-self-eval", "--roster", str(NATIONAL / "roster.csv"), "--targets", str(bad), "-o", str(out))
    assert result.exit_code == 1 and "“满意度指标”各指标分值合计为 0，应为 10 分" in result.output
    assert not out.exists()
    assert cli("generate", "sh-project-self-eval", "--targets", str(bad), "-o", str(out)).exit_code == 2  # --targets needs --roster


# -- the workbook ---------------------------------------------------------------------------------------

def test_a_workbook_has_exactly_its_project_s_rows(spec: RuleSpec, table: Any, tmp_path: Path) -> None:
    for key, n in (("N06", 3), ("N03", 30)):
        layout = Layout(spec, table.by_key[key])
        assert len(list(layout.rows)) == n
    blank = Layout(spec)
    assert len(list(blank.rows)) == spec.blank_rows * sum(len(lv.sublevels) for lv in spec.levels)


@pytest.mark.parametrize("key", [None, "N06", "N03"])
def test_describe_json_names_exactly_the_workbook_s_defined_names(spec: RuleSpec, table: Any, tmp_path: Path, key: str | None) -> None:
    targets = table.by_key[key] if key else None
    path = generate_workbook(spec, tmp_path / "w.xlsx", targets=targets).path
    info = Layout(spec, targets).describe()
    assert described_names(info) == workbook_names(path)
    if key is None:  # the CLI describes the blank form
        result = cli("describe", "cn-project-self-eval", "--json")
        assert described_names(json.loads(result.output)) == workbook_names(path)
    assert {"funding", "goals", "levels", "total", "money_unit"} <= set(info)


def test_the_metadata_records_the_targets_and_the_signature_covers_them(spec: RuleSpec, table: Any, tmp_path: Path) -> None:
    keyring = Keyring("k", (b"0123456789abcdef0123",))
    path = generate_workbook(spec, tmp_path / "n06.xlsx", targets=table.by_key["N06"], roster_key="N06", keyring=keyring,
                             generated_at=STAMP).path
    wb = openpyxl.load_workbook(path)
    meta = {r[0].value: r[1].value for r in wb["_xltemplate"].iter_rows()}
    assert json.loads(meta["targets"]) == [dict(t) for t in table.by_key["N06"]]
    import hashlib

    assert meta["targets_sha256"] == hashlib.sha256(meta["targets"].encode()).hexdigest()
    run = RunContext.builtin(keyring=keyring, today=TODAY)
    assert validate_path(path, run).signature == "valid"
    # a target edited in the metadata, its hash recomputed: the signature no longer holds
    edited = json.loads(meta["targets"])
    edited[0]["target"] = "1"
    text = json.dumps(edited, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    rows = {r[0].value: r for r in wb["_xltemplate"].iter_rows()}
    rows["targets"][1].value = text
    rows["targets_sha256"][1].value = hashlib.sha256(text.encode()).hexdigest()
    wb.save(tmp_path / "edited.xlsx")
    report = validate_path(tmp_path / "edited.xlsx", run)
    assert "signature-invalid" in [f.code for f in report.findings]


# -- validation: each new check -----------------------------------------------------------------------

def _book(spec: RuleSpec, tmp_path: Path, values: dict[str, Any], name: str = "w.xlsx", targets: Any = None) -> Path:
    targets = targets if targets is not None else tuple(Target(*t).record() for t in (
        ("output", "quantity", "完成数量", "≥", "个", D(10), D(50)), ("benefit", "social", "受益人数", "≤", "天", D(20), D(30)),
        ("satisfaction", "served", "满意度", "定性", "", "满意", D(10))))
    base = {"fld_manager": "张三", "fld_phone": "010-1", "fund_total_budget": 100, "fund_total_executed": 90, "fund_current_budget": 100,
            "fund_current_executed": 90, "ind_quantity_1_actual": 10, "ind_social_1_actual": 20, "ind_served_1_actual": "达成年度指标",
            "ind_served_1_given": 10}
    base.update(values)
    base = {k: v for k, v in base.items() if v is not None}
    prefill = {"project_name": "P", "department": "D", "implementer": "I"}
    return generate_workbook(spec, tmp_path / name, values=base, targets=targets, prefill=prefill, roster_key="N01", generated_at=STAMP).path


def codes(path: Path) -> list[tuple[str | None, str]]:
    return validate_path(path, RunContext.builtin(today=TODAY)).flatten()


def test_a_filled_return_is_valid_with_figures_by_the_rules(spec: RuleSpec, tmp_path: Path) -> None:
    r = validate_path(_book(spec, tmp_path, {}), RunContext.builtin(today=TODAY))
    assert r.status == "valid", r.findings
    assert r.results is not None
    # funding 90/100 × 10 = 9; 完成数量 50; 受益人数 ≤ 20 at 20: 30; 满意度 10 → 99, 优
    assert (r.results.total, r.results.grade, r.results.execution_rate) == (D(99), "优", D("0.9"))
    assert [(g.id, g.score) for g in r.results.groups] == [("funding", 9), ("output", 50), ("benefit", 30), ("satisfaction", 10)]


@pytest.mark.parametrize("values, where, code", [
    ({"fund_current_executed": 80}, "fund_total_executed", "funding-sum"),
    ({"ind_quantity_1_actual": 9}, "ind_quantity_1_reason", "reason-missing"),
    ({"ind_quantity_1_actual": 13}, "ind_quantity_1_reason", "reason-missing"),
    ({"ind_quantity_1_actual": None}, "ind_quantity_1_actual", "actual-missing"),
    ({"ind_quantity_1_actual": "95%"}, "ind_quantity_1_actual", "actual-not-number"),
    ({"ind_social_1_actual": "二十"}, "ind_social_1_actual", "actual-not-number"),
    ({"ind_served_1_given": 7}, "ind_served_1_given", "qualitative-band"),
    ({"ind_served_1_given": None}, "ind_served_1_given", "qualitative-band"),
    ({"ind_served_1_actual": None}, "ind_served_1_actual", "qualitative-band"),
    ({"fund_total_executed": None, "fund_current_executed": None}, "fund_total_executed", "required-missing"),
])
def test_each_rule_broken_once(spec: RuleSpec, tmp_path: Path, values: dict[str, Any], where: str, code: str) -> None:
    cell = {c.name: c.a1 for c in Layout(spec, _targets()).named_cells()}[where]
    assert codes(_book(spec, tmp_path, values)) == [(cell, code)]


def _targets() -> tuple[dict[str, str], ...]:
    return tuple(Target(*t).record() for t in (
        ("output", "quantity", "完成数量", "≥", "个", D(10), D(50)), ("benefit", "social", "受益人数", "≤", "天", D(20), D(30)),
        ("satisfaction", "served", "满意度", "定性", "", "满意", D(10))))


def test_text_shaped_values_are_normalised_with_a_warning(spec: RuleSpec, tmp_path: Path) -> None:
    path = _book(spec, tmp_path, {"ind_quantity_1_actual": "１０个", "fund_total_executed": "90 万元", "fund_current_executed": "90"})
    r = validate_path(path, RunContext.builtin(today=TODAY))
    assert r.status == "valid" and {c for c, _ in r.flatten()} == {"G17", "F8", "F9"}
    assert all(code == "value-normalised" for _, code in r.flatten())
    assert r.results is not None and r.results.total == 99


def test_a_changed_target_is_tampering(spec: RuleSpec, tmp_path: Path) -> None:
    path = _book(spec, tmp_path, {"ind_quantity_1_actual": 8, "ind_quantity_1_reason": "原因"})
    wb = openpyxl.load_workbook(path)
    ws = wb[spec.sheet]
    ws.protection.sheet = False
    cells = {c.name: c.a1 for c in Layout(spec, _targets()).named_cells()}
    ws[cells["ind_quantity_1_target"]] = 8  # the target lowered to the result
    ws[cells["ind_social_1_kind"]] = "≥"  # and a rule changed
    wb.save(tmp_path / "t.xlsx")
    got = [x for x in codes(tmp_path / "t.xlsx") if x[1] not in ("saved-time-untrusted", "protection-removed")]
    cells = {c.name: c.a1 for c in Layout(spec, _targets()).named_cells()}
    assert got == [(cells["ind_quantity_1_target"], "target-changed"), (cells["ind_social_1_kind"], "target-changed")]
    # recomputed from the targets sent, not from the cells: 8 of 10 → 40 of 50
    r = validate_path(tmp_path / "t.xlsx", RunContext.builtin(today=TODAY))
    assert r.results is not None and r.results.group("output").score == 40


def test_a_targets_table_given_is_the_truth(spec: RuleSpec, table: Any, roster: Any, tmp_path: Path) -> None:
    other = write_table(tmp_path / "t.csv", [[*GOOD[0][:6], 12, 50], *GOOD[1:]])
    truth = read_targets(other, spec)
    path = _book(spec, tmp_path, {}, targets=tuple(Target(*t).record() for t in (
        ("output", "quantity", "完成数量", "≥", "个", D(10), D(50)), ("benefit", "social", "受益人数", "≥", "人", D(100), D(30)),
        ("satisfaction", "served", "满意度", "定性", "", "满意", D(10)))))
    r = validate_path(path, RunContext.builtin(today=TODAY, targets=truth))
    found = [f for f in r.findings if f.code == "target-changed"]
    assert len(found) == 1 and "年度指标值：文件中为“10”，目标表中为“12”" in found[0].message


def test_the_blank_form_checks_what_the_unit_fills(spec: RuleSpec, tmp_path: Path) -> None:
    layout = Layout(spec)
    rows = {r.id: r for r in layout.rows}
    values: dict[str, Any] = {"fld_manager": "张三", "fld_phone": "1", "fund_total_budget": 100, "fund_total_executed": 100,
                              "fund_current_budget": 100, "fund_current_executed": 100}
    for rid, (name, kind, unit, a, b, p, g) in {
        "quantity_1": ("完成数量", "≥", "个", 10, 10, 50, None), "social_1": ("受益人数", "≤", "天", 5, 5, 25, None),
        "social_2": ("宣传", "", "", "", "", "", None), "served_1": ("满意度", "定性", "", "满意", "达成年度指标", 10, 10),
    }.items():
        r = rows[rid]
        for cell, v in ((r.name, name), (r.kind, kind), (r.unit, unit), (r.target_cell, a), (r.actual, b), (r.points, p), (r.given, g)):
            if v not in (None, ""):
                values[cell.name] = v
    path = generate_workbook(spec, tmp_path / "blank.xlsx", values=values, generated_at=STAMP,
                             prefill={"project_name": "P", "department": "D", "implementer": "I"}).path
    got = codes(path)
    benefit = next(lv for lv in layout.levels if lv.level.id == "benefit")
    assert (benefit.points.a1, "points-sum") in got and (rows["social_2"].name.a1, "indicator-incomplete") in got
    assert len(got) == 2, got


# -- the samples, recomputed independently ---------------------------------------------------------------

def _round2(x: Decimal) -> Decimal:
    return x.quantize(D("0.01"), ROUND_HALF_UP)


def independent_score(kind: str, a: Any, b: Any, p: Decimal, given: Any) -> Decimal:
    """The issue's rules, restated: ≥ full at B ≥ A else B/A × P; ≤ full at B ≤ A, 0 from 2A; = as ≥ (A = 0: full only
    at B ≤ 0); 定性 the unit's score (its band is checked elsewhere)."""
    if kind == "定性":
        return D(str(given))
    a, b = D(str(a)), D(str(b))
    if kind == "=" and a == 0:
        return p if b <= 0 else D(0)
    if kind in ("≥", "="):
        return p if b >= a else (D(0) if a <= 0 or b <= 0 else _round2(b / a * p))
    return p if b <= a else (D(0) if a <= 0 or b >= 2 * a else _round2((1 - (b - a) / a) * p))


def by_name(path: Path) -> dict[str, Any]:
    """Every defined name's cell value, read with plain openpyxl."""
    wb = openpyxl.load_workbook(path, data_only=True)
    out = {}
    for name, dn in wb.defined_names.items():
        for sheet, ref in dn.destinations:
            out[name] = wb[sheet][ref.replace("$", "")].value
    return out


def number(v: Any) -> Decimal:
    """A figure as typed: a number, or text with a unit after it (``825.60 万元``, ``２３.３个``, ``92.2%``)."""
    if not isinstance(v, str):
        return D(str(v))
    text = v.translate(str.maketrans("０１２３４５６７８９．，", "0123456789.,")).replace(",", "")
    return D("".join(ch for ch in text if ch.isdigit() or ch == "."))


def independent_total(path: Path, targets: list[dict[str, str]]) -> tuple[Decimal, str]:
    cells = by_name(path)
    spec_points = {"output": D(50), "benefit": D(30), "satisfaction": D(10)}
    budget, executed = number(cells["fund_total_budget"]), number(cells["fund_total_executed"])
    total = min(D(10), _round2(executed / budget * 10))
    n: dict[str, int] = {}
    for t in targets:
        n[t["sublevel"]] = n.get(t["sublevel"], 0) + 1
        base = f"ind_{t['sublevel']}_{n[t['sublevel']]}"
        actual = cells[f"{base}_actual"]
        if t["kind"] != "定性":
            actual = number(actual)
        total += independent_score(t["kind"], t["target"], actual, D(t["points"]), cells.get(f"{base}_given"))
    assert sum(spec_points.values()) + 10 == 100
    grade = "优" if total >= 90 else "良" if total >= 80 else "中" if total >= 60 else "差"
    return total, grade


def test_validate_json_on_the_samples_agrees_with_an_independent_recomputation(table: Any) -> None:
    result = cli("validate", str(NATIONAL / "returns"), "--json", "--roster", str(NATIONAL / "roster.csv"),
                 "--targets", str(NATIONAL / "targets.csv"))
    data = json.loads(result.output)
    valid = [f for f in data["files"] if f["status"] == "valid"]
    assert len(valid) >= 7 and {f["grade"] for f in valid} == {"优", "良", "中", "差"}
    for f in valid:
        total, grade = independent_total(Path(f["path"]), list(table.by_key[f["key"]]))
        assert (D(str(f["total"])), f["grade"]) == (total, grade), f["path"]
    invalid = {Path(f["path"]).name: {x["code"] for x in f["findings"] if x["severity"] == "error"} for f in data["files"] if f["status"] == "invalid"}
    assert invalid == {
        "附件3-项目支出绩效自评表.xlsx": {"reason-missing"}, "职业技能鉴定中心.xlsx": {"qualitative-band"},
        "农田水利-自评(定稿).xlsx": {"funding-sum"}, "环卫处垃圾分类自评表.xlsx": {"target-changed"},
        "科技创新服务中心-创新补助（初稿）.xlsx": {"reason-missing"},
    }


def test_the_rollup_of_the_samples(table: Any, tmp_path: Path) -> None:
    out = tmp_path / "rollup.xlsx"
    result = cli("collect", str(NATIONAL / "returns"), "--roster", str(NATIONAL / "roster.csv"), "--targets",
                 str(NATIONAL / "targets.csv"), "-o", str(out), "--export", str(tmp_path / "exp"))
    assert result.exit_code == 0, result.output
    assert "模板：cn-project-self-eval 2020.1（项目支出绩效自评表，按多数交回文件中记录的模板选定）" in result.output
    assert "名单 12 个单位：已提交有效 7，已提交有误 4，未提交 1" in result.output
    wb = openpyxl.load_workbook(out, read_only=True)
    assert wb.sheetnames == ["汇总", "指标结果", "统计", "差距分析", "问题清单", "未提交", "文字材料", "文件清单"]
    rows = list(wb["汇总"].iter_rows(min_row=4, values_only=True))
    by_key = {r[0]: r for r in rows if r[0] and str(r[0]).startswith("N")}
    # columns from the end: …, total, grade, status, errors, warnings, file, saved time
    for key, row in by_key.items():
        if row[-5] == "已提交有效":
            path = next(p for p in (NATIONAL / "returns").iterdir() if p.name == row[-2])
            total, grade = independent_total(path, list(table.by_key[key]))
            assert (D(str(row[-7])), row[-6]) == (total, grade), key
    assert by_key["N08"][-5] == "未提交"
    # 指标结果: one row per indicator of every counted return
    long = list(wb["指标结果"].iter_rows(min_row=4, values_only=True))
    counted = {k for k, r in by_key.items() if r[-5] != "未提交"}
    assert len(long) == sum(len(table.by_key[k]) for k in counted)
    # levels.csv: the share met and points lost per 一级, recomputed from scores.csv by hand
    with open(tmp_path / "exp" / "scores.csv", encoding="utf-8-sig") as fh:
        scores = [r for r in csv.DictReader(fh) if r["valid"] == "是"]
    with open(tmp_path / "exp" / "levels.csv", encoding="utf-8-sig") as fh:
        levels = {(r["category"], r["subcategory"]): r for r in csv.DictReader(fh)}
    for name in ("产出指标", "效益指标", "满意度指标"):
        mine = [r for r in scores if r["category"] == name]
        lost = sum(D(r["weight"]) - D(r["score"] or 0) for r in mine)
        assert int(levels[(name, "")]["indicators"]) == len(mine)
        assert int(levels[(name, "")]["met"]) == sum(1 for r in mine if r["met"] == "是")
        assert D(levels[(name, "")]["lost"]) == lost
    with open(tmp_path / "exp" / "gaps.csv", encoding="utf-8-sig") as fh:
        gaps = list(csv.DictReader(fh))
    assert [g["key"] for g in gaps][0] == "N11" and D(gaps[0]["lost"]) == 100 - D(gaps[0]["total"])


def test_collect_names_the_template_the_returns_name(tmp_path: Path) -> None:
    import shutil

    mixed = tmp_path / "in"
    mixed.mkdir()
    nat = sorted((NATIONAL / "returns").glob("*.xlsx"))[:2]
    sh = sorted((SAMPLES / "returns").glob("SH002*.xlsx"))[:1] + sorted((SAMPLES / "returns").glob("信息*.xlsx"))[:1]
    for p in nat + sh:
        shutil.copy(p, mixed / p.name)
    result = cli("collect", str(mixed), "-o", str(tmp_path / "r.xlsx"))
    assert result.exit_code == 1 and "份数相同" in result.output and "--template" in result.output
    result = cli("collect", str(mixed), "-o", str(tmp_path / "r.xlsx"), "--template", "cn-project-self-eval")
    assert result.exit_code == 0 and "按指定" in result.output


# -- hostile targets records ------------------------------------------------------------------------------

def _meta_edit(src: Path, dest: Path, **values: str) -> Path:
    wb = openpyxl.load_workbook(src)
    for row in wb["_xltemplate"].iter_rows():
        if row[0].value in values:
            row[1].value = values[row[0].value]
    wb.save(dest)
    return dest


@pytest.mark.parametrize("targets, fix_hash, code", [
    ("[{broken", False, "target-changed"),  # not JSON
    ('[{"a": 1}]', True, "target-changed"),  # JSON, hash recomputed, but no target this spec can hold
    (json.dumps([{"level": "output", "sublevel": "nowhere", "name": "x", "kind": "≥", "unit": "", "target": "1", "points": "50"}],
                ensure_ascii=False, sort_keys=True, separators=(",", ":")), True, "target-changed"),  # an unknown 二级
    (json.dumps([{"level": "output", "sublevel": "quantity", "name": "x", "kind": "≥", "unit": "", "target": "1e999", "points": "1"}],
                ensure_ascii=False, sort_keys=True, separators=(",", ":")), True, "target-changed"),  # an infinite target
    ("x" * 40000, False, "target-changed"),  # longer than a cell holds: cut by the reader, its hash no longer matches
])
def test_an_edited_targets_record_is_never_laid_out(spec: RuleSpec, table: Any, tmp_path: Path, targets: str, fix_hash: bool, code: str) -> None:
    import hashlib

    src = generate_workbook(spec, tmp_path / "n06.xlsx", targets=table.by_key["N06"], roster_key="N06", generated_at=STAMP).path
    edits = {"targets": targets}
    if fix_hash:
        edits["targets_sha256"] = hashlib.sha256(targets.encode()).hexdigest()
    r = validate_path(_meta_edit(src, tmp_path / "edited.xlsx", **edits), RunContext.builtin(today=TODAY))
    assert r.status == "invalid" and r.results is None and code in [f.code for f in r.findings]
    fast, ref = (validate_path(tmp_path / "edited.xlsx", RunContext.builtin(today=TODAY), reader=x).flatten() for x in ("fast", "openpyxl"))
    assert fast == ref
