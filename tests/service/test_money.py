import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.money import (
    InvalidAmount,
    cents_to_units,
    format_cents,
    format_units,
    parse_amount,
    units_to_cents,
)


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("1250.00", 125_000),
        ("1250.5", 125_050),
        ("1250", 125_000),
        ("0.01", 1),
        ("0.1", 10),
        ("9999999999999.99", 999_999_999_999_999),
    ],
)
def test_parse_amount_accepts_dollar_strings(text, cents):
    assert parse_amount(text) == cents


@pytest.mark.parametrize(
    "bad",
    [
        "0",
        "0.00",
        "-1",
        "-1.00",
        "+1.00",
        "1.001",
        "1e3",
        "1E3",
        "1.",
        ".5",
        "01.00",
        " 1.00",
        "1.00 ",
        "1,000.00",
        "NaN",
        "Infinity",
        "",
        "0x10",
        "١٢٣",
        "99999999999999999999.00",
        1000,
        1000.0,
        None,
        True,
    ],
)
def test_parse_amount_refuses(bad):
    with pytest.raises(InvalidAmount) as info:
        parse_amount(bad)
    assert info.value.code == "invalid_amount"
    assert info.value.status_code == 422


@given(st.integers(min_value=1, max_value=10**15 - 1))
def test_format_and_parse_round_trip(cents):
    assert parse_amount(format_cents(cents)) == cents


def test_units():
    assert cents_to_units(1) == 10_000
    assert cents_to_units(125_000) == 1_250_000_000  # $1,250.00 at 6 decimals
    assert units_to_cents(1_250_000_000) == 125_000
    with pytest.raises(ValueError):
        units_to_cents(1)


def test_zero_only_when_allowed():
    # ceilings and attestations (the ape scripts' allowances, `ops attest`) may be zero
    assert parse_amount("0.00", allow_zero=True) == 0
    assert parse_amount("0", allow_zero=True) == 0
    assert parse_amount("12.50", allow_zero=True) == 1_250
    for bad in ("-0.00", "00.00", "0.001", "1,000.00", ""):
        with pytest.raises(InvalidAmount):
            parse_amount(bad, allow_zero=True)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (1250, 'amount must be a string such as "1250.00"'),
        (
            "1.001",
            'amount must be a positive decimal string with at most 2 decimal places, such as "1250.00"',
        ),
        ("1" * 14, "amount has more than 13 integer digits"),
        ("0.00", "amount must be greater than zero"),
    ],
)
def test_parse_amount_says_why(bad, message):
    # the message is the API's error text (a bank reads it)
    with pytest.raises(InvalidAmount) as info:
        parse_amount(bad)
    assert str(info.value) == message


def test_format_cents_signs_and_refuses_non_ints():
    assert format_cents(0) == "0.00"
    assert format_cents(5) == "0.05"
    assert format_cents(-150) == "-1.50"
    assert format_cents(-5) == "-0.05"
    for bad in (True, 1.5, "1"):
        with pytest.raises(TypeError, match="^cents must be an int$"):
            format_cents(bad)


def test_units_to_cents_refuses_fractions_of_a_cent():
    with pytest.raises(ValueError, match="^10001 units is not a whole number of cents$"):
        units_to_cents(10_001)
    assert units_to_cents(0) == 0
    assert units_to_cents(-20_000) == -2


def test_format_units():
    assert format_units(1_250_000_000) == "1250.00"
    assert format_units(10_000) == "0.01"
    assert format_units(0) == "0.00"
    assert format_units(1) == "0.000001"  # dust: all six decimals
    assert format_units(1_234_567) == "1.234567"
    assert format_units(120_000) == "0.12"
