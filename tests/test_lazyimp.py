"""What a command imports: the families, the catalog and the package's names imported when first needed (issue 15).

``xltemplate/__init__`` and ``cli`` no longer import the catalog (YAML, the specs, every family) with themselves, and
the families' registry (:data:`xltemplate.families.LAZY_FAMILIES`) imports a family's package when a spec of its family
is first resolved. Each check runs in a fresh interpreter (what is imported is a process's, and this test process has
imported everything long ago): a plain command must not import what it does not use, and the registry must resolve
every built-in template to the same family, spec and messages lazily as with both families imported first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from types import SimpleNamespace
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=300)


_COMMAND = """
import json, sys
from xltemplate.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
sys.stderr.write("MODULES " + json.dumps(sorted(sys.modules)) + "\\n")
"""


def _imported(*argv: str) -> set[str]:
    got = _python(_COMMAND, *argv)
    line = [x for x in got.stderr.splitlines() if x.startswith("MODULES ")]
    assert line, got.stderr[-2000:]
    return set(json.loads(line[-1][len("MODULES "):]))


HEAVY = ("yaml", "xlsxwriter", "xltemplate.catalog", "xltemplate.families.self_scored", "xltemplate.families.rule_scored",
         "xltemplate.form.sheet", "xltemplate.printing", "xltemplate.spec", "xltemplate.form.layout")


def test_help_imports_no_spec_no_family_no_writer() -> None:
    for argv in (["--help"], ["collect", "--help"], ["round", "--help"]):
        mods = _imported(*argv)
        assert "xltemplate.cli" in mods
        assert not [m for m in HEAVY if m in mods], (argv, [m for m in HEAVY if m in mods])


def test_a_template_of_one_family_imports_that_family_only() -> None:
    mods = _imported("describe", "sh-project-self-eval")
    assert "xltemplate.families.self_scored" in mods
    assert "xltemplate.families.rule_scored" not in mods
    mods = _imported("describe", "cn-project-self-eval")
    assert "xltemplate.families.rule_scored" in mods
    assert "xltemplate.families.self_scored" not in mods


_RESOLVE = """
import json, sys
eager = sys.argv[1] == "eager"
from xltemplate import families
if eager:  # (what LAZY_FAMILIES = False does when the package is imported: both families' packages imported first)
    families._self_scored()
    families._rule_scored()
from xltemplate.catalog import as_spec, builtin_templates, parse_spec
from xltemplate.errors import SpecError, TemplateNotFoundError
from xltemplate.form.family import family_ids, family_named, family_of
out = {"ids before": family_ids(), "unknown": family_named("no-such-family") is None}
for tid in builtin_templates():
    spec = as_spec(tid)
    fam = family_of(spec)
    out[tid] = [spec.id, spec.version, spec.family, spec.spec_hash, type(spec).__qualname__, type(fam).__qualname__,
                fam.id, fam is family_named(spec.family), len(fam.items(spec)), len(fam.groups(spec)),
                fam.layout(spec).describe(frozenset())]
for text in ("family: no-such-family\\n", "family: self-scored\\n", "family: rule-scored\\n", "family: self-scorde\\n"):
    try:
        parse_spec(text)
    except SpecError as exc:
        out[text] = str(exc)
try:
    as_spec("no-such-template")
except TemplateNotFoundError as exc:
    out["no template"] = str(exc)
out["ids after"] = family_ids()
print(json.dumps(out, ensure_ascii=False, default=str))
"""


def test_the_registry_resolves_every_builtin_the_same_lazily_as_eagerly() -> None:
    got = {}
    for how in ("lazy", "eager"):
        run = _python(_RESOLVE, how)
        assert run.returncode == 0, run.stderr[-3000:]
        got[how] = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["lazy"] == got["eager"]
    assert got["lazy"]["ids before"] == ["rule-scored", "self-scored"]
    assert "不认识的表式" in got["lazy"]["family: no-such-family\n"]
    assert "是否想写“self-scored”" in got["lazy"]["family: self-scorde\n"]
    assert {"cn-project-self-eval", "sh-project-self-eval"} <= set(got["lazy"])


def test_the_package_gives_its_names_when_asked() -> None:
    run = _python("""
import sys, xltemplate
assert "xltemplate.catalog" not in sys.modules
from xltemplate import FormLayout, Spec, as_spec, load_spec, parse_spec, resolve_template
from xltemplate.catalog import as_spec as real
from xltemplate.spec import Spec as RealSpec
assert as_spec is real and Spec is RealSpec and xltemplate.as_spec is real
assert set(xltemplate.__all__) <= set(dir(xltemplate))
layout = xltemplate.layout_of("sh-project-self-eval")
assert isinstance(layout, FormLayout)
try:
    xltemplate.no_such_name
except AttributeError:
    pass
else:
    raise AssertionError("no AttributeError")
import xltemplate.families as fams
assert fams.rule_scored.FAMILY.id == "rule-scored"
print("ok")
""")
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-3000:]


def test_a_family_asked_for_by_two_threads_at_once_is_found_by_both(monkeypatch: Any) -> None:
    """One thread imports a family while another asks for it: the other waits for it, not told there is none."""
    from xltemplate.form import family as registry

    started, go = threading.Event(), threading.Event()
    fam = SimpleNamespace(id="slow-family")

    def load() -> None:
        started.set()
        go.wait(10)
        registry.register(fam)  # type: ignore[arg-type]

    monkeypatch.setattr(registry, "_FAMILIES", dict(registry._FAMILIES))
    monkeypatch.setitem(registry._KNOWN, "slow-family", load)
    got: list[object] = [None, None]
    first = threading.Thread(target=lambda: got.__setitem__(0, registry.family_named("slow-family")))
    first.start()
    assert started.wait(10)
    second = threading.Thread(target=lambda: got.__setitem__(1, registry.family_named("slow-family")))
    second.start()
    time.sleep(0.05)
    go.set()
    first.join(10)
    second.join(10)
    assert got == [fam, fam]


def test_a_family_whose_import_failed_is_imported_when_next_asked(monkeypatch: Any) -> None:
    from xltemplate.form import family as registry

    fam = SimpleNamespace(id="flaky-family")
    tries: list[int] = []

    def load() -> None:
        tries.append(1)
        if len(tries) == 1:
            raise KeyboardInterrupt  # (an import stopped halfway)
        registry.register(fam)  # type: ignore[arg-type]

    monkeypatch.setattr(registry, "_FAMILIES", dict(registry._FAMILIES))
    monkeypatch.setitem(registry._KNOWN, "flaky-family", load)
    with pytest.raises(KeyboardInterrupt):
        registry.family_named("flaky-family")
    assert "flaky-family" in registry.family_ids()
    assert registry.family_named("flaky-family") is fam
    assert len(tries) == 2


def test_import_xltemplate_gives_its_submodules_as_attributes() -> None:
    """``import xltemplate`` imported the catalog, the families, the spec, the form and the specbook with itself: a
    script may ask for them as attributes (``xltemplate.spec.Spec``), which import them now (revround's finding)."""
    run = _python("""
import xltemplate
assert xltemplate.spec.Spec.__name__ == "Spec"
assert callable(xltemplate.catalog.load_spec) and callable(xltemplate.families.family_of)
for name in ("catalog", "families", "spec", "form", "specbook", "errors", "version"):
    assert getattr(xltemplate, name).__name__ == "xltemplate." + name
for name in ("no_such_module", "__no_such__"):
    try:
        getattr(xltemplate, name)
    except AttributeError as exc:
        assert "has no attribute" in str(exc)
    else:
        raise AssertionError(name)
print("ok")
""")
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-3000:]


def test_a_command_that_reads_returns_imports_every_family_first(tmp_path: Path) -> None:
    """validate and collect import the families at their start, before the inputs are found (cli._families_first: a
    round's peak as it was with the families imported with the CLI; workers forked with them)."""
    for argv in (["validate", str(tmp_path)], ["collect", str(tmp_path), "-o", str(tmp_path / "汇总.xlsx")]):
        mods = _imported(*argv)
        assert {"xltemplate.families.self_scored", "xltemplate.families.rule_scored"} <= mods, argv
