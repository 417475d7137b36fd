"""The families of forms this installation knows; importing this package makes them known.

Each family is a subpackage with one family object (see :class:`xltemplate.form.family.FormFamily`).
``self_scored`` is the first form's (``self-scored``); ``rule_scored`` the national
项目支出绩效自评表's (``rule-scored``: indicators per project, scored by rules). With :data:`LAZY_FAMILIES` a
family's package is imported when a spec of its family is first resolved (``form.family.family_named`` /
``family_of``), not when this package is.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..form.family import family_ids, family_named, family_of, known, register

__all__ = ["family_ids", "family_named", "family_of", "register", "rule_scored", "self_scored"]

#: The built-in families' packages are imported when a spec of theirs is first resolved, not when this package is
#: (every command imported both: ~150 ms of ``xltemplate --help``'s ~0.25 s without bytecode, issue 15; a command
#: that resolves no spec, or only specs of one family, imports less). The registry answers the same: the same family
#: objects, the same ids (``family_ids`` names the known ones before they are imported), the same errors. False:
#: both imported with this package, as before (the tests compare).
LAZY_FAMILIES = True


def _self_scored() -> None:
    from . import self_scored  # noqa: F401 (importing it registers the family)


def _rule_scored() -> None:
    from . import rule_scored  # noqa: F401 (importing it registers the family)


if LAZY_FAMILIES:
    known("self-scored", _self_scored)
    known("rule-scored", _rule_scored)
else:
    _self_scored()
    _rule_scored()


def __getattr__(name: str) -> ModuleType:
    """``xltemplate.families.self_scored`` (and ``rule_scored``) as attributes, imported when first asked for."""
    if name in ("self_scored", "rule_scored"):
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
