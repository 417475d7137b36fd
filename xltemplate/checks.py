"""The checks every family's form gets: independent functions of the frozen validation context.

Each takes a :class:`~xltemplate.normalise.Context` and yields findings; none changes anything
or depends on another having run. :data:`BEFORE` run ahead of the family's own checks (what a
person did to the sheet), :data:`AFTER` after them (what the values mean, and what the formulas
show).
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any, Iterator

from . import meta
from .findings import Finding, finding
from .form.formulas import is_number, number_or_zero
from .form.layout import FieldSlot
from .normalise import Context, names_and_places, norm_expected, norm_formula, norm_text
from .shaped import derived
from .readers.display import MERGED
from .submission import split_a1
from .text import CONTROL_CHARS, MARKUP, clip, money, show
from .values import parse_field

_NUM_TOLERANCE = Decimal("0.000001")


def visibility(ctx: Context) -> Iterator[Finding]:
    """What is validated must be what a person sees: the form sheet shown, no value hidden in it."""
    sheet = ctx.sheet
    state = ctx.sub.sheets.get(sheet, "visible")
    if state != "visible":
        yield finding("content-hidden", "sheet", sheet=sheet, value=state)
    hidden = ctx.sub.concealed.get(sheet, {})
    for ref in sorted(hidden, key=split_a1):
        if hidden[ref] == MERGED:
            yield finding("content-hidden", "merged", sheet=sheet, cell=ref)
        else:
            data = ctx.cells.get(ref)
            yield finding("content-hidden", "format", sheet=sheet, cell=ref, value=None if data is None else data.value)


def protection(ctx: Context) -> Iterator[Finding]:
    if not ctx.sub.protected.get(ctx.sheet, False):
        yield finding("protection-removed", sheet=ctx.sheet)


def names(ctx: Context) -> Iterator[Finding]:
    defined, sheet = ctx.sub.defined_names, ctx.sheet
    places = ctx.plan.places
    if NAMES_AT_ONCE:
        by_name = derived(places, "places by name", lambda: dict((c.name, place) for c, place in places))
        if len(by_name) == len(places) and by_name.items() <= defined.items():
            return  # (every name where it must point: what the comparison below finds, name by name)
    wrong = [c for c, place in places if defined.get(c.name) != place]
    if wrong:
        shown = "、".join(c.name for c in wrong[:5]) + ("等" if len(wrong) > 5 else "")
        yield finding("defined-name-changed", sheet=sheet, cell=wrong[0].a1, value=len(wrong), count=len(wrong), names=shown)


#: The names check first asks, in one comparison, whether every defined name of the plan points where it must (its
#: names and places as a dict made once per plan's part, :func:`xltemplate.shaped.derived`, against the file's names:
#: ``items() <=``, each an equality as below); only when not (or when two cells shared a name) name by name, which
#: gives the finding. False: always name by name (the tests compare).
NAMES_AT_ONCE = True


def locked_texts(ctx: Context) -> Iterator[Finding]:
    for ref, expected, normalised in ctx.plan.locked_texts:
        data = ctx.cells.get(ref)
        got = None if data is None else data.value
        if got != expected and norm_text(got) != normalised:
            yield finding("locked-text-changed", sheet=ctx.sheet, cell=ref, value=got, expected=clip(expected))


def prefill(ctx: Context) -> Iterator[Finding]:
    """Prefilled cells against what the bureau sent: the roster when there is one, else the metadata.

    The metadata travels inside the file, so it can be edited along with the cell; the roster cannot.
    With a roster, its values are the truth, and the metadata must agree with them too.
    """
    expected: dict[str, Any] = dict(ctx.prefill)
    if ctx.roster_row is not None:
        for fid, truth in sorted(ctx.roster_row.prefill.items()):
            slot = _slot(ctx, fid)
            if slot is None:
                continue
            if fid in ctx.prefill and not _same_value(slot, ctx.prefill[fid], truth):
                yield finding("prefill-changed", "meta", sheet=meta.SHEET, field=fid, value=ctx.prefill[fid],
                              label=slot.field.label, recorded=ctx.prefill[fid], expected=show(truth))
            expected[fid] = truth
    for fid, want in sorted(expected.items()):
        slot = _slot(ctx, fid)
        if slot is None:
            continue
        if not _same_value(slot, ctx.raw(slot.cell), want, strict=True):
            yield ctx.at("prefill-changed", slot.cell, field=fid, value=ctx.raw(slot.cell),
                         label=slot.field.label, expected=show(want))


def fields(ctx: Context) -> Iterator[Finding]:
    """Each header field read: required, within its bounds, its text not too long nor carrying junk."""
    for slot in ctx.layout.fields:
        f = slot.field
        if f.computed or slot.cell.name not in ctx.readable:
            continue
        value = ctx.values.get(slot.cell.name)
        seen = ctx.raw(slot.cell)
        if value is None:
            if f.required:
                yield ctx.at("required-missing", slot.cell, field=f.id, label=f.label)
            continue
        if f.min is not None and value < f.min or f.max is not None and value > f.max:
            bounds = f"{show(f.min)}至{show(f.max)}" if f.min is not None and f.max is not None else (f"不小于{show(f.min)}" if f.min is not None else f"不大于{show(f.max)}")
            yield ctx.at("value-out-of-range", slot.cell, field=f.id, value=seen, label=f.label, bounds=bounds, seen=show(value))
        if isinstance(value, str):
            if f.max_length and len(value) > f.max_length:
                yield ctx.at("text-too-long", slot.cell, field=f.id, value=clip(value), label=f.label, length=len(value), limit=f.max_length)
            if CONTROL_CHARS.search(value):
                yield ctx.at("text-control-chars", slot.cell, field=f.id, value=clip(value), label=f.label)
            if MARKUP.search(value):
                yield ctx.at("text-markup", slot.cell, field=f.id, value=clip(value), label=f.label)


def figures(ctx: Context) -> Iterator[Finding]:
    """The summary roles' figures: executed against budget, the self-evaluation date against today and the year."""
    roles = ctx.spec.summary
    budget = _field_value(ctx, roles.get("budget"))
    executed = _field_value(ctx, roles.get("executed"))
    if isinstance(budget, Decimal) and isinstance(executed, Decimal):
        slot = ctx.layout.field(roles["executed"])
        b = ctx.layout.field(roles["budget"])
        if executed > budget:
            yield ctx.at("executed-above-budget", slot.cell, field=slot.field.id, value=show(executed),
                         executed=money(executed), budget=money(budget), unit=ctx.spec.money_unit,
                         executed_label=slot.field.label, budget_label=b.field.label)
        if budget == 0:
            yield ctx.at("rate-undefined", b.cell, field=b.field.id, value=0, label=b.field.label)
    date_id = roles.get("date")
    when = _field_value(ctx, date_id)
    if isinstance(when, dt.date) and date_id is not None:
        slot = ctx.layout.field(date_id)
        if when > ctx.today:
            yield ctx.at("date-in-future", slot.cell, field=date_id, value=when.isoformat(), label=slot.field.label, date=when.isoformat())
        elif ctx.spec.fiscal_year and when > dt.date(ctx.spec.fiscal_year + 1, 12, 31):
            yield ctx.at("date-late", slot.cell, field=date_id, value=when.isoformat(), label=slot.field.label,
                         date=when.isoformat(), year=ctx.spec.fiscal_year)


def formulas(ctx: Context) -> Iterator[Finding]:
    """Every formula present, unchanged (as the file's layout version wrote it), and what it claims."""
    expected = ctx.plan.formulas_for((ctx.sub.meta or {}).get("layout_version"))
    get = ctx.cells.get
    should_show = ctx.shown  # what a spreadsheet would show for these cells
    computed = ctx.plan.computed
    for c, (name, place) in zip(computed, names_and_places(computed)):
        data = get(place)
        if data is None or data.formula is None:
            seen = None if data is None else data.value
            yield ctx.at("formula-overwritten", c, field=name, value=seen, seen=seen if seen is not None else "空")
            continue
        formula = expected[name]
        if data.formula != formula and norm_formula(data.formula) != norm_expected(formula):
            yield ctx.at("formula-changed", c, field=name, value=data.formula)
            continue
        value, want = data.value, should_show[name]
        if value is not None and not _same(value, want):  # (no cached value: nothing claimed)
            yield ctx.at("cached-value-stale", c, field=name, value=value, seen=value, expected=show(want))


#: The generic checks before the family's (what was done to the sheet) and after them (what the values say).
BEFORE = (visibility, protection, names, locked_texts, prefill, fields)
AFTER = (figures, formulas)


# -- helpers ---------------------------------------------------------------------------------------

def _slot(ctx: Context, fid: str) -> FieldSlot | None:
    try:
        return ctx.layout.field(fid)
    except KeyError:
        return None


def _field_value(ctx: Context, field_id: str | None) -> Any:
    if not field_id:
        return None
    return ctx.value(ctx.layout.field(field_id).cell)


def _same_value(slot: FieldSlot, got: Any, want: Any, strict: bool = False) -> bool:
    """Two values of a field equal once read the way people type them; ``strict``: ``got`` must be readable."""
    f = slot.field
    g = parse_field(got, f.type, f.choices)
    if PREFILL_FIRST:
        kind = type(got)
        if kind is str and type(want) is str and got == want:
            return (g.ok or not strict) and g.value == g.value  # (want reads as got does: the same Parsed)
        if (kind is int or kind is float) and type(want) is str and g.ok and f.type in _NUMBER_TEXT \
                and want == (repr(got) if kind is float else str(got)):
            return True  # (see PREFILL_FIRST)
    w = parse_field(want, f.type, f.choices)
    return (g.ok or not strict) and g.value == w.value


#: :func:`_same_value` decides two usual cases without reading ``want``: a text equal to the text got (``want`` reads
#: as ``got`` does), and, in a money or number field, a float or an int got, read, whose repr (a float's) or str (an
#: int's) is the text wanted (the metadata's ``'1004'`` beside the cell's 1004): that text is a plain number, which
#: :func:`~xltemplate.values.parse_number` reads as the Decimal of that very text, the one the number got reads as.
#: Anything else reads both, as before. False: always both (the tests compare).
PREFILL_FIRST = True
_NUMBER_TEXT = frozenset({"money", "number"})


#: Decide the usual comparisons of :func:`_same` first: a float or an int cached beside a figure, equal once read as the
#: twins read it (then within any tolerance), a text beside a text; some 30 a return; the rest as before. False: every one the general way (the tests
#: compare).
EXACT_FIRST = True


def _same(cached: Any, expected: Any) -> bool:
    if EXACT_FIRST:
        kind, want = type(cached), type(expected)
        if want is Decimal:
            if kind is float and math.isfinite(cached) and Decimal(repr(cached)) == expected:
                return True  # (is_number; the difference of number_or_zero(cached) and expected is 0)
            if kind is int and Decimal(cached) == expected:
                return True
        elif want is str and kind is str:
            return cached == expected  # (an empty text is blank; other texts compare as texts)
    return _same_general(cached, expected)


def _same_general(cached: Any, expected: Any) -> bool:
    """:func:`_same`, for any values."""
    if expected is None or expected == "":
        return cached is None or cached == ""
    if isinstance(expected, Decimal):
        if not is_number(cached):
            return False
        if cached == expected:  # exact (a float and a Decimal compare by value): the usual answer, at once
            return True
        # a date (a formula cell given a date format) counts as its serial number, as the formulas count it
        return abs(number_or_zero(cached) - expected) <= _NUM_TOLERANCE * max(Decimal(1), abs(expected))
    return str(cached) == str(expected)
