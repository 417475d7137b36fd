"""The figures recomputed for one return, typed and the same for every family of forms.

``groups`` are a form's 一级 (the first family's categories: points, weight and score),
``items`` its indicator rows (fixed or the unit's own), each with what both families know
(weight or 分值, score, applicable) and what a rule-scored family adds (rule, target, actual,
unit, met). Every roll-up table is built from these, so a table that does not need a family's
particulars works for any family.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Mapping, NamedTuple

from .jsonvalue import decode, encode
from .text import json_number


#: Unpickle a group or an item as a tuple of its class, in C (``tuple.__new__``), not through the named tuple's
#: ``__new__`` in Python: a fifth less time to load a report (reports come back from workers and from the spill
#: that way). False: the named tuple's own way (the tests compare).
PICKLE_AS_TUPLE = True


#: Pickle :class:`Results` as one call of :func:`_results` with its groups and items as plain tuples, made the named
#: tuples again in one pass when unpickled, where each group and item was a REDUCE of its own (a Python ``__reduce__``
#: call each when pickled: a first-form report has ~30): a worker pickles each report in 0.067 ms where it took 0.10 ms
#: (400 first-form reports, best of 5, load 7; loading them takes the same, ~0.066 ms), 0.35 s of the workers' CPU at
#: 10,000 returns, and its pickle is 7 % smaller. Only this run's own pickles
#: (the pipe from its workers, the spill; a ledger keeps reports as JSON). False: the dataclass's own way, each group and
#: item reduced by :data:`PICKLE_AS_TUPLE`'s (the tests compare).
PICKLE_FLAT = True


def _reduce(self: tuple[Any, ...]) -> tuple[Any, ...]:
    if PICKLE_AS_TUPLE:
        return (tuple.__new__, (type(self), tuple(self)))
    return (type(self), tuple(self))


class Group(NamedTuple):
    """A 一级 group of items: its points (what it is worth), the weights given and the score got.

    (Named tuples, not dataclasses: a report of thousands crosses a process boundary, and tuples
    pickle small and fast.)
    """

    id: str
    name: str
    points: Decimal
    weight: Decimal
    score: Decimal

    def __reduce__(self) -> tuple[Any, ...]:
        return _reduce(self)


class Item(NamedTuple):
    """One indicator row as recomputed: the weight (分值) it carries and the score it got.

    ``applicable``: the item has a weight above 0 (a blank weight means 不适用, and it loses no
    points). ``extra``: a row the unit added. The rest is for families that score by rules.
    """

    id: str
    group: str
    name: str | None
    weight: Decimal | None
    score: Decimal | None
    extra: bool = False
    subgroup: str | None = None
    rule: str | None = None
    target: Any = None
    actual: Any = None
    unit: str | None = None
    met: bool | None = None
    reason: bool | None = None  # a 偏差原因 was given (rule-scored families)

    def __reduce__(self) -> tuple[Any, ...]:
        return _reduce(self)

    @property
    def applicable(self) -> bool:
        return isinstance(self.weight, Decimal) and self.weight > 0

    @property
    def lost(self) -> Decimal | None:
        """Points lost (weight − score, a blank score counting 0); None when the item does not apply."""
        if not self.applicable or self.weight is None:
            return None
        return self.weight - (self.score if isinstance(self.score, Decimal) else Decimal(0))


@dataclass(frozen=True)
class Results:
    """The figures recomputed from the inputs and the spec (never what the file claims)."""

    total: Decimal
    total_weight: Decimal
    grade: str | None
    execution_rate: Decimal | None
    fields: Mapping[str, Any] = field(default_factory=dict)  # header field id → value (computed ones recomputed)
    groups: tuple[Group, ...] = ()
    items: tuple[Item, ...] = ()

    def __reduce_ex__(self, protocol: Any) -> Any:
        if not PICKLE_FLAT or type(self) is not Results:
            return super().__reduce_ex__(protocol)
        return (_results, (self.total, self.total_weight, self.grade, self.execution_rate, self.fields,
                           tuple([tuple(g) for g in self.groups]), tuple([tuple(i) for i in self.items])))

    def group(self, group_id: str) -> Group:
        for g in self.groups:
            if g.id == group_id:
                return g
        raise KeyError(group_id)

    def item(self, item_id: str) -> Item:
        for i in self.items:
            if i.id == item_id:
                return i
        raise KeyError(item_id)

    def as_dict(self) -> dict[str, Any]:
        """What ``--json`` shows (the README's shape: categories by id with weight and score)."""
        return {
            "categories": {g.id: {"weight": json_number(g.weight), "score": json_number(g.score)} for g in self.groups},
            "total_weight": json_number(self.total_weight), "total": json_number(self.total), "grade": self.grade,
            "execution_rate": json_number(self.execution_rate),
        }

    def to_json(self) -> dict[str, Any]:
        """Everything, losslessly (see :mod:`xltemplate.jsonvalue`); :meth:`from_json` gives it back equal."""
        return {
            "total": encode(self.total), "total_weight": encode(self.total_weight), "grade": self.grade,
            "execution_rate": encode(self.execution_rate), "fields": encode(dict(self.fields)),
            "groups": [{k: encode(v) for k, v in g._asdict().items()} for g in self.groups],
            "items": [{k: encode(v) for k, v in i._asdict().items()} for i in self.items],
        }

    @classmethod
    def from_decoded(cls, data: Mapping[str, Any]) -> "Results":
        """:meth:`from_json` of data whose values are decoded already (:func:`xltemplate.jsonvalue.loads`)."""
        return cls(
            total=data["total"], total_weight=data["total_weight"], grade=data["grade"],
            execution_rate=data["execution_rate"], fields=data["fields"],
            groups=tuple(Group(**g) for g in data["groups"]), items=tuple(Item(**i) for i in data["items"]),
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Results":
        return cls(
            total=decode(data["total"]), total_weight=decode(data["total_weight"]), grade=data["grade"],
            execution_rate=decode(data["execution_rate"]), fields=decode(data["fields"]),
            groups=tuple(Group(**{k: decode(v) for k, v in g.items()}) for g in data["groups"]),
            items=tuple(Item(**{k: decode(v) for k, v in i.items()}) for i in data["items"]),
        )


def _results(total: Decimal, total_weight: Decimal, grade: str | None, execution_rate: Decimal | None,
             fields: Mapping[str, Any], groups: tuple[tuple[Any, ...], ...], items: tuple[tuple[Any, ...], ...]) -> Results:
    """:class:`Results` unpickled (see :data:`PICKLE_FLAT`): its groups and items made the named tuples again in C
    (``tuple.__new__``, as :data:`PICKLE_AS_TUPLE`'s)."""
    new = tuple.__new__
    got = object.__new__(Results)  # (its state set as unpickling a dataclass sets it: not through its frozen __init__)
    got.__dict__.update(total=total, total_weight=total_weight, grade=grade, execution_rate=execution_rate,
                        fields=fields, groups=tuple([new(Group, g) for g in groups]), items=tuple([new(Item, i) for i in items]))
    return got
