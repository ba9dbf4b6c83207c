"""Bodies of the bank and operator endpoints."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from service.banks.models import Bank, BankApiKey, BankRecord, BankSigningKey
from service.money import format_cents

Text = Annotated[str, StringConstraints(strict=True, max_length=500)]


class SigningKeyOut(BaseModel):
    key_id: str
    public_key: str
    created_at: dt.datetime
    retired_at: dt.datetime | None

    @classmethod
    def of(cls, key: BankSigningKey) -> SigningKeyOut:
        return cls(
            key_id=key.key_id,
            public_key=key.public_key,
            created_at=key.created_at,
            retired_at=key.retired_at,
        )


class ApiKeyOut(BaseModel):
    prefix: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    @classmethod
    def of(cls, key: BankApiKey) -> ApiKeyOut:
        return cls(prefix=key.prefix, created_at=key.created_at, revoked_at=key.revoked_at)


class BankOut(BaseModel):
    name: str
    active: bool
    single_max: str | None
    daily_limit: str | None
    webhook_url: str | None
    signing_keys: list[SigningKeyOut]
    created_at: dt.datetime

    @classmethod
    def of(cls, bank: Bank | BankRecord, keys: list[BankSigningKey]) -> BankOut:
        return cls(
            name=bank.name,
            active=bank.active,
            single_max=None if bank.single_max_cents is None else format_cents(bank.single_max_cents),
            daily_limit=(None if bank.daily_limit_cents is None else format_cents(bank.daily_limit_cents)),
            webhook_url=bank.webhook_url,
            signing_keys=[SigningKeyOut.of(k) for k in keys],
            created_at=bank.created_at,
        )


class WebhookIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"url": "https://bank.example/ushk"}]}
    )
    url: Text


class WebhookOut(BaseModel):
    url: str | None
    secret: str | None


class BankCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "hsbc-hk", "single_max": "1000000.00", "daily_limit": "50000000.00"}]
        },
    )
    name: Annotated[str, StringConstraints(strict=True, max_length=64)]
    public_key: Text | None = None
    key_id: Annotated[str, StringConstraints(strict=True, max_length=64)] | None = None
    single_max: Annotated[str, StringConstraints(strict=True, max_length=32)] | None = None
    daily_limit: Annotated[str, StringConstraints(strict=True, max_length=32)] | None = None
    webhook_url: Text | None = None


class BankCreated(BaseModel):
    bank: BankOut
    api_key: str
    webhook_secret: str | None


class SigningKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    public_key: Text
    key_id: Annotated[str, StringConstraints(strict=True, max_length=64)] | None = None
    retire: Annotated[str, StringConstraints(strict=True, max_length=64)] | None = None


class ApiKeyCreated(BaseModel):
    api_key: str
    prefix: str
