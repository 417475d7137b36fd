"""Reading a targets table for generate with each distinct text parsed once (rule_scored.targets.REMEMBER_PARSED):
the same targets and the same problems, line by line, as parsing every cell."""

from __future__ import annotations

import importlib
from decimal import Decimal
from typing import Any

import pytest

from xltemplate.catalog import load_spec, templates_dir
from xltemplate.roster import read_roster
from xltemplate.targets import read_targets

from .conftest import SAMPLES

targets = importlib.import_module("xltemplate.families.rule_scored.targets")

HEADER = ["编号", "一级指标", "二级指标", "三级指标", "指标性质", "计量单位", "年度指标值", "分值"]


def _records() -> list[tuple[int, list[Any]]]:
    """Rows whose 年度指标值 and 分值 repeat, as texts and as numbers, good and bad, with one text in two units."""
    texts = ["12", "95", " 95 ", "９５", "95%", "1,200", "abc", "", "-3", "1e400", "300天", "3天"]
    points = ["8", "7", " 8 ", "８", "-1", "x", "", "7.5", "0"]
    units = ["个", "%", "天", "万元", ""]
    rows: list[tuple[int, list[Any]]] = []
    line = 2
    for n in range(240):
        key = f"K{n % 6:02d}"
        target: Any = texts[n % len(texts)] if n % 5 else [12, 95.0, Decimal("7"), None][n % 4]
        point: Any = points[n % len(points)] if n % 7 else [8, 7.0, None][n % 3]
        kind = ["≥", "≤", "=", "定性", "?"][n % 5]
        rows.append((line, [key, "产出指标", "数量指标", f"指标{n}", kind, units[n % len(units)], target, point]))
        line += 1
    return rows


def _read(monkeypatch: pytest.MonkeyPatch, on: bool) -> tuple[Any, Any, int]:
    spec = load_spec(templates_dir() / "cn-project-self-eval.yaml")
    calls = {"n": 0}
    measure, number = targets.parse_measure, targets.parse_number

    def counted_measure(*a: Any) -> Any:
        calls["n"] += 1
        return measure(*a)

    def counted_number(*a: Any) -> Any:
        calls["n"] += 1
        return number(*a)

    monkeypatch.setattr(targets, "REMEMBER_PARSED", on)
    monkeypatch.setattr(targets, "parse_measure", counted_measure)
    monkeypatch.setattr(targets, "parse_number", counted_number)
    by_key, problems = targets.read(spec, HEADER, _records())
    return by_key, problems, calls["n"]


def test_texts_parsed_once_read_the_same_targets_and_problems(monkeypatch: pytest.MonkeyPatch) -> None:
    off_targets, off_problems, off_calls = _read(monkeypatch, False)
    on_targets, on_problems, on_calls = _read(monkeypatch, True)
    assert on_targets == off_targets and on_problems == off_problems
    assert len(off_problems) > 50 and off_targets  # (good rows and many bad ones, each named by its line)
    assert on_calls < off_calls / 3  # the texts were parsed once each


def test_the_sample_targets_read_the_same_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = load_spec(templates_dir() / "cn-project-self-eval.yaml")
    roster = read_roster(SAMPLES / "national" / "roster.csv", spec)
    got = []
    for on in (False, True):
        monkeypatch.setattr(targets, "REMEMBER_PARSED", on)
        got.append(read_targets(SAMPLES / "national" / "targets.csv", spec, roster).by_key)
    assert got[0] == got[1] and len(got[0]) == len(roster.rows)
