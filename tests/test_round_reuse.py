"""A round's roll-up keeps its big sheets for the next run (xltemplate.rollup.reuse, issue 15), and its stored
reports are loaded slim, when asked (rounds.run.LOAD_SLIM).

Over five runs of a round (the first; one over the same inbox; one with a file changed; one with a resubmission;
one with a file that is not a workbook added), the roll-up is byte for byte what it is with both forced off
(``reuse.REUSE``, ``LOAD_SLIM``: every sheet written, every stored report loaded whole up front), each run made
from the same ledger state both ways; the sheets are reused exactly when nothing they are made from changed, and
then no stored report is loaded whole.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import zipfile
from pathlib import Path
from typing import Any

import pytest

from xltemplate.ledger import store
from xltemplate.rollup import reuse, workbook
from xltemplate.roster import read_roster
from xltemplate.rounds import collect_round
from xltemplate.rounds import run as run_mod

from .conftest import SAMPLES
from .tamper import replace_text, rewrite, set_saved_time

FORM = "sh-project-self-eval"


def _parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


@pytest.mark.parametrize("one_pass", [True, False])
def test_a_round_writes_the_same_bytes_with_sheets_reused_or_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                      one_pass: bool) -> None:
    monkeypatch.setattr(workbook, "ONE_PASS", one_pass)  # (the writer's two ways: rows unit by unit, or sheet by sheet)
    tick = [0]

    def now() -> dt.datetime:  # the same times both ways: each run is made twice from one ledger state
        tick[0] += 1
        return dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=tick[0])

    monkeypatch.setattr(store, "_now", now)
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES / "returns", inbox)
    roster = read_roster(SAMPLES / "roster.csv", FORM)
    work, saved = tmp_path / "round", tmp_path / "saved"
    work.mkdir()
    steps = {
        "first": lambda: None,
        "again": lambda: None,
        # one file's bytes changed: the unit says its problems otherwise (文字材料 shows them)
        "changed": lambda: rewrite(SAMPLES / "returns" / "无线电监测站.xlsx", inbox / "无线电监测站.xlsx",
                                   {"xl/sharedStrings.xml": replace_text("成果统计和归档不够及时", "成果统计不够及时")}),
        "resubmitted": lambda: set_saved_time(SAMPLES / "returns" / "需求侧管理中心.xlsx", inbox / "需求侧管理中心 (2).xlsx",
                                              dt.datetime(2021, 6, 1, 9, 30)),
        "not a workbook": lambda: (inbox / "随便.xlsx").write_bytes(b"not a workbook"),
    }
    reused: dict[str, list[str]] = {}
    loaded_whole: dict[str, int] = {}
    whole: list[str] = []
    items = run_mod._Ledgered._items

    def counted(self: run_mod._Ledgered, sha: str) -> object:
        whole.append(sha)
        return items(self, sha)

    monkeypatch.setattr(run_mod._Ledgered, "_items", counted)
    slims: list[str] = []  # the stored reports loaded (slim) by this run
    payload = run_mod._Ledgered._payload

    def loaded(self: run_mod._Ledgered, sha: str, slim: bool) -> str:
        if slim:
            slims.append(sha)
        return payload(self, sha, slim=slim)

    monkeypatch.setattr(run_mod._Ledgered, "_payload", loaded)
    loaded_slim: dict[str, set[str]] = {}
    with_findings: dict[str, set[str]] = {}
    new_files: dict[str, int] = {}
    sheets: dict[str, dict[str, bytes]] = {}
    for step, change in steps.items():
        change()
        shutil.rmtree(saved, ignore_errors=True)
        shutil.copytree(work, saved)
        bytes_of: dict[bool, dict[str, bytes]] = {}
        start = tick[0]
        for on in (False, True):
            if on:  # the same ledger state, and the same clock, as the run with the switch off
                shutil.rmtree(work)
                shutil.copytree(saved, work)
                tick[0] = start
            monkeypatch.setattr(reuse, "REUSE", on)
            monkeypatch.setattr(run_mod, "LOAD_SLIM", on)
            monkeypatch.setattr(run_mod, "HEADS", on)
            whole.clear()
            slims.clear()
            done = collect_round([inbox], FORM, ledger=work / "r.xlt.db", roster=roster, output=tmp_path / f"{step}-{on}.xlsx")
            bytes_of[on] = {**_parts(tmp_path / f"{step}-{on}.xlsx"), "(file)": (tmp_path / f"{step}-{on}.xlsx").read_bytes()}
            parts = done.collection.round.parts
            assert (parts is not None) is on
            if on:
                reused[step] = sorted(parts.reused)  # (the order the writer reaches them in: its two ways differ)
                loaded_whole[step] = len(whole)
                loaded_slim[step] = set(slims)
                new_files[step] = sum(done.collection.round.since_of(row.key).new_files for row in done.collection.rows)
                with_findings[step] = {r.brief.sha256 for r in done.collection.returns if (r.brief.errors or r.brief.warnings) and r.brief.sha256}
            done.collection.close()
        sheets[step] = bytes_of[False]
        assert bytes_of[True].keys() == bytes_of[False].keys()
        for name, data in bytes_of[False].items():
            assert bytes_of[True][name] == data, (step, name)
    # reused when made from the same reports (a file that is no workbook is in no row of theirs), else written (a
    # resubmission counts another report, though the sheets show nothing of what differs: its saved time)
    # (提交记录 too: given with this run's note, which names the run, in place of the kept one's)
    # 汇总's rows too, their "since" columns made anew (in the one-pass writer: reuse.SummaryRows)
    rows = ["汇总"] if one_pass else []
    assert reused == {"first": [], "again": sorted(["指标得分", "文字材料", "文件清单", "提交记录", "问题清单", *rows]),
                      "changed": [],
                      "resubmitted": [], "not a workbook": sorted(["指标得分", "文字材料", *rows])}  # (文件清单 lists the new file)
    # (汇总's 本次 columns differ from the first run's in the second, which is given the first's rows)
    assert new_files == {"first": 19, "again": 0, "changed": 1, "resubmitted": 1, "not a workbook": 0}
    # a stored report is loaded whole only for a sheet written anew (the first run's reports are all made then)
    assert loaded_whole["first"] == 0 and loaded_whole["again"] == 0 and loaded_whole["not a workbook"] == 0
    assert loaded_whole["changed"] > 10 and loaded_whole["resubmitted"] > 10
    # and, of the stored reports, only those with findings are loaded (for 问题清单) when it is written: 汇总 reads heads
    # (none at all over the unchanged inbox: 问题清单, which lists their findings, is given whole too)
    assert loaded_slim["again"] == set() and len(with_findings["again"]) == 7
    assert loaded_slim["not a workbook"] == with_findings["not a workbook"]
    # (the changed file did change 文字材料: written anew, not given as it was)
    for part in ("xl/worksheets/sheet2.xml", "xl/worksheets/sheet6.xml"):
        assert sheets["resubmitted"][part] == sheets["changed"][part]  # (made anew from another report: the same)
    assert sheets["changed"]["xl/worksheets/sheet6.xml"] != sheets["again"]["xl/worksheets/sheet6.xml"]



def _fake_collection(parts: reuse.Parts) -> object:
    from types import SimpleNamespace

    return SimpleNamespace(round=SimpleNamespace(parts=parts), rows=[], spec=SimpleNamespace(spec_hash="x"),
                           identity_verified=False)


def _book(path: Path, parts: reuse.Parts, last_row_new: bool) -> dict[str, Any]:
    """A workbook of a kept sheet (rows in a format it numbers first; with ``last_row_new``, its last row in a
    format nothing numbered before) and a sheet after it that numbers a format of its own."""
    import xlsxwriter

    scratch = path.with_name(path.stem + "-scratch")
    scratch.mkdir()
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "tmpdir": str(scratch)})
    wb.set_properties({"created": dt.datetime(2026, 1, 1)})  # core.xml holds it: two writes a second apart differ
    first, second, third = (wb.add_format({"bold": True}), wb.add_format({"italic": True}),
                            wb.add_format({"underline": True}))
    ws = wb.add_worksheet("指标得分", worksheet_class=reuse.KeptSheet)
    kept, written = reuse.given(_fake_collection(parts), wb, ws)  # type: ignore[arg-type]
    if kept is None:
        ws.write_number(0, 0, 1.5, first)
        ws.write_number(1, 0, 2.5, second if last_row_new else first)
        written({"end": 2})
    after = wb.add_worksheet("after")
    after.write_number(0, 0, 3.5, third)
    after.write_number(0, 1, 4.5, second)
    with reuse.zipping(wb):
        wb.close()
    assert list(scratch.iterdir()) == []  # the sheets' row files removed, a given sheet's too (it left its own)
    with zipfile.ZipFile(path) as z:
        return {"kept": kept, "file": path.read_bytes(), **{n: z.read(n) for n in z.namelist()}}


@pytest.mark.parametrize("copy", [True, False])
@pytest.mark.parametrize("last_row_new", [False, True])
def test_a_kept_sheet_numbers_its_formats_again_when_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           last_row_new: bool, copy: bool) -> None:
    """Leaving a kept sheet's rows out must not change how the sheets after it number their formats: the formats
    its rows numbered first are numbered again, in the same order, when it is given; a sheet whose last row (written
    out only when the workbook closes, after the other sheets) numbers a format is not kept. The given part, copied
    into the zip as kept (reuse.ZIP_COPY) or inflated for XlsxWriter to deflate again, makes the same file, byte for
    byte, as the sheet written anew."""
    monkeypatch.setattr(reuse, "ZIP_COPY", copy)
    parts = reuse.Parts({}, lambda ret: None)
    fresh = _book(tmp_path / "fresh.xlsx", parts, last_row_new)
    assert ("指标得分" in parts.made) is not last_row_new
    if not last_row_new:
        again = reuse.Parts(dict(parts.made), lambda ret: None)
        copied: list[str] = []
        copy_of = reuse._KeepingZip._copy

        def counted(self: reuse._KeepingZip, *args: Any) -> None:
            copied.append(args[-1])
            copy_of(self, *args)

        monkeypatch.setattr(reuse._KeepingZip, "_copy", counted)
        given = _book(tmp_path / "given.xlsx", again, last_row_new)
        assert given.pop("kept") == {"end": 2} and again.reused == ["指标得分"] and fresh.pop("kept") is None
        assert copied == (["xl/worksheets/sheet1.xml"] if copy else [])
        assert given == fresh  # every part, styles.xml and the sheet after it too, and the zip's bytes


def test_the_sums_a_kept_sheet_leaves_come_back_as_they_were() -> None:
    """统计 reads what 指标得分 summed as it passed (tables.ScoreTotals): kept as JSON, they come back equal, of the
    same types (Decimals with their exponents, defaultdicts, tuple keys), in the same order."""
    import json
    from decimal import Decimal

    from xltemplate.rollup.tables import ScoreTotals

    sums = ScoreTotals(levels=True, gaps=True)
    rows = [{"valid": True, "category_id": "c1", "weight": Decimal("10.0"), "applicable": True, "extra": False,
             "indicator_id": f"i{n}", "score": Decimal("7.50"), "subcategory": "s", "met": n % 2 == 0,
             "lost": Decimal("2.50"), "key": f"K{n}", "indicator": f"指标{n}"} for n in range(3)]
    for r in rows:
        sums.add(r)
    text = json.dumps(reuse._encode(reuse.sums_state(sums)))
    back = ScoreTotals(levels=True, gaps=True)
    reuse.restore_sums(back, reuse._decode(json.loads(text)))
    for name, value in vars(sums).items():
        got = getattr(back, name)
        assert type(got) is type(value) and got == value and list(got) == list(value), name
        for k in value:
            assert repr(got[k]) == repr(value[k])
    assert str(back.weights["c1"]) == str(sums.weights["c1"]) == "30.0"


def test_a_brief_the_ledger_keeps_reads_back_the_same() -> None:
    """Each report's brief is kept in the ledger (reports.brief) and read instead of a payload: every slot comes back
    equal and of its type (times with their zones, the template a tuple, the codes); a brief of other slots is not
    taken (None: the payload is read instead)."""
    from xltemplate.batch import validate_files
    from xltemplate.identify import RunContext
    from xltemplate.rollup.spill import Brief

    files = sorted((SAMPLES / "returns").glob("*.xlsx"))[:8] + [SAMPLES / "roster.csv"]
    reports = validate_files(files, RunContext.builtin())
    assert any(r.findings for r in reports) and any(r.saved_at for r in reports)
    for r in reports:
        b = Brief(r)
        back = run_mod._brief_of(run_mod._brief_text(b))
        assert back is not None
        for slot in Brief.FIELDS:
            assert getattr(back, slot) == getattr(b, slot) and type(getattr(back, slot)) is type(getattr(b, slot)), slot
    text = run_mod._brief_text(Brief(reports[0]))
    assert run_mod._brief_of(text.replace('"path"', '"place"')) is None
    # a brief moved to the inbox path (run._moved, QUICK_MOVED): every slot as Brief.moved makes it
    for r in reports:
        b = run_mod._brief_of(run_mod._brief_text(Brief(r)))
        assert b is not None
        quick = run_mod._moved(b, "/inbox/x.xlsx")
        assert quick is not b and quick.path == "/inbox/x.xlsx" and b.path == r.path
        slow = b.moved("/inbox/x.xlsx")
        for slot in Brief.__slots__:
            assert getattr(quick, slot) == getattr(slow, slot) and type(getattr(quick, slot)) is type(getattr(slow, slot)), slot


def test_closing_a_rounds_collection_closes_the_ledger_connection_its_reports_are_read_by(tmp_path: Path) -> None:
    """After a round, a report asked for (a library caller reading the collection) is read through a read-only
    connection of the store's own; ``Collection.close`` closes it (it was left to garbage collection)."""
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES / "returns", inbox)
    roster = read_roster(SAMPLES / "roster.csv", FORM)
    for step in ("first", "again"):  # (the second run's reports are stored ones: loaded from the ledger)
        done = collect_round([inbox], FORM, ledger=tmp_path / "r.xlt.db", roster=roster, output=tmp_path / f"{step}.xlsx")
        c = done.collection
        stored = [r for r in c.returns if isinstance(r._store, run_mod._Ledgered)]
        if step == "first":
            c.close()
            continue
        assert stored, "the second run's returns are read from the ledger"
        store_ = stored[0]._store
        assert isinstance(store_, run_mod._Ledgered) and store_.led is None  # (the run's ledger is closed)
        store_._recent.clear()
        assert stored[0].report.key == stored[0].brief.key  # read now, through the store's own connection
        own = store_._own
        assert own is not None
        c.close()
        assert store_._own is None
        with pytest.raises(sqlite3.ProgrammingError):
            own.execute("SELECT 1")


def test_a_reports_head_reads_back_what_the_summary_reads_of_it() -> None:
    """汇总 reads a stored report's head (rounds.run._head_text) instead of the report: its totals, grade, rate and
    groups come back equal and of their types (Decimals with their exponents), and of its header fields those the
    summary names; a Return asked for a field its head does not hold loads the report (both families)."""
    from xltemplate.batch import validate_files
    from xltemplate.catalog import as_spec
    from xltemplate.identify import RunContext
    from xltemplate.rollup.collect import Return

    from .conftest import NATIONAL_RETURNS

    files = sorted((SAMPLES / "returns").glob("*.xlsx"))[:6] + NATIONAL_RETURNS[:4]
    reports = [r for r in validate_files(files, RunContext.builtin()) if r.results is not None]
    assert {r.template[0] for r in reports if r.template} >= {FORM, "cn-project-self-eval"}
    for r in reports:
        assert r.template is not None and r.results is not None
        spec = as_spec(r.template[0])
        text = run_mod._head_text(r, spec)
        assert text is not None
        head = run_mod._head_of(text)
        assert head is not None and run_mod._head_of(text.replace(run_mod._HEAD, "head 0")) is None
        res = r.results
        for name in ("total", "total_weight", "grade", "execution_rate"):
            assert repr(getattr(head, name)) == repr(getattr(res, name)), name
        assert [repr(g) for g in head.groups] == [repr(g) for g in res.groups] and head.items == ()
        named = {fid for fid in spec.summary.values() if isinstance(fid, str)}
        assert named and set(head.fields) >= named and len(head.fields) < len(res.fields)
        assert all(repr(head.fields[f]) == repr(res.fields.get(f)) for f in head.fields)

        class Store:
            loaded = 0

            def head(self, where: object) -> object:
                return head

            def load(self, where: object) -> object:
                Store.loaded += 1
                return r

        ret = Return(None, 0.0, brief=run_mod.Brief(r), store=Store(), where=None)  # type: ignore[arg-type]
        assert ret.head() is head and ret.head(next(iter(named))) is head and Store.loaded == 0
        other = next(f for f in res.fields if f not in head.fields)
        assert ret.head(other) is res and Store.loaded == 1


def _round_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, steps: list[Any]) -> tuple[list[bytes], list[list[str]]]:
    """A round's runs over ``steps`` (each a change to the inbox before a run), at fixed times: each run's roll-up,
    and the sheets it was given."""
    tick = [0]

    def now() -> dt.datetime:
        tick[0] += 1
        return dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=tick[0])

    monkeypatch.setattr(store, "_now", now)
    shutil.rmtree(tmp_path / name, ignore_errors=True)  # (the same paths every time: the notes name them)
    inbox = tmp_path / name / "inbox"
    shutil.copytree(SAMPLES / "returns", inbox)
    roster = read_roster(SAMPLES / "roster.csv", FORM)
    out, given = [], []
    for n, step in enumerate(steps):
        step(inbox)
        done = collect_round([inbox], FORM, ledger=tmp_path / name / "r.xlt.db", roster=roster,
                             output=tmp_path / name / f"{n}.xlsx")
        out.append((tmp_path / name / f"{n}.xlsx").read_bytes())
        (tmp_path / name / f"{n}.xlsx").unlink()
        given.append(sorted(done.collection.round.parts.reused))
        done.collection.close()
    return out, given


@pytest.mark.parametrize("varied", [False, True])
def test_a_rounds_summary_rows_kept_or_written_make_the_same_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  varied: bool) -> None:
    """reuse.SUMMARY_ROWS: 汇总's rows given by the last run, their 本次 columns made anew, or written anew; every other
    switch the same: the whole roll-up byte for byte, over a first run, a second over the same inbox (its 本次 columns
    differ from the first's on every row), a third, and one whose unit counts another return (written anew).
    ``varied``: every unit's 本次 columns are made up (counts and 是 in every mix), the same both ways."""
    if varied:
        from xltemplate.rollup.record import RoundView, Since

        def made_up(self: RoundView, key: str) -> Since:
            n = sum(map(ord, key)) + self.run
            return Since(n % 4, bool(n % 3 == 0), bool(n % 5 < 2))

        monkeypatch.setattr(RoundView, "since_of", made_up)
    steps = [lambda inbox: None, lambda inbox: None, lambda inbox: None,
             lambda inbox: set_saved_time(SAMPLES / "returns" / "需求侧管理中心.xlsx", inbox / "需求侧管理中心 (2).xlsx",
                                          dt.datetime(2021, 6, 1, 9, 30))]
    files: dict[bool, list[bytes]] = {}
    given: dict[bool, list[list[str]]] = {}
    for on in (True, False):
        monkeypatch.setattr(reuse, "SUMMARY_ROWS", on)
        files[on], given[on] = _round_runs(tmp_path, monkeypatch, "round", steps)
    for n, (a, b) in enumerate(zip(files[True], files[False])):
        assert a == b, n
    assert ["汇总" in g for g in given[True]] == [False, True, True, False]
    assert not any("汇总" in g for g in given[False])
    assert given[True] == [sorted(g + (["汇总"] if n in (1, 2) else [])) for n, g in enumerate(given[False])]


def test_since_cells_are_the_cells_the_lean_writer_writes(tmp_path: Path) -> None:
    """reuse.since_cells makes a row's last cells (None, a count, 是) as LeanSheet.put_row writes them."""
    from xltemplate.rollup.lean import LeanSheet, lean_enabled

    if not lean_enabled():
        pytest.skip("the lean writer runs with the XlsxWriter version it was compared with only")
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(tmp_path / "x.xlsx"), {"constant_memory": True})
    ws = wb.add_worksheet("s", worksheet_class=LeanSheet)
    text = wb.add_format({"text_wrap": True})
    num = wb.add_format({"num_format": "General", "bold": True})
    seen: list[tuple[int, str]] = []
    ws.rows_seen = lambda row, xml: seen.append((row, xml))
    cases = [[None, None, None], [1, "是", None], [2, None, "是"], [None, "是", "是"], [12, "是", "是"], [100000, None, None]]
    for row, since in enumerate(cases, start=3):
        fmts = [text, num, num, text, text]
        assert ws.put_row(row, 15.0, ["K001", 3, *since], fmts, text, text)
        ws._write_single_row(row + 1)
        got = reuse.since_cells(row, 2, since, fmts[2:])
        assert got is not None and seen[-1][0] == row
        assert seen[-1][1].endswith(got + "</row>"), (seen[-1][1], got)
    # and anything else is not made (the row is then written, not kept)
    assert reuse.since_cells(3, 2, [0, None, None], [num, text, text]) is None
    assert reuse.since_cells(3, 2, [True, None, None], [num, text, text]) is None
    assert reuse.since_cells(3, 2, [None, "否", None], [num, text, text]) is None
    wb.close()


def test_a_national_rounds_summary_rows_kept_or_written_make_the_same_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """reuse.SUMMARY_ROWS over the national form (its roll-up has 指标结果 and 差距分析, whose units 汇总's rows leave
    behind): three runs of a round through the CLI, the whole roll-up byte for byte both ways, 汇总's rows given in the
    second and third."""
    import json

    from click.testing import CliRunner

    from xltemplate.cli import main

    national = SAMPLES / "national"
    given: list[int] = []
    begin = reuse.SummaryRows.begin

    def counted(self: reuse.SummaryRows) -> None:
        given.append(1)
        begin(self)

    monkeypatch.setattr(reuse.SummaryRows, "begin", counted)
    files: dict[bool, list[bytes]] = {}
    gave: dict[bool, list[int]] = {}
    for on in (True, False):
        monkeypatch.setattr(reuse, "SUMMARY_ROWS", on)
        tick = [0]

        def now() -> dt.datetime:
            tick[0] += 1
            return dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=tick[0])

        monkeypatch.setattr(store, "_now", now)
        work = tmp_path / "round"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        files[on], gave[on] = [], []
        for _ in range(3):
            given.clear()
            result = CliRunner().invoke(main, ["collect", str(national / "returns"), "--roster", str(national / "roster.csv"),
                                               "--targets", str(national / "targets.csv"), "--ledger", str(work / "r.xlt.db"),
                                               "-o", str(work / "out.xlsx"), "--json"])
            assert result.exit_code == 0, result.output
            assert json.loads(result.output)["ledger"]["run"] == len(files[on]) + 1
            files[on].append((work / "out.xlsx").read_bytes())
            gave[on].append(len(given))
    assert gave == {True: [0, 1, 1], False: [0, 0, 0]}
    for n, (a, b) in enumerate(zip(files[True], files[False])):
        assert a == b, n
