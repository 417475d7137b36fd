"""The package's name ``collect``: the module xltemplate.rollup.collect by its name, the function when called."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_module_is_importable_by_its_name() -> None:
    import xltemplate
    import xltemplate.rollup.collect as module

    assert isinstance(module, types.ModuleType)
    assert module.Collection.__name__ == "Collection" and callable(module.assemble)
    assert xltemplate.rollup.collect is module


def test_from_the_package_collect_still_collects(monkeypatch: pytest.MonkeyPatch) -> None:
    import xltemplate.rollup.collect as module
    from xltemplate.catalog import load_spec, templates_dir
    from xltemplate.rollup import Collection, collect

    spec = load_spec(templates_dir() / "sh-project-self-eval.yaml")
    got = collect([ROOT / "samples" / "returns"], spec)
    assert isinstance(got, Collection) and got.returns
    assert [str(r.path) for r in got.returns] == [str(r.path) for r in module.collect([ROOT / "samples" / "returns"], spec).returns]
    seen: list[object] = []

    def patched(*args: object, **kwargs: object) -> str:
        seen.append(args)
        return "patched"

    monkeypatch.setattr(module, "collect", patched)
    assert collect("x", spec) == "patched" and seen == [("x", spec)]  # the module's function, looked up when called
