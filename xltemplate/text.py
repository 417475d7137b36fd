"""Text helpers written once: numbers as text, did-you-mean, invisible characters, CSV cells.

Every message, cell and export that shows a number, suggests a near miss, strips control
characters or neutralises a CSV cell goes through here, so they all say it the same way.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Iterable

from .pathtext import json_text

#: Invisible control characters in a text, as characters or as the ``_x0001_`` escapes of OOXML.
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|_x00(?:0[0-8BbCcEeFf]|1[0-9A-Fa-f])_")
#: Leftover web markup in a text pasted from an online system.
MARKUP = re.compile(r"</?(p|br|div|span|font|b|strong|table|tr|td)\b[^>]*>|&nbsp;|&lt;|&gt;", re.I)
_TAGS = re.compile(r"<[^>]{0,200}>")
#: What a spreadsheet program runs as a formula when a CSV cell starts with it (OWASP's list).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


# -- numbers -----------------------------------------------------------------------------------

def plain_number(d: Decimal) -> str:
    """A number as people and formulas write it: 36, 12.5 (no exponent, no trailing zeros)."""
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def json_number(d: Decimal | None) -> int | float | None:
    """A Decimal as JSON wants it: 36 stays an int, 7.5 a float."""
    if d is None:
        return None
    return int(d) if d == d.to_integral() else float(d)


def money(d: Decimal) -> str:
    """An amount of yuan as a clerk reads it: 8,993,600.00."""
    return f"{d:,.2f}"


def show(v: Any) -> str:
    """A value inside a message: numbers plain, dates ISO, nothing as an empty text."""
    if isinstance(v, Decimal):
        return plain_number(v)
    if isinstance(v, dt.date):
        return v.isoformat()
    return "" if v is None else str(v)


def clip(value: Any, n: int = 40) -> str:
    """At most ``n`` characters of a value, then "…" (what a message quotes of a long text)."""
    s = "" if value is None else str(value)
    return s if len(s) <= n else s[:n] + "…"


# -- near misses ----------------------------------------------------------------------------------

def did_you_mean(word: str, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The candidate closest to ``word``, when one is close enough to be a slip of the keyboard."""
    hint = difflib.get_close_matches(word, list(candidates), n=1, cutoff=cutoff)
    return hint[0] if hint else None


# -- texts from returns ---------------------------------------------------------------------------

def cell_text(v: Any) -> str | None:
    """A value as text for the roll-up: numbers plain, invisible control characters removed."""
    if v is None:
        return None
    if isinstance(v, Decimal):
        return plain_number(v)
    return CONTROL_CHARS.sub("", str(v))


def strip_markup(text: str | None) -> str | None:
    """A text without its web markup (the roll-up's 文字材料)."""
    if text is None:
        return None
    return _TAGS.sub("", text).replace("&nbsp;", " ").strip()


# -- CSV ----------------------------------------------------------------------------------------------

def csv_cell(v: Any, places: int | None = None) -> str:
    """A value as CSV text; text a spreadsheet would run as a formula gets a leading apostrophe.

    ``places``: round a number half up to that many decimals, as the roll-up displays it.
    """
    if v is None:
        return ""
    if isinstance(v, bool):
        return "是" if v else "否"
    if isinstance(v, Decimal):
        if places is not None and v.is_finite() and v.adjusted() < 20:
            v = v.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        return plain_number(v)
    if hasattr(v, "isoformat"):
        return str(v.isoformat())
    text = json_text(str(v))  # a name that is not UTF-8 cannot be encoded: U+FFFD
    if text.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_text(cell: str) -> str:
    """The text :func:`csv_cell` neutralised, as it was (for reading back a CSV we wrote)."""
    if cell.startswith("'") and cell[1:].startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(cell[1:]):
        return cell[1:]
    return cell
