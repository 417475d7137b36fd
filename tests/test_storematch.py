"""A round's returns kept and matched in a store of the run's own (``rounds.run.MATCH_STORED``, issue 15, thirteenth
pass): the same roll-up, CSVs, lines, 提交记录, "since" values, counts and decisions as the lists, here with what
test_roundmem's runs do not have: a file this run could not check (a time-out: not matched, 未校验), an input the
intake could not read (validated from where it is, its report held), a counted file gone from the inbox beside one
withdrawn, byte-identical copies, and a round without a roster. test_roundmem flips the switch with the others."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest

from xltemplate import batch
from xltemplate.findings import finding
from xltemplate.ledger import Ledger, archive, store
from xltemplate.report import FileReport
from xltemplate.roster import read_roster
from xltemplate.rounds import collect_round
from xltemplate.rounds import run as run_mod
from xltemplate.rounds import view

from .conftest import SAMPLES
from .test_roundmem import FORM, _Clock, _roster, each_way, shown

SLOW = "无线电监测站.xlsx"  # its validation times out in the first run (not checked: read again the next)
LOCKED = "需求侧管理中心.xlsx"  # the intake cannot read it in the first run (validated from the inbox, not archived)


def _both_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: _Clock, inbox: Path, roster_csv: Path | None,
               name: str) -> dict[bool, dict[str, Any]]:
    """One run made from one ledger state and clock with MATCH_STORED off, then on."""
    work = tmp_path / "round"
    got: dict[bool, dict[str, Any]] = {}
    for on in each_way(tmp_path, clock):
        monkeypatch.setattr(run_mod, "MATCH_STORED", on)
        monkeypatch.setattr(run_mod, "MATCH_STORED_FROM", 0)
        out, export = tmp_path / f"{name}-{on}.xlsx", tmp_path / f"{name}-{on}-csv"
        roster = read_roster(roster_csv, FORM) if roster_csv is not None else None
        done = collect_round([inbox], FORM, ledger=work / "r.xlt.db", roster=roster, output=out, export_dir=export,
                             roster_changed_ok=True)  # (validated in this process: the time-out is this process's)
        c = done.collection
        assert isinstance(c.returns, view.RoundReturns) is on  # (the store's path was taken, or not)
        got[on] = {
            **shown(done, out, export),
            "rows": [(row.key, row.status, row.counted.path if row.counted else None, [o.path for o in row.others],
                      row.rule, row.candidates) for row in c.rows],
            "returns": [(r.path, r.fate, r.note, r.archived, [f.code for f in r.findings]) for r in c.returns],
        }
        c.close()
        got[on]["closed"] = (c.counts(), done.lines())  # (what the CLI prints once the collection is closed)
        with Ledger.open(work / "r.xlt.db", readonly=True) as led:
            last = led.last_finished_run()
            assert last is not None
            got[on]["decisions"] = led.decisions(last)
    for what in got[False]:
        assert got[True][what] == got[False][what], (name, what)
    return got


@pytest.mark.parametrize("with_roster", [True, False], ids=["roster", "no-roster"])
def test_not_checked_unread_gone_withdrawn_and_copies_are_the_same_both_ways(
        with_roster: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _Clock()
    monkeypatch.setattr(store, "_now", clock)
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES / "returns", inbox)
    roster = _roster(tmp_path / "roster.csv") if with_roster else None
    slow = hashlib.sha256((inbox / SLOW).read_bytes()).hexdigest()
    real_validate, real_read = batch.validate.validate_path, archive.Archive._read

    def timing_out(path: Any, run: Any, **kw: Any) -> FileReport:
        if Path(path).name.startswith(slow):  # (the archive copy of SLOW)
            return FileReport.unreadable(str(path), finding("file-timeout", what="处理此文件超过 10 秒，已停止"))
        return real_validate(path, run, **kw)

    def locked(self: Any, path: str) -> Any:
        if Path(path).name == LOCKED:
            raise PermissionError(13, "Permission denied", path)
        return real_read(self, path)

    monkeypatch.setattr(batch.validate, "validate_path", timing_out)
    monkeypatch.setattr(archive.Archive, "_read", locked)
    first = _both_ways(tmp_path, monkeypatch, clock, inbox, roster, "first")
    fates = {Path(p).name: fate for p, fate, _n, _a, _f in first[True]["returns"]}
    assert fates[SLOW] == "未校验" and LOCKED in fates and first[True]["counts"].not_checked >= 1
    monkeypatch.setattr(batch.validate, "validate_path", real_validate)
    monkeypatch.setattr(archive.Archive, "_read", real_read)

    # a counted file gone from the inbox, one withdrawn, a byte-identical copy of a third, the slow file read again
    gone = hashlib.sha256((inbox / "浦东分中心.xlsx").read_bytes()).hexdigest()
    (inbox / "浦东分中心.xlsx").unlink()
    shutil.copy2(inbox / "软件评测中心 自评.xlsx", inbox / "软件评测中心 自评 副本.xlsx")
    with Ledger.open(tmp_path / "round" / "r.xlt.db") as led:
        last = led.last_finished_run()
        assert last is not None
        decided = [d for d in led.decisions(last) if d.sha256 != gone]
        assert any(d.sha256 == gone for d in led.decisions(last))  # (the file gone counted: from the archive now)
        led.withdraw(decided[0].unit_key, decided[0].sha256, "测试撤回")
    second = _both_ways(tmp_path, monkeypatch, clock, inbox, roster, "second")
    assert any(archived for _p, _f, _n, archived, _c in second[True]["returns"])  # (counted from the archive)
    assert any("已撤回" in (note or "") for _p, _f, note, _a, _c in second[True]["returns"])
    assert any(f == "重复" for _p, f, _n, _a, _c in second[True]["returns"])
    assert any("已不在收件文件夹" in line for line in second[True]["lines"])
    # the gone file back as a copy under another name, the withdrawal left: a run again
    shutil.copy2(SAMPLES / "returns" / "浦东分中心.xlsx", inbox / "浦东分中心 (2).xlsx")
    _both_ways(tmp_path, monkeypatch, clock, inbox, roster, "third")


@pytest.mark.parametrize("units", [0, 1, 300])
def test_a_roster_stored_in_pieces_is_its_text(units: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ledger.store.ROSTER_IN_PIECES: the stored value's bytes are the roster's text in UTF-8 (CJK, astral, quotes and
    backslashes in it), and the roster read back is the one stored, both ways."""
    import random
    import sqlite3

    from xltemplate.ledger import RosterSnapshot, RosterUnit, RunInfo
    from xltemplate.validate import VALIDATOR_VERSION

    rng = random.Random(units)
    chars = "ABC中文é𝔘 \"\\,:{}[]\n"

    def text() -> str:
        return "".join(rng.choice(chars) for _ in range(rng.randint(0, 9)))

    snap = RosterSnapshot(tuple(RosterUnit(f"K{i}{text()}", {text(): text()}, {text(): text()}, text(), text())
                                for i in range(units)))
    for on in (False, True):
        monkeypatch.setattr(store, "ROSTER_IN_PIECES", on)
        db = tmp_path / f"{on}.xlt.db"
        with Ledger.open(db, create=True) as led:
            run = led.begin_run(RunInfo(VALIDATOR_VERSION, "spec", FORM, "1", roster=snap))
            assert led.roster(run) == snap
        stored, kind = sqlite3.connect(db).execute("SELECT rows, typeof(rows) FROM rosters").fetchone()
        assert kind == ("blob" if on else "text")
        assert (stored if on else stored.encode("utf-8")) == snap.text().encode("utf-8")


def test_the_files_to_validate_packed_are_the_list() -> None:
    """rounds.run.TODO_PACKED: each (sha256, archive name) given back as given: the archive's usual names, other
    suffixes (none, upper case kept as named), and names or sha256 of another form (kept whole)."""
    sha = hashlib.sha256(b"x").hexdigest()
    items = [(sha, f"{sha[:2]}/{sha}.xlsx"), (sha, f"{sha[:2]}/{sha}"), (sha, f"{sha[:2]}/{sha}.XLSX"),
             (sha, f"zz/{sha}.xlsx"), (sha.upper(), f"{sha[:2]}/{sha.upper()}.xlsx"), ("not hex", "ab/not hex.xlsx"),
             (sha[:10], f"{sha[:2]}/{sha[:10]}.xlsx"), (hashlib.sha256(b"y").hexdigest(), "")]
    todo = run_mod._ToDo()
    for item in items:
        todo.append(item)
    assert len(todo) == len(items) and list(todo) == items and todo[-1] == items[-1] and todo[2:4] == items[2:4]
    with pytest.raises(IndexError):
        todo[len(items)]
