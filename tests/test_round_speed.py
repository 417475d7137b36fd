"""A round's second run over an unchanged inbox (issue 15, fifth pass): what it no longer does again."""

from __future__ import annotations

from pathlib import Path

import pytest

from xltemplate import catalog
from xltemplate.catalog import builtin_templates, load_spec


@pytest.mark.parametrize("remember", [True, False])
def test_a_spec_file_read_again_with_the_same_text_gives_the_same_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                       remember: bool) -> None:
    """A run makes its templates' context up to three times: a spec whose text is the same is parsed once
    (catalog.REMEMBER_SPECS), and is equal to the spec parsed anew; a changed text is parsed again, whatever the
    file's time says."""
    monkeypatch.setattr(catalog, "REMEMBER_SPECS", remember)
    monkeypatch.setattr(catalog, "_SPECS", {})
    src = builtin_templates()["sh-project-self-eval"]
    path = tmp_path / "form.yaml"
    text = src.read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    first, again = load_spec(path), load_spec(path)
    assert first == again and (first is again) is remember
    monkeypatch.setattr(catalog, "REMEMBER_SPECS", not remember)
    assert load_spec(path) == first  # (the other way: the same spec)
    monkeypatch.setattr(catalog, "REMEMBER_SPECS", remember)
    st = path.stat()
    path.write_text(text.replace("title: 项目绩效自我评价", "title: 项目绩效自我评价甲", 1), encoding="utf-8")
    import os

    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # (the same time: the text decides)
    changed = load_spec(path)
    assert changed != first and changed.title != first.title


def test_discover_finds_the_same_with_a_folders_real_path_found_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                      ) -> None:
    """inputs.REAL_ONCE (a folder's real path found once, a file lstat'ed once) lists and skips exactly what finding
    each file's real path does: links inside and outside, a dangling link, a linked folder, a pipe, a ~$ file, a file
    reached by two paths, a folder named .xlsx, files under a folder given through a link."""
    import os

    from xltemplate import inputs

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "far.xlsx").write_bytes(b"x")
    box = tmp_path / "box"
    (box / "sub" / "deeper").mkdir(parents=True)
    for name in ("a.xlsx", "b.xlsm", "~$a.xlsx", "notes.txt", "c.csv", "sub/d.xlsx", "sub/deeper/e.XLSX"):
        (box / name).write_bytes(b"x")
    (box / "folder.xlsx").mkdir()
    os.symlink(box / "a.xlsx", box / "sub" / "link-a.xlsx")
    os.symlink(outside / "far.xlsx", box / "far-link.xlsx")
    os.symlink(box / "gone.xlsx", box / "dangling.xlsx")
    os.symlink(box / "sub", box / "linked-sub")
    os.symlink(outside, box / "linked-outside")
    os.mkfifo(box / "pipe.xlsx")
    via = tmp_path / "via"
    os.symlink(box, via)
    given = [box, via / "sub", box / "a.xlsx", tmp_path / "missing.xlsx"]
    got = {}
    for on in (False, True):
        monkeypatch.setattr(inputs, "REAL_ONCE", on)
        found = inputs.discover(list(given))
        got[on] = ([str(p) for p in found.files], found.skipped)
    assert got[True] == got[False]
    assert len(got[True][0]) >= 5 and len(got[True][1]) >= 8


def _intake(led: "object", inbox: Path, rehash: bool = False) -> list[tuple[object, ...]]:
    """One run's intake of ``inbox``: each input as recorded (path, sha256, size, archive name, mtime), in order."""
    from xltemplate.ledger import RunInfo

    run = led.begin_run(RunInfo("v1", "spec-A", inputs=(str(inbox),)))  # type: ignore[attr-defined]
    intake = led.ingest(run, sorted(str(p) for p in inbox.iterdir()), rehash=rehash)  # type: ignore[attr-defined]
    led.abandon(run)  # type: ignore[attr-defined]
    return [(s.path, s.sha256, s.size, s.name, s.mtime) for s in intake.seen]


@pytest.mark.parametrize("by_batch", [False, True])
def test_an_input_unchanged_since_it_was_hashed_is_not_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  by_batch: bool) -> None:
    """ledger.archive.STAT_SKIP: a file is taken as hashed before only when it is the same file (device, inode), of
    the same size and times to the nanosecond, and those times were older than the hashing's start by the margin.
    Freshly written files are read on every run (racy: changed within the margin); once old enough, they are not,
    and the intake is what reading them gives. A change of the bytes with the size and the modification time put back
    (the inode change time moves), a file renamed over another, an archive copy gone, and --rehash each read again.
    Both ways of asking the ledger what it knows (ledger.store.INGEST_BY_BATCH)."""
    import os
    import time

    from xltemplate.ledger import Ledger, archive, store

    monkeypatch.setattr(store, "INGEST_BY_BATCH", by_batch)

    reads: list[str] = []
    real = archive.Archive._read

    def counted(self: archive.Archive, path: str) -> object:
        reads.append(os.path.basename(path))
        return real(self, path)

    monkeypatch.setattr(archive.Archive, "_read", counted)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for n in range(4):
        (inbox / f"r{n}.xlsx").write_bytes(f"return {n} ".encode() * 50)
    with Ledger.open(tmp_path / "r.xlt.db", create=True) as led:
        first = _intake(led, inbox)
        assert sorted(reads) == ["r0.xlsx", "r1.xlsx", "r2.xlsx", "r3.xlsx"]
        reads.clear()
        assert _intake(led, inbox) == first and len(reads) == 4  # (written a moment ago: within the margin, read)
        monkeypatch.setattr(archive, "STAT_MARGIN_NS", 0)  # (now old enough)
        time.sleep(0.01)
        reads.clear()
        assert _intake(led, inbox) == first and reads == []  # unchanged: nothing read
        monkeypatch.setattr(archive, "STAT_SKIP", False)
        assert _intake(led, inbox) == first and len(reads) == 4  # (the switch off: the same intake, every file read)
        monkeypatch.setattr(archive, "STAT_SKIP", True)
        reads.clear()
        assert _intake(led, inbox, rehash=True) == first and len(reads) == 4
        # the bytes changed, the size and the modification time put back: the inode change time says so
        r1 = inbox / "r1.xlsx"
        st = r1.stat()
        r1.write_bytes(r1.read_bytes().replace(b"return 1", b"return X"))
        os.utime(r1, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert r1.stat().st_mtime_ns == st.st_mtime_ns and r1.stat().st_size == st.st_size
        # another file renamed over r2, its size and times as r2's
        other = tmp_path / "other.xlsx"
        other.write_bytes((inbox / "r2.xlsx").read_bytes().replace(b"return 2", b"return Y"))
        st2 = (inbox / "r2.xlsx").stat()
        os.utime(other, ns=(st2.st_atime_ns, st2.st_mtime_ns))
        os.replace(other, inbox / "r2.xlsx")
        # r3's archive copy gone (the clerk moved it out): read again and archived again
        copy = led.archive.path(first[3][3])
        os.chmod(copy, 0o644)
        copy.unlink()
        time.sleep(0.01)
        reads.clear()
        changed = _intake(led, inbox)
        assert sorted(reads) == ["r1.xlsx", "r2.xlsx", "r3.xlsx"] and copy.exists()
        assert [c[1] != f[1] for c, f in zip(changed, first)] == [False, True, True, False]


def test_rehash_is_for_a_round_and_reads_every_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``collect --rehash`` needs --ledger (exit 2, in Chinese); with it, every inbox file is read and hashed though the
    ledger could vouch for them, and the run is the same."""
    import json
    import shutil

    from click.testing import CliRunner

    from xltemplate.cli import main
    from xltemplate.ledger import archive

    from .conftest import FIRST_RETURNS

    inbox = tmp_path / "in"
    inbox.mkdir()
    for p in FIRST_RETURNS[:3]:
        shutil.copy2(p, inbox / p.name)
    base = ["collect", str(inbox), "--template", "sh-project-self-eval", "--json", "--quiet", "--jobs", "1"]
    refused = CliRunner().invoke(main, base + ["-o", str(tmp_path / "x.xlsx"), "--rehash"])
    assert refused.exit_code == 2 and "--rehash 只能与 --ledger 一起使用" in refused.output
    monkeypatch.setattr(archive, "STAT_MARGIN_NS", 0)
    reads: list[str] = []
    real = archive.Archive._read
    monkeypatch.setattr(archive.Archive, "_read", lambda self, path: reads.append(path) or real(self, path))
    got = []
    for extra in ([], [], ["--rehash"]):
        reads.clear()
        r = CliRunner().invoke(main, base + ["-o", str(tmp_path / "r.xlsx"), "--ledger", str(tmp_path / "r.xlt.db")] + extra)
        assert r.exit_code == 0, r.output
        got.append((len(reads), json.loads(r.output)["files"]))
    assert [n for n, _ in got] == [3, 0, 3] and got[1][1] == got[2][1]


@pytest.mark.parametrize("path", [
    "/in/a.xlsx", "a.xlsx", "/in/sub/", "/in/.", "/in/..", "/in//b.xlsx", "//x", "/", "", ".", "..", "./a", "a/./",
    "/in/\udce4\udcb8.xlsx", "/in/名 单\n.xlsx", "/in/.hidden", "/in/a.b.c", "/in/ a ", "/in/a\\b.xlsx"])
def test_a_file_name_is_what_path_makes_of_it(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """pathtext.file_name without a Path (QUICK_NAME) and with one: the same text, the same as Path(path).name."""
    from xltemplate import pathtext

    got = pathtext.file_name(path)
    monkeypatch.setattr(pathtext, "QUICK_NAME", False)
    assert got == pathtext.file_name(path) == Path(path).name


def test_an_archive_copys_path_as_text_is_the_paths_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Archive.text joins text for the names the archive makes (TEXT_PATHS) and asks Path otherwise: the same text."""
    from xltemplate.ledger import archive

    sha = "ab" + "0" * 62
    names = [archive.name_for(sha, ".xlsx"), archive.name_for(sha, ""), archive.name_for(sha, ".XLSM"), "ab//x",
             "./ab/x", "ab/./x.xlsx", "../x", "/abs/x", "ab/" + sha + ".toolongsuffix"]
    for root in (tmp_path, tmp_path / "a b" / "档案", Path("/"), Path("rel/dir")):
        a = archive.Archive(root)
        fast = [a.text(n) for n in names]
        monkeypatch.setattr(archive, "TEXT_PATHS", False)
        assert fast == [a.text(n) for n in names] == [str(a.path(n)) for n in names] == [str(root / n) for n in names]
        monkeypatch.setattr(archive, "TEXT_PATHS", True)


def test_a_rounds_second_run_does_not_import_what_it_does_not_use(tmp_path: Path) -> None:
    """Start-up (issue 15): ``collect --ledger`` over an unchanged inbox, in a process of its own, imports no part of
    the spec workbook (specbook: read, write, columns; only loading a .xlsx spec needs them), and it still loads a spec
    workbook when given one."""
    import json
    import shutil
    import subprocess
    import sys

    from .conftest import SAMPLES

    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES / "returns", inbox)
    code = (
        "import sys, json\n"
        "from xltemplate.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:], standalone_mode=False)\n"
        "finally:\n"
        "    print('@@' + json.dumps(sorted(m for m in sys.modules if m.startswith('xltemplate'))))\n")
    args = ["collect", str(inbox), "--roster", str(SAMPLES / "roster.csv"), "--ledger", str(tmp_path / "r.xlt.db"),
            "--template", "sh-project-self-eval", "--quiet", "-o", str(tmp_path / "out.xlsx")]
    seen = []
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
        seen.append(set(json.loads(proc.stdout.rsplit("@@", 1)[1])))
    assert "xltemplate.rounds.run" in seen[1] and "xltemplate.specbook" in seen[1]
    assert not {m for m in seen[1] if m.startswith("xltemplate.specbook.")}, sorted(seen[1])
    # a spec workbook still loads (its parts imported when asked for)
    from xltemplate import catalog
    from xltemplate.specbook import write_specbook

    book = write_specbook(catalog.resolve_template("sh-project-self-eval"), tmp_path / "spec.xlsx")
    assert catalog.load_spec(book).spec_hash == catalog.resolve_template("sh-project-self-eval").spec_hash
