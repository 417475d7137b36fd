"""``round status``: the round at a glance, from the ledger alone (read-only: it may run while ``collect`` writes).

What the last finished run decided: units on the roster, valid, invalid (with their errors), missing;
the counted files no longer in the inbox; what changed since the run before (files received, units
whose counted file or status changed, units newly valid, files gone, renamed or moved, the roster);
withdrawals; runs that did not finish.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..ledger import Decision, Ledger, Move, RosterSnapshot, Summary, Withdrawal, local_time
from ..pathtext import json_text, shown
from ..words import MISSING, UNIT_INVALID, UNIT_VALID


@dataclass(frozen=True)
class RoundStatus:
    """What ``round status`` prints: the ledger's summary of its last finished run, and a little more."""

    ledger: Path
    summary: Summary
    roster: RosterSnapshot | None
    decisions: list[Decision]
    moves: list[Move]
    withdrawals: list[Withdrawal]  # in force
    names: dict[str, str]  # sha256 → the name it was last seen under

    @property
    def from_archive(self) -> list[Decision]:
        """Counted files the last run did not see in the inbox: they stand from their archive copies."""
        return [d for d in self.decisions if not d.in_inbox]

    def lines(self) -> list[str]:
        s, run, c = self.summary, self.summary.run, self.summary.changes
        when = local_time(run.finished_at)
        out = [f"台账 {shown(self.ledger)}：第 {run.id} 次汇总，完成于 {when:%Y-%m-%d %H:%M}"
               + (f"（模板 {run.template_id} {run.template_version}）" if run.template_id else "")]
        units = (f"名单 {s.roster_units} 个单位" if s.roster_units is not None
                 else f"单位 {len(s.valid) + len(s.invalid)} 个（未使用名单）")
        out.append(f"{units}：{UNIT_VALID} {len(s.valid)}，{UNIT_INVALID} {len(s.invalid)}"
                   + (f"，{MISSING} {len(s.missing)}" if s.roster_units is not None else ""))
        if s.invalid:
            out.append(f"  {UNIT_INVALID}：" + _some([f"{k}（错误 {e} 个）" for k, e in s.invalid]))
        if s.missing:
            out.append(f"  {MISSING}：" + _some(s.missing))
        if s.not_in_roster:
            out.append("  不在名单中的编号：" + _some(s.not_in_roster))
        gone = self.from_archive
        out.append(f"台账共收到文件 {s.files} 个" + (
            f"；{len(gone)} 个计入的文件已不在收件文件夹，按归档副本计入：" + _some([f"{d.unit_key}（{shown(self.names.get(d.sha256, d.sha256[:12]))}）" for d in gone])
            if gone else ""))
        if c.previous_run_id is None:
            out.append("这是本轮第一次完成的汇总。")
        else:
            parts = [f"新收到文件 {len(c.new_files)} 个"]
            if c.units:
                parts.append(f"计入的文件或状态有变化的单位 {len(c.units)} 个（{_some([u.key for u in c.units])}）")
            if c.newly_valid:
                parts.append(f"新有效 {len(c.newly_valid)} 个（{_some(c.newly_valid)}）")
            if c.absent:
                parts.append(f"不见了的文件 {len(c.absent)} 个（" + _some(
                    [f"{shown(Path(a.last_path).name)} {'已删除' if a.how == 'deleted' else '被另一个文件覆盖'}" for a in c.absent]) + "）")
            if self.moves:
                parts.append(f"改名或移动的文件 {len(self.moves)} 个")
            out.append(f"与第 {c.previous_run_id} 次汇总相比：" + "；".join(parts))
            if c.roster:
                out.append(f"名单有变化：{c.roster.describe()}")
        for w in self.withdrawals:
            why = f"：{w.reason}" if w.reason else ""
            out.append(f"已撤回：{w.unit_key} 的“{shown(self.names.get(w.sha256, w.sha256[:12]))}”"
                       f"（{local_time(w.withdrawn_at):%Y-%m-%d}{why}）")
        if s.interrupted_since:
            out.append(f"提示：第 {'、'.join(map(str, s.interrupted_since))} 次汇总没有完成（被中断或出错）；"
                       "以上是最后一次完成的汇总。再运行一次 collect --ledger 即可完成。")
        return out

    def as_dict(self) -> dict[str, Any]:
        out = self.summary.as_dict()
        run = self.summary.run
        out.update({
            "ledger": json_text(os.fspath(self.ledger)),
            "template": {"id": run.template_id, "version": run.template_version} if run.template_id else None,
            "from_archive": [{"key": d.unit_key, "sha256": d.sha256, "file": json_text(self.names.get(d.sha256, ""))}
                             for d in self.from_archive],
            "moves": [{"sha256": m.sha256, "from": [json_text(p) for p in m.old_paths], "to": [json_text(p) for p in m.new_paths]}
                      for m in self.moves],
            "withdrawn": [{"key": w.unit_key, "sha256": w.sha256, "at": w.withdrawn_at, "reason": w.reason}
                          for w in self.withdrawals],
        })
        return out


def round_status(ledger: str | os.PathLike[str]) -> RoundStatus:
    """The round kept in ``ledger`` as its last finished run left it (:class:`LedgerError` when it cannot be read)."""
    path = Path(ledger)
    with Ledger.open(path, readonly=True) as led:
        summary = led.summary()
        run = summary.run
        names = {f.sha256: Path(f.last_path).name for f in led.files(run) if f.last_path}
        return RoundStatus(path, summary, led.roster(run), led.decisions(run), led.moves(run),
                           [w for w in led.withdrawals() if w.reinstated_at is None], names)


def _some(items: list[str], n: int = 10) -> str:
    """At most ``n`` of a list, and how many in all when there are more (a status is read on a console)."""
    return "、".join(items[:n]) + (f" 等 {len(items)} 个" if len(items) > n else "")
