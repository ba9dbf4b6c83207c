"""Banks, their API keys (hashed), their Ed25519 confirmation keys, operators, daily usage."""

from __future__ import annotations

import datetime as dt
import enum
from types import SimpleNamespace

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.db import Base, BigIntPK, UTCDateTime, utcnow


class Bank(Base):
    __tablename__ = "banks"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # Per-bank limits in cents; NULL = only the service-wide maximum / no daily limit.
    single_max_cents: Mapped[int | None] = mapped_column(BigInteger)
    daily_limit_cents: Mapped[int | None] = mapped_column(BigInteger)
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    # The webhook secret is derived from the service's webhook key and this version; it is never
    # stored. Bumping the version rotates it.
    webhook_secret_version: Mapped[int] = mapped_column(Integer, default=0)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # A custodian failure drill (service/reserves/failures.py): while set, the bank's custody
    # counts for nothing in the attestable reserve and its deposits are refused.
    failed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    failed_cause: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    api_keys: Mapped[list[BankApiKey]] = relationship(back_populates="bank", lazy="raise")
    signing_keys: Mapped[list[BankSigningKey]] = relationship(back_populates="bank", lazy="raise")

    @property
    def active(self) -> bool:
        return self.disabled_at is None


class BankRecord(SimpleNamespace):
    """A bank as plain attributes, one per column of `Bank`: what API-key authentication returns
    on every request, instead of an ORM object (see docs/performance.md, "Authentication
    returns a plain record"). Not attached to a session: code that changes the bank re-reads it."""

    @property
    def active(self) -> bool:  # as Bank.active
        return self.disabled_at is None


class BankApiKey(Base):
    """A bearer key of a bank, kept as SHA-256 of the key. Several may be valid at once."""

    __tablename__ = "bank_api_keys"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the key, to tell keys apart in listings (not enough to use it).
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    bank: Mapped[Bank] = relationship(back_populates="api_keys", lazy="raise")


class BankSigningKey(Base):
    """An Ed25519 public key that verifies a bank's deposit confirmations."""

    __tablename__ = "bank_signing_keys"
    __table_args__ = (UniqueConstraint("bank_id", "key_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"), index=True)
    key_id: Mapped[str] = mapped_column(String(64))
    # Raw 32-byte public key, base64.
    public_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    bank: Mapped[Bank] = relationship(back_populates="signing_keys", lazy="raise")

    @property
    def active(self) -> bool:
        return self.retired_at is None


class Operator(Base):
    """An operator credential for the admin HTTP API, kept as SHA-256 of the token."""

    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # operator (requests), approver (approves another's request; may also request), supervisor
    # (reads what operators read, changes nothing): service.banks.service.ROLES.
    role: Mapped[str] = mapped_column(String(16), default="operator", server_default="operator")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class BankDailyUsage(Base):
    """Total accepted (not finally rejected) cents per bank per Hong Kong calendar day."""

    __tablename__ = "bank_daily_usage"

    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    total_cents: Mapped[int] = mapped_column(BigInteger, default=0)


class ApprovalStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class Approval(Base):
    """A four-eyes request (service/banks/approvals.py): an action above a policy threshold,
    with its parameters as canonical JSON, that waits for a second, different operator.
    Approving it performs exactly that action (service/approvals/)."""

    __tablename__ = "approvals"
    __table_args__ = (Index("ix_approvals_status_expires_at", "status", "expires_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    params: Mapped[str] = mapped_column(Text)  # canonical JSON (service.canonical)
    # "operator:<name>" or, for a deposit above the threshold, "bank:<name>"
    requested_by: Mapped[str] = mapped_column(String(80))
    requested_by_operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id"))
    # the deposit waiting (kind "deposit"), so its bank's reads find the request
    deposit_seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    decided_by: Mapped[str | None] = mapped_column(String(80))
    reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
