"""``round withdraw KEY FILE`` and ``round reinstate KEY FILE``: take a unit's return out of the count, and undo it.

A withdrawn return stays in the ledger and its archive (the record keeps everything); from the next
``collect --ledger`` on it no longer stands for its unit, even as the newest file or from the
archive after the inbox lost it: its fate is 已撤回, with the clerk's reason. ``FILE`` is a path (of
a file now, hashed; or one a run saw), a file name a run saw, or a sha256 prefix of 6 digits or more.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..ledger import Ledger, Withdrawal


def withdraw(ledger: str | os.PathLike[str], key: str, file: str, reason: str = "") -> Withdrawal:
    """Withdraw ``file`` from unit ``key`` (:class:`LedgerError` in Chinese when it is not that unit's, or is withdrawn)."""
    with Ledger.open(Path(ledger), purpose=f"round withdraw {key}") as led:
        return led.withdraw(key, led.resolve_file(file), reason)


def reinstate(ledger: str | os.PathLike[str], key: str, file: str, reason: str = "") -> Withdrawal:
    """Undo the withdrawal of ``file`` from unit ``key``: it is a candidate again from the next run on."""
    with Ledger.open(Path(ledger), purpose=f"round reinstate {key}") as led:
        return led.reinstate(key, led.resolve_file(file), reason)


__all__ = ["reinstate", "withdraw"]
