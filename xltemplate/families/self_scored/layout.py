"""The body of a self-scored form: the indicator table, category by category, and the total.

Columns 一级指标 | 指标名称 | 指标解释 | 权重 | 自评分 | 备注 | 校验, as on the paper form; the
header block reuses them (see :data:`GRID`). Each category: its indicator rows, the unit's extra
rows, a 小计 row; then 合计.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Iterable, Iterator

from ...form.layout import Cell, FormLayout, Grid, col_letter
from ...text import json_number
from .spec import Category, Indicator, ScoredSpec

# Columns of the indicator table (0-based); the header block reuses them.
COL_CATEGORY, COL_NAME, COL_EXPLANATION, COL_WEIGHT, COL_SCORE, COL_REMARK, COL_CHECK = range(7)
LAST_COL = COL_CHECK
TABLE_HEADERS = ("一级指标", "指标名称", "指标解释", "权重", "自评分", "备注", "校验")
COLUMN_WIDTHS = (22, 28, 42, 9, 9, 16, 18)  # 22: the longest label (具体实施处（科室）：) on one line
GRID = Grid(widths=COLUMN_WIDTHS, left_label=COL_CATEGORY, left_value=(COL_NAME, COL_NAME),
            right_label=COL_EXPLANATION, right_value=(COL_WEIGHT, LAST_COL), long_value=(COL_NAME, LAST_COL))


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
    def label(self) -> str:
        """What a message calls the row: the indicator's name, or 产出目标自定义指标1."""
        return self.indicator.name if self.indicator else f"{self.category.name}自定义指标{self.extra}"

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


def category_title(cat: Category) -> str:
    """The merged 一级指标 cell text, as on the paper form."""
    return f"{cat.name}\n({json_number(cat.points)}分)"


class Layout(FormLayout):
    """Cell positions of a self-scored form sheet."""

    grid = GRID
    spec: ScoredSpec

    def place_body(self, row: int) -> int:
        self.table_header_row = row
        row += 1
        cats = []
        for cat in self.spec.categories:
            slot, row = self._place_category(cat, row)
            cats.append(slot)
        self.categories: tuple[CategorySlot, ...] = tuple(cats)
        self.total_row = row
        self.total_weight = Cell(row, COL_WEIGHT, "total_weight")
        self.total_score = Cell(row, COL_SCORE, "total_score")
        self.total_check = Cell(row, COL_CHECK, "total_check")
        return row + 1

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
    @property
    def rows(self) -> Iterator[RowSlot]:
        for c in self.categories:
            yield from c.rows

    def body_inputs(self) -> list[Cell]:
        cells: list[Cell] = []
        for r in self.rows:
            cells += r.inputs()
        return cells

    def body_computed(self) -> list[Cell]:
        cells: list[Cell] = []
        for c in self.categories:
            cells += [r.check for r in c.rows] + [c.weight, c.score, c.check]
        return cells + [self.total_weight, self.total_score, self.total_check]

    def body_named(self) -> list[Cell]:
        cells: list[Cell] = []
        for c in self.categories:
            for r in c.rows:
                cells += [r.name, r.explanation, r.weight, r.score, r.remark, r.check]
            cells += [c.weight, c.score, c.check]
        return cells + [self.total_weight, self.total_score, self.total_check]

    def body_locked_texts(self) -> dict[tuple[int, int], str]:
        out: dict[tuple[int, int], str] = {}
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

    def body_print_blocks(self) -> list[tuple[int, int]]:
        """The table's header with the first category (a header never ends a page), each further
        category with its subtotal, and the total (with the notes)."""
        cats = self.categories
        out = [(self.table_header_row - 1, cats[0].subtotal_row)]
        out += [(c.first_row, c.subtotal_row) for c in cats[1:]]
        out.append((self.total_row, self.total_row))
        return out

    def locked_weights(self) -> list[RowSlot]:
        """Rows whose weight is fixed by the spec (locked cells)."""
        return [r for r in self.rows if not r.weight_editable]

    def score_ranges(self) -> list[str]:
        col = col_letter(COL_SCORE)
        return [f"{col}{c.first_row + 1}:{col}{c.last_item_row + 1}" for c in self.categories]

    def score_cells(self) -> Iterable[Cell]:
        return (r.score for r in self.rows)

    def describe_body(self, cell: Callable[[Cell], dict[str, str]]) -> dict[str, Any]:
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
            "categories": categories,
            "total": {"points": json_number(self.spec.total), "weight": cell(self.total_weight),
                      "score": cell(self.total_score), "check": cell(self.total_check)},
        }


def _row(r: RowSlot, cell: Callable[[Cell], dict[str, str]]) -> dict[str, Any]:
    return {
        "id": r.id, "name": r.indicator.name if r.indicator else None,
        "weight": json_number(r.spec_weight) if r.spec_weight is not None else None,
        "applicable": r.spec_weight is not None if r.indicator else None,
        "row": r.row + 1,
        "weight_cell": cell(r.weight), "score_cell": cell(r.score), "name_cell": cell(r.name),
        "explanation_cell": cell(r.explanation), "remark_cell": cell(r.remark), "check_cell": cell(r.check),
        "weight_editable": r.weight_editable, "score_editable": True, "name_editable": r.text_editable,
    }
