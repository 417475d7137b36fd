"""Review of session 26's round and collect changes (roundstore: ledger.store.SEEN_IN_LEDGER, rollup.reuse.
GIVEN_WHEN_ZIPPED / PARTS_STREAMED / KEPT_STREAMED, rounds.run.SHAS_SHARED / TODO_LET_GO; collectwall: split.TEXTS_TOO,
collect.HEADS, catalog.C_YAML), merged: a run killed, or whose ledger's disk fills, while the sheets it keeps are
streamed into the ledger leaves the ledger as the last finished run left it, and the next run is right (its roll-up
the bytes it is with every sheet written anew, from the same ledger state and clock); the full disk is said as the
ledger's, naming it."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Callable

import pytest

from xltemplate.errors import XltemplateError
from xltemplate.ledger import store
from xltemplate.rollup import reuse
from xltemplate.roster import read_roster
from xltemplate.rounds import collect_round
from xltemplate.rounds import run as run_mod

from .conftest import SAMPLES
from .tamper import replace_text, rewrite

FORM = "sh-project-self-eval"


def _kept(db: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The ledger's kept parts (name, key, state, the XML's sha) and its finished runs."""
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        parts = conn.execute("SELECT name, key, state, hex(xml), run_id FROM parts ORDER BY name").fetchall()
        runs = conn.execute("SELECT id FROM runs WHERE finished_at IS NOT NULL ORDER BY id").fetchall()
        return parts, runs
    finally:
        conn.close()


class _Round:
    """A round over a copy of the samples, at fixed times (the ledger's clock), run in ``tmp_path / "round"``."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp, self.mp = tmp_path, monkeypatch
        self.tick = [0]

        def now() -> dt.datetime:
            self.tick[0] += 1
            return dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=self.tick[0])

        monkeypatch.setattr(store, "_now", now)
        self.inbox = tmp_path / "inbox"
        shutil.copytree(SAMPLES / "returns", self.inbox)
        self.work = tmp_path / "round"
        self.work.mkdir()
        self.db = self.work / "r.xlt.db"

    def run(self, name: str) -> bytes:
        out = self.tmp / f"{name}.xlsx"
        done = collect_round([self.inbox], FORM, ledger=self.db, roster=read_roster(SAMPLES / "roster.csv", FORM),
                             output=out, jobs=1)
        done.collection.close()
        return out.read_bytes()

    def change(self) -> None:
        """One file's bytes changed: 文字材料 and more are written anew, and kept (streamed into the ledger)."""
        rewrite(SAMPLES / "returns" / "无线电监测站.xlsx", self.inbox / "无线电监测站.xlsx",
                {"xl/sharedStrings.xml": replace_text("成果统计和归档不够及时", "成果统计不够及时")})

    def right(self, name: str) -> list[str]:
        """The next run, from the ledger as it is, made twice from one state and clock: with the kept sheets reused
        and with every sheet written anew; the same bytes. The sheets it was given."""
        saved = self.tmp / "saved"
        shutil.rmtree(saved, ignore_errors=True)
        shutil.copytree(self.work, saved)
        start = self.tick[0]
        self.mp.setattr(reuse, "REUSE", False)
        anew = self.run(f"{name}-anew")
        shutil.rmtree(self.work)
        shutil.copytree(saved, self.work)
        self.tick[0] = start
        self.mp.setattr(reuse, "REUSE", True)
        given: list[str] = []
        real = reuse.Parts.__init__

        def parts(me: reuse.Parts, *a: Any, **k: Any) -> None:
            real(me, *a, **k)
            given.append(me)  # type: ignore[arg-type]

        self.mp.setattr(reuse.Parts, "__init__", parts)
        assert self.run(f"{name}-reused") == anew, name
        self.mp.setattr(reuse.Parts, "__init__", real)
        return sorted(given[-1].reused) if given else []  # type: ignore[attr-defined]


def _streamed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The switches of the merged branches on (as shipped), and how many kept parts the ledger took as a Slice."""
    for owner, name in ((store, "SEEN_IN_LEDGER"), (reuse, "GIVEN_WHEN_ZIPPED"), (reuse, "PARTS_STREAMED"),
                        (reuse, "KEPT_STREAMED"), (run_mod, "PARTS_STORED_AS_MADE"), (run_mod, "LAZY_PARTS")):
        monkeypatch.setattr(owner, name, True)
    seen = [0]
    real: Callable[..., Any] = store.Ledger.store_parts

    def counted(self: store.Ledger, run: Any, parts: Any) -> None:
        parts = list(parts)
        seen[0] += sum(isinstance(p[3], reuse.Slice) for p in parts)
        real(self, run, parts)

    monkeypatch.setattr(store.Ledger, "store_parts", counted)
    return seen


def test_a_full_ledger_disk_while_kept_parts_stream_is_said_as_the_ledgers(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The ledger's disk fills while the run stores the sheets it keeps (in pieces, KEPT_STREAMED, inside the roll-up's
    writing): the clerk is told the ledger could not be written (naming it), not that the temporary folder is full
    (the roll-up's writer took SQLite's error for one of its own sort files'); nothing is kept, no run finished, and
    the next run is right."""
    r = _Round(tmp_path, monkeypatch)
    streamed = _streamed(monkeypatch)
    real = store.Ledger.store_parts

    def full(self: store.Ledger, run: Any, parts: Any) -> None:
        pages = self.conn.execute("PRAGMA page_count").fetchone()[0]
        self.conn.execute(f"PRAGMA max_page_count = {pages}")  # the ledger's disk is full from now on
        real(self, run, parts)

    monkeypatch.setattr(store.Ledger, "store_parts", full)
    before = _kept(r.db) if r.db.exists() else None
    with pytest.raises(XltemplateError) as info:
        r.run("full")
    assert before is None
    told = str(info.value)
    assert "写入台账失败" in told and str(r.db) in told and "磁盘空间不足" in told, told
    assert "临时文件夹" not in told, told
    assert _kept(r.db) == ([], [])  # (nothing kept, no run finished)
    assert not (tmp_path / "full.xlsx").exists() and not list(tmp_path.glob("*.tmp*"))
    monkeypatch.setattr(store.Ledger, "store_parts", real)
    r.right("after")
    assert streamed[0] > 0  # (the failed run's parts reached the ledger as a Slice: streamed, not bytes)


_KILLER = textwrap.dedent("""
    import datetime as dt, os, signal, sys
    from xltemplate.ledger import store
    from xltemplate.rollup import reuse
    from xltemplate.roster import read_roster
    from xltemplate.rounds import collect_round
    from xltemplate.signals import interruptible

    tick = int(sys.argv[4])
    sig = getattr(signal, sys.argv[6])
    def now():
        global tick
        tick += 1
        return dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=tick)
    store._now = now
    real = reuse.Slice.pieces
    def pieces(self, size):
        if size != store.PIECE:  # (not the ledger's stream: the splice's check reads a part's head)
            yield from real(self, size)
            return
        for n, piece in enumerate(real(self, 1024)):  # (small pieces: killed midway through a part's blob)
            if n == 2:
                os.kill(os.getpid(), sig)
            yield piece
    reuse.Slice.pieces = pieces
    with interruptible():  # (as the CLI runs a command: SIGTERM an exception)
        collect_round([sys.argv[1]], "sh-project-self-eval", ledger=sys.argv[2], output=sys.argv[3], jobs=1,
                      roster=read_roster(sys.argv[5], "sh-project-self-eval"))
""")


@pytest.mark.parametrize("sig", ["SIGKILL", "SIGTERM"])
def test_a_run_killed_while_its_kept_parts_stream_into_the_ledger(sig: str, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGKILL or SIGTERM midway through a kept part written into the ledger in pieces (a zeroblob, then incremental
    blob writes): the ledger is the last finished run's (its parts whole, integrity_check ok), and the next run is
    right; SIGTERM (an exception) leaves no roll-up half-written beside the output and no temporary folder."""
    r = _Round(tmp_path, monkeypatch)
    streamed = _streamed(monkeypatch)
    first = r.run("first")
    assert streamed[0] > 0  # (the first run's parts went to the ledger as a Slice each)
    before = _kept(r.db)
    assert before[0] and len(before[1]) == 1
    r.change()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    got = subprocess.run([sys.executable, "-c", _KILLER, str(r.inbox), str(r.db), str(tmp_path / "killed.xlsx"),
                          str(r.tick[0]), str(SAMPLES / "roster.csv"), sig], capture_output=True, text=True,
                         timeout=600, env={**os.environ, "TMPDIR": str(scratch)})
    assert got.returncode == (-9 if sig == "SIGKILL" else 1), got.stderr[-2000:]
    if sig == "SIGTERM":  # (SIGKILL leaves its .part and XlsxWriter's folder: no code of ours runs)
        assert "Interrupted" in got.stderr, got.stderr[-2000:]
        assert list(tmp_path.glob(".killed.xlsx.*")) == [] and list(scratch.iterdir()) == []
    assert _kept(r.db) == before  # (the killed run's transaction never committed: the parts are the first run's)
    assert not (tmp_path / "killed.xlsx").exists()
    r.tick[0] += 10
    r.right("after")
    assert first


def test_a_full_temporary_folder_while_the_inputs_seen_are_kept_is_said_as_the_temporary_folders(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SEEN_IN_LEDGER keeps the inputs seen in a temporary table of the ledger's connection: SQLite keeps it in a file
    in TMPDIR (this build: TEMP_STORE=1; ~250 bytes an input, ~25 MB at 100,000, past its 2 MB cache). That folder
    full is said as the temporary folder's (as the roll-up's writer says it), not as the ledger's disk (the batch's
    transaction said every SQLite full disk as the ledger's: the clerk would look for room beside the ledger); the
    batch is rolled back, and the next run is right."""
    r = _Round(tmp_path, monkeypatch)
    _streamed(monkeypatch)
    real = store.SeenKept.__init__

    def small(self: store.SeenKept, led: store.Ledger) -> None:
        real(self, led)
        pages = led.conn.execute("PRAGMA temp.page_count").fetchone()[0]
        led.conn.execute(f"PRAGMA temp.max_page_count = {pages}")  # the temporary folder is full from now on

    monkeypatch.setattr(store.SeenKept, "__init__", small)
    with pytest.raises(XltemplateError) as info:
        r.run("full")
    told = str(info.value)
    assert "临时文件夹" in told and "磁盘空间不足" in told and str(r.db) not in told, told
    conn = sqlite3.connect(r.db)
    try:
        assert conn.execute("SELECT count(*) FROM files").fetchone()[0] == 0  # (the batch rolled back)
    finally:
        conn.close()
    monkeypatch.setattr(store.SeenKept, "__init__", real)
    r.right("after")


def test_kept_parts_streamed_in_small_pieces_make_the_bytes_of_sheets_written_anew(tmp_path: Path,
                                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The samples' kept parts are smaller than one piece (64 KB: store.PIECE, reuse._CHUNK), so the tests of the
    streaming switches never crossed a piece's end: here pieces of 997 and 1009 bytes (a row's XML, a UTF-8 character,
    a row 汇总 keeps cut anywhere), over a first run, one over the same inbox (every sheet given: copied, spliced,
    汇总's rows streamed), one with a file changed (kept anew, streamed into the ledger) and one again; each run's
    roll-up the bytes it is with every sheet written anew."""
    r = _Round(tmp_path, monkeypatch)
    streamed = _streamed(monkeypatch)
    monkeypatch.setattr(store, "PIECE", 997)
    monkeypatch.setattr(reuse, "_CHUNK", 1009)
    given = [r.right("first"), r.right("again")]
    r.change()
    given += [r.right("changed"), r.right("again2")]
    assert streamed[0] > 0
    assert given[0] == [] and "汇总" in given[1] and "指标得分" in given[1] and "提交记录" in given[1], given
    assert "指标得分" in given[3], given


def test_a_full_temporary_folder_while_summary_rows_are_spooled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """KEPT_STREAMED packs 汇总's kept rows into a temporary file as they are written (where they were held): that
    folder full is said as the temporary folder's, nothing is kept, no run finished, and the next run is right."""
    import errno
    import tempfile

    r = _Round(tmp_path, monkeypatch)
    _streamed(monkeypatch)
    real = tempfile.TemporaryFile

    class Full:
        def __init__(self, fh: Any) -> None:
            self.fh = fh

        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __getattr__(self, name: str) -> Any:
            return getattr(self.fh, name)

        def __enter__(self) -> "Full":
            return self

        def __exit__(self, *exc: object) -> None:
            self.fh.close()

    def spool(*a: Any, **k: Any) -> Any:
        got = real(*a, **k)
        return Full(got) if str(k.get("prefix", "")).startswith("xltemplate-rows-") else got

    monkeypatch.setattr(reuse.tempfile, "TemporaryFile", spool)
    with pytest.raises(XltemplateError) as info:
        r.run("full")
    told = str(info.value)
    assert "临时文件夹" in told and "磁盘空间不足" in told, told
    assert _kept(r.db) == ([], [])
    assert not (tmp_path / "full.xlsx").exists() and not list(tmp_path.glob(".full.xlsx.*"))
    monkeypatch.setattr(reuse.tempfile, "TemporaryFile", real)
    r.right("after")


@pytest.mark.parametrize("write_on", [False, True])
@pytest.mark.parametrize("read_on", [False, True])
def test_a_kept_states_decimals_read_back_as_they_were(write_on: bool, read_on: bool,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """reuse.DECIMALS_PACKED (roundstore's last commit, whose message names a test it does not add): a state's lists
    of Decimals (repeated, zero, -0, trailing zeros, an exponent, NaN, an empty list, a mixed list, in a tuple and a
    dict) read back with the same texts and types, whichever way the state was written and is read (a ledger kept by
    the run before an upgrade, or with the switch off)."""
    import json
    from decimal import Decimal

    state = {"totals": [Decimal("85.50"), Decimal("85.5"), Decimal("85.50"), Decimal("0"), Decimal("-0"),
                        Decimal("1E+2"), Decimal("NaN"), Decimal("99.999")],
             "empty": [], "mixed": [Decimal("1.0"), 2, "3"], "tup": (Decimal("4.00"), [Decimal("5")]),
             "map": {"a": [Decimal("6.60")]}, "ints": [1, 2]}
    monkeypatch.setattr(reuse, "DECIMALS_PACKED", write_on)
    text = json.dumps(reuse._encode(state), ensure_ascii=False, separators=(",", ":"))
    monkeypatch.setattr(reuse, "DECIMALS_PACKED", read_on)
    got = reuse._decode(json.loads(text))

    def shown(v: Any) -> Any:  # (each value with its type and text: NaN equal to itself, 85.5 unequal to 85.50)
        if isinstance(v, (list, tuple)):
            return (type(v).__name__, [shown(x) for x in v])
        if isinstance(v, dict):
            return {k: shown(x) for k, x in v.items()}
        return (type(v).__name__, str(v))

    assert shown(got) == shown(state)
