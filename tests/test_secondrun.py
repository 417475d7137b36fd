"""A round's second run's shortcuts (issue 15): what they take instead of the work they save must say all the work
would have said.

- the roster snapshot's hash kept in the ledger (rounds.preflight.SNAPSHOT_HASH_KEPT) is taken only for the same
  packed rows under the same template and code: a roster changed in any value, or its columns in another order, is
  hashed anew (and a change is still refused);
- the kept sheets' keys made from records (rollup.reuse.ROWS_KEY_PACKED, DIGESTS_OF_FACTS) differ whenever the rows
  they are made from differ, columns reordered included;
- the intake's texts (rounds.run.PATHS_AS_TEXT) are those of the discovered Paths.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from xltemplate.errors import RosterChangedError
from xltemplate.inputs import PathList, discover
from xltemplate.ledger import Ledger, RunInfo
from xltemplate.roster import PackedRows, read_roster
from xltemplate.rollup import reuse
from xltemplate.rounds import collect_round, preflight, roster_snapshot
from xltemplate.rounds import run as run_mod
from xltemplate.spec import Spec
from xltemplate.catalog import as_spec
from xltemplate.validate import VALIDATOR_VERSION

from .conftest import FIRST_RETURNS, SAMPLES

FORM = "sh-project-self-eval"


def _roster(path: Path, budget: dict[str, str] | None = None, swap: str = "") -> Path:
    """The samples' roster, a unit's budget changed, or its two name columns swapped: ``both`` (heading and values:
    the same units, their columns in another order), ``heading`` (each record's values as they were, under the other
    column: every unit's names swapped)."""
    with open(SAMPLES / "roster.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        for n, r in enumerate(rows):
            line = [r[0], r[1], r[2], (budget or {}).get(r[0], r[3]) if n else r[3]]
            if swap == "both" or (swap == "heading" and not n):
                line[1], line[2] = line[2], line[1]
            w.writerow(line)
    return path


def _hash(led: Ledger, roster_csv: Path, spec: Spec) -> tuple[str, str]:
    """The snapshot's hash as recalled (or kept) through the ledger, and as made from the rows."""
    roster = read_roster(roster_csv, spec)
    snap = roster_snapshot(roster, spec)
    preflight.recall_hash(led, roster, spec, snap)
    return snap.hash, roster_snapshot(read_roster(roster_csv, spec), spec).hash


def test_a_kept_snapshot_hash_is_taken_only_for_the_same_rows(tmp_path: Path) -> None:
    spec = as_spec(FORM)
    assert preflight.SNAPSHOT_HASH_KEPT
    same = _roster(tmp_path / "same.csv")
    other = _roster(tmp_path / "other.csv", budget={"SH002": "3,260,000.01"})
    swapped = _roster(tmp_path / "swapped.csv", swap="both")
    renamed = _roster(tmp_path / "renamed.csv", swap="heading")
    with Ledger.open(tmp_path / "r.xlt.db", create=True) as led:
        assert led.memo("roster hash") is None
        first = _hash(led, same, spec)
        assert first[0] == first[1]
        kept = led.memo("roster hash")
        assert kept is not None and kept.endswith(" " + first[1])
        again = _hash(led, same, spec)  # taken from the memo: the same hash
        assert again == first and led.memo("roster hash") == kept
        changed = _hash(led, other, spec)  # another value: hashed anew, and kept in its place
        assert changed[0] == changed[1] != first[1]
        assert led.memo("roster hash") != kept
        moved = _hash(led, swapped, spec)  # the same units, columns in another order: hashed anew, the same hash
        assert moved[0] == moved[1] == first[1]
        assert led.memo("roster hash") not in (kept, None)
        names = _hash(led, renamed, spec)  # each record's values as they were, under the other columns
        assert names[0] == names[1] not in (first[1], changed[1])
        back = _hash(led, same, spec)
        assert back == first
        # a memo that is not this roster's (another digest) is not taken, even with a hash that looks right
        led.remember("roster hash", "0" * 64 + " " + "f" * 64)
        assert _hash(led, same, spec) == first


def test_a_changed_roster_is_still_refused_with_the_hash_kept(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for p in FIRST_RETURNS[:3]:
        (inbox / p.name).write_bytes(p.read_bytes())
    db = tmp_path / "round.xlt.db"
    same = _roster(tmp_path / "same.csv")
    for n in range(2):  # the second run takes the kept hash: nothing changed, nothing said
        done = collect_round([inbox], FORM, ledger=db, roster=read_roster(same, FORM), output=tmp_path / f"{n}.xlsx")
        done.collection.close()
        assert not [x for x in done.notices if "名单" in x]
    other = _roster(tmp_path / "other.csv", budget={"SH002": "3,260,000.01"})
    with pytest.raises(RosterChangedError):
        collect_round([inbox], FORM, ledger=db, roster=read_roster(other, FORM), output=tmp_path / "x.xlsx")


def test_packed_records_tell_rows_and_columns_apart(tmp_path: Path) -> None:
    spec = as_spec(FORM)
    plain = read_roster(_roster(tmp_path / "a.csv"), spec).rows
    again = read_roster(_roster(tmp_path / "b.csv"), spec).rows
    changed = read_roster(_roster(tmp_path / "c.csv", budget={"SH001": "1.00"}), spec).rows
    renamed = read_roster(_roster(tmp_path / "d.csv", swap="heading"), spec).rows
    assert isinstance(plain, PackedRows) and isinstance(renamed, PackedRows) and isinstance(changed, PackedRows)
    assert isinstance(again, PackedRows)
    assert plain.digest() == again.digest()
    assert len({plain.digest(), changed.digest(), renamed.digest()}) == 3
    assert [plain.record(n) for n in range(len(plain))] == [again.record(n) for n in range(len(again))]
    # the records alone do not tell these apart (each holds its values in its columns' order): the columns do
    assert [plain.record(n) for n in range(len(plain))] == [renamed.record(n) for n in range(len(renamed))]
    assert plain.columns != renamed.columns
    assert plain.record(0) != changed.record(0) and plain.record(1) == changed.record(1)


@dataclasses.dataclass(frozen=True)
class _Fact:
    a: int
    b: str | None


@dataclasses.dataclass(frozen=True)
class _Other:
    b: int
    a: str | None


def test_facts_digests_differ_with_any_value_field_or_order() -> None:
    base = reuse.facts_digest([_Fact(1, "x"), _Fact(2, None)])
    assert base == reuse.facts_digest([_Fact(1, "x"), _Fact(2, None)])
    assert base != reuse.facts_digest([_Fact(1, "x"), _Fact(2, "")])
    assert base != reuse.facts_digest([_Fact(2, None), _Fact(1, "x")])
    assert base != reuse.facts_digest([_Other(1, "x"), _Other(2, None)])  # the same values under other fields
    assert base != reuse.facts_digest([(1, "x"), (2, None)])
    when = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert reuse.facts_digest([(when,)]) != reuse.facts_digest([(when.replace(tzinfo=dt.timezone.utc),)])


def test_the_intake_texts_are_the_paths_texts(tmp_path: Path) -> None:
    names = ["a.xlsx", "b c.xlsx", "子/报表.xlsx", "子/报表 2.xlsx", "z" * 200 + ".xlsx"]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = discover([str(tmp_path)])
    assert isinstance(found.files, PathList) and len(found.files) == len(names)
    texts = run_mod._texts(found.files)
    assert texts == [str(p) for p in found.files]
    assert run_mod._texts([Path(t) for t in texts]) == texts
    many = PathList(Path(f"/tmp/x/{n % 7}/{n}.xlsx") for n in range(300))  # past a restart of the front coding
    assert list(many.texts()) == [str(p) for p in many]


def test_run_info_keeps_the_recalled_hash(tmp_path: Path) -> None:
    """The run records the roster by the recalled hash: the rosters table holds its text under that hash."""
    spec = as_spec(FORM)
    same = _roster(tmp_path / "same.csv")
    with Ledger.open(tmp_path / "r.xlt.db", create=True) as led:
        _hash(led, same, spec)
        roster = read_roster(same, spec)
        snap = roster_snapshot(roster, spec)
        preflight.recall_hash(led, roster, spec, snap)
        run = led.begin_run(RunInfo(VALIDATOR_VERSION, spec.spec_hash, spec.id, spec.version, roster=snap))
        assert led.roster(run) is not None
        assert led.roster(run).hash == roster_snapshot(read_roster(same, spec), spec).hash  # type: ignore[union-attr]
