"""Which template a returned workbook was generated from, told by its metadata; and what a run
identifies returns against (:class:`RunContext`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Iterable, Iterator, Mapping

from . import meta
from .jsonvalue import encode
from .catalog import TemplateLike, as_spec, builtin_templates, load_spec
from .form.family import family_of
from .form.layout import Targets
from .findings import Finding, finding
from .readers import ReaderName
from .roster import Roster, RosterRow
from .sign import Keyring
from .spec import Spec
from .submission import Submission

if TYPE_CHECKING:
    from .targets import TargetsTable

#: FileReport.signature: what verifying a file's identity found (None: no secret, not verified).
SIGNATURE_VALID, SIGNATURE_INVALID, SIGNATURE_MISSING = "valid", "invalid", "missing"


@dataclass(frozen=True)
class RunContext:
    """Everything a run validates with, frozen, sent once to every worker process.

    The templates it knows (an explicit one, ``--template``, or the built-ins, by (id, version));
    when given, the bureau's secrets (signatures are verified) and the roster (keys and prefilled
    values are compared with it); the day taken as today (dates in the future; None: the real
    today); and the reader.
    """

    explicit: Spec | None = None
    known: dict[tuple[str, str], Spec] = field(default_factory=dict)
    keyring: Keyring | None = None
    roster: Roster | None = None
    targets: "TargetsTable | None" = None  # the bureau's targets table: the truth for each return's targets
    today: dt.date | None = None
    reader: ReaderName = "fast"
    _rows: Mapping[str, RosterRow] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.roster is not None:
            object.__setattr__(self, "_rows", self.roster.by_key())

    @classmethod
    def builtin(cls, explicit: TemplateLike | None = None, *, keyring: Keyring | None = None,
                roster: Roster | None = None, today: dt.date | None = None, reader: ReaderName = "fast",
                targets: "TargetsTable | None" = None, older: Iterable[TemplateLike] = ()) -> "RunContext":
        """The built-ins, ``explicit`` (the form asked for) and ``older`` versions its returns may still be in."""
        spec = as_spec(explicit) if explicit is not None else None
        known = {}
        for path in builtin_templates().values():
            loaded = load_spec(path)
            known[(loaded.id, loaded.version)] = loaded
        for old in older:
            loaded = as_spec(old)
            known[(loaded.id, loaded.version)] = loaded
        if spec is not None:
            known[(spec.id, spec.version)] = spec
        return cls(explicit=spec, known=known, keyring=keyring, roster=roster, today=today, reader=reader, targets=targets)

    @classmethod
    def of(cls, templates: "RunContext | TemplateLike | None", *, reader: ReaderName | None = None,
           today: dt.date | None = None) -> "RunContext":
        """A run context from what a public function was given: a context, or a template (None: the built-ins)."""
        run = templates if isinstance(templates, RunContext) else cls.builtin(templates)
        if reader is not None and reader != run.reader:
            run = replace(run, reader=reader)
        if today is not None and today != run.today:
            run = replace(run, today=today)
        return run

    def with_roster(self, roster: Roster | None) -> "RunContext":
        return self if roster is None or roster is self.roster else replace(self, roster=roster)

    def with_targets(self, targets: "TargetsTable | None") -> "RunContext":
        return self if targets is None or targets is self.targets else replace(self, targets=targets)

    def roster_row(self, key: str | None) -> RosterRow | None:
        if self.roster is None or key is None:
            return None
        return self._rows.get(key)

    def verdict_context(self, key: str | None) -> str:
        """A fingerprint of what a file's report depends on in this run, besides its bytes, its spec,
        the validator's version and the day taken as today (:func:`xltemplate.validate.verdict_until`).

        With a roster: that there is one (a file without a key is ``key-missing``) and the row of the
        file's key (the key must be on it; every prefilled value is compared with it). With secrets:
        all of them (signatures are verified with them). With the bureau's targets table: that there is
        one and the targets of the file's key (its recorded targets must be those, ``target-changed``).
        With other versions of the form asked for (:meth:`older_versions`): their hashes (a return of one
        is read as that version). The collection ledger reuses a stored report only under the same fingerprint, so a roster row,
        a secret or a key's targets that changed make exactly the reports that depended on them again.
        Whatever else validation comes to take from the run belongs here too.
        """
        return self._verdict_context(key, self.roster_row(key))

    def roster_contexts(self) -> Iterator[str]:
        """:meth:`verdict_context` of each roster row's key, in the roster's order, made from the rows as they come (none
        looked up by key): what it gives for a key is the context of the row :meth:`roster_row` finds for it, the row
        itself where the key is on one row only (a roster read by :func:`~xltemplate.roster.read_roster`)."""
        for row in self.roster.rows if self.roster is not None else ():
            yield self._verdict_context(row.key, row)

    def _verdict_context(self, key: str | None, row: RosterRow | None) -> str:
        parts = {
            "roster": None if self.roster is None else (None if row is None else encode(row.prefill)),
            "roster_given": self.roster is not None,
            "keyring": self.keyring.fingerprint if self.keyring is not None else None,
        }
        if self.targets is not None:  # absent without a table: the fingerprints stored before issue 12 still hold
            truth = self.targets.by_key.get(key) if key is not None else None
            parts["targets"] = None if truth is None else meta.targets_hash(truth)
        older = self.older_versions()
        if older:  # a return of one is read as it (template-version-old); absent without: older fingerprints hold
            parts["older"] = sorted(s.spec_hash for s in older)
        text = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def older_versions(self) -> list[Spec]:
        """The other versions of the form asked for that this run knows (built-ins, ``--old-template``)."""
        if self.explicit is None:
            return []
        return [s for (i, v), s in self.known.items() if i == self.explicit.id and v != self.explicit.version]

    def versions(self, template_id: str) -> list[str]:
        return sorted(v for (i, v) in self.known if i == template_id)

    @property
    def identity_verified(self) -> bool:
        return self.keyring is not None


@dataclass(frozen=True)
class Identified:
    spec: Spec | None  # None: the file cannot be validated against any template
    template_id: str | None  # what the file says
    template_version: str | None
    key: str | None
    prefill: dict[str, object]
    signature: str | None = None  # SIGNATURE_VALID / _INVALID / _MISSING; None when no secret was given
    targets: Targets | None = None  # the workbook's own targets, as its metadata records them


def identify(sub: Submission, run: RunContext) -> tuple[Identified, list[Finding]]:
    """Resolve the template from the metadata; every disagreement is a finding.

    With a secret, the signature is verified whatever the template; with a roster, the key must be on it.
    """
    findings = list(_meta_findings(sub))
    values = sub.meta
    if values is None:
        return Identified(run.explicit, None, None, None, {}), findings + _roster_findings(None, run)
    signature = None
    if run.keyring is not None:
        signature, problem = verify_signature(sub, run.keyring)
        if problem is not None:
            findings.append(problem)
    ident, more = _resolve(values, run)
    findings += more
    findings += _roster_findings(ident.key, run)
    return (ident if signature is None else replace(ident, signature=signature)), findings  # (_resolve leaves it None)


def _resolve(values: dict[str, str], run: RunContext) -> tuple[Identified, list[Finding]]:
    findings: list[Finding] = []
    tid = values.get("template_id") or None
    version = values.get("template_version") or None
    key = (values.get("roster_key") or "").strip() or None
    try:
        prefill = json.loads(values.get("prefill") or "{}")
        if not isinstance(prefill, dict):
            raise ValueError("not a mapping")
    except ValueError:
        prefill = {}
        findings.append(finding("meta-altered", "prefill", sheet=meta.SHEET))
    spec: Spec | None
    if run.explicit is not None:
        spec = run.explicit
        if tid != spec.id:
            findings.append(finding("template-mismatch", sheet=meta.SHEET, value=tid, template=tid or "未知", wanted=spec.id, title=spec.title))
            return Identified(None, tid, version, key, prefill), findings
        older = run.known.get((tid or "", version or "")) if version != spec.version else None
        if older is not None:
            # an older version of the form, when the run has it: read as that version if the inputs did not move
            why = moved_inputs(older, spec)
            if why is not None:
                findings.append(finding("template-version-old-moved", sheet=meta.SHEET, value=version, template=tid, version=version,
                                        wanted=spec.version, why=why))
                return Identified(None, tid, version, key, prefill), findings
            findings.append(finding("template-version-old", sheet=meta.SHEET, value=version, template=tid, version=version,
                                    wanted=spec.version))
            spec = older
        elif version != spec.version:
            findings.append(finding("template-version", sheet=meta.SHEET, value=version, version=version, wanted=spec.version))
            return Identified(None, tid, version, key, prefill), findings
    else:
        spec = run.known.get((tid or "", version or ""))
        if spec is None:
            others = run.versions(tid or "")
            if others:
                findings.append(finding("template-version", "others", sheet=meta.SHEET, value=version, template=tid,
                                        version=version, versions="、".join(others)))
            else:
                findings.append(finding("template-unknown", sheet=meta.SHEET, value=tid, template=tid))
            return Identified(None, tid, version, key, prefill), findings
    if values.get("spec_hash") != spec.spec_hash:
        findings.append(finding("meta-altered", "spec-hash", sheet=meta.SHEET, value=values.get("spec_hash")))
    if not family_of(spec).takes_targets:
        return Identified(spec, tid, version, key, prefill), findings
    targets, problem = _targets(values)
    if problem is not None:
        return Identified(None, tid, version, key, prefill), findings + [problem]
    findings += _targets_table(key, targets, run)
    return Identified(spec, tid, version, key, prefill, targets=targets), findings


def moved_inputs(old: Spec, new: Spec) -> str | None:
    """Why a return of ``old`` cannot be read as one of ``new`` (in words), or None when every input of the
    two versions sits in the same cell, of the same id and kind (a blank form's layout for a family of targets)."""
    if old.family != new.family:
        return "表式不同"
    if old.sheet != new.sheet:
        return f"工作表名称由“{old.sheet}”改为“{new.sheet}”"

    def slots(spec: Spec) -> list[tuple[str, str, str, tuple[str, ...]]]:
        family = family_of(spec)
        layout = family.layout(spec)
        head = [(s.field.id, s.field.type, s.cell.a1, s.field.choices) for s in layout.fields if not s.field.computed]
        return head + [(s.id, s.kind, s.cell.a1, s.choices) for s in family.inputs(layout)]

    a, b = slots(old), slots(new)
    for n, (x, y) in enumerate(zip(a, b), start=1):
        if x[0] != y[0] or x[2] != y[2]:
            return f"第 {n} 个填写项旧版本为 {x[2]}（{x[0]}），新版本为 {y[2]}（{y[0]}）"
        if x != y:
            return f"填写项“{x[0]}”（{x[2]}）的类型或选项不同"
    if len(a) != len(b):
        return f"填写项由 {len(a)} 个变为 {len(b)} 个"
    return None


def _targets(values: dict[str, str]) -> tuple[Targets | None, Finding | None]:
    """The targets a workbook records (None for a blank form), or why they cannot be used."""
    text = values.get(meta.TARGETS_KEY)
    if not text:
        return None, None
    if TARGETS_BY_PATTERN:
        plain = meta.plain_records(text)
        if plain is not None:  # (text is the canonical JSON of these records: see TARGETS_BY_PATTERN)
            if values.get(meta.TARGETS_HASH_KEY) != meta.text_hash(text):
                return None, _damaged()
            return meta.RecordedTargets(plain, text), None
    try:
        data = json.loads(text)
    except ValueError:
        return None, _damaged()
    if not isinstance(data, list) or not data or not all(isinstance(t, dict) for t in data):
        return None, _damaged()
    canonical = meta.targets_json(data)
    if values.get(meta.TARGETS_HASH_KEY) != meta.text_hash(canonical):
        return None, _damaged()
    return meta.RecordedTargets(data, canonical), None


#: Recorded targets as the generator writes them (records of :data:`~xltemplate.meta.RECORD_KEYS`, each value a text
#: without an escape: :func:`~xltemplate.meta.plain_records`) are proved by one pattern to be the canonical JSON of what
#: json.loads reads them as, so the text itself is hashed and kept as their canonical text, where json.dumps of the
#: records (sorted keys) made it again: the same records, text and verdict; for 30 targets the pattern takes 11 us
#: where the canonical text took ~100 us (CPU, load 4). Any other text is read as before. False: always as before (the
#: tests compare).
TARGETS_BY_PATTERN = True


def _damaged() -> Finding:
    """Why recorded targets cannot be used (made where they cannot: its message is rendered, ~15 µs)."""
    return finding("target-changed", "damaged", sheet=meta.SHEET)


def _targets_table(key: str | None, targets: Targets | None, run: RunContext) -> list[Finding]:
    """With the bureau's targets table, a return's recorded targets must be its key's."""
    if run.targets is None or key is None:
        return []
    truth = run.targets.by_key.get(key)
    if truth is None:
        return [finding("target-changed", "not-in-table", sheet=meta.SHEET, value=key, key=key)]
    if targets is None:
        return [finding("target-changed", "meta", sheet=meta.SHEET, detail="文件中没有预填的绩效目标")]
    if [dict(t) for t in targets] != [dict(t) for t in truth]:
        return [finding("target-changed", "meta", sheet=meta.SHEET, detail=targets_difference(targets, truth))]
    return []


def targets_difference(got: Targets, want: Targets) -> str:
    """The first difference between recorded targets and the table's, in words."""
    if len(got) != len(want):
        return f"文件中有 {len(got)} 个指标，目标表中有 {len(want)} 个"
    names = {"name": "三级指标", "kind": "指标性质", "unit": "计量单位", "target": "年度指标值", "points": "分值",
             "level": "一级指标", "sublevel": "二级指标"}
    for n, (g, w) in enumerate(zip(got, want), start=1):
        for k, word in names.items():
            if g.get(k) != w.get(k):
                return f"第 {n} 个指标“{w.get('name')}”的{word}：文件中为“{g.get(k)}”，目标表中为“{w.get(k)}”"
    return "指标不同"


def _meta_findings(sub: Submission) -> Iterator[Finding]:
    values = sub.meta
    if values is None:
        yield finding("meta-missing")
        return
    for key, length in sorted(sub.meta_too_long.items()):
        yield finding("meta-altered", "too-long", sheet=meta.SHEET, key=key, length=length)
    if values.get("format") != meta.FORMAT or any(k not in values for k in meta.KEYS):
        yield finding("meta-altered", "incomplete", sheet=meta.SHEET)
        return
    for k in meta.KEYS:
        prop = sub.properties.get(meta.PROPERTY_PREFIX + k)
        if k != "prefill" and prop is not None and prop != values.get(k):
            yield finding("meta-altered", "inconsistent", sheet=meta.SHEET, value=values.get(k))


def verify_signature(sub: Submission, keyring: Keyring) -> tuple[str, Finding | None]:
    """Check the identity signature of a file whose metadata is present: (status, the finding if any)."""
    values = sub.meta or {}
    on_sheet = values.get(meta.SIGNATURE_KEY) or None
    in_props = sub.properties.get(meta.PROPERTY_PREFIX + meta.SIGNATURE_KEY) or None
    if on_sheet is None and in_props is None:
        return SIGNATURE_MISSING, finding("signature-missing", sheet=meta.SHEET)
    if on_sheet is not None and in_props is not None and on_sheet != in_props:
        return SIGNATURE_INVALID, finding("signature-invalid", "twice", sheet=meta.SHEET)
    why = keyring.verify(values, on_sheet or in_props or "")
    if why is not None:
        return SIGNATURE_INVALID, finding("signature-invalid", sheet=meta.SHEET, why=why)
    return SIGNATURE_VALID, None


def _roster_findings(key: str | None, run: RunContext) -> list[Finding]:
    """With a roster, a return must name a unit on it: otherwise it cannot count for anyone."""
    if run.roster is None:
        return []
    if key is None:
        return [finding("key-missing")]
    if run.roster_row(key) is None:
        return [finding("key-not-in-roster", value=key, key=key)]
    return []
