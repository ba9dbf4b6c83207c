"""The append-only, hash-chained audit log, its head, and its transparency log (RFC 9162 tree).

Every entry is also a leaf of a Merkle tree (service/audit/leaves.py, service/merkle.py): leaf
index = seq - 1, so the tree's size is the head's seq. The tree's complete subtrees are stored
as the log grows (`AuditTreeNode`), and the head row keeps the right-edge subtrees an append
combines with (`frontier`), so an append reads nothing but the head it already locks."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base

GENESIS_HASH = "0" * 64


class AuditEntry(Base):
    """hash = SHA-256(bytes(prev_hash) || canonical({seq, created_at, kind, actor, payload}))."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # Kept as the exact ISO-8601 text that was hashed ("2025-01-01T00:00:00.000000Z").
    created_at: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[str] = mapped_column(String(128))
    payload: Mapped[str] = mapped_column(Text)  # canonical JSON
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # The transparency log's leaf: the canonical JSON of the public view (service/audit/leaves.py)
    # and the 32-byte salt (hex) of its commitment to the private part. The salt is never public.
    leaf: Mapped[str] = mapped_column(Text)
    salt: Mapped[str] = mapped_column(String(64))
    # The leaf's public `deposit_id`, if any (lowercase 0x-hex): GET /v1/transparency/lookup's index.
    deposit_id: Mapped[str | None] = mapped_column(String(66), index=True, nullable=True)


class AuditHead(Base):
    """The single row (id = 1) holding the last seq and hash. Appenders lock it FOR UPDATE."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    # Hashes (hex, space-separated) of service.merkle.frontier_nodes(seq), largest first.
    frontier: Mapped[str] = mapped_column(Text, default="", server_default="")


class AuditTreeNode(Base):
    """A complete subtree of the transparency log: the 2**level leaves from index * 2**level."""

    __tablename__ = "audit_tree"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))


class SignedTreeHead(Base):
    """A signed tree head (service/audit/heads.py) and where it was anchored on chain."""

    __tablename__ = "audit_tree_heads"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    root: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(64))
    public_key: Mapped[str] = mapped_column(String(64))  # hex raw Ed25519 public key
    signature: Mapped[str] = mapped_column(String(128))  # hex Ed25519 signature
    anchor_tx: Mapped[str | None] = mapped_column(String(66), nullable=True)
    anchor_block: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
