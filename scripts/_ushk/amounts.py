"""US dollar amounts as operators type them, and the token's units.

An amount follows the reserve service's one rule (`service.money.parse_amount`): a plain decimal
string with at most two decimals ("1250.00", "1250.5", "1250"): no sign, thousands separator,
currency sign, exponent, leading zero or whitespace, at most 13 integer digits. A refusal is a
ValueError with the service's message. The service's cents become the token's 6-decimal units.
"""

from __future__ import annotations

from service.money import (
    CENTS_PER_DOLLAR,
    UNITS_PER_CENT,
    InvalidAmount,
    cents_to_units,
    format_cents,
    parse_amount,
)

DECIMALS = 6
UNIT = UNITS_PER_CENT * CENTS_PER_DOLLAR  # token units per US dollar (10**DECIMALS)
CENT = UNITS_PER_CENT
MAX_UINT128 = 2**128 - 1
MAX_UINT120 = 2**120 - 1


def parse_usd(text: str, *, allow_zero: bool = False) -> int:
    """'1250.00' (or '1250', '0.5') US dollars -> token units (1 USD = 10**6 units), by the
    service's rule. Positive unless `allow_zero`."""
    try:
        cents = parse_amount(text, allow_zero=allow_zero)
    except InvalidAmount as err:
        raise ValueError(f"'{text}': {err.message}") from None
    return cents_to_units(cents)


def format_usd(units: int) -> str:
    """Token units -> '1250.00' (all six decimals when the amount has sub-cent units)."""
    units = int(units)
    if units % CENT == 0:
        return format_cents(units // CENT)
    sign = "-" if units < 0 else ""
    dollars, rest = divmod(abs(units), UNIT)
    return f"{sign}{dollars}.{rest:06d}"
