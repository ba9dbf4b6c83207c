"""Reassigning payouts: an operator gives a bank's pending payouts to another bank, e.g. after a
custodian failure (service/reserves/failures.py; `ushk payouts reassign`,
`POST /v1/operator/payouts/reassign`)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from service import audit
from service.banks.models import Bank
from service.config import Settings
from service.errors import NotFound, ServiceError
from service.redemptions import repository
from service.redemptions.models import Payout, PayoutStatus
from service.redemptions.service import payout_due_at, payout_payload


class PayoutNotReassignable(ServiceError):
    """Only a pending payout of the `--from` bank can be given to another bank (`ushk payouts
    reassign`)."""

    status_code = 409
    code = "payout_not_reassignable"
    message = "Only a pending payout of the bank it is taken from can be reassigned."


def reassign_payouts(
    session: Session,
    settings: Settings,
    from_bank: Bank,
    to_bank: Bank,
    *,
    payout_ids: list[int] | None = None,
    actor: str,
    now: dt.datetime,
) -> list[Payout]:
    """An operator gives `from_bank`'s pending payouts (all, or those of `payout_ids`) to
    `to_bank`, e.g. when `from_bank` failed as a custodian (service/reserves/failures.py): each
    becomes pending for `to_bank` (its payout list shows it; it settles it with its own signed
    settlement, debiting its own custody), due one Hong Kong business day from now at the
    earliest. One audit entry `payout.reassigned` per payout. Every listed id must be a pending
    payout of `from_bank` (`PayoutNotReassignable` otherwise; nothing is changed)."""
    if from_bank.id == to_bank.id:
        raise PayoutNotReassignable("--from and --to name the same bank")
    if to_bank.failed_at is not None or to_bank.disabled_at is not None:
        raise PayoutNotReassignable(f"bank {to_bank.name} is marked failed or disabled")
    if payout_ids is None:
        rows = repository.pending_for_bank(session, from_bank.id, lock=True)
    else:
        rows = []
        for payout_id in dict.fromkeys(payout_ids):
            found = repository.get_payout(session, payout_id, lock=True)
            if found is None:
                raise NotFound(f"no payout {payout_id}")
            rows.append(found)
    out: list[Payout] = []
    for payout in rows:
        if payout.bank_id != from_bank.id or payout.status != PayoutStatus.PENDING:
            raise PayoutNotReassignable(
                f"payout {payout.id} is {payout.status}"
                + ("" if payout.bank_id == from_bank.id else f" and not {from_bank.name}'s")
            )
        out.append(payout)
    due = payout_due_at(settings, now)
    for payout in out:
        payout.bank_id = to_bank.id
        payout.due_at = max(payout.due_at, due)
        payout.overdue_reported_at = None
        payout.updated_at = now
    session.flush()
    for payout in out:
        audit.record(
            session,
            "payout.reassigned",
            actor,
            {**payout_payload(payout), "bank": to_bank.name, "from_bank": from_bank.name},
            now=now,
        )
    return out
