"""Stand-ins for the validator in the ledger's tests: returns as small JSON files, reports from their bytes.

The ledger treats reports as opaque, so its tests need no workbooks: a "return"
is a JSON object (unit key, saved time, number of errors, a nonce so two returns
differ), its report is derived from those bytes alone, like a real validation.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from xltemplate.ledger import Ledger, Run, StoredReport

SPEC = "spec-A"


def make_return(path: Path, key: str | None, saved: str | None = None, errors: int = 0, nonce: str = "") -> bytes:
    """Write a fake return and give back its bytes."""
    data = json.dumps({"key": key, "saved": saved, "errors": errors, "nonce": nonce or path.name},
                      sort_keys=True).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def fake_report(sha256: str, data: bytes) -> StoredReport:
    """The report a validator would give for these bytes (unreadable when they are not a fake return)."""
    try:
        doc = json.loads(data)
        assert isinstance(doc, dict)
    except (ValueError, AssertionError):
        return StoredReport(sha256, "unreadable", None, None, 1, 0, json.dumps({"findings": ["file-not-xlsx"]}))
    saved = dt.datetime.fromisoformat(doc["saved"]) if doc.get("saved") else None
    status = "valid" if doc["errors"] == 0 else "invalid"
    return StoredReport(sha256, status, doc["key"], saved, doc["errors"], 0,
                        json.dumps({"findings": ["E"] * doc["errors"], "nonce": doc["nonce"]}),
                        total="96" if status == "valid" else None)


def validate_pending(ledger: Ledger, run: Run, batch: int = 50) -> int:
    """Validate (from the archive copies) every file the run still needs a report for; how many were read."""
    todo = ledger.needs_report(run)
    for start in range(0, len(todo), batch):
        ledger.store_reports(run, [fake_report(t.sha256, t.archive_path.read_bytes()) for t in todo[start:start + batch]])
    return len(todo)
