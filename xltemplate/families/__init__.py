"""The families of forms this installation knows; importing this package registers them.

Each family is a subpackage with one family object (see :class:`xltemplate.form.family.FormFamily`).
``self_scored`` is the first form's; the national 项目支出绩效自评表's family (rule-scored, with the
scoring rules of ``xltemplate/rules.py`` on branch ``rules``) goes beside it as ``families/national/``.
"""

from __future__ import annotations

from ..form.family import family_ids, family_named, family_of, register
from . import self_scored

__all__ = ["family_ids", "family_named", "family_of", "register", "self_scored"]
