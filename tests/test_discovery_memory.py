"""Issue 15, ninth pass: discover holds ~12 bytes a file found, and no name of them stays interned.

``inputs.PACKED_NAMES``: the light walk takes a folder's names in packed sorted runs merged as it goes, not as
os.walk's list of every name and a sorted copy (the peak of discovery); with it off, os.walk's lists, and the same
files and skipped lines (the random trees of tests/test_flat2.py, runs of three names so that they merge).

``inputs.FRONT_CODED``: the packed paths are each kept as what they add to the one before (their shared start
counted); with it off each is kept whole, and every access answers the same. The light walk makes no ``Path`` a
file (a ``Path`` interns its parts, and the interpreter's table of interned strings never shrinks): what it lists
and skips is compared with the full walk's in tests/test_flat2.py; here with inputs written relative to the working
folder (``.``, ``./sub``), where a ``Path`` writes a path otherwise than ``os.path.join``.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from xltemplate import inputs
from xltemplate.inputs import PathList, discover

from .test_flat2 import _tree


def _random_paths(rng: random.Random, n: int) -> list[str]:
    folders = ["/in", "/in/子目录", "in", ".", "/" + "d" * 300, "/" + "d" * 300 + "/e", "a b/c", "//x"]
    if sys.platform == "linux":
        folders.append(os.fsdecode(b"/bad\xff/\xfe"))
    names = ["a.xlsx", "b.xlsx", "单位.xlsx", "x" * 200 + ".xlsx", "B00001.xlsx", "B00010.xlsx", "~$a.xlsx"]
    out = []
    for _ in range(n):
        folder, name = rng.choice(folders), rng.choice(names)
        out.append(name if folder == "." and rng.random() < 0.5 else os.path.join(folder, name))
        if rng.random() < 0.05:
            out.append(out[-1])  # the same path twice in a row (all of it shared)
        if rng.random() < 0.02:
            out.append(out[-1][:-1])  # a path that is the start of the one before
    return out


@pytest.mark.parametrize("seed", range(8))
def test_front_coded_paths_answer_as_whole_ones(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    paths = _random_paths(rng, rng.choice([0, 1, 15, 16, 17, 33, 400]))
    got = {}
    for on in (False, True):
        monkeypatch.setattr(inputs, "FRONT_CODED", on)
        got[on] = PathList(paths)
    want = [Path(p) for p in paths]
    for on, listed in got.items():
        assert len(listed) == len(want)
        assert list(listed) == want and listed == want
        assert [listed[n] for n in range(len(want))] == want
        assert [listed[n] for n in range(-len(want), 0)] == want
        assert listed[3:40:3] == want[3:40:3] and listed[::-1] == want[::-1]
        assert [os.fsencode(p) for p in listed] == [os.fsencode(p) for p in want]  # every byte, odd ones too
        with pytest.raises(IndexError):
            listed[len(want)]
    assert got[True] == got[False]


def test_front_coded_paths_cost_a_name_and_a_little(monkeypatch: pytest.MonkeyPatch) -> None:
    paths = [f"/tmp/returns/inbox/B{n:05d}.xlsx" for n in range(10_000)]
    size = {}
    for on in (False, True):
        monkeypatch.setattr(inputs, "FRONT_CODED", on)
        listed = PathList(paths)
        size[on] = len(listed._blob) + listed._ends.itemsize * len(listed._ends)
        assert list(map(str, listed)) == paths
    assert size[False] / len(paths) > 35
    assert size[True] / len(paths) < 12, size[True] / len(paths)


def test_a_walk_of_relative_inputs_lists_what_the_full_walk_does(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    for p in ["a.xlsx", "sub/b.xlsx", "sub/deeper/c.xlsm", "sub/~$b.xlsx", "sub/n.txt", "z.ods"]:
        (tmp_path / p).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / p).write_bytes(b"x")
    (tmp_path / "sub" / "to_a.xlsx").symlink_to(tmp_path / "a.xlsx")
    monkeypatch.chdir(tmp_path)
    for given in (["."], ["./sub"], ["sub/"], ["sub/deeper", "."], [".", "./sub/b.xlsx"]):
        got = {}
        for light in (False, True):
            monkeypatch.setattr(inputs, "WALK_LIGHT", light)
            got[light] = discover(list(given))
        assert [str(p) for p in got[True].files] == [str(p) for p in got[False].files], given
        assert got[True].skipped == got[False].skipped, given
    assert [str(p) for p in discover(["."]).files] == ["a.xlsx", "z.ods", "sub/b.xlsx", "sub/deeper/c.xlsm"]


def _walked_20000(folder: Path, then: str) -> str:
    """What a fresh interpreter prints that discovers 20,000 files made in ``folder`` under tracemalloc, then runs
    ``then`` (its names: ``tracemalloc``, ``inputs``, ``found``)."""
    for n in range(20_000):
        (folder / f"B{n:05d}.xlsx").touch()
    code = textwrap.dedent(f"""
        import tracemalloc
        from xltemplate import inputs
        tracemalloc.start()
        found = inputs.discover([{str(folder)!r}])
        assert len(found.files) == 20_000
    """) + textwrap.dedent(then)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def test_discovery_leaves_no_name_interned(tmp_path: Path) -> None:
    """A walk of 20,000 files: after it, the interpreter's table of interned strings is no larger than before (with
    a ``Path`` made for each file it grew by ~0.8 MB, kept for the run), and the files found cost < 16 bytes each."""
    got = _walked_20000(tmp_path, """
        held = tracemalloc.take_snapshot().statistics("filename")
        print(sum(s.size for s in held if "pathlib" in s.traceback[0].filename),
              sum(s.size for s in held if s.traceback[0].filename == inputs.__file__))
    """)
    interned, found = map(int, got.split())
    assert interned < 100_000, interned
    assert found / 20_000 < 16, found / 20_000


@pytest.mark.parametrize("seed", range(40))
def test_names_in_packed_runs_list_and_skip_what_os_walk_does(seed: int, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(1000 + seed)
    root = tmp_path / "in"
    root.mkdir()
    entries = _tree(root, rng)
    for n in range(rng.randint(0, 12)):  # more names in one folder than a run holds
        (rng.choice([root] + [e for e in entries if e.is_dir() and not e.is_symlink()]) / f"{rng.choice('bBa_~')}{n}.xlsx").touch()
    given: list[str | os.PathLike[str]] = [root]
    for _ in range(rng.randint(0, 2)):
        given.insert(rng.randint(0, len(given)), rng.choice(entries + [root]))
    monkeypatch.setattr(inputs, "_NAMES_RUN", 3)
    got = {}
    for light, packed in ((False, False), (True, False), (True, True)):
        monkeypatch.setattr(inputs, "WALK_LIGHT", light)
        monkeypatch.setattr(inputs, "PACKED_NAMES", packed)
        got[light, packed] = discover(list(given))
    for key in ((True, False), (True, True)):
        assert list(got[key].files) == list(got[False, False].files), key
        assert got[key].skipped == got[False, False].skipped, key


def test_packed_runs_walk_folders_as_os_walk_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = [os.fsdecode(b"odd\xff.xlsx"), "b.xlsx", "B.xlsx", "单位.xlsx", "a", "~$x.xlsx", ".h.xlsx"]
    for sub in ["", "s2", "s1", "s1/t"]:
        (tmp_path / sub).mkdir(exist_ok=True)
        for name in names:
            (tmp_path / sub / name).touch()
    (tmp_path / "s0").symlink_to(tmp_path / "s1")
    (tmp_path / "gone").mkdir()
    monkeypatch.setattr(inputs, "_NAMES_RUN", 2)
    got = [(root, dirs, list(files)) for root, dirs, files in inputs._sorted_walk(str(tmp_path), print)]
    want = [(root, dirs, sorted(files)) for root, dirs, files in os.walk(tmp_path, onerror=print)]
    assert got == want and len(got) == 5
    errors: list[OSError] = []
    assert list(inputs._sorted_walk(str(tmp_path / "none"), errors.append)) == [] and len(errors) == 1


def test_discovery_peak_is_a_few_bytes_a_file(tmp_path: Path) -> None:
    """The most discover holds at once while it walks 20,000 files in one folder, per file (~170 bytes with
    os.walk's list of names, its sorted copy and a Path interned for each)."""
    peak = int(_walked_20000(tmp_path, """
        print(tracemalloc.get_traced_memory()[1])
    """))
    assert peak / 20_000 < 60, peak / 20_000
