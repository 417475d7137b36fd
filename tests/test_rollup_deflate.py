"""The roll-up's large parts deflated by a second process while the zip takes the others (rollup/deflate.py, issue 15):
the bytes of the zip deflating every part itself, whichever parts that process has claimed, and when it fails."""

from __future__ import annotations

import importlib
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from xltemplate.rollup import write_rollup

from .test_rollup_onepass import _first, _same

deflate = importlib.import_module("xltemplate.rollup.deflate")


def _spied(monkeypatch: pytest.MonkeyPatch, fail: bool = False) -> list[str]:
    """The parts copied into the zip as the second process deflated them (each a name in the list); ``fail``: that
    process fails on each as a full disk would (it is forked: it has the failing function)."""
    seen: list[str] = []
    real_copy = deflate.reuse._KeepingZip._copy

    def copied(self: Any, data: Any, crc: int, size: int, filename: str, arcname: Any) -> None:
        seen.append(arcname)
        real_copy(self, data, crc, size, filename, arcname)

    monkeypatch.setattr(deflate.reuse._KeepingZip, "_copy", copied)
    if fail:
        def failing(source: str, target: Path, level: int) -> Any:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(deflate, "_deflate", failing)
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
    slow = zipfile.ZipFile.write

    def zip_slowly(*a: Any, **k: Any) -> None:  # (the sample's parts are small: the second process gets to claim some)
        time.sleep(0.05)
        slow(*a, **k)

    monkeypatch.setattr(zipfile.ZipFile, "write", zip_slowly)
    got["thread"] = write_rollup(c, tmp_path / "thread.xlsx").read_bytes()
    _same(got)
    parts = zipfile.ZipFile(tmp_path / "thread.xlsx").namelist()
    if large == 1:
        assert seen  # (some parts the second process deflated: which ones depends on who came first)
    elif large == 4096:
        assert len(seen) < len(parts)
    else:
        assert seen == []
    assert not list(tmp_path.glob("**/deflate-*"))  # (its files and the claims are removed)


def test_a_second_process_that_fails_leaves_the_part_to_the_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    c = _first()
    monkeypatch.setattr(deflate, "AHEAD", False)
    want = write_rollup(c, tmp_path / "zip.xlsx").read_bytes()
    monkeypatch.setattr(deflate, "AHEAD", True)
    monkeypatch.setattr(deflate, "LARGE", 1)
    seen = _spied(monkeypatch, fail=True)
    assert write_rollup(c, tmp_path / "thread.xlsx").read_bytes() == want
    assert seen == []  # (it said none: the zip deflated every part)


def test_the_zip_and_the_packager_are_xlsxwriter_s_again_after(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import xlsxwriter.workbook

    monkeypatch.setattr(deflate, "LARGE", 1)
    stock = xlsxwriter.workbook.ZipFile
    write_rollup(_first(), tmp_path / "a.xlsx")
    assert xlsxwriter.workbook.ZipFile is stock
