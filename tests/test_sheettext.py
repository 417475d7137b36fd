"""A text goes into every workbook xltemplate writes as itself (xltemplate/sheettext.py).

XlsxWriter writes a text that starts with ``<r>`` and ends with ``</r>`` raw, as rich-string XML: a clerk's text of
that shape was shown as something else, and could put cells of its own into the bureau's roll-up. Here: such a text
is read back as itself by openpyxl and by xltemplate's own readers, in shared strings and inline (constant memory),
cut at Excel's limit as any text is; every other text is written byte for byte as stock XlsxWriter writes it; and no
workbook or worksheet in the package is made without :class:`~xltemplate.sheettext.TextSheet`.
(tests/test_revfast.py's rich-string tests go through the CLI: a return's text in the roll-up, a roster's in generate.)
"""

from __future__ import annotations

import ast
import io
import zipfile
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from xlsxwriter.worksheet import Worksheet

import xltemplate
from xltemplate.readers.fast import shared_strings
from xltemplate.sheettext import TextSheet, as_itself, looks_rich, workbook

RICH = ["<r><t>没有问题</t></r>", "<r></r>", '<r><t>x</t></r></is></c><c r="Z4" t="inlineStr"><is><r><t>伪造</t></r>',
        "<r> & _x0041_ \x01 </r>", "<r>\n</r>"]
PLAIN = ["普通文字", "<r>", "</r>", "<r>x</r> ", " <r>x</r>", "<R>x</R>", "a & b < c", "_x0041_", "ctrl\x01", ""]


def _book(texts: list[str], constant_memory: bool, stock: bool = False) -> bytes:
    buf = io.BytesIO()
    wb = (xlsxwriter.Workbook if stock else workbook)(buf, {"in_memory": True, "constant_memory": constant_memory,
                                                             "strings_to_numbers": False, "strings_to_formulas": False,
                                                             "strings_to_urls": False})
    wb.set_properties({"created": __import__("datetime").datetime(2000, 1, 1)})
    ws = wb.add_worksheet("s")
    for n, text in enumerate(texts):
        assert ws.write_string(n, 0, text) == 0
    wb.close()
    return buf.getvalue()


@pytest.mark.parametrize("constant_memory", [False, True], ids=["shared", "inline"])
def test_a_text_shaped_like_rich_string_xml_is_read_back_as_itself(constant_memory: bool) -> None:
    data = _book(RICH + PLAIN, constant_memory)
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    shown = [ws.cell(n + 1, 1).value for n in range(len(RICH + PLAIN))]
    # (openpyxl reads an empty text as no value, and the control character as XlsxWriter escaped it)
    want = [t.replace("\x01", "_x0001_") for t in RICH + PLAIN]
    assert [s or "" for s in shown] == want
    assert b"Z4" not in zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    if not constant_memory:  # xltemplate's own reader of shared strings, fast and general
        strings = shared_strings(zipfile.ZipFile(io.BytesIO(data)).read("xl/sharedStrings.xml"))
        assert "<r><t>没有问题</t></r>" in strings and RICH[2] in strings


@pytest.mark.parametrize("constant_memory", [False, True], ids=["shared", "inline"])
def test_every_other_text_is_written_as_stock_xlsxwriter_writes_it(constant_memory: bool) -> None:
    assert _book(PLAIN, constant_memory) == _book(PLAIN, constant_memory, stock=True)
    assert _book(RICH, constant_memory) != _book(RICH, constant_memory, stock=True)  # (what was wrong, still there)


def test_a_rich_shaped_text_past_excels_limit_is_cut_as_any_text() -> None:
    for text in ["<r>" + "甲" * 40_000 + "</r>", "<r>" + "甲" * 40_000]:
        buf = io.BytesIO()
        wb = workbook(buf, {"in_memory": True})
        ws = wb.add_worksheet()
        assert isinstance(ws, TextSheet)
        assert ws.write_string(0, 0, text) == -2
        wb.close()
        got = openpyxl.load_workbook(io.BytesIO(buf.getvalue())).active["A1"].value
        assert got == text[:32767]


def test_as_itself() -> None:
    assert [as_itself(t) for t in PLAIN] == PLAIN
    assert as_itself("<r>&</r>") == '<r><t xml:space="preserve">&lt;r&gt;&amp;&lt;/r&gt;</t></r>'
    assert [looks_rich(t) for t in RICH] == [True] * len(RICH)


def test_no_workbook_or_worksheet_in_the_package_is_made_without_the_text_sheet() -> None:
    """Every ``Workbook(...)`` call is sheettext.workbook's own, and every class of worksheet derives from TextSheet
    (a new writer that made its own would write such a text raw again)."""
    package = Path(xltemplate.__file__).parent
    bad = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "sheettext.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
                if name in ("Workbook", "LeanWorkbook", "Worksheet"):
                    bad.append(f"{path.relative_to(package)}:{node.lineno} {name}(...)")
            if isinstance(node, ast.ClassDef):
                for base in node.bases:
                    if isinstance(base, ast.Name) and base.id == "Worksheet":
                        bad.append(f"{path.relative_to(package)}:{node.lineno} class {node.name}(Worksheet)")
    assert not bad, bad
    from xltemplate.form.lean import LeanFormSheet
    from xltemplate.form.sheet import FormSheet
    from xltemplate.rollup.lean import LeanSheet
    from xltemplate.rollup.reuse import KeptSheet

    assert all(issubclass(c, TextSheet) for c in (FormSheet, LeanFormSheet, LeanSheet, KeptSheet))
    assert issubclass(TextSheet, Worksheet)


def test_a_roster_name_shaped_like_rich_string_xml_is_shown_as_itself_in_the_roll_up(tmp_path: Path) -> None:
    """The roll-up's 汇总 and 未提交 show a roster's names as they are (a roster's text is not stripped of markup as
    文字材料's texts are): XlsxWriter wrote this one raw, and the bureau saw 甲单位."""
    import csv

    from click.testing import CliRunner

    from xltemplate.cli import main

    from .conftest import SAMPLES

    name = "<r><t>甲单位</t></r>"
    with open(SAMPLES / "roster.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    rows[1][1] = name
    roster = tmp_path / "roster.csv"
    with open(roster, "w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows(rows)
    out = tmp_path / "r.xlsx"
    res = CliRunner().invoke(main, ["collect", str(SAMPLES / "returns"), "--roster", str(roster), "-o", str(out), "--quiet",
                                    "--jobs", "1"])
    assert res.exit_code in (0, 1), res.output
    wb = openpyxl.load_workbook(out)
    cells = [(ws.title, c.value) for ws in wb for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    assert ("汇总", name) in cells
    assert not [c for c in cells if c[1] == "甲单位"]
