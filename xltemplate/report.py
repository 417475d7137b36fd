"""Validation reports: per file and per run, as text, JSON and flat rows for tests.

A :class:`FileReport` also travels as JSON and back, losslessly (:meth:`FileReport.to_json`,
:meth:`FileReport.from_json`): the collection ledger stores reports that way, keyed by the file's
sha256, the spec's hash and :data:`xltemplate.validate.VALIDATOR_VERSION`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from .findings import CODES, Finding, display_value
from .jsonvalue import decode, encode, loads
from .pathtext import json_text, path_bytes, shown
from .results import Results
from .text import json_number, plain_number
from .words import ERROR, INVALID, SEVERITY_ZH, STATUS_ZH, UNREADABLE, VALID, WARNING, identity_line

if TYPE_CHECKING:
    from .identify import Identified
    from .submission import Submission

__all__ = ["FileReport", "INVALID", "Report", "Results", "SEVERITY_ZH", "STATUS_ZH", "UNREADABLE", "VALID", "identity_line"]

#: The shape of :meth:`FileReport.to_json`; bumped when it changes, so a stored report is never misread.
JSON_FORMAT = "xltemplate-report/1"


@dataclass
class FileReport:
    """One returned file: its status, identity, figures and findings."""

    path: str
    status: str
    findings: list[Finding]
    template: tuple[str, str | None] | None = None
    key: str | None = None
    results: Results | None = None
    sha256: str | None = None
    size: int | None = None
    saved_at: dt.datetime | None = None
    application: str | None = None
    signature: str | None = None  # identify.SIGNATURE_*: valid / invalid / missing; None when no secret was given

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
                   saved_at=sub.saved_at, application=sub.application, signature=ident.signature)

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
        """What ``validate --json`` prints for the file."""
        extra = {"path_bytes": raw} if (raw := path_bytes(self.path)) else {}
        return {
            "path": json_text(self.path), **extra, "status": self.status,
            "template": {"id": self.template[0], "version": self.template[1]} if self.template else None,
            "key": self.key, "total": json_number(self.total), "grade": self.grade,
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

    def to_json(self) -> dict[str, Any]:
        """The whole report as JSON-ready data; :meth:`from_json` gives back an equal report."""
        return {
            "format": JSON_FORMAT, "path": self.path, "status": self.status,
            "findings": [{f.name: encode(getattr(x, f.name)) for f in fields(Finding)} for x in self.findings],
            "template": encode(self.template), "key": self.key,
            "results": self.results.to_json() if self.results is not None else None,
            "sha256": self.sha256, "size": self.size, "saved_at": encode(self.saved_at),
            "application": self.application, "signature": self.signature,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "FileReport":
        if data.get("format") != JSON_FORMAT:
            raise ValueError(f"not a stored report of format {JSON_FORMAT}: {data.get('format')!r}")
        return cls(
            path=data["path"], status=data["status"],
            findings=[_finding(x) for x in data["findings"]],
            template=decode(data["template"]), key=data["key"],
            results=Results.from_json(data["results"]) if data["results"] is not None else None,
            sha256=data["sha256"], size=data["size"], saved_at=decode(data["saved_at"]),
            application=data["application"], signature=data["signature"],
        )


#: Read a stored report's JSON with its values decoded as they are parsed (:func:`xltemplate.jsonvalue.loads`);
#: False: parse, then decode the tree (:meth:`FileReport.from_json`). The tests compare the two.
DECODE_IN_PARSE = True


def report_from_text(text: str | bytes) -> FileReport:
    """A stored report (:meth:`FileReport.to_json` as JSON text) back: equal to ``from_json(json.loads(text))``."""
    if not DECODE_IN_PARSE:
        import json

        return FileReport.from_json(json.loads(text))
    data = loads(text)
    if data.get("format") != JSON_FORMAT:
        raise ValueError(f"not a stored report of format {JSON_FORMAT}: {data.get('format')!r}")
    return FileReport(
        path=data["path"], status=data["status"], findings=[_finding(x, decoded=True) for x in data["findings"]],
        template=data["template"], key=data["key"],
        results=Results.from_decoded(data["results"]) if data["results"] is not None else None,
        sha256=data["sha256"], size=data["size"], saved_at=data["saved_at"],
        application=data["application"], signature=data["signature"],
    )


def _finding(data: Mapping[str, Any], decoded: bool = False) -> Finding:
    """A stored finding, as it was: its value and message were cut to their bounds when it was made,
    and are not cut again (the cut text is longer than the bound by its "…")."""
    if data.get("code") not in CODES:
        raise ValueError(f"a stored finding with an unknown code: {data.get('code')!r}")
    f = object.__new__(Finding)
    for name in (x.name for x in fields(Finding)):
        value = data.get(name)
        object.__setattr__(f, name, value if decoded else decode(value))
    return f


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
                head += f"  {SEVERITY_ZH[ERROR]} {r.errors} {SEVERITY_ZH[WARNING]} {r.warnings}"
            lines.append(head)
            for f in r.findings:
                where = "!".join(x for x in (f.sheet, f.cell) if x)
                lines.append(f"  {SEVERITY_ZH[f.severity]} {f.code}{' @ ' + shown(where) if where else ''}: {shown(f.message)}")
        for path, why in self.skipped:
            lines.append(f"跳过 (skipped)  {shown(path)}  {shown(why)}")
        s = self.summary()
        lines.append(f"共 {s['files']} 个文件：{STATUS_ZH[VALID]} {s['valid']}，{STATUS_ZH[INVALID]} {s['invalid']}，"
                     f"{STATUS_ZH[UNREADABLE]} {s['unreadable']}"
                     + (f"，跳过 {s['skipped']}" if s["skipped"] else "") + f"；{identity_line(self.identity_verified)}")
        return "\n".join(lines)


def _with_file(f: Finding, path: str) -> Finding:
    return f if f.file == path else replace(f, file=path)


def _show(v: Any) -> str:
    return plain_number(v) if isinstance(v, Decimal) else ("" if v is None else str(v))
