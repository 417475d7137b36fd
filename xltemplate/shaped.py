"""Lists derived from the parts of a validation plan that plans of one shape share, made once per part.

A national return's plan is its own (its targets are), but most of its parts (the cells, names and formulas of
its shape, :data:`xltemplate.normalise._SHAPES`) are the same objects as another project's plan of that shape. What
a check derives from such a part (its cells' names and places side by side, a dict by name) is remembered here by
the part's identity: the entry holds the part itself, so while it is remembered no other object can take its id,
and an entry is used only for that very object (``is``). Nothing of a file is in a key.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

T = TypeVar("T")
_BY_PART: dict[tuple[int, str], tuple[object, Any]] = {}
_MAX = 1024  # up to four lists a shape, for the 128 shapes normalise keeps, twice over: some 0.5 KB each (measured)


def derived(part: object, what: str, make: Callable[[], T]) -> T:
    """``make()``, what ``what`` names of ``part``, made once while ``part`` is remembered (an immutable part)."""
    key = (id(part), what)
    found = _BY_PART.get(key)
    if found is not None and found[0] is part:
        value: T = found[1]
        return value
    value = make()
    if len(_BY_PART) >= _MAX:
        _BY_PART.pop(next(iter(_BY_PART)))
    _BY_PART[key] = (part, value)
    return value
