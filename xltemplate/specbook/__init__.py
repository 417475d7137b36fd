"""The spec workbook: a form's spec as a workbook its author edits in Excel or WPS, converted both ways.

YAML stays the exact, diffable format; the workbook is the one people edit. :func:`write_specbook`
writes any spec as a workbook (sheets 设置, 字段, 类别, 指标 … see :mod:`.columns`);
:func:`read_specbook` reads one back into the spec's plain data, with a :class:`.locate.Locator`
that puts the spec checker's key paths into sheet, row and column. Loading a workbook as a spec
(checked by the one spec checker) is :func:`xltemplate.catalog.load_spec`, like any spec file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazynames import later

if TYPE_CHECKING:
    from .columns import SHEETS, sheets_for
    from .locate import Locator
    from .read import read_specbook
    from .write import write_specbook

#: The suffixes a spec workbook may have.
SPECBOOK_SUFFIXES = (".xlsx", ".xlsm")

#: Where each name lives: its module is imported when the name is first asked for (every run loads a YAML spec or
#: a built-in, through catalog, which needs none of them: issue 15, a round's second run's start-up).
_PARTS = {"SHEETS": "columns", "sheets_for": "columns", "Locator": "locate", "read_specbook": "read",
          "write_specbook": "write"}

__getattr__ = later(__name__, _PARTS, globals())


__all__ = ["SHEETS", "SPECBOOK_SUFFIXES", "Locator", "read_specbook", "sheets_for", "write_specbook"]
