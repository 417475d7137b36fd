"""The metadata sheet: what a workbook records about itself, written by the generator and read back.

The very hidden sheet ``_xltemplate`` holds one key per row (key in column A, value in B), in the
order of :data:`KEYS`; custom document properties mirror it as ``xltemplate.<key>``. This module is
both sides: :func:`record` makes the values the generator writes, :func:`read` turns a sheet's
cells back into them for both readers (so they cannot read it differently), and every value read
is bounded: a returned file can hold a 10 MB "roster key", and none of it may reach a report.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from decimal import Decimal
from typing import Any, Mapping, NamedTuple

SHEET = "_xltemplate"
KEYS = (
    "format", "template_id", "template_version", "spec_hash", "layout_version",
    "generator", "generated_at", "roster_key", "prefill",
)
FORMAT = "xltemplate-return/1"
#: An optional key after them: the HMAC signature of the identity (:mod:`xltemplate.sign`), present only in
#: workbooks generated with a secret. Older and unsigned workbooks lack it, and that is not ``meta-altered``.
SIGNATURE_KEY = "signature"
#: Optional keys after them, present only in workbooks generated with targets of their own (the national
#: form's per-project indicators): the targets' canonical JSON, and its sha256 (mirrored in a property).
TARGETS_KEY = "targets"
TARGETS_HASH_KEY = "targets_sha256"
#: The document property that mirrors a key.
PROPERTY_PREFIX = "xltemplate."
#: The most characters a metadata value may have when read back; a longer one is cut and reported
#: (``meta-altered``). The prefilled values' JSON may be as long as a cell can hold.
MAX_VALUE_CHARS = 200
MAX_PREFILL_CHARS = 32767
#: Rows of the metadata sheet read (the keys take the first ten).
MAX_ROWS = 100


def bound(key: str) -> int:
    return MAX_PREFILL_CHARS if key in ("prefill", TARGETS_KEY) else MAX_VALUE_CHARS


def targets_json(targets: Any) -> str:
    """The canonical JSON of a workbook's targets: sorted keys, no spaces, UTF-8 text."""
    if SHARE_TARGETS_TEXT and type(targets) is RecordedTargets:
        return targets.canonical
    return _canonical(targets)


def _canonical(targets: Any) -> str:
    return json.dumps([dict(t) for t in targets], ensure_ascii=False, sort_keys=True, separators=(",", ":"))


#: Made once where a workbook's targets are read (:class:`RecordedTargets`): identify hashes their canonical JSON and
#: the validation plan is keyed by it (each made it again, ~20 us a return); False: made anew on every call.
SHARE_TARGETS_TEXT = True


class RecordedTargets(tuple[Mapping[str, Any], ...]):
    """A workbook's targets as read from its metadata, with their canonical JSON (:func:`targets_json`), made once
    when they were read. The targets are fresh from ``json.loads`` and typed as Mappings (read-only to typed code):
    nothing changes them afterwards, so the text stays theirs."""

    canonical: str

    def __new__(cls, targets: Any, canonical: str | None = None) -> "RecordedTargets":
        made = super().__new__(cls, targets)
        # (None: made anew from the items, as where dataclasses.asdict rebuilds a tuple from its copied items)
        made.canonical = canonical if canonical is not None else _canonical(made)
        return made

    def __getnewargs__(self) -> tuple[Any, ...]:
        # pickle and copy rebuild a tuple from these: the items and their text (tuple's own gives the items only)
        return tuple(self), self.canonical


#: The keys of a target's record, sorted (the national family's :meth:`~xltemplate.families.rule_scored.spec.Target.record`,
#: seven texts: what the generator writes of every target).
RECORD_KEYS = ("kind", "level", "name", "points", "sublevel", "target", "unit")
#: A JSON text without an escape, a quote or a control character inside: json.loads reads it as the very characters
#: between its quotes, and json.dumps (ensure_ascii=False) writes those characters back as they are (it escapes only
#: ``"``, ``\`` and the characters below U+0020).
_PLAIN_TEXT = r'"[^"\\\x00-\x1f]*"'
_RECORD = "{" + ",".join(f'"{k}":{_PLAIN_TEXT}' for k in RECORD_KEYS) + "}"
_RECORDS = re.compile(f"\\[{_RECORD}(?:,{_RECORD})*\\]")


def plain_records(text: str) -> list[dict[str, str]] | None:
    """``json.loads(text)`` when ``text`` is :func:`targets_json` of what it reads as, which one pattern over the whole
    text proves: a list of one or more records, each the keys :data:`RECORD_KEYS` once, in sorted order, each value a
    plain text (:data:`_PLAIN_TEXT`), without white space. json.loads reads such a text as dicts of those keys in that
    order and of those very texts, and their canonical JSON (sorted keys, no spaces, every text written as it is) is
    ``text`` itself. None for any other text."""
    if _RECORDS.fullmatch(text) is None:
        return None
    data: list[dict[str, str]] = json.loads(text)
    return data


def targets_hash(targets: Any) -> str:
    """The sha256 of :func:`targets_json`; empty for a workbook without targets."""
    if targets is None:
        return ""
    return text_hash(targets_json(targets))


def text_hash(text: str) -> str:
    """The sha256 of a text's UTF-8 bytes, in hex (of targets: their :func:`targets_json`)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def text(value: Any) -> str:
    """A metadata or document-property value as text, the same way for every reader."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


def _jsonable(v: Any) -> Any:
    if isinstance(v, Decimal):
        return format(v, "f")
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    return v


def record(*, template_id: str, template_version: str, spec_hash: str, layout_version: int, generator: str,
           generated_at: dt.datetime, roster_key: str | None, prefill: Mapping[str, Any],
           targets: Any = None) -> dict[str, str]:
    """The values the generator writes, by key, in :data:`KEYS` order, then the targets when there are any
    (the signature is added by the caller)."""
    extra = {} if targets is None else {TARGETS_KEY: targets_json(targets), TARGETS_HASH_KEY: targets_hash(targets)}
    return {
        "format": FORMAT, "template_id": template_id, "template_version": template_version,
        "spec_hash": spec_hash, "layout_version": str(layout_version),
        "generator": generator, "generated_at": generated_at.isoformat(),
        "roster_key": roster_key or "",
        "prefill": json.dumps({k: _jsonable(v) for k, v in sorted(prefill.items())}, ensure_ascii=False, sort_keys=True),
        **extra,
    }


class Read(NamedTuple):
    """The metadata as read: key → value (each within its bound), and the keys whose values were longer."""

    values: dict[str, str]
    too_long: dict[str, int]  # key → its length as found


_PLACES = tuple((f"A{row}", f"B{row}") for row in range(1, MAX_ROWS + 1))  # (key, value) of each row read


def read(cells: Mapping[str, Any]) -> Read:
    """The metadata from the sheet's cells (A1 → an object with ``.value``), keys in column A, values in B."""
    values: dict[str, str] = {}
    too_long: dict[str, int] = {}
    for a, b in _PLACES:
        key = cells.get(a)
        if key is None or not isinstance(key.value, str) or not key.value:
            continue
        name = key.value[:MAX_VALUE_CHARS]
        if len(key.value) > MAX_VALUE_CHARS:
            too_long[name] = len(key.value)
        cell = cells.get(b)
        value = text(cell.value if cell is not None else None)
        limit = bound(name)
        if len(value) > limit:
            too_long[name] = len(value)
            value = value[:limit]
        values[name] = value
    return Read(values, too_long)
