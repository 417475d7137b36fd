"""Ending a run cleanly on Ctrl-C or a termination signal, and workers that never outlive it.

The main process turns SIGINT, SIGTERM and SIGHUP into one :class:`Interrupted` exception
(a ``KeyboardInterrupt``), so that the same ``finally`` blocks run whatever ended the run:
workers are stopped, ``.part`` files and temporary folders removed. Later signals are ignored
while that cleanup runs. The CLI then prints one line and exits 128 + the signal number
(130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP), as shells do.

A worker ignores Ctrl-C (a terminal sends it to every process of the group; the parent decides),
dies on SIGTERM without a traceback, and dies with its parent: on Linux the kernel kills it
(``PR_SET_PDEATHSIG``), elsewhere it notices while waiting for work (:func:`wait_for_task`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import Any, Iterator

#: The signals that end a run cleanly (those the platform has).
SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
#: How often a waiting worker checks that its parent is still there (the portable fallback).
PARENT_POLL_S = 1.0


def _host_tag() -> str:
    """Eight hex digits naming this machine (a hash of its name): a temporary file's name says which machine's process
    made it, so that a sweep on one machine never takes a process of another (a shared network folder beside an
    output, where that process's pid means nothing here) for a dead one of its own."""
    import zlib

    uname = getattr(os, "uname", None)
    node = uname().nodename if uname is not None else os.environ.get("COMPUTERNAME", "")
    return f"{zlib.crc32(node.encode('utf-8', 'surrogateescape')):08x}"  # (32 bits: 50 machines sharing a folder
    # would have two with the same 16-bit tag once in 50; with 32 bits, once in 3.4 million)


#: This machine's tag in temporary names (:func:`_host_tag`).
HOST = _host_tag()


def owner_tag(pid: int | None = None) -> str:
    """``PID-HOST``: whose a temporary file or folder is, in its name (:func:`scratch_prefix`, the ``.part`` beside an
    output: :func:`part_prefix`), so that what a process killed outright (SIGKILL, the OOM killer,
    a power cut) left can be told from what a live one is using (:func:`gone`) and removed by a later run
    (:func:`xltemplate.fsutil.sweep`)."""
    return f"{os.getpid() if pid is None else pid}-{HOST}"


def scratch_prefix(pid: int | None = None) -> str:
    """The name a process's private temporary folders start with (:func:`xltemplate.fsutil.scratch_dir`): its pid and
    machine in it (:func:`owner_tag`), so that what a worker killed in the middle left behind can be found and removed
    (:func:`remove_scratch_of`), and what a run killed outright left, by the next run (:func:`xltemplate.fsutil.sweep`)."""
    return f"xltemplate-{owner_tag(pid)}-"


def part_prefix(name: str, pid: int | None = None) -> str:
    """How the temporary name beside an output called ``name`` starts: ``.NAME.PID-HOST-`` (mkstemp or mkdtemp adds
    8 random characters, and the caller ``.part``): hidden, next to what it becomes, and saying whose it is
    (:func:`owner_tag`), so that :func:`xltemplate.fsutil.sweep` can tell a dead run's from a live one's."""
    return f".{name}.{owner_tag(pid)}-"


def gone(pid: int) -> bool:
    """Whether process ``pid`` (of this machine) has ended: only then may what it made be removed. A live process is
    never taken for a dead one: one whose pid was reused by another program since counts as alive (its files are
    left: a later run sweeps them), as does one we may not signal (another user's), and this process. On Windows
    ``os.kill`` would end the process, not probe it: the process is asked after there (:func:`_gone_on_windows`)."""
    if pid <= 0 or pid == os.getpid():  # (kill(0, 0) would probe our own process group)
        return False
    if sys.platform == "win32":
        return _gone_on_windows(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (OSError, OverflowError):  # EPERM: it exists; a pid out of range: not one of ours
        return False
    return False


def remove_scratch_of(pid: int) -> None:
    """Remove the private temporary folders process ``pid`` left in TMPDIR: a worker killed outright (it did not end
    soon after SIGTERM: its finally blocks never ran) leaves the folder it was writing in (an annotated copy's
    openpyxl files). Called for a process that has ended; folders only, never a link."""
    import glob
    import shutil
    import tempfile

    for name in glob.glob(os.path.join(glob.escape(tempfile.gettempdir()), glob.escape(scratch_prefix(pid)) + "*")):
        if os.path.isdir(name) and not os.path.islink(name):
            shutil.rmtree(name, ignore_errors=True)


def _gone_on_windows(pid: int) -> bool:
    """Windows: no process ``pid`` (OpenProcess refuses it as an invalid parameter), or one that has exited (its exit
    code, while something still holds it). Refused access: it exists. An exit code of 259 reads as running: kept."""
    if sys.platform != "win32":
        return False
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return ctypes.get_last_error() == 87  # ERROR_INVALID_PARAMETER: no such process
    try:
        code = wintypes.DWORD()
        return bool(kernel32.GetExitCodeProcess(handle, ctypes.byref(code))) and code.value != 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


class Interrupted(KeyboardInterrupt):
    """The run was ended by a signal; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def exit_code(exc: BaseException) -> int:
    """128 + the signal number, as a shell reports a process a signal ended (130 for Ctrl-C)."""
    return 128 + int(getattr(exc, "signum", signal.SIGINT))


def describe(exc: BaseException) -> str:
    """The signal in the clerk's words."""
    signum = getattr(exc, "signum", signal.SIGINT)
    if signum == signal.SIGINT:
        return "按下了 Ctrl-C"
    name = signal.Signals(signum).name if signum in signal.Signals._value2member_map_ else str(signum)
    return f"收到终止信号 {name}"


_held = 0  # inside deferred() blocks
_pending: int | None = None  # a signal that came while held


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold an interruption back for a few lines that must not be cut in two.

    Making a temporary file and recording its name is one step: interrupted between the two, the
    file would exist with no one to remove it. A signal that comes meanwhile is raised on leaving
    the block, where the caller's cleanup knows the name.
    """
    global _held, _pending
    _held += 1
    try:
        yield
    finally:
        _held -= 1
    if _held == 0 and _pending is not None:
        signum, _pending = _pending, None
        raise Interrupted(signum)


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """In the main process: the first SIGINT/SIGTERM/SIGHUP raises :class:`Interrupted`; later ones are ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread (a test runner's thread, say)
        return
    hit = False

    def handler(signum: int, frame: Any) -> None:
        global _pending
        nonlocal hit
        if hit:
            return  # cleaning up after the first one: let it finish
        hit = True
        if _held:
            _pending = signum  # raised when the deferred() block ends
            return
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def held_for_a_child() -> Iterator[None]:
    """Block the run's signals while a worker is started; the worker unblocks them in :func:`worker_started`.

    A forked worker inherits the parent's handlers: a Ctrl-C or SIGTERM that reached it before it had
    set its own would run the parent's handler in the worker and print a traceback. Blocked, the signal
    waits until the worker's own handlers are in place; in the parent it is delivered when this ends.
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def worker_started(parent: int, exit_through_python: bool = True) -> None:
    """In a worker process, first thing: its signals, and death with its parent.

    With ``exit_through_python`` SIGTERM and SIGHUP raise SystemExit, so that the finally blocks of a
    file being written (an annotated copy's .part) run before the process ends; a Python handler can
    lose its signal, though (see :func:`pool_worker_started`), so only a pool that kills outright a worker
    that does not end soon after (workers.py) may ask for it. Otherwise they end the process at once.
    """
    if hasattr(signal, "SIGINT"):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):  # a forked worker inherits the parent's handler: replace it
            signal.signal(getattr(signal, name), _exit_on_signal if exit_through_python else signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):  # started with them blocked (held_for_a_child): now they may come
        signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
    die_with_parent()
    if os.getppid() != parent:  # the parent died before the line above: nobody will ever send work
        os._exit(0)


def _exit_on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def pool_worker_started(parent: int) -> None:
    """The initializer of a ``multiprocessing.Pool``'s workers: SIGTERM ends them at once.

    ``Pool.terminate`` (its ``__exit__``) sends SIGTERM and then waits for each worker without end. A
    Python handler runs only when the interpreter gets back to Python code: a signal that came while
    an idle worker was between checking for signals and blocking on the pool's queue lock (which the
    terminating parent holds) was never acted on, and the run hung for ever (``generate --jobs 2``,
    about one run in a hundred under load, seen in the suite and reproduced with py-spy showing the
    worker in ``SemLock.__enter__`` and the parent in ``join``). The default action cannot be missed.
    """
    worker_started(parent, exit_through_python=False)


def die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (``prctl(PR_SET_PDEATHSIG, SIGKILL)``)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # no libc to ask: wait_for_task still notices
        pass


def parent_alive(parent: int) -> bool:
    return os.getppid() == parent


def wait_for_task(conn: Any, parent: int) -> bool:
    """Block until ``conn`` has something to read; False when the parent has died meanwhile.

    A sibling forked later holds a copy of this pipe's other end, so the parent's death does not
    always close it: waiting in ``recv`` alone could wait forever.
    """
    while not conn.poll(PARENT_POLL_S):
        if not parent_alive(parent):
            return False
    return True
