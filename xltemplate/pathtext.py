"""File names as text a person reads: never a forged line, never a crash.

A file name is whatever bytes the file system holds. unzip makes names that are not
UTF-8 out of a zip from Chinese Windows (Python keeps those bytes as lone surrogates,
which no encoder accepts), and a name may hold a newline, a carriage return or a
right-to-left override that would forge or disguise a line of the text report.
:func:`shown` is what every report, roll-up cell, CSV cell and message prints;
:func:`path_bytes` keeps the exact bytes for ``--json`` when the text cannot.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 and C1 controls, DEL, the Unicode line and paragraph separators, and the bidirectional
# overrides and isolates (which make "gpj.exe" read as "exe.jpg").
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


#: :func:`file_name` without making a Path (about 10 µs each; a round's second run asks for 10,000 names several times,
#: issue 15); False: ``Path(path).name`` always (the tests compare).
QUICK_NAME = True


def file_name(path: str) -> str:
    """``Path(path).name``: on POSIX, when the text after the last ``/`` is a name (not empty, not ``.``), that text,
    which is what Path makes of it; else (and on Windows, with its drives and shares) Path's answer."""
    if QUICK_NAME and os.sep == "/" and os.altsep is None:
        name = path[path.rfind("/") + 1:]
        if name and name != ".":
            return name
    return Path(path).name


def shown(path: str | os.PathLike[str]) -> str:
    """``path`` for display: bytes that are not text become U+FFFD, control characters are escaped (``\\n``)."""
    text = os.fspath(path)
    text = _SURROGATE.sub("\ufffd", text)
    return _INVISIBLE.sub(_escape, text)


def _escape(m: re.Match[str]) -> str:
    ch = m.group(0)
    return _NAMED.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")


def json_text(path: str | os.PathLike[str]) -> str:
    """``path`` for JSON: exact where it is text (JSON escapes control characters itself), U+FFFD for bytes."""
    return _SURROGATE.sub("\ufffd", os.fspath(path))


def path_bytes(path: str | os.PathLike[str]) -> str | None:
    """The path's bytes in hex when its text lost something (a name that is not UTF-8), else None."""
    text = os.fspath(path)
    if not _SURROGATE.search(text):
        return None
    try:
        return os.fsencode(text).hex()
    except UnicodeEncodeError:  # a lone surrogate that was not made from a byte (Windows): keep what we can
        return text.encode("utf-8", "surrogatepass").hex()


_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+')
_MAX_NAME = 120
#: ... and at most this many bytes of UTF-8: a Linux or macOS file name may have 255, and what is written beside it
#: while it is made (fsutil.atomic_path: ``.NAME.PID-HOST-XXXXXXXX.part``) adds some 35 to the name and its suffix
#: (``.xlsx``) and a number that tells two rows of one name apart (``_2``). 120 Chinese characters were 360 bytes:
#: ``generate --roster`` died with an English "File name too long". Names of up to this many bytes are kept as they were.
_MAX_NAME_BYTES = 200


def safe_filename(*parts: str) -> str:
    """A readable file name from the parts (Chinese kept), safe on Windows, macOS and Linux."""
    text = "_".join(p for p in (unicodedata.normalize("NFC", str(x)).strip() for x in parts) if p)
    text = _INVISIBLE.sub("_", _SURROGATE.sub("\ufffd", text))  # a key from a return may hold anything
    text = _UNSAFE.sub("_", text)
    text = re.sub(r"\s+", " ", text).strip(" .")
    text = re.sub(r"_+", "_", text)
    if len(text) > _MAX_NAME:
        text = text[:_MAX_NAME].rstrip(" ._")
    if len(text.encode("utf-8", "surrogatepass")) > _MAX_NAME_BYTES:
        text = text.encode("utf-8", "surrogatepass")[:_MAX_NAME_BYTES].decode("utf-8", "ignore").rstrip(" ._")
    return text or "workbook"
