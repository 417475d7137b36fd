"""The spec workbook's sheets and columns: where each key of a YAML spec lives in the workbook.

One declaration serves the writer (headers, drop-downs, input messages, widths), the reader
(which column is which key, in Chinese or English) and the messages (a checker's key path
``categories[1].indicators[2].weight`` becomes 指标 第 7 行 “权重”). Two shapes of sheet:

- a *table* (字段, 类别, 指标 …): a header row, then one row per item of a list;
- a *value sheet* (设置, 规则, 汇总): one row per key, its Chinese name, its value and a note.

Kinds of cell: ``text`` (kept as typed), ``id`` (an identifier), ``number``, ``int``, ``flag``
(是/否), ``enum`` (a fixed list shown in Chinese), ``list`` (several values in one cell,
separated by 、), ``bound`` (a number or a date), ``compute`` (等级 or 比率：分子/分母) and
``ref`` (the 类别 an indicator belongs to).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

from ..spec import FIELD_TYPE_NAMES

#: 是/否 as a spec workbook writes a flag.
YES, NO = "是", "否"
WEIGHTS = {"fixed": "固定", "flexible": "可调"}
FAMILIES = {"self-scored": "self-scored", "rule-scored": "rule-scored"}
#: What separates the values of a list cell (选项, 文字字段), unless the cell has one value a line.
LIST_SEPARATORS = re.compile(r"[、,，;；]")
#: What the 计算 column says for a grade; a ratio is written 比率：分子编号/分母编号.
GRADE, RATIO = "等级", "比率"


@dataclass(frozen=True, eq=False)  # compared by identity: a column is one object, used as a key
class Col:
    """A column of a table (or a row of a value sheet): its key, Chinese header, kind and input message."""

    key: str  # the key in the item (a dotted path in a value sheet: ``funding.points``)
    zh: str
    kind: str
    help: str  # the input message: at most 255 characters (Excel's limit)
    width: float = 12
    enum: Mapping[str, str] = field(default_factory=dict)  # value → what the cell shows
    example: str = ""


@dataclass(frozen=True, eq=False)
class Sheet:
    """A sheet of the spec workbook. ``path`` is where its list (or its keys) lives in the spec."""

    zh: str
    key: str
    path: str
    cols: tuple[Col, ...]
    families: tuple[str, ...] = ("self-scored", "rule-scored")
    values: bool = False  # a value sheet (one row per key) rather than a table
    help: str = ""

    def col(self, key: str) -> Col | None:
        for c in self.cols:
            if c.key == key:
                return c
        return None


_FLAG = {"true": YES, "false": NO}
_TYPES = dict(FIELD_TYPE_NAMES)

SETTINGS = Sheet("设置", "settings", "", values=True, help="模板的基本信息：每行一项，在“值”列填写；不用的项可整行删除。", cols=(
    Col("id", "模板编号", "text", "模板的编号：小写英文字母、数字和 . - _，例如 sh-project-self-eval。下发的每个工作簿都记录它。"),
    Col("version", "版本", "text", "模板的版本，例如 2021.1。改动模板后请改版本，交回的文件据此识别是哪一版。"),
    Col("family", "表式", "enum", "self-scored：各类指标由单位自评打分；rule-scored：全国通用表，按规则计分。留空即 self-scored。",
        enum=FAMILIES),
    Col("title", "标题", "text", "表格的标题，印在表格最上方，例如 项目绩效自我评价。"),
    Col("sheet", "工作表名称", "text", "下发工作簿中填报工作表的名称，最多 31 个字，不能含 [ ] : * ? / \\。"),
    Col("total", "总分", "number", "满分，通常为 100；各类别（一级指标）分值之和须等于它。"),
    Col("fiscal_year", "年度", "int", "评价的年度，例如 2020。"),
    Col("money_unit", "金额单位", "text", "全国表金额的单位，例如 万元。", ),
    Col("blank_rows", "每个二级指标的空行数", "int", "全国表的空白表在每个二级指标下留几行给单位填写（1 至 20）。"),
    Col("funding.label", "资金栏名称", "text", "全国表资金栏的名称，例如 项目资金。"),
    Col("funding.score_label", "资金得分名称", "text", "汇总表中资金得分一栏的名称，例如 预算执行率。"),
    Col("funding.points", "资金分值", "number", "资金栏（预算执行率）的分值，例如 10。"),
    Col("goals.label", "总体目标名称", "text", "年度总体目标一栏的名称，例如 年度总体目标。"),
    Col("goals.expected", "预期目标名称", "text", "年度总体目标中预期目标的名称，例如 预期目标。"),
    Col("goals.actual", "实际完成名称", "text", "年度总体目标中实际完成情况的名称，例如 实际完成情况。"),
))

FIELDS = Sheet("字段", "fields", "fields", help="表头的填报项：每行一项。", cols=(
    Col("id", "编号", "id", "字段编号：小写英文字母、数字和 _，以字母开头，例如 project_name。名单的列名也用它。", 18, example="project_name"),
    Col("label", "标签", "text", "表格上显示的名称，例如 项目名称。", 20, example="项目名称"),
    Col("type", "类型", "enum", "从下拉列表选择：文字、长文字、金额、数字、百分数、日期、选项。", 9, enum=_TYPES, example="文字"),
    Col("required", "必填", "flag", "是：单位必须填写；否或留空：可不填。", 6, enum=_FLAG, example=YES),
    Col("choices", "选项", "list", "类型为“选项”时，列出可选的值，用顿号分开，例如 是、否。", 14, example="是、否"),
    Col("min", "最小值", "bound", "金额、数字、百分数填数字（百分数 0.5 表示 50%），日期填如 2021-01-01；留空即不限。", 11),
    Col("max", "最大值", "bound", "同最小值；留空即不限。", 11),
    Col("max_length", "最大长度", "int", "文字最多多少个字，例如 200；留空即不限。", 9, example="200"),
    Col("help", "说明", "text", "单位点到这个单元格时看到的提示，最多 255 个字。", 30, example="填写预算批复中的项目全称。"),
    Col("prefill", "预填", "flag", "是：由名单预填（单位不能改）；否或留空：由单位填写。", 6, enum=_FLAG),
    Col("compute", "计算", "compute", "留空：由人填写；等级：显示总分对应的等级；比率：分子编号/分母编号，例如 比率：executed/budget。", 22),
))

CATEGORIES = Sheet("类别", "categories", "categories", families=("self-scored",),
                   help="一级指标（类别）：每行一个，其指标写在“指标”表中。", cols=(
    Col("id", "编号", "id", "类别编号：小写英文字母、数字和 _，例如 output。", 14, example="output"),
    Col("name", "名称", "text", "类别名称，例如 产出目标。“指标”表的“类别”列用它。", 16, example="产出目标"),
    Col("points", "分值", "number", "本类分值；各类分值之和须等于总分。", 7, example="34"),
    Col("weights", "权重方式", "enum", "固定：权重由财政局定，本类权重之和须等于分值；可调：单位可调整权重。留空即固定。", 9,
        enum=WEIGHTS, example="可调"),
    Col("extra_rows", "自定义行数", "int", "单位可自行增加的指标行数（0 至 50）；权重固定的类别不能有。留空即 0。", 10, example="3"),
))

INDICATORS = Sheet("指标", "indicators", "categories[].indicators", families=("self-scored",),
                   help="每行一个指标，按表格上的顺序。", cols=(
    Col("category", "类别", "ref", "指标所属类别的名称（或编号），从下拉列表选择。", 14, example="产出目标"),
    Col("id", "编号", "id", "指标编号：小写英文字母、数字和 _，例如 quality_rate。", 20, example="quality_rate"),
    Col("name", "名称", "text", "指标名称，例如 质量达标率。", 28, example="质量达标率"),
    Col("weight", "权重", "number", "指标的权重（分）；留空表示不适用。", 7, example="14"),
    Col("explanation", "解释", "text", "指标解释，印在表格上。", 50),
))

FUNDING = Sheet("资金", "funding", "funding.rows", families=("rule-scored",),
                help="全国表资金栏的各行：第一行是总额，其后是其中各项。", cols=(
    Col("id", "编号", "id", "行编号：小写英文字母、数字和 _，例如 total。", 14, example="total"),
    Col("label", "名称", "text", "行名称，例如 年度资金总额。", 20, example="年度资金总额"),
))

LEVELS = Sheet("一级二级", "levels", "levels", families=("rule-scored",),
               help="全国表的一级指标和二级指标：每行一个二级指标；一级指标写在它的第一个二级指标那一行。", cols=(
    Col("id", "一级编号", "id", "一级指标编号，例如 output；同一个一级指标的后续行留空。", 12, example="output"),
    Col("name", "一级名称", "text", "一级指标名称，例如 产出指标。", 12, example="产出指标"),
    Col("points", "一级分值", "number", "一级指标的分值；资金分值与各一级分值之和须等于总分。", 9, example="50"),
    Col("sublevels.id", "二级编号", "id", "二级指标编号，例如 quantity。", 14, example="quantity"),
    Col("sublevels.name", "二级名称", "text", "二级指标名称，例如 数量指标。", 20, example="数量指标"),
))

RULES = Sheet("规则", "rules", "rules", families=("rule-scored",), values=True,
              help="全国表的计分规则：每行一项；不用的项整行删除即用默认值。", cols=(
    Col("rules.digits", "得分小数位数", "int", "得分保留几位小数（0 至 4），默认 2。"),
    Col("rules.reverse_zero", "反向指标零分倍数", "number", "≤ 类指标的完成值达到指标值的几倍时得 0 分（大于 1），默认 2。"),
    Col("rules.reason_below", "须说明偏差的得分率", "number", "得分率低于它时须填写偏差原因（0 至 1），默认 1。"),
    Col("rules.overshoot", "须说明超额的完成率", "number", "≥ 类指标完成率达到它时须填写偏差原因（大于 1），默认 1.3。"),
    Col("rules.cap_execution", "执行率得分封顶", "flag", "是：预算执行率得分不超过资金分值；否：可超过。默认 是。", enum=_FLAG),
))

QUALITATIVE = Sheet("定性档次", "qualitative", "rules.qualitative", families=("rule-scored",),
                    help="定性指标的完成情况档次：每行一档，从高到低。", cols=(
    Col("label", "完成情况", "text", "档次名称，例如 达成年度指标。", 30, example="达成年度指标"),
    Col("min", "最低得分率", "number", "本档最低得分率（0 至 1），例如 0.8。", 10, example="0.8"),
    Col("max", "最高得分率", "number", "本档最高得分率（0 至 1），例如 1。", 10, example="1"),
))

GRADES = Sheet("等级", "grades", "grades", help="总分对应的等级：每行一档，最低分含本数。", cols=(
    Col("label", "等级", "text", "等级名称，例如 优秀。", 10, example="优秀"),
    Col("min", "最低分", "number", "达到此分（含）即为本等级；最低一档须为 0。", 8, example="90"),
))

NOTES = Sheet("说明", "notes", "notes", help="印在表格下方的说明，每行一条。", cols=(
    Col("", "内容", "text", "一条说明，印在表格下方。", 90, example="1、依据本项目应实现的绩效目标……"),
))

INSTRUCTIONS = Sheet("填报说明", "instructions", "instructions", help="下发工作簿“填报说明”工作表的内容，每行一条。", cols=(
    Col("", "内容", "text", "一条填报说明，显示在下发工作簿的“填报说明”工作表中。", 90, example="只需填写浅黄色单元格。"),
))

SUMMARY = Sheet("汇总", "summary", "summary", values=True,
                help="汇总表用哪些字段：每行一项，填字段编号（见“字段”表）；不用的项整行删除。", cols=(
    Col("summary.unit", "单位字段", "text", "填报单位名称的字段编号，例如 unit。"),
    Col("summary.project", "项目字段", "text", "项目名称的字段编号，例如 project_name。"),
    Col("summary.budget", "预算数字段", "text", "预算数的字段编号，例如 budget。"),
    Col("summary.executed", "执行数字段", "text", "执行数的字段编号，例如 executed。"),
    Col("summary.date", "日期字段", "text", "自评日期的字段编号，例如 eval_date。"),
    Col("summary.texts", "文字字段", "list", "汇总表收录的文字字段编号，用顿号分开，例如 achievements、problems。"),
))

#: Every sheet, in the order the workbook shows them.
SHEETS = (SETTINGS, FIELDS, CATEGORIES, INDICATORS, FUNDING, LEVELS, RULES, QUALITATIVE, GRADES, NOTES, INSTRUCTIONS, SUMMARY)
#: A value sheet's columns.
VALUE_HEADERS = ("项目", "值", "说明")
VALUE_KEYS = ("item", "value", "note")


def example_row(sheet: Sheet) -> list[str]:
    """The grey example row under a table's header: 示例：… in the first cell, each column's example after."""
    return [f"示例：{c.example}" if n == 0 else c.example for n, c in enumerate(sheet.cols)]


def sheets_for(family: str) -> tuple[Sheet, ...]:
    """The sheets a form of this family has."""
    return tuple(s for s in SHEETS if family in s.families)


def sheet_named(name: str) -> Sheet | None:
    """The sheet of this Chinese or English name (spaces and case ignored)."""
    want = name.strip().lower()
    for s in SHEETS:
        if want in (s.zh, s.key):
            return s
    return None
