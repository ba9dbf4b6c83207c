"""Quota queries. Every decision is a single conditional statement; the database decides."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from service.db import insert_ignore, utcnow
from service.deposits.models import Deposit
from service.quota.models import BeneficiaryLock, QuotaUsage, WatchListEntry

_KEY = ("resident_hash", "category", "period")


def _where(resident_hash: str, category: str, period: str):
    return (
        QuotaUsage.resident_hash == resident_hash,
        QuotaUsage.category == category,
        QuotaUsage.period == period,
    )


def ensure_usage(
    session: Session, resident_hash: str, category: str, period: str, limit_cents: int | None
) -> None:
    insert_ignore(
        session,
        QuotaUsage.__table__,
        {
            "resident_hash": resident_hash,
            "category": category,
            "period": period,
            "held_cents": 0,
            "committed_cents": 0,
            "limit_cents": limit_cents,
            "updated_at": utcnow(),
        },
        _KEY,
    )


def try_hold(
    session: Session,
    resident_hash: str,
    category: str,
    period: str,
    amount_cents: int,
    limit_cents: int | None,
) -> bool:
    """Add `amount_cents` to the hold if held + committed + amount <= limit. One UPDATE: under
    PostgreSQL's row lock the WHERE clause is re-checked against the latest committed row;
    under SQLite the transaction holds the write lock."""
    ensure_usage(session, resident_hash, category, period, limit_cents)
    statement = (
        update(QuotaUsage)
        .where(*_where(resident_hash, category, period))
        .values(
            held_cents=QuotaUsage.held_cents + amount_cents,
            limit_cents=limit_cents,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    if limit_cents is not None:
        statement = statement.where(
            QuotaUsage.held_cents + QuotaUsage.committed_cents + amount_cents <= limit_cents
        )
    return session.execute(statement).rowcount == 1


def commit_hold(
    session: Session, resident_hash: str, category: str, period: str, amount_cents: int
) -> None:
    result = session.execute(
        update(QuotaUsage)
        .where(*_where(resident_hash, category, period), QuotaUsage.held_cents >= amount_cents)
        .values(
            held_cents=QuotaUsage.held_cents - amount_cents,
            committed_cents=QuotaUsage.committed_cents + amount_cents,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise RuntimeError("quota hold to commit not found")


def commit_holds(session: Session, holds: list[tuple[str, str, str, int]]) -> None:
    """`commit_hold` for many (resident_hash, category, period, amount_cents) holds, in the given
    order, as one executemany of the same conditional UPDATE. Each statement can change at most
    one row (the key is unique), so a total row count below len(holds) means a hold was missing
    or short: the caller's transaction is then rolled back, as with `commit_hold`."""
    if not holds:
        return
    table = QuotaUsage.__table__
    amount = bindparam("h_amount")
    statement = (
        update(table)
        .where(
            table.c.resident_hash == bindparam("h_resident"),
            table.c.category == bindparam("h_category"),
            table.c.period == bindparam("h_period"),
            table.c.held_cents >= amount,
        )
        .values(
            held_cents=table.c.held_cents - amount,
            committed_cents=table.c.committed_cents + amount,
            updated_at=bindparam("h_now"),
        )
    )
    now = utcnow()
    result = session.execute(
        statement,
        [
            {"h_resident": r, "h_category": c, "h_period": p, "h_amount": a, "h_now": now}
            for r, c, p, a in holds
        ],
    )
    if result.rowcount != len(holds):
        raise RuntimeError("quota hold to commit not found")


def release_hold(
    session: Session, resident_hash: str, category: str, period: str, amount_cents: int
) -> None:
    result = session.execute(
        update(QuotaUsage)
        .where(*_where(resident_hash, category, period), QuotaUsage.held_cents >= amount_cents)
        .values(held_cents=QuotaUsage.held_cents - amount_cents, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise RuntimeError("quota hold to release not found")


def get_usage(
    session: Session, resident_hash: str, category: str, period: str
) -> QuotaUsage | None:
    return session.scalars(
        select(QuotaUsage).where(*_where(resident_hash, category, period))
    ).one_or_none()


def suspended_entries(session: Session, resident_hash: str) -> list[WatchListEntry]:
    return list(
        session.scalars(
            select(WatchListEntry).where(
                WatchListEntry.resident_hash == resident_hash,
                WatchListEntry.suspended.is_(True),
                WatchListEntry.cleared_at.is_(None),
            )
        )
    )


def active_entry_hashes(session: Session, hashes: set[str]) -> set[str]:
    if not hashes:
        return set()
    return set(
        session.scalars(
            select(WatchListEntry.resident_hash).where(
                WatchListEntry.resident_hash.in_(hashes), WatchListEntry.cleared_at.is_(None)
            )
        )
    )


def lock_beneficiary(session: Session, address: str) -> None:
    """Serialise splitting checks per beneficiary address (row lock until commit)."""
    insert_ignore(session, BeneficiaryLock.__table__, {"address": address}, ("address",))
    session.execute(
        select(BeneficiaryLock.address).where(BeneficiaryLock.address == address).with_for_update()
    )


def recent_funders(session: Session, beneficiary: str, since: dt.datetime) -> set[str]:
    """Distinct residents whose deposits to `beneficiary` were accepted since `since`."""
    return set(
        session.scalars(
            select(Deposit.resident_hash)
            .where(Deposit.beneficiary == beneficiary, Deposit.accepted_at >= since)
            .distinct()
        )
    )


def list_watch(session: Session, *, include_cleared: bool = False) -> list[WatchListEntry]:
    query = select(WatchListEntry).order_by(WatchListEntry.id)
    if not include_cleared:
        query = query.where(WatchListEntry.cleared_at.is_(None))
    return list(session.scalars(query))


def count_usage_rows(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(QuotaUsage)) or 0
