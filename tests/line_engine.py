"""Lines that real engines print for wrapped text, beside printing.count_lines's estimate (tests/test_row_heights_engine.py).

One workbook: a sheet per (font, column width), a row per text. Column A holds the row's tag (#0001, top-aligned), column
B the text (wrapped, top-aligned) in a row tall enough for every line. The PDF that an engine prints is read back with
``pdftotext -bbox``: the lines of a row are the distinct heights of the words right of column A between the row's tag and
the next one.
"""

from __future__ import annotations

import html
import random
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import xlsxwriter

from xltemplate import printing

#: (font, size, bold) as the writers use them: 宋体 10 (roll-up, reminders, hints), 11 (forms), 12 bold (totals),
#: 14 bold (a guide's title), 宋体 10 bold (the roll-up's headers), Arial 10 (the spec book, the default font).
FONTS = [("宋体", 10.0, False), ("宋体", 11.0, False), ("宋体", 10.0, True), ("宋体", 14.0, True), ("Arial", 10.0, False)]
WIDTHS = [6.0, 9.0, 14.0, 24.0, 45.0, 90.0]

_WORDS = ["the", "project", "Excel", "Openpyxl", "LibreOffice", "WWW", "Microsoft", "is", "a", "performance", "budget",
          "sha256", "v3.1.5", "2024", "98.5%", "1,234,567.89", "ID", "MMMM", "illicit", "x", "PDF/A-1b", "self-evaluation"]
_HANZI = "项目绩效自评预算执行率达到资金使用情况上海市经济信息中心平台运维专项补贴课题研究培训设备购置完成指标年度"
_PUNCT = "，。；：、！？（）《》“”"


def texts() -> list[str]:
    """The texts measured: hand-picked (the roll-up's and the forms' kinds) and a seeded random mix."""
    fixed = [
        "Microsoft Excel Compatible / Openpyxl 3.1.5",
        "LibreOffice/7.4.7.2$Linux_X86_64 LibreOffice_project/40$Build-2",
        "Microsoft Excel",
        "3f2a9c0b7e14d5a6b8c9d0e1f2a3b4c5",
        "3f2a9c0b7e14d5a6b8c9d0e1f2a3b4c5\nd6e7f8091a2b3c4d5e6f708192a3b4c5",
        "D:\\项目资料\\2024\\绩效自评\\上海市经济信息中心_平台运维_自评表_final_v3.xlsx",
        "/home/clerk/inbox/returns/unit-0042/项目自评表-2024-最终版.xlsx",
        "returns/上海市经济信息中心（12）/2024_平台运维12_项目绩效自评表.xlsx",
        "2024年度项目预算执行率达到98.5%，较上年提高3.2个百分点；Openpyxl 3.1.5生成。",
        "项目资金12,345,678.90元，已支付11,000,000.00元，执行率89.1%。",
        "按照《上海市市级财政项目绩效自评管理办法》（沪财绩〔2020〕6号）的要求，对项目完成情况进行了全面自评。",
        "本项目主要用于平台运维、设备购置和人员培训，全年共完成运维服务12次，培训300人次，满意度达到95%以上。",
        "a" * 70,
        "W" * 45,
        "M" * 30 + " " + "i" * 30,
        "1234567890" * 6,
        "The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG.",
        "self-evaluation of project performance (annual), budget execution rate and output indicators",
        "WWW MMM WWW MMM WWW MMM WWW MMM WWW MMM",
        "ID: XLT-2024-000123; code missing-value; see README.md#collect",
        "第一行\n第二行 second line\n\n第四行",
        "中文English中文English中文English中文English中文",
        "产出指标：数量指标——完成率≥95%；质量指标——合格率100%；时效指标——按时完成。",
        "×·°±§ ÄÖÜ äöü ÉÈ éè Ωω Жж",
        "“引号”和‘单引号’……省略号——破折号",
    ]
    rng = random.Random(15)
    mixed = []
    for _ in range(45):
        parts = []
        for _ in range(rng.randint(2, 16)):
            kind = rng.random()
            if kind < 0.45:
                parts.append("".join(rng.choice(_HANZI) for _ in range(rng.randint(1, 12))))
            elif kind < 0.85:
                parts.append(rng.choice(_WORDS) + (" " if rng.random() < 0.6 else ""))
            else:
                parts.append(rng.choice(_PUNCT))
        mixed.append("".join(parts).strip())
    return fixed + mixed


@dataclass(frozen=True)
class Cell:
    tag: str
    text: str
    font: str
    size: float
    bold: bool
    width: float


#: LibreOffice draws a column ``w`` units wide (``w + 5/7`` in the file, XlsxWriter adds Excel's 5 px) with its own unit,
#: 7.41 px (Arial 10's digit unrounded), and leaves about 1 pt inside either edge (measured in its PDFs).
LO_PT_PER_UNIT = 7.41 * printing.PT_PER_PX
LO_INNER_PT = 2.0


def lo_room_pt(width: float) -> float:
    """The width LibreOffice wraps a cell's text in (points), for a column ``width`` units wide."""
    return (width + 5 / 7) * LO_PT_PER_UNIT - LO_INNER_PT


def model_room_pt(width: float) -> float:
    """The width :func:`printing.count_lines` wraps in (points): the column less one unit, kept for Excel."""
    return max(1.0, width - printing.CELL_PADDING_UNITS) * printing.PT_PER_UNIT


def narrowed(width: float) -> float:
    """The column width at which LibreOffice's room is the room count_lines assumes for ``width``."""
    return (model_room_pt(width) + LO_INNER_PT) / LO_PT_PER_UNIT - 5 / 7


def write_workbook(path: Path, strings: list[str], fonts=FONTS, widths=WIDTHS, narrow: bool = False) -> list[Cell]:
    """The workbook to print, and its cells (``narrow``: each column narrowed to the room the estimate assumes)."""
    cells: list[Cell] = []
    wb = xlsxwriter.Workbook(str(path))
    wb.formats[0].set_font_name(printing.DEFAULT_FONT["font_name"])
    wb.formats[0].set_font_size(printing.DEFAULT_FONT["font_size"])
    n = 0
    for s, (font, size, bold) in enumerate(fonts):
        tag_fmt = wb.add_format({"font_name": "Arial", "font_size": 8, "valign": "top"})
        fmt = wb.add_format({"font_name": font, "font_size": size, "bold": bold, "text_wrap": True, "valign": "top"})
        for w in widths:
            ws = wb.add_worksheet(f"s{s}w{int(w)}")
            ws.set_landscape()
            ws.set_paper(printing.XLSX_A4)
            ws.set_margins(left=0.3, right=0.3, top=0.4, bottom=0.4)
            ws.set_print_scale(100)
            ws.set_column(0, 0, 7)
            ws.set_column(1, 1, narrowed(w) if narrow else w)
            for r, text in enumerate(strings):
                n += 1
                cell = Cell(f"#{n:05d}", text, font, size, bold, w)
                cells.append(cell)
                lines = max(printing.count_lines(text, w, size, bold), _old_guess(text, w, size)) + 3
                ws.set_row(r, min(printing.MAX_ROW_PT, lines * size * 1.45 + 4))
                ws.write_string(r, 0, cell.tag, tag_fmt)
                ws.write_string(r, 1, text, fmt)
    wb.close()
    return cells


def _old_guess(text: str, width: float, size: float) -> int:
    """A generous guess of the lines (every character a full em wide), so that each row shows all its lines."""
    per_line = max(1.0, (width - 1) * printing.PT_PER_UNIT / size)
    return sum(int(len(p) / per_line) + 1 for p in text.split("\n"))


_WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>')


def printed_lines(pdf: Path, cells: list[Cell]) -> dict[str, int]:
    """Each cell's tag → the lines its text takes in ``pdf``."""
    out = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    by_tag = {c.tag: c for c in cells}
    got: dict[str, int] = {}
    for page in out.split("<page ")[1:]:
        words = [(float(a), float(b), float(c), float(d), html.unescape(t)) for a, b, c, d, t in _WORD.findall(page)]
        tags = sorted((y0, t) for x0, y0, _x1, _y1, t in words if t in by_tag and x0 < 40)
        edge = 40.0  # column A (7 units) ends some 60 pt from the paper's edge; its tags start at the margin (~22 pt)
        body = [((y0 + y1) / 2, t) for x0, y0, _x1, y1, t in words if x0 > edge]
        for i, (top, tag) in enumerate(tags):
            bottom = tags[i + 1][0] if i + 1 < len(tags) else float("inf")
            mids = sorted(m for m, _t in body if top - 2 <= m < bottom - 2)
            size = by_tag[tag].size
            lines = 0
            last = -1e9
            for m in mids:
                if m - last > 0.6 * size:
                    lines += 1
                last = m
            got[tag] = lines + by_tag[tag].text.split("\n").count("")  # an empty line shows no word
    return got


#: (font, size, bold) of the row-height check: the CJK fonts the writers use, and the font LibreOffice draws 宋体 with.
HEIGHT_FONTS = [("宋体", 10.0, False), ("宋体", 11.0, False), ("宋体", 10.0, True), ("宋体", 11.0, True),
                ("宋体", 12.0, True), ("宋体", 14.0, True), ("Noto Sans CJK SC", 10.0, False),
                ("Noto Sans CJK SC", 11.0, True)]
#: The top margin of the row-height workbook's pages (inches): each row is the first of its page, so its top is here.
HEIGHT_TOP_IN = 0.4


def height_texts() -> list[str]:
    """Texts of 1 to 30 lines: CJK lines (each a paragraph), CJK wrapped in its column, CJK and Latin mixed, a Latin
    last line under CJK ones (its line is as tall as theirs in LibreOffice)."""
    line = "本项目主要用于平台运维"
    out = []
    for n in (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 25, 30):
        out.append("\n".join([line] * n))
        out.append("项目绩效自评预算执行率达到资金使用情况" * n)  # wrapped in a 24-unit column
        out.append("\n".join("项目 budget 执行率 98.5%" if i % 2 else "Openpyxl 3.1.5 预算执行" for i in range(n)))
        out.append("\n".join([line] * (n - 1) + ["budget gjpqy"]))
    return out


def write_height_workbook(path: Path, width: float = 24.0) -> list[tuple[Cell, float]]:
    """A workbook of :func:`height_texts` in each of :data:`HEIGHT_FONTS`, each row as tall as printing.cell_height
    says and the first of its page; the cells and their heights (rows taller than Excel allows are left out)."""
    cells: list[tuple[Cell, float]] = []
    wb = xlsxwriter.Workbook(str(path))
    wb.formats[0].set_font_name(printing.DEFAULT_FONT["font_name"])
    wb.formats[0].set_font_size(printing.DEFAULT_FONT["font_size"])
    n = 0
    for s, (font, size, bold) in enumerate(HEIGHT_FONTS):
        fmt = wb.add_format({"font_name": font, "font_size": size, "bold": bold, "text_wrap": True, "valign": "top"})
        ws = wb.add_worksheet(f"h{s}")
        ws.set_paper(printing.XLSX_A4)
        ws.set_margins(left=0.3, right=0.3, top=HEIGHT_TOP_IN, bottom=0.4)
        ws.set_print_scale(100)
        ws.set_column(0, 0, width)
        r = 0
        for text in height_texts():
            height = printing.cell_height(text, width, size, bold)
            if height > printing.MAX_ROW_PT:
                continue
            n += 1
            cells.append((Cell(f"#{n:05d}", text, font, size, bold, width), height))
            ws.set_row(r, height)
            ws.write_string(r, 0, text, fmt)
            r += 1
        ws.set_h_pagebreaks(list(range(1, r)))
    wb.close()
    return cells


def printed_extents(pdf: Path) -> list[tuple[float, float]]:
    """Each page's words' top and bottom edge (points from the paper's top), page by page."""
    out = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    pages = []
    for page in out.split("<page ")[1:]:
        words = [(float(b), float(d)) for _a, b, _c, d, _t in _WORD.findall(page)]
        pages.append((min(w[0] for w in words), max(w[1] for w in words)) if words else (0.0, 0.0))
    return pages
