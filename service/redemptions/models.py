"""Payout accounts and payout instructions (the watcher's chain cursor is in service/chain/cursor.py)."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import BigInteger, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, BigIntPK, UTCDateTime, utcnow


class PayoutAccount(Base):
    """A customer's US-dollar account at a bank, registered for one holder address.

    The account itself is never kept: `account_hmac` is HMAC-SHA256(id_hmac_secret,
    "payout-account:<bank id>:" account reference). `payout_ref` is what the holder passes to
    `redeem(amount, payoutRef)`: SHA-256 over the bank id, the holder, `account_hmac` and a
    random `salt`, so nothing about the account can be read or guessed from the chain."""

    __tablename__ = "payout_accounts"
    __table_args__ = (UniqueConstraint("bank_id", "holder", "account_hmac"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"), index=True)
    holder: Mapped[str] = mapped_column(String(42))
    account_hmac: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    salt: Mapped[str] = mapped_column(String(64))
    payout_ref: Mapped[str] = mapped_column(String(66), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PayoutStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for the bank's USD transfer
    SETTLED = "settled"  # the bank confirmed the transfer (signed)
    UNASSIGNED = "unassigned"  # the payoutRef names no registered account: held, reported


class Payout(Base):
    """One payout instruction per on-chain redemption id (unique): the burned amount owed to the
    holder, in US dollars, by the bank that registered the payoutRef."""

    __tablename__ = "payouts"
    __table_args__ = (
        Index("ix_payouts_bank_id_status", "bank_id", "status"),
        Index("ix_payouts_status_due_at", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    redemption_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    tx_hash: Mapped[str] = mapped_column(String(66))
    block_number: Mapped[int] = mapped_column(BigInteger)
    log_index: Mapped[int] = mapped_column(BigInteger)
    holder: Mapped[str] = mapped_column(String(42))
    # The burned amount in token units (6 decimals), as decimal text (uint256 on chain).
    amount_units: Mapped[str] = mapped_column(String(78))
    # What the bank pays: whole cents (units // 10,000). `dust_units` is the rest, kept on record.
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    dust_units: Mapped[int] = mapped_column(BigInteger)
    payout_ref: Mapped[str] = mapped_column(String(66), index=True)
    payout_account_id: Mapped[int | None] = mapped_column(ForeignKey("payout_accounts.id"))
    bank_id: Mapped[int | None] = mapped_column(ForeignKey("banks.id"))
    status: Mapped[str] = mapped_column(String(16))
    # Why an unassigned payout could not be given to a bank (unknown_payout_ref, ...).
    unassigned_reason: Mapped[str | None] = mapped_column(String(32))
    # End of the first Hong Kong business day after the day the payout was created.
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    overdue_reported_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The bank's settlement confirmation: HMAC of its canonical bytes (replay detection).
    settlement_hmac: Mapped[str | None] = mapped_column(String(64))
    settlement_key_id: Mapped[str | None] = mapped_column(String(64))
    bank_reference: Mapped[str | None] = mapped_column(String(64))
    value_date: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    settled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    def is_overdue(self, now: dt.datetime) -> bool:
        return self.status == PayoutStatus.PENDING and now >= self.due_at
