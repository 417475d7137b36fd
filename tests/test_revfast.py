"""Review of issue 15's sixteenth pass (session 31), adversarially: branches natgen (``generate`` faster), collectfast
(plain ``collect`` faster: it landed no switch, only a fix of row heights, reviewed apart) and round2 (a round's second
run faster). Every switch a branch adds is flipped here off, then on, from the same inputs (and, for a round, the same
ledger state and clock), and everything a person or a program reads is compared: the generated workbooks' bytes, the
roll-up's bytes, the CSVs, ``--json``, the printed lines, the exit code and the ledger's tables. Every switch must be
there (main has them all since the pass was merged). And what the switches do not reach: a roster whose names make a
file name longer than the file system takes, and a text shaped like XlsxWriter's rich-string XML."""

from __future__ import annotations

import csv
import datetime as dt
import importlib
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from xltemplate.catalog import load_spec, templates_dir
from xltemplate.cli import main
from xltemplate.distribute import distribute
from xltemplate.families.rule_scored.spec import Target
from xltemplate.roster import read_roster
from xltemplate.sign import Keyring
from xltemplate.errors import TargetsError
from xltemplate.targets import TargetsTable, read_targets

from .conftest import FIRST_RETURNS, SAMPLES

STAMP = dt.datetime(2026, 3, 4, 5, 6, 7)
#: Each branch's new switches, (module, name): flipped together (a name a tree does not have is left out).
NEW_SWITCHES: dict[str, list[tuple[str, str]]] = {
    "natgen": [("xltemplate.form.lean", "LEAN_PIECES"), ("xltemplate.families.rule_scored.targets", "REMEMBER_PARSED")],
    "round2": [("xltemplate.rollup.reuse", "DEFLATED_AHEAD")],
}


def present(branch: str) -> list[tuple[Any, str]]:
    """The switches of ``branch``, (module, name): every one of them (main has them all since the pass was merged)."""
    got = []
    for mod, name in NEW_SWITCHES[branch]:
        owner = importlib.import_module(mod)
        assert hasattr(owner, name), f"{mod}.{name}"
        got.append((owner, name))
    return got


def flip(monkeypatch: pytest.MonkeyPatch, switches: list[tuple[Any, str]], on: bool) -> None:
    for owner, name in switches:
        monkeypatch.setattr(owner, name, on)


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# -- generate -------------------------------------------------------------------------------------------------------

NATIONAL_SPEC = "cn-project-self-eval"


def _split(points: Decimal, n: int) -> list[Decimal]:
    each = (points / n).quantize(Decimal("0.01"))
    return [each] * (n - 1) + [points - each * (n - 1)]


def odd_targets(count: int, salt: str, *, long: bool = False, markup: bool = False) -> tuple[dict[str, str], ...]:
    """``count`` (at least 3) indicators, every kind, every 二级 in turn, the points adding up per 一级."""
    spec = load_spec(templates_dir() / f"{NATIONAL_SPEC}.yaml")
    per = {"output": max(1, count * 6 // 10), "satisfaction": 1 if count < 8 else 2}
    per["benefit"] = max(1, count - per["output"] - per["satisfaction"])
    per["output"] = count - per["benefit"] - per["satisfaction"]
    kinds = ("≥", "≤", "=", "定性")
    out = []
    for lv in spec.levels:  # type: ignore[attr-defined]
        n = per[lv.id]
        for k, pts in enumerate(_split(Decimal(lv.points), n)):
            sub = lv.sublevels[k % len(lv.sublevels)]
            kind = kinds[(k + len(salt)) % 4]
            name = f"{salt}{lv.id}指标{k}"
            if long:
                name = (name + "很长的指标名称" * 40)[:200]
            if markup:
                name = f"<r>{name}</r> & \"_x0000_\" \x01 "
            unit = ("计量单位很长" * 4)[:20] if long else ("%" if k % 3 == 0 else "个")
            target: Decimal | str = "明显提高" if kind == "定性" else Decimal(f"{10 + k}.{k % 10}")
            out.append(Target(lv.id, sub.id, name, kind, unit, target, pts).record())
    return tuple(out)


def national_roster(path: Path, n: int) -> tuple[Path, dict[str, tuple[dict[str, str], ...]]]:
    """A national roster of ``n`` rows and their targets in odd shapes: 3 (one a level), 100 (the most), 31, five
    identical in a row, one without targets (the blank form), names of 200 characters, names of markup and control
    characters, a shape repeated far apart, then 3 to 30."""
    head = (SAMPLES / "national" / "roster.csv").read_text(encoding="utf-8-sig").splitlines()[0].split(",")
    by: dict[str, tuple[dict[str, str], ...]] = {}
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(head)
        for i in range(n):
            key = f"K{i:05d}"
            b = 50 + i * 37 % 3000
            w.writerow([key, f"项目{i}" if i != 9 else "很长的项目名称" * 5, "市财政局", f"实施单位{i % 7}"] + [b, b, 0, 0] * 2)
            if i == 8:
                continue
            count = {0: 3, 1: 100, 2: 31}.get(i, 12 if 3 <= i <= 7 else 3 + i % 28)
            salt = "同" if 3 <= i <= 7 else ("远" if i in (11, 30) else key)
            by[key] = odd_targets(count, salt, long=i == 9, markup=i == 10)
    return path, by


#: How a person may write one number in a targets table: read as the same number (GOOD), or some refused (BAD).
GOOD = ("{}", " {} ", "{}", "FW")  # (FW: its digits full width)
BAD = (*GOOD, "{}%", "1,2{}", "{}万", "abc", "", "１２", "-{}")
_FULL = str.maketrans("0123456789.", "０１２３４５６７８９．")


def targets_csv(path: Path, by: dict[str, tuple[dict[str, str], ...]], spellings: tuple[str, ...] = GOOD) -> Path:
    """``by`` as a targets table a person wrote: the 年度指标值 and 分值 spelt in turn as ``spellings`` has them
    (texts repeated across rows, as a bureau's are), names of levels, not ids."""
    spec = load_spec(templates_dir() / f"{NATIONAL_SPEC}.yaml")
    level = {lv.id: lv.name for lv in spec.levels}  # type: ignore[attr-defined]
    sub = {s.id: s.name for lv in spec.levels for s in lv.sublevels}  # type: ignore[attr-defined]
    n = 0
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["编号", "一级指标", "二级指标", "三级指标", "指标性质", "计量单位", "年度指标值", "分值"])
        for key, recs in by.items():
            for r in recs:
                n += 1
                spelt = spellings[n % len(spellings)]
                text = r["target"].translate(_FULL) if spelt == "FW" else spelt.format(r["target"])
                target = r["target"] if r["kind"] == "定性" or n % 3 else text
                points = r["points"] if n % 4 else (r["points"].translate(_FULL) if n % 8 else f" {r['points']} ")
                w.writerow([key, level[r["level"]], sub[r["sublevel"]], r["name"], r["kind"], r["unit"], target, points])
    return path


def first_roster(path: Path, n: int) -> Path:
    with open(SAMPLES / "roster.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(rows[0])
        for i in range(n):
            r = list(rows[1 + i % (len(rows) - 1)])
            r[0] = f"S{i:03d}"
            if i == 3:
                r[1] = "很长的单位名称" * 6
            if i == 4:
                r[1] = "=HYPERLINK(\"x\")<b>&amp;\t控制"
            w.writerow(r)
    return path


def _generated(tmp_path: Path, name: str, form: str, jobs: int, signed: bool, password: str | None,
               spellings: tuple[str, ...] = GOOD) -> dict[str, bytes]:
    out = tmp_path / name
    keyring = Keyring("k", (b"0123456789abcdef0123",)) if signed else None
    if form == "national":
        spec = load_spec(templates_dir() / f"{NATIONAL_SPEC}.yaml")
        roster_path, by = national_roster(tmp_path / "roster-n.csv", 40)
        table: TargetsTable | Exception
        try:  # (through the targets table's reader, as generate --targets reads it; refused the same way or not)
            table = read_targets(targets_csv(tmp_path / "t.csv", by, spellings), spec)
        except TargetsError as exc:
            return {"refused": str(exc).encode()}
        distribute(spec, read_roster(roster_path, spec), out, generated_at=STAMP, jobs=jobs, keyring=keyring,
                   password=password, targets=table)
    else:
        spec = load_spec(templates_dir() / "sh-project-self-eval.yaml")
        roster_path = first_roster(tmp_path / "roster-sh.csv", 40)
        distribute(spec, read_roster(roster_path, spec), out, generated_at=STAMP, jobs=jobs, keyring=keyring,
                   password=password)
    return files_of(out)


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("form", ["national", "first"])
def test_generate_from_an_odd_roster_is_the_same_bytes_off_and_on(form: str, jobs: int, signed: bool, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Every workbook and the manifest, byte for byte, natgen's switches off then on (on twice: what a first
    run remembered used by the second)."""
    switches = present("natgen")
    password = "密码 & <x>" if signed else None
    flip(monkeypatch, switches, False)
    off = _generated(tmp_path, "off", form, jobs, signed, password)
    flip(monkeypatch, switches, True)
    on = _generated(tmp_path, "on", form, jobs, signed, password)
    again = _generated(tmp_path, "again", form, jobs, signed, password)
    assert len(off) == 41, off.get("refused", b"").decode()[:2000]
    for name in off:
        assert on.get(name) == off[name], name
        assert again.get(name) == off[name], name
    assert on.keys() == off.keys() == again.keys()


def test_a_targets_table_refused_is_refused_the_same_off_and_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    """A targets table whose 年度指标值 and 分值 are spelt in every way, some refused: every problem, line by line, the
    same with natgen's switches off and on, and nothing written."""
    switches = present("natgen")
    flip(monkeypatch, switches, False)
    off = _generated(tmp_path, "off", "national", 1, False, None, BAD)
    flip(monkeypatch, switches, True)
    on = _generated(tmp_path, "on", "national", 1, False, None, BAD)
    assert list(off) == ["refused"] and off["refused"].count(b"\n") > 50
    assert on == off


# -- what the switches do not reach ---------------------------------------------------------------------------------

def test_a_roster_whose_names_make_a_long_file_name_generates(tmp_path: Path) -> None:
    """A unit name of 100 Chinese characters: safe_filename kept 120 characters, 360 bytes of UTF-8, over the 255
    bytes a Linux file name may have, and ``generate --roster`` died with an English traceback (OSError: File name
    too long). Every workbook must be written (its name cut to what the file system takes) or the run refused in
    Chinese."""
    roster = tmp_path / "roster.csv"
    with open(SAMPLES / "roster.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    rows[1][1] = "很长的单位名称" * 15
    rows[2][2] = "项目" * 60
    with open(roster, "w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows(rows[:4])
    res = CliRunner().invoke(main, ["generate", "sh-project-self-eval", "--roster", str(roster), "-o", str(tmp_path / "g")])
    assert res.exit_code == 0, res.output
    made = sorted(p.name for p in (tmp_path / "g").glob("*.xlsx"))
    assert len(made) == 3, made
    assert all(len(n.encode("utf-8")) <= 255 for n in made)
    assert not [p for p in (tmp_path / "g").iterdir() if p.name.startswith(".")]


# -- a round's runs -------------------------------------------------------------------------------------------------

def _padded(src: Path, dst: Path, edits: dict[str, Any], size: int) -> None:
    """``src`` with ``edits`` (tamper.rewrite's), its zip comment padding it to exactly ``size`` bytes."""
    import zipfile

    from .tamper import rewrite

    rewrite(src, dst, edits)
    extra = size - dst.stat().st_size
    assert 0 <= extra < 65535, extra
    with zipfile.ZipFile(dst, "a") as z:
        z.comment = b" " * extra
    assert dst.stat().st_size == size


def in_place(path: Path, edits: dict[str, Any], tmp: Path) -> None:
    """``path``'s bytes changed in place (the same inode, written over), its size and modification time as they were:
    only its inode change time tells."""
    import os

    st = path.stat()
    other = tmp / f"in-place-{path.name}"
    _padded(path, other, edits, st.st_size)
    with open(path, "r+b") as fh:
        fh.write(other.read_bytes())
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = path.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (st.st_ino, st.st_size, st.st_mtime_ns)


def renamed_over(path: Path, edits: dict[str, Any], tmp: Path) -> None:
    """Another file renamed over ``path``: its size and modification time made ``path``'s."""
    import os

    st = path.stat()
    other = tmp / f"over-{path.name}"
    _padded(path, other, edits, st.st_size)
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(other, path)


class Round:
    """test_revstore's Both (each run made twice from one ledger state and clock, everything compared), round2's
    switches off then on; an input unchanged since it was hashed counts as unchanged at once (STAT_MARGIN_NS 0: the
    skips are taken in a test that runs in seconds)."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, switches: list[tuple[Any, str]],
                 stored: bool) -> None:
        from xltemplate.ledger import archive
        from xltemplate.rounds import run as run_mod

        from .test_revstore import Both

        self.both = Both(tmp_path, monkeypatch)
        self.switches, self.mp, self.stored, self.run_mod = switches, monkeypatch, stored, run_mod
        self.runs = 0
        monkeypatch.setattr(archive, "STAT_MARGIN_NS", 0)
        # every part of the roll-up the second deflating process's to take (rollup.deflate; the samples' are small)
        monkeypatch.setattr(importlib.import_module("xltemplate.rollup.deflate"), "LARGE", 1)

    def flip(self, on: bool) -> None:
        self.mp.setattr(self.run_mod, "MATCH_STORED", self.stored)
        self.mp.setattr(self.run_mod, "MATCH_STORED_FROM", 0 if self.stored else 10**9)
        flip(self.mp, self.switches, on)

    def go(self, inputs: list[Path], *extra: str, name: str, exit: int = 0) -> dict[bool, dict[str, Any]]:
        import time

        time.sleep(0.002)  # (a file changed now is newer than the last hashing: its ctime says so)
        # on, then off, every other run: the next run is made from a ledger the switches off made (the code before
        # this pass) as often as from one they made on
        self.runs += 1
        ways = (False, True) if self.runs % 2 else (True, False)
        return self.both.run(inputs, *extra, name=name, before=self.flip, expect=exit == 0 and self.stored, exit=exit,
                             ways=ways)

    @property
    def clock(self) -> Any:
        return self.both.clock


def _first_roster(path: Path, budget: dict[str, str] | None = None) -> Path:
    from .test_revflat2 import _roster

    return _roster(path, budget=budget)


@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize("stored", [True, False], ids=["store", "lists"])
def test_a_rounds_runs_over_an_inbox_changed_behind_its_back_off_and_on(stored: bool, jobs: str, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A first run; the same again (what round2 skips); a file changed in place keeping its size and modification
    time; another file renamed over one, its size and times the same; a roster row changed (refused, then taken);
    a file gone; a withdrawal; a new file; the clock set back; the same again: each the same with round2's switches
    off and on."""
    from xltemplate.rounds.withdraw import withdraw

    from .tamper import replace_text

    rnd = Round(tmp_path, monkeypatch, present("round2"), stored)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    names = [p.name for p in FIRST_RETURNS]
    held_back, gone = "新材料首批次 自评表.xlsx", "化工区服务中心-自评.xlsx"
    for n in names:
        if n != held_back:
            shutil.copy2(SAMPLES / "returns" / n, inbox / n)
    roster = _first_roster(tmp_path / "roster.csv")
    args = ("--roster", str(roster), "--template", "sh-project-self-eval", "--jobs", jobs, "--json")
    rnd.go([inbox], *args, name="first")
    rnd.go([inbox], *args, name="unchanged")
    rnd.go([inbox], *args, name="unchanged twice")
    in_place(inbox / "需求侧管理中心.xlsx", {"xl/sharedStrings.xml": replace_text("需求侧", "需求側")}, tmp_path)
    rnd.go([inbox], *args, name="changed in place")
    renamed_over(inbox / "浦东分中心.xlsx", {"xl/sharedStrings.xml": replace_text("浦东", "浦東")}, tmp_path)
    rnd.go([inbox], *args, name="renamed over")
    _first_roster(roster, budget={"SH002": "1,000.00"})
    rnd.go([inbox], *args, name="roster changed", exit=2)
    rnd.go([inbox], *args, "--roster-changed-ok", name="roster changed ok")
    rnd.go([inbox], *args, name="after the roster")
    (inbox / gone).unlink()
    rnd.go([inbox], *args, name="gone")
    withdraw(rnd.both.ledger, "SH007", str(inbox / "无线电监测站.xlsx"), "撤回")
    rnd.go([inbox], *args, name="withdrawn")
    shutil.copy2(SAMPLES / "returns" / held_back, inbox / held_back)
    rnd.go([inbox], *args, name="new")
    rnd.clock.tick -= 600
    rnd.go([inbox], *args, name="clock set back")
    rnd.go([inbox], *args, name="again")


@pytest.mark.parametrize("how", ["dies", "stuck", "disk full"])
def test_a_rounds_second_deflating_process_that_fails_leaves_the_same_roll_up(how: str, tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A round's parts deflated by rollup.deflate's second process (round2's rollup.reuse.DEFLATED_AHEAD): that
    process dying after it claimed a part, stuck on it (past deflate.WAIT_S), or finding the disk full: the roll-up,
    the CSVs, the ledger (its kept parts with them) the same as with the switches off, run after run, and nothing of
    the second process's left in TMPDIR."""
    import itertools
    import os
    import tempfile
    import time

    switches = present("round2")
    deflate = importlib.import_module("xltemplate.rollup.deflate")
    if not any(name == "DEFLATED_AHEAD" for _, name in switches):
        pytest.skip("round2's DEFLATED_AHEAD not in this tree")
    real = deflate._deflate
    calls = itertools.count()

    def failing(source: str, target: Path, level: int) -> Any:  # (in the second process, forked at each roll-up)
        if next(calls) == 1:
            (tmp_path / f"failed-in-{os.getpid()}-{time.monotonic_ns()}").touch()  # (the test's proof it got here)
            if how == "dies":
                os._exit(1)
            if how == "stuck":
                time.sleep(60)
            raise OSError(28, "No space left on device")
        return real(source, target, level)

    rnd = Round(tmp_path, monkeypatch, switches, True)
    monkeypatch.setattr(deflate, "WAIT_S", 1.0)

    def flipped(on: bool) -> None:
        Round.flip(rnd, on)
        monkeypatch.setattr(deflate, "_deflate", failing if on else real)

    monkeypatch.setattr(rnd, "flip", flipped)
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES / "returns", inbox)
    args = ("--roster", str(_first_roster(tmp_path / "roster.csv")), "--template", "sh-project-self-eval", "--jobs", "1")
    scratch = Path(tempfile.gettempdir())
    before = set(scratch.iterdir())
    rnd.go([inbox], *args, name="first")
    rnd.go([inbox], *args, name="again")
    (inbox / "浦东分中心.xlsx").unlink()
    rnd.go([inbox], *args, name="one gone")
    rnd.go([inbox], *args, name="again after")
    assert sorted(p.name for p in set(scratch.iterdir()) - before) == []
    assert len(list(tmp_path.glob("failed-in-*"))) == 4  # (once a run, each run made with the switches on)


# -- a text that looks like XlsxWriter's rich string ---------------------------------------------------------------

#: XlsxWriter writes a string that starts with "<r>" and ends with "</r>" as the XML of a rich string, unescaped (what
#: write_rich_string stores): a plain text of that shape was not shown as itself, and its markup went into the file.
#: Fixed in one place for every workbook xltemplate writes (xltemplate/sheettext.py; tests/test_sheettext.py).
SHOWN = "<r><t>没有问题</t></r>"
INJECTED = '<r><t>x</t></r></is></c><c r="Z4" t="inlineStr"><is><r><t>伪造</t></r>'


@pytest.mark.parametrize(("text", "stripped"), [(SHOWN, "没有问题"), (INJECTED, "x伪造")], ids=["shown", "injected"])
def test_a_returned_text_shaped_like_a_rich_string_puts_no_markup_into_the_roll_up(text: str, stripped: str,
                                                                                   tmp_path: Path) -> None:
    """A return's 主要问题 typed as ``<r><t>没有问题</t></r>`` (what a person sees in Excel: those characters). 文字材料
    shows a return's texts with their markup removed, by design (its note says so: pasted web text), so it shows
    没有问题, in one cell; a text that closes its own cell puts no cell of its own into the roll-up. (A text that keeps
    its markup, a roster's name in 汇总: tests/test_sheettext.py.)"""
    import openpyxl
    from xml.sax.saxutils import escape

    from .tamper import replace_text, rewrite

    inbox = tmp_path / "in"
    inbox.mkdir()
    rewrite(SAMPLES / "returns" / "无线电监测站.xlsx", inbox / "a.xlsx",
            {"xl/sharedStrings.xml": replace_text("成果统计和归档不够及时；绩效目标设置有待进一步细化。", escape(text))})
    res = CliRunner().invoke(main, ["collect", str(inbox), "-o", str(tmp_path / "r.xlsx"), "--quiet", "--jobs", "1"])
    assert res.exit_code == 0, res.output
    wb = openpyxl.load_workbook(tmp_path / "r.xlsx")
    shown = [(ws.title, c.value) for ws in wb for row in ws.iter_rows() for c in row if isinstance(c.value, str)
             and ("没有问题" in c.value or "伪造" in c.value)]
    assert shown == [("文字材料", stripped)]


def test_a_roster_text_shaped_like_a_rich_string_is_prefilled_as_itself(tmp_path: Path) -> None:
    """A roster's 预算单位 ``<r><t>甲单位</t></r>``: the generated workbook showed 甲单位, while its metadata recorded the
    text, so the return sent back untouched was refused: prefill-changed, "应为“<r><t>甲单位</t></r>”", which no clerk
    can put right."""
    roster = tmp_path / "roster.csv"
    with open(SAMPLES / "roster.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    rows[1][1] = "<r><t>甲单位</t></r>"
    with open(roster, "w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows(rows[:2])
    res = CliRunner().invoke(main, ["generate", "sh-project-self-eval", "--roster", str(roster), "-o", str(tmp_path / "g")])
    assert res.exit_code == 0, res.output
    (made,) = (tmp_path / "g").glob("*.xlsx")
    res = CliRunner().invoke(main, ["validate", str(made), "--json"])
    assert "prefill-changed" not in res.output, res.output
