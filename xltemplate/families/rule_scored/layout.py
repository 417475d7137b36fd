"""The body of a national form: funding block, 年度总体目标, the indicator table and the total.

Columns (0-based), as on the national 项目支出绩效自评表: 一级指标 | 二级指标 | 三级指标 | 指标性质 |
计量单位 | 年度指标值（A） | 实际完成值（B） | 分值 | 自评分（定性） | 得分 | 偏差原因分析及改进措施 | 校验.
The funding block and the goals reuse the same columns (merged), the header block too (:data:`GRID`).

The indicator rows are the workbook's targets (a project's own indicators, locked and prefilled)
or, on a blank form, ``blank_rows`` empty rows per 二级 that the unit fills. Row ids are
``<二级 id>_<n>`` (n from 1 within the 二级), defined names ``ind_<二级 id>_<n>_<part>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from decimal import Decimal
from typing import Any, Callable, Iterable

from ...form.layout import Cell, FieldSlot, FormLayout, Grid, Targets, col_letter
from ...text import json_number, plain_number
from .rules import QUALITATIVE
from .spec import FUNDING_COLUMNS, FundingRow, Level, RuleSpec, Sublevel, Target, funding_field_id, targets_of

(COL_LEVEL, COL_SUB, COL_NAME, COL_KIND, COL_UNIT, COL_TARGET, COL_ACTUAL, COL_POINTS, COL_GIVEN, COL_SCORE, COL_REASON,
 COL_CHECK) = range(12)
LAST_COL = COL_CHECK
TABLE_HEADERS = ("一级指标", "二级指标", "三级指标", "指标性质", "计量单位", "年度指标值（A）", "实际完成值（B）", "分值",
                 "自评分（定性）", "得分", "偏差原因分析及改进措施", "校验")
COLUMN_WIDTHS = (12, 11, 20, 7, 8, 12, 11, 6, 9, 7, 24, 17)  # 144 units: the first form's width, the same scale
GRID = Grid(widths=COLUMN_WIDTHS, left_label=COL_LEVEL, left_value=(COL_SUB, COL_UNIT),
            right_label=COL_TARGET, right_value=(COL_ACTUAL, LAST_COL), long_value=(COL_SUB, LAST_COL))
# The funding block: a label over two columns, then the amounts, 分值, 执行率, 得分 and the row's 校验.
F_LABEL, F_BUDGET_START, F_BUDGET, F_EXECUTED, F_POINTS, F_RATE, F_SCORE, F_CHECK = 0, 2, 3, 5, 7, 8, 9, 10
FUNDING_SPANS = {F_LABEL: 1, F_BUDGET_START: 2, F_BUDGET: 4, F_EXECUTED: 6, F_POINTS: 7, F_RATE: 8, F_SCORE: 9, F_CHECK: 11}
FUNDING_COLUMN_AT = {"budget_start": F_BUDGET_START, "budget": F_BUDGET, "executed": F_EXECUTED}
# The goals: the label, then 预期目标 and 实际完成情况 side by side.
G_LABEL, G_EXPECTED, G_ACTUAL = (0, 1), (2, 6), (7, 11)


@dataclass(frozen=True)
class FundingSlot:
    """A row of the funding block; ``points``, ``score`` only on the total row."""

    row_def: FundingRow
    row: int
    budget_start: Cell
    budget: Cell
    executed: Cell
    rate: Cell
    points: Cell | None
    score: Cell | None

    @property
    def amounts(self) -> tuple[Cell, Cell, Cell]:
        return self.budget_start, self.budget, self.executed


@dataclass(frozen=True)
class IndicatorSlot:
    """An indicator row: a target (locked, prefilled) or an empty row the unit fills (``target`` None)."""

    level: Level
    sublevel: Sublevel
    n: int  # 1-based within the 二级
    target: Target | None
    row: int
    name: Cell
    kind: Cell
    unit: Cell
    target_cell: Cell
    actual: Cell
    points: Cell
    given: Cell
    score: Cell
    reason: Cell
    check: Cell

    @property
    def id(self) -> str:
        return f"{self.sublevel.id}_{self.n}"

    @property
    def label(self) -> str:
        """What a message calls the row: the indicator's name, or 数量指标第2行 for an empty row."""
        if self.target is not None:
            return self.target.name
        return f"{self.sublevel.name}第{self.n}行"

    @property
    def locked(self) -> bool:
        return self.target is not None

    @property
    def qualitative(self) -> bool | None:
        """Whether the row is 定性; None when the unit chooses (an empty row)."""
        return None if self.target is None else self.target.kind == QUALITATIVE

    def inputs(self) -> list[Cell]:
        if self.target is None:
            return [self.name, self.kind, self.unit, self.target_cell, self.actual, self.points, self.given, self.reason]
        if self.target.kind == QUALITATIVE:
            return [self.actual, self.given, self.reason]
        return [self.actual, self.reason]

    def cells(self) -> list[Cell]:
        return [self.name, self.kind, self.unit, self.target_cell, self.actual, self.points, self.given, self.score,
                self.reason, self.check]


@dataclass(frozen=True)
class LevelSlot:
    """A 一级 block: its rows (by 二级) and its subtotal row."""

    level: Level
    rows: tuple[IndicatorSlot, ...]
    subtotal_row: int
    points: Cell
    score: Cell
    check: Cell

    @property
    def first_row(self) -> int:
        return self.rows[0].row

    def sublevel_spans(self) -> list[tuple[Sublevel, int, int]]:
        """(二级, first row, last row) in order, for the merged 二级 cells."""
        out: list[tuple[Sublevel, int, int]] = []
        for r in self.rows:
            if out and out[-1][0] == r.sublevel:
                out[-1] = (r.sublevel, out[-1][1], r.row)
            else:
                out.append((r.sublevel, r.row, r.row))
        return out


_ROW_PARTS = ((COL_NAME, "name"), (COL_KIND, "kind"), (COL_UNIT, "unit"), (COL_TARGET, "target"), (COL_ACTUAL, "actual"),
              (COL_POINTS, "points"), (COL_GIVEN, "given"), (COL_SCORE, "score"), (COL_REASON, "reason"), (COL_CHECK, "check"))


@lru_cache(maxsize=4096)
def _row_cells(row: int, sub_id: str, n: int) -> tuple[Cell, ...]:
    """An indicator row's ten cells: made once per (row, 二级, n) and shared by every layout that has that row.

    Validation lays a national form out for every return (each project's targets give it its own rows);
    a :class:`Cell` is frozen, a pure function of these three values, so sharing it changes nothing but the time.
    """
    base = f"ind_{sub_id}_{n}"
    return tuple(Cell(row, col, f"{base}_{part}") for col, part in _ROW_PARTS)


def level_title(level: Level) -> str:
    return f"{level.name}\n({plain_number(level.points)}分)"


class Layout(FormLayout):
    """Cell positions of a national form sheet (a pure function of the spec and the workbook's targets)."""

    grid = GRID
    spec: RuleSpec

    def __init__(self, spec: RuleSpec, targets: Targets | None = None) -> None:
        self.target_rows: tuple[Target, ...] | None = targets_of(spec, list(targets)) if targets is not None else None
        super().__init__(spec, targets)

    # -- placing ------------------------------------------------------------------------
    def place_body(self, row: int) -> int:
        spec = self.spec
        self.funding_header_row = row
        row += 1
        rows = []
        for n, fr in enumerate(spec.funding_rows):
            def cell(col: str, at: int, r: int = row, fid: str = fr.id) -> Cell:
                return Cell(r, at, funding_field_id(fid, col))
            rows.append(FundingSlot(
                fr, row, cell("budget_start", F_BUDGET_START), cell("budget", F_BUDGET), cell("executed", F_EXECUTED),
                cell("rate", F_RATE), cell("points", F_POINTS) if n == 0 else None, cell("score", F_SCORE) if n == 0 else None))
            row += 1
        self.funding: tuple[FundingSlot, ...] = tuple(rows)
        self.funding_check_row = row
        self.funding_checks = {col: Cell(row, at, f"fund_{col}_check") for col, at in FUNDING_COLUMN_AT.items()}
        row += 1
        self.goals_header_row = row
        self.goal_expected = Cell(row + 1, G_EXPECTED[0], "goal_expected")
        self.goal_actual = Cell(row + 1, G_ACTUAL[0], "goal_actual")
        row += 2
        self.gap2_row = row
        row += 1
        self.table_header_row = row
        row += 1
        levels = []
        for level in spec.levels:
            slot, row = self._place_level(level, row)
            levels.append(slot)
        self.levels: tuple[LevelSlot, ...] = tuple(levels)
        self.total_row = row
        self.total_points = Cell(row, COL_POINTS, "total_points")
        self.total_score = Cell(row, COL_SCORE, "total_score")
        self.total_check = Cell(row, COL_CHECK, "total_check")
        return row + 1

    def _place_level(self, level: Level, row: int) -> tuple[LevelSlot, int]:
        rows: list[IndicatorSlot] = []
        for sub in level.sublevels:
            if self.target_rows is None:
                entries: list[Target | None] = [None] * self.spec.blank_rows
            else:
                entries = [t for t in self.target_rows if t.sublevel == sub.id]
            for n, target in enumerate(entries, start=1):
                rows.append(IndicatorSlot(level, sub, n, target, row, *_row_cells(row, sub.id, n)))
                row += 1
        if not rows:
            # A level with no row cannot be laid out (merged cells, sums over nothing); a blank form
            # without blank rows, or targets that leave a level out, never reach here: the spec and
            # the targets table refuse them.
            raise ValueError(f"level {level.id} has no indicator row")
        slot = LevelSlot(level, tuple(rows), row, Cell(row, COL_POINTS, f"lvl_{level.id}_points"),
                         Cell(row, COL_SCORE, f"lvl_{level.id}_score"), Cell(row, COL_CHECK, f"lvl_{level.id}_check"))
        return slot, row + 1

    # -- look-ups -------------------------------------------------------------------------------
    @property
    def repeat_row(self) -> int:
        return self.table_header_row  # the indicator table's header, not the funding block's

    @property
    def rows(self) -> Iterable[IndicatorSlot]:
        for lv in self.levels:
            yield from lv.rows

    @property
    def funding_total(self) -> FundingSlot:
        return self.funding[0]

    def body_fields(self) -> tuple[FieldSlot, ...]:
        found: tuple[FieldSlot, ...] | None = self.__dict__.get("_body_fields")
        if found is None:  # asked three times a return validated; the layout never changes
            found = self.__dict__["_body_fields"] = self._make_body_fields()
        return found

    def _make_body_fields(self) -> tuple[FieldSlot, ...]:
        by_id = {f.id: f for f in self.spec.body_fields}
        out = []
        for fs in self.funding:
            for (col, _name), cell in zip(FUNDING_COLUMNS, fs.amounts):
                at = FUNDING_COLUMN_AT[col]
                out.append(FieldSlot(by_id[cell.name], fs.row, F_LABEL, cell, FUNDING_SPANS[at]))
        out.append(FieldSlot(by_id["goal_expected"], self.goals_header_row, G_EXPECTED[0], self.goal_expected, G_EXPECTED[1]))
        out.append(FieldSlot(by_id["goal_actual"], self.goals_header_row, G_ACTUAL[0], self.goal_actual, G_ACTUAL[1]))
        return tuple(out)

    def body_inputs(self) -> list[Cell]:
        cells: list[Cell] = [c for fs in self.funding for c in fs.amounts] + [self.goal_expected, self.goal_actual]
        for r in self.rows:
            cells += r.inputs()
        return cells

    def funding_computed(self) -> list[Cell]:
        cells: list[Cell] = []
        for fs in self.funding:
            cells.append(fs.rate)
            if fs.score is not None:
                cells.append(fs.score)
        return cells + list(self.funding_checks.values())

    def body_computed(self) -> list[Cell]:
        cells = self.funding_computed()
        for lv in self.levels:
            cells += [r.score for r in lv.rows] + [r.check for r in lv.rows] + [lv.points, lv.score, lv.check]
        return cells + [self.total_points, self.total_score, self.total_check]

    def body_named(self) -> list[Cell]:
        cells: list[Cell] = []
        for fs in self.funding:
            cells += list(fs.amounts) + [fs.rate] + [c for c in (fs.points, fs.score) if c is not None]
        cells += list(self.funding_checks.values()) + [self.goal_expected, self.goal_actual]
        for lv in self.levels:
            for r in lv.rows:
                cells += r.cells()
            cells += [lv.points, lv.score, lv.check]
        return cells + [self.total_points, self.total_score, self.total_check]

    def funding_headers(self) -> dict[int, str]:
        unit = self.spec.money_unit
        return {F_LABEL: f"{self.spec.funding_label}（{unit}）", F_BUDGET_START: "年初预算数", F_BUDGET: "全年预算数（A）",
                F_EXECUTED: "全年执行数（B）", F_POINTS: "分值", F_RATE: "执行率（B/A）", F_SCORE: "得分"}

    def funding_label(self, n: int) -> str:
        """The printed label of funding row ``n``: the parts of the total start with 其中：."""
        label = self.spec.funding_rows[n].label
        return f"其中：{label}" if n == 1 else label

    def body_locked_texts(self) -> dict[tuple[int, int], str]:
        out: dict[tuple[int, int], str] = {}
        for col, text in self.funding_headers().items():
            out[(self.funding_header_row, col)] = text
        for n, fs in enumerate(self.funding):
            out[(fs.row, F_LABEL)] = self.funding_label(n)
        out[(self.funding_check_row, F_LABEL)] = "校验"
        out[(self.goals_header_row, G_LABEL[0])] = self.spec.goals_label
        out[(self.goals_header_row, G_EXPECTED[0])] = self.spec.goal_expected
        out[(self.goals_header_row, G_ACTUAL[0])] = self.spec.goal_actual
        for n, h in enumerate(TABLE_HEADERS):
            out[(self.table_header_row, n)] = h
        for lv in self.levels:
            out[(lv.first_row, COL_LEVEL)] = level_title(lv.level)
            for sub, first, _last in lv.sublevel_spans():
                out[(first, COL_SUB)] = sub.name
            out[(lv.subtotal_row, COL_NAME)] = "小计"
        out[(self.total_row, COL_LEVEL)] = self.total_label()
        return out

    def total_label(self) -> str:
        return f"合计（含预算执行{plain_number(self.spec.funding_points)}分）"

    def target_values(self) -> dict[str, Any]:
        """The locked cells of the target rows by defined name, and the funding 分值: what the spec and targets fix."""
        out: dict[str, Any] = {}
        fp = self.funding_total.points
        if fp is not None:
            out[fp.name] = self.spec.funding_points
        if SHARE_ROW_NAMES:
            for (name, kind, unit, target, points), r in zip(self.row_names(), self.rows):
                t = r.target
                if t is not None:  # (the same names, in the same order, as below)
                    out[name] = t.name
                    out[kind] = t.kind
                    out[unit] = t.unit or None
                    out[target] = t.target
                    out[points] = t.points
            return out
        for r in self.rows:
            t = r.target
            if t is not None:
                out.update({r.name.name: t.name, r.kind.name: t.kind, r.unit.name: t.unit or None,
                            r.target_cell.name: t.target, r.points.name: t.points})
        return out

    def row_names(self) -> tuple[tuple[str, str, str, str, str], ...]:
        """Each row's defined names of its 三级指标, 指标性质, 计量单位, 年度指标值 and 分值 (the cells a target fixes),
        in order: made once per layout, and shared by the layouts of one shape (:func:`layout_of`)."""
        found: tuple[tuple[str, str, str, str, str], ...] | None = self.__dict__.get("_row_names")
        if found is None:
            found = self.__dict__["_row_names"] = tuple(
                (r.name.name, r.kind.name, r.unit.name, r.target_cell.name, r.points.name) for r in self.rows)
        return found

    def twin_names(self) -> tuple[tuple[str, str, str, str, str, str, str], ...]:
        """Each row's defined names of its 年度指标值, 实际完成值, 分值, 自评分, 偏差原因, 得分 and 校验 (what the twins read
        and write), in order: made once per layout, and shared by the layouts of one shape (:func:`layout_of`)."""
        found: tuple[tuple[str, str, str, str, str, str, str], ...] | None = self.__dict__.get("_twin_names")
        if found is None:
            found = self.__dict__["_twin_names"] = tuple(
                (r.target_cell.name, r.actual.name, r.points.name, r.given.name, r.reason.name, r.score.name, r.check.name)
                for r in self.rows)
        return found

    def row_places(self) -> tuple[tuple[str, str, str, str, str], ...]:
        """:meth:`row_names`, as the cells' A1 places."""
        found: tuple[tuple[str, str, str, str, str], ...] | None = self.__dict__.get("_row_places")
        if found is None:
            found = self.__dict__["_row_places"] = tuple(
                (r.name.a1, r.kind.a1, r.unit.a1, r.target_cell.a1, r.points.a1) for r in self.rows)
        return found

    def body_print_blocks(self) -> list[tuple[int, int]]:
        """The funding block with the goals, the table's header with the first level, each further
        level with its subtotal, the total (with the notes)."""
        lvls = self.levels
        out = [(self.funding_header_row, self.goal_actual.row), (self.table_header_row, lvls[0].subtotal_row)]
        out += [(lv.first_row, lv.subtotal_row) for lv in lvls[1:]]
        out.append((self.total_row, self.total_row))
        return out

    def score_ranges(self) -> list[str]:
        col = col_letter(COL_SCORE)
        ranges = [f"{col}{lv.first_row + 1}:{col}{lv.rows[-1].row + 1}" for lv in self.levels]
        fs = self.funding_total.score
        return ([fs.a1] if fs is not None else []) + ranges

    def score_cells(self) -> Iterable[Cell]:
        fs = self.funding_total.score
        return ([fs] if fs is not None else []) + [r.score for r in self.rows]

    def describe_body(self, cell: Callable[[Cell], dict[str, str]]) -> dict[str, Any]:
        funding = []
        for n, fs in enumerate(self.funding):
            funding.append({
                "id": fs.row_def.id, "label": self.funding_label(n), "row": fs.row + 1,
                **{col: cell(c) for (col, _), c in zip(FUNDING_COLUMNS, fs.amounts)}, "rate": cell(fs.rate),
                **({"points": json_number(self.spec.funding_points), "points_cell": cell(fs.points)} if fs.points else {}),
                **({"score": cell(fs.score)} if fs.score else {}),
            })
        levels = []
        for lv in self.levels:
            levels.append({
                "id": lv.level.id, "name": lv.level.name, "points": json_number(lv.level.points),
                "sublevels": [{"id": s.id, "name": s.name} for s in lv.level.sublevels],
                "points_subtotal": cell(lv.points), "score_subtotal": cell(lv.score), "check": cell(lv.check),
                "indicators": [_row(r, cell) for r in lv.rows],
            })
        return {
            "money_unit": self.spec.money_unit,
            "funding": {"label": self.spec.funding_label, "points": json_number(self.spec.funding_points), "rows": funding,
                        "checks": {col: cell(c) for col, c in self.funding_checks.items()}},
            "goals": {"label": self.spec.goals_label, "expected": cell(self.goal_expected), "actual": cell(self.goal_actual)},
            "levels": levels,
            "rules": {"kinds": ["≥", "≤", "=", "定性"], "completion": list(self.spec.rules.choices)},
            "total": {"points": json_number(self.spec.total), "weight": cell(self.total_points),
                      "score": cell(self.total_score), "check": cell(self.total_check)},
        }


#: Lay a national form out once per shape: a project's rows are placed by how many targets each 二级 has, never by
#: what the targets say, so a layout of that shape is laid out once and each further project's layout is that one
#: with its own targets in the rows (see :func:`layout_of`). False: every layout placed anew (the tests compare).
SHAPED_LAYOUTS = True
_SHAPED: dict[tuple[Any, ...], tuple["Layout", dict[str, Any]]] = {}
_MAX_SHAPED = 128  # a layout of 30 rows is some 400 small objects (its cells are shared anyway)


def layout_of(spec: RuleSpec, targets: Targets | None = None) -> Layout:
    """``Layout(spec, targets)``: for targets, the layout of their shape (the number of targets in each 二级) laid
    out once, with these targets put in its rows.

    :meth:`Layout._place_level` places a 二级's rows from the targets of that 二级, in the targets' order, and
    reads nothing of a target but its 二级: every position, cell and name is a function of the spec and those
    counts. The rows here are the shape's own, each given the target that placing anew would give it (the n-th
    target of its 二级); the spec, the targets and everything read from them are this call's. The shape's layout
    is the first one laid out (what its ``__init__`` set, nothing computed on it since: ``placed``, its attributes
    as they were when it was laid out).
    """
    if targets is None or not SHAPED_LAYOUTS:
        return Layout(spec, targets)
    rows = targets_of(spec, list(targets))
    assert rows is not None  # (targets_of refuses an empty list, and gives None only for None)
    by_sub: dict[str, list[Target]] = {}
    for t in rows:
        by_sub.setdefault(t.sublevel, []).append(t)
    key = (spec.id, spec.version, spec.spec_hash, tuple(sorted((sub, len(ts)) for sub, ts in by_sub.items())))
    known = _SHAPED.pop(key, None)
    if known is None:
        layout = Layout(spec, targets)  # (a shape that cannot be laid out raises here, every time)
        if len(_SHAPED) >= _MAX_SHAPED:
            _SHAPED.pop(next(iter(_SHAPED)))
        _SHAPED[key] = (layout, dict(layout.__dict__))
        return layout
    _SHAPED[key] = known  # the most recently used is the last to go
    base, placed = known
    new = object.__new__(Layout)
    new.__dict__.update(placed)
    new.spec, new.targets, new.sheet, new.target_rows = spec, targets, spec.sheet, rows
    given = {sub: iter(ts) for sub, ts in by_sub.items()}
    levels = []
    for lv in base.levels:
        slots = []
        for r in lv.rows:
            slot = object.__new__(IndicatorSlot)
            slot.__dict__.update(r.__dict__)
            slot.__dict__["target"] = next(given[r.sublevel.id])  # (a frozen dataclass: set as its __init__ does)
            slots.append(slot)
        level = object.__new__(LevelSlot)  # (the shape's level with these rows: its __init__'s fields, without its cost)
        level.__dict__.update(lv.__dict__)
        level.__dict__["rows"] = tuple(slots)
        levels.append(level)
    new.levels = tuple(levels)
    if SHARE_BODY_FIELDS and "_body_fields" in base.__dict__:
        new.__dict__["_body_fields"] = base.__dict__["_body_fields"]  # (see SHARE_BODY_FIELDS)
    if SHARE_ROW_NAMES:
        new.__dict__["_row_names"] = base.row_names()  # (see SHARE_ROW_NAMES)
        new.__dict__["_row_places"] = base.row_places()
        new.__dict__["_twin_names"] = base.twin_names()
    if SHARE_LOOKUPS and SHARE_BODY_FIELDS:
        for name in ("_field_index", "grade_field"):  # (see SHARE_LOOKUPS)
            if name in base.__dict__:
                new.__dict__[name] = base.__dict__[name]
    return new


#: A layout of a known shape takes its shape's layout's look-ups of the fields (``_field_index``: field id → slot,
#: and ``grade_field``), where each return's layout made them again: they are functions of ``fields`` and
#: :meth:`Layout.body_fields`, which it shares (``fields`` is the shape's own object, the body fields are shared by
#: SHARE_BODY_FIELDS). False: made for every layout (the tests compare).
SHARE_LOOKUPS = True


#: A layout of a known shape takes the body's field slots (:meth:`Layout.body_fields`) its shape's layout made, where
#: it made them anew: they are a function of the spec's body fields and the funding block's slots, which the shape
#: fixes (the spec's id, version and hash are in its key; ``funding`` is the shape's own object). False: made anew
#: for every layout (the tests compare).
SHARE_BODY_FIELDS = True


#: A layout's rows' defined names and places (:meth:`Layout.row_names`, :meth:`Layout.row_places`: the cells of each
#: target's name, kind, unit, 年度指标值 and 分值; :meth:`Layout.twin_names`: those the twins read and write, which
#: :func:`.formulas.twin_rows` puts beside each row) are made once per shape and shared by its layouts, as their cells
#: are: a row's cells are a function of its 二级 and its place in it, which the shape fixes (each row here is the
#: shape's row with another target). :meth:`Layout.target_values` then writes a target's five values by those names,
#: where it asked each row's five cells for theirs. False: the values written row by row from the cells, and the
#: lists made for every layout (the tests compare).
SHARE_ROW_NAMES = True


def _row(r: IndicatorSlot, cell: Callable[[Cell], dict[str, str]]) -> dict[str, Any]:
    t = r.target
    target: Any = None
    if t is not None:
        target = json_number(t.target) if isinstance(t.target, Decimal) else t.target
    return {
        "id": r.id, "sublevel": r.sublevel.id, "row": r.row + 1, "locked": r.locked,
        "name": t.name if t else None, "kind": t.kind if t else None, "unit": t.unit if t else None,
        "target": target, "points": json_number(t.points) if t else None,
        **{f"{part}_cell": cell(c) for part, c in (
            ("name", r.name), ("kind", r.kind), ("unit", r.unit), ("target", r.target_cell), ("actual", r.actual),
            ("points", r.points), ("given", r.given), ("score", r.score), ("reason", r.reason), ("check", r.check))},
    }
