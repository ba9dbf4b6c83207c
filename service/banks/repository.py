"""Bank, key, operator and daily-usage queries."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from service.banks.models import (
    Bank,
    BankApiKey,
    BankDailyUsage,
    BankRecord,
    BankSigningKey,
    Operator,
)
from service.db import add_within_limit, transaction_cache


def get_bank(session: Session, bank_id: int) -> Bank | None:
    return session.get(Bank, bank_id)


def get_bank_by_name(session: Session, name: str) -> Bank | None:
    return session.scalars(select(Bank).where(Bank.name == name)).one_or_none()


def list_banks(session: Session) -> list[Bank]:
    return list(session.scalars(select(Bank).order_by(Bank.id)))


_BANKS = Bank.__table__
_API_KEYS = BankApiKey.__table__
_SIGNING_KEYS = BankSigningKey.__table__
_DAILY = BankDailyUsage.__table__
_BANK_FOR_KEY = (
    select(*_BANKS.c)
    .join(_API_KEYS, _API_KEYS.c.bank_id == _BANKS.c.id)
    .where(_API_KEYS.c.key_hash == bindparam("key_hash"), _API_KEYS.c.revoked_at.is_(None))
)


def bank_for_api_key_hash(session: Session, key_hash: str) -> BankRecord | None:
    """The bank of an unrevoked API key, as a record (one Core query: this runs on every bank
    request)."""
    row = session.connection().execute(_BANK_FOR_KEY, {"key_hash": key_hash}).one_or_none()
    return None if row is None else BankRecord(**row._mapping)


def api_keys(session: Session, bank_id: int) -> list[BankApiKey]:
    return list(
        session.scalars(select(BankApiKey).where(BankApiKey.bank_id == bank_id).order_by(BankApiKey.id))
    )


def signing_key(session: Session, bank_id: int, key_id: str) -> BankSigningKey | None:
    return session.scalars(
        select(BankSigningKey).where(BankSigningKey.bank_id == bank_id, BankSigningKey.key_id == key_id)
    ).one_or_none()


_KEY_STATE = select(_SIGNING_KEYS.c.public_key, _SIGNING_KEYS.c.retired_at).where(
    _SIGNING_KEYS.c.bank_id == bindparam("bank_id"), _SIGNING_KEYS.c.key_id == bindparam("key_id")
)


def signing_key_state(session: Session, bank_id: int, key_id: str) -> tuple[str, dt.datetime | None] | None:
    """(public key, retired at) of a bank's confirmation key, for checking a signature; read
    once per transaction."""
    seen = transaction_cache(session, "signing_keys")
    if (bank_id, key_id) not in seen:
        row = session.connection().execute(_KEY_STATE, {"bank_id": bank_id, "key_id": key_id}).one_or_none()
        seen[bank_id, key_id] = None if row is None else (row.public_key, row.retired_at)
    return seen[bank_id, key_id]


def signing_keys(session: Session, bank_id: int) -> list[BankSigningKey]:
    return list(
        session.scalars(
            select(BankSigningKey).where(BankSigningKey.bank_id == bank_id).order_by(BankSigningKey.id)
        )
    )


def count_signing_keys(session: Session, bank_id: int) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(BankSigningKey).where(BankSigningKey.bank_id == bank_id)
        )
        or 0
    )


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
    upsert, as for quota)."""
    return add_within_limit(
        session, _DAILY, {"bank_id": bank_id, "day": day}, "total_cents", amount_cents, limit_cents
    )


def release_daily(session: Session, bank_id: int, day: dt.date, amount_cents: int) -> None:
    session.execute(
        update(BankDailyUsage)
        .where(BankDailyUsage.bank_id == bank_id, BankDailyUsage.day == day)
        .values(total_cents=BankDailyUsage.total_cents - amount_cents)
        .execution_options(synchronize_session=False)
    )


def daily_total(session: Session, bank_id: int, day: dt.date) -> int:
    return (
        session.scalar(
            select(BankDailyUsage.total_cents).where(
                BankDailyUsage.bank_id == bank_id, BankDailyUsage.day == day
            )
        )
        or 0
    )
