"""Issue 15, seventh pass: collect keeps its returns and rows in a private SQLite file (``collect.STORE``).

The collection's ``returns`` and ``rows`` are then views that make each Return or Row when asked for; matching
reads the returns in key order from the file. With the switch off everything is held in lists, as before. Both
ways give the same roll-up bytes, CSVs and ``--json``, the same rows, fates, notes and findings (random rosters and
collections), and the same roll-up when a second process writes 指标得分; nothing is left in TMPDIR.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
from pathlib import Path

import pytest

from xltemplate.rollup import spill as spill_mod
from xltemplate.rollup import units as units_mod

from .conftest import SAMPLES
from .random_collections import random_inputs
from .test_spill import CASES, _run, mixed  # noqa: F401 - mixed is the cases' fixture

collect_mod = sys.modules["xltemplate.rollup.collect"]


def _count_stores(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    made: list[int] = []
    real = units_mod.Units.__init__

    def counted(self: units_mod.Units) -> None:
        made.append(1)
        real(self)

    monkeypatch.setattr(units_mod.Units, "__init__", counted)
    return made


@pytest.mark.parametrize("case", list(CASES))
def test_the_same_outputs_kept_on_disk_or_in_memory(case: str, mixed: Path, tmp_path: Path,  # noqa: F811
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    args = CASES[case](mixed)
    made = _count_stores(monkeypatch)
    monkeypatch.setattr(collect_mod, "STORE", False)
    off = _run(args, tmp_path / "off")
    assert not made
    monkeypatch.setattr(collect_mod, "STORE", True)
    on = _run(args, tmp_path / "on")
    assert made, "the store was not used"
    assert on == off and len(on[0]) >= 4


def test_a_roster_out_of_natural_order_gives_the_same_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rows numbered again in natural order in the file (``_natural_bytes``), as ``sorted`` orders the list."""
    lines = (SAMPLES / "roster.csv").read_text(encoding="utf-8-sig").splitlines()
    head, body = lines[0], lines[1:]
    random.Random(7).shuffle(body)
    shuffled = tmp_path / "roster.csv"
    shuffled.write_text("\n".join([head, *body]) + "\n", encoding="utf-8")
    args = [str(SAMPLES / "returns"), "--roster", str(shuffled), "--template", "sh-project-self-eval"]
    monkeypatch.setattr(collect_mod, "STORE", False)
    off = _run(args, tmp_path / "off")
    monkeypatch.setattr(collect_mod, "STORE", True)
    on = _run(args, tmp_path / "on")
    assert on == off


def _random(seed: int, store: bool, roster: bool, monkeypatch: pytest.MonkeyPatch) -> tuple:
    """A random collection matched to a random packed roster (or none), held or kept in the store: every row and
    return as the sheets read them."""
    from xltemplate.catalog import as_spec

    rng = random.Random(seed)
    keys, the_roster, reports, mtimes = random_inputs(rng, seed, ['SH', 'B', 'b', 'A-', 'é', '𝔘', 'SH0'],
                                                      ["a", "b", "c", "\udcff", "𝔘", "é"])  # (a path not UTF-8, one beyond the BMP)
    spill = None
    if store:
        spill = spill_mod.Spill()
        spill.units = units_mod.Units()
        returns = collect_mod.StoredReturns(spill.units, spill)
        for n, (r, m) in enumerate(zip(reports, mtimes)):
            returns.add(n, spill_mod.Brief(r), m, spill.put(r))
        returns.flush()
    else:
        returns = [collect_mod.Return(r, m) for r, m in zip(reports, mtimes)]
    withdrawn = {(r.key, r.sha256): "撤回" for r in reports if r.key and rng.random() < 0.1}
    c = collect_mod.assemble(as_spec("sh-project-self-eval"), the_roster if roster else None, returns, [], verified=bool(seed % 3),
                             withdrawn=withdrawn)
    c.spill = spill
    with c:
        out = ([(row.key, row.roster, row.counted and row.counted.path, [o.path for o in row.others], row.rule,
                 row.candidates, row.status, row.missing_reason()) for row in c.rows],
               [(r.path, r.fate, r.note, r.replaced_by, r.extra, r.brief.key, r.mtime) for r in c.returns],
               [r.path for r in sorted(c.returns, key=lambda r: r.path)],
               [r.path for r in (c.returns.by_path() if store else sorted(c.returns, key=lambda r: r.path))],  # type: ignore[attr-defined]
               [(k, (row := (c.rows.by_key(k) if store else {r.key: r for r in c.rows}.get(k)))  # type: ignore[attr-defined]
                 and (row.key, row.status)) for k in [*keys, "X1", "nobody"]],
               len(c.rows), len(c.returns), [r.path for r in c.returns[-3:]], c.rows[-1].key if len(c.rows) else None)
    return out, c.counts()


@pytest.mark.parametrize("seed", range(60))
@pytest.mark.parametrize("roster", [True, False])
def test_matching_in_the_store_as_in_memory(seed: int, roster: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """``collect.STORE``: the same rows (keys, roster rows, counted, others, rule, order), fates, notes, findings,
    lookups by key and path order over random rosters (in natural order or not, or none) and returns (repeated keys,
    copies, keys not on the roster, no key, unproven signatures, withdrawn files, paths not UTF-8)."""
    held = _random(seed, False, roster, monkeypatch)
    stored = _random(seed, True, roster, monkeypatch)
    assert stored == held


def test_the_random_collections_reach_every_case(monkeypatch: pytest.MonkeyPatch) -> None:
    """(That the differential above sees every fate, rows out of natural order and paths not UTF-8.)"""
    got = [_random(seed, True, seed % 4 < 2, monkeypatch)[0] for seed in range(60)]
    fates = {fate for g in got for _p, fate, *_x in g[1]}
    assert {collect_mod.COUNTED, collect_mod.SUPERSEDED, collect_mod.DUPLICATE, collect_mod.UNMATCHED,
            collect_mod.WITHDRAWN} <= fates, fates
    assert any("\udcff" in p for g in got for p in g[3])
    orders = [[k for k, *_x in g[0]] for g in got]
    assert all(o == sorted(o, key=collect_mod.natural_key) for o in orders)


def test_the_natural_order_as_bytes_is_the_tuples_order() -> None:
    rng = random.Random(3)
    alphabet = ["a", "B", "0", "1", "9", "00", "07", "7", "-", " ", "é", "𝔘", "\x00", "\udcff", "²"]
    keys = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 7))) for _ in range(3000)]
    a = [k for k in sorted(keys, key=collect_mod.natural_key)]
    b = [k for k in sorted(keys, key=collect_mod._natural_bytes)]
    assert [collect_mod.natural_key(k) for k in a] == [collect_mod.natural_key(k) for k in b]
    for x, y in zip(keys, keys[1:]):
        assert (collect_mod.natural_key(x) < collect_mod.natural_key(y)) == (collect_mod._natural_bytes(x) < collect_mod._natural_bytes(y))
        assert (collect_mod.natural_key(x) == collect_mod.natural_key(y)) == (collect_mod._natural_bytes(x) == collect_mod._natural_bytes(y))


def test_the_store_leaves_nothing_behind_and_the_counts_stay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nameless from the start (as the spill): nothing in TMPDIR while the collection is open, after it is closed, or
    after an error; the counts are still there once it is closed (the CLI prints them after writing)."""
    from xltemplate.roster import read_roster

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    roster = read_roster(SAMPLES / "roster.csv", "sh-project-self-eval")
    c = collect_mod.collect([SAMPLES / "returns"], "sh-project-self-eval", roster=roster)
    assert isinstance(c.returns, collect_mod.StoredReturns) and isinstance(c.rows, collect_mod.StoredRows)
    assert os.listdir(tmp_path) == []
    counts = c.counts()
    c.close()
    assert c.counts() == counts and os.listdir(tmp_path) == []
    with pytest.raises(AssertionError):
        list(c.returns)  # (gone with the collection)

    def boom(*a: object, **k: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(collect_mod, "_match_stored", boom)
    with pytest.raises(RuntimeError):
        collect_mod.collect([SAMPLES / "returns"], "sh-project-self-eval", roster=roster)
    assert os.listdir(tmp_path) == []


def test_a_return_written_back_only_by_matching_reads_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stored return's fate and rare values (note, findings) as matching left them, read back each time."""
    from xltemplate.roster import read_roster

    roster = read_roster(SAMPLES / "roster.csv", "sh-project-self-eval")
    with collect_mod.collect([SAMPLES / "returns"], "sh-project-self-eval", roster=roster) as c:
        noted = [r for r in c.returns if r.note is not None]
        assert noted and all(r._rare is not None for r in noted) and any(r.extra for r in noted)
        again = [c.returns[r._n] for r in noted]
        assert [(r.fate, r.note, r.extra) for r in again] == [(r.fate, r.note, r.extra) for r in noted]
        assert all(a is not b for a, b in zip(again, noted))  # (made anew: nothing held)


@pytest.mark.parametrize("roster", [True, False])
def test_a_second_process_reads_the_store_as_this_one(roster: bool, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """rollup/split.py's child reads the store through the connection it was forked with: the same bytes as the
    rows held in memory, split or not."""
    from .test_rollup_onepass import _first
    from .test_rollup_split import _ways

    monkeypatch.setattr(collect_mod, "STORE", False)
    held = _first(roster=roster)
    assert isinstance(held.rows, list)
    got_held, started_held = _ways(held, tmp_path, monkeypatch, "held ")
    held.close()
    monkeypatch.setattr(collect_mod, "STORE", True)
    stored = _first(roster=roster)
    assert isinstance(stored.rows, collect_mod.StoredRows)
    got_stored, started_stored = _ways(stored, tmp_path, monkeypatch, "stored ")
    stored.close()
    assert started_held == started_stored == 3  # (split with 文字材料, without, and 文件清单 last: test_rollup_split._ways)
    assert set(got_held.values()) == set(got_stored.values()) and len(set(got_stored.values())) == 1


@pytest.mark.parametrize("seed", range(12))
def test_the_template_chosen_from_the_store_as_from_the_briefs(seed: int) -> None:
    """``StoredReturns.templates``: the same choice, or the same message (ties named in the order they first come)."""
    from xltemplate.errors import TemplateChoiceError
    from xltemplate.identify import RunContext
    from xltemplate.report import FileReport

    run = RunContext.builtin()
    kinds = [*sorted(run.known), ("unknown-form", "1.0"), None]
    rng = random.Random(seed)
    picks = [rng.choice(kinds[:2] if seed % 3 == 0 else kinds) for _ in range(rng.randrange(1, 12))]
    reports = [FileReport(path=f"/in/f{n}.xlsx", status="valid", findings=[], template=t) for n, t in enumerate(picks)]
    spill = spill_mod.Spill()
    spill.units = units_mod.Units()
    with spill:
        stored = collect_mod.StoredReturns(spill.units, spill)
        for n, r in enumerate(reports):
            stored.add(n, spill_mod.Brief(r), 0.0, spill.put(r))
        stored.flush()

        def outcome(briefs: object) -> object:
            try:
                spec = collect_mod.choose_template(briefs, run)
            except TemplateChoiceError as exc:
                return str(exc)
            return (spec.id, spec.version)

        assert outcome(collect_mod._templates(stored)) == outcome([spill_mod.Brief(r) for r in reports])


def test_an_sqlite_without_row_values_keeps_the_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(units_mod, "AVAILABLE", False)
    with collect_mod.collect([SAMPLES / "returns"], "sh-project-self-eval") as c:
        assert isinstance(c.returns, list) and isinstance(c.rows, list)
    monkeypatch.setattr(units_mod, "AVAILABLE", True)
    with collect_mod.collect([SAMPLES / "returns"], "sh-project-self-eval") as c:
        assert isinstance(c.returns, collect_mod.StoredReturns)


def test_a_forked_process_reads_the_store_through_a_description_of_its_own() -> None:
    """``Units.own_offset``: after it, the child's descriptor of the file is not the parent's (its offset moves
    alone), and the child reads the records as the parent does."""
    import multiprocessing as mp

    units = units_mod.Units()
    try:
        units.many("INSERT INTO row VALUES (?, ?, ?, ?, ?, ?, ?)", [(n, b"k%d" % n, n, None, None, None, 0) for n in range(500)])
        def link(f: str) -> str:
            try:
                return os.readlink(f"/proc/self/fd/{f}")
            except OSError:
                return ""

        fds = ([int(f) for f in os.listdir("/proc/self/fd") if link(f) == f"{units._name} (deleted)"]
               if os.path.isdir("/proc/self/fd") else [])
        if not fds or "fork" not in mp.get_all_start_methods():
            pytest.skip("Linux with fork only (as the split)")
        fd = fds[0]
        os.lseek(fd, 0, os.SEEK_SET)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child
            try:
                units.own_offset()
                os.lseek(fd, 4096, os.SEEK_SET)
                got = units.query("SELECT count(*), sum(at) FROM row")[0]
                os.write(w, repr(got).encode())
            finally:
                os._exit(0)
        os.close(w)
        os.waitpid(pid, 0)
        assert os.read(r, 100) == repr((500, sum(range(500)))).encode()
        assert os.lseek(fd, 0, os.SEEK_CUR) == 0  # (the child's seek was on its own description)
        assert units.query("SELECT count(*) FROM row")[0][0] == 500
    finally:
        units.close()
