"""A worksheet that writes the roll-up's cells with less Python per cell, byte for byte as XlsxWriter does.

The roll-up writes some 750,000 cells at 10,000 units (指标得分 is half of them), each through
XlsxWriter's general cell writer, which builds a list of attributes and escapes each one for every
cell. :class:`LeanSheet` writes the three kinds the roll-up writes (a number, a text in constant-memory
mode, an empty cell, each with its own format) in one f-string, with XlsxWriter's own escaping of the
text, and hands everything else to XlsxWriter. It leans on XlsxWriter internals (the cell tuples, the
``_write_cell`` hook, ``fh``), so it is used only with the XlsxWriter version it was compared with,
byte for byte (tests/test_rollup_lean.py writes the same cells both ways); with any other version the
stock writer runs.
"""

from __future__ import annotations

from typing import Any

import xlsxwriter
from xlsxwriter.utility import _preserve_whitespace, xl_rowcol_to_cell_fast
from xlsxwriter.worksheet import CellBlankTuple, CellNumberTuple, CellStringTuple, Worksheet

#: The XlsxWriter version whose output :class:`LeanSheet` was compared with.
VERIFIED_XLSXWRITER = "3.3.1"
#: Use the lean writer (with the verified XlsxWriter only); False: XlsxWriter's own (the tests compare).
USE_LEAN = True


def lean_enabled() -> bool:
    return USE_LEAN and xlsxwriter.__version__ == VERIFIED_XLSXWRITER


class LeanSheet(Worksheet):
    """XlsxWriter's worksheet, with a shorter path for a formatted number, text or empty cell."""

    def _write_cell(self, row: int, col: int, cell: Any) -> None:
        kind = type(cell)
        fmt = cell.format
        if fmt is None or not (kind is CellNumberTuple or kind is CellBlankTuple or (kind is CellStringTuple and self.constant_memory)):
            # (without a format of its own a cell takes its row's or column's: XlsxWriter's rules)
            super()._write_cell(row, col, cell)
            return
        head = f'<c r="{xl_rowcol_to_cell_fast(row, col)}" s="{fmt._get_xf_index()}"'
        if kind is CellNumberTuple:
            self.fh.write(f"{head}><v>{cell.number:.16G}</v></c>")
        elif kind is CellBlankTuple:
            self.fh.write(f"{head}/>")
        else:
            string = self._escape_control_characters(cell.string)
            if string.startswith("<r>") and string.endswith("</r>"):  # what XlsxWriter writes as a rich string
                super()._write_cell(row, col, cell)
                return
            space = ' xml:space="preserve"' if _preserve_whitespace(string) else ""
            self.fh.write(f'{head} t="inlineStr"><is><t{space}>{self._escape_data(string)}</t></is></c>')
