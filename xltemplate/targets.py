"""The targets table: each project's approved indicators (绩效目标表), for a family that takes them.

A CSV (UTF-8 or GB18030) or an .xlsx whose first sheet has a header row, read exactly as a roster
is (an .xlsx in a bounded worker process, :mod:`xltemplate.roster`). The family checks its rows
(the national form: 一级/二级 by name, 指标性质, a number for a quantitative target, 分值 adding up
per 一级, no 三级 twice in a project); here every key is checked against the roster: a key not on
it, a roster key without indicators. Every problem is named by row and column, in Chinese, and a
table with any problem is refused whole (:class:`TargetsError`): nothing is generated.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .catalog import TemplateLike, as_spec
from .errors import Problem, RosterError, TargetsError
from .form.family import family_of
from .form.layout import Targets
from .roster import Roster, clean_header, read_table


@dataclass(frozen=True)
class TargetsTable:
    """Each key's targets, in the order its workbook lays them out."""

    path: Path
    by_key: dict[str, Targets]


def read_targets(path: str | Path, spec: TemplateLike, roster: Roster | None = None) -> TargetsTable:
    """Read and check a targets table against a template (and the roster, when given).

    Raises :class:`TargetsError` naming every problem by row and column, in Chinese.
    """
    spec = as_spec(spec)
    path = Path(path)
    family = family_of(spec)
    if not family.takes_targets:
        raise TargetsError(str(path), [Problem("", f"模板“{spec.id}”的指标是模板自带的，不使用指标目标表；请去掉 --targets")])
    try:
        header, records = read_table(path, "指标目标表")
    except RosterError as exc:  # the same reading, in a roster's words: say it of a targets table
        raise TargetsError(str(path), exc.problems) from exc
    by_key, problems = family.read_targets(spec, [clean_header(h) for h in header], records)
    if roster is not None:
        known = roster.by_key()
        first_line = _first_lines(header, records)
        for key in by_key:
            if key not in known:
                problems.append(Problem(f"第 {first_line.get(key, '?')} 行", f"编号“{key}”不在名单中；请核对编号，或在名单中加上这个项目"))
        for row in roster.rows:
            if row.key not in by_key:
                problems.append(Problem(f"名单第 {row.line} 行", f"名单中的编号“{row.key}”在指标目标表中没有任何指标；请补上这个项目的绩效目标"))
    if not by_key and not problems:
        problems.append(Problem("", "指标目标表中没有任何指标（只有标题行）"))
    if problems:
        raise TargetsError(str(path), problems)
    return TargetsTable(path, by_key)


def _first_lines(header: list[object], records: list[tuple[int, list[object]]]) -> dict[str, int]:
    """The line where each key first appears (for messages)."""
    col = next((n for n, h in enumerate(header) if clean_header(h).lower() in ("编号", "key")), None)
    out: dict[str, int] = {}
    if col is None:
        return out
    for line, rec in records:
        v = rec[col] if col < len(rec) else None
        key = str(int(v)) if isinstance(v, float) and v.is_integer() else ("" if v is None else str(v).strip())
        out.setdefault(key, line)
    return out
