"""Helpers for the tests that run the independent attestor (`ushk attestor run`,
service/reserves/independent.py): a bank's signed custody statement, stored as the API stores
it, and the attestor's pinned bank keys file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from service.banks.service import require_bank
from service.client import signed_statement
from service.reserves import custody
from service.reserves.independent import current_keys


def statement(bank, statement_id: str, balance: str, as_of: dt.datetime, seed: bytes | None = None) -> dict:
    """The signed request of a custody statement (signed with `seed`, by default the bank's)."""
    return signed_statement(
        {
            "statement_id": statement_id,
            "balance": balance,
            "currency": "USD",
            "as_of": as_of.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "account": "RESERVE-1",
        },
        bank.key_id,
        seed or bank.seed,
    )


def post_statement(env, bank, statement_id: str, balance: str, as_of: dt.datetime | None = None) -> None:
    """Stores the bank's signed statement through custody.submit, as the API does."""
    as_of = as_of or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    with env.db.transaction() as session:
        custody.submit(
            session,
            require_bank(session, bank.name),
            custody.StatementRequest.model_validate(statement(bank, statement_id, balance, as_of)),
        )


def pin_keys(env, path: Path) -> Path:
    """The attestor's pinned keys file of the banks the service has now."""
    with env.db.reading() as session:
        current_keys(session).dump(path)
    return path
