"""Page geometry for printing on A4: scale, column pages, text measures, row heights, page breaks.

A spreadsheet program prints what the file says. It does not grow a row whose
height the file gives when its wrapped text needs more, it cuts a row at 409 pt,
and Excel ignores manual page breaks on a sheet set to fit a page width (XlsxWriter's
documentation says so). So the writers decide every height, scale and break here,
from one model of the page:

- widths are Excel column units: the default font's widest digit, 7 px at 96 dpi for
  Arial 10 (the workbooks' default font, see :data:`DEFAULT_FONT`);
- text is measured conservatively for both programs people use: a CJK character is one
  em wide (宋体 in Excel, Noto Sans CJK in LibreOffice), any other character 0.6 em
  (宋体 draws digits at 0.5 em, LibreOffice's fallback DejaVu Sans at 0.64 em);
- a wrapped line takes 1.4 × the font size (Excel draws 宋体 11 at 14.25 pt a line,
  LibreOffice 10 pt text at 13.4 pt);
- a sheet with manual page breaks gets a written scale (a sheet fitted to the page width
  loses them in Excel), chosen so that its columns fit the page with :data:`ENGINE_SLACK`
  to spare; other sheets are fitted to the width when that keeps the text readable, and
  otherwise run over several pages wide with their key columns repeated.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
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
LINE_FACTOR = 1.4  # line height / font size, for wrapped text
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


def wrapped_lines(text: str, width_chars: float, font_pt: float = 11.0) -> int:
    """:func:`count_lines`, remembered for short texts: a workbook asks it for its headers, labels and indicator
    names (some 140 a national workbook), mostly the same from one workbook to the next (a pure function)."""
    if isinstance(text, str):
        return _short_lines(text, width_chars, font_pt) if len(text) <= 128 else _long_lines(text, width_chars, font_pt)
    return count_lines(text, width_chars, font_pt)


@lru_cache(maxsize=4096)  # at most some 4096 × 128 characters held
def _short_lines(text: str, width_chars: float, font_pt: float) -> int:
    return count_lines(text, width_chars, font_pt)


@lru_cache(maxsize=64)  # a long text is measured a few times in a row (its row's height, then how to cut it): the last 64
def _long_lines(text: str, width_chars: float, font_pt: float) -> int:
    return count_lines(text, width_chars, font_pt)


def count_lines(text: str, width_chars: float, font_pt: float = 11.0) -> int:
    """Lines that ``text`` takes when wrapped in a cell (or merged range) ``width_chars`` units wide.

    A line holds a whole number of CJK characters, and may lose up to half of the longest Latin
    word that could fit on it, since words move whole (file names, paths and codes wrap at
    spaces, hyphens and slashes): counted in the share of the text that is Latin. The line
    height (:data:`LINE_FACTOR`) leaves room for the odd line more, when a punctuation mark
    may not start a line.
    """
    if not text:
        return 1
    # (the roll-up asks this some 200,000 times at 10,000 units: text_units is written out below, and the
    # max() of floats as comparisons, with the same results)
    per_line = width_chars - CELL_PADDING_UNITS
    if per_line < 1.0:
        per_line = 1.0
    char = WIDE_EM * font_pt / PT_PER_UNIT
    total = 0
    for para in str(text).split("\n"):
        n = len(para)
        wide = (len(para.encode("utf-8")) - n) // 2
        units = (WIDE_EM * wide + NARROW_EM * (n - wide)) * font_pt / PT_PER_UNIT  # text_units(para, font_pt)
        if units <= per_line:
            total += 1
            continue
        room = (per_line // char) * char if per_line >= char else per_line  # whole characters a line
        narrow = n - wide
        if narrow:  # words may move whole: a line that ends in one loses part of it
            narrow_em = NARROW_EM * font_pt / PT_PER_UNIT
            fitting = [w for w in map(len, _ASCII_WORD.findall(para)) if w * narrow_em <= per_line]
            if fitting:
                room -= max(fitting) * narrow_em / 2 * (narrow * narrow_em / units)  # as often as lines end in Latin
        least = per_line / 3
        if room > least:
            least = room
        total += math.ceil(units / (least if least > 0.5 else 0.5) - 1e-9)
    return total


def line_pt(font_pt: float) -> float:
    """Height of one wrapped line of ``font_pt`` text."""
    return font_pt * LINE_FACTOR


def text_height(lines: int, font_pt: float = 11.0) -> float:
    """Row height that shows ``lines`` lines of ``font_pt`` text."""
    return lines * line_pt(font_pt) + ROW_PADDING_PT


def cell_height(text: object, width_chars: float, font_pt: float = 11.0) -> float:
    """Row height that shows ``text`` wrapped in a cell ``width_chars`` units wide."""
    return text_height(wrapped_lines(str(text) if text is not None else "", width_chars, font_pt), font_pt)


def row_height(texts: Sequence[object], widths: Sequence[float], font_pt: float, bold: bool = False) -> float:
    """Height of a row of cells holding ``texts`` in columns of ``widths``: its tallest wrapped text, at most 409 pt."""
    lines = 1
    for text, width in zip(texts, widths):
        if isinstance(text, str) and text:
            lines = max(lines, wrapped_lines(text, width, font_pt * (1.05 if bold else 1)))  # bold draws a little wider
    return min(MAX_ROW_PT, text_height(lines, font_pt) + (2 if bold else 0))


def max_lines(font_pt: float) -> int:
    """Most lines of ``font_pt`` text that one row can show (Excel's 409 pt limit)."""
    return int((MAX_ROW_PT - ROW_PADDING_PT) // line_pt(font_pt))


def split_text(text: str, width_chars: float, font_pt: float, lines: int) -> list[str]:
    """Cut ``text`` into pieces that each take at most ``lines`` wrapped lines (by :func:`wrapped_lines`).

    Each piece is about as long as fits, ending at a sentence end (。；！？ or a line break)
    when there is one in its last third; joined again the pieces give ``text`` exactly. A few
    estimates per piece, not a walk over the characters: this runs for every long text of a
    10,000-unit roll-up.
    """
    pieces: list[str] = []
    rest = text
    while True:
        need = wrapped_lines(rest, width_chars, font_pt)
        if need <= lines:
            return pieces + [rest]
        cut = max(1, len(rest) * lines // need)  # in proportion; then as long as still fits
        while cut > 1 and wrapped_lines(rest[:cut], width_chars, font_pt) > lines:
            cut = cut * 9 // 10
        step = max(1, cut // 20)
        while cut + step < len(rest) and wrapped_lines(rest[:cut + step], width_chars, font_pt) <= lines:
            cut += step
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
