"""The split path (``readers.sheet.USE_SPLIT``) is among tests/fast_paths.SWITCHES: every corpus those tests read is
read with it on and off, and must give the same submission or the same refusal.

One difference is allowed, and only it (:func:`tests.fast_paths.two_faults_named_otherwise`): a sheet part that is
not well-formed XML and also holds a cell the readers refuse. The general path reads the part in order and names the
first fault it meets (the cell, where it comes first); the split path proves the part well-formed before it looks at
the cells, and names expat's fault. Both refuse, with the same code, for the same part. These tests show that the
allowance is that narrow: the same two faults where the split path's refusal is not expat's, a well-formed part, or
a file the split path reads, are still differences.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from xltemplate.errors import Unreadable
from xltemplate.readers import sheet as fastsheet

from .fast_paths import differences_on_and_off, forget, switched, verdict
from .test_fast_paths import FORM, repacked


def _bad_cell(data: bytes) -> bytes:
    return data.replace(b't="s"', b't="zz"', 1)  # a cell of a type no program knows: refused, the cell named


def _bad_tail(data: bytes) -> bytes:
    return data.replace(b"</worksheet>", b'<x a="1" a="2"/></worksheet>')  # after the cells: not well-formed


def _bad_head(data: bytes) -> bytes:
    return data.replace(b"<sheetData>", b'<x a="1" a="2"/><sheetData>')  # before the cells: not well-formed


@pytest.fixture(scope="module")
def forged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("split-compared")
    changes = {"cell": _bad_cell, "tail": _bad_tail, "head": _bad_head,
               "cell+tail": lambda b: _bad_tail(_bad_cell(b)), "head+cell": lambda b: _bad_head(_bad_cell(b)),
               "plain": lambda b: b}
    return {name: repacked(root / f"{name}.xlsx", {FORM: change}) for name, change in changes.items()}


def _both_ways(path: Path) -> tuple[object, object]:
    forget()
    with switched(True):
        on = verdict(path)
        with switched(False, ("USE_SPLIT",)):
            off = verdict(path)
    return on, off


def test_the_split_path_is_compared_with_the_general_path() -> None:
    from .fast_paths import SWITCHES

    assert ("xltemplate.readers.sheet", "USE_SPLIT") in SWITCHES


@pytest.mark.parametrize("name", ["plain", "cell", "tail", "head", "head+cell"])
def test_one_fault_or_one_first_is_named_alike_by_both_paths(forged: dict[str, Path], name: str) -> None:
    on, off = _both_ways(forged[name])
    assert on == off
    assert (name == "plain") == isinstance(on, dict)
    assert not differences_on_and_off([forged[name]]) and not differences_on_and_off([forged[name]], ("USE_SPLIT",))


def test_two_faults_are_named_otherwise_but_refused_alike(forged: dict[str, Path]) -> None:
    on, off = _both_ways(forged["cell+tail"])
    assert on != off  # (else this test shows nothing)
    assert on[:3] == ("unreadable", "file-corrupt", "part-damaged") and "duplicate attribute" in on[3]  # type: ignore[index]
    assert off[:3] == ("unreadable", "file-corrupt", "part") and "单元格 A1" in off[3]  # type: ignore[index]
    assert not differences_on_and_off([forged["cell+tail"]], ("USE_SPLIT",))
    assert not differences_on_and_off([forged["cell+tail"]])
    # … but not where only some other switch is turned off: they compare exactly
    assert not differences_on_and_off([forged["cell+tail"]], ("REMEMBER_TAILS",))


def _split_says(monkeypatch: pytest.MonkeyPatch, what: Unreadable | None) -> None:
    """The split path made to refuse every sheet with ``what``, or (None) to read every sheet as having no cells."""
    def parse_split(self: fastsheet.Sheet, data: bytes, prove: bool = True) -> bool:
        if what is not None:
            raise what
        return True

    monkeypatch.setattr(fastsheet.Sheet, "_parse_split", parse_split)


def test_a_split_path_naming_expats_fault_in_a_well_formed_part_is_a_difference(
        forged: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    _split_says(monkeypatch, Unreadable("file-corrupt", "part-damaged", part=FORM, reason="made up"))
    got = differences_on_and_off([forged["cell"]], ("USE_SPLIT",))
    assert len(got) == 1 and "cell.xlsx" in got[0]


def test_a_split_path_naming_another_code_is_a_difference(forged: dict[str, Path],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _split_says(monkeypatch, Unreadable("file-too-large", "merges", part=FORM, limit=1))
    assert len(differences_on_and_off([forged["cell+tail"]], ("USE_SPLIT",))) == 1
    assert len(differences_on_and_off([forged["cell+tail"]])) == 1


def test_a_split_path_naming_another_part_is_a_difference(forged: dict[str, Path],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _split_says(monkeypatch, Unreadable("file-corrupt", "part-damaged", part="xl/worksheets/sheet2.xml", reason="x"))
    assert len(differences_on_and_off([forged["cell+tail"]], ("USE_SPLIT",))) == 1


def test_a_split_path_reading_what_the_general_path_refuses_is_a_difference(
        forged: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    _split_says(monkeypatch, None)
    for name in ("cell", "cell+tail"):
        got = differences_on_and_off([forged[name]], ("USE_SPLIT",))
        assert len(got) == 1 and f"{name}.xlsx" in got[0]
