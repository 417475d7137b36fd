"""Review of the twelfth pass's speed work (secondrun, collectread), adversarially: what their switches must not change.

- 问题清单's and 文件清单's rows written ahead while the roll-up's second process writes its own (workbook.FILES_AHEAD)
  carry formats as tokens (`` s="\\x01N"``) that are numbered later by a pattern over the rows' bytes; the large parts
  deflated by a forked process (rollup.deflate.AHEAD). A file whose NAME is what a token looks like (a control
  character, a quote, `` s="``, digits: all legal in a Linux file name) is shown in 文件清单 and named in 问题清单: the
  roll-up must still be the bytes of one process with every one of those switches off.
- The pickled reports the workers send and the spill keeps (results.PICKLE_FLAT) are this run's own: pickled one way
  and loaded by the other way's code (a run of another setting) they are the same reports.
"""

from __future__ import annotations

import importlib
import pickle
import shutil
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest

from xltemplate.roster import read_roster
from xltemplate.rollup import collect, write_rollup
from xltemplate.catalog import resolve_template

from .test_rollup_onepass import SAMPLES
from .test_rollup_split import forced_split

lean = importlib.import_module("xltemplate.rollup.lean")
workbook = importlib.import_module("xltemplate.rollup.workbook")
split = importlib.import_module("xltemplate.rollup.split")
deflate = importlib.import_module("xltemplate.rollup.deflate")
results_mod = importlib.import_module("xltemplate.results")

#: File names a token's pattern (split._TOKEN: `` s="\x01N"``) or its neighbours could be mistaken for.
HOSTILE_NAMES = ['x s="\x010" y.xlsx', 's="\x0112".xlsx', '\x01\x02\x03.xlsx', 'q"\'<&>.xlsx', ' s=".xlsx']


def _inbox(tmp_path: Path) -> Path:
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES / "returns", inbox)
    first = sorted(p for p in inbox.iterdir() if not p.name.startswith("~$"))
    for n, name in enumerate(HOSTILE_NAMES):  # (copies of returns: the same keys, so duplicates with findings of their own)
        shutil.copy2(first[n % len(first)], inbox / name)
    (inbox / 'bad s="\x017".xlsx').write_bytes(b"PK\x03\x04 not a workbook")  # (unreadable: named in 问题清单)
    return inbox


def test_hostile_file_names_keep_the_bytes_of_files_written_ahead_and_parts_deflated_ahead(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = resolve_template("sh-project-self-eval")
    c = collect([_inbox(tmp_path)], spec, roster=read_roster(SAMPLES / "roster.csv", spec))
    names = {Path(p).name for p in (getattr(r, "path", "") for r in c.returns)}
    assert set(HOSTILE_NAMES) <= names  # (every hostile name is a return of the collection)
    started = forced_split(monkeypatch)
    monkeypatch.setattr(deflate, "LARGE", 1)  # (every part may go to the forked deflate)
    got = {}
    for ahead in (True, False):
        monkeypatch.setattr(workbook, "FILES_AHEAD", ahead)
        monkeypatch.setattr(deflate, "AHEAD", ahead)
        got[ahead] = write_rollup(c, tmp_path / f"ahead-{ahead}.xlsx").read_bytes()
    monkeypatch.setattr(split, "SPLIT", False)
    got["one process"] = write_rollup(c, tmp_path / "one.xlsx").read_bytes()
    assert started == [1, 1]  # (the split was taken both ways: the files were written ahead in the first)
    assert got[True] == got[False] == got["one process"]
    with zipfile.ZipFile(tmp_path / "ahead-True.xlsx") as z:
        xml = b"".join(z.read(n) for n in z.namelist() if n.startswith("xl/"))
    assert b"\x01" not in xml  # (no token left, and no raw control character in a cell's text)
    assert b'<t>x s="\\x010" y.xlsx</t>' in xml  # (the hostile names are shown, as pathtext.shown escapes them)


@pytest.mark.parametrize("made_flat", [True, False])
def test_reports_pickled_one_way_load_the_other_way(made_flat: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = resolve_template("sh-project-self-eval")
    c = collect([SAMPLES / "returns"], spec, roster=read_roster(SAMPLES / "roster.csv", spec))
    reports = [r.report for r in c.returns if r.report.results is not None]
    assert reports
    monkeypatch.setattr(results_mod, "PICKLE_FLAT", made_flat)
    data = [pickle.dumps(r, protocol=pickle.HIGHEST_PROTOCOL) for r in reports]
    monkeypatch.setattr(results_mod, "PICKLE_FLAT", not made_flat)
    for r, d in zip(reports, data):
        back = pickle.loads(d)
        assert back == r
        assert pickle.loads(pickle.dumps(back, protocol=pickle.HIGHEST_PROTOCOL)) == r
        assert [type(g) for g in back.results.groups] == [type(g) for g in r.results.groups]
        assert [type(i) for i in back.results.items] == [type(i) for i in r.results.items]


def test_a_stuck_deflating_process_does_not_hold_the_roll_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """rollup.deflate.AHEAD's forked process claims parts and the zip waits for each it claimed: one that is stuck
    (a stalled disk, SIGSTOP: here it sleeps) must not hold the roll-up for ever. The zip deflates the part itself
    after deflate.WAIT_S, and the rest without waiting again; the same bytes, and the process ended after."""
    import multiprocessing as mp
    import time

    spec = resolve_template("sh-project-self-eval")
    c = collect([SAMPLES / "returns"], spec, roster=read_roster(SAMPLES / "roster.csv", spec))
    monkeypatch.setattr(deflate, "AHEAD", False)
    want = write_rollup(c, tmp_path / "zip.xlsx").read_bytes()
    monkeypatch.setattr(deflate, "AHEAD", True)
    monkeypatch.setattr(deflate, "LARGE", 1)
    monkeypatch.setattr(deflate, "WAIT_S", 1.0, raising=False)
    real = deflate._deflate

    def stuck(source: str, target: Path, level: int) -> object:  # (in the forked process: claimed, then nothing)
        time.sleep(90)
        return real(source, target, level)

    monkeypatch.setattr(deflate, "_deflate", stuck)
    began = time.monotonic()
    got = write_rollup(c, tmp_path / "stuck.xlsx").read_bytes()
    took = time.monotonic() - began
    assert got == want
    assert took < 60, took  # (without a bound on the wait: 90 s a claimed part, the first of them at least)
    assert mp.active_children() == []  # (the stuck process was ended)
    assert not list(tmp_path.glob("**/deflate-*"))


def test_pickle_flat_names_every_field_of_results() -> None:
    """results.PICKLE_FLAT's Results.__reduce_ex__ and results._results name Results' fields one by one: a field added
    to Results and not to them would be dropped from every report the workers send (silently: its default comes back).
    A tripwire: the fields they name are all the dataclass has, in its order."""
    import dataclasses

    from xltemplate.results import Results

    r = Results(total=Decimal("1.5"), total_weight=Decimal("2"), grade="优", execution_rate=Decimal("0.9"),
                fields={"a": 1})
    args = r.__reduce_ex__(pickle.HIGHEST_PROTOCOL)[1]
    assert [f.name for f in dataclasses.fields(Results)] == ["total", "total_weight", "grade", "execution_rate",
                                                             "fields", "groups", "items"]
    assert len(args) == len(dataclasses.fields(Results))
    assert pickle.loads(pickle.dumps(r, protocol=pickle.HIGHEST_PROTOCOL)) == r
