"""Quota query for banks: `POST /v1/quota/lookup` (the identity number in the body, never in
a URL); the former `GET /v1/quota` answers `410 use_post_quota_lookup` for one release."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, StringConstraints

from service.api.deps import BankBody, CurrentBankRead, ReadSessionDep, StateDep
from service.banks.service import BankDisabled
from service.errors import NotAuthenticated, PayloadTooLarge, ServiceError, error_responses
from service.money import format_cents
from service.quota import service as quota
from service.quota.identity import InvalidResident, normalize_id_type, resident_hash

router = APIRouter(prefix="/v1/quota", tags=["quota"])


class UsePostQuotaLookup(ServiceError):
    """`GET /v1/quota` is withdrawn (it put identity numbers in URLs): use
    `POST /v1/quota/lookup` with the resident in the JSON body."""

    status_code = 410
    code = "use_post_quota_lookup"
    message = (
        "GET /v1/quota is withdrawn: identity numbers must not travel in URLs. Use "
        'POST /v1/quota/lookup with {"id_type": ..., "id_number": ..., "category": ...} as the '
        "JSON body (docs/bank-api.md, Quota)."
    )


class QuotaLookupIn(BaseModel):
    """The resident whose quota is asked for. Every value is a JSON string."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"id_type": "hkid", "id_number": "A1234567", "category": "hk"}},
    )
    id_type: Annotated[str, StringConstraints(strict=True, max_length=64)]
    id_number: Annotated[str, StringConstraints(strict=True, max_length=128)]
    category: Annotated[str, StringConstraints(strict=True, max_length=64)]


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


@router.post(
    "/lookup",
    response_model=QuotaOut,
    summary="A resident's quota in the current period",
    responses=error_responses(
        NotAuthenticated,
        BankDisabled,
        PayloadTooLarge,
        InvalidResident,
        quota.UnknownCategory,
        quota.InvalidIdType,
    ),
)
def lookup_quota(
    body: BankBody[QuotaLookupIn],
    session: ReadSessionDep,
    state: StateDep,
) -> QuotaOut:
    """`used` is minted (committed) usage, `held` is accepted but not yet minted, `remaining`
    is what a new deposit may still use (null: the category has no quota). The identity number
    travels in the body only and is hashed at once; it is never logged."""
    normalized_type = normalize_id_type(body.id_type)
    policy = quota.category_policy(state.policy, body.category, normalized_type)
    secret = state.settings.id_hmac_secret.get_secret_value().encode("utf-8")
    holder = resident_hash(secret, normalized_type, body.id_number)
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


@router.get(
    "",
    summary="Withdrawn: use POST /v1/quota/lookup",
    deprecated=True,
    responses=error_responses(NotAuthenticated, BankDisabled, UsePostQuotaLookup),
)
def get_quota_withdrawn(bank: CurrentBankRead) -> None:
    """Always `410 use_post_quota_lookup`. The query string is neither read, echoed nor logged
    (the service's access log never records query strings)."""
    raise UsePostQuotaLookup()
