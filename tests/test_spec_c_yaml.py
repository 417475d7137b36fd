"""The built-in templates read by libyaml's C loader (catalog.C_YAML, issue 15: every run's start) are the specs the
pure-Python loader reads, hash and plain copy included; a spec a user gives is read by the Python loader, whose
messages its problems carry."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from xltemplate import catalog
from xltemplate.catalog import builtin_templates, load_spec
from xltemplate.errors import SpecError


def _loaded(monkeypatch: pytest.MonkeyPatch, on: bool) -> dict[str, object]:
    monkeypatch.setattr(catalog, "C_YAML", on)
    monkeypatch.setattr(catalog, "_SPECS", {})
    return {name: load_spec(path) for name, path in builtin_templates().items()}


def _loaders(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The loaders yaml.load is called with from now on (yaml.safe_load calls it too), in order."""
    calls: list[object] = []
    real = yaml.load

    def spy(stream: object, Loader: object) -> object:  # noqa: N803 (PyYAML's own name)
        calls.append(Loader)
        return real(stream, Loader=Loader)  # type: ignore[arg-type]  # noqa: S506 (a SafeLoader)

    monkeypatch.setattr(yaml, "load", spy)
    return calls


def test_the_builtins_read_by_libyaml_are_the_specs_the_python_loader_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    if getattr(yaml, "CSafeLoader", None) is None:
        pytest.skip("PyYAML without libyaml: the Python loader reads every spec")
    calls = _loaders(monkeypatch)
    fast = _loaded(monkeypatch, True)
    assert calls and all(c is yaml.CSafeLoader for c in calls)  # (the C loader was used)
    slow = _loaded(monkeypatch, False)
    assert fast.keys() == slow.keys() and len(fast) >= 2
    for name in fast:
        a, b = fast[name], slow[name]
        assert a == b, name
        assert a.spec_hash == b.spec_hash and a.raw == b.raw, name  # type: ignore[attr-defined]
        assert type(a.raw) is type(b.raw) is dict  # type: ignore[attr-defined]


def test_a_users_spec_is_read_by_the_python_loader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its problems' messages are the Python loader's (libyaml words them otherwise)."""
    monkeypatch.setattr(catalog, "C_YAML", True)
    own = tmp_path / "own.yaml"
    own.write_text(next(iter(builtin_templates().values())).read_text(encoding="utf-8"), encoding="utf-8")
    used = _loaders(monkeypatch)
    assert load_spec(own).id
    assert used and all(u is yaml.SafeLoader for u in used)  # (yaml.safe_load's, twice: the text, its plain copy)
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: [unclosed\n", encoding="utf-8")
    with pytest.raises(SpecError) as got:
        load_spec(bad)
    try:
        yaml.safe_load("id: [unclosed\n")
    except yaml.YAMLError as exc:
        assert str(exc) in str(got.value)
