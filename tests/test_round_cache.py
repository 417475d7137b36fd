"""What a cached report depends on besides its bytes, its spec and the validator: the run's verdict context
(the roster row of its key, the secrets) and the day. Unit tests here; tests/test_round.py proves each one
through ``collect --ledger``."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from xltemplate.batch import transient
from xltemplate.findings import finding
from xltemplate.identify import RunContext
from xltemplate.report import FileReport
from xltemplate.roster import Roster, RosterRow
from xltemplate.sign import Keyring
from xltemplate.validate import verdict_until

TODAY = dt.date(2021, 5, 10)


def roster(**budgets: str) -> Roster:
    rows = tuple(RosterRow(k, n + 2, {"budget": Decimal(b)}) for n, (k, b) in enumerate(budgets.items()))
    return Roster(Path("r.csv"), rows, {"当年预算数（元）": "budget"})


def test_the_context_follows_the_row_of_the_key_and_nothing_else() -> None:
    base = RunContext(roster=roster(SH001="100", SH002="200"))
    other_row_changed = RunContext(roster=roster(SH001="100", SH002="999", SH003="1"))
    own_row_changed = RunContext(roster=roster(SH001="101", SH002="200"))
    assert base.verdict_context("SH001") == other_row_changed.verdict_context("SH001")
    assert base.verdict_context("SH001") != own_row_changed.verdict_context("SH001")
    # A key on no row (or no key: a file's key is its own, so the two never meet) differs from no roster at all.
    assert base.verdict_context("SH404") == base.verdict_context("SH405") == base.verdict_context(None)
    assert base.verdict_context("SH404") != RunContext().verdict_context("SH404")
    assert own_row_changed.verdict_context("SH404") == base.verdict_context("SH404")  # other rows play no part
    assert RunContext().verdict_context("SH001") == RunContext().verdict_context(None)  # no roster: the key plays no part


def test_the_context_follows_the_secrets_in_any_order() -> None:
    a, b = b"a" * 32, b"b" * 32
    one = RunContext(keyring=Keyring("k", (a, b))).verdict_context("SH001")
    assert one == RunContext(keyring=Keyring("k2", (b, a))).verdict_context("SH001")  # the signing order plays no part
    assert one != RunContext(keyring=Keyring("k", (a,))).verdict_context("SH001")
    assert one != RunContext().verdict_context("SH001")
    assert a.hex() not in one and b"a" not in bytes.fromhex(one)


def report(*found, saved: dt.datetime | None = None) -> FileReport:
    return FileReport(path="x.xlsx", status="valid", findings=list(found), saved_at=saved)


def test_a_report_holds_until_a_date_in_the_future_comes() -> None:
    assert verdict_until(report(), TODAY) is None
    future = finding("date-in-future", value="2021-05-20", label="自评日期", date="2021-05-20")
    assert verdict_until(report(future), TODAY) == dt.date(2021, 5, 20)


def test_a_saved_time_in_the_future_is_looked_at_again_a_day_early() -> None:
    saved = dt.datetime(2021, 5, 20, 8, 0)
    untrusted = finding("saved-time-untrusted", value=saved.isoformat(), why="在未来")
    assert verdict_until(report(untrusted, saved=saved), TODAY) == dt.date(2021, 5, 18)
    # Untrusted because it is before generation: no later day changes that.
    early = dt.datetime(2020, 1, 1)
    assert verdict_until(report(finding("saved-time-untrusted", value=early.isoformat(), why="早于"), saved=early), TODAY) is None


def test_the_machine_s_verdicts_are_never_kept() -> None:
    assert transient(FileReport.unreadable("x", finding("file-timeout", what="超过 10 秒")))
    assert transient(FileReport.unreadable("x", finding("file-reader-crashed", what="异常退出")))
    assert not transient(FileReport.unreadable("x", finding("file-corrupt", "zip", reason="截断")))
    assert not transient(report(finding("date-in-future", value="2021-05-20", label="自评日期", date="2021-05-20")))
