"""Quota and eligibility rules (docs/design.md section 3).

A deposit holds its amount on acceptance, commits it when minted, releases it when finally
rejected; redemption never gives quota back. The period is taken from the acceptance instant
in the category's timezone, so the year rolls over at midnight Jan 1 local time (Asia/Shanghai
for mainland residents).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from service import audit
from service.errors import ServiceError
from service.money import format_cents
from service.quota import repository
from service.quota.identity import pseudonym
from service.quota.models import WatchListEntry
from service.quota.policy import CategoryPolicy, Policy


class UnknownCategory(ServiceError):
    """Category not in the policy."""

    status_code = 422
    code = "unknown_category"


class InvalidIdType(ServiceError):
    """Id type not accepted for the category."""

    status_code = 422
    code = "invalid_id_type"


class CategoryNotEligible(ServiceError):
    """The category may not buy (recorded)."""

    status_code = 422
    code = "category_not_eligible"


class ResidentOnWatchList(ServiceError):
    """The resident is suspended on the watch list, or flagged now for splitting (recorded)."""

    status_code = 422
    code = "resident_on_watch_list"
    message = "The resident is on the watch list; their quota is suspended."


class QuotaExceeded(ServiceError):
    """The resident's quota does not hold the amount (recorded)."""

    status_code = 422
    code = "quota_exceeded"


def category_policy(policy: Policy, category: str, id_type: str | None = None) -> CategoryPolicy:
    """The policy of a known category; checks the id type when the policy lists them."""
    found = policy.category(category)
    if found is None:
        known = ", ".join(sorted(policy.categories))
        raise UnknownCategory(f"resident.category must be one of: {known}")
    if id_type is not None and found.id_types is not None and id_type not in found.id_types:
        allowed = ", ".join(sorted(found.id_types))
        raise InvalidIdType(f"resident.id_type for {category} must be one of: {allowed}")
    return found


def check_eligible(category: CategoryPolicy) -> None:
    if not category.eligible:
        raise CategoryNotEligible(f"residents of category {category.name} may not buy USHK")


def check_watch_list(session: Session, resident_hash: str) -> None:
    if repository.is_suspended(session, resident_hash):
        raise ResidentOnWatchList()


def check_splitting(
    session: Session,
    policy: Policy,
    *,
    beneficiary: str,
    resident_hash: str,
    now: dt.datetime,
    actor: str,
    recent_funders: Callable[[Session, str, dt.datetime], set[str]],
) -> None:
    """Flag N or more distinct residents funding one beneficiary within the window.

    Counts residents of deposits to `beneficiary` accepted within the window (as the deposits
    side answers `recent_funders(session, beneficiary, since)`), plus this one.
    At the threshold every one of them not yet listed goes on the watch list (suspended if the
    policy says so) and, when suspended, this deposit is refused. Deposits to one address are
    checked one at a time (a lock row per address)."""
    rule = policy.splitting
    repository.lock_beneficiary(session, beneficiary)
    funders = recent_funders(session, beneficiary, now - rule.window)
    funders.add(resident_hash)
    if len(funders) < rule.min_residents:
        return
    listed = repository.active_entry_hashes(session, funders)
    reason = (
        f"splitting: {len(funders)} distinct residents funded {beneficiary} within "
        f"{rule.window.total_seconds() / 3600:g}h"
    )
    for funder in sorted(funders - listed):
        session.add(
            WatchListEntry(
                resident_hash=funder,
                source="splitting",
                reason=reason,
                beneficiary=beneficiary,
                suspended=rule.suspend,
                created_at=now,
            )
        )
        audit.record(
            session,
            "quota.watch_listed",
            actor,
            {
                "resident": pseudonym(funder),
                "source": "splitting",
                "beneficiary": beneficiary,
                "suspended": rule.suspend,
                "reason": reason,
            },
            now=now,
        )
    session.flush()
    if rule.suspend:
        raise ResidentOnWatchList(f"resident flagged: {reason}")


def hold(
    session: Session,
    category: CategoryPolicy,
    *,
    resident_hash: str,
    amount_cents: int,
    now: dt.datetime,
    actor: str,
    deposit_seq: int,
) -> str:
    """Hold `amount_cents` of the resident's quota for the period containing `now`.
    Returns the period key; raises QuotaExceeded when it does not fit."""
    period = category.period_key(now)
    taken = repository.try_hold(
        session, resident_hash, category.name, period, amount_cents, category.limit_cents
    )
    if not taken:
        usage = repository.get_usage(session, resident_hash, category.name, period)
        used = (usage.held_cents + usage.committed_cents) if usage else 0
        remaining = max(0, (category.limit_cents or 0) - used)
        raise QuotaExceeded(
            f"quota for {category.name} residents is {format_cents(category.limit_cents or 0)} "
            f"per {category.period.replace('_', ' ')} ({period}); remaining "
            f"{format_cents(remaining)}"
        )
    audit.record(
        session,
        "quota.held",
        actor,
        {
            "deposit_seq": deposit_seq,
            "resident": pseudonym(resident_hash),
            "category": category.name,
            "period": period,
            "amount_cents": amount_cents,
        },
        now=now,
    )
    return period


def _hold_payload(deposit: Any) -> dict:
    return {
        "deposit_seq": deposit.id,
        "resident": pseudonym(deposit.resident_hash),
        "category": deposit.resident_category,
        "period": deposit.quota_period,
        "amount_cents": deposit.amount_cents,
    }


def commit(session: Session, deposits: list, *, actor: str, now: dt.datetime) -> None:
    """Turn the holds of `deposits` (just minted) into committed usage, rows in key order (one
    executemany for the whole batch)."""
    ordered = sorted(deposits, key=_usage_key)
    repository.commit_holds(
        session,
        [(d.resident_hash, d.resident_category, d.quota_period, d.amount_cents) for d in ordered],
    )
    for deposit in ordered:
        audit.record(session, "quota.committed", actor, _hold_payload(deposit), now=now)


def release(session: Session, deposits: list, *, actor: str, now: dt.datetime) -> None:
    """Give back the holds of `deposits` (finally rejected), rows in key order."""
    for deposit in sorted(deposits, key=_usage_key):
        repository.release_hold(
            session,
            deposit.resident_hash,
            deposit.resident_category,
            deposit.quota_period,
            deposit.amount_cents,
        )
        audit.record(session, "quota.released", actor, _hold_payload(deposit), now=now)


def _usage_key(deposit: Any) -> tuple:
    return (deposit.resident_hash, deposit.resident_category, deposit.quota_period, deposit.id)


@dataclass(frozen=True)
class QuotaView:
    category: str
    period: str
    timezone: str
    eligible: bool
    suspended: bool
    limit_cents: int | None
    used_cents: int
    held_cents: int

    @property
    def remaining_cents(self) -> int | None:
        if self.limit_cents is None:
            return None
        return max(0, self.limit_cents - self.used_cents - self.held_cents)


def view(session: Session, category: CategoryPolicy, resident_hash: str, now: dt.datetime) -> QuotaView:
    period = category.period_key(now)
    usage = repository.get_usage(session, resident_hash, category.name, period)
    return QuotaView(
        category=category.name,
        period=period,
        timezone=str(category.timezone.key),
        eligible=category.eligible,
        suspended=repository.is_suspended(session, resident_hash),
        limit_cents=category.limit_cents,
        used_cents=usage.committed_cents if usage else 0,
        held_cents=usage.held_cents if usage else 0,
    )


def clear_watch(session: Session, entry_id: int, *, actor: str, now: dt.datetime) -> WatchListEntry:
    entry = session.get(WatchListEntry, entry_id)
    if entry is None or entry.cleared_at is not None:
        raise ServiceError(f"no active watch-list entry {entry_id}")
    entry.cleared_at = now
    audit.record(
        session,
        "quota.watch_cleared",
        actor,
        {"entry": entry.id, "resident": pseudonym(entry.resident_hash)},
        now=now,
    )
    session.flush()
    return entry
