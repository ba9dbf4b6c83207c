"""Stored reserve reports, minting halts and the banks' custody statements (the ledger's own tables are in service/ledger)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, BigIntPK, UTCDateTime, utcnow


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


class CustodyStatement(Base):
    """A bank's signed statement of its segregated USHK reserve account: the balance as of a
    time (service/reserves/custody.py). `body` is the canonical JSON that was signed; the
    statement id is unique per bank (a replay answers the stored statement)."""

    __tablename__ = "custody_statements"
    __table_args__ = (
        UniqueConstraint("bank_id", "statement_id"),
        Index("ix_custody_statements_bank_as_of", "bank_id", "as_of"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"))
    statement_id: Mapped[str] = mapped_column(String(64))
    balance_cents: Mapped[int] = mapped_column(BigInteger)
    as_of: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # The bank's reference of the reserve account: private (never in a public view).
    account: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(String(64))
    # The bank's Ed25519 signature over `body` (base64), for attestors that check it themselves
    # (service/reserves/independent.py); None on statements stored before it was kept.
    signature: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
