"""Page geometry for printing on A4: scale, column pages, text measures, row heights, page breaks.

A spreadsheet program prints what the file says. It does not grow a row whose
height the file gives when its wrapped text needs more, it cuts a row at 409 pt,
and Excel ignores manual page breaks on a sheet set to fit a page width (XlsxWriter's
documentation says so). So the writers decide every height, scale and break here,
from one model of the page:

- widths are Excel column units: the default font's widest digit, 7 px at 96 dpi for
  Arial 10 (the workbooks' default font, see :data:`DEFAULT_FONT`);
- a column's width on one line (:func:`text_units`) counts a CJK character one em wide (宋体 in
  Excel, Noto Sans CJK in LibreOffice) and any other 0.6 em; wrapped text is laid out word by
  word as each program would, with its own room and fonts, and the larger count taken
  (:func:`count_lines`);
- a wrapped line takes :data:`LINE_FACTOR` 1.46 × the font size: LibreOffice draws a line of CJK text
  at 1.443-1.456 em (Noto Sans CJK's ascent and descent, 1.448 em, rounded to its grid; measured
  in its prints, tests/test_row_heights_engine.py), Latin text at 1.17 em; Excel draws 宋体 11 at
  14.25 pt (1.3 em) a line;
- a sheet with manual page breaks gets a written scale (a sheet fitted to the page width
  loses them in Excel), chosen so that its columns fit the page with :data:`ENGINE_SLACK`
  to spare; other sheets are fitted to the width when that keeps the text readable, and
  otherwise run over several pages wide with their key columns repeated.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from typing import Any, Callable, Iterable, Sequence

A4_PT = (595.28, 841.89)  # portrait width, height
XLSX_A4 = 9  # the paperSize code of A4
PT_PER_INCH = 72.0
PT_PER_PX = 0.75  # 96 dpi
PX_PER_UNIT = 7  # Excel's column unit for Arial 10 (and Calibri 11): the widest digit, in pixels
PT_PER_UNIT = PX_PER_UNIT * PT_PER_PX
#: The workbooks' default ("Normal") font. Column units are measured with it: Arial is on every
#: Windows machine and LibreOffice has a metric twin (Liberation Sans) wherever it runs, so a
#: column is about as wide in LibreOffice as in Excel. With Calibri, LibreOffice on a machine
#: without Carlito (the project's CI machine) draws every column a third wider than Excel does.
DEFAULT_FONT = {"font_name": "Arial", "font_size": 10}
#: LibreOffice measures the unit with the digit's unrounded width (7.41 px for Arial 10), about
#: 6 % wider than Excel's 7 px: column pages are filled to 1 / ENGINE_SLACK of their width.
ENGINE_SLACK = 1.06
#: Excel's largest row height.
MAX_ROW_PT = 409.0
#: Scales are chosen so body text prints at least this large: a little above the rule (8 pt,
#: "readable at 100 % on A4"), so that a rounding in some program never takes it under.
READABLE_PT = 8.5
#: Line height / font size, for wrapped text. LibreOffice's CJK line (1.456 em at 11 pt, 1.451 at 10 pt) is the
#: tallest of the programs': at 1.4 a row of more than ~6 lines of CJK text at 10 pt had its last line's lower edge
#: cut on paper. Every line of every text is counted this tall (a Latin line is 1.17 em in LibreOffice, 1.3 in Excel):
#: a row a little too tall shows all its text, a row too short hides some.
LINE_FACTOR = 1.46
ROW_PADDING_PT = 3.0
WIDE_EM, NARROW_EM = 1.0, 0.6
CELL_PADDING_UNITS = 1.0  # inner margins of a cell, both sides, in column units
#: Excel rounds every row height to whole pixels: pages are filled to this share of their height.
PAGE_FILL = 0.97
FOOTER = "&C第 &P 页，共 &N 页"

_ASCII_WORD = re.compile(r"[!-~]+")


@dataclass(frozen=True)
class Page:
    """An A4 page: orientation and margins (inches, as Excel's page setup)."""

    landscape: bool = True
    left: float = 0.3
    right: float = 0.3
    top: float = 0.5
    bottom: float = 0.55
    footer: float = 0.25  # the footer's distance from the paper's edge

    @property
    def width_pt(self) -> float:
        """Printable width."""
        paper = A4_PT[1] if self.landscape else A4_PT[0]
        return paper - (self.left + self.right) * PT_PER_INCH

    @property
    def height_pt(self) -> float:
        """Printable height."""
        paper = A4_PT[0] if self.landscape else A4_PT[1]
        return paper - (self.top + self.bottom) * PT_PER_INCH

    def margins(self) -> dict[str, float]:
        """Keyword arguments for XlsxWriter's ``set_margins``."""
        return {"left": self.left, "right": self.right, "top": self.top, "bottom": self.bottom}


# -- measures ---------------------------------------------------------------------------------


def column_px(width: float) -> int:
    """Pixels of a column ``width`` units wide, as XlsxWriter writes it and Excel draws it."""
    if width <= 0:
        return 0
    if width < 1:
        return int(width * (PX_PER_UNIT + 5) + 0.5)
    return int(width * PX_PER_UNIT + 0.5) + 5


def columns_pt(widths: Iterable[float]) -> float:
    """Printed width of columns at 100 %."""
    return sum(column_px(w) for w in widths) * PT_PER_PX


def units_of_px(px: float) -> float:
    """The column width whose pixels are ``px`` (the inverse of :func:`column_px`)."""
    return max(0.0, (px - 5) / PX_PER_UNIT)


def text_units(text: str, font_pt: float = 11.0) -> float:
    """Width of ``text`` on one line, in column units.

    Counted from the UTF-8 length (a CJK character is three bytes), so a 10,000-character
    text costs one encode, not a Python loop: this runs for every row of a 10,000-unit roll-up.
    """
    n = len(text)
    wide = (len(text.encode("utf-8")) - n) // 2
    return (WIDE_EM * wide + NARROW_EM * (n - wide)) * font_pt / PT_PER_UNIT


def wrapped_lines(text: str, width_chars: float, font_pt: float = 11.0, bold: bool = False) -> int:
    """:func:`count_lines`, remembered for short texts: a workbook asks it for its headers, labels and indicator
    names (some 140 a national workbook), mostly the same from one workbook to the next (a pure function)."""
    if isinstance(text, str):
        if len(text) <= 128:
            return _short_lines(text, width_chars, font_pt, bold)
        return _long_lines(text, width_chars, font_pt, bold)
    return count_lines(text, width_chars, font_pt, bold)


@lru_cache(maxsize=4096)  # at most some 4096 × 128 characters held
def _short_lines(text: str, width_chars: float, font_pt: float, bold: bool) -> int:
    return count_lines(text, width_chars, font_pt, bold)


@lru_cache(maxsize=64)  # a long text is measured a few times in a row (its row's height, then how to cut it): the last 64
def _long_lines(text: str, width_chars: float, font_pt: float, bold: bool) -> int:
    return count_lines(text, width_chars, font_pt, bold)


# -- line breaking ------------------------------------------------------------------------------
# A text is laid out twice, once for each program, and the estimate is the larger count:
# - LibreOffice: its column is wider than Excel's (its unit is 7.41 px, see ENGINE_SLACK) with 1 pt inside either edge
#   (LO_INNER_PT). Its fonts for 宋体 are proportional: a character is as wide as the widest of DejaVu Sans (its stand-in
#   on Linux, the widest), Liberation Sans (Arial's metrics) and Noto Sans CJK, in the regular or the bold face.
# - Excel: the column less CELL_PADDING_UNITS (its inner margins, and its printing a little wider than its screen),
#   with 宋体 (every ASCII character half an em, 0.55 with Excel's rounding to whole pixels) or Arial (Liberation Sans,
#   regular or bold ÷ 1.05); bold text 5 % wider (宋体 has no bold face: Excel thickens it).
# Widths are in em, read from the fonts' hmtx tables and rounded up to 1/100 em; a CJK character is an em in all.
_LO_REGULAR = (
    32, 41, 48, 84, 64, 96, 78, 28, 40, 40, 50, 84, 32, 37, 32, 40, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 34, 34,
    84, 84, 84, 56, 102, 69, 69, 73, 78, 67, 62, 78, 76, 30, 54, 67, 56, 87, 75, 79, 67, 79, 73, 67, 62, 74, 69, 99,
    69, 67, 69, 40, 40, 40, 84, 56, 61, 62, 64, 55, 64, 62, 36, 64, 64, 28, 28, 58, 29, 98, 64, 62, 64, 64, 42, 53,
    40, 64, 60, 82, 60, 60, 53, 64, 34, 64, 84)  # " " to "~"
_LO_BOLD = (
    35, 46, 58, 84, 70, 101, 88, 33, 46, 46, 53, 84, 38, 42, 38, 39, 70, 70, 70, 70, 70, 70, 70, 70, 70, 70, 40, 40,
    84, 84, 84, 62, 101, 78, 77, 74, 84, 69, 69, 83, 84, 38, 57, 78, 64, 100, 84, 86, 74, 86, 78, 73, 69, 82, 78, 111,
    78, 73, 73, 46, 39, 46, 84, 57, 63, 68, 72, 60, 72, 68, 44, 72, 72, 35, 35, 67, 35, 105, 72, 69, 72, 72, 50, 60,
    48, 72, 66, 93, 65, 66, 59, 72, 37, 72, 84)
_EXCEL_ASCII = (
    55, 55, 55, 56, 56, 89, 69, 55, 55, 55, 55, 59, 55, 55, 55, 55, 56, 56, 56, 56, 56, 56, 56, 56, 56, 56, 55, 55,
    59, 59, 59, 59, 102, 69, 69, 73, 73, 67, 62, 78, 73, 55, 55, 69, 59, 84, 73, 78, 67, 78, 73, 67, 62, 73, 67, 95,
    67, 67, 62, 55, 55, 55, 56, 56, 55, 56, 59, 55, 59, 56, 55, 59, 59, 55, 55, 55, 55, 85, 59, 59, 59, 59, 55, 55,
    55, 59, 55, 75, 55, 55, 55, 55, 55, 55, 59)


def _by_byte(ascii_em: Sequence[int]) -> tuple[float, ...]:
    """Widths by ASCII code, in em: a control character (a tab) as a whole em."""
    return tuple([1.0] * 32 + [v / 100 for v in ascii_em] + [1.0])


_PROPORTIONAL, _PROPORTIONAL_BOLD, _EXCEL = _by_byte(_LO_REGULAR), _by_byte(_LO_BOLD), _by_byte(_EXCEL_ASCII)
#: The estimate's two shortcuts: a text whose widest width fits on a line in both programs is one line without being
#: laid out, and a word of ASCII and em-wide characters is measured without a loop (off: the long way, for the tests).
LINE_SHORTCUTS = True
#: LibreOffice's inner margins (1 pt either side, measured in its PDFs) and 1 pt to spare.
LO_INNER_PT = 3.0
#: Excel thickens 宋体 for bold (it has no bold face): about a pixel a character.
EXCEL_BOLD = 1.05
#: Characters outside the CJK blocks wider than an em in one of those fonts (every other one counts an em, as in 宋体).
_WIDER_EM = {**dict.fromkeys(
    "ÆŒœŴƢǆǇǊǋǌǢǳǶǼȸȹʣʤʥϢЉЊЖШЮшщѩѬѰѱѸѺѽҖҤҦҴӁӍӔӜԂԄԈԊԔԕԖԘԜԠԡԢẀẂẄẆẈἚἛἝἪἫἬἭἮἯὊὋὌὍὛὝὪὫὬὭὯᾚᾛᾜᾝᾞᾟᾪᾫᾬᾭᾯῊῸῺ₨₩℀℁℃℅℆℉ℋ№℠℡ℳⅣ"
    "ⅥⅨⅪⅶⅻↀↂ∭∰≔≕≪≫⋲⋺⌤⌥⌧⎇◯☍☎☹☺☻⚢⚣⚤⟴⬤Ⱳⱳꓪ\ufffd", 1.25),
    **dict.fromkeys("ǄǅǱǲЩѠѨѼѾ‰₧₯℻⅒ⅦⅫⅷ⋘⋙⌦⌨⌫☏⟵⟶⟷⟸⟹⟺⟻⟼⟽⟾⟿", 1.5), **dict.fromkeys("‱Ⅷ⨌⸺", 2.0), "⸻": 2.5}
#: Scripts whose letters run wider (Armenian to Mongolian, Cyrillic and Latin extensions, presentation forms): 2 em each.
_WIDE_SCRIPTS = re.compile("[\u0530-\u1dff\ua640-\ua7ff\ufb00-\ufdff\ufe70-\ufeff]")
#: What the estimate keeps together as one word: Latin, digits, and every character outside the CJK blocks (Greek,
#: Cyrillic, dashes, quotes); and a CJK character on either side of such a run is glued to it (LibreOffice breaks
#: between "中" and "A", Excel is not known to). CJK text breaks between any two characters, its punctuation too (a
#: closing mark that may not start a line is printed by LibreOffice on the line before, as the engine test shows;
#: the line height leaves room for a line more where a program moves a character down with it).
_W = "!-~\u0080-\u1fff\u200c-\u2027\u202a-\u2e7f"
_C = "\u2e80-\U0010ffff"
_TOKEN = re.compile(f"(?P<w>[{_C}]?(?:[{_W}]+[{_C}]?)+)|(?P<s>[ \u2000-\u200b]+)|(?P<c>(?:[{_C}](?![{_W}]))+)|(?P<o>.)",
                    re.S)
#: Where LibreOffice (ICU's rules) may break inside a word too long for a line: after a hyphen or slash not followed by
#: a digit, and beside a CJK character; Excel is taken to break only after a hyphen. (Spaces, and CJK text between
#: words, are breaks for every engine.)
_BREAK_ICU = re.compile(f"(?<=[-/])(?![0-9])|(?<=[{_C}])|(?=[{_C}])")
_BREAK_HYPHEN = re.compile("(?<=-)(?![0-9])")
_Token = tuple[int, Any]  # (kind, payload): see _tokens


#: For the quick test of a text that fits on one line: an upper bound of a character's width in either set, by the high
#: byte of its UTF-16 code unit (ASCII apart, from both tables; a character beyond the BMP is two units, each an em).
_HIGH_EM = [1.0] * 256
for _first, _last, _em_most in ((0x00, 0x00, 1.25), (0x01, 0x04, 1.5), (0x05, 0x1D, 2.0), (0x1E, 0x1F, 1.25),
                                (0x20, 0x2D, 2.0), (0x2E, 0x2E, 2.5), (0xA4, 0xA4, 1.25), (0xA6, 0xA7, 2.0),
                                (0xFB, 0xFE, 2.0), (0xFF, 0xFF, 1.25)):
    _HIGH_EM[_first:_last + 1] = [_em_most] * (_last - _first + 1)
_HIGH_EM_BYTES = tuple(_HIGH_EM)


#: Characters other than ASCII that are not an em wide (see _em): a word without any is measured without a loop.
_ODD = re.compile("[" + "".join(_WIDER_EM) + "\u0530-\u1dff\ua640-\ua7ff\ufb00-\ufdff\ufe70-\ufeff"
                  "\ud800-\udfff\U00010000-\U0010ffff]")


def surely_one_line(text: str, width_chars: float, font_pt: float) -> bool:
    """Whether ``text`` (not bold) takes one line in a cell ``width_chars`` units wide by its length alone, without
    :func:`count_lines`: no line break, every character at most an em wide (ASCII, 1.02 em at the widest, or none of
    :data:`_ODD`'s), and the text within the column less 2 units at 1.05 em a character (Excel's room is the column
    less 1, LibreOffice's at least that). A text it is not sure of is to be measured. (The roll-up's tables asked the
    length alone: a short text of characters two ems wide, emoji or CJK beyond the BMP as in a rare name, kept a row of
    one line where :func:`count_lines` gives two.)"""
    return (len(text) * 2.0 * font_pt / 10 <= width_chars - 2 and "\n" not in text
            and (text.isascii() or _ODD.search(text) is None))


def _upper_em(para: str, office: Sequence[float]) -> tuple[float, float]:
    """Upper bounds of ``para``'s width on one line, in em, in LibreOffice's fonts (``office``) and in Excel's."""
    narrow = para.encode("ascii", "ignore")
    if len(narrow) == len(para) or _ODD.search(para) is None:  # every other character an em: the exact widths
        rest = float(len(para) - len(narrow))
        return sum(map(office.__getitem__, narrow)) + rest, sum(map(_EXCEL.__getitem__, narrow)) + rest
    high = para.encode("utf-16-be")[::2]
    # the ASCII characters' high byte is 0 too: take them off the Latin-1 count (an em and a quarter each)
    rest = sum(map(_HIGH_EM_BYTES.__getitem__, high)) - len(narrow) * _HIGH_EM_BYTES[0]
    return sum(map(office.__getitem__, narrow)) + rest, sum(map(_EXCEL.__getitem__, narrow)) + rest



def _em(ch: str, ascii_em: Sequence[float]) -> float:
    """Width of one character in em."""
    o = ord(ch)
    if o < 128:
        return ascii_em[o]
    if o >= 0x10000:
        return 2.0  # emoji and rarer CJK: up to 1.3 em in the emoji fonts
    if _WIDE_SCRIPTS.match(ch):
        return 2.0
    return _WIDER_EM.get(ch, 1.0)


def _word_em(word: str, ascii_em: Sequence[float]) -> float:
    if word.isascii():
        return sum(map(ascii_em.__getitem__, word.encode("ascii")))
    if LINE_SHORTCUTS and _ODD.search(word) is None:  # every other character an em
        narrow = word.encode("ascii", "ignore")
        return sum(map(ascii_em.__getitem__, narrow)) + len(word) - len(narrow)
    return sum(_em(ch, ascii_em) for ch in word)


@lru_cache(maxsize=256)  # (a word is laid out for each program in turn)
def _break_places(word: str) -> tuple[list[int], list[int]]:
    """Where LibreOffice and where Excel may break inside ``word`` (offsets, in order; never before its first character)."""
    icu, hyphen = ({m.start() for m in pattern.finditer(word)} - {0} for pattern in (_BREAK_ICU, _BREAK_HYPHEN))
    return sorted(icu), sorted(hyphen)


def _long_word(word: str, room: float, scale: float, ascii_em: Sequence[float]) -> tuple[list[int], float]:
    """Where the lines after the first start (offsets in ``word``), and the width left on the last, of a word wider
    than a line put at the start of a new one.

    Each line ends where the engine that gets least far would end it: at the last place inside the word where it may
    break that fits (LibreOffice's places and Excel's apart), or, where none fits, after as many characters as fit.
    Taking the lesser end on every line keeps the count at or above each engine's (an engine's end only moves on when
    the start of its line does).
    """
    if word.isascii():
        widths = [ascii_em[b] * scale for b in word.encode("ascii")]
    else:
        widths = [_em(ch, ascii_em) * scale for ch in word]
    at = [0.0, *accumulate(widths)]  # at[i]: the width of word[:i]
    ends = _break_places(word)
    n, pos, starts = len(word), 0, list[int]()
    while True:
        j = bisect_right(at, at[pos] + room) - 1  # as many characters as fit
        if j == pos:  # a character wider than the line takes one of its own
            j += 1
        if j >= n:
            return starts, at[n] - at[pos]
        end = j
        for places in ends:
            k = bisect_right(places, j) - 1
            if k >= 0 and places[k] > pos and places[k] < end:
                end = places[k]
        pos = end
        starts.append(pos)


def _lay_out(tokens: list[tuple[str, str, str, str]], room: float, scale: float, ascii_em: Sequence[float]) -> int:
    """Lines of one paragraph (``_TOKEN.findall`` of it), its characters as wide as ``ascii_em`` says (see count_lines)."""
    lines, used, hung = 1, 0.0, False
    for word, spaces, cjk, other in tokens:
        hung = False
        if word:
            w = _word_em(word, ascii_em) * scale
            if used + w <= room:
                used += w
            elif w <= room:
                lines += 1
                used = w
            else:  # too long for any line: it starts one of its own (an engine might begin it on this one)
                if used > 0:
                    lines += 1
                starts, used = _long_word(word, room, scale, ascii_em)
                lines += len(starts)
        elif spaces:
            w = (_word_em(spaces, ascii_em) if spaces.isascii() else len(spaces)) * scale
            if used + w > room:  # the line breaks at the spaces, which hang at its end
                lines += 1
                used, hung = 0.0, True
            else:
                used += w
        else:  # CJK text: a break may fall between any two characters
            if cjk:
                char, count = scale, len(cjk.encode("utf-16-le")) // 2  # a character beyond the BMP as two
            else:  # a control character, or a line or paragraph separator: one, as wide as it is
                char, count = _em(other, ascii_em) * scale, 1
            fit = int((room - used) // char) if used + char <= room else 0
            if count <= fit:
                used += count * char
                continue
            count -= fit
            per = max(1, int(room // char))
            lines += 1 + (count - 1) // per
            used = ((count - 1) % per + 1) * char
    return lines - 1 if hung else lines  # (spaces at the very end start no line)


def _lines_end(para: str, room: float, scale: float, ascii_em: Sequence[float], want: int) -> int:
    """How many characters of ``para`` its first ``want`` lines hold, laid out as :func:`_lay_out` does (``len(para)``
    when it takes no more): where :func:`split_text` cuts, found in one walk."""
    lines, used = 1, 0.0
    for m in _TOKEN.finditer(para):
        word, spaces, cjk, other = m.groups()
        at = m.start()
        if word:
            w = _word_em(word, ascii_em) * scale
            if used + w <= room:
                used += w
            elif w <= room:
                if lines == want:
                    return at
                lines += 1
                used = w
            else:
                if used > 0:
                    if lines == want:
                        return at
                    lines += 1
                starts, used = _long_word(word, room, scale, ascii_em)
                if lines + len(starts) > want:
                    return at + starts[want - lines]
                lines += len(starts)
        elif spaces:
            w = (_word_em(spaces, ascii_em) if spaces.isascii() else len(spaces)) * scale
            if used + w > room:
                if lines == want:
                    return m.end()  # the spaces hang at the end of the last line
                lines += 1
                used = 0.0
            else:
                used += w
        else:  # as _lay_out counts: the first characters that fit on this line, then as many as fit a line
            if cjk:
                char, count = scale, len(cjk.encode("utf-16-le")) // 2
            else:
                char, count = _em(other, ascii_em) * scale, 1
            fit = int((room - used) // char) if used + char <= room else 0
            if count <= fit:
                used += count * char
                continue
            per = max(1, int(room // char))
            more = 1 + (count - fit - 1) // per
            if lines + more > want:
                unit = fit + (want - lines) * per  # where line want + 1 starts, in UTF-16 units of the run
                piece = cjk or other
                return at + (unit if len(piece) == count else len(piece.encode("utf-16-le")[:2 * unit].decode("utf-16-le", "ignore")))
            lines += more
            used = ((count - fit - 1) % per + 1) * char
    return len(para)


def count_lines(text: str, width_chars: float, font_pt: float = 11.0, bold: bool = False) -> int:
    """Lines that ``text`` (``bold`` or not) takes when wrapped in a cell (or merged range) ``width_chars`` units wide.

    Words are laid on lines as the programs do (a word that does not fit starts the next line), once as LibreOffice
    and once as Excel would (their rooms and fonts differ: see :data:`_LO_REGULAR`); the larger count is the estimate.
    Wherever the programs may differ more it takes the side that needs more lines: fewer places to break (CJK
    punctuation and a CJK character on either side of a Latin word are kept with it; inside a word too long for a line
    only hyphens and slashes), the widest of the fonts, such a word put on a line of its own. It is meant to be at or
    above what either prints: tests/test_row_heights_engine.py prints some thousands of texts with LibreOffice (and
    Gnumeric) and holds it to that, and to a bound above. The line height (:data:`LINE_FACTOR`) is LibreOffice's line of
    CJK text, the tallest; a line of Latin text is shorter (1.17 em there, 1.3 in Excel), which leaves room for the odd
    line more.
    """
    if not text:
        return 1
    scale = font_pt / PT_PER_UNIT  # column units per em
    excel = width_chars - CELL_PADDING_UNITS
    if excel < 1.0:
        excel = 1.0
    office = (column_px(width_chars) * ENGINE_SLACK * PT_PER_PX - LO_INNER_PT) / PT_PER_UNIT
    if office < excel:
        office = excel
    fonts = _PROPORTIONAL_BOLD if bold else _PROPORTIONAL
    thick = scale * EXCEL_BOLD if bold else scale
    total = 0
    for para in str(text).split("\n"):
        lo, ex = _upper_em(para, fonts)
        if LINE_SHORTCUTS and lo * scale <= office and ex * thick <= excel:
            total += 1  # (most texts fit on one line in both: no walk)
            continue
        tokens = _TOKEN.findall(para)
        lines = 1 if LINE_SHORTCUTS and lo * scale <= office else _lay_out(tokens, office, scale, fonts)
        if ex * thick > excel or not LINE_SHORTCUTS:
            lines = max(lines, _lay_out(tokens, excel, thick, _EXCEL))
        total += lines
    return total


def line_pt(font_pt: float) -> float:
    """Height of one wrapped line of ``font_pt`` text."""
    return font_pt * LINE_FACTOR


def text_height(lines: int, font_pt: float = 11.0) -> float:
    """Row height that shows ``lines`` lines of ``font_pt`` text."""
    return lines * line_pt(font_pt) + ROW_PADDING_PT


def cell_height(text: object, width_chars: float, font_pt: float = 11.0, bold: bool = False) -> float:
    """Row height that shows ``text`` (``bold`` or not) wrapped in a cell ``width_chars`` units wide."""
    return text_height(wrapped_lines(str(text) if text is not None else "", width_chars, font_pt, bold), font_pt)


def row_height(texts: Sequence[object], widths: Sequence[float], font_pt: float, bold: bool = False) -> float:
    """Height of a row of cells holding ``texts`` in columns of ``widths``: its tallest wrapped text, at most 409 pt."""
    lines = 1
    for text, width in zip(texts, widths):
        if isinstance(text, str) and text:
            lines = max(lines, wrapped_lines(text, width, font_pt, bold))
    return min(MAX_ROW_PT, text_height(lines, font_pt) + (2 if bold else 0))


def max_lines(font_pt: float) -> int:
    """Most lines of ``font_pt`` text that one row can show (Excel's 409 pt limit)."""
    return int((MAX_ROW_PT - ROW_PADDING_PT) // line_pt(font_pt))


def _fitting_prefix(text: str, width_chars: float, font_pt: float, lines: int) -> int:
    """The length of the longest beginning of ``text`` that the layouts of :func:`count_lines` put on ``lines`` lines
    (``len(text)`` when it all fits)."""
    scale = font_pt / PT_PER_UNIT
    excel = max(width_chars - CELL_PADDING_UNITS, 1.0)
    office = max((column_px(width_chars) * ENGINE_SLACK * PT_PER_PX - LO_INNER_PT) / PT_PER_UNIT, excel)
    offset, left = 0, lines
    paras = text.split("\n")
    for n, para in enumerate(paras):
        if n + 1 < len(paras) and (need := count_lines(para, width_chars, font_pt)) <= left:  # (the last: walked below)
            left -= need
            offset += len(para) + 1
            continue
        if left == 0:  # the paragraphs before fill the lines: the line break goes on with the rest
            return max(1, offset - 1)
        lo, ex = _upper_em(para, _PROPORTIONAL)
        end = len(para)
        if lo * scale > office:
            end = min(end, _lines_end(para, office, scale, _PROPORTIONAL, left))
        if ex * scale > excel:
            end = min(end, _lines_end(para, excel, scale, _EXCEL, left))
        return max(1, offset + end)
    return len(text)


def split_text(text: str, width_chars: float, font_pt: float, lines: int) -> list[str]:
    """Cut ``text`` into pieces that each take at most ``lines`` wrapped lines (by :func:`wrapped_lines`).

    Each piece is as long as fits (found in one walk of the layout, :func:`_fitting_prefix`), ending at a sentence end
    (。；！？ or a line break) when there is one in its last third; joined again the pieces give ``text`` exactly.
    This runs for every long text of a 10,000-unit roll-up.
    """
    pieces: list[str] = []
    rest = text
    while True:
        cut = _fitting_prefix(rest, width_chars, font_pt, lines)
        if cut >= len(rest):
            return pieces + [rest]
        while cut > 1 and wrapped_lines(rest[:cut], width_chars, font_pt) > lines:  # (a guard: the walk and the count agree)
            cut = cut * 9 // 10
        # a sentence end in the last third only (searched there only: the same end, without reading the first two thirds)
        stop = max(rest.rfind(ch, cut * 2 // 3, cut) for ch in "。；！？;!?\n") + 1
        if stop > cut * 2 // 3:
            cut = stop
        pieces.append(rest[:cut])
        rest = rest[cut:]


def continued_rows(rec: dict[str, Any], widths: dict[str, float], repeat: Sequence[str], font_pt: float, lines: int,
                   mark: str) -> list[dict[str, Any]]:
    """A table row whose texts need more than ``lines`` lines, as several rows of at most ``lines`` each.

    Each text of ``rec`` (a key of ``widths``) that is too long is cut by :func:`split_text`; the
    following rows repeat the ``repeat`` keys, carry the next pieces each starting with ``mark``,
    and leave every other key out (so that a count or a sum over the table is unchanged).
    """
    cuts = {k: split_text(v, widths[k], font_pt, lines) for k, v in rec.items()
            if k in widths and isinstance(v, str) and wrapped_lines(v, widths[k], font_pt) > lines}
    pieces = [{**rec, **{k: parts[0] for k, parts in cuts.items()}}]
    for n in range(1, max((len(p) for p in cuts.values()), default=1)):
        piece = {k: rec.get(k) for k in repeat}
        piece.update({k: mark + parts[n] for k, parts in cuts.items() if n < len(parts)})
        pieces.append(piece)
    return pieces


# -- scale and column pages ----------------------------------------------------------------------


@dataclass(frozen=True)
class WidthPlan:
    """How a sheet's columns go onto paper.

    ``fit``: the program fits the columns to one page width (no manual breaks are needed on
    the sheet; ``scale`` is then what Excel will use). Otherwise ``scale`` is written out and
    ``breaks`` are the 0-based columns before which a new page starts.
    """

    scale: int  # percent
    fit: bool = False
    breaks: tuple[int, ...] = ()


def min_scale(font_pt: float) -> int:
    """The smallest print scale (percent) at which ``font_pt`` text stays readable."""
    return math.ceil(100 * READABLE_PT / font_pt)


def fit_scale(width_pt: float, page: Page, slack: float = ENGINE_SLACK) -> int:
    """The largest scale (percent, at most 100) at which ``width_pt`` fits the page width."""
    return max(10, min(100, math.floor(100 * page.width_pt / (width_pt * slack))))


def plan_width(widths: Sequence[float], page: Page, font_pt: float, *, key_cols: int = 0, fit: bool = True,
               items: Sequence[tuple[int, int]] | None = None,
               blocks: Sequence[tuple[int, int]] | None = None) -> WidthPlan:
    """Scale and column breaks for a sheet of ``widths`` whose body text is ``font_pt``.

    One page wide when the sheet fits at a scale that keeps the text readable: fitted by
    the program (``fit``, for sheets without manual page breaks, which Excel ignores on a
    fitted sheet) or at a written scale. Otherwise it prints at full size over several pages
    wide, the first ``key_cols`` columns repeated on each (the caller makes them print titles):
    ``items`` are column ranges never split (default: each column after the key columns),
    ``blocks`` ranges of items kept on one page when they fit. A sheet without key columns
    stays one page wide, at whatever scale that takes.
    """
    whole = columns_pt(widths)
    if items is None:
        scale = fit_scale(whole, page, 1.0 if fit else ENGINE_SLACK)
        if scale >= min_scale(font_pt) or key_cols == 0:
            return WidthPlan(scale, fit=fit)
    items = list(items) if items is not None else [(c, c) for c in range(key_cols, len(widths))]
    sizes = [columns_pt(widths[a:b + 1]) for a, b in items]
    room = page.width_pt / ENGINE_SLACK - columns_pt(widths[:key_cols])
    scale = 100
    if max(sizes) > room:  # one item wider than a page at full size: shrink until it fits
        scale = max(min_scale(font_pt), math.floor(100 * room / max(sizes)))
        room = room * 100 / scale
    starts = paginate(sizes, blocks or [], lambda _first: room)
    return WidthPlan(scale, breaks=tuple(items[i][0] for i in starts))


def set_landscape(ws: Any, page: Page, plan: WidthPlan, key_cols: int) -> None:
    """Put ``plan`` on an XlsxWriter worksheet: A4 landscape, ``page``'s margins, fitted to one page wide or
    at the plan's scale with its column breaks, the first ``key_cols`` columns repeated on every page."""
    ws.set_landscape()
    ws.set_paper(XLSX_A4)
    ws.set_margins(**page.margins())
    if plan.fit:
        ws.fit_to_pages(1, 0)
    else:
        ws.set_print_scale(plan.scale)
    if plan.breaks:  # only a plan that is not fitted has them
        ws.set_v_pagebreaks(list(plan.breaks))
        ws.repeat_columns(0, key_cols - 1)


# -- row pages ----------------------------------------------------------------------------------


def page_rows_pt(page: Page, scale: int) -> float:
    """Height of sheet rows (points at 100 %) that one page holds at ``scale`` percent."""
    return page.height_pt * PAGE_FILL * 100 / scale


def paginate(sizes: Sequence[float], blocks: Sequence[tuple[int, int]],
             capacity: Callable[[int], float]) -> list[int]:
    """Items before which a new page must start so that no block is split when it fits on a page.

    ``sizes`` are the items' heights (rows) or widths (columns), which are never split;
    ``blocks`` are ranges of items (first, last, inclusive) kept together; ``capacity(first)``
    is the room of a page that starts with item ``first``. A block larger than a page starts
    where it is and is split where the program would split it; the returned list also holds
    those automatic breaks, so a caller can count pages.
    """
    block_of: dict[int, int] = {}
    for first, last in blocks:
        block_of[first] = last
    breaks: list[int] = []
    used, room = 0.0, capacity(0)
    i = 0
    n = len(sizes)
    while i < n:
        last = block_of.get(i, i)
        size = sum(sizes[i:last + 1])
        if used + size <= room:
            used += size
            i = last + 1
            continue
        if used > 0 and size <= capacity(i):
            breaks.append(i)
            used, room = size, capacity(i)
            i = last + 1
            continue
        for j in range(i, last + 1):  # larger than a page (or than an empty page): item by item
            if used + sizes[j] > room and used > 0:
                breaks.append(j)
                used, room = 0.0, capacity(j)
            used += sizes[j]
        i = last + 1
    return breaks


def footer(right: str = "") -> str:
    """A page footer: the sheet's name on the left, page x of y in the centre, ``right`` on the right."""
    right = right.replace("&", "&&")[:80]  # "&" starts a code in a header or footer
    return "&L&A" + FOOTER + (f"&R{right}" if right else "")


def row_below(heights: Sequence[float], top: int, height_pt: float, default: float = 15.0) -> int:
    """The row in which something ``height_pt`` tall, placed at the top of row ``top``, ends."""
    row, used = top, 0.0
    while True:
        used += heights[row] if row < len(heights) else default
        if used >= height_pt:
            return row
        row += 1
