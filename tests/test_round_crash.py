"""A round's guarantees with real processes: a collect --ledger killed (SIGKILL) while archiving, while reading and
while writing the roll-up leaves the ledger consistent, and the next run completes the work and counts what a
clean run counts; concurrent runs are serialised; round status reads while a run writes; a file the run could
not judge is never kept and is read again."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner

from xltemplate.cli import main

from .conftest import ROOT
from .round_helpers import Round, write_roster
from .tamper import set_saved_time

VARIANTS = 30  # distinct returns per unit: 12 × 30 = 360 files, long enough to catch each phase


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Round:
    """360 distinct returns (each unit's form saved at 30 different times), and the roster."""
    root = tmp_path_factory.mktemp("many")
    r = Round(root, write_roster(root / "名单.csv"))
    r.day = 1
    base = [r.put(f"{key}.xlsx", key, saved=dt.datetime(2021, 5, 1, 9), loss=n % 5) for n, key in enumerate(
        [f"SH{k:03d}" for k in range(1, 13)])]
    for e in base:
        src = r.inbox / e.name
        for v in range(1, VARIANTS):
            set_saved_time(src, r.inbox / f"{e.key}-{v:02d}.xlsx", dt.datetime(2021, 5, 1, 9, v))
    return r


def start(args: list[object], tmpdir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "TMPDIR": str(tmpdir), "PYTHONPATH": str(ROOT)}
    env.pop("CI", None)
    return subprocess.Popen([sys.executable, "-m", "xltemplate.cli", *map(str, args)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until(cond: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.002)
    return False


def count(db: Path, sql: str) -> int:
    """A read of the ledger while a run writes it (WAL: the last committed state)."""
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute(sql).fetchone()[0])
        finally:
            conn.close()
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0


def consistent(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    # Every recorded file has its archive copy (the archive is written before the ledger records a file).
    archive = db.with_name("round.xlt.archive")
    for (name,) in conn.execute("SELECT archive_name FROM files"):
        assert (archive / name).is_file()
    return conn


def collect_args(r: Round, db: Path, out: Path) -> list[object]:
    return ["collect", r.inbox, "--roster", r.roster, "-o", out, "--ledger", db, "--json", "--quiet", "--jobs", "2"]


@pytest.fixture(scope="module")
def reference(many: Round, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """What a clean run counts for each unit."""
    root = tmp_path_factory.mktemp("reference")
    proc = start(collect_args(many, root / "round.xlt.db", root / "r.xlsx"), root)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return dict(sqlite3.connect(root / "round.xlt.db").execute("SELECT unit_key, sha256 FROM decisions"))


KILL_POINTS = {
    # what the run is doing when it is killed, and how the test knows it is there
    "archiving": lambda db, out: wait_until(lambda: count(db, "SELECT count(*) FROM runs") == 1 and any(
        p.is_file() for p in (db.parent / "round.xlt.archive").rglob("*.xlsx")), 60),
    "reading": lambda db, out: wait_until(lambda: count(db, "SELECT count(*) FROM reports") >= 100, 120),
    "writing the roll-up": lambda db, out: wait_until(lambda: any(out.parent.glob(f".{out.name}.*.part")), 180),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_run_killed_leaves_the_ledger_consistent_and_the_next_run_completes(
        many: Round, reference: dict[str, str], tmp_path: Path, point: str) -> None:
    db, out = tmp_path / "round.xlt.db", tmp_path / "r.xlsx"
    proc = start(collect_args(many, db, out), tmp_path)
    try:
        assert KILL_POINTS[point](db, out), f"the run never got to {point}"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    conn = consistent(db)
    assert [s for (s,) in conn.execute("SELECT state FROM runs")] == ["running"]  # killed before it could finish
    assert conn.execute("SELECT count(*) FROM decisions").fetchone()[0] == 0  # never half the decisions
    kept = conn.execute("SELECT count(*) FROM reports").fetchone()[0]
    conn.close()
    assert not out.exists()  # the roll-up is written whole or not at all
    if point == "reading":
        assert 100 <= kept < 360
    if point == "writing the roll-up":
        assert kept == 360  # every report was kept before the roll-up

    proc = start(collect_args(many, db, out), tmp_path)
    text, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    data = json.loads(text)
    assert data["ledger"]["read"] == 360 - kept  # the next run reads only what was left
    assert any("没有完成（被中断）" in n for n in data["ledger"]["notices"])
    conn = consistent(db)
    assert [s for (s,) in conn.execute("SELECT state FROM runs ORDER BY id")] == ["interrupted", "finished"]
    assert conn.execute("SELECT count(*) FROM files").fetchone()[0] == 360  # files in = files in the ledger
    assert dict(conn.execute("SELECT unit_key, sha256 FROM decisions")) == reference
    assert out.is_file()
    # SIGKILL left a .part behind when killed writing the roll-up; this run swept it (fsutil.sweep) and left none.
    assert list(tmp_path.glob(".r.xlsx.*")) == []


def test_concurrent_runs_are_serialised(many: Round, tmp_path: Path) -> None:
    db = tmp_path / "round.xlt.db"
    first = start(collect_args(many, db, tmp_path / "a.xlsx"), tmp_path)
    assert wait_until(lambda: db.exists(), 30)
    second = start(collect_args(many, db, tmp_path / "b.xlsx"), tmp_path)
    outs = [p.communicate(timeout=300) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], [e for _, e in outs]
    reads = sorted((json.loads(o)["ledger"]["run"], json.loads(o)["ledger"]["read"]) for o, _ in outs)
    assert reads == [(1, 360), (2, 0)]  # one after the other: the second found every report made
    conn = consistent(db)
    assert [s for (s,) in conn.execute("SELECT state FROM runs ORDER BY id")] == ["finished", "finished"]


def test_a_busy_ledger_is_refused_with_who_holds_it_and_status_still_reads(
        many: Round, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "round.xlt.db"
    small = Round(tmp_path, many.roster)
    small.inbox.mkdir()
    shutil.copy(many.inbox / "SH001.xlsx", small.inbox)
    assert CliRunner().invoke(main, ["collect", str(small.inbox), "--roster", str(many.roster), "-o", str(tmp_path / "a.xlsx"),
                                     "--ledger", str(db)]).exit_code == 0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen([sys.executable, "-m", "tests.ledger_child", str(db), str(tmp_path / "nothing"), "--hold", "30"],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and "opened" in holder.stdout.readline()
        monkeypatch.setattr("xltemplate.ledger.store.DEFAULT_WAIT", 0.3)
        result = CliRunner().invoke(main, ["collect", str(small.inbox), "--roster", str(many.roster), "-o",
                                           str(tmp_path / "b.xlsx"), "--ledger", str(db)])
        assert result.exit_code == 2 and f"进程 {holder.pid}" in result.output and "已等待 0.3 秒" in result.output
        assert not (tmp_path / "b.xlsx").exists()
        status = CliRunner().invoke(main, ["round", "status", "--ledger", str(db), "--json"])
        assert status.exit_code == 0 and json.loads(status.output)["valid"] == ["SH001"]  # readers take no lock
    finally:
        holder.kill()
        holder.wait()


def test_a_file_the_run_could_not_judge_is_not_kept_and_is_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from xltemplate import batch
    from xltemplate.findings import finding
    from xltemplate.report import FileReport
    from xltemplate.roster import read_roster
    from xltemplate.rounds import collect_round

    r = Round(tmp_path, write_roster(tmp_path / "名单.csv"))
    r.day = 1
    slow = r.put("SH001.xlsx", "SH001", saved=dt.datetime(2021, 5, 1, 9))
    r.put("SH002.xlsx", "SH002", saved=dt.datetime(2021, 5, 1, 9))
    real = batch.validate.validate_path

    def timing_out(path: Any, run: Any, **kw: Any) -> FileReport:
        if Path(path).name.startswith(slow.sha256):  # the archive copy of SH001.xlsx
            return FileReport.unreadable(str(path), finding("file-timeout", what="处理此文件超过 10 秒，已停止"))
        return real(path, run, **kw)

    monkeypatch.setattr(batch.validate, "validate_path", timing_out)
    roster = read_roster(r.roster, "sh-project-self-eval")

    def run() -> Any:
        return collect_round([r.inbox], "sh-project-self-eval", ledger=tmp_path / "round.xlt.db", output=tmp_path / "r.xlsx",
                             roster=roster)

    first = run()
    fates = {Path(x.path).name: x.fate for x in first.collection.returns}
    assert fates == {"SH001.xlsx": "未校验", "SH002.xlsx": "计入"}
    assert {x.key: x.fate for x in first.collection.round.received} == {None: "未校验", "SH002": "计入"}
    assert sqlite3.connect(tmp_path / "round.xlt.db").execute("SELECT count(*) FROM reports").fetchone()[0] == 1
    assert first.collection.counts().not_checked == 1
    monkeypatch.undo()
    second = run()
    assert second.read == {"again": 1}  # read again, and it counts now
    assert {Path(x.path).name: x.fate for x in second.collection.returns} == {"SH001.xlsx": "计入", "SH002.xlsx": "计入"}
