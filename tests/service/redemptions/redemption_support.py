"""Helpers of the redemption tests (a module name of its own: conftest names are shared)."""

from __future__ import annotations

import datetime as dt
import itertools

from sqlalchemy import func, select

from service import audit
from service.banks import service as banks
from service.models import AuditEntry, Payout, PayoutAccount
from service.redemptions import service as redemptions

HOLDER = "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"
OTHER_HOLDER = "0xAb8483F64d9C6d1EcF9b849Ae677dD3315835cb2"
HKT = dt.timezone(dt.timedelta(hours=8))

_tx = itertools.count(1)


def event(
    redemption_id: int, payout_ref: str, amount_units: int = 250 * 10**6, holder: str = HOLDER
) -> redemptions.RedemptionEvent:
    n = next(_tx)
    return redemptions.RedemptionEvent(
        redemption_id=redemption_id,
        holder=holder,
        amount_units=amount_units,
        payout_ref=payout_ref,
        tx_hash="0x" + f"{n:064x}",
        block_number=100 + n,
        log_index=0,
    )


def record(env, ev: redemptions.RedemptionEvent, now: dt.datetime | None = None):
    with env.db.transaction() as session:
        payout = redemptions.record_redemption(session, env.settings, ev, now=now or env.clock())
        return None if payout is None else payout.id


def operator_token(env, name: str = "ops") -> str:
    with env.db.transaction() as session:
        _, token = banks.create_operator(session, name, actor="test")
    return token


def snapshot(env) -> dict:
    """Everything a payout request may change."""
    with env.db.reading() as session:
        payouts = [
            (p.id, p.status, p.settlement_hmac, p.bank_reference, p.value_date, p.settled_at, p.updated_at)
            for p in session.scalars(select(Payout).order_by(Payout.id))
        ]
        return {
            "payouts": payouts,
            "accounts": session.scalar(select(func.count()).select_from(PayoutAccount)),
            "audit": audit.head(session),
        }


def audit_kinds(env) -> list[str]:
    with env.db.reading() as session:
        return list(session.scalars(select(AuditEntry.kind).order_by(AuditEntry.seq)))


def payouts_of(env) -> list[Payout]:
    with env.db.reading() as session:
        return list(session.scalars(select(Payout).order_by(Payout.id)))
