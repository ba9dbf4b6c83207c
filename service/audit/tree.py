"""The transparency log's tree as stored: roots and proofs read from `audit_tree`, and its check.

Leaf index = seq - 1; the tree's size is the audit head's seq. A proof for any size up to the
current one is assembled from the stored complete subtrees (`service.merkle`): the nodes it needs
are listed first (`merkle.needed_nodes`) and read in one query, so a proof costs one query of a
few dozen rows whatever the log's size (bench/transparency.py measures it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.orm import Session

from service import merkle
from service.audit import leaves
from service.audit.models import AuditEntry
from service.audit.repository import HEAD_ID, decode_frontier, head_with_frontier, iter_entries, parse_payload

T = TypeVar("T")
# Bound parameters per statement (SQLite allows 32,766).
_FETCH_CHUNK = 10_000


def fetch_nodes(session: Session, wanted: Iterable[merkle.Node]) -> dict[merkle.Node, bytes]:
    """The stored hashes of `wanted` nodes (those the tree has): one statement of one
    `level = L AND idx IN (...)` term per level, each a range of the primary key's index (a
    row-value IN list is not, on SQLite). Written as driver SQL: building it as an expression
    cost more than running it."""
    by_level: dict[int, list[int]] = {}
    for level, index in set(wanted):
        by_level.setdefault(level, []).append(index)
    connection = session.connection()
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    found: dict[merkle.Node, bytes] = {}
    terms: list[str] = []
    params: list[int] = []

    def flush() -> None:
        if terms:
            sql = "SELECT level, idx, hash FROM audit_tree WHERE " + " OR ".join(terms)
            rows = connection.exec_driver_sql(sql, tuple(params))
            found.update({(level, idx): bytes.fromhex(h) for level, idx, h in rows})
            terms.clear()
            params.clear()

    for level, indexes in sorted(by_level.items()):
        for start in range(0, len(indexes), _FETCH_CHUNK):
            chunk = indexes[start : start + _FETCH_CHUNK]
            if len(params) + len(chunk) + 1 > _FETCH_CHUNK:
                flush()
            terms.append(f"(level = {mark} AND idx IN ({', '.join([mark] * len(chunk))}))")
            params.extend((level, *chunk))
    flush()
    return found


def compute(session: Session, computation: Callable[[merkle.NodeSource], T]) -> T:
    """`computation(source)` over the stored nodes, read in one query."""
    return computation(merkle.from_mapping(fetch_nodes(session, merkle.needed_nodes(computation))))


def size(session: Session) -> int:
    """The tree's size: the audit head's seq."""
    return int(session.connection().exec_driver_sql(_SIZE).scalar_one())


_SIZE = f"SELECT seq FROM audit_head WHERE id = {HEAD_ID}"


def check_size(session: Session, tree_size: int) -> int:
    """`tree_size` if the log has reached it, else ProofError."""
    current = size(session)
    if not 0 <= tree_size <= current:
        raise merkle.ProofError(f"tree_size {tree_size} is beyond the log's size {current}")
    return tree_size


def root(session: Session, tree_size: int) -> bytes:
    check_size(session, tree_size)
    return compute(session, lambda source: merkle.root(source, tree_size))


def inclusion(session: Session, seq: int, tree_size: int) -> list[bytes]:
    """The audit path of the entry with `seq` (leaf index seq - 1) in the tree of `tree_size`."""
    check_size(session, tree_size)
    if not 1 <= seq <= tree_size:
        raise merkle.ProofError(f"seq {seq} is not in the tree of size {tree_size}")
    return compute(session, lambda source: merkle.inclusion_path(source, seq - 1, tree_size))


def consistency(session: Session, first: int, second: int) -> list[bytes]:
    check_size(session, second)
    return compute(session, lambda source: merkle.consistency_proof(source, first, second))


@dataclass(frozen=True)
class TreeCheck:
    ok: bool
    checked: int
    tree_size: int
    root: str
    first_bad_seq: int | None = None
    problem: str | None = None


def verify(
    session: Session, *, progress: Callable[[int], None] | None = None, chunk: int = 1000
) -> TreeCheck:
    """Rebuild the tree from the entries and hold it against what is stored: each entry's leaf
    equals the leaf its fields and salt give, every stored node equals the rebuilt one, and the
    head's frontier equals the rebuilt frontier. `progress(n)` is called after each chunk."""
    tree_size, frontier_text = head_with_frontier(session)
    frontier = merkle.Frontier(0, {})
    checked = 0
    batch: list[tuple[merkle.Node, bytes, int]] = []

    def bad(seq: int, problem: str) -> TreeCheck:
        return TreeCheck(False, checked, tree_size, "", seq, problem)

    def compare(batch: list[tuple[merkle.Node, bytes, int]]) -> TreeCheck | None:
        stored = fetch_nodes(session, [node for node, _, _ in batch])
        for node, expected, seq in batch:
            if stored.get(node) != expected:
                return bad(seq, f"tree node {node} does not match the entries")
        return None

    entry: AuditEntry
    for entry in iter_entries(session, chunk):
        expected = leaves.leaf_bytes(
            entry.seq, entry.created_at, entry.kind, entry.actor, parse_payload(entry), entry.salt
        )
        if entry.leaf.encode("utf-8") != expected:
            return bad(entry.seq, "the leaf does not match the entry")
        batch.extend((node, h, entry.seq) for node, h in frontier.append(merkle.leaf_hash(expected)))
        checked += 1
        if len(batch) >= chunk:
            failed = compare(batch)
            if failed is not None:
                return failed
            batch = []
            if progress is not None:
                progress(checked)
    failed = compare(batch)
    if failed is not None:
        return failed
    if progress is not None:
        progress(checked)
    if checked != tree_size:
        return bad(checked + 1, f"the tree has {checked} leaves, the head says {tree_size}")
    try:
        stored_frontier = decode_frontier(tree_size, frontier_text).nodes()
    except (merkle.ProofError, ValueError) as exc:
        return bad(tree_size, str(exc))
    if stored_frontier != frontier.nodes():
        return bad(tree_size, "the head's frontier does not match the entries")
    return TreeCheck(True, checked, tree_size, frontier.root().hex())
