"""Deposit and mint-batch queries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from service.db import Prepared
from service.deposits.models import Deposit, DepositStatus, MintBatch, MintBatchStatus


def get_by_reference(session: Session, bank_id: int, reference: str) -> Deposit | None:
    return session.scalars(
        select(Deposit).where(Deposit.bank_id == bank_id, Deposit.reference == reference)
    ).one_or_none()


_BY_REFERENCE = Prepared(
    select(Deposit.__table__.c.id, Deposit.__table__.c.content_hmac).where(
        Deposit.__table__.c.bank_id == bindparam("bank_id"),
        Deposit.__table__.c.reference == bindparam("reference"),
    )
)


def find_reference(session: Session, bank_id: int, reference: str) -> tuple[int, str] | None:
    """(seq, content HMAC) of the bank's deposit with this reference, if any (one Core query:
    every submission asks it)."""
    row = _BY_REFERENCE.execute(session, {"bank_id": bank_id, "reference": reference}).fetchone()
    return None if row is None else (row[0], row[1])


def get(session: Session, seq: int) -> Deposit | None:
    return session.get(Deposit, seq)


def list_deposits(
    session: Session,
    *,
    bank_id: int | None = None,
    status: str | None = None,
    after: int = 0,
    limit: int = 100,
) -> list[Deposit]:
    query = select(Deposit).where(Deposit.id > after).order_by(Deposit.id).limit(limit)
    if bank_id is not None:
        query = query.where(Deposit.bank_id == bank_id)
    if status is not None:
        query = query.where(Deposit.status == status)
    return list(session.scalars(query))


def lock_accepted(session: Session, limit: int) -> list[Deposit]:
    """Oldest accepted deposits, locked; rows locked by another claimer are skipped
    (PostgreSQL FOR UPDATE SKIP LOCKED; SQLite's write lock makes claims serial)."""
    return list(
        session.scalars(
            select(Deposit)
            .where(Deposit.status == DepositStatus.ACCEPTED)
            .order_by(Deposit.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


def lock_many(session: Session, seqs: Sequence[int]) -> list[Deposit]:
    """The deposits with these seqs, locked in id order (a fixed lock order)."""
    if not seqs:
        return []
    return list(
        session.scalars(
            select(Deposit)
            .where(Deposit.id.in_(sorted(set(seqs))))
            .order_by(Deposit.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )


def get_batch(session: Session, batch_id: int, *, lock: bool = False) -> MintBatch | None:
    query = select(MintBatch).where(MintBatch.id == batch_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def open_batches(session: Session) -> list[MintBatch]:
    return list(
        session.scalars(
            select(MintBatch).where(MintBatch.status != MintBatchStatus.CLOSED).order_by(MintBatch.id)
        )
    )


def batch_deposits(session: Session, batch_id: int) -> list[Deposit]:
    return list(
        session.scalars(select(Deposit).where(Deposit.mint_batch_id == batch_id).order_by(Deposit.id))
    )


def count_minting_in_batch(session: Session, batch_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Deposit)
            .where(Deposit.mint_batch_id == batch_id, Deposit.status == DepositStatus.MINTING)
        )
        or 0
    )


def count_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(Deposit.status, func.count()).group_by(Deposit.status))
    return dict(rows.tuples().all())


_DEPOSIT_TABLE = Deposit.__table__
_RECENT_FUNDERS = Prepared(
    select(_DEPOSIT_TABLE.c.resident_hash)
    .where(
        _DEPOSIT_TABLE.c.beneficiary == bindparam("beneficiary"),
        _DEPOSIT_TABLE.c.accepted_at >= bindparam("since"),
    )
    .distinct()
)


def recent_funders(session: Session, beneficiary: str, since: dt.datetime) -> set[str]:
    """Distinct residents whose deposits to `beneficiary` were accepted since `since`."""
    rows = _RECENT_FUNDERS.execute(session, {"beneficiary": beneficiary, "since": since})
    return {row[0] for row in rows.fetchall()}
