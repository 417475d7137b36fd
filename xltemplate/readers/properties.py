"""What both readers read the same way, from the same bytes: document properties, defined names' targets.

The saved time (``docProps/core.xml``, converted to naive UTC), the program that saved the file
(``docProps/app.xml``), the custom properties (``docProps/custom.xml``, which mirror the
metadata) and where a defined name points are parsed here, with the safe expat parser, for the
fast reader and the openpyxl reference alike: the differential test compares their submissions,
and these parts can no longer differ between them. The metadata sheet is read by
:func:`xltemplate.meta.read` for both.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from typing import Any

from .. import meta
from .package import SEP, Stop, memo, parse_xml

_CELL_RE = re.compile(r"^\$?([A-Z]{1,3})\$?(\d{1,7})$")
#: A custom property's text is cut to what a cell can hold (a forged one can be megabytes long).
MAX_PROPERTY_CHARS = 32767


_LOCAL: dict[str, str] = {}


def local(tag: str) -> str:
    """The local name of a namespaced tag (memoised: the same few tags come back thousands of times)."""
    local = _LOCAL.get(tag)
    if local is None:
        local = _LOCAL[tag] = tag.rsplit(SEP, 1)[-1]
    return local


@lru_cache(maxsize=4096)  # the same names point at the same cells in return after return (a pure function of the text)
def destination(text: str) -> tuple[str, str] | None:
    """``'Sheet'!$B$3`` → (Sheet, B3); anything that is not one cell on one sheet → None."""
    text = text.strip()
    if "!" not in text:
        return None
    sheet, _, ref = text.rpartition("!")
    if sheet.startswith("'") and sheet.endswith("'") and len(sheet) >= 2:
        sheet = sheet[1:-1].replace("''", "'")
    m = _CELL_RE.match(ref)
    if m is None or not sheet:
        return None
    return sheet, f"{m.group(1)}{m.group(2)}"


def _texts(data: bytes | None, part: str) -> dict[str, str]:
    """Leaf element texts by local name (first occurrence wins), for the small docProps parts."""
    out: dict[str, str] = {}
    if not data:
        return out
    stack: list[str] = []
    buf: list[str] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        stack.append(local(tag))
        buf.clear()

    def end(tag: str) -> None:
        local = stack.pop()
        out.setdefault(local, "".join(buf))
        buf.clear()

    def text(t: str) -> None:
        buf.append(t)

    parse_xml(data, part, start, end, text)
    return out


def core(data: bytes | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    t = _texts(data, "docProps/core.xml")
    return w3cdtf(t.get("modified")), w3cdtf(t.get("created"))


def w3cdtf(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    from openpyxl.utils.datetime import from_ISO8601

    try:
        value = from_ISO8601(text.strip())
    except (ValueError, TypeError):
        return None
    if not isinstance(value, dt.datetime):
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value.replace(microsecond=0)


def app(data: bytes | None) -> str | None:
    if not data:
        return None
    found: list[str] = []
    inside = [False]

    def start(tag: str, attrs: dict[str, str]) -> None:
        inside[0] = local(tag) == "Application"

    def end(tag: str) -> None:
        if inside[0]:
            raise Stop  # the rest of app.xml lists every defined name: not needed
        inside[0] = False

    def text(t: str) -> None:
        if inside[0]:
            found.append(t)

    parse_xml(data, "docProps/app.xml", start, end, text)
    value = "".join(found).strip()
    return value[:100] if value else None


def custom(data: bytes | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if not data:
        return out
    cur: dict[str, Any] = {"name": None, "type": None, "buf": []}

    def start(tag: str, attrs: dict[str, str]) -> None:
        name = local(tag)
        if name == "property":
            cur["name"], cur["type"], cur["buf"] = attrs.get("name"), None, []
        elif cur["name"] is not None and cur["type"] is None:
            cur["type"] = name

    def end(tag: str) -> None:
        if local(tag) == "property" and cur["name"] is not None:
            out[cur["name"][:meta.MAX_VALUE_CHARS]] = _propmeta_text(cur["type"], "".join(cur["buf"]))[:MAX_PROPERTY_CHARS]
            cur["name"] = None

    def text(t: str) -> None:
        if cur["name"] is not None:
            cur["buf"].append(t)

    parse_xml(data, "docProps/custom.xml", start, end, text)
    return out


def _propmeta_text(kind: str | None, text: str) -> str:
    """A custom property's value as text, the way the reference reader renders it."""
    try:
        if kind in ("i1", "i2", "i4", "i8", "int", "uint", "ui1", "ui2", "ui4", "ui8"):
            return str(int(text))
        if kind in ("r4", "r8", "decimal"):
            v = float(text)
            return str(int(v)) if v.is_integer() else str(v)
        if kind == "bool":
            return str(text.strip().lower() in ("1", "true"))
        if kind == "filetime":
            value = w3cdtf(text)
            return value.isoformat() if value else text
    except ValueError:
        return text
    return text


def document(pkg: Any) -> tuple[dt.datetime | None, str | None, dict[str, str]]:
    """(saved time, the program that saved the file, custom properties) from a package's docProps parts.

    Each is remembered by its bytes (returns of one template share app.xml, and often the others).
    """
    saved_at, _ = memo(core, pkg.read("docProps/core.xml")) if "docProps/core.xml" in pkg.names else (None, None)
    try:
        application = memo(app, pkg.read("docProps/app.xml")) if "docProps/app.xml" in pkg.names else None
    except Exception:  # only says which program saved the file: a broken one is not worth refusing the file for
        application = None
    props = dict(memo(custom, pkg.read("docProps/custom.xml"))) if "docProps/custom.xml" in pkg.names else {}
    return saved_at, application, props
