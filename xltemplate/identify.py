"""Which template a returned workbook was generated from, told by its metadata."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Iterator

from .findings import Finding, finding
from .layout import META_FORMAT, META_KEYS, META_SHEET
from .spec import Spec, TemplateLike, as_spec, builtin_templates, load_spec
from .submission import Submission


@dataclass
class TemplateSet:
    """The templates a run knows: an explicit one (``--template``) or the built-ins, by (id, version)."""

    explicit: Spec | None = None
    known: dict[tuple[str, str], Spec] = field(default_factory=dict)

    @classmethod
    def builtin(cls, explicit: TemplateLike | None = None) -> "TemplateSet":
        explicit = as_spec(explicit) if explicit is not None else None
        known = {}
        for path in builtin_templates().values():
            spec = load_spec(path)
            known[(spec.id, spec.version)] = spec
        if explicit is not None:
            known[(explicit.id, explicit.version)] = explicit
        return cls(explicit=explicit, known=known)

    def versions(self, template_id: str) -> list[str]:
        return sorted(v for (i, v) in self.known if i == template_id)


@dataclass(frozen=True)
class Identified:
    spec: Spec | None  # None: the file cannot be validated against any template
    template_id: str | None  # what the file says
    template_version: str | None
    key: str | None
    prefill: dict[str, object]


def identify(sub: Submission, templates: TemplateSet) -> tuple[Identified, list[Finding]]:
    """Resolve the template from the metadata; every disagreement is a finding."""
    findings = list(_meta_findings(sub))
    meta = sub.meta
    if meta is None:
        return Identified(templates.explicit, None, None, None, {}), findings
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
