"""Deposit confirmation endpoints for banks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy.exc import IntegrityError, OperationalError

from service.banks.service import BankDisabled
from service.deposits import repository
from service.deposits import service as deposits
from service.deposits.models import DepositStatus
from service.deposits.schemas import DepositList, DepositOut, DepositRequest
from service.deps import CurrentBank, CurrentBankRead, ReadSessionDep, SessionDep, StateDep
from service.errors import NotAuthenticated, PayloadTooLarge, error_responses
from service.money import InvalidAmount
from service.quota.identity import InvalidResident

router = APIRouter(prefix="/v1/deposits", tags=["deposits"])

_RETRYABLE_PGCODES = {"40001", "40P01"}  # serialization failure, deadlock detected


@router.post(
    "",
    status_code=201,
    response_model=DepositOut,
    summary="Submit a signed deposit confirmation",
    responses={
        200: {"model": DepositOut, "description": "Identical replay: the stored deposit"},
        **error_responses(
            NotAuthenticated,
            BankDisabled,
            PayloadTooLarge,
            InvalidAmount,
            InvalidResident,
            *deposits.SUBMIT_ERRORS,
        ),
    },
)
def submit_deposit(
    body: DepositRequest,
    bank: CurrentBank,
    session: SessionDep,
    state: StateDep,
    response: Response,
) -> DepositOut:
    """Check, record and accept a deposit confirmation (201), or answer an identical replay
    with the stored deposit (200). Refusals are errors with a machine-readable code; policy
    refusals (eligibility, watch list, quota, daily limit) are also recorded as a rejected
    deposit, and replaying them gives the same error."""
    for attempt in range(3):
        try:
            outcome = deposits.submit(
                session,
                bank=bank,
                request=body,
                settings=state.settings,
                policy=state.policy,
                now=state.clock(),
            )
            session.commit()
            break
        except (IntegrityError, OperationalError) as exc:
            # A concurrent request with the same (bank, reference) won the insert, or
            # PostgreSQL reported a deadlock/serialization failure: start over.
            session.rollback()
            pgcode = getattr(getattr(exc, "orig", None), "sqlstate", None)
            retryable = isinstance(exc, IntegrityError) or pgcode in _RETRYABLE_PGCODES
            if not retryable or attempt == 2:
                raise
    if outcome.error is not None:
        raise outcome.error
    if outcome.created:
        response.headers["Location"] = f"/v1/deposits/{outcome.deposit.reference}"
    else:
        response.status_code = 200
    return DepositOut.of(outcome.deposit)


@router.get(
    "/{reference}",
    response_model=DepositOut,
    summary="Read one of this bank's deposits",
    responses=error_responses(NotAuthenticated, BankDisabled, deposits.DepositNotFound),
)
def get_deposit(reference: str, bank: CurrentBankRead, session: ReadSessionDep) -> DepositOut:
    """Status, amount, beneficiary, on-chain deposit id, tx hash, block, reason, timestamps.
    Only the calling bank's own deposits are visible."""
    return DepositOut.of(deposits.get_for_bank(session, bank, reference))


@router.get(
    "",
    response_model=DepositList,
    summary="List this bank's deposits",
    responses=error_responses(NotAuthenticated, BankDisabled),
)
def list_deposits(
    bank: CurrentBankRead,
    session: ReadSessionDep,
    status: Annotated[DepositStatus | None, Query()] = None,
    after: Annotated[int, Query(ge=0, description="Cursor: `next_after` of the last page")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DepositList:
    rows = repository.list_deposits(
        session, bank_id=bank.id, status=status, after=after, limit=limit
    )
    return DepositList(
        items=[DepositOut.of(d) for d in rows],
        next_after=rows[-1].id if len(rows) == limit else None,
    )
