"""Chain cursors: the last block each chain follower (the redemption watcher, the reconciler)
has fully processed, committed in the same transaction as what it produced from those blocks."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from service.db import Base, UTCDateTime, insert_ignore, utcnow


class ChainCursor(Base):
    """The last block a chain follower has fully processed (committed with what it produced)."""

    __tablename__ = "chain_cursors"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


def cursor(session: Session, name: str) -> int | None:
    return session.scalar(select(ChainCursor.block_number).where(ChainCursor.name == name))


def advance_cursor(session: Session, name: str, block: int, now: dt.datetime) -> None:
    """Move the cursor forward to `block` (never backwards)."""
    _write(session, name, block, now, forward_only=True)


def set_cursor(session: Session, name: str, block: int, now: dt.datetime) -> None:
    """Set the cursor to `block`, also backwards (operators re-scanning a range)."""
    _write(session, name, block, now, forward_only=False)


def _write(session: Session, name: str, block: int, now: dt.datetime, *, forward_only: bool) -> None:
    insert_ignore(
        session,
        ChainCursor.__table__,
        {"name": name, "block_number": block, "updated_at": now},
        ("name",),
    )
    where = [ChainCursor.name == name]
    if forward_only:
        where.append(ChainCursor.block_number < block)
    session.execute(
        update(ChainCursor)
        .where(*where)
        .values(block_number=block, updated_at=now)
        .execution_options(synchronize_session=False)
    )
