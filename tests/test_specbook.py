"""The spec workbook: YAML → workbook → YAML gives the same spec (same hash) for every built-in template
and for variations over every option of both families; a workbook has what a person editing it needs."""

from __future__ import annotations

import copy
import datetime as dt
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import yaml

from xltemplate.catalog import builtin_templates, load_spec, resolve_template, spec_from_dict
from xltemplate.specbook import read_specbook, sheets_for, write_specbook
from tests.test_spec import SMALL


def national() -> dict[str, Any]:
    return yaml.safe_load(builtin_templates()["cn-project-self-eval"].read_text(encoding="utf-8"))


def plain(data: Any) -> Any:
    """The data as the spec keeps it (a YAML round trip: dates stay dates)."""
    return yaml.safe_load(yaml.safe_dump(data, allow_unicode=True))


def round_trip(data: dict[str, Any], tmp: Path) -> dict[str, Any]:
    spec = spec_from_dict(copy.deepcopy(data))
    path = write_specbook(spec, tmp / "form-spec.xlsx")
    back, _, problems = read_specbook(path)
    assert problems == []
    assert back == plain(data)
    assert load_spec(path).spec_hash == spec.spec_hash
    return back


@pytest.mark.parametrize("template", sorted(builtin_templates()))
def test_every_builtin_template_round_trips_to_the_same_hash(template: str, tmp_path: Path) -> None:
    spec = resolve_template(template)
    path = write_specbook(spec, tmp_path / f"{template}.xlsx")
    again = load_spec(path)
    assert again.spec_hash == spec.spec_hash and replace(again, source=spec.source) == spec
    # and the YAML written from it loads to the same spec again
    data, _, _ = read_specbook(path)
    yaml_path = tmp_path / "back.yaml"
    yaml_path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    assert load_spec(yaml_path).spec_hash == spec.spec_hash


def test_the_small_specs_of_the_tests_round_trip(tmp_path: Path) -> None:
    round_trip(SMALL, tmp_path)


def _self_scored_variant(rng: random.Random) -> dict[str, Any]:
    data = copy.deepcopy(SMALL)
    total = rng.choice([100, 120])
    if total != 100 or rng.random() < 0.5:
        data["total"] = total
    if rng.random() < 0.5:
        data["fiscal_year"] = rng.choice([2021, 2024])
    fields = data["fields"]
    fields.append({"id": "kind", "label": "项目类别", "type": "choice", "choices": rng.sample(["新增", "延续", "其他", "是、否"], 3),
                   "required": rng.random() < 0.5, "help": "从下拉列表选择。"})
    fields.append({"id": "budget", "label": "预算数（元）", "type": "money", "min": rng.choice([0, 0.5, 100]), "prefill": True})
    fields.append({"id": "spent", "label": "执行数", "type": "number", "max": 1e9, "required": False})
    fields.append({"id": "rate", "label": "执行率", "type": "percent", "compute": {"ratio": ["spent", "budget"]}})
    fields.append({"id": "day", "label": "日期", "type": "date", "min": dt.date(2021, 1, 1), "max": dt.date(2031, 12, 31)})
    fields.append({"id": "story", "label": "主要绩效", "type": "longtext", "max_length": rng.choice([500, 5000]),
                   "help": "第一行\n第二行"})
    rest = total - 60
    cats = data["categories"]
    cats[1]["points"] = rest
    style = rng.choice(["flexible", "fixed", None])
    if style is None:
        cats[1].pop("weights")
        cats[1].pop("extra_rows")
        cats[1]["indicators"] = [{"id": "b1", "name": "三", "weight": rest / 2}, {"id": "b2", "name": "四", "weight": rest / 2,
                                                                                 "explanation": "说明，带“引号”"}]
    elif style == "fixed":
        cats[1]["weights"] = "fixed"
        cats[1]["extra_rows"] = 0
        cats[1]["indicators"] = [{"id": "b1", "name": "三", "weight": rest - 12.5}, {"id": "b2", "name": "四", "weight": 12.5}]
    else:
        cats[1]["extra_rows"] = rng.choice([0, 1, 5])
        cats[1]["indicators"] = [{"id": "b1", "name": "三", "weight": rng.choice([0, 10])}, {"id": "b2", "name": "四"}]
    if rng.random() < 0.5:  # a third category, named like an id, with a one-character name
        data["categories"].append({"id": "c", "name": "c", "points": 0, "weights": "flexible", "indicators": [{"id": "c1", "name": "丙"}]})
    data["grades"] = [{"label": "优秀", "min": total * 0.9}, {"label": "良", "min": 70}, {"label": "差", "min": 0}]
    if rng.random() < 0.7:
        data["notes"] = ["1、说明一。", "2、说明二：金额单位为元。"]
    if rng.random() < 0.7:
        data["instructions"] = ["只填浅黄色单元格。"]
    if rng.random() < 0.7:
        data["summary"] = {"project": "name", "budget": "budget", "executed": "spent", "date": "day",
                           "texts": ["story"] if rng.random() < 0.5 else []}
        if not data["summary"]["texts"]:
            data["summary"].pop("texts")
    return data


def _rule_scored_variant(rng: random.Random) -> dict[str, Any]:
    data = national()
    data["money_unit"] = rng.choice(["元", "万元"])
    data["blank_rows"] = rng.choice([1, 2, 5])
    data["funding"]["rows"] = data["funding"]["rows"][: rng.choice([2, 4])]
    if rng.random() < 0.5:
        data["funding"].pop("label")
        data["funding"].pop("score_label")
    data["funding"]["points"] = 20
    data["levels"][0]["points"] = 40
    data["levels"][1]["sublevels"] = data["levels"][1]["sublevels"][: rng.choice([1, 4])]
    rules = data["rules"]
    rules["digits"] = rng.choice([0, 1, 4])
    rules["overshoot"] = rng.choice([1.2, 1.5, 2])
    rules["cap_execution"] = rng.random() < 0.5
    if rng.random() < 0.3:
        rules.pop("reverse_zero")
    if rng.random() < 0.3:
        data.pop("rules")
    if rng.random() < 0.5:
        data.pop("notes")
    return data


@pytest.mark.parametrize("seed", range(8))
def test_variations_of_every_option_round_trip(seed: int, tmp_path: Path) -> None:
    """Flexible/fixed/default weights, extra rows, blank weights, choices, bounds (numbers and dates), computed
    fields, notes, summary roles; the national family's rows, levels, rules and thresholds."""
    rng = random.Random(seed)
    round_trip(_self_scored_variant(rng), tmp_path)
    round_trip(_rule_scored_variant(rng), tmp_path)


# -- what the workbook looks like ------------------------------------------------------------------

def test_the_workbook_is_made_for_a_person(tmp_path: Path) -> None:
    path = write_specbook(resolve_template("sh-project-self-eval"), tmp_path / "s.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["设置", "字段", "类别", "指标", "等级", "说明", "填报说明", "汇总"]
    assert [s.zh for s in sheets_for("self-scored")] == wb.sheetnames
    for ws in wb.worksheets:
        assert ws.sheet_state == "visible" and ws.freeze_panes == "A2"
        assert all(c.font.b for c in ws[1] if c.value is not None)
        assert not any(d.hidden for d in ws.column_dimensions.values())
        assert ws.print_title_rows == "$1:$1" and ws.page_setup.paperSize == 9
        # every header cell has an input message within Excel's limits
        headers = {c.coordinate for c in ws[1] if c.value is not None}
        prompted = set()
        for dv in ws.data_validations.dataValidation:
            assert len(dv.prompt or "") <= 255 and len(dv.promptTitle or "") <= 32
            prompted |= {c for c in headers if c in dv.sqref}
        assert prompted == headers, ws.title
    fields = wb["字段"]
    assert [c.value for c in fields[1]][:4] == ["编号", "标签", "类型", "必填"]
    assert fields["A2"].value.startswith("示例") and fields["A2"].font.i  # the grey example row
    lists = {str(dv.sqref).split(":")[0]: dv.formula1 for dv in fields.data_validations.dataValidation if dv.type == "list"}
    assert lists["C3"] == '"文字,长文字,金额,数字,百分数,日期,选项"' and lists["D3"] == '"是,否"'
    assert fields["C3"].value == "文字" and fields["D3"].value == "是" and fields["K10"].value == "比率：executed/budget"
    assert fields["A3"].number_format == "@"  # typed text stays text
    indicators = wb["指标"]
    assert [indicators.cell(r, 1).value for r in (3, 9)] == ["投入与管理", "产出目标"]
    assert indicators["D11"].value is None  # 财政投入乘数: blank weight, 不适用
    widths = [indicators.column_dimensions[c].width for c in "ABCDE"]
    assert widths[2] > widths[0] > widths[3]  # 名称 wider than 类别 wider than 权重


def test_a_national_workbook_has_the_national_sheets(tmp_path: Path) -> None:
    path = write_specbook(resolve_template("cn-project-self-eval"), tmp_path / "n.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["设置", "字段", "资金", "一级二级", "规则", "定性档次", "等级", "说明", "填报说明", "汇总"]
    levels = wb["一级二级"]
    assert [c.value for c in levels[3]] == ["output", "产出指标", 50, "quantity", "数量指标"]
    assert [c.value for c in levels[4]] == [None, None, None, "quality", "质量指标"]
    rules = {r[0].value: r[1].value for r in wb["规则"].iter_rows(min_row=2)}
    assert rules == {"得分小数位数": 2, "反向指标零分倍数": 2, "须说明偏差的得分率": 1, "须说明超额的完成率": 1.3, "执行率得分封顶": "是"}


def test_the_same_spec_gives_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1614589200")
    spec = resolve_template("cn-project-self-eval")
    a = write_specbook(spec, tmp_path / "a.xlsx").read_bytes()
    b = write_specbook(spec, tmp_path / "b.xlsx").read_bytes()
    assert a == b


# -- property: any self-scored spec the checker accepts comes back the same -----------------------------

from hypothesis import HealthCheck, Phase, given, settings, strategies as st  # noqa: E402

_TEXT = st.text(alphabet=st.sampled_from(list("项目绩效评价产出效益满意度指标说明（）：，。、“”0123456789abcXYZ %-/=+") + [" "]),
                min_size=1, max_size=24).filter(lambda t: t == t.strip() and not t.startswith(("示例", "'")))
_ID = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)


@st.composite
def _specs(draw: Any) -> dict[str, Any]:
    ids = draw(st.lists(_ID, min_size=12, max_size=12, unique=True))
    labels = draw(st.lists(_TEXT, min_size=3, max_size=3, unique=True))
    fields: list[dict[str, Any]] = [{"id": ids[0], "label": labels[0], "type": "text", "required": draw(st.booleans())}]
    # Excel's list refuses an ASCII comma; a lone choice holding 、，； would read back as several (one a line
    # needs two lines), so a choice field here has two choices at least
    fields.append({"id": ids[1], "label": labels[1], "type": "choice",
                   "choices": draw(st.lists(_TEXT.filter(lambda t: "," not in t), min_size=2, max_size=4, unique=True))})
    fields.append({"id": ids[2], "label": labels[2], "type": draw(st.sampled_from(["money", "number", "percent"])),
                   "min": draw(st.sampled_from([0, 1, 0.5, 2.25]))})
    cats, n = [], 3
    points = draw(st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=3))
    for k, p in enumerate(points):
        flexible = draw(st.booleans())
        count = draw(st.integers(min_value=1, max_value=2))
        names = draw(st.lists(_TEXT, min_size=count, max_size=count))
        inds: list[dict[str, Any]] = []
        for j in range(count):
            ind: dict[str, Any] = {"id": ids[n], "name": names[j]}
            n += 1
            if j == 0 and not flexible:
                ind["weight"] = p if count == 1 else draw(st.integers(min_value=0, max_value=p))
            elif j == 1 and not flexible:
                ind["weight"] = p - inds[0]["weight"]
            elif draw(st.booleans()):
                ind["weight"] = draw(st.integers(min_value=0, max_value=p // 2))
            if draw(st.booleans()):
                ind["explanation"] = draw(_TEXT)
            inds.append(ind)
        cat: dict[str, Any] = {"id": f"c{k}", "name": f"类别{k}", "points": p, "indicators": inds}
        if flexible:
            cat["weights"] = "flexible"
            cat["extra_rows"] = draw(st.integers(min_value=0, max_value=3))
        elif draw(st.booleans()):
            cat["weights"] = "fixed"
        cats.append(cat)
    data = {"id": "prop", "version": draw(st.sampled_from(["1", "2021.10", "v2"])), "title": draw(_TEXT), "sheet": "自评",
            "total": sum(points), "fields": fields, "categories": cats, "grades": [{"label": "好", "min": 0}]}
    if draw(st.booleans()):
        data["notes"] = draw(st.lists(_TEXT, min_size=1, max_size=3))
    return data


# no shrinking: each example writes and reads a workbook (a bounded worker), and a failure is shown as drawn
@settings(max_examples=12, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=_specs())
def test_any_self_scored_spec_round_trips(data: dict[str, Any], tmp_path: Path) -> None:
    round_trip(data, tmp_path)
