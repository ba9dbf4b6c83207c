"""Bank, key, operator and daily-usage queries."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from service.banks.models import Bank, BankApiKey, BankDailyUsage, BankSigningKey, Operator
from service.db import insert_ignore


def get_bank(session: Session, bank_id: int) -> Bank | None:
    return session.get(Bank, bank_id)


def get_bank_by_name(session: Session, name: str) -> Bank | None:
    return session.scalars(select(Bank).where(Bank.name == name)).one_or_none()


def list_banks(session: Session) -> list[Bank]:
    return list(session.scalars(select(Bank).order_by(Bank.id)))


def bank_for_api_key_hash(session: Session, key_hash: str) -> Bank | None:
    return session.scalars(
        select(Bank)
        .join(BankApiKey, BankApiKey.bank_id == Bank.id)
        .where(BankApiKey.key_hash == key_hash, BankApiKey.revoked_at.is_(None))
    ).one_or_none()


def api_keys(session: Session, bank_id: int) -> list[BankApiKey]:
    return list(
        session.scalars(
            select(BankApiKey).where(BankApiKey.bank_id == bank_id).order_by(BankApiKey.id)
        )
    )


def signing_key(session: Session, bank_id: int, key_id: str) -> BankSigningKey | None:
    return session.scalars(
        select(BankSigningKey).where(
            BankSigningKey.bank_id == bank_id, BankSigningKey.key_id == key_id
        )
    ).one_or_none()


def signing_keys(session: Session, bank_id: int) -> list[BankSigningKey]:
    return list(
        session.scalars(
            select(BankSigningKey)
            .where(BankSigningKey.bank_id == bank_id)
            .order_by(BankSigningKey.id)
        )
    )


def count_signing_keys(session: Session, bank_id: int) -> int:
    return session.scalar(
        select(func.count()).select_from(BankSigningKey).where(BankSigningKey.bank_id == bank_id)
    ) or 0


def operator_for_token_hash(session: Session, token_hash: str) -> Operator | None:
    return session.scalars(
        select(Operator).where(Operator.token_hash == token_hash, Operator.revoked_at.is_(None))
    ).one_or_none()


def get_operator_by_name(session: Session, name: str) -> Operator | None:
    return session.scalars(select(Operator).where(Operator.name == name)).one_or_none()


def list_operators(session: Session) -> list[Operator]:
    return list(session.scalars(select(Operator).order_by(Operator.id)))


def try_charge_daily(
    session: Session, bank_id: int, day: dt.date, amount_cents: int, limit_cents: int | None
) -> bool:
    """Add to the bank's total for `day` if it stays within `limit_cents` (one conditional
    UPDATE, as for quota)."""
    insert_ignore(
        session,
        BankDailyUsage.__table__,
        {"bank_id": bank_id, "day": day, "total_cents": 0},
        ("bank_id", "day"),
    )
    statement = (
        update(BankDailyUsage)
        .where(BankDailyUsage.bank_id == bank_id, BankDailyUsage.day == day)
        .values(total_cents=BankDailyUsage.total_cents + amount_cents)
        .execution_options(synchronize_session=False)
    )
    if limit_cents is not None:
        statement = statement.where(BankDailyUsage.total_cents + amount_cents <= limit_cents)
    return session.execute(statement).rowcount == 1


def release_daily(session: Session, bank_id: int, day: dt.date, amount_cents: int) -> None:
    session.execute(
        update(BankDailyUsage)
        .where(BankDailyUsage.bank_id == bank_id, BankDailyUsage.day == day)
        .values(total_cents=BankDailyUsage.total_cents - amount_cents)
        .execution_options(synchronize_session=False)
    )


def daily_total(session: Session, bank_id: int, day: dt.date) -> int:
    return session.scalar(
        select(BankDailyUsage.total_cents).where(
            BankDailyUsage.bank_id == bank_id, BankDailyUsage.day == day
        )
    ) or 0
