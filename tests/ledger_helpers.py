"""Stand-ins for the validator and for collect in the ledger's tests: returns as small JSON files,
reports from their bytes, and choices made by the one resubmission rule.

The ledger treats reports as opaque, so its tests need no workbooks: a "return"
is a JSON object (unit key, saved time, number of errors, a nonce so two returns
differ), its report is derived from those bytes alone, like a real validation.
The ledger does not decide which file counts: collect does, with
:func:`xltemplate.resubmission.newest`; :func:`decide` does the same here over every
file the ledger holds (inbox or archive only), except withdrawn ones.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from xltemplate.ledger import Choice, Ledger, Outcome, Run, StoredReport
from xltemplate.resubmission import RULE_CODES, Candidate, newest

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


def decide(ledger: Ledger, run: Run) -> list[Choice]:
    """What collect would count for each unit key: the newest by saved time, then arrival (run, time, path)."""
    withdrawn = {(w.unit_key, w.sha256) for w in ledger.withdrawals() if w.reinstated_at is None}
    files = {sha: (first_run or 0, mtime) for sha, first_run, mtime in ledger.conn.execute(
        "SELECT sha256, first_seen_run, first_mtime FROM files")}
    groups: dict[str, list[StoredReport]] = {}
    for r in ledger.reports(run).values():
        if r.unit_key is not None and (r.unit_key, r.sha256) not in withdrawn:
            groups.setdefault(r.unit_key, []).append(r)
    choices = []
    for key, reports in sorted(groups.items()):
        cands = [Candidate(path=r.sha256, saved_at=r.saved_at, name=r.sha256, arrival=files[r.sha256][0],
                           mtime=dt.datetime.fromisoformat(files[r.sha256][1]).timestamp() if files[r.sha256][1] else 0.0)
                 for r in reports]
        n, rule = newest(cands)
        best = reports[n]
        choices.append(Choice(key, best.sha256, RULE_CODES[rule], len(reports), best.status, best.errors))
    return choices


def finish(ledger: Ledger, run: Run) -> Outcome:
    return ledger.finish_run(run, decide(ledger, run))
