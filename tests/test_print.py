"""Printing: every sheet of the form and of the roll-up is readable on A4 at 100 %.

The checks read the print settings from the written files and recompute the page from
them with a page model of their own (not the one in ``xltemplate.printing``): paper and
margins, column widths in pixels, the written or fitted scale, row heights against a
plain character count of the texts, manual page breaks against the layout's blocks.
The engine tests render the files with LibreOffice and read each page's text back.
"""

from __future__ import annotations

import math
import re
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.utils import range_boundaries

from xltemplate.rollup.collect import collect
from xltemplate.form.generate import generate_workbook
from xltemplate.families.self_scored.layout import Layout
from xltemplate.form.layout import GUIDE_SHEET
from xltemplate.rollup import write_rollup
from xltemplate.roster import read_roster
from tools.soffice import convert
from xltemplate.spec import Spec

from .conftest import SAMPLES

A4 = (595.28, 841.89)  # points, portrait
MIN_PT = 8.0  # body text must print at least this large
MAX_ROW = 409.0  # Excel's largest row height
ROLLUP_SHEETS = ("汇总", "指标得分", "统计", "问题清单", "未提交", "文字材料", "文件清单")
ROUND_SHEETS = ROLLUP_SHEETS + ("提交记录",)  # collect --ledger
# A column unit is 7 px (Arial 10); LibreOffice draws it up to 6 % wider: a sheet printed at a written
# scale must leave that much room, or LibreOffice runs it onto a second page wide.
ENGINE_ROOM = 1.06


# -- the page, recomputed from the file ------------------------------------------------------------


def col_px(ws: Any) -> dict[int, int]:
    """Pixel width of every column with a width (1-based index), ranges expanded."""
    out: dict[int, int] = {}
    for dim in ws.column_dimensions.values():
        if dim.width:
            for c in range(dim.min, dim.max + 1):
                out[c] = round(dim.width * 7)
    return out


def width_pt(ws: Any, first: int, last: int) -> float:
    px = col_px(ws)
    return sum(px.get(c, 64) for c in range(first, last + 1)) * 0.75


@dataclass
class Setup:
    landscape: bool
    printable_w: float
    printable_h: float
    scale: float  # the effective scale, written or fitted
    fitted: bool


def setup(ws: Any, last_col: int) -> Setup:
    ps = ws.page_setup
    assert int(ps.paperSize) == 9, f"{ws.title}: not A4"
    landscape = ps.orientation == "landscape"
    paper_w, paper_h = (A4[1], A4[0]) if landscape else A4
    m = ws.page_margins
    pw = paper_w - (m.left + m.right) * 72
    ph = paper_h - (m.top + m.bottom) * 72
    fitted = bool(ws.sheet_properties.pageSetUpPr and ws.sheet_properties.pageSetUpPr.fitToPage)
    if fitted:
        assert ps.fitToWidth in (None, 1) and ps.fitToHeight == 0, f"{ws.title}: fitted to more than one page wide or to a height"
        scale = min(1.0, pw / width_pt(ws, 1, last_col))
    else:
        scale = (ps.scale or 100) / 100
    return Setup(landscape, pw, ph, scale, fitted)


def used_cols(ws: Any) -> int:
    if ws.print_area:
        return range_boundaries(ws.print_area.split("!")[-1].replace("$", ""))[2]
    return ws.max_column


def merged_width(ws: Any) -> dict[tuple[int, int], tuple[int, int]]:
    """(row, col) of each merged range's anchor → (last row, last col)."""
    return {(r.min_row, r.min_col): (r.max_row, r.max_col) for r in ws.merged_cells.ranges}


def needed_lines(text: str, width_pt_: float, font_pt: float) -> int:
    """A plain count: CJK one em, other characters half an em, whole characters per line."""
    room = max(width_pt_ - 4, font_pt)
    lines = 0
    for para in text.split("\n"):
        w = sum(font_pt if ord(ch) > 0x2E7F else font_pt * 0.5 for ch in para)
        lines += max(1, math.ceil(w / room))
    return lines


def text_cells(ws: Any, last_col: int):
    """Every string cell in the printed columns: (cell, width in points, font size)."""
    merges = merged_width(ws)
    covered = {(r, c) for (r0, c0), (r1, c1) in merges.items() for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)
               if (r, c) != (r0, c0)}
    for row in ws.iter_rows(max_col=last_col):
        for cell in row:
            if not isinstance(cell.value, str) or (cell.row, cell.column) in covered:
                continue
            last = merges.get((cell.row, cell.column), (cell.row, cell.column))[1]
            yield cell, width_pt(ws, cell.column, last), float(cell.font.sz or 10)


def row_height(ws: Any, row: int) -> float:
    h = ws.row_dimensions[row].height
    return float(h) if h is not None else 15.0


def check_readable(ws: Any, s: Setup, last_col: int) -> None:
    """Every text prints at 8 pt or more, fits its row (which is at most 409 pt), and no column runs off the page."""
    small = sorted({(c.coordinate, c.font.sz) for row in ws.iter_rows(max_col=last_col) for c in row
                    if c.value is not None and float(c.font.sz or 10) * s.scale < MIN_PT})
    assert not small, f"{ws.title}: text under {MIN_PT} pt at scale {s.scale:.2f}: {small[:5]}"
    merges = merged_width(ws)
    short = []
    for cell, w, font in text_cells(ws, last_col):
        r1 = merges.get((cell.row, cell.column), (cell.row, cell.column))[0]
        height = sum(row_height(ws, r) for r in range(cell.row, r1 + 1))
        if needed_lines(cell.value, w, font) * font * 1.25 > height and cell.alignment.wrap_text:
            short.append((cell.coordinate, cell.value[:20], height))
        if not cell.alignment.wrap_text:  # one line: it must fit its cell
            assert needed_lines(cell.value, w, font) == 1 or cell.row <= 2, f"{ws.title}!{cell.coordinate}: text runs out of its cell"
    assert not short, f"{ws.title}: rows too short for their text: {short[:5]}"
    tall = [r for r, d in ws.row_dimensions.items() if d.height and d.height > MAX_ROW]
    assert not tall, f"{ws.title}: rows over 409 pt: {tall}"


def pages_down(heights: list[float], breaks: list[int], capacity: float, title_row: int | None, title_h: float) -> list[tuple[int, int]]:
    """The row ranges of the pages, given the manual breaks; fails if a page overflows (an automatic break)."""
    starts = [0] + breaks
    out = []
    for n, first in enumerate(starts):
        last = (starts[n + 1] if n + 1 < len(starts) else len(heights)) - 1
        room = capacity - (title_h if title_row is not None and first > title_row else 0)
        used = sum(heights[first:last + 1])
        assert used <= room + 0.5, f"page {n + 1} (rows {first + 1}-{last + 1}) holds {used:.0f} pt, room {room:.0f}"
        out.append((first, last))
    return out


# -- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def forms(spec: Spec, seed_values: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("print-forms")
    roster = read_roster(SAMPLES / "roster.csv", spec)
    row = roster.rows[1]
    return {
        "blank": generate_workbook(spec, out / "blank.xlsx").path,
        "seed": generate_workbook(spec, out / "seed.xlsx", values=seed_values).path,
        "roster": generate_workbook(spec, out / "roster.xlsx", prefill=row.prefill, roster_key=row.key).path,
    }


def numbered(prefix: str, n: int, tail: str) -> str:
    return "".join(f"{prefix}{i:03d}{tail}" for i in range(1, n + 1))


LONG = {
    "fld_achievements": numbered("第", 300, "项工作按计划完成，资金使用规范。"),  # 6,000 characters
    "fld_problems": numbered("问题", 250, "：进度滞后；"),
    "fld_improvements": numbered("措施", 120, " improve the process step by step; "),
}


@pytest.fixture(scope="module")
def rollups(spec: Spec, seed_values: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The samples' roll-up, and one of a return whose texts need many times Excel's 409 pt."""
    out = tmp_path_factory.mktemp("print-rollups")
    roster = read_roster(SAMPLES / "roster.csv", spec)
    samples = write_rollup(collect([SAMPLES / "returns"], spec, roster=roster), out / "rollup.xlsx")
    (out / "long").mkdir()
    generate_workbook(spec, out / "long" / "long.xlsx", values={**seed_values, **LONG}, roster_key="SH001",
                      prefill=roster.rows[0].prefill)
    long = write_rollup(collect([out / "long"], spec), out / "long-rollup.xlsx")
    # A round's second run: half the samples came first, the rest later, and one counted file has left the inbox.
    import shutil

    from xltemplate.rounds import collect_round

    inbox = out / "inbox"
    inbox.mkdir()
    returns = sorted(p for p in (SAMPLES / "returns").iterdir() if p.suffix == ".xlsx" and not p.name.startswith("~$"))
    for f in returns[: len(returns) // 2]:
        shutil.copy(f, inbox)
    collect_round([inbox], spec, ledger=out / "round.xlt.db", output=out / "round-1.xlsx", roster=roster)
    for f in returns[len(returns) // 2:]:
        shutil.copy(f, inbox)
    (inbox / returns[0].name).unlink()
    round_ = collect_round([inbox], spec, ledger=out / "round.xlt.db", output=out / "round.xlsx", roster=roster).outputs[0]
    return {"samples": samples, "long": long, "round": round_}


# -- the form --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["blank", "seed", "roster"])
def test_form_prints_landscape_one_page_wide_readable(spec: Spec, forms: dict[str, Path], which: str) -> None:
    wb = openpyxl.load_workbook(forms[which], data_only=True)
    ws = wb[spec.sheet]
    lay = Layout(spec)
    last_col = 7
    s = setup(ws, last_col)
    assert s.landscape
    # A written scale, not "fit to width": Excel ignores manual page breaks on a fitted sheet.
    assert not s.fitted and ws.page_setup.scale
    assert width_pt(ws, 1, last_col) * s.scale * ENGINE_ROOM <= s.printable_w, "the form runs onto a second page wide"
    check_readable(ws, s, last_col)
    assert ws.print_title_rows == f"${lay.table_header_row + 1}:${lay.table_header_row + 1}"
    assert ws.print_area == f"'{spec.sheet}'!$A$1:$G${lay.last_row + 1}"
    assert ws.oddFooter.center.text and "&P" in ws.oddFooter.center.text


@pytest.mark.parametrize("which", ["blank", "seed", "roster"])
def test_form_page_breaks_follow_the_layout(spec: Spec, forms: dict[str, Path], which: str) -> None:
    ws = openpyxl.load_workbook(forms[which])[spec.sheet]
    lay = Layout(spec)
    s = setup(ws, 7)
    breaks = sorted(b.id for b in ws.row_breaks.brk)
    heights = [row_height(ws, r + 1) for r in range(lay.last_row + 1)]
    header = lay.table_header_row
    pages = pages_down(heights, breaks, s.printable_h / s.scale, header, heights[header])
    # The table starts on a fresh page with its header (the header block fills the first page);
    # no category is split; the total stays with the notes.
    assert header - 1 in breaks or header in breaks
    for c in lay.categories:
        assert not [b for b in breaks if c.first_row < b <= c.subtotal_row], f"{c.category.name} is split"
    assert not [b for b in breaks if lay.total_row < b <= lay.last_row]
    assert pages[0][0] == 0 and lay.title_row <= pages[0][1]
    if which == "blank":
        # Three pages, none left a quarter blank: the header block, two categories, two categories and the notes.
        assert len(pages) == 3
        room = s.printable_h / s.scale
        for n, (a, b) in enumerate(pages[:-1]):
            used = sum(heights[a:b + 1]) + (heights[header] if a > header else 0)
            assert used >= 0.75 * room, f"page {n + 1} is {used / room:.0%} full"


def test_guide_is_one_portrait_page_at_full_size(spec: Spec, forms: dict[str, Path]) -> None:
    ws = openpyxl.load_workbook(forms["roster"])[GUIDE_SHEET]
    s = setup(ws, ws.max_column)
    assert not s.landscape and s.scale == 1.0
    assert width_pt(ws, 1, ws.max_column) * ENGINE_ROOM <= s.printable_w, "the guide runs onto a second page wide"
    check_readable(ws, s, ws.max_column)
    assert sum(row_height(ws, r) for r in range(1, ws.max_row + 1)) <= s.printable_h
    texts = [c.value for c in ws["A"] if c.value]
    assert all(any(line in t for t in texts) for line in spec.instructions)


# -- the roll-up -------------------------------------------------------------------------------------------


def drawing_anchors(path: Path, sheet: str) -> list[tuple[int, int, int, int]]:
    """(from col, from row, to col, to row), 0-based, of the charts on ``sheet``."""
    wb = openpyxl.load_workbook(path, read_only=True)
    index = wb.sheetnames.index(sheet) + 1
    with zipfile.ZipFile(path) as z:
        rels = z.read(f"xl/worksheets/_rels/sheet{index}.xml.rels").decode()
        target = re.search(r'Target="\.\./drawings/(drawing\d+\.xml)"', rels).group(1)
        xml = z.read(f"xl/drawings/{target}").decode()
    out = []
    for anchor in re.findall(r"<xdr:twoCellAnchor.*?</xdr:twoCellAnchor>", xml, re.S):
        nums = [int(x) for x in re.findall(r"<xdr:(?:col|row)>(\d+)</xdr:(?:col|row)>", anchor)]
        out.append((nums[0], nums[1], nums[2], nums[3]))
    return out


@pytest.mark.parametrize("which", ["samples", "long", "round"])
def test_every_rollup_sheet_is_readable_on_a4_landscape(rollups: dict[str, Path], which: str) -> None:
    wb = openpyxl.load_workbook(rollups[which])
    assert tuple(wb.sheetnames) == (ROUND_SHEETS if which == "round" else ROLLUP_SHEETS)
    for ws in wb.worksheets:
        last_col = used_cols(ws)
        s = setup(ws, last_col)
        assert s.landscape, ws.title
        check_readable(ws, s, last_col)
        assert ws.oddFooter.center.text and "&P" in ws.oddFooter.center.text, ws.title
        breaks = [b.id for b in ws.col_breaks.brk]
        if not breaks:  # one page wide
            content = width_pt(ws, 1, last_col) * s.scale * (1 if s.fitted else ENGINE_ROOM)
            assert content <= s.printable_w + 0.5, f"{ws.title} runs onto a second page wide"
        if ws.title not in ("统计",):
            assert ws.print_title_rows == ("$3:$4" if ws.title == "指标得分" else "$3:$3"), ws.title


def test_scores_sheet_runs_over_pages_wide_with_its_key_columns(spec: Spec, rollups: dict[str, Path]) -> None:
    ws = openpyxl.load_workbook(rollups["samples"])["指标得分"]
    inds = [(cat, ind) for cat in spec.categories for ind in cat.indicators]
    last_col = 3 + 2 * len(inds) + 1
    s = setup(ws, last_col)
    assert not s.fitted and s.scale * 10 >= MIN_PT  # no fit-to-one-page-wide: full size
    assert ws.print_title_cols == "$A:$C" and ws.print_title_rows == "$3:$4"
    breaks = sorted(b.id for b in ws.col_breaks.brk)  # 0-based: the first column of a new page
    assert breaks, "指标得分 should run over several pages wide"
    key = width_pt(ws, 1, 3)
    starts = [3] + breaks
    for n, first in enumerate(starts):
        last = (starts[n + 1] if n + 1 < len(starts) else last_col) - 1
        assert (key + width_pt(ws, first + 1, last + 1)) * s.scale * ENGINE_ROOM <= s.printable_w, f"page {n + 1} is too wide"
    # An indicator's two columns never part; a category stays on one page when it fits.
    assert all((b - 3) % 2 == 0 for b in breaks)
    first_col = 3
    for cat in spec.categories:
        cols = (first_col, first_col + 2 * len(cat.indicators) - 1)
        fits = (key + width_pt(ws, cols[0] + 1, cols[1] + 1)) * s.scale * ENGINE_ROOM <= s.printable_w
        if fits:
            assert not [b for b in breaks if cols[0] < b <= cols[1]], f"{cat.name} is split over two pages"
        first_col = cols[1] + 1


def test_statistics_charts_stand_beside_the_tables_and_on_one_page(rollups: dict[str, Path]) -> None:
    path = rollups["samples"]
    ws = openpyxl.load_workbook(path)["统计"]
    tables = {c.column for row in ws.iter_rows() for c in row if c.value is not None}
    charts = drawing_anchors(path, "统计")
    assert len(charts) == 2
    assert all(c0 >= max(tables) for c0, _r0, _c1, _r1 in charts), "a chart stands over a table"
    below = sorted(charts, key=lambda a: a[1])
    assert below[0][3] < below[1][1], "the charts overlap"
    s = setup(ws, used_cols(ws))
    assert not s.fitted
    breaks = [b.id for b in ws.row_breaks.brk]
    for _c0, r0, _c1, r1 in charts:
        assert not [b for b in breaks if r0 < b <= r1], "a page break cuts a chart"
    heights = [row_height(ws, r + 1) for r in range(ws.max_row)]
    pages_down(heights, sorted(breaks), s.printable_h / s.scale, None, 0)
    # The last table's header repeats on the page it runs on to.
    head = next(c.row for c in ws["A"] if c.value == "指标")
    assert ws.print_title_rows == f"${head}:${head}"


def test_long_texts_go_on_in_continuation_rows_and_nothing_is_lost(rollups: dict[str, Path]) -> None:
    ws = openpyxl.load_workbook(rollups["long"])["文字材料"]
    headers = [c.value for c in ws[3]]
    rows = [[c.value for c in r] for r in ws.iter_rows(min_row=4)]
    assert len(rows) > 5, "a 6,000-character text needs several rows"
    assert all(r[0] == rows[0][0] for r in rows), "continuation rows repeat 编号"
    for label, fid in (("主要绩效", "fld_achievements"), ("主要问题", "fld_problems"), ("改进措施", "fld_improvements")):
        col = headers.index(label)
        parts = [r[col] for r in rows if r[col]]
        assert all(p.startswith("（续）") for p in parts[1:])
        assert "".join(p.removeprefix("（续）") for p in parts) == LONG[fid].strip()


# -- LibreOffice renders them ----------------------------------------------------------------------------------


def pdf_pages(pdf: Path) -> list[str]:
    text = subprocess.run(["pdftotext", "-raw", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return text.split("\f")[:-1] if text.endswith("\f") else text.split("\f")


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def unquoted(text: str) -> str:
    """:func:`flat` without quotation marks: where the CJK font has none (Droid Sans Fallback, the only CJK font
    Debian's LibreOffice brings), they are drawn from another font and pdftotext gives them out of their line."""
    return re.sub(r"[“”‘’\"']", "", flat(text))


def sheet_pages(pages: list[str], sheet: str) -> list[str]:
    """The pages whose footer names ``sheet``."""
    return [p for p in pages if re.search(rf"^{re.escape(sheet)}\s+第 \d+ 页", p, re.M)]


@pytest.fixture(scope="module")
def pdfs(soffice: str, forms: dict[str, Path], rollups: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    out = tmp_path_factory.mktemp("print-pdf")
    paths = [forms["seed"], forms["blank"], rollups["samples"], rollups["long"], rollups["round"]]
    pdf = convert(paths, out, target="pdf")
    return {name: pdf_pages(p) for name, p in zip(("seed", "blank", "samples", "long", "round"), pdf)}


@pytest.mark.engine
def test_form_pages_hold_what_they_should(spec: Spec, seed_values: dict, pdfs: dict[str, list[str]]) -> None:
    lay = Layout(spec)
    for which in ("blank", "seed"):
        form = sheet_pages(pdfs[which], spec.sheet)
        first = flat(form[0])
        assert flat(spec.title) in first
        if which == "blank":
            assert all(flat(f.label) in first for f in spec.fields), "the header block is on the first page"
            assert len(form) == 3
        # Each category prints whole on one page, under the table's header.
        for c in lay.categories:
            names = [flat(r.indicator.name) for r in c.rows if r.indicator]
            holding = [p for p in form if all(n in flat(p) for n in names)]
            assert holding, f"{c.category.name} is split over pages"
            assert "一级指标指标名称指标解释" in flat(holding[0])
        guide = sheet_pages(pdfs[which], GUIDE_SHEET)
        assert len(guide) == 1, "填报说明 takes more than one page"
        assert all(unquoted(line) in unquoted(guide[0]) for line in spec.instructions), "an item of 填报说明 is cut"
    # The seed's long texts print whole.
    seed = unquoted("".join(sheet_pages(pdfs["seed"], spec.sheet)))
    for name in ("fld_achievements", "fld_problems", "fld_improvements", "fld_annual_goal"):
        assert unquoted(seed_values[name]) in seed, f"{name} is cut"


@pytest.mark.engine
def test_rollup_pages_hold_what_they_should(spec: Spec, pdfs: dict[str, list[str]]) -> None:
    pages = pdfs["samples"]
    assert all(sheet_pages(pages, s) for s in ROLLUP_SHEETS)
    # 指标得分: the key columns (header and units' keys) on every page, every indicator on some page.
    scores = sheet_pages(pages, "指标得分")
    assert len(scores) >= 3
    assert all("编号预算单位状态" in flat(p) and re.search(r"SH0\d\d", p) for p in scores)
    inds = [ind.name for cat in spec.categories for ind in cat.indicators]
    assert all(any(flat(n) in flat(p) for p in scores) for n in inds)
    # Every table's header row on every page of it.
    for sheet, head in (("汇总", "编号预算单位项目名称"), ("问题清单", "文件编号预算单位"), ("文件清单", "文件编号状态")):
        assert all(head in flat(p) for p in sheet_pages(pages, sheet)), sheet


@pytest.mark.engine
def test_a_rounds_sheets_print_whole(pdfs: dict[str, list[str]]) -> None:
    pages = pdfs["round"]
    # 汇总 keeps one page wide with its three since-the-last-run columns: each page holds a whole row.
    summary = sheet_pages(pages, "汇总")
    assert all("编号预算单位项目名称" in flat(p) and "本次新有效" in flat(p) for p in summary)
    assert sum(len(re.findall(r"SH0\d\d", p)) for p in summary) >= 20
    # 提交记录: its header on every page, every file received on some page, each with its fate.
    record = sheet_pages(pages, "提交记录")
    assert record and all("序号首次收到" in flat(p) and "编号文件状态" in flat(p) for p in record)
    rows = [line for p in record for line in p.splitlines() if re.match(r"\s*\d+\s+\d\s+SH0\d\d\s", line)]
    assert len(rows) == 19 and all(re.search(r"计入|被替代", line) for line in rows)


@pytest.mark.engine
def test_long_texts_print_whole(pdfs: dict[str, list[str]]) -> None:
    text = flat("".join(sheet_pages(pdfs["long"], "文字材料")))
    for prefix, n in (("第", 300), ("问题", 250), ("措施", 120)):
        missing = [i for i in range(1, n + 1) if f"{prefix}{i:03d}" not in text]
        assert not missing, f"{prefix}: {missing[:10]} not printed"


def test_the_default_font_is_not_changed_by_writing(spec, tmp_path) -> None:
    """XlsxWriter adds ``theme_font_name`` to the default-format dict it is given; given ours, every
    later workbook in the process got a different default font (``<scheme val="minor"/>``), so two
    identical runs in one process wrote different bytes. The writers pass a copy."""
    from xltemplate.form.generate import generate_workbook
    from xltemplate.printing import DEFAULT_FONT

    import datetime as dt

    stamp = dt.datetime(2021, 3, 1, tzinfo=dt.timezone.utc)
    before = dict(DEFAULT_FONT)
    a = generate_workbook(spec, tmp_path / "a.xlsx", generated_at=stamp).sha256
    b = generate_workbook(spec, tmp_path / "b.xlsx", generated_at=stamp).sha256
    assert DEFAULT_FONT == before and a == b
