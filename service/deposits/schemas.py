"""Request and response bodies of the deposits API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from service.deposits.ids import deposit_id_hex
from service.deposits.models import Deposit, DepositRecord
from service.money import format_cents
from service.travel_rule.ivms101 import CddIn, PartyIn

Text = Annotated[str, StringConstraints(strict=True, max_length=256)]


class ResidentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id_type: Text
    id_number: Text
    category: Text


class ConfirmationIn(BaseModel):
    """The signed confirmation. Every value is a JSON string; unknown fields are refused."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "reference": "HSBC-2025-000123",
                "amount": "1250.00",
                "currency": "USD",
                "value_date": "2025-03-14",
                "beneficiary": "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4",
                "resident": {"id_type": "hkid", "id_number": "A1234567", "category": "hk"},
                "purpose_code": "INVS",
            }
        },
    )
    reference: Text
    amount: Text
    currency: Text
    value_date: Text
    beneficiary: Text
    resident: ResidentIn
    purpose_code: Text
    # At or above the policy's CDD threshold (absent below it, where old confirmations stay
    # valid): the bank's CDD confirmation and the originator's IVMS101 data (service/travel_rule).
    cdd: CddIn | None = None
    originator: PartyIn | None = None

    @field_validator("cdd", "originator", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must be an object when given, not null")
        return value

    def signed_payload(self) -> dict[str, Any]:
        """The confirmation as sent (absent optional objects stay absent): what is signed."""
        return self.model_dump(exclude_none=True)


class DepositRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    confirmation: ConfirmationIn
    key_id: Text
    signature: Annotated[str, StringConstraints(strict=True, max_length=128)]


class DepositOut(BaseModel):
    reference: str
    status: str
    amount: str
    currency: str
    value_date: dt.date
    beneficiary: str
    purpose_code: str
    resident_category: str
    deposit_id: str | None
    onchain_amount: str = Field(
        description="The amount in token units (6 decimals: cents x 10,000), a decimal string."
    )
    tx_hash: str | None
    block_number: int | None
    rejection_code: str | None
    reason: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    accepted_at: dt.datetime | None
    minting_at: dt.datetime | None
    minted_at: dt.datetime | None
    rejected_at: dt.datetime | None

    @classmethod
    def of(cls, deposit: Deposit | DepositRecord) -> DepositOut:
        return cls(
            reference=deposit.reference,
            status=deposit.status,
            amount=format_cents(deposit.amount_cents),
            currency=deposit.currency,
            value_date=deposit.value_date,
            beneficiary=deposit.beneficiary,
            purpose_code=deposit.purpose_code,
            resident_category=deposit.resident_category,
            deposit_id=deposit_id_hex(deposit.id) if deposit.accepted_at is not None else None,
            onchain_amount=str(deposit.onchain_amount),
            tx_hash=deposit.tx_hash,
            block_number=deposit.block_number,
            rejection_code=deposit.rejection_code,
            reason=deposit.reason,
            created_at=deposit.created_at,
            updated_at=deposit.updated_at,
            accepted_at=deposit.accepted_at,
            minting_at=deposit.minting_at,
            minted_at=deposit.minted_at,
            rejected_at=deposit.rejected_at,
        )


def deposit_json(deposit: Deposit) -> dict:
    """The deposit's public view as JSON (what `GET /v1/deposits/{reference}` answers and what
    its bank's webhook receives)."""
    return DepositOut.of(deposit).model_dump(mode="json")


class DepositList(BaseModel):
    items: list[DepositOut]
    next_after: int | None


# ---- POST /v1/deposits/batch (docs/bank-api.md, "Batches") ----------------------------------

BATCH_MAX = 1000  # confirmations in one batch


_BATCH_ITEMS = Field(
    default=None,
    min_length=1,
    max_length=BATCH_MAX,
    description="Form 1: each item a signed deposit request, exactly the body of POST /v1/deposits.",
)
_BATCH_CONFIRMATIONS = Field(
    default=None,
    min_length=1,
    max_length=BATCH_MAX,
    description='Form 2: the confirmations, signed together by `signature` (over the canonical JSON of {"confirmations": [...]}).',
)


class DepositBatchRequest(BaseModel):
    """Either form of a batch: `{"items": [...]}`, each item signed on its own (and checked on
    its own, a malformed item included), or `{"key_id", "signature", "confirmations": [...]}`,
    signed as one message: `signature` is the bank's key `key_id` over the canonical JSON of
    `{"confirmations": [...]}` (the body without `key_id` and `signature`)."""

    model_config = ConfigDict(extra="forbid")
    items: Annotated[list[dict[str, Any]] | None, _BATCH_ITEMS]
    key_id: Text | None = None
    signature: Annotated[str, StringConstraints(strict=True, max_length=128)] | None = None
    confirmations: Annotated[list[ConfirmationIn] | None, _BATCH_CONFIRMATIONS]

    @model_validator(mode="after")
    def _one_form(self) -> DepositBatchRequest:
        signed = (self.key_id, self.signature, self.confirmations)
        if self.items is not None:
            if any(value is not None for value in signed):
                raise ValueError("either items, or key_id, signature and confirmations; not both")
        elif any(value is None for value in signed):
            raise ValueError("items, or key_id, signature and confirmations, are required")
        return self

    def signed_payload(self) -> dict[str, Any]:
        """What the signature of a signed batch is over (encoded by `canonical_batch`)."""
        assert self.confirmations is not None
        return {"confirmations": [c.signed_payload() for c in self.confirmations]}


class ErrorOut(BaseModel):
    code: str
    message: str


class DepositBatchResult(BaseModel):
    """One item's answer: the status and body `POST /v1/deposits` gives for it alone."""

    index: int
    status: int
    deposit: DepositOut | None = None
    error: ErrorOut | None = None


class DepositBatchOut(BaseModel):
    results: list[DepositBatchResult]
