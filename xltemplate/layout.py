"""Where everything lives on the form sheet: the one place that knows cell positions.

The generator asks this module where to write, the readers ask it where to look,
and ``describe`` prints it. A :class:`Layout` is a pure function of the spec:
prefilled values, passwords and rosters never move a cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any, Iterator

from .printing import wrapped_lines  # noqa: F401  (measured with the page model; kept importable from here)
from .spec import Category, Field, Indicator, Spec

# Columns of the indicator table (0-based); the header block reuses them.
COL_CATEGORY, COL_NAME, COL_EXPLANATION, COL_WEIGHT, COL_SCORE, COL_REMARK, COL_CHECK = range(7)
LAST_COL = COL_CHECK
TABLE_HEADERS = ("一级指标", "指标名称", "指标解释", "权重", "自评分", "备注", "校验")
COLUMN_WIDTHS = (22, 28, 42, 9, 9, 16, 18)  # 22: the longest label (具体实施处（科室）：) on one line
META_SHEET = "_xltemplate"
GUIDE_SHEET = "填报说明"
#: Bumped when cell positions, defined names or formula texts change, so a reader can tell
#: layouts apart (written into every workbook's metadata). 2: formulas without N(), and a
#: defined name for every cell ``describe`` lists (the fixed indicators' explanations).
#: Validation still accepts version 1 formulas in version 1 files (``formulas.FORMULA_VERSIONS``).
LAYOUT_VERSION = 2
#: The very hidden metadata sheet holds one key per row: key in column A, value in B,
#: in this order. Custom document properties mirror it as ``xltemplate.<key>``.
META_KEYS = (
    "format", "template_id", "template_version", "spec_hash", "layout_version",
    "generator", "generated_at", "roster_key", "prefill",
)
META_FORMAT = "xltemplate-return/1"
#: An optional key after them: the HMAC signature of the identity (:mod:`xltemplate.sign`), present only in
#: workbooks generated with a secret. Older and unsigned workbooks lack it, and that is not ``meta-altered``.
META_SIGNATURE_KEY = "signature"


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
        object.__setattr__(self, "a1", a1(self.row, self.col))
        object.__setattr__(self, "ref", a1(self.row, self.col, absolute=True))


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
class RowSlot:
    """An indicator row, fixed (``indicator`` set) or a unit's extra row (``extra`` set)."""

    category: Category
    indicator: Indicator | None
    extra: int | None  # 1-based number of the extra row within its category
    row: int
    name: Cell
    explanation: Cell
    weight: Cell
    score: Cell
    remark: Cell
    check: Cell

    @property
    def id(self) -> str:
        if self.indicator is not None:
            return self.indicator.id
        return f"ext_{self.category.id}_{self.extra}"

    @property
    def weight_editable(self) -> bool:
        return not self.category.fixed

    @property
    def text_editable(self) -> bool:
        """Name and explanation are typed by the unit only on extra rows."""
        return self.indicator is None

    @property
    def spec_weight(self) -> Decimal | None:
        return self.indicator.weight if self.indicator is not None else None

    def inputs(self) -> list[Cell]:
        cells = [self.score, self.remark]
        if self.weight_editable:
            cells.insert(0, self.weight)
        if self.text_editable:
            cells[:0] = [self.name, self.explanation]
        return cells


@dataclass(frozen=True)
class CategorySlot:
    """A category block: its rows and its subtotal row."""

    category: Category
    rows: tuple[RowSlot, ...]
    subtotal_row: int
    weight: Cell
    score: Cell
    check: Cell

    @property
    def first_row(self) -> int:
        return self.rows[0].row

    @property
    def last_item_row(self) -> int:
        return self.rows[-1].row


class Layout:
    """Cell positions of the form sheet built from one spec."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.sheet = spec.sheet
        row = 0
        self.title_row = row
        row += 1
        self.hint_row = row
        row += 1
        self.fields: tuple[FieldSlot, ...]
        self.fields, row = self._place_fields(spec.fields, row)
        row += 1  # a blank row between header block and table
        self.table_header_row = row
        row += 1
        cats = []
        for cat in spec.categories:
            slot, row = self._place_category(cat, row)
            cats.append(slot)
        self.categories: tuple[CategorySlot, ...] = tuple(cats)
        self.total_row = row
        self.total_weight = Cell(row, COL_WEIGHT, "total_weight")
        self.total_score = Cell(row, COL_SCORE, "total_score")
        self.total_check = Cell(row, COL_CHECK, "total_check")
        row += 1
        self.notes_title_row = row
        self.notes_rows = tuple(range(row + 1, row + 1 + len(spec.notes)))
        self.last_row = row + len(spec.notes)

    # -- placement ---------------------------------------------------------
    @staticmethod
    def _place_fields(fields: tuple[Field, ...], row: int) -> tuple[tuple[FieldSlot, ...], int]:
        """Short fields go two to a row (as on the paper form); long texts take a full row."""
        slots: list[FieldSlot] = []
        half_open = False  # a left half is placed and the right half of that row is free
        for f in fields:
            if f.type == "longtext":
                if half_open:
                    row += 1
                    half_open = False
                slots.append(FieldSlot(f, row, COL_CATEGORY, Cell(row, COL_NAME, f"fld_{f.id}"), LAST_COL))
                row += 1
            elif not half_open:
                slots.append(FieldSlot(f, row, COL_CATEGORY, Cell(row, COL_NAME, f"fld_{f.id}"), COL_NAME))
                half_open = True
            else:
                slots.append(FieldSlot(f, row, COL_EXPLANATION, Cell(row, COL_WEIGHT, f"fld_{f.id}"), LAST_COL))
                row += 1
                half_open = False
        if half_open:
            row += 1
        return tuple(slots), row

    @staticmethod
    def _place_category(cat: Category, row: int) -> tuple[CategorySlot, int]:
        rows: list[RowSlot] = []
        items: list[tuple[Indicator | None, int | None]] = [(i, None) for i in cat.indicators]
        items += [(None, n) for n in range(1, cat.extra_rows + 1)]
        for ind, extra in items:
            base = f"ind_{ind.id}" if ind is not None else f"ext_{cat.id}_{extra}"
            rows.append(RowSlot(
                category=cat, indicator=ind, extra=extra, row=row,
                name=Cell(row, COL_NAME, f"{base}_name"),
                explanation=Cell(row, COL_EXPLANATION, f"{base}_explanation"),
                weight=Cell(row, COL_WEIGHT, f"{base}_weight"),
                score=Cell(row, COL_SCORE, f"{base}_score"),
                remark=Cell(row, COL_REMARK, f"{base}_remark"),
                check=Cell(row, COL_CHECK, f"{base}_check"),
            ))
            row += 1
        slot = CategorySlot(
            category=cat, rows=tuple(rows), subtotal_row=row,
            weight=Cell(row, COL_WEIGHT, f"cat_{cat.id}_weight"),
            score=Cell(row, COL_SCORE, f"cat_{cat.id}_score"),
            check=Cell(row, COL_CHECK, f"cat_{cat.id}_check"),
        )
        return slot, row + 1

    # -- look-ups --------------------------------------------------------------
    @cached_property
    def _field_index(self) -> dict[str, FieldSlot]:
        return {s.field.id: s for s in self.fields}

    def field(self, field_id: str) -> FieldSlot:
        return self._field_index[field_id]

    @property
    def rows(self) -> Iterator[RowSlot]:
        for c in self.categories:
            yield from c.rows

    @cached_property
    def grade_field(self) -> FieldSlot | None:
        return next((s for s in self.fields if s.field.compute == "grade"), None)

    def input_cells(self) -> list[Cell]:
        """Every cell a unit may type into, before any roster prefill locks some."""
        cells = [s.cell for s in self.fields if not s.field.computed]
        for r in self.rows:
            cells += r.inputs()
        return cells

    def computed_cells(self) -> list[Cell]:
        """Every cell holding a formula."""
        cells = [s.cell for s in self.fields if s.field.computed]
        for c in self.categories:
            cells += [r.check for r in c.rows] + [c.weight, c.score, c.check]
        return cells + [self.total_weight, self.total_score, self.total_check]

    def named_cells(self) -> list[Cell]:
        """Every cell the workbook gives a defined name: exactly the cells ``describe`` lists."""
        cells = [s.cell for s in self.fields]
        for c in self.categories:
            for r in c.rows:
                cells += [r.name, r.explanation, r.weight, r.score, r.remark, r.check]
            cells += [c.weight, c.score, c.check]
        return cells + [self.total_weight, self.total_score, self.total_check]

    def locked_texts(self) -> dict[tuple[int, int], str]:
        """Fixed texts of the sheet by (row, col): what a reader checks for tampering."""
        out: dict[tuple[int, int], str] = {(self.title_row, 0): self.spec.title}
        for s in self.fields:
            out[(s.label_row, s.label_col)] = s.field.label + "："
        for n, h in enumerate(TABLE_HEADERS):
            out[(self.table_header_row, n)] = h
        for c in self.categories:
            out[(c.first_row, COL_CATEGORY)] = category_title(c.category)
            for r in c.rows:
                if r.indicator is not None:
                    out[(r.row, COL_NAME)] = r.indicator.name
                    if r.indicator.explanation:
                        out[(r.row, COL_EXPLANATION)] = r.indicator.explanation
            out[(c.subtotal_row, COL_NAME)] = "小计"
        out[(self.total_row, COL_CATEGORY)] = "合计"
        return out

    def print_blocks(self) -> list[tuple[int, int]]:
        """Row ranges (first, last) that print on one page when they fit.

        The title with the first header row, the table's header with the first category
        (a header never ends a page), each further category with its subtotal, and the
        total with the notes. Other rows stand alone.
        """
        out = [(self.title_row, self.fields[0].label_row if self.fields else self.hint_row)]
        cats = self.categories
        out.append((self.table_header_row - 1, cats[0].subtotal_row))
        out += [(c.first_row, c.subtotal_row) for c in cats[1:]]
        out.append((self.total_row, self.last_row))
        return out

    def locked_weights(self) -> list[RowSlot]:
        """Rows whose weight is fixed by the spec (locked cells)."""
        return [r for r in self.rows if not r.weight_editable]

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
        categories = []
        for c in self.categories:
            cat = c.category
            categories.append({
                "id": cat.id, "name": cat.name, "points": json_number(cat.points), "weights": cat.weights,
                "extra_rows": cat.extra_rows,
                "weight_subtotal": cell(c.weight), "score_subtotal": cell(c.score), "check": cell(c.check),
                "indicators": [_row(r, cell) for r in c.rows if r.indicator is not None],
                "extra": [_row(r, cell) for r in c.rows if r.indicator is None],
            })
        return {
            "template": {"id": self.spec.id, "version": self.spec.version, "title": self.spec.title,
                         "spec_hash": self.spec.spec_hash, "layout_version": LAYOUT_VERSION},
            "sheet": sheet,
            "fields": fields,
            "categories": categories,
            "total": {"points": json_number(self.spec.total), "weight": cell(self.total_weight),
                      "score": cell(self.total_score), "check": cell(self.total_check)},
            "grades": [{"label": b.label, "min": json_number(b.min)} for b in self.spec.bands],
        }


def category_title(cat: Category) -> str:
    """The merged 一级指标 cell text, as on the paper form."""
    return f"{cat.name}\n({json_number(cat.points)}分)"


def _row(r: RowSlot, cell: Any) -> dict[str, Any]:
    return {
        "id": r.id, "name": r.indicator.name if r.indicator else None,
        "weight": json_number(r.spec_weight) if r.spec_weight is not None else None,
        "applicable": r.spec_weight is not None if r.indicator else None,
        "row": r.row + 1,
        "weight_cell": cell(r.weight), "score_cell": cell(r.score), "name_cell": cell(r.name),
        "explanation_cell": cell(r.explanation), "remark_cell": cell(r.remark), "check_cell": cell(r.check),
        "weight_editable": r.weight_editable, "score_editable": True, "name_editable": r.text_editable,
    }


def json_number(d: Decimal | None) -> int | float | None:
    """A Decimal as JSON wants it: 36 stays an int, 7.5 a float."""
    if d is None:
        return None
    return int(d) if d == d.to_integral() else float(d)
