"""Request and response bodies of the payout-account and payout APIs."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from service.money import format_cents
from service.redemptions.models import Payout, PayoutAccount
from service.travel_rule.ivms101 import CddIn, PartyIn

Text = Annotated[str, StringConstraints(strict=True, max_length=256)]


class PayoutAccountIn(BaseModel):
    """A customer's payout account at the calling bank, for one holder address."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "holder": "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4",
                "account_reference": "HSBC-HK-004-123456-838",
                "currency": "USD",
            }
        },
    )
    holder: Text
    # The bank's own opaque reference of the account; stored only as an HMAC.
    account_reference: Text
    currency: Text


class PayoutAccountOut(BaseModel):
    id: int
    holder: str
    currency: str
    payout_ref: str
    created_at: dt.datetime

    @classmethod
    def of(cls, account: PayoutAccount) -> PayoutAccountOut:
        return cls(
            id=account.id,
            holder=account.holder,
            currency=account.currency,
            payout_ref=account.payout_ref,
            created_at=account.created_at,
        )


class PayoutAccountList(BaseModel):
    items: list[PayoutAccountOut]
    next_after: int | None


class SettlementIn(BaseModel):
    """The signed settlement. Every value is a JSON string; unknown fields are refused."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "payout_id": "17",
                "amount": "250.00",
                "currency": "USD",
                "value_date": "2026-11-25",
                "bank_reference": "HSBC-PAY-2026-000017",
            }
        },
    )
    payout_id: Text
    amount: Text
    currency: Text
    value_date: Text
    bank_reference: Text
    # At or above the policy's CDD threshold (absent below it): the bank's CDD confirmation and
    # the IVMS101 data of the payout's beneficiary, the bank's customer (service/travel_rule).
    cdd: CddIn | None = None
    beneficiary: PartyIn | None = None

    @field_validator("cdd", "beneficiary", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must be an object when given, not null")
        return value

    def signed_payload(self) -> dict[str, Any]:
        """The settlement as sent (absent optional objects stay absent): what is signed."""
        return self.model_dump(exclude_none=True)


class SettlementRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    settlement: SettlementIn
    key_id: Text
    signature: Annotated[str, StringConstraints(strict=True, max_length=128)]


class PayoutOut(BaseModel):
    id: int
    redemption_id: int
    status: str
    overdue: bool
    due_at: dt.datetime
    amount: str
    amount_units: str = Field(description="The burned amount in token units (6 decimals), a decimal string.")
    dust_units: str = Field(
        description="The sub-cent rest of amount_units, in token units, a decimal string."
    )
    holder: str
    payout_ref: str
    payout_account_id: int | None
    tx_hash: str
    block_number: int
    unassigned_reason: str | None
    bank_reference: str | None
    value_date: dt.date | None
    created_at: dt.datetime
    updated_at: dt.datetime
    settled_at: dt.datetime | None

    @classmethod
    def of(cls, payout: Payout, now: dt.datetime) -> PayoutOut:
        return cls(
            id=payout.id,
            redemption_id=payout.redemption_id,
            status=payout.status,
            overdue=payout.is_overdue(now),
            due_at=payout.due_at,
            amount=format_cents(payout.amount_cents),
            amount_units=payout.amount_units,
            dust_units=str(payout.dust_units),
            holder=payout.holder,
            payout_ref=payout.payout_ref,
            payout_account_id=payout.payout_account_id,
            tx_hash=payout.tx_hash,
            block_number=payout.block_number,
            unassigned_reason=payout.unassigned_reason,
            bank_reference=payout.bank_reference,
            value_date=payout.value_date,
            created_at=payout.created_at,
            updated_at=payout.updated_at,
            settled_at=payout.settled_at,
        )


class PayoutList(BaseModel):
    items: list[PayoutOut]
    next_after: int | None
