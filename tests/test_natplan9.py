"""The ninth pass's plan of a national return made by parts (issue 15, helper natplan): what only where the cells
are fixes is made once per cell shape (how many rows each 二级 has), a new row shape (each row's rule) making only
its inputs and its rows' formulas. Each switch against what it stands for; the whole reports are compared both ways
by ``tests/test_fast_paths.py`` (``VALIDATION_SWITCHES``) over the national, LibreOffice-saved, hostile and fuzz
corpora.

- ``normalise.CELLS_BY_SHAPE``: a plan's computed and referenced cells, their names, places and the fixed texts
  taken from the plans of the same ``cell_shape`` (see :meth:`~xltemplate.form.family.FormFamily.shape`);
- ``rule_scored.formulas.NON_ROW_BY_CELLS``: the funding, subtotal and total formulas made once per cell shape;
- ``normalise.READS_BY_PLACES``: the cells the formulas read tested against the cell shape's places, without the
  memo of the whole formulas.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator

import pytest

from xltemplate import normalise as N
from xltemplate.catalog import resolve_template
from xltemplate.families.rule_scored import formulas as F
from xltemplate.families.rule_scored import layout as L
from xltemplate.families.rule_scored.rules import KINDS, QUALITATIVE
from xltemplate.form.family import family_of

from .test_natmemo9 import _records


@pytest.fixture
def switched() -> Iterator[None]:
    saved = [(m, s, getattr(m, s)) for m, s in ((N, "CELLS_BY_SHAPE"), (F, "NON_ROW_BY_CELLS"), (N, "READS_BY_PLACES"))]
    yield
    for m, s, v in saved:
        setattr(m, s, v)
    for memo in (N._PLANS, N._READS, N._SHAPES, N._CELLS, F._BY_SHAPE, F._NON_ROW):
        memo.clear()


def _plan_parts(plan: Any) -> dict[str, Any]:
    """Every part of a plan but its layout (each return's own), the formulas with their order."""
    out = {k: v for k, v in plan.__dict__.items() if k != "layout"}
    out["formulas"] = [(v, list(m.items())) for v, m in plan.formulas.items()]
    # (an input slot's reader of an empty row is a closure made with its plan: compared by what it is)
    out["inputs"] = [(*(getattr(s, f.name) for f in dataclasses.fields(s) if f.name != "reader"),
                      getattr(s.reader, "__qualname__", s.reader)) for s in plan.inputs]
    return out


def _layouts() -> list[Any]:
    spec = resolve_template("cn-project-self-eval")
    first = resolve_template("sh-project-self-eval")
    out: list[Any] = [L.layout_of(spec, records) for records in _records()]  # type: ignore[arg-type]
    return out + [L.layout_of(spec, None), family_of(first).layout(first)]


def test_plans_by_cell_shape_are_those_made_whole(switched: None) -> None:
    """Every plan of the sample targets and of them turned to every rule (each count of rows under four rules), the
    blank national form and the first form: the same parts, in the same order, with both switches on and off; on,
    the cells' parts are made once per cell shape and shared."""
    spec = resolve_template("cn-project-self-eval")
    records = _records()
    got: dict[bool, list[dict[str, Any]]] = {}
    for on in (True, False):
        N.CELLS_BY_SHAPE = F.NON_ROW_BY_CELLS = N.READS_BY_PLACES = on
        N._CELLS.clear()
        F._NON_ROW.clear()
        out = []
        for targets in [*records, None] * 2:
            for memo in (N._PLANS, N._READS, N._SHAPES, F._BY_SHAPE):
                memo.clear()
            out.append(_plan_parts(N.plan(spec, targets)))  # type: ignore[arg-type]
        first = resolve_template("sh-project-self-eval")
        N._PLANS.clear()
        N._SHAPES.clear()
        out.append(_plan_parts(N.plan(first)))
        got[on] = out
        if on:
            shapes = {F.cell_shape(L.layout_of(spec, r)) for r in records}  # type: ignore[arg-type]
            assert len(shapes) < len(records)  # (the turned rules share the counts: the memo is tried)
            assert len(N._CELLS) == len(shapes) + 2 and len(F._NON_ROW) == len(shapes) + 1
        else:
            assert not N._CELLS and not F._NON_ROW
    assert got[True] == got[False]
    assert all(p["reads"] and p["locked_texts"] and p["formulas"] for p in got[True])


def test_a_cell_shape_is_the_rows_places_never_their_rules() -> None:
    """The same counts of rows under other rules: one cell shape, other row shapes, other inputs and formulas; one
    row more in a 二级: another cell shape."""
    spec = resolve_template("cn-project-self-eval")
    records = _records()[0]
    q = next(i for i, r in enumerate(records) if r["kind"] != QUALITATIVE)
    turned = tuple(dict(r, kind=QUALITATIVE, target="明显提高") if i == q else r for i, r in enumerate(records))
    a, b = (L.layout_of(spec, r) for r in (records, turned))  # type: ignore[arg-type]
    assert F.cell_shape(a) == F.cell_shape(b)
    assert F.row_shape(a) != F.row_shape(b)
    assert a.input_cells() != b.input_cells()
    longer = records + (dict(records[-1], name="又一个指标"),)
    assert F.cell_shape(L.layout_of(spec, longer)) != F.cell_shape(a)  # type: ignore[arg-type]
    assert KINDS[3] == QUALITATIVE


def test_a_plan_of_a_known_cell_shape_keeps_its_own_rules(switched: None) -> None:
    """A row turned to 定性 in a shape whose cells are known: its plan's inputs and formulas are its rule's, as a plan
    made whole gives them, never the known shape's."""
    spec = resolve_template("cn-project-self-eval")
    records = _records()[0]
    q = next(i for i, r in enumerate(records) if r["kind"] != QUALITATIVE)
    turned = tuple(dict(r, kind=QUALITATIVE, target="明显提高") if i == q else r for i, r in enumerate(records))
    N.CELLS_BY_SHAPE = F.NON_ROW_BY_CELLS = N.READS_BY_PLACES = True
    known = _plan_parts(N.plan(spec, records))  # type: ignore[arg-type]
    on = _plan_parts(N.plan(spec, turned))  # type: ignore[arg-type]
    assert N._CELLS and F._NON_ROW
    N.CELLS_BY_SHAPE = F.NON_ROW_BY_CELLS = N.READS_BY_PLACES = False
    for memo in (N._PLANS, N._READS, N._SHAPES, F._BY_SHAPE):
        memo.clear()
    assert on == _plan_parts(N.plan(spec, turned))  # type: ignore[arg-type]
    assert on["inputs_and_computed"] != known["inputs_and_computed"] and on["formulas"] != known["formulas"]
    assert on["computed"] == known["computed"] and on["locked_texts"] == known["locked_texts"]


@pytest.mark.parametrize("text", ["=B05+C6", "=SUM(A1:Z500)+D3", "=SUM($C$2:$B$9)", '="A1"&B2', "=Sheet1!A1+AB12",
                                  "=SUM(C4:C4,E7)", "=A0+B1", "=SUM(A1:AD520)"])
def test_reads_by_places_of_hand_made_formulas(text: str) -> None:
    """READS_BY_PLACES on formulas a layout does not make (a leading zero, ranges kept as ranges, reversed ranges,
    string literals, other sheets' names) and with a row's formulas beside them: the cells formula_reads finds."""
    from xltemplate.form.layout import Cell

    cells = tuple(Cell(r, c, f"n{r}_{c}") for r in range(0, 520) for c in range(0, 30))
    places = tuple((c.row, c.col) for c in cells)
    for texts in ({2: {"x": text}}, {1: {"y": "=C5*2"}, 2: {"x": text, "z": "=IF(D9>0,E10,\"F11\")"}}):
        N._READS.clear()
        N._TEXT_READS.clear()
        whole = N.formula_reads(texts, cells)
        assert N._reads_by_places(texts, cells, places) == whole
        assert whole or text == "=A0+B1"
