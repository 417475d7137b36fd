"""Review of the seventeenth pass's lazy imports (lazyimp), adversarially: a command must say what it said before,
whatever it no longer imports up front.

Every help text, the template list, ``describe`` of each built-in, and the errors a clerk meets (a template that is
neither built-in nor a file, a misspelled one, a spec file that is not a spec, a command that does not exist, a bad
option) are run through the console entry (``python -m xltemplate.cli``, a fresh process) by this tree's code and by
main's before this pass (tests/test_revsame.MAIN, from this repository's history), and compared: exit code, stdout
and stderr (the tree's own path in a message made the same)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT
from .test_revsame import main_code  # noqa: F401  (the fixture)

CASES: list[list[str]] = [
    [], ["--help"], ["-h"], ["--version"], ["templates"], ["templates", "--help"],
    ["spec", "--help"], ["spec", "export", "--help"], ["spec", "import", "--help"], ["spec", "diff", "--help"],
    ["new", "--help"], ["describe", "--help"], ["generate", "--help"], ["validate", "--help"], ["collect", "--help"],
    ["round", "--help"], ["round", "status", "--help"], ["round", "remind", "--help"], ["round", "annotate", "--help"],
    ["round", "withdraw", "--help"], ["round", "reinstate", "--help"],
    ["describe", "sh-project-self-eval"], ["describe", "cn-project-self-eval"],
    ["describe", "no-such-template"], ["describe", "sh-project-self-evl"], ["generate", "no-such-template", "-o", "x"],
    ["validate", "--template", "no-such-template", "nothing.xlsx"], ["describe", "{spec}"],
    ["describe", "{otherfamily}"], ["validate", "--template", "{otherfamily}", "nothing.xlsx"], ["nosuchcommand"], ["collect"], ["collect", "--jobs", "x", "."], ["generate"],
]


def _entry(tree: Path) -> str:
    """What the console script ``xltemplate`` runs, as the tree's setup.cfg names it (module:function)."""
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(tree / "setup.cfg", encoding="utf-8")
    lines = [ln.strip() for ln in cfg["options.entry_points"]["console_scripts"].splitlines() if ln.strip()]
    return next(ln.split("=", 1)[1].strip() for ln in lines if ln.split("=", 1)[0].strip() == "xltemplate")


def _run(code: Path | None, args: list[str], cwd: Path) -> tuple[int, str, str]:
    tree = code if code is not None else ROOT
    module, function = _entry(tree).split(":")
    env = {**os.environ, "PYTHONPATH": str(tree), "COLUMNS": "120"}
    script = f"import sys\nsys.argv[0] = 'xltemplate'\nfrom {module} import {function}\nsys.exit({function}())\n"
    got = subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True,
                         cwd=cwd, timeout=120)
    where = str(code if code is not None else ROOT)
    return got.returncode, got.stdout.replace(where, "<tree>"), got.stderr.replace(where, "<tree>")


@pytest.mark.parametrize("args", CASES, ids=lambda a: " ".join(a) or "(none)")
def test_a_command_says_what_it_said_before(args: list[str], main_code: Path, tmp_path: Path) -> None:  # noqa: F811
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nfields: [1, 2\n", encoding="utf-8")
    import yaml

    from xltemplate.catalog import templates_dir

    other = yaml.safe_load((templates_dir() / "sh-project-self-eval.yaml").read_text(encoding="utf-8"))
    other["family"] = "no-such-family"
    otherfamily = tmp_path / "other.yaml"
    otherfamily.write_text(yaml.safe_dump(other, allow_unicode=True), encoding="utf-8")
    args = [str(bad) if a == "{spec}" else str(otherfamily) if a == "{otherfamily}" else a for a in args]
    mine, theirs = _run(None, args, tmp_path), _run(main_code, args, tmp_path)
    assert mine == theirs


_RACE = r"""
import sys, threading, time
import xltemplate.families  # noqa: F401 (names the built-in families)
from xltemplate.form import family as fam
if not hasattr(fam, "known"):
    print("EAGER"); sys.exit(0)
assert "xltemplate.families.self_scored" not in sys.modules, "imported already"
real = fam._KNOWN["self-scored"]
def slow():  # an import that takes a while (a cold disk, a loaded machine: ~0.1-0.3 s here)
    time.sleep(0.5)
    real()
fam._KNOWN["self-scored"] = slow
got = {}
def look(n):
    got[n] = fam.family_named("self-scored")
threads = [threading.Thread(target=look, args=(n,)) for n in range(2)]
threads[0].start(); time.sleep(0.1); threads[1].start()
for t in threads: t.join()
print(sorted((n, type(f).__name__ if f is not None else None) for n, f in got.items()))
"""


def test_two_threads_asking_for_a_family_both_get_it() -> None:
    """A library user's two threads resolving specs of one family at once: the second must not be told there is no
    such family while the first imports it (lazyimp's form.family._loaded pops the family before importing it)."""
    got = subprocess.run([sys.executable, "-c", _RACE], env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert got.returncode == 0, got.stderr
    if got.stdout.strip() == "EAGER":
        return
    assert "None" not in got.stdout, got.stdout


_FAILED_ONCE = r"""
import sys
import xltemplate.families  # noqa: F401
from xltemplate.form import family as fam
if not hasattr(fam, "known"):
    print("EAGER"); sys.exit(0)
real = fam._KNOWN["rule-scored"]
calls = []
def once():  # the first import stopped (Ctrl-C, a file being replaced by an upgrade, a full memory)
    calls.append(1)
    if len(calls) == 1:
        raise KeyboardInterrupt
    real()
fam._KNOWN["rule-scored"] = once
try:
    fam.family_named("rule-scored")
except KeyboardInterrupt:
    pass
print(type(fam.family_named("rule-scored")).__name__, fam.family_ids())
"""


def test_a_family_whose_import_was_stopped_is_imported_when_next_asked() -> None:
    got = subprocess.run([sys.executable, "-c", _FAILED_ONCE], env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert got.returncode == 0, got.stderr
    if got.stdout.strip() == "EAGER":
        return
    assert got.stdout.split()[0] != "NoneType", got.stdout
    assert "rule-scored" in got.stdout


_ATTRS = r"""
import xltemplate
got = []
for name in ("catalog", "families", "spec", "form", "specbook", "errors", "version"):
    try:
        getattr(xltemplate, name)
        got.append(name)
    except AttributeError:
        pass
print(" ".join(got))
"""


def test_import_xltemplate_gives_the_submodules_it_gave(main_code: Path) -> None:  # noqa: F811
    """A library user's ``import xltemplate`` then ``xltemplate.spec.Spec`` / ``xltemplate.families.family_of`` /
    ``xltemplate.catalog.load_spec``: main's package imported those modules with itself, so they were its
    attributes; a lazy package must still give them (a module ``__getattr__`` importing the submodule asked for)."""
    def names(tree: Path) -> str:
        got = subprocess.run([sys.executable, "-c", _ATTRS], env={**os.environ, "PYTHONPATH": str(tree)},
                             capture_output=True, text=True, cwd=tree, timeout=120)
        assert got.returncode == 0, got.stderr
        return got.stdout.strip()

    assert names(ROOT) == names(main_code)
