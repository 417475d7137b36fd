"""Review of issue 15's fifteenth pass (session 30): branches firstpeak (``rounds.run.SEEN_STREAMED``, a guessed
template held to the inputs' templates one at a time; ``rounds.view.FLAGS_STORED``, the since flags kept in the run's
store) and thirdpeak (``ledger.store.PARTS_XML_LAST``, the ledger's ``parts`` made again with ``xml`` last). A round's
runs through the CLI with the new switches off, then on, from one ledger state and one clock, on the run's store
(``MATCH_STORED_FROM = 0``) and on the lists: without ``--template`` (SEEN_STREAMED acts only where a round's template
is guessed: the CLI's sample made small so that the samples' few returns are guessed from; mixed templates, a guess the
returns overrule, a tie, inputs of another form, unreadable inputs, a roster, ``--jobs`` 1 and 2) and test_revflat2's
rounds again. Compared each time: the roll-up's bytes, the CSVs, ``--json``, the printed lines, the exit code and every
table of the ledger, its columns by name (test_revstore's :class:`Both`). And a round's runs made by the code before
and the new in turn; a run stopped (SIGTERM, SIGINT, SIGKILL) where the new code writes; a full TMPDIR and a full
ledger disk there; a ledger holding a part of a run it does not have; the process a library user runs a round in left
as it was. The switches a tree does not have are skipped (this file runs on main and on each branch)."""

from __future__ import annotations

import datetime as dt
import importlib
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from xltemplate.cli import main
from xltemplate.ledger import store
from xltemplate.rounds import run as run_mod
from xltemplate.rounds import view
from xltemplate.rounds.withdraw import withdraw

from . import test_revflat2 as revflat2
from . import test_revstore as revstore
from .conftest import SAMPLES
from .tamper import replace_text, rewrite, set_saved_time
from .test_revflat2 import Flip
from .test_revstore import NATIONAL
from .test_roundmem import _Clock

collect_mod = importlib.import_module("xltemplate.rollup.collect")

FORM = "sh-project-self-eval"
#: The switches this pass added, each (owner, name): flipped together.
NEW_SWITCHES: list[tuple[Any, str]] = [(run_mod, "SEEN_STREAMED"), (store, "PARTS_XML_LAST"), (view, "FLAGS_STORED")]


def ledger_dump(path: Path) -> list[tuple[str, list[Any]]]:
    """Every table of the ledger, every row, in a fixed order, each row's columns in their names' order (a table made
    again with its columns in another order, store.PARTS_XML_LAST's ``parts``, holds the same rows), meta's memos
    left out (kept or not by the switches, each checked before it is taken)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                            "AND name != 'stats' ORDER BY name")]  # (stats: the intake's, real times)
        got = []
        for t in tables:
            columns = ", ".join(f'"{c}"' for c in sorted(c[1] for c in db.execute(f'PRAGMA table_info("{t}")')))
            rows = [r for r in db.execute(f'SELECT {columns} FROM "{t}"').fetchall()
                    if "round_id" not in r and not (t == "meta" and any(str(v).startswith("memo ") for v in r))]
            got.append((t, sorted(rows, key=repr)))  # (a first run's round id is random: the rest must be the same)
        return got
    finally:
        db.close()


def _present() -> list[tuple[Any, str]]:
    got = [(o, n) for o, n in NEW_SWITCHES if hasattr(o, n)]
    if not got:
        pytest.skip("none of this pass's switches in this tree")
    return got


def _inbox(tmp_path: Path, sh: int, national: int, *, junk: bool = False, first: str = "") -> Path:
    """``sh`` of the samples' returns and ``national`` of the national ones; ``junk``: a file that is no workbook,
    an empty one, a text file and an Excel lock file beside them; ``first``: the national ones' names begin with it
    (an inbox's order decides which returns the CLI's sample reads)."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for p in [p for p in sorted((SAMPLES / "returns").glob("*.xlsx")) if not p.name.startswith("~$")][:sh]:
        shutil.copy2(p, inbox / p.name)
    for p in sorted((NATIONAL / "returns").glob("*.xlsx"))[:national]:
        shutil.copy2(p, inbox / f"{first}{p.name}")
    if junk:
        (inbox / "坏文件.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
        (inbox / "空文件.xlsx").write_bytes(b"")
        (inbox / "说明.txt").write_text("不是报表", encoding="utf-8")
    return inbox


def _guesses(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str | None]]:
    """What the CLI guessed from its sample ("guess") and what the run's check of it chose ("held"), each run."""
    got: dict[str, list[str | None]] = {"guess": [], "held": []}
    real_guess, real_choose = collect_mod.guess_template, collect_mod.choose_template

    def guess(*a: Any, **kw: Any) -> Any:
        spec = real_guess(*a, **kw)
        got["guess"].append(spec.id if spec is not None else None)
        return spec

    def choose(reports: Any, run: Any) -> Any:
        spec = real_choose(reports, run)
        if not isinstance(reports, list) or not reports or not isinstance(reports[0], collect_mod.FileReport):
            got["held"].append(spec.id)  # (the sample's choice is of FileReports; the run's, of briefs)
        return spec

    monkeypatch.setattr(collect_mod, "guess_template", guess)
    monkeypatch.setattr(collect_mod, "choose_template", choose)
    return got


@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize("stored", [True, False], ids=["store", "lists"])
@pytest.mark.parametrize("mix", ["sh", "mixed", "national-first", "junk", "tie"])
def test_a_first_run_without_a_template_off_and_on(mix: str, stored: bool, jobs: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A round's first run without --template (its template guessed from a sample of three, then held to every
    return's), then a second and a third over a changed inbox: each the same with the new switches off and on."""
    monkeypatch.setattr(collect_mod, "TEMPLATE_SAMPLE", 3)
    monkeypatch.setattr(collect_mod, "GUESS_FIRST", True)
    both = Flip(tmp_path, monkeypatch, _present())
    monkeypatch.setattr(revstore, "_ledger_dump", ledger_dump)
    guesses = _guesses(monkeypatch)
    sh, national, junk, first, exit = {
        "sh": (20, 0, False, "", 0),
        "mixed": (20, 6, False, "", 0),  # most name the samples' template: the guess holds, the others refused
        "national-first": (20, 12, False, "0-", 0),  # the sample lands on national ones: overruled by every return
        "junk": (14, 2, True, "", 0),  # unreadable inputs beside
        "tie": (10, 10, False, "", 1),  # as many of each: the choice refused in Chinese
    }[mix]
    inbox = _inbox(tmp_path, sh, national, junk=junk, first=first)
    args = ("--json", "--jobs", jobs)
    got = both.go([inbox], *args, name=f"{mix} first", exit=exit, stored=stored and exit == 0)
    if exit:
        assert "请用 --template 指定" in got[True]["output"], got[True]["output"]
        return
    assert '"detected": true' in got[True]["output"]
    assert '"id": "sh-project-self-eval"' in got[True]["output"]
    # what the runs were meant to show, so that the comparisons compare something: the guess made (both ways) and
    # held to every return's template by the run (overruled where the sample landed on the national ones)
    assert guesses["guess"] == [("cn-project-self-eval" if mix == "national-first" else FORM)] * 2, guesses
    assert len(guesses["held"]) == 2 and set(guesses["held"]) == {FORM}, guesses
    assert (both.deferred > 0) is stored
    # new files, a file replaced, a file gone: the ledger's template now (the guess not asked again)
    shutil.copy2(sorted((NATIONAL / "returns").glob("*.xlsx"))[-1], inbox / "新来的国家表.xlsx")
    (inbox / sorted(p.name for p in inbox.glob("*.xlsx"))[-1]).unlink()
    both.go([inbox], *args, name=f"{mix} second", stored=stored)
    both.go([inbox], *args, name=f"{mix} third", stored=stored)


@pytest.mark.parametrize("stored", [True, False], ids=["store", "lists"])
def test_a_first_run_without_a_template_with_a_roster_off_and_on(stored: bool, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """With the samples' roster: the guess read with it (a national guess does not fit it and is dropped)."""
    monkeypatch.setattr(collect_mod, "TEMPLATE_SAMPLE", 3)
    monkeypatch.setattr(collect_mod, "GUESS_FIRST", True)
    both = Flip(tmp_path, monkeypatch, _present())
    monkeypatch.setattr(revstore, "_ledger_dump", ledger_dump)
    inbox = _inbox(tmp_path, 20, 6, junk=True)
    args = ("--json", "--jobs", "1", "--roster", str(SAMPLES / "roster.csv"))
    got = both.go([inbox], *args, name="roster first", stored=stored)
    assert '"id": "sh-project-self-eval"' in got[True]["output"]
    (inbox / "无线电监测站.xlsx").unlink()
    both.go([inbox], *args, name="roster second", stored=stored)


@pytest.mark.parametrize("stored", [True, False], ids=["store", "lists"])
def test_a_round_whose_parts_table_is_made_again_between_runs_of_the_code_before(
        stored: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """store.PARTS_XML_LAST (branch thirdpeak) makes the ledger's ``parts`` again as a run finishes, and the code before
    (main 527d6ca: the switch off, which is what it does to that table) then runs the round: a round whose runs are
    made by the two in turn (off, on, off, on, off, on) and the same round made by the code before alone, each run from
    the same clock: the same roll-up bytes, CSVs, --json and lines, and the same ledger (its columns by name) at each
    run; then the runs of the code before read the moved parts (a sheet reused from the run before)."""
    if not hasattr(store, "PARTS_XML_LAST"):
        pytest.skip("store.PARTS_XML_LAST not in this tree")
    monkeypatch.setattr(run_mod, "MATCH_STORED", True)
    monkeypatch.setattr(run_mod, "MATCH_STORED_FROM", 0 if stored else 10**9)
    names = sorted(p.name for p in (SAMPLES / "returns").iterdir())
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for n in names[: len(names) // 2]:
        shutil.copy2(SAMPLES / "returns" / n, inbox / n)
    roster = SAMPLES / "roster.csv"
    args = ["--roster", str(roster), "--template", FORM, "--json", "--jobs", "1"]

    def change(step: int) -> None:
        if step == 1:
            for n in names[len(names) // 2:]:
                shutil.copy2(SAMPLES / "returns" / n, inbox / n)
        elif step == 2:
            set_saved_time(SAMPLES / "returns" / "无线电监测站.xlsx", inbox / "无线电监测站 (后).xlsx",
                           dt.datetime(2021, 7, 1, 9))
            rewrite(SAMPLES / "returns" / "需求侧管理中心.xlsx", inbox / "需求侧管理中心.xlsx",
                    {"xl/sharedStrings.xml": replace_text("需求侧", "需求側")})
        elif step == 3:
            (inbox / "浦东分中心.xlsx").unlink(missing_ok=True)
        # (steps 4 and 5: the same inbox again, every sheet reused from the kept parts)

    rounds = {way: tmp_path / way for way in ("before", "turns")}  # (each moved to tmp_path / "round" to run)
    clocks = {way: _Clock() for way in rounds}
    for way in rounds:
        rounds[way].mkdir()
    work, out = tmp_path / "round", tmp_path / "out"  # (the paths the roll-up and --json show: the same both ways)
    for step in range(6):
        change(step)
        got = {}
        for way, kept in rounds.items():
            kept.rename(work)
            monkeypatch.setattr(store, "_now", clocks[way])
            monkeypatch.setattr(store, "PARTS_XML_LAST", way == "turns" and step % 2 == 1)
            if step == 3:
                withdraw(work / "r.xlt.db", "SH007", str(inbox / "无线电监测站 (后).xlsx"), "撤回")
            shutil.rmtree(out, ignore_errors=True)
            res = CliRunner().invoke(main, ["collect", str(inbox), "-o", str(out / "r.xlsx"), "--ledger",
                                            str(work / "r.xlt.db"), "--export", str(out / "csv"), "--quiet", *args])
            assert res.exit_code == 0, (way, step, res.output)
            got[way] = {"output": res.output,
                        "files": {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
                                  if p.is_file()},
                        "ledger": ledger_dump(work / "r.xlt.db")}
            db = sqlite3.connect(work / "r.xlt.db")
            columns = [c[1] for c in db.execute("PRAGMA table_info(parts)")]
            db.close()
            assert columns[-1] == ("xml" if way == "turns" and step else "run_id"), (way, step, columns)
            work.rename(kept)
        for what in got["before"]:
            assert got["turns"][what] == got["before"][what], (step, what)
        assert got["turns"]["ledger"][[t for t, _ in got["turns"]["ledger"]].index("parts")][1], step  # (parts kept)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_full_tmpdir_as_a_rounds_since_is_made_is_told_as_the_temporary_folders(
        jobs: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """TMPDIR fills up just as a round's "since the last run" is made (the run's store can grow no more: SQLite's
    SQLITE_FULL, max_page_count set to its pages then, as test_storerev simulates a full TMPDIR): where since() writes
    into the store (rounds.view.FLAGS_STORED, branch firstpeak: inside the ledger's finishing transaction) the clerk
    must be told that the temporary folder is full, in Chinese, not that the ledger's disk is (schema.transaction takes
    any sqlite3 error raised inside it for the ledger's own); no roll-up, the run not finished. Where since() writes
    nothing (main) the run passes."""
    from .test_storerev import units_opened

    opened = units_opened(monkeypatch)
    monkeypatch.setattr(run_mod, "MATCH_STORED", True)
    monkeypatch.setattr(run_mod, "MATCH_STORED_FROM", 0)
    real = view.since

    def filled(*a: Any, **kw: Any) -> Any:
        for units in opened:
            if units.db is not None:
                pages = units.db.execute("PRAGMA page_count").fetchone()[0]
                units.db.execute(f"PRAGMA max_page_count = {pages}")
        return real(*a, **kw)

    monkeypatch.setattr(run_mod, "since", filled)
    out, db = tmp_path / "汇总.xlsx", tmp_path / "r.xlt.db"
    res = CliRunner().invoke(main, ["collect", str(SAMPLES / "returns"), "--roster", str(SAMPLES / "roster.csv"),
                                    "--template", FORM, "-o", str(out), "--ledger", str(db), "--quiet", "--jobs", jobs])
    assert opened and all(u.db is None for u in opened)  # (the run's store made, and closed)
    if res.exit_code == 0:
        return  # (nothing written into the store as since is made)
    assert isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output, res.output
    assert "磁盘空间不足" in res.output and "临时文件夹" in res.output, res.output
    assert "写入台账失败" not in res.output, res.output
    assert not out.exists()
    conn = sqlite3.connect(db)
    try:
        assert [s for (s,) in conn.execute("SELECT state FROM runs")] == ["interrupted"]
    finally:
        conn.close()


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_rounds_runs_with_this_passes_switches_off_and_on(jobs: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """test_revflat2's round (a first run; new files, a file replaced, a file gone; a withdrawal; a roster row changed,
    refused, then --roster-changed-ok; a secret added, a file gone; the same again) with this pass's switches off and
    on, the ledgers compared by their columns' names."""
    monkeypatch.setattr(revflat2, "NEW_SWITCHES", _present())
    monkeypatch.setattr(revflat2, "_ledger_dump", ledger_dump)
    revflat2.test_a_rounds_runs_with_each_new_switch_off_and_on(None, jobs, tmp_path, monkeypatch)


def test_a_national_round_with_targets_with_this_passes_switches_off_and_on(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(revflat2, "NEW_SWITCHES", _present())
    monkeypatch.setattr(revflat2, "_ledger_dump", ledger_dump)
    revflat2.test_a_national_round_with_targets_off_and_on(None, tmp_path, monkeypatch)


def test_a_round_crossing_the_threshold_with_this_passes_switches_off_and_on(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(revflat2, "NEW_SWITCHES", _present())
    monkeypatch.setattr(revflat2, "_ledger_dump", ledger_dump)
    revflat2.test_a_round_that_crosses_the_threshold_and_back(tmp_path, monkeypatch)


_KILLED_IN_MOVE = """
import os, sys, time
from xltemplate.ledger import store
store.PARTS_XML_LAST = os.environ["PARTS_XML_LAST"] == "1"
if os.environ.get("PAUSED"):
    real = store.Ledger._parts_xml_last
    def paused(self):
        real(self)  # (moved, dropped, renamed: not committed)
        open(os.environ["PAUSED"], "w").close()
        time.sleep(120)
    store.Ledger._parts_xml_last = paused
from xltemplate.cli import main
sys.argv[0] = "xltemplate"
main()
"""


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_a_run_killed_as_its_parts_table_is_made_again_leaves_the_table_as_it_was(how: str, tmp_path: Path) -> None:
    """store.PARTS_XML_LAST (branch thirdpeak) makes ``parts`` again inside the finishing transaction: a run killed
    just after (the old table dropped, the new one renamed, nothing committed) leaves the ledger's parts as the run
    before kept them, in their old columns; the next run of the code before (the switch off) and then one with it on
    finish, deciding what a round never stopped decides (the same findings)."""
    import os
    import subprocess
    import sys

    from .conftest import ROOT

    if not hasattr(store, "PARTS_XML_LAST"):
        pytest.skip("store.PARTS_XML_LAST not in this tree")
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES / "returns", inbox)
    work, out, mark = tmp_path / "round", tmp_path / "out", tmp_path / "paused"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def cli(xml_last: bool, *, paused: bool = False) -> subprocess.Popen[str]:
        shutil.rmtree(out, ignore_errors=True)
        args = ["collect", str(inbox), "--roster", str(SAMPLES / "roster.csv"), "--template", FORM, "-o",
                str(out / "r.xlsx"), "--export", str(out / "csv"), "--ledger", str(work / "r.xlt.db"), "--quiet",
                "--jobs", "1"]
        return subprocess.Popen([sys.executable, "-c", _KILLED_IN_MOVE, *args], cwd=ROOT, text=True,
                                env={**env, "PARTS_XML_LAST": "1" if xml_last else "0", "PAUSED": str(mark) if paused else ""},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def done(proc: subprocess.Popen[str]) -> list[Any]:
        """The run finished: its decisions and the CSVs of the units' findings (times and run numbers aside)."""
        _o, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert (out / "r.xlsx").is_file()
        db = sqlite3.connect(work / "r.xlt.db")
        try:
            last = db.execute("SELECT max(id) FROM runs WHERE state = 'finished'").fetchone()[0]
            decided = db.execute("SELECT unit_key, sha256, rule, candidates, status, errors, in_inbox FROM decisions"
                                 " WHERE run_id = ? ORDER BY unit_key", (last,)).fetchall()
        finally:
            db.close()
        assert decided
        return [decided, (out / "csv" / "findings.csv").read_bytes()]

    def parts() -> tuple[list[str], list[Any]]:
        db = sqlite3.connect(work / "r.xlt.db")
        try:
            return ([c[1] for c in db.execute("PRAGMA table_info(parts)")],
                    sorted(db.execute("SELECT name, key, state, run_id, xml FROM parts")))
        finally:
            db.close()

    work.mkdir()
    done(cli(False))  # (the code before: parts kept with xml before run_id)
    (inbox / "浦东分中心.xlsx").unlink()
    shutil.copytree(work, tmp_path / "before")
    before = parts()
    assert before[0][-1] == "run_id" and before[1]
    proc = cli(True, paused=True)
    revstore.signalled_when_paused(proc, mark, how)
    assert proc.returncode != 0
    assert parts() == before  # (rolled back: the old table, its rows)
    got = done(cli(False))  # (the code before over what the kill left)
    shutil.rmtree(work)
    shutil.copytree(tmp_path / "before", work)
    assert got == done(cli(False))  # (as if never stopped)
    shutil.copytree(work, tmp_path / "after")
    (inbox / "无线电监测站.xlsx").unlink()
    again = done(cli(True))  # (now moved)
    assert parts()[0][-1] == "xml"
    shutil.rmtree(work)
    shutil.copytree(tmp_path / "after", work)
    assert again == done(cli(False))


def _process_state() -> dict[str, Any]:
    """What a library user's process would see changed if a run changed it process-wide: the environment (what its
    children get), the collector's settings, the signal handlers, the temporary folder, the umask, SQLite's heap
    limits and a new connection's cache, temporary store and mmap settings, the start method of its pools."""
    import ctypes
    import ctypes.util
    import gc
    import multiprocessing
    import os
    import signal
    import sys
    import tempfile

    umask = os.umask(0o22)
    os.umask(umask)
    conn = sqlite3.connect(":memory:")
    try:
        pragmas = {p: conn.execute(f"PRAGMA {p}").fetchone() for p in ("cache_size", "temp_store", "mmap_size",
                                                                          "cache_spill", "threads")}
    finally:
        conn.close()
    limits: tuple[int, int] | None = None
    name = ctypes.util.find_library("sqlite3")
    if name is not None:
        lib = ctypes.CDLL(name)
        lib.sqlite3_libversion.restype = ctypes.c_char_p
        if lib.sqlite3_libversion().decode() == sqlite3.sqlite_version:  # (the library the sqlite3 module uses)
            lib.sqlite3_soft_heap_limit64.restype = lib.sqlite3_hard_heap_limit64.restype = ctypes.c_int64
            lib.sqlite3_soft_heap_limit64.argtypes = lib.sqlite3_hard_heap_limit64.argtypes = [ctypes.c_int64]
            limits = (lib.sqlite3_soft_heap_limit64(-1), lib.sqlite3_hard_heap_limit64(-1))  # (-1: asked, not set)
    return {"environ": dict(os.environ), "gc": (gc.isenabled(), gc.get_threshold()), "umask": umask,
            "signals": {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGPIPE)},
            "tempdir": tempfile.tempdir, "switch": sys.getswitchinterval(), "recursion": sys.getrecursionlimit(),
            "sqlite": pragmas, "heap_limits": limits, "start": multiprocessing.get_start_method(allow_none=True),
            "cwd": os.getcwd()}


@pytest.mark.parametrize("stored", [True, False], ids=["store", "lists"])
def test_a_round_run_as_a_library_leaves_the_process_as_it_was(stored: bool, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """xltemplate is a library too: a round's runs (collect_round, then the CLI's collect in process) over a first, a
    second and a third inbox change nothing process-wide that the caller would then live with (a native setting made
    for a round's memory, thirdpeak's area: an SQLite default, a heap limit, an environment variable its children
    would inherit, a collector's threshold), whatever they set while they run."""
    from xltemplate.roster import read_roster
    from xltemplate.rounds import collect_round

    monkeypatch.setattr(run_mod, "MATCH_STORED", True)
    monkeypatch.setattr(run_mod, "MATCH_STORED_FROM", 0 if stored else 10**9)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    names = sorted(p.name for p in (SAMPLES / "returns").iterdir())
    for n in names[:10]:
        shutil.copy2(SAMPLES / "returns" / n, inbox / n)
    before = _process_state()
    roster = read_roster(SAMPLES / "roster.csv", FORM)
    for step in range(3):
        if step == 1:
            for n in names[10:]:
                shutil.copy2(SAMPLES / "returns" / n, inbox / n)
        if step == 2:
            (inbox / names[3]).unlink()
        done = collect_round([inbox], FORM, ledger=tmp_path / "r.xlt.db", roster=roster,
                             output=tmp_path / f"r{step}.xlsx", jobs=2)
        done.collection.close()
        assert _process_state() == before, step
    res = CliRunner().invoke(main, ["collect", str(inbox), "--roster", str(SAMPLES / "roster.csv"), "-o",
                                    str(tmp_path / "cli.xlsx"), "--ledger", str(tmp_path / "r.xlt.db"), "--quiet",
                                    "--jobs", "2"])
    assert res.exit_code == 0, res.output
    assert _process_state() == before


def _first_run_of_the_code_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    """A round's first run over the samples with PARTS_XML_LAST off (what the code before does to ``parts``): the
    ledger, and the CLI's arguments for its next runs (``-o`` to add)."""
    if hasattr(store, "PARTS_XML_LAST"):
        monkeypatch.setattr(store, "PARTS_XML_LAST", False)
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES / "returns", inbox)
    db = tmp_path / "r.xlt.db"
    args = ["collect", str(inbox), "--roster", str(SAMPLES / "roster.csv"), "--template", FORM, "--ledger", str(db),
            "--quiet", "--jobs", "1"]
    first = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "a.xlsx")])
    assert first.exit_code == 0, first.output
    return db, args


@pytest.mark.parametrize("xml_last", [False, True], ids=["before", "xml-last"])
def test_a_kept_part_of_a_run_the_ledger_does_not_have_does_not_stop_the_round(
        xml_last: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ledger is a file anyone can write (thirdpeak's own standard for a part whose xml is text): a ``parts`` row
    whose run_id names no run (written with foreign keys off, as any tool writes by default). The code before (the
    switch off) never reads it and finishes the round; with store.PARTS_XML_LAST (branch thirdpeak cb5b77a/e8e0f36)
    the move inserts it under ``PRAGMA foreign_keys = ON`` and the run dies with sqlite3.IntegrityError's English
    traceback, as does every later run: the round can no longer be finished. It must finish as before (the row kept)."""
    if xml_last and not hasattr(store, "PARTS_XML_LAST"):
        pytest.skip("store.PARTS_XML_LAST not in this tree")
    db, args = _first_run_of_the_code_before(tmp_path, monkeypatch)
    conn = sqlite3.connect(db)  # (foreign keys off: sqlite3's default)
    conn.execute("INSERT INTO parts(name, key, state, xml, run_id) VALUES ('旧表', 'k', '{}', x'00', 99)")
    conn.commit()
    conn.close()
    if hasattr(store, "PARTS_XML_LAST"):
        monkeypatch.setattr(store, "PARTS_XML_LAST", xml_last)
    for n in (1, 2):
        res = CliRunner().invoke(main, [*args, "-o", str(tmp_path / f"b{n}.xlsx")])
        assert res.exit_code == 0, (n, res.output, repr(res.exception))
        assert (tmp_path / f"b{n}.xlsx").is_file()
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT key, run_id FROM parts WHERE name = '旧表'").fetchall() == [("k", 99)]
    finally:
        conn.close()


_STOPPED_IN_SINCE = """
import os, sys, time
from xltemplate.rounds import run as run_mod, view
from xltemplate.rollup import units as units_mod
run_mod.MATCH_STORED, run_mod.MATCH_STORED_FROM = True, 0
real = units_mod.Units.many
def paused(self, sql, params):
    real(self, sql, params)
    if "since_flag" in sql:  # (the flags half written into the store)
        open(os.environ["PAUSED"], "w").close()
        time.sleep(120)
units_mod.Units.many = paused
from xltemplate.cli import main
sys.argv[0] = "xltemplate"
main()
"""


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "SIGKILL"])
def test_a_run_stopped_as_its_since_flags_are_stored_leaves_nothing(how: str, tmp_path: Path) -> None:
    """rounds.view.FLAGS_STORED (branch firstpeak) writes the since flags into the run's store inside the ledger's
    finishing transaction: a run stopped there leaves no roll-up, no scratch file (but a kill's, swept by the next
    run), its run not finished and no decision; the next run finishes. Where since writes nothing (main, or the switch
    off) the run is never paused there and the test says so."""
    import os
    import subprocess
    import sys

    from .conftest import ROOT

    if not getattr(view, "FLAGS_STORED", False):
        pytest.skip("rounds.view.FLAGS_STORED not in this tree")
    inbox, scratch, db, out, mark = revstore.stopped_run_places(tmp_path)
    args = ["collect", str(inbox), "--roster", str(SAMPLES / "roster.csv"), "-o", str(out), "--ledger", str(db),
            "--quiet", "--jobs", "2"]
    env = {**os.environ, "TMPDIR": str(scratch), "PYTHONPATH": str(ROOT), "PAUSED": str(mark)}
    proc = subprocess.Popen([sys.executable, "-c", _STOPPED_IN_SINCE, *args], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err = revstore.signalled_when_paused(proc, mark, how)
    assert proc.returncode != 0, err
    assert "Traceback" not in err or how == "SIGKILL", err
    assert not out.exists()
    if how != "SIGKILL":
        assert [p.name for p in scratch.iterdir()] == []
    conn = sqlite3.connect(db)
    try:
        assert [s for (s,) in conn.execute("SELECT state FROM runs")] == ["running" if how == "SIGKILL" else "interrupted"]
        assert conn.execute("SELECT count(*) FROM decisions").fetchone()[0] == 0
    finally:
        conn.close()
    again = subprocess.run([sys.executable, "-m", "xltemplate.cli", *args], env=env, cwd=ROOT, capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert out.is_file() and [p.name for p in scratch.iterdir()] == []


def test_a_full_ledger_disk_as_its_parts_table_is_made_again_is_told_and_undone(tmp_path: Path,
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """store.PARTS_XML_LAST (branch thirdpeak) copies every kept part once, inside the finishing transaction: on a
    ledger whose disk has no room for the copy (SQLITE_FULL: the ledger's max_page_count at its page count as the move
    starts) the clerk is told in Chinese that the ledger could not be written, nothing is half-written (the table as
    it was, no roll-up, the run not finished), and the next run with room finishes."""
    if not hasattr(store, "PARTS_XML_LAST"):
        pytest.skip("store.PARTS_XML_LAST not in this tree")
    db, args = _first_run_of_the_code_before(tmp_path, monkeypatch)

    def kept() -> list[Any]:
        conn = sqlite3.connect(db)
        try:
            return [[c[1] for c in conn.execute("PRAGMA table_info(parts)")],
                    sorted(conn.execute("SELECT name, key, state, run_id, xml FROM parts"))]
        finally:
            conn.close()

    before = kept()
    real = getattr(store.Ledger, "_parts_xml_last")

    def full(self: Any) -> None:
        pages = self.conn.execute("PRAGMA page_count").fetchone()[0]
        self.conn.execute(f"PRAGMA max_page_count = {pages}")
        real(self)

    monkeypatch.setattr(store, "PARTS_XML_LAST", True)
    monkeypatch.setattr(store.Ledger, "_parts_xml_last", full)
    res = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "b.xlsx")])
    assert res.exit_code != 0 and isinstance(res.exception, SystemExit), (res.output, repr(res.exception))
    assert "写入台账失败" in res.output and "磁盘空间不足" in res.output and "Traceback" not in res.output, res.output
    assert not (tmp_path / "b.xlsx").exists()
    assert kept() == before
    conn = sqlite3.connect(db)
    try:
        assert [s for (s,) in conn.execute("SELECT state FROM runs ORDER BY id")] == ["finished", "interrupted"]
    finally:
        conn.close()
    monkeypatch.setattr(store.Ledger, "_parts_xml_last", real)
    assert CliRunner().invoke(main, [*args, "-o", str(tmp_path / "c.xlsx")]).exit_code == 0
    assert kept()[0][-1] == "xml"


@pytest.mark.parametrize("stored", [True, False], ids=["store", "lists"])
def test_a_guess_the_returns_overrule_whose_roster_does_not_fit_off_and_on(stored: bool, tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The sample lands on the samples' returns (the roster fits that guess), but most returns are national ones:
    the run's check of the guess chooses the national template, whose roster the samples' is not: refused the same
    way with the switches off and on (exit, output, ledger)."""
    monkeypatch.setattr(collect_mod, "TEMPLATE_SAMPLE", 3)
    monkeypatch.setattr(collect_mod, "GUESS_FIRST", True)
    both = Flip(tmp_path, monkeypatch, _present())
    monkeypatch.setattr(revstore, "_ledger_dump", ledger_dump)
    guesses = _guesses(monkeypatch)
    inbox = _inbox(tmp_path, 8, 12, first="\u9fff")  # (the national ones' names last: the sample's first two are not)
    args = ("--json", "--jobs", "1", "--roster", str(SAMPLES / "roster.csv"))
    probe = CliRunner().invoke(main, ["collect", str(inbox), "-o", str(tmp_path / "p.xlsx"), "--ledger",
                                      str(tmp_path / "p.xlt.db"), "--quiet", *args])
    guesses["guess"].clear()
    guesses["held"].clear()
    got = both.go([inbox], *args, name="overruled, roster not fit", exit=probe.exit_code, stored=stored and not probe.exit_code)
    assert guesses["guess"] == [FORM, FORM] and guesses["held"] == ["cn-project-self-eval"] * 2, guesses
    assert got[True]["exit"] != 0 and "Traceback" not in got[True]["output"], got[True]["output"]
