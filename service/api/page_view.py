"""What the public page (/) shows, gathered server-side: the reserve summary, token classes of
the latest snapshot, the last attestation, recent mints and redemptions from the transparency
log's public entries, the log's heads, a history of supply against reserves, and whether the
figures shown agree with the chain at one block. The chain's figures are those of the API
process's cached chain view (service/reserves/chain_cache.py, as GET /v1/reserves serves them):
a visitor's request makes no JSON-RPC call.

Every amount is a decimal string made with integer arithmetic (service.money): the page never
carries a float. Nothing private is read: the activity comes from the leaves (public views) of
the audit log, so a resident appears only by pseudonym and no bank reference or payout account
is ever on the page.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import ledger
from service.audit import heads
from service.audit.models import AuditEntry, SignedTreeHead
from service.config import Settings
from service.db import utcnow
from service.money import format_cents, format_units
from service.quota.policy import CustodyPolicy
from service.reserves import service as reserves
from service.reserves.chain_cache import CachedView
from service.reserves.models import ReserveReport
from service.reserves.summary import summary as public_summary
from service.snapshots import service as snapshots

# The entries of the log the page lists, and how it names them.
ACTIVITY_KINDS = {
    "deposit.minted": "mint",
    "payout.created": "redemption",
    "payout.settled": "payout settled",
}
ACTIVITY_LIMIT = 20
HISTORY_LIMIT = 200


def _iso_ms(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="seconds")


def _head(head: SignedTreeHead | None) -> dict | None:
    if head is None:
        return None
    return {
        "tree_size": head.tree_size,
        "root": head.root,
        "time": _iso_ms(head.timestamp_ms),
        "key_id": head.key_id,
        "anchor_tx": head.anchor_tx,
        "anchor_block": head.anchor_block,
    }


def tx_url(settings: Settings, tx_hash: str | None) -> str | None:
    template = settings.explorer_tx_url
    if not template or not tx_hash:
        return None
    return template.replace("{tx}", tx_hash)


def activity(session: Session, settings: Settings, limit: int = ACTIVITY_LIMIT) -> list[dict]:
    """The newest mints and redemptions, from the public leaves of the audit log."""
    rows = session.execute(
        select(AuditEntry.seq, AuditEntry.kind, AuditEntry.leaf)
        .where(AuditEntry.kind.in_(ACTIVITY_KINDS))
        .order_by(AuditEntry.seq.desc())
        .limit(limit)
    ).all()
    items = []
    for seq, kind, leaf in rows:
        entry = json.loads(leaf)
        public = entry.get("public", {})
        cents = public.get("amount_cents")
        tx = public.get("tx_hash")
        items.append(
            {
                "seq": seq,
                "kind": ACTIVITY_KINDS[kind],
                "time": entry.get("time"),
                "amount": format_cents(int(cents)) if cents is not None else None,
                "resident": public.get("resident"),
                "account": public.get("beneficiary") or public.get("holder"),
                "tx_hash": tx,
                "tx_url": tx_url(settings, tx),
                "block": public.get("block_number"),
            }
        )
    return items


def token_classes(session: Session) -> dict | None:
    row = snapshots.latest(session)
    if row is None:
        return None
    snap = snapshots.content_of(row)
    supply = snap.get("supply", {})
    return {
        "snapshot_id": row.id,
        "block": snap.get("chain", {}).get("block"),
        "total": format_units(int(supply["total_units"])),
        "outstanding_redeemable": format_units(int(supply["outstanding_redeemable_units"])),
        "frozen": format_units(int(supply["frozen_units"])),
        "frozen_accounts": len(supply.get("frozen_accounts", [])),
    }


def history(session: Session, now_point: dict) -> list[dict]:
    """Supply (the ledger's tokens outstanding at each attested reserve report) against reserves,
    oldest first, then the figures the page shows now. Times are Unix seconds."""
    rows = session.execute(
        select(ReserveReport.body)
        .where(ReserveReport.attested_at.is_not(None))
        .order_by(ReserveReport.created_at.desc())
        .limit(HISTORY_LIMIT)
    ).all()
    points = []
    for (body,) in reversed(rows):
        report = json.loads(body)
        points.append(
            {
                "t": int(dt.datetime.fromisoformat(report["as_of"]).timestamp()),
                "time": report["as_of"],
                "supply": report["liabilities"]["tokens_outstanding"],
                "reserves": report["total"],
            }
        )
    points.append(now_point)
    return points


def verification(session: Session, chain: dict | None) -> dict:
    """The page's figures held against the chain at one block: the supply on chain against what
    the ledger explains, and the head anchored on chain against the log's signed head of that
    size (none of that size: the anchor is ahead of the log, or of another log)."""
    if chain is None:
        return {"status": "unavailable", "block": None, "checks": [], "summary": "chain unavailable"}
    block = chain["block"]
    explained = ledger.supply_units(session, block) + reserves.acknowledged_difference(session)
    checks = [
        {
            "name": "supply",
            "ok": chain["supply_units"] == explained,
            "detail": f"totalSupply {format_units(chain['supply_units'])}, ledger {format_units(explained)}",
        }
    ]
    anchor = chain["anchor"]
    if anchor["tree_size"]:
        signed = heads.at_size(session, anchor["tree_size"])
        same = signed is not None and signed.root == anchor["root"]
        checks.append(
            {
                "name": "anchor",
                "ok": same,
                "detail": f"anchored head of size {anchor['tree_size']} "
                + ("matches the signed head" if same else "does not match any signed head"),
            }
        )
    ok = all(c["ok"] for c in checks)
    summary = (
        f"verified at block {block}"
        if ok
        else "mismatch at block " + str(block) + ": " + "; ".join(c["detail"] for c in checks if not c["ok"])
    )
    return {"status": "verified" if ok else "mismatch", "block": block, "checks": checks, "summary": summary}


def monitor_section(settings: Settings, feed: CachedView | None) -> dict[str, Any]:
    """The supervisors' monitor as the page shows it: its newest findings (rule, severity,
    summary, place on chain; the findings are public and carry no personal data), its log's
    size and signed head, and whether that view is fresh."""
    if feed is None:
        return {"configured": False, "available": False, "stale": False, "url": None, "findings": []}
    view = feed.view
    findings = [{**f, "tx_url": tx_url(settings, f["tx_hash"])} for f in (view or {}).get("findings", [])]
    head = (view or {}).get("head") or {}
    return {
        "configured": True,
        "available": view is not None,
        "stale": feed.stale,
        "as_of": feed.fields()["as_of"],
        "url": settings.monitor_url,
        "size": (view or {}).get("size"),
        "head_size": head.get("tree_size"),
        "findings": findings,
    }


def page_view(
    session: Session,
    settings: Settings,
    cached: CachedView,
    *,
    monitor: CachedView | None = None,
    now: dt.datetime | None = None,
    custody_policy: CustodyPolicy | None = None,
) -> dict[str, Any]:
    """The page's figures; `cached` is the chain view (its `view` None: no chain configured, or
    never read), `monitor` the monitor's feed (None: no monitor configured)."""
    now = now or utcnow()
    chain = cached.view
    summary_chain = None if chain is None else {k: chain[k] for k in ("supply_units", "attestation")}
    summary = public_summary(session, summary_chain, custody_policy)
    latest = heads.latest(session)
    supply = summary["supply"] or summary["tokens_outstanding"]
    return {
        "generated_at": now.isoformat(timespec="seconds"),
        "currency": summary["currency"],
        "chain_available": chain is not None,
        "chain_stale": chain is not None and cached.stale,
        "chain_as_of": cached.fields()["as_of"],
        "block": None if chain is None else chain["block"],
        "supply": summary["supply"],
        "tokens_outstanding": summary["tokens_outstanding"],
        "total_reserves": summary["total_reserves"],
        "ratio": summary["ratio"],
        "custody": summary["custody"],
        "pending_payouts": summary["pending_payouts"],
        "minting_halted": summary["minting_halted"],
        "attestation": summary["last_attestation"],
        "classes": token_classes(session),
        "activity": activity(session, settings),
        "head": _head(latest),
        "anchored": _head(heads.last_anchored(session)),
        "verification": verification(session, chain),
        "monitor": monitor_section(settings, monitor),
        "history": history(
            session,
            {
                "t": int(now.timestamp()),
                "time": now.isoformat(timespec="seconds"),
                "supply": supply,
                "reserves": summary["total_reserves"],
            },
        ),
    }
