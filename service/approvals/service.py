"""Four eyes: requesting, approving, rejecting and expiring the actions above a policy threshold.

Kinds of request (config/policy.yaml `four_eyes:`):

* ``deposit``: a bank's deposit above `deposit_above` (made by service/deposits/approval.py
  when it is submitted). Approving accepts it (then it is minted); rejecting it, or its expiry
  after `deposit_approval_hours`, rejects it with its quota released.
* ``minting_resume``: lifting the active minting halt with a cause and the supply difference
  to acknowledge (`minting_resume: true`). Approving runs the resume (a fresh reconciliation
  first, service/reserves/resume.py) as the approver; if that refuses, the request stays
  pending.
* ``bank_limits``: raising a bank's single or daily limit (`bank_limit_raise: true`; a change
  that only lowers applies at once). Approving sets exactly the requested limits, provided they
  are still what they were when requested.

Only an operator with the role `approver`, other than the requester, approves or rejects; a
request not decided within its time expires (`expire_due`: the workers' pass and every
approvals read or decision run it, so an expiry missed while the service was down happens at
the next one).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from service.banks import approvals
from service.banks import service as banks
from service.banks.models import Approval, ApprovalStatus, Bank, Operator
from service.db import Database
from service.deposits import approval as deposit_approval
from service.money import format_cents
from service.quota.policy import Policy
from service.reserves import service as reserves
from service.reserves.reconciler import Reconciler
from service.reserves.resume import resume_minting

logger = logging.getLogger(__name__)

EXPIRY_ACTOR = "four-eyes"


def actor_of(operator: Operator) -> str:
    return f"operator:{operator.name}"


def expire_due(session: Session, now: dt.datetime) -> list[Approval]:
    """Expire every pending request past its time (a waiting deposit is rejected with
    `approval_expired`, its quota released). Idempotent; the caller commits. Each request is
    closed first (a conditional UPDATE, which also locks it): one another pass or a decision
    closed meanwhile is skipped, with nothing done for it."""
    expired = []
    for row in approvals.due(session, now):
        try:
            approvals.close(session, row, ApprovalStatus.EXPIRED, actor=EXPIRY_ACTOR, now=now)
        except approvals.ApprovalNotPending:
            continue
        if row.kind == "deposit":
            # a deposit no longer awaiting approval (ApprovalStale): only the request expires
            with contextlib.suppress(approvals.ApprovalStale):
                deposit_approval.reject_awaiting(
                    session,
                    row,
                    deposit_approval.APPROVAL_EXPIRED,
                    f"not approved by {row.expires_at.isoformat()} (four eyes)",
                    actor=EXPIRY_ACTOR,
                    now=now,
                )
        expired.append(row)
    return expired


def sweep(db: Database, now: dt.datetime) -> int:
    """`expire_due` in a transaction of its own (none when nothing is due: a read first, so a
    pass over nothing takes no write lock); the number expired."""
    with db.reading() as session:
        if not approvals.due(session, now, limit=1):
            return 0
    with db.transaction() as session:
        return len(expire_due(session, now))


def run_expiry_loop(
    db: Database, stop: threading.Event, clock: Callable[[], dt.datetime], interval: float = 30.0
) -> None:
    """The workers' pass: expire due requests every `interval` seconds until `stop`."""
    while not stop.is_set():
        try:
            sweep(db, clock())
        except Exception:  # a failed pass is retried at the next one
            logger.exception("four-eyes expiry pass failed")
        stop.wait(interval)


# -- requests -------------------------------------------------------------------------------


def request_resume(
    session: Session,
    operator: Operator,
    *,
    cause: str,
    acknowledge_units: int | None,
    policy: Policy,
    now: dt.datetime,
) -> Approval:
    """A request to lift the active halt (checked now: a halt, a cause), performed as
    `resume_minting(cause, acknowledge_units)` when approved."""
    banks.require_role(operator, *banks.WRITER_ROLES)
    cause = (cause or "").strip()
    if len(cause) < 3:
        raise reserves.CauseRequired()
    halt = reserves.active_halt(session)
    if halt is None:
        raise reserves.NotHalted()
    params = {
        "halt_id": halt.id,
        "cause": cause,
        "acknowledge_units": None if acknowledge_units is None else str(acknowledge_units),
    }
    return approvals.request(
        session,
        "minting_resume",
        params,
        requested_by=actor_of(operator),
        operator=operator,
        now=now,
        expires_at=now + policy.four_eyes.request_expiry,
    )


def _raises(old: int | None, new: int | None) -> bool:
    """Whether limit `new` allows more than `old` (None: no limit)."""
    if new is None:
        return old is not None
    return old is not None and new > old


def change_limits(
    session: Session,
    operator: Operator | None,
    bank: Bank,
    *,
    single_max_cents: int | None,
    daily_limit_cents: int | None,
    actor: str,
    policy: Policy,
    now: dt.datetime,
) -> Approval | None:
    """Set a bank's limits. With `bank_limit_raise` on, a change that raises either limit is a
    request (returned; `operator` is the requester) and nothing changes yet; a change that only
    lowers (or keeps) them applies at once (None returned)."""
    for value in (single_max_cents, daily_limit_cents):
        if value is not None and value <= 0:
            raise banks.InvalidBankInput("limits must be positive")
    raising = _raises(bank.single_max_cents, single_max_cents) or _raises(
        bank.daily_limit_cents, daily_limit_cents
    )
    if not (raising and policy.four_eyes.bank_limit_raise):
        banks.set_limits(
            session, bank, single_max_cents=single_max_cents, daily_limit_cents=daily_limit_cents, actor=actor
        )
        return None
    if operator is None:
        raise banks.OperatorRoleRequired(
            "raising a bank's limit is a four-eyes request: make it as an operator (its token)"
        )
    banks.require_role(operator, *banks.WRITER_ROLES)
    params = {
        "bank": bank.name,
        "bank_id": bank.id,
        "from": {"single_max_cents": bank.single_max_cents, "daily_limit_cents": bank.daily_limit_cents},
        "single_max_cents": single_max_cents,
        "daily_limit_cents": daily_limit_cents,
    }
    return approvals.request(
        session,
        "bank_limits",
        params,
        requested_by=actor_of(operator),
        operator=operator,
        now=now,
        expires_at=now + policy.four_eyes.request_expiry,
    )


# -- decisions ------------------------------------------------------------------------------


def _apply_limits(session: Session, row: Approval, *, actor: str) -> dict[str, Any]:
    params = approvals.params_of(row)
    bank = banks.require_bank(session, params["bank"])
    before = {"single_max_cents": bank.single_max_cents, "daily_limit_cents": bank.daily_limit_cents}
    if bank.id != params["bank_id"] or before != params["from"]:
        raise approvals.ApprovalStale(
            f"bank {bank.name}'s limits changed since the request (now {_limits_text(before)})"
        )
    banks.set_limits(
        session,
        bank,
        single_max_cents=params["single_max_cents"],
        daily_limit_cents=params["daily_limit_cents"],
        actor=actor,
    )
    return {"bank": bank.name}


def _limits_text(limits: dict[str, int | None]) -> str:
    return ", ".join(
        f"{name}={'none' if value is None else format_cents(value)}" for name, value in limits.items()
    )


def approve(
    db: Database,
    approval_id: int,
    operator: Operator,
    *,
    now: dt.datetime,
    reconciler: Callable[[], Reconciler | None] | None = None,
) -> Approval:
    """`operator` (an approver, not the requester) approves request `approval_id`, which
    performs its action exactly as recorded. `reconciler()` builds the reconciler a
    `minting_resume` needs (None: no chain configured)."""
    sweep(db, now)
    with db.transaction() as session:
        row = approvals.get(session, approval_id)
        approvals.check_decider(row, operator, now)
        actor = actor_of(operator)
        if row.kind in ("deposit", "bank_limits"):
            # closed first (a conditional UPDATE that locks the request: a concurrent decision
            # waits, then finds it decided), then performed; a refusal rolls back both
            approvals.close(session, row, ApprovalStatus.APPROVED, actor=actor, now=now)
            if row.kind == "deposit":
                deposit_approval.accept_approved(session, row, actor=actor, now=now)
            else:
                _apply_limits(session, row, actor=actor)
            return row
        params = approvals.params_of(row)
        halt = reserves.active_halt(session)
        if halt is None or halt.id != params["halt_id"]:
            raise approvals.ApprovalStale("the halt this request would lift is no longer the active one")
    # minting_resume: a fresh reconciliation against the chain, outside any transaction
    acknowledge = params["acknowledge_units"]
    resumed = resume_minting(
        db,
        cause=params["cause"],
        actor=actor,
        reconciler=None if reconciler is None else reconciler(),
        acknowledge_units=None if acknowledge is None else int(acknowledge),
    )
    with db.transaction() as session:
        row = approvals.get(session, approval_id)
        return approvals.close(
            session, row, ApprovalStatus.APPROVED, actor=actor, now=now, outcome={"halt_id": resumed.id}
        )


def reject(db: Database, approval_id: int, operator: Operator, *, now: dt.datetime, reason: str) -> Approval:
    """`operator` (an approver, not the requester) rejects request `approval_id`: nothing is
    performed; a waiting deposit is rejected (`approval_rejected`), its quota released."""
    sweep(db, now)
    reason = (reason or "").strip() or "rejected by an approver"
    with db.transaction() as session:
        row = approvals.get(session, approval_id)
        approvals.check_decider(row, operator, now)
        actor = actor_of(operator)
        approvals.close(session, row, ApprovalStatus.REJECTED, actor=actor, now=now, reason=reason)
        if row.kind == "deposit":
            # a deposit no longer awaiting approval (ApprovalStale): only the request is rejected
            with contextlib.suppress(approvals.ApprovalStale):
                deposit_approval.reject_awaiting(
                    session, row, deposit_approval.APPROVAL_REJECTED, reason, actor=actor, now=now
                )
        return row
