"""The public reserve summary (`GET /v1/reserves`, the public page, `ushk reserves summary`)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import ledger
from service.banks.models import Bank
from service.db import utcnow
from service.money import format_cents, format_units
from service.quota.policy import CustodyPolicy
from service.reserves.custody import latest_statements
from service.reserves.service import (
    _iso,
    acknowledged_difference,
    active_halt,
    failed_banks,
    last_attested_report,
)


def summary(session: Session, chain: dict | None, custody_policy: CustodyPolicy | None = None) -> dict:
    """The public reserve summary. `chain` holds what was read from the token (supply units,
    attestation) or None when the chain could not be read. Per bank, its latest statement's time
    and balance, whether that statement is stale (older than `custody_policy`'s maximum age, the
    default policy's without one; no statement: stale) and whether the bank is marked failed."""
    b = ledger.balances(session)
    names = dict(session.execute(select(Bank.id, Bank.name)).all())
    halted = active_halt(session)
    supply_units = chain["supply_units"] if chain else None
    ratio = None
    if supply_units:
        # reserves / supply with 4 decimals, integer arithmetic only
        ratio_e4 = b.reserves * 10_000 * 10_000 // supply_units
        ratio = f"{ratio_e4 // 10_000}.{ratio_e4 % 10_000:04d}"
    attestation = None
    report = last_attested_report(session)
    if chain and chain.get("attestation"):
        a = chain["attestation"]
        attestation = {
            "amount": format_units(a["amount"]),
            "timestamp": a["timestamp"],
            "time": dt.datetime.fromtimestamp(a["timestamp"], dt.UTC).isoformat(timespec="seconds")
            if a["timestamp"]
            else None,
            "report_hash": a["report_hash"],
            "audit_head": a["audit_head"],
            "report_url": f"/v1/reserves/reports/{a['report_hash']}",
        }
    elif report is not None:
        assert report.attested_at is not None  # set with tx_hash (mark_report_attested)
        attestation = {
            "amount": format_cents(report.amount_cents),
            "timestamp": int(report.attested_at.timestamp()),
            "time": report.attested_at.isoformat(timespec="seconds"),
            "report_hash": report.hash,
            "audit_head": report.audit_head,
            "report_url": f"/v1/reserves/reports/{report.hash}",
        }
    statements = latest_statements(session)
    failed = failed_banks(session)
    max_age = (custody_policy or CustodyPolicy()).statement_max_age
    now = utcnow()
    custody = {**dict.fromkeys(failed, 0), **b.custody}
    return {
        "currency": "USD",
        "total_reserves": format_cents(b.reserves),
        "custody": [
            {
                "bank": names.get(bank_id, str(bank_id)),
                "amount": format_cents(cents),
                "statement_as_of": _iso(statements[bank_id].as_of) if bank_id in statements else None,
                "statement_balance": format_cents(statements[bank_id].balance_cents)
                if bank_id in statements
                else None,
                "statement_stale": bank_id not in statements or statements[bank_id].as_of < now - max_age,
                "failed": bank_id in failed,
            }
            for bank_id, cents in sorted(custody.items(), key=lambda kv: names.get(kv[0], ""))
        ],
        "tokens_outstanding": format_cents(b.tokens_outstanding),
        "pending_mint": format_cents(b.pending_mint),
        "pending_payouts": format_cents(b.pending_payouts),
        "refunds_due": format_cents(b.refunds_due),
        "wiped": format_cents(b.wiped),
        "supply": None if supply_units is None else format_units(supply_units),
        "supply_units": None if supply_units is None else str(supply_units),
        "ratio": ratio,
        "last_attestation": attestation,
        "minting_halted": halted is not None,
        "acknowledged_difference_units": str(acknowledged_difference(session)),
    }
