"""Review of issue 15's fourteenth pass (session 29): a round's runs with the new switches off, then on, from one
ledger state and one clock, through the CLI, with the round matched on its store (``MATCH_STORED_FROM = 0``, what a
round of 20,000 files or more does): ``rounds.view.SINCE_STORED``, ``rounds.run.ASKED_BITS`` and
``rollup.reuse.DECIMAL_TEXTS_SHARED`` (branch thirdflat: 汇总's "since the last run" asked of the store, the reports
asked for told by bits, a Decimal's text made once), ``rounds.run.PLACES_PACKED`` and ``rounds.run.NEW_STORED``
(branch firstflat: where each report made now is kept, the files received since counted in the store;
``rounds.run.TEXTS_AS_ASKED``, the inputs' texts handed to the intake as it asks) and
``rounds.run.VERDICTS_KEPT`` (whose memo branch memoflat keeps as bytes). The switches a tree does not have are left as they are (this file runs on main and
on each branch: a switch's comparison is made where its branch is merged). Compared each time: the roll-up's bytes,
the CSVs, ``--json``, the printed lines, the exit code and every table of the ledger (test_revstore's :class:`Both`).
And the memo of verdict contexts as a ledger may hold it (made by the code before, damaged, of another type)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from xltemplate.ledger import Ledger
from xltemplate.rollup import reuse
from xltemplate.rounds import run as run_mod
from xltemplate.rounds import view
from xltemplate.rounds.withdraw import withdraw

from .conftest import SAMPLES
from .tamper import replace_text, rewrite, set_saved_time
from . import test_revstore as revstore
from .test_roundmem import random_inbox
from .test_revstore import NATIONAL, Both, _ledger_dump, bump_target

FORM = "sh-project-self-eval"
#: The switches this pass added or changed, each (owner, name): flipped together, and one at a time.
NEW_SWITCHES = [(view, "SINCE_STORED"), (run_mod, "PLACES_PACKED"), (run_mod, "NEW_STORED"), (run_mod, "VERDICTS_KEPT"),
                (run_mod, "ASKED_BITS"), (reuse, "DECIMAL_TEXTS_SHARED"), (run_mod, "TEXTS_AS_ASKED"),
                (run_mod, "CONTEXTS_PACKED")]


def _present(which: str | None) -> list[tuple[Any, str]]:
    got = [(o, n) for o, n in NEW_SWITCHES if hasattr(o, n) and (which is None or n == which)]
    if not got:
        pytest.skip(f"{which or 'none of the switches'} not in this tree")
    return got


def _without_memos(path: Path) -> list[tuple[str, list[Any]]]:
    return [(t, [r for r in rows if not (t == "meta" and str(r[0]).startswith("memo "))]) for t, rows in _ledger_dump(path)]


class Flip(Both):
    """test_revstore's :class:`Both` with the store on both ways and ``switches`` off, then on."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, switches: list[tuple[Any, str]]) -> None:
        super().__init__(tmp_path, monkeypatch)
        self.switches = switches
        # (meta's memos: kept or not by the switches, each checked before it is taken; the rest compared)
        monkeypatch.setattr(revstore, "_ledger_dump", _without_memos)

        self.threshold = 0  # (MATCH_STORED_FROM: 0, the store whatever the files)

    def flip(self, on: bool) -> None:
        self.mp.setattr(run_mod, "MATCH_STORED", True)
        self.mp.setattr(run_mod, "MATCH_STORED_FROM", self.threshold)
        for owner, name in self.switches:
            self.mp.setattr(owner, name, on)

    def go(self, inputs: list[Path], *extra: str, name: str, exit: int = 0, stored: bool = True
           ) -> dict[bool, dict[str, Any]]:
        self.threshold = 0 if stored else 10**9
        return self.run(inputs, *extra, name=name, before=self.flip, expect=exit == 0 and stored, exit=exit)


def _roster(path: Path, *, budget: dict[str, str] | None = None, drop: tuple[str, ...] = ()) -> Path:
    with open(SAMPLES / "roster.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(rows[0])
        for r in rows[1:]:
            if r[0] not in drop:
                w.writerow([*r[:3], (budget or {}).get(r[0], r[3])])
    return path


@pytest.mark.parametrize("which", [None, "SINCE_STORED", "PLACES_PACKED", "NEW_STORED", "VERDICTS_KEPT", "ASKED_BITS",
                                   "DECIMAL_TEXTS_SHARED", "TEXTS_AS_ASKED", "CONTEXTS_PACKED"])
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_rounds_runs_with_each_new_switch_off_and_on(which: str | None, jobs: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A first run; one with new files, a file replaced, a file gone; a withdrawal; a roster row changed (refused, then
    --roster-changed-ok); a secret added; the same again: each the same with the switches off and on."""
    both = Flip(tmp_path, monkeypatch, _present(which))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    names = sorted(p.name for p in (SAMPLES / "returns").iterdir())
    for n in names[: len(names) // 2]:
        shutil.copy2(SAMPLES / "returns" / n, inbox / n)
    roster = _roster(tmp_path / "roster.csv")
    args = ("--roster", str(roster), "--template", FORM, "--jobs", jobs, "--json")
    both.go([inbox], *args, name="first")
    # new files, one of them a later copy of a unit's; a file replaced in place; a file gone
    for n in names[len(names) // 2:]:
        shutil.copy2(SAMPLES / "returns" / n, inbox / n)
    set_saved_time(SAMPLES / "returns" / "无线电监测站.xlsx", inbox / "无线电监测站 (后).xlsx", dt.datetime(2021, 7, 1, 9))
    rewrite(SAMPLES / "returns" / "需求侧管理中心.xlsx", inbox / "需求侧管理中心.xlsx",
            {"xl/sharedStrings.xml": replace_text("需求侧", "需求側")})
    (inbox / "浦东分中心.xlsx").unlink(missing_ok=True)
    both.go([inbox], *args, name="new, replaced, gone")
    withdraw(both.ledger, "SH007", str(inbox / "无线电监测站 (后).xlsx"), "撤回")
    both.go([inbox], *args, name="withdrawn")
    # a roster row changed: refused without the flag, then taken with it
    changed = _roster(tmp_path / "roster.csv", budget={"SH002": "1,000.00"})
    both.go([inbox], *args, name="roster changed", exit=2)
    both.go([inbox], *args, "--roster-changed-ok", name="roster changed ok")
    key = tmp_path / "bureau.key"
    key.write_bytes(b"0123456789abcdef0123456789abcdef\n")
    key.chmod(0o600)
    both.go([inbox], *args, "--secret-file", str(key), name="secret")
    (inbox / "无线电监测站 (后).xlsx").unlink()
    both.go([inbox], *args, "--secret-file", str(key), name="secret, one gone")
    both.go([inbox], *args, name="no secret")
    both.go([inbox], *args, name="again")
    assert changed.exists()


@pytest.mark.parametrize("which", [None, "SINCE_STORED", "PLACES_PACKED", "NEW_STORED", "ASKED_BITS"])
def test_a_national_round_with_targets_off_and_on(which: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                  ) -> None:
    both = Flip(tmp_path, monkeypatch, _present(which))
    inbox = tmp_path / "inbox"
    returns = sorted((NATIONAL / "returns").glob("*.xlsx"))
    inbox.mkdir()
    for p in returns[: len(returns) // 2]:
        shutil.copy2(p, inbox / p.name)
    targets = tmp_path / "targets.csv"
    shutil.copy2(NATIONAL / "targets.csv", targets)
    args = ("--roster", str(NATIONAL / "roster.csv"), "--targets", str(targets), "--json")
    both.go([inbox], *args, name="national first")
    for p in returns[len(returns) // 2:]:
        shutil.copy2(p, inbox / p.name)
    bump_target(targets)
    sorted(inbox.glob("*.xlsx"))[0].unlink()
    both.go([inbox], *args, name="national more, targets changed, one gone")
    both.go([inbox], *args, name="national again")


def test_a_round_that_crosses_the_threshold_and_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A first run under MATCH_STORED_FROM (the lists), a second over it (the store, its kept sheets made by the
    lists' run), a third under it again, a fourth over it: every new switch off, then on, the same each time."""
    both = Flip(tmp_path, monkeypatch, _present(None))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    names = sorted(p.name for p in (SAMPLES / "returns").iterdir())
    for n in names[:8]:
        shutil.copy2(SAMPLES / "returns" / n, inbox / n)
    args = ("--roster", str(SAMPLES / "roster.csv"), "--template", FORM, "--jobs", "1", "--json")
    both.go([inbox], *args, name="lists first", stored=False)
    for n in names[8:]:
        shutil.copy2(SAMPLES / "returns" / n, inbox / n)
    both.go([inbox], *args, name="store second")
    set_saved_time(SAMPLES / "returns" / "无线电监测站.xlsx", inbox / "无线电监测站 (后).xlsx", dt.datetime(2021, 7, 1, 9))
    both.go([inbox], *args, name="lists third", stored=False)
    (inbox / "无线电监测站 (后).xlsx").unlink()
    both.go([inbox], *args, name="store fourth")


@pytest.mark.parametrize("seed", range(3))
def test_random_runs_of_a_round_off_and_on(seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Four runs, each after random changes to the inbox (files removed, resubmitted with other saved times, copied)
    and the roster (a unit dropped, a budget changed; --roster-changed-ok at random, refused runs then allowed), a
    withdrawal at random: every new switch off, then on, the store both ways, the same each time."""
    import random

    rng = random.Random(seed)
    both = Flip(tmp_path, monkeypatch, _present(None))
    inbox, names, keys = random_inbox(rng, tmp_path, 12)
    taken: bytes | None = None  # the roster the last run took
    for step in range(4):
        if step:
            for n in rng.sample(sorted(p.name for p in inbox.iterdir()), rng.randint(0, 3)):
                (inbox / n).unlink()
            for n in rng.sample(names, rng.randint(1, 4)):
                if n.endswith(".xlsx") and not n.startswith("~$") and rng.random() < 0.7:
                    set_saved_time(SAMPLES / "returns" / n, inbox / f"again {step} {n}",
                                   dt.datetime(2021, 6, step, 9, rng.randint(0, 59)))
                else:
                    shutil.copy2(SAMPLES / "returns" / n, inbox / f"copy {step} {n}")
            if rng.random() < 0.4:
                counted = [p for p in sorted(inbox.glob("*.xlsx")) if not p.name.startswith("~$")]
                if counted:
                    try:
                        withdraw(both.ledger, rng.choice(keys), str(rng.choice(counted)), "随机撤回")
                    except Exception:  # (not that unit's file: refused, as a clerk would be told)
                        pass
        roster = _roster(tmp_path / f"roster{step}.csv", drop=tuple(rng.sample(keys, rng.randint(0, 2))),
                         budget={k: "1,000.00" for k in rng.sample(keys, rng.randint(0, 1))})
        args = ("--roster", str(roster), "--template", FORM, "--jobs", rng.choice(["1", "2"]), "--json")
        ok = rng.random() < 0.5
        changed = taken is not None and roster.read_bytes() != taken  # (refused without the flag)
        both.go([inbox], *args, *(("--roster-changed-ok",) if ok else ()), name=f"r{step}",
                exit=2 if changed and not ok else 0)
        if changed and not ok:
            both.go([inbox], *args, "--roster-changed-ok", name=f"r{step} ok")
        taken = roster.read_bytes()


@pytest.mark.parametrize(("how", "where"), [("SIGKILL", "_collection_stored"), ("SIGTERM", "_collection_stored"),
                                            ("SIGTERM", "_Places"), ("SIGKILL", "_Places")])
def test_a_run_stopped_where_this_pass_holds_its_state(how: str, where: str, tmp_path: Path) -> None:
    """test_revstore's stopped run, stopped where this pass's state is made: after the reading (the memo of verdict
    contexts kept, as a BLOB, and every report stored), as the reading is given the places array (firstflat's
    _Places): nothing left, no roll-up, the run not finished, and the next run decides what a clean run decides."""
    if not hasattr(run_mod, where):
        pytest.skip(f"rounds.run.{where} not in this tree")
    revstore.test_a_run_stopped_while_its_store_is_open_leaves_nothing(how, where, tmp_path)


# -- the memo of verdict contexts as a ledger may hold it -------------------------------------------------------------

def _memo_row(db: Path) -> Any:
    conn = sqlite3.connect(db)
    try:
        got = conn.execute("SELECT value, typeof(value) FROM meta WHERE key = 'memo verdict contexts'").fetchone()
        return got
    finally:
        conn.close()


def _set_memo(db: Path, value: Any) -> None:
    conn = sqlite3.connect(db)
    try:
        with conn:
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('memo verdict contexts', ?)", (value,))
    finally:
        conn.close()


def _read(output: str) -> int:
    """The files the run read (validated), from ``--json``'s ledger part (the one with ``read_why``)."""
    def walk(v: Any) -> int | None:
        if isinstance(v, dict):
            if "read_why" in v:
                return int(v["read"])
            for w in v.values():
                got = walk(w)
                if got is not None:
                    return got
        return None
    got = walk(json.loads(output))
    assert got is not None, output
    return got


def _damages(kept: Any) -> list[tuple[str, Any]]:
    """Ways a memo may be found: cut short, one bit of a row or of the digest flipped, two rows swapped (each in the
    memo's own type: a BLOB, or text as the code before keeps it), in the other type (the bytes' hex or Latin-1 as text;
    text's characters as bytes), a number, empty."""
    text = isinstance(kept, str)
    raw = kept.encode("latin-1") if text else bytes(kept)
    same = (lambda b: b.decode("latin-1")) if text else bytes  # (in the memo's own type)
    out: list[tuple[str, Any]] = [("cut", same(raw[:-1])), ("cut a row", same(raw[:-32])), ("longer", same(raw + bytes(32))),
                                  ("digest bit", same(bytes([raw[0] ^ 1]) + raw[1:])),
                                  ("row bit", same(raw[:70] + bytes([raw[70] ^ 0x80]) + raw[71:])),
                                  ("as hex text", raw[:65].decode("ascii") + raw[65:].hex()),
                                  ("as latin-1 text", raw.decode("latin-1")), ("as bytes", raw), ("number", 12345),
                                  ("empty", b""), ("empty text", "")]
    if len(raw) >= 65 + 64:
        out.append(("rows swapped", same(raw[:65] + raw[97:129] + raw[65:97] + raw[129:])))
    return out


def test_a_memo_of_verdict_contexts_however_found_never_reuses_what_the_switch_off_judges_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a first run, the memo replaced by each of :func:`_damages`, and a second run made over the same roster, then
    one over a roster whose row of one unit changed (its file must be judged again): each outcome (roll-up, CSVs,
    ledger) the same as with VERDICTS_KEPT off, whatever the memo; the memo after them a BLOB."""
    if hasattr(run_mod, "CONTEXTS_PACKED"):  # (firstflat's memo in parts: its own test below; here the one row)
        monkeypatch.setattr(run_mod, "CONTEXTS_PACKED", False)
    (tmp_path / "probe").mkdir()
    first = Flip(tmp_path / "probe", monkeypatch, [(run_mod, "VERDICTS_KEPT")])
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES / "returns", inbox)
    roster = _roster(tmp_path / "roster.csv")
    args = ("--roster", str(roster), "--template", FORM, "--json", "--jobs", "1")
    first.run([inbox], *args, name="first", ways=(True,), before=first.flip, expect=True)
    kept = _memo_row(first.ledger)
    assert kept is not None
    base = tmp_path / "probe" / "kept"
    shutil.copytree(first.work, base)
    _roster(tmp_path / "roster2.csv", budget={"SH002": "1,000.00"})
    for n, (how, value) in enumerate(_damages(kept[0])):
        where = tmp_path / f"d{n}"
        where.mkdir()
        both = Flip(where, monkeypatch, [(run_mod, "VERDICTS_KEPT")])
        for step, roster_args in (("same roster", ()), ("a row changed", ("--roster", str(tmp_path / "roster2.csv"),
                                                                          "--roster-changed-ok"))):
            runs: dict[bool, dict[str, Any]] = {}
            for on in (False, True):
                shutil.rmtree(both.work)
                shutil.copytree(base, both.work)
                both.clock.tick = first.clock.tick
                _set_memo(both.ledger, value)
                more = args if not roster_args else (*args[2:], *roster_args)
                runs[on] = both.run([inbox], *more, name=f"{how}, {step}", ways=(on,), before=both.flip, expect=True)[on]
            off, on_ = runs[False], runs[True]
            assert on_["exit"] == off["exit"] == 0, (how, step)
            # what the run shows is the same; the damaged memo may make a file be read again, never one fewer
            assert on_["files"] == off["files"], (how, step)
            read_off, read_on = _read(off["output"]), _read(on_["output"])
            assert read_on >= read_off, (how, step, read_on, read_off)
            if how == "row bit" and step == "same roster":  # (taken: the first row's file read again, its context not the stored)
                assert read_on > read_off
            after = _memo_row(both.ledger)
            assert after is not None and (after[1] == "blob" or not hasattr(Ledger, "memo_bytes")), (how, after)


# -- firstflat's memo of verdict contexts in parts (rounds.run.CONTEXTS_PACKED) ----------------------------------------

def _meta(db: Path) -> dict[str, Any]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT key, value FROM meta WHERE key LIKE 'memo verdict contexts%'"))
    finally:
        conn.close()


def _parts_damaged(memo: dict[str, Any], head: str) -> list[tuple[str, dict[str, Any]]]:
    """The memo in parts as a ledger may hold it (``head`` its head's key; its parts ``head/0`` ...): a part gone, one
    more part, the head's count one more, a part a row short or a row long, a part in capitals, a digit of a part
    changed, a part or the head as a BLOB, the parts without the head."""
    part = f"{head}/1"
    digit = memo[part][:3] + ("0" if memo[part][3] != "0" else "1") + memo[part][4:]
    return [("a part gone", {f"{head}/2": None}), ("a part more", {f"{head}/{len(memo) - 1}": memo[part]}),
            ("count one more", {head: memo[head][:-len(memo[head].split()[-1])] + str(int(memo[head].split()[-1]) + 1)}),
            ("a row short", {part: memo[part][:-64]}), ("a row long", {part: memo[part] + memo[part][:64]}),
            ("capitals", {part: memo[part].upper()}), ("a digit changed", {part: digit}),
            ("a part as bytes", {part: memo[part].encode("ascii")}), ("the head as bytes", {head: memo[head].encode()}),
            ("no head", {head: None})]


def test_a_memo_in_parts_however_found_never_reuses_what_the_switch_off_judges_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CONTEXTS_PACKED's memo (4 rows a part here: the samples' 20 rows in 5 parts), after a first run, found as each of
    :func:`_parts_damaged`: the next run the same as with VERDICTS_KEPT off (roll-up, CSVs), never fewer files read;
    and after it the memo whole again (its head and every part of the right length) — save a digit changed, which is
    taken as any other context (it only makes its row's file be read again), and a part past the count (never read)."""
    if not hasattr(run_mod, "CONTEXTS_PACKED"):
        pytest.skip("rounds.run.CONTEXTS_PACKED (firstflat) not in this tree")
    monkeypatch.setattr(run_mod, "CONTEXTS_PACKED", True)
    monkeypatch.setattr(run_mod, "CONTEXTS_A_PART", 4)
    head = f"memo {run_mod._CONTEXTS}"
    (tmp_path / "probe").mkdir()
    first = Flip(tmp_path / "probe", monkeypatch, [(run_mod, "VERDICTS_KEPT")])
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES / "returns", inbox)
    args = ("--roster", str(_roster(tmp_path / "roster.csv")), "--template", FORM, "--json", "--jobs", "1")
    first.run([inbox], *args, name="first", ways=(True,), before=first.flip, expect=True)
    memo = _meta(first.ledger)
    assert head in memo and len([k for k in memo if k.startswith(f"{head}/")]) == 5, sorted(memo)
    base = tmp_path / "probe" / "kept"
    shutil.copytree(first.work, base)
    for n, (how, change) in enumerate(_parts_damaged(memo, head)):
        where = tmp_path / f"d{n}"
        where.mkdir()
        both = Flip(where, monkeypatch, [(run_mod, "VERDICTS_KEPT")])
        runs: dict[bool, dict[str, Any]] = {}
        for on in (False, True):
            shutil.rmtree(both.work)
            shutil.copytree(base, both.work)
            both.clock.tick = first.clock.tick
            conn = sqlite3.connect(both.ledger)
            with conn:
                for key, value in change.items():
                    if value is None:
                        conn.execute("DELETE FROM meta WHERE key = ?", (key,))
                    else:
                        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))
            conn.close()
            runs[on] = both.run([inbox], *args, name=how, ways=(on,), before=both.flip, expect=True)[on]
        assert runs[True]["files"] == runs[False]["files"], how
        assert _read(runs[True]["output"]) >= _read(runs[False]["output"]), how
        after = _meta(both.ledger)
        if how not in ("a digit changed", "a part more"):  # (taken as they are: a part past the count is never read)
            assert after == memo, (how, sorted(after))  # (made again, whole: nothing of the damaged one left)


def test_a_text_memo_of_the_code_before_is_not_left_beside_the_parts(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A ledger whose runs kept the contexts as the code before does (``memo verdict contexts``: 64 hex digits a row,
    6.4 MB at 100,000 units), then a run with CONTEXTS_PACKED: one memo of the contexts is left in meta, the parts — the
    old text is never read again by this code, and every Ledger.open reads every meta row."""
    if not hasattr(run_mod, "CONTEXTS_PACKED"):
        pytest.skip("rounds.run.CONTEXTS_PACKED (firstflat) not in this tree")
    both = Flip(tmp_path, monkeypatch, [(run_mod, "CONTEXTS_PACKED")])
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES / "returns", inbox)
    args = ("--roster", str(SAMPLES / "roster.csv"), "--template", FORM, "--jobs", "1")
    both.run([inbox], *args, name="before", ways=(False,), before=both.flip, expect=True)
    assert "memo verdict contexts" in _meta(both.ledger)  # (the code before's layout)
    shutil.copy2(SAMPLES / "returns" / "浦东分中心.xlsx", inbox / "浦东分中心 (2).xlsx")
    both.run([inbox], *args, name="parts", ways=(True,), before=both.flip, expect=True)
    kept = _meta(both.ledger)
    assert f"memo {run_mod._CONTEXTS}" in kept
    assert "memo verdict contexts" not in kept, sorted(kept)
