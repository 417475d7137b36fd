"""What ``describe --json`` says exists is exactly what the workbook defines, both ways."""

from __future__ import annotations

import html
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from xltemplate.cli import main
from xltemplate.distribute import distribute
from xltemplate.form.generate import generate_workbook
from xltemplate.families.self_scored.layout import Layout
from xltemplate.roster import read_roster
from xltemplate.spec import Spec

from tests.conftest import SAMPLES

_NAME = re.compile(r'<definedName\b([^>]*)>(.*?)</definedName>', re.S)
_REF = re.compile(r"^'?(?P<sheet>(?:[^']|'')+?)'?!\$(?P<col>[A-Z]+)\$(?P<row>\d+)$")


def workbook_names(path: Path) -> dict[str, tuple[str, str]]:
    """Every workbook-level defined name in workbook.xml → (sheet, A1); Excel's own _xlnm. names aside."""
    with zipfile.ZipFile(path) as z:
        xml = z.read("xl/workbook.xml").decode("utf-8")
    out = {}
    for attrs, text in _NAME.findall(xml):
        name = re.search(r'name="([^"]*)"', attrs).group(1)
        if name.startswith("_xlnm."):
            continue  # print area and titles: Excel's built-in names, not part of the layout
        assert "localSheetId" not in attrs, name
        m = _REF.match(html.unescape(text))
        assert m, (name, text)
        assert name not in out, f"{name} defined twice"
        out[name] = (m["sheet"].replace("''", "'"), f"{m['col']}{m['row']}")
    return out


def described_names(info: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Every (name → sheet, cell) that describe's JSON promises, wherever it appears."""
    out: dict[str, tuple[str, str]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            name = node.get("name") if "cell" in node and "sheet" in node else None
            name = node.get("defined_name", name)
            if isinstance(name, str):
                where = (node["sheet"], node["cell"])
                assert out.get(name, where) == where, f"describe puts {name} in two places"
                out[name] = where
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(info)
    return out


@pytest.fixture(scope="module")
def described() -> dict[str, tuple[str, str]]:
    result = CliRunner().invoke(main, ["describe", "sh-project-self-eval", "--json"])
    assert result.exit_code == 0, result.output
    return described_names(json.loads(result.output))


@pytest.fixture(scope="module")
def workbooks(spec: Spec, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("describe")
    roster = distribute(spec, read_roster(SAMPLES / "roster.csv", spec), tmp / "roster", jobs=1)
    return {"blank": generate_workbook(spec, tmp / "blank.xlsx").path, "roster": roster.files[0].path}


@pytest.mark.parametrize("kind", ["blank", "roster"])
def test_describe_lists_exactly_the_defined_names(described: dict, workbooks: dict[str, Path], kind: str) -> None:
    defined = workbook_names(workbooks[kind])
    assert sorted(set(described) - set(defined)) == []  # promised but missing
    assert sorted(set(defined) - set(described)) == []  # defined but not described
    assert {n: defined[n] for n in described if defined[n] != described[n]} == {}  # same destinations


def test_every_row_cell_is_named_and_described(spec: Spec, described: dict) -> None:
    layout = Layout(spec)
    # 15 fields; per row name, explanation, weight, score, remark, check; 3 per category; 3 totals
    rows = sum(len(c.rows) for c in layout.categories)
    assert len(described) == len(spec.fields) + 6 * rows + 3 * len(layout.categories) + 3
    for r in layout.rows:
        if r.indicator is not None:
            assert described[f"ind_{r.id}_explanation"] == (spec.sheet, r.explanation.a1)
