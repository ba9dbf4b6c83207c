"""The encrypted Travel Rule records: one per deposit (originator) or payout (beneficiary)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, BigIntPK, UTCDateTime, utcnow


class TravelRuleRecord(Base):
    """AES-256-GCM of the canonical JSON of {"cdd": ..., "originator" | "beneficiary_party": ...}
    as signed by the bank, under the key `key_id`, with associated data naming the subject
    ("ushk-travel-rule:v1:deposit:<seq>"), so a ciphertext moved to another row fails to open."""

    __tablename__ = "travel_rule_records"
    __table_args__ = (UniqueConstraint("subject", "subject_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    subject: Mapped[str] = mapped_column(String(16))  # "deposit" (seq) | "payout" (id)
    subject_id: Mapped[int] = mapped_column(BigInteger)
    key_id: Mapped[str] = mapped_column(String(32))
    nonce: Mapped[bytes] = mapped_column(LargeBinary(12))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
