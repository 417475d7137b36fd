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
