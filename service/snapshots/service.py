"""Taking, signing and proving transparency snapshots: the token's supply by class, the reserves, the last attestation,
the off-chain liabilities as a Merkle-sum tree, and the log's signed head, pinned to one block.

A snapshot reads the chain as of one block (`block`: the head minus USHK_RECONCILE_CONFIRMATIONS,
every read pinned to it) and then the database in one read transaction, and is signed with the
log key (Ed25519 over its canonical JSON). Its parts (docs/transparency.md, "Snapshots"):

- `supply`: totalSupply at the block, split after the AICPA 2025 stablecoin reporting criteria
  into tokens outstanding and redeemable and tokens frozen (not redeemable now: the balances of
  the accounts frozen at the block, found from the token's Frozen and Unfrozen events);
- `reserves`: custody per bank and in total (the reserve ledger), the attestable amount, and
  (version 2) `custodians`: per bank its latest custody statement's time and balance, whether
  that statement is stale and whether the bank is marked failed;
- `attestation`: the token's reserve attestation at the block;
- `liabilities`: what is owed off chain, one leaf per claim: each redemption not yet paid out
  (`payout`, by redemption id) and each accepted deposit returned (`refund`, by deposit seq), as
  a Merkle-sum tree (service/merkle_sum.py) whose root's sum is the total; it must equal the
  ledger's pending payouts plus refunds due, or no snapshot is signed. Each claimant can fetch
  the proof of their claim;
- `log`: the transparency log's latest signed head.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service import ledger, merkle_sum
from service.audit import heads
from service.audit.heads import LogKey
from service.canonical import canonical_json
from service.chain.events import LogReader
from service.chain.token import Token
from service.db import utcnow
from service.ledger.models import LedgerAccount, LedgerLine, LedgerPosting
from service.money import format_cents, format_units
from service.quota.policy import CustodyPolicy
from service.redemptions.models import Payout
from service.reserves import service as reserves
from service.snapshots.models import SnapshotLiability, TransparencySnapshot

FROZEN, UNFROZEN = "Frozen", "Unfrozen"
# 2: `reserves.custodians` (each custodian's latest statement time and balance, stale, failed).
VERSION = 2


class SnapshotRefused(RuntimeError):
    """The figures do not add up (the liabilities tree against the ledger): nothing is signed."""


@dataclass(frozen=True)
class Claim:
    kind: str  # payout | refund
    reference: str  # redemption id | deposit seq
    amount_cents: int

    def data(self) -> bytes:
        return canonical_json(
            {"amount_cents": str(self.amount_cents), "kind": self.kind, "reference": self.reference}
        )

    def leaf(self) -> merkle_sum.SumNode:
        return merkle_sum.leaf(self.data(), self.amount_cents)


def claims(session: Session) -> list[Claim]:
    """Every claim owed off chain, from the ledger: redemptions less their settled payouts
    (pending_payouts), and returned deposits (refunds_due), ordered by kind and reference."""
    owed: dict[tuple[str, str], int] = {}
    settled_redemption = dict(session.execute(select(Payout.id, Payout.redemption_id)).all())
    for account, kind_of in ((ledger.PENDING_PAYOUTS, "payout"), (ledger.REFUNDS_DUE, "refund")):
        rows = session.execute(
            select(LedgerPosting.kind, LedgerPosting.reference, func.sum(LedgerLine.amount_cents))
            .join(LedgerLine, LedgerLine.posting_id == LedgerPosting.id)
            .join(LedgerAccount, LedgerAccount.id == LedgerLine.account_id)
            .where(LedgerAccount.code == account)
            .group_by(LedgerPosting.kind, LedgerPosting.reference)
        )
        for posting_kind, reference, cents in rows:
            # a settled payout's posting names the payout; its claim is the redemption's
            if posting_kind == ledger.PAYOUT_SETTLED:
                if int(reference) not in settled_redemption:
                    raise SnapshotRefused(f"the ledger settled payout {reference}, which no payout row names")
                reference = str(settled_redemption[int(reference)])
            key = (kind_of, str(reference))
            owed[key] = owed.get(key, 0) - int(cents)  # credit-normal: owed = -(lines)
    negative = [f"{kind} {reference}" for (kind, reference), cents in owed.items() if cents < 0]
    if negative:
        raise SnapshotRefused(f"the ledger has paid out more than it owed on {', '.join(sorted(negative))}")
    return [
        Claim(kind, reference, cents)
        for (kind, reference), cents in sorted(owed.items(), key=lambda kv: (kv[0][0], int(kv[0][1])))
        if cents != 0
    ]


def frozen_accounts(token: Token, from_block: int, block: int) -> list[str]:
    """The accounts frozen as of `block`, from the token's Frozen/Unfrozen events."""
    frozen: dict[str, bool] = {}
    step = 10_000
    reader = LogReader(token, (FROZEN, UNFROZEN))
    for start in range(from_block, block + 1, step):
        for event in reader.fetch(start, min(start + step - 1, block)):
            frozen[event.args["account"]] = event.kind == FROZEN
    return sorted(account for account, is_frozen in frozen.items() if is_frozen)


def body(
    session: Session,
    token: Token,
    *,
    from_block: int,
    confirmations: int,
    now: dt.datetime,
    custody_policy: CustodyPolicy | None = None,
) -> tuple[dict, list[Claim]]:
    """The snapshot's content (unsigned), and the claims of its liabilities tree. A statement is
    stale when older than `custody_policy`'s maximum age (the default policy's without one)."""
    block = max(token.block_number() - confirmations, from_block)
    state = token.state_at(block)
    frozen = frozen_accounts(token, from_block, block)
    balance_of = token.contract.functions.balanceOf
    frozen_units = sum(int(balance_of(a).call(block_identifier=block)) for a in frozen)
    report = reserves.build_report(session, now=now)
    custodians = reserves.custodians(
        session, ledger.balances(session), custody_policy or CustodyPolicy(), now=now
    )
    owed = claims(session)
    top = merkle_sum.root([c.leaf() for c in owed])
    balances = ledger.balances(session)
    expected = balances.pending_payouts + balances.refunds_due
    if top.sum != expected:
        raise SnapshotRefused(
            f"the liabilities tree sums to {top.sum} cents, the ledger owes {expected} (pending payouts "
            "plus refunds due): no snapshot signed"
        )
    head = heads.latest(session)
    attestation = state.attestation
    content = {
        "version": VERSION,
        "taken_at": now.astimezone(dt.UTC).isoformat(timespec="seconds"),
        "chain": {
            "chain_id": token.w3.eth.chain_id,
            "token": token.address,
            "block": block,
            "block_hash": state.block_hash,
            "block_time": state.timestamp,
        },
        "supply": {
            "total_units": str(state.total_supply),
            "total": format_units(state.total_supply),
            "outstanding_redeemable_units": str(state.total_supply - frozen_units),
            "frozen_units": str(frozen_units),
            "frozen_accounts": frozen,
        },
        "reserves": {
            "currency": "USD",
            "total": report["total"],
            "attestable": report["attested"],
            "custody": report["custody"],
            "custodians": [
                {
                    "bank": c["bank"],
                    "statement_as_of": c["statement_as_of"],
                    "statement_balance": None
                    if c["statement_balance_cents"] is None
                    else format_cents(c["statement_balance_cents"]),
                    "statement_stale": c["stale"],
                    "failed": c["failed"],
                }
                for c in custodians
            ],
        },
        "attestation": {
            "amount_units": str(attestation.amount),
            "timestamp": attestation.timestamp,
            "report_hash": "0x" + attestation.report_hash.hex(),
            "audit_head": "0x" + attestation.audit_head.hex(),
        },
        "liabilities": {
            "root": top.hash.hex(),
            "total_cents": str(top.sum),
            "total": format_cents(top.sum),
            "claims": len(owed),
            "payouts_pending": format_cents(balances.pending_payouts),
            "refunds_due": format_cents(balances.refunds_due),
        },
        "log": None
        if head is None
        else {
            "tree_size": head.tree_size,
            "timestamp": head.timestamp_ms,
            "root": head.root,
            "signature": head.signature,
            "key_id": head.key_id,
        },
    }
    return content, owed


def take(
    session: Session,
    token: Token,
    key: LogKey,
    *,
    from_block: int = 0,
    confirmations: int = 1,
    now: dt.datetime | None = None,
    custody_policy: CustodyPolicy | None = None,
) -> TransparencySnapshot:
    """Take, sign and store a snapshot (and its liability leaves) in `session`'s transaction."""
    now = now or utcnow()
    content, owed = body(
        session,
        token,
        from_block=from_block,
        confirmations=confirmations,
        now=now,
        custody_policy=custody_policy,
    )
    encoded = canonical_json(content)
    row = TransparencySnapshot(
        block_number=content["chain"]["block"],
        taken_at=now,
        body=encoded.decode("utf-8"),
        signature=key.private.sign(encoded).hex(),
        key_id=key.key_id,
        public_key=key.public_bytes.hex(),
    )
    session.add(row)
    session.flush()
    session.add_all(
        SnapshotLiability(
            snapshot_id=row.id,
            idx=i,
            kind=c.kind,
            reference=c.reference,
            amount_cents=c.amount_cents,
        )
        for i, c in enumerate(owed)
    )
    session.flush()
    return row


def latest(session: Session) -> TransparencySnapshot | None:
    query = select(TransparencySnapshot).order_by(TransparencySnapshot.id.desc()).limit(1)
    return session.scalars(query).first()


def leaves_of(session: Session, snapshot_id: int) -> list[Claim]:
    rows = session.scalars(
        select(SnapshotLiability)
        .where(SnapshotLiability.snapshot_id == snapshot_id)
        .order_by(SnapshotLiability.idx)
    )
    return [Claim(r.kind, r.reference, r.amount_cents) for r in rows]


def claim_proof(session: Session, snapshot_id: int, kind: str, reference: str) -> dict | None:
    """The proof of one claim in a snapshot's liabilities tree; None if it holds no such claim."""
    owed = leaves_of(session, snapshot_id)
    nodes = [c.leaf() for c in owed]
    for index, c in enumerate(owed):
        if (c.kind, c.reference) == (kind, reference):
            top = merkle_sum.root(nodes)
            return {
                "index": index,
                "size": len(owed),
                "data": c.data().decode("utf-8"),
                "amount_cents": str(c.amount_cents),
                "path": [{"hash": n.hash.hex(), "sum": str(n.sum)} for n in merkle_sum.proof(nodes, index)],
                "root": {"hash": top.hash.hex(), "sum": str(top.sum)},
            }
    return None


def content_of(row: TransparencySnapshot) -> dict:
    return dict(json.loads(row.body))
