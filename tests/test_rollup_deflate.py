"""The roll-up's large parts deflated by a thread while the zip takes the others (rollup/deflate.py, issue 15): the
bytes of the zip deflating every part itself, whichever parts the thread has begun, and when the thread fails."""

from __future__ import annotations

import importlib
import zipfile
from pathlib import Path
from typing import Any

import pytest

from xltemplate.rollup import write_rollup

from .test_rollup_onepass import _first, _same

deflate = importlib.import_module("xltemplate.rollup.deflate")


def _spied(monkeypatch: pytest.MonkeyPatch, fail: bool = False) -> list[str]:
    """The parts the thread deflates (each a name in the list); ``fail``: each fails as a full disk would."""
    seen: list[str] = []
    real = deflate._deflate

    def spy(source: str, target: Path, level: int) -> Any:
        seen.append(source)
        if fail:
            raise OSError(28, "No space left on device")
        return real(source, target, level)

    monkeypatch.setattr(deflate, "_deflate", spy)
    return seen


@pytest.mark.parametrize("large", [1, 4096, 1 << 40])
def test_parts_deflated_by_the_thread_give_the_bytes_of_the_zip(large: int, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    c = _first()
    got = {}
    monkeypatch.setattr(deflate, "AHEAD", False)
    got["zip"] = write_rollup(c, tmp_path / "zip.xlsx").read_bytes()
    monkeypatch.setattr(deflate, "AHEAD", True)
    monkeypatch.setattr(deflate, "LARGE", large)
    seen = _spied(monkeypatch)
    got["thread"] = write_rollup(c, tmp_path / "thread.xlsx").read_bytes()
    _same(got)
    parts = zipfile.ZipFile(tmp_path / "thread.xlsx").namelist()
    if large == 1:
        assert len(seen) >= len([p for p in parts if p.endswith(".xml")]) - 1  # (every part, but the one the zip took)
    elif large == 4096:
        assert 0 < len(seen) < len(parts)
    else:
        assert seen == []
    assert not list(tmp_path.glob("**/deflate-*"))  # (the thread's files are removed)


def test_a_thread_that_fails_leaves_the_part_to_the_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    c = _first()
    monkeypatch.setattr(deflate, "AHEAD", False)
    want = write_rollup(c, tmp_path / "zip.xlsx").read_bytes()
    monkeypatch.setattr(deflate, "AHEAD", True)
    monkeypatch.setattr(deflate, "LARGE", 1)
    seen = _spied(monkeypatch, fail=True)
    assert write_rollup(c, tmp_path / "thread.xlsx").read_bytes() == want
    assert seen


def test_the_zip_and_the_packager_are_xlsxwriter_s_again_after(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import xlsxwriter.workbook

    monkeypatch.setattr(deflate, "LARGE", 1)
    stock = xlsxwriter.workbook.ZipFile
    write_rollup(_first(), tmp_path / "a.xlsx")
    assert xlsxwriter.workbook.ZipFile is stock
