"""The tenth pass's shortcuts of a national return's checks (issue 15, helper natcheck), each against what it stands
for; the whole reports are compared both ways by ``tests/test_fast_paths.py`` (``VALIDATION_SWITCHES``) over the
national, LibreOffice-saved, hostile and fuzz corpora.

- ``identify.TARGETS_BY_PATTERN``: recorded targets proved canonical by one pattern (``meta.plain_records``), the
  text itself hashed and kept, where json.dumps made the canonical text again;
- ``rule_scored.spec.targets_of`` reads a return's plain records together (the targets' memo is gone: it did not pay);
- ``normalise.SLOT_STEPS``: what normalise asks of an input slot worked out once and kept on the slot;
- ``normalise.REFERENCED_BY_COPY``: the referenced values as a copy of the names' dict updated with the values used.
"""

from __future__ import annotations

import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import pytest

from xltemplate import identify as I
from xltemplate import meta
from xltemplate.families.rule_scored.spec import Target

from .conftest import SAMPLES

NATIONAL = SAMPLES / "national"


def _sample_texts() -> list[str]:
    """The sample returns' recorded targets, as their metadata holds them."""
    from xltemplate.readers import read_submission

    out = []
    for p in sorted((NATIONAL / "returns").glob("*.xlsx")):
        if p.name.startswith("~$"):
            continue
        text = (read_submission(p).meta or {}).get(meta.TARGETS_KEY)
        if text:
            out.append(text)
    assert out
    return out


def test_record_keys_are_a_targets_record_sorted() -> None:
    t = Target("output", "quantity", "名", "≥", "个", Decimal(1), Decimal(2))
    assert meta.RECORD_KEYS == tuple(sorted(t.record()))


def _variants(text: str, rng: random.Random) -> Iterator[str]:
    """``text`` and texts a character or a few apart: white space, escapes, keys moved, added or gone, other types,
    control characters, what json reads alike and what it refuses."""
    data = json.loads(text)
    yield text
    yield meta.targets_json(data)
    yield json.dumps(data, ensure_ascii=False)  # (spaces)
    yield json.dumps(data)  # (\\u escapes)
    yield json.dumps(data, ensure_ascii=False, separators=(",", ":"))  # (keys as recorded: sorted already)
    yield json.dumps([dict(reversed(list(d.items()))) for d in data], ensure_ascii=False, separators=(",", ":"))
    yield text.replace('"name":"', '"name":"\\u0041', 1)
    yield text.replace('"name":"', '"name":"\\"', 1)
    yield text.replace('"name":"', '"name":"\\/', 1)
    yield text.replace('"name":"', '"name":"\\\\', 1)
    yield text.replace('"name":"', '"name":"\t', 1)
    yield text.replace('"name":"', '"name":"\x7f\u2028', 1)
    yield text.replace('"name":"', '"name":"\x1f', 1)
    yield text.replace('"name":"', '"name":"\ud800', 1)
    yield text.replace('"points":"', '"points":', 1).replace('","sublevel"', ',"sublevel"', 1)  # (a number)
    yield text.replace('"unit":"', '"unit":null,"x":"', 1)
    yield text.replace(',"unit":""', "", 1)
    yield text.replace('"kind":', '"kind":"≥","kind":', 1)  # (a key twice: json keeps the last)
    yield text.replace('"kind":', '"Kind":', 1)
    yield text[:-1] + ",[]]"
    yield text[:-1] + ",{}]"
    yield "[" + text + "]"
    yield text + " "
    yield " " + text
    yield text.replace("},{", "}, {", 1)
    yield text[:-1]
    yield "[]"
    yield "{}"
    yield '"' + text + '"'
    cut = rng.randrange(1, len(text))
    yield text[:cut] + text[cut + 1:]
    yield text[:cut] + rng.choice('"\\{}[],: x中') + text[cut:]


def _outcome(values: dict[str, str]) -> object:
    try:
        targets, problem = I._targets(values)
    except UnicodeEncodeError as exc:  # (a lone surrogate cannot be hashed: no reader gives one, both ways alike)
        return type(exc), str(exc)
    if targets is None:
        return None, None if problem is None else problem
    assert type(targets) is meta.RecordedTargets
    return [list(d.items()) for d in targets], targets.canonical, [type(d) for d in targets]


def test_targets_by_pattern_read_as_json_reads_them() -> None:
    """Every variant of every sample's recorded targets, with its true hash and with the recorded one: the same
    records (keys in the same order), the same canonical text, or the same finding, with TARGETS_BY_PATTERN on and off;
    where the pattern takes a text, it is the canonical JSON of what json reads it as."""
    rng = random.Random(15)
    taken = refused = 0
    for text in _sample_texts():
        recorded = meta.text_hash(text)
        for variant in _variants(text, rng):
            plain = meta.plain_records(variant)
            if plain is not None:
                taken += 1
                assert plain == json.loads(variant) and meta.targets_json(plain) == variant
            else:
                refused += 1
            for hashed in (recorded, meta.text_hash(variant.encode("utf-8", "replace").decode()), ""):
                values = {meta.TARGETS_KEY: variant, meta.TARGETS_HASH_KEY: hashed}
                got = []
                for on in (True, False):
                    I.TARGETS_BY_PATTERN = on
                    try:
                        got.append(_outcome(values))
                    finally:
                        I.TARGETS_BY_PATTERN = True
                assert got[0] == got[1], (variant, hashed, got)
    assert taken and refused > 3 * taken, (taken, refused)


def test_targets_by_pattern_is_what_identify_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sample returns' targets are taken by the pattern (json.dumps is not asked), and are those json gives."""
    from xltemplate.identify import RunContext, identify
    from xltemplate.readers import read_submission

    asked: list[object] = []
    real = meta._canonical
    monkeypatch.setattr(meta, "_canonical", lambda t: asked.append(t) or real(t))
    run = RunContext.builtin()
    paths: list[Path] = [p for p in sorted((NATIONAL / "returns").glob("*.xlsx")) if not p.name.startswith("~$")]
    for p in paths:
        sub = read_submission(p)
        ident, _ = identify(sub, run)
        assert ident.targets is not None
        assert [dict(t) for t in ident.targets] == json.loads((sub.meta or {})[meta.TARGETS_KEY])
    assert not asked


def test_plain_records_refuse_what_is_not_canonical() -> None:
    one = {"kind": "≥", "level": "output", "name": "名", "points": "5", "sublevel": "quantity", "target": "1", "unit": "个"}
    text = meta.targets_json([one, one])
    assert meta.plain_records(text) == [one, one]
    for bad in ("[]", text.replace(":", ": ", 1), text.replace('"名"', '"\\u540d"'), text.replace('"个"', '"a\\nb"'),
                text.replace('"5"', "5"), text.replace('"个"', '"\n"')):
        got: Any = meta.plain_records(bad)
        assert got is None, bad


def _contexts() -> list[Any]:
    import datetime as dt

    from xltemplate import normalise as N
    from xltemplate.identify import RunContext, identify
    from xltemplate.readers import read_submission

    run = RunContext.builtin()
    out = []
    for folder in (NATIONAL / "returns", SAMPLES / "returns"):
        for p in sorted(folder.glob("*.xlsx")):
            if p.name.startswith("~$"):
                continue
            sub = read_submission(p)
            ident, _ = identify(sub, run)
            if ident.spec is None or ident.spec.sheet not in sub.cells:
                continue
            out.append((ident, sub, N.normalise(ident.spec, sub, prefill=ident.prefill, today=dt.date(2026, 6, 30),
                                                targets=ident.targets)))
    assert len({type(c.layout) for _, _, (c, _) in out}) == 2  # (both families)
    return out


def test_slot_steps_are_the_slots_own() -> None:
    """Every input slot of the samples' plans (both families): the step kept on it is what its fields give, and
    normalise reads the same values, findings and held names with the steps kept and worked out anew."""
    from xltemplate import normalise as N

    found = _contexts()
    seen = 0
    for ident, sub, (ctx, read) in found:
        for slot in ctx.plan.inputs:
            step = slot.__dict__.get("_step")
            assert step == (slot.cell.name, slot.cell.a1, slot.kind == N.QUIET,
                            type(slot.reader) is N.Measure if slot.reader is not None
                            else slot.kind == "score" or slot.kind in N._NUMBER_FIELDS)
            seen += step[3]
        N.SLOT_STEPS = False
        try:
            again, read_again = N.normalise(ident.spec, sub, prefill=ident.prefill, today=ctx.today, targets=ident.targets)
        finally:
            N.SLOT_STEPS = True
        assert (again.values, again.readable, again.held_when_read, read_again) == (ctx.values, ctx.readable,
                                                                                      ctx.held_when_read, read)
        assert list(again.values) == list(ctx.values)
    assert seen


def test_referenced_values_by_copy_are_those_asked_one_by_one() -> None:
    """The referenced values (both families' samples), made by copy and name by name: the same keys in the same
    order and the same values; with a value used under a name no cell of the plan references, name by name."""
    import dataclasses

    from xltemplate import normalise as N

    for _, _, (ctx, _) in _contexts():
        got = []
        for on in (True, False):
            N.REFERENCED_BY_COPY = on
            try:
                fresh = dataclasses.replace(ctx)
                got.append(list(fresh.referenced_values.items()))
            finally:
                N.REFERENCED_BY_COPY = True
        assert got[0] == got[1] and got[0]
        odd = dataclasses.replace(ctx, values={**ctx.values, "not_a_cell": 1})
        assert "not_a_cell" not in odd.referenced_values
        assert list(odd.referenced_values.items()) == got[1]

