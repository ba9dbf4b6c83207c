"""Bank self-service endpoints (/v1/bank) and the operator admin API (/v1/operator)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from service.api.deps import (
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
from service.banks import repository
from service.banks import service as banks
from service.banks.models import Bank
from service.banks.schemas import (
    ApiKeyCreated,
    ApiKeyOut,
    BankCreate,
    BankCreated,
    BankOut,
    SigningKeyIn,
    SigningKeyOut,
    WebhookIn,
    WebhookOut,
)
from service.errors import NotAuthenticated, error_responses
from service.money import InvalidAmount, parse_amount
from service.reserves import custody, failures
from service.reserves import service as reserves

router = APIRouter(prefix="/v1/bank", tags=["bank"])
operator_router = APIRouter(prefix="/v1/operator", tags=["operator"])

_BANK_AUTH = (NotAuthenticated, banks.BankDisabled)
_OPERATOR_AUTH = (banks.OperatorRequired,)
_OPERATOR_WRITE = (banks.OperatorRequired, banks.OperatorRoleRequired)


@router.get("", response_model=BankOut, responses=error_responses(*_BANK_AUTH))
def get_own_bank(bank: CurrentBankRead, session: ReadSessionDep) -> BankOut:
    """The calling bank: limits, webhook URL, confirmation keys."""
    return BankOut.of(bank, repository.signing_keys(session, bank.id))


@router.put(
    "/webhook",
    response_model=WebhookOut,
    responses=error_responses(*_BANK_AUTH, banks.InvalidBankInput),
)
def set_own_webhook(
    body: BankBody[WebhookIn], bank: CurrentBank, session: SessionDep, state: StateDep
) -> WebhookOut:
    """Register (or replace) the webhook URL. Returns a new signing secret, shown only here."""
    own = banks.require_bank(session, bank.name)
    secret = banks.set_webhook(session, state.settings, own, body.url, actor=f"bank:{own.name}")
    session.commit()
    return WebhookOut(url=body.url, secret=secret)


@router.delete("/webhook", response_model=WebhookOut, responses=error_responses(*_BANK_AUTH))
def delete_own_webhook(bank: CurrentBank, session: SessionDep, state: StateDep) -> WebhookOut:
    own = banks.require_bank(session, bank.name)
    banks.set_webhook(session, state.settings, own, None, actor=f"bank:{own.name}")
    session.commit()
    return WebhookOut(url=None, secret=None)


@router.post(
    "/custody-statements",
    status_code=201,
    response_model=custody.StatementOut,
    summary="Post a signed custody statement of your USHK reserve account",
    responses={
        200: {"model": custody.StatementOut, "description": "Identical replay: the stored statement"},
        **error_responses(*_BANK_AUTH, InvalidAmount, *custody.SUBMIT_ERRORS),
    },
)
def post_custody_statement(
    body: BankBody[custody.StatementRequest], bank: CurrentBank, session: SessionDep
) -> Response:
    """Verify and store the balance of your segregated USHK reserve account as of a time (201),
    or answer an identical replay with the stored statement (200). The attestable reserve
    counts at most your latest statement's balance of your custody (docs/bank-api.md)."""
    row, created = custody.submit(session, bank, body)
    out = custody.StatementOut.of(row)
    session.commit()
    return Response(
        out.model_dump_json().encode(), status_code=201 if created else 200, media_type="application/json"
    )


@router.get(
    "/custody-statements",
    response_model=custody.StatementList,
    summary="List your custody statements",
    responses=error_responses(*_BANK_AUTH),
)
def list_custody_statements(
    bank: CurrentBankRead, session: ReadSessionDep, after: Cursor = 0, limit: PageSize = 100
) -> custody.StatementList:
    """Your custody statements in the order received, paged."""
    rows = custody.list_for_bank(session, bank.id, after=after, limit=limit)
    return custody.StatementList(
        items=[custody.StatementOut.of(r) for r in rows],
        next_after=rows[-1].id if len(rows) == limit else None,
    )


def _cents(value: str | None) -> int | None:
    return None if value is None else parse_amount(value)


@operator_router.post(
    "/banks",
    status_code=201,
    response_model=BankCreated,
    responses=error_responses(*_OPERATOR_WRITE, banks.InvalidBankInput, banks.BankExists, InvalidAmount),
)
def create_bank(
    body: OperatorBody[BankCreate], operator: CurrentOperator, session: SessionDep, state: StateDep
) -> BankCreated:
    """Create a bank. The API key (and webhook secret) are in this response only."""
    created = banks.create_bank(
        session,
        state.settings,
        body.name,
        actor=f"operator:{operator.name}",
        public_key=body.public_key,
        key_id=body.key_id,
        single_max_cents=_cents(body.single_max),
        daily_limit_cents=_cents(body.daily_limit),
        webhook_url=body.webhook_url,
    )
    session.commit()
    keys = [created.signing_key] if created.signing_key else []
    return BankCreated(
        bank=BankOut.of(created.bank, keys),
        api_key=created.api_key,
        webhook_secret=created.webhook_secret,
    )


@operator_router.get("/banks", response_model=list[BankOut], responses=error_responses(*_OPERATOR_AUTH))
def list_banks(operator: CurrentOperatorRead, session: ReadSessionDep) -> list[BankOut]:
    return [
        BankOut.of(bank, repository.signing_keys(session, bank.id)) for bank in repository.list_banks(session)
    ]


@operator_router.post(
    "/banks/{name}/signing-keys",
    status_code=201,
    response_model=SigningKeyOut,
    responses=error_responses(
        *_OPERATOR_WRITE, banks.BankNotFound, banks.KeyNotFound, banks.InvalidBankInput
    ),
)
def rotate_signing_key(
    name: str, body: OperatorBody[SigningKeyIn], operator: CurrentOperator, session: SessionDep
) -> SigningKeyOut:
    """Add a confirmation key; with `retire`, retire that key id in the same step."""
    bank = banks.require_bank(session, name)
    key = banks.rotate_signing_key(
        session,
        bank,
        body.public_key,
        key_id=body.key_id,
        retire=body.retire,
        actor=f"operator:{operator.name}",
    )
    session.commit()
    return SigningKeyOut.of(key)


@operator_router.post(
    "/banks/{name}/signing-keys/{key_id}/retire",
    response_model=SigningKeyOut,
    responses=error_responses(*_OPERATOR_WRITE, banks.BankNotFound, banks.KeyNotFound),
)
def retire_signing_key(
    name: str, key_id: str, operator: CurrentOperator, session: SessionDep
) -> SigningKeyOut:
    bank = banks.require_bank(session, name)
    key = banks.retire_signing_key(session, bank, key_id, actor=f"operator:{operator.name}")
    session.commit()
    return SigningKeyOut.of(key)


@operator_router.post(
    "/banks/{name}/api-keys",
    status_code=201,
    response_model=ApiKeyCreated,
    responses=error_responses(*_OPERATOR_WRITE, banks.BankNotFound),
)
def add_api_key(name: str, operator: CurrentOperator, session: SessionDep) -> ApiKeyCreated:
    """A new API key; the bank's other keys stay valid until revoked."""
    bank = banks.require_bank(session, name)
    key = banks.add_api_key(session, bank, actor=f"operator:{operator.name}")
    session.commit()
    return ApiKeyCreated(api_key=key, prefix=key[:14])


@operator_router.post(
    "/banks/{name}/api-keys/{prefix}/revoke",
    response_model=ApiKeyOut,
    responses=error_responses(*_OPERATOR_WRITE, banks.BankNotFound, banks.KeyNotFound),
)
def revoke_api_key(name: str, prefix: str, operator: CurrentOperator, session: SessionDep) -> ApiKeyOut:
    bank = banks.require_bank(session, name)
    key = banks.revoke_api_key(session, bank, prefix, actor=f"operator:{operator.name}")
    session.commit()
    return ApiKeyOut.of(key)


@operator_router.post(
    "/banks/{name}/disable",
    response_model=BankOut,
    responses=error_responses(*_OPERATOR_WRITE, banks.BankNotFound),
)
def disable_bank(name: str, operator: CurrentOperator, session: SessionDep) -> BankOut:
    bank = banks.require_bank(session, name)
    banks.set_disabled(session, bank, True, actor=f"operator:{operator.name}")
    session.commit()
    return BankOut.of(bank, repository.signing_keys(session, bank.id))


@operator_router.post(
    "/banks/{name}/enable",
    response_model=BankOut,
    responses=error_responses(*_OPERATOR_WRITE, banks.BankNotFound),
)
def enable_bank(name: str, operator: CurrentOperator, session: SessionDep) -> BankOut:
    bank = banks.require_bank(session, name)
    banks.set_disabled(session, bank, False, actor=f"operator:{operator.name}")
    session.commit()
    return BankOut.of(bank, repository.signing_keys(session, bank.id))


class CustodianCauseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cause: str = Field(min_length=1, max_length=500, description="What happened (recorded in the audit log).")


class CustodianStateOut(BaseModel):
    bank: str
    failed: bool
    failed_at: str | None = Field(description="Since when the bank is marked failed (null: it is not).")
    failed_cause: str | None
    minting_halted: bool


def _custodian_state(session: Session, bank: Bank) -> CustodianStateOut:
    return CustodianStateOut(
        bank=bank.name,
        failed=bank.failed_at is not None,
        failed_at=None if bank.failed_at is None else bank.failed_at.isoformat(timespec="seconds"),
        failed_cause=bank.failed_cause,
        minting_halted=reserves.minting_halted(session),
    )


@operator_router.post(
    "/banks/{name}/mark-failed",
    response_model=CustodianStateOut,
    summary="Custodian failure drill: mark a bank failed (operators)",
    responses=error_responses(
        *_OPERATOR_AUTH, banks.BankNotFound, reserves.CauseRequired, failures.CustodianAlreadyFailed
    ),
)
def mark_failed(
    name: str, body: OperatorBody[CustodianCauseIn], operator: CurrentOperator, session: SessionDep
) -> CustodianStateOut:
    """Its custody stops counting in the attestable reserve, minting halts (`custodian_failed`)
    and its new deposits are refused (`409 custodian_failed`); as `ushk bank mark-failed`."""
    bank = banks.require_bank(session, name)
    failures.mark_failed(session, bank, cause=body.cause, actor=f"operator:{operator.name}")
    out = _custodian_state(session, bank)
    session.commit()
    return out


@operator_router.post(
    "/banks/{name}/mark-recovered",
    response_model=CustodianStateOut,
    summary="Mark a failed bank recovered; minting stays halted until resumed (operators)",
    responses=error_responses(
        *_OPERATOR_AUTH, banks.BankNotFound, reserves.CauseRequired, failures.CustodianNotFailed
    ),
)
def mark_recovered(
    name: str, body: OperatorBody[CustodianCauseIn], operator: CurrentOperator, session: SessionDep
) -> CustodianStateOut:
    """Its custody counts again and it takes deposits again; the halt stays (resume it with
    `POST /v1/operator/minting/resume`); as `ushk bank mark-recovered`."""
    bank = banks.require_bank(session, name)
    failures.mark_recovered(session, bank, cause=body.cause, actor=f"operator:{operator.name}")
    out = _custodian_state(session, bank)
    session.commit()
    return out
