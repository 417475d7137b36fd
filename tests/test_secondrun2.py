"""A round's second run's shortcuts, thirteenth pass (issue 15): what they take instead of the work they save must say
all the work would have said.

- a file's verdict context taken from the contexts kept in the ledger (rounds.run.VERDICTS_KEPT) is the one
  RunContext.verdict_context makes, for every key on the roster, off it, or none; the kept ones are taken only for
  the same rows, secrets, older versions and code, and a changed roster row, secret or older version re-judges
  exactly the files it should;
- a stored report's verdict read from the covering index (ledger.store.VERDICTS_INDEXED) is the one its row holds;
- a round's roster kept in the ledger packed (rounds.preflight.ROSTER_KEPT) comes back as read, is taken only for
  the same file's bytes, and a text that is not one (a class pickled in it, offsets or keys that disagree) is refused
  without unpickling anything but values.
"""

from __future__ import annotations

import csv
import sqlite3
from array import array
from pathlib import Path

import pytest

import yaml

from xltemplate.catalog import as_spec, builtin_templates, spec_from_dict
from xltemplate.identify import RunContext
from xltemplate.ledger import Ledger, queries, store
from xltemplate import roster as roster_mod
from xltemplate.roster import PackedRows, read_roster
from xltemplate.rounds import collect_round
from xltemplate.rounds import run as run_mod
from xltemplate.sign import Keyring
from xltemplate.spec import Spec

from .conftest import FIRST_RETURNS, SAMPLES

FORM = "sh-project-self-eval"


def _roster(path: Path, budget: dict[str, str] | None = None) -> Path:
    """The samples' roster, units' budgets changed."""
    with open(SAMPLES / "roster.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        for n, r in enumerate(rows):
            w.writerow([r[0], r[1], r[2], (budget or {}).get(r[0], r[3]) if n else r[3]])
    return path


def _inbox(tmp_path: Path, n: int) -> Path:
    """An inbox of copies of the first ``n`` sample returns of the first form."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for p in FIRST_RETURNS[:n]:
        (inbox / p.name).write_bytes(p.read_bytes())
    return inbox


def _keys(ctx: RunContext) -> list[str | None]:
    assert ctx.roster is not None
    return [*ctx.roster.keys(), "SH404", "", None]


@pytest.mark.parametrize("packed", [False, True])
def test_kept_contexts_are_the_ones_made_and_taken_only_for_the_same_inputs(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch,
                                                                           packed: bool) -> None:
    """``packed``: rounds.run.CONTEXTS_PACKED (its memo's head names the digest; a part cut short is its text's)."""
    spec = as_spec(FORM)
    assert run_mod.VERDICTS_KEPT
    monkeypatch.setattr(run_mod, "CONTEXTS_PACKED", packed)
    name = run_mod._CONTEXTS if packed else "verdict contexts"
    same = read_roster(_roster(tmp_path / "same.csv"), spec)
    other = read_roster(_roster(tmp_path / "other.csv", budget={"SH002": "3,260,000.01"}), spec)
    assert isinstance(same.rows, PackedRows)
    keyring = Keyring("k", (b"secret one",))
    contexts = [RunContext.builtin(spec, roster=same), RunContext.builtin(spec, roster=other),
                RunContext.builtin(spec, roster=same, keyring=keyring),
                RunContext.builtin(spec, roster=same, keyring=Keyring("k", (b"secret two",))),
                RunContext.builtin(spec, roster=same, older=[_older()]),
                RunContext.builtin(spec)]
    with Ledger.open(tmp_path / "r.xlt.db", create=True) as led:
        assert led.memo(name) is None
        memos = []
        for ctx in contexts + contexts:  # each made (its memo kept in place of the last), then each again
            made = [ctx.verdict_context(k) for k in _keys(ctx)] if ctx.roster is not None else None
            kept = run_mod._Contexts(led, ctx)
            if made is None:  # no roster: one context, whatever the key
                assert [kept.of(k) for k in ("SH001", None)] == [ctx.verdict_context("SH001")] * 2
                continue
            assert [kept.of(k) for k in _keys(ctx)] == made
            memos.append(led.memo(name))
            # taken from the memo just kept: the same contexts, nothing made again
            with monkeypatch.context() as m:  # (a context made for a key on the roster would fail)
                m.setattr(RunContext, "roster_contexts", _fails)
                m.setattr(RunContext, "_verdict_context", lambda self, key, row: _fails() if row is not None else "")
                again = run_mod._Contexts(led, ctx)
                assert [again.of(k) for k in _keys(ctx)[:-3]] == made[:-3]
        assert len(set(memos)) == 5 and memos[:5] == memos[5:]  # one memo each: rows, secrets and older tell apart
        # the changed row's context differs, no other's does
        plain, changed = (run_mod._Contexts(led, c) for c in contexts[:2])
        assert [k for k in _keys(contexts[0]) if plain.of(k) != changed.of(k)] == ["SH002"]
        # a memo that is not this roster's (another digest, or cut short) is not taken
        if packed:
            led.remember(name, "0" * 64 + f" {len(same.rows)}")
            led.remember(f"{name}/0", "f" * 64 * len(same.rows))
        else:
            led.remember(name, "0" * 64 + " " + "f" * 64 * len(same.rows))
        assert [run_mod._Contexts(led, contexts[0]).of(k) for k in _keys(contexts[0])] == \
            [contexts[0].verdict_context(k) for k in _keys(contexts[0])]
        name = f"{name}/0" if packed else name  # (the text of the contexts: the memo's, or its first part's)
        kept = led.memo(name)
        assert kept is not None
        led.remember(name, kept[:-64])
        assert run_mod._Contexts(led, contexts[0]).of("SH003") == contexts[0].verdict_context("SH003")


def test_with_a_targets_table_each_context_is_made(tmp_path: Path) -> None:
    """A key's targets are in its context: with a table, no memo is kept or taken."""
    spec = as_spec(FORM)
    roster = read_roster(_roster(tmp_path / "same.csv"), spec)
    ctx = RunContext.builtin(spec, roster=roster)
    with_targets = RunContext(explicit=ctx.explicit, known=ctx.known, roster=roster, targets=_Table())  # type: ignore[arg-type]
    with Ledger.open(tmp_path / "r.xlt.db", create=True) as led:
        kept = run_mod._Contexts(led, with_targets)
        assert [kept.of(k) for k in _keys(ctx)] == [with_targets.verdict_context(k) for k in _keys(ctx)]
        assert led.memo("verdict contexts") is None and led.memo(run_mod._CONTEXTS) is None


def _older() -> Spec:
    """The form as a version before the built-in's."""
    data = yaml.safe_load(builtin_templates()[FORM].read_text(encoding="utf-8"))
    data["version"] = "2000.1"
    return spec_from_dict(data)


def _fails(*_args: object) -> str:
    raise AssertionError("made again")


class _Table:
    """A targets table with no key's targets."""

    by_key: dict[str, object] = {}


def test_a_changed_roster_row_re_judges_its_file_only(tmp_path: Path) -> None:
    inbox = _inbox(tmp_path, 4)
    db = tmp_path / "round.xlt.db"
    same = _roster(tmp_path / "same.csv")
    keys: list[str | None] = []
    files = 0
    for n in range(2):  # the second run takes the contexts the first kept: nothing read again
        done = collect_round([inbox], FORM, ledger=db, roster=read_roster(same, FORM), output=tmp_path / f"{n}.xlsx")
        keys = sorted({r.brief.key for r in done.collection.returns if r.brief.key})
        files = files or done.received
        done.collection.close()
        assert sum(done.read.values()) == (files if n == 0 else 0) and done.reused == (0 if n == 0 else files)
    assert files >= 3 and len(keys) >= 2
    with Ledger.open(db) as led:
        assert led.memo(run_mod._CONTEXTS if run_mod.CONTEXTS_PACKED else "verdict contexts") is not None
    budget = {str(keys[0]): "1.00"}
    other = _roster(tmp_path / "other.csv", budget=budget)
    done = collect_round([inbox], FORM, ledger=db, roster=read_roster(other, FORM), output=tmp_path / "x.xlsx",
                         roster_changed_ok=True)
    done.collection.close()
    assert done.read == {run_mod.CONTEXT: 1} and done.reused == files - 1
    # and back: the first roster's contexts again (its file read again under them)
    done = collect_round([inbox], FORM, ledger=db, roster=read_roster(same, FORM), output=tmp_path / "y.xlsx",
                         roster_changed_ok=True)
    done.collection.close()
    assert done.read == {run_mod.CONTEXT: 1} and done.reused == files - 1


def test_a_new_ledgers_verdicts_index_is_made_when_its_first_run_has_stored_its_reports(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ledger.store.VERDICTS_INDEXED on a new ledger: the index is not kept up to date while the first run stores its
    reports (~4-5 s of CPU over 100,000 reports; made once after them, ~0.25 s), and is there when the run has
    finished, so that the second run neither makes it nor reads without it."""
    inbox = _inbox(tmp_path, 4)
    db = tmp_path / "round.xlt.db"
    seen: list[bool] = []
    stored = Ledger.store_reports

    def store_reports(led: Ledger, *args: object, **kwargs: object) -> None:
        seen.append(led.conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?",
                                     (queries.VERDICTS_INDEX,)).fetchone() is not None)
        stored(led, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Ledger, "store_reports", store_reports)
    roster = read_roster(_roster(tmp_path / "same.csv"), FORM)
    collect_round([inbox], FORM, ledger=db, roster=roster, output=tmp_path / "1.xlsx").collection.close()
    assert seen and not any(seen)
    with Ledger.open(db, readonly=True) as led:
        assert led.conn.execute("SELECT sql FROM sqlite_master WHERE name = ?",
                                (queries.VERDICTS_INDEX,)).fetchone()[0] == store._VERDICTS_MADE


def test_stored_verdicts_read_from_their_index_are_those_of_the_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ledger.cached_by_file through the covering index (ledger.store.VERDICTS_INDEXED): made on a writable ledger that
    lacks it, the same rows as read from the reports, and a read-only ledger without it reads the reports."""
    inbox = _inbox(tmp_path, 4)
    db = tmp_path / "round.xlt.db"
    roster = _roster(tmp_path / "same.csv")
    monkeypatch.setattr(store, "VERDICTS_INDEXED", False)
    collect_round([inbox], FORM, ledger=db, roster=read_roster(roster, FORM), output=tmp_path / "1.xlsx").collection.close()

    def index(conn: sqlite3.Connection) -> bool:
        return conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (queries.VERDICTS_INDEX,)).fetchone() is not None

    with Ledger.open(db, readonly=True) as led:
        run = led.last_finished_run()
        assert run is not None
        plain = list(led.cached_by_file(run))
        monkeypatch.setattr(store, "VERDICTS_INDEXED", True)
        assert list(led.cached_by_file(run)) == plain and not index(led.conn)  # (read-only: not made, the rows read)
    assert sum(c is not None for c in plain) >= 3
    with Ledger.open(db) as led:
        assert list(led.cached_by_file(run)) == plain and index(led.conn)
        plan = " ".join(str(r) for r in led.conn.execute(
            "EXPLAIN QUERY PLAN SELECT r.context FROM files AS f LEFT JOIN reports AS r INDEXED BY reports_verdicts"
            " ON r.sha256 = f.sha256 AND r.spec_hash = ? AND r.validator_version = ?", ("a", "b")))
        assert "COVERING INDEX reports_verdicts" in plan
    done = collect_round([inbox], FORM, ledger=db, roster=read_roster(roster, FORM), output=tmp_path / "2.xlsx")
    done.collection.close()
    assert sum(done.read.values()) == 0 and done.reused == len(plain)


def _reversed_roster(path: Path, contact: bool = True) -> Path:
    """The samples' roster, its rows in reverse (keys out of order: the packed rows keep an order) and a contact column."""
    with open(SAMPLES / "roster.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(rows[0] + (["联系人"] if contact else []))
        for r in reversed(rows[1:]):
            w.writerow(r + ([f"{r[0]} 的联系人"] if contact else []))
    return path


@pytest.mark.parametrize("on_disk", [False, True])
def test_a_packed_roster_comes_back_as_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_disk: bool) -> None:
    if on_disk:  # (every roster's rows past the bound: in a file, as read_roster puts them)
        monkeypatch.setattr(roster_mod, "DISK_FROM", 64)
    spec = as_spec(FORM)
    for path in (_roster(tmp_path / "a.csv"), _reversed_roster(tmp_path / "b.csv")):
        read = read_roster(path, spec)
        assert isinstance(read.rows, PackedRows) and read.source == roster_mod.csv_source(path) is not None
        text = roster_mod.packed_text(read)
        assert text is not None
        back = roster_mod.roster_of_text(path, text)
        assert back is not None and back == read and back.rows.on_disk == read.rows.on_disk == on_disk
        assert list(back.rows) == list(read.rows) and list(back.keys()) == list(read.keys())
        assert all(back.by_key()[k] == read.by_key()[k] for k in read.keys()) and "SH404" not in back.by_key()
        assert back.rows.digest() == read.rows.digest()


def test_a_packed_roster_text_that_is_not_one_is_refused(tmp_path: Path) -> None:
    import base64
    import json
    import pickle

    read = read_roster(_reversed_roster(tmp_path / "b.csv"), as_spec(FORM))
    text = roster_mod.packed_text(read)
    assert text is not None
    data = json.loads(text)

    def with_(**change: object) -> str:
        return json.dumps({**data, **change})

    rows = base64.b64decode(data["rows"])
    ends = array(data["ends"][0])
    ends.frombytes(base64.b64decode(data["ends"][1]))

    assert isinstance(read.rows, PackedRows)
    first = read.rows.record(0)
    key, line, values, contacts = pickle.loads(first)

    class _Made:  # (a class named in the pickle, that would make the very key: refused all the same)
        def __reduce__(self) -> tuple[object, ...]:
            return (str, (key,))

    evil = pickle.dumps((_Made(), line, values, contacts))
    assert pickle.loads(evil) == pickle.loads(first)
    bad = [
        with_(form="packed roster 0"),
        with_(rows=base64.b64encode(evil + rows[len(first):]).decode(),  # a class that is not a value's
              ends=[data["ends"][0], base64.b64encode(array(data["ends"][0], [e - len(first) + len(evil) for e in ends]).tobytes()).decode()]),
        with_(rows=base64.b64encode(rows[:-1]).decode()),  # cut short
        with_(rows=base64.b64encode(pickle.dumps(("X", 2, (None,) * len(data["fields"]), ("",))) + rows[len(first):]).decode()),
        with_(keys=base64.b64encode(base64.b64decode(data["keys"])[::-1]).decode()),
        with_(order=None),  # the keys out of order, said to be in it
        with_(fields=data["fields"][:-1]),
        with_(ends=["Z", data["ends"][1]]),
        "not JSON", "[]",
    ]
    for text in bad:
        assert roster_mod.roster_of_text(tmp_path / "b.csv", text) is None


def test_a_round_takes_its_kept_roster_only_for_the_same_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from xltemplate.cli import main
    from xltemplate.rounds import preflight

    inbox = _inbox(tmp_path, 4)
    db = tmp_path / "round.xlt.db"
    roster_csv = _roster(tmp_path / "r.csv")
    reads: list[Path] = []
    real = preflight.read_roster

    def counted(path: Path, spec: object) -> object:
        reads.append(Path(path))
        return real(path, spec)  # type: ignore[arg-type]

    monkeypatch.setattr(preflight, "read_roster", counted)

    def run(n: int, *extra: str) -> str:
        got = CliRunner().invoke(main, ["collect", str(inbox), "--roster", str(roster_csv), "--ledger", str(db), "--quiet",
                                        "-o", str(tmp_path / f"{n}.xlsx"), *extra])
        return f"{got.exit_code} {got.output}"

    assert run(1).startswith("0") and len(reads) == 1
    with Ledger.open(db) as led:
        kept = led.memo("packed roster")
    assert kept is not None
    assert run(2).startswith("0") and len(reads) == 1  # taken from the ledger
    monkeypatch.setattr(preflight, "ROSTER_KEPT", False)
    assert run(3).startswith("0") and len(reads) == 2
    monkeypatch.setattr(preflight, "ROSTER_KEPT", True)
    _roster(roster_csv, budget={"SH002": "3,260,000.01"})  # another value: read, and refused as a changed roster
    out = run(4)
    assert out.startswith("2") and "名单" in out and len(reads) == 3
    with Ledger.open(db) as led:  # (kept by the refused run too: a memo is keyed by what it is made from)
        assert led.memo("packed roster") not in (kept, None)  # the new roster's, in place of the old
    assert run(5, "--roster-changed-ok").startswith("0") and len(reads) == 3
    assert run(6).startswith("0") and len(reads) == 3


def test_received_facts_differ_exactly_when_the_rows_do(tmp_path: Path) -> None:
    """提交记录's key from what its rows are made of (rounds.view.RECEIVED_FACTS): across runs that change a path, the
    inbox, a withdrawal, the facts' digest changes when a row does, and stays when none does."""
    from xltemplate.rollup import reuse
    from xltemplate.rounds import view
    from xltemplate.rounds.withdraw import withdraw

    assert view.RECEIVED_FACTS
    inbox = _inbox(tmp_path, 5)
    db = tmp_path / "round.xlt.db"
    roster = read_roster(_roster(tmp_path / "r.csv"), FORM)
    seen: list[tuple[list[object], str, str]] = []

    def run(n: int) -> None:
        done = collect_round([inbox], FORM, ledger=db, roster=roster, output=tmp_path / f"{n}.xlsx")
        got = done.collection.round
        assert got is not None
        rows = list(got.received)
        facts = getattr(got.received, "facts")
        seen.append((rows, reuse.facts_digest(facts()), reuse.facts_digest(rows)))
        done.collection.close()

    run(1)
    run(2)  # nothing changed
    first = sorted(inbox.iterdir())[0]
    first.rename(inbox / ("改名 " + first.name))  # a path changed
    run(3)
    run(4)
    gone = sorted(inbox.iterdir())[-1]
    gone.unlink()  # a file gone from the inbox (counted from its archive copy)
    run(5)
    counted = next(r for r in seen[-1][0] if r.key and r.fate == "计入")
    assert counted.key is not None
    withdraw(db, counted.key, counted.sha256, "发错了")  # its fate and note change
    run(6)
    run(7)
    for (rows_a, facts_a, plain_a), (rows_b, facts_b, plain_b) in zip(seen, seen[1:]):
        assert (rows_a == rows_b) == (facts_a == facts_b) == (plain_a == plain_b)
    assert [a[1] == b[1] for a, b in zip(seen, seen[1:])] == [True, False, True, False, False, True]


def test_a_packed_briefs_values_read_alone_are_those_decoded_together(monkeypatch: pytest.MonkeyPatch) -> None:
    """rollup.spill.FIELDS_ALONE: each packed value read by itself (the others skipped by the flags) is the value, of
    the same type, zone and fold, that decoding them all gives; every combination of present and absent values."""
    import datetime as dt
    import itertools
    from decimal import Decimal

    from xltemplate.rollup import spill

    zones = [None, dt.timezone.utc, dt.timezone(dt.timedelta(hours=8))]
    briefs = []
    for n, (sha, saved, trusted, total) in enumerate(itertools.product(*[[False, True]] * 4)):
        values: dict[str, object] = {name: None for name in spill.FIELDS}
        values.update(path=f"/x/{n}.xlsx", status="valid", key=f"K{n}", errors=n, warnings=2 * n, has_results=bool(n % 2),
                      sha256=f"{n:064x}" if sha else None,
                      saved_at=dt.datetime(2026, 1, 1, 8, n, 5, n, tzinfo=zones[n % 3]) if saved else None,
                      saved_at_trusted=dt.datetime(2026, 11, 1, 1, 30, n, fold=n % 2, tzinfo=zones[(n + 1) % 3]) if trusted else None,
                      total=(Decimal(f"{n}.50") if n % 3 else Decimal("-0.00")) if total else None,
                      template=("sh", "1"), codes=())
        briefs.append(spill.Brief.of(values))
    assert all(type(b._own) is bytes for b in briefs)  # (all packed: COMPACT_BRIEFS)
    names = ["errors", "warnings", "has_results", "sha256", "saved_at", "saved_at_trusted", "total"]

    def read() -> list[str]:
        return [repr([(getattr(b, x), getattr(getattr(b, x), "fold", None)) for x in names]) for b in briefs]

    monkeypatch.setattr(spill, "FIELDS_ALONE", False)
    together = read()
    monkeypatch.setattr(spill, "FIELDS_ALONE", True)
    assert read() == together
    assert "fold" not in together[0] and len(set(together)) == len(briefs)


def test_a_roster_whose_rows_went_to_a_file_is_not_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past roster.DISK_FROM a roster is not kept in the ledger (its text would hold several times its rows at once)."""
    from xltemplate.rounds import preflight

    spec = as_spec(FORM)
    path = _roster(tmp_path / "a.csv")
    with Ledger.open(tmp_path / "r.xlt.db", create=True) as led:
        monkeypatch.setattr(roster_mod, "DISK_FROM", 64)
        big = read_roster(path, spec)
        assert isinstance(big.rows, PackedRows) and big.rows.on_disk
        preflight.keep_roster(led, big, spec)
        assert led.memo("packed roster") is None
        monkeypatch.undo()
        small = read_roster(path, spec)
        preflight.keep_roster(led, small, spec)
        assert led.memo("packed roster") is not None
    assert preflight.recall_roster(tmp_path / "r.xlt.db", path, spec) == small


@pytest.mark.parametrize("on_disk", [False, True])
@pytest.mark.parametrize("in_order", [False, True])
def test_keys_looked_up_as_bytes_find_what_keys_as_text_find(monkeypatch: pytest.MonkeyPatch, on_disk: bool,
                                                             in_order: bool) -> None:
    """roster.KEYS_AS_BYTES: every key, and keys on no row (between, before, after, prefixes), found or not found at
    the same place both ways; keys past ASCII, astral and a lone surrogate included, rows in and out of key order."""
    from xltemplate.roster import RosterRow

    if on_disk:
        monkeypatch.setattr(roster_mod, "DISK_FROM", 64)
    keys = ["B1", "B10", "B2", "A", "中", "中文", "\U0001F600", "é", "\udcff", "z", "Bb", "b"] + [f"K{n:04d}" for n in range(300)]
    if in_order:
        keys.sort()
    rows = PackedRows((RosterRow(key=k, line=n + 2, prefill={}) for n, k in enumerate(keys)), [], [])
    assert rows.on_disk == on_disk and (rows._order is None) == in_order
    probes = keys + ["", "B", "B11", "中中", "\U0001F601", "\udcfe", "\ue000", "zz", "K", "K0150x", "K9999", "\x00"]

    def found(as_bytes: bool) -> list[int | None]:
        monkeypatch.setattr(roster_mod, "KEYS_AS_BYTES", as_bytes)
        got: list[int | None] = []
        for k in probes:
            try:
                got.append(rows.index(k))
            except ValueError:
                got.append(None)
        return got

    text = found(False)
    assert found(True) == text
    assert text[:len(keys)] == list(range(len(keys))) and set(text[len(keys):]) == {None}
