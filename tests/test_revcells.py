"""Adversarial review of the eleventh pass's national work (issue 15, session 26, helper revcells): natcells
(sheet_strict's numbers read in line, a formula's empty text, sheet_strict.STRING_CELLS; normalise's lists made in
C; formulas.SHAPES_ON_LAYOUT).

Each test here passes on main (41adce2), and names the fault of natcells's code it fails on.
"""

from __future__ import annotations

import io
import random
import re
import time
import zipfile
from pathlib import Path

from .fast_paths import forget, module, switched, verdict
from .test_natr_hostile import NATIONAL

_WORKSHEET = b"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
_REL = b"http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"


def with_strings_and_sheets(dest: Path, strings: list[bytes], sheets: int) -> Path:
    """The national sample with ``strings`` (each an <si>'s text) added to its shared strings, and ``sheets`` more
    worksheets, each a copy of its instructions sheet (shared strings in regular rows: the strict path reads them).
    A file any department can make."""
    buf = io.BytesIO()
    with zipfile.ZipFile(NATIONAL[0]) as zin, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        other = zin.read("xl/worksheets/sheet2.xml")
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "xl/sharedStrings.xml":
                data = data.replace(b"</sst>", b"".join(b"<si><t>%s</t></si>" % s for s in strings) + b"</sst>")
                data = re.sub(rb' count="[0-9]+" uniqueCount="[0-9]+"', b"", data, count=1)
            elif info.filename == "xl/workbook.xml":
                data = data.replace(b"</sheets>", b"".join(
                    b'<sheet name="s%d" sheetId="%d" state="visible" r:id="rIdx%d"/>' % (i, 100 + i, i)
                    for i in range(sheets)) + b"</sheets>")
            elif info.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(b"</Relationships>", b"".join(
                    b'<Relationship Id="rIdx%d" Type="%s" Target="worksheets/x%d.xml"/>' % (i, _REL, i)
                    for i in range(sheets)) + b"</Relationships>")
            elif info.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", b"".join(
                    b'<Override PartName="/xl/worksheets/x%d.xml" ContentType="%s"/>' % (i, _WORKSHEET)
                    for i in range(sheets)) + b"</Types>")
            zout.writestr(zipfile.ZipInfo(info.filename, date_time=(2021, 4, 30, 9, 0, 0)), data, zipfile.ZIP_DEFLATED)
        for i in range(sheets):
            zout.writestr(zipfile.ZipInfo(f"xl/worksheets/x{i}.xml", date_time=(2021, 4, 30, 9, 0, 0)), other,
                          zipfile.ZIP_DEFLATED)
    dest.write_bytes(buf.getvalue())
    return dest


# -- Finding 1: STRING_CELLS compares (and keeps) a workbook's whole list of strings at every sheet --------------

def test_a_workbook_of_many_strings_is_not_held_after_its_file(tmp_path: Path) -> None:
    """STRING_CELLS keeps the last workbook's strings (a copy of the list) and a cell for each, whatever their number:
    a file of 300,000 short strings left 300,118 strings and as many cells (some 25 MB, and its texts) in the worker
    until its next workbook. Bounded: what is kept after a file is at most a few thousand strings."""
    strict = module("xltemplate.readers.sheet_strict")
    path = with_strings_and_sheets(tmp_path / "many.xlsx", [b"x%d" % i for i in range(300_000)], 2)
    forget()
    with switched(True, ("STRING_CELLS",)):
        read = verdict(path)
    assert isinstance(read, dict)  # (read: the strings are sound, only many)
    held = getattr(strict, "_STRING_CELLS", {}).get("strings") or []
    assert len(held) <= 4096, f"{len(held)} strings held after the file"
    assert len(getattr(strict, "_STRING_CELLS", {}).get("cells") or []) <= 4096
    forget()
    with switched(False, ("STRING_CELLS",)):
        assert verdict(path) == read


def test_a_workbook_of_long_strings_is_not_held_after_its_file(tmp_path: Path) -> None:
    """The same by characters: 100 strings of 40,000 characters (4 MB of text, under the count's bound) are not kept
    after their file, and read the same on and off."""
    strict = module("xltemplate.readers.sheet_strict")
    rng = random.Random(7)  # (text that does not compress past the sniffer's ratio)
    texts = [bytes(rng.choices(b"abcdefghijklmnopqrstuvwxyz0123456789", k=40_000)) for _ in range(100)]
    path = with_strings_and_sheets(tmp_path / "long.xlsx", texts, 2)
    forget()
    with switched(True, ("STRING_CELLS",)):
        on = verdict(path)
    assert isinstance(on, dict)
    assert sum(map(len, getattr(strict, "_STRING_CELLS", {}).get("strings") or [])) <= 1024 * 1024
    forget()
    with switched(False, ("STRING_CELLS",)):
        assert verdict(path) == on


def test_many_sheets_over_many_strings_read_in_linear_time(tmp_path: Path) -> None:
    """Each sheet compared the workbook's whole list of strings with the copy kept (sheets × strings): a file of
    600,000 strings and 2,000 sheets (~4 MB) cost 2-3× its CPU with STRING_CELLS off (1,000,000 and 3,000: 6.3 s
    against 1.9 s). Least of two readings each, interleaved; generous."""
    path = with_strings_and_sheets(tmp_path / "wide.xlsx", [b"x%d" % i for i in range(600_000)], 2000)
    times: dict[bool, list[float]] = {True: [], False: []}
    for on in (True, False, True, False):
        forget()
        with switched(on, ("STRING_CELLS",)):
            t = time.process_time()
            read = verdict(path)
            times[on].append(time.process_time() - t)
        assert isinstance(read, dict)
    ratio = min(times[True]) / min(times[False])
    assert ratio < 1.6, f"STRING_CELLS on {min(times[True]):.2f} s, off {min(times[False]):.2f} s ({ratio:.2f}×)"
