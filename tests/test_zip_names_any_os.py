"""Adversarial review of the eighth pass's read side (issue 15, branch natr, reviewed on natrrev): a zip entry's name
as written, whatever machine reads it.

zipfile turns the separator of the machine's paths into "/" in every name it reads (``ZipInfo.__init__``: on Windows,
``os.sep`` is "\\"), so that on Windows a part named ``xl\\worksheets\\sheet1.xml`` was read as the form, where on
Linux the same file is refused (a part name OPC does not allow, ``sniff._check_names``). The plain directory read with
struct (READ_DIRECTORY) leaves names with "\\" to zipfile for that reason (natr d0aa0eb): the same verdict both ways
on one machine, but a file's verdict still depended on the machine. Here Windows is simulated: zipfile is given an
``os`` whose ``sep`` is "\\". Fixed: sniff takes a name zipfile read as written (cut at NUL, as zipfile cuts it).
"""

from __future__ import annotations

import io
import os
import types
import zipfile
from pathlib import Path

import pytest

from .conftest import SAMPLES
from .fast_paths import forget, switched, verdict

NATIONAL = sorted(p for p in (SAMPLES / "national" / "returns").glob("*.xlsx") if not p.name.startswith("~$"))
FORM = "xl/worksheets/sheet1.xml"


def renamed(dest: Path, old: str, new: str) -> Path:
    """The national return with one part renamed (its name in the local header and in the directory)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(NATIONAL[0]) as zin, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            zi = zipfile.ZipInfo("x", date_time=(2021, 4, 30, 9, 0, 0))
            zi.filename = new if info.filename == old else info.filename  # (ZipInfo() would make "\\" a "/" on Windows)
            zout.writestr(zi, data, zipfile.ZIP_DEFLATED)
    dest.write_bytes(buf.getvalue())
    return dest


@pytest.fixture
def on_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("os")
    fake.__dict__.update(os.__dict__)
    fake.sep = "\\"
    monkeypatch.setattr(zipfile, "os", fake)


@pytest.mark.parametrize("on", [True, False])
@pytest.mark.parametrize("name", ["xl\\worksheets\\sheet1.xml", "xl/worksheets\\sheet1.xml"])
def test_a_name_with_a_backslash_gets_the_verdict_it_gets_on_linux(name: str, on: bool, tmp_path: Path,
                                                                    on_windows: None) -> None:
    path = renamed(tmp_path / "r.xlsx", FORM, name)
    forget()
    with switched(on, ("READ_DIRECTORY",)):
        got = verdict(path)
    assert isinstance(got, tuple) and got[1:3] == ("file-corrupt", "part-name"), str(got)[:200]
