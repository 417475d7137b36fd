"""The project's exception tree: one root, a few kinds.

Data problems in returned workbooks are *findings*, not exceptions (see
:mod:`xltemplate.findings`). Exceptions are for bad specs, bad rosters, files
that cannot be opened at all, and bugs.
"""

from __future__ import annotations

from dataclasses import dataclass


class XltemplateError(Exception):
    """Root of every error this package raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One problem found while checking a spec or a roster: where, and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ProblemsError(XltemplateError):
    """An error that carries every problem found, not just the first."""

    kind = "problems"

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} {self.kind}\n{lines}")

    def __reduce__(self) -> tuple[object, ...]:  # raised in worker processes too: must survive pickling
        return (type(self), (self.source, self.problems))


class SpecError(ProblemsError):
    """A template spec that cannot be used; every problem names its key path."""

    kind = "spec problem(s)"


class RosterError(ProblemsError):
    """A roster that cannot be used; every problem names its row and column (in Chinese: the clerk reads it)."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  - {p.path}：{p.message}" if p.path else f"  - {p.message}" for p in self.problems)
        XltemplateError.__init__(self, f"名单 {source} 有 {len(self.problems)} 个问题，请修改名单后重新运行：\n{lines}")


class TemplateNotFoundError(XltemplateError):
    """Neither a built-in template id nor a readable spec file."""


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
