"""Audit log queries: pending entries are appended, chained and locked at commit time.

`record()` only queues an entry on the session. A `before_commit` hook on every SQLAlchemy
Session writes the queued entries as the last statements of the transaction: it locks the
single `audit_head` row (FOR UPDATE; SQLite's write lock does the same there), chains the
entries after the head, and moves the head. Taking the audit lock last keeps the time it is
held short and gives every writer the same lock order (domain rows first, audit head last).
A rollback drops the queued entries with everything else.

The same hook appends each entry to the transparency log: its leaf (service/audit/leaves.py)
is stored on the entry, and the tree's new complete subtrees (service.merkle.Frontier) in
`audit_tree`, from the frontier kept on the head row; so the tree always has exactly the
entries the chain has, and the append reads nothing but the head it locks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.orm import Session

from service import merkle
from service.audit import leaves
from service.audit.models import GENESIS_HASH, AuditEntry, AuditHead, AuditTreeNode
from service.canonical import canonical_json
from service.db import Prepared, utcnow

PENDING_KEY = "ushk_audit_pending"
HEAD_ID = 1


def format_timestamp(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(prev_hash: str, seq: int, created_at: str, kind: str, actor: str, payload: Any) -> str:
    """SHA-256(bytes(prev_hash) || canonical({actor, created_at, kind, payload, seq})), hex."""
    return _entry_hash(prev_hash, seq, created_at, kind, actor, canonical_json(payload))


def _entry_hash(prev_hash: str, seq: int, created_at: str, kind: str, actor: str, payload_json: bytes) -> str:
    """`entry_hash` with the payload already in canonical JSON: the entry's canonical encoding
    is assembled around it (keys in sorted order) instead of encoding the payload again."""
    body = b"".join(
        (
            b'{"actor":',
            canonical_json(actor),
            b',"created_at":',
            canonical_json(created_at),
            b',"kind":',
            canonical_json(kind),
            b',"payload":',
            payload_json,
            b',"seq":',
            str(int(seq)).encode(),
            b"}",
        )
    )
    return hashlib.sha256(bytes.fromhex(prev_hash) + body).hexdigest()


def record(
    session: Session,
    kind: str,
    actor: str,
    payload: Mapping[str, Any],
    *,
    now: dt.datetime | None = None,
) -> None:
    """Queue an audit entry; it is written when `session` commits. `payload` must be
    canonicalizable (no floats) and must not hold raw identity numbers or secrets: it is
    encoded here (so a bad payload fails now, not at commit)."""
    fields = dict(payload)
    encoded = canonical_json(fields)
    leaf = leaves.prepare(kind, actor, fields)  # what the transparency log's leaf needs but seq and time
    session.connection()  # belong to a transaction, so that its rollback drops the entry
    session.info.setdefault(PENDING_KEY, []).append((kind, actor, encoded, leaf, now or utcnow()))


_HEAD = AuditHead.__table__
_ENTRIES = AuditEntry.__table__
_LOCK_HEAD = Prepared(
    select(_HEAD.c.seq, _HEAD.c.hash, _HEAD.c.frontier).where(_HEAD.c.id == HEAD_ID).with_for_update()
)
_MOVE_HEAD = Prepared(
    update(_HEAD)
    .where(_HEAD.c.id == HEAD_ID)
    .values(seq=bindparam("head_seq"), hash=bindparam("head_hash"), frontier=bindparam("head_frontier"))
)
_INSERT_ENTRIES = Prepared(insert(_ENTRIES))
_INSERT_NODES = Prepared(insert(AuditTreeNode.__table__))


def decode_frontier(size: int, text: str | None) -> merkle.Frontier:
    """The head row's frontier text as a `merkle.Frontier` for a tree of `size` leaves."""
    hashes, nodes = (text or "").split(), merkle.frontier_nodes(size)
    if len(hashes) != len(nodes):
        raise merkle.ProofError(f"the audit head's frontier has {len(hashes)} hashes, not {len(nodes)}")
    return merkle.Frontier(size, {node: bytes.fromhex(h) for node, h in zip(nodes, hashes, strict=True)})


def encode_frontier(frontier: merkle.Frontier) -> str:
    return " ".join(h.hex() for _, h in frontier.nodes())


def tree_rows(created: list[tuple[merkle.Node, bytes]]) -> list[dict]:
    return [{"level": level, "idx": index, "hash": h.hex()} for (level, index), h in created]


def pending_count(session: Session) -> int:
    """How many entries are queued on the session (a mark for `drop_pending_after`)."""
    return len(session.info.get(PENDING_KEY, ()))


def drop_pending_after(session: Session, mark: int) -> None:
    """Forget the entries queued after `mark` (their work was rolled back to a savepoint)."""
    pending = session.info.get(PENDING_KEY)
    if pending is not None:
        del pending[mark:]


def lock_head(session: Session) -> tuple[int, str, str]:
    seq, digest, frontier = _LOCK_HEAD.execute(session).fetchone()
    return seq, digest, frontier


def head(session: Session) -> tuple[int, str]:
    """(seq, hash) of the last entry; (0, 64 zeros) for an empty log."""
    row = session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == HEAD_ID)).one_or_none()
    return (row.seq, row.hash) if row else (0, GENESIS_HASH)


def head_with_frontier(session: Session) -> tuple[int, str]:
    """(seq, frontier text) of the head: the tree's size and its right edge."""
    row = session.execute(
        select(AuditHead.seq, AuditHead.frontier).where(AuditHead.id == HEAD_ID)
    ).one_or_none()
    return (row.seq, row.frontier or "") if row else (0, "")


def write_pending(session: Session) -> int:
    """Append the queued entries now (normally called by the before_commit hook)."""
    pending = session.info.pop(PENDING_KEY, None)
    if not pending:
        return 0
    seq, prev, frontier_text = lock_head(session)
    frontier = decode_frontier(seq, frontier_text)
    rows = []
    created: list[tuple[merkle.Node, bytes]] = []
    for kind, actor, payload_json, prepared, at in pending:
        seq += 1
        created_at = format_timestamp(at)
        digest = _entry_hash(prev, seq, created_at, kind, actor, payload_json)
        leaf = leaves.assemble(seq, created_at, kind, prepared)
        created.extend(frontier.append(merkle.leaf_hash(leaf)))
        rows.append(
            {
                "seq": seq,
                "created_at": created_at,
                "kind": kind,
                "actor": actor,
                "payload": payload_json.decode("utf-8"),
                "prev_hash": prev,
                "hash": digest,
                "leaf": leaf.decode("utf-8"),
                "salt": prepared.salt,
                "deposit_id": prepared.deposit_id,
            }
        )
        prev = digest
    _INSERT_ENTRIES.executemany(session, rows)
    _INSERT_NODES.executemany(session, tree_rows(created))
    _MOVE_HEAD.execute(
        session, {"head_seq": seq, "head_hash": prev, "head_frontier": encode_frontier(frontier)}
    )
    return len(rows)


def iter_entries(session: Session, chunk: int = 1000) -> Iterator[AuditEntry]:
    """All entries in seq order, read in keyset-paginated chunks."""
    last = None
    while True:
        query = select(AuditEntry).order_by(AuditEntry.seq).limit(chunk)
        if last is not None:
            query = query.where(AuditEntry.seq > last)
        rows = session.scalars(query).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        session.expunge_all()


def entries(session: Session, *, after: int = 0, limit: int = 100) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.seq > after).order_by(AuditEntry.seq).limit(limit)
    return list(session.scalars(query))


def parse_payload(entry: AuditEntry) -> Any:
    return json.loads(entry.payload)


@event.listens_for(Session, "before_commit")
def _write_pending_before_commit(session: Session) -> None:
    if session.info.get(PENDING_KEY):
        write_pending(session)


@event.listens_for(Session, "after_transaction_end")
def _drop_pending_after_end(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(PENDING_KEY, None)
