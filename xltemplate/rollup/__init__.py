"""The roll-up: collect the returns (:mod:`.collect`), the one source of its tables (:mod:`.tables`),
and the workbook written from them (:mod:`.workbook`)."""

from __future__ import annotations

from .collect import Collection, collect
from .tables import export_csv
from .workbook import write_rollup

__all__ = ["Collection", "collect", "export_csv", "write_rollup"]
