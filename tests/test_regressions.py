"""Files the fuzzer found that once raised inside a reader: each must now be a plain report.

Each is one change to a valid sample return (the reproductions the fuzz test reported).
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from pathlib import Path

import pytest

from tests.corpus import TODAY
from xltemplate.validate import validate_path

from .conftest import SAMPLES

SRC = SAMPLES / "returns" / "需求侧管理中心.xlsx"
SHEET = "xl/worksheets/sheet1.xml"


def patched(tmp: Path, name: str, part: str, change) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(SRC) as zin, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for info in zin.infolist():
            data = zin.read(info.filename)
            z.writestr(info.filename, change(data) if info.filename == part else data)
    path = tmp / name
    path.write_bytes(buf.getvalue())
    return path


def cell(ref: str, xml: str):
    def change(data: bytes) -> bytes:
        out, n = re.subn(rb'<c r="' + ref.encode() + rb'"(?=[\s/>])[^>]*?(?:/>|>.*?</c>)', xml.encode(), data, count=1, flags=re.S)
        assert n == 1, ref
        return out
    return change


CASES = {
    "score-1e30": (SHEET, cell("E22", '<c r="E22" s="20"><v>1E+30</v></c>'), "invalid", "value-invalid"),
    # No spreadsheet holds an infinite number (LibreOffice shows it as INF): refused, not read (issue 10).
    "score-infinite": (SHEET, cell("E22", '<c r="E22" s="20"><v>1e999</v></c>'), "unreadable", "file-corrupt"),
    "score-text-1e99999999": (SHEET, cell("E22", '<c r="E22" s="20" t="inlineStr"><is><t>1e99999999</t></is></c>'), "invalid", "value-invalid"),
    "date-huge-number": (SHEET, cell("B8", '<c r="B8"><v>1' + "0" * 400 + "</v></c>"), "invalid", "value-invalid"),
    "fixed-weight-as-date": (SHEET, cell("D14", '<c r="D14" s="5"><v>43951</v></c>'), "invalid", "weight-changed"),
    "shared-formula-out-of-range": (SHEET, lambda d: cell("D25", '<c r="D25"><f t="shared" ref="D25:D26" si="0">A1</f><v>1</v></c>')(
        cell("C26", '<c r="C26"><f t="shared" si="0"/><v>1</v></c>')(d)), "unreadable", "file-corrupt"),
    "shared-formula-unterminated": (SHEET, cell("D25", '<c r="D25"><f t="shared" ref="D25:D26" si="0">"x</f><v>1</v></c>'), "unreadable", "file-corrupt"),
    "shared-formula-paren": (SHEET, cell("D25", '<c r="D25"><f t="shared" ref="D25:D26" si="0">)</f><v>1</v></c>'), "unreadable", "file-corrupt"),
    "unknown-encoding-app": ("docProps/app.xml", lambda d: d.replace(b'encoding="UTF-8"', b'encoding="UTF-80"', 1), "valid", None),
    "gb18030-styles": ("xl/styles.xml", lambda d: d.replace(b'encoding="UTF-8"', b'encoding="GB18030"', 1), "valid", None),
    "utf16-strings": ("xl/sharedStrings.xml", lambda d: d.decode().replace('encoding="UTF-8"', 'encoding="UTF-16"', 1).encode("utf-16"), "valid", None),
    "comment-in-cells": (SHEET, lambda d: d.replace(b"<sheetData>", b"<sheetData><!-- <c r=\"A1\"><v>9</v></c> -->", 1), "valid", None),
    # A formula cell given a date format: its cached number is read as a date, and compared as its serial
    # (it raised inside the formulas check: a crashed report).
    "total-as-date": (SHEET, lambda d: re.sub(rb'<c r="E44" s="\d+"', b'<c r="E44" s="11"', d, count=1), "valid", None),
    "cdata-in-a-string": ("xl/sharedStrings.xml", lambda d: d.replace(b"<t>", b"<t><![CDATA[<c r=\"A1\">]]>", 1), "invalid", "locked-text-changed"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_fuzz_findings_are_reports_not_exceptions(name: str, tmp_path: Path) -> None:
    part, change, status, code = CASES[name]
    path = patched(tmp_path, f"{name}.xlsx", part, change)
    fast = validate_path(path, reader="fast", today=TODAY)
    assert fast.status == status, [(f.code, f.message) for f in fast.findings]
    if code:
        assert code in {f.code for f in fast.findings}
    assert "file-reader-crashed" not in {f.code for f in fast.findings}
    validate_path(path, reader="openpyxl", today=TODAY)  # the reference reader must not raise either


def test_corrupt_deflate_beyond_the_sniffed_prolog(tmp_path: Path) -> None:
    data = SRC.read_bytes()
    zf = zipfile.ZipFile(io.BytesIO(data))
    info = zf.getinfo(SHEET)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for k in range(start + info.compress_size // 2, start + info.compress_size):
        b = bytearray(data)
        b[k] ^= 0xFF
        try:
            zipfile.ZipFile(io.BytesIO(bytes(b))).read(SHEET)
        except zlib.error:
            break
        except Exception:
            continue
    path = tmp_path / "corrupt-deflate.xlsx"
    path.write_bytes(bytes(b))
    r = validate_path(path, today=TODAY)
    assert r.status == "unreadable" and r.findings[0].code == "file-corrupt"


def test_unsupported_zip_version(tmp_path: Path) -> None:
    data = bytearray(SRC.read_bytes())
    data[data.index(b"PK\x01\x02") + 6] = 0xFF  # "version needed to extract" 25.5
    path = tmp_path / "zip-version.xlsx"
    path.write_bytes(bytes(data))
    r = validate_path(path, today=TODAY)
    assert r.status == "unreadable" and r.findings[0].code == "file-corrupt"
