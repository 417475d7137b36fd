"""What a collection round adds to a roll-up: every file received and its fate (提交记录), and what
changed per unit since the last run (汇总's "since the last run" columns).

Plain values, filled by :mod:`xltemplate.rounds` from the ledger and the run's matching; the
tables (:mod:`xltemplate.rollup.tables`) and the workbook read them. A collection without a
ledger has none, and its roll-up is what it always was.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence


@dataclass(frozen=True)
class Received:
    """One file the round has received (a row of 提交记录), in arrival order."""

    arrival: int  # 1 = the first file the round received
    first_run: int | None  # the run that first received it
    first_seen: dt.datetime | None  # when, local time
    name: str  # its name as last seen, shown safely
    path: str  # where this run saw it, or where it was last seen
    in_inbox: bool  # this run saw it in the inbox
    key: str | None
    status: str | None  # 有效 / 有误 / 无法读取; None: not judged this run
    saved_at: dt.datetime | None  # the workbook's own saved time
    fate: str  # 计入 / 被替代 / 重复 / 未匹配 / 已撤回 / 未校验
    note: str | None  # why: the rule that decided, what replaced it, why unmatched, the clerk's reason
    copies: int = 1  # paths this run saw it at (byte-identical copies)
    sha256: str = ""


@dataclass(frozen=True)
class Since:
    """What changed for one unit since the last run the clerk saw a roll-up of."""

    new_files: int  # files of the unit received since then
    changed: bool  # its counted file or its status changed
    newly_valid: bool  # it is 已提交有效 now and was not then


@dataclass(frozen=True)
class RoundView:
    """A collection round's run, as the roll-up shows it."""

    ledger: str  # the ledger file, as given
    run: int  # this run's number in the round
    previous: int | None  # the finished run "since the last run" compares with (None: the first)
    previous_at: dt.datetime | None  # when it finished, local time
    received: Sequence[Received] = field(default_factory=list)  # (a round: made as read, rounds.view)
    since: Mapping[str, Since] = field(default_factory=dict)  # by unit key (a round: made as asked, rounds.view)
    # the sheets the last run kept, and those this run keeps (xltemplate.rollup.reuse.Parts); None: none kept
    parts: Any = field(default=None, compare=False, repr=False)

    def since_of(self, key: str) -> Since:
        return self.since.get(key, Since(0, False, False))

    def note(self) -> str:
        """One sentence for 汇总's note: what the "since the last run" columns compare."""
        if self.previous is None:
            return f"本次为第 {self.run} 次汇总，此前没有完成的汇总，所有文件都算新收到。"
        when = f"（{self.previous_at:%Y-%m-%d %H:%M}）" if self.previous_at else ""
        return f"“本次”各列与第 {self.previous} 次汇总{when}相比。"
