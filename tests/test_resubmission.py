"""The one rule that chooses a unit's file (xltemplate.resubmission), with and without a ledger's arrival order."""

from __future__ import annotations

import datetime as dt

from xltemplate.resubmission import (
    BY_ARRIVAL, BY_FILE_TIME, BY_PATH, BY_SAVED_TIME, ONLY, RULE_CODES, RULE_WORDS, Candidate, newest,
)

T = dt.datetime(2021, 5, 10, 9, 0)


def c(path: str, saved: dt.datetime | None = None, mtime: float = 0.0, arrival: int | None = None) -> Candidate:
    return Candidate(path=path, saved_at=saved, mtime=mtime, name=path, arrival=arrival)


def test_a_single_file_is_the_only_one() -> None:
    assert newest([c("a")]) == (0, ONLY)
    assert newest([c("a", T, arrival=3)]) == (0, ONLY)


def test_trusted_saved_times_decide_before_arrival() -> None:
    # The draft arrived later (a unit resent its first attempt by mistake): its older saved time loses.
    files = [c("final", T, mtime=100, arrival=1), c("draft", T - dt.timedelta(days=2), mtime=900, arrival=2)]
    assert newest(files) == (0, BY_SAVED_TIME)


def test_without_saved_times_the_later_run_wins_whatever_the_file_times_say() -> None:
    # Received on day 2, but its modification time is older (unzipped, or the unit's own clock): day 2 is later.
    files = [c("day1", mtime=2000, arrival=1), c("day2", mtime=1000, arrival=2)]
    assert newest(files) == (1, BY_ARRIVAL)


def test_a_file_without_a_saved_time_does_not_lose_to_one_with_it_arrival_decides() -> None:
    files = [c("with", T, mtime=5, arrival=1), c("without", None, mtime=1, arrival=2)]
    assert newest(files) == (1, BY_ARRIVAL)


def test_in_one_run_the_file_times_then_the_path_decide() -> None:
    assert newest([c("a", mtime=10.9, arrival=2), c("b", mtime=11.1, arrival=2)]) == (1, BY_FILE_TIME)
    assert newest([c("a", mtime=10.1, arrival=2), c("b", mtime=10.8, arrival=2)]) == (1, BY_PATH)  # same second


def test_without_a_ledger_arrival_plays_no_part() -> None:
    # Issue 10's rule as it was: file times, then the path.
    assert newest([c("a", mtime=20), c("b", mtime=10)]) == (0, BY_FILE_TIME)
    assert newest([c("a", mtime=20, arrival=1), c("b", mtime=10)]) == (0, BY_FILE_TIME)  # one without: not used


def test_every_rule_has_a_stored_code_and_back() -> None:
    assert set(RULE_CODES) == {ONLY, BY_SAVED_TIME, BY_ARRIVAL, BY_FILE_TIME, BY_PATH}
    assert all(RULE_WORDS[code] == word for word, code in RULE_CODES.items())
