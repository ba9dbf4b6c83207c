"""Four eyes over HTTP (/v1/operator/approvals): the pending requests, approving and rejecting them
(service/approvals/service.py), and a bank's limits, whose raise is such a request."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, StringConstraints

from service.api.deps import (
    MAX_ID,
    CurrentOperator,
    CurrentOperatorRead,
    Cursor,
    OperatorBody,
    PageSize,
    ReadSessionDep,
    StateDep,
)
from service.api.reserves import ChainUnavailable, build_reconciler
from service.approvals import service as four_eyes
from service.banks import approvals
from service.banks import repository as banks_repository
from service.banks import service as banks
from service.banks.models import ApprovalStatus
from service.banks.schemas import BankOut
from service.chain.token import ChainError
from service.errors import ServiceError, error_responses
from service.money import InvalidAmount, parse_amount
from service.reserves import service as reserves
from service.reserves.resume import (
    AcknowledgementMismatch,
    ChainRequired,
    DiscrepancyRemains,
    PauserRequired,
)

router = APIRouter(prefix="/v1/operator", tags=["operator"])

ApprovalId = Annotated[int, Path(ge=1, le=MAX_ID)]
_READ = (banks.OperatorRequired,)
_DECIDE = (
    banks.OperatorRequired,
    banks.OperatorRoleRequired,
    approvals.ApprovalNotFound,
    approvals.ApprovalNotPending,
    approvals.SelfApprovalRefused,
    approvals.ApprovalStale,
)


class ApprovalList(BaseModel):
    items: list[dict]
    next_after: int | None


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "not expected"}]})
    reason: Annotated[str, StringConstraints(strict=True, max_length=500)] | None = None


class LimitsIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"single_max": "1000000.00", "daily_limit": "50000000.00"}]},
    )
    single_max: Annotated[str, StringConstraints(strict=True, max_length=32)] | None = None
    daily_limit: Annotated[str, StringConstraints(strict=True, max_length=32)] | None = None


@router.get(
    "/approvals",
    response_model=ApprovalList,
    summary="Four-eyes requests, oldest first (operators, approvers, supervisors)",
    responses=error_responses(*_READ),
)
def list_approvals(
    operator: CurrentOperatorRead,
    state: StateDep,
    status: Annotated[ApprovalStatus | None, Query()] = None,
    after: Cursor = 0,
    limit: PageSize = 100,
) -> ApprovalList:
    """Each request: who asked, the action and its exact parameters, its status and deadline.
    Requests past their deadline are expired first."""
    four_eyes.sweep(state.db, state.clock())
    with state.db.reading() as session:
        rows = approvals.list_approvals(session, status=status, after=after, limit=limit)
        return ApprovalList(
            items=[approvals.approval_out(r) for r in rows],
            next_after=rows[-1].id if len(rows) == limit else None,
        )


@router.get(
    "/approvals/{approval_id}",
    summary="One four-eyes request",
    responses=error_responses(*_READ, approvals.ApprovalNotFound),
)
def get_approval(approval_id: ApprovalId, operator: CurrentOperatorRead, session: ReadSessionDep) -> dict:
    return approvals.approval_out(approvals.get(session, approval_id))


@router.post(
    "/approvals/{approval_id}/approve",
    summary="Approve another operator's request, which performs its action (approvers)",
    responses=error_responses(
        *_DECIDE,
        reserves.NotHalted,
        PauserRequired,
        ChainRequired,
        DiscrepancyRemains,
        AcknowledgementMismatch,
        ChainUnavailable,
    ),
)
def approve(approval_id: ApprovalId, operator: CurrentOperator, state: StateDep) -> dict:
    """Only an operator with the role `approver`, not the requester (403
    `self_approval_refused`), approves; the action is performed exactly as requested. A deposit
    is accepted and minted; a limit raise applied; a minting resume run (its fresh
    reconciliation may still refuse it: the request then stays pending)."""
    try:
        row = four_eyes.approve(
            state.db, approval_id, operator, now=state.clock(), reconciler=lambda: build_reconciler(state)
        )
    except (ChainError, RuntimeError, OSError) as exc:
        if isinstance(exc, ServiceError):
            raise
        raise ChainUnavailable(f"{ChainUnavailable.message} ({type(exc).__name__})") from None
    return approvals.approval_out(row)


@router.post(
    "/approvals/{approval_id}/reject",
    summary="Reject another operator's request (approvers)",
    responses=error_responses(*_DECIDE),
)
def reject(
    approval_id: ApprovalId, body: OperatorBody[RejectIn], operator: CurrentOperator, state: StateDep
) -> dict:
    """Nothing is performed; a waiting deposit is rejected (`approval_rejected`), its quota
    released. Body: `{}` or `{"reason": "..."}`."""
    row = four_eyes.reject(state.db, approval_id, operator, now=state.clock(), reason=body.reason or "")
    return approvals.approval_out(row)


def _cents(value: str | None) -> int | None:
    return None if value is None else parse_amount(value)


@router.post(
    "/banks/{name}/limits",
    summary="Set a bank's limits; a raise waits for an approver (202)",
    responses={
        202: {"description": 'A raise: a four-eyes request, `{"approval": ...}`'},
        **error_responses(
            banks.OperatorRequired,
            banks.OperatorRoleRequired,
            banks.BankNotFound,
            banks.InvalidBankInput,
            InvalidAmount,
        ),
    },
)
def set_limits(
    name: str, body: OperatorBody[LimitsIn], operator: CurrentOperator, state: StateDep, response: Response
) -> Any:
    """`single_max` / `daily_limit` in dollars, null for none. Lowering applies at once (200,
    `{"bank": ...}`); with the policy's `four_eyes.bank_limit_raise` on, a change that raises
    either is a request another operator approves (202, `{"approval": ...}`)."""
    single, daily = _cents(body.single_max), _cents(body.daily_limit)
    with state.db.transaction() as session:
        bank = banks.require_bank(session, name)
        row = four_eyes.change_limits(
            session,
            operator,
            bank,
            single_max_cents=single,
            daily_limit_cents=daily,
            actor=four_eyes.actor_of(operator),
            policy=state.policy,
            now=state.clock(),
        )
        if row is not None:
            response.status_code = 202
            return {"approval": approvals.approval_out(row)}
        return {
            "bank": BankOut.of(bank, banks_repository.signing_keys(session, bank.id)).model_dump(mode="json")
        }
