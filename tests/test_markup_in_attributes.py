"""Adversarial review of the eighth pass's read side (issue 15, branch natr, reviewed on natrrev): a ">" or "/>"
inside an attribute's value.

XML allows ">" in an attribute's value (only "<" and the value's own quote are not allowed there). The fast reader's
patterns for a text's or a value's start tag (``<t(?:\\s[^>]*?)?>``, ``<v …>``, ``<f …>``) took the first ">" for the
tag's end, so the rest of the value was read as the text: a shared string ``<t xml:lang="a>b">名称</t>`` read as
``b">名称``, and an empty one ``<t xml:lang=">"></t>`` as ``">``, a text where the person sees an empty cell (a
required field filled, to the checks). The openpyxl reference reader and LibreOffice show ``名称`` and nothing. The
same with the fast paths on and off: the patterns are those of both. Fixed: those patterns take a tag's attributes
whole (``xmltext.ATTRIBUTES``).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Callable

import pytest


from .conftest import SAMPLES
from .fast_paths import forget, switched, verdict

NATIONAL = sorted(p for p in (SAMPLES / "national" / "returns").glob("*.xlsx") if not p.name.startswith("~$"))
STRINGS, FORM = "xl/sharedStrings.xml", "xl/worksheets/sheet1.xml"
LABEL = "项目名称：".encode()  # the label before the project's name (B3), a string the clerk fills


def built(dest: Path, part: str, change: Callable[[bytes], bytes]) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(NATIONAL[0]) as zin, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            zout.writestr(zipfile.ZipInfo(info.filename, date_time=(2021, 4, 30, 9, 0, 0)),
                          change(data) if info.filename == part else data, zipfile.ZIP_DEFLATED)
    dest.write_bytes(buf.getvalue())
    return dest


def name_string(make: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    """The project name's string (the one after the label) made anew from its text."""
    def change(data: bytes) -> bytes:
        i = data.index(b"<si>", data.index(LABEL))
        k = data.index(b"</si>", i) + 5
        body = data[i:k]
        text = body[body.index(b"<t") :]
        text = text[text.index(b">") + 1 : text.index(b"</t>")]
        return data[:i] + make(text) + data[k:]
    return change


def first_number(make: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    """The first number cell of the form (C8, a budget figure) made anew from its value."""
    def change(data: bytes) -> bytes:
        i = data.index(b'<c r="C8"')
        k = data.index(b"</c>", i) + 4
        cell = data[i:k]
        value = cell[cell.index(b"<v>") + 3 : cell.index(b"</v>")]
        return data[:i] + cell[: cell.index(b"<v>")] + make(value) + b"</c>" + data[k:]
    return change


CASES: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    "plain string": (STRINGS, name_string(lambda t: b'<si><t xml:space="preserve" xml:lang="a>b">' + t + b"</t></si>")),
    "plain string, empty": (STRINGS, name_string(lambda t: b'<si><t xml:lang=">"></t></si>')),
    "plain string, '/>' in a value": (STRINGS, name_string(lambda t: b'<si><t xml:lang="/>">' + t + b"</t></si>")),
    "runs": (STRINGS, name_string(lambda t: b'<si><r><t xml:lang="a>b">' + t + b"</t></r></si>")),
    "runs, empty": (STRINGS, name_string(lambda t: b"<si><r><t xml:lang='>'></t></r></si>")),
    "value": (FORM, first_number(lambda v: b'<v xml:lang="9>">' + v + b"</v>")),
    "formula": (FORM, first_number(lambda v: b'<f xml:lang="1>">1+1</f><v>' + v + b"</v>")),
}


def read(path: Path, reader: str = "fast") -> object:
    return verdict(path, reader, message=False)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("on", [True, False])
def test_a_tag_end_inside_an_attribute_value_reads_as_the_reference_reads_it(case: str, on: bool, tmp_path: Path) -> None:
    part, change = CASES[case]
    path = built(tmp_path / "r.xlsx", part, change)
    reference = read(path, "openpyxl")
    assert isinstance(reference, dict)  # (well-formed: the reference reads it)
    forget()
    with switched(on):
        fast = read(path, "fast")
    assert fast == reference
