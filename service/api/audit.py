"""Audit endpoints: the public head (for attestation) and operator verification."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from service import audit
from service.api.deps import CurrentOperatorRead, ReadSessionDep
from service.banks.service import OperatorRequired
from service.errors import error_responses

router = APIRouter(prefix="/v1/audit", tags=["audit"])


class AuditHeadOut(BaseModel):
    seq: int
    hash: str


class AuditVerifyOut(BaseModel):
    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None
    problem: str | None


@router.get("/head", response_model=AuditHeadOut, summary="Last audit entry's seq and hash")
def get_head(session: ReadSessionDep) -> AuditHeadOut:
    seq, digest = audit.head(session)
    return AuditHeadOut(seq=seq, hash=digest)


@router.post(
    "/verify",
    response_model=AuditVerifyOut,
    summary="Verify the whole chain (operators)",
    responses=error_responses(OperatorRequired),
)
def verify_chain(operator: CurrentOperatorRead, session: ReadSessionDep) -> AuditVerifyOut:
    result = audit.verify(session)
    return AuditVerifyOut(**result.__dict__)
