"""Atomic, deterministic file output shared by every writer.

Every output of the package (a generated workbook, a manifest, the roll-up, a CSV
export, an annotated copy) is written through :func:`atomic_path`. It is the one
place where an operating-system error while writing becomes an
:class:`~xltemplate.errors.OutputWriteError` with a Chinese message naming the file
and saying what to do, and it leaves nothing behind on failure: no ``.part`` file,
no folder it created.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from .errors import OutputWriteError, XltemplateError
from .outputs import check_writable, real_target
from .pathtext import shown
from .signals import HOST, deferred, gone, part_prefix, scratch_prefix


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it into place only on success.

    Missing folders are created. Any failure (an exception, Ctrl-C) leaves the target as
    it was and removes the temporary file and the folders made for it; an ``OSError``
    (or a writer's wrapper around one) becomes an :class:`OutputWriteError`. A target that
    is not a regular file (a device, a pipe, a dangling link) is refused before anything is
    made: :class:`~xltemplate.errors.OutputPathError`.
    """
    check_writable(target)  # never a device, a pipe or a dangling link (as root, -o /dev/null would replace it)
    target = real_target(target)  # a link to a regular file: that file is replaced, the link kept
    sweep(target)  # what a run killed outright while writing it left (see sweep)
    created: list[Path] = []
    tmp_path: Path | None = None
    try:
        with deferred():  # Ctrl-C or SIGTERM between making the file and knowing its name would leak it
            try:
                if target.is_dir():
                    raise IsADirectoryError(errno.EISDIR, "is a directory", str(target))
                created = make_dirs(target.parent)
                fd, tmp = tempfile.mkstemp(prefix=part_prefix(target.name), suffix=".part", dir=target.parent)
                tmp_path = Path(tmp)
                os.close(fd)
            except OSError as exc:
                raise OutputWriteError(str(target), os_error_reason(exc)) from exc
        yield tmp_path
        # mkstemp makes the file 0600; an output is an ordinary file, readable as the umask allows
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, target)
    except BaseException as exc:
        if tmp_path is not None:
            with contextlib.suppress(OSError):
                tmp_path.unlink()
        _remove_dirs(created)
        cause = _os_error(exc)
        if cause is not None and not isinstance(exc, XltemplateError):
            raise OutputWriteError(str(target), os_error_reason(cause)) from exc
        raise


@contextlib.contextmanager
def scratch_dir() -> Iterator[Path]:
    """A private temporary folder (in TMPDIR) for a writer's own temporary files; removed on any exit.

    Ctrl-C and SIGTERM reach here as exceptions (:mod:`xltemplate.signals`), so nothing is left behind.
    """
    import shutil

    folder: Path | None = None
    sweep()
    try:
        with deferred():
            try:
                folder = Path(tempfile.mkdtemp(prefix=scratch_prefix()))
            except OSError as exc:
                raise OutputWriteError(tempfile.gettempdir(), os_error_reason(exc)) from exc
        yield folder
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


#: A temporary name beside an output (:func:`~xltemplate.signals.part_prefix`): the output's name, the pid and machine of its maker.
_PART = re.compile(r"\.(.+)\.(\d{1,10})-([0-9a-f]{8})-[a-z0-9_]{8}\.part", re.S)
#: A private temporary folder in TMPDIR (:func:`~xltemplate.signals.scratch_prefix`).
_SCRATCH = re.compile(r"xltemplate-(\d{1,10})-([0-9a-f]{8})-.*", re.S)
#: TMPDIRs swept by this process (once each).
_swept_tmp: set[str] = set()
#: Per output folder listed by this process: its dead runs' temporary names, by the output's name (each removed
#: when that output is written, or swept for: see :func:`sweep`).
_dead_parts: dict[str, dict[str, list[str]]] = {}


def sweep(*targets: str | os.PathLike[str]) -> None:
    """Remove what runs of xltemplate killed outright (SIGKILL, the OOM killer, a power cut, a closed terminal's group
    kill: no ``finally`` runs) left: their private folders in TMPDIR (:func:`scratch_dir`: spill and XlsxWriter's
    files, the store's SQLite folder, the roll-up's second process's rows) and the temporary names beside each of
    ``targets`` (``.NAME.PID-HOST-XXXXXXXX.part``: a half-written output, :func:`atomic_path`, or generate's staging
    folder). Only ours (named by :func:`~xltemplate.signals.part_prefix` or :func:`~xltemplate.signals.scratch_prefix`, with this
    machine's tag: a ``.part`` with no pid in its name, an older version's or a stranger's, is left), only of a
    process that has ended (:func:`~xltemplate.signals.gone`: a live pid, even one reused by another program, is
    left), beside the same output only (another output's are its own writer's to sweep).

    Cheap: one listing of TMPDIR a process, one of each output folder (kept: an output written later in the same
    folder takes its own from it). Never fails a run: an error sweeping is ignored (the run goes on; the next
    sweeps again). Silent: what it removes was never the user's to see (a half-made file of a run already reported
    as ended), and nothing the user can do follows from hearing of it.
    """
    try:
        _sweep_tmp()
    except Exception:  # noqa: BLE001 - never fails a run
        pass
    for target in targets:
        try:
            _sweep_beside(os.fspath(target))
        except Exception:  # noqa: BLE001
            pass


def _sweep_tmp() -> None:
    import shutil

    root = tempfile.gettempdir()
    if root in _swept_tmp:
        return
    _swept_tmp.add(root)
    with os.scandir(root) as entries:
        for entry in entries:
            m = _SCRATCH.fullmatch(entry.name) if entry.name.startswith("xltemplate-") else None
            if m and m.group(2) == HOST and entry.is_dir(follow_symlinks=False) and gone(int(m.group(1))):
                shutil.rmtree(entry.path, ignore_errors=True)


def _sweep_beside(target: str) -> None:
    import shutil

    folder, name = os.path.split(os.path.abspath(target))
    dead = _dead_parts.get(folder)
    if dead is None:
        dead = _dead_parts[folder] = {}
        try:
            names = os.listdir(folder)
        except OSError:  # (no folder yet: nothing in it)
            return
        for entry in names:
            m = _PART.fullmatch(entry) if entry.endswith(".part") and entry.startswith(".") else None
            if m and m.group(3) == HOST and gone(int(m.group(2))):
                dead.setdefault(m.group(1), []).append(entry)
    for entry in dead.pop(name, ()):
        path = os.path.join(folder, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)  # (generate's staging folder)
        else:
            with contextlib.suppress(OSError):
                os.unlink(path)


def write_atomic(target: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` and move the result to ``target`` atomically."""
    with atomic_path(target) as tmp:
        write(tmp)
    return Path(target)


def make_dirs(folder: str | os.PathLike[str]) -> list[Path]:
    """Create ``folder`` and its missing parents; return the folders created (outermost first).

    A path component that is a file raises ``NotADirectoryError`` naming it (``mkdir`` alone
    would say "file exists", which reads as the opposite of the problem).
    """
    folder = Path(folder)
    missing: list[Path] = []
    probe = folder
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(probe))
    created: list[Path] = []
    try:
        for d in reversed(missing):
            d.mkdir()
            created.append(d)
    except FileExistsError:
        if not folder.is_dir():  # another process made it meanwhile, fine; a file, not fine
            _remove_dirs(created)
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(folder)) from None
    except OSError:
        _remove_dirs(created)
        raise
    return created


@contextlib.contextmanager
def output_dir(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """Create an output folder for the block; if the block fails, remove the folders made for it.

    A failure to create it is an :class:`OutputWriteError`.
    """
    folder = Path(folder)
    try:
        created = make_dirs(folder)
    except OSError as exc:
        raise OutputWriteError(str(folder), os_error_reason(exc)) from exc
    try:
        yield folder
    except BaseException:
        _remove_dirs(created)
        raise


def os_error_reason(exc: OSError) -> str:
    """What went wrong and what to do, in Chinese, for the errors a clerk meets."""
    code = exc.errno
    name = Path(exc.filename).name if isinstance(exc.filename, str) else ""
    if code in (errno.EACCES, errno.EPERM) or isinstance(exc, PermissionError):
        return "权限不足（文件可能正在 Excel 或 WPS 中打开，请关闭后重新运行；否则请换一个有写入权限的文件夹）"
    if disk_full(exc):
        return "磁盘空间不足（请清理磁盘或换一个位置后重新运行）"
    if code == errno.EROFS:
        return "磁盘或文件夹是只读的（请换一个位置后重新运行）"
    if code == errno.ENOTDIR:
        return f"路径中的“{name}”是文件而不是文件夹（请检查路径）" if name else "路径中有一段是文件而不是文件夹（请检查路径）"
    if code == errno.EISDIR:
        return "已有同名的文件夹（请换一个文件名）"
    if code == errno.ENOENT:
        return "文件夹不存在且无法创建（请检查路径，例如盘符是否正确）"
    if code == errno.ENAMETOOLONG:
        return "路径或文件名过长（请换一个较短的名字或位置）"
    return f"{exc.strerror or exc}（请检查路径和磁盘后重新运行）"


#: errno values saying there was no room for what was written: a full disk, a full quota, a file larger than the
#: disk or the process's limits allow.
_NO_ROOM = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG)
#: SQLite's primary result codes for the same (SQLITE_FULL; SQLITE_IOERR, which its file layer gives for a write
#: that fails other than with ENOSPC: a quota, a file size limit).
_SQLITE_NO_ROOM = (13, 10)


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says there was no room on the disk for what was being written: an OSError (ENOSPC, EDQUOT,
    EFBIG) or SQLite's error (SQLITE_FULL, SQLITE_IOERR). The one answer every writer asks: an output
    (:func:`os_error_reason`), the run's temporary files (:func:`scratch_error`), the ledger
    (:func:`xltemplate.ledger.schema.transaction`)."""
    if isinstance(exc, OSError):
        return exc.errno in _NO_ROOM
    if type(exc).__module__ == "sqlite3":  # (sqlite3's errors, without importing it: every command imports this module)
        code = getattr(exc, "sqlite_errorcode", None)
        if code is None:  # (Python before 3.11: the error's text)
            return "disk is full" in str(exc) or "disk I/O error" in str(exc)
        return isinstance(code, int) and code & 0xFF in _SQLITE_NO_ROOM
    return False


def scratch_error(exc: BaseException) -> OutputWriteError | None:
    """A full disk under the run's temporary files (the spill, the store and SQLite's sort files, XlsxWriter's sheets
    and parts, the roll-up's second process's rows: all in TMPDIR) as the user is told it: in Chinese, naming the
    folder and what to do, not the English traceback; None: another error (an error of ours already says what it
    is; an OSError inside a writer's wrapper, XlsxWriter's FileCreateError, is looked at)."""
    if isinstance(exc, XltemplateError):
        return None
    cause = exc if type(exc).__module__ == "sqlite3" else _os_error(exc)
    if cause is None or not disk_full(cause):
        return None
    return scratch_full()


@contextlib.contextmanager
def scratch_told() -> Iterator[None]:
    """Inside it, a full disk under the run's temporary files is raised as :func:`scratch_error` tells it (in Chinese,
    naming TMPDIR), before a caller further out takes it for another file's (schema.transaction takes any sqlite3
    error for the ledger's own); any other error passes as it is."""
    try:
        yield
    except Exception as exc:
        told = scratch_error(exc)
        if told is None:
            raise
        raise told from exc


def scratch_full() -> OutputWriteError:
    """What the user is told of a full disk under the run's temporary files (:func:`scratch_error`)."""
    return OutputWriteError(f"临时文件夹 {shown(tempfile.gettempdir())}",
                            "磁盘空间不足（请清理磁盘，或把环境变量 TMPDIR 设为空间足够的文件夹，然后重新运行）")


def _os_error(exc: BaseException) -> OSError | None:
    """The OSError behind ``exc``: itself, or one a writer wrapped (XlsxWriter's FileCreateError)."""
    if isinstance(exc, OSError):
        return exc
    if isinstance(exc, Exception):
        for inner in (*exc.args[:1], exc.__cause__):
            if isinstance(inner, OSError):
                return inner
    return None


def _remove_dirs(created: list[Path]) -> None:
    for d in reversed(created):
        with contextlib.suppress(OSError):
            d.rmdir()  # only if still empty: never removes anything but what we made


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def build_time(explicit: dt.datetime | None = None) -> dt.datetime:
    """The time stamped into outputs: explicit, else ``SOURCE_DATE_EPOCH``, else now (UTC, whole seconds)."""
    if explicit is not None:
        stamp = explicit
    elif os.environ.get("SOURCE_DATE_EPOCH", "").strip().isdigit():
        stamp = dt.datetime.fromtimestamp(int(os.environ["SOURCE_DATE_EPOCH"]), tz=dt.timezone.utc)
    else:
        stamp = dt.datetime.now(tz=dt.timezone.utc)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.timezone.utc)
    return stamp.astimezone(dt.timezone.utc).replace(microsecond=0)
