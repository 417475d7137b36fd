"""The form's lean writer (xltemplate/form/lean.py) writes exactly the workbooks stock XlsxWriter writes.

It leans on XlsxWriter internals and remembers XML pieces by the state they are written from, so these
tests write whole workbooks of both families both ways — one after another in one process, so that the
lean writer's remembered pieces are used, and with texts that test the escapes (control characters,
``_x0000_``, markup, spaces at the ends, long texts, emoji), numbers, dates, signatures and passwords —
and compare the files byte for byte.
"""

from __future__ import annotations

import datetime as dt
import importlib
import zipfile
from pathlib import Path
from typing import Any, Callable

import pytest
import xlsxwriter

from xltemplate.catalog import load_spec, templates_dir
from xltemplate.distribute import distribute
from xltemplate.form.generate import generate_workbook
from xltemplate.roster import read_roster
from xltemplate.sign import Keyring
from xltemplate.targets import read_targets

from .conftest import SAMPLES

lean = importlib.import_module("xltemplate.form.lean")

STAMP = dt.datetime(2026, 3, 4, 5, 6, 7)
TEXTS = ["普通文字", " 前有空格", "后有空格 ", "\t制表", "换\n行", "a & b < c > d \"q\" 'q'", "控制\x01\x1f字符",
         "_x0000_ 字面", "_x005F_x0041_", "<r>不是富文本</r>", "<r>", "长" * 3000, "U+FFFE \ufffe U+FFFF \uffff",
         "=SUM(A1)", "😀 emoji", "12345", "1e5", "]]>", "&amp;"]
NUMBERS = [0, 1, -1, 0.1, 1 / 3, 1e-300, 1e300, 123456789012345678, -0.0, 2.5e-7, 8993600.0, 99.99]


def _both(write: Callable[[Path], Any], tmp_path: Path, name: str) -> tuple[bytes, bytes]:
    """The file ``write`` makes with the stock writer and with the lean one (its memory as earlier calls left it)."""
    lean.USE_LEAN = False
    try:
        write(tmp_path / f"stock-{name}.xlsx")
    finally:
        lean.USE_LEAN = True
    write(tmp_path / f"lean-{name}.xlsx")
    return (tmp_path / f"stock-{name}.xlsx").read_bytes(), (tmp_path / f"lean-{name}.xlsx").read_bytes()


@pytest.fixture(autouse=True)
def _lean_on(monkeypatch: pytest.MonkeyPatch) -> None:
    assert lean.lean_enabled(), f"XlsxWriter {xlsxwriter.__version__} is not the version the lean writer was compared with"
    monkeypatch.setattr(lean, "USE_LEAN", True)
    lean.forget()


def test_first_form_workbooks_are_the_same_bytes_with_the_lean_writer(tmp_path: Path, seed_values: dict) -> None:
    spec = load_spec(templates_dir() / "sh-project-self-eval.yaml")
    keyring = Keyring("k", (b"0123456789abcdef0123",))
    cases: list[dict[str, Any]] = [{}, {"values": seed_values}]
    for n, text in enumerate(TEXTS):
        cases.append({"prefill": {"unit": text, "project_name": TEXTS[-1 - n], "implementer": text[:40],
                                  "budget": NUMBERS[n % len(NUMBERS)], "annual_goal": text * 3},
                      "roster_key": f"K{n:03d}" if n % 3 else text[:20] or "K", "password": "pw" if n % 2 else None,
                      "keyring": keyring if n % 4 == 1 else None})
    for n, number in enumerate(NUMBERS):
        cases.append({"prefill": {"budget": number, "prev_budget": NUMBERS[-1 - n], "executed": number,
                                  "eval_date": dt.date(2020, 1 + n, 28), "recurring": "是" if n % 2 else "否"},
                      "values": {**seed_values, "fld_executed": number}})
    for n, case in enumerate(cases):
        stock, mine = _both(lambda p: generate_workbook(spec, p, generated_at=STAMP, **case), tmp_path, str(n))
        assert mine == stock, f"case {n}: {case.get('prefill')}"


def test_national_workbooks_are_the_same_bytes_with_the_lean_writer(tmp_path: Path) -> None:
    spec = load_spec(templates_dir() / "cn-project-self-eval.yaml")
    roster = read_roster(SAMPLES / "national" / "roster.csv", spec)
    table = read_targets(SAMPLES / "national" / "targets.csv", spec, roster)
    keyring = Keyring("k", (b"0123456789abcdef0123",))
    keys = [row.key for row in roster.rows]
    for n, key in enumerate(keys * 2):  # every project twice: the second time from what the first left remembered
        row = roster.rows[n % len(keys)]
        prefill = dict(row.prefill)
        if n >= len(keys):
            prefill["project_name"] = TEXTS[n % len(TEXTS)]
            prefill["goal_expected"] = TEXTS[(n + 3) % len(TEXTS)] * 2
        stock, mine = _both(lambda p: generate_workbook(spec, p, prefill=prefill, roster_key=key, generated_at=STAMP,
                                                        targets=table.by_key.get(key), keyring=keyring,
                                                        password="pw" if n % 2 else None), tmp_path, str(n))
        assert mine == stock, f"project {key} ({n})"
    stock, mine = _both(lambda p: generate_workbook(spec, p, generated_at=STAMP), tmp_path, "blank")
    assert mine == stock


def test_what_is_forgotten_is_written_again_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With room for one piece of each kind, every workbook forgets what the one before left: still the same bytes."""
    monkeypatch.setattr(lean, "MEMO_LIMIT", 1)
    spec = load_spec(templates_dir() / "cn-project-self-eval.yaml")
    roster = read_roster(SAMPLES / "national" / "roster.csv", spec)
    table = read_targets(SAMPLES / "national" / "targets.csv", spec, roster)
    for n, row in enumerate(roster.rows[:4] * 2):
        stock, mine = _both(lambda p: generate_workbook(spec, p, prefill=row.prefill, roster_key=row.key, generated_at=STAMP,
                                                        targets=table.by_key.get(row.key)), tmp_path, str(n))
        assert mine == stock, row.key
        assert all(len(t) <= 64 for t in lean._memo.values())
    assert len(lean._memo["validations"]) == 1


@pytest.mark.parametrize("switch", ["lean", "layouts", "pieces"])
def test_generate_from_a_roster_is_the_same_with_and_without_the_lean_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                             switch: str) -> None:
    gen = importlib.import_module("xltemplate.form.generate")
    module, name = {"lean": (lean, "USE_LEAN"), "layouts": (gen, "REMEMBER_LAYOUTS"), "pieces": (lean, "LEAN_PIECES")}[switch]
    for spec_name, roster_path, targets_path in (("sh-project-self-eval.yaml", SAMPLES / "roster.csv", None),
                                                 ("cn-project-self-eval.yaml", SAMPLES / "national" / "roster.csv",
                                                  SAMPLES / "national" / "targets.csv")):
        spec = load_spec(templates_dir() / spec_name)
        roster = read_roster(roster_path, spec)
        targets = read_targets(targets_path, spec, roster) if targets_path else None
        runs = {}
        for on in (False, True):
            monkeypatch.setattr(module, name, on)
            gen._LAYOUTS.clear()
            out = tmp_path / f"{spec.id}-{on}"
            dist = distribute(spec, roster, out, generated_at=STAMP, jobs=1, targets=targets)
            runs[on] = {p.name: p.read_bytes() for p in out.iterdir()}
            assert len(dist.files) == len(roster.rows)
        assert runs[True] == runs[False]


def test_the_lean_writer_remembers_what_repeats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not only the same bytes: the remembered pieces are what is written (else the test above proves little)."""
    from xlsxwriter.styles import Styles

    calls = {"styles": 0}
    stock = Styles._assemble_xml_file

    def counted(self: Any) -> None:
        calls["styles"] += 1
        stock(self)

    monkeypatch.setattr(Styles, "_assemble_xml_file", counted)
    spec = load_spec(templates_dir() / "sh-project-self-eval.yaml")
    for n in range(4):
        generate_workbook(spec, tmp_path / f"{n}.xlsx", prefill={"unit": f"单位{n}"}, roster_key=f"K{n}", generated_at=STAMP)
    assert calls["styles"] == 1
    assert {"validations", "defined_names", "styles", "app", "data_validation", "define_name", "deflated", "format"} <= set(lean._memo)
    assert all(len(lean._memo[k]) == 1 for k in ("validations", "defined_names", "styles", "app"))
    # every part deflated once per distinct content: those the workbooks share once in all
    parts = set()
    for n in range(4):
        with zipfile.ZipFile(tmp_path / f"{n}.xlsx") as z:
            parts |= {z.read(i) for i in z.infolist() if i.file_size <= lean.DEFLATE_LIMIT}
    assert len(lean._memo["deflated"]) == len(parts) < 4 * 13 // 2
    monkeypatch.setattr(lean, "USE_LEAN", False)
    generate_workbook(spec, tmp_path / "stock.xlsx", generated_at=STAMP)
    assert calls["styles"] == 2


def test_a_state_key_tells_apart_what_xlsxwriter_would_write_apart() -> None:
    key = lean.state_key
    values = [1, 1.0, True, "1", None, [1], (1,), {"a": 1}, {"a": 1.0}, -0.0, 0.0, dt.datetime(2020, 1, 1),
              dt.date(2020, 1, 1), [dt.datetime(2020, 1, 1)], ["W", "datetime", repr(dt.datetime(2020, 1, 1))],
              ("W", "datetime", repr(dt.datetime(2020, 1, 1))), {"a": 1, "b": 2}, {"b": 2, "a": 1}]
    keys = [key(v) for v in values]
    assert None not in keys
    assert len(set(keys)) == len(values)
    assert key([object()]) is None  # anything else is never remembered
    assert key(["a", type("S", (str,), {})("a")]) is None
    assert key([1, [2, {"x": dt.datetime(2020, 1, 1)}]]) == key([1, [2, {"x": dt.datetime(2020, 1, 1)}]])


def test_the_lean_writer_is_used_only_with_the_version_it_was_compared_with(monkeypatch: pytest.MonkeyPatch,
                                                                            tmp_path: Path) -> None:
    monkeypatch.setattr(xlsxwriter, "__version__", "99.0.0")
    assert not lean.lean_enabled()
    generate_workbook("sh-project-self-eval", tmp_path / "a.xlsx", generated_at=STAMP)
    assert lean._memo == {}
    monkeypatch.setattr(xlsxwriter, "__version__", lean.VERIFIED_XLSXWRITER)
    monkeypatch.setattr(lean, "USE_LEAN", False)
    assert not lean.lean_enabled()


def test_the_national_pieces_are_the_same_bytes_and_are_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """LEAN_PIECES: every national workbook of the sample roster (twice: from remembered pieces the second time, and
    with its texts changed) the same bytes with the pieces off and on, and the pieces are what is written."""
    spec = load_spec(templates_dir() / "cn-project-self-eval.yaml")
    roster = read_roster(SAMPLES / "national" / "roster.csv", spec)
    table = read_targets(SAMPLES / "national" / "targets.csv", spec, roster)
    made = {"pieces": 0, "rows": 0, "merges": 0}
    cut, rows, merges = lean.LeanFormSheet._validation_pieces, lean.LeanFormSheet._write_rows, lean.LeanFormSheet.merge_range

    def counted_cut(self: Any, *a: Any) -> Any:
        made["pieces"] += 1
        return cut(self, *a)

    def counted_rows(self: Any) -> None:
        made["rows"] += lean.LEAN_PIECES
        rows(self)

    def counted_merges(self: Any, *a: Any, **k: Any) -> Any:
        made["merges"] += lean.LEAN_PIECES
        return merges(self, *a, **k)

    monkeypatch.setattr(lean.LeanFormSheet, "_validation_pieces", counted_cut)
    monkeypatch.setattr(lean.LeanFormSheet, "_write_rows", counted_rows)
    monkeypatch.setattr(lean.LeanFormSheet, "merge_range", counted_merges)
    for n, row in enumerate(list(roster.rows) * 2):
        prefill = dict(row.prefill)
        if n >= len(roster.rows):
            prefill["project_name"] = TEXTS[n % len(TEXTS)]
        files = {}
        for on in (False, True):
            monkeypatch.setattr(lean, "LEAN_PIECES", on)
            lean._memo.pop("validations", None)  # (whole sets of validations, remembered with the pieces off and on)
            path = tmp_path / f"{n}-{on}.xlsx"
            generate_workbook(spec, path, prefill=prefill, roster_key=row.key, generated_at=STAMP,
                              targets=table.by_key.get(row.key), password="pw" if n % 2 else None)
            files[on] = path.read_bytes()
        assert files[True] == files[False], row.key
    assert made["rows"] == 2 * len(roster.rows) and made["merges"] > 20 * 2 * len(roster.rows)
    pieces = made["pieces"]
    assert 0 < pieces == len(lean._memo["validation"]) == len(lean._memo["data_validation"])  # once per distinct options
    assert lean._memo["define_names"] and lean._memo["prepared_names"] and lean._memo["si"]


def test_a_validation_cut_around_its_cells_is_xlsxwriters_own(tmp_path: Path) -> None:
    """Options whose texts hold what the cut looks for (' sqref="', '>' and quotes), ranges given backwards, a range
    of several cells and a multi-range: the lean sheet's validations are stock XlsxWriter's, byte for byte."""
    tricky = 'a sqref="A1" > b " c \' <d> &amp; \n'
    options = [
        {"validate": "length", "criteria": "<=", "value": 20, "input_title": "t", "input_message": tricky,
         "error_title": tricky[:30], "error_message": tricky},
        {"validate": "list", "source": ["x", 'y"z', "<w>"], "input_message": "sqref=\"B2\""},
        {"validate": "decimal", "criteria": "between", "minimum": 0, "maximum": "=A1", "error_type": "warning"},
        {"validate": "any", "input_message": tricky},
        {"validate": "integer", "criteria": ">", "value": 1, "multi_range": "C1:C2 E5"},
    ]
    cells = [(0, 0, 0, 0), (3, 2, 1, 1), (5, 5, 9, 7), (2, 9, 2, 9), (0, 2, 1, 2)]

    def write(path: Path, workbook: Any, sheet: Any) -> bytes:
        wb = workbook(str(path), {"in_memory": True})
        wb.set_properties({"created": STAMP})
        ws = wb.add_worksheet("表", worksheet_class=sheet)
        for _ in range(2):  # the second time from what the first remembered
            for opts, where in zip(options, cells):
                assert ws.data_validation(*where, dict(opts)) == 0
        ws.write_string(0, 0, "x")
        wb.close()
        return path.read_bytes()

    for on in (True, False):
        lean.LEAN_PIECES = on
        try:
            mine = write(tmp_path / f"lean-{on}.xlsx", lean.LeanWorkbook, lean.LeanFormSheet)
        finally:
            lean.LEAN_PIECES = True
        assert mine == write(tmp_path / "stock.xlsx", xlsxwriter.Workbook, importlib.import_module("xltemplate.form.sheet").FormSheet)
    with zipfile.ZipFile(tmp_path / "lean-True.xlsx") as z:
        assert z.read("xl/worksheets/sheet1.xml").count(b"<dataValidation ") == 10


def test_a_merged_range_the_lean_sheet_writes_is_xlsxwriters_own(tmp_path: Path) -> None:
    """Merged ranges given backwards, in A1 text, over cells written before, without a format, and one that
    overlaps: the same file and the same refusal as stock XlsxWriter's."""
    from xlsxwriter.exceptions import OverlappingRange

    def write(path: Path, workbook: Any, sheet: Any) -> tuple[bytes, list[str]]:
        wb = workbook(str(path), {"in_memory": True})
        wb.set_properties({"created": STAMP})
        ws = wb.add_worksheet("表", worksheet_class=sheet)
        fmt = wb.add_format({"bold": True, "border": 1})
        ws.write_string(4, 4, "被覆盖", fmt)
        ws.set_row(7, 30)
        codes = [ws.merge_range(3, 5, 2, 3, "倒着", fmt), ws.merge_range("H1:J2", "A1", fmt), ws.merge_range(4, 4, 6, 6, None, fmt),
                 ws.merge_range(9, 0, 9, 3, 12.5), ws.merge_range(11, 1, 11, 1, "单格", fmt), ws.merge_range(12, 0, 13, 2, "", fmt)]
        refused = []
        try:
            ws.merge_range(5, 5, 8, 8, "重叠", fmt)
        except OverlappingRange as exc:
            refused.append(str(exc))
        wb.close()
        return path.read_bytes(), [str(c) for c in codes] + refused

    stock = write(tmp_path / "stock.xlsx", xlsxwriter.Workbook, importlib.import_module("xltemplate.form.sheet").FormSheet)
    assert write(tmp_path / "lean.xlsx", lean.LeanWorkbook, lean.LeanFormSheet) == stock
    assert len(stock[1]) == 7
