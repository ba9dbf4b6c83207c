"""Deposits above the four-eyes threshold (policy `four_eyes.deposit_above`).

Such a deposit passes every check of `submit` (its quota is held and its bank's daily limit
charged) and is then `awaiting_approval` instead of accepted: not credited to custody, not
minted. A four-eyes request (service/banks/approvals.py) of kind "deposit" records it. An
approver's approval accepts it (`accept_approved`: credited, queued for the minter, exactly as
an accepted deposit); a rejection or the request's expiry rejects it (`reject_awaiting`: its
quota hold and daily usage released). Each change is audited and sent to the bank's webhook.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from service import audit, ledger
from service.banks import approvals
from service.banks import repository as banks_repository
from service.banks.models import Approval, Bank, BankRecord
from service.deposits import repository
from service.deposits.models import Deposit, DepositRecord, DepositStatus
from service.deposits.schemas import deposit_json
from service.quota import service as quota
from service.quota.policy import Policy
from service.webhooks import service as webhooks

APPROVAL_EXPIRED = "approval_expired"
APPROVAL_REJECTED = "approval_rejected"


def request_params(deposit: Deposit | DepositRecord, bank: Bank | BankRecord) -> dict[str, Any]:
    """What an approver approves: exactly this deposit (canonical JSON in the request)."""
    return {
        "deposit_seq": deposit.id,
        "bank": bank.name,
        "reference": deposit.reference,
        "amount_cents": deposit.amount_cents,
        "beneficiary": deposit.beneficiary,
        "resident_category": deposit.resident_category,
        "value_date": deposit.value_date.isoformat(),
    }


def await_approval(
    session: Session,
    deposit: DepositRecord,
    *,
    bank: Bank | BankRecord,
    policy: Policy,
    actor: str,
    now: dt.datetime,
    update: Any,
) -> Approval:
    """The deposit (its quota held, its daily limit charged) waits for an approver: status
    `awaiting_approval`, a request expiring after the policy's `deposit_approval_hours`.
    `update(session, deposit, **columns)` is the submit path's prepared UPDATE."""
    from service.deposits.service import deposit_payload

    update(
        session,
        deposit,
        status=DepositStatus.AWAITING_APPROVAL,
        updated_at=now,
        quota_period=deposit.quota_period,
        limit_day=deposit.limit_day,
    )
    row = approvals.request(
        session,
        "deposit",
        request_params(deposit, bank),
        requested_by=actor,
        operator=None,
        now=now,
        expires_at=now + policy.four_eyes.deposit_approval,
        deposit_seq=deposit.id,
    )
    payload = deposit_payload(deposit)
    payload["approval_id"] = row.id
    audit.record(session, "deposit.awaiting_approval", actor, payload, now=now)
    webhooks.enqueue_deposit_event(session, deposit, deposit_json, now=now, bank=bank)
    return row


def _waiting(session: Session, row: Approval) -> Deposit:
    params = approvals.params_of(row)
    deposit = repository.get(session, int(params["deposit_seq"]))
    if (
        deposit is None
        or deposit.status != DepositStatus.AWAITING_APPROVAL
        or deposit.amount_cents != params["amount_cents"]
        or deposit.reference != params["reference"]
        or deposit.beneficiary != params["beneficiary"]
    ):
        raise approvals.ApprovalStale("the deposit of this request no longer awaits approval as requested")
    return deposit


def accept_approved(session: Session, row: Approval, *, actor: str, now: dt.datetime) -> Deposit:
    """The approver's approval: the waiting deposit is accepted (credited to its bank's custody,
    queued for the minter), exactly as `submit` accepts one below the threshold."""
    from service.deposits.service import deposit_payload

    deposit = _waiting(session, row)
    deposit.status = DepositStatus.ACCEPTED
    deposit.accepted_at = now
    deposit.updated_at = now
    session.flush()
    ledger.record_deposit_accepted(session, deposit, actor=actor, now=now)
    payload = deposit_payload(deposit)
    payload["approval_id"] = row.id
    audit.record(session, "deposit.accepted", actor, payload, now=now)
    webhooks.enqueue_deposit_event(session, deposit, deposit_json, now=now)
    return deposit


def reject_awaiting(
    session: Session, row: Approval, code: str, reason: str, *, actor: str, now: dt.datetime
) -> Deposit:
    """An approver's rejection, or the request's expiry: the waiting deposit is rejected with
    `code`, its quota hold and its bank's daily usage released (nothing was credited)."""
    from service.deposits.service import deposit_payload

    deposit = _waiting(session, row)
    if deposit.quota_period:
        quota.release(session, [deposit], actor=actor, now=now)
    if deposit.limit_day is not None:
        banks_repository.release_daily(session, deposit.bank_id, deposit.limit_day, deposit.amount_cents)
    deposit.status = DepositStatus.REJECTED
    deposit.rejection_code = code
    deposit.reason = reason[:500]
    deposit.rejected_at = now
    deposit.updated_at = now
    session.flush()
    payload = deposit_payload(deposit)
    payload["approval_id"] = row.id
    audit.record(session, "deposit.rejected", actor, payload, now=now)
    webhooks.enqueue_deposit_event(session, deposit, deposit_json, now=now)
    return deposit
