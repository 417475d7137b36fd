"""The first family's spec: categories (一级指标) of indicators with weights, scored by the unit.

``categories`` is this family's key: each category has points, fixed or flexible weights, its
indicators (a blank weight means 不适用) and the rows a unit may add (``extra_rows``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable, Mapping

from ...spec import Spec, SpecChecker, join_path
from ...text import plain_number

KEYS = {"categories": True}
_CATEGORY_KEYS = {
    "id": True, "name": True, "points": True, "weights": False, "extra_rows": False,
    "indicators": True,
}
_INDICATOR_KEYS = {"id": True, "name": True, "explanation": False, "weight": False}


@dataclass(frozen=True)
class Indicator:
    """One row of the indicator table; ``weight`` None means 不适用 (not applicable)."""

    id: str
    name: str
    explanation: str = ""
    weight: Decimal | None = None


@dataclass(frozen=True)
class Category:
    """A 一级指标 with its points, its indicators and the rows a unit may add."""

    id: str
    name: str
    points: Decimal
    weights: str  # "fixed" or "flexible"
    extra_rows: int
    indicators: tuple[Indicator, ...]

    @property
    def fixed(self) -> bool:
        return self.weights == "fixed"


@dataclass(frozen=True)
class ScoredSpec(Spec):
    """A spec of the self-scored family: the generic spec and its categories."""

    categories: tuple[Category, ...] = ()

    @property
    def indicators(self) -> Iterable[tuple[Category, Indicator]]:
        for c in self.categories:
            for i in c.indicators:
                yield c, i


def parse(data: Mapping[str, Any], checker: SpecChecker, total: Decimal | None) -> tuple[dict[str, Any], list[str]]:
    """The categories, and every id they declare (categories and indicators)."""
    categories = _categories(checker, data.get("categories"), total)
    ids = [c.id for c in categories] + [i.id for c in categories for i in c.indicators]
    return {"categories": tuple(categories)}, ids


def _categories(ck: SpecChecker, value: Any, total: Decimal | None) -> list[Category]:
    if not isinstance(value, list) or not value:
        ck.err("categories", "至少要有一个类别", value)
        return []
    out = []
    for n, raw in enumerate(value):
        path = f"categories[{n}]"
        if not ck.keys(raw, _CATEGORY_KEYS, path):
            continue
        cid = ck.ident(raw, path)
        name = ck.text(raw, "name", path, limit=60)
        points = ck.number(raw, "points", path) or Decimal(0)
        weights = raw.get("weights", "fixed")
        if weights not in ("fixed", "flexible"):
            ck.err(join_path(path, "weights"), f"权重方式应为 固定（fixed）或 可调（flexible），这里是“{weights}”", weights)
        extra = raw.get("extra_rows", 0)
        if not isinstance(extra, int) or isinstance(extra, bool) or not 0 <= extra <= 50:
            ck.err(join_path(path, "extra_rows"), f"应为 0 至 50 的整数，这里是“{extra}”", extra)
            extra = 0
        if weights == "fixed" and extra:
            ck.err(join_path(path, "extra_rows"), f"类别“{name}”的权重固定，不能留自定义行（新增指标的权重永远凑不齐）；请把权重方式改为可调", extra)
        indicators = []
        raw_inds = raw.get("indicators")
        if not isinstance(raw_inds, list) or not raw_inds:
            ck.err(join_path(path, "indicators"), f"类别“{name}”至少要有一个指标", raw_inds)
            raw_inds = []
        for k, ri in enumerate(raw_inds):
            ipath = f"{path}.indicators[{k}]"
            if not ck.keys(ri, _INDICATOR_KEYS, ipath):
                continue
            weight = ck.number(ri, "weight", ipath, allow_none=True)
            if weight is not None and weight > points:
                ck.err(join_path(ipath, "weight"), f"权重 {plain_number(weight)} 大于类别“{name}”的分值 {plain_number(points)}", weight)
            indicators.append(Indicator(
                id=ck.ident(ri, ipath), name=ck.text(ri, "name", ipath, limit=200),
                explanation=ck.text(ri, "explanation", ipath, required=False, limit=2000),
                weight=weight,
            ))
        wsum = sum((i.weight or Decimal(0) for i in indicators), Decimal(0))
        if weights == "fixed" and indicators and wsum != points:
            ck.err(join_path(path, "indicators"), f"类别“{name}”的权重合计 {plain_number(wsum)}，应为 {plain_number(points)}（权重固定时须等于本类分值）", wsum)
        if weights == "flexible" and wsum > points:
            ck.err(join_path(path, "indicators"), f"类别“{name}”的默认权重合计 {plain_number(wsum)}，超过本类分值 {plain_number(points)}", wsum)
        out.append(Category(id=cid, name=name, points=points, weights=str(weights), extra_rows=extra, indicators=tuple(indicators)))
    psum = sum((c.points for c in out), Decimal(0))
    if total is not None and out and psum != total:
        ck.err("categories", f"各类别分值合计 {plain_number(psum)}，应为总分 {plain_number(total)}", psum)
    return out
