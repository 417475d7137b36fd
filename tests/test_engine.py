"""Real engine: LibreOffice recalculates the generated workbook and agrees with us.

LibreOffice runs with a profile that always recalculates on load, and the file it
gets has no cached value left (tests/engines.py strips them), so each figure
read back was computed by LibreOffice itself. tests/test_gnumeric.py does the
same with Gnumeric.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from xltemplate.form.generate import generate_workbook
from xltemplate.families.self_scored.layout import Layout
from tools.soffice import convert
from xltemplate.spec import Spec

from tests.engines import BAND_EDGES, formula_cells, same_value, scores_for_total, strip_cached_values

pytestmark = pytest.mark.engine


def read_named(path: Path, names: list[str]) -> dict[str, object]:
    wb = openpyxl.load_workbook(path, data_only=True)
    out = {}
    for name in names:
        ((sheet, ref),) = list(wb.defined_names[name].destinations)
        out[name] = wb[sheet][ref.replace("$", "")].value
    return out


def test_seed_figures_after_libreoffice_recalculates(soffice: str, spec: Spec, seed_values: dict, tmp_path: Path) -> None:
    src = generate_workbook(spec, tmp_path / "seed.xlsx", values=seed_values).path
    stripped = strip_cached_values(src, tmp_path / "stripped.xlsx")
    assert openpyxl.load_workbook(stripped, data_only=True)[spec.sheet]["E44"].value is None
    (out,) = convert([stripped], tmp_path / "lo")
    layout = Layout(spec)
    got = read_named(out, [c.score.name for c in layout.categories] + ["total_score", "total_weight", "fld_grade", "fld_execution_rate"])
    assert [got[c.score.name] for c in layout.categories] == [35, 33, 14, 14]
    assert got["total_score"] == 96 and got["total_weight"] == 100
    assert got["fld_grade"] == "优秀"
    assert round(got["fld_execution_rate"] * 100, 2) == 99.71
    # what LibreOffice computed is what we cached in the file we wrote
    ours = read_named(src, list(got))
    for name, value in got.items():
        assert ours[name] == (pytest.approx(value) if isinstance(value, float) else value), name


@pytest.mark.parametrize("filled", ["blank", "seed"])
def test_every_formula_cell_after_libreoffice_recalculates(soffice: str, spec: Spec, seed_values: dict, tmp_path: Path, filled: str) -> None:
    src = generate_workbook(spec, tmp_path / f"{filled}.xlsx", values=seed_values if filled == "seed" else {}).path
    (out,) = convert([strip_cached_values(src, tmp_path / "stripped.xlsx")], tmp_path / "lo")
    ours, theirs = formula_cells(src), formula_cells(out)
    assert set(theirs) == set(ours) and ours
    assert [(k, v, theirs[k][1]) for k, (_, v) in sorted(ours.items()) if not same_value(theirs[k][1], v)] == []


@pytest.mark.parametrize("total,grade", BAND_EDGES)
def test_grade_at_every_band_edge(soffice: str, spec: Spec, band_results: dict, total: str, grade: str) -> None:
    assert band_results[total] == (pytest.approx(float(total)), grade)


@pytest.fixture(scope="module")
def band_results(soffice: str, spec: Spec, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """All band-edge workbooks recalculated in one LibreOffice run."""
    tmp = tmp_path_factory.mktemp("bands")
    layout = Layout(spec)
    totals = [t for t, _ in BAND_EDGES]
    paths = []
    for t in totals:
        src = generate_workbook(spec, tmp / f"t{t}.xlsx", values=scores_for_total(layout, Decimal(t))).path
        paths.append(strip_cached_values(src, tmp / f"s{t}.xlsx"))
    outs = convert(paths, tmp / "lo")
    results = {}
    for t, out in zip(totals, outs):
        got = read_named(out, ["total_score", "fld_grade"])
        results[t] = (got["total_score"], got["fld_grade"])
        # and our own cached value for the same inputs agrees with the engine
        ours = read_named(tmp / f"t{t}.xlsx", ["total_score", "fld_grade"])
        assert ours["fld_grade"] == got["fld_grade"]
    return results


def test_checks_light_up_in_the_engine(soffice: str, spec: Spec, tmp_path: Path) -> None:
    layout = Layout(spec)
    rows = {r.id: r for r in layout.rows}
    values = {rows["fund_compliance"].score.name: 7,  # above its weight of 6
              rows["fiscal_multiplier"].score.name: 2,  # not applicable
              rows["quality_rate"].weight.name: 20,  # output weights now add up to 40
              }
    src = generate_workbook(spec, tmp_path / "bad.xlsx", values=values).path
    (out,) = convert([strip_cached_values(src, tmp_path / "s.xlsx")], tmp_path / "lo")
    names = [rows["fund_compliance"].check.name, rows["fiscal_multiplier"].check.name, "cat_output_check", "total_check"]
    got = read_named(out, names)
    assert got == {names[0]: "自评分超过权重", names[1]: "不适用指标不应得分",
                   "cat_output_check": "权重合计应为34分", "total_check": "权重合计应为100分"}
    assert read_named(src, names) == got
