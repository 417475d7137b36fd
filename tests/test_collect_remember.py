"""What the roll-up asks of every row is worked out once (``collect.REMEMBER``): a return's file name and a
spec's rate operands. The roll-up, CSVs and --json are the same with it off, and a moved brief is seen."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from xltemplate.catalog import as_spec
from xltemplate.cli import main
from xltemplate.pathtext import shown
from .conftest import SAMPLES

collect_mod = importlib.import_module("xltemplate.rollup.collect")


def _run(args: list[str], out: Path) -> tuple[dict[str, bytes], dict]:
    (out / "csv").mkdir(parents=True)
    result = CliRunner().invoke(main, ["collect", *args, "-o", str(out / "汇总.xlsx"), "--export", str(out / "csv"),
                                       "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    got.pop("outputs")
    return {p.name: p.read_bytes() for p in [out / "汇总.xlsx", *sorted((out / "csv").iterdir())]}, got


@pytest.mark.parametrize("args", [
    [str(SAMPLES / "returns"), "--roster", str(SAMPLES / "roster.csv"), "--template", "sh-project-self-eval"],
    [str(SAMPLES / "national" / "returns"), "--roster", str(SAMPLES / "national" / "roster.csv"), "--targets",
     str(SAMPLES / "national" / "targets.csv")],
], ids=["first form", "national"])
def test_the_same_outputs_remembering_or_not(args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collect_mod, "REMEMBER", False)
    off = _run(args, tmp_path / "off")
    monkeypatch.setattr(collect_mod, "REMEMBER", True)
    on = _run(args, tmp_path / "on")
    assert on[1] == off[1] and len(on[0]) >= 4
    assert on[0] == off[0]


def test_a_returns_name_follows_its_path() -> None:
    with collect_mod.collect([SAMPLES / "returns"], "sh-project-self-eval") as c:
        ret = c.returns[0]
        assert ret.name == shown(Path(ret.path).name) and ret.file_name == Path(ret.path).name
        ret.brief = ret.brief.moved(str(Path("/elsewhere") / "其他 单位.xlsx"))
        assert ret.file_name == "其他 单位.xlsx" and ret.name == shown("其他 单位.xlsx")
        assert ret.candidate().name == "其他 单位.xlsx"


@pytest.mark.parametrize("template", ["sh-project-self-eval", "cn-project-self-eval"])
def test_rate_operands_are_those_of_the_spec_asked_about(template: str, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = as_spec(template)
    monkeypatch.setattr(collect_mod, "REMEMBER", False)
    fresh = collect_mod._rate_operands(spec)
    monkeypatch.setattr(collect_mod, "REMEMBER", True)
    assert collect_mod._rate_operands(spec) == fresh == collect_mod._rate_operands(spec)
    assert len(fresh) == 2
