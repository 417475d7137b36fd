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

from .findings import Finding, finding
from .identify import TemplateSet
from .inputs import Inputs, discover
from .report import INVALID, UNREADABLE, VALID, FileReport
from .roster import Roster, RosterRow
from .spec import Spec

# What happened to each file read (文件清单).
COUNTED, DUPLICATE, SUPERSEDED, NOT_IN_ROSTER, NO_KEY, UNREADABLE_FILE, NOT_COUNTED = (
    "计入", "重复副本", "已被替代", "编号不在名单中", "无编号", "无法读取", "未计入")
# The status of a roster row (汇总).
ROW_STATUS = {VALID: "有效", INVALID: "有误", UNREADABLE: "无法读取"}
MISSING = "未提交"


@dataclass
class Return:
    """One file read, with its report and what the collection made of it."""

    report: FileReport
    mtime: float
    fate: str = NOT_COUNTED
    replaced_by: str | None = None
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
        if self.counted is None:
            return MISSING
        return ROW_STATUS[self.counted.report.status]

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
        if self.counted is None and not self.others:
            return "未收到文件"
        if self.counted is not None and self.counted.report.status == UNREADABLE:
            return "文件无法读取"
        return "仅有有误的文件"


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

    def counts(self) -> dict[str, int]:
        by_status = [r.report.status for r in self.returns]
        return {
            "roster_rows": len(self.roster.rows) if self.roster else 0,
            "returns_read": len(self.returns),
            "valid": by_status.count(VALID), "invalid": by_status.count(INVALID),
            "unreadable": by_status.count(UNREADABLE),
            "missing": sum(1 for r in self.rows if not r.valid) if self.roster else 0,
            "superseded": sum(1 for r in self.returns if r.fate == SUPERSEDED),
            "duplicates": sum(1 for r in self.returns if r.fate == DUPLICATE),
            "unmatched": sum(1 for r in self.returns if r.fate in (NOT_IN_ROSTER, NO_KEY, UNREADABLE_FILE)),
            "skipped": len(self.skipped),
        }

    def all_findings(self) -> list[tuple[Return, Finding]]:
        return [(ret, f) for ret in self.returns for f in ret.findings]

    def tables(self) -> dict[str, Any]:
        """The roll-up's tables as pandas DataFrames (submissions, scores, findings, missing)."""
        from .export import tables

        return tables(self)


def check_output(output: Path, inputs: Iterable[str | os.PathLike[str]]) -> None:
    """Refuse an output that would overwrite an input, or land where the next run would read it."""
    from .errors import OutputPathError

    out = Path(output).resolve()
    for raw in inputs:
        p = Path(raw).resolve()
        if out == p:
            raise OutputPathError(f"-o {output} would overwrite the input {raw}")
        if p.is_dir() and p in out.parents and out.suffix.lower() in (".xlsx", ".xlsm"):
            raise OutputPathError(f"-o {output} is inside the input folder {raw}: the roll-up would be read as a return next time; write it elsewhere")


def collect(paths: Iterable[str | os.PathLike[str]], spec: Spec, *, roster: Roster | None = None,
            templates: TemplateSet | None = None,
            progress: Callable[[int], None] | None = None, reports: list[FileReport] | None = None,
            inputs: Inputs | None = None, jobs: int | None = None, reader: str = "fast") -> Collection:
    """Read and validate every return under ``paths`` (or the already discovered ``inputs``) and match them to ``roster``."""
    from .validate import validate_path

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
                if ret.report.status == UNREADABLE:
                    ret.fate = UNREADABLE_FILE  # no key can be read: listed in 文件清单 and 问题清单
                else:
                    ret.fate = NO_KEY
                    ret.extra.append(finding("key-missing", "文件中没有单位编号（不是按名单下发的文件），无法对应到名单中的单位。请使用财政局下发给本单位的文件填写。"))
                continue
            key = f"(无编号) {Path(ret.path).name}"  # without a roster, a keyless return is its own row
        by_key.setdefault(key, []).append(ret)

    known = roster.by_key() if roster is not None else {}
    rows: dict[str, Row] = {k: Row(key=k, roster=r) for k, r in known.items()}
    for key, group in sorted(by_key.items()):
        if roster is not None and key not in known:
            for ret in group:
                ret.fate = NOT_IN_ROSTER
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
            ret.extra.append(finding("return-superseded", f"同一单位有更新的文件“{Path(newest.path).name}”，本文件不计入。", value=Path(newest.path).name))
            row.others.append(ret)
    row.others.sort(key=lambda r: r.path)
