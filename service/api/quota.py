"""Quota query for banks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from service.api.deps import CurrentBankRead, ReadSessionDep, StateDep
from service.banks.service import BankDisabled
from service.errors import NotAuthenticated, error_responses
from service.money import format_cents
from service.quota import service as quota
from service.quota.identity import InvalidResident, normalize_id_type, resident_hash

router = APIRouter(prefix="/v1/quota", tags=["quota"])


class QuotaOut(BaseModel):
    category: str
    period: str
    timezone: str
    eligible: bool
    suspended: bool
    limit: str | None
    used: str
    held: str
    remaining: str | None


@router.get(
    "",
    response_model=QuotaOut,
    summary="A resident's quota in the current period",
    responses=error_responses(
        NotAuthenticated,
        BankDisabled,
        InvalidResident,
        quota.UnknownCategory,
        quota.InvalidIdType,
    ),
)
def get_quota(
    bank: CurrentBankRead,
    session: ReadSessionDep,
    state: StateDep,
    id_type: Annotated[str, Query(max_length=64, examples=["hkid"])],
    id_number: Annotated[str, Query(max_length=128, examples=["A1234567"])],
    category: Annotated[str, Query(max_length=64, examples=["hk"])],
) -> QuotaOut:
    """`used` is minted (committed) usage, `held` is accepted but not yet minted, `remaining`
    is what a new deposit may still use (null: the category has no quota). The identity number
    is hashed at once; the service's access log never records query strings."""
    normalized_type = normalize_id_type(id_type)
    policy = quota.category_policy(state.policy, category, normalized_type)
    secret = state.settings.id_hmac_secret.get_secret_value().encode("utf-8")
    holder = resident_hash(secret, normalized_type, id_number)
    found = quota.view(session, policy, holder, state.clock())
    return QuotaOut(
        category=found.category,
        period=found.period,
        timezone=found.timezone,
        eligible=found.eligible,
        suspended=found.suspended,
        limit=None if found.limit_cents is None else format_cents(found.limit_cents),
        used=format_cents(found.used_cents),
        held=format_cents(found.held_cents),
        remaining=None if found.remaining_cents is None else format_cents(found.remaining_cents),
    )
