"""Review of the seventeenth pass's second-run skip (samerun), adversarially: a run over an inbox that changed in any
way must decide as a run that decides everything anew, byte for byte.

A round is walked through every change a run's decisions depend on, each step made twice from one ledger state and
one clock: every switch of tests/test_roundmem.SWITCHES off (the full path), then on (the skip, where samerun's
switch joins that list); the roll-up's bytes, the CSVs, ``--json``, the clerk's lines, 提交记录's rows, the "since"
values, the decisions recorded and the roster must be the same. The changes: nothing (twice: a skip taken after a
skip), a file changed in place keeping its size and its modification time (os.utime), a file replaced by a same-named
other file of the same size and time, a roster row changed, the roster's rows in another order, a file gone, a
withdrawal and its undoing, a new file, another template version, a keyring added, changed and removed, the day moved
past a date in the future and back, the CSV export asked for or not. Both with the intake's stat-skip margin as it is
(every file here is younger than it: read again) and at nothing (each file proven unchanged by its stat alone, as a
real round's are).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any, Callable

import pytest

from xltemplate.ledger import Ledger, archive, store
from xltemplate.roster import read_roster
from xltemplate.rounds import collect_round
from xltemplate.rounds.withdraw import reinstate, withdraw
from xltemplate.sign import Keyring

from . import test_roundmem as rm
from .round_helpers import TEMPLATE, Round, write_roster


def _same_size(a: Path, b: Path) -> None:
    """Pad the smaller of two zips with a zip comment so both have the same size."""
    sa, sb = a.stat().st_size, b.stat().st_size
    small, by = (a, sb - sa) if sa < sb else (b, sa - sb)
    if by:
        with zipfile.ZipFile(small, "a") as z:
            z.comment = b"x" * by
    assert a.stat().st_size == b.stat().st_size


def _both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: rm._Clock, inbox: Path, roster_csv: Path | None,
          name: str, **kw: Any) -> dict[bool, dict[str, Any]]:
    """One run of the round (ledger in ``tmp_path / "round"``) from the same ledger state and clock, every switch off,
    then on: what it shows, the decisions recorded, the roster kept, and how many files it read."""
    work = tmp_path / "round"
    got: dict[bool, dict[str, Any]] = {}
    for on in rm.each_way(tmp_path, clock):
        _switches(monkeypatch, on)
        out, export = tmp_path / f"{name}-{on}.xlsx", tmp_path / f"{name}-{on}-csv"
        export.mkdir(exist_ok=True)
        roster = read_roster(roster_csv, kw.get("spec", TEMPLATE)) if roster_csv is not None else None
        done = collect_round([inbox], kw.get("spec", TEMPLATE),
                             ledger=work / "r.xlt.db", roster=roster, output=out,
                             export_dir=export if kw.get("export", True) else None, jobs=1,
                             roster_changed_ok=kw.get("ok", False), today=kw.get("today"), keyring=kw.get("keyring"))
        try:
            got[on] = {**rm.shown(done, out, export), "read": dict(done.read), "reused": done.reused}
        finally:
            done.collection.close()
        with Ledger.open(work / "r.xlt.db", readonly=True) as led:
            last = led.last_finished_run()
            assert last is not None
            got[on]["decisions"] = led.decisions(last)
            got[on]["roster"] = led.roster(last)
        got[on]["tables"] = tables(work / "r.xlt.db")
    return got


#: What the ledger records that a later run, ``status``, ``back`` or ``withdraw`` reads (its memos and kept parts are
#: the switches' own business: left out), every column but when a hashing began (this machine's clock).
RECORDED = {"runs": "*", "files": "*", "sightings": "*", "unread": "*", "reports": "*", "decisions": "*",
            "withdrawals": "*", "rosters": "*", "stats": "path, node, size, mtime_ns, ctime_ns, sha256"}


def tables(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The ledger's recorded facts (:data:`RECORDED`), each table's rows sorted."""
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        # (a roster's rows are stored as text or as its UTF-8 bytes, ledger.store.ROSTER_IN_PIECES: both read alike)
        return {t: sorted((tuple(v.decode("utf-8") if isinstance(v, bytes) else v for v in row)
                           for row in conn.execute(f"SELECT {cols} FROM {t}")), key=repr) for t, cols in RECORDED.items()}
    finally:
        conn.close()


#: This pass's switches of a round (guarded: the branch that adds one may not be merged), each set with the others.
PASS_SWITCHES = [("xltemplate.rounds.run", "DIGESTS_RECALLED")]


def _switches(monkeypatch: pytest.MonkeyPatch, on: bool) -> None:
    import importlib

    rm._switches(monkeypatch, on)
    for module, name in PASS_SWITCHES:
        owner = importlib.import_module(module)
        if hasattr(owner, name) and (owner, name) not in rm.SWITCHES:
            monkeypatch.setattr(owner, name, on)


def _same(got: dict[bool, dict[str, Any]], step: str) -> None:
    off, on = got[False], got[True]
    assert off.keys() == on.keys(), step
    for what in off:
        assert on[what] == off[what], (step, what)


@pytest.mark.parametrize("margin", [None, 0])
def test_every_change_a_runs_decisions_depend_on_defeats_the_skip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  margin: int | None) -> None:
    clock = rm._Clock()
    monkeypatch.setattr(store, "_now", clock)
    if margin is not None:
        monkeypatch.setattr(archive, "STAT_MARGIN_NS", margin)
    r = Round(tmp_path, write_roster(tmp_path / "名单.csv"))
    r.day = 1
    r.put("SH001.xlsx", "SH001", saved=dt.datetime(2021, 5, 1, 9), eval_date=dt.date(2021, 5, 20))
    r.put("SH002-draft.xlsx", "SH002", saved=dt.datetime(2021, 5, 1, 8), loss=3)
    r.put("SH002.xlsx", "SH002", saved=dt.datetime(2021, 5, 1, 10))
    r.put("SH003.xlsx", "SH003", saved=dt.datetime(2021, 5, 1, 11), loss=2)
    r.put("SH004.xlsx", "SH004", saved=None)
    r.put("SH005.xlsx", "SH005", saved=dt.datetime(2021, 5, 1, 12), invalid=True)
    inbox = tmp_path / "inbox"
    # two files of SH003 with other figures and the same size: one to change SH003.xlsx in place, one to replace it
    r.day = 2
    other = r.put("other/SH003.xlsx", "SH003", saved=dt.datetime(2021, 5, 1, 11), loss=5)
    third = r.put("third/SH003.xlsx", "SH003", saved=dt.datetime(2021, 5, 1, 11), loss=7)
    for extra in (other, third):
        p = inbox / extra.name
        shutil.move(p, tmp_path / ("in-place.xlsx" if extra is other else "replacement.xlsx"))
    r.entries.remove(other), r.entries.remove(third)
    shutil.rmtree(inbox / "other"), shutil.rmtree(inbox / "third")
    _same_size(inbox / "SH003.xlsx", tmp_path / "in-place.xlsx")
    _same_size(inbox / "SH003.xlsx", tmp_path / "replacement.xlsx")
    _same_size(tmp_path / "in-place.xlsx", tmp_path / "replacement.xlsx")
    roster = tmp_path / "名单.csv"
    day = dt.date(2021, 5, 10)
    ledger = tmp_path / "round" / "r.xlt.db"
    key = tmp_path / "bureau.key"
    key.write_bytes(b"0123456789abcdef0123456789abcdef\n")
    key.chmod(0o600)
    ring = Keyring(str(key), (b"0123456789abcdef0123456789abcdef",))
    ring2 = Keyring(str(key), (b"0123456789abcdef0123456789abcdef", b"fedcba9876543210fedcba9876543210"))

    def in_place() -> None:
        target = inbox / "SH003.xlsx"
        st = target.stat()
        with open(target, "r+b") as fh:  # the same inode, the same size, the same modification time
            fh.write((tmp_path / "in-place.xlsx").read_bytes())
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert target.stat().st_size == st.st_size and target.stat().st_mtime_ns == st.st_mtime_ns

    def replaced() -> None:
        target = inbox / "SH003.xlsx"
        st = target.stat()
        shutil.copy(tmp_path / "replacement.xlsx", tmp_path / "swap.xlsx")
        os.utime(tmp_path / "swap.xlsx", ns=(st.st_atime_ns, st.st_mtime_ns))
        os.replace(tmp_path / "swap.xlsx", target)

    def reordered() -> None:
        lines = roster.read_text(encoding="utf-8-sig").splitlines()
        (tmp_path / "名单-reordered.csv").write_text("\n".join([lines[0]] + lines[1:][::-1]) + "\n", encoding="utf-8-sig")

    other_version = tmp_path / "my.yaml"
    import yaml

    from xltemplate.catalog import templates_dir

    spec = yaml.safe_load((templates_dir() / f"{TEMPLATE}.yaml").read_text(encoding="utf-8"))
    spec["version"] = "2020.2"
    other_version.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    steps: list[tuple[str, Callable[[], object], dict[str, Any]]] = [
        ("first", lambda: None, {}),
        ("again", lambda: None, {}),
        ("again after a skip", lambda: None, {}),
        ("changed in place, same size and time", in_place, {}),
        ("again", lambda: None, {}),
        ("replaced by a same-named file, same size and time", replaced, {}),
        ("again", lambda: None, {}),
        ("a roster row changed", lambda: write_roster(roster, budget={"SH002": "1,000.00"}), {"ok": True}),
        ("again", lambda: None, {}),
        ("the roster's rows in another order", reordered, {"roster": tmp_path / "名单-reordered.csv"}),
        ("again", lambda: None, {"roster": tmp_path / "名单-reordered.csv"}),
        ("a file gone", lambda: (inbox / "SH002.xlsx").unlink(), {}),
        ("again", lambda: None, {}),
        ("a withdrawal", lambda: withdraw(ledger, "SH002", "SH002.xlsx", "错交"), {}),
        ("again", lambda: None, {}),
        ("its undoing", lambda: reinstate(ledger, "SH002", "SH002.xlsx", "弄错了"), {}),
        ("again", lambda: None, {}),
        ("a new file", lambda: (setattr(r, "day", 3), r.put("SH006.xlsx", "SH006", saved=None)), {}),
        ("again", lambda: None, {}),
        ("another template version", lambda: None, {"spec": other_version}),
        ("again", lambda: None, {"spec": other_version}),
        ("back to the built-in", lambda: None, {}),
        ("a keyring", lambda: None, {"keyring": ring}),
        ("again", lambda: None, {"keyring": ring}),
        ("another keyring", lambda: None, {"keyring": ring2}),
        ("no keyring", lambda: None, {}),
        ("without the CSVs", lambda: None, {"export": False}),
        ("with them", lambda: None, {}),
        ("a file's time changed, not its bytes", lambda: os.utime(inbox / "SH004.xlsx", (1_620_000_000, 1_620_000_000)), {}),
        ("again", lambda: None, {}),
        ("a file renamed", lambda: os.replace(inbox / "SH004.xlsx", inbox / "SH004 (重命名).xlsx"), {}),
        ("a copy of a file under another name", lambda: shutil.copy2(inbox / "SH001.xlsx", inbox / "SH001 副本.xlsx"), {}),
        ("again", lambda: None, {}),
        ("the day past a date in the future", lambda: None, {"today": dt.date(2021, 5, 20)}),
        ("again", lambda: None, {"today": dt.date(2021, 5, 20)}),
        ("the day set back", lambda: None, {"today": day}),
        ("again", lambda: None, {"today": day}),
    ]
    seen: dict[str, dict[bool, dict[str, Any]]] = {}
    for n, (step, change, kw) in enumerate(steps):
        change()
        kw = {"today": day, **kw}
        got = _both(tmp_path, monkeypatch, clock, inbox, kw.pop("roster", roster), f"s{n}", **kw)
        _same(got, f"{n} {step}")
        seen[f"{n} {step}"] = got
    # what the steps were meant to show, so that the comparisons compare something
    assert seen["3 changed in place, same size and time"][True]["read"] == {"new": 1}
    assert seen["5 replaced by a same-named file, same size and time"][True]["read"] == {"new": 1}
    assert seen["34 again"][True]["read"] == {} and seen["33 the day past a date in the future"][True]["read"] == {"day": 1}
    assert seen["1 again"][True]["read"] == {} and seen["2 again after a skip"][True]["read"] == {}


MAIN = "cbb008e"  # main before this pass: its code knows nothing of what this pass keeps in the ledger


@pytest.fixture(scope="module")
def main_code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """xltemplate as main had it (:data:`MAIN`), from this repository's history."""
    import subprocess
    import tarfile

    from .conftest import ROOT

    where = tmp_path_factory.mktemp("main-code")
    got = subprocess.run(["git", "-C", str(ROOT), "archive", MAIN, "xltemplate", "templates", "setup.cfg"], capture_output=True)
    if got.returncode != 0:
        pytest.skip(f"no {MAIN} in this repository: {got.stderr.decode(errors='replace')}")
    archive_tar = where / "main.tar"
    archive_tar.write_bytes(got.stdout)
    with tarfile.open(archive_tar) as tar:
        tar.extractall(where, filter="data")
    return where


def _run_by(code: Path, inbox: Path, ledger: Path, roster: Path, out: Path, today: dt.date) -> None:
    """A run of the round by the xltemplate at ``code`` (another process), over ``inbox``."""
    import subprocess
    import sys

    script = ("import datetime as dt, sys\n"
              "from xltemplate.roster import read_roster\n"
              "from xltemplate.rounds import collect_round\n"
              f"assert __import__('xltemplate').__file__.startswith({str(code)!r}), __import__('xltemplate').__file__\n"
              f"r = collect_round([{str(inbox)!r}], {TEMPLATE!r}, ledger={str(ledger)!r}, output={str(out)!r},"
              f" roster=read_roster({str(roster)!r}, {TEMPLATE!r}), jobs=1, today=dt.date.fromisoformat({today.isoformat()!r}))\n"
              "r.collection.close()\n")
    env = {**os.environ, "PYTHONPATH": str(code)}
    got = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, cwd=code)
    assert got.returncode == 0, got.stderr


@pytest.mark.parametrize("between", ["switches off", "main's code", "withdrawn"])
def test_a_run_between_that_the_skip_did_not_make_defeats_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             between: str, request: pytest.FixtureRequest) -> None:
    """A run with the skip over inbox X, then a run that knows nothing of it (every switch off, or main's code) over
    inbox Y (a file gone, another added), or a withdrawal; then a run over X again: the ledger's last run is not the one
    the kept digest was made by, and what it decided is not what X decides. Made both ways from that state: the same."""
    clock = rm._Clock()
    monkeypatch.setattr(store, "_now", clock)
    r = Round(tmp_path, write_roster(tmp_path / "名单.csv"))
    r.day = 1
    r.put("SH001.xlsx", "SH001", saved=dt.datetime(2021, 5, 1, 9))
    r.put("SH002-draft.xlsx", "SH002", saved=dt.datetime(2021, 5, 1, 8), loss=3)
    r.put("SH002.xlsx", "SH002", saved=dt.datetime(2021, 5, 1, 10))
    r.put("SH003.xlsx", "SH003", saved=dt.datetime(2021, 5, 1, 11), loss=2)
    inbox, roster, day = tmp_path / "inbox", tmp_path / "名单.csv", dt.date(2021, 5, 10)
    ledger = tmp_path / "round" / "r.xlt.db"
    for n in range(2):  # (the second over the same inbox: a digest kept by a run that may have skipped)
        _same(_both(tmp_path, monkeypatch, clock, inbox, roster, f"x{n}", today=day), f"x{n}")
    if between == "withdrawn":
        withdraw(ledger, "SH002", "SH002.xlsx", "错交")
    else:
        hidden = tmp_path / "hidden"
        hidden.mkdir()
        shutil.move(inbox / "SH002.xlsx", hidden / "SH002.xlsx")
        r.day = 2
        r.put("SH004.xlsx", "SH004", saved=None)
        if between == "main's code":
            _run_by(request.getfixturevalue("main_code"), inbox, ledger, roster, tmp_path / "y.xlsx", day)
        else:
            _switches(monkeypatch, False)
            collect_round([inbox], TEMPLATE, ledger=ledger, roster=read_roster(roster, TEMPLATE), output=tmp_path / "y.xlsx",
                          jobs=1, today=day).collection.close()
        shutil.move(hidden / "SH002.xlsx", inbox / "SH002.xlsx")  # X again (the same file, the same stat)
        (inbox / "SH004.xlsx").unlink()
    got = _both(tmp_path, monkeypatch, clock, inbox, roster, "x-again", today=day)
    _same(got, f"x again after {between}")
    assert got[True]["read"] == {}


def test_two_runs_racing_on_one_ledger_leave_a_memo_the_next_run_may_take(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Two ``collect --ledger`` processes started at once over one ledger (one waits for the other's lock), the second
    over an inbox with a file more; then a run over that inbox made both ways from the state they left: the same."""
    import subprocess
    import sys

    from .conftest import ROOT

    clock = rm._Clock()
    monkeypatch.setattr(store, "_now", clock)
    r = Round(tmp_path, write_roster(tmp_path / "名单.csv"))
    r.day = 1
    r.put("SH001.xlsx", "SH001", saved=dt.datetime(2021, 5, 1, 9))
    r.put("SH002.xlsx", "SH002", saved=dt.datetime(2021, 5, 1, 10))
    inbox, roster, day = tmp_path / "inbox", tmp_path / "名单.csv", dt.date(2021, 5, 10)
    other = tmp_path / "other"
    shutil.copytree(inbox, other, copy_function=shutil.copy2)
    r.day = 2
    extra = r.put("SH003.xlsx", "SH003", saved=dt.datetime(2021, 5, 1, 11))
    shutil.move(inbox / extra.name, other / extra.name)
    for n in range(2):
        _same(_both(tmp_path, monkeypatch, clock, inbox, roster, f"x{n}", today=day), f"x{n}")
    ledger = tmp_path / "round" / "r.xlt.db"
    procs = [subprocess.Popen([sys.executable, "-c", "import sys\nsys.argv[0] = 'xltemplate'\n"
                               "from xltemplate.cli import main\nmain()", "collect", str(folder), "--roster", str(roster),
                               "-o", str(tmp_path / f"race{n}.xlsx"), "--ledger", str(ledger), "--quiet", "-j", "1"],
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for n, folder in enumerate((inbox, other))]
    for p in procs:
        _out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    for folder in (inbox, other):
        got = _both(tmp_path, monkeypatch, clock, folder, roster, f"after-{folder.name}", today=day)
        _same(got, f"after the race, {folder.name}")


@pytest.mark.parametrize("with_targets", [False, True])
def test_a_national_round_with_the_skip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_targets: bool) -> None:
    """The other family (rule-scored, the national form's samples): a round without a targets table (the digests may
    be recalled) and with one (they may not), through nothing changed, a file gone, a file changed, each both ways."""
    from xltemplate.targets import read_targets

    from .conftest import SAMPLES

    national = SAMPLES / "national"
    form = "cn-project-self-eval"
    clock = rm._Clock()
    monkeypatch.setattr(store, "_now", clock)
    inbox = tmp_path / "inbox"
    shutil.copytree(national / "returns", inbox, copy_function=shutil.copy2)
    names = sorted(p.name for p in inbox.iterdir())
    work = tmp_path / "round"

    def both(name: str) -> dict[bool, dict[str, Any]]:
        got: dict[bool, dict[str, Any]] = {}
        for on in rm.each_way(tmp_path, clock):
            _switches(monkeypatch, on)
            out, export = tmp_path / f"{name}-{on}.xlsx", tmp_path / f"{name}-{on}-csv"
            export.mkdir(exist_ok=True)
            roster = read_roster(national / "roster.csv", form)
            targets = read_targets(national / "targets.csv", form, roster) if with_targets else None
            done = collect_round([inbox], form, ledger=work / "r.xlt.db", roster=roster, targets=targets, output=out,
                                 export_dir=export, jobs=1, today=dt.date(2021, 5, 10))
            try:
                got[on] = {**rm.shown(done, out, export), "read": dict(done.read)}
            finally:
                done.collection.close()
            got[on]["tables"] = tables(work / "r.xlt.db")
        return got

    steps: list[tuple[str, Callable[[], object]]] = [
        ("first", lambda: None), ("again", lambda: None), ("again", lambda: None),
        ("a file gone", lambda: (inbox / names[0]).unlink()), ("again", lambda: None),
        ("a file's time", lambda: os.utime(inbox / names[1], (1_600_000_000, 1_600_000_000))), ("again", lambda: None),
    ]
    for n, (step, change) in enumerate(steps):
        change()
        _same(both(f"n{n}"), f"{n} {step}")
