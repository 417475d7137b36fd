"""A round (``collect --ledger``) holds less per file and per unit (issue 15, eighth pass), with the same outputs.

Switches, each compared off and on here: ``ledger.model.STREAM_SNAPSHOT`` (the roster snapshot's hash and text made
unit by unit, its units made when asked for, the last run's roster not loaded when its hash is this run's),
``rounds.view.LAZY_RECEIVED`` (提交记录's rows made as they are read) and ``rounds.view.LAZY_SINCE`` (each unit's
"since the last run" made when asked for). Each run is made twice from one ledger state and one clock, the switches
off then on: the roll-up's bytes, the CSVs, ``--json``'s figures, the clerk's lines, 提交记录's rows and the
"since" values must be the same. And ``rounds.run.HEADS_SPILLED`` (each stored report's head, which 汇总 reads, kept
in the run's spill rather than held), ``rounds.run.LAZY_PARTS`` (a kept sheet's part read from the ledger when it is
given, not every part before the roll-up is written). And ``workers.FORKSERVER_FROM`` (workers started from a
forkserver, not forked from the round's process: issue 15, ninth pass) and ``rounds.run.STALE_JOINED`` (each file's
stored report read beside it from one query, not a dict of every stored report) and ``ledger.store.INGEST_BY_BATCH``
(the intake asks the ledger a batch at a time, not dicts of every path's stats and every file's archive name) and
``ledger.queries.CHANGES_MERGED`` (the units a run changed found by walking both runs' decisions in key order).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
import shutil
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from xltemplate import workers
from xltemplate.errors import RosterChangedError
from xltemplate.ledger import Ledger, RosterSnapshot, RosterUnit, model, queries, store
from xltemplate import roster as roster_mod
from xltemplate.roster import read_roster
from xltemplate.rounds import collect_round, roster_snapshot
from xltemplate.rounds import preflight
from xltemplate.rounds import run as run_mod
from xltemplate.rounds import view
from xltemplate.rollup import reuse
from xltemplate.rollup import spill as spill_mod

from .conftest import SAMPLES
from .tamper import replace_text, rewrite, set_saved_time

FORM = "sh-project-self-eval"
SWITCHES = [(model, "STREAM_SNAPSHOT"), (view, "LAZY_RECEIVED"), (view, "LAZY_SINCE"), (run_mod, "HEADS_SPILLED"),
            (run_mod, "LAZY_PARTS"), (run_mod, "STALE_JOINED"), (store, "INGEST_BY_BATCH"), (queries, "CHANGES_MERGED"),
            (store, "FILES_READ_AGAIN"), (run_mod, "SOURCE_UNHELD"), (run_mod, "OTHERS_KEPT"), (run_mod, "SHAS_ON_RETURNS"),
            (run_mod, "BRIEFS_LET_GO"), (store, "SEEN_WITHOUT_STAT"), (run_mod, "COPIES_WHEN_SENT"),
            (run_mod, "RETURNS_SETTLED"), (run_mod, "NEW_COUNTED_WHEN_MATCHED"),
            (run_mod, "PARTS_STORED_AS_MADE"), (store, "SEEN_IN_LEDGER"),
            (reuse, "GIVEN_WHEN_ZIPPED"), (reuse, "PARTS_STREAMED"),
            (run_mod, "SHAS_SHARED"), (reuse, "KEPT_STREAMED"),
            (run_mod, "TODO_LET_GO"), (reuse, "DECIMALS_PACKED"),
            (run_mod, "PATHS_AS_TEXT"), (reuse, "ROWS_KEY_PACKED"), (reuse, "DIGESTS_OF_FACTS"),
            (preflight, "SNAPSHOT_HASH_KEPT"), (run_mod, "CHANGES_WALKED"),
            (run_mod, "BRIEF_MOVED_IN_PLACE"), (run_mod, "WHERE_UNPAIRED"),
            (run_mod, "LEDGERED_UNLISTED"), (run_mod, "VERDICTS_KEPT"), (store, "VERDICTS_INDEXED"),
            (preflight, "ROSTER_KEPT"), (view, "RECEIVED_FACTS"),
            (spill_mod, "FIELDS_ALONE"), (roster_mod, "KEYS_AS_BYTES"),
            (run_mod, "MATCH_STORED"),
            (run_mod, "LOAD_WHEN_MATCHED"), (store, "ROSTER_IN_PIECES"),
            (run_mod, "TODO_PACKED"), (roster_mod, "FILE_TO_CHILDREN"),
            # (firstflat) each fresh report's spill place in an array by its place among the files validated, met in
            # turn by matching's walk, where a dict by sha256 held ~185 bytes a file from reading to matching's end
            (run_mod, "PLACES_PACKED"),
            # (firstflat) the files received since the last run counted by unit in the run's store, not a Counter
            (run_mod, "NEW_STORED"),
            # (firstflat) each roster row's verdict context held as its 32 bytes, the memo read in two parts
            (run_mod, "CONTEXTS_PACKED"),
            # (firstflat) the inputs' texts handed to the intake a batch at a time as it asks, not a list of them all
            (run_mod, "TEXTS_AS_ASKED"),
            # (thirdflat) 汇总's since over the store, the asked reports as bits, Decimal texts shared in a kept state
            (view, "SINCE_STORED"), (run_mod, "ASKED_BITS"), (reuse, "DECIMAL_TEXTS_SHARED"),
            # (lead) the files without a report found by one query, not a set of every stored report's sha256
            (store, "UNREPORTED_JOINED"),
            # (firstpeak) a guessed template held to the inputs' templates one at a time, not a list of one for each
            # (a first run at 100,000: 79.7 -> 66 MB between its reading and its matching)
            (run_mod, "SEEN_STREAMED"),
            # (firstpeak) the changed units' since flags kept in the run's store, not a dict of every flagged key (a
            # first run's every unit: since() at 100,000 66.4 -> 70.1 MB, ~10 MB held through the write)
            (view, "FLAGS_STORED"),
            # (thirdpeak) parts' xml its table's last column: a part kept as made is written without SQLite holding it
            (store, "PARTS_XML_LAST"),
            # (round2) a round's parts written anew deflated by rollup.deflate's second process (LARGE: here none is;
            # tests/test_round_deflate.py compares with every part the second process's)
            (reuse, "DEFLATED_AHEAD"),
            # (samerun) the kept sheets' digests taken from the last run whose inputs' digest is this run's (a memo in
            # the ledger), not made again (tests/test_samerun.py checks each recalled one against the one made)
            (run_mod, "DIGESTS_RECALLED")]
#: Switches whose off and on are not False and True: (owner, name, off, on). workers.FORKSERVER_FROM: off, every
#: pool forks; on, every pool (the tests' few files) starts its workers from a forkserver. rounds.run.MATCH_STORED_FROM:
#: on, a round's returns are matched in its store whatever its files (off: from 20,000, so never here).
VALUED = [(workers, "FORKSERVER_FROM", None, 0), (run_mod, "MATCH_STORED_FROM", 20_000, 0)]


def _switches(monkeypatch: pytest.MonkeyPatch, on: bool) -> None:
    for owner, name in SWITCHES:
        monkeypatch.setattr(owner, name, on)
    for owner, name, off_value, on_value in VALUED:
        monkeypatch.setattr(owner, name, on_value if on else off_value)


def _roster(path: Path, *, drop: tuple[str, ...] = (), contact: dict[str, str] | None = None,
            budget: dict[str, str] | None = None, contacts: bool = True) -> Path:
    """The samples' roster, with units dropped, a contact or a budget changed, and a 联系人 column."""
    with open(SAMPLES / "roster.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(rows[0] + (["联系人"] if contacts else []))
        for r in rows[1:]:
            if r[0] in drop:
                continue
            line = [r[0], r[1], r[2], (budget or {}).get(r[0], r[3])]
            w.writerow(line + ([(contact or {}).get(r[0], f"{r[0]} 联系人")] if contacts else []))
    return path


class _Clock:
    """The ledger's clock: the same times both ways (each run is made twice from one ledger state)."""

    def __init__(self) -> None:
        self.tick = 0

    def __call__(self) -> dt.datetime:
        self.tick += 1
        return dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=self.tick)


def _run_both_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: _Clock, inbox: Path, roster_csv: Path,
                   name: str, ok: bool = False) -> dict[bool, dict[str, Any]]:
    """One run of the round in ``tmp_path / "round"``, made from the same ledger state with the switches off, then on."""
    work = tmp_path / "round"
    got: dict[bool, dict[str, Any]] = {}
    for on in each_way(tmp_path, clock):
        _switches(monkeypatch, on)
        out, export = tmp_path / f"{name}-{on}.xlsx", tmp_path / f"{name}-{on}-csv"
        roster = read_roster(roster_csv, FORM)
        methods: list[str] = []
        real_method = workers._start_method
        monkeypatch.setattr(workers, "_start_method", lambda tasks: methods.append(real_method(tasks)) or methods[-1])
        try:
            done = collect_round([inbox], FORM, ledger=work / "r.xlt.db", roster=roster, output=out, export_dir=export,
                                 roster_changed_ok=ok, jobs=1)  # (in a worker: FORKSERVER_FROM compares how it is started)
        except RosterChangedError as exc:
            got[on] = {"refused": str(exc)}
            continue
        finally:
            monkeypatch.setattr(workers, "_start_method", real_method)
        assert set(methods) <= {"forkserver" if on else "fork"}  # (the pools this run started, if any)
        POOLS[on] += len(methods)
        c = done.collection
        rnd = c.round
        assert rnd is not None
        assert isinstance(rnd.received, view._Received) is on and isinstance(rnd.since, view._Since) is on
        got[on] = {**shown(done, out, export), "received_len": len(rnd.received), "since_map": dict(rnd.since)}
        with Ledger.open(work / "r.xlt.db", readonly=True) as led:
            last = led.last_finished_run()
            assert last is not None
            got[on]["decisions"] = led.decisions(last)
            got[on]["roster"] = led.roster(last)
        c.close()
    return got


def shown(done: Any, out: Path, export: Path) -> dict[str, Any]:
    """What a run shows: the roll-up's bytes, the CSVs, ``--json``'s figures, the clerk's lines, 提交记录's rows, the
    "since" values and the counts."""
    c = done.collection
    rnd = c.round
    assert rnd is not None
    return {"bytes": out.read_bytes(), "csv": {p.name: p.read_bytes() for p in sorted(export.iterdir())},
            "json": json.dumps(done.as_dict(), ensure_ascii=False, sort_keys=True, default=str), "lines": done.lines(),
            "received": list(rnd.received), "since": {row.key: rnd.since_of(row.key) for row in c.rows},
            "counts": c.counts()}


def each_way(tmp_path: Path, clock: _Clock) -> Iterator[bool]:
    """False, then True: before each, the round's folder (``tmp_path / "round"``) and the clock as they were before the
    first (its copy in ``tmp_path / "saved"``)."""
    work, saved = tmp_path / "round", tmp_path / "saved"
    work.mkdir(exist_ok=True)
    shutil.rmtree(saved, ignore_errors=True)
    shutil.copytree(work, saved)
    start = clock.tick
    yield False
    shutil.rmtree(work)
    shutil.copytree(saved, work)
    clock.tick = start
    yield True


POOLS = {False: 0, True: 0}  # pools started, each way (the comparison is of workers started both ways)


def _same(got: dict[bool, dict[str, Any]], step: str) -> None:
    off, on = got[False], got[True]
    assert off.keys() == on.keys(), step
    for what in off:
        assert on[what] == off[what], (step, what)


def test_a_rounds_runs_are_the_same_held_or_made_when_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A first run, one over the same inbox, and runs that see a changed file, a resubmission, a removed file, a
    roster whose contacts changed, one refused for a unit removed and then allowed, and one without the 联系人
    column: each the same both ways."""
    clock = _Clock()
    monkeypatch.setattr(store, "_now", clock)
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES / "returns", inbox)
    roster = _roster(tmp_path / "roster.csv")
    steps: list[tuple[str, Callable[[], Path], bool]] = [
        ("first", lambda: roster, False),
        ("again", lambda: roster, False),
        ("changed", lambda: (rewrite(SAMPLES / "returns" / "无线电监测站.xlsx", inbox / "无线电监测站.xlsx",
                                     {"xl/sharedStrings.xml": replace_text("成果统计和归档不够及时", "成果统计不够及时")}),
                             roster)[1], False),
        ("resubmitted and removed", lambda: (set_saved_time(SAMPLES / "returns" / "需求侧管理中心.xlsx",
                                                            inbox / "需求侧管理中心 (2).xlsx", dt.datetime(2021, 6, 1, 9, 30)),
                                             (inbox / "浦东分中心.xlsx").unlink(), roster)[2], False),
        ("contacts changed", lambda: _roster(tmp_path / "roster2.csv", contact={"SH002": "换人了"}), False),
        ("a unit removed, refused", lambda: _roster(tmp_path / "roster3.csv", drop=("SH003",)), False),
        ("a unit removed, allowed", lambda: tmp_path / "roster3.csv", True),
        ("again with it", lambda: tmp_path / "roster3.csv", False),
        ("no contacts", lambda: _roster(tmp_path / "roster4.csv", drop=("SH003",), contacts=False), False),
    ]
    seen: dict[str, dict[bool, dict[str, Any]]] = {}
    for step, change, ok in steps:
        roster_csv = change()
        seen[step] = got = _run_both_ways(tmp_path, monkeypatch, clock, inbox, roster_csv, step.replace(" ", "-"), ok)
        _same(got, step)
    # what the steps were meant to show, so that the comparisons compare something
    assert "refused" in seen["a unit removed, refused"][True] and "SH003" in seen["a unit removed, refused"][True]["refused"]
    assert any("名单与上次汇总不同" in line for line in seen["contacts changed"][True]["lines"])
    assert any("名单与上次汇总不同" in line for line in seen["a unit removed, allowed"][True]["lines"])
    assert not any("名单" in line for line in seen["again with it"][True]["lines"])
    assert seen["resubmitted and removed"][True]["received_len"] == seen["first"][True]["received_len"] + 2
    assert sum(s.new_files for s in seen["first"][True]["since"].values()) > 10
    assert sum(s.new_files for s in seen["resubmitted and removed"][True]["since"].values()) == 1
    assert any(r.in_inbox is False for r in seen["resubmitted and removed"][True]["received"])
    assert seen["again with it"][True]["roster"] is not None and len(seen["again with it"][True]["roster"].units) == 19
    assert POOLS[True] > 0 and POOLS[False] > 0


def random_inbox(rng: random.Random, tmp_path: Path, n: int) -> tuple[Path, list[str], list[str]]:
    """``tmp_path / "inbox"`` with ``n`` of the samples' returns chosen by ``rng``; every sample's name; the roster's keys."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    names = sorted(p.name for p in (SAMPLES / "returns").iterdir())
    for name in rng.sample(names, n):
        shutil.copy2(SAMPLES / "returns" / name, inbox / name)
    keys = [r[0] for r in csv.reader(open(SAMPLES / "roster.csv", encoding="utf-8-sig"))][1:]
    return inbox, names, keys


@pytest.mark.parametrize("seed", range(4))
def test_random_rounds_are_the_same_held_or_made_when_read(seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three runs, each after random changes to the inbox (files removed, resubmitted, changed) and the roster (a unit
    dropped, a contact or a budget changed): the same both ways."""
    rng = random.Random(seed)
    clock = _Clock()
    monkeypatch.setattr(store, "_now", clock)
    inbox, names, keys = random_inbox(rng, tmp_path, 14)
    for step in range(3):
        if step:
            here = sorted(p.name for p in inbox.iterdir())
            for n in rng.sample(here, rng.randint(0, 3)):
                (inbox / n).unlink()
            for n in rng.sample(names, rng.randint(0, 3)):
                set_saved_time(SAMPLES / "returns" / n, inbox / f"again {step} {n}", dt.datetime(2021, 6, step, 9, rng.randint(0, 59))) \
                    if n.endswith(".xlsx") and not n.startswith("~$") and rng.random() < 0.7 else shutil.copy2(SAMPLES / "returns" / n, inbox / f"copy {step} {n}")
        roster_csv = _roster(tmp_path / f"roster{step}.csv", drop=tuple(rng.sample(keys, rng.randint(0, 2))),
                             contact={k: f"联系人 {rng.random()}" for k in rng.sample(keys, rng.randint(0, 2))},
                             budget={k: "1,000.00" for k in rng.sample(keys, rng.randint(0, 1))})
        got = _run_both_ways(tmp_path, monkeypatch, clock, inbox, roster_csv, f"r{step}", ok=rng.random() < 0.5)
        _same(got, f"seed {seed} step {step}")
        if "refused" in got[True]:
            got = _run_both_ways(tmp_path, monkeypatch, clock, inbox, roster_csv, f"r{step}-ok", ok=True)
            _same(got, f"seed {seed} step {step} allowed")
        assert "bytes" in got[True]


def _snapshot(rng: random.Random, n: int) -> RosterSnapshot:
    chars = "ABC中文é𝔘 \"\\,:{}[]\n"
    def text() -> str:
        return "".join(rng.choice(chars) for _ in range(rng.randint(0, 6)))
    return RosterSnapshot(tuple(
        RosterUnit(f"K{i}{text()}", {text(): text() for _ in range(rng.randint(0, 3))},
                   {text(): text() for _ in range(rng.randint(0, 2))}, text(), text()) for i in range(n)))


@pytest.mark.parametrize("seed", range(30))
def test_a_snapshots_hash_and_text_made_unit_by_unit_are_the_whole_texts(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    snap = _snapshot(rng, rng.choice([0, 1, 2, 7, 40]))
    monkeypatch.setattr(model, "STREAM_SNAPSHOT", False)
    whole = (snap.hash, snap.text())
    assert whole[1] == model.canonical_json(snap.as_json())
    fresh = RosterSnapshot(snap.units)  # (the hash is kept once made)
    monkeypatch.setattr(model, "STREAM_SNAPSHOT", True)
    assert (fresh.hash, fresh.text()) == whole
    assert fresh.hash == whole[0] and RosterSnapshot.from_json(json.loads(fresh.text())) == snap


def test_a_rosters_snapshot_made_when_asked_is_the_tuple(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    roster = read_roster(_roster(tmp_path / "roster.csv", contact={"SH004": "李四"}), FORM)
    from xltemplate.catalog import as_spec

    spec = as_spec(FORM)
    monkeypatch.setattr(model, "STREAM_SNAPSHOT", False)
    whole = roster_snapshot(roster, spec)
    monkeypatch.setattr(model, "STREAM_SNAPSHOT", True)
    made = roster_snapshot(roster, spec)
    assert isinstance(whole.units, tuple) and not isinstance(made.units, tuple)
    assert len(made.units) == len(whole.units) == 20
    assert list(made.units) == list(whole.units) and made.units[3] == whole.units[3] and made.units[-1] == whole.units[-1]
    assert made.units[2:5] == whole.units[2:5]
    assert made == whole and made.as_json() == whole.as_json() and made.hash == whole.hash and made.text() == whole.text()
    assert made.by_key() == whole.by_key() and made.contact_columns == whole.contact_columns


def test_an_unchanged_roster_is_neither_loaded_nor_stored_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second run over the same roster: its hash is the last run's, so the last run's roster is not read back
    (queries.roster) and its text not made again (RosterSnapshot.text); with the switch off, both are."""
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES / "returns", inbox)
    roster_csv = _roster(tmp_path / "roster.csv")
    for on in (False, True):
        monkeypatch.setattr(model, "STREAM_SNAPSHOT", on)
        led = tmp_path / f"{on}.xlt.db"
        collect_round([inbox], FORM, ledger=led, roster=read_roster(roster_csv, FORM), output=tmp_path / "a.xlsx").collection.close()
        loaded: list[object] = []
        made: list[object] = []
        real_roster, real_text, real_json = queries.roster, RosterSnapshot.text, model.canonical_json
        monkeypatch.setattr(queries, "roster", lambda *a: loaded.append(a) or real_roster(*a))
        monkeypatch.setattr(RosterSnapshot, "text", lambda self: made.append(self) or real_text(self))
        monkeypatch.setattr(store, "canonical_json", lambda v: made.append(v) or real_json(v))
        done = collect_round([inbox], FORM, ledger=led, roster=read_roster(roster_csv, FORM), output=tmp_path / "b.xlsx")
        done.collection.close()
        monkeypatch.setattr(queries, "roster", real_roster)
        monkeypatch.setattr(RosterSnapshot, "text", real_text)
        monkeypatch.setattr(store, "canonical_json", real_json)
        assert (loaded == [], made == []) == (on, on)
        # a roster without units it had, after it: refused naming how many units the last run's had, both ways
        with pytest.raises(RosterChangedError, match="20 个单位"):
            collect_round([inbox], FORM, ledger=led, roster=None, output=tmp_path / "c.xlsx")


def test_finishing_without_keeping_the_decisions_records_the_same(tmp_path: Path) -> None:
    """``Ledger.finishing(keep=False)`` (a round's, while it writes the roll-up): the ledger records the same decisions;
    only the outcome's list is left empty."""
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES / "returns", inbox)
    recorded = {}
    for keep in (True, False):
        clock = _Clock()
        with Ledger.open(tmp_path / f"{keep}.db", create=True) as led:
            led._clock = clock  # type: ignore[method-assign]
            from xltemplate.ledger import Choice, RunInfo

            names = sorted(str(p) for p in inbox.iterdir())
            run = led.begin_run(RunInfo("v1", "s1"))
            shas = [s.sha256 for s in led.ingest(run, names).seen]
            choices = [Choice(f"K{n}", sha, "only", 1, "valid", 0) for n, sha in enumerate(shas[:6])]
            with led.finishing(run, iter(choices), keep=keep) as outcome:
                assert (len(outcome.decisions) == 6) is keep
            first = led.decisions(outcome.run)
            # a second run sees half the files: units keep their file, take another (in the inbox or not), or are new
            run = led.begin_run(RunInfo("v1", "s1"))
            led.ingest(run, names[: len(names) // 2])
            choices = [Choice("K0", shas[0], "only", 1, "valid", 0), Choice("K1", shas[-1], "saved_at", 2, "invalid", 3),
                       Choice("K2", shas[3], "arrival", 3, "valid", 0), Choice("K9", shas[-2], "only", 1, "valid", 0),
                       Choice("K4", shas[4], "only", 1, "valid", 1)]
            with led.finishing(run, iter(choices), keep=keep) as outcome:
                assert (len(outcome.decisions) == 5) is keep
            # the units changed walked as they come (rounds.run.CHANGES_WALKED) are Changes.units, newly valid flagged
            walked = list(led.changed_units(outcome.run))
            assert walked == [(u.key, u.newly_valid) for u in led.changes(outcome.run).units]
            assert walked == [("K1", False), ("K2", False), ("K3", False), ("K5", False), ("K9", True)]
            recorded[keep] = [(d.run_id, d.unit_key, d.sha256, d.rule, d.candidates, d.status, d.errors, d.in_inbox,
                               d.supersedes) for d in first + led.decisions(outcome.run)]
    assert recorded[True] == recorded[False] and len(recorded[True]) == 11
    second = recorded[True][6:]
    assert {d[1]: (d[7], d[8]) for d in second} == {"K0": (True, None), "K1": (False, shas[1]), "K2": (True, shas[2]),
                                                    "K4": (True, None), "K9": (False, None)}


def test_a_kept_part_is_read_from_the_ledger_only_when_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ledger.parts(lazy=True): the same three values as the whole read; the XML read only when [2] is asked for."""
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES / "returns", inbox)
    led_path = tmp_path / "r.xlt.db"
    collect_round([inbox], FORM, ledger=led_path, roster=read_roster(_roster(tmp_path / "roster.csv"), FORM),
                  output=tmp_path / "a.xlsx").collection.close()
    with Ledger.open(led_path, readonly=True) as led:
        whole = led.parts()
        lazy = led.parts(lazy=True)
        assert whole.keys() == lazy.keys() and len(whole) == 6
        asked: list[str] = []
        real = led.conn
        class Watching:
            def execute(self, sql: str, *a: Any) -> Any:
                asked.append(sql)
                return real.execute(sql, *a)
        monkeypatch.setattr(led, "conn", Watching())
        for name, part in lazy.items():
            assert (part[0], part[1], len(part)) == (whole[name][0], whole[name][1], 3) and asked == []
        for name, part in lazy.items():
            assert part[2] == whole[name][2] and tuple(part) == whole[name] and part[-1] == whole[name][2]
        assert len(asked) == 18  # (each of the three reads above reads it again: a sheet is given once)
        with pytest.raises(IndexError):
            lazy["汇总"][3]
        monkeypatch.setattr(led, "conn", real)


@pytest.mark.parametrize("seed", range(20))
def test_both_runs_decisions_walked_in_key_order_are_the_sorted_union(seed: int) -> None:
    """queries._both (CHANGES_MERGED): SQLite's order of the keys (UTF-8 bytes) is sorted()'s, CJK, symbols and
    characters beyond the BMP included; every unit of either run once, with each run's (sha256, status)."""
    import sqlite3

    rng = random.Random(seed)
    chars = "AZaz09-_ 中文单位甲乙é𝔘~"
    keys = list({"".join(rng.choice(chars) for _ in range(rng.randint(1, 6))) for _ in range(rng.randint(0, 60))})
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE decisions (run_id INTEGER, unit_key TEXT, sha256 TEXT, status TEXT,"
                 " PRIMARY KEY (run_id, unit_key)) WITHOUT ROWID")
    runs: dict[int, dict[str, tuple[str, str]]] = {1: {}, 2: {}}
    for run_id in (1, 2):
        for key in rng.sample(keys, rng.randint(0, len(keys))):
            runs[run_id][key] = (rng.choice("abc"), rng.choice(["valid", "invalid"]))
            conn.execute("INSERT INTO decisions VALUES (?, ?, ?, ?)", (run_id, key, *runs[run_id][key]))
    expected = [(k, runs[1].get(k), runs[2].get(k)) for k in sorted(set(runs[1]) | set(runs[2]))]
    assert list(queries._both(conn, 2, 1)) == expected
    assert list(queries._both(conn, 2, None)) == [(k, None, v) for k, v in sorted(runs[2].items())]


def test_files_walked_again_are_the_ledgers_files(tmp_path: Path) -> None:
    """Ledger.file_rows (FILES_READ_AGAIN): the same FileRows, in the same order, as Ledger.files, for files seen at
    two paths in one run (byte-identical copies), seen again at another path in a later run, not seen by a later run,
    and recovered; walked twice, and once more after the ledger is closed (a read-only connection of its own)."""
    inbox, other = tmp_path / "inbox", tmp_path / "other"
    shutil.copytree(SAMPLES / "returns", inbox)
    names = sorted(p for p in inbox.iterdir())
    other.mkdir()
    shutil.copy(names[0], inbox / "copy-of-first.xlsx")  # two paths, one file, one run
    shutil.copy(names[1], other / "moved.xlsx")  # seen again at another path by the next run
    from xltemplate.ledger import RunInfo

    with Ledger.open(tmp_path / "r.db", create=True) as led:
        run = led.begin_run(RunInfo("v1", "s1"))
        led.ingest(run, [str(p) for p in sorted(inbox.iterdir())])
        with led.finishing(run, iter([]), keep=False):
            pass
        run = led.begin_run(RunInfo("v1", "s1"))
        led.ingest(run, [str(other / "moved.xlsx"), str(inbox / "copy-of-first.xlsx"), str(names[0]), str(names[2])])
        listed = led.files(run)
        assert any(f.last_seen_run == 1 for f in listed) and any(f.last_seen_run == 2 for f in listed)
        view_rows = led.file_rows(run)
        assert isinstance(view_rows, store.FileRows)
        assert list(view_rows) == listed and list(view_rows) == listed and len(view_rows) == len(listed)
        assert view_rows[1] == listed[1] and view_rows[-1] == listed[-1]
        with led.finishing(run, iter([]), keep=False):
            pass
    assert list(view_rows) == listed  # (the ledger closed)


def test_the_inputs_seen_kept_in_the_ledger_are_the_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ledger.ingest with SEEN_IN_LEDGER: ``Intake.seen`` walks the same Stored, in the inputs' order, as the list
    (a path given twice, two paths of one file, a file recorded by the run before), ``first_seen`` holds the same
    sha256, and ``by_file`` gives each file's paths and times in the files' order, each file's in the inputs'."""
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES / "returns", inbox)
    names = sorted(p for p in inbox.iterdir())
    shutil.copy(names[3], inbox / "0-copy-of-fourth.xlsx")  # (before its original in the inputs' order)
    from xltemplate.ledger import RunInfo

    got = {}
    for on in (False, True):
        monkeypatch.setattr(store, "SEEN_IN_LEDGER", on)
        with Ledger.open(tmp_path / f"{on}.db", create=True) as led:
            led._clock = _Clock()  # type: ignore[method-assign]
            run = led.begin_run(RunInfo("v1", "s1"))
            led.ingest(run, [str(names[1])])
            with led.finishing(run, iter([]), keep=False):
                pass
            run = led.begin_run(RunInfo("v1", "s1"))
            inputs = [str(p) for p in sorted(inbox.iterdir())] + [str(names[5])]  # (names[5] given twice)
            intake = led.ingest(run, list(reversed(inputs)), batch=3)
            seen = [(s.path, s.sha256, s.size, s.name, s.mtime, s.published) for s in intake.seen]
            assert len(intake.seen) == len(seen) == len(inputs)
            assert isinstance(intake.seen, store.SeenKept) is on
            walked = list(intake.seen.by_file()) if isinstance(intake.seen, store.SeenKept) else None
            got[on] = (seen, sorted(intake.first_seen), len(intake.first_seen), len(intake.new), walked,
                       [f.sha256 for f in led.files(run)])
    assert got[True][:4] == got[False][:4] and got[True][2] <= len(inputs) - 3  # (a copy, a repeat, run 1's file)
    seen, files = got[False][0], got[False][5]
    expected = [(sha, [(path, mtime.timestamp()) for path, s, _size, _name, mtime, _pub in seen if s == sha])
                for sha in files if any(s == sha for _p, s, *_ in seen)]
    assert got[True][4] == expected and len(expected[0][1]) >= 1
    assert sum(len(at) == 2 for _sha, at in expected) >= 2  # (the copy, and the path given twice)
