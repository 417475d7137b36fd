"""``round remind``: the units to chase, ready for mail merge (催报名单.xlsx, and a CSV).

A unit is chased when the last finished run counted nothing for it (未提交) or counted a return
that is invalid (已提交有误). Each gets the reason in one line (未收到文件, or the file and its first
errors with their cells) and the roster's contact columns (联系人, 电话, 邮箱 …). The workbook's first
row is the header and every other row a unit, which is what Word's and WPS's mail merge read;
its title goes into the page header, so it prints on A4 like every other sheet.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..catalog import as_spec
from ..errors import XltemplateError
from ..fsutil import scratch_dir, write_atomic
from .. import meta
from ..ledger import Ledger, Run, local_time
from ..pathtext import json_text, shown
from ..printing import DEFAULT_FONT, Page, footer, plan_width, row_height, set_landscape
from ..report import FileReport, report_from_text
from ..sheettext import workbook
from ..spec import Spec
from ..text import cell_text, csv_cell
from ..words import ERROR, INVALID, MISSING, UNIT_INVALID, VALID

#: At most this many errors are named in a reason (then "等 N 个"): it must stay one line.
REASON_ERRORS = 3
PAGE = Page(landscape=True)
BODY_PT = 10.0


@dataclass(frozen=True)
class Reminder:
    """One unit to chase."""

    key: str
    unit: str
    project: str
    status: str  # 未提交 / 已提交有误
    reason: str  # one line, Chinese
    contact: dict[str, str] = field(default_factory=dict)
    file: str | None = None  # the counted file's name, when there is one
    received: dt.datetime | None = None  # when the ledger first received it (local time)
    errors: int | None = None


@dataclass(frozen=True)
class Reminders:
    """The units to chase after the last finished run, and the contact columns the roster has."""

    run: Run
    items: list[Reminder]
    contact_columns: list[str]

    def headers(self) -> list[str]:
        return ["编号", "预算单位", "项目名称", "状态", "原因", *self.contact_columns, "最新文件", "收到时间", "错误数"]

    def rows(self) -> list[list[Any]]:
        return [[r.key, r.unit, r.project, r.status, r.reason, *(r.contact.get(c, "") for c in self.contact_columns),
                 r.file, r.received, r.errors] for r in self.items]


def reminders(ledger: str | os.PathLike[str]) -> Reminders:
    """The units to chase, from the ledger alone (read-only)."""
    with Ledger.open(Path(ledger), readonly=True) as led:
        run = led.summary().run
        roster = led.roster(run)
        decided = {d.unit_key: d for d in led.decisions(run)}
        files = {f.sha256: f for f in led.files(run)}
        with_files = {c.unit_key for c in led.cached_reports(run) if c.unit_key}
        chase = [d for d in decided.values() if d.status != VALID and (roster is None or d.unit_key in roster.by_key())]
        stored = led.reports(run, [d.sha256 for d in chase])
    spec = _spec(run)
    items = []
    units = roster.by_key() if roster is not None else {}
    keys = [u.key for u in roster.units] if roster is not None else sorted(d.unit_key for d in chase)
    for key in keys:
        unit = units.get(key)
        d = decided.get(key)
        if d is not None and d.status == VALID:
            continue
        names = (unit.unit, unit.project) if unit is not None else ("", "")
        contact = dict(unit.contact) if unit is not None else {}
        if d is None:
            reason = ("收到的文件都没有计入（已撤回，或身份签名无效），请查看汇总表的提交记录" if key in with_files else "未收到文件")
            items.append(Reminder(key, *names, MISSING, reason, contact))
            continue
        report = report_from_text(stored[d.sha256].payload)
        f = files[d.sha256]
        name = Path(f.last_path).name if f.last_path else ""
        received = local_time(f.first_seen_at)
        if unit is None and spec is not None and report.results is not None:
            names = tuple(cell_text(report.results.fields.get(spec.summary.get(role, ""))) or "" for role in ("unit", "project"))  # type: ignore[assignment]
        items.append(Reminder(key, *names, UNIT_INVALID, _reason(report, name, received), contact, shown(name), received,
                              report.errors))
    return Reminders(run, items, roster.contact_columns if roster is not None else [])


def _reason(report: FileReport, name: str, received: dt.datetime | None) -> str:
    """One line: which file, when it came, how many errors, the first ones with their cells."""
    when = f"（{received:%m-%d}收到）" if received else ""
    if report.status != INVALID:
        return f"最新文件“{shown(name)}”{when}无法读取：{report.findings[0].title if report.findings else ''}，请重新提交"
    errors = [f for f in report.findings if f.severity == ERROR]
    named = "；".join(f.title + (f"（{f.cell}）" if f.cell and f.sheet != meta.SHEET else "") for f in errors[:REASON_ERRORS])
    more = f" 等 {len(errors)} 个" if len(errors) > REASON_ERRORS else ""
    return f"最新文件“{shown(name)}”{when}有 {len(errors)} 个错误：{named}{more}，请修改后重新提交"


def _spec(run: Run) -> Spec | None:
    """The run's template when this installation has it unchanged (for unit names without a roster)."""
    if not run.template_id:
        return None
    try:
        spec = as_spec(run.template_id)
    except XltemplateError:
        return None
    return spec if spec.spec_hash == run.spec_hash else None


def write_reminders(r: Reminders, output: str | os.PathLike[str], *, with_csv: bool = False) -> list[Path]:
    """催报名单.xlsx (header in row 1, ready for mail merge; prints on A4) and, with ``with_csv``, the same as CSV beside it."""
    out = [write_atomic(output, lambda tmp: _xlsx(r, tmp))]
    if with_csv:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(r.headers())
        for row in r.rows():
            w.writerow([csv_cell(v.strftime("%Y-%m-%d %H:%M") if isinstance(v, dt.datetime) else v) for v in row])
        data = buf.getvalue()

        def write(tmp: Path) -> None:
            tmp.write_text(data, encoding="utf-8-sig", newline="")

        out.append(write_atomic(Path(output).with_suffix(".csv"), write))
    return out


def _xlsx(r: Reminders, path: Path) -> None:
    with scratch_dir() as scratch:
        wb = workbook(str(path), {"strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False,
                                  "tmpdir": str(scratch), "default_format_properties": dict(DEFAULT_FONT)})
        wb.set_properties({"title": "催报名单", "author": "xltemplate", "created": dt.datetime(2000, 1, 1)})
        base = {"font_name": "宋体", "font_size": BODY_PT, "valign": "top", "border": 1, "text_wrap": True}
        head = wb.add_format({**base, "bold": True, "bg_color": "#D9E1F2", "align": "center", "valign": "vcenter"})
        text = wb.add_format(base)
        when = wb.add_format({**base, "num_format": "yyyy-mm-dd hh:mm"})
        ws = wb.add_worksheet("催报名单")
        headers = r.headers()
        widths = [8.0, 16, 16, 8, 40, *([12.0] * len(r.contact_columns)), 18, 15, 5]
        for col, width in enumerate(widths):
            ws.set_column(col, col, width)
        ws.set_row(0, row_height(headers, widths, BODY_PT, bold=True))
        for col, h in enumerate(headers):
            ws.write_string(0, col, h, head)
        for n, row in enumerate(r.rows(), start=1):
            ws.set_row(n, row_height([v if isinstance(v, str) else "" for v in row], widths, BODY_PT))
            for col, v in enumerate(row):
                if v is None or v == "":
                    ws.write_blank(n, col, None, text)
                elif isinstance(v, dt.datetime):
                    ws.write_datetime(n, col, v, when)
                elif isinstance(v, int):
                    ws.write_number(n, col, v, text)
                else:
                    ws.write_string(n, col, json_text(str(v)), text)  # text stays text, whatever it starts with
        if r.items:
            ws.autofilter(0, 0, len(r.items), len(headers) - 1)
        ws.freeze_panes(1, 1)
        plan = plan_width(widths, PAGE, BODY_PT, key_cols=1)
        set_landscape(ws, PAGE, plan, key_cols=1)
        ws.repeat_rows(0, 0)
        ws.set_header(f"&C&\"宋体,Bold\"&12催报名单（第 {r.run.id} 次汇总后，{len(r.items)} 个单位）", {"margin": 0.2})
        ws.set_footer(footer("催报名单"), {"margin": PAGE.footer})
        wb.close()


__all__ = ["Reminder", "Reminders", "reminders", "write_reminders"]
