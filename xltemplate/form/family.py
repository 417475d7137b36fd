"""The seam between what every form shares and what one family of forms does its own way.

A *family* is a shape of form: the first (``self-scored``) is a table of categories whose
indicators a unit scores against their weights; the national 项目支出绩效自评表 (a later
issue) scores its indicators by rules. Everything generic (loading a spec, the header block,
the workbook writer, the metadata, validation's normalising and generic checks, the report,
the roll-up) reaches a family only through this protocol, found by :func:`xltemplate.families.family_of`;
no generic code branches on which family it is. A family supplies:

- its spec keys, checked with the shared :class:`~xltemplate.spec.SpecChecker`, and the
  :class:`~xltemplate.spec.Spec` subclass that carries them;
- its layout (a :class:`~xltemplate.form.layout.FormLayout` subclass: the body's cells);
- its formulas and their Python twins, and its conditional formats;
- the writer of its body;
- its checks (independent functions over the frozen validation context);
- its results: the groups (一级) and items (indicator rows) every roll-up table is built from.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Hashable, Iterable, Iterator, Mapping, Protocol

if TYPE_CHECKING:
    from ..errors import Problem
    from ..findings import Finding
    from ..normalise import Context
    from ..results import Group, Item
    from ..spec import Spec, SpecChecker
    from ..values import Parsed
    from .formulas import AlertRule
    from .layout import Cell, FormLayout, Targets
    from .sheet import SheetWriter

#: A check: one independent function over the frozen validation context, yielding findings.
Check = Callable[["Context"], Iterator["Finding"]]


@dataclass(frozen=True)
class GroupDef:
    """A group of items as the spec declares it (a 一级指标 and its points): a roll-up column."""

    id: str
    name: str
    points: Decimal
    subgroups: tuple[tuple[str, str], ...] = ()  # (id, name) of its 二级, for a family that has them


@dataclass(frozen=True)
class ItemDef:
    """An item the spec declares (a fixed indicator row): a roll-up column. Units' own rows are not declared."""

    id: str
    group: str
    name: str


@dataclass(frozen=True)
class InputSlot:
    """An input cell as validation normalises it: its cell, how to read it, and what to call it in a message.

    ``kind`` is a field type (``text``, ``money`` …, see :data:`xltemplate.spec.FIELD_TYPES`) or
    ``score``; ``id`` is the field or item id a finding names.
    """

    cell: "Cell"
    kind: str
    label: str
    id: str
    choices: tuple[str, ...] = ()
    #: The family's own way to read the cell, when the field types do not say it: given what the
    #: cell holds and a look-up of what other cells hold (a row's 计量单位, its 指标性质).
    reader: "Callable[[Any, Callable[[Cell], Any]], Parsed] | None" = None
    #: The finding code of a value that cannot be read (``value-invalid`` unless the family says otherwise).
    invalid_code: str = "value-invalid"
    #: A cell whose value the spec or the workbook's own targets fix (the plan's ``spec_values``: a target's 三级指标),
    #: which a message names before ``label`` (then the rest of the label: "的实际完成值"). It lets a family share one
    #: slot among the rows of one place whatever their names (see ``rule_scored.SLOTS_BY_PLACE``); the label a
    #: person reads is the same. None: ``label`` is the whole label.
    named_by: "Cell | None" = None

    def label_in(self, fixed: "Mapping[str, Any]") -> str:
        """The label a message gives this input, given the plan's fixed values (``spec_values``) by defined name."""
        return self.label if self.named_by is None else f"{fixed[self.named_by.name]}{self.label}"


@dataclass(frozen=True)
class RollupSheets:
    """Which views of the results the roll-up gives a family (every roll-up has 汇总, 统计, 问题清单,
    未提交, 文字材料 and 文件清单)."""

    #: 指标得分: a pair of columns (score, points lost) per item the spec declares (the first form).
    item_columns: bool = True
    #: 指标结果: one row per unit and item, with its rule, target, actual value, met or not (items of the
    #: unit's own, as the national form's per-project indicators are), and 统计 by 一级 and 二级 of them.
    item_results: bool = False
    #: 差距分析: the units that lost the most points, and where.
    gaps: bool = False


class FormFamily(Protocol):
    """What a family of forms provides; see the module docstring."""

    @property
    def id(self) -> str:
        """The family's name, as a spec's ``family:`` key gives it."""
        ...

    @property
    def keys(self) -> Mapping[str, bool]:
        """Top-level spec keys this family adds (name → required), checked between ``fields`` and ``grades``."""
        ...

    @property
    def formula_versions(self) -> tuple[int, ...]:
        """Layout versions whose formulas validation still accepts in files that name them."""
        ...

    @property
    def checks(self) -> tuple[Check, ...]:
        """The family's checks, run after the generic ones of the sheet and before those of the figures."""
        ...

    @property
    def takes_targets(self) -> bool:
        """Whether a workbook may carry rows of its own (per-project targets), which place its cells."""
        ...

    @property
    def rollup_sheets(self) -> RollupSheets:
        """The roll-up's views of this family's results."""
        ...

    # -- the spec ---------------------------------------------------------------------
    def parse(self, data: Mapping[str, Any], checker: "SpecChecker", total: Decimal | None) -> tuple[dict[str, Any], list[str]]:
        """The family's part of a spec (keyword arguments of its Spec class) and the ids it declares."""
        ...

    def make_spec(self, **values: Any) -> "Spec":
        """The family's :class:`~xltemplate.spec.Spec` subclass from the generic and the family values."""
        ...

    def prompt_problems(self, spec: "Spec") -> list["Problem"]:
        """Validation prompts of the body longer than Excel allows, by key path."""
        ...

    # -- the sheet -------------------------------------------------------------------------
    def layout(self, spec: "Spec", targets: "Targets | None" = None) -> "FormLayout":
        """The layout of a workbook of ``spec`` with its own ``targets`` (cached by the caller when it matters).

        Raises ValueError for targets this spec cannot hold (an edited record)."""
        ...

    def shape(self, layout: "FormLayout") -> Hashable:
        """What, beyond the spec, fixes the layout's cells, names, fixed texts and formulas (never the values
        its targets give), as full values; None when the spec alone fixes them. Validation shares what depends
        only on these between workbooks of one shape (one national project's targets and another's).

        A family may also define ``cell_shape(layout)``: what, beyond the spec, fixes where the layout's cells are
        (its computed and named cells, its fixed texts, the formulas that are no row's; never a row's rule nor the
        values its targets give), as full values, coarser than this shape or equal to it. Validation then shares
        those parts between the shapes of one cell shape (:data:`xltemplate.normalise.CELLS_BY_SHAPE`); a family
        without it shares them by this shape."""
        ...

    def spec_values(self, layout: "FormLayout") -> dict[str, Any]:
        """The body cells whose value comes from the spec (fixed names, fixed weights), by defined name."""
        ...

    def formulas(self, layout: "FormLayout", version: int) -> dict[str, str]:
        """Defined name → formula for every computed cell of the body, as layout ``version`` writes them."""
        ...

    def evaluate(self, layout: "FormLayout", values: Mapping[str, Any]) -> dict[str, Any]:
        """The Python twin: what every computed cell of the body shows, given the cells' values by defined name."""
        ...

    def alert_rules(self, layout: "FormLayout", version: int) -> list["AlertRule"]:
        """The body's conditional formats that turn cells red."""
        ...

    def write_body(self, out: "SheetWriter", layout: "FormLayout") -> None:
        """Write the body (its cells, formulas, data validations and row heights)."""
        ...

    # -- validation ----------------------------------------------------------------------------
    def inputs(self, layout: "FormLayout") -> Iterable[InputSlot]:
        """The body's input cells, in order, as validation normalises them."""
        ...

    def results(self, layout: "FormLayout", values: Mapping[str, Any], computed: Mapping[str, Any]) -> tuple[tuple["Group", ...], tuple["Item", ...], Decimal]:
        """Groups, items and the total weight, from the normalised values and what the formulas compute."""
        ...

    def read_targets(self, spec: "Spec", header: list[str], records: list[tuple[int, list[Any]]]) -> tuple[dict[str, "Targets"], list["Problem"]]:
        """A targets table's rows (line number, cells) checked against the spec: each key's targets,
        and every problem by row and column, in Chinese (see :mod:`xltemplate.targets`)."""
        ...

    def describe_lines(self, info: Mapping[str, Any]) -> list[str]:
        """``describe``'s text lines for the body, from its JSON (:meth:`FormLayout.describe`)."""
        ...

    # -- the roll-up ------------------------------------------------------------------------------
    def groups(self, spec: "Spec") -> list[GroupDef]:
        """The groups the spec declares, in order (roll-up columns)."""
        ...

    def items(self, spec: "Spec") -> list[ItemDef]:
        """The fixed items the spec declares, in order (roll-up columns)."""
        ...


# -- the registry ------------------------------------------------------------------------------
# Families register themselves when their package is imported; :mod:`xltemplate.families` (which every way of
# loading a spec imports: :mod:`xltemplate.catalog`) names the built-in ones here with how to import each
# (:func:`known`), and the first look-up of one imports it. Generic code finds a spec's family here, so it never
# imports a family, and a test can register one of its own.

_FAMILIES: dict[str, FormFamily] = {}
#: Families named but not imported yet: id → what imports (and so registers) it (see :data:`LAZY_FAMILIES`).
_KNOWN: dict[str, Callable[[], object]] = {}
_LOADING = threading.RLock()


def register(family: FormFamily) -> FormFamily:
    """Make ``family`` known by its id (a second family of the same id replaces the first)."""
    _FAMILIES[family.id] = family
    return family


def known(family_id: str, load: Callable[[], object]) -> None:
    """Name a family that ``load()`` registers (by importing its package) when it is first looked up."""
    _KNOWN[family_id] = load


def _loaded(family_id: str) -> None:
    # (one look-up at a time imports: another thread asking meanwhile waits for it, not told there is no such family;
    # the loader is let go only once it has run: an import stopped halfway is tried again at the next look-up)
    with _LOADING:
        load = _KNOWN.get(family_id)
        if load is not None:
            load()
            _KNOWN.pop(family_id, None)


def family_of(spec: "Spec") -> FormFamily:
    """The family a spec belongs to."""
    try:
        return _FAMILIES[spec.family]
    except KeyError:
        _loaded(spec.family)
    try:
        return _FAMILIES[spec.family]
    except KeyError:
        raise KeyError(f"no form family {spec.family!r} is registered (import xltemplate.families)") from None


def family_named(name: str) -> FormFamily | None:
    if name not in _FAMILIES:
        _loaded(name)
    return _FAMILIES.get(name)


def family_ids() -> list[str]:
    return sorted(set(_FAMILIES) | set(_KNOWN))
