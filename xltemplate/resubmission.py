"""Which of a unit's files counts, and the rule that decided it, in the clerk's words.

A unit may send a draft and a corrected file, or the same file twice. Two functions
decide: :func:`newest` among distinct files, :func:`original` among byte-identical
copies. Each returns the winner and the rule that separated it from the runner-up,
so that 文件清单 and the ``return-superseded`` finding can say why. This is the one
rule: ``collect`` uses it with or without a collection ledger, and the ledger records
what it decided (:data:`RULE_CODES` are the words it stores).

The workbook's own saved time is written by the program that saved it, from the
clock of the machine that saved it: a person can set it to anything. It orders
files only when it is plausible (:func:`saved_time_problem`) and every candidate
has one. Otherwise the order in which the files arrived decides: with a ledger, the
run that first received each file (a file received on day 2 came after one of day 1,
whatever its modification time says), then the files' modification times (the only
sign of arrival without a ledger), and the path breaks ties.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Sequence

from .clock import beijing

BY_SAVED_TIME = "按文件内保存时间"
BY_ARRIVAL = "按收到先后"
BY_FILE_TIME = "按文件修改时间"
BY_NAME_LENGTH = "按文件名长度"
BY_PATH = "按文件路径"
#: A unit's only file: nothing had to be decided.
ONLY = "唯一的文件"
#: How the collection ledger stores the rule that chose a unit's file (its ``decisions.rule``).
RULE_CODES = {ONLY: "only", BY_SAVED_TIME: "saved_at", BY_ARRIVAL: "arrival", BY_FILE_TIME: "file_time", BY_PATH: "path"}
RULE_WORDS = {code: word for word, code in RULE_CODES.items()}

#: Clocks are wrong and some programs write local time as UTC: a saved time is implausible only
#: when it is more than this far in the future, or before the workbook was generated.
CLOCK_SLACK = dt.timedelta(hours=24)


@dataclass(frozen=True)
class Candidate:
    """One file of a unit, as the ordering sees it."""

    path: str
    saved_at: dt.datetime | None  # the workbook's own saved time, None when absent or not trusted
    mtime: float  # the file's modification time (seconds); with a ledger, when the file was first received
    name: str  # the file name (without folders)
    arrival: int | None = None  # with a ledger: the run that first received the file (None without one)


def saved_time_problem(saved_at: dt.datetime | None, generated_at: str | None, now: dt.datetime) -> str | None:
    """Why a workbook's saved time (naive UTC) cannot be trusted, in Chinese; None when it can.

    ``generated_at`` is the metadata's ISO time; ``now`` is naive UTC.
    """
    if saved_at is None:
        return None
    if saved_at > now + CLOCK_SLACK:
        return f"文件内记录的保存时间 {beijing(saved_at):%Y-%m-%d %H:%M}（北京时间）在未来"
    generated = _iso(generated_at)
    if generated is not None and saved_at < generated - CLOCK_SLACK:
        return (f"文件内记录的保存时间 {beijing(saved_at):%Y-%m-%d %H:%M} 早于财政局生成此文件的时间 "
                f"{beijing(generated):%Y-%m-%d %H:%M}（北京时间）")
    return None


def _iso(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def _second(mtime: float) -> int:
    # Copying a batch of files stamps them microseconds apart, and zip keeps two-second times:
    # a difference below a second says nothing about which file came first.
    return int(mtime)


def newest(files: Sequence[Candidate]) -> tuple[int, str]:
    """The index of the newest of distinct files, and the rule that decided (:data:`ONLY` for one file).

    Saved times decide when every file has a trusted one (a file without one never loses to a
    draft that has one merely for that); else the run that first received each file, when a
    ledger knows it for every file; else modification times (to the second); then the path.
    """
    by_saved = all(f.saved_at is not None for f in files)
    by_arrival = all(f.arrival is not None for f in files)

    def rank(f: Candidate) -> tuple[object, ...]:
        return ((f.saved_at,) if by_saved else ()) + ((f.arrival,) if by_arrival else ()) + (_second(f.mtime), f.path)

    order = sorted(range(len(files)), key=lambda i: rank(files[i]), reverse=True)
    if len(order) < 2:
        return order[0], ONLY
    a, b = files[order[0]], files[order[1]]
    if by_saved and a.saved_at != b.saved_at:
        return order[0], BY_SAVED_TIME
    if by_arrival and a.arrival != b.arrival:
        return order[0], BY_ARRIVAL
    if _second(a.mtime) != _second(b.mtime):
        return order[0], BY_FILE_TIME
    return order[0], BY_PATH


def original(copies: Sequence[Candidate]) -> tuple[int, str]:
    """The index of the copy that stands for byte-identical files, and the rule that decided.

    The copy that arrived first (modification time, to the second), then the shortest name
    (``自评表.xlsx`` before ``自评表 (1).xlsx``, the name a second download gets), then the path.
    """

    def rank(f: Candidate) -> tuple[object, ...]:
        return (_second(f.mtime), len(f.name), f.path)

    order = sorted(range(len(copies)), key=lambda i: rank(copies[i]))
    if len(order) < 2:
        return order[0], BY_FILE_TIME
    a, b = copies[order[0]], copies[order[1]]
    if _second(a.mtime) != _second(b.mtime):
        return order[0], BY_FILE_TIME
    if len(a.name) != len(b.name):
        return order[0], BY_NAME_LENGTH
    return order[0], BY_PATH
