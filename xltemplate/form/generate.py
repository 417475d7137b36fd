"""Write the locked self-evaluation workbook for a spec (XlsxWriter).

Positions come from the family's layout, formulas and their cached values from
:mod:`xltemplate.form.formulas`; what every family shares (title, hint, header block, notes, page
setup, conditional formats, protection, defined names, the 填报说明 sheet, the metadata) is
written here, and the family writes its body (:meth:`FormFamily.write_body`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import xlsxwriter
from xlsxwriter.utility import xl_rowcol_to_cell

from .. import meta
from ..errors import GenerateError
from ..fsutil import build_time, sha256_file, write_atomic
from ..printing import (
    DEFAULT_FONT, ENGINE_SLACK, PT_PER_PX, XLSX_A4, Page, cell_height, columns_pt, fit_scale, footer, page_rows_pt,
    paginate, text_height, units_of_px,
)
from ..catalog import TemplateLike, as_spec
from ..sheettext import workbook
from ..sign import Keyring
from ..spec import Field, Spec
from ..version import __version__
from .family import FormFamily, family_of
from .formulas import alert_rules, evaluate, formulas
from .lean import LeanFormSheet, LeanWorkbook, lean_enabled
from .layout import GUIDE_SHEET, LAYOUT_VERSION, FieldSlot, FormLayout, Targets
from .prompts import field_validation
from .sheet import FormSheet, SheetWriter, Styles

#: The form prints landscape (its columns are too wide for a portrait page at a readable
#: size), the guide portrait.
FORM_PAGE = Page(landscape=True, left=0.4, right=0.4, top=0.5, bottom=0.55)
GUIDE_PAGE = Page(landscape=False, left=0.6, right=0.6, top=0.6, bottom=0.6)
DEFAULT_ROW_PT = 15.0  # rows the writer leaves alone


@dataclass(frozen=True)
class Generated:
    """One workbook written: where, for which roster key, and its sha256."""

    path: Path
    key: str | None
    sha256: str


def generate_workbook(
    spec: TemplateLike,
    path: str | Path,
    *,
    password: str | None = None,
    prefill: Mapping[str, Any] | None = None,
    values: Mapping[str, Any] | None = None,
    roster_key: str | None = None,
    generated_at: dt.datetime | None = None,
    keyring: Keyring | None = None,
    targets: Targets | None = None,
) -> Generated:
    """Write one locked workbook for ``spec`` to ``path`` (atomically).

    ``prefill`` maps field ids to values the bureau fills in; those cells are locked.
    ``values`` maps defined names of input cells to values typed as a unit would
    (used for samples and tests); those cells stay editable. ``spec`` is a built-in id, a spec
    path or a Spec. ``targets``: the workbook's own rows, for a family that takes them (the
    national form's per-project indicators, see :mod:`xltemplate.targets`), recorded in the metadata.
    """
    spec = as_spec(spec)
    family = family_of(spec)
    if targets is not None and not family.takes_targets:
        raise GenerateError(f"'{spec.id}' takes no targets: its indicators are the spec's own")
    layout = _layout(family, spec, targets)
    stamp = build_time(generated_at)
    prefill = dict(prefill or {})
    values = dict(values or {})
    unknown = [k for k in prefill if k not in {f.id for f in spec.all_fields if not f.computed and f.prefillable}]
    if unknown:
        raise GenerateError(f"cannot prefill {', '.join(unknown)}: not input fields of '{spec.id}' a roster may fill")
    inputs = {c.name for c in layout.input_cells()}
    stray = [k for k in values if k not in inputs]
    if stray:
        raise GenerateError(f"cannot fill {', '.join(stray)}: not input cells of '{spec.id}'")

    if not lean_enabled():
        def write(tmp: Path) -> None:
            _Writer(spec, family, layout, tmp, password, prefill, values, roster_key, stamp, keyring, targets).write()

        write_atomic(path, write)
        return Generated(Path(path), roster_key, sha256_file(path))
    # The lean writer: the package made in memory, written in one piece and hashed from what was written
    # (XlsxWriter writes the same bytes into memory as into a file; tests/test_generate_lean.py compares).
    digest: list[str] = []

    def write_lean(tmp: Path) -> None:
        buf = io.BytesIO()
        _Writer(spec, family, layout, buf, password, prefill, values, roster_key, stamp, keyring, targets).write()
        data = buf.getvalue()
        tmp.write_bytes(data)
        digest.append(hashlib.sha256(data).hexdigest())

    write_atomic(path, write_lean)
    return Generated(Path(path), roster_key, digest[0])


#: Remember a spec's layout (with a workbook's own targets) in a process: ``generate`` writes hundreds of
#: workbooks of one spec, and a first-form layout is a third of a millisecond to make. False: made anew.
REMEMBER_LAYOUTS = True
_LAYOUTS: dict[tuple[str, str, str, str | None], FormLayout] = {}
_MAX_LAYOUTS = 64


def _layout(family: FormFamily, spec: Spec, targets: Targets | None) -> FormLayout:
    """The family's layout of ``spec`` and ``targets``, made once per spec and targets (as validation's plans are:
    the spec's id, version and the process's own hash of its content, the targets' full canonical text)."""
    if not REMEMBER_LAYOUTS:
        return family.layout(spec, targets)
    key = (spec.id, spec.version, spec.spec_hash, meta.targets_json(targets) if targets is not None else None)
    found = _LAYOUTS.get(key)
    if found is None:
        if len(_LAYOUTS) >= _MAX_LAYOUTS:
            _LAYOUTS.pop(next(iter(_LAYOUTS)))
        found = _LAYOUTS[key] = family.layout(spec, targets)
    return found


class _Writer:
    def __init__(self, spec: Spec, family: FormFamily, layout: FormLayout, path: Path | io.BytesIO, password: str | None,
                 prefill: dict[str, Any], values: dict[str, Any], roster_key: str | None,
                 stamp: dt.datetime, keyring: Keyring | None = None, targets: Targets | None = None) -> None:
        self.spec, self.family, self.layout, self.path = spec, family, layout, path
        self.password, self.prefill, self.values = password, prefill, values
        self.roster_key, self.stamp, self.keyring, self.targets = roster_key, stamp, keyring, targets
        # Everything the formulas read, by defined name: spec values, prefills, typed values.
        self.cells: dict[str, Any] = dict(family.spec_values(layout))
        for fid, v in prefill.items():
            self.cells[layout.field(fid).cell.name] = v
        self.cells.update(values)
        self.cached = evaluate(layout, self.cells)

    def write(self) -> None:
        lean = lean_enabled()
        wb = workbook(self.path if isinstance(self.path, io.BytesIO) else str(self.path), {
            # Text is text: nothing typed by a person becomes a number, formula or link.
            "strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False,
            "in_memory": True,  # a small workbook: no temporary files per sheet
            "default_format_properties": dict(DEFAULT_FONT),  # a copy: XlsxWriter adds keys to it (see test_print)
        }, LeanWorkbook if lean else xlsxwriter.Workbook)
        wb.set_properties({
            "title": f"{self.spec.title}（{self.spec.id} {self.spec.version}）",
            "subject": self.spec.title, "author": "xltemplate", "company": "",
            "comments": "由 xltemplate 生成；请勿修改表格结构。", "created": self.stamp.replace(tzinfo=None),
        })
        self.st = Styles(wb)
        ws = wb.add_worksheet(self.spec.sheet, worksheet_class=LeanFormSheet if lean else FormSheet)
        self.ws = ws
        prefilled = frozenset(self.layout.field(fid).cell.name for fid in self.prefill)
        self.out = SheetWriter(self.spec, self.layout, ws, self.st, formulas(self.layout), self.cells, self.cached, prefilled)
        self._sheet_setup()
        self._title()
        self._fields()
        self.family.write_body(self.out, self.layout)
        self._notes()
        self._pages()
        self._conditional_formats()
        self._protect(ws)
        self._defined_names(wb)
        self._guide(wb)
        self._metadata(wb)
        ws.activate()
        wb.close()

    # -- parts -----------------------------------------------------------------
    def _sheet_setup(self) -> None:
        ws, lay = self.ws, self.layout
        for col, width in enumerate(lay.grid.widths):
            ws.set_column(col, col, width)
        ws.set_landscape()
        ws.set_paper(XLSX_A4)
        ws.center_horizontally()
        ws.set_margins(**FORM_PAGE.margins())
        ws.repeat_rows(lay.repeat_row)  # the body's header, on every page
        ws.print_area(0, 0, lay.last_row, lay.grid.last_col)
        ws.set_footer(footer(f"编号：{self.roster_key}" if self.roster_key else ""),
                      {"margin": FORM_PAGE.footer})
        ws.hide_gridlines(2)

    def _pages(self) -> None:
        """Print scale and page breaks, from the rows' heights and the layout's blocks.

        A written scale, not "fit to page width": Excel ignores manual page breaks on a sheet
        fitted to a width. The breaks keep the title with the header block, the body's header
        with what follows it and every block of the body whole when it fits on a page.
        """
        ws, lay = self.ws, self.layout
        scale = fit_scale(columns_pt(lay.grid.widths), FORM_PAGE)
        ws.set_print_scale(scale)
        heights = [self.out.heights.get(r, DEFAULT_ROW_PT) for r in range(lay.last_row + 1)]
        room = page_rows_pt(FORM_PAGE, scale)
        head_row = lay.repeat_row
        title = heights[head_row]  # printed again on top of every page after the first body page

        def capacity(first: int) -> float:
            return room - title if first > head_row else room

        breaks = paginate(heights, lay.print_blocks(), capacity)
        if breaks:
            ws.set_h_pagebreaks(breaks)

    def _title(self) -> None:
        ws, lay, last = self.ws, self.layout, self.layout.grid.last_col
        self.out.height(lay.title_row, 36)
        ws.merge_range(lay.title_row, 0, lay.title_row, last, self.spec.title, self.st.title)
        hint = ("填报提示：浅黄色单元格为填报区域；浅蓝色为财政局预填，绿色为公式自动计算，均已锁定。"
                f"“校验”列出现红色提示时请按提示修改。详见“{GUIDE_SHEET}”工作表。")
        self.out.height(lay.hint_row, max(24, cell_height(hint, sum(lay.grid.widths), 10)))
        ws.merge_range(lay.hint_row, 0, lay.hint_row, last, hint, self.st.hint)

    def _fields(self) -> None:
        ws, out = self.ws, self.out
        heights: dict[int, float] = {}
        for slot in self.layout.fields:
            f = slot.field
            ws.write_string(slot.label_row, slot.label_col, f.label + "：", self.st.label)
            role = "computed" if f.computed else ("prefill" if f.id in self.prefill else "input")
            ftype = "grade" if f.compute == "grade" else f.type
            fmt = self.st.value(role, ftype)
            c = slot.cell
            if slot.last_col > c.col:
                ws.merge_range(c.row, c.col, c.row, slot.last_col, None, fmt)
            if f.computed:
                out.formula(c, fmt)
            else:
                value = self.prefill.get(f.id, self.values.get(c.name))
                out.put(c, value, fmt)
                if role == "input":
                    out.validate(c, field_validation(f))
            heights[c.row] = max(heights.get(c.row, 0), _field_height(self.layout, slot, self.cells.get(c.name)))
        for row, h in heights.items():
            out.height(row, h)
        out.height(self.layout.gap_row, 12)  # the gap above the body

    def _notes(self) -> None:
        ws, lay = self.ws, self.layout
        if not self.spec.notes:
            return
        ws.write_string(lay.notes_title_row, 0, "说明：", self.st.note_title)
        self.out.height(lay.notes_title_row, text_height(1, 11))
        for row, text in zip(lay.notes_rows, self.spec.notes):
            ws.merge_range(row, 0, row, lay.grid.last_col, text, self.st.note)
            self.out.height(row, max(18, cell_height(text, sum(lay.grid.widths), 10)))

    def _conditional_formats(self) -> None:
        for rule in alert_rules(self.layout):
            where = f"{xl_rowcol_to_cell(rule.first_row, rule.first_col)}:{xl_rowcol_to_cell(rule.last_row, rule.last_col)}"
            self.out.check(self.ws.conditional_format(rule.first_row, rule.first_col, rule.last_row, rule.last_col,
                                                      {"type": "formula", "criteria": rule.formula, "format": self.st.alert}),
                           f"the conditional format on {where}")

    def _protect(self, ws: Any) -> None:
        ws.protect(self.password or "", {
            "select_locked_cells": True, "select_unlocked_cells": True,
            "format_rows": True, "format_columns": True,
        })

    def _defined_names(self, wb: xlsxwriter.Workbook) -> None:
        sheet = self.spec.sheet.replace("'", "''")
        # Exactly the cells describe lists, fixed texts included: a reader may use any of them.
        pairs = [(cell.name, f"='{sheet}'!{cell.ref}") for cell in sorted(self.layout.named_cells(), key=lambda c: c.name)]
        if isinstance(wb, LeanWorkbook):
            code, name = wb.define_names(pairs)
            self.out.check(code, f"the defined name {name}")
            return
        for name, formula in pairs:
            self.out.check(wb.define_name(name, formula), f"the defined name {name}")

    def _guide(self, wb: xlsxwriter.Workbook) -> None:
        """The 填报说明 sheet: one column as wide as a portrait page, printed at full size."""
        ws = wb.add_worksheet(GUIDE_SHEET)
        title = wb.add_format({"font_name": "宋体", "bold": True, "font_size": 14, "text_wrap": True, "valign": "vcenter"})
        text = wb.add_format({"font_name": "宋体", "font_size": 11, "text_wrap": True, "valign": "top"})
        width = int(units_of_px(GUIDE_PAGE.width_pt / ENGINE_SLACK / PT_PER_PX))
        ws.set_column(0, 0, width)
        lines = [f"{n}、{line}" for n, line in enumerate(self.spec.instructions, start=1)]
        lines += ["", f"模板：{self.spec.id}  版本：{self.spec.version}"] + ([f"编号：{self.roster_key}"] if self.roster_key else [])
        heading = f"填报说明（{self.spec.title}）"
        ws.set_row(0, max(30, cell_height(heading, width, 14, bold=True)))
        ws.write_string(0, 0, heading, title)
        for n, line in enumerate(lines, start=1):
            ws.set_row(n, cell_height(line, width, 11) + 4)  # a little air between items
            if line:
                ws.write_string(n, 0, line, text)
        ws.protect(self.password or "")
        ws.set_paper(XLSX_A4)
        ws.set_portrait()
        ws.set_margins(**GUIDE_PAGE.margins())
        ws.set_print_scale(fit_scale(columns_pt([width]), GUIDE_PAGE))
        ws.set_footer(footer(), {"margin": GUIDE_PAGE.footer})
        ws.hide_gridlines(2)

    def _metadata(self, wb: xlsxwriter.Workbook) -> None:
        values = meta.record(
            template_id=self.spec.id, template_version=self.spec.version, spec_hash=self.spec.spec_hash,
            layout_version=LAYOUT_VERSION, generator=f"xltemplate {__version__}", generated_at=self.stamp,
            roster_key=self.roster_key, prefill=self.prefill, targets=self.targets,
        )
        keys = list(meta.KEYS) + ([meta.TARGETS_KEY, meta.TARGETS_HASH_KEY] if self.targets is not None else [])
        if self.keyring is not None:
            # Signed over the values exactly as written above: the reader rebuilds the same text.
            values[meta.SIGNATURE_KEY] = self.keyring.sign(values)
            keys.append(meta.SIGNATURE_KEY)
        ws = wb.add_worksheet(meta.SHEET)
        for n, key in enumerate(keys):
            self.out.check(ws.write_string(n, 0, key), f"metadata key {key}")
            self.out.check(ws.write_string(n, 1, values[key]), f"metadata value {key}")
            if key not in ("prefill", meta.TARGETS_KEY):  # long JSON: the sheet holds it, its hash is mirrored
                self.out.check(wb.set_custom_property(meta.PROPERTY_PREFIX + key, values[key]), f"custom property {key}")
        ws.protect(self.password or "")
        ws.very_hidden()


def _field_height(layout: FormLayout, slot: FieldSlot, value: Any) -> float:
    """A header row's height: its label and its value wrapped, with room to type in when blank.

    Blank text fields get two lines (unit and project names are often longer than a line),
    long texts four; a long text that needs more than Excel's 409 pt is cut in print (the
    roll-up's 文字材料 prints it whole).
    """
    f: Field = slot.field
    widths = layout.grid.widths
    width = sum(widths[slot.cell.col: slot.last_col + 1])
    label = cell_height(f.label + "：", widths[slot.label_col], 11, bold=True)  # (the label's format is bold)
    shown = _shown(f, value)
    size = 12 if f.compute == "grade" else 11
    room = {"longtext": 4, "text": 2}.get(f.type, 1)
    return max(24.0, label, text_height(room, 11), cell_height(shown, width, size))


def _shown(f: Field, value: Any) -> str:
    """Roughly the text a cell shows for ``value`` (numbers with separators and decimals)."""
    from decimal import Decimal

    if value is None:
        return ""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return f"{float(value):,.2f}" if f.type in ("money", "percent") else format(value, "")
    return str(value)
