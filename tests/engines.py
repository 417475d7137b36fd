"""Helpers shared by the real-engine tests (LibreOffice and Gnumeric)."""

from __future__ import annotations

import re
import warnings
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from xltemplate.families.self_scored.layout import Layout

_CELL = re.compile(r"<c\b([^>]*?)(/>|>(.*?)</c>)", re.S)
_VALUE = re.compile(r"<v>.*?</v>|<v/>", re.S)
_TYPE = re.compile(r'\st="[^"]*"')


def strip_cached_values(src: Path, dest: Path) -> Path:
    """Copy ``src`` without the cached result of any formula: an engine that shows a value computed it.

    Only the ``<v>`` (and the result type) of formula cells go; every other byte part stays as
    written, so the engine sees our file, not another writer's rendition of it.
    """

    def cell(m: re.Match[str]) -> str:
        attrs, inner = m.group(1), m.group(3)
        if inner is None or "<f" not in inner:
            return m.group(0)
        return f"<c{_TYPE.sub('', attrs)}>{_VALUE.sub('', inner)}</c>"

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml"):
                data = _CELL.sub(cell, data.decode("utf-8")).encode("utf-8")
            zout.writestr(info, data)
    return dest


def formula_cells(path: Path) -> dict[tuple[str, str], tuple[str, Any]]:
    """(sheet, A1) → (formula, cached value) for every formula cell of every sheet."""
    with warnings.catch_warnings():
        # Gnumeric's .xlsx has no default cell style; openpyxl says so and supplies its own.
        warnings.filterwarnings("ignore", "Workbook contains no default style")
        formulas = openpyxl.load_workbook(path)
        values = openpyxl.load_workbook(path, data_only=True)
    out = {}
    for ws in formulas.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if c.data_type == "f":  # a formula; a text cell may hold "=" (the 指标性质 of an = indicator)
                    out[(ws.title, c.coordinate)] = (c.value, values[ws.title][c.coordinate].value)
    return out


def same_value(engine: Any, expected: Any) -> bool:
    """An engine's result against ours: texts exactly, numbers to 12 significant digits.

    Engines add in binary floating point, we add in decimal and round once. An empty text
    result is written two ways: XlsxWriter (our cache) writes ``t="str"`` with an empty
    ``<v>``, which openpyxl reads as None; Gnumeric writes every text result, the empty one
    too, as a shared string, read as "". A formula cannot show "no value", so both mean "".
    """
    if expected in (None, "") or engine in (None, ""):
        return engine in (None, "") and expected in (None, "")
    if isinstance(expected, (int, float, Decimal)) and not isinstance(expected, bool):
        return isinstance(engine, (int, float)) and not isinstance(engine, bool) and engine == pytest.approx(float(expected), rel=1e-12, abs=1e-12)
    return engine == expected


def scores_for_total(layout: Layout, total: Decimal) -> dict[str, float]:
    """Scores on the fixed indicators adding up to ``total`` (full marks, then points taken off)."""
    values: dict[str, float] = {}
    missing = Decimal(100) - total
    for r in layout.rows:
        if r.indicator is None or r.spec_weight is None:
            continue
        take = min(missing, r.spec_weight)
        values[r.score.name] = float(r.spec_weight - take)
        missing -= take
    assert missing == 0
    return values


BAND_EDGES = [("59.9", "不合格"), ("60", "合格"), ("74.9", "合格"), ("75", "良好"), ("89.9", "良好"), ("90", "优秀"), ("100", "优秀")]
