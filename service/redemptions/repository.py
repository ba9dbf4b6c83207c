"""Payout-account and payout queries."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from service.redemptions.models import Payout, PayoutAccount, PayoutStatus

# ---- payout accounts ----------------------------------------------------------------------------


def account_by_ref(session: Session, payout_ref: str) -> PayoutAccount | None:
    return session.scalars(select(PayoutAccount).where(PayoutAccount.payout_ref == payout_ref)).one_or_none()


def account_for(session: Session, bank_id: int, holder: str, account_hmac: str) -> PayoutAccount | None:
    return session.scalars(
        select(PayoutAccount).where(
            PayoutAccount.bank_id == bank_id,
            PayoutAccount.holder == holder,
            PayoutAccount.account_hmac == account_hmac,
        )
    ).one_or_none()


def list_accounts(session: Session, bank_id: int, *, after: int = 0, limit: int = 100) -> list[PayoutAccount]:
    return list(
        session.scalars(
            select(PayoutAccount)
            .where(PayoutAccount.bank_id == bank_id, PayoutAccount.id > after)
            .order_by(PayoutAccount.id)
            .limit(limit)
        )
    )


# ---- payouts ------------------------------------------------------------------------------------


def insert_payout(session: Session, values: dict[str, Any]) -> Payout | None:
    """Insert the payout of a redemption id unless one exists (ON CONFLICT DO NOTHING on the
    unique redemption id, so concurrent watchers cannot both create one). Returns the new row,
    or None when the redemption already had its payout."""
    # RETURNING, not rowcount: psycopg reports -1 as the rowcount of this statement
    table = Payout.__table__
    dialect = session.get_bind().dialect.name
    insert: Any  # either dialect's insert(), each with ON CONFLICT
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = (
        insert(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["redemption_id"])
        .returning(table.c.id)
    )
    payout_id = session.execute(statement).scalar()
    if payout_id is None:
        return None
    return session.scalars(
        select(Payout).where(Payout.id == payout_id).execution_options(populate_existing=True)
    ).one()


def get_payout(session: Session, payout_id: int, *, lock: bool = False) -> Payout | None:
    query = select(Payout).where(Payout.id == payout_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalars(query).one_or_none()


def pending_for_bank(session: Session, bank_id: int, *, lock: bool = False) -> list[Payout]:
    """A bank's pending payouts in id order (locked with `lock`)."""
    query = (
        select(Payout)
        .where(Payout.bank_id == bank_id, Payout.status == PayoutStatus.PENDING)
        .order_by(Payout.id)
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return list(session.scalars(query))


def by_redemption_id(session: Session, redemption_id: int) -> Payout | None:
    return session.scalars(select(Payout).where(Payout.redemption_id == redemption_id)).one_or_none()


def list_payouts(
    session: Session,
    *,
    bank_id: int | None = None,
    status: str | None = None,
    overdue_at: dt.datetime | None = None,
    after: int = 0,
    limit: int = 100,
) -> list[Payout]:
    """Payouts in id order. `overdue_at`: only pending payouts due at or before that time."""
    query = select(Payout).where(Payout.id > after).order_by(Payout.id).limit(limit)
    if bank_id is not None:
        query = query.where(Payout.bank_id == bank_id)
    if status is not None:
        query = query.where(Payout.status == status)
    if overdue_at is not None:
        query = query.where(Payout.status == PayoutStatus.PENDING, Payout.due_at <= overdue_at)
    return list(session.scalars(query))


def overdue_unreported(session: Session, now: dt.datetime, limit: int = 500) -> list[Payout]:
    return list(
        session.scalars(
            select(Payout)
            .where(
                Payout.status == PayoutStatus.PENDING,
                Payout.due_at <= now,
                Payout.overdue_reported_at.is_(None),
            )
            .order_by(Payout.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


def mark_settled(session: Session, payout_id: int, values: dict[str, Any]) -> bool:
    """pending -> settled, conditionally (a concurrent settlement of the same payout loses)."""
    result = session.execute(
        update(Payout)
        .where(Payout.id == payout_id, Payout.status == PayoutStatus.PENDING)
        .values(status=PayoutStatus.SETTLED, **values)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount == 1
