"""The roster: one row per unit (or project) the bureau sends a workbook to.

A roster is a CSV (UTF-8, with or without BOM, or GB18030 as Chinese Excel
saves it) or an .xlsx whose first sheet has a header row. It needs a key column
(``key`` or ``编号``); other columns are named by a field's id or label and
prefill that field, or are one of the contact columns (:data:`CONTACT_COLUMNS`:
联系人, 电话, 邮箱 …), kept as text for the clerk's reminders and never written into
a workbook. Any other column is refused (a misspelt field must not be dropped
silently). Every problem names its row and column, and a roster with any problem
is refused whole.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .catalog import TemplateLike, as_spec
from .errors import BoundExceeded, Problem, RosterError, Unreadable
from .readers.sniff import sniff
from .spec import FIELD_TYPE_NAMES, Field
from .text import did_you_mean
from .values import is_blank, parse_field
from .workers import Bounds, run_bounded

KEY_COLUMNS = ("key", "编号")
#: Columns recognised as a unit's contact details (compared without case or spaces): kept as text for
#: ``round remind``, not prefilled. A column that names a field of the template is that field first
#: (a form may have a 联系电话 field of its own).
CONTACT_COLUMNS = ("联系人", "联系电话", "电话", "手机", "邮箱", "电子邮箱", "email", "e-mail")
#: Field types as the clerk knows them, for messages.
TYPE_ZH = FIELD_TYPE_NAMES


def _roster_bounds() -> Bounds:
    return Bounds(seconds=30.0)


@dataclass(frozen=True)
class RosterRow:
    """One roster row: its key, the prefilled field values, and where it came from."""

    key: str
    line: int  # the row number as the file shows it (header is row 1)
    prefill: dict[str, Any] = field(default_factory=dict)
    contact: dict[str, str] = field(default_factory=dict)  # contact column → its text (blank cells left out)

    def label(self, field_id: str) -> str:
        v = self.prefill.get(field_id)
        return "" if v is None else str(v)


@dataclass(frozen=True)
class Roster:
    path: Path
    rows: tuple[RosterRow, ...]
    columns: dict[str, str]  # column header → field id
    contact_columns: tuple[str, ...] = ()  # the contact columns, in the roster's order

    def by_key(self) -> dict[str, RosterRow]:
        return {r.key: r for r in self.rows}


def read_roster(path: str | Path, spec: TemplateLike) -> Roster:
    """Read and check a roster against a template (id, spec path or Spec).

    Raises :class:`RosterError` naming every problem by row and column, in Chinese.
    """
    spec = as_spec(spec)
    path = Path(path)
    header, records = read_table(path)
    problems: list[Problem] = []
    header = [clean_header(h) for h in header]
    key_col = next((n for n, h in enumerate(header) if h.lower() in KEY_COLUMNS), None)
    if key_col is None:
        problems.append(Problem("第 1 行", f"没有编号列：请把其中一列的标题写成“编号”（或 key）（现有的列：{'、'.join(h for h in header if h) or '无'}）"))
    columns: dict[int, Field] = {}
    contacts: dict[int, str] = {}
    names = {**{f.id: f for f in spec.all_fields}, **{f.label: f for f in spec.all_fields}}
    seen_fields: dict[str, str] = {}
    for n, h in enumerate(header):
        if n == key_col:
            continue
        if not h:
            if any(len(rec) > n and not is_blank(rec[n]) for _, rec in records):
                problems.append(Problem(f"第 1 行，第 {n + 1} 列", "这一列有内容但没有标题：请填写标题（字段名称），或删除这一列"))
            continue
        f = names.get(h)
        if f is None and _contact(h):
            if h in contacts.values():
                problems.append(Problem(f"第 1 行，“{h}”列", "联系方式列重复；请删除其中一列"))
            contacts[n] = h
            continue
        if f is None:
            hint = did_you_mean(h, names, cutoff=0.5)
            extra = (f"是否想写“{hint}”？" if hint else "请改成模板中的字段名称，或删除这一列") + (
                f"（联系方式列可写作{'、'.join(CONTACT_COLUMNS[:6])}）")
            problems.append(Problem(f"第 1 行，“{h}”列", f"不是模板“{spec.id}”的字段；{extra}"))
            continue
        if f.computed:
            problems.append(Problem(f"第 1 行，“{h}”列", f"“{f.label}”由公式自动计算，不能预填；请删除这一列"))
            continue
        if not f.prefillable:
            problems.append(Problem(f"第 1 行，“{h}”列", f"“{f.label}”由填报单位填写，不能预填；请删除这一列"))
            continue
        if f.id in seen_fields:
            problems.append(Problem(f"第 1 行，“{h}”列", f"“{f.label}”已由“{seen_fields[f.id]}”列给出；请删除其中一列"))
            continue
        seen_fields[f.id] = h
        columns[n] = f
    rows: list[RosterRow] = []
    keys: dict[str, int] = {}
    for line, rec in records:
        if all(is_blank(v) for v in rec):
            continue  # blank lines at the end of a sheet are not units
        key = _text(rec[key_col]) if key_col is not None and key_col < len(rec) else ""
        if key_col is not None:
            if not key:
                problems.append(Problem(f"第 {line} 行，“{header[key_col]}”列", "编号为空；请填写编号，或删除这一行"))
            elif key in keys:
                problems.append(Problem(f"第 {line} 行，“{header[key_col]}”列", f"编号“{key}”与第 {keys[key]} 行重复；每个单位的编号必须不同"))
            keys.setdefault(key, line)
        prefill: dict[str, Any] = {}
        for n, f in columns.items():
            raw = rec[n] if n < len(rec) else None
            parsed = parse_field(raw, f.type, f.choices)
            if not parsed.ok:
                problems.append(Problem(f"第 {line} 行，“{header[n]}”列", f"{parsed.error}（应为{TYPE_ZH.get(f.type, f.type)}）"))
            elif parsed.value is not None:
                prefill[f.id] = parsed.value
        contact = {h: text for n, h in contacts.items() if (text := _text(rec[n] if n < len(rec) else None))}
        rows.append(RosterRow(key=key, line=line, prefill=prefill, contact=contact))
    if not rows and key_col is not None:
        problems.append(Problem("", "名单中没有任何单位（只有标题行）"))
    if problems:
        raise RosterError(str(path), problems)
    return Roster(path=path, rows=tuple(rows), columns={header[n]: f.id for n, f in columns.items()},
                  contact_columns=tuple(contacts.values()))


def clean_header(h: Any) -> str:
    text = "" if h is None else str(h)
    return text.strip().strip("\ufeff").rstrip("：:").strip()


def _contact(header: str) -> bool:
    return "".join(header.split()).lower() in CONTACT_COLUMNS


def _text(raw: Any) -> str:
    """A key or a contact cell as text: a number stored as a number keeps its digits (13812345678, not 1.38e10)."""
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return "" if raw is None else str(raw).strip()


def read_table(path: Path, what: str = "名单") -> tuple[list[Any], list[tuple[int, list[Any]]]]:
    """A table's header and its rows (line number, cells): a CSV, or an .xlsx's first sheet read in a
    bounded worker. ``what`` is what the messages call the table (名单, 指标目标表)."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            return _read_xlsx(path, what)
        if suffix in (".csv", ".txt"):
            return _read_csv(path)
    except OSError as exc:
        raise RosterError(str(path), [Problem("", f"无法读取文件（{exc.strerror or exc}）；请检查文件是否存在、是否正在其他程序中打开")]) from exc
    raise RosterError(str(path), [Problem("", f"{what}必须是 .csv 或 .xlsx 文件；请在 Excel 中另存为其中一种格式")])


def _read_csv(path: Path) -> tuple[list[Any], list[tuple[int, list[Any]]]]:
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise RosterError(str(path), [Problem("", "不是 UTF-8 或 GB18030 编码的文本")])
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise RosterError(str(path), [Problem("", "文件是空的；第 1 行应是标题行（编号、预算单位、项目名称……）")])
    return rows[0], [(n, r) for n, r in enumerate(rows[1:], start=2)]


def _read_xlsx(path: Path, what: str) -> tuple[list[Any], list[tuple[int, list[Any]]]]:
    """The first sheet's rows, read in a bounded worker process (a roster is a file from outside too:
    a 1 MB workbook can declare 30 million shared strings)."""
    try:
        rows = run_bounded(_xlsx_rows, path, bounds=_roster_bounds())
    except Unreadable as exc:
        raise RosterError(str(path), [Problem("", f"无法读取{what}工作簿：{exc.message}")]) from exc
    except BoundExceeded as exc:
        raise RosterError(str(path), [Problem("", f"{what}工作簿过大或读取超时（{exc.message}）。请删除多余内容，或另存为 CSV 后再试。")]) from exc
    except Exception as exc:  # openpyxl raises many kinds for a bad file
        raise RosterError(str(path), [Problem("", f"无法打开工作簿（{type(exc).__name__}）；请在 Excel 中打开并另存为 .xlsx 或 .csv 后重试")]) from exc
    if not rows:
        raise RosterError(str(path), [Problem("", "第一个工作表是空的；第 1 行应是标题行（编号、预算单位、项目名称……）")])
    return rows[0], [(n, r) for n, r in enumerate(rows[1:], start=2)]


def _xlsx_rows(path: Path) -> list[list[Any]]:
    """In the bounded worker: sniff the workbook like a return, then read its first sheet's values."""
    import warnings

    import openpyxl

    sniff(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        ws = wb.worksheets[0]
        return [list(r) for r in ws.iter_rows(values_only=True)]
    finally:
        wb.close()
