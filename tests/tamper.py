"""What a person with a zip tool and a text editor does to a returned workbook (issue 10's forgeries).

Each helper rewrites parts of the zip as bytes, the way an editor would, and leaves everything
else as it was: no spreadsheet program repairs or re-signs anything.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path
from typing import Callable


def rewrite(src: Path, dst: Path, edits: dict[str, Callable[[bytes], bytes]]) -> Path:
    """Copy ``src`` to ``dst`` with ``edits[part](bytes)`` applied to the named parts."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename in edits:
                data = edits[info.filename](data)
            zout.writestr(info, data)
    return dst


def replace_text(old: str, new: str, count: int | None = None) -> Callable[[bytes], bytes]:
    def edit(data: bytes) -> bytes:
        o, n = old.encode("utf-8"), new.encode("utf-8")
        assert o in data, f"{old!r} not in part"
        return data.replace(o, n) if count is None else data.replace(o, n, count)
    return edit


def set_saved_time(src: Path, dst: Path, when: dt.datetime | None) -> Path:
    """The workbook's own saved time (docProps/core.xml dcterms:modified); None removes it."""
    def edit(data: bytes) -> bytes:
        pattern = rb"<dcterms:modified[^>]*>[^<]*</dcterms:modified>"
        assert re.search(pattern, data)
        new = b"" if when is None else (
            b'<dcterms:modified xsi:type="dcterms:W3CDTF">' + when.strftime("%Y-%m-%dT%H:%M:%SZ").encode() + b"</dcterms:modified>")
        return re.sub(pattern, new, data)
    return rewrite(src, dst, {"docProps/core.xml": edit})


def swap_key(src: Path, dst: Path, old: str, new: str) -> Path:
    """Another unit's key, written into the metadata and its document property alike."""
    return rewrite(src, dst, {"xl/sharedStrings.xml": replace_text(f">{old}<", f">{new}<"),
                              "docProps/custom.xml": replace_text(f">{old}<", f">{new}<")})
