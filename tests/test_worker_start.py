"""Workers started from a forkserver (workers.FORKSERVER_FROM, issue 15): the same results as forked ones, this
process's switches seen in them, their memory their own, and nothing of the pool left running after it."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from xltemplate import workers

from .test_pool import EXPECTED, PAYLOADS, _failed, _outcomes, _task

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork and forkserver: Linux")


def _setting(context: Any, payload: str) -> Any:
    """What the worker sees of a switch, and of the run's process."""
    return (workers.IN_FLIGHT, workers.KEEP_SELECTOR, os.getppid() == context)


def _resident_mb(context: Any, payload: int) -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _touch_mb(context: Any, payload: int) -> int:
    block = bytearray(payload * 2**20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    return len(block)


def _forkserver_pid() -> Any:
    from multiprocessing import forkserver

    return forkserver._forkserver._forkserver_pid


@pytest.mark.parametrize("jobs", [1, 2])
def test_forkserver_workers_give_the_forked_ones_results(monkeypatch: pytest.MonkeyPatch, jobs: int) -> None:
    """Crashes, hangs, exceptions and the memory bound end the same way both ways."""
    monkeypatch.setattr(workers, "available_cpus", lambda: 2)
    got = {}
    for start in (None, 0):
        monkeypatch.setattr(workers, "FORKSERVER_FROM", start)
        got[start] = _outcomes(workers.run_many(_task, _failed, PAYLOADS, context=0.0, jobs=jobs,
                                                bounds=workers.Bounds(seconds=1.5)))
        assert _forkserver_pid() is None  # ended with its pool
    assert got[None] == got[0] == EXPECTED


def test_which_pools_use_a_forkserver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "FORKSERVER_FROM", 1000)
    assert workers._start_method(999) == "fork"
    assert workers._start_method(1000) == "forkserver"
    monkeypatch.setattr(workers, "FORKSERVER_FROM", None)
    assert workers._start_method(10**6) == "fork"


def test_a_switch_set_here_reaches_a_forkserver_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """A forked worker has this process's module globals; one from a forkserver gets them sent."""
    monkeypatch.setattr(workers, "FORKSERVER_FROM", 0)
    for depth, keep in ((1, False), (3, True)):
        monkeypatch.setattr(workers, "IN_FLIGHT", depth)
        monkeypatch.setattr(workers, "KEEP_SELECTOR", keep)
        got = workers.run_many(_setting, _failed, ["a", "b"], context=os.getpid(), jobs=1)
        assert got == [(depth, keep, False)] * 2  # (its parent is the server, not this process)
    monkeypatch.setattr(workers, "FORKSERVER_FROM", None)
    assert workers.run_many(_setting, _failed, ["a"], context=os.getpid(), jobs=1) == [(3, True, True)]


def test_a_forkserver_worker_does_not_count_this_process_s_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """200 MB held here: a forked worker's resident memory counts it (the pages it shares), a forkserver's does not;
    and the worker's peak still reaches this process's RUSAGE_CHILDREN (the server is waited for)."""
    ballast = bytearray(200 * 2**20)
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    try:
        got = {}
        for start in (None, 0):
            monkeypatch.setattr(workers, "FORKSERVER_FROM", start)
            got[start] = workers.run_many(_resident_mb, _failed, [0], jobs=1)[0]
        assert got[None] > 200
        assert got[0] < 150
    finally:
        del ballast


def test_a_forkserver_worker_s_peak_counts_in_rusage_children() -> None:
    """The server is ended and waited for with its pool: what its workers used reaches this process's
    RUSAGE_CHILDREN, where the benches measure workers, as a forked worker's does. (In a process of its own: this
    one's earlier children, a suite's, may have peaked higher than a worker may grow.)"""
    import subprocess

    script = (
        "import resource\n"
        "from xltemplate import workers\n"
        "from tests.test_worker_start import _touch_mb, _failed, _forkserver_pid\n"
        "workers.FORKSERVER_FROM = 0\n"
        "assert workers.run_many(_touch_mb, _failed, [150], jobs=1) == [150 * 2**20]\n"
        "assert _forkserver_pid() is None\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)\n")
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=root, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) >= 150


def test_a_process_holding_many_files_is_not_forked_for_a_few_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    """A round's later run reads a few new files while holding every file's brief: ``held`` says so."""
    monkeypatch.setattr(workers, "FORKSERVER_FROM", 1000)
    forked = workers.run_many(_setting, _failed, ["a"], context=os.getpid(), jobs=1, held=999)
    served = workers.run_many(_setting, _failed, ["a"], context=os.getpid(), jobs=1, held=1000)
    assert [r[2] for r in forked + served] == [True, False]


def test_a_process_holding_little_is_forked_for_many_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    """collect's process stays small at any N: its workers are forked, however many the tasks (a forkserver's would
    each be sent the run's context pickled, the roster's rows with it: main 47 -> 77 MB at 100,000)."""
    monkeypatch.setattr(workers, "FORKSERVER_FROM", 3)
    forked = workers.run_many(_setting, _failed, ["a"] * 5, context=os.getpid(), jobs=1)
    served = workers.run_many(_setting, _failed, ["a"] * 5, context=os.getpid(), jobs=1, held=3)
    assert {r[2] for r in forked} == {True} and {r[2] for r in served} == {False}


def test_a_rounds_later_run_with_a_few_new_files_says_what_it_holds(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """rounds.run passes the ledger's files as ``held``: with the bar at 15 files, a second run of the samples' 19
    returns with 1 new file starts its worker from a forkserver."""
    import shutil

    from xltemplate.roster import read_roster
    from xltemplate.rounds import collect_round

    from .conftest import SAMPLES
    from .tamper import replace_text, rewrite

    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES / "returns", inbox)
    roster = read_roster(SAMPLES / "roster.csv", "sh-project-self-eval")
    methods: list[tuple[int, str]] = []
    real = workers._start_method
    monkeypatch.setattr(workers, "_start_method", lambda size: methods.append((size, real(size))) or real(size))
    monkeypatch.setattr(workers, "FORKSERVER_FROM", 10**6)
    collect_round([inbox], "sh-project-self-eval", ledger=tmp_path / "r.xlt.db", roster=roster,
                  output=tmp_path / "1.xlsx", jobs=1)
    files = len(methods) and methods[0][0]
    assert files >= 15 and {m for _, m in methods} == {"fork"}
    methods.clear()
    rewrite(SAMPLES / "returns" / "无线电监测站.xlsx", inbox / "无线电监测站 (2).xlsx",
            {"xl/sharedStrings.xml": replace_text("成果统计和归档不够及时", "成果统计不够及时")})
    monkeypatch.setattr(workers, "FORKSERVER_FROM", 15)
    collect_round([inbox], "sh-project-self-eval", ledger=tmp_path / "r.xlt.db", roster=roster,
                  output=tmp_path / "2.xlsx", jobs=1)
    assert methods and methods[0] == (files + 1, "forkserver")


def test_a_prestarted_server_is_used_by_the_pools_and_ended_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """workers.prestart (the CLI's, once the inputs are found): the pools use the server started then, leave it
    running, and stop_prestarted ends it; a switch set after it started still reaches its workers."""
    monkeypatch.setattr(workers, "FORKSERVER_FROM", 1000)
    assert not workers.prestart(999) and _forkserver_pid() is None
    try:
        assert workers.prestart(1000)
        server = _forkserver_pid()
        assert server is not None
        monkeypatch.setattr(workers, "IN_FLIGHT", 1)
        got = workers.run_many(_setting, _failed, ["a", "b"], context=os.getpid(), jobs=2, held=1000)
        assert got == [(1, True, False)] * 2 and _forkserver_pid() == server
        assert workers.run_many(_setting, _failed, ["a"], context=os.getpid(), jobs=1)[0][2]  # (a small pool forks)
    finally:
        workers.stop_prestarted()
    assert _forkserver_pid() is None and not workers._prestarted
