"""Adversarial review of the eighth pass's read side (issue 15, branch natr, reviewed on natrrev): an attribute's
name and value written inside another attribute's value.

The split path (``sheet.USE_SPLIT``) found a cell's type and style, a row's or cell's number, and the protection's
``sheet`` by searching the tag's attributes for `` t="…"`` (``(?:^|\\s)t\\s*=…``), which a value may hold:
``<c r="C8" s="9" xml:lang=' t="s" '><v>3</v></c>`` is the number 3 to Excel, LibreOffice, openpyxl and the general
path, and was read as shared string 3; a protection without ``sheet`` (off) and with ``xml:lang=' sheet="1" '`` was
read as on, so an unprotected form passed for a protected one. The same with every fast path on and off (they keep
the split path); the general path reads them right. Fixed: the split path finds an attribute only where one starts,
those before it taken whole (``sheet._named``).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from xltemplate.readers import sheet as fastsheet

from .conftest import SAMPLES
from .fast_paths import forget, switched, verdict

NATIONAL = sorted(p for p in (SAMPLES / "national" / "returns").glob("*.xlsx") if not p.name.startswith("~$"))
FORM = "xl/worksheets/sheet1.xml"

CASES: dict[str, tuple[bytes, bytes]] = {
    "protection off, sheet=1 in a value": (b'<sheetProtection sheet="true"', b"<sheetProtection xml:lang=' sheet=\"1\" '"),
    "protection on, sheet=0 in a value": (b'<sheetProtection sheet="true"', b"<sheetProtection xml:lang=' sheet=\"0\" ' sheet=\"true\""),
    "number cell, t=s in a value": (b'<c r="C8" s="9" t="n"><v>1200</v>', b"<c r=\"C8\" s=\"9\" xml:lang=' t=\"s\" '><v>3</v>"),
    "number cell, s=0 in a value": (b'<c r="C8" s="9" t="n"><v>1200</v>', b"<c r=\"C8\" xml:lang=' s=\"0\" ' s=\"9\"><v>1200</v>"),
    "cell, r in a value": (b'<c r="C8" s="9" t="n"><v>1200</v>', b"<c s=\"9\" xml:lang=' r=\"D8\" ' r=\"C8\"><v>1200</v>"),
    "row, r in a value": (b'<row r="17" ', b"<row xml:lang=' r=\"18\" ' r=\"17\" "),
}


def built(dest: Path, old: bytes, new: bytes) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(NATIONAL[0]) as zin, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == FORM:
                assert old in data
                data = data.replace(old, new, 1)
            zout.writestr(zipfile.ZipInfo(info.filename, date_time=(2021, 4, 30, 9, 0, 0)), data, zipfile.ZIP_DEFLATED)
    dest.write_bytes(buf.getvalue())
    return dest


def read(path: Path, reader: str = "fast") -> object:
    return verdict(path, reader, message=False)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("on", [True, False])
def test_an_attribute_inside_another_ones_value_is_not_read(case: str, on: bool, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    path = built(tmp_path / "r.xlsx", *CASES[case])
    reference = read(path, "openpyxl")
    assert isinstance(reference, dict)
    monkeypatch.setattr(fastsheet, "USE_SPLIT", False)
    forget()
    assert read(path) == reference  # (the general path reads it as the reference does)
    monkeypatch.setattr(fastsheet, "USE_SPLIT", True)
    forget()
    with switched(on):
        assert read(path) == reference


#: A protection the tail's pattern does not take (an attribute name that is not ASCII): it was not seen at all.
ODD_PROTECTIONS: dict[str, tuple[bytes, bytes]] = {
    "odd protection, on": (b'<sheetProtection sheet="true"', '<sheetProtection 名="x" sheet="true"'.encode()),
    "regular on, then odd off": (b'formatRows="false"/>', 'formatRows="false"/><sheetProtection 名="x" sheet="0"/>'.encode()),
    "odd off, then regular on": (b'<sheetProtection sheet="true"', '<sheetProtection 名="x"/><sheetProtection sheet="true"'.encode()),
}


@pytest.mark.parametrize("case", list(ODD_PROTECTIONS))
def test_a_protection_of_another_shape_reads_as_on_the_general_path(case: str, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The general path reads the first as on and refuses the two others (two protections); LibreOffice shows the
    second's form unprotected. The split path read them as off, on and on; now it leaves a tail with a protection its
    pattern does not take to the general path."""
    path = built(tmp_path / "r.xlsx", *ODD_PROTECTIONS[case])
    monkeypatch.setattr(fastsheet, "USE_SPLIT", False)
    forget()
    general = read(path)
    monkeypatch.setattr(fastsheet, "USE_SPLIT", True)
    forget()
    assert read(path) == general
