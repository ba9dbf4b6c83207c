"""Four-eyes requests: the store and its rules (the actions they perform: service/approvals/).

An action above a policy threshold (config/policy.yaml, `four_eyes:`) is not performed but
recorded as a pending request: its action (`kind`) and parameters as canonical JSON, who asked
and until when it may be approved. A second operator with the role `approver`, not the one who
asked, approves it (which performs exactly the recorded action) or rejects it; one not decided
by `expires_at` expires. Each step is an audit entry: approval.requested, approval.approved,
approval.rejected, approval.expired.

Deposits above the threshold are asked for by their bank ("bank:<name>"): any approver may
approve them.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from service import audit
from service.banks.models import Approval, ApprovalStatus, Operator
from service.banks.service import require_role
from service.canonical import canonical_json
from service.errors import NotFound, ServiceError

KINDS = ("deposit", "minting_resume", "bank_limits")


class ApprovalNotFound(NotFound):
    """No four-eyes request with this id."""

    code = "approval_not_found"
    message = "No such approval request."


class ApprovalNotPending(ServiceError):
    """The request was already approved, rejected or has expired."""

    status_code = 409
    code = "approval_not_pending"
    message = "This request is no longer pending."


class SelfApprovalRefused(ServiceError):
    """The approver is the operator who made the request: four eyes need a second operator."""

    status_code = 403
    code = "self_approval_refused"
    message = "An operator cannot approve or reject their own request: a second operator must."


class ApprovalStale(ServiceError):
    """What the request would act on changed since it was made (the deposit no longer waits,
    another halt is active, the bank's limits were changed): reject it and request again."""

    status_code = 409
    code = "approval_stale"
    message = "What this request acts on has changed since it was made: reject it and request again."


def params_json(params: dict[str, Any]) -> str:
    return canonical_json(params).decode("utf-8")


def params_of(row: Approval) -> dict[str, Any]:
    value = json.loads(row.params)
    assert isinstance(value, dict)
    return value


def _payload(row: Approval) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "approval_id": row.id,
        "action": row.kind,
        "params": params_of(row),
        "requested_by": row.requested_by,
        "status": row.status,
    }
    if row.deposit_seq is not None:
        payload["deposit_seq"] = row.deposit_seq
    return payload


def request(
    session: Session,
    kind: str,
    params: dict[str, Any],
    *,
    requested_by: str,
    operator: Operator | None,
    now: dt.datetime,
    expires_at: dt.datetime,
    deposit_seq: int | None = None,
) -> Approval:
    """Record a pending request of `kind` with `params` (audited: approval.requested)."""
    assert kind in KINDS, kind
    row = Approval(
        kind=kind,
        status=ApprovalStatus.PENDING,
        params=params_json(params),
        requested_by=requested_by,
        requested_by_operator_id=None if operator is None else operator.id,
        deposit_seq=deposit_seq,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    payload = _payload(row)
    payload["expires_at"] = row.expires_at.isoformat()
    audit.record(session, "approval.requested", requested_by, payload, now=now)
    return row


def get(session: Session, approval_id: int) -> Approval:
    row = session.get(Approval, approval_id)
    if row is None:
        raise ApprovalNotFound()
    return row


def for_deposit(session: Session, deposit_seq: int) -> Approval | None:
    return session.scalars(select(Approval).where(Approval.deposit_seq == deposit_seq)).one_or_none()


def pending_of_kind(session: Session, kind: str) -> list[Approval]:
    return list(
        session.scalars(
            select(Approval)
            .where(Approval.kind == kind, Approval.status == ApprovalStatus.PENDING)
            .order_by(Approval.id)
        )
    )


def list_approvals(
    session: Session, *, status: str | None = None, after: int = 0, limit: int = 100
) -> list[Approval]:
    query = select(Approval).where(Approval.id > after)
    if status is not None:
        query = query.where(Approval.status == status)
    return list(session.scalars(query.order_by(Approval.id).limit(limit)))


def due(session: Session, now: dt.datetime, limit: int = 100) -> list[Approval]:
    """Pending requests whose time to be approved has passed, oldest first."""
    return list(
        session.scalars(
            select(Approval)
            .where(Approval.status == ApprovalStatus.PENDING, Approval.expires_at <= now)
            .order_by(Approval.id)
            .limit(limit)
        )
    )


def check_decider(row: Approval, operator: Operator, now: dt.datetime) -> None:
    """Whether `operator` may approve or reject `row` now: an approver, not the requester, and
    the request still pending and not past its expiry."""
    require_role(operator, "approver")
    if row.status != ApprovalStatus.PENDING or row.expires_at <= now:
        raise ApprovalNotPending(
            f"request {row.id} is {row.status if row.status != ApprovalStatus.PENDING else 'expired'}"
        )
    if row.requested_by_operator_id is not None and row.requested_by_operator_id == operator.id:
        raise SelfApprovalRefused()


def close(
    session: Session,
    row: Approval,
    status: ApprovalStatus,
    *,
    actor: str,
    now: dt.datetime,
    reason: str | None = None,
    outcome: dict[str, Any] | None = None,
) -> Approval:
    """Move a pending request to its final `status` (a conditional UPDATE: a request decided
    concurrently is `ApprovalNotPending`), audited as approval.<status>."""
    assert status != ApprovalStatus.PENDING
    result = session.execute(
        update(Approval)
        .where(Approval.id == row.id, Approval.status == ApprovalStatus.PENDING)
        .values(
            status=status, decided_by=actor, decided_at=now, reason=None if reason is None else reason[:500]
        )
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], result).rowcount != 1:
        raise ApprovalNotPending(f"request {row.id} was decided meanwhile")
    session.refresh(row)
    payload = _payload(row)
    if reason is not None:
        payload["reason"] = reason[:500]
    if outcome:
        payload["outcome"] = outcome
    audit.record(session, f"approval.{status.value}", actor, payload, now=now)
    return row


def approval_out(row: Approval) -> dict[str, Any]:
    """The request as the operator API and `ushk approvals list --json` show it."""
    return {
        "id": row.id,
        "action": row.kind,
        "params": params_of(row),
        "status": row.status,
        "requested_by": row.requested_by,
        "created_at": row.created_at.isoformat(),
        "expires_at": row.expires_at.isoformat(),
        "decided_by": row.decided_by,
        "decided_at": None if row.decided_at is None else row.decided_at.isoformat(),
        "reason": row.reason,
    }
