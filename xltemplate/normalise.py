"""Validation's first step: read every input once into a frozen context that every check reads.

:func:`normalise` reads each input cell the layout declares (the header fields, and the body's
inputs its family declares) the way people type (:mod:`xltemplate.values`): the value to use, or
why it cannot be used. It yields the findings about reading (a formula typed into an input, an
error value, an unreadable or normalised value) and returns a :class:`Context` that never changes
afterwards. Every check (:mod:`xltemplate.checks`, and each family's) is then an independent
function of that context, so checks run in any order and none depends on another having run.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal
from functools import cached_property, lru_cache, partial
from itertools import compress, repeat
from operator import attrgetter, itemgetter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from .findings import Finding, finding
from .form.family import InputSlot, family_of
from .form.formulas import FORMULA_VERSIONS, evaluate, formulas
from .form.layout import LAYOUT_VERSION, Cell, FormLayout, Targets, a1
from .meta import targets_json
from .shaped import derived
from .spec import Spec
from .submission import CellData, Submission
from .text import clip
from .values import Measure, Parsed, clean_text, exact_number, parse_field, parse_number, parse_text

if TYPE_CHECKING:
    from .roster import RosterRow


def norm_text(v: Any) -> str:
    return re.sub(r"\s+", "", "" if v is None else str(v))


@lru_cache(maxsize=100_000)
def norm_expected(f: str) -> str:
    """:func:`norm_formula` of a formula we wrote, kept: most files hold them as written, so it is rarely asked
    for, and a national form's plans (one per project's targets) share most of their formulas' texts."""
    return norm_formula(f)


def norm_formula(f: str) -> str:
    """Compare formulas as an engine would: without spaces, $ signs or case outside text literals."""
    parts = re.split(r'("(?:[^"]|"")*")', f.lstrip("="))
    # LibreOffice saves the constants TRUE and FALSE as the functions TRUE() and FALSE(): the same formula
    return "".join(p if p.startswith('"') else _BOOL_CALL.sub(r"\1", re.sub(r"[\s$]", "", p).upper().replace("_XLFN.", ""))
                   for p in parts)


_BOOL_CALL = re.compile(r"\b(TRUE|FALSE)\(\)")


@dataclass(frozen=True)
class Plan:
    """What validation needs from a spec, computed once per spec rather than once per file."""

    layout: FormLayout
    inputs: tuple[InputSlot, ...]  # the header fields' and the body's, in order
    spec_values: Mapping[str, Any]  # body cells whose value the spec fixes, by defined name
    inputs_and_computed: tuple[Cell, ...]
    places: tuple[tuple[Cell, tuple[str, str]], ...]  # each of those and where its defined name must point
    computed: tuple[Cell, ...]
    locked_texts: tuple[tuple[str, str, str], ...]  # (A1, expected text, its normalised form)
    formulas: Mapping[int, Mapping[str, str]]  # layout version → defined name → formula (normalised on demand: norm_expected)
    referenced: tuple[Cell, ...]  # every named cell the formulas may read (the twins get them all)
    reads: tuple[Cell, ...]  # those a formula names (a cell or in a range): what the twins read
    referenced_names: frozenset[str]  # the defined names of ``referenced``

    def formulas_for(self, layout_version: str | None) -> Mapping[str, str]:
        """The formulas a file must hold: those of the layout version its metadata names.

        A workbook sent out before an upgrade keeps its older formulas and must stay valid;
        any other version (the current one, a missing or unknown one) is held to the current formulas.
        """
        try:
            version = int(layout_version or "")
        except ValueError:
            version = LAYOUT_VERSION
        return self.formulas.get(version, self.formulas[LAYOUT_VERSION])


_PLANS: dict[tuple[str, str, str, str | None], Plan] = {}
#: Plans of workbooks with targets of their own are many (one per project): keep the last hundred or so
#: (a plan of 30 indicators holds ~100 KB of formulas; a worker's memory stays bounded).
_MAX_PLANS = 128


def plan(spec: Spec, targets: Targets | None = None) -> Plan:
    """What validation needs from a spec (and a workbook's own targets), made once and kept."""
    spec_key = (spec.id, spec.version, spec.spec_hash)
    key = (*spec_key, targets_json(targets) if targets is not None else None)  # the targets' full content
    found = _PLANS.get(key)
    if found is None:
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.pop(next(iter(_PLANS)))
        family = family_of(spec)
        layout = family.layout(spec, targets)
        # (a layout of targets is its shape's copy, holding its fields; one without is laid out anew, its plan kept)
        fields = derived(layout.fields, "input slots", lambda: _field_inputs(layout)) \
            if SHARE_FIELD_INPUTS and targets is not None else _field_inputs(layout)
        shape = (*spec_key, family.shape(layout))
        common = _SHAPES.get(shape) if SHARE_SHAPES else None
        if common is None:
            common = _shaped(spec, layout)
            if len(_SHAPES) >= _MAX_PLANS:
                _SHAPES.pop(next(iter(_SHAPES)))
            _SHAPES[shape] = common
        found = _PLANS[key] = Plan(
            layout=layout,
            inputs=fields + tuple(family.inputs(layout)),
            spec_values=family.spec_values(layout),
            **common,
        )
    return found


def _field_inputs(layout: FormLayout) -> tuple[InputSlot, ...]:
    """The header fields' input slots: a function of ``layout.fields`` alone."""
    return tuple(InputSlot(s.cell, s.field.type, s.field.label, s.field.id, s.field.choices)
                 for s in layout.fields if not s.field.computed)


#: The header fields' input slots made once per :attr:`~xltemplate.form.layout.FormLayout.fields` (a tuple of frozen
#: slots, the very object the layouts of one shape share: :func:`xltemplate.shaped.derived`), where a plan made
#: them anew (frozen dataclasses, some 15 a plan); only for a workbook's own targets, whose layout is a shape's copy
#: (a layout without targets is laid out anew, so nothing would be found again, and its plan is kept anyway).
#: False: made for every plan (the tests compare).
SHARE_FIELD_INPUTS = True


#: The parts of a plan that the spec and the family's :meth:`~xltemplate.form.family.FormFamily.shape` of the
#: layout fix (cells, names, fixed texts, formulas), shared by the plans of one shape: a national return's
#: targets are its own, its rows' places and rules are often another project's. False: made for every plan.
SHARE_SHAPES = True
_SHAPES: dict[tuple[Any, ...], dict[str, Any]] = {}


#: The parts of a plan that only where the cells are fixes (the computed cells, the named cells the formulas may
#: read, the fixed texts, each computed cell's place) are made once per spec and the family's
#: ``cell_shape`` (:meth:`~xltemplate.form.family.FormFamily.shape`) (a national form: how many rows each 二级 has), and a new row
#: shape (each row's rule: every project its own) takes them from there, making only its input cells' list and
#: places (a row's inputs follow its rule) and its formulas. False: every part made for every new shape (the tests
#: compare).
CELLS_BY_SHAPE = True
_CELLS: dict[tuple[Any, ...], dict[str, Any]] = {}


def _shaped(spec: Spec, layout: FormLayout) -> dict[str, Any]:
    family = family_of(spec)
    if CELLS_BY_SHAPE:
        return _by_cells(spec, layout, family)
    computed = layout.computed_cells()
    computed_names = {c.name for c in computed}
    versions = tuple(v for v in FORMULA_VERSIONS if v in family.formula_versions)
    texts = {v: formulas(layout, v) for v in versions}
    referenced = tuple(c for c in layout.named_cells() if c.name not in computed_names)
    return dict(
        inputs_and_computed=tuple(layout.input_cells() + computed),
        places=tuple((c, (spec.sheet, c.a1)) for c in layout.input_cells() + computed),
        computed=tuple(computed),
        locked_texts=_locked(layout.locked_texts()),
        formulas=texts,
        referenced=referenced,
        reads=formula_reads(texts, referenced),
        referenced_names=frozenset(c.name for c in referenced),
    )


#: Each fixed text's entry of a plan (its A1, the text, the text without white space) is made once per place and
#: full text (the spec's labels, which every shape has at its places), where each new shape made them all anew:
#: a national return's shape is mostly its own, its fixed texts are the form's. False: made for every shape (the
#: tests compare).
LOCKED_BY_TEXT = True
_LOCKED: dict[tuple[int, int, str], tuple[str, str, str]] = {}
_MAX_LOCKED = 8192  # some 200 bytes each


def _by_cells(spec: Spec, layout: FormLayout, family: Any) -> dict[str, Any]:
    """:func:`_shaped`, its cells' parts taken from the plans of the same cell shape (:data:`CELLS_BY_SHAPE`)."""
    cell_shape = getattr(family, "cell_shape", None)  # (optional: a family without it shares by its shape)
    key = (spec.id, spec.version, spec.spec_hash,
           ("cells", cell_shape(layout)) if cell_shape is not None else ("shape", family.shape(layout)))
    cells = _CELLS.get(key)
    if cells is None:
        computed = tuple(layout.computed_cells())
        computed_names = {c.name for c in computed}
        referenced = tuple(c for c in layout.named_cells() if c.name not in computed_names)
        cells = dict(
            computed=computed,
            computed_places=tuple((c, (spec.sheet, c.a1)) for c in computed),
            locked_texts=_locked(layout.locked_texts()),
            referenced=referenced,
            referenced_names=frozenset(c.name for c in referenced),
            referenced_places=tuple((c.row, c.col) for c in referenced),
        )
        if len(_CELLS) >= _MAX_PLANS:
            _CELLS.pop(next(iter(_CELLS)))
        _CELLS[key] = cells
    computed, referenced = cells["computed"], cells["referenced"]
    inputs = layout.input_cells()
    sheet = spec.sheet
    versions = tuple(v for v in FORMULA_VERSIONS if v in family.formula_versions)
    texts = {v: formulas(layout, v) for v in versions}
    return dict(
        inputs_and_computed=(*inputs, *computed),
        places=(*zip(inputs, zip(repeat(sheet), map(_A1, inputs))), *cells["computed_places"]),  # (in C)
        computed=computed,
        locked_texts=cells["locked_texts"],
        formulas=texts,
        referenced=referenced,
        reads=_reads_by_places(texts, referenced, cells["referenced_places"]) if READS_BY_PLACES and READS_BY_TEXT
        else formula_reads(texts, referenced),
        referenced_names=cells["referenced_names"],
    )


#: With :data:`CELLS_BY_SHAPE`, the cells the formulas read are the referenced cells at the places their texts name
#: (:data:`READS_BY_TEXT`), tested place by place against the cell shape's list of places, and not remembered by the
#: whole formulas (:data:`_READS`, whose key, every formula's text and every cell's name and place, cost as much as
#: the search: a plan of a row shape seen is remembered whole in :data:`_SHAPES` anyway). False: :func:`formula_reads`
#: (the tests compare).
READS_BY_PLACES = True


def _reads_by_places(texts: Mapping[int, Mapping[str, str]], cells: tuple[Cell, ...],
                     places_of: tuple[tuple[int, int], ...]) -> tuple[Cell, ...]:
    """:func:`formula_reads` of ``cells``, whose places (row, col) are ``places_of``, in order; the cells' names and
    places (:func:`names_and_places`) taken from ``cells``' by the same choice, in C (some 280 a large national return,
    where a new shape made them one by one when its values were compared: :meth:`Context._as_held`)."""
    all_texts = [text for m in texts.values() for text in m.values()]
    reads: list[Any] = list(map(_TEXT_READS.get, all_texts))
    if None in reads:
        reads = [found or _text_reads(text) for found, text in zip(reads, all_texts)]
    places = frozenset().union(*map(itemgetter(0), reads))
    wide = [w for _, big in reads if big for w in big] if any(map(itemgetter(1), reads)) else None
    if wide:
        return tuple(c for c in cells if (c.row, c.col) in places
                     or any(r0 <= c.row <= r1 and c0 <= c.col <= c1 for r0, r1, c0, c1 in wide))
    chosen = tuple(map(places.__contains__, places_of))
    found = tuple(compress(cells, chosen))
    derived(found, "names and places", lambda: tuple(compress(names_and_places(cells), chosen)))
    return found


def _locked(texts: Mapping[tuple[int, int], str]) -> tuple[tuple[str, str, str], ...]:
    if not LOCKED_BY_TEXT:
        return tuple((a1(r, c), text, norm_text(text)) for (r, c), text in texts.items())
    out = []
    get = _LOCKED.get
    for (r, c), text in texts.items():
        found = get((r, c, text))
        if found is None:
            found = (a1(r, c), text, norm_text(text))
            if len(_LOCKED) >= _MAX_LOCKED:
                _LOCKED.pop(next(iter(_LOCKED)))
            _LOCKED[(r, c, text)] = found
        out.append(found)
    return tuple(out)


_REF = re.compile(r"(?<![A-Za-z0-9_.$])\$?([A-Z]{1,3})\$?([0-9]+)(?::\$?([A-Z]{1,3})\$?([0-9]+))?(?![A-Za-z0-9_(])")
_STRING = re.compile(r'"(?:[^"]|"")*"')
_READS: dict[tuple[Any, ...], tuple[Cell, ...]] = {}


def formula_reads(texts: Mapping[int, Mapping[str, str]], cells: tuple[Cell, ...]) -> tuple[Cell, ...]:
    """The cells of ``cells`` that some formula of ``texts`` names, alone or inside a range (A1:B9).

    Found in the formulas' text outside their string literals; a pattern that matched more than a reference
    would only add cells (the comparison in :meth:`Context._as_held` would then share less, never wrongly).
    Remembered by the full formulas' texts and the cells' names and places (many projects share a shape).
    """
    key = (tuple((v, tuple(m.values())) for v, m in texts.items()), tuple((c.name, c.a1) for c in cells))
    found = _READS.get(key)
    if found is not None:
        return found
    if READS_BY_TEXT:
        places: set[tuple[int, int]] = set()
        wide: list[tuple[int, int, int, int]] = []
        for m in texts.values():
            for text in m.values():
                named, big = _TEXT_READS.get(text) or _text_reads(text)
                places |= named
                if big:
                    wide += big
        if wide:
            found = tuple(c for c in cells if (c.row, c.col) in places
                          or any(r0 <= c.row <= r1 and c0 <= c.col <= c1 for r0, r1, c0, c1 in wide))
        else:
            found = tuple(c for c in cells if (c.row, c.col) in places)
        if len(_READS) >= _MAX_PLANS:
            _READS.pop(next(iter(_READS)))
        _READS[key] = found
        return found
    singles: set[str] = set()
    ranges: list[tuple[int, int, int, int]] = []
    for m in texts.values():
        for text in m.values():
            for c1, r1, c2, r2 in _REF.findall(_STRING.sub('""', text)):
                if c2:
                    a, b = _col(c1), _col(c2)
                    ranges.append((min(int(r1), int(r2)) - 1, max(int(r1), int(r2)) - 1, min(a, b), max(a, b)))
                else:
                    singles.add(f"{c1}{r1}")
    found = tuple(c for c in cells if c.a1 in singles or any(r0 <= c.row <= r1 and c0 <= c.col <= c1 for r0, r1, c0, c1 in ranges))
    if len(_READS) >= _MAX_PLANS:
        _READS.pop(next(iter(_READS)))
    _READS[key] = found
    return found


#: :func:`formula_reads` finds each formula's references once per formula text (ours: made from the spec and the
#: layout, never read from a file), as the places (row, col) it names, a range's cells among them (one wider than
#: :data:`_MAX_AREA` cells kept as a range), and takes the cells at those places; a national return's rows are its
#: own, so the whole set of formulas is rarely another return's, but each row's formulas are those of its place and
#: rule, which recur. False: every formula's text searched for every new set (the tests compare).
READS_BY_TEXT = True
_TEXT_READS: dict[str, tuple[frozenset[tuple[int, int]], tuple[tuple[int, int, int, int], ...]]] = {}
_MAX_TEXT_READS = 8192  # some 300 bytes a formula: a worker's memory stays bounded
_MAX_AREA = 4096


def _text_reads(text: str) -> tuple[frozenset[tuple[int, int]], tuple[tuple[int, int, int, int], ...]]:
    """The places one formula names (0-based (row, col)), a range's cells included; ranges wider than
    :data:`_MAX_AREA` apart. Remembered by the formula's full text."""
    places: set[tuple[int, int]] = set()
    wide: list[tuple[int, int, int, int]] = []
    for c1, r1, c2, r2 in _REF.findall(_STRING.sub('""', text)):
        if c2:
            a, b = _col(c1), _col(c2)
            r0, r9, c0, c9 = min(int(r1), int(r2)) - 1, max(int(r1), int(r2)) - 1, min(a, b), max(a, b)
            if (r9 - r0 + 1) * (c9 - c0 + 1) <= _MAX_AREA:
                places.update((r, c) for r in range(r0, r9 + 1) for c in range(c0, c9 + 1))
            else:
                wide.append((r0, r9, c0, c9))
        elif not r1.startswith("0"):  # (as a cell's A1 writes it: "B05" names no cell's A1)
            places.add((int(r1) - 1, _col(c1)))
    found = (frozenset(places), tuple(wide))
    if len(_TEXT_READS) >= _MAX_TEXT_READS:
        _TEXT_READS.pop(next(iter(_TEXT_READS)))
    _TEXT_READS[text] = found
    return found


def _col(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


def names_and_places(cells: tuple[Cell, ...]) -> tuple[tuple[str, str], ...]:
    """Each cell's defined name and A1 place: made once for a plan's part, which the plans of a shape share."""
    return derived(cells, "names and places", lambda: tuple(zip(map(_NAME, cells), map(_A1, cells))))  # (in C)


_NAME, _A1 = attrgetter("name"), attrgetter("a1")


def _names(cells: tuple[Cell, ...]) -> tuple[str, ...]:
    return derived(cells, "names", lambda: tuple(map(_NAME, cells)))


#: When the values read are those held (:meth:`Context._as_held`), :attr:`Context.shown` is the twins evaluated once,
#: on the values read, rather than on the cells' values gathered again (a spreadsheet's view: the same figures, as
#: :attr:`Context.computed` says). False: on the cells' values, and :attr:`Context.computed` is that (the tests
#: compare).
HELD_FROM_INPUTS = True

#: In :meth:`Context._as_held`, a number read from a float is compared by the float's repr first, when that has no
#: exponent (then it is the str of the Decimal the twins read the float as); otherwise, and when they differ, as
#: before; one read from an int, by the int's str (its Decimal's, always). False: always as before (the tests
#: compare).
REPR_FIRST = True

#: Evaluate the formulas' twins once when the inputs as read are the values the file holds (see
#: :attr:`Context.computed`); False: twice, on the file's values and on the values read (the tests compare).
SHARE_EVALUATION = True
_PLAIN = (str, int, float, bool)

#: A quiet input (:data:`QUIET`) empty or holding a text is read in line: :func:`~xltemplate.values.parse_text` of
#: None is None, of a str None when :func:`~xltemplate.values.clean_text` leaves nothing (blank), else the text
#: stripped. False: by parse_text (the tests compare).
PLAIN_FIRST = True

#: Names read as numbers from a float or an int (an exact type: not a bool) are known, when read, to be used as held:
#: :func:`~xltemplate.values.parse_number` (a score, a money, number or percent field) and a
#: :class:`~xltemplate.values.Measure` read such a value as ``Decimal(repr(float))`` or ``Decimal(int)`` whatever
#: their kind or unit (or refuse it: then it is not used), which is the Decimal a twin reads the cell's value as
#: (:meth:`Context._as_held` finds them so, digit for digit), so :meth:`Context._as_held` skips them. A name assigned
#: any other way later is taken out again. False: every name compared (the tests compare).
HELD_WHEN_READ = True
_NUMBER_FIELDS = frozenset({"money", "number", "percent"})

#: A float or an int (exact types) in an input read as a number (a :class:`~xltemplate.values.Measure`, a score, a
#: money, number or percent field), in a cell without a formula or an error, is read in line: what each of those
#: readers gives such a value is :func:`~xltemplate.values.exact_number` of it, without a note, or an error when
#: that is None (then it is read by its reader, as before). Such an input whose cell is absent (empty) is read in
#: line as blank, as each of those readers reads None. False: by the slot's reader (the tests compare).
NUMBER_IN_LINE = True

#: :attr:`Context.referenced_values` is a copy of a dict of the referenced names, each None (made once per plan's
#: part), updated with the values used, when every name with a value used is a referenced one (what validation reads
#: is the named cells): the same keys in the same order, each with its value used or None, as asking the values for
#: each name one by one made it (~280 names of a large national return: normalise with the referenced values 211
#: against 238 us, CPU at load ~5). Otherwise as before. False: always as before (the tests compare).
REFERENCED_BY_COPY = True

#: Read without a word: free texts a person may leave as anything (remarks, the names of a unit's own rows).
QUIET = "quiet"


@dataclass(frozen=True)
class Context:
    """One returned file as validation sees it, read once and never changed: what every check reads."""

    spec: Spec
    sub: Submission
    plan: Plan
    cells: Mapping[str, CellData]  # the form sheet's cells by A1
    prefill: Mapping[str, Any]  # the prefilled values as the metadata records them
    today: dt.date
    roster_row: "RosterRow | None"  # the unit's roster row: the truth for prefilled values
    values: Mapping[str, Any]  # defined name → the value used (read inputs, and what the spec fixes)
    readable: frozenset[str]  # defined names whose value could be read (or the spec fixes)
    #: names whose value used is the cell's value as held, as the twins read it, known when it was read (a float
    #: or an int read as a number: see HELD_WHEN_READ); :meth:`_as_held` need not compare them again
    held_when_read: frozenset[str] = frozenset()

    @property
    def layout(self) -> FormLayout:
        return self.plan.layout

    @property
    def sheet(self) -> str:
        return self.spec.sheet

    def data(self, c: Cell) -> CellData | None:
        return self.cells.get(c.a1)

    def raw(self, c: Cell) -> Any:
        data = self.cells.get(c.a1)
        return None if data is None else data.value

    def value(self, c: Cell) -> Any:
        """The value read from ``c`` when it could be read, else None."""
        return self.values.get(c.name) if c.name in self.readable else None

    @cached_property
    def shown(self) -> Mapping[str, Any]:
        """What a spreadsheet would show in every computed cell, from the cells' values as the file holds them."""
        if SHARE_EVALUATION and HELD_FROM_INPUTS and self._held:
            return self.computed  # (the twins on the values read, which are those held: see computed)
        get = self.cells.get
        raw = {name: None if (data := get(place)) is None else data.value
               for name, place in names_and_places(self.plan.referenced)}
        return evaluate(self.layout, raw)

    @cached_property
    def referenced_values(self) -> Mapping[str, Any]:
        """The value used for every cell a formula or the results read (None where there is none), by defined
        name: what the twins evaluate (:attr:`computed`) and what the results are made from (one dict for both)."""
        referenced = self.plan.referenced
        values = self.values
        if REFERENCED_BY_COPY and values.keys() <= self.plan.referenced_names:
            out = derived(referenced, "none by name", lambda: dict.fromkeys(_names(referenced))).copy()
            out.update(values)  # (see REFERENCED_BY_COPY)
            return out
        names = _names(referenced)
        return dict(zip(names, map(values.get, names)))

    @cached_property
    def computed(self) -> Mapping[str, Any]:
        """What every computed cell should show from the inputs as read (the figures that count).

        The same as :attr:`shown` when every value the formulas read was read as the file holds it (a number
        as the Decimal its float reads as, to the digit): the twins then see the same values, so they are not
        evaluated twice (SHARE_EVALUATION: False evaluates them anew, as the tests compare); they are evaluated on
        the values read (HELD_FROM_INPUTS), so the cells' values as held need not be gathered for them.
        """
        inputs = self.referenced_values
        if SHARE_EVALUATION and self._held and not HELD_FROM_INPUTS:
            return self.shown
        return evaluate(self.layout, inputs)

    @cached_property
    def _held(self) -> bool:
        """:meth:`_as_held` of the values read: asked once a context."""
        return self._as_held(self.referenced_values, self.held_when_read)

    def _as_held(self, inputs: Mapping[str, Any], known: frozenset[str] = frozenset()) -> bool:
        """Every value in ``inputs`` that a formula reads is the cell's value as the file holds it, as the
        formulas' twins read it (a twin reads what its formula reads: the engine tests hold them to it); the
        names ``known`` are so already (:attr:`held_when_read`, for the values read) and are not compared."""
        get = self.cells.get
        for name, place in names_and_places(self.plan.reads):
            if name in known:
                continue  # (see HELD_WHEN_READ: what the comparison below would find)
            data = get(place)
            held = None if data is None else data.value
            used = inputs[name]
            if used is held:
                continue
            kind = type(used)
            if kind is Decimal:
                # a twin reads a float as Decimal(repr(float)) (rules.number, formulas.number_or_zero)
                if type(held) is float:
                    if REPR_FIRST and "e" not in (text := repr(held)) and str(used) == text:
                        continue  # (a float's repr without an exponent is its Decimal's str, finite: the same digits)
                    if not math.isfinite(held) or str(used) != str(Decimal(repr(held))):
                        return False
                elif type(held) is int:
                    # (an int's Decimal has exponent 0, so its str is the int's: REPR_FIRST skips making it)
                    if str(used) != (str(held) if REPR_FIRST else str(Decimal(held))):
                        return False
                elif type(held) is not Decimal or str(used) != str(held):
                    return False
            elif kind is not type(held) or kind not in _PLAIN or used != held:
                return False
        return True

    def at(self, code: str, c: Cell, variant: str = "", /, *, field: str | None = None, value: Any = None,
           **params: Any) -> Finding:
        """A finding on the form sheet at ``c``."""
        return finding(code, variant, sheet=self.sheet, cell=c.a1, field=field, value=value, **params)


def normalise(spec: Spec, sub: Submission, *, prefill: Mapping[str, Any], today: dt.date,
              roster_row: "RosterRow | None" = None, targets: Targets | None = None) -> tuple[Context, list[Finding]]:
    """Read every input the layout declares; the frozen context, and the findings about reading.

    ``targets``: the workbook's own targets (as its metadata records them), which place its rows.
    """
    p = plan(spec, targets)
    cells = sub.cells.get(spec.sheet, {})
    values: dict[str, Any] = dict(p.spec_values)
    readable: set[str] = set(p.spec_values)
    found: list[Finding] = []
    raw = partial(_raw, cells)  # (a family's reader looks other cells up: one look-up function a return)
    plain_first = PLAIN_FIRST
    number_in_line = NUMBER_IN_LINE
    held: set[str] = set()  # see HELD_WHEN_READ
    get = cells.get
    steps = SLOT_STEPS
    for slot in p.inputs:
        step = slot.__dict__.get("_step") if steps else None
        if step is None:
            step = _step(slot)
        name, a1, quiet, by_number = step
        data = get(a1)
        seen = None if data is None else data.value
        if quiet:
            held.discard(name)
            if plain_first and seen is None:  # parse_text of nothing: blank
                values[name] = None
            elif plain_first and type(seen) is str:  # parse_text of a str: blank (None) or stripped
                values[name] = seen.strip() if clean_text(seen) else None
            else:
                values[name] = parse_text(seen).value
            continue
        if number_in_line and by_number and (data is None or (seen_type := type(seen)) is float or seen_type is int):
            if data is None:  # (an empty cell: blank, as each of those readers reads None)
                values[name] = None
                readable.add(name)
                held.discard(name)
                continue
            d = exact_number(data.value)  # (seen)
            if d is not None and data.formula is None and not data.error:  # (see NUMBER_IN_LINE)
                values[name] = d
                readable.add(name)
                if HELD_WHEN_READ:
                    held.add(name)
                else:
                    held.discard(name)
                continue
        reader, kind = slot.reader, slot.kind
        if reader is not None:
            parsed = reader(seen, raw)
            as_number = type(reader) is Measure
        elif kind == "score":
            parsed = parse_number(seen, "score")
            as_number = True
        else:
            parsed = parse_field(seen, kind, slot.choices)
            as_number = kind in _NUMBER_FIELDS
        computed = data is not None and (data.formula is not None or data.error)
        if computed or parsed.error or parsed.note:  # (the usual input, a plain value, needs no words)
            problem = _reading(spec.sheet, slot, data, parsed, seen, p.spec_values)
            if problem is not None:
                found.append(problem)
        if not parsed.error and not computed:
            values[name] = parsed.value
            readable.add(name)
            if as_number and HELD_WHEN_READ and (type(seen) is float or type(seen) is int):
                held.add(name)
            else:
                held.discard(name)
    ctx = Context(spec=spec, sub=sub, plan=p, cells=cells, prefill=prefill, today=today, roster_row=roster_row,
                  values=values, readable=frozenset(readable), held_when_read=frozenset(held))
    return ctx, found


#: What :func:`normalise` asks of every input slot, worked out once per slot and kept on it (a slot is frozen, and the
#: slots of a place, a rule and a unit are shared by the plans that have them: ``rule_scored.SLOTS_BY_PLACE``): its
#: cell's defined name and A1, whether it is :data:`QUIET`, and whether a float or an int in it is read in line
#: (:data:`NUMBER_IN_LINE`: a :class:`~xltemplate.values.Measure` reader, else a score, money, number or percent
#: field), where each return asked the slot, its cell, its reader and its kind for them again (some 70 slots a large
#: national return: normalise 259 against 297 us, CPU at load ~5). False: worked out for every slot of every return
#: (the tests compare).
SLOT_STEPS = True


def _step(slot: InputSlot) -> tuple[str, str, bool, bool]:
    """(name, A1, quiet, read in line when a number): see :data:`SLOT_STEPS`."""
    reader, kind = slot.reader, slot.kind
    step = (slot.cell.name, slot.cell.a1, kind == QUIET,
            type(reader) is Measure if reader is not None else kind == "score" or kind in _NUMBER_FIELDS)
    if SLOT_STEPS:
        slot.__dict__["_step"] = step  # (not a field: the slot's equality, hash and repr are its fields')
    return step


def _raw(cells: Mapping[str, CellData], c: Cell) -> Any:
    data = cells.get(c.a1)
    return None if data is None else data.value


def _reading(sheet: str, slot: InputSlot, data: CellData | None, parsed: Parsed, seen: Any,
             fixed: Mapping[str, Any]) -> Finding | None:
    """What a person is told about reading one input: nothing, a normalised value, or why it cannot be used
    (``fixed``: the plan's spec values, which may name the input: :meth:`InputSlot.label_in`)."""
    where = {"sheet": sheet, "cell": slot.cell.a1, "field": slot.id}
    label = slot.label_in(fixed)
    if data is not None and data.formula is not None:
        return finding("input-formula", **where, value=data.formula, label=label, formula=clip(data.formula))
    if data is not None and data.error:
        return finding("value-invalid", "error-value", **where, value=seen, label=label, seen=seen)
    if not parsed.ok:
        return finding(slot.invalid_code, **where, value=seen, label=label, error=parsed.error)
    if parsed.note:
        return finding("value-normalised", **where, value=seen, label=label, note=parsed.note)
    return None
