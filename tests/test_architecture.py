"""The package's import graph: no circles, and no module importing one from a higher layer.

Every import counts, at the top of a module or inside a function (a "late" import is still a
dependency), except those under ``if TYPE_CHECKING:``, which exist only for the type checker.
:data:`LAYERS` is the architecture, lowest first: a module may import modules of its own layer
and of lower ones. A new module must be given a layer here, so the map stays complete.
"""

from __future__ import annotations

import ast
from pathlib import Path

from .conftest import ROOT

PACKAGE = ROOT / "xltemplate"

#: Lowest first. Each entry is one layer: modules (without the ``xltemplate.`` prefix) separated by spaces.
LAYERS = [
    # foundations: nothing about forms, files or spreadsheets
    "version clock jsonvalue pathtext printing signals words values submission meta resubmission shaped lazynames",
    "text inputs",
    "findings",
    "errors",
    "results outputs sign workers",
    "fsutil report",
    # the one place a text enters an XlsxWriter worksheet (every writer of a workbook, above, uses it)
    "sheettext",
    # the collection ledger's storage (SQLite and the archive): knows files, reports and units, no form
    "ledger.archive ledger.lock ledger.schema",
    "ledger.model",
    "ledger.queries",
    "ledger.withdrawals",
    "ledger.store",
    "ledger",
    # reading a returned file: sniff, resolve parts, read cells (fast and reference), one dispatch
    "readers.display readers.sniff",
    "readers.package",
    "readers.xmltext readers.properties",
    "readers.sheet_general readers.sheet_strict",
    "readers.sheet",
    "readers.fast",
    "readers.reference",
    "readers",
    "annotate",
    # the form every family shares
    "spec form form.family",
    "form.layout form.prompts",
    "form.formulas form.sheet",
    "form.lean",
    # validation's frozen context and the checks every family gets
    "normalise",
    "checks",
    # the families of forms (each reached only through form.family's protocol and registry)
    "families.self_scored.spec",
    "families.self_scored.layout",
    "families.self_scored.formulas families.self_scored.prompts",
    "families.self_scored.write families.self_scored.checks",
    "families.self_scored",
    "families.rule_scored.rules",
    "families.rule_scored.funding families.rule_scored.spec",
    "families.rule_scored.layout families.rule_scored.targets",
    "families.rule_scored.formulas families.rule_scored.prompts",
    "families.rule_scored.write families.rule_scored.checks",
    "families.rule_scored",
    "families",
    # the spec workbook (read and written below the catalog, which loads a .xlsx spec through it)
    "specbook.columns specbook.paths",
    "specbook.cells specbook.locate",
    "specbook.read specbook.write",
    "specbook.diff specbook",
    # templates, and what is made of them
    "catalog",
    "specbook.convert form.generate roster",
    "targets",
    "identify distribute",
    "validate",
    "batch",
    "rollup.record rollup.spill rollup.units",
    "rollup.tables",
    "rollup.collect rollup.lean",
    "rollup.reuse rollup.split",
    "rollup.deflate",
    "rollup.workbook",
    "rollup",
    # a collection round kept by a ledger: collect through it, and the clerk's round commands
    "rounds.preflight rounds.view",
    "rounds.run",
    "rounds.status rounds.remind rounds.back rounds.withdraw",
    "rounds",
    "__init__",
    "cli",
]


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(parts[:-1]) if parts[-1] == "__init__" else ".".join(parts)
        out[name or "__init__"] = path
    return out


def _typing_only(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports at run time."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = {id(n) for node in ast.walk(tree) if _typing_only(node) for n in ast.walk(node)}
    here = [] if name == "__init__" else name.split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.startswith("xltemplate"):
                target = node.module[len("xltemplate."):] if node.module != "xltemplate" else ""
            else:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}" if target else alias.name
                out.add(sub if sub in modules else (target or "__init__"))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("xltemplate."):
                    out.add(alias.name[len("xltemplate."):])
    out.discard(name)
    return {m for m in out if m in modules}


def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_every_module_has_a_layer_and_only_one() -> None:
    declared = [m for layer in LAYERS for m in layer.split()]
    assert len(declared) == len(set(declared)), "a module is in two layers"
    assert sorted(declared) == sorted(_modules()), (
        f"not in LAYERS: {sorted(set(_modules()) - set(declared))}; gone: {sorted(set(declared) - set(_modules()))}")


def test_no_import_circles() -> None:
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    circles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    assert not circles


def test_no_module_imports_from_a_higher_layer() -> None:
    level = {m: n for n, layer in enumerate(LAYERS) for m in layer.split()}
    wrong = [f"{m} (layer {level[m]}) imports {d} (layer {level[d]})"
             for m, deps in sorted(graph().items()) for d in sorted(deps) if level[d] > level[m]]
    assert not wrong, "\n".join(wrong)


def test_generic_code_reaches_a_family_only_through_the_registry() -> None:
    """Outside ``families/``, nothing imports a family's own modules: every family is reached through
    ``form.family`` (its protocol and registry), so generic code cannot branch on which family it is."""
    wrong = [f"{m} imports {d}" for m, deps in sorted(graph().items()) if not m.startswith("families")
             for d in sorted(deps) if d.startswith("families.")]
    assert not wrong, "\n".join(wrong)


def test_the_graph_sees_late_imports_and_skips_typing_only_ones(tmp_path: Path) -> None:
    """An import inside a function is a dependency like any other; one under TYPE_CHECKING is not."""
    modules = _modules()
    fake = tmp_path / "checks.py"
    fake.write_text("from typing import TYPE_CHECKING\n"
                    "if TYPE_CHECKING:\n    from .rollup import collect\n"
                    "def f():\n    from .cli import main\n    from . import batch\n", encoding="utf-8")
    assert _imports("checks", fake, modules) == {"cli", "batch"}
    assert "readers.sniff" in graph()["roster"]  # and the real package is read the same way
