"""The national form's sheet formulas and their Python twin, side by side.

The rules themselves (each indicator's score by its 指标性质, the 完成情况 band, the 偏差原因 and
input checks, the funding rate and score) are in :mod:`.rules` and :mod:`.funding`; here they are
put on the sheet: a row whose 指标性质 is locked gets that rule's formula, an empty row (blank form)
a formula that picks the rule by the 指标性质 the unit chose; each row's 校验 shows the first thing
to fix; subtotals per 一级, the total (execution score + indicator scores) and their checks. Every
formula asks the layout for its cells; :func:`evaluate` follows the same rules, and the engine tests
prove the pairs agree in LibreOffice and Gnumeric.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping

from ...form.formulas import AlertRule, number_or_zero, round2
from ...text import plain_number
from . import funding as F
from . import rules as R
from . import layout as L
from .layout import IndicatorSlot, Layout, LevelSlot
from .spec import FUNDING_COLUMNS

MSG_NAME_MISSING = "请填写三级指标名称"
MSG_KIND = "请从下拉列表中选择指标性质"
QUANTITATIVE = (R.AT_LEAST, R.AT_MOST, R.EQUAL)
_COLUMN_LABEL = dict(FUNDING_COLUMNS)


def points_sum_message(points: Decimal) -> str:
    return f"分值合计应为{plain_number(points)}分"


def _bare(formula: str) -> str:
    return formula[1:] if formula.startswith("=") else formula


# ---------------------------------------------------------------------------
# Formula text


def kind_score_formula(r: IndicatorSlot, kind: str, rules: R.RuleSet) -> str:
    """The score of row ``r`` under the rule of ``kind`` (定性: the 完成情况 is in 实际完成值)."""
    return R.score_formula(kind, r.target_cell.a1, r.actual.a1, r.points.a1, rules, choice=r.actual.a1, given=r.given.a1)


def kind_check_formula(r: IndicatorSlot, kind: str, rules: R.RuleSet) -> str:
    """The row's 校验 under ``kind``: the input (or 完成情况) check first, then the 偏差原因 check."""
    a, b, p, s = r.target_cell.a1, r.actual.a1, r.points.a1, r.score.a1
    first = R.band_check_formula(b, r.given.a1, p, rules) if kind == R.QUALITATIVE else R.input_check_formula(a, b, p)
    reason = R.reason_check_formula(kind, s, p, r.reason.a1, a, b, rules)
    return f'=IF({_bare(first)}="",{_bare(reason)},{_bare(first)})'


def row_score_formula(r: IndicatorSlot, rules: R.RuleSet) -> str:
    if r.target is not None:
        return kind_score_formula(r, r.target.kind, rules)
    k = r.kind.a1
    expr = '""'
    for kind in reversed(R.KINDS):
        expr = f'IF({k}="{kind}",{_bare(kind_score_formula(r, kind, rules))},{expr})'
    return "=" + expr


def row_check_formula(r: IndicatorSlot, rules: R.RuleSet) -> str:
    if r.target is not None:
        return kind_check_formula(r, r.target.kind, rules)
    k = r.kind.a1
    expr = f'"{MSG_KIND}"'
    for kind in reversed(R.KINDS):
        expr = f'IF({k}="{kind}",{_bare(kind_check_formula(r, kind, rules))},{expr})'
    inputs = [c.a1 for c in r.inputs()]
    empty = "AND(" + ",".join(f'{c}=""' for c in inputs) + ")"
    return f'=IF({empty},"",IF({r.name.a1}="","{MSG_NAME_MISSING}",{expr}))'


def level_formulas(lv: LevelSlot) -> tuple[str, str, str]:
    first, last = lv.rows[0], lv.rows[-1]
    points = f"=SUM({first.points.a1}:{last.points.a1})"
    score = f"=SUM({first.score.a1}:{last.score.a1})"
    pts = lv.level.points
    check = f'=IF(ROUND({lv.points.a1},2)<>{plain_number(pts)},"{points_sum_message(pts)}","")'
    return points, score, check


def total_formulas(layout: Layout) -> tuple[str, str, str]:
    ft = layout.funding_total
    assert ft.points is not None and ft.score is not None
    points = "=SUM(" + ",".join([ft.points.a1] + [lv.points.a1 for lv in layout.levels]) + ")"
    score = "=SUM(" + ",".join([ft.score.a1] + [lv.score.a1 for lv in layout.levels]) + ")"
    total = layout.spec.total
    check = f'=IF(ROUND({layout.total_points.a1},2)<>{plain_number(total)},"{points_sum_message(total)}","")'
    return points, score, check


def funding_formulas(layout: Layout) -> dict[str, str]:
    rules = layout.spec.rules
    out: dict[str, str] = {}
    for fs in layout.funding:
        out[fs.rate.name] = F.execution_rate_formula(fs.budget.a1, fs.executed.a1)
        if fs.score is not None and fs.points is not None:
            out[fs.score.name] = F.execution_score_formula(fs.budget.a1, fs.executed.a1, fs.points.a1, rules)
    total, parts = layout.funding_total, layout.funding[1:]
    for n, (col, cell) in enumerate(layout.funding_checks.items()):
        out[cell.name] = F.sum_check_formula(total.amounts[n].a1, [p.amounts[n].a1 for p in parts], _COLUMN_LABEL[col])
    return out


#: Remember the formulas of a row shape (see :func:`shape`): every national return has targets of its own, but
#: its formulas depend only on where its rows are and which rule each row has, which many projects share.
#: False: make them anew for every layout (the tests compare both ways).
REMEMBER_SHAPES = True
_BY_SHAPE: dict[tuple[Any, ...], dict[str, str]] = {}
_MAX_SHAPES = 512  # some 30 KB each at 30 indicators: a worker's memory stays bounded


#: A target row's two formulas (score, 校验) are remembered by the spec (id, version, the hash of its content), the
#: row's place (row, 二级, n: its cells) and its rule (指标性质), of which they are a function: a national return's
#: rows' shape as a whole is mostly its own (every project its own rules, row by row: :data:`REMEMBER_SHAPES` then
#: misses), but a row's place and rule recur. False: every row's made anew for a shape not seen (the tests compare).
ROW_FORMULAS = True
_BY_ROW: dict[tuple[Any, ...], tuple[str, str]] = {}
_MAX_ROWS = 4096  # some 1 KB each


def shape(layout: Layout, version: int) -> tuple[Any, ...]:
    """Everything the formulas of ``layout`` depend on, as full values (never a hash nor a claim of a file).

    The spec (its id, version and the hash of its whole content, which this process computed) fixes the
    header block, the funding block, the rules and the levels' points; each row's 二级 and rule (its
    target's 指标性质, or None for an empty row) fix where every row's cells are and which formula it gets.
    Names, units, target values and points of the targets are never in a formula: they are locked values.
    """
    spec = layout.spec
    return (spec.id, spec.version, spec.spec_hash, version, row_shape(layout))


def row_shape(layout: Layout) -> tuple[tuple[str, str | None], ...]:
    """Each row's 二级 and rule (None: an empty row the unit fills), in order: where the rows' cells are, and which
    formula each row gets (with the spec, everything but the values its targets give)."""
    found = layout.__dict__.get("_row_shape") if SHAPES_ON_LAYOUT else None
    if found is None:
        found = tuple((r.sublevel.id, None if r.target is None else r.target.kind) for r in layout.rows)
        if SHAPES_ON_LAYOUT:
            layout.__dict__["_row_shape"] = found  # (see SHAPES_ON_LAYOUT)
    return found


def cell_shape(layout: Layout) -> tuple[tuple[str, bool], ...]:
    """Each row's 二级 and whether a target fills it, in order: where every cell is (:meth:`Layout._place_level` places
    a 二级's rows by their count), and so the computed and named cells, the fixed texts, and the funding, subtotal and
    total formulas; not which inputs and formulas a row has (its rule: :func:`row_shape`)."""
    found = layout.__dict__.get("_cell_shape") if SHAPES_ON_LAYOUT else None
    if found is None:
        found = tuple((r.sublevel.id, r.target is None) for r in layout.rows)
        if SHAPES_ON_LAYOUT:
            layout.__dict__["_cell_shape"] = found  # (see SHAPES_ON_LAYOUT)
    return found


#: :func:`row_shape` and :func:`cell_shape` made once per layout and kept on it (a layout never changes after it is
#: laid out; a layout of a known shape, ``layout.layout_of``, starts from its shape's attributes as they were when it
#: was laid out, before either was kept, and keeps its own), where each was made twice a return (the plan's shape and
#: the formulas' key; the plan's cells and the non-row formulas' key): two 30-row tuples a large return, within the noise
#: of bench/ab_switch.py (1.013 on/off, the files' own ratios 0.979, every shape new, load ~6). False: made at every
#: call (the tests compare).
SHAPES_ON_LAYOUT = True


def formulas(layout: Layout, version: int) -> dict[str, str]:
    """Defined name → formula for every computed cell of the body (one layout version so far)."""
    if not REMEMBER_SHAPES:
        return make_formulas(layout, version)
    key = shape(layout, version)
    found = _BY_SHAPE.get(key)
    if found is None:
        if len(_BY_SHAPE) >= _MAX_SHAPES:
            _BY_SHAPE.pop(next(iter(_BY_SHAPE)))
        found = _BY_SHAPE[key] = make_formulas(layout, version)
    return dict(found)


#: The formulas that are no row's (the funding block's, each 一级's subtotal, the total) are made once per spec and
#: :func:`cell_shape` (how many rows each 二级 has), of which they are a function, where each new row shape made them
#: anew: a national project's rows' rules are its own, its counts of rows are a few the form allows. False: made for
#: every new row shape (the tests compare).
NON_ROW_BY_CELLS = True
_NON_ROW: dict[tuple[Any, ...], tuple[dict[str, str], tuple[tuple[str, str, str], ...], tuple[str, str, str]]] = {}
_MAX_NON_ROW = 128  # some 10 KB each


def _non_row(layout: Layout, spec_key: tuple[Any, ...]) -> tuple[dict[str, str], tuple[tuple[str, str, str], ...], tuple[str, str, str]]:
    """The funding formulas, each level's (points, score, 校验) and the total's: made once per cell shape."""
    key = (*spec_key, cell_shape(layout))
    found = _NON_ROW.get(key)
    if found is None:
        found = (funding_formulas(layout), tuple(level_formulas(lv) for lv in layout.levels), total_formulas(layout))
        if len(_NON_ROW) >= _MAX_NON_ROW:
            _NON_ROW.pop(next(iter(_NON_ROW)))
        _NON_ROW[key] = found
    return found


def make_formulas(layout: Layout, version: int) -> dict[str, str]:
    """:func:`formulas`, made from the layout."""
    rules = layout.spec.rules
    spec = layout.spec
    spec_key = (spec.id, spec.version, spec.spec_hash)
    if NON_ROW_BY_CELLS:
        funding, by_level, totals = _non_row(layout, spec_key)
        out = dict(funding)
    else:
        out = funding_formulas(layout)
    for i, lv in enumerate(layout.levels):
        for r in lv.rows:
            t = r.target
            if ROW_FORMULAS and t is not None:
                key = (*spec_key, r.row, r.sublevel.id, r.n, t.kind)
                found = _BY_ROW.get(key)
                if found is None:
                    found = (row_score_formula(r, rules), row_check_formula(r, rules))
                    if len(_BY_ROW) >= _MAX_ROWS:
                        _BY_ROW.pop(next(iter(_BY_ROW)))
                    _BY_ROW[key] = found
                out[r.score.name], out[r.check.name] = found
                continue
            out[r.score.name] = row_score_formula(r, rules)
            out[r.check.name] = row_check_formula(r, rules)
        out[lv.points.name], out[lv.score.name], out[lv.check.name] = by_level[i] if NON_ROW_BY_CELLS else level_formulas(lv)
    out[layout.total_points.name], out[layout.total_score.name], out[layout.total_check.name] = \
        totals if NON_ROW_BY_CELLS else total_formulas(layout)
    return out


def alert_rules(layout: Layout, version: int) -> list[AlertRule]:
    """A 校验 text showing turns its cell red: the table's column, the subtotals, the funding checks."""
    top = next(iter(layout.rows))
    col = top.check.col
    out = [AlertRule("check", top.row, col, layout.total_row, col, f"=LEN({top.check.column_ref})>0")]
    checks = list(layout.funding_checks.values())
    first = checks[0]
    out.append(AlertRule("check", first.row, first.col, first.row, checks[-1].col + 1, f"=LEN({first.a1})>0"))
    return out


# ---------------------------------------------------------------------------
# The Python twin


def kind_score(r: IndicatorSlot, kind: str, values: Mapping[str, Any], rules: R.RuleSet) -> Decimal | str:
    v = values.get
    return R.score(kind, v(r.target_cell.name), v(r.actual.name), v(r.points.name), rules,
                   choice=v(r.actual.name), given=v(r.given.name))


def kind_check(r: IndicatorSlot, kind: str, values: Mapping[str, Any], score: Any, rules: R.RuleSet) -> str:
    v = values.get
    a, b, p = v(r.target_cell.name), v(r.actual.name), v(r.points.name)
    first = R.band_check(b, v(r.given.name), p, rules) if kind == R.QUALITATIVE else R.input_check(a, b, p)
    if first:
        return first
    return R.reason_check(kind, score, p, v(r.reason.name), a, b, rules)


def _chosen_kind(r: IndicatorSlot, values: Mapping[str, Any]) -> str | None:
    """The rule of a row: its target's, or the 指标性质 typed (compared as Excel compares text)."""
    if r.target is not None:
        return r.target.kind
    k = values.get(r.kind.name)
    return k if isinstance(k, str) and k in R.KINDS else None


def row_score(r: IndicatorSlot, values: Mapping[str, Any], rules: R.RuleSet) -> Decimal | str:
    kind = _chosen_kind(r, values)
    return "" if kind is None else kind_score(r, kind, values, rules)


def row_check(r: IndicatorSlot, values: Mapping[str, Any], score: Any, rules: R.RuleSet) -> str:
    if r.target is not None:
        return kind_check(r, r.target.kind, values, score, rules)
    if all(R._blank(values.get(c.name)) for c in r.inputs()):
        return ""
    if R._blank(values.get(r.name.name)):
        return MSG_NAME_MISSING
    kind = _chosen_kind(r, values)
    return MSG_KIND if kind is None else kind_check(r, kind, values, score, rules)


def funding_values(layout: Layout, values: Mapping[str, Any]) -> dict[str, Any]:
    rules = layout.spec.rules
    out: dict[str, Any] = {}
    for fs in layout.funding:
        a, b = values.get(fs.budget.name), values.get(fs.executed.name)
        out[fs.rate.name] = F.execution_rate(a, b)
        if fs.score is not None and fs.points is not None:
            out[fs.score.name] = F.execution_score(a, b, values.get(fs.points.name), rules)
    total, parts = layout.funding_total, layout.funding[1:]
    for n, (col, cell) in enumerate(layout.funding_checks.items()):
        out[cell.name] = F.sum_check(values.get(total.amounts[n].name), [values.get(p.amounts[n].name) for p in parts],
                                     _COLUMN_LABEL[col])
    return out


#: Evaluate a target row's score and 校验 together, each of its values read as a number once (:func:`target_row`),
#: its cells' names taken from a list made once per layout (:func:`twin_rows`). False: by :func:`row_score` and
#: :func:`row_check`, as the formulas are built (the tests compare both ways, on every kind of value).
FUSED_ROWS = True


def target_row(kind: str, a: Any, b: Any, p: Any, g: Any, reason: Any, rules: R.RuleSet) -> tuple[Decimal | str, str]:
    """:func:`kind_score` and then :func:`kind_check` of a row with ``kind`` (one of :data:`R.KINDS`), on the
    values of its 年度指标值, 实际完成值, 分值, 自评分 and 偏差原因: the same rules' functions, given each value as
    :func:`R.number` reads it once instead of once per use."""
    na, nb, np_ = R.number(a), R.number(b), R.number(p)
    if kind == R.QUALITATIVE:
        ng = R.number(g)
        band = rules.band(b)
        bounds = None if np_ is None or np_ < 0 or band is None else R._band_bounds(band, np_, rules)
        score: Decimal | str = R._qualitative_value(ng, bounds)
        first = R._band_check(b, g, p, np_, ng, band, bounds)
    else:
        if na is None or nb is None or np_ is None or np_ < 0:
            score = ""
        elif kind == R.AT_LEAST:
            score = R._ratio_value(na, nb, np_, rules)
        elif kind == R.AT_MOST:
            score = R._at_most_value(na, nb, np_, rules)
        else:
            score = R._equal_value(na, nb, np_, rules)
        first = R._input_check(a, b, p, na, nb, np_)
    if first:
        return score, first
    return score, R._reason_check(kind, R.number(score), np_, reason, na, nb, rules)


def twin_rows(layout: Layout) -> tuple[tuple[IndicatorSlot, str | None, str, str, str, str, str, str, str], ...]:
    """Each row of ``layout`` with its target's kind (None: an empty row, or a kind no rule has, which
    :func:`row_score` refuses) and the defined names of its 年度指标值,
    实际完成值, 分值, 自评分, 偏差原因, 得分 and 校验: made once per layout (a layout never changes)."""
    found = layout.__dict__.get("_twin_rows")
    if found is None and L.SHARE_ROW_NAMES:  # (the names made once per shape)
        kinds = R.KINDS
        found = layout.__dict__["_twin_rows"] = tuple(
            (r, r.target.kind if r.target is not None and r.target.kind in kinds else None, *names)
            for r, names in zip(layout.rows, layout.twin_names()))
    elif found is None:
        found = layout.__dict__["_twin_rows"] = tuple(
            (r, r.target.kind if r.target is not None and r.target.kind in R.KINDS else None, r.target_cell.name, r.actual.name, r.points.name,
             r.given.name, r.reason.name, r.score.name, r.check.name) for r in layout.rows)
    return found


def evaluate(layout: Layout, values: Mapping[str, Any]) -> dict[str, Any]:
    """What every computed cell of the body shows, given the cells' values by defined name."""
    if not FUSED_ROWS:
        return _evaluate(layout, values)
    rules = layout.spec.rules
    out = funding_values(layout, values)
    get = values.get
    rows = iter(twin_rows(layout))
    for lv in layout.levels:
        pts = s = Decimal(0)
        for _ in lv.rows:
            r, kind, a, b, p, g, reason, score_name, check_name = next(rows)
            if kind is None:
                score = row_score(r, values, rules)
                check = row_check(r, values, score, rules)
            else:
                score, check = target_row(kind, get(a), get(b), get(p), get(g), get(reason), rules)
            out[score_name] = score
            out[check_name] = check
            pts += number_or_zero(get(p))
            s += number_or_zero(score)
        out[lv.points.name], out[lv.score.name] = pts, s
        out[lv.check.name] = "" if round2(pts) == lv.level.points else points_sum_message(lv.level.points)
    return _totals(layout, values, out)


def _evaluate(layout: Layout, values: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`evaluate`, row by row with :func:`row_score` and :func:`row_check`."""
    rules = layout.spec.rules
    out = funding_values(layout, values)
    for lv in layout.levels:
        pts = s = Decimal(0)
        for r in lv.rows:
            score = row_score(r, values, rules)
            out[r.score.name] = score
            out[r.check.name] = row_check(r, values, score, rules)
            pts += number_or_zero(values.get(r.points.name))
            s += number_or_zero(score)
        out[lv.points.name], out[lv.score.name] = pts, s
        out[lv.check.name] = "" if round2(pts) == lv.level.points else points_sum_message(lv.level.points)
    return _totals(layout, values, out)


def _totals(layout: Layout, values: Mapping[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    """The total row's cells, into ``out`` (which holds the funding block's and the levels' already)."""
    ft = layout.funding_total
    assert ft.points is not None and ft.score is not None
    total_p = number_or_zero(values.get(ft.points.name)) + sum((out[lv.points.name] for lv in layout.levels), Decimal(0))
    total_s = number_or_zero(out[ft.score.name]) + sum((out[lv.score.name] for lv in layout.levels), Decimal(0))
    out[layout.total_points.name], out[layout.total_score.name] = total_p, total_s
    out[layout.total_check.name] = "" if round2(total_p) == layout.spec.total else points_sum_message(layout.spec.total)
    return out

