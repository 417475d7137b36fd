"""The roll-up: collect the returns (:mod:`.collect`), the one source of its tables (:mod:`.tables`),
and the workbook written from them (:mod:`.workbook`)."""

from __future__ import annotations

import sys
import types
from typing import Any

from .collect import Collection, collect
from .tables import export_csv
from .workbook import write_rollup

__all__ = ["Collection", "collect", "export_csv", "write_rollup"]


class _CallableModule(types.ModuleType):
    """The module :mod:`xltemplate.rollup.collect`, which, called, is its function ``collect``.

    The package's name ``collect`` is both: ``import xltemplate.rollup.collect as m`` (and ``xltemplate.rollup.collect``
    after ``import xltemplate``) must give the module, while ``from xltemplate.rollup import collect`` then
    ``collect(...)`` (the README's example, older scripts) must go on collecting. The function is looked up when called,
    so a test's monkeypatch of the module's ``collect`` is seen through either name.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__dict__["collect"](*args, **kwargs)


_module = sys.modules[__name__ + ".collect"]
_module.__class__ = _CallableModule
globals()["collect"] = _module  # (type checkers see the function imported above: what calling it gives)
