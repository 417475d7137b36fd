"""Which template a returned workbook was generated from, told by its metadata."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Iterator

from .findings import Finding, finding
from .layout import META_FORMAT, META_KEYS, META_SHEET, META_SIGNATURE_KEY
from .roster import Roster, RosterRow
from .sign import Keyring
from .spec import Spec, TemplateLike, as_spec, builtin_templates, load_spec
from .submission import Submission

#: FileReport.signature: what verifying a file's identity found (None: no secret, not verified).
SIGNATURE_VALID, SIGNATURE_INVALID, SIGNATURE_MISSING = "valid", "invalid", "missing"


@dataclass
class TemplateSet:
    """What a run identifies returns against: the templates it knows (an explicit one, ``--template``,
    or the built-ins, by (id, version)), and, when given, the bureau's secrets (signatures are verified)
    and the roster (keys and prefilled values are compared with it).

    It travels to every worker process, so whatever identification needs is here.
    """

    explicit: Spec | None = None
    known: dict[tuple[str, str], Spec] = field(default_factory=dict)
    keyring: Keyring | None = None
    roster: Roster | None = None
    _rows: dict[str, RosterRow] | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def builtin(cls, explicit: TemplateLike | None = None, *, keyring: Keyring | None = None,
                roster: Roster | None = None) -> "TemplateSet":
        explicit = as_spec(explicit) if explicit is not None else None
        known = {}
        for path in builtin_templates().values():
            spec = load_spec(path)
            known[(spec.id, spec.version)] = spec
        if explicit is not None:
            known[(explicit.id, explicit.version)] = explicit
        return cls(explicit=explicit, known=known, keyring=keyring, roster=roster)

    def roster_row(self, key: str | None) -> RosterRow | None:
        if self.roster is None or key is None:
            return None
        if self._rows is None:  # once per process, not once per file
            self._rows = self.roster.by_key()
        return self._rows.get(key)

    def versions(self, template_id: str) -> list[str]:
        return sorted(v for (i, v) in self.known if i == template_id)


@dataclass(frozen=True)
class Identified:
    spec: Spec | None  # None: the file cannot be validated against any template
    template_id: str | None  # what the file says
    template_version: str | None
    key: str | None
    prefill: dict[str, object]
    signature: str | None = None  # SIGNATURE_VALID / _INVALID / _MISSING; None when no secret was given


def identify(sub: Submission, templates: TemplateSet) -> tuple[Identified, list[Finding]]:
    """Resolve the template from the metadata; every disagreement is a finding.

    With a secret, the signature is verified whatever the template; with a roster, the key must be on it.
    """
    findings = list(_meta_findings(sub))
    meta = sub.meta
    if meta is None:
        return Identified(templates.explicit, None, None, None, {}), findings + _roster_findings(None, templates)
    signature = None
    if templates.keyring is not None:
        signature, problem = verify_signature(sub, templates.keyring)
        if problem is not None:
            findings.append(problem)
    ident, more = _resolve(sub, meta, templates)
    findings += more
    findings += _roster_findings(ident.key, templates)
    return replace(ident, signature=signature), findings


def _resolve(sub: Submission, meta: dict[str, str], templates: TemplateSet) -> tuple[Identified, list[Finding]]:
    findings: list[Finding] = []
    tid = meta.get("template_id") or None
    version = meta.get("template_version") or None
    key = (meta.get("roster_key") or "").strip() or None
    try:
        prefill = json.loads(meta.get("prefill") or "{}")
        if not isinstance(prefill, dict):
            raise ValueError("not a mapping")
    except ValueError:
        prefill = {}
        findings.append(finding("meta-altered", "文件中财政局预填内容的隐藏记录已损坏。请使用财政局下发的原始文件重新填写。", sheet=META_SHEET))
    spec: Spec | None
    if templates.explicit is not None:
        spec = templates.explicit
        if tid != spec.id:
            findings.append(finding("template-mismatch", f"此文件由模板“{tid or '未知'}”生成，不是要求的“{spec.id}”。请使用财政局下发的“{spec.title}”模板填写。", sheet=META_SHEET, value=tid))
            return Identified(None, tid, version, key, prefill), findings
        if version != spec.version:
            findings.append(finding("template-version", f"此文件使用模板版本 {version}，当前要求版本 {spec.version}。请使用最新下发的模板重新填写。", sheet=META_SHEET, value=version))
            return Identified(None, tid, version, key, prefill), findings
    else:
        spec = templates.known.get((tid or "", version or ""))
        if spec is None:
            others = templates.versions(tid or "")
            if others:
                findings.append(finding("template-version", f"此文件使用模板“{tid}”的版本 {version}，可用版本为 {'、'.join(others)}。请使用最新下发的模板重新填写。", sheet=META_SHEET, value=version))
            else:
                findings.append(finding("template-unknown", f"此文件不是用本次下发的表格填写的（表格标识“{tid}”无法识别）。请使用财政局下发给本单位的文件重新填写；如有疑问，请联系财政局。", sheet=META_SHEET, value=tid))
            return Identified(None, tid, version, key, prefill), findings
    if meta.get("spec_hash") != spec.spec_hash:
        findings.append(finding("meta-altered", "文件中财政局下发表格的隐藏标识与当前表格不一致（标识被改动，或表格内容已更新）。请使用财政局最新下发的原始文件重新填写。", sheet=META_SHEET, value=meta.get("spec_hash")))
    return Identified(spec, tid, version, key, prefill), findings


def _meta_findings(sub: Submission) -> Iterator[Finding]:
    meta = sub.meta
    if meta is None:
        yield finding("meta-missing", "文件中没有财政局下发表格的隐藏标识：可能不是用下发的文件填写的，或内容被复制到了新的工作簿。请使用财政局下发给本单位的原始 .xlsx 文件填写后提交；如有疑问，请联系财政局。")
        return
    if meta.get("format") != META_FORMAT or any(k not in meta for k in META_KEYS):
        yield finding("meta-altered", "文件中财政局下发表格的隐藏标识不完整，可能被改动过。请使用财政局下发的原始文件重新填写。", sheet=META_SHEET)
        return
    for k in META_KEYS:
        prop = sub.properties.get(f"xltemplate.{k}")
        if k != "prefill" and prop is not None and prop != meta.get(k):
            yield finding("meta-altered", "文件中财政局下发表格的隐藏标识前后不一致，可能被改动过。请使用财政局下发的原始文件重新填写。", sheet=META_SHEET, value=meta.get(k))


def verify_signature(sub: Submission, keyring: Keyring) -> tuple[str, Finding | None]:
    """Check the identity signature of a file whose metadata is present: (status, the finding if any)."""
    meta = sub.meta or {}
    on_sheet = meta.get(META_SIGNATURE_KEY) or None
    in_props = sub.properties.get(f"xltemplate.{META_SIGNATURE_KEY}") or None
    fix = "请使用财政局下发给本单位的原始文件填写后提交；如有疑问，请联系财政局。"
    if on_sheet is None and in_props is None:
        return SIGNATURE_MISSING, finding("signature-missing", f"文件没有财政局的身份签名，无法确认它是下发给本单位的文件。{fix}", sheet=META_SHEET)
    if on_sheet is not None and in_props is not None and on_sheet != in_props:
        return SIGNATURE_INVALID, finding("signature-invalid", f"文件中的两处身份签名不一致，文件被改动过。{fix}", sheet=META_SHEET)
    why = keyring.verify(meta, on_sheet or in_props or "")
    if why is not None:
        return SIGNATURE_INVALID, finding("signature-invalid", f"身份签名无效（{why}）：文件的编号、模板或预填内容被改动过，或不是本次下发的文件。{fix}", sheet=META_SHEET)
    return SIGNATURE_VALID, None


def _roster_findings(key: str | None, templates: TemplateSet) -> list[Finding]:
    """With a roster, a return must name a unit on it: otherwise it cannot count for anyone."""
    if templates.roster is None:
        return []
    if key is None:
        return [finding("key-missing", "文件中没有单位编号（不是按名单下发的文件），无法对应到名单中的单位。请使用财政局下发给本单位的文件填写。")]
    if templates.roster_row(key) is None:
        return [finding("key-not-in-roster", f"文件中的单位编号“{key}”不在本次名单中。请确认文件来源，或联系财政局核对名单。", value=key)]
    return []
