"""Issue 10, section 6: SIGTERM or SIGINT at any moment ends a run with one line and a non-zero status,
workers end (a worker whose parent died exits by itself), and nothing temporary is left in the output
folder or in TMPDIR. Real signals, sent to real ``xltemplate`` processes at several points of a run."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from .conftest import ROOT, SAMPLES

RETURNS = SAMPLES / "returns"
COPIES = 20  # 20 × 20 returns: long enough to catch each phase, short enough for the suite


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("many") / "in"
    root.mkdir()
    for n in range(COPIES):
        for f in RETURNS.glob("*.xlsx"):
            if not f.name.startswith("~$"):
                shutil.copy(f, root / f"{n:02d}-{f.name}")
    return root


def children(pid: int) -> list[int]:
    """The processes ``pid`` started (Linux /proc), workers included."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended


def catches(pid: int, sig: int) -> bool:
    """Whether the process has a handler for ``sig`` (its SigCgt mask in /proc): a fixed wait is not enough on a busy machine."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = next((int(line.split()[1], 16) for line in status.splitlines() if line.startswith("SigCgt:")), 0)
    return bool(mask >> (int(sig) - 1) & 1)


def wait_until(cond: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.002)
    return False


def start(args: list[str], tmpdir: Path, session: bool = False) -> subprocess.Popen:
    env = {**os.environ, "TMPDIR": str(tmpdir), "PYTHONPATH": str(ROOT)}
    env.pop("CI", None)
    return subprocess.Popen([sys.executable, "-m", "xltemplate.cli", *args], env=env, cwd=ROOT, start_new_session=session,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def leftovers(*folders: Path) -> list[str]:
    return [str(p) for folder in folders if folder.exists() for p in folder.rglob("*")
            if ".part" in p.name or p.name.startswith((".", "xltemplate-", "tmp"))]


POINTS = {
    # what the run is doing when the signal comes, and how the test knows it is there
    # the command has set its handlers (a signal before that ends Python's start-up, before any file is touched)
    "early": lambda proc, out: wait_until(lambda: catches(proc.pid, signal.SIGTERM), 20),
    "reading": lambda proc, out: wait_until(lambda: len(children(proc.pid)) >= 2, 20) and not wait_until(lambda: False, 0.3),
    "writing the roll-up": lambda proc, out: wait_until(lambda: any(out.glob(".r.xlsx.*.part")), 30),
}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("point", list(POINTS))
def test_collect_ends_cleanly_at_any_point(inbox: Path, tmp_path: Path, point: str, sig: int) -> None:
    tmpdir, out = tmp_path / "tmp", tmp_path / "out"
    tmpdir.mkdir()
    out.mkdir()
    proc = start(["collect", str(inbox), "-o", str(out / "r.xlsx"), "--quiet", "--jobs", "2"], tmpdir)
    try:
        assert POINTS[point](proc, out), f"the run never reached {point}"
        workers = children(proc.pid)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + sig, (proc.returncode, stderr)
    assert len(stderr.splitlines()) == 1 and stderr.startswith("已中断（") and "Traceback" not in stderr
    assert wait_until(lambda: not any(alive(w) for w in workers), 5), "a worker outlived the run"
    assert leftovers(out) == [] and not (out / "r.xlsx").exists()
    assert list(tmpdir.iterdir()) == []


def test_ctrl_c_in_a_terminal_reaches_every_process(inbox: Path, tmp_path: Path) -> None:
    """A terminal sends Ctrl-C to the whole process group: the workers ignore it, the run ends once."""
    tmpdir, out = tmp_path / "tmp", tmp_path / "out"
    tmpdir.mkdir()
    proc = start(["collect", str(inbox), "-o", str(out / "r.xlsx"), "--quiet", "--jobs", "2"], tmpdir, session=True)
    try:
        assert POINTS["reading"](proc, out)
        workers = children(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)  # the group this test started: our process and its workers
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and stderr == "已中断（按下了 Ctrl-C）：未完成的文件没有写出，临时文件已删除；请重新运行。\n"
    assert wait_until(lambda: not any(alive(w) for w in workers), 5)
    assert not out.exists() or leftovers(out) == []
    assert list(tmpdir.iterdir()) == []


def test_annotate_interrupted_between_copies(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    bad = RETURNS / "无线电监测站.xlsx"  # SH007, invalid: every copy gets an annotated copy
    for n in range(60):
        shutil.copy(bad, inbox / f"{n:02d}.xlsx")
    tmpdir, back = tmp_path / "tmp", tmp_path / "back"
    tmpdir.mkdir()
    proc = start(["validate", str(inbox), "--annotate", str(back), "--jobs", "2"], tmpdir)
    try:
        assert wait_until(lambda: back.exists() and any(p.name.endswith("_批注.xlsx") for p in back.iterdir()), 60)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143 and stderr.startswith("已中断（收到终止信号 SIGTERM）") and len(stderr.splitlines()) == 1
    made = list(back.iterdir())
    assert 0 < len(made) < 60 and leftovers(back) == [] and list(tmpdir.iterdir()) == []
    import openpyxl

    for p in made:  # every copy written is whole
        assert openpyxl.load_workbook(p).sheetnames[0] == "问题清单"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_generate_from_a_roster_interrupted_leaves_no_staging_folder(tmp_path: Path, sig: int) -> None:
    roster = tmp_path / "r.csv"
    roster.write_text("编号,预算单位\n" + "".join(f"K{n:04d},单位{n}\n" for n in range(600)), encoding="utf-8")
    tmpdir, out = tmp_path / "tmp", tmp_path / "forms"
    tmpdir.mkdir()
    proc = start(["generate", "sh-project-self-eval", "--roster", str(roster), "-o", str(out), "--jobs", "2"], tmpdir)
    try:
        assert wait_until(lambda: out.exists() and any(p.name.startswith(".generate.") for p in out.iterdir())
                          and len(children(proc.pid)) >= 2, 30)
        time.sleep(0.3)  # the workers are writing into the staging folder
        workers = children(proc.pid)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + sig, stderr
    assert len(stderr.splitlines()) == 1 and stderr.startswith("已中断（") and "Traceback" not in stderr
    assert wait_until(lambda: not any(alive(w) for w in workers), 5)
    assert not out.exists() or list(out.iterdir()) == []  # the folder it made is gone or empty
    assert list(tmpdir.iterdir()) == []


# -- a worker whose parent died ---------------------------------------------------------------------------

_ORPHAN = """
import os, sys, time
from pathlib import Path
from xltemplate import batch, signals, workers as runner
from xltemplate.identify import RunContext

if sys.argv[1] == "fallback":
    signals.die_with_parent = lambda: None  # as on a system without PR_SET_PDEATHSIG
else:
    import xltemplate.validate as v
    v.validate_path = lambda *a, **k: time.sleep(600)  # a worker busy on a file that never ends
pool = runner._Pool(1, RunContext.builtin(), runner.Bounds())
slot = pool.slots[0]
if sys.argv[1] == "busy":
    slot.conn.send((0, batch._validate_task, batch._validate_failed, Path("x.xlsx")))
sibling = os.fork()
if sibling == 0:  # a sibling holding the worker's pipe open, as later workers do
    os.closerange(0, 3)
    time.sleep(600)
    os._exit(0)
time.sleep(0.5)
print(slot.proc.pid, sibling, flush=True)
os._exit(0)  # the parent dies without closing anything
"""


@pytest.mark.parametrize("how", ["fallback", "busy"])
def test_a_worker_whose_parent_died_exits_by_itself(tmp_path: Path, how: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)}
    pids = tmp_path / "pids.txt"
    with open(pids, "w") as out:  # a file, not a pipe: the worker and the sibling inherit it
        subprocess.run([sys.executable, "-c", textwrap.dedent(_ORPHAN), how], env=env, cwd=ROOT, stdout=out, timeout=60)
    worker, sibling = (int(x) for x in pids.read_text().split())
    try:
        # fallback: the worker waits for work and notices its parent is gone (within PARENT_POLL_S);
        # busy: it is in the middle of a file, and Linux kills it with its parent (PR_SET_PDEATHSIG)
        assert wait_until(lambda: not alive(worker), 5), f"worker {worker} outlived its parent ({how})"
    finally:
        for pid in (worker, sibling):  # the processes this test started, by their id
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def _report_mask(conn: Any, parent: int, after_start: bool) -> None:
    if after_start:
        from xltemplate.signals import worker_started
        worker_started(parent)
    conn.send(sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])))


@pytest.mark.parametrize("after_start", [False, True], ids=["as-forked", "after-worker_started"])
def test_a_worker_is_born_with_the_run_signals_blocked(after_start: bool) -> None:
    """A signal that reaches a worker before it has set its own handlers waits (no parent handler, no traceback)."""
    import multiprocessing as mp

    from xltemplate.signals import SIGNALS, held_for_a_child

    ctx = mp.get_context("fork")
    parent_conn, child_conn = ctx.Pipe()
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    proc = ctx.Process(target=_report_mask, args=(child_conn, os.getpid(), after_start))
    with held_for_a_child():
        proc.start()
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before  # the parent's mask is back
    mask = set(parent_conn.recv())
    proc.join(10)
    wanted = {int(s) for s in SIGNALS}
    assert (mask & wanted) == (set() if after_start else wanted)


_SEEN: Path | None = None
_REAL_ONE: Callable[[tuple], Any] | None = None


def _reporting_one(task: tuple) -> Any:
    """distribute._one, which also records in _SEEN how this worker would take SIGTERM and SIGHUP."""
    assert _SEEN is not None and _REAL_ONE is not None
    (_SEEN / str(os.getpid())).write_text(" ".join(str(signal.getsignal(s) == signal.SIG_DFL)
                                                   for s in (signal.SIGTERM, signal.SIGHUP)))
    return _REAL_ONE(task)


def test_generate_workers_cannot_miss_the_pools_sigterm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``Pool.terminate`` sends SIGTERM and waits for each worker without end. With a Python handler, a signal that
    came while an idle worker was about to block on the pool's queue lock was never acted on and ``generate --jobs 2``
    hung for ever (about one run in a hundred under load; py-spy: worker in ``SemLock.__enter__``, parent in ``join``).
    Every worker of the pool must leave SIGTERM and SIGHUP to their default action, which cannot be missed."""
    from click.testing import CliRunner

    from xltemplate import distribute
    from xltemplate.cli import main

    seen = tmp_path / "seen"
    seen.mkdir()
    monkeypatch.setattr(sys.modules[__name__], "_SEEN", seen)
    monkeypatch.setattr(sys.modules[__name__], "_REAL_ONE", distribute._one)
    monkeypatch.setattr(distribute, "_one", _reporting_one)  # pickled by name; the forked workers have the module
    roster = tmp_path / "r.csv"
    roster.write_text("编号,预算单位\n" + "".join(f"K{n:04d},单位{n}\n" for n in range(40)), encoding="utf-8")
    result = CliRunner().invoke(main, ["generate", "sh-project-self-eval", "--roster", str(roster),
                                       "-o", str(tmp_path / "forms"), "--jobs", "2"])
    assert result.exit_code == 0, result.output
    reports = {p.name: p.read_text() for p in seen.iterdir()}
    assert reports and str(os.getpid()) not in reports  # the workbooks were written by workers
    assert set(reports.values()) == {"True True"}, reports


def test_other_workers_still_exit_through_python() -> None:
    """workers.py's pool kills a worker that does not end soon after SIGTERM, so its workers may (and must, to
    remove an annotated copy's .part) exit through Python; the default of worker_started is unchanged."""
    import multiprocessing as mp

    from xltemplate import signals as sigs

    ctx = mp.get_context("fork")
    parent_conn, child_conn = ctx.Pipe()

    def report(conn: Any, parent: int, python: bool) -> None:
        sigs.worker_started(parent, exit_through_python=python)
        conn.send([signal.getsignal(s) is sigs._exit_on_signal for s in (signal.SIGTERM, signal.SIGHUP)])

    got = []
    for python in (True, False):
        proc = ctx.Process(target=report, args=(child_conn, os.getpid(), python))
        proc.start()
        got.append(parent_conn.recv())
        proc.join(10)
    assert got == [[True, True], [False, False]]
