"""Deposit confirmation rules (docs/design.md section 2).

`submit()` runs the checks in this order, each refusal with its own code:

1. (HTTP layer) the bank is authenticated and active; the body has exactly the known fields,
   every value a string.
2. the key id names an active Ed25519 key of this bank, and the signature verifies over the
   canonical encoding of the confirmation;
3. idempotency on (bank, reference): the same confirmation again returns the stored result,
   different content under a used reference is a conflict (409); then a bank marked failed as
   a custodian (service/reserves/failures.py) takes no new deposit (409 custodian_failed);
4. field formats: reference, amount (positive, at most 2 decimals, <= the service maximum and
   the bank's single-deposit maximum), currency USD, the custodian concentration limit
   (service/deposits/concentration.py, 422 custodian_concentration), value date (and within the policy's
   window around today), beneficiary address, purpose code, resident (id type, category
   exists, id type allowed, id number); at or above the policy's CDD threshold the bank's CDD
   confirmation and the originator's IVMS101 data (service/travel_rule), sealed encrypted.

Up to here a refusal changes nothing. From here on the confirmation is authentic and
well-formed, so it is stored (status received) and each refusal is a recorded decision (status
rejected with code and reason, audited, the reference used up):

5. the category may buy (the mainland switch);
6. the resident is not suspended on the watch list, and this deposit does not complete a
   splitting pattern (which puts the funders on the watch list);
7. the resident's quota holds the amount (the hold is taken here);
8. the bank's daily limit (Hong Kong calendar day of acceptance) holds the amount.

Then the deposit is accepted, credited to its bank's custody account in the reserve ledger
(service/ledger), and waits in the outbox for the minter; or, above the policy's four-eyes
threshold (9.), it is `awaiting_approval` until an approver accepts it (service/deposits/approval.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.orm import Session

from service import audit, ledger
from service.banks import service as banks
from service.banks.models import Bank, BankRecord
from service.banks.repository import signing_key_state
from service.config import Settings
from service.db import Prepared
from service.deposits import concentration, repository
from service.deposits.errors import (  # re-exported: deposits.UnknownKey, ...
    AmountAboveMaximum,
    BankSingleLimitExceeded,
    DepositNotFound,
    InvalidAddress,
    InvalidPurposeCode,
    InvalidReference,
    InvalidSignature,
    InvalidValueDate,
    KeyRetired,
    ReferenceConflict,
    UnknownKey,
    UnsupportedCurrency,
    ValueDateOutOfRange,
    check_value_date_window,
)
from service.deposits.ids import deposit_id_hex
from service.deposits.models import Deposit, DepositRecord, DepositStatus
from service.deposits.schemas import ConfirmationIn, DepositRequest, deposit_json
from service.deposits.signing import canonical_confirmation, verify_signature
from service.errors import ServiceError
from service.evm import parse_address
from service.money import format_cents, parse_amount
from service.quota import service as quota
from service.quota.identity import (
    normalize_id_number,
    normalize_id_type,
    pseudonym,
    resident_hash,
)
from service.quota.policy import Policy
from service.travel_rule import service as travel_rule
from service.webhooks import service as webhooks

_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_PURPOSE = re.compile(r"[A-Z0-9]{1,35}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


# Errors a submission can end with, for OpenAPI.
SUBMIT_ERRORS: tuple[type[ServiceError], ...] = (
    UnknownKey,
    KeyRetired,
    InvalidSignature,
    ReferenceConflict,
    InvalidReference,
    banks.CustodianFailed,
    AmountAboveMaximum,
    BankSingleLimitExceeded,
    UnsupportedCurrency,
    concentration.CustodianConcentration,
    InvalidValueDate,
    ValueDateOutOfRange,
    InvalidAddress,
    InvalidPurposeCode,
    quota.UnknownCategory,
    quota.InvalidIdType,
    quota.CategoryNotEligible,
    quota.ResidentOnWatchList,
    quota.QuotaExceeded,
    banks.BankDailyLimitExceeded,
    *travel_rule.ERRORS,
)
# Errors that refuse a batch as a whole, besides authentication and the body's shape: its
# signature (POST /v1/deposits/batch, the signed form); each item's own are its result's.
BATCH_ERRORS: tuple[type[ServiceError], ...] = (UnknownKey, KeyRetired, InvalidSignature)
# Refusals that are recorded as a rejected deposit (the policy decisions, steps 5-8).
RECORDED_REFUSALS: tuple[type[ServiceError], ...] = (
    quota.CategoryNotEligible,
    quota.ResidentOnWatchList,
    quota.QuotaExceeded,
    banks.BankDailyLimitExceeded,
)
_RECORDED_BY_CODE = {cls.code: cls for cls in RECORDED_REFUSALS}


@dataclass
class SubmitOutcome:
    deposit: Deposit | DepositRecord
    created: bool  # False: an identical replay
    error: ServiceError | None = None  # a recorded refusal (to be committed, then raised)


def actor_for(bank: Bank | BankRecord) -> str:
    return f"bank:{bank.name}"


def content_hmac(settings: Settings, message: bytes) -> str:
    key = settings.id_hmac_secret.get_secret_value().encode("utf-8")
    return hmac.new(key, b"deposit-content:" + message, hashlib.sha256).hexdigest()


def deposit_payload(deposit: Deposit | DepositRecord, bank_name: str | None = None) -> dict:
    """Audit payload of a deposit: no raw identity, only the resident's pseudonym."""
    payload = {
        "deposit_seq": deposit.id,
        "bank_id": deposit.bank_id,
        "reference": deposit.reference,
        "status": deposit.status,
        "amount_cents": deposit.amount_cents,
        "beneficiary": deposit.beneficiary,
        "resident": pseudonym(deposit.resident_hash),
        "category": deposit.resident_category,
    }
    if deposit.accepted_at is not None:
        payload["deposit_id"] = deposit_id_hex(deposit.id)
    if deposit.rejection_code is not None:
        payload["rejection_code"] = deposit.rejection_code
        payload["reason"] = deposit.reason
    return payload


def replay_error(deposit: Deposit) -> ServiceError | None:
    """The error a stored refusal answers with, again, on a replay."""
    if deposit.status != DepositStatus.REJECTED or deposit.accepted_at is not None:
        return None
    cls = _RECORDED_BY_CODE.get(deposit.rejection_code or "")
    return cls(deposit.reason) if cls is not None else None


def check_bank_signature(
    session: Session,
    bank: Bank | BankRecord,
    key_id: str,
    payload: dict,
    signature: str,
    invalid: type[ServiceError] = InvalidSignature,
    encode: Callable[[Any], bytes] = canonical_confirmation,
) -> bytes:
    """Checks that `signature` is the bank's active key `key_id` over the canonical encoding of
    `payload` (a deposit confirmation, a payout settlement, a signed batch of confirmations:
    `encode`); returns that encoding."""
    key = signing_key_state(session, bank.id, key_id) if banks.is_key_id(key_id) else None
    if key is None:
        raise UnknownKey()
    public_key, retired_at = key
    if retired_at is not None:
        raise KeyRetired()
    message = encode(payload)
    if not verify_signature(public_key, message, signature):
        raise invalid()
    return message


def submit(
    session: Session,
    *,
    bank: Bank | BankRecord,
    request: DepositRequest,
    settings: Settings,
    policy: Policy,
    now: dt.datetime,
) -> SubmitOutcome:
    """Check and record one deposit confirmation (see the module docstring for the order).

    Raises a ServiceError for refusals that change nothing. Returns the outcome otherwise; the
    caller commits, then raises `outcome.error` if there is one."""
    # 2. key and signature
    message = check_bank_signature(
        session, bank, request.key_id, request.confirmation.signed_payload(), request.signature
    )
    return submit_verified(
        session,
        bank=bank,
        confirmation=request.confirmation,
        key_id=request.key_id,
        message=message,
        settings=settings,
        policy=policy,
        now=now,
    )


def submit_verified(
    session: Session,
    *,
    bank: Bank | BankRecord,
    confirmation: ConfirmationIn,
    key_id: str,
    message: bytes,
    settings: Settings,
    policy: Policy,
    now: dt.datetime,
) -> SubmitOutcome:
    """Steps 3-9 of `submit` for a confirmation whose signature was checked already: its own
    (`submit`), or that of the signed batch holding it (`POST /v1/deposits/batch`).
    `message` is the confirmation's canonical encoding (the idempotency digest's input)."""
    actor = actor_for(bank)

    # 3. idempotency
    if not _REFERENCE.fullmatch(confirmation.reference):
        raise InvalidReference()
    digest = content_hmac(settings, message)
    existing = repository.find_reference(session, bank.id, confirmation.reference)
    if existing is not None:
        seq, stored_digest = existing
        if not hmac.compare_digest(stored_digest, digest):
            raise ReferenceConflict()
        replayed = repository.get(session, seq)
        assert replayed is not None  # found by its reference just above; deposits are never deleted
        return SubmitOutcome(replayed, created=False, error=replay_error(replayed))

    # a custodian marked failed takes no new deposits (service/reserves/failures.py)
    banks.check_not_failed(bank)

    # 4. formats
    amount = parse_amount(confirmation.amount)
    if amount > settings.max_single_deposit_cents:
        raise AmountAboveMaximum(
            f"amount exceeds the maximum single deposit of {format_cents(settings.max_single_deposit_cents)}"
        )
    if bank.single_max_cents is not None and amount > bank.single_max_cents:
        raise BankSingleLimitExceeded(
            f"amount exceeds this bank's single-deposit limit of {format_cents(bank.single_max_cents)}"
        )
    if confirmation.currency != "USD":
        raise UnsupportedCurrency()
    concentration.check(session, policy, bank, amount)
    value_date = check_value_date_window(policy, _parse_date(confirmation.value_date), now)
    try:
        beneficiary = parse_address(confirmation.beneficiary)
    except ValueError as exc:
        raise InvalidAddress(f"beneficiary: {exc}") from None
    if not _PURPOSE.fullmatch(confirmation.purpose_code):
        raise InvalidPurposeCode()
    resident = confirmation.resident
    id_type = normalize_id_type(resident.id_type)
    category = quota.category_policy(policy, resident.category, id_type)
    normalize_id_number(resident.id_number)
    secret = settings.id_hmac_secret.get_secret_value().encode("utf-8")
    holder = resident_hash(secret, id_type, resident.id_number)
    # CDD and the Travel Rule at or above the threshold
    travel = travel_rule.checked(settings, policy.cdd.requires(amount), confirmation, "originator")

    # received
    deposit = _insert(
        session,
        bank_id=bank.id,
        reference=confirmation.reference,
        content_hmac=digest,
        status=DepositStatus.RECEIVED,
        amount_cents=amount,
        currency="USD",
        value_date=value_date,
        beneficiary=beneficiary,
        resident_hash=holder,
        resident_category=category.name,
        id_type=id_type,
        purpose_code=confirmation.purpose_code,
        key_id=key_id,
        created_at=now,
        updated_at=now,
    )  # unique (bank, reference): a concurrent duplicate fails here
    travel_rule.seal(session, settings, travel_rule.DEPOSIT, deposit.id, travel, now=now)
    audit.record(session, "deposit.received", actor, deposit_payload(deposit), now=now)

    # 5-8. policy decisions, recorded
    held = False
    try:
        quota.check_eligible(category)
        quota.check_watch_list(session, holder)
        quota.check_splitting(
            session,
            policy,
            beneficiary=beneficiary,
            resident_hash=holder,
            now=now,
            actor=actor,
            recent_funders=repository.recent_funders,
        )
        deposit.quota_period = quota.hold(
            session,
            category,
            resident_hash=holder,
            amount_cents=amount,
            now=now,
            actor=actor,
            deposit_seq=deposit.id,
        )
        held = True
        day = policy.bank_day(now)
        banks.charge_daily(session, bank, day, amount)
        deposit.limit_day = day
    except RECORDED_REFUSALS as refusal:
        if held:
            quota.release(session, [deposit], actor=actor, now=now)
            deposit.quota_period = None
        _reject(session, deposit, refusal.code, refusal.message, actor=actor, now=now, bank=bank)
        return SubmitOutcome(deposit, created=True, error=refusal)

    if policy.four_eyes.deposit_waits(amount):  # 9. above the four-eyes threshold: waits
        from service.deposits.approval import await_approval

        await_approval(session, deposit, bank=bank, policy=policy, actor=actor, now=now, update=_update)
        return SubmitOutcome(deposit, created=True)

    _update(
        session,
        deposit,
        status=DepositStatus.ACCEPTED,
        accepted_at=now,
        updated_at=now,
        quota_period=deposit.quota_period,
        limit_day=deposit.limit_day,
    )
    ledger.record_deposit_accepted(session, deposit, actor=actor, now=now)  # credits custody
    audit.record(session, "deposit.accepted", actor, deposit_payload(deposit), now=now)
    webhooks.enqueue_deposit_event(session, deposit, deposit_json, now=now, bank=bank)
    return SubmitOutcome(deposit, created=True)


def _parse_date(value: str) -> dt.date:
    if not _DATE.fullmatch(value):
        raise InvalidValueDate()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidValueDate() from None


_DEPOSITS = Deposit.__table__
_INSERT = Prepared(insert(_DEPOSITS).returning(_DEPOSITS.c.id))
_UPDATE = Prepared(update(_DEPOSITS).where(_DEPOSITS.c.id == bindparam("d_seq")))
_UNSET = dict.fromkeys(_DEPOSITS.c.keys())


def _insert(session: Session, **values: Any) -> DepositRecord:
    """INSERT the deposit (a prepared statement: this is the hot path); returns it as a record."""
    seq = _INSERT.execute(session, values, columns=True).fetchone()[0]
    return DepositRecord(**{**_UNSET, **values, "id": seq})


def _update(session: Session, deposit: DepositRecord, **values: Any) -> None:
    """Set columns of the deposit, in the database (one prepared UPDATE) and on the record."""
    for name, value in values.items():
        setattr(deposit, name, value)
    _UPDATE.execute(session, {"d_seq": deposit.id, **values}, columns=True)


def _reject(
    session: Session,
    deposit: DepositRecord,
    code: str,
    reason: str,
    *,
    actor: str,
    now: dt.datetime,
    bank: Bank | BankRecord | None = None,
) -> None:
    _update(
        session,
        deposit,
        status=DepositStatus.REJECTED,
        rejection_code=code,
        reason=reason[:500],
        rejected_at=now,
        updated_at=now,
        quota_period=deposit.quota_period,
        limit_day=deposit.limit_day,
    )
    audit.record(session, "deposit.rejected", actor, deposit_payload(deposit), now=now)
    webhooks.enqueue_deposit_event(session, deposit, deposit_json, now=now, bank=bank)


def get_for_bank(session: Session, bank: Bank | BankRecord, reference: str) -> Deposit:
    # A reference that no confirmation could have used is looked up nowhere.
    deposit = (
        repository.get_by_reference(session, bank.id, reference) if _REFERENCE.fullmatch(reference) else None
    )
    if deposit is None:
        raise DepositNotFound()
    return deposit
