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


@pytest.mark.parametrize("switch", ["lean", "layouts"])
def test_generate_from_a_roster_is_the_same_with_and_without_the_lean_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                             switch: str) -> None:
    gen = importlib.import_module("xltemplate.form.generate")
    module, name = (lean, "USE_LEAN") if switch == "lean" else (gen, "REMEMBER_LAYOUTS")
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
