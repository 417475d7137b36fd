"""The project's exception tree: one root, a few kinds.

Data problems in returned workbooks are *findings*, not exceptions (see
:mod:`xltemplate.findings`). Exceptions are for bad specs, bad rosters, files
that cannot be opened at all, and bugs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .findings import message


class XltemplateError(Exception):
    """Root of every error this package raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One problem found while checking a spec or a roster: where (a key path, or a row and column),
    what, and the value that caused it (None when the problem is something missing)."""

    path: str
    message: str
    value: Any = None

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ProblemsError(XltemplateError):
    """An error that carries every problem found, not just the first; each problem names where it is (its
    key path, or its row and column) and the message says in Chinese what to do (``what`` and ``advice``)."""

    what = "文件"
    advice = "请修改后重新运行"

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  - {p.path}：{p.message}" if p.path else f"  - {p.message}" for p in self.problems)
        super().__init__(f"{self.what} {source} 有 {len(self.problems)} 个问题，{self.advice}：\n{lines}")

    def __reduce__(self) -> tuple[object, ...]:  # raised in worker processes too: must survive pickling
        return (type(self), (self.source, self.problems))


class SpecError(ProblemsError):
    """A template spec that cannot be used; every problem names its key path."""

    what = "模板"
    advice = "请修改后重新运行，未生成任何文件"


class RosterError(ProblemsError):
    """A roster that cannot be used; every problem names its row and column (in Chinese: the clerk reads it)."""

    what = "名单"
    advice = "请修改名单后重新运行"


class TargetsError(ProblemsError):
    """A targets table that cannot be used; every problem names its row and column (in Chinese)."""

    what = "指标目标表"
    advice = "请修改后重新运行，未生成任何文件"


class Unreadable(XltemplateError):
    """A file that cannot be read as a workbook: a finding code, the variant of its message and the
    values that fill it in (the message itself is rendered from :data:`xltemplate.findings.CODES`)."""

    def __init__(self, code: str, variant: str = "", /, **params: Any) -> None:
        self.code, self.variant, self.params = code, variant, dict(params)
        self.message = message(code, variant, **params)
        super().__init__(self.message)

    def __reduce__(self) -> tuple[Any, ...]:  # crosses process boundaries (bounded workers)
        return (_unreadable, (type(self), self.code, self.variant, self.params))


def _unreadable(cls: type[Unreadable], code: str, variant: str, params: dict[str, Any]) -> Unreadable:
    return cls(code, variant, **params)


class BoundExceeded(XltemplateError):
    """A bounded call ran out of memory or time, or its process died: a finding code and the worker's
    account of what happened (a Chinese clause, see :mod:`xltemplate.workers`)."""

    def __init__(self, code: str, what: str) -> None:
        super().__init__(what)
        self.code, self.message = code, what

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.code, self.message))


class TemplateNotFoundError(XltemplateError):
    """Neither a built-in template id nor a readable spec file."""


class TemplateChoiceError(XltemplateError):
    """``collect`` without ``--template`` could not tell which template the returns are (none, or a tie)."""


class GenerateError(XltemplateError):
    """The writer refused something (a return code from XlsxWriter, a bad path)."""


class SecretError(XltemplateError):
    """A secret file that cannot be used (missing, unreadable, empty, a secret too short). The message is Chinese
    and never quotes a secret."""


class OutputPathError(XltemplateError):
    """An output path refused before anything is written: over an input, inside an input folder,
    an existing file without ``--force``, not an .xlsx where one is needed. The message is Chinese."""


class OutputWriteError(OutputPathError):
    """An output that could not be written (permissions, a file open in Excel, a full disk, a bad path).

    Raised by :func:`xltemplate.fsutil.atomic_path`, the one place every writer goes through, with a
    Chinese message that names the file and says what to do; nothing partial is left behind.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"无法写入 {path}：{reason}")

    def __reduce__(self) -> tuple[object, ...]:  # raised in worker processes too: must survive pickling
        return (type(self), (self.path, self.reason))


class LedgerError(XltemplateError):
    """A collection ledger that cannot be used as asked: missing, busy, refused (the CLI exits 2).

    The message names the ledger file and says what to do, in Chinese: the clerk reads it.
    """


class NotALedgerError(LedgerError):
    """The file given as a ledger is empty, not SQLite, another SQLite database, or damaged."""


class LedgerVersionError(LedgerError):
    """The ledger was written by a newer xltemplate than this one (it is never modified)."""


class LedgerBusyError(LedgerError):
    """Another process holds the ledger's lock and did not let go in time."""


class RosterChangedError(XltemplateError):
    """A round's roster differs from the one its last run used (units added or removed, prefilled values
    changed) and the clerk did not say it is meant (the CLI exits 2). The message lists what changed."""
