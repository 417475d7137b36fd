"""What a run killed outright leaves behind is swept by the next run (xltemplate.fsutil.sweep).

SIGKILL (the OOM killer, a power cut, ``kill -9``, a closed terminal's group kill) cannot be handled: no ``finally``
runs, and a killed ``collect``, ``generate`` or round left ``.OUTPUT.xlsx.….part`` beside its output (or generate's
staging folder, every workbook made so far in it) and its ``xltemplate-PID-…`` folder in TMPDIR, for ever: a bureau's
machine filled over a round of weeks. Now the temporary names carry the pid (and machine) of their maker, and the next
run that writes removes those of processes that have ended: in TMPDIR, and beside the output it is about to write
(that output's only). A live process's files are kept, as is a ``.part`` with no pid in its name.

Real processes, held at the point where they hold the files (a driver that patches the writer to wait there and
says so in a flag file: no blind sleeps), killed with SIGKILL, then the real command run again."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from xltemplate import fsutil, workers
from xltemplate.signals import HOST, gone, owner_tag, scratch_prefix

from .conftest import ROOT, SAMPLES
from .round_helpers import Round, write_roster
from .test_trust_signals import wait_until

# The command with its writer held where it holds its temporary files: argv = flag, where, command...
DRIVER = """
import os, sys, time
from pathlib import Path

flag, where = Path(sys.argv[1]), sys.argv[2]


def hold():
    flag.write_text(str(os.getpid()))
    time.sleep(600)


if where == "rollup":  # inside write_rollup: its .part beside the output and its scratch folder in TMPDIR made
    from xltemplate.rollup import workbook

    def held(self, *args, **kwargs):
        hold()

    workbook._Writer.write = held
elif where == "generate":  # one workbook made in the staging folder (fewer than 20: in this process)
    from xltemplate import distribute

    real = distribute._one

    def held(task):
        made = real(task)
        hold()
        return made

    distribute._one = held
from xltemplate.cli import main

sys.argv = ["xltemplate", *sys.argv[3:]]
main()
"""

OTHER_HOST = "ffffffff" if HOST != "ffffffff" else "eeeeeeee"


def env(tmpdir: Path) -> dict[str, str]:
    e = {**os.environ, "TMPDIR": str(tmpdir), "PYTHONPATH": str(ROOT)}
    e.pop("CI", None)
    return e


def held(tmp_path: Path, where: str, args: list[object], tmpdir: Path) -> tuple[subprocess.Popen[str], int]:
    """Start the command held at ``where``; its pid once it is there."""
    driver, flag = tmp_path / "driver.py", tmp_path / f"held-{where}"
    driver.write_text(DRIVER, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(driver), str(flag), where, *map(str, args)], env=env(tmpdir), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if not wait_until(lambda: flag.exists() and flag.read_text() != "" or proc.poll() is not None, 180):
        proc.kill()
    assert proc.poll() is None, proc.communicate()
    return proc, int(flag.read_text())


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)  # (reaped: a zombie's pid still answers kill(pid, 0))
    assert proc.returncode == -signal.SIGKILL


def run(args: list[object], tmpdir: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "xltemplate.cli", *map(str, args)], env=env(tmpdir), cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done


def parts(folder: Path, name: str, pid: int) -> list[Path]:
    return sorted(folder.glob(f".{name}.{owner_tag(pid)}-*.part"))


def scratch(tmpdir: Path, pid: int) -> list[Path]:
    return sorted(tmpdir.glob(f"{scratch_prefix(pid)}*"))


def strangers(out: Path, tmpdir: Path, dead: int) -> list[Path]:
    """What a sweep must leave: a .part with no pid (an older version's, a stranger's), one of a live process (this
    one), another output's of a dead process, one of another machine's process, and a live process's scratch."""
    made = [out / ".r.xlsx.abcdefgh.part", out / f".r.xlsx.{os.getpid()}-{HOST}-abcdefgh.part",
            out / f".other.xlsx.{dead}-{HOST}-abcdefgh.part", out / f".r.xlsx.{dead}-{OTHER_HOST}-abcdefgh.part",
            tmpdir / f"{scratch_prefix(os.getpid())}abcdefgh", tmpdir / f"xltemplate-{dead}-{OTHER_HOST}-abcdefgh"]
    for p in made:
        if p.parent == tmpdir:
            p.mkdir()
        else:
            p.write_bytes(b"x")
    return made


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sweep") / "in"
    root.mkdir()
    for f in (SAMPLES / "returns").glob("*.xlsx"):
        if not f.name.startswith("~$"):
            (root / f.name).write_bytes(f.read_bytes())
    return root


def held_collect(inbox: Path, tmp_path: Path, jobs: int) -> tuple[Path, Path, list[object], subprocess.Popen[str], int]:
    """A collect held writing its roll-up: (TMPDIR, output folder, its arguments, the process, its pid)."""
    tmpdir, out = tmp_path / "tmp", tmp_path / "out"
    tmpdir.mkdir()
    out.mkdir()
    args: list[object] = ["collect", inbox, "-o", out / "r.xlsx", "--quiet", "--jobs", str(jobs)]
    return (tmpdir, out, args, *held(tmp_path, "rollup", args, tmpdir))


def test_a_killed_collect_leaves_what_the_next_run_sweeps(inbox: Path, tmp_path: Path) -> None:
    tmpdir, out, args, proc, pid = held_collect(inbox, tmp_path, 2)
    kill(proc)
    assert gone(pid)
    assert len(parts(out, "r.xlsx", pid)) == 1 and scratch(tmpdir, pid) != []  # (the test can fail: left behind)
    kept = strangers(out, tmpdir, pid)

    run(args, tmpdir)
    assert (out / "r.xlsx").is_file()
    assert parts(out, "r.xlsx", pid) == [] and scratch(tmpdir, pid) == []
    assert sorted(out.iterdir()) == sorted([out / "r.xlsx", *(p for p in kept if p.parent == out)])
    assert sorted(tmpdir.iterdir()) == sorted(p for p in kept if p.parent == tmpdir)


def test_a_live_runs_files_are_kept(inbox: Path, tmp_path: Path) -> None:
    """Two runs writing the same output: the one that finishes first must not take the other's files."""
    tmpdir, out, args, proc, pid = held_collect(inbox, tmp_path, 1)
    try:
        before = parts(out, "r.xlsx", pid), scratch(tmpdir, pid)
        assert len(before[0]) == 1 and before[1] != []
        run(args, tmpdir)
        assert (parts(out, "r.xlsx", pid), scratch(tmpdir, pid)) == before and all(p.exists() for p in before[1])
    finally:
        kill(proc)


def test_a_killed_round_leaves_what_the_next_run_sweeps_and_its_archive_whole(tmp_path: Path) -> None:
    r = Round(tmp_path / "round", write_roster(tmp_path / "名单.csv"))
    r.day = 1
    import datetime as dt

    for n, key in enumerate(["SH001", "SH002", "SH003"]):
        r.put(f"{key}.xlsx", key, saved=dt.datetime(2021, 5, 1, 9), loss=n)
    tmpdir, out, db = tmp_path / "tmp", r.root / "r.xlsx", r.root / "round.xlt.db"
    tmpdir.mkdir()
    args: list[object] = ["collect", r.inbox, "--roster", r.roster, "-o", out, "--ledger", db, "--quiet", "--jobs", "2"]
    proc, pid = held(tmp_path, "rollup", args, tmpdir)
    kill(proc)
    assert len(parts(r.root, "r.xlsx", pid)) == 1 and scratch(tmpdir, pid) != []

    run(args, tmpdir)
    assert out.is_file() and parts(r.root, "r.xlsx", pid) == [] and list(tmpdir.iterdir()) == []
    assert not [p for p in r.root.iterdir() if p.name.endswith(".part")]
    # The archive: copies are made under .tmp and linked to their names once fsynced and verified, so a kill never
    # leaves a half copy under its final name; .tmp is emptied by the next run that writes the ledger.
    archive = db.with_name("round.xlt.archive")
    copies = [p for p in archive.rglob("*") if p.is_file()]
    assert copies and not any(".tmp" in p.relative_to(archive).parts for p in copies)
    for p in copies:
        assert hashlib.sha256(p.read_bytes()).hexdigest() == p.name.split(".")[0]


def test_a_killed_generate_leaves_its_staging_folder_for_the_next_run(tmp_path: Path) -> None:
    roster = tmp_path / "r.csv"
    roster.write_text("编号,预算单位\n" + "".join(f"K{n:04d},单位{n}\n" for n in range(5)), encoding="utf-8")
    tmpdir, out = tmp_path / "tmp", tmp_path / "forms"
    tmpdir.mkdir()
    args: list[object] = ["generate", "sh-project-self-eval", "--roster", roster, "-o", out, "--jobs", "1"]
    proc, pid = held(tmp_path, "generate", args, tmpdir)
    kill(proc)
    staging = parts(out, "generate", pid)
    assert len(staging) == 1 and staging[0].is_dir() and any(staging[0].iterdir())  # a workbook made in it

    run(args, tmpdir)
    assert not staging[0].exists()
    assert sorted(p.name for p in out.iterdir()) == sorted(["manifest.csv", *(p.name for p in out.glob("*.xlsx"))])
    assert len(list(out.glob("*.xlsx"))) == 5


def test_a_part_is_named_for_its_output_and_maker(tmp_path: Path) -> None:
    seen: list[str] = []
    with fsutil.atomic_path(tmp_path / "a.b.xlsx") as tmp:
        seen.append(tmp.name)
        tmp.write_bytes(b"x")
    m = fsutil._PART.fullmatch(seen[0])
    assert m is not None and m.groups() == ("a.b.xlsx", str(os.getpid()), HOST)
    assert fsutil._PART.fullmatch(".a.b.xlsx.abcdefgh.part") is None  # (mkstemp's own: no pid, never swept)
    assert re.fullmatch(fsutil._SCRATCH, f"{scratch_prefix()}abcdefgh") is not None


def test_a_sweep_never_fails_a_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path / "gone"))  # (no such folder)
    monkeypatch.setattr(tempfile, "tempdir", None)
    fsutil.sweep(tmp_path / "nowhere" / "r.xlsx")

    def refuse(*args: object) -> None:
        raise PermissionError(13, "refused")

    monkeypatch.setattr(os, "listdir", refuse)
    monkeypatch.setattr(os, "scandir", refuse)
    monkeypatch.setattr(fsutil, "_swept_tmp", set())
    monkeypatch.setattr(fsutil, "_dead_parts", {})
    fsutil.sweep(tmp_path / "r.xlsx")


def test_a_killed_workers_part_is_removed_and_no_other(tmp_path: Path) -> None:
    """workers._remove_partial (a worker the pool killed mid-write) removes that worker's .part only."""
    class Payload:
        output = tmp_path / "a.xlsx"

    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(proc.stdout)
    mine = tmp_path / f".a.xlsx.{owner_tag(dead)}-abcdefgh.part"
    others = [tmp_path / f".a.xlsx.{owner_tag()}-abcdefgh.part", tmp_path / ".a.xlsx.abcdefgh.part"]
    for p in (mine, *others):
        p.write_bytes(b"x")
    workers._remove_partial(Payload(), dead)
    assert not mine.exists() and all(p.exists() for p in others)


def test_gone_only_for_an_ended_process() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert not gone(child.pid)  # running
    finally:
        child.kill()
    assert not gone(child.pid)  # ended, not yet reaped: a zombie holds its pid (it may not be reused yet)
    child.wait()
    assert gone(child.pid)
    assert not gone(os.getpid()) and not gone(0) and not gone(-1)  # (kill(0, 0) would ask our process group)
    assert not gone(10**12)  # (out of range: not one of ours)
