"""Values as JSON and back, exactly: a Decimal keeps its digits, a date stays a date.

A report is stored as JSON (the collection ledger caches them) and must come back equal to what
was written: JSON has no Decimal, date or tuple, so those are tagged (``{"$decimal": "35.0"}``).
Plain strings, numbers, booleans and None pass as they are.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any


def encode(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, Decimal):
        return {"$decimal": str(v)}
    if isinstance(v, dt.datetime):
        return {"$datetime": v.isoformat()}
    if isinstance(v, dt.date):
        return {"$date": v.isoformat()}
    if isinstance(v, tuple):
        return {"$tuple": [encode(x) for x in v]}
    if isinstance(v, list):
        return [encode(x) for x in v]
    if isinstance(v, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in v):
            return {k: encode(x) for k, x in v.items()}
        return {"$map": [[encode(k), encode(x)] for k, x in v.items()]}  # keys JSON cannot hold as they are
    raise TypeError(f"cannot store a {type(v).__name__} in a report: {v!r}")


def decode(v: Any) -> Any:
    """What :func:`encode` made, back: each object's members first, then the object (as :func:`loads` does)."""
    if isinstance(v, list):
        return [decode(x) for x in v]
    if isinstance(v, dict):
        return _tagged({k: decode(x) for k, x in v.items()})
    return v


def _tagged(d: dict[str, Any]) -> Any:
    """One JSON object whose members are decoded already: a tagged value, or the object itself (also
    ``json``'s object hook in :func:`loads`)."""
    if len(d) == 1:
        (tag, body), = d.items()
        if tag == "$decimal":
            return Decimal(body)
        if tag == "$datetime":
            return dt.datetime.fromisoformat(body)
        if tag == "$date":
            return dt.date.fromisoformat(body)
        if tag == "$tuple":
            return tuple(body)
        if tag == "$map":
            return {k: x for k, x in body}
    return d


def loads(text: str | bytes) -> Any:
    """``decode(json.loads(text))`` in one pass: each object is decoded as the parser makes it (bottom-up, so
    the same values), instead of walking the whole tree again afterwards."""
    import json

    return json.loads(text, object_hook=_tagged)
