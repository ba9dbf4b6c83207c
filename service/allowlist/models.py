"""Allowlist entries: one per (bank, address) a bank asked the service to allowlist."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, BigIntPK, UTCDateTime, utcnow


class AllowlistStatus(enum.StrEnum):
    PENDING = "pending"  # proof checked, setAllowed(address, true) not yet mined
    ALLOWED = "allowed"  # allowed on chain
    REVOKING = "revoking"  # the bank revoked the KYC: setAllowed(address, false) not yet mined
    REVOKED = "revoked"  # removed on chain (or kept allowed by another bank's active entry)


ACTIVE = (AllowlistStatus.PENDING, AllowlistStatus.ALLOWED)
UNSYNCED = (AllowlistStatus.PENDING, AllowlistStatus.REVOKING)


class AllowlistEntry(Base):
    __tablename__ = "allowlist_entries"
    __table_args__ = (
        UniqueConstraint("bank_id", "address"),
        UniqueConstraint("bank_id", "nonce"),
        Index("ix_allowlist_entries_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"))
    address: Mapped[str] = mapped_column(String(42), index=True)
    status: Mapped[str] = mapped_column(String(16))
    nonce: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    allowed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
