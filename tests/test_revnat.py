"""Adversarial review of the tenth pass's national work (issue 15, session 25, helper revnat): natrows
(sheet_strict.ROWS_BY_PARTS, xmltext.tag_after, the later search for a second <sheetData>) and natcheck
(identify.TARGETS_BY_PATTERN, the targets' memo removed, normalise.SLOT_STEPS and REFERENCED_BY_COPY).

Each test here passes on main (a9b387d), where main is right, and names the fault of the branch it fails on.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .fast_paths import forget, module, verdict
from .test_natr_hostile import FORM, NATIONAL, built

#: A row of a sheet's cells, its start tag to its end (or an empty one).
_ROW = re.compile(rb'<row r="[0-9]+"[^>]*?(?:/>|>.*?</row>)', re.S)


def _form_cells() -> tuple[bytes, tuple[object, ...]]:
    """The national sample's form sheet's cells as the reader hands them to sheet_strict.cells, with the rest of
    its arguments (strings, styles, epoch, root)."""
    strict = module("xltemplate.readers.sheet_strict")
    captured: list[tuple[bytes, tuple[object, ...]]] = []
    real = strict.cells

    def spy(stream: bytes, *args: object) -> object:
        if len(stream) > 10000 and len(args) == 4:
            captured.append((stream, args))
        return real(stream, *args)

    strict.cells = spy
    try:
        forget()
        verdict(NATIONAL[0])
    finally:
        strict.cells = real
    assert captured
    return captured[0]


def _rows_accounted(strict: object) -> tuple[int, int]:
    """What the row memo counts as its bytes, and the bytes of the keys it holds (each key's texts, its last item
    the styles' key: on main one piece, on the branch a row's start, end and the text after it)."""
    held = sum(sum(map(len, key[:-1])) for key in strict._ROWS)  # type: ignore[attr-defined]
    return strict._row_bytes[0], held  # type: ignore[attr-defined]


# -- Finding 1: a row repeated in one sheet is counted once per repeat in the row memo's bytes (ROWS_BY_PARTS) --

def test_a_repeated_row_is_counted_once_in_the_row_memo(tmp_path: Path) -> None:
    """A form sheet whose cells are one row many times over (a file any department can make): each copy of the row
    is worked out and remembered under the same key, and its bytes added to _row_bytes every time, though the memo
    holds it once. The count then stays above what the memo holds for the rest of the worker's life."""
    strict = module("xltemplate.readers.sheet_strict")
    stream, args = _form_cells()
    rows = _ROW.findall(stream)
    assert len(rows) > 20

    def repeated(data: bytes) -> bytes:
        i, j = data.index(b"<sheetData>") + 11, data.index(b"</sheetData>")
        return data[:i] + rows[3] * 200 + data[j:]

    forget()
    refused = verdict(built(tmp_path / "repeated.xlsx", {FORM: repeated}))
    assert refused[:2] == ("unreadable", "file-corrupt")  # type: ignore[index]  # (rows out of order, as it must be)
    counted, held = _rows_accounted(strict)
    assert held > 0
    assert counted == held, f"the row memo counts {counted} bytes and holds {held}"


def test_after_a_file_of_repeated_rows_the_row_memo_still_remembers_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the wrong count does: once the phantom bytes pass the memo's bound (8 MB; here 400 kB, for speed), every
    row remembered drops every other, so each later return of the worker has its rows worked out anew (the memo a
    national return's reading lives on: its skeleton is its own, its rows are the other projects')."""
    strict = module("xltemplate.readers.sheet_strict")
    monkeypatch.setattr(strict, "_ROW_BYTES", 400_000)
    stream, args = _form_cells()
    rows = _ROW.findall(stream)
    forget()
    longest = max(rows, key=len)
    assert strict.cells(b"".join([longest] * (500_000 // len(longest) + 2)), *args) is None
    assert strict.cells(stream, *args) is not None  # the sound sheet, read after it
    remembered = len(strict._ROWS)
    assert remembered >= len(rows) - 1, f"{remembered} rows remembered of the sound sheet's {len(rows)}"
    forget()
