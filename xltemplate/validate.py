"""Judge a submission against its spec: recompute everything, trust nothing.

Each check is a small generator of findings. :func:`validate_submission` runs
them all, recomputes the category subtotals, total, grade and execution rate
from the normalised inputs and the spec (never from what the file claims), and
returns a :class:`~xltemplate.report.FileReport`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

from .findings import Finding, finding
from .formulas import FORMULA_VERSIONS, as_decimal, evaluate, formulas, is_number, plain_number
from .identify import TemplateSet, identify
from .layout import LAYOUT_VERSION, META_SHEET, Cell, FieldSlot, Layout, RowSlot
from .read import read_submission
from .report import FileReport, Report, Results
from .resubmission import saved_time_problem
from .roster import RosterRow
from .sniff import Unreadable
from .spec import Spec, TemplateLike
from .submission import CellData, Submission
from .values import Parsed, parse_field, parse_number, parse_text

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|_x00(?:0[0-8BbCcEeFf]|1[0-9A-Fa-f])_")
_MARKUP = re.compile(r"</?(p|br|div|span|font|b|strong|table|tr|td)\b[^>]*>|&nbsp;|&lt;|&gt;", re.I)
_NUM_TOLERANCE = Decimal("0.000001")


def validate_path(path: str | Path, templates: TemplateSet | TemplateLike | None = None, *, reader: str = "fast",
                  today: dt.date | None = None) -> FileReport:
    """Read and validate one returned file; an unreadable file is a report, not an exception.

    ``templates``: the built-ins (None), or one template (id, spec path or Spec) to validate against.
    """
    templates = templates if isinstance(templates, TemplateSet) else TemplateSet.builtin(templates)
    try:
        sub = read_submission(path, reader=reader)
    except Unreadable as exc:
        return FileReport.unreadable(str(path), finding(exc.code, exc.message))
    return validate_submission(sub, templates, today=today)


@dataclass(frozen=True)
class _Plan:
    """What validation needs from a spec, computed once per spec rather than once per file."""

    layout: Layout
    inputs_and_computed: tuple[Cell, ...]
    computed: tuple[Cell, ...]
    locked_texts: tuple[tuple[str, str, str], ...]  # (A1, expected text, its normalised form)
    formulas: dict[int, dict[str, tuple[str, str]]]  # layout version → defined name → (formula, normalised)
    referenced: tuple[Cell, ...]  # every cell the formulas read

    def formulas_for(self, layout_version: str | None) -> dict[str, tuple[str, str]]:
        """The formulas a file must hold: those of the layout version its metadata names.

        A workbook sent out before an upgrade keeps its older formulas and must stay valid;
        any other version (the current one, a missing or unknown one) is held to the current formulas.
        """
        try:
            version = int(layout_version or "")
        except ValueError:
            version = LAYOUT_VERSION
        return self.formulas.get(version, self.formulas[LAYOUT_VERSION])


_PLANS: dict[tuple[str, str, str], _Plan] = {}


def _plan(spec: Spec) -> _Plan:
    key = (spec.id, spec.version, spec.spec_hash)
    plan = _PLANS.get(key)
    if plan is None:
        from .layout import a1

        layout = Layout(spec)
        referenced = [s.cell for s in layout.fields if not s.field.computed]
        for r in layout.rows:
            referenced += [r.name, r.explanation, r.weight, r.score, r.remark]
        plan = _PLANS[key] = _Plan(
            layout=layout,
            inputs_and_computed=tuple(layout.input_cells() + layout.computed_cells()),
            computed=tuple(layout.computed_cells()),
            locked_texts=tuple((a1(r, c), text, _norm_text(text)) for (r, c), text in layout.locked_texts().items()),
            formulas={v: {name: (f, _norm_formula(f)) for name, f in formulas(layout, v).items()} for v in FORMULA_VERSIONS},
            referenced=tuple(referenced),
        )
    return plan


def validate_submission(sub: Submission, templates: TemplateSet, *, today: dt.date | None = None) -> FileReport:
    """Validate a read submission against the template its metadata names (or the explicit one)."""
    ident, found = identify(sub, templates)
    found += _saved_time(sub, today)
    if sub.has_macros:
        found.append(finding("file-macros", "文件含有宏（VBA）。宏未被运行，只读取了单元格的值；请使用下发的 .xlsx 模板，不要添加宏。"))
    spec = ident.spec
    results = None
    if spec is not None:
        plan = _plan(spec)
        ctx = _Context(spec, plan.layout, sub, ident.prefill, today or dt.date.today(), plan, templates.roster_row(ident.key))
        found += ctx.run()
        results = ctx.results
    return FileReport.build(sub, ident, found, results)


def _saved_time(sub: Submission, today: dt.date | None) -> list[Finding]:
    """A saved time in the future or before generation is not trusted to order resubmissions."""
    now = dt.datetime.combine(today, dt.time.max) if today else dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    why = saved_time_problem(sub.saved_at, (sub.meta or {}).get("generated_at"), now)
    if why is None:
        return []
    return [finding("saved-time-untrusted", f"{why}，可能是电脑的日期设置有误或文件被改动。同一单位有多份文件时，改按文件修改时间判断哪份较新。请检查电脑的日期和时间后重新保存提交。",
                    value=sub.saved_at.isoformat() if sub.saved_at else None)]


@dataclass
class _Context:
    spec: Spec
    layout: Layout
    sub: Submission
    prefill: dict[str, Any]
    today: dt.date
    plan: _Plan
    roster_row: RosterRow | None = None  # the unit's roster row: the truth for prefilled values
    clean: dict[str, Any] = field(default_factory=dict)  # defined name → normalised value
    sheet_cells: dict[str, CellData] = field(default_factory=dict)  # the form sheet's cells, by A1
    parsed_ok: set[str] = field(default_factory=set)
    results: Results | None = None

    @property
    def sheet(self) -> str:
        return self.spec.sheet

    def cell(self, c: Cell) -> CellData | None:
        return self.sheet_cells.get(c.a1)

    def raw(self, c: Cell) -> Any:
        data = self.sheet_cells.get(c.a1)
        return None if data is None else data[0]

    def at(self, code: str, c: Cell, message: str, field_id: str | None = None, value: Any = None) -> Finding:
        return finding(code, message, sheet=self.sheet, cell=c.a1, field=field_id, value=value)

    # ------------------------------------------------------------------------
    def run(self) -> list[Finding]:
        if self.sheet not in self.sub.cells:
            present = "、".join(s for s, state in self.sub.sheets.items() if state == "visible") or "无"
            return [finding("form-sheet-missing", f"找不到填报工作表“{self.sheet}”（现有工作表：{present}）。请不要删除或重命名工作表，使用下发的原始文件填写。", sheet=self.sheet)]
        self.sheet_cells = self.sub.cells[self.sheet]
        out: list[Finding] = []
        for check in (self.check_visibility, self.check_protection, self.check_names, self.check_locked, self.check_prefill,
                      self.check_fields, self.check_rows, self.check_sums, self.check_rules, self.check_formulas):
            out.extend(check())
        self.results = self.recompute()
        return out

    # -- structure and tampering ------------------------------------------------------
    def check_visibility(self) -> Iterator[Finding]:
        """What is validated must be what a person sees: the form sheet shown, no value hidden in it."""
        from .display import MERGED
        from .submission import split_a1

        state = self.sub.sheets.get(self.sheet, "visible")
        if state != "visible":
            yield finding("content-hidden", f"填报工作表“{self.sheet}”被设为隐藏，打开文件时看不到它。请使用下发的原始文件填写，不要隐藏或复制工作表。",
                          sheet=self.sheet, value=state)
        hidden = self.sub.concealed.get(self.sheet, {})
        for a1 in sorted(hidden, key=split_a1):
            if hidden[a1] == MERGED:
                yield finding("content-hidden", f"单元格 {a1} 被合并单元格遮住，其中填写的内容在表格中看不到，未予采用。请取消合并（使用下发的原始文件）。",
                              sheet=self.sheet, cell=a1)
            else:
                yield finding("content-hidden", f"单元格 {a1} 的数字格式隐藏或替换了其中的值，表格中显示的不是实际填写的内容。请恢复原格式（使用下发的原始文件）。",
                              sheet=self.sheet, cell=a1, value=self.raw_at(a1))

    def raw_at(self, a1: str) -> Any:
        data = self.sheet_cells.get(a1)
        return None if data is None else data.value

    def check_protection(self) -> Iterator[Finding]:
        if not self.sub.protected.get(self.sheet, False):
            yield finding("protection-removed", "工作表保护已被撤销。本次已按模板重新核算，但请勿撤销保护或修改锁定内容。", sheet=self.sheet)

    def check_names(self) -> Iterator[Finding]:
        names, sheet = self.sub.defined_names, self.sheet
        wrong = [c for c in self.plan.inputs_and_computed if names.get(c.name) != (sheet, c.a1)]
        if wrong:
            shown = "、".join(c.name for c in wrong[:5]) + ("等" if len(wrong) > 5 else "")
            yield finding("defined-name-changed", f"{len(wrong)} 个单元格名称缺失或指向了别处（{shown}），可能插入或删除过行列。请使用下发的原始文件，不要增删行列。",
                          sheet=self.sheet, cell=wrong[0].a1, value=len(wrong))

    def check_locked(self) -> Iterator[Finding]:
        cells = self.sub.cells[self.sheet]
        for ref, expected, normalised in self.plan.locked_texts:
            data = cells.get(ref)
            got = None if data is None else data.value
            if got != expected and _norm_text(got) != normalised:
                yield finding("locked-text-changed", f"锁定内容被改动：应为“{_short(expected)}”。请恢复原内容（使用下发的原始文件）。",
                              sheet=self.sheet, cell=ref, value=got)
        for r in self.layout.locked_weights():
            got = self.raw(r.weight)
            want = r.spec_weight
            numeric = isinstance(got, (int, float, Decimal)) and is_number(got)
            same = (got is None or got == "") if want is None else (numeric and as_decimal(got) == want)
            if not same:
                shown = "空（不适用）" if want is None else f"{want}"
                yield self.at("weight-changed", r.weight, f"“{r.indicator.name}”的权重是固定的，应为{shown}。请恢复原权重。", r.id, got)

    def check_prefill(self) -> Iterator[Finding]:
        """Prefilled cells against what the bureau sent: the roster when there is one, else the metadata.

        The metadata travels inside the file, so it can be edited along with the cell; the roster cannot.
        With a roster, its values are the truth, and the metadata must agree with them too.
        """
        expected: dict[str, Any] = dict(self.prefill)
        if self.roster_row is not None:
            for fid, truth in sorted(self.roster_row.prefill.items()):
                slot = self._slot(fid)
                if slot is None:
                    continue
                if fid in self.prefill and not _same_value(slot, self.prefill[fid], truth):
                    yield finding("prefill-changed", f"文件中记录的“{slot.field.label}”预填值“{self.prefill[fid]}”与财政局名单中的“{_show(truth)}”不一致，文件被改动过。请使用财政局下发给本单位的原始文件重新填写。",
                                  sheet=META_SHEET, field=fid, value=self.prefill[fid])
                expected[fid] = truth
        for fid, want in sorted(expected.items()):
            slot = self._slot(fid)
            if slot is None:
                continue
            if not _same_value(slot, self.raw(slot.cell), want, strict=True):
                yield self.at("prefill-changed", slot.cell, f"“{slot.field.label}”由财政局预填，应为“{_show(want)}”，不得修改。请恢复原值。", fid, self.raw(slot.cell))

    def _slot(self, fid: str) -> FieldSlot | None:
        try:
            return self.layout.field(fid)
        except KeyError:
            return None

    # -- values -------------------------------------------------------------------------
    def _take(self, c: Cell, parsed: Parsed, label: str, field_id: str, seen: Any) -> Iterator[Finding]:
        """Record a parsed value; yield the normalisation warning or the error."""
        data = self.cell(c)
        if data is not None and data.formula is not None:
            yield self.at("input-formula", c, f"“{label}”中填写的是公式（{_short(data.formula)}），无法核实其结果。请直接填写数值或文字，不要使用公式。", field_id, data.formula)
            return
        if data is not None and data.error:
            yield self.at("value-invalid", c, f"“{label}”显示错误值 {seen}。请填写正确的内容。", field_id, seen)
            return
        if not parsed.ok:
            yield self.at("value-invalid", c, f"“{label}”的值无法识别：{parsed.error}。", field_id, seen)
            return
        self.clean[c.name] = parsed.value
        self.parsed_ok.add(c.name)
        if parsed.note:
            yield self.at("value-normalised", c, f"“{label}”：{parsed.note}。请直接填写数字或日期，不要带单位或文字。", field_id, seen)

    def check_fields(self) -> Iterator[Finding]:
        for slot in self.layout.fields:
            f = slot.field
            if f.computed:
                continue
            seen = self.raw(slot.cell)
            parsed = parse_field(seen, f.type, f.choices)
            yield from self._take(slot.cell, parsed, f.label, f.id, seen)
            if slot.cell.name not in self.parsed_ok:
                continue
            value = parsed.value
            if value is None:
                if f.required:
                    yield self.at("required-missing", slot.cell, f"“{f.label}”为必填项，请填写。", f.id)
                continue
            if f.min is not None and value < f.min or f.max is not None and value > f.max:
                bounds = f"{_show(f.min)}至{_show(f.max)}" if f.min is not None and f.max is not None else (f"不小于{_show(f.min)}" if f.min is not None else f"不大于{_show(f.max)}")
                yield self.at("value-out-of-range", slot.cell, f"“{f.label}”应为{bounds}，现为{_show(value)}。请修改。", f.id, seen)
            if isinstance(value, str):
                if f.max_length and len(value) > f.max_length:
                    yield self.at("text-too-long", slot.cell, f"“{f.label}”有 {len(value)} 字，超过 {f.max_length} 字的限制。请精简。", f.id, _short(value))
                if _CONTROL.search(value):
                    yield self.at("text-control-chars", slot.cell, f"“{f.label}”含有不可见的控制字符（可能是从其他系统复制的）。请删除后重新输入。", f.id, _short(value))
                if _MARKUP.search(value):
                    yield self.at("text-markup", slot.cell, f"“{f.label}”含有网页标记（如 <p>），可能是从网页系统复制的。请删除这些标记。", f.id, _short(value))

    def check_rows(self) -> Iterator[Finding]:
        for r in self.layout.rows:
            label = r.indicator.name if r.indicator else f"{r.category.name}自定义指标{r.extra}"
            if r.weight_editable:
                seen = self.raw(r.weight)
                yield from self._take(r.weight, parse_number(seen, "score"), f"{label}的权重", r.id, seen)
            else:
                self.clean[r.weight.name] = r.spec_weight
                self.parsed_ok.add(r.weight.name)
            seen = self.raw(r.score)
            yield from self._take(r.score, parse_number(seen, "score"), f"{label}的自评分", r.id, seen)
            for c in (r.remark,) + ((r.name, r.explanation) if r.text_editable else ()):
                self.clean[c.name] = parse_text(self.raw(c)).value
            if not r.text_editable:
                self.clean[r.name.name] = r.indicator.name if r.indicator else None
            yield from self._score_rules(r, label)

    def _score_rules(self, r: RowSlot, label: str) -> Iterator[Finding]:
        w_ok, s_ok = r.weight.name in self.parsed_ok, r.score.name in self.parsed_ok
        w, s = self.clean.get(r.weight.name), self.clean.get(r.score.name)
        if r.indicator is None:
            filled = [self.raw(c) not in (None, "") for c in (r.name, r.explanation, r.weight, r.score, r.remark)]
            if not any(filled):
                return
            missing = [n for n, c in (("名称", r.name), ("权重", r.weight), ("自评分", r.score)) if self.raw(c) in (None, "")]
            if missing:
                yield self.at("extra-row-incomplete", r.name, f"{label}未填写完整（缺少{'、'.join(missing)}）。自定义指标须同时填写名称、权重和自评分，不用的行请全部清空。", r.id)
                return
        if w_ok and w is not None and w < 0:
            yield self.at("value-out-of-range", r.weight, f"{label}的权重不能为负数。", r.id, self.raw(r.weight))
            return
        if not (w_ok and s_ok):
            return
        weight = w or Decimal(0)
        if s is None:
            if weight > 0:
                yield self.at("score-missing", r.score, f"“{label}”（权重{_show(weight)}）未填写自评分。请填写 0 至 {_show(weight)} 之间的分数。", r.id)
            return
        if s < 0:
            yield self.at("score-negative", r.score, f"“{label}”的自评分不能为负数。请填写 0 至 {_show(weight)} 之间的分数。", r.id, self.raw(r.score))
        elif weight == 0 and s > 0:
            yield self.at("score-not-applicable", r.score, f"“{label}”权重为空（不适用），自评分只能为 0 或空。请改为 0，或先为该指标分配权重。", r.id, self.raw(r.score))
        elif s > weight:
            yield self.at("score-above-weight", r.score, f"“{label}”的自评分 {_show(s)} 超过权重 {_show(weight)}。请改为不超过 {_show(weight)} 的分数。", r.id, self.raw(r.score))

    def check_sums(self) -> Iterator[Finding]:
        total = Decimal(0)
        complete = True
        for c in self.layout.categories:
            names = [r.weight.name for r in c.rows]
            if any(n not in self.parsed_ok for n in names):
                complete = False
                continue
            s = sum((self.clean.get(n) or Decimal(0)) for n in names)
            total += s
            if s != c.category.points:
                yield self.at("category-weight-sum", c.weight, f"“{c.category.name}”各指标权重合计为 {_show(s)}，应为 {_show(c.category.points)} 分。请调整本类权重（含自定义指标）。", c.category.id, _show(s))
        if complete and total != self.spec.total:
            yield self.at("total-weight-sum", self.layout.total_weight, f"权重合计为 {_show(total)}，应为 {_show(self.spec.total)} 分。请按各类分值调整权重。", None, _show(total))

    def check_rules(self) -> Iterator[Finding]:
        roles = self.spec.summary
        budget = self._field_value(roles.get("budget"))
        executed = self._field_value(roles.get("executed"))
        if isinstance(budget, Decimal) and isinstance(executed, Decimal):
            slot = self.layout.field(roles["executed"])
            if executed > budget:
                yield self.at("executed-above-budget", slot.cell, f"预算执行数 {_money(executed)} 元超过当年预算数 {_money(budget)} 元。请核对两项金额。", slot.field.id, _show(executed))
            if budget == 0:
                b = self.layout.field(roles["budget"])
                yield self.at("rate-undefined", b.cell, "当年预算数为 0，预算执行率无法计算。请核对预算数。", b.field.id, 0)
        date_id = roles.get("date")
        when = self._field_value(date_id)
        if isinstance(when, dt.date):
            slot = self.layout.field(date_id)
            if when > self.today:
                yield self.at("date-in-future", slot.cell, f"“{slot.field.label}”{when.isoformat()} 晚于今天。请填写实际自评日期。", date_id, when.isoformat())
            elif self.spec.fiscal_year and when > dt.date(self.spec.fiscal_year + 1, 12, 31):
                yield self.at("date-late", slot.cell, f"“{slot.field.label}”{when.isoformat()} 远晚于 {self.spec.fiscal_year} 年度。请核对日期。", date_id, when.isoformat())

    def _field_value(self, field_id: str | None) -> Any:
        if not field_id:
            return None
        name = self.layout.field(field_id).cell.name
        return self.clean.get(name) if name in self.parsed_ok else None

    # -- formulas: present, unchanged, and what they claim -----------------------------------
    def check_formulas(self) -> Iterator[Finding]:
        expected = self.plan.formulas_for((self.sub.meta or {}).get("layout_version"))
        raw_values = {c.name: self.raw(c) for c in self.plan.referenced}
        should_show = evaluate(self.layout, raw_values)  # what a spreadsheet would show for these cells
        for c in self.plan.computed:
            data = self.cell(c)
            if data is None or data.formula is None:
                seen = None if data is None else data.value
                yield self.at("formula-overwritten", c, f"该单元格应为自动计算的公式，现被改为固定值“{seen if seen is not None else '空'}”。请恢复公式（使用下发的原始文件），不要手工填写。", c.name, seen)
                continue
            formula, normalised = expected[c.name]
            if data.formula != formula and _norm_formula(data.formula) != normalised:
                yield self.at("formula-changed", c, "该单元格的公式被修改。请恢复原公式（使用下发的原始文件）。", c.name, data.formula)
                continue
            if data.value is None and should_show[c.name] in ("", None):
                continue
            if data.value is not None and not _same(data.value, should_show[c.name]):
                yield self.at("cached-value-stale", c, f"文件中显示的值“{data.value}”与按填报内容重算的结果“{_show(should_show[c.name])}”不一致（文件未重新计算或被改动）。已按重算结果处理；请在表格软件中重新计算后保存。", c.name, data.value)

    # -- the figures that count ---------------------------------------------------------------
    def recompute(self) -> Results:
        values = {}
        for c in self.plan.referenced:
            values[c.name] = self.clean.get(c.name)
        out = evaluate(self.layout, values)
        grade_slot = self.layout.grade_field
        rate = None
        for slot in self.layout.fields:
            if slot.field.compute == "ratio" and isinstance(out[slot.cell.name], Decimal):
                rate = out[slot.cell.name]
        cats = {c.category.id: {"weight": out[c.weight.name], "score": out[c.score.name]} for c in self.layout.categories}
        rows = {}
        for r in self.layout.rows:
            rows[r.id] = {"category": r.category.id, "name": values.get(r.name.name), "weight": values.get(r.weight.name),
                          "score": values.get(r.score.name), "extra": r.indicator is None}
        fields = {s.field.id: (out[s.cell.name] if s.field.computed else values.get(s.cell.name)) for s in self.layout.fields}
        grade = out[grade_slot.cell.name] if grade_slot else None
        return Results(categories=cats, total_weight=out["total_weight"], total=out["total_score"],
                       grade=grade or None, execution_rate=rate, fields=fields, indicators=rows)


def _same_value(slot: FieldSlot, got: Any, want: Any, strict: bool = False) -> bool:
    """Two values of a field equal once read the way people type them; ``strict``: ``got`` must be readable."""
    f = slot.field
    g, w = parse_field(got, f.type, f.choices), parse_field(want, f.type, f.choices)
    return (g.ok or not strict) and g.value == w.value


def _norm_text(v: Any) -> str:
    return re.sub(r"\s+", "", "" if v is None else str(v))


def _norm_formula(f: str) -> str:
    """Compare formulas as an engine would: without spaces, $ signs or case outside text literals."""
    parts = re.split(r'("(?:[^"]|"")*")', f.lstrip("="))
    return "".join(p if p.startswith('"') else re.sub(r"[\s$]", "", p).upper().replace("_XLFN.", "") for p in parts)


def _same(cached: Any, expected: Any) -> bool:
    if expected in ("", None):
        return cached in ("", None)
    if isinstance(expected, Decimal):
        if not is_number(cached):
            return False
        return abs(Decimal(str(cached)) - expected) <= _NUM_TOLERANCE * max(Decimal(1), abs(expected))
    return str(cached) == str(expected)


def _show(v: Any) -> str:
    if isinstance(v, Decimal):
        return plain_number(v)
    if isinstance(v, dt.date):
        return v.isoformat()
    return "" if v is None else str(v)


def _money(v: Decimal) -> str:
    return f"{v:,.2f}"


def _short(text: Any, n: int = 40) -> str:
    s = "" if text is None else str(text)
    return s if len(s) <= n else s[:n] + "…"


def validate_paths(paths: list[str | Path], templates: TemplateSet | TemplateLike | None = None, *, reader: str = "fast",
                   today: dt.date | None = None, jobs: int | None = None,
                   progress: Any = None) -> Report:
    """Validate every file under ``paths``; every input is in the report, as a file or as skipped.

    ``jobs=None`` validates in this process; a number runs that many isolated worker
    processes with the per-file memory and time bounds (the CLI always does).
    """
    from .inputs import discover

    templates = templates if isinstance(templates, TemplateSet) else TemplateSet.builtin(templates)
    found = discover(list(paths))
    if jobs is None:
        files = [validate_path(p, templates, reader=reader, today=today) for p in found.files]
    else:
        from .runner import validate_many

        files = validate_many(found.files, templates, jobs=jobs, reader=reader, today=today, progress=progress)
    return Report(files=files, skipped=found.skipped, identity_verified=templates.keyring is not None)
