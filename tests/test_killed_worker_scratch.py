"""A worker killed outright leaves no temporary folder behind (xltemplate.signals.remove_scratch_of).

A busy worker stopped by the pool (a task over its time bound, or the run interrupted) gets SIGTERM and a moment
(workers.TERMINATE_GRACE_S) to leave through its finally blocks; on a loaded machine it may not make it and is killed,
and the private temporary folder it was writing in (fsutil.scratch_dir: an annotated copy's openpyxl files) stayed in
TMPDIR (CI, under load: test_trust_signals' annotate test found one). The pool now removes the folders of a worker it
killed, found by the pid in their names."""

from __future__ import annotations

import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from xltemplate import workers
from xltemplate.signals import scratch_prefix


def _stubborn(context: Any, payload: int) -> int:
    """A task that makes its scratch folder, writes in it, and will not end on SIGTERM (as a worker slow to leave)."""
    from xltemplate.fsutil import scratch_dir

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with scratch_dir() as scratch:
        (scratch / "sheet1.xml").write_bytes(b"x" * 1000)
        time.sleep(60)
    return payload


def _failed(payload: int, code: str, message: str) -> str:
    return code


def _leftovers(root: Path) -> list[Path]:
    return [p for p in root.iterdir() if p.name.startswith("xltemplate-") and p.name[len("xltemplate-"):].split("-")[0].isdigit()]


@pytest.mark.parametrize("removed", [True, False])
def test_a_killed_workers_scratch_folder_is_removed(removed: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # (gettempdir() reads TMPDIR again)
    monkeypatch.setattr(workers, "TERMINATE_GRACE_S", 0.2)
    if not removed:
        monkeypatch.setattr(workers, "remove_scratch_of", lambda pid: None)
    got = workers.run_many(_stubborn, _failed, [1], jobs=1, bounds=workers.Bounds(seconds=1.5))
    assert got == ["file-timeout"]
    left = _leftovers(tmp_path)
    if removed:
        assert left == []
    else:  # (the test can fail: without the removal the folder, named by the worker's pid, stays)
        assert len(left) == 1 and left[0].name.startswith("xltemplate-") and (left[0] / "sheet1.xml").exists()


def test_the_prefix_names_the_process() -> None:
    assert scratch_prefix(123).startswith("xltemplate-123-") and scratch_prefix().startswith("xltemplate-")
