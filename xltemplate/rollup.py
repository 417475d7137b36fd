"""Write the bureau-wide roll-up workbook (XlsxWriter).

Sheets: 汇总, 指标得分, 统计 (with native charts), 问题清单, 未提交, 文字材料, 文件清单.
Text from returns is always written with ``write_string``: a value that starts
with ``=`` stays text. Same inputs give the same bytes: rows are sorted by key
and the document properties carry no run time.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import xlsxwriter

from . import export
from .collect import FATES, MISSING, UNIT_INVALID, UNIT_VALID, UNMATCHED, Collection
from .errors import GenerateError
from .report import SEVERITY_ZH, STATUS_ZH
from .fsutil import write_atomic
from .layout import wrapped_lines

_FIXED_TIME = dt.datetime(2000, 1, 1)
_STATUS_COLOURS = {UNIT_VALID: "#C6EFCE", UNIT_INVALID: "#FFC7CE", MISSING: "#E7E6E6"}


def write_rollup(c: Collection, path: str | Path) -> Path:
    """Write the roll-up workbook atomically to ``path`` (an ``.xlsx`` file)."""
    from .errors import OutputPathError

    if Path(path).suffix.lower() != ".xlsx":
        raise OutputPathError(f"汇总表必须是 .xlsx 文件：{path}")
    return write_atomic(path, lambda tmp: _Writer(c, tmp).write())


class _Writer:
    def __init__(self, c: Collection, path: Path) -> None:
        self.c, self.spec = c, c.spec
        self.wb = xlsxwriter.Workbook(str(path), {
            "strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False,
            # Rows are written in order and flushed as they go: memory stays flat at 10,000 units.
            "constant_memory": True,
        })
        wb = self.wb
        base = {"font_name": "宋体", "font_size": 10, "valign": "top", "border": 1}
        self.f_title = wb.add_format({"font_name": "宋体", "bold": True, "font_size": 16})
        self.f_note = wb.add_format({"font_name": "宋体", "font_size": 9, "italic": True, "font_color": "#595959"})
        self.f_head = wb.add_format({**base, "bold": True, "bg_color": "#D9E1F2", "text_wrap": True, "valign": "vcenter", "align": "center"})
        self.f_text = wb.add_format(base)
        self.f_wrap = wb.add_format({**base, "text_wrap": True})
        self.f_money = wb.add_format({**base, "num_format": "#,##0.00"})
        self.f_pct = wb.add_format({**base, "num_format": "0.00%"})
        self.f_num = wb.add_format({**base, "num_format": "General"})
        self.f_num2 = wb.add_format({**base, "num_format": "0.00"})
        self.f_date = wb.add_format({**base, "num_format": "yyyy-mm-dd hh:mm"})
        self.f_day = wb.add_format({**base, "num_format": "yyyy-mm-dd"})
        self.f_total = wb.add_format({**base, "bold": True, "bg_color": "#F2F2F2"})
        self.f_total_money = wb.add_format({**base, "bold": True, "bg_color": "#F2F2F2", "num_format": "#,##0.00"})
        self.f_total_pct = wb.add_format({**base, "bold": True, "bg_color": "#F2F2F2", "num_format": "0.00%"})
        self.f_total_num = wb.add_format({**base, "bold": True, "bg_color": "#F2F2F2", "num_format": "0.00"})
        self.f_status = {k: wb.add_format({**base, "bg_color": v, "align": "center"}) for k, v in _STATUS_COLOURS.items()}

    def write(self) -> None:
        wb = self.wb
        wb.set_properties({"title": f"{self.spec.title}汇总", "author": "xltemplate", "company": "",
                           "created": _FIXED_TIME, "comments": f"模板 {self.spec.id} {self.spec.version}"})
        self.stats = export.stats(self.c)
        self._summary()
        self._scores()
        self._statistics()
        self._findings()
        self._missing()
        self._texts()
        self._files()
        wb.close()

    # -- helpers -------------------------------------------------------------------
    def _put(self, ws: Any, row: int, col: int, value: Any, fmt: Any = None) -> None:
        fmt = fmt or self.f_text
        kind = type(value)
        if value is None or value == "":
            code = ws.write_blank(row, col, None, fmt)
        elif kind is str:
            if len(value) > 32767:
                value = value[:32760] + "…"
            code = ws.write_string(row, col, value, fmt)  # text stays text, whatever it starts with
        elif kind is Decimal or kind is int or kind is float:
            code = ws.write_number(row, col, float(value), fmt)
        elif kind is bool:
            code = ws.write_string(row, col, "是" if value else "否", fmt)
        elif kind is dt.datetime:
            code = ws.write_datetime(row, col, value, self.f_date if fmt is self.f_text else fmt)
        else:
            code = ws.write_string(row, col, str(value)[:32760], fmt)
        if code is not None and code < 0:
            raise GenerateError(f"XlsxWriter refused a value in {ws.name} row {row + 1} (code {code})")

    def _sheet(self, name: str, title: str, note: str, headers: list[str], widths: list[float], landscape: bool = True) -> Any:
        ws = self.wb.add_worksheet(name)
        ws.write_string(0, 0, title, self.f_title)
        ws.write_string(1, 0, note, self.f_note)
        for col, (h, w) in enumerate(zip(headers, widths)):
            ws.write_string(2, col, h, self.f_head)
            ws.set_column(col, col, w)
        ws.set_row(2, 30)
        ws.freeze_panes(3, 0)
        if landscape:
            ws.set_landscape()
        ws.set_paper(9)
        ws.fit_to_pages(1, 0)
        ws.repeat_rows(2)
        ws.set_footer("&C第 &P 页，共 &N 页")
        return ws

    def _table(self, ws: Any, rows: list[dict[str, Any]], keys: list[str], fmts: dict[str, Any], start: int = 3,
               height: Any = None, header_row: int = 2) -> int:
        """Write ``rows`` in order (constant memory): ``height(rec)`` sets a row's height first."""
        put = self._put
        columns = [(col, k, fmts.get(k)) for col, k in enumerate(keys)]
        for n, rec in enumerate(rows):
            row = start + n
            if height is not None:
                ws.set_row(row, height(rec))
            for col, k, fmt in columns:
                put(ws, row, col, rec.get(k), rec.get(f"_fmt_{k}", fmt))
        if rows:
            ws.autofilter(header_row, 0, start + len(rows) - 1, len(keys) - 1)
        return start + len(rows)

    # -- sheets ----------------------------------------------------------------------------
    def _summary(self) -> None:
        spec, counts = self.spec, self.c.counts()
        cats = spec.categories
        headers = ["编号", "预算单位", "项目名称", "当年预算数（元）", "预算执行数（元）", "预算执行率"]
        headers += [f"{c.name}\n({export.csv_cell(c.points)}分)" for c in cats]
        headers += ["总分", "绩效等级", "状态", "错误数", "警告数", "来源文件", "文件保存时间"]
        widths = [9, 22, 22, 14, 14, 9] + [8] * len(cats) + [7, 8, 8, 6, 6, 26, 11]
        note = ("；".join(counts.lines()) + "。分数和执行率均按模板由填报数据重新计算；"
                f"{UNIT_INVALID}的单位显示其分数，但等级为“未核定”；合计行和统计只计{UNIT_VALID}的单位。")
        ws = self._sheet("汇总", f"{spec.title}汇总", note, headers, widths)
        rows = export.submissions(self.c)
        keys = ["key", "unit", "project", "budget", "executed", "execution_rate"] + [f"score_{c.id}" for c in cats]
        keys += ["total", "grade", "status", "errors", "warnings", "file", "saved_at"]
        fmts = {"budget": self.f_money, "executed": self.f_money, "execution_rate": self.f_pct, "total": self.f_num,
                "file": self.f_wrap, "unit": self.f_wrap, "project": self.f_wrap, "saved_at": self.f_day}
        for rec in rows:
            rec["_fmt_status"] = self.f_status[rec["status"]]

        def height(rec: dict[str, Any]) -> float:
            lines = max(wrapped_lines(rec["unit"] or "", 22), wrapped_lines(rec["project"] or "", 22), wrapped_lines(rec["file"] or "", 26))
            return 14 * lines + 4

        end = self._table(ws, rows, keys, fmts, height=height)
        st = self.stats
        total = [f"合计（{UNIT_VALID} {st.valid}）", "", "", st.budget, st.executed, st.rate]
        total += [c["mean"] for c in st.categories] + [st.total_mean, "平均", "", "", "", "", ""]
        total_fmts = [self.f_total] * 3 + [self.f_total_money] * 2 + [self.f_total_pct] + [self.f_total_num] * (len(cats) + 1) + [self.f_total] * 7
        for col, (v, f) in enumerate(zip(total, total_fmts)):
            self._put(ws, end, col, v, f)
        ws.print_area(0, 0, end, len(keys) - 1)

    def _scores(self) -> None:
        """Units × indicators: each indicator's score and points lost, the unit's own indicators at the end."""
        spec = self.spec
        inds = [(cat, ind) for cat in spec.categories for ind in cat.indicators]
        ws = self.wb.add_worksheet("指标得分")
        ws.write_string(0, 0, "指标得分明细", self.f_title)
        ws.write_string(1, 0, "每个计入的文件一行；每个指标两列：自评分和失分（权重 − 自评分），权重为空（不适用）的指标空白。"
                              f"单位自行增加的指标列在最后。统计只用{UNIT_VALID}的单位。", self.f_note)
        fixed = ["编号", "预算单位", "状态"]
        extra_col = len(fixed) + 2 * len(inds)
        # constant-memory mode flushes a row once the next one is touched: row 2 first, whole, then row 3
        ws.set_row(2, 54)
        for col, (h, w) in enumerate(zip(fixed, [10, 24, 8])):
            ws.write_string(2, col, h, self.f_head)
            ws.set_column(col, col, w)
        for n, (cat, ind) in enumerate(inds):
            col = len(fixed) + 2 * n
            ws.merge_range(2, col, 2, col + 1, f"{ind.name}（{cat.name}）", self.f_head)
            ws.set_column(col, col + 1, 7)
        ws.write_string(2, extra_col, "自定义指标（自评分/权重）", self.f_head)
        ws.set_column(extra_col, extra_col, 40)
        for col in range(len(fixed)):
            ws.write_blank(3, col, None, self.f_head)
        for n in range(len(inds)):
            col = len(fixed) + 2 * n
            ws.write_string(3, col, "得分", self.f_head)
            ws.write_string(3, col + 1, "失分", self.f_head)
        ws.write_blank(3, extra_col, None, self.f_head)
        ws.freeze_panes(4, 3)
        ws.set_landscape()
        ws.set_paper(9)
        ws.fit_to_pages(1, 0)
        ws.repeat_rows(2, 3)
        row = 4
        put = self._put
        for r in self.c.rows:
            res = r.counted.report.results if r.counted else None
            if res is None:
                continue
            put(ws, row, 0, r.key)
            put(ws, row, 1, export.cell_text(r.field(spec, "unit")))
            put(ws, row, 2, r.status, self.f_status[r.status])
            for n, (cat, ind) in enumerate(inds):
                got = res.indicators[ind.id]
                weight, score = got["weight"], got["score"]
                col = len(fixed) + 2 * n
                if weight:
                    put(ws, row, col, score, self.f_num)
                    put(ws, row, col + 1, (weight - score) if isinstance(score, Decimal) else None, self.f_num)
                else:
                    put(ws, row, col, None, self.f_num)
                    put(ws, row, col + 1, None, self.f_num)
            extras = [f"{export.cell_text(x['name'])}：{export.csv_cell(x['score'])}/{export.csv_cell(x['weight'])}"
                      for x in res.indicators.values() if x["extra"] and x["name"]]
            put(ws, row, extra_col, "；".join(extras) or None, self.f_wrap)
            row += 1
        if row > 4:
            ws.autofilter(3, 0, row - 1, extra_col)

    def _statistics(self) -> None:
        st, wb = self.stats, self.wb
        ws = wb.add_worksheet("统计")
        ws.set_column(0, 0, 30)
        ws.set_column(1, 5, 13)
        ws.write_string(0, 0, "统计分析", self.f_title)
        ws.write_string(1, 0, f"仅统计{UNIT_VALID}的单位（{st.valid} 个）；{UNIT_INVALID}和{MISSING}的单位不计入。", self.f_note)
        row = 3
        ws.write_row(row, 0, ["绩效等级", "数量", "占比"], self.f_head)
        first = row + 1
        for label, n in st.grades:
            row += 1
            self._put(ws, row, 0, label)
            self._put(ws, row, 1, n, self.f_num)
            self._put(ws, row, 2, (Decimal(n) / st.valid) if st.valid else None, self.f_pct)
        chart = wb.add_chart({"type": "column"})
        chart.add_series({"name": "单位数", "categories": ["统计", first, 0, row, 0], "values": ["统计", first, 1, row, 1],
                          "data_labels": {"value": True}, "fill": {"color": "#4472C4"}})
        chart.set_title({"name": "绩效等级分布", "name_font": {"name": "宋体", "size": 12}})
        chart.set_legend({"none": True})
        chart.set_y_axis({"min": 0, "major_gridlines": {"visible": True}})
        ws.insert_chart(3, 7, chart, {"x_scale": 1.1, "y_scale": 0.9})

        row += 2
        ws.write_row(row, 0, ["总分", "平均", "中位数", "最低", "最高"], self.f_head)
        row += 1
        for col, v in enumerate([UNIT_VALID, st.total_mean, st.total_median, st.total_min, st.total_max]):
            self._put(ws, row, col, v, self.f_num2 if col else None)

        row += 2
        ws.write_row(row, 0, ["一级指标", "分值", "平均得分", "得分率"], self.f_head)
        cfirst = row + 1
        for cat in st.categories:
            row += 1
            for col, (v, f) in enumerate(zip([cat["name"], cat["points"], cat["mean"], cat["rate"]], [None, self.f_num, self.f_num2, self.f_pct])):
                self._put(ws, row, col, v, f)
        chart = wb.add_chart({"type": "bar"})
        chart.add_series({"name": "得分率", "categories": ["统计", cfirst, 0, row, 0], "values": ["统计", cfirst, 3, row, 3],
                          "data_labels": {"value": True, "num_format": "0.0%"}, "fill": {"color": "#70AD47"}})
        chart.set_title({"name": "各一级指标得分率", "name_font": {"name": "宋体", "size": 12}})
        chart.set_legend({"none": True})
        chart.set_x_axis({"min": 0, "max": 1, "num_format": "0%"})
        chart.set_y_axis({"reverse": True})
        ws.insert_chart(20, 7, chart, {"x_scale": 1.1, "y_scale": 0.9})

        row += 2
        ws.write_row(row, 0, ["预算合计（元）", "执行合计（元）", "总体执行率"], self.f_head)
        row += 1
        self._put(ws, row, 0, st.budget, self.f_money)
        self._put(ws, row, 1, st.executed, self.f_money)
        self._put(ws, row, 2, st.rate, self.f_pct)

        row += 2
        ws.write_string(row, 0, "各指标平均得分率（按平均失分从多到少排列）", self.f_head)
        row += 1
        ws.write_row(row, 0, ["指标", "一级指标", "适用的单位数", "平均权重", "平均得分", "平均失分", "得分率"], self.f_head)
        for ind in st.indicators:
            row += 1
            vals = [ind["indicator"], ind["category"], ind["n"], ind["weight"], ind["score"], ind["lost"], ind["rate"]]
            fmts = [None, None, self.f_num, self.f_num2, self.f_num2, self.f_num2, self.f_pct]
            for col, (v, f) in enumerate(zip(vals, fmts)):
                self._put(ws, row, col, v, f)
        row += 2
        ws.write_row(row, 0, ["对象", "提交情况", "数量"], self.f_head)
        for group, label, count in self.c.counts().table():
            row += 1
            self._put(ws, row, 0, group)
            self._put(ws, row, 1, label)
            self._put(ws, row, 2, count, self.f_num)
        ws.set_landscape()
        ws.set_paper(9)
        ws.fit_to_pages(1, 0)

    def _findings(self) -> None:
        headers = ["文件", "编号", "预算单位", "工作表", "单元格", "问题", "严重程度", "问题及修改方法", "文件中的值", "代码"]
        ws = self._sheet("问题清单", "问题清单", "每个文件的每个问题（含被替代、重复和未匹配的文件）。错误须由单位修改后重新提交；警告供核对。",
                         headers, [30, 10, 26, 12, 7, 16, 8, 60, 20, 20])
        rows = export.findings(self.c)
        for r in rows:
            r["severity_zh"] = SEVERITY_ZH[r["severity"]]
        keys = ["file", "key", "unit", "sheet", "cell", "title", "severity_zh", "message", "value", "code"]
        self._table(ws, rows, keys, {"message": self.f_wrap, "file": self.f_wrap, "value": self.f_wrap},
                    height=lambda r: 13 * max(wrapped_lines(r["message"], 60), 1) + 4)

    def _missing(self) -> None:
        unmatched = self.c.counts().unmatched
        note = (f"{MISSING}和{UNIT_INVALID}的单位及原因。"
                + (f"另有 {unmatched} 个文件{UNMATCHED}（没有对应到名单中的单位），见“文件清单”。" if unmatched else ""))
        ws = self._sheet("未提交", f"{MISSING}或{UNIT_INVALID}的单位", note, ["编号", "预算单位", "项目名称", "状态", "原因", "相关文件"],
                         [10, 30, 30, 11, 16, 50], landscape=False)
        rows = export.missing(self.c)
        for r in rows:
            r["_fmt_status"] = self.f_status[r["status"]]
        self._table(ws, rows, ["key", "unit", "project", "status", "reason", "files"], {"files": self.f_wrap, "reason": self.f_wrap})

    def _texts(self) -> None:
        ids = list(self.spec.summary.get("texts", ()))
        labels = [self.spec.field(i).label for i in ids]
        ws = self._sheet("文字材料", "文字材料", "各单位填报的文字内容（已去除网页标记）。", ["编号", "预算单位", "项目名称"] + labels,
                         [10, 20, 20] + [60] * len(ids))
        rows = export.texts(self.c)
        self._table(ws, rows, ["key", "unit", "project"] + ids, {i: self.f_wrap for i in ids} | {"unit": self.f_wrap, "project": self.f_wrap},
                    height=lambda r: min(409, 13 * max([wrapped_lines(r.get(i) or "", 60) for i in ids] + [1]) + 4))

    def _files(self) -> None:
        headers = ["文件", "编号", "状态", "处理", "说明", "错误数", "警告数", "保存时间", "保存程序", "SHA-256", "路径"]
        ws = self._sheet("文件清单", "文件清单", f"找到的每个文件：状态（{' / '.join(STATUS_ZH.values())}）和处理（{' / '.join(FATES)}）。",
                         headers, [34, 10, 10, 14, 30, 7, 7, 17, 20, 20, 50])
        rows = export.files(self.c)
        self._table(ws, rows, ["file", "key", "status", "fate", "note", "errors", "warnings", "saved_at", "application", "sha256", "path"],
                    {"file": self.f_wrap, "path": self.f_wrap, "note": self.f_wrap})
