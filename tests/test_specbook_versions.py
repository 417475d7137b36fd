"""Returns of an older version of a form: recognised (template-version-old, both versions named), collected with
a warning when every input sits in the same cell in both versions, listed as needing the new form otherwise."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from xltemplate.catalog import builtin_templates, spec_from_dict
from xltemplate.cli import main
from xltemplate.form.generate import generate_workbook
from xltemplate.identify import RunContext, moved_inputs
from xltemplate.rollup import collect
from xltemplate.spec import Spec
from xltemplate.specbook import write_specbook
from xltemplate.validate import validate_path
from tests.corpus import clean_seed

STAMP = dt.datetime(2021, 3, 1, 9, tzinfo=dt.timezone.utc)


def sh_data() -> dict[str, Any]:
    return yaml.safe_load(builtin_templates()["sh-project-self-eval"].read_text(encoding="utf-8"))


def next_year(**change: Any) -> Spec:
    data = sh_data()
    data["version"] = "2021.1"
    for key, value in change.items():
        data[key] = value
    return spec_from_dict(data)


def weights_moved() -> Spec:
    """2021.1: two fixed weights and a grade band changed, an indicator renamed: the inputs stay where they were."""
    data = sh_data()
    data["version"] = "2021.1"
    inds = data["categories"][0]["indicators"]
    inds[0]["weight"], inds[1]["weight"] = 7, 7
    data["categories"][1]["indicators"][0]["name"] = "质量合格率"
    data["grades"][1]["min"] = 80
    return spec_from_dict(data)


def field_added() -> Spec:
    """2021.2: a header field added: every cell below it moves."""
    data = sh_data()
    data["version"] = "2021.2"
    data["fields"].insert(3, {"id": "contact", "label": "联系人", "type": "text"})
    return spec_from_dict(data)


@pytest.fixture(scope="module")
def old_return(tmp_path_factory: pytest.TempPathFactory, seed_values: dict) -> Path:
    root = tmp_path_factory.mktemp("old")
    values = clean_seed(seed_values)  # a valid return, as the corpus's
    return generate_workbook(builtin_templates()["sh-project-self-eval"], root / "旧版本.xlsx", values=values,
                             generated_at=STAMP).path


def clean_seed_values() -> dict[str, Any]:
    return clean_seed(yaml.safe_load((Path(__file__).resolve().parent.parent / "samples" / "seed-values.yaml").read_text(encoding="utf-8")))


def codes(report: Any) -> list[str]:
    return [f.code for f in report.findings]


def test_which_changes_move_inputs() -> None:
    old = spec_from_dict(sh_data())
    assert moved_inputs(old, weights_moved()) is None
    assert moved_inputs(old, field_added()) == "第 4 个填写项旧版本为 D4（recurring），新版本为 D4（contact）"
    assert moved_inputs(old, next_year(sheet="自评")) == "工作表名称由“项目绩效自评”改为“自评”"
    flexible = sh_data()
    flexible["categories"][0]["weights"] = "flexible"  # its weights become inputs
    assert moved_inputs(old, spec_from_dict(flexible)) == "第 13 个填写项旧版本为 E14（fund_compliance），新版本为 D14（fund_compliance）"
    choices = sh_data()
    choices["fields"][3]["choices"] = ["是", "否", "不确定"]
    assert moved_inputs(old, spec_from_dict(choices)) == "填写项“recurring”（D4）的类型或选项不同"


def test_an_older_version_with_the_same_inputs_is_read_as_its_own_version(old_return: Path) -> None:
    new = weights_moved()
    report = validate_path(old_return, RunContext.builtin(new))  # the built-in 2020.1 is the older version
    assert "template-version-old" in codes(report) and report.status == "valid"
    found = next(f for f in report.findings if f.code == "template-version-old")
    assert found.message == ("此文件使用模板“sh-project-self-eval”的旧版本 2020.1（当前版本为 2021.1）；两个版本的填写位置相同，"
                             "已按版本 2020.1 核对并汇总。今后请使用最新下发的表格。")
    assert report.template == ("sh-project-self-eval", "2020.1")
    # scored as the unit saw it: the old weights, not the new ones
    assert report.results is not None and [i.weight for i in report.results.items][:2] == [6, 8]


def test_an_older_version_whose_inputs_moved_needs_the_new_form(old_return: Path) -> None:
    report = validate_path(old_return, RunContext.builtin(field_added()))
    assert codes(report)[:1] == ["template-version-old-moved"] and report.status == "invalid" and report.results is None
    assert "旧版本 2020.1，与当前版本 2021.2 的填写位置不同" in report.findings[0].message


def test_without_the_older_version_it_is_only_another_version(old_return: Path, tmp_path: Path) -> None:
    data = sh_data()
    data["id"], data["version"] = "sh-2021", "1"  # a new id: 2020.1 of sh-project-self-eval is another form
    report = validate_path(old_return, RunContext.builtin(spec_from_dict(data)))
    assert codes(report)[:1] == ["template-mismatch"]


def test_collect_counts_the_old_return_with_a_warning(old_return: Path, tmp_path: Path) -> None:
    returns = tmp_path / "returns"
    returns.mkdir()
    (returns / old_return.name).write_bytes(old_return.read_bytes())
    result = collect([returns], weights_moved())
    (ret,) = result.returns
    assert ret.fate == "计入" and "template-version-old" in codes(ret.report) and result.counts().files_valid == 1
    assert ret.report.results is not None and ret.report.results.total is not None
    moved = collect([returns], field_added())
    assert moved.counts().files_invalid == 1 and moved.returns[0].report.results is None
    assert "template-version-old-moved" in codes(moved.returns[0].report)


def test_the_cli_takes_older_versions_with_old_template(old_return: Path, tmp_path: Path) -> None:
    """The clerk's way: --template the current form, --old-template each older one still coming back."""
    returns = tmp_path / "returns"
    returns.mkdir()
    renamed = copy.deepcopy(sh_data())
    renamed["id"] = "sh-form"  # not a built-in: the older version must be given
    old_spec = spec_from_dict(renamed)
    generate_workbook(old_spec, returns / "a.xlsx", values={}, generated_at=STAMP)
    new_data = copy.deepcopy(renamed)
    new_data["version"] = "2021.1"
    new_book = write_specbook(spec_from_dict(new_data), tmp_path / "2021.xlsx")
    old_yaml = tmp_path / "2020.yaml"
    old_yaml.write_text(yaml.safe_dump(renamed, allow_unicode=True), encoding="utf-8")
    without = CliRunner().invoke(main, ["validate", str(returns), "--template", str(new_book), "--json"])
    assert "template-version" in without.output and "template-version-old" not in without.output
    with_old = CliRunner().invoke(main, ["validate", str(returns), "--template", str(new_book), "--old-template", str(old_yaml), "--json"])
    found = [f["code"] for f in json.loads(with_old.output)["files"][0]["findings"]]
    assert "template-version-old" in found
    rolled = CliRunner().invoke(main, ["collect", str(returns), "--template", str(new_book), "--old-template", str(old_yaml),
                                       "-o", str(tmp_path / "汇总.xlsx"), "--json", "--quiet"])
    assert rolled.exit_code == 0, rolled.output
    assert json.loads(rolled.output)["template"]["version"] == "2021.1"


def test_a_round_reads_the_old_return_again_once_its_version_is_given(old_return: Path, tmp_path: Path) -> None:
    """The ledger reuses a stored report only under the same verdict context: the older versions the run
    knows are part of it, so naming one with --old-template makes the old return read again."""
    from xltemplate.rounds import collect_round

    returns = tmp_path / "returns"
    returns.mkdir()
    data = sh_data()
    data["id"] = "sh-form"  # not a built-in: 2020.1 is known only when given
    (returns / "a.xlsx").write_bytes(generate_workbook(spec_from_dict(data), tmp_path / "a.xlsx", values=clean_seed_values(),
                                                       generated_at=STAMP).path.read_bytes())
    old = spec_from_dict(copy.deepcopy(data))
    data["version"] = "2021.1"
    new = spec_from_dict(data)
    ledger = tmp_path / "第一轮.xlt.db"
    first = collect_round([returns], new, ledger=ledger, output=tmp_path / "r1.xlsx")
    assert codes(first.collection.returns[0].report)[:1] == ["template-version"] and sum(first.read.values()) == 1
    again = collect_round([returns], new, ledger=ledger, output=tmp_path / "r2.xlsx")
    assert again.reused == 1  # nothing changed: the stored report holds
    given = collect_round([returns], new, ledger=ledger, output=tmp_path / "r3.xlsx", older=[old])
    assert given.reused == 0 and sum(given.read.values()) == 1
    assert "template-version-old" in codes(given.collection.returns[0].report)
    assert given.collection.counts().files_valid == 1
    assert RunContext.builtin(new, older=[old]).verdict_context("SH001") != RunContext.builtin(new).verdict_context("SH001")
    assert RunContext.builtin(new, older=[old]).older_versions() == [old] and RunContext.builtin(new).older_versions() == []
