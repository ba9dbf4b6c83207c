"""Signed transparency snapshots, public (no login): the latest, one by id, and a claim's proof in
a snapshot's liabilities tree (docs/transparency.md, "Snapshots")."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from service.api.deps import ReadSessionDep
from service.errors import NotFound, error_responses
from service.snapshots import service as snapshots
from service.snapshots.models import TransparencySnapshot

router = APIRouter(prefix="/v1/transparency/snapshots", tags=["transparency"])


class NoSnapshot(NotFound):
    code = "no_snapshot"
    message = "No such snapshot (none has been taken yet, or not with this id)."


class NoClaim(NotFound):
    code = "no_claim"
    message = "The snapshot's liabilities hold no such claim."


class SnapshotOut(BaseModel):
    id: int
    block: int
    snapshot: dict = Field(description="The snapshot's content (the signed bytes, decoded).")
    signed_bytes: str = Field(description="base64 of the exact canonical JSON that was signed.")
    signature: str = Field(description="base64 of the Ed25519 signature of signed_bytes by the log key.")
    key_id: str
    public_key: str = Field(description="base64 of the log key's raw 32-byte public key.")


class SumNodeOut(BaseModel):
    hash: str = Field(description="hex SHA-256")
    sum: str = Field(description="cents, a decimal string")


class ClaimProofOut(BaseModel):
    snapshot_id: int
    index: int
    size: int
    data: str = Field(description="The leaf's data: canonical JSON of the claim (amount, kind, reference).")
    amount_cents: str
    path: list[SumNodeOut] = Field(description="Siblings from the leaf up (service/merkle_sum.py).")
    root: SumNodeOut


def _out(row: TransparencySnapshot) -> SnapshotOut:
    return SnapshotOut(
        id=row.id,
        block=row.block_number,
        snapshot=json.loads(row.body),
        signed_bytes=base64.b64encode(row.body.encode("utf-8")).decode(),
        signature=base64.b64encode(bytes.fromhex(row.signature)).decode(),
        key_id=row.key_id,
        public_key=base64.b64encode(bytes.fromhex(row.public_key)).decode(),
    )


def _found(row: TransparencySnapshot | None) -> TransparencySnapshot:
    if row is None:
        raise NoSnapshot()
    return row


SnapshotId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get(
    "/latest",
    response_model=SnapshotOut,
    summary="The latest signed snapshot",
    responses=error_responses(NoSnapshot),
)
def get_latest(session: ReadSessionDep) -> SnapshotOut:
    return _out(_found(snapshots.latest(session)))


@router.get(
    "/{snapshot_id}",
    response_model=SnapshotOut,
    summary="A signed snapshot",
    responses=error_responses(NoSnapshot),
)
def get_snapshot(snapshot_id: SnapshotId, session: ReadSessionDep) -> SnapshotOut:
    return _out(_found(session.get(TransparencySnapshot, snapshot_id)))


@router.get(
    "/{snapshot_id}/claims",
    response_model=ClaimProofOut,
    summary="The proof of one claim (a pending payout by redemption id, a refund by deposit seq) in the snapshot's liabilities",
    responses=error_responses(NoSnapshot, NoClaim),
)
def get_claim_proof(
    snapshot_id: SnapshotId,
    session: ReadSessionDep,
    kind: Annotated[Literal["payout", "refund"], Query()],
    reference: Annotated[str, Query(pattern=r"^[0-9]{1,19}$")],
) -> ClaimProofOut:
    _found(session.get(TransparencySnapshot, snapshot_id))
    proof = snapshots.claim_proof(session, snapshot_id, kind, str(int(reference)))
    if proof is None:
        raise NoClaim(f"snapshot {snapshot_id} holds no {kind} claim {reference}")
    return ClaimProofOut(snapshot_id=snapshot_id, **proof)
