"""Reserve endpoints: the public summary and reports (no login), and the operator's halt/resume."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from service import runtime
from service.api.deps import CurrentOperator, CurrentOperatorRead, OperatorBody, ReadSessionDep, StateDep
from service.banks.service import OperatorRequired, OperatorRoleRequired
from service.chain.token import ChainError
from service.errors import ServiceError, error_responses
from service.reserves import service as reserves
from service.reserves.resume import (
    AcknowledgementMismatch,
    ChainRequired,
    DiscrepancyRemains,
    PauserRequired,
    resume_minting,
)
from service.reserves.summary import summary as public_summary

router = APIRouter(prefix="/v1/reserves", tags=["reserves"])
operator_router = APIRouter(prefix="/v1/operator", tags=["operator"])


class CustodyOut(BaseModel):
    bank: str
    amount: str
    statement_as_of: str | None = Field(
        None, description="The time of the bank's latest custody statement (null: none yet)."
    )
    statement_balance: str | None = Field(None, description="That statement's balance (null: none yet).")
    statement_stale: bool = Field(
        True,
        description=(
            "No statement, or the latest is older than the policy's `custody.statement_max_age_hours`: "
            "with statements required, this bank's custody counts for nothing in the attested reserve."
        ),
    )
    failed: bool = Field(
        False,
        description=(
            "The operators marked this bank failed as a custodian: its custody counts for nothing "
            "in the attested reserve and it takes no deposits."
        ),
    )


class AttestationOut(BaseModel):
    amount: str
    timestamp: int
    time: str | None
    report_hash: str
    audit_head: str
    report_url: str


class ReservesOut(BaseModel):
    currency: str
    total_reserves: str = Field(description="US dollars held at the banks for USHK (the ledger's custody).")
    custody: list[CustodyOut]
    tokens_outstanding: str
    pending_mint: str
    pending_payouts: str
    refunds_due: str
    wiped: str
    supply: str | None = Field(
        description="totalSupply on chain in dollars; null if the chain is unreachable."
    )
    supply_units: str | None
    ratio: str | None = Field(description="total_reserves / supply, 4 decimals.")
    last_attestation: AttestationOut | None
    minting_halted: bool
    acknowledged_difference_units: str = Field(
        description=(
            "Supply differences (token units) that operators acknowledged when resuming minting "
            "after a halt: the reconciler adds them to what the ledger explains. 0 in a sound "
            "ledger; `ushk reserves summary` lists each with its cause."
        )
    )
    paused: bool | None = Field(description="The token's global pause (null: chain not read).")
    minting_paused: bool | None
    redemptions_paused: bool | None
    as_of: str | None = Field(
        description=(
            "When the chain figures (supply, attestation, paused flags) were read: the service "
            "reads them in the background every USHK_PUBLIC_CACHE_SECONDS, never per request. "
            "null: never read (or no chain configured). The ledger figures are read per request."
        )
    )
    as_of_block: int | None = Field(description="The block the chain figures were read at.")
    cache_age_ms: int | None = Field(description="Milliseconds since that read.")
    stale: bool = Field(
        description=(
            "True when the last successful read is older than USHK_PUBLIC_CACHE_STALE_SECONDS "
            "(the node is not answering): the chain figures are those of `as_of`."
        )
    )


def cached_chain(state: StateDep) -> tuple[dict | None, dict]:
    """(the cached chain view, the cache fields of a public answer): no JSON-RPC call."""
    cached = state.chain_cache.snapshot()
    return cached.view, cached.fields()


@router.get("", response_model=ReservesOut, summary="Public reserve summary (no login)")
def get_reserves(state: StateDep, session: ReadSessionDep) -> ReservesOut:
    view, cache_fields = cached_chain(state)
    flags = {k: None if view is None else view[k] for k in ("paused", "minting_paused", "redemptions_paused")}
    summary = public_summary(session, view, state.policy.custody)
    return ReservesOut(**summary, **flags, **cache_fields)


@router.get(
    "/reports/{report_hash}",
    summary="A stored reserve report, as attested (canonical JSON; SHA-256 = the hash)",
    responses={200: {"content": {"application/json": {}}}, **error_responses(reserves.ReportNotFound)},
)
def get_report(report_hash: str, session: ReadSessionDep) -> Response:
    row = reserves.get_report(session, report_hash)
    return Response(content=row.body.encode("utf-8"), media_type="application/json")


class ResumeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cause: str = Field(min_length=1, max_length=500)
    acknowledge_units: str | None = Field(
        default=None,
        pattern=r"^-?[0-9]{1,30}$",
        description=(
            "The supply difference (token units, 10^-6 USD, as a decimal string; negative when "
            "the supply is below what the ledger explains) that the operator accepts, exactly as "
            "the fresh reconciliation measures it. Leave it out when no difference remains."
        ),
    )


@operator_router.get(
    "/minting/halt",
    summary="The active minting halt, if any (operators)",
    responses=error_responses(OperatorRequired),
)
def get_halt(operator: CurrentOperatorRead, session: ReadSessionDep) -> dict:
    return {"halt": reserves.halt_out(reserves.active_halt(session))}


class ChainUnavailable(ServiceError):
    status_code = 502
    code = "chain_unavailable"
    message = "The chain could not be reached or refused the transaction; nothing was changed."


@operator_router.post(
    "/minting/resume",
    summary="Lift the reconciler's minting halt, with a cause, after a fresh reconciliation (operators)",
    responses=error_responses(
        OperatorRequired,
        OperatorRoleRequired,
        reserves.NotHalted,
        reserves.CauseRequired,
        reserves.CustodianStillFailed,
        PauserRequired,
        ChainRequired,
        DiscrepancyRemains,
        AcknowledgementMismatch,
        ChainUnavailable,
    ),
)
def resume(
    body: OperatorBody[ResumeIn], operator: CurrentOperator, state: StateDep, response: Response
) -> dict:
    """Runs a fresh reconciliation first. No difference left: the halt is closed with nothing
    acknowledged. Only a supply difference left: `acknowledge_units` must equal it, and it is
    recorded with the cause (409 `acknowledgement_mismatch` says the amount otherwise). Any other
    finding: 409 `discrepancy_remains`. Unpauses minting on chain when the service paused it
    for this halt (needs USHK_PAUSER_PRIVATE_KEY), then records the resume in the audit log.

    With the policy's `four_eyes.minting_resume` on, nothing is resumed yet: the answer is 202
    with `{"approval": ...}`, a request that another operator (role `approver`) approves at
    `POST /v1/operator/approvals/{id}/approve`, which performs the resume as described."""
    acknowledge = None if body.acknowledge_units is None else int(body.acknowledge_units)
    if state.policy.four_eyes.minting_resume:
        from service.approvals import service as four_eyes
        from service.banks.approvals import approval_out

        with state.db.transaction() as session:
            row = four_eyes.request_resume(
                session,
                operator,
                cause=body.cause,
                acknowledge_units=acknowledge,
                policy=state.policy,
                now=state.clock(),
            )
        response.status_code = 202
        return {"approval": approval_out(row)}
    return {"halt": reserves.halt_out(run_resume(state, body.cause, operator.name, acknowledge))}


def run_resume(state: StateDep, cause: str, operator_name: str, acknowledge: int | None) -> Any:
    """`resume_minting` as `operator_name`, with the reconciler the settings configure; chain
    failures are `ChainUnavailable`."""
    try:
        row = resume_minting(
            state.db,
            cause=cause,
            actor=f"operator:{operator_name}",
            reconciler=build_reconciler(state),
            acknowledge_units=acknowledge,
        )
    except (ChainError, RuntimeError, OSError) as exc:
        if isinstance(exc, ServiceError):
            raise
        raise ChainUnavailable(f"{ChainUnavailable.message} ({type(exc).__name__})") from None
    return row


def build_reconciler(state: StateDep) -> Any:
    try:
        return runtime.build_reconciler(state.settings, state.db)
    except runtime.ChainNotConfigured:
        return None
