"""A zip holding more entries than any workbook is refused before zipfile makes an object of each (natrrev, eighth pass).

zipfile reads the whole central directory into ZipInfo objects before sniff can count them: 2,000,000 empty entries (an
88 MB file) took 920 MB and 8 s before the entry bound refused them, outside a worker's memory bound for a library
caller. sniff counts the entries' signatures in the file first (no entry can be made without one)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from xltemplate.errors import Unreadable
from xltemplate.readers.sniff import MAX_ENTRIES

from .fast_paths import module


def _many(path: Path, n: int, zip64: bool) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED, allowZip64=zip64) as z:
        z.writestr("[Content_Types].xml", b"<Types/>")
        for i in range(n):
            z.writestr(f"x/{i}", b"")
    path.write_bytes(buf.getvalue())
    return path


@pytest.mark.parametrize("plain", [True, False])
@pytest.mark.parametrize("n", [MAX_ENTRIES + 5, 70_000])  # (past 65,535 the count is Zip64's: never the plain shape)
def test_too_many_entries_are_refused_before_zipfile_reads_them(n: int, plain: bool, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    sniffing = module("xltemplate.readers.sniff")
    monkeypatch.setattr(sniffing, "READ_DIRECTORY", plain)
    path = _many(tmp_path / "many.xlsx", n, zip64=True)

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("zipfile read the directory")

    monkeypatch.setattr(sniffing.zipfile, "ZipFile", never)
    with pytest.raises(Unreadable) as got:
        sniffing.sniff(path)
    assert (got.value.code, got.value.variant) == ("file-too-large", "entries")
    assert f"{n + 1}" in got.value.message  # (the count said: every entry and the content types)


def test_a_workbook_with_entries_under_the_bound_is_still_read_by_zipfile(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The count is only a bound: a zip zipfile must read (a comment makes it not of the plain shape) still reaches it."""
    sniffing = module("xltemplate.readers.sniff")
    path = _many(tmp_path / "some.xlsx", 50, zip64=False)
    data = bytearray(path.read_bytes())
    data[-2:] = (3).to_bytes(2, "little")  # a comment of three bytes after the end record
    path.write_bytes(bytes(data) + b"abc")
    called: list[bool] = []
    real = zipfile.ZipFile

    def spy(*args: object, **kwargs: object) -> zipfile.ZipFile:
        called.append(True)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sniffing.zipfile, "ZipFile", spy)
    sniffing.sniff(path)  # (sniffed: what it holds is for the reader to judge)
    assert called
