"""The formulas themselves: only functions every engine has, the Python twin, and older layouts."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import zipfile
from pathlib import Path

import pytest
import xlsxwriter
from openpyxl.formula import Tokenizer
from openpyxl.formula.tokenizer import Token

from xltemplate.families.self_scored.formulas import MSG_NOT_APPLICABLE, MSG_SCORE_ABOVE_WEIGHT, row_check
from xltemplate.form.formulas import ALLOWED_FUNCTIONS, FORMULA_VERSIONS, evaluate, formulas
from xltemplate.form.generate import generate_workbook
from xltemplate.families.self_scored.layout import Layout
from xltemplate.form.layout import LAYOUT_VERSION
from xltemplate.readers import read_submission
from xltemplate.catalog import spec_from_dict
from xltemplate.spec import Spec
from xltemplate.validate import validate_path, validate_submission
from xltemplate.identify import RunContext

from tests.conftest import ROOT, SAMPLES

V1_FIXTURE = ROOT / "tests" / "fixtures" / "layout-v1-SH001.xlsx"  # written by the version-1 generator
TODAY = dt.date(2021, 5, 1)

# Where a workbook's parts keep formulas: cells, conditional formats, data validations, defined names.
_FORMULA_TEXT = re.compile(r"<(f|formula|formula1|formula2|definedName)\b[^>]*>(.*?)</\1>", re.S)


def formula_texts(path: Path) -> list[tuple[str, str]]:
    """(part, formula) for every formula anywhere in the workbook's XML."""
    import html

    out = []
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name.endswith(".xml"):
                for m in _FORMULA_TEXT.finditer(z.read(name).decode("utf-8")):
                    out.append((f"{name}:{m.group(1)}", html.unescape(m.group(2))))
    return out


def functions_called(formula: str) -> set[str]:
    tok = Tokenizer(formula if formula.startswith("=") else "=" + formula)
    return {t.value[:-1].upper() for t in tok.items if t.type == Token.FUNC and t.subtype == Token.OPEN}


@pytest.fixture(scope="module")
def workbooks(spec: Spec, seed_values: dict, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from tests.test_spec import SMALL
    from xltemplate.distribute import distribute
    from xltemplate.roster import read_roster

    tmp = tmp_path_factory.mktemp("formulas")
    roster = distribute(spec, read_roster(SAMPLES / "roster.csv", spec), tmp / "roster", jobs=1)
    from xltemplate.targets import read_targets

    national = "cn-project-self-eval"
    nat_roster = read_roster(SAMPLES / "national" / "roster.csv", national)
    targets = read_targets(SAMPLES / "national" / "targets.csv", national, nat_roster)
    return [
        generate_workbook(spec, tmp / "blank.xlsx").path,
        generate_workbook(spec, tmp / "seed.xlsx", values=seed_values, password="pw").path,
        roster.files[0].path,
        generate_workbook(spec_from_dict(SMALL), tmp / "small.xlsx").path,
        # the national family: its blank form and a project's own targets (every rule)
        generate_workbook(national, tmp / "national-blank.xlsx").path,
        generate_workbook(national, tmp / "national-n03.xlsx", targets=targets.by_key["N03"]).path,
    ]


def test_every_formula_calls_only_the_allowed_functions(workbooks: list[Path]) -> None:
    kinds: set[str] = set()
    used: set[str] = set()
    for path in workbooks:
        for part, text in formula_texts(path):
            kinds.add(part.rsplit(":", 1)[1])
            called = functions_called(text)
            assert called <= ALLOWED_FUNCTIONS, (path.name, part, text)
            assert "_XLFN." not in text.upper(), (path.name, part, text)
            used |= called
    # every kind of place was looked at, and N() is nowhere
    assert kinds == {"f", "formula", "formula1", "formula2", "definedName"}
    assert "N" not in used and "N" not in ALLOWED_FUNCTIONS
    assert {"IF", "ISNUMBER", "SUM", "ROUND", "LEN", "ABS", "TRIM"} <= used  # ABS and TRIM: the national form's


def test_tokenizer_finds_n() -> None:
    # the check above can fail: it sees N() where the version-1 formulas had it
    assert "N" in functions_called('=IF(N(D14)<0,"x","")')
    assert any("N" in functions_called(t) for _, t in formula_texts(V1_FIXTURE))


def test_no_allowed_function_needs_a_future_function_prefix(tmp_path: Path) -> None:
    """generate._FormSheet skips XlsxWriter's _xlfn. expansion: safe only while this holds."""
    wb = xlsxwriter.Workbook(str(tmp_path / "x.xlsx"))
    ws = wb.add_worksheet()
    for fn in sorted(ALLOWED_FUNCTIONS):
        assert ws._prepare_formula(f"={fn}(1)", expand_future_functions=True) == f"{fn}(1)", fn
    assert ws._prepare_formula("=CONCAT(1)", expand_future_functions=True) == "_xlfn.CONCAT(1)"  # the check works
    wb.close()


def test_python_twin_reads_a_date_as_its_serial(spec: Spec) -> None:
    """IF(ISNUMBER(x),x,0) and SUM see a date as its day number, and so does the twin."""
    layout = Layout(spec)
    r = next(r for r in layout.rows if r.indicator is not None and r.indicator.id == "fiscal_multiplier")
    day = dt.datetime(2020, 1, 1)  # 43831
    values = {r.weight.name: day, r.score.name: 5}
    assert row_check(r, values) == ""  # 5 is not above 43831: no 不适用指标不应得分
    assert evaluate(layout, values)[f"cat_{r.category.id}_weight"] == 43831
    values = {r.weight.name: 4, r.score.name: day}
    assert row_check(r, values) == MSG_SCORE_ABOVE_WEIGHT
    values = {r.weight.name: None, r.score.name: 1}
    assert row_check(r, values) == MSG_NOT_APPLICABLE


# -- workbooks sent out before the upgrade (layout version 1) -------------------------------------------


def test_layout_version_is_written_and_v1_is_still_known(spec: Spec, tmp_path: Path) -> None:
    sub = read_submission(generate_workbook(spec, tmp_path / "now.xlsx").path)
    assert sub.meta["layout_version"] == str(LAYOUT_VERSION) == "2"
    assert FORMULA_VERSIONS == (1, 2)
    assert read_submission(V1_FIXTURE).meta["layout_version"] == "1"


def test_legacy_formulas_are_exactly_what_version_1_wrote(spec: Spec) -> None:
    """The legacy mode reproduces the formulas of a workbook the version-1 generator wrote, character for character."""
    sub = read_submission(V1_FIXTURE)
    layout = Layout(spec)
    v1 = formulas(layout, 1)
    written = {c.name: sub.cell(spec.sheet, c.a1).formula for c in layout.computed_cells()}
    assert written == v1
    changed = {n for n in v1 if v1[n] != formulas(layout)[n]}
    assert changed == {r.check.name for r in layout.rows}  # only the 校验 formulas lost their N()
    assert all("N(" in v1[n] and "N(" not in formulas(layout)[n].replace("ISNUMBER(", "") for n in changed)


def test_a_version_1_return_stays_valid_after_the_upgrade(spec: Spec) -> None:
    report = validate_path(V1_FIXTURE, today=TODAY)
    assert report.status == "valid", [(f.code, f.cell) for f in report.findings]
    assert not [f for f in report.findings if f.code == "formula-changed"]
    assert report.results.total == 96 and report.results.grade == "优秀"


def test_version_1_formulas_in_a_file_that_claims_version_2_are_changed(spec: Spec) -> None:
    """The old text is accepted only where the metadata says the file is that old."""
    sub = read_submission(V1_FIXTURE)
    sub = dataclasses.replace(sub, meta={**sub.meta, "layout_version": "2"})
    report = validate_submission(sub, RunContext.builtin(), today=TODAY)
    changed = sorted(f.cell for f in report.findings if f.code == "formula-changed")
    assert changed == sorted(r.check.a1 for r in Layout(spec).rows)


def test_current_formulas_in_a_version_1_file_are_changed(spec: Spec, tmp_path: Path) -> None:
    """And a version-1 file is held to the version-1 text, not to either."""
    sub = read_submission(generate_workbook(spec, tmp_path / "now.xlsx").path)
    sub = dataclasses.replace(sub, meta={**sub.meta, "layout_version": "1"})
    report = validate_submission(sub, RunContext.builtin(), today=TODAY)
    assert {f.code for f in report.findings if f.cell in {r.check.a1 for r in Layout(spec).rows}} == {"formula-changed"}


def test_unknown_layout_version_is_held_to_the_current_formulas(spec: Spec, tmp_path: Path) -> None:
    sub = read_submission(generate_workbook(spec, tmp_path / "now.xlsx").path)
    for version in ("", "x", "99"):
        odd = dataclasses.replace(sub, meta={**sub.meta, "layout_version": version})
        report = validate_submission(odd, RunContext.builtin(), today=TODAY)
        assert not [f for f in report.findings if f.code == "formula-changed"], version
