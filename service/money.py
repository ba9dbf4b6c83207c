"""Money: US-dollar decimal strings <-> integer cents <-> on-chain units.

The API speaks dollars as strings with at most two decimal places ("1250.00", "1250.5", "1250").
Inside, amounts are integer cents. On chain USHK has 6 decimals: 1 cent = 10,000 units.
No float and no Decimal is ever involved: the string is matched by a strict pattern and the
digits are turned into an integer directly.
"""

from __future__ import annotations

import re

from service.errors import ServiceError

UNITS_PER_CENT = 10_000
CENTS_PER_DOLLAR = 100
# 13 integer digits: up to 9,999,999,999,999.99 dollars. Anything longer is refused as malformed
# before any limit is looked at (and keeps every amount far inside a signed 64-bit integer).
MAX_INTEGER_DIGITS = 13

_AMOUNT = re.compile(r"(0|[1-9][0-9]*)(?:\.([0-9]{1,2}))?")


class InvalidAmount(ServiceError):
    """Zero, negative, more than 2 decimals, an exponent, not a string, more than 13 integer
    digits."""

    status_code = 422
    code = "invalid_amount"


def parse_amount(value: object, *, allow_zero: bool = False) -> int:
    """Parse a dollar string into positive integer cents (or zero too, with `allow_zero`).

    Accepted: "1250", "1250.5", "1250.00". Refused (InvalidAmount): non-strings, zero, negative or
    signed values, more than two decimals, exponents ("1e3"), leading zeros ("01.00"), whitespace,
    separators ("1,000.00"), and more than 13 integer digits.
    """
    if not isinstance(value, str):
        raise InvalidAmount('amount must be a string such as "1250.00"')
    match = _AMOUNT.fullmatch(value)
    if match is None:
        raise InvalidAmount(
            'amount must be a positive decimal string with at most 2 decimal places, such as "1250.00"'
        )
    whole, fraction = match.group(1), match.group(2) or ""
    if len(whole) > MAX_INTEGER_DIGITS:
        raise InvalidAmount(f"amount has more than {MAX_INTEGER_DIGITS} integer digits")
    cents = int(whole) * CENTS_PER_DOLLAR + int(fraction.ljust(2, "0"))
    if cents <= 0 and not allow_zero:
        raise InvalidAmount("amount must be greater than zero")
    return cents


def format_cents(cents: int) -> str:
    """Integer cents -> "1250.00" (the API's form)."""
    if not isinstance(cents, int) or isinstance(cents, bool):
        raise TypeError("cents must be an int")
    sign = "-" if cents < 0 else ""
    whole, fraction = divmod(abs(cents), CENTS_PER_DOLLAR)
    return f"{sign}{whole}.{fraction:02d}"


def cents_to_units(cents: int) -> int:
    """Cents -> on-chain units (6 decimals): 1 cent = 10,000 units."""
    return cents * UNITS_PER_CENT


def units_to_cents(units: int) -> int:
    """On-chain units -> cents; refuses amounts that are not a whole number of cents."""
    cents, remainder = divmod(units, UNITS_PER_CENT)
    if remainder:
        raise ValueError(f"{units} units is not a whole number of cents")
    return cents


def format_units(units: int) -> str:
    """Token units (6 decimals) as dollars: two decimals, or all six when there is dust."""
    whole, frac = divmod(int(units), 1_000_000)
    if frac % 10_000 == 0:
        return f"{whole}.{frac // 10_000:02d}"
    return f"{whole}.{frac:06d}"
