"""One writer at a time: an OS lock on a file beside the ledger.

The lock is taken with ``flock`` (``msvcrt.locking`` on Windows), which the
operating system releases when the holding process dies, however it dies: a
run killed with SIGKILL never leaves a stale lock behind. The lock file is
never deleted (deleting it would let two processes lock two different files);
it holds, as plain text, who has it, so a refused run can say whom it waited for.
SQLite's own locking still protects every transaction; this lock serialises whole runs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from ..clock import BEIJING
from ..fsutil import os_error_reason
from ..errors import LedgerBusyError, LedgerError

if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt
else:
    import fcntl

# On Windows a locked byte range cannot even be read by others, so the lock sits
# past the holder's description, which stays readable.
_WIN_LOCK_OFFSET = 1 << 20
_POLL = 0.05


def lock_path(ledger: Path) -> Path:
    return ledger.with_name(ledger.name + ".lock")


class LedgerLock:
    """An exclusive, process-wide lock for one ledger file."""

    def __init__(self, ledger: Path) -> None:
        self.ledger = ledger
        self.path = lock_path(ledger)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, wait: float, purpose: str) -> None:
        """Take the lock, polling for at most ``wait`` seconds, else raise :class:`LedgerBusyError`."""
        if self._fd is not None:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise LedgerError(f"{self.ledger}：无法创建锁文件 {self.path}：{os_error_reason(exc)}。") from exc
        deadline = time.monotonic() + max(wait, 0.0)
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                holder = _describe(self.path)
                os.close(fd)
                raise LedgerBusyError(
                    f"{self.ledger}：台账正被另一个程序使用（{holder}），已等待 {wait:g} 秒。"
                    "请等该程序结束后再运行；如果它已经不在运行，锁会自动释放，直接重试即可。")
            time.sleep(_POLL)
        self._fd = fd
        info = {"pid": os.getpid(), "host": socket.gethostname(), "purpose": purpose,
                "since": dt.datetime.now(BEIJING).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(info, ensure_ascii=False).encode("utf-8"))

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            _unlock(fd)
        finally:
            os.close(fd)


def _try_lock(fd: int) -> bool:
    try:
        if os.name == "nt":  # pragma: no cover
            os.lseek(fd, _WIN_LOCK_OFFSET, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        else:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _unlock(fd: int) -> None:
    if os.name == "nt":  # pragma: no cover
        os.lseek(fd, _WIN_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _describe(path: Path) -> str:
    """Who holds the lock, from what the holder wrote into the lock file."""
    try:
        info: Any = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or "pid" not in info:
        return "持有者不明"
    what = f"：{info['purpose']}" if info.get("purpose") else ""
    return f"进程 {info.get('pid')}，计算机 {info.get('host', '?')}，自 {info.get('since', '?')} 起{what}"
