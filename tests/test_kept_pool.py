"""One pool of workers kept from one pass to the next (xltemplate.workers.KEEP_POOL): ``collect`` without --template
reads a sample with the built-ins, then every return with the roster, and the CLI starts the workers before it looks
for the returns. Each pass gets its own context (sent to the kept workers), the same results as a pool a pass (crashes,
hangs and the memory bound included: each file still has its whole bound after a context), the same workers for the
passes, none left behind; and the same roll-up, JSON and CSVs either way."""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from xltemplate import workers
from xltemplate.cli import main
from .conftest import SAMPLES, mixed_inbox
from .test_pool import EXPECTED, PAYLOADS, _failed, _outcomes, _task


def _tagged(context: Any, payload: tuple[str, int]) -> Any:
    """A task that says which context its worker has (and its pid), or does what :func:`_task` does."""
    what, n = payload
    if what == "context":
        return ("context", n, context if not isinstance(context, bytes) else len(context), os.getpid())
    return _task(context if isinstance(context, float) else 0.0, payload)


def _grab(context: Any, payload: int) -> Any:
    """Allocate ``payload`` MB (touched): what a reader blowing up does."""
    block = bytearray(payload << 20)
    block[::4096] = b"x" * len(block[::4096])
    return ("ok", payload, os.getpid())


def _passes(contexts: list[Any], payloads: list[Any], jobs: int, task: Any = _tagged,
            bounds: workers.Bounds = workers.Bounds(seconds=1.5)) -> list[list[Any]]:
    return [workers.run_many(task, _failed, payloads, context=c, jobs=jobs, bounds=bounds) for c in contexts]


@pytest.mark.parametrize("early", [False, True])
def test_each_pass_of_a_kept_pool_has_its_own_context_and_the_same_workers(monkeypatch: pytest.MonkeyPatch,
                                                                          early: bool) -> None:
    monkeypatch.setattr(workers, "available_cpus", lambda: 2)
    payloads = [("context", n) for n in range(6)]
    if early:
        workers.keep_pool(2, bounds=workers.Bounds(seconds=1.5))  # (started before the first pass, no context)
        try:
            got = _passes(["first", "second", "second"], payloads, 2)
        finally:
            workers.end_kept()
    else:
        with workers.kept_pool():
            got = _passes(["first", "second", "second"], payloads, 2)
    assert [[r[:3] for r in one] for one in got] == [[("context", n, c) for n in range(6)]
                                                      for c in ("first", "second", "second")]
    pids = {r[3] for one in got for r in one}
    assert len(pids) == 2  # the first pass's two workers did every pass
    assert workers.kept_now() is None
    monkeypatch.setattr(workers, "KEEP_POOL", False)
    with workers.kept_pool():
        fresh = _passes(["first", "second"], payloads, 2)
    assert len({r[3] for one in fresh for r in one}) == 4  # (off: a pool a pass)


def test_a_kept_pool_gives_what_a_pool_a_pass_gives_crashes_and_hangs_included(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first pass kills, hangs and runs out of memory; the second pass's tasks have the second context, in the
    workers that replaced those (started with it) as in the others (sent it)."""
    monkeypatch.setattr(workers, "available_cpus", lambda: 2)
    tagged = [("context", n) for n in range(4)]
    with workers.kept_pool():
        first = workers.run_many(_tagged, _failed, PAYLOADS, context=0.0, jobs=2, bounds=workers.Bounds(seconds=1.5))
        second = _passes(["after"], tagged + [("crash", 4)] + tagged, 2)[0]
    assert _outcomes(first) == EXPECTED
    assert [r[:3] for r in second[:4]] + [r[:3] for r in second[5:]] == [("context", n, "after") for n in range(4)] * 2
    assert second[4] == ("failed", ("crash", 4), "file-reader-crashed")


def test_a_context_too_large_to_send_gets_a_pool_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "available_cpus", lambda: 2)
    large = b"x" * ((workers.KEPT_CONTEXT_MB << 20) + 1)
    with workers.kept_pool():
        got = _passes(["small", large, "small"], [("context", n) for n in range(4)], 2)
        keeping = workers.kept_now()
        kept = keeping.pool if keeping else None
        assert kept is not None and all(s.proc.is_alive() for s in kept.slots)
    assert [r[2] for r in got[1]] == [len(large)] * 4 and [r[2] for r in got[2]] == ["small"] * 4
    assert {r[3] for r in got[0]} == {r[3] for r in got[2]}
    assert not {r[3] for r in got[0]} & {r[3] for r in got[1]}  # (forked for it: the large one was not sent)
    assert kept is not None and not any(s.proc.is_alive() for s in kept.slots)  # ended with the keeping


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="the memory bound is Linux's (RLIMIT_AS)")
def test_each_file_keeps_its_whole_memory_bound_after_a_context(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker sent a context of 40 MB still lets a file take 80 MB of its 96 MB bound (the bound is reset above what
    it holds once it has the context), and stops one that takes more; so does a worker started with none
    (keep_pool)."""
    monkeypatch.setattr(workers, "available_cpus", lambda: 2)
    monkeypatch.setattr(workers, "KEPT_CONTEXT_MB", 64)  # (sent, not given a pool of its own)
    bounds = workers.Bounds(memory_mb=96, seconds=20)
    context = b"r" * (40 << 20)
    workers.keep_pool(1, bounds=bounds)
    try:
        got = _passes([None, context, context], [80, 200, 80], 1, task=_grab, bounds=bounds)
    finally:
        workers.end_kept()
    for one in got:
        assert one[0][:2] == ("ok", 80) and one[2][:2] == ("ok", 80)
        assert one[1][0] == "failed" and one[1][2] == "file-too-large"


def test_the_cli_collect_is_the_same_with_the_pool_kept_or_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """collect with a roster and no template (the guess's pass, then every return), --jobs 2, with CSVs: the same
    roll-up bytes, JSON and CSVs; no pool left kept."""
    (tmp_path / "in").mkdir()
    inbox = mixed_inbox(tmp_path / "in")
    roster = str(SAMPLES / "roster.csv")
    monkeypatch.setattr(workers, "available_cpus", lambda: 2)
    monkeypatch.setattr(importlib.import_module("xltemplate.rollup.collect"), "TEMPLATE_SAMPLE", 4)
    got = []
    for keep in (False, True):
        monkeypatch.setattr(workers, "KEEP_POOL", keep)
        out = tmp_path / str(keep)
        out.mkdir()
        result = CliRunner().invoke(main, ["collect", str(inbox), "--roster", roster, "-o", str(out / "汇总.xlsx"),
                                           "--json", "--quiet", "--jobs", "2", "--export", str(out / "csv")])
        assert result.exit_code == 0, result.output
        assert workers.kept_now() is None
        data = json.loads(result.output)
        data.pop("outputs")
        csvs = {p.name: p.read_bytes() for p in sorted((out / "csv").iterdir())}
        got.append(((out / "汇总.xlsx").read_bytes(), data, csvs))
    assert got[0] == got[1]
    assert got[1][1]["template"]["detected"] is True



def test_two_threads_keep_pools_of_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """A library collecting in two threads at once: each thread's passes have its own workers and its own contexts."""
    import threading

    monkeypatch.setattr(workers, "available_cpus", lambda: 2)
    payloads = [("context", n) for n in range(6)]
    got: dict[str, list[list[Any]]] = {}

    def passes(name: str) -> None:
        with workers.kept_pool():
            got[name] = _passes([f"{name} 1", f"{name} 2"], payloads, 2)

    threads = [threading.Thread(target=passes, args=(name,)) for name in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name in ("a", "b"):
        assert [[r[:3] for r in one] for one in got[name]] == [[("context", n, f"{name} {k}") for n in range(6)]
                                                               for k in (1, 2)]
    pids = {name: {r[3] for one in got[name] for r in one} for name in ("a", "b")}
    assert len(pids["a"]) == len(pids["b"]) == 2 and not pids["a"] & pids["b"]
    assert workers.kept_now() is None
