"""Quota queries. Every decision is a single conditional statement; the database decides."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import BindParameter, ColumnElement, CursorResult, bindparam, func, select, update
from sqlalchemy.orm import Session

from service.db import Prepared, add_within_limit, insert_ignore, utcnow
from service.quota.models import BeneficiaryLock, QuotaUsage, WatchListEntry


def _where(resident_hash: str, category: str, period: str) -> tuple[ColumnElement[bool], ...]:
    return (
        QuotaUsage.resident_hash == resident_hash,
        QuotaUsage.category == category,
        QuotaUsage.period == period,
    )


_USAGE = QuotaUsage.__table__
_WATCH = WatchListEntry.__table__
_LOCKS = BeneficiaryLock.__table__


def try_hold(
    session: Session,
    resident_hash: str,
    category: str,
    period: str,
    amount_cents: int,
    limit_cents: int | None,
) -> bool:
    """Add `amount_cents` to the hold if held + committed + amount <= limit, creating the usage
    row if needed: one INSERT ... ON CONFLICT DO UPDATE ... WHERE (`add_within_limit`); under
    PostgreSQL's row lock the condition is checked against the latest committed row, under
    SQLite the transaction holds the write lock."""
    return add_within_limit(
        session,
        _USAGE,
        {"resident_hash": resident_hash, "category": category, "period": period},
        "held_cents",
        amount_cents,
        limit_cents,
        counted=("committed_cents",),
        initial={"committed_cents": 0},
        values={"limit_cents": limit_cents, "updated_at": utcnow()},
    )


def commit_hold(session: Session, resident_hash: str, category: str, period: str, amount_cents: int) -> None:
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
    if cast(CursorResult[Any], result).rowcount != 1:
        raise RuntimeError("quota hold to commit not found")


def commit_holds(session: Session, holds: list[tuple[str, str, str, int]]) -> None:
    """`commit_hold` for many (resident_hash, category, period, amount_cents) holds, in the given
    order, as one executemany of the same conditional UPDATE. Each statement can change at most
    one row (the key is unique), so a total row count below len(holds) means a hold was missing
    or short: the caller's transaction is then rolled back, as with `commit_hold`."""
    if not holds:
        return
    table = QuotaUsage.__table__
    amount: BindParameter[int] = bindparam("h_amount")
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
    if cast(CursorResult[Any], result).rowcount != len(holds):
        raise RuntimeError("quota hold to commit not found")


def release_hold(session: Session, resident_hash: str, category: str, period: str, amount_cents: int) -> None:
    result = session.execute(
        update(QuotaUsage)
        .where(*_where(resident_hash, category, period), QuotaUsage.held_cents >= amount_cents)
        .values(held_cents=QuotaUsage.held_cents - amount_cents, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], result).rowcount != 1:
        raise RuntimeError("quota hold to release not found")


def get_usage(session: Session, resident_hash: str, category: str, period: str) -> QuotaUsage | None:
    return session.scalars(select(QuotaUsage).where(*_where(resident_hash, category, period))).one_or_none()


_SUSPENDED = Prepared(
    select(_WATCH.c.id)
    .where(
        _WATCH.c.resident_hash == bindparam("resident"),
        _WATCH.c.suspended.is_(True),
        _WATCH.c.cleared_at.is_(None),
    )
    .limit(1)
)


def is_suspended(session: Session, resident_hash: str) -> bool:
    """Whether the resident has an uncleared suspending watch-list entry (one Core query)."""
    return _SUSPENDED.execute(session, {"resident": resident_hash}).fetchone() is not None


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


_LOCK_BENEFICIARY = select(_LOCKS.c.address).where(_LOCKS.c.address == bindparam("address")).with_for_update()


def lock_beneficiary(session: Session, address: str) -> None:
    """Serialise splitting checks per beneficiary address (row lock until commit). On SQLite
    the transaction already holds the database's write lock, so there is nothing to add."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        return
    insert_ignore(session, _LOCKS, {"address": address}, ("address",))
    connection.execute(_LOCK_BENEFICIARY, {"address": address})


def list_watch(session: Session, *, include_cleared: bool = False) -> list[WatchListEntry]:
    query = select(WatchListEntry).order_by(WatchListEntry.id)
    if not include_cleared:
        query = query.where(WatchListEntry.cleared_at.is_(None))
    return list(session.scalars(query))


def count_usage_rows(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(QuotaUsage)) or 0
