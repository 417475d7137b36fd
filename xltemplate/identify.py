"""Which template a returned workbook was generated from, told by its metadata."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Iterator

from .findings import Finding, finding
from .layout import META_FORMAT, META_KEYS, META_SHEET
from .spec import Spec, builtin_templates, load_spec
from .submission import Submission


@dataclass
class TemplateSet:
    """The templates a run knows: an explicit one (``--template``) or the built-ins, by (id, version)."""

    explicit: Spec | None = None
    known: dict[tuple[str, str], Spec] = field(default_factory=dict)

    @classmethod
    def builtin(cls, explicit: Spec | None = None) -> "TemplateSet":
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
        findings.append(finding("meta-altered", "隐藏的模板信息中的预填记录已损坏。请使用财政局下发的原始文件重新填写。", sheet=META_SHEET))
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
                findings.append(finding("template-unknown", f"此文件由未知模板“{tid}”生成。请确认文件来源，或用 --template 指定模板。", sheet=META_SHEET, value=tid))
            return Identified(None, tid, version, key, prefill), findings
    if meta.get("spec_hash") != spec.spec_hash:
        findings.append(finding("meta-altered", "文件中记录的模板校验值与模板不一致（模板信息被改动，或模板内容已变更而版本号未变）。请使用财政局下发的原始文件重新填写。", sheet=META_SHEET, value=meta.get("spec_hash")))
    return Identified(spec, tid, version, key, prefill), findings


def _meta_findings(sub: Submission) -> Iterator[Finding]:
    meta = sub.meta
    if meta is None:
        yield finding("meta-missing", f"缺少隐藏的模板信息工作表“{META_SHEET}”：文件不是由本系统下发的模板生成，或已被另存为新文件。请使用财政局下发的原始 .xlsx 文件填写后提交。")
        return
    if meta.get("format") != META_FORMAT or any(k not in meta for k in META_KEYS):
        missing = [k for k in META_KEYS if k not in meta]
        yield finding("meta-altered", f"隐藏的模板信息不完整（缺少 {'、'.join(missing) or '格式标记'}）。请使用财政局下发的原始文件重新填写。", sheet=META_SHEET)
        return
    for k in META_KEYS:
        prop = sub.properties.get(f"xltemplate.{k}")
        if k != "prefill" and prop is not None and prop != meta.get(k):
            yield finding("meta-altered", f"隐藏的模板信息“{k}”与文档属性不一致（{meta.get(k)} ≠ {prop}），模板信息可能被改动。请使用财政局下发的原始文件重新填写。", sheet=META_SHEET, value=meta.get(k))
