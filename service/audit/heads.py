"""Signed tree heads of the transparency log: signed with the log key, stored, anchored on chain.

A head is (tree_size, timestamp in ms, root): signed with Ed25519 over RFC 6962's
TreeHeadSignature bytes (`service.merkle.tree_head_bytes`) by the key of USHK_LOG_SIGNING_KEY,
published with that key's id (hex SHA-256 of the raw public key) and public key. `sign` stores a
new head when the log has grown since the last one; every stored head stays, so anyone can ask
for a consistency proof between any two of them. `mark_anchored` records the transaction that
put a head's size and root on chain (service/reserves/anchor.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service import merkle
from service.audit.models import SignedTreeHead
from service.audit.repository import decode_frontier, head_with_frontier


@dataclass(frozen=True)
class LogKey:
    private: Ed25519PrivateKey

    @classmethod
    def from_hex(cls, seed_hex: str) -> LogKey:
        return cls(Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed_hex.removeprefix("0x"))))

    @property
    def public_bytes(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def key_id(self) -> str:
        return merkle.key_id(self.public_bytes)

    def sign(self, timestamp_ms: int, tree_size: int, root_hash: bytes) -> bytes:
        return self.private.sign(merkle.tree_head_bytes(timestamp_ms, tree_size, root_hash))


def latest(session: Session) -> SignedTreeHead | None:
    return session.scalars(select(SignedTreeHead).order_by(SignedTreeHead.tree_size.desc()).limit(1)).first()


def at_size(session: Session, tree_size: int) -> SignedTreeHead | None:
    return session.get(SignedTreeHead, tree_size)


def sign(session: Session, key: LogKey, *, now: dt.datetime) -> SignedTreeHead | None:
    """Sign and store a head of the log as it is now if it has grown since the last head;
    None when there is nothing new to sign. Timestamps never go back (a clock set back signs
    with the last head's time)."""
    size, frontier = head_with_frontier(session)
    last = latest(session)
    if last is not None and last.tree_size >= size:
        return None
    timestamp_ms = max(int(now.timestamp() * 1000), last.timestamp_ms if last is not None else 0)
    root_hash = decode_frontier(size, frontier).root()  # the head row's right edge gives the root
    head = SignedTreeHead(
        tree_size=size,
        timestamp_ms=timestamp_ms,
        root=root_hash.hex(),
        key_id=key.key_id,
        public_key=key.public_bytes.hex(),
        signature=key.sign(timestamp_ms, size, root_hash).hex(),
    )
    session.add(head)
    session.flush()
    return head


def after(session: Session, tree_size: int, *, limit: int) -> list[SignedTreeHead]:
    """The heads of sizes above `tree_size`, smallest first."""
    query = (
        select(SignedTreeHead)
        .where(SignedTreeHead.tree_size > tree_size)
        .order_by(SignedTreeHead.tree_size)
        .limit(limit)
    )
    return list(session.scalars(query))


def mark_anchored(session: Session, tree_size: int, *, tx_hash: str, block_number: int) -> None:
    session.execute(
        update(SignedTreeHead)
        .where(SignedTreeHead.tree_size == tree_size)
        .values(anchor_tx=tx_hash, anchor_block=block_number)
    )


def last_anchored(session: Session) -> SignedTreeHead | None:
    query = (
        select(SignedTreeHead)
        .where(SignedTreeHead.anchor_tx.is_not(None))
        .order_by(SignedTreeHead.tree_size.desc())
        .limit(1)
    )
    return session.scalars(query).first()
