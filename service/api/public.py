"""The public ledger (no login): mints, redemptions and their payouts, events, quota in aggregate.

docs/public-ledger.md describes each answer, the paging and the filters. The chain figures an
answer carries come from the API process's cached chain view (service/reserves/chain_cache.py),
never from a JSON-RPC call of the request.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from service.api.deps import MAX_ID, ReadSessionDep, StateDep
from service.errors import ServiceError, error_responses
from service.public import ledger
from service.redemptions.models import PayoutStatus

router = APIRouter(prefix="/v1/public", tags=["public ledger"])


class UnknownBank(ServiceError):
    """The `bank` filter names no bank."""

    status_code = 400
    code = "unknown_bank"
    message = "No bank has this name."


class BadTime(ServiceError):
    """`since` or `until` is not an ISO 8601 date or date-time (a date-time without an offset is UTC)."""

    status_code = 400
    code = "bad_time"
    message = "since and until are ISO 8601 dates or date-times, e.g. 2025-03-14T08:00:00Z."


class EmptyTimeRange(ServiceError):
    """`since` is not before `until`."""

    status_code = 400
    code = "empty_time_range"
    message = "since must be before until."


After = Annotated[
    int,
    Query(ge=0, le=MAX_ID, description="Cursor: the `next` of the previous page (0: from the start)."),
]
Limit = Annotated[int, Query(ge=1, le=ledger.MAX_LIMIT, description="Items per page, 1-1000.")]
BankName = Annotated[str | None, Query(min_length=1, max_length=64, description="Only this bank's.")]
TIME_DOC = "ISO 8601 date or date-time (UTC when it has no offset); the range is [since, until)."
Since = Annotated[str | None, Query(min_length=1, max_length=40, description=TIME_DOC)]
Until = Annotated[str | None, Query(min_length=1, max_length=40, description=TIME_DOC)]
EventType = Literal[
    "attestation", "wipe", "halt", "pause", "freeze", "role", "token", "mint_block", "bank", "alert"
]
Period = Annotated[
    str | None,
    Query(pattern=r"^[0-9]{4}(-[0-9]{2})?$", description='A quota period: "2025" or "2025-03".'),
]

PAGE_ERRORS = (UnknownBank, BadTime, EmptyTimeRange)


def _instant(name: str, value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        if len(value) == 10:
            parsed = dt.datetime.combine(dt.date.fromisoformat(value), dt.time())
        else:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return parsed.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise BadTime(f"{name}: {BadTime.message}") from None


def _window(since: str | None, until: str | None) -> ledger.Window:
    window = ledger.Window(_instant("since", since), _instant("until", until))
    if window.since is not None and window.until is not None and window.since >= window.until:
        raise EmptyTimeRange()
    return window


def _bank(session: ReadSessionDep, name: str | None) -> int | None:
    if name is None:
        return None
    found = ledger.bank_id(session, name)
    if found is None:
        raise UnknownBank()
    return found


class MintOut(BaseModel):
    seq: int = Field(description="The deposit's sequence number (the paging key).")
    deposit_id: str = Field(description="The on-chain bytes32 deposit id (hex).")
    resident: str = Field(description="The resident's pseudonym (R- and 16 hex digits).")
    category: str
    bank: str
    amount: str = Field(description="US dollars, a decimal string.")
    amount_units: str = Field(description="Token units (6 decimals), a decimal string.")
    currency: str
    value_date: str
    beneficiary: str
    tx_hash: str | None
    block_number: int | None
    minted_at: str | None


class MintsOut(BaseModel):
    items: list[MintOut]
    next: int | None = Field(description="`after` of the next page; null on the last page.")


class RedemptionOut(BaseModel):
    seq: int = Field(description="The payout's sequence number (the paging key).")
    redemption_id: str = Field(description="The on-chain redemption id, a decimal string.")
    holder: str
    amount: str = Field(description="The burned amount in US dollars (six decimals when there is dust).")
    amount_units: str
    payout_amount: str = Field(description="What the bank pays: whole cents of `amount`.")
    dust_units: str
    bank: str | None = Field(description="The paying bank; null while the payout is unassigned.")
    status: str = Field(description="pending | settled | unassigned")
    overdue: bool
    due_at: str | None
    tx_hash: str
    block_number: int
    created_at: str | None
    settled_at: str | None
    value_date: str | None


class RedemptionsOut(BaseModel):
    items: list[RedemptionOut]
    next: int | None


class EventOut(BaseModel):
    seq: int = Field(description="The audit entry's seq (its transparency log leaf is seq - 1).")
    type: str
    kind: str
    time: str | None
    actor: str | None = Field(description='The public actor: "bank:NAME" or a role ("operator", "minter").')
    amount: str | None = Field(description="US dollars, a decimal string, when the event has an amount.")
    tx_hash: str | None
    block_number: int | None
    report_url: str | None = Field(
        description="The attested reserve report (GET /v1/reserves/reports/{hash})."
    )
    details: dict = Field(description="The entry's public fields, as the transparency log publishes them.")


class EventsOut(BaseModel):
    items: list[EventOut]
    next: int | None


SUPPRESSED_DOC = "null when the group has fewer residents than the publication minimum (`suppressed`)."


class CategoryQuotaOut(BaseModel):
    category: str
    period: str
    residents_served: int | None = Field(description=SUPPRESSED_DOC)
    used: str | None = Field(description=SUPPRESSED_DOC)
    held: str | None = Field(description=SUPPRESSED_DOC)
    suppressed: bool = Field(description="The figures of this group are withheld (too few residents).")


class QuotaOut(BaseModel):
    period: str | None
    min_residents: int = Field(description="No figure of a group of fewer residents is published.")
    residents_served: int | None = Field(
        description="Distinct residents with quota used (in the period, if given); " + SUPPRESSED_DOC
    )
    total_used: str | None = Field(description=SUPPRESSED_DOC)
    total_held: str | None = Field(description=SUPPRESSED_DOC)
    suppressed: bool
    by_category: list[CategoryQuotaOut]


@router.get(
    "/mints",
    response_model=MintsOut,
    summary="Every mint: deposit id, resident pseudonym, bank, amount, transaction",
    responses=error_responses(*PAGE_ERRORS),
)
def get_mints(
    session: ReadSessionDep,
    after: After = 0,
    limit: Limit = 100,
    bank: BankName = None,
    since: Since = None,
    until: Until = None,
) -> MintsOut:
    window = _window(since, until)
    page = ledger.mints(session, after=after, limit=limit, bank=_bank(session, bank), window=window)
    return MintsOut(items=[MintOut(**item) for item in page.items], next=page.next)


@router.get(
    "/redemptions",
    response_model=RedemptionsOut,
    summary="Every redemption and its payout status (no payout account or bank reference)",
    responses=error_responses(*PAGE_ERRORS),
)
def get_redemptions(
    state: StateDep,
    session: ReadSessionDep,
    after: After = 0,
    limit: Limit = 100,
    bank: BankName = None,
    status: PayoutStatus | None = None,
    since: Since = None,
    until: Until = None,
) -> RedemptionsOut:
    window = _window(since, until)
    page = ledger.redemptions(
        session,
        after=after,
        limit=limit,
        now=state.clock(),
        bank=_bank(session, bank),
        status=status,
        window=window,
    )
    return RedemptionsOut(items=[RedemptionOut(**item) for item in page.items], next=page.next)


@router.get(
    "/events",
    response_model=EventsOut,
    summary="Attestations, wipes, halts, pauses, bank changes and alerts, from the audit log",
    responses=error_responses(BadTime, EmptyTimeRange),
)
def get_events(
    session: ReadSessionDep,
    after: After = 0,
    limit: Limit = 100,
    type: Annotated[list[EventType] | None, Query(description="Only these types (repeatable).")] = None,
    since: Since = None,
    until: Until = None,
) -> EventsOut:
    window = _window(since, until)
    page = ledger.events(session, after=after, limit=limit, types=list(type) if type else None, window=window)
    return EventsOut(items=[EventOut(**item) for item in page.items], next=page.next)


@router.get("/quota", response_model=QuotaOut, summary="Quota statistics in aggregate (never per resident)")
def get_quota(session: ReadSessionDep, state: StateDep, period: Period = None) -> QuotaOut:
    return QuotaOut(
        **ledger.quota(session, period=period, min_residents=state.settings.public_quota_min_residents)
    )
