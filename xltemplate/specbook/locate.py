"""The spec checker's key paths in a spec workbook's own coordinates: sheet, row and column header.

The reader records where each value of the spec's data came from (``categories[1].indicators[2].weight``
← 指标 row 7, column 权重); :meth:`Locator.problems` turns every problem the checker found into
``指标 第 7 行 “权重”：“８分” 不是数字``. There is no second checker: the messages are the checker's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import Problem
from ..spec import MISSING
from .columns import LEVELS, SHEETS, Sheet

_SEGMENT = re.compile(r"\[\d+\]|[^.\[\]]+")


def col_letter(index: int) -> str:
    """A 0-based column index as Excel names it: 0 → A, 27 → AB."""
    out = ""
    n = index + 1
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(65 + r) + out
    return out


@dataclass(frozen=True)
class Loc:
    """Where a value came from: the sheet (as named in the workbook), its row, the column's header, the cell as typed."""

    sheet: str
    row: int | None
    header: str | None
    value: Any

    def text(self) -> str:
        if self.row is None:
            return f"“{self.sheet}”表"
        return f"{self.sheet} 第 {self.row} 行" + (f" “{self.header}”" if self.header else "")


def _join(segments: list[str]) -> str:
    out = ""
    for s in segments:
        out += s if s.startswith("[") or not out else f".{s}"
    return out


@dataclass
class Locator:
    """Key path → where in the workbook; filled by the reader."""

    locs: dict[str, Loc] = field(default_factory=dict)
    ids: dict[Any, list[Loc]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # sheet key → its name in the workbook

    def add(self, path: str, loc: Loc) -> None:
        self.locs[path] = loc

    def sheet(self, sheet: Sheet, name: str) -> None:
        self.names[sheet.key] = name
        if not sheet.values:
            self.locs[sheet.path.replace("[]", "")] = Loc(name, None, None, None)

    def ident(self, value: Any, loc: Loc) -> None:
        self.ids.setdefault(value, []).append(loc)

    # -- key path → coordinates ------------------------------------------------------------------
    def where(self, path: str) -> Loc | None:
        """The cell (or row, or sheet) a checker's key path points at; None when the workbook has no place for it."""
        segments = _SEGMENT.findall(path)
        for k in range(len(segments), 0, -1):
            prefix = _join(segments[:k])
            loc = self.locs.get(prefix)
            if loc is None:
                continue
            rest = segments[k:]
            if loc.row is not None and loc.header is None and rest and not rest[0].startswith("["):
                return Loc(loc.sheet, loc.row, self._header(prefix, rest[0]), None)
            return loc
        return self._unplaced(path)

    def _header(self, item_path: str, key: str) -> str | None:
        pattern = re.sub(r"\[\d+\]", "[]", item_path)
        if pattern.endswith("[]"):
            pattern = pattern[:-2]
        for sheet in SHEETS:
            if sheet.path == pattern:
                col = sheet.col(key)
                return col.zh if col else None
        if pattern == "levels[].sublevels":
            col = LEVELS.col(f"sublevels.{key}")
            return col.zh if col else None
        return None

    def _unplaced(self, path: str) -> Loc | None:
        """A key the workbook does not have at all: the value-sheet row to add, or the sheet that is missing."""
        for sheet in SHEETS:
            name = self.names.get(sheet.key, sheet.zh)
            if sheet.values:
                for col in sheet.cols:
                    if path == col.key or path.startswith(col.key + ".") or path.startswith(col.key + "["):
                        return Loc(name, None, col.zh, None)
            elif path == sheet.path or sheet.path.startswith(path + "."):
                return Loc(name, None, None, None)
        for sheet in SHEETS:  # a group of settings left out altogether (goals): its rows
            group = [col.zh for col in sheet.cols if sheet.values and col.key.startswith(path + ".")]
            if group:
                return Loc(self.names.get(sheet.key, sheet.zh), None, "、".join(group), None)
        return None

    def problems(self, problems: list[Problem]) -> list[Problem]:
        """The checker's problems, each at its place in the workbook (the message unchanged but for "missing")."""
        out = []
        for p in problems:
            loc = self.where(p.path) if p.path else None
            if not p.path and p.value is not None and len(self.ids.get(p.value, [])) > 1:
                loc = self.ids[p.value][1]  # a repeated id: at its second use
            message = p.message
            if loc is None:
                out.append(Problem(p.path, message, p.value))
                continue
            if loc.row is None and loc.header is not None:  # a value sheet's row that is not there
                where = f"{loc.sheet} “{loc.header}”"
                if message == MISSING and "、" in loc.header:
                    message = "缺少这几项：请在“项目”列逐项写上，在“值”列填写"
                elif message == MISSING:
                    message = f"缺少这一项：请在“项目”列写“{loc.header}”，在“值”列填写"
            elif loc.row is None:
                where = loc.text()
                if message == MISSING:
                    message = "缺少这张工作表或表中没有内容"
            else:
                where = loc.text()
                if message == MISSING:
                    message = "不能为空，请填写"
            out.append(Problem(where, message, loc.value if loc.value is not None else p.value))
        return out
