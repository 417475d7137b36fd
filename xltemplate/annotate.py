"""Annotated copies for the departments: where and what to fix, inside their own workbook.

Each cell with a finding is highlighted and carries a comment with the message;
a 问题清单 sheet in front lists every finding with a link to its cell. The
original file is never touched: the copy is written atomically into another
folder, and the workbook's own protection is kept as it was.

openpyxl loads the whole returned workbook here, so this runs in a bounded
worker (:func:`xltemplate.batch.annotate_many`), and the file is sniffed again
and must still be the bytes that were validated: the copy is made of what was
judged, and a file the readers refuse is refused here too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from .errors import OutputPathError, Unreadable
from .fsutil import scratch_dir, sha256_file, write_atomic
from .pathtext import safe_filename, shown as show_name  # annotate() has a local `shown`
from .printing import wrapped_lines
from .readers.sniff import sniff
from .report import FileReport
from .words import ERROR, SEVERITY_ZH, UNREADABLE

FINDINGS_SHEET = "问题清单"
_ERROR_FILL = "FFC7CE"
_WARNING_FILL = "FFEB9C"


def annotated_name(report: FileReport) -> str:
    """The annotated copy's name when it is the only one: see :func:`annotated_names`."""
    return annotated_names([report]).get(report.path) or f"{_base(report, False)}_批注.xlsx"


def needs_annotation(report: FileReport) -> bool:
    """A readable file with findings gets an annotated copy."""
    return report.status != UNREADABLE and bool(report.findings)


def annotated_names(reports: Iterable[FileReport]) -> dict[str, str]:
    """The annotated copy's file name for each report that gets one, unique in the run.

    ``<key>_<stem>_批注.xlsx`` (the key left out when the file has none, or its name begins with it),
    always .xlsx, so a macro in a return never travels back in our copy. Where two would collide
    (two ``自评表.xlsx`` in different folders: one department must never receive the other's), the
    source folder's name is added, then a number. Names are made safe for every file system: a key
    or a name from a return can hold ``/``, ``..`` or a newline.
    """
    todo = sorted((r for r in reports if needs_annotation(r)), key=lambda r: r.path)
    names = {r.path: _base(r, False) for r in todo}
    clash = _clashes(names)
    for r in todo:
        if names[r.path].lower() in clash:
            names[r.path] = _base(r, True)
    used: set[str] = set()
    out = {}
    for r in todo:
        name, n = names[r.path], 2
        while name.lower() in used:
            name, n = f"{names[r.path]}_{n}", n + 1
        used.add(name.lower())
        out[r.path] = f"{name}_批注.xlsx"
    return out


def _base(report: FileReport, with_folder: bool) -> str:
    src = Path(report.path)
    stem, key = show_name(src.stem), show_name(report.key or "")
    parts = [] if not key or stem.startswith(key) else [key]
    if with_folder:
        parts.append(show_name(src.absolute().parent.name))
    return safe_filename(*parts, stem)


def _clashes(names: dict[str, str]) -> set[str]:
    seen: dict[str, int] = {}
    for name in names.values():
        seen[name.lower()] = seen.get(name.lower(), 0) + 1
    return {n for n, count in seen.items() if count > 1}


def annotate(report: FileReport, outdir: str | Path, name: str | None = None, source: str | Path | None = None) -> Path | None:
    """Write the annotated copy of one report's file into ``outdir``; None when there is nothing to do.

    ``name``: the copy's file name from :func:`annotated_names` (unique among the run's copies).
    ``source``: where the bytes are, when not at the report's path (a collection ledger's archive
    copy of a return since deleted from the inbox); the copy still names the file as it was received.
    Raises :class:`~xltemplate.errors.Unreadable` when the file is no longer the one validated
    or is refused by the sniffer. Call it through :func:`xltemplate.batch.annotate_many`,
    which bounds its memory and time.
    """
    import warnings

    import openpyxl
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.hyperlink import Hyperlink

    if not needs_annotation(report):
        return None
    src = Path(source) if source is not None else Path(report.path)
    target = Path(outdir) / (name or annotated_name(report))
    if target.resolve() == src.resolve():
        raise OutputPathError(f"标注副本 {target} 会覆盖原文件；请把 --annotate 指向别的文件夹")
    sniff(src)  # the same verdict as the readers: no DOCTYPE, a [Content_Types].xml, within the bounds
    if report.sha256 is not None and sha256_file(src) != report.sha256:
        raise Unreadable("file-unreadable", "changed", name=src.name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl warns about what it drops
        wb = openpyxl.load_workbook(src, keep_vba=False, keep_links=False)
    for f in report.findings:
        if not f.sheet or not f.cell or f.sheet not in wb.sheetnames:
            continue
        ws = wb[f.sheet]
        cell = ws[f.cell]
        anchor = _merge_anchor(ws, f.cell)
        target_cell = ws[anchor] if anchor else cell
        fill = _ERROR_FILL if f.severity == ERROR else _WARNING_FILL
        target_cell.fill = PatternFill("solid", start_color=fill, end_color=fill)
        text = f"【{SEVERITY_ZH[f.severity]}】{f.message}（{f.code}）"
        if target_cell.comment is not None:
            text = target_cell.comment.text + "\n" + text
        comment = Comment(text, "财政局绩效自评核对")
        comment.width, comment.height = 320, 140
        target_cell.comment = comment

    ws = wb.create_sheet(FINDINGS_SHEET, 0)
    ws.sheet_properties.tabColor = "C00000"
    bold = Font(bold=True)
    ws.append([f"请按下列问题修改后重新提交：{show_name(Path(report.path).name)}"])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append(["序号", "严重程度", "工作表", "单元格", "问题及修改方法", "文件中的值", "代码"])
    # A finding on a sheet the department cannot see (the hidden template information) names no sheet:
    # the message says what to do, and a link to a hidden sheet would lead nowhere.
    visible = {sh.title for sh in wb.worksheets if sh.sheet_state == "visible"}
    for c in ws[2]:
        c.font = bold
    for n, f in enumerate(report.findings, start=1):
        value = "" if f.value is None else str(f.value)
        shown = f.sheet if f.sheet in visible else None
        ws.append([n, SEVERITY_ZH[f.severity], shown or "", (f.cell or "") if shown else "", f.message, value[:200], f.code])
        row = ws.max_row
        ws.row_dimensions[row].height = 15 * max(wrapped_lines(f.message, 60), wrapped_lines(value[:200], 24))
        for c in ws[row]:
            c.alignment = Alignment(wrap_text=True, vertical="top")
            if isinstance(c.value, str) and c.value.startswith("="):
                c.data_type = "s"  # text from a return stays text
        if shown and f.cell:
            link = ws.cell(row, 4)
            link.hyperlink = Hyperlink(ref=link.coordinate, location=f"'{f.sheet}'!{f.cell}")
            link.font = Font(color="0563C1", underline="single")
    for col, width in zip("ABCDEFG", (6, 9, 14, 8, 60, 24, 20)):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A3"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = 9  # A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "2:2"
    ws.protection.sheet = True
    wb.active = 0
    for sheet in wb.worksheets[1:]:
        sheet.sheet_view.tabSelected = False
    for sheet in wb.worksheets:
        # openpyxl writes an empty <evenHeader/>, <firstFooter/> … for every sheet it loaded;
        # Gnumeric does not know those elements and warns about each. Empty ones say nothing.
        hf = sheet.HeaderFooter
        for part in ("oddHeader", "oddFooter", "evenHeader", "evenFooter", "firstHeader", "firstFooter"):
            if not getattr(hf, part):
                setattr(hf, part, None)

    def write(tmp: Path) -> None:
        # openpyxl writes each sheet to a temporary file in TMPDIR first and leaves it there when
        # the save is interrupted (SIGTERM in a worker): point it at a folder of our own instead.
        import tempfile

        with scratch_dir() as scratch:
            before, tempfile.tempdir = tempfile.tempdir, str(scratch)
            try:
                wb.save(tmp)
            finally:
                tempfile.tempdir = before

    return write_atomic(target, write)


def _merge_anchor(ws: object, coord: str) -> str | None:
    for rng in ws.merged_cells.ranges:  # type: ignore[attr-defined]
        if coord in rng:
            return rng.start_cell.coordinate
    return None
