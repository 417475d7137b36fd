"""The words a clerk reads, each defined once (the README's *Counting* table defines them too).

A file has a status (有效 / 有误 / 无法读取) and, in a collection, a fate (计入 / 被替代 / 重复 /
未匹配 / 跳过); a unit has a status (已提交有效 / 已提交有误 / 未提交); a finding a severity
(错误 / 警告). The console, the roll-up, the annotated copies and the CSV exports all take their
words from here, so no two places can name one thing differently.
"""

from __future__ import annotations

# -- a file's status ---------------------------------------------------------------------------
VALID, INVALID, UNREADABLE = "valid", "invalid", "unreadable"
STATUS_ZH = {VALID: "有效", INVALID: "有误", UNREADABLE: "无法读取"}

# -- a finding's severity ------------------------------------------------------------------------
ERROR, WARNING = "error", "warning"
SEVERITY_ZH = {ERROR: "错误", WARNING: "警告"}

# -- a file's fate in a collection -----------------------------------------------------------------
COUNTED, SUPERSEDED, DUPLICATE, UNMATCHED, SKIPPED = "计入", "被替代", "重复", "未匹配", "跳过"
FATES = (COUNTED, SUPERSEDED, DUPLICATE, UNMATCHED, SKIPPED)
#: Two more fates in a round kept by a ledger: a return the clerk withdrew (``round withdraw``), and a
#: file the run could not judge (out of time, a crashed reader: read again by the next run).
WITHDRAWN, NOT_CHECKED = "已撤回", "未校验"
ROUND_FATES = (COUNTED, SUPERSEDED, DUPLICATE, UNMATCHED, WITHDRAWN, NOT_CHECKED, SKIPPED)

# -- a unit's status (a roster row; without a roster, a counted return) --------------------------------
UNIT_VALID, UNIT_INVALID, MISSING = "已提交有效", "已提交有误", "未提交"
#: The grade column of a unit whose counted return is invalid: its figures are shown, its grade is not.
NOT_GRADED = "未核定"

# -- identity -------------------------------------------------------------------------------------------


def identity_line(verified: bool) -> str:
    """Whether a run verified the returns' identity signatures (the summary line, the roll-up's note)."""
    return "身份已用密钥核验" if verified else "身份未核验（未提供密钥）"
