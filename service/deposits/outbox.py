"""The mint outbox: the interface between accepted deposits and the on-chain minter.

State is written before it is acted on. The minter's loop, with each step its own committed
transaction (the caller commits; these functions only flush):

1. ``claim_batch(session, limit)`` moves the oldest accepted deposits to ``minting`` and records
   a `MintBatch` (tx_hash and nonce still NULL). Safe with several minters: PostgreSQL claims
   with ``FOR UPDATE SKIP LOCKED``; on SQLite the write transaction is exclusive.
2. ``record_batch_sent(session, batch_id, tx_hash, nonce)`` stores the signed transaction's hash
   and nonce BEFORE it is broadcast; then the minter broadcasts.
3. When the receipt is final: ``mark_minted(session, deposit_ids, tx_hash, block_number)``
   (quota hold committed, audit, webhook, reserve ledger posting). If the transaction never
   landed (dropped, replaced by a different tx at that nonce, reverted for a transient reason):
   ``requeue(session, deposit_ids)``; if a deposit can never be minted:
   ``mark_rejected(session, deposit_ids, code, reason)`` (quota and bank daily usage released).
4. After a restart, ``in_flight_batches(session)`` lists batches not yet closed; the minter
   looks up each batch's tx_hash (or the chain's events by deposit id) and calls 3.

`deposit_ids` arguments accept, per item, the deposit's sequence number (int, `Deposit.id`), its
32-byte on-chain id (bytes, e.g. from a chain event), that id as a 0x-prefixed hex string, or
the `Deposit` itself. Each function returns the
affected deposits. The on-chain amount of a deposit is `Deposit.onchain_amount` (cents x
10,000) and its id `Deposit.deposit_id` (bytes32).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable

from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from service import audit, ledger
from service.banks import repository as banks_repository
from service.db import utcnow
from service.deposits import repository
from service.deposits.ids import seq_for_deposit_id
from service.deposits.models import Deposit, DepositStatus, MintBatch, MintBatchStatus
from service.deposits.schemas import deposit_json
from service.deposits.service import deposit_payload
from service.quota import service as quota
from service.webhooks import service as webhooks

DepositRef = int | bytes | str | Deposit
_TX_HASH_LENGTH = 66
_IN_CHUNK = 500  # ids per `WHERE id IN (...)` (well under SQLite's bound-parameter limit)


class OutboxError(RuntimeError):
    """An impossible transition was asked for (e.g. minting a rejected deposit)."""


def _seqs(deposit_ids: Iterable[DepositRef]) -> list[int]:
    seqs = []
    for item in deposit_ids:
        if isinstance(item, bool):
            raise TypeError("deposit id must be int, bytes, hex str or Deposit")
        if isinstance(item, Deposit):
            seqs.append(item.id)
        elif isinstance(item, int):
            seqs.append(item)
        else:
            seqs.append(seq_for_deposit_id(item))
    return sorted(set(seqs))


def _check_tx_hash(tx_hash: str) -> str:
    if not (
        isinstance(tx_hash, str)
        and len(tx_hash) == _TX_HASH_LENGTH
        and tx_hash.startswith("0x")
        and all(c in "0123456789abcdefABCDEF" for c in tx_hash[2:])
    ):
        raise ValueError("tx_hash must be 0x followed by 64 hex digits")
    return tx_hash.lower()


def _load(session: Session, deposit_ids: Iterable[DepositRef]) -> list[Deposit]:
    seqs = _seqs(deposit_ids)
    deposits = repository.lock_many(session, seqs)
    missing = set(seqs) - {d.id for d in deposits}
    if missing:
        raise OutboxError(f"unknown deposits: {sorted(missing)}")
    return deposits


def _set_all(session: Session, deposits: list[Deposit], **values: object) -> None:
    """The same column values on every deposit: one `UPDATE deposits ... WHERE id IN (...)` per
    chunk of ids, and the values set on the loaded objects as their committed state (so no flush
    repeats the update). The caller holds the rows' locks (`_load`, `lock_accepted`). The ORM's
    unit of work would send one UPDATE per deposit; this sends one per chunk."""
    table = Deposit.__table__
    ids = [d.id for d in deposits]
    for start in range(0, len(ids), _IN_CHUNK):
        session.execute(update(table).where(table.c.id.in_(ids[start : start + _IN_CHUNK])).values(**values))
    for deposit in deposits:
        for key, value in values.items():
            set_committed_value(deposit, key, value)


def _close_finished_batches(session: Session, batch_ids: set[int], now: dt.datetime) -> None:
    for batch_id in sorted(batch_ids):
        if repository.count_minting_in_batch(session, batch_id) == 0:
            batch = repository.get_batch(session, batch_id, lock=True)
            if batch is not None and batch.status != MintBatchStatus.CLOSED:
                batch.status = MintBatchStatus.CLOSED
                batch.closed_at = now
    session.flush()


def claim_batch(
    session: Session, limit: int, *, now: dt.datetime | None = None, actor: str = "minter"
) -> list[Deposit]:
    """Move up to `limit` accepted deposits, oldest first, to `minting` in one new MintBatch.
    Returns them in id order (all share `mint_batch_id`); an empty list creates no batch."""
    return claim_covered(session, limit, None, now=now, actor=actor)[0]


def claim_covered(
    session: Session,
    limit: int,
    max_units: int | None,
    *,
    batch_id: int | None = None,
    now: dt.datetime | None = None,
    actor: str = "minter",
) -> tuple[list[Deposit], bool]:
    """`claim_batch` of the oldest accepted deposits whose on-chain amounts add up to at most
    `max_units` (None: no bound), a prefix of the queue. With `batch_id`, they join that batch
    (claimed, nothing recorded as sent yet) instead of a new one: a large batch can be claimed
    in several transactions. Returns (the claimed deposits, whether an accepted deposit was left
    for lack of units)."""
    if limit <= 0:
        raise ValueError("limit must be positive")
    now = now or utcnow()
    deposits = repository.lock_accepted(session, limit)
    short = False
    if max_units is not None:
        total = 0
        for n, deposit in enumerate(deposits):
            total += deposit.onchain_amount
            if total > max_units:
                deposits, short = deposits[:n], True
                break
    if not deposits:
        return [], short
    batch: MintBatch | None
    if batch_id is None:
        batch = MintBatch(
            status=MintBatchStatus.CLAIMED,
            deposit_seqs=json.dumps([d.id for d in deposits]),
            created_at=now,
        )
        session.add(batch)
    else:
        batch = repository.get_batch(session, batch_id, lock=True)
        if batch is None or batch.status != MintBatchStatus.CLAIMED:
            raise OutboxError(f"mint batch {batch_id} is not open for claims")
        batch.deposit_seqs = json.dumps(batch.seqs + [d.id for d in deposits])
    session.flush()
    _set_all(
        session,
        deposits,
        status=DepositStatus.MINTING,
        mint_batch_id=batch.id,
        minting_at=now,
        updated_at=now,
    )
    audit.record(
        session,
        "mint.batch_claimed",
        actor,
        {
            "batch_id": batch.id,
            "deposit_seqs": [d.id for d in deposits],
            "amount_cents": sum(d.amount_cents for d in deposits),
        },
        now=now,
    )
    for deposit in deposits:
        webhooks.enqueue_deposit_event(session, deposit, deposit_json, now=now)
    return deposits, short


def record_batch_sent(
    session: Session,
    batch_id: int,
    tx_hash: str,
    nonce: int,
    *,
    now: dt.datetime | None = None,
    actor: str = "minter",
) -> MintBatch:
    """Record the signed transaction of a batch; commit this before broadcasting it. May be
    called again for the same batch with a replacement transaction (same or new nonce)."""
    now = now or utcnow()
    tx_hash = _check_tx_hash(tx_hash)
    if isinstance(nonce, bool) or not isinstance(nonce, int) or nonce < 0:
        raise ValueError("nonce must be a non-negative int")
    batch = repository.get_batch(session, batch_id, lock=True)
    if batch is None:
        raise OutboxError(f"unknown mint batch {batch_id}")
    if batch.status == MintBatchStatus.CLOSED:
        raise OutboxError(f"mint batch {batch_id} is closed")
    previous = batch.tx_hash
    batch.tx_hash = tx_hash
    batch.nonce = nonce
    batch.status = MintBatchStatus.SENT
    batch.sent_at = now
    session.flush()
    audit.record(
        session,
        "mint.batch_sent",
        actor,
        {"batch_id": batch.id, "tx_hash": tx_hash, "nonce": nonce, "replaces": previous},
        now=now,
    )
    return batch


def mark_minted(
    session: Session,
    deposit_ids: Iterable[DepositRef],
    tx_hash: str,
    block_number: int,
    *,
    now: dt.datetime | None = None,
    actor: str = "minter",
) -> list[Deposit]:
    """Deposits (minting, or accepted when found on chain during reconciliation) -> minted.
    Commits their quota holds, audits, queues webhooks. Already minted by the same tx: no-op.
    Rejected, or minted by another tx: OutboxError."""
    now = now or utcnow()
    tx_hash = _check_tx_hash(tx_hash)
    if isinstance(block_number, bool) or not isinstance(block_number, int) or block_number < 0:
        raise ValueError("block_number must be a non-negative int")
    deposits = _load(session, deposit_ids)
    changing = []
    for deposit in deposits:
        if deposit.status == DepositStatus.MINTED:
            if deposit.tx_hash != tx_hash:
                raise OutboxError(f"deposit {deposit.id} already minted by {deposit.tx_hash}")
            continue
        if deposit.status not in (DepositStatus.MINTING, DepositStatus.ACCEPTED):
            raise OutboxError(f"deposit {deposit.id} is {deposit.status}, cannot be minted")
        changing.append(deposit)
    if not changing:
        return deposits
    quota.commit(session, changing, actor=actor, now=now)
    batch_ids = {d.mint_batch_id for d in changing if d.mint_batch_id is not None}
    _set_all(
        session,
        changing,
        status=DepositStatus.MINTED,
        tx_hash=tx_hash,
        block_number=block_number,
        minted_at=now,
        updated_at=now,
    )
    for deposit in changing:
        payload = deposit_payload(deposit)
        payload.update(tx_hash=tx_hash, block_number=block_number)
        audit.record(session, "deposit.minted", actor, payload, now=now)
        webhooks.enqueue_deposit_event(session, deposit, deposit_json, now=now)
    ledger.record_deposits_minted(session, changing, tx_hash, block_number, actor=actor, now=now)
    _close_finished_batches(session, batch_ids, now)
    return deposits


def requeue(
    session: Session,
    deposit_ids: Iterable[DepositRef],
    *,
    reason: str = "transaction did not land",
    now: dt.datetime | None = None,
    actor: str = "minter",
) -> list[Deposit]:
    """Deposits in `minting` whose transaction never landed -> back to `accepted` (they keep
    their quota hold and will be claimed again). Accepted ones are left as they are; minted or
    rejected ones raise OutboxError."""
    now = now or utcnow()
    deposits = _load(session, deposit_ids)
    changing = []
    for deposit in deposits:
        if deposit.status == DepositStatus.ACCEPTED:
            continue
        if deposit.status != DepositStatus.MINTING:
            raise OutboxError(f"deposit {deposit.id} is {deposit.status}, cannot be requeued")
        changing.append(deposit)
    batch_ids = {d.mint_batch_id for d in changing if d.mint_batch_id is not None}
    for deposit in changing:
        deposit.status = DepositStatus.ACCEPTED
        deposit.mint_batch_id = None
        deposit.updated_at = now
    session.flush()
    for deposit in changing:
        payload = deposit_payload(deposit)
        payload["reason"] = reason[:500]
        audit.record(session, "deposit.requeued", actor, payload, now=now)
        webhooks.enqueue_deposit_event(session, deposit, deposit_json, now=now)
    _close_finished_batches(session, batch_ids, now)
    return deposits


def mark_rejected(
    session: Session,
    deposit_ids: Iterable[DepositRef],
    code: str,
    reason: str,
    *,
    now: dt.datetime | None = None,
    actor: str = "minter",
) -> list[Deposit]:
    """Deposits (accepted or minting) that will never be minted -> rejected with `code` and
    `reason`; their quota holds and bank daily usage are released. Already rejected: no-op.
    Minted: OutboxError."""
    now = now or utcnow()
    if not code or len(code) > 64:
        raise ValueError("code must be 1-64 characters")
    deposits = _load(session, deposit_ids)
    changing = []
    for deposit in deposits:
        if deposit.status == DepositStatus.REJECTED:
            continue
        if deposit.status not in (DepositStatus.ACCEPTED, DepositStatus.MINTING):
            raise OutboxError(f"deposit {deposit.id} is {deposit.status}, cannot be rejected")
        changing.append(deposit)
    if not changing:
        return deposits
    quota.release(session, [d for d in changing if d.quota_period], actor=actor, now=now)
    daily = sorted(
        (d for d in changing if d.limit_day is not None),
        key=lambda d: (d.bank_id, d.limit_day, d.id),
    )
    for deposit in daily:
        assert deposit.limit_day is not None  # filtered above
        banks_repository.release_daily(session, deposit.bank_id, deposit.limit_day, deposit.amount_cents)
    batch_ids = {d.mint_batch_id for d in changing if d.mint_batch_id is not None}
    for deposit in changing:
        deposit.status = DepositStatus.REJECTED
        deposit.rejection_code = code
        deposit.reason = reason[:500]
        deposit.rejected_at = now
        deposit.updated_at = now
    session.flush()
    for deposit in changing:
        audit.record(session, "deposit.rejected", actor, deposit_payload(deposit), now=now)
        webhooks.enqueue_deposit_event(session, deposit, deposit_json, now=now)
    ledger.record_deposits_returned(session, changing, actor=actor, now=now)
    _close_finished_batches(session, batch_ids, now)
    return deposits


def in_flight_batches(session: Session) -> list[MintBatch]:
    """Batches not yet closed (claimed or sent), oldest first, for restart reconciliation.
    `batch.tx_hash` is None when the transaction was never recorded as sent (safe to requeue:
    nothing was broadcast); `batch_deposits(session, batch.id)` gives its deposits."""
    return repository.open_batches(session)


def batch_deposits(session: Session, batch_id: int) -> list[Deposit]:
    """The deposits currently attached to a batch (minting, or minted/rejected by it)."""
    return repository.batch_deposits(session, batch_id)
