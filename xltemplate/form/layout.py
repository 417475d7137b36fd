"""Where everything lives on the form sheet: the one place that knows cell positions.

The generator asks the layout where to write, validation where to look, and ``describe`` prints
it. A layout is a pure function of the spec: prefilled values, passwords and rosters never move a
cell. :class:`FormLayout` places what every family shares (the title, the hint, the header
fields two to a row on the family's :class:`Grid`, the notes); a family's subclass places its
body (the first family's: categories of indicator rows, subtotals and the total) and declares
which of its cells are inputs, formulas, names and locked texts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, Callable, Iterable, Mapping

from ..spec import Field, Spec
from ..text import json_number

GUIDE_SHEET = "填报说明"
#: Bumped when cell positions, defined names or formula texts change, so a reader can tell
#: layouts apart (written into every workbook's metadata). 2: formulas without N(), and a
#: defined name for every cell ``describe`` lists (the fixed indicators' explanations).
#: Validation still accepts version 1 formulas in version 1 files (``FormFamily.formula_versions``).
LAYOUT_VERSION = 2


@lru_cache(maxsize=1024)  # a national form's plan makes some two hundred cells per return, in a few columns
def col_letter(col: int) -> str:
    """0-based column index → letters (0 → A)."""
    out = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        out = chr(65 + rem) + out
    return out


def a1(row: int, col: int, absolute: bool = False) -> str:
    """0-based (row, col) → ``B5`` or ``$B$5``."""
    if absolute:
        return f"${col_letter(col)}${row + 1}"
    return f"{col_letter(col)}{row + 1}"


@dataclass(frozen=True)
class Cell:
    """One addressable cell with its workbook-level defined name."""

    row: int
    col: int
    name: str
    a1: str = field(init=False, compare=False)  # "B5"; computed once, read on every file validated
    ref: str = field(init=False, compare=False)  # "$B$5", for formulas

    def __post_init__(self) -> None:
        # (as :func:`a1` writes them, the column's letters worked out once: validation makes a national
        # form's cells anew for every return, each project's targets giving it its own rows)
        letters, row = col_letter(self.col), self.row + 1
        object.__setattr__(self, "a1", f"{letters}{row}")
        object.__setattr__(self, "ref", f"${letters}${row}")

    @property
    def column_ref(self) -> str:
        """``$B5``: the column fixed, the row moving (the top-left cell of a conditional format's range)."""
        return f"${col_letter(self.col)}{self.row + 1}"


@dataclass(frozen=True)
class FieldSlot:
    """A header field: its label cell and its value cell (merged to ``last_col``)."""

    field: Field
    label_row: int
    label_col: int
    cell: Cell
    last_col: int

    @property
    def role(self) -> str:
        if self.field.computed:
            return "computed"
        return "prefill" if self.field.prefill else "input"


@dataclass(frozen=True)
class Grid:
    """A family's columns, and where the header block puts labels and values on them.

    Short fields go two to a row, as on paper: a label and its value on the left half, another
    pair on the right half; a long text takes a whole row (its label, then its value to the last
    column).
    """

    widths: tuple[float, ...]  # each column's width, in Excel's column units
    left_label: int
    left_value: tuple[int, int]  # first and last column of the merged value cell
    right_label: int
    right_value: tuple[int, int]
    long_value: tuple[int, int]

    @property
    def last_col(self) -> int:
        return len(self.widths) - 1


#: A workbook's own rows, as a family that takes them reads them (the national form's per-project
#: targets: one mapping of texts per indicator); generic code only records, hashes and passes them on.
Targets = tuple[Mapping[str, str], ...]


class FormLayout(ABC):
    """Cell positions of a form sheet built from one spec (and, for a family that takes them, the
    workbook's own targets): what every family shares, its body abstract."""

    #: The family's columns (set by each family's subclass).
    grid: Grid

    def __init__(self, spec: Spec, targets: Targets | None = None) -> None:
        self.spec = spec
        self.targets = targets
        self.sheet = spec.sheet
        row = 0
        self.title_row = row
        row += 1
        self.hint_row = row
        row += 1
        self.fields: tuple[FieldSlot, ...]
        self.fields, row = self._place_fields(spec.fields, row)
        self.gap_row = row  # a blank row between header block and body
        row = self.place_body(row + 1)
        self.notes_title_row = row
        self.notes_rows = tuple(range(row + 1, row + 1 + len(spec.notes)))
        self.last_row = row + len(spec.notes)

    # -- the header block -------------------------------------------------------
    def _place_fields(self, fields: tuple[Field, ...], row: int) -> tuple[tuple[FieldSlot, ...], int]:
        """Short fields go two to a row (as on the paper form); long texts take a full row."""
        g = self.grid
        slots: list[FieldSlot] = []
        half_open = False  # a left half is placed and the right half of that row is free
        for f in fields:
            if f.type == "longtext":
                if half_open:
                    row += 1
                    half_open = False
                slots.append(FieldSlot(f, row, g.left_label, Cell(row, g.long_value[0], f"fld_{f.id}"), g.long_value[1]))
                row += 1
            elif not half_open:
                slots.append(FieldSlot(f, row, g.left_label, Cell(row, g.left_value[0], f"fld_{f.id}"), g.left_value[1]))
                half_open = True
            else:
                slots.append(FieldSlot(f, row, g.right_label, Cell(row, g.right_value[0], f"fld_{f.id}"), g.right_value[1]))
                row += 1
                half_open = False
        if half_open:
            row += 1
        return tuple(slots), row

    # -- the body: each family's own ------------------------------------------------
    @abstractmethod
    def place_body(self, row: int) -> int:
        """Place the body from ``row``; return the first row after it (where the notes start)."""

    @abstractmethod
    def body_inputs(self) -> list[Cell]:
        """The body's cells a unit may type into."""

    @abstractmethod
    def body_computed(self) -> list[Cell]:
        """The body's cells holding a formula."""

    @abstractmethod
    def body_named(self) -> list[Cell]:
        """The body's cells given a defined name."""

    @abstractmethod
    def body_locked_texts(self) -> dict[tuple[int, int], str]:
        """The body's fixed texts by (row, col)."""

    @abstractmethod
    def body_print_blocks(self) -> list[tuple[int, int]]:
        """Row ranges of the body kept on one page when they fit (the last one is extended to the notes)."""

    @abstractmethod
    def describe_body(self, cell: Callable[[Cell], dict[str, str]]) -> dict[str, Any]:
        """The body's part of :meth:`describe` (keys after ``fields``)."""

    #: The cell holding the total score, which the grade is computed from.
    total_score: Cell

    @abstractmethod
    def score_ranges(self) -> list[str]:
        """The A1 ranges of the scores a unit types: the grade stays blank until one holds a number."""

    @abstractmethod
    def score_cells(self) -> Iterable[Cell]:
        """The cells of :meth:`score_ranges`, for the Python twin."""

    @property
    def repeat_row(self) -> int:
        """The row printed again on top of every page of the body: its header (the first family's
        table header, the first row of its body); a family whose body has several parts says which."""
        return self.gap_row + 1

    def body_fields(self) -> tuple[FieldSlot, ...]:
        """The body's cells that act as fields (:attr:`Spec.body_fields`): prefilled from a roster,
        compared with it, named by the summary roles. None for most families."""
        return ()

    # -- look-ups --------------------------------------------------------------
    @cached_property
    def _field_index(self) -> dict[str, FieldSlot]:
        return {s.field.id: s for s in self.fields + self.body_fields()}

    def field(self, field_id: str) -> FieldSlot:
        return self._field_index[field_id]

    @cached_property
    def grade_field(self) -> FieldSlot | None:
        return next((s for s in self.fields if s.field.compute == "grade"), None)

    def input_cells(self) -> list[Cell]:
        """Every cell a unit may type into, before any roster prefill locks some."""
        return [s.cell for s in self.fields if not s.field.computed] + self.body_inputs()

    def computed_cells(self) -> list[Cell]:
        """Every cell holding a formula."""
        return [s.cell for s in self.fields if s.field.computed] + self.body_computed()

    def named_cells(self) -> list[Cell]:
        """Every cell the workbook gives a defined name: exactly the cells ``describe`` lists."""
        return [s.cell for s in self.fields] + self.body_named()

    def locked_texts(self) -> dict[tuple[int, int], str]:
        """Fixed texts of the sheet by (row, col): what a reader checks for tampering."""
        out: dict[tuple[int, int], str] = {(self.title_row, 0): self.spec.title}
        for s in self.fields:
            out[(s.label_row, s.label_col)] = s.field.label + "："
        out.update(self.body_locked_texts())
        return out

    def print_blocks(self) -> list[tuple[int, int]]:
        """Row ranges (first, last) that print on one page when they fit.

        The title with the first header row, then the body's blocks (a family keeps a header with
        what follows it), the last of them with the notes. Other rows stand alone.
        """
        out = [(self.title_row, self.fields[0].label_row if self.fields else self.hint_row)]
        body = self.body_print_blocks()
        if body:
            body[-1] = (body[-1][0], self.last_row)
        return out + body

    def describe(self, prefilled: frozenset[str] = frozenset()) -> dict[str, Any]:
        """The machine-readable layout printed by ``xltemplate describe --json``."""
        sheet = self.sheet

        def cell(c: Cell) -> dict[str, str]:
            return {"sheet": sheet, "cell": c.a1, "name": c.name}

        fields = []
        for s in self.fields:
            f = s.field
            role = "prefill" if f.id in prefilled else s.role
            fields.append({
                "id": f.id, "label": f.label, "type": f.type, "required": f.required,
                "role": role, "defined_name": s.cell.name, "sheet": sheet, "cell": s.cell.a1,
                "choices": list(f.choices) or None,
                "compute": ({"ratio": list(f.operands)} if f.compute == "ratio" else f.compute),
            })
        return {
            "template": {"id": self.spec.id, "version": self.spec.version, "title": self.spec.title,
                         "spec_hash": self.spec.spec_hash, "layout_version": LAYOUT_VERSION},
            "sheet": sheet,
            "fields": fields,
            **self.describe_body(cell),
            "grades": [{"label": b.label, "min": json_number(b.min)} for b in self.spec.bands],
        }
