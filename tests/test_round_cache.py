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


# -- through collect --ledger: each dependency makes exactly its reports again ----------------------------------

import json  # noqa: E402
import openpyxl  # noqa: E402
import sqlite3  # noqa: E402

import pytest  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from xltemplate.cli import main  # noqa: E402
from xltemplate.roster import read_roster  # noqa: E402
from xltemplate.rounds import collect_round  # noqa: E402

from .round_helpers import TEMPLATE, Round, write_roster  # noqa: E402


def cli(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture()
def round3(tmp_path: Path) -> Round:
    """A round with one run behind it: SH001, SH002 (two files) and SH003 returned."""
    r = Round(tmp_path, write_roster(tmp_path / "名单.csv"))
    r.day = 1
    r.put("SH001.xlsx", "SH001", saved=dt.datetime(2021, 5, 1, 9))
    r.put("SH002-draft.xlsx", "SH002", saved=dt.datetime(2021, 5, 1, 8), loss=3)
    r.put("SH002.xlsx", "SH002", saved=dt.datetime(2021, 5, 1, 10))
    r.put("SH003.xlsx", "SH003", saved=dt.datetime(2021, 5, 1, 11))
    again = run(r)
    assert again.exit_code == 0, again.output
    return r


def run(r: Round, *extra: object, roster: Path | None = None):
    return cli("collect", r.inbox, "--roster", roster or r.roster, "-o", r.root / "r.xlsx", "--ledger", r.root / "round.xlt.db",
               "--json", *extra)


def read_why(result) -> dict[str, int]:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["ledger"]["read_why"]


def units(result) -> dict[str, int]:
    return json.loads(result.output)["units"]


def test_an_unchanged_round_reads_nothing(round3: Round) -> None:
    assert read_why(run(round3)) == {}


def test_a_changed_roster_row_reads_that_unit_again_and_nothing_else(round3: Round, tmp_path: Path) -> None:
    changed = write_roster(tmp_path / "名单2.csv", budget={"SH002": "1,000.00"})
    refused = run(round3, roster=changed)
    assert refused.exit_code == 2 and "预填内容变化的单位 SH002" in refused.output and "--roster-changed-ok" in refused.output
    db = sqlite3.connect(tmp_path / "round.xlt.db")
    assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 1  # refused before anything was recorded
    result = run(round3, "--roster-changed-ok", roster=changed)
    assert read_why(result) == {"context": 2}  # SH002's two files, nobody else's
    assert units(result)["invalid"] == 1  # its returns hold another budget than the roster now: prefill-changed
    assert read_why(run(round3, roster=changed)) == {}  # and the new roster is the round's from now on


def test_units_added_or_removed_are_refused_then_applied_when_meant(round3: Round, tmp_path: Path) -> None:
    other = write_roster(tmp_path / "名单2.csv", keys=[f"SH{n:03d}" for n in [*range(1, 12), 13]])
    refused = run(round3, roster=other)
    assert refused.exit_code == 2
    assert "新增单位 SH013；删除单位 SH012" in refused.output and "Traceback" not in refused.output
    result = run(round3, "--roster-changed-ok", roster=other)
    assert read_why(result) == {}  # nobody's return named SH012 or SH013: no verdict depends on the change
    assert json.loads(result.output)["ledger"]["notices"] == ["提示：名单与上次汇总不同：新增单位 SH013；删除单位 SH012，已按新名单核对"]


def test_contact_details_changed_are_told_and_applied(round3: Round, tmp_path: Path) -> None:
    import csv

    rows = list(csv.reader(open(round3.roster, encoding="utf-8-sig")))
    rows[1][5] = "021-99999999"
    path = tmp_path / "名单2.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows(rows)
    result = run(round3, roster=path)
    assert read_why(result) == {}
    assert json.loads(result.output)["ledger"]["notices"] == ["提示：名单与上次汇总不同：联系方式变化的单位 SH001（联系方式不影响核对结果）"]


def test_a_round_that_had_a_roster_is_not_collected_without_one(round3: Round) -> None:
    result = cli("collect", round3.inbox, "-o", round3.root / "r.xlsx", "--ledger", round3.root / "round.xlt.db")
    assert result.exit_code == 2 and "本次没有给出名单" in result.output


def test_a_secret_reads_every_file_again_once(round3: Round, tmp_path: Path) -> None:
    key = tmp_path / "bureau.key"
    key.write_bytes(b"0123456789abcdef0123456789abcdef\n")
    key.chmod(0o600)
    result = run(round3, "--secret-file", key)
    assert read_why(result) == {"context": 4}
    assert units(result)["valid"] == 0  # nothing was signed: no return can stand for its unit
    assert read_why(run(round3, "--secret-file", key)) == {}
    key.write_bytes(b"0123456789abcdef0123456789abcdef\nfedcba9876543210fedcba9876543210\n")
    assert read_why(run(round3, "--secret-file", key)) == {"context": 4}  # another set of secrets
    assert read_why(run(round3)) == {"context": 4}  # and none again


def test_a_new_template_or_new_rules_read_everything_again(round3: Round, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    from xltemplate.catalog import templates_dir

    spec = yaml.safe_load((templates_dir() / f"{TEMPLATE}.yaml").read_text(encoding="utf-8"))
    spec["version"] = "2020.2"
    other = tmp_path / "my.yaml"
    other.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    base = units(run(round3))  # the built-in's verdicts, from the ledger
    result = run(round3, "--template", other)
    assert read_why(result) == {"again": 4}
    # returns of version 2020.1 against 2020.2, whose inputs sit where 2020.1 has them: read as 2020.1 with
    # the warning template-version-old (issue 13), so every unit stands as it did
    assert units(result) == base
    found = [c.value for ws in openpyxl.load_workbook(round3.root / "r.xlsx").worksheets for row in ws.iter_rows()
             for c in row if c.value == "template-version-old"]
    assert len(found) == 4
    assert "模板与上次汇总不同" in json.loads(result.output)["ledger"]["notices"][0]
    assert read_why(run(round3)) == {}  # back to the built-in: its reports are still in the ledger (one per template)
    monkeypatch.setattr("xltemplate.rounds.run.VALIDATOR_VERSION", "999")
    assert read_why(run(round3)) == {"again": 4}


def test_a_date_in_the_future_is_looked_at_again_when_it_comes(tmp_path: Path) -> None:
    r = Round(tmp_path, write_roster(tmp_path / "名单.csv"))
    r.day = 1
    r.put("SH001.xlsx", "SH001", saved=dt.datetime(2021, 5, 1, 9), eval_date=dt.date(2021, 5, 20))
    r.put("SH002.xlsx", "SH002", saved=dt.datetime(2021, 5, 1, 9))
    roster = read_roster(r.roster, TEMPLATE)

    def on(day: dt.date):
        return collect_round([r.inbox], TEMPLATE, ledger=tmp_path / "round.xlt.db", output=tmp_path / "r.xlsx",
                             roster=roster, today=day)

    first = on(dt.date(2021, 5, 10))
    assert first.read == {"new": 2}
    sh001 = next(x for x in first.collection.returns if x.report.key == "SH001")
    assert "date-in-future" in {f.code for f in sh001.report.findings}
    db = sqlite3.connect(tmp_path / "round.xlt.db")
    assert sorted(db.execute("SELECT unit_key, checked_on, valid_until FROM reports")) == [
        ("SH001", "2021-05-10", "2021-05-20"), ("SH002", "2021-05-10", None)]
    assert on(dt.date(2021, 5, 19)).read == {}
    later = on(dt.date(2021, 5, 20))
    assert later.read == {"day": 1}  # SH001 only: its date is today now
    sh001 = next(x for x in later.collection.returns if x.report.key == "SH001")
    assert "date-in-future" not in {f.code for f in sh001.report.findings}
    assert on(dt.date(2021, 5, 1)).read == {"day": 2}  # a clock set back: nothing made later is trusted
