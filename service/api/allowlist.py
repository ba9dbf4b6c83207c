"""The KYC allowlist for banks: relay a resident's proof of control of an address, revoke it."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, StringConstraints

from service.allowlist import service as allowlist
from service.allowlist.models import AllowlistEntry
from service.api.deps import BankBody, CurrentBank, SessionDep, StateDep
from service.banks.service import BankDisabled
from service.errors import NotAuthenticated, PayloadTooLarge, error_responses

router = APIRouter(prefix="/v1/bank/allowlist", tags=["allowlist"])

Text = Annotated[str, StringConstraints(strict=True, max_length=256)]


class AllowlistRequestIn(BaseModel):
    """The resident's signed proof, relayed by the bank. Every value is a JSON string."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "address": "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4",
                "nonce": "7f3c9a1e5b2d4c6a",
                "expires_at": "2026-12-05T12:00:00Z",
                "signature": "0x" + "00" * 65,
            }
        },
    )
    address: Text
    nonce: Text
    expires_at: Text
    signature: Text


class AllowlistEntryOut(BaseModel):
    address: str
    status: str
    tx_hash: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    allowed_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @classmethod
    def of(cls, entry: AllowlistEntry) -> AllowlistEntryOut:
        return cls(
            address=entry.address,
            status=entry.status,
            tx_hash=entry.tx_hash,
            created_at=entry.created_at,
            updated_at=entry.updated_at,
            allowed_at=entry.allowed_at,
            revoked_at=entry.revoked_at,
        )


@router.post(
    "",
    status_code=201,
    response_model=AllowlistEntryOut,
    summary="Allowlist an address on the resident's signed proof of control",
    responses={
        200: {"model": AllowlistEntryOut, "description": "Already requested: the entry as it is"},
        **error_responses(NotAuthenticated, BankDisabled, PayloadTooLarge, *allowlist.REQUEST_ERRORS),
    },
)
def request_allowlisting(
    body: BankBody[AllowlistRequestIn],
    bank: CurrentBank,
    session: SessionDep,
    state: StateDep,
    response: Response,
) -> AllowlistEntryOut:
    """`signature` is the address's EIP-191 personal_sign of the documented message (bank,
    address, chain id, nonce, expiry). The entry is `pending` until the allowlist worker's
    `setAllowed` is mined, then `allowed`."""
    entry, created = allowlist.request(
        session,
        bank,
        address=body.address,
        nonce=body.nonce,
        expires_at=body.expires_at,
        signature=body.signature,
        chain_id=state.settings.chain_id,
        now=state.clock(),
    )
    session.commit()
    if not created:
        response.status_code = 200
    return AllowlistEntryOut.of(entry)


@router.delete(
    "/{address}",
    response_model=AllowlistEntryOut,
    summary="Revoke an allowlisting (the bank revoked the resident's KYC)",
    responses=error_responses(NotAuthenticated, BankDisabled, allowlist.AllowlistEntryNotFound),
)
def revoke_allowlisting(
    address: Annotated[str, Path(max_length=42)],
    bank: CurrentBank,
    session: SessionDep,
    state: StateDep,
) -> AllowlistEntryOut:
    """The entry becomes `revoking`, and `revoked` once the worker removed the address on
    chain (it stays allowed while another bank's entry for it is active)."""
    entry = allowlist.revoke(session, bank, address, now=state.clock())
    session.commit()
    return AllowlistEntryOut.of(entry)
