"""A round's run takes the digests its kept sheets' keys are made of from the last run whose inputs were its own
(rounds.run.DIGESTS_RECALLED, issue 15, seventeenth pass), and only then.

A round is walked through every change that must make the digests again: a file changed in place keeping its size and
modification time, a file replaced by another of the same name, a roster row changed, the roster's rows in another
order, a file gone, a withdrawal and its undoing, a new file, another validator version, the keyring changed, the
clock moved forward past a report's ``valid_until`` and back, a run by code that keeps no memo (the switch off) in
between. Each run is made twice from one ledger state and clock, the switch off then on: the roll-up's bytes, the
CSVs, ``--json``, the clerk's lines, 提交记录, since, the decisions and the kept parts must be the same. With the
switch on, every recalled digest is checked against the one made from the run's rows (the check makes it too), and
the test asserts where digests were recalled: after every run over unchanged inputs, and never right after a change.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest

from xltemplate.ledger import Ledger, store
from xltemplate.rollup import reuse
from xltemplate.roster import read_roster
from xltemplate.rounds import collect_round
from xltemplate.rounds import run as run_mod
from xltemplate.rounds.withdraw import reinstate, withdraw
from xltemplate.sign import Keyring

from .conftest import SAMPLES
from .tamper import set_saved_time
from .test_roundmem import FORM, _Clock, _roster, _same, each_way, shown

DAY = dt.date(2026, 5, 1)


class _Checked:
    """Parts.digest, each recalled digest checked against the one made (and counted)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.recalled: list[str] = []
        self.made: list[str] = []
        real = reuse.Parts.digest
        checked = self

        def digest(parts: reuse.Parts, name: str, make: Callable[[], str | None]) -> str | None:
            if name in parts.known:
                fresh = make()
                assert parts.known[name] == fresh, (name, "recalled digest is not the one made")
                checked.recalled.append(name)
            else:
                checked.made.append(name)
            return real(parts, name, make)

        monkeypatch.setattr(reuse.Parts, "digest", digest)

    def clear(self) -> None:
        self.recalled.clear()
        self.made.clear()


def _reordered(src: Path, dst: Path) -> Path:
    """The roster ``src`` with its rows in reverse order (the same rows)."""
    with open(src, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    with open(dst, "w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows([rows[0], *reversed(rows[1:])])
    return dst


def _in_place(path: Path) -> None:
    """Change ``path``'s bytes in place (a byte inside the zip's first entry), keeping its size and modification
    time."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    at = len(data) // 3
    data[at] ^= 0x5A
    with open(path, "r+b") as fh:
        fh.write(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns


@pytest.mark.parametrize("stored_from", [0, 20_000])  # (matched in the run's store, as from 20,000 files; or in lists)
def test_digests_are_recalled_only_over_the_same_inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        stored_from: int) -> None:
    monkeypatch.setattr(run_mod, "MATCH_STORED_FROM", stored_from)
    clock = _Clock()
    monkeypatch.setattr(store, "_now", clock)
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES / "returns", inbox)
    for junk in inbox.glob("~$*"):
        junk.unlink()
    roster_csv = _roster(tmp_path / "roster.csv")
    names = sorted(p.name for p in inbox.glob("*.xlsx"))
    ledger = tmp_path / "round" / "r.xlt.db"
    state: dict[str, Any] = {"roster": roster_csv, "keyring": None, "today": DAY, "validator": run_mod.VALIDATOR_VERSION,
                             "off_only": False}
    checked = _Checked(monkeypatch)

    def later(src: str) -> None:  # a new return saved "in the future": its report holds until a day (valid_until)
        set_saved_time(inbox / src, inbox / f"新-{src}", dt.datetime(2026, 5, 20, 9, 0))

    def setter(key: str, value: Any) -> Callable[[], None]:
        return lambda: state.__setitem__(key, value)

    def counted() -> tuple[str, str]:  # (a unit's key and its counted file's sha256, as the last run decided)
        with Ledger.open(ledger, readonly=True) as led:
            run = led.last_finished_run()
            assert run is not None
            d = sorted(led.decisions(run), key=lambda d: d.unit_key)[0]
        return d.unit_key, d.sha256

    def withdrawn() -> None:
        key, sha = state["withdrawn"] = counted()
        withdraw(ledger, key, sha[:12], "重复")

    def reinstated() -> None:
        key, sha = state["withdrawn"]
        reinstate(ledger, key, sha[:12], "误撤")

    # (name, change, whether digests may be recalled: nothing the run reads changed since the last run)
    steps: list[tuple[str, Callable[[], None], bool]] = [
        ("first", lambda: None, False),
        ("again", lambda: None, True),
        ("in place", lambda: _in_place(inbox / names[1]), False),
        ("again 2", lambda: None, True),
        ("replaced", lambda: shutil.copyfile(SAMPLES / "returns" / names[3], inbox / names[2]), False),
        ("again 3", lambda: None, True),
        ("roster row", lambda: state.__setitem__("roster", _roster(tmp_path / "roster2.csv", budget={"SH003": "1,000.00"})),
         False),
        ("again 4", lambda: None, True),
        ("roster order", lambda: state.__setitem__("roster", _reordered(state["roster"], tmp_path / "roster3.csv")), False),
        ("again 5", lambda: None, True),
        ("copied", lambda: shutil.copy2(inbox / names[7], inbox / "0副本.xlsx"), False),  # (the same bytes twice)
        ("again 5b", lambda: None, True),
        ("renamed", lambda: (inbox / "0副本.xlsx").rename(inbox / "1改名.xlsx"), False),
        ("again 5c", lambda: None, True),
        ("gone", lambda: (inbox / names[4]).unlink(), False),
        ("again 6", lambda: None, True),
        ("withdrawn", withdrawn, False),
        ("again 7", lambda: None, True),
        ("reinstated", reinstated, False),
        ("again 8", lambda: None, True),
        ("new file", lambda: later(names[5]), False),
        ("again 9", lambda: None, True),
        ("validator", setter("validator", run_mod.VALIDATOR_VERSION + "+test"), False),
        ("again 10", lambda: None, True),
        ("keyring", setter("keyring", Keyring("k", (b"0123456789abcdef0123",))), False),
        ("again 11", lambda: None, True),
        ("clock forward", setter("today", dt.date(2026, 6, 1)), False),
        ("again 12", lambda: None, True),
        ("clock back", setter("today", DAY), False),
        ("again 13", lambda: None, True),
        ("no memo kept", setter("off_only", True), False),  # (a run of code without the switch: nothing kept)
        ("after old, same", setter("off_only", False), True),  # (the inputs of the memo's run: the old run changed none)
        ("file by old code", lambda: (state.__setitem__("off_only", True), (inbox / names[6]).unlink()), False),
        ("after old code", setter("off_only", False), False),  # (the memo is of inputs before the old code's run)
        ("again 14", lambda: None, True),
    ]
    recalled: dict[str, list[str]] = {}
    for step, change, same in steps:
        change()
        monkeypatch.setattr(run_mod, "VALIDATOR_VERSION", state["validator"])
        got: dict[bool, dict[str, Any]] = {}
        for on in each_way(tmp_path, clock):
            monkeypatch.setattr(run_mod, "DIGESTS_RECALLED", on and not state["off_only"])
            checked.clear()
            out, export = tmp_path / f"{step}-{on}.xlsx", tmp_path / f"{step}-{on}-csv"
            done = collect_round([inbox], FORM, ledger=ledger, output=out, export_dir=export,
                                 roster=read_roster(state["roster"], FORM), keyring=state["keyring"],
                                 today=state["today"], roster_changed_ok=True, jobs=1)
            got[on] = shown(done, out, export)
            with Ledger.open(ledger, readonly=True) as led:
                run = led.last_finished_run()
                assert run is not None
                got[on]["decisions"] = led.decisions(run)
                got[on]["parts"] = {name: (p[0], p[1], bytes(p[2])) for name, p in led.parts().items()}
                got[on]["reused"] = sorted(done.collection.round.parts.reused)
            if on:
                recalled[step] = list(checked.recalled)
            else:
                assert checked.recalled == [], step  # (off: every digest made)
            done.collection.close()
            shutil.rmtree(export)
        _same(got, step)
        if same:
            # every digest recalled, none made: 文件清单's and 提交记录's facts, the rows' key, 问题清单's returns, 汇总's
            assert {"文件清单 facts", "提交记录 facts True", "rows packed", "returns", "counted"} <= set(recalled[step]), (
                step, recalled[step])
            assert not checked.made, (step, checked.made)
            assert {"指标得分", "文件清单", "提交记录"} <= set(got[True]["reused"]), (step, got[True]["reused"])
        else:
            assert recalled[step] == [], (step, recalled[step])
