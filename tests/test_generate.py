"""The generated workbook read back with openpyxl: what a person and a reader would find."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import openpyxl
import pytest

from xltemplate.form.formulas import evaluate
from xltemplate.form.generate import generate_workbook
from xltemplate.families.self_scored.layout import Layout
from xltemplate.form.layout import GUIDE_SHEET
from xltemplate.meta import KEYS as META_KEYS, SHEET as META_SHEET
from xltemplate.spec import Spec

STAMP = dt.datetime(2021, 3, 1, 8, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def blank(spec: Spec, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_workbook(spec, tmp_path_factory.mktemp("gen") / "blank.xlsx", generated_at=STAMP).path


@pytest.fixture(scope="module")
def seeded(spec: Spec, seed_values: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_workbook(spec, tmp_path_factory.mktemp("gen") / "seed.xlsx", values=seed_values,
                             prefill={"unit": "上海市中小企业发展服务中心"}, roster_key="SH001", generated_at=STAMP).path


def names(wb: openpyxl.Workbook) -> dict[str, tuple[str, str]]:
    out = {}
    for name, dn in wb.defined_names.items():
        ((sheet, ref),) = list(dn.destinations)
        out[name] = (sheet, ref.replace("$", ""))
    return out


def merged_anchor(ws, coord: str) -> str:
    for rng in ws.merged_cells.ranges:
        if coord in rng:
            return rng.start_cell.coordinate
    return coord


def test_sheet_is_protected_and_exactly_the_inputs_are_unlocked(spec: Spec, blank: Path) -> None:
    wb = openpyxl.load_workbook(blank)
    ws = wb[spec.sheet]
    assert ws.protection.sheet is True
    layout = Layout(spec)
    inputs = {c.a1 for c in layout.input_cells()}
    unlocked = {merged_anchor(ws, c.coordinate) for row in ws.iter_rows() for c in row
                if c.has_style and c.protection.locked is False}
    assert unlocked == inputs
    # the fixed category's weights and every label stay locked
    for r in layout.locked_weights():
        assert ws[r.weight.a1].protection.locked is True
    assert wb[GUIDE_SHEET].protection.sheet is True


def test_input_count_matches_the_form(spec: Spec) -> None:
    layout = Layout(spec)
    cells = layout.input_cells()
    # 12 header inputs; 17 score + 17 remark; 11 flexible weights; 9 extra rows × 5 cells
    assert len(cells) == 12 + 17 + 17 + 11 + 9 * 5
    assert len({c.name for c in cells}) == len(cells)


def test_defined_names_point_at_the_layout(spec: Spec, blank: Path) -> None:
    wb = openpyxl.load_workbook(blank)
    found = names(wb)
    layout = Layout(spec)
    for cell in layout.input_cells() + layout.computed_cells():
        assert found[cell.name] == (spec.sheet, cell.a1), cell.name
    assert found["fld_grade"] == (spec.sheet, layout.field("grade").cell.a1)
    assert "total_score" in found and "cat_output_weight" in found and "ind_fund_compliance_weight" in found


def test_labels_and_indicator_texts_are_where_the_layout_says(spec: Spec, blank: Path) -> None:
    ws = openpyxl.load_workbook(blank)[spec.sheet]
    for (row, col), text in Layout(spec).locked_texts().items():
        assert ws.cell(row + 1, col + 1).value == text


def test_formulas_and_their_cached_values(spec: Spec, seeded: Path, seed_values: dict) -> None:
    formulas = openpyxl.load_workbook(seeded)[spec.sheet]
    cached = openpyxl.load_workbook(seeded, data_only=True)[spec.sheet]
    layout = Layout(spec)
    for cell in layout.computed_cells():
        assert str(formulas[cell.a1].value).startswith("="), cell.name
    assert [cached[c.score.a1].value for c in layout.categories] == [35, 33, 14, 14]
    assert [cached[c.weight.a1].value for c in layout.categories] == [36, 34, 15, 15]
    assert cached[layout.total_score.a1].value == 96
    assert cached[layout.total_weight.a1].value == 100
    assert cached[layout.field("grade").cell.a1].value == "优秀"
    assert cached[layout.field("execution_rate").cell.a1].value == pytest.approx(8967171 / 8993600)
    assert all(cached[r.check.a1].value in (None, "") for r in layout.rows)


def test_blank_workbook_shows_no_grade_and_full_weights(spec: Spec, blank: Path) -> None:
    ws = openpyxl.load_workbook(blank, data_only=True)[spec.sheet]
    layout = Layout(spec)
    assert ws[layout.total_weight.a1].value == 100  # never a 0 in a program that does not recalculate
    assert ws[layout.field("grade").cell.a1].value in (None, "")
    assert ws[layout.field("execution_rate").cell.a1].value in (None, "")


def test_data_validation_on_every_input(spec: Spec, blank: Path) -> None:
    ws = openpyxl.load_workbook(blank)[spec.sheet]
    layout = Layout(spec)
    by_cell = {}
    for dv in ws.data_validations.dataValidation:
        for rng in dv.sqref.ranges:
            by_cell[rng.coord] = dv
    assert set(by_cell) == {c.a1 for c in layout.input_cells()}
    for r in layout.rows:
        dv = by_cell[r.score.a1]
        assert dv.type == "decimal" and dv.formula1 == "0" and dv.formula2 == r.weight.ref
        assert dv.promptTitle and dv.prompt and dv.error and dv.errorStyle in (None, "stop")  # absent = stop
        assert dv.showErrorMessage and dv.showInputMessage
    recurring = by_cell[layout.field("recurring").cell.a1]
    assert recurring.type == "list" and recurring.formula1 == '"是,否"'
    budget = by_cell[layout.field("budget").cell.a1]
    assert budget.type == "decimal" and budget.operator == "greaterThanOrEqual" and budget.formula1 == "0"
    date = by_cell[layout.field("eval_date").cell.a1]
    assert date.type == "date"
    for dv in by_cell.values():
        assert len(dv.prompt or "") <= 255 and len(dv.error or "") <= 255 and len(dv.promptTitle or "") <= 32
        assert any("\u4e00" <= ch <= "\u9fff" for ch in dv.error)


def test_metadata_is_very_hidden_and_mirrored(spec: Spec, seeded: Path) -> None:
    wb = openpyxl.load_workbook(seeded)
    meta_ws = wb[META_SHEET]
    assert meta_ws.sheet_state == "veryHidden"
    meta = {meta_ws.cell(n + 1, 1).value: meta_ws.cell(n + 1, 2).value for n in range(len(META_KEYS))}
    assert list(meta) == list(META_KEYS)
    assert meta["template_id"] == spec.id and meta["template_version"] == spec.version
    assert meta["spec_hash"] == spec.spec_hash and meta["roster_key"] == "SH001"
    assert meta["generated_at"] == "2021-03-01T08:00:00+00:00"
    assert json.loads(meta["prefill"]) == {"unit": "上海市中小企业发展服务中心"}
    props = {p.name: p.value for p in wb.custom_doc_props.props}
    for key in META_KEYS:
        if key != "prefill":
            assert props[f"xltemplate.{key}"] == meta[key]
    assert wb.sheetnames[0] == spec.sheet and wb.active.title == spec.sheet


def test_prefilled_fields_are_locked(spec: Spec, seeded: Path) -> None:
    ws = openpyxl.load_workbook(seeded)[spec.sheet]
    layout = Layout(spec)
    unit = ws[layout.field("unit").cell.a1]
    assert unit.value == "上海市中小企业发展服务中心" and unit.protection.locked is True
    assert ws[layout.field("implementer").cell.a1].protection.locked is False


def test_category_cells_are_merged_like_the_paper_form(spec: Spec, blank: Path) -> None:
    ws = openpyxl.load_workbook(blank)[spec.sheet]
    merged = {str(r) for r in ws.merged_cells.ranges}
    for c in Layout(spec).categories:
        assert f"A{c.first_row + 1}:A{c.subtotal_row + 1}" in merged


def test_conditional_formats_flag_checks_and_scores(spec: Spec, blank: Path) -> None:
    ws = openpyxl.load_workbook(blank)[spec.sheet]
    layout = Layout(spec)
    ranges = {str(cf.sqref) for cf in ws.conditional_formatting}
    first, last = layout.categories[0].first_row + 1, layout.total_row + 1
    assert f"G{first}:G{last}" in ranges and f"E{first}:E{last}" in ranges


def test_same_inputs_same_bytes(spec: Spec, seed_values: dict, tmp_path: Path) -> None:
    a = generate_workbook(spec, tmp_path / "a.xlsx", values=seed_values, generated_at=STAMP)
    b = generate_workbook(spec, tmp_path / "b.xlsx", values=seed_values, generated_at=STAMP)
    assert a.sha256 == b.sha256


def test_password_is_set(spec: Spec, tmp_path: Path) -> None:
    path = generate_workbook(spec, tmp_path / "p.xlsx", password="s3cret").path
    ws = openpyxl.load_workbook(path)[spec.sheet]
    assert ws.protection.sheet and ws.protection.password


def test_python_twin_matches_excel_rules(spec: Spec) -> None:
    layout = Layout(spec)
    row = next(r for r in layout.rows if r.indicator and r.indicator.id == "fiscal_multiplier")
    values = {r.weight.name: r.spec_weight for r in layout.rows}
    values[row.score.name] = 1
    assert evaluate(layout, values)[row.check.name] == "不适用指标不应得分"
    extra = next(r for r in layout.rows if r.indicator is None)
    values[extra.name.name] = "自定义"
    assert evaluate(layout, values)[extra.check.name] == "请填写完整：名称、权重、自评分"
    values[extra.weight.name] = 3
    out = evaluate(layout, values)
    assert out[f"cat_{extra.category.id}_check"] == "权重合计应为34分"
    assert out["total_check"] == "权重合计应为100分"


def test_values_that_are_not_inputs_are_refused(spec: Spec, tmp_path: Path) -> None:
    from xltemplate.errors import GenerateError

    with pytest.raises(GenerateError, match="total_score"):
        generate_workbook(spec, tmp_path / "x.xlsx", values={"total_score": 5})
    with pytest.raises(GenerateError, match="grade"):
        generate_workbook(spec, tmp_path / "x.xlsx", prefill={"grade": "优秀"})
    assert not (tmp_path / "x.xlsx").exists()


def test_a_cell_s_addresses_are_those_a1_writes() -> None:
    """A cell's A1 and absolute references (made with its column's letters remembered) are openpyxl's."""
    from openpyxl.utils import get_column_letter

    from xltemplate.form.layout import Cell, a1

    for row, col in [(0, 0), (4, 1), (9, 25), (9, 26), (99, 701), (99, 702), (1048575, 16383), (7, 1)]:
        cell = Cell(row, col, "x")
        letters = get_column_letter(col + 1)
        assert (cell.a1, cell.ref) == (f"{letters}{row + 1}", f"${letters}${row + 1}") == (a1(row, col), a1(row, col, True))
