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


class SpecError(ProblemsError):
    """A template spec that cannot be used; every problem names its key path."""

    kind = "spec problem(s)"


class RosterError(ProblemsError):
    """A roster that cannot be used; every problem names its row and column."""

    kind = "roster problem(s)"


class TemplateNotFoundError(XltemplateError):
    """Neither a built-in template id nor a readable spec file."""


class GenerateError(XltemplateError):
    """The writer refused something (a return code from XlsxWriter, a bad path)."""


class OutputPathError(XltemplateError):
    """An output path that would overwrite or pollute the inputs."""
