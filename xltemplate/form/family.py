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

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Protocol

if TYPE_CHECKING:
    from ..errors import Problem
    from ..findings import Finding
    from ..normalise import Context
    from ..results import Group, Item
    from ..spec import Spec, SpecChecker
    from .formulas import AlertRule
    from .layout import Cell, FormLayout
    from .sheet import SheetWriter

#: A check: one independent function over the frozen validation context, yielding findings.
Check = Callable[["Context"], Iterator["Finding"]]


@dataclass(frozen=True)
class GroupDef:
    """A group of items as the spec declares it (a 一级指标 and its points): a roll-up column."""

    id: str
    name: str
    points: Decimal


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
    def layout(self, spec: "Spec") -> "FormLayout":
        """The layout (cached per spec by the caller when it matters)."""
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

    # -- the roll-up ------------------------------------------------------------------------------
    def groups(self, spec: "Spec") -> list[GroupDef]:
        """The groups the spec declares, in order (roll-up columns)."""
        ...

    def items(self, spec: "Spec") -> list[ItemDef]:
        """The fixed items the spec declares, in order (roll-up columns)."""
        ...


# -- the registry ------------------------------------------------------------------------------
# Families register themselves when :mod:`xltemplate.families` is imported (which every way of
# loading a spec does: :mod:`xltemplate.catalog`); generic code finds a spec's family here, so it
# never imports a family, and a test can register one of its own.

_FAMILIES: dict[str, FormFamily] = {}


def register(family: FormFamily) -> FormFamily:
    """Make ``family`` known by its id (a second family of the same id replaces the first)."""
    _FAMILIES[family.id] = family
    return family


def family_of(spec: "Spec") -> FormFamily:
    """The family a spec belongs to."""
    try:
        return _FAMILIES[spec.family]
    except KeyError:
        raise KeyError(f"no form family {spec.family!r} is registered (import xltemplate.families)") from None


def family_named(name: str) -> FormFamily | None:
    return _FAMILIES.get(name)


def family_ids() -> list[str]:
    return sorted(_FAMILIES)
