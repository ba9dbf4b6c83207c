"""Helpers of the chain-side service tests."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select

from service.client import BankClient
from service.models import AuditEntry, Deposit

UNITS_PER_USD = 10**6


def deposit(client: BankClient, beneficiary: str, amount: str = "1000.00", *, resident: str = "R1234567"):
    return client.deposit(
        reference=f"ref-{uuid.uuid4().hex[:16]}",
        amount=amount,
        value_date=dt.date.today().isoformat(),
        beneficiary=beneficiary,
        id_type="hkid",
        id_number=resident,
        category="hk",
        purpose_code="INVS",
    )


def deposits_of(env) -> list[Deposit]:
    with env.db.reading() as session:
        return list(session.scalars(select(Deposit).order_by(Deposit.id)))


def audit_kinds(env) -> list[str]:
    with env.db.reading() as session:
        return list(session.scalars(select(AuditEntry.kind).order_by(AuditEntry.seq)))


def assert_chain_matches(env, deployed, token):
    """Every minted deposit has exactly one Minted event, to its beneficiary, for its amount."""
    events = token.minted_events(deployed.from_block)
    ids = [e.deposit_id for e in events]
    assert len(ids) == len(set(ids)), "a deposit id was minted twice"
    by_id = {e.deposit_id: e for e in events}
    minted = [d for d in deposits_of(env) if d.status == "minted"]
    assert set(by_id) == {d.deposit_id for d in minted}
    for d in minted:
        event = by_id[d.deposit_id]
        assert event.to.lower() == d.beneficiary.lower()
        assert event.amount == d.amount_cents * 10_000
        assert event.tx_hash == d.tx_hash and event.block_number == d.block_number
    attestation = token.reserve_attestation()
    assert token.total_supply() == sum(e.amount for e in events) <= attestation.amount
