"""The transparency log's public endpoints (no login), shaped after RFC 6962 section 4.

Hashes, signatures and leaf bytes are standard base64, as there. Leaf index = seq - 1.
docs/transparency.md describes each answer and has a worked example.
"""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from service.api.deps import ReadSessionDep, StateDep
from service.audit import heads, leaves, tree
from service.audit.models import AuditEntry, SignedTreeHead
from service.errors import NotFound, ServiceError, error_responses

router = APIRouter(prefix="/v1/transparency", tags=["transparency"])

MAX_ENTRIES = 1000
# Sizes and seqs fit PostgreSQL's BIGINT.
MAX_INDEX = 2**63 - 1


class NoSignedHead(NotFound):
    code = "no_signed_head"
    message = (
        "The log has no signed tree head yet (its publisher signs one within seconds of the first entry)."
    )


class BeyondLog(ServiceError):
    """A tree size or range past the log's current size."""

    status_code = 400
    code = "beyond_log"
    message = "The log is not that large yet."


class BadRange(ServiceError):
    """first > second, start > end, or a seq outside the tree it is asked about."""

    status_code = 400
    code = "bad_range"
    message = "The range is empty or reversed."


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class SignedTreeHeadOut(BaseModel):
    tree_size: int
    timestamp: int = Field(description="Milliseconds since the Unix epoch (RFC 6962).")
    sha256_root_hash: str = Field(description="base64 of the 32-byte RFC 9162 root.")
    tree_head_signature: str = Field(
        description="base64 of the 64-byte Ed25519 signature of RFC 6962's TreeHeadSignature bytes."
    )
    key_id: str = Field(description="hex SHA-256 of the log key's raw 32-byte Ed25519 public key.")
    public_key: str = Field(description="base64 of that raw public key (GET /v1/transparency/key).")
    anchor_tx: str | None = Field(description="The transaction that anchored this head on chain, if any.")
    anchor_block: int | None


class ConsistencyOut(BaseModel):
    consistency: list[str]


class ProofOut(BaseModel):
    leaf_index: int
    audit_path: list[str]


class EntryOut(BaseModel):
    seq: int
    leaf_index: int
    leaf_input: str = Field(description="base64 of the leaf's exact bytes (canonical JSON).")
    entry: dict = Field(description="The leaf decoded: the entry's public view.")


class EntriesOut(BaseModel):
    entries: list[EntryOut]


class HeadsOut(BaseModel):
    heads: list[SignedTreeHeadOut]


class LogKeyOut(BaseModel):
    key_id: str
    public_key: str = Field(description="base64 of the raw 32-byte Ed25519 public key.")
    algorithm: str = "Ed25519"
    token_address: str | None = Field(
        default=None,
        description="The token contract the heads are anchored on (auditLogAnchor), if configured.",
    )


class LookupOut(BaseModel):
    deposit_id: str
    seqs: list[int] = Field(
        description="Seqs of the entries whose public view has this deposit_id, in order."
    )


def head_out(head: SignedTreeHead) -> SignedTreeHeadOut:
    return SignedTreeHeadOut(
        tree_size=head.tree_size,
        timestamp=head.timestamp_ms,
        sha256_root_hash=b64(bytes.fromhex(head.root)),
        tree_head_signature=b64(bytes.fromhex(head.signature)),
        key_id=head.key_id,
        public_key=b64(bytes.fromhex(head.public_key)),
        anchor_tx=head.anchor_tx,
        anchor_block=head.anchor_block,
    )


Size = Annotated[int, Query(ge=0, le=MAX_INDEX)]


def _latest(session: ReadSessionDep) -> SignedTreeHead:
    head = heads.latest(session)
    if head is None:
        raise NoSignedHead()
    return head


def _within_log(session: ReadSessionDep, size: int) -> None:
    current = tree.size(session)
    if size > current:
        raise BeyondLog(f"tree_size {size} is beyond the log's size {current}")


@router.get(
    "/sth",
    response_model=SignedTreeHeadOut,
    summary="The latest signed tree head",
    responses=error_responses(NoSignedHead),
)
def get_sth(session: ReadSessionDep) -> SignedTreeHeadOut:
    return head_out(_latest(session))


@router.get(
    "/sth/consistency",
    response_model=ConsistencyOut,
    summary="Consistency proof between the trees of sizes first and second (RFC 9162 2.1.4)",
    responses=error_responses(BeyondLog, BadRange),
)
def get_consistency(session: ReadSessionDep, first: Size, second: Size) -> ConsistencyOut:
    if first > second:
        raise BadRange(f"first ({first}) is greater than second ({second})")
    _within_log(session, second)
    return ConsistencyOut(consistency=[b64(h) for h in tree.consistency(session, first, second)])


@router.get(
    "/proof",
    response_model=ProofOut,
    summary="Inclusion proof of the entry with this seq in the tree of tree_size (RFC 9162 2.1.3)",
    responses=error_responses(BeyondLog, BadRange),
)
def get_proof(
    session: ReadSessionDep,
    seq: Annotated[int, Query(ge=1, le=MAX_INDEX)],
    tree_size: Annotated[int, Query(ge=1, le=MAX_INDEX)],
) -> ProofOut:
    _within_log(session, tree_size)
    if seq > tree_size:
        raise BadRange(f"seq {seq} is not in the tree of size {tree_size}")
    return ProofOut(leaf_index=seq - 1, audit_path=[b64(h) for h in tree.inclusion(session, seq, tree_size)])


@router.get(
    "/entries",
    response_model=EntriesOut,
    summary=f"Entries with seq from start to end inclusive (at most {MAX_ENTRIES}; fewer past the log's end)",
    responses=error_responses(BeyondLog, BadRange),
)
def get_entries(
    session: ReadSessionDep,
    start: Annotated[int, Query(ge=1, le=MAX_INDEX)],
    end: Annotated[int, Query(ge=1, le=MAX_INDEX)],
) -> EntriesOut:
    if start > end:
        raise BadRange(f"start ({start}) is greater than end ({end})")
    current = tree.size(session)
    if start > current:
        raise BeyondLog(f"start {start} is beyond the log's size {current}")
    last = min(end, current, start + MAX_ENTRIES - 1)
    rows = session.execute(
        AuditEntry.__table__.select()
        .with_only_columns(AuditEntry.seq, AuditEntry.leaf)
        .where(AuditEntry.seq.between(start, last))
        .order_by(AuditEntry.seq)
    )
    return EntriesOut(
        entries=[
            EntryOut(
                seq=seq,
                leaf_index=seq - 1,
                leaf_input=b64(leaf.encode("utf-8")),
                entry=leaves.public_view(leaf),
            )
            for seq, leaf in rows
        ]
    )


@router.get("/heads", response_model=HeadsOut, summary="Signed tree heads from a size on (at most 1,000)")
def get_heads(session: ReadSessionDep, after: Size = 0) -> HeadsOut:
    return HeadsOut(heads=[head_out(h) for h in heads.after(session, after, limit=MAX_ENTRIES)])


@router.get(
    "/key",
    response_model=LogKeyOut,
    summary="The log key that signed the latest tree head",
    responses=error_responses(NoSignedHead),
)
def get_key(session: ReadSessionDep, state: StateDep) -> LogKeyOut:
    head = _latest(session)
    return LogKeyOut(
        key_id=head.key_id,
        public_key=b64(bytes.fromhex(head.public_key)),
        token_address=state.settings.resolved_token_address(),
    )


DepositId = Annotated[str, Query(pattern=r"^0x[0-9a-fA-F]{64}$", description="0x and 64 hex digits.")]


@router.get(
    "/lookup",
    response_model=LookupOut,
    summary=f"Seqs of the entries about a deposit id (at most {MAX_ENTRIES})",
)
def get_lookup(session: ReadSessionDep, deposit_id: DepositId) -> LookupOut:
    """The entries whose public view names `deposit_id` (the indexed `audit_log.deposit_id`,
    filled when an entry is recorded)."""
    wanted = deposit_id.lower()
    seqs = session.scalars(
        select(AuditEntry.seq)
        .where(AuditEntry.deposit_id == wanted)
        .order_by(AuditEntry.seq)
        .limit(MAX_ENTRIES)
    ).all()
    return LookupOut(deposit_id=wanted, seqs=list(seqs))
