"""The roster: one row per unit (or project) the bureau sends a workbook to.

A roster is a CSV (UTF-8, with or without BOM, or GB18030 as Chinese Excel
saves it) or an .xlsx whose first sheet has a header row. It needs a key column
(``key`` or ``编号``); other columns are named by a field's id or label and
prefill that field. Every problem names its row and column, and a roster with
any problem is refused whole.
"""

from __future__ import annotations

import csv
import difflib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import Problem, RosterError
from .spec import Field, Spec
from .values import is_blank, parse_field

KEY_COLUMNS = ("key", "编号")


@dataclass(frozen=True)
class RosterRow:
    """One roster row: its key, the prefilled field values, and where it came from."""

    key: str
    line: int  # the row number as the file shows it (header is row 1)
    prefill: dict[str, Any] = field(default_factory=dict)

    def label(self, field_id: str) -> str:
        v = self.prefill.get(field_id)
        return "" if v is None else str(v)


@dataclass(frozen=True)
class Roster:
    path: Path
    rows: tuple[RosterRow, ...]
    columns: dict[str, str]  # column header → field id

    def by_key(self) -> dict[str, RosterRow]:
        return {r.key: r for r in self.rows}


def read_roster(path: str | Path, spec: Spec) -> Roster:
    """Read and check a roster against a spec; raises :class:`RosterError` naming every problem."""
    path = Path(path)
    header, records = _read_table(path)
    problems: list[Problem] = []
    header = [_clean_header(h) for h in header]
    key_col = next((n for n, h in enumerate(header) if h.lower() in KEY_COLUMNS), None)
    if key_col is None:
        problems.append(Problem("row 1", f"no key column: name one column 'key' or '编号' (columns: {', '.join(h for h in header if h) or 'none'})"))
    columns: dict[int, Field] = {}
    names = {**{f.id: f for f in spec.fields}, **{f.label: f for f in spec.fields}}
    seen_fields: dict[str, str] = {}
    for n, h in enumerate(header):
        if n == key_col:
            continue
        if not h:
            if any(len(rec) > n and not is_blank(rec[n]) for _, rec in records):
                problems.append(Problem(f"row 1, column {n + 1}", "a column with values has no header"))
            continue
        f = names.get(h)
        if f is None:
            hint = difflib.get_close_matches(h, list(names), n=1, cutoff=0.5)
            extra = f"; did you mean '{hint[0]}'?" if hint else ""
            problems.append(Problem(f"row 1, column '{h}'", f"not a field of template '{spec.id}'{extra}"))
            continue
        if f.computed:
            problems.append(Problem(f"row 1, column '{h}'", f"'{f.label}' is computed by a formula and cannot be prefilled"))
            continue
        if f.id in seen_fields:
            problems.append(Problem(f"row 1, column '{h}'", f"'{f.label}' is already given by column '{seen_fields[f.id]}'"))
            continue
        seen_fields[f.id] = h
        columns[n] = f
    rows: list[RosterRow] = []
    keys: dict[str, int] = {}
    for line, rec in records:
        if all(is_blank(v) for v in rec):
            continue  # blank lines at the end of a sheet are not units
        key = _key(rec[key_col]) if key_col is not None and key_col < len(rec) else ""
        if key_col is not None:
            if not key:
                problems.append(Problem(f"row {line}, column '{header[key_col]}'", "the key is empty"))
            elif key in keys:
                problems.append(Problem(f"row {line}, column '{header[key_col]}'", f"key '{key}' repeats row {keys[key]}"))
            keys.setdefault(key, line)
        prefill: dict[str, Any] = {}
        for n, f in columns.items():
            raw = rec[n] if n < len(rec) else None
            parsed = parse_field(raw, f.type, f.choices)
            if not parsed.ok:
                problems.append(Problem(f"row {line}, column '{header[n]}'", f"{parsed.error} ({f.type})"))
            elif parsed.value is not None:
                prefill[f.id] = parsed.value
        rows.append(RosterRow(key=key, line=line, prefill=prefill))
    if not rows and key_col is not None:
        problems.append(Problem("", "the roster has no rows"))
    if problems:
        raise RosterError(str(path), problems)
    return Roster(path=path, rows=tuple(rows), columns={header[n]: f.id for n, f in columns.items()})


def _clean_header(h: Any) -> str:
    text = "" if h is None else str(h)
    return text.strip().strip("\ufeff").rstrip("：:").strip()


def _key(raw: Any) -> str:
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return "" if raw is None else str(raw).strip()


def _read_table(path: Path) -> tuple[list[Any], list[tuple[int, list[Any]]]]:
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            return _read_xlsx(path)
        if suffix in (".csv", ".txt"):
            return _read_csv(path)
    except OSError as exc:
        raise RosterError(str(path), [Problem("", f"cannot read the file: {exc}")]) from exc
    raise RosterError(str(path), [Problem("", "a roster must be a .csv or .xlsx file")])


def _read_csv(path: Path) -> tuple[list[Any], list[tuple[int, list[Any]]]]:
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise RosterError(str(path), [Problem("", "not UTF-8 or GB18030 text")])
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise RosterError(str(path), [Problem("", "the file is empty")])
    return rows[0], [(n, r) for n, r in enumerate(rows[1:], start=2)]


def _read_xlsx(path: Path) -> tuple[list[Any], list[tuple[int, list[Any]]]]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a bad file
        raise RosterError(str(path), [Problem("", f"cannot open the workbook: {exc}")]) from exc
    try:
        ws = wb.worksheets[0]
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
    finally:
        wb.close()
    if not rows:
        raise RosterError(str(path), [Problem("", "the first sheet is empty")])
    return rows[0], [(n, r) for n, r in enumerate(rows[1:], start=2)]
