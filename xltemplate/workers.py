"""Work on untrusted files in isolated worker processes, within per-file bounds; and how many.

Every parse of a file from outside runs through here: each return is read and validated in a
worker process with a memory limit and a deadline (:mod:`xltemplate.batch`), its annotated copy
is written the same way (openpyxl expands a merged range over the whole sheet into billions of
cells), and a roster workbook is read by a one-off bounded process (:func:`run_bounded`). A
file that makes a parser blow up, hang or abort takes down only its worker; the task's own
``fail`` function turns that into its result (an ``unreadable`` report: ``file-too-large``,
``file-timeout``, ``file-reader-crashed``) while the others go on. This module knows nothing of
what the tasks do: a task is a function of the run's context and a payload, sent by reference.

The deadline counts the file's own work: the clock starts when the worker says
it has the file, not when the file was handed over, so a worker still starting
(or waiting for a CPU) costs its file nothing; nor does a file sent to a worker ahead of time, behind
the one it works on (:data:`IN_FLIGHT`), whose clock starts when that one ends. Jobs are capped at the CPUs this
process may use (affinity, cgroup quota): more workers than CPUs only make each
file slower; every pool of the package (reading, annotating, generating from a roster) is sized
by :func:`pool_size`. Results come back in input order, so any number of jobs gives the same
results as one.
"""

from __future__ import annotations

import contextlib
import gc
import math
import multiprocessing as mp
import os
import select
import selectors
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from glob import escape as glob_escape
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from .errors import BoundExceeded
from .signals import held_for_a_child, part_prefix, remove_scratch_of, wait_for_task, worker_started

#: Per-file bounds (the hostile-input issue): memory a worker may add while reading, and time.
MEMORY_LIMIT_MB = 512
TIME_LIMIT_S = 10.0
#: A worker that has not taken its file after this long is taken for dead (it never started).
START_LIMIT_S = 120.0


@dataclass(frozen=True)
class Bounds:
    memory_mb: int = MEMORY_LIMIT_MB
    seconds: float = TIME_LIMIT_S


# -- how many workers -----------------------------------------------------------------------

def available_cpus() -> int:
    """The CPUs this process may actually use: its affinity, and a container's CPU quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = _cgroup_cpus()
    if quota is not None:
        n = min(n, quota)
    return max(1, n)


def _cgroup_cpus() -> int | None:
    """The cgroup CPU quota in whole CPUs (rounded up), or None without one (v2 cpu.max, v1 cfs_quota_us)."""
    limits: list[int] = []
    for folder in _cgroup_dirs():
        try:
            quota, period = (folder / "cpu.max").read_text().split()[:2]
            if quota != "max":
                limits.append(math.ceil(int(quota) / int(period)))
        except (OSError, ValueError):
            pass
        try:
            quota_us = int((folder / "cpu.cfs_quota_us").read_text())
            period_us = int((folder / "cpu.cfs_period_us").read_text())
            if quota_us > 0 and period_us > 0:
                limits.append(math.ceil(quota_us / period_us))
        except (OSError, ValueError):
            pass
    return min(limits) if limits else None


def _cgroup_dirs() -> list[Path]:
    root = Path("/sys/fs/cgroup")
    dirs = [root, root / "cpu", root / "cpu,cpuacct"]
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, rel = line.split(":", 2)
            if controllers in ("", "cpu", "cpu,cpuacct", "cpuacct,cpu") and rel not in ("", "/"):
                base = root if controllers == "" else root / ("cpu" if controllers == "cpu" else "cpu,cpuacct")
                dirs.append(base / rel.lstrip("/"))
    except (OSError, ValueError):
        pass
    return [d for d in dict.fromkeys(dirs) if d.is_dir()]



def cap_jobs(requested: int | None) -> tuple[int, bool]:
    """(the number of workers to run, whether ``requested`` was more than the CPUs available)."""
    cpus = available_cpus()
    if requested is None:
        return cpus, False
    return max(1, min(requested, cpus)), requested > cpus


def capped_note(requested: int, jobs: int) -> str:
    """The one line a person reads when --jobs was capped."""
    return f"--jobs {requested} 超过可用 CPU 数，已按 {jobs} 个进程运行"


def pool_size(requested: int | None, tasks: int) -> int:
    """The workers a pool of ``tasks`` gets: what was asked (default: every CPU), capped at the CPUs
    available and at the number of tasks, at least one."""
    return max(1, min(cap_jobs(requested)[0], tasks))


#: What happened to a task whose worker was stopped: a finding code and the worker's account, in Chinese.
#: ``fail(payload, code, what)`` turns it into the task's result.
Fail = Callable[[Any, str, str], Any]
#: A task: ``run(context, payload)`` in a worker (a module-level function: it is sent by reference).
Run = Callable[[Any, Any], Any]


# -- the work, in a worker --------------------------------------------------------------------

def run_many(run: Run, fail: Fail, payloads: Sequence[Any], *, context: Any = None, jobs: int | None = None,
             bounds: Bounds = Bounds(), progress: Callable[[int], None] | None = None,
             warm: Callable[[], None] | None = None, each: Callable[[int, Any], None] | None = None,
             keep: bool = True, held: int = 0) -> list[Any]:
    """``run(context, payload)`` for each payload in ``jobs`` bounded workers; results in input order.

    ``context`` is sent once to each worker (not with every task); ``warm`` runs in each worker
    before its first task, off the task's clock (imports, say); ``progress(1)`` is called as each
    task ends, and ``each(index, result)`` with its result (in the order tasks end: a caller can
    keep results as they come, so that a run killed halfway keeps what it had). With ``keep=False`` the
    results go only to ``each`` and the list returned is empty (a caller that spills them holds none).
    ``held``: how many files this process holds something of for its run (a round's ledger files, say): a process
    that holds much is not forked (:data:`FORKSERVER_FROM`), however few the tasks; one that holds little is, however
    many.
    """
    if not payloads:
        return []
    # the payloads are taken one at a time as workers ask (a list of 100,000 tasks is not made: issue 15)
    return _run(run, fail, payloads, pool_size(jobs, len(payloads)), context, warm, bounds, progress, each, keep,
                held)


def run_bounded(fn: Callable[..., Any], *args: Any, bounds: Bounds = Bounds()) -> Any:
    """``fn(*args)`` in a one-off worker process with the memory and time bounds; its result.

    Raises :class:`~xltemplate.errors.BoundExceeded` when the worker runs out of memory or time or
    dies, and re-raises an exception ``fn`` raised (it must be picklable).
    """
    (result,) = _run(_call, _bound_exceeded, [(fn, args)], 1, None, None, bounds, None, None, True, 1, keepable=False)
    if isinstance(result, BaseException):
        raise result
    return result


def _call(context: Any, payload: tuple[Callable[..., Any], tuple[Any, ...]]) -> Any:
    fn, args = payload
    try:
        return fn(*args)
    except MemoryError:
        raise  # the worker turns it into the memory bound's result
    except Exception as exc:  # handed back to the caller, who knows what it means
        return exc


def _bound_exceeded(payload: Any, code: str, what: str) -> BoundExceeded:
    return BoundExceeded(code, what)


#: A worker moves every object it holds once warm (what it inherited from the parent, the imports) out of the cyclic
#: garbage collector's reach (``gc.freeze``): a full collection no longer walks them again and again (some 100 µs
#: a national return at 500 returns, measured), nor writes to their pages, which a forked worker shares with the
#: parent. Nothing of a file is frozen (no task has run); objects freed by their count are freed as before, so only a
#: cycle of garbage already there stays (the parent's pages anyway). False: not frozen (the tests compare).
FREEZE_AFTER_WARM = True

#: A worker collects its youngest generation after :data:`_YOUNG` more containers than it freed, not Python's 700: a
#: validation makes and drops thousands (a sheet's cells, a plan), nearly all freed by their count, so a collection
#: every 700 walked live ones again and again (some 290 collections a 1,000 national returns, ~200 µs a return
#: with those of the older generations they start; 8 collections, ~20–50 µs, at 20,000). Garbage in a cycle waits
#: for at most that many containers (a few MB). False: Python's thresholds (the tests compare).
FEWER_COLLECTIONS = True
_YOUNG = 20_000


#: In each worker, this process's temporary files that a worker reads at most (:func:`read_only_in_workers`) are
#: read-only; False: inherited as they are, writable (the tests compare).
READ_ONLY = True
_READ_ONLY: set[tuple[int, int]] = set()


def file_id(fd: int) -> tuple[int, int]:
    """The file open at ``fd``: its device and inode (what :func:`read_only_in_workers` is given)."""
    st = os.fstat(fd)
    return (st.st_dev, st.st_ino)


def read_only_in_workers(ident: tuple[int, int]) -> None:
    """The file ``ident`` (:func:`file_id`; a temporary file of this process's: the spill, the store, the roster's
    rows) read-only in every worker forked from now on, at the descriptor it has here: a worker compromised through a
    reader bug cannot write bytes this process later unpickles. :func:`forget` it when the file is closed."""
    _READ_ONLY.add(ident)


def forget(ident: tuple[int, int]) -> None:
    """A file :func:`read_only_in_workers` named, closed: nothing to do for it in later workers."""
    _READ_ONLY.discard(ident)


def _read_only() -> None:
    """In a worker (forked: it has this process's descriptors): each of :data:`_READ_ONLY`'s files reopened read-only
    (through /proc: Linux) at its own descriptor, the descriptor's close-on-exec kept; elsewhere left as it is
    (a system without /proc, or spawn, which inherits none of them)."""
    if not (READ_ONLY and _READ_ONLY) or not os.path.isdir("/proc/self/fd"):
        return
    for name in os.listdir("/proc/self/fd"):
        try:
            fd = int(name)
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) not in _READ_ONLY:
                continue
            mine = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)
        except (OSError, ValueError):
            continue  # (the listing's own descriptor, gone by now)
        try:
            os.dup2(mine, fd, inheritable=os.get_inheritable(fd))
        finally:
            os.close(mine)


def _worker(conn: Connection, context: Any, warm: Callable[[], None] | None, memory_mb: int, parent: int | None,
            settings: dict[tuple[str, str], Any] | None = None, room_mb: int = 0) -> None:
    if parent is None:  # (started by a forkserver: its parent is the server, which ends with the run's process)
        parent = os.getppid()
    worker_started(parent)  # ignore Ctrl-C, die on SIGTERM, die with the parent
    if settings:
        _apply(settings)
    _read_only()  # (before anything of a file's is read)
    if warm is not None:
        warm()  # before the first task: neither on its clock nor in its memory
    if FREEZE_AFTER_WARM:
        gc.freeze()  # (see FREEZE_AFTER_WARM)
    if FEWER_COLLECTIONS:
        gc.set_threshold(_YOUNG, *gc.get_threshold()[1:])  # (see FEWER_COLLECTIONS)
    _limit_memory(memory_mb, room_mb)

    while True:
        try:
            if not wait_for_task(conn, parent):
                return
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        if isinstance(task, _Context):  # a kept pool's next pass (see KEEP_POOL): its context, before its tasks
            context = task.context
            del task
            if FREEZE_AFTER_WARM:
                gc.collect()  # (what the last pass left in cycles is not frozen with the context)
                gc.freeze()
            _limit_memory(memory_mb, room_mb, again=True)  # each file has memory_mb beyond what the worker holds now
            continue
        idx, run, fail, payload, *behind = task
        try:
            if not behind:  # (a task sent behind another is taken as that one ends: its clock starts with that one's result)
                conn.send(("start", idx))  # the task's clock starts now
            result = run(context, payload)
        except MemoryError:
            result = fail(payload, "file-too-large", f"处理此文件需要超过 {memory_mb} MB 内存，已停止（疑似恶意构造的文件）")
        except Exception as exc:  # a bug must not lose the file: it is reported, and the run goes on
            result = fail(payload, "file-reader-crashed", f"处理此文件时出错（{type(exc).__name__}: {str(exc)[:200]}）")
        try:
            conn.send(("done", idx, result))
        except (BrokenPipeError, OSError):
            return


def _settings() -> dict[tuple[str, str], Any]:
    """The module-level settings of this process's modules of the package (upper-case names bound to a bool, number,
    string or None: the switches): what a forked worker would see, for a worker that is not forked."""
    found: dict[tuple[str, str], Any] = {}
    for name, module in list(sys.modules.items()):
        if module is None or not (name == __package__ or name.startswith(f"{__package__}.")):
            continue
        for attr, value in list(vars(module).items()):
            if attr[:1].isalpha() and attr.isupper() and (value is None or isinstance(value, (bool, int, float, str))):
                found[(name, attr)] = value
    return found


def _apply(settings: dict[tuple[str, str], Any]) -> None:
    """In a worker not forked from the run's process: its settings (:func:`_settings`), as it has them (the modules
    they are in imported first, as the run's process had them: a task that imports one later finds it set)."""
    import importlib

    for (name, attr), value in settings.items():
        module = sys.modules.get(name)
        if module is None and name.endswith(".__main__"):
            continue  # (a program's entry: importing it would run it)
        if module is None:
            try:
                module = importlib.import_module(name)
            except Exception:  # (a module that cannot be imported here is not one a task uses)
                continue
        if getattr(module, attr, value) != value:
            setattr(module, attr, value)


def _limit_memory(memory_mb: int, room_mb: int = 0, *, again: bool = False) -> None:
    """Cap the worker's address space at what it has now plus ``memory_mb``; ``room_mb``: how much more the cap may be
    raised later (a kept pool's worker, sent each pass's context: see :data:`KEEP_POOL`), ``again``: raised so now, at
    most by that much (the hard limit, set the first time, is the ceiling: not even this process can pass it)."""
    try:
        import resource

        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[0])
        current = pages * os.sysconf("SC_PAGE_SIZE")
        limit = current + memory_mb * 1024 * 1024
        if again:
            hard = resource.getrlimit(resource.RLIMIT_AS)[1]
            resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
        else:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit + room_mb * 1024 * 1024))
    except (ImportError, OSError, ValueError):  # not Linux: the deadline still applies
        pass


# -- the pool -------------------------------------------------------------------------------

def _run(run: Run, fail: Fail, payloads: Sequence[Any], jobs: int, context: Any, warm: Callable[[], None] | None,
         bounds: Bounds, progress: Callable[[int], None] | None, each: Callable[[int, Any], None] | None,
         keep: bool, size: int, keepable: bool = True) -> list[Any]:
    keeping = kept_now()
    if keeping is not None and keepable:
        kept = keeping.pool_for(jobs, context, bounds, warm, size)
        if kept is not None:
            try:
                return kept.run(run, fail, payloads, progress, each, keep)
            except BaseException:
                keeping.drop()  # (a pass that did not end cleanly: its workers go now, as a pool's would)
                raise
    pool = _Pool(jobs, context, bounds, warm, size)
    try:
        return pool.run(run, fail, payloads, progress, each, keep)
    finally:
        pool.close()


#: How long a busy worker has to leave cleanly after SIGTERM before it is killed.
TERMINATE_GRACE_S = 1.0


def _remove_partial(payload: Any, pid: int) -> None:
    """The temporary file a task killed mid-write left beside its target (see fsutil.atomic_path): a task
    that writes a file says which in its payload's ``output`` (a Path); ``pid``: the worker that was killed (its name
    is in the file's: another process's, a concurrent run's, is left)."""
    target = getattr(payload, "output", None)
    if not isinstance(target, Path):
        return
    folder = target.parent
    if not folder.is_dir():
        return
    for leftover in folder.glob(f"{glob_escape(part_prefix(target.name, pid))}*.part"):
        with contextlib.suppress(OSError):
            leftover.unlink()


def _stop_forkserver() -> None:
    """End the forkserver of this process if it has one, and wait for it."""
    from multiprocessing import forkserver

    stop = getattr(forkserver._forkserver, "_stop", None)  # (CPython's, since 3.8; without it the server ends with us)
    if stop is not None:
        stop()


class _Slot:
    def __init__(self, ctx: Any, args: tuple[Any, ...]) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, *args), daemon=True)
        with held_for_a_child():
            self.proc.start()
        child.close()
        # the tasks sent to the worker and not ended, in the order sent: the first is the one it works on
        self.tasks: deque[tuple[int, Run, Fail, Any]] = deque()
        self.sent = 0.0  # when the first of them became the one the worker works on
        self.started: float | None = None  # when the worker took it
        self.watched = False  # (in the pool's selector)
        self._poll: Any = None  # (see CHEAP_POLL)
        if CHEAP_POLL and hasattr(select, "poll"):
            self._poll = select.poll()
            self._poll.register(self.conn.fileno(), select.POLLIN)

    def readable(self) -> bool:
        """Whether the worker's pipe has something to read (or is closed: ``recv`` then says so), without waiting."""
        if self._poll is None:
            return bool(self.conn.poll())
        return bool(self._poll.poll(0))

    @property
    def task(self) -> tuple[int, Run, Fail, Any] | None:
        """The task the worker works on (or will take next), if any."""
        return self.tasks[0] if self.tasks else None

    def stop(self, kill: bool = False) -> None:
        """End the worker: ask it to when it is idle; terminate it when it is busy (``kill``).

        A busy worker gets SIGTERM first and a moment to leave through its finally blocks (a
        copy being written removes its .part file); one that does not end is killed, and what
        its task may have left half-written is removed here.
        """
        try:
            if kill:
                self.proc.terminate()
            else:
                self.conn.send(None)
        except (BrokenPipeError, OSError):
            pass
        self.proc.join(timeout=TERMINATE_GRACE_S if kill else 2)
        stopped = kill  # (ended by a signal, not by being asked: its finally blocks may not all have run)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(timeout=2)
            stopped = True
        if stopped:
            # What a stopped worker's task may have left: a worker killed outright ran no finally block; one that left
            # on SIGTERM (SystemExit) in time ran them, but not for a folder or file made in the instant before its
            # name was known to one (the signal raising between mkdtemp's return and the assignment: deferred()
            # holds a signal back only in the main process), nor the rest of a removal the signal cut short.
            for task in self.tasks:  # (the one it had; one sent after it may have been taken meanwhile)
                _remove_partial(task[3], self.proc.pid)
            remove_scratch_of(self.proc.pid)  # (its private temporary folders, by the pid in their names)
        self.conn.close()

    def deadline(self, seconds: float) -> float:
        return self.sent + START_LIMIT_S if self.started is None else self.started + seconds


#: Ask a worker's pipe whether it has something to read with a poll object kept for it (one system call), where
#: ``Connection.poll()`` builds and tears down a selector each time (4.6 µs against 0.7 µs, load 7): twice a result in
#: this process, which competes with the workers for the CPUs (issue 15). False: ``Connection.poll()`` (the tests
#: compare).
CHEAP_POLL = True


#: Tasks sent ahead to each worker: the next file is in its pipe before it ends the one it has, so that it
#: never waits for this process to be scheduled (this process competes with the workers for the CPUs: issue 15).
#: A task waiting behind another is not on the clock: the worker takes it as it ends the one before, and its clock
#: starts when that one's result comes (the worker sends no "start" for it: a message fewer a file). It goes to a
#: fresh worker if this one is stopped.
#: 1: a task at a time (the tests compare).
IN_FLIGHT = 2
#: Wait on the workers with one selector kept for the pool's run (its pipes and process sentinels registered
#: as workers get tasks and give them back); False: :func:`multiprocessing.connection.wait`, which builds and
#: tears down a selector on every call (the tests compare).
KEEP_SELECTOR = True


#: A pool for a run that holds something of at least this many files (``held``: a round's ledger files) starts its
#: workers from a forkserver, a process of its own started fresh (not
#: forked) for the pool and ended with it: a forked worker's resident memory counts every page of the run's process
#: it shares (a round at 100,000 returns: 363 MB a worker, issue 15), a forkserver's worker only its own (~30 MB of
#: imports). The server costs a fresh interpreter and the package's imports (~0.3 s), once a pool. A pool whose caller
#: holds little forks, however many its tasks: ``collect``'s process stays small at any N (43–47 MB), so its forked
#: workers do, and a forkserver's workers would each be sent the run's context pickled, the roster's rows with it
#: (measured at 100,000: main 47 → 77 MB, workers 62 → 80 MB). A round's later run with a few new files among many
#: holds every file's brief: it says so, and is not forked. The workers get this process's module settings
#: (:func:`_settings`: a switch a caller set reaches them as it would a forked one). None: every pool forks (the
#: tests compare); 0: every pool uses a forkserver.
FORKSERVER_FROM: int | None = 1000


#: Whether this process's forkserver was started by :func:`prestart` (the pools use it and leave it running).
_prestarted = False


def prestart(tasks: int) -> bool:
    """Start the forkserver now, while this process is small, for a run of about ``tasks`` files whose pools will use
    one (:data:`FORKSERVER_FROM`); whether it did. Linux counts in a started process's peak memory (ru_maxrss) the
    peak of the process it was started from (the memory it shared until its exec): a server started from a grown
    run's process counts that process's peak, though it holds none of it. The CLI calls this once the inputs are
    found, before the roster is read; :func:`stop_prestarted` is called once every file is read (a round after
    its reading, collect before the roll-up is written) and when the command ends: the server is ended and waited for
    then, so its workers' peak and CPU reach the run's RUSAGE_CHILDREN (before the roll-up's second process is forked,
    whose peak counts the run's process: the two apart). The server imports nothing of the package (what it costs a
    second run that reads no file: ~0.05 s of the other CPU); each worker imports what its task needs, and the
    modules the run's settings are in (:func:`_apply`)."""
    global _prestarted
    if _prestarted or _start_method(tasks) != "forkserver":
        return _prestarted
    _stop_forkserver()
    ctx = mp.get_context("forkserver")
    # (a preload, so that the server gets this process's sys.path; one it has anyway: importing the package costs
    # ~0.2 s of CPU, which a second run that reads no file would pay for nothing)
    ctx.set_forkserver_preload(["multiprocessing"])
    from multiprocessing import forkserver

    forkserver.ensure_running()
    _prestarted = True
    return True


def stop_prestarted() -> None:
    """End the forkserver :func:`prestart` started, and wait for it (nothing when there is none)."""
    global _prestarted
    if _prestarted:
        _prestarted = False
        _stop_forkserver()


def _start_method(tasks: int) -> str:
    methods = mp.get_all_start_methods()
    if "fork" not in methods or sys.platform == "darwin":
        return "spawn"
    if FORKSERVER_FROM is not None and tasks >= FORKSERVER_FROM and "forkserver" in methods:
        return "forkserver"
    return "fork"


#: A pass of a run that reads in turn with more than one context (``collect`` without ``--template``: the sample the
#: template is guessed from with the built-ins, then every return with the roster, :func:`kept_pool`) keeps the
#: first pass's workers for the next, and sends each worker the next pass's context through its pipe (the context
#: pickled once, ~3 ms and 1.5 MB at 10,000 roster rows), where each pass forked workers of its own: a worker's start
#: is a fork, importing openpyxl (~0.2 s of CPU) and the plans of its first returns (~30 ms), twice a run on two
#: CPUs (~0.5 s of CPU, of a 10,000-return collect's ~35 s). Only forked pools of as many workers as the first
#: pass's (a one-off bounded call, :func:`run_bounded`, has its own), and only while a context pickles to at most
#: :data:`KEPT_CONTEXT_MB`: a roster past 2 MB is on disk (roster.DISK_FROM), which a forked worker reads through
#: the descriptor it has, where a sent one would hold it all: a larger context is given to a pool forked for it. Each worker's memory bound is reset as it takes a
#: context: what it holds then plus the bound, within :data:`KEPT_ROOM_MB` more than at its start. The CLI's
#: ``collect`` without a ledger starts the pool's workers before it looks for the returns (:func:`keep_pool`), so that
#: their start overlaps its own work on the other CPU. False: a pool a pass (the tests compare).
KEEP_POOL = True
KEPT_CONTEXT_MB = 2
KEPT_ROOM_MB = 64


class _Context:
    """A kept pool's next context, as its workers are sent it (see :data:`KEEP_POOL`)."""

    __slots__ = ("context",)

    def __init__(self, context: Any) -> None:
        self.context = context


class _Keeping:
    """The pool :func:`kept_pool` keeps from one pass to the next: started by the first pass, ended when the
    keeping ends."""

    def __init__(self) -> None:
        self.pool: _Pool | None = None

    def pool_for(self, jobs: int, context: Any, bounds: Bounds, warm: Callable[[], None] | None,
                 tasks: int) -> "_Pool | None":
        """The kept pool (started now by the first pass), to run a pass of ``jobs`` workers with ``context``; None:
        the pass starts a pool of its own (it asks for other workers, or its context is too large to send)."""
        if _start_method(tasks) != "fork":
            return None
        pool = self.pool
        if pool is None:
            self.pool = pool = _Pool(jobs, context, bounds, warm, tasks, room_mb=KEPT_ROOM_MB)
            return pool
        if len(pool.slots) >= jobs and pool.bounds == bounds and pool.warm is warm:  # (a pass of fewer tasks than workers)
            if context is not pool.args[0]:
                from multiprocessing.reduction import ForkingPickler

                sent = ForkingPickler.dumps(_Context(context))  # (its buffer: not copied)
                if len(sent) > KEPT_CONTEXT_MB << 20:
                    return None
                pool.rebase(context, sent)
            return pool
        return None

    def drop(self) -> None:
        """End the kept pool's workers (the next pass starts a pool anew)."""
        pool, self.pool = self.pool, None
        if pool is not None:
            pool.close()


#: The keeping of the thread (a thread's passes never share another's workers: a library may collect in two at once).
_local = threading.local()


def kept_now() -> _Keeping | None:
    """This thread's keeping (:func:`keep_pool`), if any."""
    return getattr(_local, "keeping", None)


@contextlib.contextmanager
def kept_pool() -> Iterator[None]:
    """Within: the passes of workers keep one pool (:data:`KEEP_POOL`), ended on leaving (nothing when off, or within
    another keeping, :func:`keep_pool`'s say: that one keeps it)."""
    if not KEEP_POOL or kept_now() is not None:
        yield
        return
    keep_pool()
    try:
        yield
    finally:
        end_kept()


def keep_pool(jobs: int | None = None, warm: Callable[[], None] | None = None, bounds: Bounds = Bounds()) -> None:
    """From now until :func:`end_kept`, the passes of workers keep one pool (:data:`KEEP_POOL`; nothing when off or
    already so). ``jobs``: its workers are started now, that many (capped at the CPUs, :func:`cap_jobs`), each warmed
    with ``warm`` and bounded by ``bounds``: while this process does what comes before the first pass (the CLI: finding
    the inputs), they start and import on another CPU, off the run's path (a fork then is also of a smaller
    process); a pass that asks for other workers starts a pool of its own."""
    if not KEEP_POOL or kept_now() is not None:
        return
    _local.keeping = keeping = _Keeping()
    if jobs is not None and _start_method(0) == "fork":
        keeping.pool = _Pool(cap_jobs(jobs)[0], None, bounds, warm, 0, room_mb=KEPT_ROOM_MB)


def end_kept() -> None:
    """End the keeping :func:`keep_pool` started, and its pool's workers (waited for: their CPU and peak memory are
    this process's children's from now on)."""
    keeping, _local.keeping = kept_now(), None
    if keeping is not None:
        keeping.drop()


class _Pool:
    def __init__(self, jobs: int, context: Any, bounds: Bounds, warm: Callable[[], None] | None = None,
                 tasks: int = 0, room_mb: int = 0) -> None:
        self.method = _start_method(tasks)
        self.ctx = mp.get_context(self.method)
        settings: dict[tuple[str, str], Any] | None = None
        parent: int | None = os.getpid()
        if self.method == "forkserver" and _prestarted:
            settings, parent = _settings(), None  # (the server the run started early: see prestart)
        elif self.method == "forkserver":
            _stop_forkserver()  # (one left by a pool that did not end cleanly: the preload below is this run's)
            # the server imports what this process has of the package (the tasks' modules among them), so each worker
            # forked from it starts with them imported, and settings apply to them
            self.ctx.set_forkserver_preload(sorted(n for n in sys.modules if n == __package__ or n.startswith(f"{__package__}.")))
            settings, parent = _settings(), None
        self.args = (context, warm, bounds.memory_mb, parent, settings, room_mb)
        self.bounds = bounds
        self.warm = warm
        self.slots = [_Slot(self.ctx, self.args) for _ in range(jobs)]
        self.selector: selectors.BaseSelector | None = None
        self.again: deque[tuple[int, Run, Fail, Any]] = deque()  # tasks of a stopped worker it had not taken

    def close(self) -> None:
        try:
            for n, slot in enumerate(self.slots):
                self._unwatch(n)
                slot.stop(kill=bool(slot.tasks))
            if self.selector is not None:
                self.selector.close()
                self.selector = None
        finally:
            if self.method == "forkserver" and not _prestarted:
                # ended and waited for: its workers' peak memory and CPU count in this process's RUSAGE_CHILDREN, as
                # forked workers' do, and no process of the run outlives its pool
                _stop_forkserver()

    def rebase(self, context: Any, sent: memoryview) -> None:
        """The pool's next pass is with ``context`` (``sent``: it pickled, as a pipe sends it): each worker takes it
        before its next task, and a worker started from now on (one replaced) starts with it."""
        self.args = (context, *self.args[1:])
        for slot in self.slots:
            try:
                slot.conn.send_bytes(sent)
            except (BrokenPipeError, OSError):
                pass  # (a worker gone between passes: its next task finds it so, and a fresh one takes the task)

    def _watch(self, n: int) -> None:
        slot = self.slots[n]
        if self.selector is not None and not slot.watched:
            self.selector.register(slot.conn, selectors.EVENT_READ, n)
            self.selector.register(slot.proc.sentinel, selectors.EVENT_READ, n)
            slot.watched = True

    def _unwatch(self, n: int) -> None:
        slot = self.slots[n]
        if self.selector is not None and slot.watched:
            self.selector.unregister(slot.conn)
            self.selector.unregister(slot.proc.sentinel)
            slot.watched = False

    def _wait(self, timeout: float) -> set[int]:
        """The slots whose pipe or process has something to say, waiting at most ``timeout`` seconds."""
        if self.selector is not None:
            return {key.data for key, _ in self.selector.select(timeout)}
        busy = [(n, s) for n, s in enumerate(self.slots) if s.tasks]
        ready = wait([s.conn for _, s in busy] + [s.proc.sentinel for _, s in busy], timeout=timeout)
        return {n for n, s in busy if s.conn in ready or s.proc.sentinel in ready}

    def run(self, run: Run, fail: Fail, payloads: Sequence[Any], progress: Callable[[int], None] | None,
            each: Callable[[int, Any], None] | None = None, keep: bool = True) -> list[Any]:
        total = len(payloads)
        results: list[Any] = [None] * total if keep else []
        filled = bytearray(total)  # one byte a task (a list of bools is 8)
        sent = 0  # the payloads are sent in order, each taken from ``payloads`` when a worker is free
        done = 0
        depth = max(1, IN_FLIGHT)
        if KEEP_SELECTOR and self.selector is None:
            self.selector = selectors.DefaultSelector()
        again = self.again

        def finish(idx: int, result: Any) -> None:
            nonlocal done
            if keep:
                results[idx] = result
            filled[idx] = 1
            done += 1
            if each:
                each(idx, result)
            if progress:
                progress(1)

        while done < total:
            # Each worker gets a task, then each a second (up to IN_FLIGHT): the first files go to every worker.
            for level in range(depth):
                for n in range(len(self.slots)):
                    slot = self.slots[n]
                    if len(slot.tasks) > level or not (again or sent < total):
                        continue
                    if again:
                        task = again.popleft()
                    else:
                        task = (sent, run, fail, payloads[sent])
                        sent += 1
                    behind = bool(slot.tasks)  # (the worker takes it as it ends the one before: no message to say so)
                    if not behind:
                        slot.sent, slot.started = time.monotonic(), None
                        self._watch(n)
                    slot.tasks.append(task)
                    try:
                        slot.conn.send((*task, True) if behind else task)
                    except (BrokenPipeError, OSError):
                        if len(slot.tasks) == 1:
                            finish(task[0], self._replace(n, "file-reader-crashed", "读取程序异常退出"))
                        else:  # (the worker is gone: the task it had fails below, as it ended)
                            slot.tasks.pop()
                            again.appendleft(task)
            busy = [s for s in self.slots if s.tasks]
            if not busy:  # (every task sent is ended or waiting to be sent again: none can be lost)
                assert again or sent < total, "tasks lost"
                continue
            deadline = min(s.deadline(self.bounds.seconds) for s in busy)
            ready = self._wait(max(0.0, deadline - time.monotonic()))
            for n in range(len(self.slots)):
                slot = self.slots[n]
                if not slot.tasks:
                    continue
                if n in ready and slot.readable():
                    crashed = False
                    while True:  # every message there is: a task's start, its result (and the next one's start)
                        try:
                            message = slot.conn.recv()
                        except (EOFError, OSError):
                            crashed = True
                            break
                        if message[0] == "start":
                            slot.started = time.monotonic()
                        else:
                            _, got, result = message
                            slot.tasks.popleft()
                            if slot.tasks:  # (sent behind it: the worker has taken it now)
                                slot.sent = slot.started = time.monotonic()
                            else:
                                self._unwatch(n)
                            finish(got, result)
                        if not slot.tasks or not slot.readable():
                            break
                    if crashed:
                        finish(slot.tasks[0][0], self._replace(n, "file-reader-crashed", "处理此文件时读取程序异常退出"))
                elif n in ready and not slot.proc.is_alive():
                    finish(slot.tasks[0][0], self._replace(n, "file-reader-crashed", "处理此文件时读取程序异常退出（可能是文件被恶意构造）"))
                elif time.monotonic() >= slot.deadline(self.bounds.seconds):
                    idx = slot.tasks[0][0]
                    if slot.started is None:
                        finish(idx, self._replace(n, "file-reader-crashed", f"读取程序 {START_LIMIT_S:g} 秒内未能启动"))
                    else:
                        finish(idx, self._replace(n, "file-timeout", f"处理此文件超过 {self.bounds.seconds:g} 秒，已停止"))
        assert all(filled)
        return results

    def _replace(self, n: int, code: str, what: str) -> Any:
        """The worker in slot ``n`` failed on its task: the task's failure result, and a fresh worker."""
        slot = self.slots[n]
        assert slot.tasks
        _, _run_fn, fail, payload = slot.tasks[0]
        waiting = list(slot.tasks)[1:]  # sent after it, never taken: they go to a worker again, first
        self._unwatch(n)
        slot.stop(kill=True)  # (what the task may have left half-written is removed)
        slot.tasks.clear()
        self.again.extendleft(reversed(waiting))
        self.slots[n] = _Slot(self.ctx, self.args)
        return fail(payload, code, what)
