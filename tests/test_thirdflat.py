"""Issue 15, a round's third run flat in N (thirdflat): what the roll-up's writing holds per unit.

``rounds.run.ASKED_BITS`` (the reports asked for once, as bits) and ``rollup.reuse.DECIMAL_TEXTS_SHARED`` (a kept
state's Decimals' texts made once per object) and ``rounds.view.SINCE_STORED`` are in test_roundmem's SWITCHES (every
scenario off vs on); here what those comparisons would not reach: a bit shared by reports never asked for (nearly every
bit, so that reports are spilled that need not be) changes nothing, and the texts of Decimals of equal value but other
text stay their own."""

from __future__ import annotations

import hashlib
import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import xltemplate.rounds.run as run_mod
from xltemplate.rollup import reuse

from . import test_roundmem


def test_asked_bits_never_miss_a_sha_added() -> None:
    rng = random.Random(7)
    asked = run_mod._AskedBits()
    added = [hashlib.sha256(rng.randbytes(16)).hexdigest() for _ in range(5000)]
    for sha in added:
        asked.add(sha)
    assert all(sha in asked for sha in added)
    others = [hashlib.sha256(rng.randbytes(16)).hexdigest() for _ in range(5000)]
    assert sum(sha in asked for sha in others) < 50  # (5,000 of 4M bits: ~0.1 % shared)


def test_reports_taken_for_asked_before_change_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With 8 bits, nearly every report asked for a first time is taken for one asked before and spilled: every run
    of test_roundmem's round the same as with the set (and the bits did say yes for reports never asked)."""
    monkeypatch.setattr(run_mod, "_ASKED_BYTES", 1)
    wrong = [0]
    real_add, real_in = run_mod._AskedBits.add, run_mod._AskedBits.__contains__

    def add(self: Any, sha: str) -> None:
        self.__dict__.setdefault("added", set()).add(sha)  # (what this run's bits were given)
        real_add(self, sha)

    def contains(self: Any, sha: str) -> bool:
        got = real_in(self, sha)
        added = self.__dict__.get("added", set())
        assert got or sha not in added  # (never a miss)
        wrong[0] += got and sha not in added
        return got

    monkeypatch.setattr(run_mod._AskedBits, "add", add)
    monkeypatch.setattr(run_mod._AskedBits, "__contains__", contains)
    test_roundmem.test_a_rounds_runs_are_the_same_held_or_made_when_read(tmp_path, monkeypatch)
    assert wrong[0] > 0


def test_decimal_texts_shared_are_each_decimals_own(monkeypatch: pytest.MonkeyPatch) -> None:
    same = Decimal("87.50")
    values = [same, Decimal("87.5"), same, Decimal("1.0"), Decimal("1.00"), Decimal("-0"), same, Decimal("1E+2")]
    state = {"units": {"totals": values}}
    got = {}
    for on in (False, True):
        monkeypatch.setattr(reuse, "DECIMAL_TEXTS_SHARED", on)
        got[on] = json.dumps(reuse._encode(state), ensure_ascii=False)
    assert got[True] == got[False]
    assert reuse._decode(json.loads(got[True]))["units"]["totals"] == values
    assert [str(x) for x in reuse._decode(json.loads(got[True]))["units"]["totals"]] == [str(x) for x in values]
