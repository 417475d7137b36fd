"""Review of the seventh pass's store (``collect.STORE``, rollup/units.py) and roster on disk (roster.ON_DISK …).

Faults found by the review, each a test that failed on the branches as reviewed; what held is in the report
(/work/notes/reports/15g-storerev.md).
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from xltemplate.cli import main
from xltemplate.rollup import spill as spill_mod
from xltemplate.rollup import units as units_mod

from .conftest import SAMPLES

collect_mod = sys.modules["xltemplate.rollup.collect"]

_ARGS = [str(SAMPLES / "returns"), "--roster", str(SAMPLES / "roster.csv"), "--template", "sh-project-self-eval"]


def _collect(tmp_path: Path) -> object:
    return CliRunner().invoke(main, ["collect", *_ARGS, "-o", str(tmp_path / "汇总.xlsx"), "--quiet", "--jobs", "1"])


def _told_full(result: object, tmp_path: Path) -> None:
    """One Chinese line naming the temporary folder and the full disk, no traceback, nothing written."""
    out = result.output  # type: ignore[attr-defined]
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # type: ignore[attr-defined]
    assert result.exit_code != 0, out  # type: ignore[attr-defined]
    assert "Traceback" not in out and "磁盘空间不足" in out and "临时" in out, out
    assert not (tmp_path / "汇总.xlsx").exists()



def test_a_full_disk_under_the_store_is_told_in_chinese(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's file cannot grow (a full TMPDIR: SQLite says SQLITE_FULL, simulated by max_page_count): the user
    got sqlite3.OperationalError's English traceback ("database or disk is full")."""
    real = units_mod.Units.__init__

    def small(self: units_mod.Units) -> None:
        real(self)
        assert self.db is not None
        self.db.execute("PRAGMA max_page_count = 3")

    monkeypatch.setattr(units_mod.Units, "__init__", small)
    monkeypatch.setattr(collect_mod, "STORE", True)
    _told_full(_collect(tmp_path), tmp_path)



@pytest.mark.parametrize("store", [False, True])
def test_a_full_disk_under_the_spill_is_told_in_chinese(store: bool, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The spill's file cannot grow (a full TMPDIR): the user got OSError's English traceback, twice (the close in
    collect's cleanup raised the same error again, hiding the first), and the store was then not closed. Older than
    the store (main has it too)."""
    class Failing:
        """The spill's file on a full disk: the bytes it buffered fail to be written when it is closed too."""

        def __init__(self, fh: object) -> None:
            self.fh = fh

        def __getattr__(self, name: str) -> object:
            return getattr(self.fh, name)

        def close(self) -> None:
            self.fh.close()  # type: ignore[attr-defined]
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def full(self: spill_mod.Spill, data: bytes) -> int:
        if not isinstance(self._fh, Failing):
            self._fh = Failing(self._fh)  # type: ignore[assignment]
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(spill_mod.Spill, "put_packed", full)
    monkeypatch.setattr(collect_mod, "STORE", store)
    opened: list[units_mod.Units] = []
    real = units_mod.Units.__init__

    def kept(self: units_mod.Units) -> None:
        real(self)
        opened.append(self)

    monkeypatch.setattr(units_mod.Units, "__init__", kept)
    _told_full(_collect(tmp_path), tmp_path)
    assert all(u.db is None for u in opened), "the store was left open"
