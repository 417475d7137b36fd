"""Second real engine: Gnumeric recalculates what we wrote and agrees with it, cell by cell.

Each workbook loses every cached formula result first (tests/engines.py), so every
value read back was computed by Gnumeric (``ssconvert --recalc``); it must equal the
value xltemplate cached in the file it wrote, for every formula cell of every sheet,
校验 texts included. Loading a workbook xltemplate wrote must also leave Gnumeric
with nothing to say: a warning means a feature it dropped or misread.
"""

from __future__ import annotations

import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from xltemplate.distribute import distribute
from xltemplate.form.formulas import evaluate
from xltemplate.form.generate import generate_workbook
from tools.gnumeric import recalc
from xltemplate.families.self_scored.layout import Layout
from xltemplate.readers import read_submission
from xltemplate.roster import read_roster
from xltemplate.spec import Spec

from tests.conftest import SAMPLES
from tests.engines import BAND_EDGES, formula_cells, same_value, scores_for_total, strip_cached_values

pytestmark = pytest.mark.engine

SAMPLE_FILES = sorted(p for p in (SAMPLES / "returns").glob("*.xlsx") if zipfile.is_zipfile(p))


def gnumeric_values(src: Path, tmp: Path) -> dict[tuple[str, str], tuple[str, Any]]:
    """Every formula cell of ``src`` as Gnumeric computes it from a copy without cached values."""
    stripped = strip_cached_values(src, tmp / f"{src.stem}-stripped.xlsx")
    assert all(v is None for _, v in formula_cells(stripped).values())  # nothing left to copy from
    return formula_cells(recalc(stripped, tmp / f"{src.stem}-gnumeric.xlsx").path)


def disagreements(src: Path, tmp: Path, expected: dict[tuple[str, str], Any] | None = None) -> list[tuple]:
    """(sheet, cell, ours, Gnumeric's) wherever Gnumeric's value is not the one cached in ``src``."""
    ours = formula_cells(src)
    theirs = gnumeric_values(src, tmp)
    assert set(theirs) == set(ours) and ours  # the same formula cells, and some
    want = {k: v for k, (_, v) in ours.items()}
    want.update(expected or {})
    return [(*k, want[k], theirs[k][1]) for k in sorted(ours) if not same_value(theirs[k][1], want[k])]


@pytest.mark.parametrize("filled", ["blank", "seed"])
def test_blank_and_seed_recalculated_by_gnumeric_equal_our_cached_values(
        gnumeric: str, spec: Spec, seed_values: dict, tmp_path: Path, filled: str) -> None:
    values = seed_values if filled == "seed" else {}
    src = generate_workbook(spec, tmp_path / f"{filled}.xlsx", values=values).path
    assert disagreements(src, tmp_path) == []


def test_seed_figures_in_gnumeric(gnumeric: str, spec: Spec, seed_values: dict, tmp_path: Path) -> None:
    src = generate_workbook(spec, tmp_path / "seed.xlsx", values=seed_values).path
    got = gnumeric_values(src, tmp_path)
    layout = Layout(spec)

    def at(name: str) -> Any:
        cell = next(c for c in layout.named_cells() if c.name == name)
        return got[(spec.sheet, cell.a1)][1]

    assert [at(c.score.name) for c in layout.categories] == [35, 33, 14, 14]
    assert (at("total_score"), at("total_weight"), at("fld_grade")) == (96, 100, "优秀")
    assert round(at("fld_execution_rate") * 100, 2) == 99.71
    # the two rows whose weight is blank (not applicable): N() made these #NUM! in Gnumeric
    for r in layout.rows:
        if r.indicator is not None and r.spec_weight is None:
            assert at(r.check.name) == "", r.id


@pytest.mark.parametrize("total,grade", BAND_EDGES)
def test_every_grade_band_edge_in_gnumeric(gnumeric: str, spec: Spec, tmp_path: Path, total: str, grade: str) -> None:
    layout = Layout(spec)
    src = generate_workbook(spec, tmp_path / f"t{total}.xlsx", values=scores_for_total(layout, Decimal(total))).path
    assert disagreements(src, tmp_path) == []
    got = gnumeric_values(src, tmp_path)
    assert got[(spec.sheet, layout.field("grade").cell.a1)][1] == grade
    assert got[(spec.sheet, layout.total_score.a1)][1] == pytest.approx(float(total))


def test_check_texts_in_gnumeric(gnumeric: str, spec: Spec, tmp_path: Path) -> None:
    """Every kind of 校验 text, computed by Gnumeric, is the text we cached."""
    layout = Layout(spec)
    rows = {r.id: r for r in layout.rows}
    values = {rows["fund_compliance"].score.name: 7,  # above its weight of 6
              rows["fiscal_multiplier"].score.name: 2,  # not applicable (blank weight)
              rows["eco_benefit"].score.name: 0,  # not applicable, scored 0: fine
              rows["quality_rate"].weight.name: 20,  # output weights now add up to 40
              rows["key_work_completion"].score.name: "九分",  # not a number
              rows["info_speed"].score.name: -1,
              "ext_output_1_name": "自定义指标",  # an extra row without weight and score
              "ext_effect_1_name": "满意度提升", "ext_effect_1_weight": "五", "ext_effect_1_score": 1,
              "ext_impact_1_name": "影响", "ext_impact_1_weight": -2, "ext_impact_1_score": 1}
    src = generate_workbook(spec, tmp_path / "mistakes.xlsx", values=values).path
    assert disagreements(src, tmp_path) == []
    shown = {v for k, (_, v) in formula_cells(src).items() if isinstance(v, str) and v}
    assert {"自评分超过权重", "不适用指标不应得分", "权重合计应为34分", "权重合计应为100分", "自评分须为数字",
            "自评分不能为负", "请填写完整：名称、权重、自评分", "权重须为数字", "权重不能为负"} <= shown


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=[p.name for p in SAMPLE_FILES])
def test_every_shipped_sample_in_gnumeric(gnumeric: str, spec: Spec, tmp_path: Path, path: Path) -> None:
    """Each return in samples/returns, as Gnumeric recalculates it, shows what the file claims.

    A file saved by a program that keeps no cached results (openpyxl, for the unit that typed
    over its total) is held to what a spreadsheet should show instead: the Python twin.
    """
    cells = formula_cells(path)
    expected: dict[tuple[str, str], Any] = {}
    if all(v is None for _, v in cells.values()):
        sub = read_submission(path)
        layout = Layout(spec)
        shown = evaluate(layout, {c.name: sub.value(spec.sheet, c.a1) for c in layout.named_cells()})
        for cell in layout.computed_cells():
            if (spec.sheet, cell.a1) in cells:
                expected[(spec.sheet, cell.a1)] = shown[cell.name]
        assert expected  # the file is one of ours
    assert disagreements(path, tmp_path, expected) == []


def test_samples_are_all_there() -> None:
    # 20 returns with the duplicate, the draft and the other template; the lock file is no workbook
    assert len(SAMPLE_FILES) == 20


@pytest.fixture(scope="module")
def our_workbooks(spec: Spec, seed_values: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Workbooks as xltemplate writes them: blank, seeded, with a password, prefilled from the roster, annotated."""
    from xltemplate.annotate import annotate
    from xltemplate.validate import validate_path

    tmp = tmp_path_factory.mktemp("ours")
    layout = Layout(spec)
    out = {
        "blank": generate_workbook(spec, tmp / "blank.xlsx").path,
        "seed": generate_workbook(spec, tmp / "seed.xlsx", values=seed_values).path,
        "password": generate_workbook(spec, tmp / "password.xlsx", password="s3cret", values=seed_values).path,
    }
    roster = distribute(spec, read_roster(SAMPLES / "roster.csv", spec), tmp / "roster", jobs=1)
    out["roster"] = roster.files[0].path
    bad = dict(seed_values)
    bad[next(r for r in layout.rows if r.indicator is not None and r.spec_weight).score.name] = 99
    wrong = generate_workbook(spec, tmp / "wrong.xlsx", values=bad).path
    report = validate_path(wrong)
    assert report.findings
    out["annotated"] = annotate(report, tmp / "annotated")
    return out


#: The one thing Gnumeric 1.12 says about a workbook of ours, and why it is not ours to fix. Only the
#: annotated copy carries cell comments. Each comment's shape is a VML drawing whose
#: ``<x:ClientData ObjectType="Note">`` is how Excel itself writes every comment (ECMA-376 Part 4,
#: and openpyxl follows it); Gnumeric's VML reader does not handle note shapes and prints this once
#: per comment, yet reads the comments themselves from commentsN.xml (they survive into its own
#: file format). Excel needs that VML to show the comments, so it stays.
NOTE_MESSAGE = "Unhandled object of type Note"


def vml_notes(path: Path) -> int:
    with zipfile.ZipFile(path) as z:
        return sum(z.read(n).decode("utf-8").count('ObjectType="Note"') for n in z.namelist() if n.endswith(".vml"))


@pytest.mark.parametrize("kind", ["blank", "seed", "password", "roster", "annotated"])
def test_loading_our_workbooks_gnumeric_says_nothing(gnumeric: str, our_workbooks: dict[str, Path], tmp_path: Path, kind: str) -> None:
    path = our_workbooks[kind]
    converted = recalc(path, tmp_path / "out.xlsx")
    notes = vml_notes(path)
    assert (notes > 0) is (kind == "annotated")
    assert converted.messages.splitlines() == [NOTE_MESSAGE] * notes, converted.messages
