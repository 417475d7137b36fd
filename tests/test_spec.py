"""Spec loading: the built-in template, and every kind of bad spec named by its key path."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest
import yaml

from xltemplate.errors import SpecError
from xltemplate.catalog import spec_from_dict, templates_dir
from xltemplate.spec import Spec

BUILTIN = yaml.safe_load((templates_dir() / "sh-project-self-eval.yaml").read_text(encoding="utf-8"))

SMALL = {
    "id": "small", "version": "1", "title": "小表", "sheet": "自评",
    "fields": [
        {"id": "name", "label": "项目名称", "type": "text", "required": True},
        {"id": "grade", "label": "绩效等级", "type": "text", "compute": "grade"},
    ],
    "categories": [
        {"id": "a", "name": "甲", "points": 60, "indicators": [
            {"id": "a1", "name": "一", "weight": 40}, {"id": "a2", "name": "二", "weight": 20}]},
        {"id": "b", "name": "乙", "points": 40, "weights": "flexible", "extra_rows": 2, "indicators": [
            {"id": "b1", "name": "三", "weight": 40}, {"id": "b2", "name": "四"}]},
    ],
    "grades": [{"label": "好", "min": 80}, {"label": "差", "min": 0}],
}


def problems(data: dict) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as info:
        spec_from_dict(data)
    return [(p.path, p.message) for p in info.value.problems]


def paths(data: dict) -> list[str]:
    return [p for p, _ in problems(data)]


def mutate(**changes) -> dict:
    data = copy.deepcopy(SMALL)
    for path, value in changes.items():
        target = data
        keys = path.split("__")
        for k in keys[:-1]:
            target = target[int(k)] if k.isdigit() else target[k]
        last = keys[-1]
        if value is KeyError:
            del target[int(last) if last.isdigit() else last]
        elif last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value
    return data


def test_builtin_reproduces_the_seed_form() -> None:
    spec = spec_from_dict(BUILTIN)
    assert spec.id == "sh-project-self-eval"
    labels = [f.label for f in spec.fields]
    assert labels == ["项目名称", "预算单位", "具体实施处（科室）", "是否为经常性项目", "当年预算数（元）",
                      "上年预算金额（元）", "预算执行数（元）", "预算执行率（%）", "项目年度总目标", "自评时间",
                      "绩效等级", "主要绩效", "主要问题", "改进措施"]
    assert [(c.name, c.points, c.weights) for c in spec.categories] == [
        ("投入与管理", 36, "fixed"), ("产出目标", 34, "flexible"), ("效果目标", 15, "flexible"), ("影响力目标", 15, "flexible")]
    inds = [i for _, i in spec.indicators]
    assert len(inds) == 17
    assert [i.name for i in inds if i.weight is None] == ["财政投入乘数", "生态效益"]
    assert sum(i.weight or 0 for i in inds) == 100
    assert inds[3].explanation == "反映项目预算执行的进度"
    assert [(b.label, b.min) for b in spec.bands] == [("优秀", 90), ("良好", 75), ("合格", 60), ("不合格", 0)]
    assert spec.grade_for(Decimal("89.99")) == "良好" and spec.grade_for(Decimal(90)) == "优秀"
    assert len(spec.notes) == 3 and spec.notes[1].startswith("2、绩效等级说明")
    assert [c.extra_rows for c in spec.categories] == [0, 3, 3, 3]
    assert spec.field("recurring").choices == ("是", "否")
    assert spec.field("execution_rate").operands == ("executed", "budget")


def test_small_spec_loads() -> None:
    spec = spec_from_dict(SMALL)
    assert isinstance(spec, Spec) and spec.total == 100


def test_hash_is_of_content_not_text() -> None:
    a = spec_from_dict(SMALL)
    b = spec_from_dict(yaml.safe_load(yaml.safe_dump(SMALL, sort_keys=True)))
    c = spec_from_dict(mutate(title="另一个"))
    assert a.spec_hash == b.spec_hash != c.spec_hash


def test_unknown_keys_get_a_did_you_mean() -> None:
    found = problems(mutate(categories__0__indicators__1__wieght=3))
    assert found == [("categories[0].indicators[1].wieght", "不认识的项“wieght”；是否想写“weight”？")]
    found = problems(mutate(titel="x"))
    assert found[0][0] == "titel" and "是否想写“title”" in found[0][1]


def test_fixed_weights_must_add_up() -> None:
    data = mutate(categories__0__indicators__1__weight=25)
    assert problems(data) == [("categories[0].indicators", "类别“甲”的权重合计 65，应为 60（权重固定时须等于本类分值）")]


def test_points_must_add_up_to_total() -> None:
    data = mutate(categories__1__points=50, categories__1__indicators__0__weight=50)
    assert ("categories", "各类别分值合计 110，应为总分 100") in problems(data)


def test_weight_above_points_names_the_indicator() -> None:
    assert "categories[1].indicators[0].weight" in paths(mutate(categories__1__indicators__0__weight=45))


def test_duplicate_ids() -> None:
    found = problems(mutate(categories__1__indicators__1__id="a1"))
    assert any("编号“a1”用了不止一次" in m for _, m in found)


def test_bands_with_a_gap_or_an_overlap() -> None:
    gap = mutate(grades=[{"label": "好", "min": 80}, {"label": "差", "min": 10}])
    assert paths(gap) == ["grades[1].min"]
    overlap = mutate(grades=[{"label": "好", "min": 0}, {"label": "差", "min": 0}])
    assert paths(overlap) == ["grades[1].min"]
    beyond = mutate(grades=[{"label": "好", "min": 120}, {"label": "差", "min": 0}])
    assert paths(beyond) == ["grades[0].min"]


def test_texts_longer_than_excel_allows() -> None:
    long_help = mutate(fields__0__help="很" * 256)
    assert problems(long_help)[0][0] == "fields[0].help"
    choices = [f"选项{n:03d}" for n in range(60)]
    long_list = mutate(fields__0={"id": "c", "label": "选择", "type": "choice", "choices": choices})
    assert paths(long_list) == ["fields[0].choices"]
    long_sheet = mutate(sheet="表" * 32)
    assert paths(long_sheet) == ["sheet"]


def test_field_problems() -> None:
    assert paths(mutate(fields__0__type="txt")) == ["fields[0].type"]
    assert paths(mutate(fields__0__id="Bad Id")) == ["fields[0].id"]
    ratio = mutate(fields__1={"id": "r", "label": "率", "type": "percent", "compute": {"ratio": ["x", "name"]}})
    assert paths(ratio) == ["fields[1].compute.ratio[0]", "fields[1].compute.ratio[1]"]


def test_fixed_category_cannot_take_extra_rows() -> None:
    assert paths(mutate(categories__0__extra_rows=2)) == ["categories[0].extra_rows"]


def test_every_problem_is_reported_at_once() -> None:
    data = mutate(titel="x", categories__0__indicators__1__weight=25, fields__0__type="txt")
    assert sorted(paths(data)) == ["categories[0].indicators", "fields[0].type", "titel"]


def test_missing_keys() -> None:
    data = mutate(categories__0__points=KeyError)
    assert "categories[0].points" in paths(data)


def test_summary_roles_refer_to_fields() -> None:
    assert paths(mutate(summary={"unit": "nmae"})) == ["summary.unit"]
    assert "是否想写“name”" in problems(mutate(summary={"unit": "nmae"}))[0][1]
