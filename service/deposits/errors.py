"""The errors a deposit confirmation can be refused with (service/deposits/service.py, which
re-exports them: `deposits.UnknownKey` and so on), and the value-date window check."""

from __future__ import annotations

import datetime as dt

from service.errors import NotFound, ServiceError
from service.quota.policy import Policy


class UnknownKey(ServiceError):
    """`key_id` is not a confirmation key of this bank."""

    status_code = 403
    code = "unknown_key"
    message = "key_id is not a confirmation key of this bank."


class KeyRetired(ServiceError):
    """`key_id` names a retired confirmation key."""

    status_code = 403
    code = "key_retired"
    message = "key_id names a retired confirmation key."


class InvalidSignature(ServiceError):
    """The signature does not verify over the canonical encoding (of the confirmation or the
    settlement)."""

    status_code = 403
    code = "invalid_signature"
    message = "The signature does not verify over the canonical encoding of the confirmation."


class ReferenceConflict(ServiceError):
    """The reference was used for a different confirmation."""

    status_code = 409
    code = "reference_conflict"
    message = "This reference was already used for a different confirmation."


class InvalidReference(ServiceError):
    """Reference format."""

    status_code = 422
    code = "invalid_reference"
    message = "reference must be 1-64 characters: letters, digits, '.', '_', ':' or '-'."


class AmountAboveMaximum(ServiceError):
    """Above the service's single-deposit maximum."""

    status_code = 422
    code = "amount_above_maximum"


class BankSingleLimitExceeded(ServiceError):
    """Above this bank's single-deposit maximum."""

    status_code = 422
    code = "bank_single_limit_exceeded"


class UnsupportedCurrency(ServiceError):
    """Currency is not `USD`."""

    status_code = 422
    code = "unsupported_currency"
    message = "currency must be USD."


class InvalidValueDate(ServiceError):
    """Value date not `YYYY-MM-DD`, or no such day."""

    status_code = 422
    code = "invalid_value_date"
    message = "value_date must be an ISO date, YYYY-MM-DD."


class ValueDateOutOfRange(ServiceError):
    """Value date outside the policy's window around today (default: more than 30 days before
    or 1 day after today in Hong Kong)."""

    status_code = 422
    code = "value_date_out_of_range"
    message = "value_date is outside the window the policy accepts around today."


def check_value_date_window(policy: Policy, value_date: dt.date, now: dt.datetime) -> dt.date:
    """`value_date` if it lies in the policy's window around the day of `now`
    (`ValueDateOutOfRange` otherwise)."""
    window = policy.value_dates
    first, last = window.bounds(now)
    if not first <= value_date <= last:
        raise ValueDateOutOfRange(
            f"value_date must be from {first.isoformat()} to {last.isoformat()}: at most "
            f"{window.max_days_past} days before and {window.max_days_future} after today "
            f"({window.timezone.key})"
        )
    return value_date


class InvalidAddress(ServiceError):
    """Not an address, a bad EIP-55 checksum, or the zero address."""

    status_code = 422
    code = "invalid_address"


class InvalidPurposeCode(ServiceError):
    """Purpose code format."""

    status_code = 422
    code = "invalid_purpose_code"
    message = "purpose_code must be 1-35 uppercase letters or digits (e.g. ISO 20022 INVS)."


class DepositNotFound(NotFound):
    """No deposit with this reference for this bank."""

    code = "deposit_not_found"
    message = "No deposit with this reference for this bank."
