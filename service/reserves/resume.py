"""Resuming minting after a halt: an operator lifts it with a cause, after a fresh reconciliation
(what it still measures must be fixed or, for a supply difference, acknowledged exactly)."""

from __future__ import annotations

from service.db import Database
from service.errors import ServiceError
from service.reserves import service as reserves
from service.reserves.models import MintingHalt
from service.reserves.reconciler import Reconciler, ReconcileResult


def resume_minting(
    db: Database,
    *,
    cause: str,
    actor: str,
    reconciler: Reconciler | None,
    acknowledge_units: int | None = None,
) -> MintingHalt:
    """An operator lifts the active halt with `cause`, after a fresh reconciliation.

    `reconciler` follows the chain to its head and compares (`reconcile_once(act=False)`):

    * nothing found: the halt is closed, nothing is acknowledged (a difference that a
      reconciliation no longer measures leaves no trace in later ones);
    * only a supply difference remains: the operator must acknowledge exactly that amount
      (`acknowledge_units`, units; otherwise `AcknowledgementMismatch` says what it is); it is
      recorded with the cause and the reconciliation's figures, and later passes add it to
      what the ledger explains;
    * a bank still marked failed (service/reserves/failures.py): `CustodianStillFailed`;
    * anything else (reserves below supply, an attestation above reserves or below supply, a
      new unbacked mint, an unbalanced posting): `DiscrepancyRemains`, the halt stays: a resume
      would only halt again at the next pass.

    If the service paused minting on chain for this halt, it unpauses it (with the reconciler's
    pauser key) before recording the resume in the audit log."""
    cause = (cause or "").strip()
    if len(cause) < 3:
        raise reserves.CauseRequired()
    with db.reading() as session:
        row = reserves.active_halt(session)
        if row is None:
            raise reserves.NotHalted()
        reserves.check_none_failed(session)  # again in `reserves.resume`, in its transaction
        paused_by_us = row.paused_on_chain
    if reconciler is None:
        raise ChainRequired()
    if paused_by_us and reconciler.pauser is None:
        raise PauserRequired()
    result = reconciler.reconcile_once(act=False)
    others = [f for f in result.findings if f["code"] != "supply_mismatch"]
    if others:
        raise DiscrepancyRemains(others, result.block)
    difference = result.difference_units
    if (acknowledge_units or 0) != difference:
        raise AcknowledgementMismatch(difference, result)
    unpause_tx = None
    if paused_by_us:
        token = reconciler.token
        if token.contract.functions.mintingPaused().call():
            assert reconciler.pauser is not None  # checked above: paused_by_us needs a pauser
            unpause_tx = token.transact(reconciler.pauser, "unpauseMinting").tx_hash
    evidence = {
        "block": result.block,
        "supply_units": str(result.supply_units),
        "explained_units": str(result.explained_units),
        "in_flight_units": str(result.in_flight_units),
        "previously_acknowledged_units": str(result.acknowledged_units),
        "difference_units": str(difference),
    }
    with db.transaction() as session:
        return reserves.resume(
            session,
            cause=cause,
            actor=actor,
            acknowledged_units=difference,
            evidence=evidence,
            unpause_tx_hash=unpause_tx,
        )


class PauserRequired(ServiceError):
    status_code = 409
    code = "pauser_key_required"
    message = (
        "The service paused minting on chain for this halt: resuming unpauses it, which "
        "needs USHK_PAUSER_PRIVATE_KEY and the chain."
    )


class ChainRequired(ServiceError):
    status_code = 409
    code = "chain_required"
    message = (
        "Resuming runs a fresh reconciliation against the chain first, which needs "
        "USHK_RPC_URL and the token's address (USHK_TOKEN_ADDRESS or the deployment file)."
    )


class DiscrepancyRemains(ServiceError):
    """A fresh reconciliation still finds more than a supply difference: resuming is refused."""

    status_code = 409
    code = "discrepancy_remains"

    def __init__(self, findings: list[dict], block: int) -> None:
        self.findings = findings
        super().__init__(
            f"A fresh reconciliation at block {block} still finds: "
            + "; ".join(f"{f['code']} ({f['message']})" for f in findings)
            + ". Fix the cause first; resuming now would only halt again."
        )


class AcknowledgementMismatch(ServiceError):
    """The difference to acknowledge is not the one a fresh reconciliation measures."""

    status_code = 409
    code = "acknowledgement_mismatch"

    def __init__(self, difference: int, result: ReconcileResult) -> None:
        self.difference_units = difference
        if difference == 0:
            message = (
                f"No supply difference remains at block {result.block}: resume without acknowledging one."
            )
        else:
            message = (
                f"A supply difference of {difference} units remains at block {result.block} "
                f"(totalSupply {result.supply_units}, the ledger explains {result.explained_units}). "
                f"To resume anyway, acknowledge exactly {difference} units; it is recorded with the "
                "cause and shown in the reserve summary."
            )
        super().__init__(message)
