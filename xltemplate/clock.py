"""Times as a person reads them: Beijing time (UTC+8), whatever zone the machine is set to.

What a file or the ledger stores stays in UTC (a workbook's saved time, a run's start and end, when a file
was first received); what a person reads (the roll-up's columns, its CSVs, the console, a finding's
message) is that time in Beijing time. The machine's own zone is not used: a bureau's server is often
kept in UTC, and its clerks would read every time eight hours off. China has kept UTC+8 the year round
since 1991, so a fixed offset is exact for every time this tool shows.
"""

from __future__ import annotations

import datetime as dt

BEIJING = dt.timezone(dt.timedelta(hours=8), "北京时间")


def beijing(stamp: dt.datetime) -> dt.datetime:
    """``stamp`` in Beijing time, to the second, without a zone (as a workbook shows a time).

    A time without a zone is taken to be UTC, as this tool stores them."""
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.timezone.utc)
    return stamp.astimezone(BEIJING).replace(tzinfo=None, microsecond=0)
