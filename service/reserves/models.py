"""The reserve ledger (double-entry, integer cents), stored reserve reports and minting halts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, BigIntPK, UTCDateTime, utcnow


class LedgerAccount(Base):
    """An account of the reserve ledger. `code` names it: "custody:<bank id>" (asset: US dollars
    held at that bank for USHK) or one of the service-wide accounts of service/reserves/ledger.py."""

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


class ReserveReport(Base):
    """A reserve report exactly as attested: `body` is its canonical JSON, `hash` the hex SHA-256
    of `body` (the reportHash on chain). Stored before the attestation is sent."""

    __tablename__ = "reserve_reports"

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    audit_seq: Mapped[int] = mapped_column(BigInteger)
    audit_head: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(64))
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    attested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class MintingHalt(Base):
    """A halt of minting decided by the reconciler. While a halt is active (`active` = 1) the
    minter claims nothing. `active` is NULL once resumed; its unique constraint allows at most
    one active halt (NULLs are distinct). Only an operator resumes, with a cause."""

    __tablename__ = "minting_halts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    active: Mapped[int | None] = mapped_column(Integer, unique=True)
    codes: Mapped[str] = mapped_column(String(500))
    # Canonical JSON list of the findings that caused the halt (and, updated, the latest ones).
    details: Mapped[str] = mapped_column(Text)
    # Supply minus what the ledger explains, in units, as last measured while halted.
    difference_units: Mapped[int] = mapped_column(BigInteger, default=0)
    # What the operator who resumed accepted: the difference that a fresh reconciliation at
    # `resume_block` still measured (0 when it was gone), with its evidence (canonical JSON:
    # supply, what the ledger explained, the findings). Later passes add it to what the ledger
    # explains; `ushk reserves summary` and the public summary show it.
    acknowledged_units: Mapped[int] = mapped_column(BigInteger, default=0)
    resume_block: Mapped[int | None] = mapped_column(BigInteger)
    resume_evidence: Mapped[str | None] = mapped_column(Text)
    paused_on_chain: Mapped[bool] = mapped_column(Boolean, default=False)
    pause_tx_hash: Mapped[str | None] = mapped_column(String(66))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    resumed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resumed_by: Mapped[str | None] = mapped_column(String(64))
    resume_cause: Mapped[str | None] = mapped_column(String(500))
    unpause_tx_hash: Mapped[str | None] = mapped_column(String(66))
