"""Supervisors read the Travel Rule data of a deposit or payout; every read is audited."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel

from service.api.deps import MAX_ID, CurrentOperatorRead, SessionDep, StateDep
from service.banks.models import Operator
from service.banks.service import OperatorRequired, OperatorRoleRequired, require_role
from service.deposits.ids import deposit_id_hex, seq_for_deposit_id
from service.errors import error_responses
from service.travel_rule import service as travel_rule

router = APIRouter(prefix="/v1/operator", tags=["operator"])

_ERRORS = (
    OperatorRequired,
    OperatorRoleRequired,
    travel_rule.TravelRuleNotFound,
    travel_rule.TravelRuleKeyMissing,
)


class TravelRuleOut(BaseModel):
    subject: str
    deposit_id: str | None = None
    deposit_seq: int | None = None
    payout_id: int | None = None
    key_id: str
    recorded_at: dt.datetime
    cdd: dict[str, str] | None
    originator: dict[str, str] | None = None
    beneficiary: dict[str, str] | None = None


def _read(state: Any, session: Any, operator: Operator, subject: str, subject_id: int) -> tuple[Any, dict]:
    require_role(operator, "supervisor")
    return travel_rule.read_for_supervisor(
        session,
        state.settings,
        subject=subject,
        subject_id=subject_id,
        actor=f"operator:{operator.name}",
        now=state.clock(),
    )


@router.get(
    "/deposits/{deposit}/travel-rule",
    response_model=TravelRuleOut,
    summary="The CDD confirmation and originator (IVMS101) of a deposit: supervisors only",
    responses=error_responses(*_ERRORS),
)
def deposit_travel_rule(
    deposit: Annotated[str, Path(max_length=66, description="The deposit id (0x + 64 hex) or its seq.")],
    operator: CurrentOperatorRead,
    session: SessionDep,
    state: StateDep,
) -> TravelRuleOut:
    """Decrypts the record; the read is an audit entry `travel_rule.read` (who, which deposit,
    never the data)."""
    try:
        seq = int(deposit) if deposit.isdigit() else seq_for_deposit_id(deposit)
    except ValueError:
        raise travel_rule.TravelRuleNotFound() from None
    if not 0 < seq <= MAX_ID:
        raise travel_rule.TravelRuleNotFound()
    record, data = _read(state, session, operator, travel_rule.DEPOSIT, seq)
    session.commit()
    return TravelRuleOut(
        subject=travel_rule.DEPOSIT,
        deposit_id=deposit_id_hex(seq),
        deposit_seq=seq,
        key_id=record.key_id,
        recorded_at=record.created_at,
        cdd=data.get("cdd"),
        originator=data.get("originator"),
    )


@router.get(
    "/payouts/{payout_id}/travel-rule",
    response_model=TravelRuleOut,
    summary="The CDD confirmation and beneficiary (IVMS101) of a payout: supervisors only",
    responses=error_responses(*_ERRORS),
)
def payout_travel_rule(
    payout_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    operator: CurrentOperatorRead,
    session: SessionDep,
    state: StateDep,
) -> TravelRuleOut:
    """As for a deposit; the audit entry names the payout."""
    record, data = _read(state, session, operator, travel_rule.PAYOUT, payout_id)
    session.commit()
    return TravelRuleOut(
        subject=travel_rule.PAYOUT,
        payout_id=payout_id,
        key_id=record.key_id,
        recorded_at=record.created_at,
        cdd=data.get("cdd"),
        beneficiary=data.get("beneficiary"),
    )
