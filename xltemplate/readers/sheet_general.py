"""The general path of the worksheet reader: expat with a handler on every element, which decides.

It resolves namespaces and applies every placement rule (see :mod:`xltemplate.readers.sheet`); the
split path hands it any sheet of an unusual shape, and always the part of a sheet outside
``<sheetData>`` (protection, merged ranges, anything misplaced).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import Unreadable
from ..submission import MAX_COLS, MAX_ROWS
from .package import SEP, STRICT_MAIN_NS, corrupt, strict_format
from .xmltext import (
    BEYOND_NAMES, CELL, F, IS, M, MAX_EXCEL_COL, MAX_EXCEL_ROW, MERGE, PHONETIC, PLACED, PROTECTION, REF, ROW, ROWNUM,
    RPH, RPR, RUN, SHEETDATA, T, TYPES, V, WORKSHEET, add_merge, col_index, col_letters, protection_on,
)

if TYPE_CHECKING:
    from .sheet import Sheet


class Structure:
    """Expat handlers for a worksheet: the placement rules everywhere, and (``cells``) the cells too."""

    def __init__(self, sheet: "Sheet", cells: bool) -> None:
        self.sheet, self.with_cells = sheet, cells
        self.stack: list[str] = []
        self.default_ns: str | None = None
        self.root = b""  # the root start tag as written (split path)
        self.sheetdata = 0
        # the row and cell being read (general path)
        self.row = self.last_row = self.col = 0
        self.beyond = False  # past MAX_ROWS: nothing more is read
        self.cell: dict[str, Any] | None = None
        self.seen: list[int] = []  # children of the current cell (f, v, is as 0, 1, 2), in order
        self.buf: list[str] | None = None  # text being collected
        self.inline: list[str] | None = None
        self.in_phonetic = False

    def namespace(self, prefix: str | None, uri: str) -> None:
        if prefix is None and not self.stack:
            self.default_ns = uri

    def _misplaced(self, tag: str) -> Unreadable:
        local = tag.rsplit(SEP, 1)[-1]
        where = self.stack[-1].rsplit(SEP, 1)[-1] if self.stack else "文档开头"
        return corrupt(self.sheet.part, f"中的 <{local[:40]}> 元素出现在不该出现的位置（{where[:40]} 之内），表格软件不会按此显示")

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        stack = self.stack
        if not stack:
            if tag == STRICT_MAIN_NS + SEP + "worksheet":
                raise strict_format()
            if tag != WORKSHEET:
                raise corrupt(self.sheet.part, "不是工作表")
            stack.append(tag)
            return
        parent = stack[-1]
        if self.cell is not None or (self.with_cells and parent in (SHEETDATA, ROW)):
            self._cell_start(tag, attrs, parent)
        else:
            places = PLACED.get(tag)
            if places is not None and parent not in places:
                raise self._misplaced(tag)
            if tag == SHEETDATA:
                self.sheetdata += 1
                if self.sheetdata > 1:
                    raise corrupt(self.sheet.part, "含有两个单元格区域（sheetData）")
            elif tag == PROTECTION:
                self.sheet.protections += 1
                if self.sheet.protections > 1:
                    raise corrupt(self.sheet.part, "含有两个工作表保护设置")
                self.sheet.protected = protection_on(self.sheet.part, attrs.get("sheet"))
            elif tag == MERGE:
                self._merge(attrs.get("ref", ""))
        stack.append(tag)

    def end(self, tag: str) -> None:
        self.stack.pop()
        if self.cell is not None:
            self._cell_end(tag)
        elif tag == ROW and self.with_cells:
            self.row = 0

    def text(self, data: str) -> None:
        if self.buf is not None:
            self.buf.append(data)
        elif self.with_cells and self.stack and self.stack[-1] in (SHEETDATA, ROW, CELL, IS, RUN) and data.strip():
            raise corrupt(self.sheet.part, f"的单元格区域中含有元素之外的文字“{data.strip()[:20]}”")

    def _merge(self, ref: str) -> None:
        add_merge(self.sheet, ref)

    # -- cells (general path) ------------------------------------------------------------------
    def _cell_start(self, tag: str, attrs: dict[str, str], parent: str) -> None:
        part = self.sheet.part
        if parent == SHEETDATA:
            if tag != ROW:
                raise self._misplaced(tag)
            if self.beyond:
                self._beyond(attrs, row=True)
                return
            raw = attrs.get("r")
            if raw is None:
                number = self.last_row + 1
            elif not ROWNUM.fullmatch(raw):
                raise corrupt(part, f"中的行号“{raw[:20]}”无效")
            else:
                number = int(raw)
            if number <= self.last_row:
                raise corrupt(part, f"中的第 {number} 行重复或顺序颠倒")
            if number > MAX_EXCEL_ROW:
                raise corrupt(part, f"中的行号 {number} 超出工作表范围")
            if number > MAX_ROWS:
                self.beyond = True
                return
            self.row = self.last_row = number
            self.col = 0
            return
        if parent == ROW:
            if tag != CELL:
                raise self._misplaced(tag)
            if self.beyond:
                self._beyond(attrs, row=False)
                return
            ref = attrs.get("r")
            if ref is None:
                col = self.col + 1
            else:
                m = REF.fullmatch(ref)
                if m is None:
                    raise corrupt(part, f"中的单元格引用“{ref[:20]}”不是 Excel 的写法")
                if int(m.group(2)) != self.row:
                    raise corrupt(part, f"中的单元格 {ref[:20]} 不在它所在的第 {self.row} 行")
                col = col_index(m.group(1))
                if col <= self.col:
                    raise corrupt(part, f"中的单元格 {ref[:20]} 重复或顺序颠倒")
            if col > MAX_EXCEL_COL:
                raise corrupt(part, f"中第 {self.row} 行的列超出工作表范围")
            self.col = col
            style = attrs.get("s", "0")
            if not style.isdigit() or not style.isascii() or len(style) > 6 or int(style) >= self.sheet.styles.count:
                raise corrupt(part, f"中单元格 {col_letters(col)}{self.row} 的样式编号“{style[:20]}”无效")
            self.cell = {"a1": f"{col_letters(col)}{self.row}", "t": attrs.get("t", "n"), "s": int(style),
                         "f": None, "ftext": "", "v": None, "is": None, "depth": len(self.stack)}
            self.seen = []
            return
        # inside a cell (or past the bounds)
        if self.beyond:
            if tag.rsplit(SEP, 1)[-1] not in BEYOND_NAMES or not tag.startswith(M):
                raise self._misplaced(tag)
            return
        cell = self.cell
        assert cell is not None
        if parent == CELL:
            order = {F: 0, V: 1, IS: 2}.get(tag)
            if order is None or (self.seen and order <= self.seen[-1]):
                raise corrupt(part, f"单元格 {cell['a1']} 的内容结构无效（Excel 不会这样写）")
            self.seen.append(order)
            if tag == F:
                cell["f"] = dict(attrs)
                self.buf = []
            elif tag == V:
                self.buf = []
            else:
                self.inline = []
            return
        if parent in (F, V, T):
            raise corrupt(part, f"单元格 {cell['a1']} 的内容结构无效（Excel 不会这样写）")
        # rich or phonetic text inside <is>
        if parent == IS:
            ok = tag in (T, RUN, RPH, PHONETIC)
        elif parent == RUN:
            ok = tag in (RPR, T)
        elif parent == RPH:
            ok = tag == T
        else:
            ok = parent == RPR  # character properties: not read
        if not ok:
            raise corrupt(part, f"单元格 {cell['a1']} 的内嵌文本结构无效")
        if tag == RPH:
            self.in_phonetic = True
        if tag == T and not self.in_phonetic:
            self.buf = []

    def _cell_end(self, tag: str) -> None:
        cell = self.cell
        assert cell is not None
        if tag == F:
            cell["ftext"] = "".join(self.buf or [])
            self.buf = None
        elif tag == V:
            cell["v"] = "".join(self.buf or []) or None
            self.buf = None
        elif tag == T and self.buf is not None and self.inline is not None:
            self.inline.append("".join(self.buf))
            self.buf = None
        elif tag == RPH:
            self.in_phonetic = False
        elif tag == IS:
            cell["is"] = "".join(self.inline or [])
            self.inline = None
        elif tag == CELL:
            self.cell = None
            if cell["t"] not in TYPES and self.col <= MAX_COLS:  # an empty cell's type is refused too, as the split path does
                raise corrupt(self.sheet.part, f"中单元格 {cell['a1']} 的类型“{cell['t'][:20]}”无效")
            if self.col <= MAX_COLS and (cell["f"] is not None or cell["v"] is not None or cell["is"] is not None):
                sheet = self.sheet
                data = sheet.value(cell["a1"], cell["t"], cell["s"], cell["f"], cell["ftext"], cell["v"], cell["is"])
                if data is not None:
                    sheet.cells[cell["a1"]] = data
                    if cell["s"] in sheet.styles.concealing:
                        sheet.styled[cell["a1"]] = cell["s"]

    def _beyond(self, attrs: dict[str, str], row: bool) -> None:
        raw = attrs.get("r")
        if raw is None:
            return
        m = (ROWNUM if row else REF).fullmatch(raw)
        if m is None:
            raise corrupt(self.sheet.part, f"中的{'行号' if row else '单元格引用'}“{raw[:20]}”无效")
        number = int(raw if row else m.group(2))
        if number <= MAX_ROWS or number > MAX_EXCEL_ROW or (not row and col_index(m.group(1)) > MAX_EXCEL_COL):
            raise corrupt(self.sheet.part, f"中的{'行号' if row else '单元格引用'} {raw[:20]} 顺序颠倒或超出工作表范围")
