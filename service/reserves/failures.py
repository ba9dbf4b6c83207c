"""Custodian failure drill: an operator marks a bank failed (`ushk bank mark-failed BANK --cause`)
and, later, recovered (`ushk bank mark-recovered BANK --cause`).

While a bank is marked failed:

* its custody counts for nothing in the attestable reserve (`reserves.custodians`), so the
  attestor's next attestation is lower;
* minting is halted with the finding `custodian_failed` (the same halt as a custody shortfall:
  a new halt, or the active one with the finding added);
* its new deposit confirmations are refused with 409 `custodian_failed` (nothing is written, no
  quota is held); replays of deposits it confirmed before still answer as before;
* redemptions go on: payouts due from it can be given to another bank
  (`ushk payouts reassign --from BANK --to BANK`, service/redemptions/reassign.py).

Marking it recovered counts its custody again but does not lift the halt: minting resumes only
through `ushk reserves resume` (service/reserves/resume.py), which is refused while any bank is
still marked failed. Every step is an audit entry (`custodian.failed`, `custodian.recovered`;
the halt's `minting.halted`).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from service import audit
from service.banks.models import Bank
from service.banks.service import CustodianFailed, check_not_failed
from service.db import utcnow
from service.errors import ServiceError
from service.reserves import service as reserves

__all__ = ["CustodianFailed", "check_not_failed", "mark_failed", "mark_recovered"]


class CustodianAlreadyFailed(ServiceError):
    """`mark-failed` for a bank that is already marked failed."""

    status_code = 409
    code = "custodian_already_failed"
    message = "This bank is already marked failed."


class CustodianNotFailed(ServiceError):
    """`mark-recovered` for a bank that is not marked failed."""

    status_code = 409
    code = "custodian_not_failed"
    message = "This bank is not marked failed."


def _cause(cause: str | None) -> str:
    cause = (cause or "").strip()
    if len(cause) < 3:
        raise reserves.CauseRequired("Marking a bank failed or recovered needs a cause (what happened).")
    return cause[:500]


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def mark_failed(
    session: Session, bank: Bank, *, cause: str, actor: str, now: dt.datetime | None = None
) -> Bank:
    """Marks `bank` failed and halts minting (`custodian_failed`). Audited."""
    cause = _cause(cause)
    now = now or utcnow()
    if bank.failed_at is not None:
        raise CustodianAlreadyFailed()
    bank.failed_at = now
    bank.failed_cause = cause
    session.flush()
    audit.record(
        session,
        "custodian.failed",
        actor,
        {"bank": bank.name, "bank_id": bank.id, "cause": cause, "at": _iso(now)},
        now=now,
    )
    finding = {"code": "custodian_failed", "bank": bank.name, "cause": cause, "at": _iso(now)}
    current = reserves.active_halt(session, lock=True)
    if current is None:
        reserves.halt(session, [finding], difference_units=0, actor=actor, now=now)
    else:
        reserves.join_halt(session, current, "custodian_failed", [finding])
        audit.record(
            session, "minting.halt_joined", actor, {"halt_id": current.id, "finding": finding}, now=now
        )
    return bank


def mark_recovered(
    session: Session, bank: Bank, *, cause: str, actor: str, now: dt.datetime | None = None
) -> Bank:
    """Marks `bank` recovered: its custody counts again. The halt stays (resume lifts it)."""
    cause = _cause(cause)
    now = now or utcnow()
    if bank.failed_at is None:
        raise CustodianNotFailed()
    failed_at = bank.failed_at
    bank.failed_at = None
    bank.failed_cause = None
    session.flush()
    halt = reserves.active_halt(session)
    audit.record(
        session,
        "custodian.recovered",
        actor,
        {
            "bank": bank.name,
            "bank_id": bank.id,
            "cause": cause,
            "failed_at": _iso(failed_at),
            "at": _iso(now),
            "halt_id": None if halt is None else halt.id,
        },
        now=now,
    )
    return bank
