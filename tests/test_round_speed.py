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
