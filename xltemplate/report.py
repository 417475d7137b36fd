"""Validation reports: per file and per run, as text, JSON and flat rows for tests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .findings import ERROR, WARNING, Finding, display_value
from .pathtext import json_text, path_bytes, shown

if TYPE_CHECKING:
    from .identify import Identified
    from .submission import Submission

VALID, INVALID, UNREADABLE = "valid", "invalid", "unreadable"
#: A file's status in the words a clerk reads (the README's table defines them).
STATUS_ZH = {VALID: "有效", INVALID: "有误", UNREADABLE: "无法读取"}
#: The severity words, the same everywhere: console, roll-up, annotated copies.
SEVERITY_ZH = {ERROR: "错误", WARNING: "警告"}


@dataclass
class Results:
    """The figures recomputed from the inputs and the spec."""

    categories: dict[str, dict[str, Decimal]]
    total_weight: Decimal
    total: Decimal
    grade: str | None
    execution_rate: Decimal | None
    fields: dict[str, Any]
    indicators: dict[str, dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "categories": {k: {kk: _num(vv) for kk, vv in v.items()} for k, v in self.categories.items()},
            "total_weight": _num(self.total_weight), "total": _num(self.total), "grade": self.grade,
            "execution_rate": _num(self.execution_rate),
        }


@dataclass
class FileReport:
    """One returned file: its status, identity, figures and findings."""

    path: str
    status: str
    findings: list[Finding]
    template: tuple[str, str] | None = None
    key: str | None = None
    results: Results | None = None
    sha256: str | None = None
    size: int | None = None
    saved_at: dt.datetime | None = None
    application: str | None = None
    signature: str | None = None  # identify.SIGNATURE_*: valid / invalid / missing; None when no secret was given
    submission: "Submission | None" = field(default=None, repr=False, compare=False)

    @classmethod
    def unreadable(cls, path: str, problem: Finding) -> "FileReport":
        return cls(path=path, status=UNREADABLE, findings=[_with_file(problem, path)])

    @classmethod
    def build(cls, sub: "Submission", ident: "Identified", found: list[Finding], results: Results | None) -> "FileReport":
        findings = [_with_file(f, sub.path) for f in found]
        invalid = results is None or any(f.severity == ERROR for f in findings)
        template = (ident.template_id, ident.template_version) if ident.template_id else None
        return cls(path=sub.path, status=INVALID if invalid else VALID, findings=findings, template=template,
                   key=ident.key, results=results, sha256=sub.sha256, size=sub.size,
                   saved_at=sub.saved_at, application=sub.application, signature=ident.signature, submission=sub)

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity == WARNING)

    @property
    def saved_at_trusted(self) -> dt.datetime | None:
        """The saved time when it may order resubmissions (present, and not ``saved-time-untrusted``)."""
        if any(f.code == "saved-time-untrusted" for f in self.findings):
            return None
        return self.saved_at

    @property
    def total(self) -> Decimal | None:
        return self.results.total if self.results else None

    @property
    def grade(self) -> str | None:
        return self.results.grade if self.results else None

    def flatten(self) -> list[tuple[str | None, str]]:
        """(cell, code) pairs, for tests."""
        return [(f.cell, f.code) for f in self.findings]

    def as_dict(self) -> dict[str, Any]:
        extra = {"path_bytes": raw} if (raw := path_bytes(self.path)) else {}
        return {
            "path": json_text(self.path), **extra, "status": self.status,
            "template": {"id": self.template[0], "version": self.template[1]} if self.template else None,
            "key": self.key, "total": _num(self.total), "grade": self.grade,
            "results": self.results.as_dict() if self.results else None,
            "errors": self.errors, "warnings": self.warnings,
            "sha256": self.sha256, "saved_at": self.saved_at.isoformat() if self.saved_at else None,
            "application": self.application, "signature": self.signature,
            "findings": [
                {"severity": f.severity, "code": f.code, "sheet": f.sheet, "cell": f.cell, "field": f.field,
                 "message": f.message, "value": display_value(f.value)}
                for f in self.findings
            ],
        }


@dataclass
class Report:
    """A validation run: every file that was given, each accounted for."""

    files: list[FileReport]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why): Excel lock files
    identity_verified: bool = False  # a secret was given: every file's signature was checked

    @property
    def valid(self) -> bool:
        return all(f.status == VALID for f in self.files)

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    def summary(self) -> dict[str, int]:
        return {"files": len(self.files), "valid": self.count(VALID), "invalid": self.count(INVALID),
                "unreadable": self.count(UNREADABLE), "skipped": len(self.skipped)}

    def flatten(self) -> list[tuple[str, str | None, str]]:
        """(file name, cell, code) triples, for tests."""
        from pathlib import Path

        return [(Path(r.path).name, f.cell, f.code) for r in self.files for f in r.findings]

    def as_dict(self) -> dict[str, Any]:
        return {"files": [f.as_dict() for f in self.files], "summary": self.summary(),
                "identity_verified": self.identity_verified,
                "skipped": [{"path": json_text(p), **({"path_bytes": b} if (b := path_bytes(p)) else {}), "reason": why}
                            for p, why in self.skipped]}

    def as_text(self) -> str:
        lines = []
        for r in self.files:
            # A name or a message may hold a newline: shown() escapes it, so every line is ours.
            head = f"{STATUS_ZH[r.status]} ({r.status})  {shown(r.path)}"
            if r.key:
                head += f"  [{shown(r.key)}]"
            if r.results is not None and r.status == VALID:
                head += f"  总分 {_show(r.total)} {r.grade or ''}"
            if r.errors or r.warnings:
                head += f"  错误 {r.errors} 警告 {r.warnings}"
            lines.append(head)
            for f in r.findings:
                where = "!".join(x for x in (f.sheet, f.cell) if x)
                lines.append(f"  {SEVERITY_ZH[f.severity]} {f.code}{' @ ' + shown(where) if where else ''}: {shown(f.message)}")
        for path, why in self.skipped:
            lines.append(f"跳过 (skipped)  {shown(path)}  {shown(why)}")
        s = self.summary()
        lines.append(f"共 {s['files']} 个文件：有效 {s['valid']}，有误 {s['invalid']}，无法读取 {s['unreadable']}"
                     + (f"，跳过 {s['skipped']}" if s["skipped"] else "") + f"；{identity_line(self.identity_verified)}")
        return "\n".join(lines)


def identity_line(verified: bool) -> str:
    """Whether a run verified the returns' identity signatures (the summary line, the roll-up's note)."""
    return "身份已用密钥核验" if verified else "身份未核验（未提供密钥）"


def _with_file(f: Finding, path: str) -> Finding:
    from dataclasses import replace

    return f if f.file == path else replace(f, file=path)


def _num(v: Any) -> Any:
    from .layout import json_number

    return json_number(v) if isinstance(v, Decimal) else v


def _show(v: Any) -> str:
    from .formulas import plain_number

    return plain_number(v) if isinstance(v, Decimal) else ("" if v is None else str(v))
