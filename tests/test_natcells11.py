"""Issue 15, eleventh pass (helper natcells): the cells' slot loop and a new shape's lists of cells.

- ``sheet_strict.cells`` reads a number's text in line (digits, or digits with one "."), where it called
  ``plain_number``: the same value and type, or the same refusal, for every text.
- ``sheet_strict.STRING_CELLS``: a shared string's cell made once a workbook for every string and taken by index;
  the strings compared whole each time, so that another list, or the same list changed, is never read stale.
- ``normalise``: the names and places of the cells the formulas read, and the inputs' places, made in C; the same
  tuples as one by one.
"""

from __future__ import annotations

import datetime as dt
import random

from xltemplate import normalise as N
from xltemplate.catalog import resolve_template
from xltemplate.families.rule_scored import formulas as F
from xltemplate.families.rule_scored import layout as L
from xltemplate.readers import sheet_strict as strict
from xltemplate.readers.xmltext import Styles

from .fast_paths import switched
from .test_natmemo9 import _records

EPOCH = dt.datetime(1899, 12, 30)


def _read(cells: bytes, strings: list[str] | None = None) -> object:
    found = strict.cells(b'<row r="1">' + cells + b"</row>", strings or [], Styles(), EPOCH)
    return None if found is None else [(a1, type(c.value), c.value, c.formula, c.error) for a1, c in found[0].items()]


def test_numbers_read_in_line_as_plain_number() -> None:
    """A value cell's and a formula's cached number: what plain_number reads (value and type), or the sheet refused
    where it reads nothing; an empty text is a formula's lack of a result, a value cell's refusal."""
    rng = random.Random(41)
    raws = [bytes(rng.choice(b"0123456789.-+eE x\xd9") for _ in range(rng.randint(0, 7))) for _ in range(20000)]
    raws += [b"9" * n + dot for n in (298, 299, 300, 301, 308, 309, 400) for dot in (b"", b".", b".5")]
    raws += [b"0." + b"0" * 400 + b"1", b".", b"..", b"1.", b".5", b"007", b"1.2.3", b"\xd9\xa8", b"\xef\xbc\x91", b""]
    read = 0
    for raw in raws:
        expected = strict.plain_number(raw)
        as_value = _read(b'<c r="A1"><v>' + raw + b"</v></c>")
        as_formula = _read(b'<c r="A1"><f>1+1</f><v>' + raw + b"</v></c>")
        if expected is None:
            assert as_value is None, raw
            assert as_formula == ([("A1", type(None), None, "=1+1", False)] if raw == b"" else None), raw
        else:
            assert as_value == [("A1", type(expected), expected, None, False)], raw
            assert as_formula == [("A1", type(expected), expected, "=1+1", False)], raw
            read += 1
    assert read > 3000


def test_a_formula_s_text_read_in_line() -> None:
    """A formula's cached text: none where it is empty, else its text (references read)."""
    assert _read(b'<c r="A1" t="str"><f>"a"</f><v></v></c>') == [("A1", type(None), None, '="a"', False)]
    assert _read(b'<c r="A1" t="str"><f>"a"</f><v>&lt;a</v></c>') == [("A1", str, "<a", '="a"', False)]
    assert _read(b'<c r="A1" t="str"><f>"a"</f><v>\xe8\x89\xaf</v></c>') == [("A1", str, "良", '="a"', False)]


def test_string_cells_follow_the_strings() -> None:
    """STRING_CELLS on and off: the cells of the strings as they are at each reading: the same list changed in place,
    another list equal to it, another that differs, one longer; an index past the list or an empty string refused."""
    row = b'<c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c>'
    for on in (True, False):
        with switched(on, ("STRING_CELLS",)):
            strict._STRING_CELLS.clear()
            strings = ["a", "b"]
            assert _read(row, strings) == [("A1", str, "a", None, False), ("B1", str, "b", None, False)]
            strings[0] = "z"  # (the same list, changed)
            assert _read(row, strings) == [("A1", str, "z", None, False), ("B1", str, "b", None, False)]
            assert _read(row, ["z", "b"]) == [("A1", str, "z", None, False), ("B1", str, "b", None, False)]
            assert _read(row, ["y", "b", "c"]) == [("A1", str, "y", None, False), ("B1", str, "b", None, False)]
            assert _read(row, ["y"]) is None
            assert _read(row, ["", "b"]) is None
            assert _read(row, ["q", "r"]) == [("A1", str, "q", None, False), ("B1", str, "r", None, False)]


def test_a_new_shape_s_cells_made_in_c_are_those_made_one_by_one() -> None:
    """Every layout of the sample targets (and of them turned to every rule), and the blank national form: the plan's
    places and the names and places of the cells its formulas read, as made one by one."""
    spec = resolve_template("cn-project-self-eval")
    # (laid out anew, not by layout_of: its memo of shapes is left as it was, as are the plans' memos below; later
    # tests count on what they hold, or on what they do not)
    layouts = [L.Layout(spec, records) for records in _records()] + [L.Layout(spec, None)]  # type: ignore[arg-type]
    checked = 0
    memos = (N._SHAPES, N._CELLS, N._TEXT_READS, N._LOCKED, F._BY_SHAPE, F._NON_ROW, F._BY_ROW)
    saved = [dict(memo) for memo in memos]
    try:
        for lay in layouts:
            N._SHAPES.clear()
            N._CELLS.clear()
            shaped = N._shaped(spec, lay)
            reads = shaped["reads"]
            assert N.names_and_places(reads) == tuple((c.name, c.a1) for c in reads)
            assert shaped["places"] == tuple((c, (spec.sheet, c.a1)) for c in (*lay.input_cells(), *shaped["computed"]))
            assert N._names(shaped["referenced"]) == tuple(c.name for c in shaped["referenced"])
            checked += bool(reads)
    finally:
        for memo, was in zip(memos, saved):
            memo.clear()
            memo.update(was)
    assert checked == len(layouts)
