"""Signed transparency snapshots and the claims of their liabilities tree."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, BigIntPK, UTCDateTime


class TransparencySnapshot(Base):
    """One snapshot: its canonical JSON (`body`, as signed) and the log key's signature of it."""

    __tablename__ = "transparency_snapshots"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    taken_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    body: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(128))  # hex Ed25519
    key_id: Mapped[str] = mapped_column(String(64))
    public_key: Mapped[str] = mapped_column(String(64))


class SnapshotLiability(Base):
    """Leaf `idx` of a snapshot's liabilities tree: a claim owed off chain."""

    __tablename__ = "snapshot_liabilities"

    snapshot_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("transparency_snapshots.id"), primary_key=True, autoincrement=False
    )
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str] = mapped_column(String(64))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
