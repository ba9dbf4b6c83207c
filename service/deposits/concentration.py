"""The custodian concentration limit of deposits (docs/design.md 2.6): policy
`custody.custodian_max_share_percent`, applied once the total reserves after the deposit are
above `custody.concentration_applies_above`. Checked at step 4 of `deposits.submit`, before
anything is stored."""

from __future__ import annotations

from typing import cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.banks.models import Bank, BankRecord
from service.db import transaction_cache
from service.errors import ServiceError
from service.ledger import CUSTODY_PREFIX
from service.ledger.models import LedgerAccount, LedgerLine
from service.money import format_cents
from service.quota.policy import Policy


def custody_by_bank(session: Session) -> dict[int, int]:
    """Each bank's custody (cents), from the ledger's custody accounts only.

    Summed once per transaction; later in the same transaction (the deposits of a writer group
    or a batch, each checked in turn) only the ledger lines added since are summed and added,
    so that checking n deposits does not read the whole ledger n times. Ledger lines are never
    updated or deleted; a savepoint rolled back drops the cache with the others."""
    cache = transaction_cache(session, "custody_by_bank")
    last = cache.get("last_line", 0)
    query = (
        select(
            LedgerAccount.bank_id,
            func.coalesce(func.sum(LedgerLine.amount_cents), 0),
            func.max(LedgerLine.id),
        )
        .join(LedgerLine, LedgerLine.account_id == LedgerAccount.id)
        .where(LedgerAccount.code.startswith(CUSTODY_PREFIX), LedgerLine.id > last)
        .group_by(LedgerAccount.bank_id)
    )
    totals: dict[int, int] = cache.setdefault("totals", {})
    for bank_id, total, newest in session.execute(query).all():
        key = int(cast(int, bank_id))
        totals[key] = totals.get(key, 0) + int(total)
        last = max(last, int(newest))
    cache["last_line"] = last
    return dict(totals)


class CustodianConcentration(ServiceError):
    """The deposit would bring its bank's custody above the policy's maximum share of the total
    reserves (`custody.custodian_max_share_percent`, once the total is above
    `custody.concentration_applies_above`). Nothing is recorded."""

    status_code = 422
    code = "custodian_concentration"


def check(session: Session, policy: Policy, bank: Bank | BankRecord, amount_cents: int) -> None:
    """Raises CustodianConcentration when, after this deposit, the bank would hold more than
    `custody.custodian_max_share_percent` of the total reserves (the ledger's custody at every
    bank) and that total is above `custody.concentration_applies_above`. Without a maximum
    share nothing is read."""
    max_bp = policy.custody.custodian_max_share_bp
    if max_bp is None:
        return
    custody = custody_by_bank(session)
    bank_after = custody.get(bank.id, 0) + amount_cents
    total_after = sum(custody.values()) + amount_cents
    floor = policy.custody.concentration_applies_above_cents
    if total_after <= floor or bank_after * 10_000 <= max_bp * total_after:
        return
    share_bp = bank_after * 10_000 // total_after
    raise CustodianConcentration(
        f"This deposit of {format_cents(amount_cents)} would bring {bank.name}'s custody to "
        f"{format_cents(bank_after)} of total reserves of {format_cents(total_after)} "
        f"({share_bp // 100}.{share_bp % 100:02d}%), above the maximum share of "
        f"{max_bp // 100}.{max_bp % 100:02d}% per custodian (applies above total reserves of "
        f"{format_cents(floor)})."
    )
