"""The public ledger's reads: every mint, every redemption and its payout status, the events the
audit log records (attestations, wipes, halts, pauses, freezes, role changes, the token's
settings and upgrades, bank changes, alerts), and the quota in
aggregate. docs/public-ledger.md describes each answer.

What is public here is what service/audit/leaves.py makes public of the same records: amounts,
statuses, on-chain addresses and transactions, bank names, deposit ids and resident pseudonyms
(`R-...`). Never a bank reference, an identity hash, a payout reference or account, a reason
text, an operator name; never one resident's quota. Events are the audit log's own public
views (the leaves of the transparency log), so they cannot show more than the log publishes.

Every listing is keyset-paginated: items in ascending `seq`, those with `seq > after`, at most
`limit`; `next` is the last item's seq when more follow, else None.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from service.audit.models import AuditEntry
from service.banks.models import Bank
from service.deposits.ids import deposit_id_hex
from service.deposits.models import Deposit, DepositStatus
from service.money import cents_to_units, format_cents
from service.quota.identity import pseudonym
from service.quota.models import QuotaUsage
from service.redemptions.models import Payout, PayoutStatus

MAX_LIMIT = 1000

# The event types of GET /v1/public/events and the audit kinds each lists.
EVENT_KINDS: dict[str, tuple[str, ...]] = {
    "attestation": ("reserves.attested",),
    "wipe": ("reserves.wipe_recorded",),
    "halt": ("minting.halted", "minting.resumed"),
    "pause": (
        "minting.paused_on_chain",
        "token.paused",
        "token.unpaused",
        "token.minting_paused",
        "token.minting_unpaused",
        "token.redemptions_paused",
        "token.redemptions_unpaused",
    ),
    "freeze": ("token.frozen", "token.unfrozen"),
    "role": (
        "token.role_granted",
        "token.role_revoked",
        "token.role_admin_changed",
        "token.admin_transfer_scheduled",
        "token.admin_transfer_canceled",
        "token.admin_delay_change_scheduled",
        "token.admin_delay_change_canceled",
    ),
    "token": (
        "token.minter_configured",
        "token.minter_removed",
        "token.allowlist_enabled_set",
        "token.allowed_set",
        "token.max_attestation_age_set",
        "token.minter_rate_limit_set",
        "token.upgraded",
        "token.tokens_rescued",
    ),
    "mint_block": ("mint.blocked", "mint.resumed"),
    "bank": (
        "bank.created",
        "bank.disabled",
        "bank.enabled",
        "bank.limits_set",
        "bank.signing_key_added",
        "bank.signing_key_retired",
        "custodian.failed",
        "custodian.recovered",
    ),
    "alert": (
        "alert.reserves_discrepancy",
        "alert.unbacked_mint",
        "alert.mint_mismatch",
        "alert.payout_unassigned",
        "alert.custody_shortfall",
    ),
}
TYPE_OF_KIND = {kind: name for name, kinds in EVENT_KINDS.items() for kind in kinds}


@dataclass(frozen=True)
class Window:
    """A half-open time range [since, until) (UTC, either end open)."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None


@dataclass(frozen=True)
class Page:
    items: list[dict]
    next: int | None


def bank_id(session: Session, name: str) -> int | None:
    return session.scalar(select(Bank.id).where(Bank.name == name))


def _page(rows: list[dict], limit: int) -> Page:
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, rows[-1]["seq"] if more else None)


def _within(query: Select, column: InstrumentedAttribute[Any], window: Window) -> Select:
    if window.since is not None:
        query = query.where(column >= window.since)
    if window.until is not None:
        query = query.where(column < window.until)
    return query


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat(timespec="seconds")


def units_to_dollars(units: int) -> str:
    """Token units (6 decimals) as dollars: two decimals, all six when there is dust."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(int(units)), 1_000_000)
    if frac % 10_000 == 0:
        return f"{sign}{whole}.{frac // 10_000:02d}"
    return f"{sign}{whole}.{frac:06d}"


# ---- mints ---------------------------------------------------------------------------------------


def mints(
    session: Session, *, after: int, limit: int, bank: int | None = None, window: Window = Window()
) -> Page:
    """Minted deposits, by deposit seq; `window` bounds the time they were minted."""
    query = (
        select(
            Deposit.id,
            Deposit.amount_cents,
            Deposit.currency,
            Deposit.value_date,
            Deposit.beneficiary,
            Deposit.resident_hash,
            Deposit.resident_category,
            Deposit.tx_hash,
            Deposit.block_number,
            Deposit.minted_at,
            Bank.name,
        )
        .join(Bank, Bank.id == Deposit.bank_id)
        .where(Deposit.status == DepositStatus.MINTED, Deposit.id > after)
    )
    if bank is not None:
        query = query.where(Deposit.bank_id == bank)
    query = _within(query, Deposit.minted_at, window).order_by(Deposit.id).limit(limit + 1)
    rows = [
        {
            "seq": r.id,
            "deposit_id": deposit_id_hex(r.id),
            "resident": pseudonym(r.resident_hash),
            "category": r.resident_category,
            "bank": r.name,
            "amount": format_cents(r.amount_cents),
            "amount_units": str(cents_to_units(r.amount_cents)),
            "currency": r.currency,
            "value_date": r.value_date.isoformat(),
            "beneficiary": r.beneficiary,
            "tx_hash": r.tx_hash,
            "block_number": r.block_number,
            "minted_at": _iso(r.minted_at),
        }
        for r in session.execute(query)
    ]
    return _page(rows, limit)


# ---- redemptions -----------------------------------------------------------------------------------


def redemptions(
    session: Session,
    *,
    after: int,
    limit: int,
    now: dt.datetime,
    bank: int | None = None,
    status: PayoutStatus | None = None,
    window: Window = Window(),
) -> Page:
    """On-chain redemptions and their payouts, by payout seq; `window` bounds when the service
    recorded the redemption. No payout reference, account or bank reference."""
    query = (
        select(
            Payout.id,
            Payout.redemption_id,
            Payout.holder,
            Payout.amount_units,
            Payout.amount_cents,
            Payout.dust_units,
            Payout.status,
            Payout.tx_hash,
            Payout.block_number,
            Payout.due_at,
            Payout.value_date,
            Payout.created_at,
            Payout.settled_at,
            Bank.name,
        )
        .outerjoin(Bank, Bank.id == Payout.bank_id)
        .where(Payout.id > after)
    )
    if bank is not None:
        query = query.where(Payout.bank_id == bank)
    if status is not None:
        query = query.where(Payout.status == status)
    query = _within(query, Payout.created_at, window).order_by(Payout.id).limit(limit + 1)
    rows = [
        {
            "seq": r.id,
            "redemption_id": str(r.redemption_id),
            "holder": r.holder,
            "amount": units_to_dollars(int(r.amount_units)),
            "amount_units": str(r.amount_units),
            "payout_amount": format_cents(r.amount_cents),
            "dust_units": str(r.dust_units),
            "bank": r.name,
            "status": r.status,
            "overdue": r.status == PayoutStatus.PENDING and now >= r.due_at,
            "due_at": _iso(r.due_at),
            "tx_hash": r.tx_hash,
            "block_number": r.block_number,
            "created_at": _iso(r.created_at),
            "settled_at": _iso(r.settled_at),
            "value_date": r.value_date.isoformat() if r.value_date else None,
        }
        for r in session.execute(query)
    ]
    return _page(rows, limit)


# ---- events ----------------------------------------------------------------------------------------


def _audit_time(at: dt.datetime) -> str:
    """An instant in the audit log's own text form (sorts as the instants do)."""
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def events(
    session: Session, *, after: int, limit: int, types: list[str] | None = None, window: Window = Window()
) -> Page:
    """Audit entries of the event kinds (all types, or `types`), by audit seq: each its public
    view as the transparency log publishes it, with its amount as a decimal string."""
    names = types or list(EVENT_KINDS)
    kinds = [kind for name in names for kind in EVENT_KINDS[name]]
    query = (
        select(AuditEntry.seq, AuditEntry.kind, AuditEntry.leaf)
        .where(AuditEntry.kind.in_(kinds), AuditEntry.seq > after)
        .order_by(AuditEntry.seq)
        .limit(limit + 1)
    )
    if window.since is not None:
        query = query.where(AuditEntry.created_at >= _audit_time(window.since))
    if window.until is not None:
        query = query.where(AuditEntry.created_at < _audit_time(window.until))
    rows = [_event(seq, kind, json.loads(leaf)) for seq, kind, leaf in session.execute(query)]
    return _page(rows, limit)


def _event(seq: int, kind: str, leaf: dict) -> dict:
    details = dict(leaf.get("public", {}))
    amount = None
    if (
        isinstance(details.get("amount_units"), str | int)
        and str(details["amount_units"]).lstrip("-").isdigit()
    ):
        amount = units_to_dollars(int(details["amount_units"]))
    elif isinstance(details.get("amount_cents"), int) and not isinstance(details["amount_cents"], bool):
        amount = format_cents(details["amount_cents"])
    report_hash = details.get("report_hash")
    return {
        "seq": seq,
        "type": TYPE_OF_KIND[kind],
        "kind": kind,
        "time": leaf.get("time"),
        "actor": leaf.get("actor"),
        "amount": amount,
        "tx_hash": details.get("tx_hash") or details.get("unpause_tx_hash"),
        "block_number": details.get("block_number"),
        "report_url": f"/v1/reserves/reports/{report_hash}" if isinstance(report_hash, str) else None,
        "details": details,
    }


# ---- quota, in aggregate ---------------------------------------------------------------------------


def quota(session: Session, *, period: str | None = None, min_residents: int = 1) -> dict:
    """Residents served and quota used, in total and by category and period; never one
    resident's figures. `used` counts committed (minted or being minted) deposits; `held` the
    holds of deposits still accepted but not yet committed.

    A group (category and period) of fewer than `min_residents` residents shows no figure, and
    neither does the total then. When exactly one group is withheld, the smallest other one is
    withheld too, so that no withheld figure is the total less the published ones."""
    base = select(QuotaUsage)
    if period is not None:
        base = base.where(QuotaUsage.period == period)
    usage = base.subquery()
    rows = session.execute(
        select(
            usage.c.category,
            usage.c.period,
            func.count().filter(usage.c.committed_cents > 0),
            func.coalesce(func.sum(usage.c.committed_cents), 0),
            func.coalesce(func.sum(usage.c.held_cents), 0),
        )
        .group_by(usage.c.category, usage.c.period)
        .order_by(usage.c.period, usage.c.category)
    ).all()
    total_query = select(func.count(func.distinct(QuotaUsage.resident_hash))).where(
        QuotaUsage.committed_cents > 0
    )
    if period is not None:
        total_query = total_query.where(QuotaUsage.period == period)
    residents = int(session.scalar(total_query) or 0)
    used = sum(int(r[3]) for r in rows)
    held = sum(int(r[4]) for r in rows)
    withheld = _withheld([int(r[2]) for r in rows], min_residents)
    total_withheld = residents < min_residents and bool(rows)
    return {
        "period": period,
        "min_residents": min_residents,
        "residents_served": None if total_withheld else residents,
        "total_used": None if total_withheld else format_cents(used),
        "total_held": None if total_withheld else format_cents(held),
        "suppressed": total_withheld,
        "by_category": [
            {
                "category": category,
                "period": row_period,
                "residents_served": None if n in withheld else int(count),
                "used": None if n in withheld else format_cents(int(committed)),
                "held": None if n in withheld else format_cents(int(held_cents)),
                "suppressed": n in withheld,
            }
            for n, (category, row_period, count, committed, held_cents) in enumerate(rows)
        ],
    }


def _withheld(counts: list[int], min_residents: int) -> set[int]:
    """The indexes of the groups whose figures are withheld: those of fewer than
    `min_residents` residents served (a group of holds alone counts none), and, when that is
    exactly one, the smallest other group as well."""
    small = {n for n, count in enumerate(counts) if count < min_residents}
    if len(small) == 1 and len(counts) > 1:
        others = [n for n in range(len(counts)) if n not in small]
        small.add(min(others, key=lambda n: (counts[n], n)))
    return small
