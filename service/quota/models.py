"""Per-resident quota usage, the watch list, and the per-beneficiary lock row."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, BigIntPK, UTCDateTime, utcnow


class QuotaUsage(Base):
    """Usage of one resident's quota in one category and period.

    The database decides: a hold is one conditional UPDATE whose WHERE clause checks
    `held + committed + amount <= limit`; its row count says whether the hold was taken."""

    __tablename__ = "quota_usage"

    resident_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    category: Mapped[str] = mapped_column(String(32), primary_key=True)
    period: Mapped[str] = mapped_column(String(16), primary_key=True)
    held_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    committed_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    # The policy limit when last written; NULL = unlimited category.
    limit_cents: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class WatchListEntry(Base):
    """A flagged resident. `suspended` entries block new deposits until cleared."""

    __tablename__ = "watch_list"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    resident_hash: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(32))  # "splitting" | "operator"
    reason: Mapped[str] = mapped_column(String(500))
    beneficiary: Mapped[str | None] = mapped_column(String(42))
    suspended: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    cleared_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class BeneficiaryLock(Base):
    """One row per beneficiary address, locked while a deposit to it is checked for splitting,
    so concurrent deposits to one address are counted one after the other."""

    __tablename__ = "beneficiary_locks"

    address: Mapped[str] = mapped_column(String(42), primary_key=True)
