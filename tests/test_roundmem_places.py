"""A round's first run flat in N (issue 15, fourteenth pass, firstflat): what the run holds per file while it validates
and stores the reports and while it matches. test_roundmem's runs flip each switch with the others (the same roll-up,
CSVs, lines, 提交记录, since values and decisions); these test what each holds instead."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from xltemplate.errors import LedgerError
from xltemplate.roster import read_roster
from xltemplate.rounds import collect_round
from xltemplate.rounds import run as run_mod

from .conftest import SAMPLES
from .test_roundmem import FORM


def _sha(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


def test_places_are_met_in_the_files_order() -> None:
    """rounds.run.PLACES_PACKED: each report's place kept by its place among the files validated (the packed todo's
    digests shared, or its own), given back as matching meets each file in the same order; a file not validated is
    met by none; an odd sha256 is not kept (the caller's dict keeps it); a walk that misses one says so."""
    for packed in (True, False):
        todo: list[tuple[str, str]] | run_mod._ToDo = run_mod._ToDo() if packed else []
        items = [(_sha(n), f"{_sha(n)[:2]}/{_sha(n)}.xlsx") for n in range(5)] + [("not hex", "ab/not hex.xlsx")]
        for item in items:
            todo.append(item)
        places = run_mod._Places(todo)
        # (the workers end them out of order)
        for n in (3, 0, 4, 1, 2, 5):
            assert places.put(n, items[n][0], (n + 1) << 32 | 7) is (n != 5)
        assert not places.put(0, _sha(0), object())  # (not a place in the spill)
        assert places.next_if(_sha(0)) == 1 << 32 | 7
        assert places.next_if(_sha(99)) is None  # (a file not validated now: nothing moves)
        assert places.next_if(_sha(2)) is None  # (not the next one: the order is the files')
        assert places.next_if(_sha(1)) == 2 << 32 | 7
        assert not places.met()
        for n in (2, 3, 4):
            assert places.next_if(_sha(n)) == (n + 1) << 32 | 7
        assert places.next_if("not hex") is None and places.met()


def test_reports_place_by_the_walk() -> None:
    """rounds.run._Reports with places: a report made now is found where matching walks to its file (and only then);
    one the places do not keep is in the dict as before."""
    reports = run_mod._Reports(None)
    todo = run_mod._ToDo()
    for n in range(3):
        todo.append((_sha(n), f"{_sha(n)[:2]}/{_sha(n)}.xlsx"))
    reports.places = run_mod._Places(todo)
    assert reports.places.put(0, _sha(0), 5 << 32 | 1) and reports.places.put(2, _sha(2), 6 << 32 | 1)
    reports._where[_sha(1)] = 7 << 32 | 1  # (kept by the dict: a transient one, say)
    assert reports.place(_sha(0)) is None  # (not walked to yet)
    reports.walked(_sha(0))
    assert reports.place(_sha(0)) == 5 << 32 | 1 and reports.place(_sha(2)) is None
    reports.walked(_sha(1))
    assert reports.place(_sha(1)) == 7 << 32 | 1 and reports.place(_sha(0)) is None
    assert not reports.walked_all()
    reports.walked(_sha(2))
    assert reports.place(_sha(2)) == 6 << 32 | 1 and reports.walked_all()


@pytest.mark.parametrize("on", [False, True])
def test_a_first_run_keeps_no_dict_of_places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on: bool) -> None:
    """A round's first run matched in its store (MATCH_STORED_FROM 0): with PLACES_PACKED the reports it made are found
    through the places, none by the dict (fails on the code before: every report's place was in the dict)."""
    monkeypatch.setattr(run_mod, "MATCH_STORED_FROM", 0)
    monkeypatch.setattr(run_mod, "PLACES_PACKED", on)
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES / "returns", inbox)
    seen: dict[str, int] = {}
    real = run_mod._collection_stored

    def spy(led, spec, roster, ctx, files, seen_, reports, *a, **k):  # type: ignore[no-untyped-def]
        seen["dict"] = len(reports._where)
        seen["places"] = reports.places._kept if reports.places is not None else 0
        return real(led, spec, roster, ctx, files, seen_, reports, *a, **k)

    monkeypatch.setattr(run_mod, "_collection_stored", spy)
    roster = read_roster(SAMPLES / "roster.csv", FORM)
    done = collect_round([inbox], FORM, ledger=tmp_path / "r.xlt.db", roster=roster, output=tmp_path / "r.xlsx")
    done.collection.close()
    assert seen["dict"] + seen["places"] >= 5
    assert (seen["dict"] == 0) is on and (seen["places"] > 0) is on


def test_a_walk_out_of_order_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Matching meets the files validated in another order than they were found (the files changed in between): the
    run stops, told in Chinese, rather than take a file's report for another's."""
    monkeypatch.setattr(run_mod, "MATCH_STORED_FROM", 0)
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES / "returns", inbox)
    real = run_mod._Reports.walked

    def backwards(self: run_mod._Reports, sha: str) -> None:
        real(self, sha[::-1])  # (never the next one's)

    monkeypatch.setattr(run_mod._Reports, "walked", backwards)
    roster = read_roster(SAMPLES / "roster.csv", FORM)
    with pytest.raises(LedgerError, match="发生了变化"):
        collect_round([inbox], FORM, ledger=tmp_path / "r.xlt.db", roster=roster, output=tmp_path / "r.xlsx")


def test_new_by_unit_counts_as_the_counter(tmp_path: Path) -> None:
    """rounds.run.NEW_STORED: the files received since a run counted by unit in the run's store, a batch at a time,
    read as the Counter reads (get, [], iteration in key order, length), whatever the keys (any str)."""
    from collections import Counter

    from xltemplate.rollup import units as units_mod

    units = units_mod.Units()
    try:
        new = run_mod._NewByUnit(units)
        counter: Counter[str] = Counter()
        keys = [f"B{n % 700:05d}" for n in range(1500)] + ["单位甲", "\udcff", "B00001"]
        for key in keys:
            new.add(key)
            counter[key] += 1
        assert new.get("B00001") == counter["B00001"] == 4  # (some counted in the store, one held)
        new.flush()
        assert dict(new) == dict(counter) and list(new) == sorted(counter, key=units_mod.text)
        assert len(new) == len(counter) and new.get("nobody", 0) == 0 and "nobody" not in new
    finally:
        units.close()


@pytest.mark.parametrize("on", [False, True])
def test_a_first_run_counts_new_files_in_its_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on: bool) -> None:
    """A round's run matched in its store counts the files received by unit in the store with NEW_STORED (fails on the
    code before: a Counter of every unit)."""
    monkeypatch.setattr(run_mod, "MATCH_STORED_FROM", 0)
    monkeypatch.setattr(run_mod, "NEW_STORED", on)
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES / "returns", inbox)
    got: list[object] = []
    real = run_mod._collection_stored

    def spy(*a, **k):  # type: ignore[no-untyped-def]
        out = real(*a, **k)
        got.append(out[3])
        return out

    monkeypatch.setattr(run_mod, "_collection_stored", spy)
    roster = read_roster(SAMPLES / "roster.csv", FORM)
    done = collect_round([inbox], FORM, ledger=tmp_path / "r.xlt.db", roster=roster, output=tmp_path / "r.xlsx")
    assert isinstance(got[0], run_mod._NewByUnit) is on and len(got[0]) >= 5  # type: ignore[arg-type]
    done.collection.close()


def _fails(*a: object, **k: object) -> None:
    raise AssertionError("made again")


def test_contexts_packed_are_the_texts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """rounds.run.CONTEXTS_PACKED: each roster row's context held as its 32 bytes gives the contexts the memo's text
    gives; its memo (a head, then parts of CONTEXTS_A_PART rows) is taken by the next run (nothing made again), every
    part read; a part damaged (a space where fromhex reads past it, capitals, one cut short, one gone) is made again,
    and a memo made again lets go of the parts an earlier one had beyond its own."""
    from xltemplate.catalog import as_spec
    from xltemplate.identify import RunContext
    from xltemplate.ledger import Ledger

    spec = as_spec(FORM)
    ctx = RunContext.builtin(spec, roster=read_roster(SAMPLES / "roster.csv", spec))
    assert ctx.roster is not None and len(ctx.roster.rows) >= 5
    keys: list[str | None] = [*ctx.roster.keys(), "SH404", "", None]
    made = [ctx.verdict_context(k) for k in keys]
    monkeypatch.setattr(run_mod, "CONTEXTS_A_PART", 2)
    parts = (len(ctx.roster.rows) + 1) // 2
    name = run_mod._CONTEXTS
    for on in (False, True):
        monkeypatch.setattr(run_mod, "CONTEXTS_PACKED", on)
        with Ledger.open(tmp_path / f"{on}.xlt.db", create=True) as led:
            assert [run_mod._Contexts(led, ctx).of(k) for k in keys] == made
            assert (led.memo("verdict contexts") is None) is on and (led.memo(name) is None) is not on
    with Ledger.open(tmp_path / "True.xlt.db") as led:
        head = led.memo(name)
        assert head is not None and head.endswith(f" {len(ctx.roster.rows)}")
        texts = [led.memo(f"{name}/{i}") for i in range(parts)]
        assert "".join(t or "" for t in texts) == "".join(c for c in made[:-3] if c is not None)
        assert led.memo(f"{name}/{parts}") is None
        with monkeypatch.context() as m:
            m.setattr(RunContext, "roster_contexts", _fails)
            assert [run_mod._Contexts(led, ctx).of(k) for k in keys[:-3]] == made[:-3]
        last = parts - 1
        for damaged in (texts[last][:2] + " " + texts[last][3:], texts[last].upper(), texts[last][:-64], None):  # type: ignore[index]
            if damaged is None:
                led.conn.execute("DELETE FROM meta WHERE key = ?", (f"memo {name}/{last}",))
            else:
                led.remember(f"{name}/{last}", damaged)
            asked: list[int] = []
            real = RunContext.roster_contexts
            with monkeypatch.context() as m:
                m.setattr(RunContext, "roster_contexts", lambda self: asked.append(1) or real(self))
                assert [run_mod._Contexts(led, ctx).of(k) for k in keys] == made and asked == [1]
            assert led.memo(f"{name}/{last}") == texts[last]  # (made again, and kept)
        led.remember(f"{name}/{parts + 3}", "0" * 64)  # (an earlier memo's part beyond this one's)
        led.remember(name, "another digest")
        assert [run_mod._Contexts(led, ctx).of(k) for k in keys] == made
        assert led.memo(f"{name}/{parts + 3}") is None and led.memo(name) == head


def test_texts_as_asked_are_the_list(tmp_path: Path) -> None:
    """rounds.run.TEXTS_AS_ASKED: the inputs' texts the intake asks for a batch at a time (each batch maybe twice, in
    order) are the list's; any other slice or item too (from the paths), names of any form among them."""
    from xltemplate.inputs import PathList

    names = [tmp_path / f"d{n % 3}" / f"{'单位' if n % 2 else 'x'}{n:04d}.xlsx" for n in range(1000)] + [tmp_path / "\udcff.xlsx"]
    files = PathList(names)
    texts = run_mod._Texts(files)
    plain = [str(p) for p in names]
    assert len(texts) == len(plain)
    for start in range(0, len(plain), 300):
        assert texts[start:start + 300] == plain[start:start + 300] and texts[start:start + 300] == plain[start:start + 300]
    assert texts[5:9] == plain[5:9] and texts[::-7] == plain[::-7] and texts[-1] == plain[-1] and texts[3] == plain[3]
    assert texts[990:2000] == plain[990:2000] and texts[2000:] == []
    fresh = run_mod._Texts(files)
    assert fresh[10:20] == plain[10:20] and fresh[0:10] == plain[0:10]  # (not the walk's next: from the paths)
    assert list(run_mod._Texts(files)) == plain


@pytest.mark.parametrize("on", [False, True])
def test_the_intake_is_handed_texts_as_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on: bool) -> None:
    """A round's intake gets the inputs' texts as it asks with TEXTS_AS_ASKED (fails on the code before: a list)."""
    from xltemplate.ledger import store

    monkeypatch.setattr(run_mod, "TEXTS_AS_ASKED", on)
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES / "returns", inbox)
    given: list[object] = []
    real = store.Ledger.ingest

    def spy(self, run, paths, **k):  # type: ignore[no-untyped-def]
        given.append(paths)
        return real(self, run, paths, **k)

    monkeypatch.setattr(store.Ledger, "ingest", spy)
    done = collect_round([inbox], FORM, ledger=tmp_path / "r.xlt.db", roster=read_roster(SAMPLES / "roster.csv", FORM),
                         output=tmp_path / "r.xlsx")
    done.collection.close()
    assert isinstance(given[0], run_mod._Texts) is on and done.received >= 5


def test_texts_as_asked_compare_as_the_list(tmp_path: Path) -> None:
    """_Texts equals the list of the texts (and another of the same paths), not a list of Paths or of other texts."""
    from xltemplate.inputs import PathList

    names = [tmp_path / f"{n}.xlsx" for n in range(5)]
    texts = run_mod._Texts(PathList(names))
    assert texts == [str(p) for p in names] and texts == run_mod._Texts(PathList(names))
    assert texts != names and texts != [str(p) for p in names[:-1]] and texts != [str(p) for p in names[::-1]]
