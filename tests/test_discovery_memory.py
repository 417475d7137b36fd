"""Issue 15, ninth pass: discover holds ~12 bytes a file found, and no name of them stays interned.

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


def test_discovery_leaves_no_name_interned(tmp_path: Path) -> None:
    """A walk of 20,000 files: after it, the interpreter's table of interned strings is no larger than before (with
    a ``Path`` made for each file it grew by ~0.8 MB, kept for the run), and the files found cost < 16 bytes each."""
    for n in range(20_000):
        (tmp_path / f"B{n:05d}.xlsx").touch()
    code = textwrap.dedent(f"""
        import sys, tracemalloc
        from xltemplate import inputs
        tracemalloc.start()
        found = inputs.discover([{str(tmp_path)!r}])
        assert len(found.files) == 20_000
        held = tracemalloc.take_snapshot().statistics("filename")
        print(sum(s.size for s in held if "pathlib" in s.traceback[0].filename),
              sum(s.size for s in held if s.traceback[0].filename == inputs.__file__))
    """)
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    interned, found = map(int, got.stdout.split())
    assert interned < 100_000, interned
    assert found / 20_000 < 16, found / 20_000
