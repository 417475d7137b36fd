"""Properties of the value normaliser (hypothesis): it never raises, never invents a number."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from xltemplate.values import parse_date, parse_number

KINDS = st.sampled_from(["number", "money", "percent", "score"])


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=40), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                 st.decimals(allow_nan=True, allow_infinity=True), st.booleans(), st.none()), KINDS)
def test_anything_gives_a_value_or_an_error_never_an_exception(raw, kind) -> None:
    p = parse_number(raw, kind)
    assert (p.value is None) or p.ok
    if not p.ok:
        assert p.value is None and p.error  # an unreadable value is never turned into a number
    parse_date(raw)


@settings(max_examples=300, deadline=None)
@given(st.decimals(min_value=0, max_value=Decimal("999999999999"), places=2))
def test_amounts_with_thousands_separators_read_back_exactly(amount: Decimal) -> None:
    p = parse_number(f"{amount:,.2f}", "money")
    assert p.ok and p.value == amount
    full_width = f"{amount:,.2f}".translate(str.maketrans("0123456789,.", "０１２３４５６７８９，．"))
    assert parse_number(full_width, "money").value == amount


@settings(max_examples=200, deadline=None)
@given(st.decimals(min_value=0, max_value=100, places=2))
def test_percent_text_is_the_fraction(rate: Decimal) -> None:
    p = parse_number(f"{rate}%", "percent")
    assert p.ok and p.value == rate / 100
