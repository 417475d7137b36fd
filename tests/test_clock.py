"""Times a person reads are Beijing time, whatever zone the machine is set to (xltemplate.clock).

Each test runs with the process's zone set to one far from Beijing (New York, then UTC), so that a time shown in the
machine's own zone, as before, is caught."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator

import pytest

from xltemplate.clock import BEIJING, beijing
from xltemplate.ledger import local_time
from xltemplate.ledger.lock import LedgerLock
from xltemplate.resubmission import saved_time_problem
from xltemplate.rollup import tables


@pytest.fixture(params=["America/New_York", "UTC"], autouse=True)
def machine_zone(request: pytest.FixtureRequest) -> Iterator[str]:
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset: not on Windows")
    before = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    yield request.param
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


def test_beijing_takes_a_zoneless_time_as_utc_and_an_aware_one_as_it_says() -> None:
    assert beijing(dt.datetime(2020, 5, 11, 17, 30, 5, 123456)) == dt.datetime(2020, 5, 12, 1, 30, 5)
    new_york = dt.timezone(dt.timedelta(hours=-4))
    assert beijing(dt.datetime(2020, 5, 11, 21, 30, tzinfo=new_york)) == dt.datetime(2020, 5, 12, 9, 30)
    assert beijing(dt.datetime(2020, 5, 12, 9, 30, tzinfo=BEIJING)) == dt.datetime(2020, 5, 12, 9, 30)


def test_a_ledger_time_is_shown_in_beijing_time() -> None:
    assert local_time("2020-05-11T17:30:00.000000+00:00") == dt.datetime(2020, 5, 12, 1, 30)
    assert local_time(None) is None


def test_an_untrusted_saved_time_is_said_in_beijing_time() -> None:
    now = dt.datetime(2020, 5, 1)
    why = saved_time_problem(dt.datetime(2020, 5, 11, 17, 30), None, now)
    assert why == "文件内记录的保存时间 2020-05-12 01:30（北京时间）在未来"
    why = saved_time_problem(dt.datetime(2020, 4, 1, 16, 0), "2020-04-10T01:00:00+00:00", dt.datetime(2020, 5, 1))
    assert why == "文件内记录的保存时间 2020-04-02 00:00 早于财政局生成此文件的时间 2020-04-10 09:00（北京时间）"


def test_the_roll_ups_file_list_shows_saved_times_in_beijing_time() -> None:
    brief = SimpleNamespace(key="K1", status="valid", saved_at=dt.datetime(2020, 5, 11, 17, 30), application="x", sha256="0" * 64)
    ret = SimpleNamespace(brief=brief, name="a.xlsx", path="/in/a.xlsx", fate="计入", note=None, replaced_by=None,
                          counts=lambda: (0, 0))
    c = SimpleNamespace(returns=[ret], skipped=[])
    (row,) = tables.iter_files(c)  # type: ignore[arg-type]
    assert row["saved_at"] == dt.datetime(2020, 5, 12, 1, 30)  # the next day in Beijing: the roll-up shows the date


def test_the_ledger_lock_says_since_when_in_beijing_time(tmp_path: Path) -> None:
    lock = LedgerLock(tmp_path / "台账.sqlite")
    lock.acquire(0, "汇总")
    try:
        since = dt.datetime.fromisoformat(json.loads(lock.path.read_text(encoding="utf-8"))["since"])
    finally:
        lock.release()
    assert since.utcoffset() == dt.timedelta(hours=8)
    assert abs((since - dt.datetime.now(dt.timezone.utc)).total_seconds()) < 60
