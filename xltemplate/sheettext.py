"""The one place a text goes into an XlsxWriter worksheet: shown as itself, whatever it looks like.

XlsxWriter takes any text that starts with ``<r>`` and ends with ``</r>`` for the XML of a rich string (what its
``write_rich_string`` stores) and writes it into the file raw, unescaped, in the shared strings or inline. A clerk's
text of that shape (a return's 主要问题 typed as ``<r><t>没有问题</t></r>``, a roster's unit name) was therefore not
shown as typed: Excel showed 没有问题, and a text that closed its own tags put cells of its own into the bureau's
roll-up. :class:`TextSheet` writes such a text as a rich string of one run holding the text escaped, which every
program shows as the text itself, and which xltemplate's readers read back as the same text (the runs' texts
joined). Every other text is written exactly as before. Every worksheet xltemplate writes derives from it
(tests/test_sheettext.py checks every ``add_worksheet`` and ``xlsxwriter.Workbook`` in the package).
"""

from __future__ import annotations

import sys
from typing import Any

import xlsxwriter
from xlsxwriter.worksheet import Worksheet, _utf16_len, _utf16_truncate

__all__ = ["TextSheet", "as_itself", "looks_rich", "workbook"]


def looks_rich(text: str) -> bool:
    """True for a text XlsxWriter would write raw as rich-string XML."""
    return text.startswith("<r>") and text.endswith("</r>")


def as_itself(text: str) -> str:
    """What XlsxWriter must be given to show ``text`` as it is: ``text``, or for a text :func:`looks_rich`, one run
    holding it escaped (spaces kept)."""
    if not looks_rich(text):
        return text
    # (not xml.sax.saxutils.escape: importing it imports urllib.request, ssl and email, 35 ms and 2 MB in every process)
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f'<r><t xml:space="preserve">{escaped}</t></r>'


class TextSheet(Worksheet):
    """XlsxWriter's worksheet, a text of rich-string shape written as a one-run rich string of itself."""

    def _write_string(self, row: int, col: int, string: str, cell_format: Any = None) -> Any:
        if not looks_rich(string):
            return super()._write_string(row, col, string, cell_format)
        code = 0
        strmax: int = getattr(self, "xls_strmax")  # noqa: B009 - (XlsxWriter's attribute, untyped)
        if len(string) > strmax // 2 and _utf16_len(string) > strmax:  # (Excel's limit on the text)
            string = _utf16_truncate(string, strmax)
            code = -2
            if not looks_rich(string):
                return super()._write_string(row, col, string, cell_format) or code
        setattr(self, "xls_strmax", sys.maxsize)  # noqa: B010 - (the run's markup is not the text's length)
        try:
            return super()._write_string(row, col, as_itself(string), cell_format) or code
        finally:
            setattr(self, "xls_strmax", strmax)  # noqa: B010


def workbook(path: Any, options: dict[str, Any], cls: type[xlsxwriter.Workbook] = xlsxwriter.Workbook) -> Any:
    """``cls(path, options)`` whose worksheets are :class:`TextSheet` unless another class is named."""
    wb = cls(path, options)
    wb.worksheet_class = TextSheet
    return wb
