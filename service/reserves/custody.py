"""Custody statements: each bank's signed statement of its segregated USHK reserve account.

A statement is `{"statement_id", "balance", "currency", "as_of", "account"}`, every value a
string, signed with one of the bank's confirmation keys exactly as a deposit confirmation is
(Ed25519 over the canonical JSON, service/deposits/signing.py). It is idempotent per (bank,
statement id): the same statement again answers the stored one, different content under a used
id is 409 `statement_conflict`. The balance and the time are public (the audit entry
`custody.statement_received`); the account reference is private.

The reserve the attestor may attest counts, per bank, the lesser of the ledger's custody and the
bank's latest statement (service/reserves/service.py, `attestable_reserves`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service import audit
from service.banks.models import Bank, BankRecord
from service.db import insert_returning
from service.deposits import service as deposits
from service.errors import ServiceError
from service.money import format_cents, parse_amount
from service.reserves.models import CustodyStatement

Text = Annotated[str, StringConstraints(strict=True, max_length=256)]
_STATEMENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_ACCOUNT = re.compile(r"[^\x00-\x1f\x7f]{1,64}")


class StatementIn(BaseModel):
    """The signed statement. Every value is a JSON string; unknown fields are refused."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "statement_id": "HSBC-CUST-2025-03-14",
                "balance": "1250000.00",
                "currency": "USD",
                "as_of": "2025-03-14T17:00:00Z",
                "account": "HSBC-USHK-RESERVE-001",
            }
        },
    )
    statement_id: Text
    balance: Text
    currency: Text
    as_of: Text
    account: Text


class StatementRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    statement: StatementIn
    key_id: Text
    signature: Annotated[str, StringConstraints(strict=True, max_length=128)]


class StatementOut(BaseModel):
    statement_id: str
    balance: str
    currency: str
    as_of: str
    account: str
    key_id: str
    received_at: str

    @classmethod
    def of(cls, row: CustodyStatement) -> StatementOut:
        return cls(
            statement_id=row.statement_id,
            balance=format_cents(row.balance_cents),
            currency="USD",
            as_of=_iso(row.as_of),
            account=row.account,
            key_id=row.key_id,
            received_at=_iso(row.created_at),
        )


class StatementList(BaseModel):
    items: list[StatementOut]
    next_after: int | None


class StatementConflict(ServiceError):
    """The statement id was used for a different custody statement of this bank."""

    status_code = 409
    code = "statement_conflict"
    message = "This statement_id was already used for a different custody statement."


class InvalidStatement(ServiceError):
    """A custody statement's statement id, currency, time or account is malformed."""

    status_code = 422
    code = "invalid_statement"
    message = "The custody statement is malformed."


SUBMIT_ERRORS = (
    deposits.UnknownKey,
    deposits.KeyRetired,
    deposits.InvalidSignature,
    StatementConflict,
    InvalidStatement,
)


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_time(value: str) -> dt.datetime:
    """An ISO 8601 time with its offset (`Z` or `+hh:mm`), to the second; as UTC."""
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidStatement(
            "as_of must be an ISO 8601 time with an offset, e.g. 2025-03-14T17:00:00Z."
        ) from None
    if parsed.tzinfo is None or "T" not in value:
        raise InvalidStatement("as_of must be an ISO 8601 time with an offset, e.g. 2025-03-14T17:00:00Z.")
    return parsed.astimezone(dt.UTC).replace(microsecond=0)


def submit(
    session: Session, bank: Bank | BankRecord, request: StatementRequest, *, now: dt.datetime | None = None
) -> tuple[CustodyStatement, bool]:
    """Verifies, stores and audits a custody statement; returns (the statement, created?).
    A replay of the same canonical bytes returns the stored statement and changes nothing."""
    statement = request.statement.model_dump()
    message = deposits.check_bank_signature(session, bank, request.key_id, statement, request.signature)
    body = message.decode("utf-8")
    existing = _find(session, bank.id, statement["statement_id"])
    if existing is not None:
        return _replayed(existing, body)
    if not _STATEMENT_ID.fullmatch(statement["statement_id"]):
        raise InvalidStatement("statement_id must be 1-64 characters: letters, digits, '.', '_', ':' or '-'.")
    balance = parse_amount(statement["balance"], allow_zero=True)
    if statement["currency"] != "USD":
        raise InvalidStatement("currency must be USD.")
    as_of = parse_time(statement["as_of"])
    now = now or dt.datetime.now(dt.UTC)
    if as_of > now + dt.timedelta(minutes=5):
        raise InvalidStatement("as_of is in the future.")
    if not _ACCOUNT.fullmatch(statement["account"]):
        raise InvalidStatement("account must be 1-64 characters without control characters.")
    table = CustodyStatement.__table__
    new_id = insert_returning(
        session,
        table,
        {
            "bank_id": bank.id,
            "statement_id": statement["statement_id"],
            "balance_cents": balance,
            "as_of": as_of,
            "account": statement["account"],
            "body": body,
            "key_id": request.key_id,
            "signature": request.signature,
            "created_at": now,
        },
        ["bank_id", "statement_id"],
        table.c.id,
    )
    if new_id is None:  # a concurrent submission of the same id won
        existing = _find(session, bank.id, statement["statement_id"])
        assert existing is not None
        return _replayed(existing, body)
    row = session.get(CustodyStatement, new_id)
    assert row is not None
    audit.record(
        session,
        "custody.statement_received",
        f"bank:{bank.name}",
        {
            "bank": bank.name,
            "balance": format_cents(balance),
            "as_of": _iso(as_of),
            "statement_id": row.statement_id,
            "account": row.account,
        },
        now=now,
    )
    return row, True


def _find(session: Session, bank_id: int, statement_id: str) -> CustodyStatement | None:
    return session.scalar(
        select(CustodyStatement).where(
            CustodyStatement.bank_id == bank_id, CustodyStatement.statement_id == statement_id
        )
    )


def _replayed(existing: CustodyStatement, body: str) -> tuple[CustodyStatement, bool]:
    same = hmac.compare_digest(
        hashlib.sha256(existing.body.encode()).digest(), hashlib.sha256(body.encode()).digest()
    )
    if not same:
        raise StatementConflict()
    return existing, False


def list_for_bank(
    session: Session, bank_id: int, *, after: int = 0, limit: int = 100
) -> list[CustodyStatement]:
    return list(
        session.scalars(
            select(CustodyStatement)
            .where(CustodyStatement.bank_id == bank_id, CustodyStatement.id > after)
            .order_by(CustodyStatement.id)
            .limit(limit)
        )
    )


def latest_statements(session: Session) -> dict[int, CustodyStatement]:
    """Each bank's latest statement (greatest `as_of`; of equal ones, the last received)."""
    latest = (
        select(CustodyStatement.bank_id, func.max(CustodyStatement.as_of).label("as_of"))
        .group_by(CustodyStatement.bank_id)
        .subquery()
    )
    rows = session.scalars(
        select(CustodyStatement)
        .join(
            latest,
            (latest.c.bank_id == CustodyStatement.bank_id) & (latest.c.as_of == CustodyStatement.as_of),
        )
        .order_by(CustodyStatement.id)
    )
    return {row.bank_id: row for row in rows}
