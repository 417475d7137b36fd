"""Values as people type them: the unambiguous is normalised (and said), the rest refused."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from xltemplate.values import parse_choice, parse_date, parse_number, parse_text


@pytest.mark.parametrize("raw,kind,value,noted", [
    (96, "score", Decimal(96), False),
    (7.5, "score", Decimal("7.5"), False),
    ("96", "score", Decimal(96), True),
    ("96分", "score", Decimal(96), True),
    ("８９６", "number", Decimal(896), True),
    (" 8,993,600.00 ", "money", Decimal("8993600.00"), True),
    ("8993600元", "money", Decimal(8993600), True),
    ("１２３，４５６．７", "money", Decimal("123456.7"), True),
    ("'123", "number", Decimal(123), True),
    ("\u3000５\u3000", "score", Decimal(5), True),
    ("100.00%", "percent", Decimal("1.0000"), True),
    ("99.71％", "percent", Decimal("0.9971"), True),
    (None, "score", None, False),
    ("   ", "money", None, False),
])
def test_numbers_normalised(raw, kind, value, noted) -> None:
    p = parse_number(raw, kind)
    assert p.ok and p.value == value and bool(p.note) is noted


@pytest.mark.parametrize("raw,kind", [
    ("abc", "score"), ("1,5", "money"), ("8.9万元", "money"), ("96分", "money"), ("5元", "score"),
    ("99.71", "percent"), ("50%", "score"), (True, "score"), (dt.date(2020, 1, 1), "money"), ("1.2.3", "number"),
    ("nan", "number"), ("inf", "number"),
])
def test_numbers_refused_never_zero(raw, kind) -> None:
    p = parse_number(raw, kind)
    assert not p.ok and p.value is None and p.error


@pytest.mark.parametrize("raw", [
    dt.date(2020, 4, 30), dt.datetime(2020, 4, 30), 43951, 43951.0, "2020-04-30", "2020/4/30", "2020.4.30",
    "2020年4月30日", "20200430", 20200430, "２０２０年４月３０日", " 2020-4-30 ", "2020-04-30 00:00:00",
])
def test_dates_in_every_shape(raw) -> None:
    p = parse_date(raw)
    assert p.ok and p.value == dt.date(2020, 4, 30)
    assert bool(p.note) is not isinstance(raw, dt.date)


@pytest.mark.parametrize("raw", ["4/30/2020", "30/4/2020", "2020-02-30", "明年", "2020-4", 1.5, True])
def test_dates_refused(raw) -> None:
    p = parse_date(raw)
    assert not p.ok and p.value is None


def test_choices() -> None:
    assert parse_choice("是", ("是", "否")).note == ""
    p = parse_choice(" 否\u3000", ("是", "否"))
    assert p.value == "否" and p.note
    assert not parse_choice("Y", ("是", "否")).ok


def test_text() -> None:
    assert parse_text("  企业服务专项 ").value == "企业服务专项"
    assert parse_text(2020.0).value == "2020"
    assert parse_text(None).blank
