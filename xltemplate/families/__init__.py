"""The families of forms this installation knows; importing this package registers them.

Each family is a subpackage with one family object (see :class:`xltemplate.form.family.FormFamily`).
``self_scored`` is the first form's (``self-scored``); ``rule_scored`` the national
项目支出绩效自评表's (``rule-scored``: indicators per project, scored by rules).
"""

from __future__ import annotations

from ..form.family import family_ids, family_named, family_of, register
from . import rule_scored, self_scored

__all__ = ["family_ids", "family_named", "family_of", "register", "rule_scored", "self_scored"]
