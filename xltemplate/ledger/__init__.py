"""The collection round's ledger: every file received, kept in SQLite and a content-addressed archive.

A round lasts weeks and ``collect`` runs again and again. The ledger remembers
what each run saw (by sha256, at which path), caches each file's validation
report per template and validator version (so an unchanged file is read once),
decides per run which return counts for each unit and why, and keeps every
file in an archive so a return deleted from the inbox is never lost. See
``docs/ledger.md`` for the schema and the guarantees; :mod:`.store` for the API.
"""

from __future__ import annotations

from .archive import Archive, Stored, Unread, default_archive_dir, name_for
from ..errors import LedgerBusyError, LedgerError, LedgerVersionError, NotALedgerError
from .model import (
    ARRIVAL, COUNTED, FILE_TIME, INTERRUPTED, NOT_CHECKED, ONLY, PATH, RULE_ZH, RULES, SAVED_AT, SUPERSEDED, UNMATCHED,
    WITHDRAWN, Absence, Cached, Changes, Choice, Decision, FileFate, FileRow, HistoryEntry, Intake, Move, Outcome,
    RosterChange, RosterSnapshot, RosterUnit, Run, RunInfo, StoredReport, Summary, ToRead, UnitChange, UnitHistory,
    Withdrawal, local_time,
)
from .schema import APPLICATION_ID, SCHEMA_VERSION
from .store import Ledger

__all__ = [
    "APPLICATION_ID", "ARRIVAL", "Absence", "Archive", "COUNTED", "Cached", "Changes", "Choice", "Decision",
    "FILE_TIME", "FileFate", "FileRow", "HistoryEntry", "INTERRUPTED", "Intake", "Ledger", "LedgerBusyError",
    "LedgerError", "LedgerVersionError", "Move", "NOT_CHECKED", "NotALedgerError", "ONLY", "Outcome", "PATH",
    "RULES", "RULE_ZH", "RosterChange", "RosterSnapshot", "RosterUnit", "Run", "RunInfo", "SAVED_AT",
    "SCHEMA_VERSION", "SUPERSEDED", "Stored", "StoredReport", "Summary", "ToRead", "UNMATCHED", "UnitChange",
    "UnitHistory", "Unread", "WITHDRAWN", "Withdrawal", "default_archive_dir", "local_time", "name_for",
]
