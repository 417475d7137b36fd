"""Issue 15, fifth pass: the workers start small whatever N, and discover keeps no real path per file.

``batch.TRIM_BEFORE_FORK``: the memory this process freed is given back before the workers are forked
(a forked worker starts as large as its parent). ``inputs.WALK_LIGHT``: a folder is walked with one
``lstat`` a file and without a dict of every file's real path. With each switch off everything is as
before: the same files and skipped lines (a random differential over trees of folders, links, lock
files and overlapping inputs), and the same roll-up, CSVs and ``--json``.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from xltemplate import batch, inputs
from xltemplate.inputs import discover

from .test_spill import CASES, _run, mixed  # noqa: F401 - mixed is the cases' fixture


def _both(paths: list[str | os.PathLike[str]], monkeypatch: pytest.MonkeyPatch) -> tuple[inputs.Inputs, inputs.Inputs]:
    monkeypatch.setattr(inputs, "WALK_LIGHT", False)
    old = discover(paths)
    monkeypatch.setattr(inputs, "WALK_LIGHT", True)
    new = discover(paths)
    return old, new


def _same(old: inputs.Inputs, new: inputs.Inputs) -> None:
    assert list(new.files) == list(old.files)
    assert new.skipped == old.skipped


def _tree(root: Path, rng: random.Random) -> list[Path]:
    """A random inbox: nested folders, workbooks and other files, lock files, a folder named x.xlsx, links to
    files and folders inside and outside it, dangling links. Returns every entry made."""
    made: list[Path] = []
    folders = [root]
    for n in range(rng.randint(1, 5)):
        parent = rng.choice(folders)
        d = parent / rng.choice(["a", "b", "子目录", "z", "A b", f"d{n}"])
        d.mkdir(exist_ok=True)
        folders.append(d)
    names = ["x.xlsx", "y.XLSX", "~$x.xlsx", "m.xlsm", "old.xls", "note.txt", "数据.xlsx", "b.xlsx", "a.xlsx", "z.ods"]
    for _ in range(rng.randint(3, 14)):
        p = rng.choice(folders) / rng.choice(names)
        if not p.exists():
            p.write_bytes(b"PK not really")
            made.append(p)
    if rng.random() < 0.3:
        d = rng.choice(folders) / "folder.xlsx"
        d.mkdir(exist_ok=True)
        made.append(d)
    outside = root.parent / "outside.xlsx"
    outside.write_bytes(b"x")
    files = [p for p in made if p.is_file()] or [outside]
    for n in range(rng.randint(0, 6)):
        link = rng.choice(folders) / f"link{n}{rng.choice(['.xlsx', '.txt', ''])}"
        if link.exists() or link.is_symlink():
            continue
        kind = rng.random()
        target = (rng.choice(files) if kind < 0.6 else rng.choice(folders) if kind < 0.8
                  else outside if kind < 0.9 else root / "gone.xlsx")
        link.symlink_to(target)
        made.append(link)
    return folders + made


@pytest.mark.parametrize("seed", range(60))
def test_a_light_walk_lists_and_skips_what_the_full_walk_does(seed: int, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    root = tmp_path / "in"
    root.mkdir()
    entries = _tree(root, rng)
    # the inputs: the inbox, and sometimes again, a folder inside it, a file in it (before or after), a link
    given: list[str | os.PathLike[str]] = [root]
    for _ in range(rng.randint(0, 3)):
        given.insert(rng.randint(0, len(given)), rng.choice(entries + [root]))
    old, new = _both(given, monkeypatch)
    _same(old, new)
    assert len(new.files) + len(new.skipped) >= 1


def test_a_light_walk_of_overlapping_folders_and_links_reads_each_file_once(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "in"
    (root / "sub" / "deeper").mkdir(parents=True)
    for p in ["1.xlsx", "sub/2.xlsx", "sub/deeper/3.xlsx", "sub/~$2.xlsx", "sub/b.txt"]:
        (root / p).write_bytes(b"x")
    (root / "sub" / "folder.xlsx").mkdir()
    (root / "sub" / "to3.xlsx").symlink_to(root / "sub" / "deeper" / "3.xlsx")
    (root / "0link.xlsx").symlink_to(root / "sub" / "2.xlsx")
    (root / "tolock.xlsx").symlink_to(root / "sub" / "~$2.xlsx")
    link_root = tmp_path / "via"
    link_root.symlink_to(root)
    given: list[str | os.PathLike[str]] = [root / "sub" / "2.xlsx", root, root / "sub", link_root, root / "sub" / "deeper" / "3.xlsx"]
    old, new = _both(given, monkeypatch)
    _same(old, new)
    assert sorted(p.name for p in new.files) == ["1.xlsx", "2.xlsx", "3.xlsx", "folder.xlsx"]
    said = "\n".join(why for _, why in new.skipped)
    assert "同一个文件，只读一次" in said and "已按实际路径列出" in said


def test_a_light_walk_keeps_no_real_path_per_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(300):
        (tmp_path / f"{n:04d}.xlsx").write_bytes(b"x")
    kept: list[int] = []
    real = inputs._Discovery.run

    def run(self: inputs._Discovery) -> inputs.Inputs:
        got = real(self)
        kept.append(len(self.accounted))
        return got

    monkeypatch.setattr(inputs._Discovery, "run", run)
    old, new = _both([tmp_path], monkeypatch)
    _same(old, new)
    assert kept == [300, 0]


def test_freed_memory_goes_back_before_the_workers_are_forked(tmp_path: Path) -> None:
    """After freeing most of 150 MB of C-allocated objects (every 64th kept, so the heap cannot just shrink), the
    process is far smaller once trimmed, and so is a worker forked from it."""
    code = textwrap.dedent("""
        import os, sys
        from xltemplate import batch
        def rss():
            with open("/proc/self/status") as fh:
                return next(int(l.split()[1]) // 1024 for l in fh if l.startswith("VmRSS"))
        blobs = [bytes(1500) + n.to_bytes(4, "little") for n in range(100_000)]
        kept = blobs[::64]
        del blobs
        before = rss()
        assert batch.release_freed_memory() is True
        after = rss()
        print(before, after)
    """)
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after = map(int, got.stdout.split())
    assert before > 140 and after < before - 100, (before, after)


def test_the_trim_runs_before_each_pool_and_the_reports_do_not_change(tmp_path: Path, mixed: Path,  # noqa: F811
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = batch.release_freed_memory
    monkeypatch.setattr(batch, "release_freed_memory", lambda: calls.append(1) or real())
    monkeypatch.setattr(batch, "TRIM_BEFORE_FORK", False)
    args = CASES["both forms, roster"](mixed)
    off = _run(args, tmp_path / "off")
    assert not calls
    monkeypatch.setattr(batch, "TRIM_BEFORE_FORK", True)
    on = _run(args, tmp_path / "on")
    assert calls, "not trimmed before the workers were forked"
    assert on == off


@pytest.mark.parametrize("case", list(CASES))
def test_the_same_outputs_with_the_light_walk_on_or_off(case: str, mixed: Path, tmp_path: Path,  # noqa: F811
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    args = CASES[case](mixed)
    monkeypatch.setattr(inputs, "WALK_LIGHT", False)
    off = _run(args, tmp_path / "off")
    monkeypatch.setattr(inputs, "WALK_LIGHT", True)
    on = _run(args, tmp_path / "on")
    assert on[1] == off[1] and on[0].keys() == off[0].keys() and len(on[0]) >= 4
    for name in on[0]:
        assert on[0][name] == off[0][name], name


def test_compact_row_sizes_answer_as_xlsxwriters_dict() -> None:
    from xltemplate.rollup.lean import RowSizes

    rng = random.Random(7)
    plain: dict[int, list[object]] = {0: [20, False]}
    compact = RowSizes(plain)
    for _ in range(3000):
        row = rng.choice([rng.randint(0, 300), rng.randint(0, 3), 200_000, -1])
        value = rng.choice([[rng.randint(0, 600), False], [rng.randint(0, 600), True], [20.5, False], [70_000, False],
                            [0, 1]])
        plain[row] = list(value)
        compact[row] = list(value)
        probe = rng.randint(-2, 400)
        assert (probe in compact) == (probe in plain)
        assert compact.get(probe) == plain.get(probe)
        assert len(compact) == len(plain) and bool(compact) == bool(plain)
    assert sorted(compact) == sorted(plain) and dict(compact.items()) == plain
    assert all(compact[r] == plain[r] and type(compact[r][1]) is type(plain[r][1]) for r in plain)
    assert not RowSizes() and len(RowSizes()) == 0
    more = {5: [30, False], 900: [41, True], 7: [1.5, False]}
    plain.update(more)
    compact.update(more)
    assert dict(compact.items()) == plain and len(compact) == len(plain)


@pytest.mark.parametrize("case", list(CASES))
def test_the_same_roll_up_with_compact_row_sizes_or_xlsxwriters(case: str, mixed: Path, tmp_path: Path,  # noqa: F811
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from xltemplate.rollup import lean

    made: list[int] = []
    real_init = lean.RowSizes.__init__
    monkeypatch.setattr(lean.RowSizes, "__init__", lambda self, *a: made.append(1) or real_init(self, *a))
    args = CASES[case](mixed)
    monkeypatch.setattr(lean, "COMPACT_ROW_SIZES", False)
    off = _run(args, tmp_path / "off")
    assert not made
    monkeypatch.setattr(lean, "COMPACT_ROW_SIZES", True)
    on = _run(args, tmp_path / "on")
    assert made, "no sheet kept its row heights compact"
    assert on == off


@pytest.mark.parametrize("case", list(CASES))
def test_the_same_outputs_with_light_units_or_not(case: str, mixed: Path, tmp_path: Path,  # noqa: F811
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """``collect.LIGHT_UNITS``: no empty list on each return and row, each row's key shared with its briefs."""
    from xltemplate.rollup import collect as collect_mod

    args = CASES[case](mixed)
    monkeypatch.setattr(sys.modules["xltemplate.rollup.collect"], "LIGHT_UNITS", False)
    off = _run(args, tmp_path / "off")
    monkeypatch.setattr(sys.modules["xltemplate.rollup.collect"], "LIGHT_UNITS", True)
    on = _run(args, tmp_path / "on")
    assert collect_mod is not None and on == off


def test_light_units_keep_no_empty_list_and_one_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import xltemplate.rollup.collect  # noqa: F401
    from tests.conftest import SAMPLES

    mod = sys.modules["xltemplate.rollup.collect"]
    monkeypatch.setattr(mod, "STORE", False)  # (about the units held; stored, none is: collect.STORE)
    from xltemplate.roster import read_roster

    roster = read_roster(SAMPLES / "roster.csv", "sh-project-self-eval")
    with mod.collect([SAMPLES / "returns"], "sh-project-self-eval", roster=roster) as c:
        assert any(type(r.extra) is list and r.extra for r in c.returns), "no return has a finding from collecting"
        assert all(type(r.extra) is list or r.extra == () for r in c.returns)
        assert all(type(row.others) is list or row.others == () for row in c.rows)
        assert any(row.others == () for row in c.rows) and any(row.others for row in c.rows)
        shared = [row for row in c.rows if row.counted is not None]
        assert shared and all(row.counted.brief.key is row.key for row in shared)
        assert all(r.findings == [*r.report.findings, *r.extra] for r in c.returns)


@pytest.mark.parametrize("shuffled", [False, True])
def test_rows_come_in_natural_order_from_a_roster_in_order_or_not(shuffled: bool, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A roster already in natural order is not sorted again (``LIGHT_UNITS``); one that is not is sorted as before."""
    import xltemplate.rollup.collect  # noqa: F401
    from tests.conftest import SAMPLES
    from xltemplate.roster import read_roster

    mod = sys.modules["xltemplate.rollup.collect"]
    lines = (SAMPLES / "roster.csv").read_text(encoding="utf-8-sig").splitlines()
    body = sorted(lines[1:], key=lambda line: mod.natural_key(line.split(",")[0]))
    if shuffled:
        body = body[1::2] + body[::2]
    path = tmp_path / "roster.csv"
    path.write_text("\n".join([lines[0], *body]) + "\n", encoding="utf-8")
    roster = read_roster(path, "sh-project-self-eval")
    keys = {}
    for light in (False, True):
        monkeypatch.setattr(mod, "LIGHT_UNITS", light)
        with mod.collect([SAMPLES / "returns"], "sh-project-self-eval", roster=roster) as c:
            keys[light] = [(row.key, row.status, row.counted.path if row.counted else None) for row in c.rows]
    assert keys[True] == keys[False]
    assert [k for k, *_ in keys[True]] == sorted((k for k, *_ in keys[True]), key=mod.natural_key)
    assert mod._in_natural_order([k for k, *_ in keys[True]]) and not mod._in_natural_order(["SH10", "SH2"])
    assert mod._in_natural_order([]) and mod._in_natural_order(["SH2", "SH2", "SH10"])
