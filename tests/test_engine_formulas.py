"""Every kind of value a person can type, through the 校验 and highlighting formulas, in two real engines.

One workbook holds a grid of weight × score values (blank, numbers, negatives, text,
numbers typed as text, TRUE, a date) on fixed and extra rows. For each row it carries
the 校验 formula as written now, the version-1 formula with N() (compared in
LibreOffice only: Gnumeric returns #NUM! for N of a blank cell, which is why it
went), and the score-highlighting rule's formula, now and in version 1, moved to
that row as a cell formula. Each engine
must show exactly what the Python twin says, and LibreOffice the same for the old
formula as for the new, so the twin, the new formulas and the old ones agree for
every input, and the highlighting did not change.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import xlsxwriter
from openpyxl.formula.translate import Translator

from xltemplate.families.self_scored.formulas import row_check, row_check_formula
from xltemplate.form.formulas import alert, alert_rules
from tools.gnumeric import recalc
from xltemplate.families.self_scored.layout import Layout, RowSlot
from xltemplate.form.layout import LAYOUT_VERSION, Cell
from tools.soffice import convert
from xltemplate.spec import Spec

from tests.engines import formula_cells, strip_cached_values

pytestmark = pytest.mark.engine

VALUES: list[Any] = [None, 0, 5, 8, 7.5, -1, "abc", "5", True, dt.datetime(2020, 1, 1)]
FIRST = 1  # row 2 of the sheet: row 1 holds headers
NEW, OLD, ALERT, OLD_ALERT = 6, 7, 8, 9  # columns G, H, I, J


def grid_rows(spec: Spec) -> list[tuple[RowSlot, dict[str, Any]]]:
    """A RowSlot on each grid row (fixed, then extra rows with and without a name) and its cell values."""
    cat = next(c for c in spec.categories if c.extra_rows)
    out = []
    row = FIRST
    for kind in ("fixed", "extra", "extra-unnamed"):
        for w in VALUES:
            for s in VALUES:
                base = f"r{row}"
                slot = RowSlot(
                    category=cat, indicator=cat.indicators[0] if kind == "fixed" else None,
                    extra=None if kind == "fixed" else 1, row=row,
                    name=Cell(row, 1, f"{base}_name"), explanation=Cell(row, 2, f"{base}_explanation"),
                    weight=Cell(row, 3, f"{base}_weight"), score=Cell(row, 4, f"{base}_score"),
                    remark=Cell(row, 5, f"{base}_remark"), check=Cell(row, NEW, f"{base}_check"),
                )
                values = {slot.weight.name: w, slot.score.name: s,
                          slot.name.name: None if kind == "extra-unnamed" else "指标"}
                out.append((slot, values))
                row += 1
    return out


@pytest.fixture(scope="module")
def grid(spec: Spec, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[RowSlot, dict[str, Any]]]]:
    tmp = tmp_path_factory.mktemp("grid")
    rows = grid_rows(spec)
    score_rule, old_rule = (next(r for r in alert_rules(Layout(spec), v) if r.kind == "score") for v in (LAYOUT_VERSION, 1))
    origin = f"E{score_rule.first_row + 1}"
    path = tmp / "grid.xlsx"
    wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False, "strings_to_formulas": False})
    date = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws = wb.add_worksheet("grid")
    ws.write_row(0, 0, ["", "name", "explanation", "weight", "score", "remark", "new", "v1", "alert", "v1 alert"])
    for slot, values in rows:
        for cell in (slot.name, slot.weight, slot.score):
            v = values[cell.name]
            if v is None:
                continue
            if isinstance(v, bool):
                ws.write_boolean(cell.row, cell.col, v)
            elif isinstance(v, dt.datetime):
                ws.write_datetime(cell.row, cell.col, v, date)
            elif isinstance(v, str):
                ws.write_string(cell.row, cell.col, v)
            else:
                ws.write_number(cell.row, cell.col, v)
        ws.write_formula(slot.row, NEW, row_check_formula(slot))
        ws.write_formula(slot.row, OLD, row_check_formula(slot, version=1))
        for col, rule in ((ALERT, score_rule), (OLD_ALERT, old_rule)):
            ws.write_formula(slot.row, col, Translator(rule.formula, origin).translate_formula(f"E{slot.row + 1}"))
    wb.close()
    return strip_cached_values(path, tmp / "grid-stripped.xlsx"), rows


def engine_values(engine: str, src: Path, tmp: Path) -> dict[str, Any]:
    if engine == "libreoffice":
        (out,) = convert([src], tmp / "lo")
    else:
        out = recalc(src, tmp / "gnumeric.xlsx").path
    return {a1: v for (_, a1), (_, v) in formula_cells(out).items()}


@pytest.mark.parametrize("engine", ["libreoffice", "gnumeric"])
def test_twin_new_and_old_formulas_agree_in_the_engine(request: pytest.FixtureRequest, spec: Spec, grid, tmp_path: Path, engine: str) -> None:
    request.getfixturevalue("soffice" if engine == "libreoffice" else "gnumeric")
    src, rows = grid
    got = engine_values(engine, src, tmp_path)
    rule = next(r for r in alert_rules(Layout(spec)) if r.kind == "score")
    wrong = []
    for slot, values in rows:
        n = slot.row + 1
        w, s = values[slot.weight.name], values[slot.score.name]
        new, old, highlighted = got[f"G{n}"] or "", got[f"H{n}"] or "", got[f"I{n}"]
        if engine == "libreoffice":
            # the formula as written now and the version-1 one agree on every input
            if new != old:
                wrong.append((n, w, s, "v1", old, new))
            if highlighted != got[f"J{n}"]:
                wrong.append((n, w, s, "v1 highlight", got[f"J{n}"], highlighted))
            if isinstance(w, bool) or isinstance(s, bool):
                # LibreOffice has no boolean cells: TRUE is the number 1 and ISNUMBER(TRUE) is TRUE,
                # where Excel, WPS and Gnumeric (and the twin) say FALSE. Not a formula matter.
                continue
        if new != row_check(slot, values):
            wrong.append((n, w, s, "校验", new, row_check(slot, values)))
        if highlighted != alert(rule, {"weight": w, "score": s}):
            wrong.append((n, w, s, "highlight", highlighted, alert(rule, {"weight": w, "score": s})))
    assert wrong == []
    assert len(rows) == 3 * len(VALUES) ** 2
    assert {row_check(s, v) for s, v in rows} >= {"", "权重须为数字", "权重不能为负", "自评分须为数字", "自评分不能为负",
                                                 "不适用指标不应得分", "自评分超过权重", "请填写完整：名称、权重、自评分"}
