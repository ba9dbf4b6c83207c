"""Redemption rules (docs/design.md section 4): payout accounts, payouts, settlement, overdue.

Payout accounts
    A bank registers a customer's US-dollar account for a holder address. The service keeps
    only ``account_hmac = HMAC-SHA256(id_hmac_secret, "payout-account:<bank id>:" reference)``
    and answers with ``payout_ref = 0x || SHA-256("ushk-payout-ref" || bank id (8 bytes) ||
    holder (20 bytes) || account_hmac (32 bytes) || salt (32 random bytes))``: the holder passes
    it to ``redeem(amount, payoutRef)``, and nothing about the account can be read or tested
    from the chain. Registering the same (bank, holder, account) again returns the same ref.

Payouts
    Each on-chain redemption id becomes exactly one payout (unique constraint; the watcher and
    the database both make sure). A payoutRef registered for the redeeming holder makes a
    ``pending`` payout for the bank that registered it. Anything else (unknown ref, a ref
    registered for another holder, less than one cent) makes an ``unassigned`` payout with its
    reason: held, audited as an alert and listed for operators, never dropped. The bank pays
    whole cents (units // 10,000); the sub-cent rest is kept as ``dust_units``.

Settlement
    The bank confirms its USD transfer with a signed settlement (Ed25519, the canonical JSON of
    deposit confirmations). Checks in order: key and signature (403); the signed payout id is
    the one in the path (422); the payout is this bank's (404 otherwise, also for another
    bank's payout); an already settled payout answers an identical settlement again (replay)
    and refuses different content (409); then formats, the amount and the value date (within
    the policy's window around today) (422). A refusal changes nothing.

Overdue
    A pending payout is due by the end (midnight, Hong Kong time) of the first Hong Kong
    business day after the Hong Kong calendar day on which it was created. Saturdays, Sundays,
    Hong Kong's general holidays (the `holidays` package) and the configured closures
    (`Settings.payout_holidays`) are not business days (service/business_days.py). `due_at` is
    stored when the payout is created; "overdue" is computed against the current time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy.orm import Session

from service import audit, business_days, ledger
from service.audit.repository import format_timestamp
from service.banks.models import Bank, BankRecord
from service.config import Settings
from service.deposits import service as deposits
from service.deposits.service import (
    KeyRetired,
    UnknownKey,
    UnsupportedCurrency,
    ValueDateOutOfRange,
    check_bank_signature,
    check_value_date_window,
)
from service.errors import NotFound, ServiceError
from service.evm import parse_address
from service.money import UNITS_PER_CENT, format_cents, parse_amount
from service.quota.policy import Policy
from service.redemptions import repository
from service.redemptions.models import Payout, PayoutAccount, PayoutStatus
from service.redemptions.schemas import PayoutAccountIn, SettlementRequest

WATCHER_ACTOR = "redemption-watcher"
MAX_CENTS = 2**63 - 1

_BANK_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_PAYOUT_ID = re.compile(r"[1-9][0-9]{0,18}")


# ---- errors -------------------------------------------------------------------------------------


class InvalidPayoutAccount(ServiceError):
    """Payout account: holder or account reference format."""

    status_code = 422
    code = "invalid_payout_account"


class PayoutNotFound(NotFound):
    """No payout with this id for this bank."""

    code = "payout_not_found"
    message = "No payout with this id for this bank."


class InvalidSignature(deposits.InvalidSignature):
    message = "The signature does not verify over the canonical encoding of the settlement."


class PayoutIdMismatch(ServiceError):
    """The signed payout id is not the one in the path."""

    status_code = 422
    code = "payout_id_mismatch"
    message = "settlement.payout_id is not the payout id of the request path."


class SettlementConflict(ServiceError):
    """The payout was settled with a different settlement."""

    status_code = 409
    code = "settlement_conflict"
    message = "This payout was already settled with a different confirmation."


class AmountMismatch(ServiceError):
    """The settled amount is not the payout's amount."""

    status_code = 422
    code = "amount_mismatch"


class InvalidSettlement(ServiceError):
    """Settlement value date or bank reference format."""

    status_code = 422
    code = "invalid_settlement"


SETTLE_ERRORS: tuple[type[ServiceError], ...] = (
    UnknownKey,
    KeyRetired,
    InvalidSignature,
    PayoutIdMismatch,
    PayoutNotFound,
    SettlementConflict,
    AmountMismatch,
    UnsupportedCurrency,
    InvalidSettlement,
    ValueDateOutOfRange,
)


# ---- business days ------------------------------------------------------------------------------


def payout_due_at(settings: Settings, created_at: dt.datetime) -> dt.datetime:
    """When a payout created at `created_at` falls overdue (service/business_days.py)."""
    return business_days.due_at(
        created_at, settings.payout_holidays, general=settings.payout_calendar == "hong-kong"
    )


# ---- payout accounts ----------------------------------------------------------------------------


def account_hmac(settings: Settings, bank_id: int, account_reference: str) -> str:
    key = settings.id_hmac_secret.get_secret_value().encode("utf-8")
    message = f"payout-account:{bank_id}:{account_reference}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def payout_ref_for(bank_id: int, holder: str, account_hmac_hex: str, salt_hex: str) -> str:
    digest = hashlib.sha256(
        b"ushk-payout-ref"
        + bank_id.to_bytes(8, "big")
        + bytes.fromhex(holder[2:])
        + bytes.fromhex(account_hmac_hex)
        + bytes.fromhex(salt_hex)
    ).hexdigest()
    return "0x" + digest


def _check_account_reference(value: str) -> str:
    if not 1 <= len(value) <= 128 or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise InvalidPayoutAccount("account_reference must be 1-128 characters without control characters")
    if value != value.strip():
        raise InvalidPayoutAccount("account_reference must not start or end with whitespace")
    return value


def account_payload(account: PayoutAccount) -> dict:
    return {
        "payout_account_id": account.id,
        "bank_id": account.bank_id,
        "holder": account.holder,
        "payout_ref": account.payout_ref,
        "currency": account.currency,
    }


def register_account(
    session: Session,
    settings: Settings,
    bank: Bank | BankRecord,
    body: PayoutAccountIn,
    *,
    now: dt.datetime,
) -> tuple[PayoutAccount, bool]:
    """Register (bank, holder, account); returns (account, created). The same registration
    again returns the existing row and its payout_ref."""
    try:
        holder = parse_address(body.holder)
    except ValueError as exc:
        raise InvalidPayoutAccount(f"holder: {exc}") from None
    if body.currency != "USD":
        raise UnsupportedCurrency()
    reference = _check_account_reference(body.account_reference)
    digest = account_hmac(settings, bank.id, reference)
    existing = repository.account_for(session, bank.id, holder, digest)
    if existing is not None:
        return existing, False
    salt = secrets.token_hex(32)
    account = PayoutAccount(
        bank_id=bank.id,
        holder=holder,
        account_hmac=digest,
        currency="USD",
        salt=salt,
        payout_ref=payout_ref_for(bank.id, holder, digest, salt),
        created_at=now,
    )
    session.add(account)
    session.flush()  # unique (bank, holder, account_hmac): a concurrent duplicate fails here
    audit.record(session, "payout_account.registered", f"bank:{bank.name}", account_payload(account), now=now)
    return account, True


# ---- payouts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedemptionEvent:
    """One `RedemptionRequested(redemptionId, holder, amount, payoutRef)` log."""

    redemption_id: int
    holder: str
    amount_units: int
    payout_ref: str  # 0x + 64 lowercase hex digits
    tx_hash: str
    block_number: int
    log_index: int


def payout_payload(payout: Payout) -> dict:
    payload = {
        "payout_id": payout.id,
        "redemption_id": payout.redemption_id,
        "status": payout.status,
        "bank_id": payout.bank_id,
        "holder": payout.holder,
        "amount_cents": payout.amount_cents,
        "amount_units": payout.amount_units,
        "payout_ref": payout.payout_ref,
        "tx_hash": payout.tx_hash,
        "block_number": payout.block_number,
    }
    if payout.unassigned_reason is not None:
        payload["unassigned_reason"] = payout.unassigned_reason
    if payout.settled_at is not None:
        payload["bank_reference"] = payout.bank_reference
        payload["value_date"] = payout.value_date.isoformat() if payout.value_date else None
    return payload


def post_redemption(session: Session, event: RedemptionEvent, *, now: dt.datetime) -> None:
    """The reserve ledger's posting of an on-chain redemption (tokens outstanding -> pending
    payouts; idempotent per redemption id), which precedes its payout (`record_redemption`)."""
    ledger.record_redemption(
        session,
        redemption_id=event.redemption_id,
        units=event.amount_units,
        holder=event.holder,
        tx_hash=event.tx_hash,
        block_number=event.block_number,
        actor=WATCHER_ACTOR,
        now=now,
    )


def record_redemption(
    session: Session, settings: Settings, event: RedemptionEvent, *, now: dt.datetime
) -> Payout | None:
    """The payout of one redemption event, created once; None when it already exists."""
    ref = event.payout_ref.lower()
    account = repository.account_by_ref(session, ref)
    cents, dust = divmod(event.amount_units, UNITS_PER_CENT)
    holder = parse_address(event.holder)
    reason = None
    if account is None:
        reason = "unknown_payout_ref"
    elif account.holder != holder:
        reason = "holder_mismatch"
    elif cents == 0:
        reason = "amount_below_one_cent"
    elif cents > MAX_CENTS:
        reason = "amount_too_large"
    values = {
        "redemption_id": event.redemption_id,
        "tx_hash": event.tx_hash,
        "block_number": event.block_number,
        "log_index": event.log_index,
        "holder": holder,
        "amount_units": str(event.amount_units),
        "amount_cents": min(cents, MAX_CENTS),
        "dust_units": dust,
        "payout_ref": ref,
        "payout_account_id": account.id if account is not None else None,
        "bank_id": account.bank_id if account is not None and reason is None else None,
        "status": PayoutStatus.PENDING if reason is None else PayoutStatus.UNASSIGNED,
        "unassigned_reason": reason,
        "due_at": payout_due_at(settings, now),
        "created_at": now,
        "updated_at": now,
    }
    payout = repository.insert_payout(session, values)
    if payout is None:
        return None
    if reason is None:
        audit.record(session, "payout.created", WATCHER_ACTOR, payout_payload(payout), now=now)
    else:
        audit.record(session, "alert.payout_unassigned", WATCHER_ACTOR, payout_payload(payout), now=now)
    return payout


def report_overdue(session: Session, *, now: dt.datetime) -> list[Payout]:
    """Record each newly overdue payout once in the audit log; returns them."""
    rows = repository.overdue_unreported(session, now)
    for payout in rows:
        payout.overdue_reported_at = now
        audit.record(
            session,
            "alert.payout_overdue",
            WATCHER_ACTOR,
            {**payout_payload(payout), "due_at": format_timestamp(payout.due_at)},
            now=now,
        )
    session.flush()
    return rows


class PayoutNotAssignable(ServiceError):
    """Only an unassigned payout can be given to a bank (`ushk payouts assign`)."""

    status_code = 409
    code = "payout_not_unassigned"
    message = "Only an unassigned payout can be assigned to a bank."


def assign_payout(
    session: Session,
    settings: Settings,
    payout_id: int,
    bank: Bank,
    *,
    actor: str,
    now: dt.datetime,
) -> Payout:
    """An operator gives an unassigned payout to `bank` (after finding, with the bank, the
    account the holder meant): it becomes pending for that bank, due one Hong Kong business
    day from now. Audited with the reason it had been unassigned."""
    payout = repository.get_payout(session, payout_id, lock=True)
    if payout is None:
        raise NotFound(f"no payout {payout_id}")
    if payout.status != PayoutStatus.UNASSIGNED:
        raise PayoutNotAssignable()
    if payout.amount_cents == 0:
        raise PayoutNotAssignable("a payout of less than one cent cannot be paid out")
    reason = payout.unassigned_reason
    payout.status = PayoutStatus.PENDING
    payout.bank_id = bank.id
    payout.due_at = payout_due_at(settings, now)
    payout.updated_at = now
    session.flush()
    audit.record(
        session,
        "payout.assigned",
        actor,
        {**payout_payload(payout), "was_unassigned_for": reason, "bank": bank.name},
        now=now,
    )
    return payout


def get_for_bank(session: Session, bank: Bank | BankRecord, payout_id: int) -> Payout:
    payout = repository.get_payout(session, payout_id)
    if payout is None or payout.bank_id != bank.id:
        raise PayoutNotFound()
    return payout


# ---- settlement ---------------------------------------------------------------------------------


def settlement_hmac(settings: Settings, message: bytes) -> str:
    key = settings.id_hmac_secret.get_secret_value().encode("utf-8")
    return hmac.new(key, b"payout-settlement:" + message, hashlib.sha256).hexdigest()


@dataclass
class SettleOutcome:
    payout: Payout
    created: bool  # False: an identical replay


def settle(
    session: Session,
    settings: Settings,
    bank: Bank | BankRecord,
    payout_id: int,
    request: SettlementRequest,
    *,
    policy: Policy,
    now: dt.datetime,
) -> SettleOutcome:
    """Check and record a bank's signed settlement of one of its payouts (module docstring)."""
    settlement = request.settlement.model_dump()
    message = check_bank_signature(
        session, bank, request.key_id, settlement, request.signature, invalid=InvalidSignature
    )
    if not _PAYOUT_ID.fullmatch(settlement["payout_id"]) or int(settlement["payout_id"]) != payout_id:
        raise PayoutIdMismatch()
    payout = repository.get_payout(session, payout_id, lock=True)
    if payout is None or payout.bank_id != bank.id:
        raise PayoutNotFound()
    digest = settlement_hmac(settings, message)
    if payout.status == PayoutStatus.SETTLED:
        if payout.settlement_hmac == digest:
            return SettleOutcome(payout, created=False)
        raise SettlementConflict()
    amount = parse_amount(settlement["amount"])
    if amount != payout.amount_cents:
        raise AmountMismatch(
            f"amount {format_cents(amount)} is not the payout's {format_cents(payout.amount_cents)}"
        )
    if settlement["currency"] != "USD":
        raise UnsupportedCurrency()
    value_date = check_value_date_window(policy, _parse_date(settlement["value_date"]), now)
    if not _BANK_REFERENCE.fullmatch(settlement["bank_reference"]):
        raise InvalidSettlement(
            "bank_reference must be 1-64 characters: letters, digits, '.', '_', ':' or '-'"
        )
    values = {
        "settlement_hmac": digest,
        "settlement_key_id": request.key_id,
        "bank_reference": settlement["bank_reference"],
        "value_date": value_date,
        "settled_at": now,
        "updated_at": now,
    }
    if not repository.mark_settled(session, payout.id, values):
        # settled concurrently between the read and the update (SQLite/PostgreSQL both lock the
        # row above, so only a retry after an error reaches this): answer as a replay would
        session.refresh(payout)
        if payout.settlement_hmac == digest:
            return SettleOutcome(payout, created=False)
        raise SettlementConflict()
    session.refresh(payout)
    actor = f"bank:{bank.name}"
    audit.record(
        session, "payout.settled", actor, {**payout_payload(payout), "key_id": request.key_id}, now=now
    )
    _debit_reserve_ledger(session, payout, actor=actor, now=now)
    return SettleOutcome(payout, created=True)


def _debit_reserve_ledger(session: Session, payout: Payout, *, actor: str, now: dt.datetime) -> None:
    """Settling debits the reserve ledger (docs/design.md section 4), in the same transaction:
    Dr pending_payouts / Cr custody at the bank, idempotent per payout id."""
    assert payout.bank_id is not None  # settled by its bank (settle checks it is the caller)
    ledger.record_payout_settled(
        session,
        bank_id=payout.bank_id,
        amount_cents=payout.amount_cents,
        payout_id=payout.id,
        burn=ledger.Burn(
            redemption_id=payout.redemption_id,
            units=int(payout.amount_units),
            holder=payout.holder,
            tx_hash=payout.tx_hash,
            block_number=payout.block_number,
        ),
        actor=actor,
        now=now,
    )


def _parse_date(value: str) -> dt.date:
    if not _DATE.fullmatch(value):
        raise InvalidSettlement("value_date must be an ISO date, YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidSettlement("value_date must be an ISO date, YYYY-MM-DD") from None
