"""Collect returns: validate every file, match them to the roster, decide what counts.

Returns are matched by the key inside the file, never by its name. For one key,
byte-identical copies count once; otherwise the newest (the workbook's own saved
time, then the file's) counts and the others are superseded. A return whose key
is not on the roster, or that has none, is listed, never lost. The result is a
:class:`Collection`: rows for the roll-up, every file's fate, and pandas tables.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from .errors import OutputPathError
from .findings import Finding, finding
from .identify import TemplateSet
from .inputs import Inputs, discover
from .report import INVALID, STATUS_ZH, UNREADABLE, VALID, FileReport
from .roster import Roster, RosterRow
from .spec import Spec, TemplateLike, as_spec

# The words a clerk reads, each defined once here (and in the README's table). A file has a status
# (report.STATUS_ZH: 有效 / 有误 / 无法读取) and, in a collection, a fate:
COUNTED, SUPERSEDED, DUPLICATE, UNMATCHED, SKIPPED = "计入", "被替代", "重复", "未匹配", "跳过"
FATES = (COUNTED, SUPERSEDED, DUPLICATE, UNMATCHED, SKIPPED)
# A unit (a roster row; without a roster, a counted return) has a status:
UNIT_VALID, UNIT_INVALID, MISSING = "已提交有效", "已提交有误", "未提交"
# The grade column of a unit whose counted return is invalid: its figures are shown, its grade is not.
NOT_GRADED = "未核定"


@dataclass
class Return:
    """One file read, with its report and what the collection made of it."""

    report: FileReport
    mtime: float
    fate: str = UNMATCHED
    replaced_by: str | None = None
    note: str | None = None  # why the fate, in Chinese (文件清单's 说明)
    extra: list[Finding] = field(default_factory=list)  # findings from collecting (superseded, …)

    @property
    def path(self) -> str:
        return self.report.path

    @property
    def findings(self) -> list[Finding]:
        return self.report.findings + self.extra

    def newest_key(self) -> tuple[Any, ...]:
        saved = self.report.saved_at or dt.datetime.min
        return (saved, self.mtime, self.path)


@dataclass
class Row:
    """One row of the roll-up: a roster row (or, without a roster, a counted return)."""

    key: str
    roster: RosterRow | None
    counted: Return | None = None
    others: list[Return] = field(default_factory=list)  # invalid/unreadable/superseded for this key

    @property
    def status(self) -> str:
        """已提交有效 / 已提交有误 / 未提交."""
        if self.counted is None:
            return MISSING
        return UNIT_VALID if self.valid else UNIT_INVALID

    @property
    def valid(self) -> bool:
        return self.counted is not None and self.counted.report.status == VALID

    def field(self, spec: Spec, role: str) -> Any:
        """A header value by summary role: the roster's for identity, else the return's."""
        fid = spec.summary.get(role)
        if not fid:
            return None
        if self.roster is not None and fid in self.roster.prefill and role in ("unit", "project"):
            return self.roster.prefill[fid]
        res = self.counted.report.results if self.counted else None
        if res is not None and res.fields.get(fid) is not None:
            return res.fields[fid]
        if self.roster is not None:
            return self.roster.prefill.get(fid)
        return None

    def missing_reason(self) -> str:
        """Why a unit has no valid return (the 未提交 sheet)."""
        if self.counted is None:
            return "未收到文件"
        if self.counted.report.status == UNREADABLE:
            return "文件无法读取"
        return f"文件有误（错误 {self.counted.report.errors} 个，见问题清单）"


@dataclass
class Collection:
    spec: Spec
    rows: list[Row]
    returns: list[Return]
    skipped: list[tuple[str, str]]
    roster: Roster | None

    @property
    def valid_rows(self) -> list[Row]:
        return [r for r in self.rows if r.valid]

    def counts(self) -> "Counts":
        """Every count, once: the CLI line, the 汇总 note, 统计 and ``--json`` all read this."""
        statuses = [r.report.status for r in self.returns]
        fates = [r.fate for r in self.returns]
        units = [r.status for r in self.rows]
        return Counts(
            roster=len(self.roster.rows) if self.roster else None,
            units_valid=units.count(UNIT_VALID), units_invalid=units.count(UNIT_INVALID),
            units_missing=units.count(MISSING) if self.roster else None,
            files_read=len(self.returns), files_valid=statuses.count(VALID), files_invalid=statuses.count(INVALID),
            files_unreadable=statuses.count(UNREADABLE),
            counted=fates.count(COUNTED), superseded=fates.count(SUPERSEDED), duplicate=fates.count(DUPLICATE),
            unmatched=fates.count(UNMATCHED), skipped=len(self.skipped),
        )

    def all_findings(self) -> list[tuple[Return, Finding]]:
        return [(ret, f) for ret in self.returns for f in ret.findings]

    def tables(self) -> dict[str, Any]:
        """The roll-up's tables as pandas DataFrames; see :func:`xltemplate.export.tables` for their columns."""
        from .export import tables

        return tables(self)


@dataclass(frozen=True)
class Counts:
    """Units and files, counted once in the words of the README's table.

    Units: ``roster`` (None without a roster) = 已提交有效 + 已提交有误 + 未提交.
    Files: every file found = read + 跳过; the files read are split by status
    (有效 / 有误 / 无法读取) and, independently, by fate (计入 / 被替代 / 重复 / 未匹配).
    """

    roster: int | None
    units_valid: int
    units_invalid: int
    units_missing: int | None  # None without a roster: who did not return is unknown
    files_read: int
    files_valid: int
    files_invalid: int
    files_unreadable: int
    counted: int
    superseded: int
    duplicate: int
    unmatched: int
    skipped: int

    @property
    def units(self) -> int:
        return self.roster if self.roster is not None else self.units_valid + self.units_invalid

    @property
    def files(self) -> int:
        return self.files_read + self.skipped

    def as_dict(self) -> dict[str, dict[str, int | None]]:
        """For ``--json`` (keys in English; the README's table gives the Chinese word of each)."""
        return {
            "units": {"total": self.units, "roster": self.roster, "valid": self.units_valid,
                      "invalid": self.units_invalid, "missing": self.units_missing},
            "files": {"total": self.files, "read": self.files_read, "valid": self.files_valid,
                      "invalid": self.files_invalid, "unreadable": self.files_unreadable,
                      "counted": self.counted, "superseded": self.superseded, "duplicate": self.duplicate,
                      "unmatched": self.unmatched, "skipped": self.skipped},
        }

    def lines(self) -> list[str]:
        """Two lines, units then files: the CLI prints them and the 汇总 sheet's note repeats them."""
        if self.roster is not None:
            units = (f"名单 {self.units} 个单位：{UNIT_VALID} {self.units_valid}，{UNIT_INVALID} {self.units_invalid}，"
                     f"{MISSING} {self.units_missing}")
        else:
            units = (f"单位 {self.units} 个（未提供名单，每个计入的文件算一个单位）：{UNIT_VALID} {self.units_valid}，"
                     f"{UNIT_INVALID} {self.units_invalid}")
        files = (f"文件 {self.files} 个：读取 {self.files_read} 个（{STATUS_ZH[VALID]} {self.files_valid}，"
                 f"{STATUS_ZH[INVALID]} {self.files_invalid}，{STATUS_ZH[UNREADABLE]} {self.files_unreadable}；"
                 f"{COUNTED} {self.counted}，{SUPERSEDED} {self.superseded}，{DUPLICATE} {self.duplicate}，"
                 f"{UNMATCHED} {self.unmatched}），{SKIPPED} {self.skipped}")
        return [units, files]

    def table(self) -> list[tuple[str, str, int | None]]:
        """(group, word, count) rows for the 统计 sheet, in the order of :meth:`lines`."""
        rows: list[tuple[str, str, int | None]] = [("单位", "名单单位数" if self.roster is not None else "单位数", self.units),
                                                   ("单位", UNIT_VALID, self.units_valid), ("单位", UNIT_INVALID, self.units_invalid)]
        if self.roster is not None:
            rows.append(("单位", MISSING, self.units_missing))
        rows += [("文件", "文件总数", self.files), ("文件", "读取", self.files_read),
                 ("文件", STATUS_ZH[VALID], self.files_valid), ("文件", STATUS_ZH[INVALID], self.files_invalid),
                 ("文件", STATUS_ZH[UNREADABLE], self.files_unreadable), ("文件", COUNTED, self.counted),
                 ("文件", SUPERSEDED, self.superseded), ("文件", DUPLICATE, self.duplicate),
                 ("文件", UNMATCHED, self.unmatched), ("文件", SKIPPED, self.skipped)]
        return rows


def check_output(output: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str]], *, workbook: bool = False) -> None:
    """Refuse an output that would overwrite an input, or land where the next run would read it.

    ``workbook``: the output is the roll-up, which must be an ``.xlsx`` file.
    """
    out = Path(output).resolve()
    if workbook and Path(output).suffix.lower() != ".xlsx":
        raise OutputPathError(f"-o 必须是 .xlsx 文件：{output}（例如 -o 汇总.xlsx）")
    for raw in inputs:
        p = Path(raw).resolve()
        if out == p:
            raise OutputPathError(f"输出文件 {output} 就是输入的 {raw}，会把它覆盖；请换一个输出文件名")
        if p.is_dir() and p in out.parents and out.suffix.lower() in (".xlsx", ".xlsm"):
            raise OutputPathError(f"输出文件 {output} 在输入文件夹 {raw} 中，下次运行时会被当作单位提交的文件读取；请写到别的文件夹")


def collect(paths: Iterable[str | os.PathLike[str]], spec: TemplateLike, *, roster: Roster | None = None,
            templates: TemplateSet | None = None,
            progress: Callable[[int], None] | None = None, reports: list[FileReport] | None = None,
            inputs: Inputs | None = None, jobs: int | None = None, reader: str = "fast") -> Collection:
    """Read and validate every return under ``paths`` (or the already discovered ``inputs``) and match them to ``roster``.

    ``spec`` is the template of the returns: a built-in id, a spec path or a :class:`Spec`.
    """
    from .validate import validate_path

    spec = as_spec(spec)
    templates = templates or TemplateSet.builtin(spec)
    found = inputs if inputs is not None else discover(list(paths))
    if reports is None and jobs is not None:
        from .runner import validate_many

        reports = validate_many(found.files, templates, jobs=jobs, reader=reader, progress=progress)
    elif reports is None:
        reports = []
        for p in found.files:
            reports.append(validate_path(p, templates, reader=reader))
            if progress:
                progress(1)
    returns = [Return(r, _mtime(r.path)) for r in reports]
    rows = _match(spec, roster, returns)
    return Collection(spec=spec, rows=rows, returns=returns, skipped=found.skipped, roster=roster)


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def _match(spec: Spec, roster: Roster | None, returns: list[Return]) -> list[Row]:
    by_key: dict[str, list[Return]] = {}
    for ret in returns:
        key = ret.report.key
        if key is None:
            if roster is not None:
                ret.fate = UNMATCHED  # listed in 文件清单 and 问题清单, never lost
                if ret.report.status == UNREADABLE:
                    ret.note = "文件无法读取，读不出编号"
                else:
                    ret.note = "文件中没有编号"
                    ret.extra.append(finding("key-missing", "文件中没有单位编号（不是按名单下发的文件），无法对应到名单中的单位。请使用财政局下发给本单位的文件填写。"))
                continue
            key = f"(无编号) {Path(ret.path).name}"  # without a roster, a keyless return is its own row
        by_key.setdefault(key, []).append(ret)

    known = roster.by_key() if roster is not None else {}
    rows: dict[str, Row] = {k: Row(key=k, roster=r) for k, r in known.items()}
    for key, group in sorted(by_key.items()):
        if roster is not None and key not in known:
            for ret in group:
                ret.fate = UNMATCHED
                ret.note = f"编号“{key}”不在名单中"
                ret.extra.append(finding("key-not-in-roster", f"文件中的单位编号“{key}”不在本次名单中。请确认文件来源，或联系财政局核对名单。", value=key))
            continue
        row = rows.setdefault(key, Row(key=key, roster=None))
        _choose(row, group)
    return [rows[k] for k in sorted(rows, key=natural_key)]


def natural_key(key: str) -> tuple[Any, ...]:
    """Sort keys as people read them: SH2 before SH10, 999 before 1000."""
    import re

    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", key))


def _choose(row: Row, group: list[Return]) -> None:
    """Identical copies count once; of the distinct files the newest counts, the others are superseded."""
    distinct: dict[str, Return] = {}
    for ret in sorted(group, key=lambda r: r.path):
        first = distinct.get(ret.report.sha256 or ret.path)
        if first is not None:
            ret.fate = DUPLICATE
            ret.replaced_by = first.path
            ret.note = f"与“{Path(first.path).name}”内容完全相同，只计一次"
            ret.extra.append(finding("return-duplicate", f"与文件“{Path(first.path).name}”内容完全相同，只计一次。", value=Path(first.path).name))
            row.others.append(ret)
        else:
            distinct[ret.report.sha256 or ret.path] = ret
    newest = max(distinct.values(), key=Return.newest_key)
    newest.fate = COUNTED
    row.counted = newest
    for ret in distinct.values():
        if ret is not newest:
            ret.fate = SUPERSEDED
            ret.replaced_by = newest.path
            ret.note = f"被更新的“{Path(newest.path).name}”替代"
            ret.extra.append(finding("return-superseded", f"同一单位有更新的文件“{Path(newest.path).name}”，本文件不计入。", value=Path(newest.path).name))
            row.others.append(ret)
    row.others.sort(key=lambda r: r.path)
