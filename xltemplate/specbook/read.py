"""Read a spec workbook back into a spec's plain data, remembering where each value came from.

The cells are read (and each taken as the spec means it) by :mod:`.cells`; here blank rows are
skipped, a 类别 or 一级 left blank or merged down its rows is the row above's, and the problems only
the workbook can have (an unknown sheet or column, a header merged over a column that holds
data, an indicator naming no 类别) are found here; every other check is the spec checker's, and
:class:`.locate.Locator` puts its key paths back into sheet, row and column.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

from ..errors import Problem
from ..spec import DEFAULT_FAMILY
from ..text import did_you_mean
from .cells import Cells, clean, read_cells, spec_value
from .columns import (
    CATEGORIES, INDICATORS, LEVELS, SETTINGS, SHEETS, VALUE_HEADERS, VALUE_KEYS, Col, Sheet, example_row, sheet_named,
)
from .locate import Loc, Locator, col_letter
from .paths import set_path

#: The order of a spec's top-level keys in the YAML written from a workbook (as the built-in specs have them).
KEY_ORDER = ("id", "version", "family", "title", "sheet", "total", "fiscal_year", "fields", "categories", "money_unit",
             "funding", "goals", "levels", "blank_rows", "rules", "grades", "notes", "instructions", "summary")


# -- the workbook --------------------------------------------------------------------------------

def _header_key(h: Any) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(h))).lower() if h is not None else ""


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self.loc = Locator()
        self.data: dict[str, Any] = {}

    def problem(self, where: str, message: str, value: Any = None) -> None:
        self.problems.append(Problem(where, message, value))

    def read(self, book: list[Cells]) -> dict[str, Any]:
        known: dict[str, tuple[Sheet, Cells]] = {}
        for cells in book:
            sheet = sheet_named(_header_key(cells.name)) or sheet_named(cells.name)
            if sheet is None:
                names = [s.zh for s in SHEETS] + [s.key for s in SHEETS]
                hint = did_you_mean(cells.name.strip(), names, cutoff=0.5)
                extra = f"是否想写“{hint}”？" if hint else f"可用的工作表：{'、'.join(s.zh for s in SHEETS)}"
                self.problem(f"工作表“{cells.name}”", f"不认识这个工作表名称；{extra}（用不到的工作表请删除）", cells.name)
                continue
            if sheet.key in {s.key for s, _ in known.values()}:
                self.problem(f"工作表“{cells.name}”", f"与工作表“{[c.name for s, c in known.values() if s is sheet][0]}”是同一张表；请只留一张", cells.name)
                continue
            known[sheet.key] = (sheet, cells)
        if SETTINGS.key in known:
            self.value_sheet(*known.pop(SETTINGS.key))
        else:
            self.problem("", "缺少“设置”工作表（模板编号、版本、标题等）")
        family = self.data.get("family", DEFAULT_FAMILY)
        for sheet, cells in known.values():
            if isinstance(family, str) and family not in sheet.families:
                if any(any(clean(v) is not None for v in r) for _, r in cells.rows[1:]):
                    self.problem(f"工作表“{cells.name}”", f"表式为 {family} 的模板没有“{sheet.zh}”表：请删除此表，或把“设置”中的“表式”改为 "
                                                       f"{'、'.join(sheet.families)}", cells.name)
                continue
            if sheet.values:
                self.value_sheet(sheet, cells)
            else:
                self.table_sheet(sheet, cells, known)
        return {k: self.data[k] for k in sorted(self.data, key=lambda k: KEY_ORDER.index(k) if k in KEY_ORDER else 99)}

    # -- headers -----------------------------------------------------------------------------------
    def header(self, sheet: Sheet, cells: Cells, names: dict[str, Any]) -> tuple[int, dict[int, Any]] | None:
        """The header row's number and its columns (0-based index → what the names map it to)."""
        data_rows = [(n, r) for n, r in cells.rows if any(clean(v) is not None for v in r)]
        if not data_rows:
            return None
        hrow, header = data_rows[0]
        cols: dict[int, Any] = {}
        seen: dict[Any, str] = {}
        merged = [m for m in cells.merged if m[0] <= hrow <= m[2] and m[3] > m[1]]
        for c, h in enumerate(header):
            h = clean(h)
            letter = col_letter(c)
            if h is None:
                continue
            found = names.get(_header_key(h))
            if found is None:
                hint = did_you_mean(str(h), [k for k in names if not k.isascii()] or list(names), cutoff=0.5)
                extra = f"是否想写“{hint}”？" if hint else f"可用的列：{'、'.join(k for k in names if not k.isascii())}"
                self.problem(f"{cells.name} {letter}{hrow}", f"不认识的列名“{h}”；{extra}", h)
                continue
            if found in seen:
                self.problem(f"{cells.name} {letter}{hrow}", f"列名“{h}”与“{seen[found]}”重复；每一项只写一列", h)
                continue
            seen[found] = str(h)
            cols[c] = found
        for m in merged:  # a header merged over several columns: only the first has a name
            for c in range(m[1], m[3]):  # 0-based index of the 2nd..last column of the range
                if any(c < len(r) and clean(r[c]) is not None for n, r in cells.rows if n > hrow):
                    self.problem(f"{cells.name} {col_letter(m[1] - 1)}{hrow}:{col_letter(m[3] - 1)}{hrow}",
                                 f"标题单元格合并了多列，而第 {col_letter(c)} 列有内容、没有列名；请取消合并，每列写一个列名")
                    break
        for c in range(max((len(r) for _, r in cells.rows), default=0)):
            if c in cols or (c < len(header) and clean(header[c]) is not None) or any(c in range(m[1], m[3]) for m in merged):
                continue
            if any(c < len(r) and clean(r[c]) is not None for n, r in cells.rows if n > hrow):
                self.problem(f"{cells.name} {col_letter(c)} 列", "有内容但没有列名；请写上列名或删除这一列")
        return hrow, cols

    # -- a value sheet (设置, 规则, 汇总) -----------------------------------------------------------------
    def value_sheet(self, sheet: Sheet, cells: Cells) -> None:
        names: dict[str, Any] = {}
        for h, k in zip(VALUE_HEADERS, VALUE_KEYS):
            names[_header_key(h)] = k
            names[k] = k
        found = self.header(sheet, cells, names)
        self.loc.sheet(sheet, cells.name)
        if found is None:
            return
        hrow, cols = found
        by_name = {c: k for c, k in cols.items()}
        item_c = next((c for c, k in by_name.items() if k == "item"), None)
        value_c = next((c for c, k in by_name.items() if k == "value"), None)
        if item_c is None or value_c is None:
            self.problem(f"工作表“{cells.name}”", f"第 {hrow} 行应是列名：{'、'.join(VALUE_HEADERS[:2])}")
            return
        items = {_header_key(c.zh): c for c in sheet.cols}
        items.update({_header_key(c.key): c for c in sheet.cols})
        items.update({_header_key(c.key.split(".")[-1]): c for c in sheet.cols if c.key.split(".")[-1] not in items})
        seen: dict[str, int] = {}
        for n, row in cells.rows:
            if n <= hrow:
                continue
            name = clean(row[item_c]) if item_c < len(row) else None
            value = clean(row[value_c]) if value_c < len(row) else None
            if name is None:
                if value is not None:
                    self.problem(f"{cells.name} 第 {n} 行", f"“值”为“{value}”，但没有写是哪一项（“项目”列为空）")
                continue
            col = items.get(_header_key(name))
            if col is None:
                hint = did_you_mean(str(name), [c.zh for c in sheet.cols], cutoff=0.5)
                extra = f"是否想写“{hint}”？" if hint else f"可用：{'、'.join(c.zh for c in sheet.cols)}"
                self.problem(f"{cells.name} 第 {n} 行 “项目”", f"不认识的项“{name}”；{extra}", name)
                continue
            if col.key in seen:
                self.problem(f"{cells.name} 第 {n} 行 “项目”", f"“{col.zh}”在第 {seen[col.key]} 行已写过；每项只写一行", name)
                continue
            seen[col.key] = n
            self.loc.add(col.key, Loc(cells.name, n, col.zh, value))
            if value is not None:
                set_path(self.data, col.key, spec_value(col, value))

    # -- a table --------------------------------------------------------------------------------------
    def table_sheet(self, sheet: Sheet, cells: Cells, known: dict[str, tuple[Sheet, Cells]]) -> None:
        names: dict[str, Any] = {}
        for c in sheet.cols:
            names[_header_key(c.zh)] = c
            if c.key:
                names[_header_key(c.key)] = c
                names.setdefault(_header_key(c.key.split(".")[-1]), c)
            else:
                names["text"] = c
        self.loc.sheet(sheet, cells.name)
        found = self.header(sheet, cells, names)
        records: list[tuple[int, dict[Col, Any]]] = []
        if found is not None:
            hrow, cols = found
            for n, row in cells.rows:
                if n <= hrow:
                    continue
                rec = {cols[c]: clean(v) for c, v in enumerate(row) if c in cols and clean(v) is not None}
                if not rec:
                    continue  # a blank row: skipped
                first = clean(row[0]) if row else None
                if isinstance(first, str) and first.startswith("示例"):
                    # the grey example row under the header: skipped while it is the example; typed into, refused
                    # (a value there would otherwise be dropped without a word)
                    example = {col: clean(v) for col, v in zip(sheet.cols, example_row(sheet)) if clean(v) is not None}
                    if {col: str(v) for col, v in rec.items()} != example:
                        self.problem(f"{cells.name} 第 {n} 行", "这是示例行（第一格以“示例”开头），其中的内容不会读入；"
                                                             "要加一行请写在下面的空行，或把第一格改为实际内容")
                    continue
                records.append((n, rec))
        if sheet is INDICATORS:
            self.indicators(sheet, cells, records)
        elif sheet is LEVELS:
            self.levels(sheet, cells, records)
        elif sheet is CATEGORIES:
            self.items(sheet, cells, records)
            for cat in self.data.get("categories", []):
                cat.setdefault("indicators", [])
        else:
            self.items(sheet, cells, records)

    def items(self, sheet: Sheet, cells: Cells, records: list[tuple[int, dict[Col, Any]]]) -> None:
        out: list[Any] = []
        for k, (n, rec) in enumerate(records):
            path = f"{sheet.path}[{k}]"
            self.loc.add(path, Loc(cells.name, n, None, None))
            if not sheet.cols[0].key:  # a list of texts
                out.append(spec_value(sheet.cols[0], next(iter(rec.values()))))
                continue
            item: dict[str, Any] = {}
            for col, v in rec.items():
                item[col.key] = spec_value(col, v)
                self.loc.add(f"{path}.{col.key}", Loc(cells.name, n, col.zh, v))
                if col.kind == "id":
                    self.loc.ident(item[col.key], Loc(cells.name, n, col.zh, v))
            out.append(item)
        if records or sheet.path in ("fields", "categories", "grades"):
            set_path(self.data, sheet.path, out)

    def indicators(self, sheet: Sheet, cells: Cells, records: list[tuple[int, dict[Col, Any]]]) -> None:
        cats = [c for c in self.data.get("categories", []) if isinstance(c, dict)]
        by_name = {str(c.get("name")): k for k, c in reversed(list(enumerate(cats)))}
        by_id = {str(c.get("id")): k for k, c in enumerate(cats)}
        ref_col = sheet.cols[0]
        current: int | None = None
        for n, rec in records:
            ref = rec.pop(ref_col, None)
            if ref is not None:
                ref_s = str(spec_value(ref_col, ref))
                current = by_id.get(ref_s, by_name.get(ref_s))
                if current is None:
                    hint = did_you_mean(ref_s, list(by_name) + list(by_id), cutoff=0.5)
                    extra = f"是否想写“{hint}”？" if hint else f"“类别”表中的类别：{'、'.join(str(c.get('name')) for c in cats) or '无'}"
                    self.problem(f"{cells.name} 第 {n} 行 “{ref_col.zh}”", f"没有名称或编号为“{ref}”的类别；{extra}", ref)
                    continue
            elif current is None:
                self.problem(f"{cells.name} 第 {n} 行 “{ref_col.zh}”", "没有写指标所属的类别；请从下拉列表选择")
                continue
            inds = cats[current].setdefault("indicators", [])
            path = f"categories[{current}].indicators[{len(inds)}]"
            self.loc.add(path, Loc(cells.name, n, None, None))
            item = {}
            for col, v in rec.items():
                item[col.key] = spec_value(col, v)
                self.loc.add(f"{path}.{col.key}", Loc(cells.name, n, col.zh, v))
                if col.kind == "id":
                    self.loc.ident(item[col.key], Loc(cells.name, n, col.zh, v))
            inds.append(item)

    def levels(self, sheet: Sheet, cells: Cells, records: list[tuple[int, dict[Col, Any]]]) -> None:
        levels: list[dict[str, Any]] = []
        level_cols = [c for c in sheet.cols if not c.key.startswith("sublevels.")]
        for n, rec in records:
            head = {c: rec[c] for c in level_cols if c in rec}
            hid = spec_value(level_cols[0], head[level_cols[0]]) if level_cols[0] in head else None
            hname = spec_value(level_cols[1], head[level_cols[1]]) if level_cols[1] in head else None
            # the 一级 written again on its next rows (not left blank or merged) continues it
            same = bool(levels) and (hid == levels[-1].get("id") if hid is not None else hname == levels[-1].get("name"))
            if head and not same:
                path = f"levels[{len(levels)}]"
                self.loc.add(path, Loc(cells.name, n, None, None))
                level: dict[str, Any] = {"sublevels": []}
                for col, v in head.items():
                    level[col.key] = spec_value(col, v)
                    self.loc.add(f"{path}.{col.key}", Loc(cells.name, n, col.zh, v))
                    if col.kind == "id":
                        self.loc.ident(level[col.key], Loc(cells.name, n, col.zh, v))
                levels.append(level)
            elif not levels:
                self.problem(f"{cells.name} 第 {n} 行", "二级指标前没有一级指标：请在这一行或上面写一级编号、名称和分值")
                continue
            sub = {c.key.split(".", 1)[1]: (c, v) for c, v in rec.items() if c.key.startswith("sublevels.")}
            if sub:
                k = len(levels) - 1
                path = f"levels[{k}].sublevels[{len(levels[-1]['sublevels'])}]"
                self.loc.add(path, Loc(cells.name, n, None, None))
                item = {}
                for key, (col, v) in sub.items():
                    item[key] = spec_value(col, v)
                    self.loc.add(f"{path}.{key}", Loc(cells.name, n, col.zh, v))
                    if col.kind == "id":
                        self.loc.ident(item[key], Loc(cells.name, n, col.zh, v))
                levels[-1]["sublevels"].append(item)
        if records:
            self.data["levels"] = levels


def read_specbook(path: str | Path) -> tuple[dict[str, Any], Locator, list[Problem]]:
    """A spec workbook's data, where each value came from, and the problems only a workbook can have."""
    path = Path(path)
    reader = _Reader(str(path))
    data = reader.read(read_cells(path))
    return data, reader.loc, reader.problems
