"""What a cell shows a person, as opposed to what it holds.

Validation counts the value a cell holds: the one formulas compute with, the
formula bar shows, the roll-up and every other program read. A person, though,
sees it through its number format and the sheet's merged ranges, and a file can
be made to show something else than it holds: a format ``;;;`` shows nothing,
``"7"`` shows 7 whatever the value, ``0"0"`` shows 80 for 8, and a merged range
hides every cell but its top-left one. Both readers report such cells (see
:attr:`~xltemplate.submission.Submission.concealed`) and validation refuses them,
so that what a reviewer sees in the file is never less than what was counted.

Colours other than a format's own ``[White]``, fonts, hidden rows and columns
and conditional formats are not examined: the template lets a person hide rows
and columns, and the stored values are what the report and the roll-up show.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from ..submission import split_a1

MERGED = "merged"
FORMAT = "format"

# A section's parts that are not placeholders: quoted literals, escaped and fill characters, brackets.
_LITERAL = re.compile(r'"[^"]*"|\\.|[_*].', re.S)
_BRACKET = re.compile(r"\[([^\]]*)\]")
_PLACEHOLDER = re.compile(r"[0#?@]|general|g/通用格式|[ymdhsbe]", re.I)  # G/通用格式: General in Chinese WPS
_SCALING = re.compile(r"[0#?],+(?=[^0#?,]|$)")  # commas after the last digit divide by 1,000 each
_DIGIT_LITERAL = re.compile(r'"[^"]*\d[^"]*"|\\\d')
_CONDITION = re.compile(r"^[<>=]")
_HIDING_COLOURS = {"white", "color2"}


def _sections(code: str) -> list[str]:
    """The ``;``-separated sections of a format code (a ``;`` inside quotes or brackets does not count)."""
    out, buf, quote, bracket, i = [], [], False, False, 0
    while i < len(code):
        ch = code[i]
        if ch == "\\" and not quote and i + 1 < len(code):
            buf.append(code[i:i + 2])
            i += 2
            continue
        if ch == '"' and not bracket:
            quote = not quote
        elif ch == "[" and not quote:
            bracket = True
        elif ch == "]" and not quote:
            bracket = False
        elif ch == ";" and not quote and not bracket:
            out.append("".join(buf))
            buf = []
            i += 1
            continue
        buf.append(ch)
        i += 1
    out.append("".join(buf))
    return out


@lru_cache(maxsize=256)
def _section_shows(section: str) -> bool:
    """Whether one section shows the value itself (not nothing, a fixed text, or other digits)."""
    if _DIGIT_LITERAL.search(section):
        return False  # literal digits beside (or instead of) the value: 8 shown as 80, or "7"
    brackets = [b.strip().lower() for b in _BRACKET.findall(section)]
    if any(b in _HIDING_COLOURS for b in brackets):
        return False  # white text
    elapsed = any(re.fullmatch(r"h+|m+|s+", b) for b in brackets)
    rest = _BRACKET.sub("", _LITERAL.sub("", section))
    if _SCALING.search(rest):
        return False  # a trailing comma divides by 1,000 per comma: 8000 shown as 8
    return elapsed or bool(_PLACEHOLDER.search(rest))


@lru_cache(maxsize=256)
def _parsed(code: str) -> tuple[list[str], bool]:
    sections = _sections(code)
    conditional = any(_CONDITION.match(b.strip()) for s in sections for b in _BRACKET.findall(s))
    return sections, conditional


def may_conceal(code: str) -> bool:
    """Whether a format code can show some value as something else (checked once per style)."""
    sections, _ = _parsed(code)
    return not all(_section_shows(s) for s in sections) or len(sections) > 4


def conceals(code: str, value: Any) -> bool:
    """Whether ``value`` in a cell with number format ``code`` is hidden or shown as something else."""
    if value is None or value == "":
        return False
    sections, conditional = _parsed(code)
    if len(sections) > 4:
        return True  # not a format any program accepts as written
    if conditional:
        return not all(_section_shows(s) for s in sections)  # which section applies is the engine's call
    if isinstance(value, str):
        if len(sections) == 4:
            return "@" not in _BRACKET.sub("", _LITERAL.sub("", sections[3])) or not _section_shows(sections[3])
        return False  # with fewer sections, text is shown as it is
    if isinstance(value, bool):
        return False  # TRUE and FALSE are shown whatever the format
    if not isinstance(value, (int, float)):  # a date or time read from a date-formatted number
        return not _section_shows(sections[0])
    if value > 0 or len(sections) == 1:
        section = sections[0]
    elif value < 0:
        section = sections[1] if len(sections) > 1 else sections[0]
    else:
        section = sections[2] if len(sections) > 2 else sections[0]
    return not _section_shows(section)


def merged_cover(ranges: list[tuple[int, int, int, int]], cells: dict[str, Any], max_row: int, max_col: int) -> set[str]:
    """The cells of ``cells`` (A1 → anything) hidden under a merged range: every one but its top-left.

    ``ranges`` are (first row, first column, last row, last column), 1-based; only the part within
    ``max_row`` × ``max_col`` matters, so a range spanning the whole sheet costs what the cells cost.
    """
    if not ranges or not cells:
        return set()
    covered = _covered(tuple(ranges), max_row, max_col)
    if covered is not None:
        return {a1 for a1 in covered if a1 in cells}
    positions: dict[tuple[int, int], str] | None = None
    out: set[str] = set()
    for r1, c1, r2, c2 in ranges:
        r2c, c2c = min(r2, max_row), min(c2, max_col)
        if r1 > r2c or c1 > c2c:
            continue
        if (r2c - r1 + 1) * (c2c - c1 + 1) <= len(cells):
            for c in range(c1, c2c + 1):
                letters = _LETTERS[c] if c < len(_LETTERS) else _letters(c)
                for r in range(r1, r2c + 1):
                    a1 = f"{letters}{r}"
                    if a1 in cells and (r, c) != (r1, c1):
                        out.add(a1)
        else:
            if positions is None:
                positions = {split_a1(a1): a1 for a1 in cells}
            for (r, c), a1 in positions.items():
                if r1 <= r <= r2c and c1 <= c <= c2c and (r, c) != (r1, c1):
                    out.add(a1)
    return out


@lru_cache(maxsize=64)
def _covered(ranges: tuple[tuple[int, int, int, int], ...], max_row: int, max_col: int) -> tuple[str, ...] | None:
    """Every cell the ranges hide (within the bounds), worked out once for the ranges of a template;
    None when they cover too many cells to list (a range over the whole sheet)."""
    out: list[str] = []
    for r1, c1, r2, c2 in ranges:
        r2c, c2c = min(r2, max_row), min(c2, max_col)
        if r1 > r2c or c1 > c2c:
            continue
        if len(out) + (r2c - r1 + 1) * (c2c - c1 + 1) > 4096:
            return None
        for c in range(c1, c2c + 1):
            letters = _LETTERS[c] if c < len(_LETTERS) else _letters(c)
            out.extend(f"{letters}{r}" for r in range(r1, r2c + 1) if (r, c) != (r1, c1))
    return tuple(out)


def _letters(n: int) -> str:
    out = ""
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


_LETTERS = [""] + [_letters(n) for n in range(1, 703)]
