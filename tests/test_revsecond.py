"""Review of the thirteenth pass's second-run work (secondrun2), adversarially: what it keeps in the ledger between runs
must never give a verdict other than the one made without it, whatever the ledger holds.

- The round's roster kept in the ledger as packed (rounds.preflight.ROSTER_KEPT) is taken for the roster file whose
  bytes have the kept digest. The digest says which file the memo is of, not that the memo is intact: a ledger whose
  memo was damaged (one byte of one value, in an otherwise well-formed text) gave a roster with another value — a
  second run refused as a "changed roster" naming a unit nobody changed, and with --roster-changed-ok judged an
  honest return against the damaged value. The memo must carry a checksum of itself and be read anew when it fails.
- What _stale reads is read through an index named ``reports_verdicts`` (ledger.store.VERDICTS_INDEXED) with
  ``INDEXED BY``, once an index of that NAME exists. A ledger holding another index of that name (on another table,
  partial, of other columns: made by another version of the program, or damaged) made every run fail with a
  traceback (sqlite3.OperationalError "no such index" / "no query solution"). Only the index as this program makes
  it may be named; any other is read around.
"""

from __future__ import annotations

import base64
import csv
import json
import sqlite3
from pathlib import Path

import pytest

from xltemplate.catalog import as_spec
from xltemplate.ledger import Ledger, queries, store
from xltemplate.roster import read_roster
from xltemplate.rounds import collect_round
from xltemplate.rounds import preflight

from .conftest import FIRST_RETURNS, SAMPLES
from .test_secondrun2 import _inbox

FORM = "sh-project-self-eval"


def _roster(path: Path) -> Path:
    with open(SAMPLES / "roster.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def _damaged(text: str) -> str:
    """The packed roster's text with one digit of one value changed (offsets, keys and pickles all still well formed)."""
    data = json.loads(text)
    rows = base64.b64decode(data["rows"])
    at = rows.index(b"3260000.00")  # (SH002's budget, a Decimal's text in its pickle)
    data["rows"] = base64.b64encode(rows[:at] + b"9" + rows[at + 1:]).decode("ascii")
    return json.dumps(data, ensure_ascii=False)


def test_a_damaged_packed_roster_memo_is_not_taken(tmp_path: Path) -> None:
    spec = as_spec(FORM)
    path = _roster(tmp_path / "r.csv")
    read = read_roster(path, spec)
    db = tmp_path / "round.xlt.db"
    with Ledger.open(db, create=True) as led:
        preflight.keep_roster(led, read, spec)
        kept = led.memo("packed roster")
        assert kept is not None
        assert preflight.recall_roster(db, path, spec) == read  # (taken as kept: the same rows)
        at = kept.index("{")  # the packed text (the memo's head is whatever the memo's layout puts before it)
        led.remember("packed roster", kept[:at] + _damaged(kept[at:]))
    got = preflight.recall_roster(db, path, spec)
    assert got == read and [r.prefill for r in got.rows] == [r.prefill for r in read.rows]
    with Ledger.open(db) as led:  # the next run keeps the memo anew: taken again after that
        preflight.keep_roster(led, read, spec)
        assert led.memo("packed roster") == kept
    assert preflight.recall_roster(db, path, spec) == read


def test_a_damaged_packed_roster_memo_does_not_refuse_or_change_a_round(tmp_path: Path) -> None:
    """The same through the CLI: a second run over the same roster file after the memo was damaged is the first run."""
    from click.testing import CliRunner

    from xltemplate.cli import main

    inbox = _inbox(tmp_path, len(FIRST_RETURNS))
    db = tmp_path / "round.xlt.db"
    path = _roster(tmp_path / "r.csv")

    def run(n: int) -> tuple[int, str]:
        got = CliRunner().invoke(main, ["collect", str(inbox), "--roster", str(path), "--ledger", str(db), "--quiet",
                                        "-j", "1", "-o", str(tmp_path / f"{n}.xlsx")])
        return got.exit_code, got.output

    code, first = run(1)
    assert code == 0, first
    with Ledger.open(db) as led:
        kept = led.memo("packed roster")
        assert kept is not None
        at = kept.index("{")
        led.remember("packed roster", kept[:at] + _damaged(kept[at:]))
    code, second = run(2)
    assert code == 0, second  # (was 2: 名单与上次汇总所用的不同：预填内容变化的单位 SH002)
    counts = [ln for ln in first.splitlines() if ln.startswith(("名单", "文件"))]
    assert counts and counts == [ln for ln in second.splitlines() if ln.startswith(("名单", "文件"))]


@pytest.mark.parametrize("foreign", [
    "CREATE INDEX reports_verdicts ON files(size)",  # another table's
    "CREATE INDEX reports_verdicts ON reports(sha256, spec_hash, validator_version, unit_key, context, checked_on,"
    " valid_until) WHERE unit_key IS NULL",  # partial: no query can be answered by it
    "CREATE INDEX reports_verdicts ON reports(unit_key)",  # other columns
])
def test_an_index_of_the_verdicts_name_not_made_by_this_program_is_read_around(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, foreign: str) -> None:
    inbox = _inbox(tmp_path, 4)
    db = tmp_path / "round.xlt.db"
    roster = _roster(tmp_path / "r.csv")
    collect_round([inbox], FORM, ledger=db, roster=read_roster(roster, FORM), output=tmp_path / "1.xlsx").collection.close()
    with Ledger.open(db) as led:
        run = led.last_finished_run()
        assert run is not None
        with monkeypatch.context() as m:
            m.setattr(store, "VERDICTS_INDEXED", False)
            plain = list(led.cached_by_file(run))
        assert sum(c is not None for c in plain) >= 3
        led.conn.execute(f"DROP INDEX {queries.VERDICTS_INDEX}")
        led.conn.execute(foreign)
        assert list(led.cached_by_file(run)) == plain
    with Ledger.open(db, readonly=True) as led:
        assert list(led.cached_by_file(run)) == plain
    done = collect_round([inbox], FORM, ledger=db, roster=read_roster(roster, FORM), output=tmp_path / "2.xlsx")
    done.collection.close()
    assert sum(done.read.values()) == 0 and done.reused == sum(c is not None for c in plain)
    with sqlite3.connect(db) as conn:  # (left as it was: this program does not drop what it did not make)
        assert conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (queries.VERDICTS_INDEX,)).fetchone()[0] == foreign


def test_the_index_this_program_makes_is_the_one_read_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """(the guard above must not read around the index it makes itself: its text as SQLite keeps it is the one asked)"""
    inbox = _inbox(tmp_path, 2)
    db = tmp_path / "round.xlt.db"
    collect_round([inbox], FORM, ledger=db, roster=read_roster(_roster(tmp_path / "r.csv"), FORM),
                  output=tmp_path / "1.xlsx").collection.close()
    asked: list[bool] = []
    real = queries.cached_by_file

    def spy(conn: sqlite3.Connection, run: object, *, indexed: bool = False) -> object:
        asked.append(indexed)
        return real(conn, run, indexed=indexed)  # type: ignore[arg-type]

    monkeypatch.setattr(queries, "cached_by_file", spy)
    for readonly in (False, True):
        with Ledger.open(db, readonly=readonly) as led:
            run = led.last_finished_run()
            assert run is not None
            with monkeypatch.context() as m:
                m.setattr(store, "VERDICTS_INDEXED", False)
                plain = list(led.cached_by_file(run))
            assert list(led.cached_by_file(run)) == plain and any(c is not None for c in plain)
    assert asked == [False, True, False, True]


@pytest.mark.parametrize("packed", [False, True])
def test_a_damaged_verdict_contexts_memo_re_judges_never_reuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                packed: bool) -> None:
    """rounds.run.VERDICTS_KEPT's memo damaged in place (its digest and length kept, one context changed): the file of
    that key is judged again (a context that differs), every other report is reused, and the verdicts are those of a run
    with the switch off; nothing a damaged memo holds can make a report be reused that the switch off would judge again.
    ``packed``: rounds.run.CONTEXTS_PACKED's memo (in parts: the part that holds the key's context damaged)."""
    from xltemplate.rounds import run as run_mod

    monkeypatch.setattr(run_mod, "CONTEXTS_PACKED", packed)
    inbox = _inbox(tmp_path, len(FIRST_RETURNS))
    db = tmp_path / "round.xlt.db"
    path = _roster(tmp_path / "r.csv")
    first = collect_round([inbox], FORM, ledger=db, roster=read_roster(path, FORM), output=tmp_path / "1.xlsx")
    first.collection.close()
    with Ledger.open(db) as led:
        roster = read_roster(path, FORM)
        n = list(roster.keys()).index("SH002")
        name, at = ((f"{run_mod._CONTEXTS}/{n // run_mod.CONTEXTS_A_PART}", 64 * (n % run_mod.CONTEXTS_A_PART))
                    if packed else ("verdict contexts", 65 + 64 * n))
        kept = led.memo(name)
        assert kept is not None
        damaged = kept[:at] + ("0" if kept[at] != "0" else "1") + kept[at + 1:]
        led.remember(name, damaged)
    done = collect_round([inbox], FORM, ledger=db, roster=read_roster(path, FORM), output=tmp_path / "2.xlsx")
    done.collection.close()
    assert done.read == {run_mod.CONTEXT: 1} and done.reused == first.received - 1
    monkeypatch.setattr(run_mod, "VERDICTS_KEPT", False)
    off = collect_round([inbox], FORM, ledger=db, roster=read_roster(path, FORM), output=tmp_path / "3.xlsx")
    off.collection.close()
    assert off.read == {run_mod.CONTEXT: 1}  # (the report stored under the damaged context is not taken without it)
    assert [(r.brief.key, r.brief.status, r.brief.errors) for r in done.collection.returns] == \
        [(r.brief.key, r.brief.status, r.brief.errors) for r in off.collection.returns]


@pytest.mark.parametrize("changed", ["source", "python"])
def test_memos_kept_by_other_code_or_another_python_are_not_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  changed: str) -> None:
    """Both memos name xltemplate's source (rollup.reuse.writer_digest) and Python's version: kept under one, neither is
    taken under another (the roster read, every context made), and each is kept anew for the code that runs."""
    import sys

    from xltemplate.identify import RunContext
    from xltemplate.rollup import reuse
    from xltemplate.rounds import run as run_mod

    spec = as_spec(FORM)
    path = _roster(tmp_path / "r.csv")
    read = read_roster(path, spec)
    ctx = RunContext.builtin(spec, roster=read)
    db = tmp_path / "round.xlt.db"
    with Ledger.open(db, create=True) as led:
        preflight.keep_roster(led, read, spec)
        assert run_mod._Contexts(led, ctx).of("SH002") == ctx.verdict_context("SH002")
        contexts = run_mod._CONTEXTS if run_mod.CONTEXTS_PACKED else "verdict contexts"  # (its head: names the digest)
        kept = (led.memo("packed roster"), led.memo(contexts))
        assert None not in kept
    if changed == "source":
        real = reuse.writer_digest()
        monkeypatch.setattr(reuse, "writer_digest", lambda: "0" * 64 if real != "0" * 64 else "1" * 64)
    else:
        monkeypatch.setattr(sys, "version", sys.version + " (another build)")
    reads: list[Path] = []
    monkeypatch.setattr(preflight, "read_roster", lambda p, s: reads.append(Path(p)) or read_roster(p, s))
    assert preflight.recall_roster(db, path, spec) == read and reads == [path]
    made: list[str] = []
    real_contexts = RunContext.roster_contexts
    monkeypatch.setattr(RunContext, "roster_contexts", lambda self: made.append("x") or real_contexts(self))
    with Ledger.open(db) as led:
        assert run_mod._Contexts(led, ctx).of("SH002") == ctx.verdict_context("SH002") and made == ["x"]
        preflight.keep_roster(led, read, spec)
        again = (led.memo("packed roster"), led.memo(contexts))
        assert again[0] != kept[0] and again[1] != kept[1]
    assert preflight.recall_roster(db, path, spec) == read and reads == [path]  # (taken now: kept for this code)
