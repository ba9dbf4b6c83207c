"""The reserve ledger's tables: accounts, postings (immutable, balanced) and their lines."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, BigIntPK, UTCDateTime, utcnow


class LedgerAccount(Base):
    """An account of the reserve ledger. `code` names it: "custody:<bank id>" (asset: US dollars
    held at that bank for USHK) or one of the service-wide accounts of service/ledger."""

    __tablename__ = "ledger_accounts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    # asset (debit-normal) | liability | equity (credit-normal)
    type: Mapped[str] = mapped_column(String(16))
    bank_id: Mapped[int | None] = mapped_column(ForeignKey("banks.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LedgerPosting(Base):
    """One immutable, balanced posting: its lines sum to zero. Unique per (kind, reference), so
    posting the same business event twice records it once.

    `supply_delta_units` is the posting's exact effect on the token's totalSupply in 10^-6 units
    (mints +, redemptions and wipes -, 0 otherwise) and `block_number` the block of that effect,
    so the ledger's view of the supply at any block is one SUM (see the reconciler)."""

    __tablename__ = "ledger_postings"
    __table_args__ = (
        UniqueConstraint("kind", "reference"),
        Index("ix_ledger_postings_block_number", "block_number"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str] = mapped_column(String(140))
    supply_delta_units: Mapped[int] = mapped_column(BigInteger, default=0)
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    # Canonical JSON of what the posting records (deposit seqs, holder, dust units, ...).
    memo: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LedgerLine(Base):
    """One side of a posting: `amount_cents` > 0 debits the account, < 0 credits it."""

    __tablename__ = "ledger_lines"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    posting_id: Mapped[int] = mapped_column(ForeignKey("ledger_postings.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
