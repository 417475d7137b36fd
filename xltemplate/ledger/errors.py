"""The ledger's exceptions (they will move into :mod:`xltemplate.errors` when the ledger is wired in).

Every message names the ledger file and says what to do, in Chinese: the clerk reads them.
"""

from __future__ import annotations

from ..errors import XltemplateError


class LedgerError(XltemplateError):
    """A ledger that cannot be used as asked (the CLI exits 2 on it)."""


class NotALedgerError(LedgerError):
    """The file is empty, not SQLite, another SQLite database, or damaged."""


class LedgerVersionError(LedgerError):
    """The ledger was written by a newer xltemplate than this one."""


class LedgerBusyError(LedgerError):
    """Another process holds the ledger's lock and did not let go in time."""
