"""A collection round kept by a ledger: ``collect --ledger`` (:mod:`.run`), and the clerk's ``round`` commands:
the round at a glance (:mod:`.status`), the units to chase (:mod:`.remind`), the annotated copies to send
back (:mod:`.back`), withdrawing a return and undoing it (:mod:`.withdraw`)."""

from __future__ import annotations

from .back import annotate_round
from .remind import Reminder, Reminders, reminders, write_reminders
from .preflight import round_template, roster_snapshot
from .run import RoundResult, collect_round
from .status import RoundStatus, round_status
from .withdraw import reinstate, withdraw

__all__ = ["Reminder", "Reminders", "RoundResult", "RoundStatus", "annotate_round", "collect_round", "reinstate",
           "reminders", "round_status", "round_template", "roster_snapshot", "withdraw", "write_reminders"]
