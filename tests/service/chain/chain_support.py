"""Helpers of the chain-side service tests."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import func, select

from service.client import BankClient
from service.deposits import outbox
from service.deposits.models import DepositStatus, MintBatch, MintBatchStatus
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


def open_batches(env) -> list[tuple[int, str, str | None, list[str]]]:
    """(id, status, tx_hash, statuses of its deposits) of every batch not yet closed, oldest
    first."""
    with env.db.reading() as session:
        return [
            (b.id, b.status, b.tx_hash, [d.status for d in outbox.batch_deposits(session, b.id)])
            for b in outbox.in_flight_batches(session)
        ]


def last_batch_id(env) -> int:
    """The id of the newest batch ever claimed (0: none)."""
    with env.db.reading() as session:
        return session.scalar(select(func.coalesce(func.max(MintBatch.id), 0)))


# The minter's steps (its failpoints, `USHK_MINTER_CRASH_AT`), each a state a batch can be left in:
MINTER_STEPS = {
    "claimed": "a batch claimed, its transaction not yet recorded",
    "recorded": "a batch's transaction recorded, not yet broadcast",
    "sent": "a batch's transaction broadcast, its deposits not yet recorded minted",
    "mined": "a batch's transaction mined, its deposits not yet recorded minted",
}


def mid_batch_problem(step: str, env, token, *, after: int = 0) -> str | None:
    """None when the database and the chain hold a batch left at `step` of the minter (the
    newest batch on its way; for `mined`, the oldest); otherwise what they hold instead. Only
    batches with an id above `after` count (those claimed by the process under test)."""
    batches = [b for b in open_batches(env) if b[0] > after and DepositStatus.MINTING in b[3]]
    if not batches:
        return f"no batch above {after} on its way (wanted {MINTER_STEPS[step]})"
    # left while settling the oldest batch (mined), or while sending the newest
    _, status, tx_hash, _ = batches[0] if step == "mined" else batches[-1]
    if step == "claimed":
        if status == MintBatchStatus.CLAIMED and tx_hash is None:
            return None
        return f"the newest batch is {status} with transaction {tx_hash}, not just claimed"
    if status != MintBatchStatus.SENT or not tx_hash:
        return f"the batch is {status} with transaction {tx_hash}, not sent"
    known = token.w3.provider.make_request("eth_getTransactionByHash", [tx_hash])["result"]
    if step == "recorded":
        return None if known is None else "a recorded, never broadcast transaction is known to the node"
    if step == "sent":
        return None if known is not None else "the broadcast transaction is unknown to the node"
    receipt = token.receipt(tx_hash)  # mined: the receipt is there, the deposits are not minted yet
    if receipt is None or receipt.status != 1:
        return f"the oldest batch's transaction {tx_hash} has no successful receipt ({receipt})"
    return None


def assert_died_mid_batch(step: str, env, token, *, after: int = 0) -> None:
    """The killed minter left a batch (with an id above `after`) at exactly the step it was
    killed at."""
    problem = mid_batch_problem(step, env, token, after=after)
    assert problem is None, f"killed at {step}: {problem}"
