"""Findings: what validation says about a returned file, with stable codes and their messages.

Every code is declared once in :data:`CODES`: its severity, a short Chinese title, its meaning
(the README's table is generated from these, and a test keeps the two in step) and its message
templates, in Chinese, each ending with how to fix the problem. Call sites pass values, never
sentences: ``finding("score-above-weight", cell="E14", label="资金使用的合规性", score="7",
weight="6")``. A code may have several templates, named variants of one problem
(``finding("content-hidden", "merged", cell="C9")``); ``{sheet}`` and ``{cell}`` in a template are
the finding's own place. A test walks the package's source and renders every call it finds.
"""

from __future__ import annotations

import string
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any, Mapping

from .words import ERROR, WARNING

__all__ = ["CODES", "Code", "ERROR", "Finding", "WARNING", "codes_table", "display_value", "finding", "message"]

#: What a finding quotes from a file is cut to this many characters (with "…"); messages to this many.
MAX_VALUE_CHARS = 200
MAX_MESSAGE_CHARS = 600
#: Names a template may use besides its own parameters: the finding's place.
PLACE_FIELDS = frozenset({"sheet", "cell"})

_USE_SENT = "请使用财政局下发给本单位的原始文件填写后提交；如有疑问，请联系财政局。"
_RESAVE = "请重新保存后提交。"
_RESAVE_IN_APP = "请在表格软件中重新保存后提交。"
#: After a bounded worker's account of what happened to the file (out of memory, out of time, died).
_BOUNDED = "请重新保存为下发的 .xlsx 模板后提交；如仍出错请联系财政局。"


@dataclass(frozen=True)
class Code:
    """One finding code: severity, Chinese title, meaning (English, for the README) and message templates."""

    code: str
    severity: str
    title: str  # short, Chinese: shown in the findings sheet and the README
    meaning: str  # one line in English for the README
    messages: Mapping[str, str] = field(default_factory=dict)  # variant ("" is the usual one) → template

    def fields(self, variant: str = "") -> frozenset[str]:
        """The parameters a template takes (``{label}`` …), place fields included."""
        return _fields(self.messages[variant])

    def render(self, variant: str = "", **params: Any) -> str:
        """The message for these values; a missing or an unknown parameter is a bug (KeyError)."""
        template = self.messages.get(variant)
        if template is None:
            raise KeyError(f"finding code {self.code!r} has no message variant {variant!r}")
        wanted = self.fields(variant)
        extra = set(params) - wanted - PLACE_FIELDS
        if extra:
            raise KeyError(f"{self.code}/{variant or 'default'}: unexpected {sorted(extra)}")
        return template.format(**params)


@lru_cache(maxsize=None)
def _fields(template: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)


def _c(code: str, severity: str, title: str, meaning: str, message: str | Mapping[str, str]) -> Code:
    return Code(code, severity, title, meaning, {"": message} if isinstance(message, str) else dict(message))


_TABLE = (
    # -- the file itself ------------------------------------------------------------
    _c("file-unreadable", ERROR, "文件无法读取", "the file cannot be read at all (permissions, a folder, an I/O error)", {
        "": "无法访问文件：{reason}。请确认文件存在且有读取权限。",
        "read": "无法读取文件：{reason}。请确认有读取权限。",
        "folder": "这是一个文件夹，不是工作簿文件。请提交 .xlsx 文件本身。",
        "special": "这不是普通文件。请提交 .xlsx 文件本身。",
        "changed": "文件 {name} 在核对之后被改动过，未生成标注副本。请重新运行核对。",
    }),
    _c("file-empty", ERROR, "空文件", "the file has 0 bytes", "文件大小为 0 字节（可能保存或传输失败）。请重新保存并提交。"),
    _c("file-not-xlsx", ERROR, "不是 xlsx 工作簿", "not a zip-based .xlsx workbook", {
        "": "这不是 Excel 工作簿（.xlsx）文件。请提交下发的 .xlsx 模板。",
        "zip": "文件是压缩包，但不是 Excel 工作簿。请提交下发的 .xlsx 模板。",
    }),
    _c("file-corrupt", ERROR, "文件已损坏", "a zip whose workbook parts are missing, truncated or malformed", {
        # a part the readers refuse: ``detail`` says what is wrong with it, in a clause of its own
        "part": "文件部件 {part} {detail}。请用下发的原始模板重新填写，或在表格软件中重新保存后提交。",
        "zip": "文件已损坏或不完整（{reason}）。" + _RESAVE,
        "inflate": "文件已损坏，无法解压（{reason}）。" + _RESAVE,
        "part-inflate": "文件部件 {part} 无法解压（{reason}）。" + _RESAVE,
        "part-damaged": "文件部件 {part} 的内容已损坏（{reason}）。" + _RESAVE,
        "part-encoding": "文件部件 {part} 的字符编码无法识别（{reason}）。" + _RESAVE,
        "unsupported-encoding": "文件部件 {part} 使用了不支持的字符编码（{encoding}）。" + _RESAVE_IN_APP,
        "no-content-types": "工作簿缺少必需的部件 [Content_Types].xml（Excel 无法打开这样的文件）。" + _RESAVE_IN_APP,
        "twin-parts": "压缩包中有两个名称相同（或仅大小写不同）的部件：{first}、{second}。不同的表格软件会读取不同的内容，请在表格软件中重新保存后提交。",
        "part-name": "压缩包中的部件名“{part}”无效。" + _RESAVE_IN_APP,
        "strict": "文件是“Strict Open XML”格式，不是下发的普通 Excel 工作簿。请在 Excel 中“另存为”“Excel 工作簿 (*.xlsx)”后提交。",
        "shared-formula": "单元格 {cell} 的共享公式已损坏（{reason}）。" + _RESAVE,
        "reference-parts": "文件的共享字符串或样式部件不在常规位置（参考读取程序无法按关系读取）。" + _RESAVE_IN_APP,
        "reference": "文件已损坏，无法打开（{reason}）。" + _RESAVE,
    }),
    _c("file-encrypted", ERROR, "文件已加密", "a password-encrypted workbook (an OLE container), cannot be read",
       "文件设置了打开密码（已加密），无法读取。请取消文件密码后重新提交（工作表保护不用撤销）。"),
    _c("file-xls", ERROR, "旧版 .xls 格式", "an old binary .xls workbook (renamed or not)",
       "这是旧版 Excel 97-2003 (.xls) 格式。请用下发的 .xlsx 模板填写，或另存为 .xlsx 后再提交。"),
    _c("file-ods", ERROR, "ODS 格式", "an OpenDocument spreadsheet, not the .xlsx that was sent",
       "这是 OpenDocument (.ods) 格式。请在表格软件中另存为 Excel 工作簿 (.xlsx) 后提交。"),
    _c("file-too-large", ERROR, "文件过大", "declared sizes or compression ratios beyond the reader's bounds (zip bomb)", {
        "file": "文件有 {mb} MB，超过 {limit} MB 上限。请删除多余内容后重新提交。",
        "entries": "压缩包内有 {count} 个部件，超过上限。请提交下发的模板。",
        "part-size": "部件 {part} 解压后有 {mb} MB，超过上限（疑似压缩炸弹）。",
        "part-ratio": "部件 {part} 的压缩比异常（{ratio}:1，疑似压缩炸弹）。",
        "total": "文件解压后共 {mb} MB，超过上限（疑似压缩炸弹）。",
        "part-read": "文件部件 {part} 超过 {limit} MB，超过上限。",
        "merges": "工作表 {part} 有超过 {limit} 个合并单元格，超过上限。请提交下发的原始模板。",
        # the bounded worker ran out of memory: ``what`` is the worker's account (xltemplate.workers)
        "memory": "{what}。" + _BOUNDED,
    }),
    _c("file-unsafe-xml", ERROR, "文件含不安全内容", "XML with entity declarations or external entities", {
        "": "文件部件 {part} 含有文档类型或实体声明（可能是恶意构造的文件），已拒绝读取。请提交下发的原始模板。",
        "reference": "文件含有实体或外部引用声明（可能是恶意构造的文件），已拒绝读取（{reason}）。请提交下发的原始模板。",
    }),
    _c("file-timeout", ERROR, "读取超时", "reading the file took longer than the per-file time bound",
       "{what}。" + _BOUNDED),
    _c("file-reader-crashed", ERROR, "读取程序异常", "the reader failed or its process died on this file; the run went on",
       "{what}。" + _BOUNDED),
    _c("file-macros", WARNING, "含宏", "an .xlsm with macros: values read, nothing run",
       "文件含有宏（VBA）。宏未被运行，只读取了单元格的值；请使用下发的 .xlsx 模板，不要添加宏。"),
    # -- which template ---------------------------------------------------------------
    _c("meta-missing", ERROR, "缺少模板信息", "the hidden metadata sheet is gone: the file was not generated by xltemplate or was rebuilt",
       "文件中没有财政局下发表格的隐藏标识：可能不是用下发的文件填写的，或内容被复制到了新的工作簿。请使用财政局下发给本单位的原始 .xlsx 文件填写后提交；如有疑问，请联系财政局。"),
    _c("meta-altered", ERROR, "模板信息被改动", "the metadata disagrees with itself, its document properties or the template", {
        "incomplete": "文件中财政局下发表格的隐藏标识不完整，可能被改动过。请使用财政局下发的原始文件重新填写。",
        "inconsistent": "文件中财政局下发表格的隐藏标识前后不一致，可能被改动过。请使用财政局下发的原始文件重新填写。",
        "prefill": "文件中财政局预填内容的隐藏记录已损坏。请使用财政局下发的原始文件重新填写。",
        "spec-hash": "文件中财政局下发表格的隐藏标识与当前表格不一致（标识被改动，或表格内容已更新）。请使用财政局最新下发的原始文件重新填写。",
        "too-long": "文件中财政局下发表格的隐藏标识“{key}”长度异常（{length} 个字符），可能被改动过。请使用财政局下发的原始文件重新填写。",
    }),
    _c("template-unknown", ERROR, "未知模板", "the metadata names a template this installation does not have",
       "此文件不是用本次下发的表格填写的（表格标识“{template}”无法识别）。请使用财政局下发给本单位的文件重新填写；如有疑问，请联系财政局。"),
    _c("template-mismatch", ERROR, "模板不符", "the file was generated from another template than the one asked for",
       "此文件由模板“{template}”生成，不是要求的“{wanted}”。请使用财政局下发的“{title}”模板填写。"),
    _c("template-version", ERROR, "模板版本不符", "the file was generated from another version of the template", {
        "": "此文件使用模板版本 {version}，当前要求版本 {wanted}。请使用最新下发的模板重新填写。",
        "others": "此文件使用模板“{template}”的版本 {version}，可用版本为 {versions}。请使用最新下发的模板重新填写。",
    }),
    _c("template-version-old", WARNING, "旧版本模板", "the file is in an older version of the form whose inputs sit in the same cells as the current one's: checked against its own version and collected",
       "此文件使用模板“{template}”的旧版本 {version}（当前版本为 {wanted}）；两个版本的填写位置相同，已按版本 {version} 核对并汇总。今后请使用最新下发的表格。"),
    _c("template-version-old-moved", ERROR, "旧版本模板（须用新表）", "the file is in an older version of the form whose inputs sit elsewhere than the current one's: not collected",
       "此文件使用模板“{template}”的旧版本 {version}，与当前版本 {wanted} 的填写位置不同（{why}），不能汇总。请用最新下发的版本 {wanted} 的表格重新填写后提交。"),
    # -- whose file (with the bureau's secret: --secret-file) -----------------------------
    _c("signature-invalid", ERROR, "签名无效", "the identity signature does not match the file's template, key or prefilled values, or was made with an unknown secret", {
        "": "身份签名无效（{why}）：文件的编号、模板或预填内容被改动过，或不是本次下发的文件。" + _USE_SENT,
        "twice": "文件中的两处身份签名不一致，文件被改动过。" + _USE_SENT,
    }),
    _c("signature-missing", ERROR, "缺少签名", "a secret was given but the file carries no identity signature",
       "文件没有财政局的身份签名，无法确认它是下发给本单位的文件。" + _USE_SENT),
    # -- structure and tampering ---------------------------------------------------------
    _c("form-sheet-missing", ERROR, "缺少填报工作表", "the form sheet is missing or renamed",
       "找不到填报工作表“{sheet}”（现有工作表：{present}）。请不要删除或重命名工作表，使用下发的原始文件填写。"),
    _c("content-hidden", ERROR, "内容被隐藏", "what validation reads is hidden from view: the form sheet is hidden, a merged range covers a filled cell, or a number format hides or replaces a value", {
        "sheet": "填报工作表“{sheet}”被设为隐藏，打开文件时看不到它。请使用下发的原始文件填写，不要隐藏或复制工作表。",
        "merged": "单元格 {cell} 被合并单元格遮住，其中填写的内容在表格中看不到，未予采用。请取消合并（使用下发的原始文件）。",
        "format": "单元格 {cell} 的数字格式隐藏或替换了其中的值，表格中显示的不是实际填写的内容。请恢复原格式（使用下发的原始文件）。",
    }),
    _c("protection-removed", WARNING, "工作表保护已撤销", "sheet protection was removed",
       "工作表保护已被撤销。本次已按模板重新核算，但请勿撤销保护或修改锁定内容。"),
    _c("defined-name-changed", WARNING, "名称被改动", "a defined name is missing or points elsewhere",
       "{count} 个单元格名称缺失或指向了别处（{names}），可能插入或删除过行列。请使用下发的原始文件，不要增删行列。"),
    _c("locked-text-changed", ERROR, "锁定内容被改动", "a label, indicator name or explanation differs from the template",
       "锁定内容被改动：应为“{expected}”。请恢复原内容（使用下发的原始文件）。"),
    _c("weight-changed", ERROR, "固定权重被改动", "a fixed weight differs from the template",
       "“{label}”的权重是固定的，应为{expected}。请恢复原权重。"),
    _c("prefill-changed", ERROR, "预填内容被改动", "a value the bureau prefilled differs from what was sent", {
        "": "“{label}”由财政局预填，应为“{expected}”，不得修改。请恢复原值。",
        "meta": "文件中记录的“{label}”预填值“{recorded}”与财政局名单中的“{expected}”不一致，文件被改动过。请使用财政局下发给本单位的原始文件重新填写。",
    }),
    _c("formula-overwritten", ERROR, "公式被覆盖", "a computed cell no longer holds a formula (a value was typed or pasted over it)",
       "该单元格应为自动计算的公式，现被改为固定值“{seen}”。请恢复公式（使用下发的原始文件），不要手工填写。"),
    _c("formula-changed", ERROR, "公式被修改", "a computed cell holds a different formula",
       "该单元格的公式被修改。请恢复原公式（使用下发的原始文件）。"),
    _c("cached-value-stale", WARNING, "显示值与重算不符", "the value the file shows for a formula differs from the recomputation",
       "文件中显示的值“{seen}”与按填报内容重算的结果“{expected}”不一致（文件未重新计算或被改动）。已按重算结果处理；请在表格软件中重新计算后保存。"),
    # -- values ---------------------------------------------------------------------------
    _c("required-missing", ERROR, "必填项为空", "a required field is empty", "“{label}”为必填项，请填写。"),
    _c("value-normalised", WARNING, "已自动规范", "a value typed as text (or with units, full-width digits …) was read as a number or date",
       "“{label}”：{note}。请直接填写数字或日期，不要带单位或文字。"),
    _c("value-invalid", ERROR, "无法识别的值", "a value that is not of the field's type, or not one of its choices", {
        "": "“{label}”的值无法识别：{error}。",
        "error-value": "“{label}”显示错误值 {seen}。请填写正确的内容。",
    }),
    _c("value-out-of-range", ERROR, "超出范围", "a value outside the field's bounds", {
        "": "“{label}”应为{bounds}，现为{seen}。请修改。",
        "negative-weight": "{label}的权重不能为负数。",
    }),
    _c("text-too-long", WARNING, "文字过长", "a text longer than the spec's limit", "“{label}”有 {length} 字，超过 {limit} 字的限制。请精简。"),
    _c("text-control-chars", WARNING, "含控制字符", "a text with invisible control characters (removed in the roll-up)",
       "“{label}”含有不可见的控制字符（可能是从其他系统复制的）。请删除后重新输入。"),
    _c("input-formula", ERROR, "输入单元格含公式", "a cell for typing holds a formula: its result cannot be verified",
       "“{label}”中填写的是公式（{formula}），无法核实其结果。请直接填写数值或文字，不要使用公式。"),
    _c("text-markup", WARNING, "含网页标记", "a text with leftover markup such as <p>",
       "“{label}”含有网页标记（如 <p>），可能是从网页系统复制的。请删除这些标记。"),
    _c("score-missing", ERROR, "自评分未填", "an applicable indicator has no score",
       "“{label}”（权重{weight}）未填写自评分。请填写 0 至 {weight} 之间的分数。"),
    _c("score-above-weight", ERROR, "自评分超过权重", "a score above its indicator's weight",
       "“{label}”的自评分 {score} 超过权重 {weight}。请改为不超过 {weight} 的分数。"),
    _c("score-negative", ERROR, "自评分为负", "a negative score", "“{label}”的自评分不能为负数。请填写 0 至 {weight} 之间的分数。"),
    _c("score-not-applicable", ERROR, "不适用指标得分", "an indicator without weight (not applicable) scored above 0",
       "“{label}”权重为空（不适用），自评分只能为 0 或空。请改为 0，或先为该指标分配权重。"),
    _c("extra-row-incomplete", ERROR, "自定义指标不完整", "an extra indicator row that is neither complete (name, weight, score) nor empty",
       "{label}未填写完整（缺少{missing}）。自定义指标须同时填写名称、权重和自评分，不用的行请全部清空。"),
    _c("category-weight-sum", ERROR, "类别权重合计不符", "a category's weights do not add up to its points",
       "“{category}”各指标权重合计为 {total}，应为 {points} 分。请调整本类权重（含自定义指标）。"),
    _c("total-weight-sum", ERROR, "权重合计不为总分", "the weights do not add up to the total",
       "权重合计为 {total}，应为 {points} 分。请按各类分值调整权重。"),
    _c("executed-above-budget", WARNING, "执行数超过预算", "more executed than budgeted",
       "“{executed_label}”{executed} {unit}超过“{budget_label}”{budget} {unit}。请核对两项金额。"),
    _c("rate-undefined", WARNING, "执行率无法计算", "the budget is 0, so the execution rate cannot be computed",
       "“{label}”为 0，预算执行率无法计算。请核对预算数。"),
    # -- the national form (rule-scored, per-project targets) -----------------------------------
    _c("target-changed", ERROR, "绩效目标被改动", "a target the bureau set (三级 name, 指标性质, 计量单位, 年度指标值, 分值) or the funding 分值 differs from what was sent, or from the targets table", {
        "": "“{label}”的{column}由财政局按绩效目标预填，应为“{expected}”，不得修改。请恢复原值（使用下发的原始文件）。",
        "points": "“{label}”的分值由财政局设定，应为 {expected} 分，不得修改。请恢复原值（使用下发的原始文件）。",
        "meta": "文件中记录的绩效目标与财政局的指标目标表不一致（{detail}），文件被改动过或不是按本次目标表下发的。" + _USE_SENT,
        "not-in-table": "编号“{key}”不在财政局的指标目标表中，无法核对本文件的绩效目标。请联系财政局。",
        "damaged": "文件中财政局预填绩效目标的隐藏记录已损坏，无法核对。" + _USE_SENT,
    }),
    _c("funding-sum", ERROR, "资金来源合计不符", "the funding block's parts (其中) do not add up to its total row",
       "{column}：其中各项之和为 {parts} {unit}，不等于{total_label} {total} {unit}。请核对各项资金金额。"),
    _c("actual-missing", ERROR, "实际完成值未填", "an indicator has no actual value (or 完成情况)",
       "“{label}”未填写{what}。请填写后提交。"),
    _c("actual-not-number", ERROR, "完成值不是数字", "a quantitative indicator's target or actual value that is not a number",
       "“{label}”：{error}。定量指标（≥、≤、=）的数值须按计量单位只填数字。"),
    _c("qualitative-band", ERROR, "定性得分不在档次内", "a qualitative indicator's 完成情况 not chosen, or its score outside the chosen band", {
        "": "“{label}”选择了“{choice}”，得分应在 {low} 至 {high} 分之间，现为 {score}。请调整得分或完成情况。",
        "choose": "“{label}”是定性指标，请在实际完成值中从下拉列表选择完成情况（{choices}）。",
        "missing": "“{label}”选择了“{choice}”，请在“自评分（定性）”中填写 {low} 至 {high} 分之间的得分。",
    }),
    _c("reason-missing", ERROR, "偏差原因未填", "an indicator not fully met, or a ≥ indicator far above its target, without 偏差原因分析及改进措施", {
        "": "“{label}”未完全达成年度指标（得分 {score}，分值 {points}），请填写偏差原因分析及改进措施。",
        "overshoot": "“{label}”实际完成值 {actual} 达到年度指标值 {target} 的 {percent}% 以上，请在偏差原因中说明指标值是否设置偏低。",
    }),
    _c("points-sum", ERROR, "一级指标分值合计不符", "on a blank national form, the 分值 of a 一级's indicators do not add up to its points",
       "“{level}”各指标分值合计为 {total}，应为 {points} 分。请调整本级各指标的分值。"),
    _c("indicator-incomplete", ERROR, "自填指标不完整", "an indicator row the unit filled itself that lacks its name, 指标性质, target or 分值",
       "{label}未填写完整（缺少{missing}）。自填的指标须填写三级指标名称、指标性质、年度指标值和分值，不用的行请全部清空。"),
    _c("date-in-future", WARNING, "日期在未来", "the self-evaluation date is after today", "“{label}”{date} 晚于今天。请填写实际自评日期。"),
    _c("date-late", WARNING, "日期过晚", "the self-evaluation date is long after the fiscal year", "“{label}”{date} 远晚于 {year} 年度。请核对日期。"),
    # -- collecting returns (collect) ----------------------------------------------------------
    _c("saved-time-untrusted", WARNING, "保存时间不可信", "the workbook's saved time is in the future or before it was generated; the file's own time orders resubmissions",
       "{why}，可能是电脑的日期设置有误或文件被改动。同一单位有多份文件时，改按文件修改时间判断哪份较新。请检查电脑的日期和时间后重新保存提交。"),
    _c("return-superseded", WARNING, "已被新文件替代", "an older return for the same key; the newest one counts (the finding says by which rule)",
       "同一单位有更新的文件“{newer}”（{rule}判断），本文件不计入。"),
    _c("return-duplicate", WARNING, "重复文件", "a byte-identical copy of another return; counted once",
       "与文件“{first}”内容完全相同，只计一次（{rule}选定计入的一份）。"),
    _c("return-missing-from-inbox", WARNING, "文件已不在收件文件夹", "a counted return no longer in the inbox: it still counts, from the ledger's archive copy, unless the clerk withdraws it",
       "这份文件已不在收件文件夹中（最后一次见于第 {run} 次汇总：{path}），仍按收到时保存的副本计入。如果它不应计入，请撤回这份文件。"),
    _c("key-not-in-roster", ERROR, "编号不在名单中", "the return's key is not on the roster",
       "文件中的单位编号“{key}”不在本次名单中。请确认文件来源，或联系财政局核对名单。"),
    _c("key-missing", ERROR, "无编号", "the return carries no roster key, so it cannot be matched to a unit",
       "文件中没有单位编号（不是按名单下发的文件），无法对应到名单中的单位。请使用财政局下发给本单位的文件填写。"),
)

CODES: dict[str, Code] = {c.code: c for c in _TABLE}


def message(code: str, variant: str = "", **params: Any) -> str:
    """The Chinese message of ``code`` (and ``variant``) for these values."""
    info = CODES.get(code)
    if info is None:
        raise KeyError(f"unknown finding code {code!r}")  # a bug, caught by the tests
    return info.render(variant, **params)


@dataclass(frozen=True)
class Finding:
    """One problem in one file, at one place, with how to fix it."""

    code: str
    message: str
    sheet: str | None = None
    cell: str | None = None
    field: str | None = None
    value: Any = None
    file: str | None = None

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise KeyError(f"unknown finding code {self.code!r}")  # a bug, caught by the tests
        # A 30 KB file can hold a megabyte string in every cell, and each finding quotes what it
        # saw: every renderer (text, JSON, the roll-up, the annotated copy) gets it truncated here.
        value = self.value
        if isinstance(value, int) and not isinstance(value, bool):
            if value.bit_length() > 3 * MAX_VALUE_CHARS:  # over ~200 digits
                digits = int(value.bit_length() * 0.30103) + 1
                object.__setattr__(self, "value", f"{'-' if value < 0 else ''}约 {digits} 位的数字…")
        elif value is not None and not isinstance(value, (bool, float)):
            text = display_value(value)
            if isinstance(text, str) and len(text) > MAX_VALUE_CHARS:
                object.__setattr__(self, "value", text[:MAX_VALUE_CHARS] + "…")
        if len(self.message) > MAX_MESSAGE_CHARS:  # keep the start (what and where) and the end (how to fix)
            head, tail = MAX_MESSAGE_CHARS * 2 // 3, MAX_MESSAGE_CHARS // 3
            object.__setattr__(self, "message", self.message[:head] + "…（中间省略）…" + self.message[-tail:])

    @property
    def severity(self) -> str:
        return CODES[self.code].severity

    @property
    def title(self) -> str:
        return CODES[self.code].title

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["severity"] = self.severity
        d["value"] = display_value(self.value)
        return d


def display_value(value: Any) -> Any:
    """A JSON- and report-friendly form of a value seen in a cell."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def finding(code: str, variant: str = "", /, *, sheet: str | None = None, cell: str | None = None,
            field: str | None = None, value: Any = None, **params: Any) -> Finding:
    """A finding of ``code`` at its place, its message rendered from the code's template and ``params``."""
    text = message(code, variant, sheet=sheet, cell=cell, **params)
    return Finding(code=code, message=text, sheet=sheet, cell=cell, field=field, value=value)


def codes_table() -> str:
    """The README's table of finding codes, generated from :data:`CODES` (a test keeps them equal)."""
    lines = ["| code | severity | 标题 | meaning |", "|---|---|---|---|"]
    lines += [f"| `{code}` | {info.severity} | {info.title} | {info.meaning} |" for code, info in CODES.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m xltemplate.findings > table, to paste into the README
    print(codes_table(), end="")
