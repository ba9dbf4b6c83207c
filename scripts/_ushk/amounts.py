"""US dollar amounts as operators type them ("1250.00", at most 2 decimals), and the token's
6-decimal units: integers only."""

from __future__ import annotations

import re

DECIMALS = 6
UNIT = 10**DECIMALS  # token units per US dollar
CENT = UNIT // 100
MAX_UINT128 = 2**128 - 1
MAX_UINT120 = 2**120 - 1

_USD_RE = re.compile(r"^(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d{1,2}))?$")


def parse_usd(text: str, *, allow_zero: bool = False) -> int:
    """'1250.00' (or '1,250.00', '1250', '0.5') US dollars -> token units (1 USD = 10**6 units).

    Integers only: at most two decimals, no signs, no exponents. Positive unless `allow_zero`.
    """
    raw = str(text).strip().removeprefix("$")
    match = _USD_RE.match(raw)
    if not match:
        if re.match(r"^\d[\d,]*\.\d{3,}$", raw):
            raise ValueError(f"'{text}' has more than 2 decimals: US dollar amounts are in cents")
        raise ValueError(f"'{text}' is not a US dollar amount like 1250.00")
    dollars = int(match["int"].replace(",", ""))
    cents = int((match["frac"] or "0").ljust(2, "0"))
    units = dollars * UNIT + cents * CENT
    if units == 0 and not allow_zero:
        raise ValueError(f"'{text}': the amount must be positive")
    if units > MAX_UINT128:
        raise ValueError(f"'{text}' is too large for the token (more than 2^128 units)")
    return units


def format_usd(units: int) -> str:
    """Token units -> '1250.00' (all six decimals when the amount has sub-cent units)."""
    units = int(units)
    sign = "-" if units < 0 else ""
    dollars, rest = divmod(abs(units), UNIT)
    if rest % CENT == 0:
        return f"{sign}{dollars}.{rest // CENT:02d}"
    return f"{sign}{dollars}.{rest:06d}"
