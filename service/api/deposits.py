"""Deposit confirmation endpoints for banks."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from service.api.deps import (
    BankCredentials,
    CurrentBankRead,
    Cursor,
    PageSize,
    ReadSessionDep,
    StateDep,
    bearer_header,
)
from service.approvals import service as four_eyes
from service.banks import approvals
from service.banks.service import BankDisabled
from service.deposits import repository
from service.deposits import service as deposits
from service.deposits.models import DepositStatus
from service.deposits.schemas import (
    DepositBatchOut,
    DepositBatchRequest,
    DepositList,
    DepositOut,
    DepositRequest,
)
from service.errors import DatabaseBusy, NotAuthenticated, PayloadTooLarge, error_responses
from service.jsonbody import request_body_openapi
from service.money import InvalidAmount
from service.quota.identity import InvalidResident

router = APIRouter(prefix="/v1/deposits", tags=["deposits"])
# What any submission (one confirmation or a batch) can be refused with before its content counts.
_SUBMISSION_ERRORS = (NotAuthenticated, BankDisabled, PayloadTooLarge, DatabaseBusy)


@router.post(
    "",
    status_code=201,
    response_model=DepositOut,
    summary="Submit a signed deposit confirmation",
    # The endpoint reads the raw body (the deposit writer parses it after authenticating the
    # bank), so its schema is declared here.
    openapi_extra={"requestBody": request_body_openapi(DepositRequest)},
    responses={
        200: {"model": DepositOut, "description": "Identical replay: the stored deposit"},
        **error_responses(
            *_SUBMISSION_ERRORS,
            InvalidAmount,
            InvalidResident,
            *deposits.SUBMIT_ERRORS,
        ),
    },
)
async def submit_deposit(request: Request, credentials: BankCredentials, state: StateDep) -> Response:
    """Check, record and accept a deposit confirmation (201), or answer an identical replay
    with the stored deposit (200). Refusals are errors with a machine-readable code; policy
    refusals (eligibility, watch list, quota, daily limit) are also recorded as a rejected
    deposit, and replaying them gives the same error.

    The bank is authenticated before the body is looked at. The work runs in the service's
    deposit writer (service/deposits/writer.py), which commits concurrent submissions together."""
    answer = await state.writer.submit(bearer_header(credentials), await request.body())
    if answer.error is not None:
        raise answer.error
    assert answer.deposit is not None
    headers = {"Location": f"/v1/deposits/{answer.deposit.reference}"} if answer.created else None
    return Response(
        answer.deposit.model_dump_json().encode(),
        status_code=201 if answer.created else 200,
        media_type="application/json",
        headers=headers,
    )


@router.post(
    "/batch",
    status_code=200,
    response_model=DepositBatchOut,
    summary="Submit up to 1,000 deposit confirmations, each answered on its own",
    openapi_extra={"requestBody": request_body_openapi(DepositBatchRequest)},
    responses=error_responses(*_SUBMISSION_ERRORS, *deposits.BATCH_ERRORS),
)
async def submit_deposit_batch(request: Request, credentials: BankCredentials, state: StateDep) -> Response:
    """Up to 1,000 confirmations, either each signed (`items`: each the body of `POST
    /v1/deposits`) or signed as one message (`key_id`, `signature`, `confirmations`; see
    docs/bank-api.md for the signed bytes). The answer is 200 with one result per item, in
    order: `index`, `status` (what `POST /v1/deposits` answers for that item alone: 201, 200
    for a replay, or its error's status) and the `deposit` or the `error`. A batch refused as a
    whole (credentials, not JSON, wrong shape, no item or over 1,000, the batch signature) is a
    4xx that changes nothing. Replaying a batch replays each item."""
    answer = await state.writer.submit_batch(bearer_header(credentials), await request.body())
    if answer.error is not None:
        raise answer.error
    return Response(
        json.dumps({"results": answer.results}, separators=(",", ":")).encode(),
        status_code=200,
        media_type="application/json",
    )


@router.get(
    "/{reference}",
    response_model=DepositOut,
    summary="Read one of this bank's deposits",
    responses=error_responses(NotAuthenticated, BankDisabled, deposits.DepositNotFound),
)
def get_deposit(
    reference: str, bank: CurrentBankRead, session: ReadSessionDep, state: StateDep
) -> DepositOut:
    """Status, amount, beneficiary, on-chain deposit id, tx hash, block, reason, timestamps.
    Only the calling bank's own deposits are visible. A deposit `awaiting_approval` whose time
    to be approved has passed is expired first (then `rejected`, `approval_expired`)."""
    deposit = deposits.get_for_bank(session, bank, reference)
    if deposit.status == DepositStatus.AWAITING_APPROVAL:
        request = approvals.for_deposit(session, deposit.id)
        now = state.clock()
        if request is not None and request.expires_at <= now and four_eyes.sweep(state.db, now):
            with state.db.reading() as fresh:
                deposit = deposits.get_for_bank(fresh, bank, reference)
    return DepositOut.of(deposit)


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
    after: Cursor = 0,
    limit: PageSize = 100,
) -> DepositList:
    rows = repository.list_deposits(session, bank_id=bank.id, status=status, after=after, limit=limit)
    return DepositList(
        items=[DepositOut.of(d) for d in rows],
        next_after=rows[-1].id if len(rows) == limit else None,
    )
