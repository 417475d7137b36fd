"""The worker pool (xltemplate.workers) with tasks sent ahead (IN_FLIGHT) and one selector kept for the run
(KEEP_SELECTOR), against one task at a time and a selector made on every wait: the same results, whatever
the tasks do (end, raise, run out of memory, kill their worker, hang), and each task's clock starting only
when its worker takes it."""

from __future__ import annotations

import os
import time
from itertools import product
from typing import Any

import pytest

from xltemplate import workers


def _task(context: Any, payload: tuple[str, int]) -> Any:
    what, n = payload
    if what == "crash":
        os._exit(3)  # the worker dies with the file
    if what == "hang":
        time.sleep(60)
    if what == "slow":
        time.sleep(context)
    if what == "raise":
        raise ValueError(f"bad {n}")
    if what == "memory":
        raise MemoryError
    return (what, n, n * 2, os.getpid())


def _failed(payload: tuple[str, int], code: str, what: str) -> Any:
    return ("failed", payload, code)


def _outcomes(got: list[Any]) -> list[Any]:
    """The results without the worker's pid (which worker did a task is not the pool's promise)."""
    return [r[:3] if r[0] != "failed" else r for r in got]


PAYLOADS = [("ok", 0), ("crash", 1), ("ok", 2), ("ok", 3), ("hang", 4), ("ok", 5), ("raise", 6), ("memory", 7),
            ("ok", 8), ("crash", 9), ("crash", 10), ("ok", 11), ("ok", 12)]
EXPECTED = [("ok", 0, 0), ("failed", ("crash", 1), "file-reader-crashed"), ("ok", 2, 4), ("ok", 3, 6),
            ("failed", ("hang", 4), "file-timeout"), ("ok", 5, 10), ("failed", ("raise", 6), "file-reader-crashed"),
            ("failed", ("memory", 7), "file-too-large"), ("ok", 8, 16), ("failed", ("crash", 9), "file-reader-crashed"),
            ("failed", ("crash", 10), "file-reader-crashed"), ("ok", 11, 22), ("ok", 12, 24)]


@pytest.mark.parametrize("jobs", [1, 2])
def test_tasks_sent_ahead_and_a_kept_selector_give_the_same_results(monkeypatch: pytest.MonkeyPatch, jobs: int) -> None:
    """With one worker a task always waits behind another: behind a crash and a hang it must go to the fresh worker
    and still be done, once."""
    monkeypatch.setattr(workers, "available_cpus", lambda: 2)
    got: dict[tuple[int, bool, bool], list[Any]] = {}
    for depth, keep, cheap in product([1, 2, 3], [False, True], [False, True]):  # (and workers.CHEAP_POLL)
        monkeypatch.setattr(workers, "IN_FLIGHT", depth)
        monkeypatch.setattr(workers, "KEEP_SELECTOR", keep)
        monkeypatch.setattr(workers, "CHEAP_POLL", cheap)
        seen: list[int] = []
        results = workers.run_many(_task, _failed, PAYLOADS, context=0.0, jobs=jobs, bounds=workers.Bounds(seconds=1.5),
                                   each=lambda n, r: seen.append(n))
        assert sorted(seen) == list(range(len(PAYLOADS)))  # each task's result given once
        got[depth, keep, cheap] = _outcomes(results)
    for way, outcome in got.items():
        assert outcome == EXPECTED, way


def test_a_task_waiting_behind_another_is_not_on_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two tasks of 0.8 s each sent to one worker at once, 1.2 s each: the second's clock starts when the worker
    takes it (1.6 s after it was sent would be past its time)."""
    monkeypatch.setattr(workers, "IN_FLIGHT", 2)
    results = workers.run_many(_task, _failed, [("slow", 0), ("slow", 1), ("slow", 2)], context=0.8, jobs=1,
                               bounds=workers.Bounds(seconds=1.2))
    assert _outcomes(results) == [("slow", 0, 0), ("slow", 1, 2), ("slow", 2, 4)]


def test_every_worker_gets_a_task_before_any_gets_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tasks sent ahead do not pile onto the first worker: with two of them and two tasks, each does one."""
    monkeypatch.setattr(workers, "available_cpus", lambda: 2)
    monkeypatch.setattr(workers, "IN_FLIGHT", 2)
    results = workers.run_many(_task, _failed, [("slow", 0), ("slow", 1)], context=0.3, jobs=2)
    assert len({r[3] for r in results}) == 2


def test_the_pool_leaves_no_worker_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "IN_FLIGHT", 2)
    made: list[workers._Slot] = []
    real = workers._Slot.__init__

    def record(self: workers._Slot, *a: Any) -> None:
        real(self, *a)
        made.append(self)

    monkeypatch.setattr(workers._Slot, "__init__", record)
    workers.run_many(_task, _failed, PAYLOADS[:4], context=0.0, jobs=1, bounds=workers.Bounds(seconds=1.5))
    assert len(made) == 2  # the first worker, and the one after the crash
    assert all(not s.proc.is_alive() for s in made)
