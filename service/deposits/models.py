"""Deposit confirmations and the mint batches of the outbox."""

from __future__ import annotations

import datetime as dt
import enum
import json
from types import SimpleNamespace

from sqlalchemy import BigInteger, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, BigIntPK, UTCDateTime, utcnow
from service.deposits.ids import deposit_id_for
from service.money import cents_to_units


class DepositStatus(enum.StrEnum):
    RECEIVED = "received"
    AWAITING_APPROVAL = "awaiting_approval"  # above the four-eyes threshold: waits for an approver
    ACCEPTED = "accepted"
    MINTING = "minting"
    MINTED = "minted"
    REJECTED = "rejected"


class Deposit(Base):
    """One bank's deposit confirmation. `id` is the sequence behind the on-chain deposit id.

    No raw identity number is kept: `resident_hash` is HMAC-SHA256(id_hmac_secret,
    id_type ":" normalized id_number) and `content_hmac` is an HMAC of the whole canonical
    confirmation (it detects conflicting replays without keeping a brute-forceable hash)."""

    __tablename__ = "deposits"
    __table_args__ = (
        UniqueConstraint("bank_id", "reference"),
        Index("ix_deposits_status_id", "status", "id"),
        Index("ix_deposits_beneficiary_accepted_at", "beneficiary", "accepted_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"))
    reference: Mapped[str] = mapped_column(String(64))
    content_hmac: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    value_date: Mapped[dt.date] = mapped_column(Date)
    beneficiary: Mapped[str] = mapped_column(String(42))
    resident_hash: Mapped[str] = mapped_column(String(64), index=True)
    resident_category: Mapped[str] = mapped_column(String(32))
    id_type: Mapped[str] = mapped_column(String(32))
    purpose_code: Mapped[str] = mapped_column(String(35))
    key_id: Mapped[str] = mapped_column(String(64))
    rejection_code: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(500))
    # Set while a quota hold exists / was committed: the period key ("2025").
    quota_period: Mapped[str | None] = mapped_column(String(16))
    # Hong Kong calendar day counted against the bank's daily limit.
    limit_day: Mapped[dt.date | None] = mapped_column(Date)
    mint_batch_id: Mapped[int | None] = mapped_column(ForeignKey("mint_batches.id"), index=True)
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    minting_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    minted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    rejected_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    @property
    def deposit_id(self) -> bytes:
        """The on-chain bytes32 deposit id."""
        return deposit_id_for(self.id)

    @property
    def onchain_amount(self) -> int:
        """The amount in token units (6 decimals): cents x 10,000."""
        return cents_to_units(self.amount_cents)


class DepositRecord(SimpleNamespace):
    """A deposit as plain attributes, one per column of `Deposit`: what the accept path (which
    writes with Core statements, not the ORM) hands to the audit, the ledger and the response."""

    @property
    def deposit_id(self) -> bytes:  # as Deposit.deposit_id
        return deposit_id_for(self.id)

    @property
    def onchain_amount(self) -> int:  # as Deposit.onchain_amount
        return cents_to_units(self.amount_cents)


class MintBatchStatus(enum.StrEnum):
    CLAIMED = "claimed"  # deposits moved to minting, transaction not yet built
    SENT = "sent"  # signed transaction hash and nonce recorded (before broadcast)
    CLOSED = "closed"  # every deposit of the batch left `minting`


class MintBatch(Base):
    """One mint transaction's worth of deposits, written before the transaction is sent."""

    __tablename__ = "mint_batches"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    # JSON list of the deposit sequence numbers claimed into the batch (kept after requeue).
    deposit_seqs: Mapped[str] = mapped_column(Text)
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    nonce: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    @property
    def seqs(self) -> list[int]:
        return list(json.loads(self.deposit_seqs))

    @property
    def deposit_ids(self) -> list[bytes]:
        return [deposit_id_for(seq) for seq in self.seqs]
