"""Validate many files in isolated worker processes, within per-file bounds.

Each file is read in a worker process with a memory limit and a deadline: a
file that makes a parser blow up, hang or abort takes down only its worker,
and becomes an ``unreadable`` report (``file-too-large``, ``file-timeout``,
``file-reader-crashed``) while the others go on. Results come back in input
order, so any number of jobs gives the same reports as one.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import os
import sys
import time
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Callable

from .findings import finding
from .identify import TemplateSet
from .report import FileReport

#: Per-file bounds (the hostile-input issue): memory a worker may add while reading, and time.
MEMORY_LIMIT_MB = 512
TIME_LIMIT_S = 10.0


@dataclass(frozen=True)
class Bounds:
    memory_mb: int = MEMORY_LIMIT_MB
    seconds: float = TIME_LIMIT_S


def default_jobs() -> int:
    return max(1, os.cpu_count() or 1)


def validate_many(paths: list[Path], templates: TemplateSet, *, jobs: int | None = None, reader: str = "fast",
                  today: dt.date | None = None, bounds: Bounds = Bounds(),
                  progress: Callable[[int], None] | None = None) -> list[FileReport]:
    """Validate ``paths`` in ``jobs`` worker processes; reports in input order, one per path."""
    if not paths:
        return []
    jobs = max(1, min(jobs or default_jobs(), len(paths)))
    pool = _Pool(jobs, templates, reader, today, bounds)
    try:
        return pool.run(paths, progress)
    finally:
        pool.close()


# -- the worker -----------------------------------------------------------------------

def _worker(conn: Connection, templates: TemplateSet, reader: str, today: dt.date | None, memory_mb: int) -> None:
    _limit_memory(memory_mb)
    from .validate import validate_path

    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        idx, path = task
        try:
            report = validate_path(path, templates, reader=reader, today=today)
            report = replace(report, submission=None)  # the snapshot stays here; the report travels
        except MemoryError:
            report = FileReport.unreadable(str(path), finding("file-too-large", f"读取此文件需要超过 {memory_mb} MB 内存，已停止读取（疑似恶意构造的文件）。请提交下发的原始模板。"))
        except Exception as exc:  # a bug must not lose the file: it is reported, and the run goes on
            report = FileReport.unreadable(str(path), finding("file-reader-crashed", f"读取此文件时出错（{type(exc).__name__}: {str(exc)[:200]}）。请重新保存后提交；如仍出错请联系财政局。"))
        try:
            conn.send((idx, report))
        except (BrokenPipeError, OSError):
            return


def _limit_memory(memory_mb: int) -> None:
    """Cap the worker's address space at what it has now plus ``memory_mb``."""
    try:
        import resource

        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[0])
        current = pages * os.sysconf("SC_PAGE_SIZE")
        limit = current + memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, OSError, ValueError):  # not Linux: the deadline still applies
        pass


# -- the pool -------------------------------------------------------------------------------

class _Slot:
    def __init__(self, ctx: Any, args: tuple[Any, ...]) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, *args), daemon=True)
        self.proc.start()
        child.close()
        self.task: tuple[int, Path] | None = None
        self.started = 0.0

    def stop(self, kill: bool = False) -> None:
        try:
            if kill:
                self.proc.kill()
            else:
                self.conn.send(None)
        except (BrokenPipeError, OSError):
            pass
        self.proc.join(timeout=0 if kill else 2)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(timeout=2)
        self.conn.close()


class _Pool:
    def __init__(self, jobs: int, templates: TemplateSet, reader: str, today: dt.date | None, bounds: Bounds) -> None:
        methods = mp.get_all_start_methods()
        self.ctx = mp.get_context("fork" if "fork" in methods and sys.platform != "darwin" else "spawn")
        self.args = (templates, reader, today, bounds.memory_mb)
        self.bounds = bounds
        self.slots = [_Slot(self.ctx, self.args) for _ in range(jobs)]

    def close(self) -> None:
        for slot in self.slots:
            slot.stop(kill=slot.task is not None)

    def run(self, paths: list[Path], progress: Callable[[int], None] | None) -> list[FileReport]:
        results: list[FileReport | None] = [None] * len(paths)
        queue = list(enumerate(paths))
        queue.reverse()
        done = 0
        while done < len(paths):
            for n in range(len(self.slots)):
                slot = self.slots[n]
                if slot.task is None and queue:
                    task = slot.task = queue.pop()
                    slot.started = time.monotonic()
                    try:
                        slot.conn.send(task)
                    except (BrokenPipeError, OSError):
                        results[task[0]] = self._replace(n, "file-reader-crashed", "读取程序异常退出")
                        done += 1
                        if progress:
                            progress(1)
            busy = [s for s in self.slots if s.task is not None]
            if not busy:
                continue
            waitables: list[Any] = [s.conn for s in busy] + [s.proc.sentinel for s in busy]
            deadline = min(s.started for s in busy) + self.bounds.seconds
            ready = wait(waitables, timeout=max(0.0, deadline - time.monotonic()))
            for n, slot in enumerate(self.slots):
                if slot.task is None:
                    continue
                idx = slot.task[0]
                if slot.conn in ready:
                    try:
                        got, report = slot.conn.recv()
                    except (EOFError, OSError):
                        results[idx] = self._replace(n, "file-reader-crashed", "读取此文件时读取程序异常退出")
                    else:
                        results[got] = report
                        slot.task = None
                elif slot.proc.sentinel in ready:
                    results[idx] = self._replace(n, "file-reader-crashed", "读取此文件时读取程序异常退出（可能是文件被恶意构造）")
                elif time.monotonic() - slot.started >= self.bounds.seconds:
                    results[idx] = self._replace(n, "file-timeout", f"读取此文件超过 {self.bounds.seconds:g} 秒，已停止")
                else:
                    continue
                done += 1
                if progress:
                    progress(1)
        return [r for r in results if r is not None]

    def _replace(self, n: int, code: str, what: str) -> FileReport:
        """The worker in slot ``n`` failed on its file: report the file, start a fresh worker."""
        slot = self.slots[n]
        idx, path = slot.task or (-1, Path("?"))
        slot.task = None
        slot.stop(kill=True)
        self.slots[n] = _Slot(self.ctx, self.args)
        return FileReport.unreadable(str(path), finding(code, f"{what}。请重新保存为下发的 .xlsx 模板后提交；如仍出错请联系财政局。"))
