"""Payout accounts and payouts for banks; the payout list for operators."""

from __future__ import annotations

import enum
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.api.deps import (
    MAX_ID,
    AppState,
    BankBody,
    CurrentBank,
    CurrentBankRead,
    CurrentOperator,
    CurrentOperatorRead,
    Cursor,
    OperatorBody,
    PageSize,
    ReadSessionDep,
    SessionDep,
    StateDep,
)
from service.banks import service as banks
from service.banks.service import BankDisabled, OperatorRequired
from service.errors import NotAuthenticated, NotFound, PayloadTooLarge, error_responses
from service.money import InvalidAmount
from service.redemptions import reassign, repository
from service.redemptions import service as redemptions
from service.redemptions.schemas import (
    PayoutAccountIn,
    PayoutAccountList,
    PayoutAccountOut,
    PayoutList,
    PayoutOut,
    SettlementRequest,
)

accounts_router = APIRouter(prefix="/v1/payout-accounts", tags=["payouts"])
payouts_router = APIRouter(prefix="/v1/payouts", tags=["payouts"])
operator_router = APIRouter(prefix="/v1/operator/payouts", tags=["operator"])

_BANK_AUTH = (NotAuthenticated, BankDisabled)


class PayoutFilter(enum.StrEnum):
    PENDING = "pending"
    SETTLED = "settled"
    UNASSIGNED = "unassigned"
    OVERDUE = "overdue"


PayoutId = Annotated[int, Path(ge=1, le=MAX_ID)]


@accounts_router.post(
    "",
    status_code=201,
    response_model=PayoutAccountOut,
    summary="Register a customer's payout account for a holder address",
    responses={
        200: {"model": PayoutAccountOut, "description": "Already registered: the same payout_ref"},
        **error_responses(
            *_BANK_AUTH,
            PayloadTooLarge,
            redemptions.InvalidPayoutAccount,
            redemptions.UnsupportedCurrency,
        ),
    },
)
def register_payout_account(
    body: BankBody[PayoutAccountIn],
    bank: CurrentBank,
    session: SessionDep,
    state: StateDep,
    response: Response,
) -> PayoutAccountOut:
    """Returns the `payout_ref` the holder passes to `redeem(amount, payoutRef)` on chain. The
    account reference is kept only as an HMAC; the ref is a salted hash that reveals nothing
    about the account. Registering the same (holder, account) again answers 200 with the
    same ref."""
    for attempt in range(2):
        try:
            account, created = redemptions.register_account(
                session, state.settings, bank, body, now=state.clock()
            )
            session.commit()
            break
        except IntegrityError:
            # a concurrent identical registration won the insert: answer with it
            session.rollback()
            if attempt == 1:
                raise
    if not created:
        response.status_code = 200
    return PayoutAccountOut.of(account)


@accounts_router.get(
    "",
    response_model=PayoutAccountList,
    summary="List this bank's payout-account registrations",
    responses=error_responses(*_BANK_AUTH),
)
def list_payout_accounts(
    bank: CurrentBankRead,
    session: ReadSessionDep,
    after: Cursor = 0,
    limit: PageSize = 100,
) -> PayoutAccountList:
    rows = repository.list_accounts(session, bank.id, after=after, limit=limit)
    return PayoutAccountList(
        items=[PayoutAccountOut.of(a) for a in rows],
        next_after=rows[-1].id if len(rows) == limit else None,
    )


def _list(
    session: Session,
    state: AppState,
    *,
    bank_id: int | None,
    status: PayoutFilter | None,
    after: int,
    limit: int,
) -> PayoutList:
    now = state.clock()
    if status == PayoutFilter.OVERDUE:
        rows = repository.list_payouts(session, bank_id=bank_id, overdue_at=now, after=after, limit=limit)
    else:
        rows = repository.list_payouts(session, bank_id=bank_id, status=status, after=after, limit=limit)
    return PayoutList(
        items=[PayoutOut.of(p, now) for p in rows],
        next_after=rows[-1].id if len(rows) == limit else None,
    )


@payouts_router.get(
    "",
    response_model=PayoutList,
    summary="List this bank's payouts",
    responses=error_responses(*_BANK_AUTH),
)
def list_payouts(
    bank: CurrentBankRead,
    session: ReadSessionDep,
    state: StateDep,
    status: Annotated[PayoutFilter | None, Query()] = None,
    after: Cursor = 0,
    limit: PageSize = 100,
) -> PayoutList:
    """Oldest first. `status=overdue`: pending payouts past their `due_at`. Unassigned payouts
    belong to no bank, so `status=unassigned` is always empty here (operators see them)."""
    return _list(session, state, bank_id=bank.id, status=status, after=after, limit=limit)


@payouts_router.get(
    "/{payout_id}",
    response_model=PayoutOut,
    summary="Read one of this bank's payouts",
    responses=error_responses(*_BANK_AUTH, redemptions.PayoutNotFound),
)
def get_payout(
    payout_id: PayoutId, bank: CurrentBankRead, session: ReadSessionDep, state: StateDep
) -> PayoutOut:
    return PayoutOut.of(redemptions.get_for_bank(session, bank, payout_id), state.clock())


@payouts_router.post(
    "/{payout_id}/settle",
    response_model=PayoutOut,
    summary="Confirm the USD transfer of a payout (signed)",
    responses=error_responses(*_BANK_AUTH, PayloadTooLarge, InvalidAmount, *redemptions.SETTLE_ERRORS),
)
def settle_payout(
    payout_id: PayoutId,
    body: BankBody[SettlementRequest],
    bank: CurrentBank,
    session: SessionDep,
    state: StateDep,
) -> PayoutOut:
    """Marks the payout settled. An identical settlement again answers the same (200);
    different content for a settled payout is 409 `settlement_conflict`. Every refusal changes
    nothing."""
    outcome = redemptions.settle(
        session, state.settings, bank, payout_id, body, policy=state.policy, now=state.clock()
    )
    session.commit()
    return PayoutOut.of(outcome.payout, state.clock())


@operator_router.get(
    "",
    response_model=PayoutList,
    summary="All payouts (unassigned ones included)",
    responses=error_responses(OperatorRequired),
)
def operator_list_payouts(
    operator: CurrentOperatorRead,
    session: ReadSessionDep,
    state: StateDep,
    status: Annotated[PayoutFilter | None, Query()] = None,
    after: Cursor = 0,
    limit: PageSize = 100,
) -> PayoutList:
    return _list(session, state, bank_id=None, status=status, after=after, limit=limit)


class ReassignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    from_bank: str = Field(max_length=64, description="The bank the pending payouts are taken from.")
    to_bank: str = Field(max_length=64, description="The bank that will pay them.")
    payout_ids: list[Annotated[str, Field(pattern=r"^[1-9][0-9]{0,17}$")]] | None = Field(
        default=None,
        max_length=1000,
        description="Only these payouts (decimal strings); all of `from_bank`'s pending ones when absent.",
    )


@operator_router.post(
    "/reassign",
    response_model=PayoutList,
    summary="Give a bank's pending payouts to another bank (operators)",
    responses=error_responses(OperatorRequired, banks.BankNotFound, reassign.PayoutNotReassignable, NotFound),
)
def reassign_payouts(
    body: OperatorBody[ReassignIn], operator: CurrentOperator, session: SessionDep, state: StateDep
) -> PayoutList:
    """As `ushk payouts reassign`: each becomes pending for `to_bank` (its `GET /v1/payouts`
    lists it), due one business day from now at the earliest, one `payout.reassigned` audit entry
    each. All or none: an id that is not a pending payout of `from_bank` is 409
    `payout_not_reassignable` and changes nothing. Answers the payouts moved."""
    now = state.clock()
    moved = reassign.reassign_payouts(
        session,
        state.settings,
        banks.require_bank(session, body.from_bank),
        banks.require_bank(session, body.to_bank),
        payout_ids=None if body.payout_ids is None else [int(i) for i in body.payout_ids],
        actor=f"operator:{operator.name}",
        now=now,
    )
    out = PayoutList(items=[PayoutOut.of(p, now) for p in moved], next_after=None)
    session.commit()
    return out
