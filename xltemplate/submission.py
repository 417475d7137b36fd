"""What a reader extracts from a returned workbook, independent of any template.

Both readers (the openpyxl reference and the fast one) produce a
:class:`Submission`; validation then interprets it through a spec's layout.
Keeping this snapshot plain data is what lets a differential test compare the
two readers field by field.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, NamedTuple

#: Only this much of each sheet is read: forms are small, and a sheet padded with
#: 100,000 rows must not cost 100,000 rows of work.
MAX_ROWS = 1000
MAX_COLS = 26


class CellData(NamedTuple):
    """One non-empty cell: what it shows, and its formula when it holds one.

    A named tuple, not a dataclass: readers make hundreds per file, and this is the cheapest.
    """

    value: Any  # for a formula cell: the cached result the file claims (None when absent)
    formula: str | None = None  # with the leading "="
    error: bool = False  # the value is an error such as #DIV/0!


@dataclass
class Submission:
    """A returned workbook, read but not yet judged."""

    path: str
    sha256: str
    size: int
    saved_at: dt.datetime | None = None  # the workbook's own last-saved time (docProps/core.xml)
    application: str | None = None  # docProps/app.xml: "Microsoft Excel", "LibreOffice" …
    sheets: dict[str, str] = field(default_factory=dict)  # name → visible | hidden | veryHidden
    protected: dict[str, bool] = field(default_factory=dict)  # sheet → protection on
    meta: dict[str, str] | None = None  # the metadata sheet's key → value (each within its bound); None when absent
    meta_too_long: dict[str, int] = field(default_factory=dict)  # metadata keys whose values were cut → length found
    properties: dict[str, str] = field(default_factory=dict)  # custom document properties
    defined_names: dict[str, tuple[str, str] | None] = field(default_factory=dict)  # name → (sheet, A1)
    cells: dict[str, dict[str, CellData]] = field(default_factory=dict)  # sheet → A1 → data
    # sheet → A1 → why a person does not see what the cell holds (display.MERGED or display.FORMAT),
    # for non-empty cells within the bounds
    concealed: dict[str, dict[str, str]] = field(default_factory=dict)
    has_macros: bool = False

    def cell(self, sheet: str, a1: str) -> CellData | None:
        return self.cells.get(sheet, {}).get(a1)

    def value(self, sheet: str, a1: str) -> Any:
        c = self.cell(sheet, a1)
        return None if c is None else c.value


def split_a1(a1: str) -> tuple[int, int]:
    """``"E15"`` → (15, 5): row and 1-based column of a canonical A1 reference."""
    col = 0
    for n, ch in enumerate(a1):
        if ch.isdigit():
            return int(a1[n:]), col
        col = col * 26 + ord(ch) - 64
    raise ValueError(a1)
