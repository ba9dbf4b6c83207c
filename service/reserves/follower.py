"""Following the token's events into the reserve ledger (step 1 of a reconciliation pass).

`ChainFollower.follow` processes the token's logs block range by block range, each range's
ledger postings in write transactions that also move the cursor (`chain_cursors`, name
"reserves"):

* `Minted`: must be the mint of a deposit the service accepted (accepted, minting or minted,
  same beneficiary and amount). Anything else (another minter minting behind the service's
  back, a foreign deposit id) is an `unbacked_mint`: alerted, and minting halted at once.
* `RedemptionRequested`: posted to the ledger (tokens outstanding -> pending payouts).
* `FrozenBalanceWiped`: posted (tokens outstanding -> wiped) and audited.
* The token's governance events (freezes, pauses, role changes, minter and allowlist settings,
  upgrades, rescues: `TOKEN_EVENTS`): each recorded as an audit entry `token.<event>` with its
  arguments, transaction and place, so the public ledger and the transparency log list what
  happened on chain whoever did it (docs/public-ledger.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sqlalchemy import Row, bindparam, select
from sqlalchemy.orm import Session

from service import audit, ledger
from service.chain import cursor as cursors
from service.chain.abi import role_name
from service.chain.events import MINTED, REDEEMED, WIPED, Event, LogReader, to_hex
from service.chain.token import Token
from service.db import Database, utcnow
from service.deposits.ids import seq_for_deposit_id
from service.deposits.models import Deposit, DepositStatus
from service.money import cents_to_units
from service.reserves import service as reserves

CURSOR = "reserves"
ACTOR = "reconciler"
BACKED_STATUSES = (DepositStatus.ACCEPTED, DepositStatus.MINTING, DepositStatus.MINTED)
# Ledger postings (redemptions, wipes) per write transaction at most, split at block boundaries.
MAX_EVENTS_PER_TRANSACTION = 200
# Deposit ids per `id IN (...)` query.
ID_CHUNK = 500
# The token's governance events and the audit kind each is recorded as.
TOKEN_EVENTS = {
    "Frozen": "token.frozen",
    "Unfrozen": "token.unfrozen",
    "Paused": "token.paused",
    "Unpaused": "token.unpaused",
    "MintingPaused": "token.minting_paused",
    "MintingUnpaused": "token.minting_unpaused",
    "RedemptionsPaused": "token.redemptions_paused",
    "RedemptionsUnpaused": "token.redemptions_unpaused",
    "RoleGranted": "token.role_granted",
    "RoleRevoked": "token.role_revoked",
    "RoleAdminChanged": "token.role_admin_changed",
    # the two-step, delayed admin transfer (AccessControlDefaultAdminRules, the token's version 3)
    "DefaultAdminTransferScheduled": "token.admin_transfer_scheduled",
    "DefaultAdminTransferCanceled": "token.admin_transfer_canceled",
    "DefaultAdminDelayChangeScheduled": "token.admin_delay_change_scheduled",
    "DefaultAdminDelayChangeCanceled": "token.admin_delay_change_canceled",
    "MinterConfigured": "token.minter_configured",
    "MinterRemoved": "token.minter_removed",
    "AllowlistEnabledSet": "token.allowlist_enabled_set",
    "AllowedSet": "token.allowed_set",
    "MaxAttestationAgeSet": "token.max_attestation_age_set",
    "MinterRateLimitSet": "token.minter_rate_limit_set",
    "Upgraded": "token.upgraded",
    "TokensRescued": "token.tokens_rescued",
}
# Event argument -> audit payload field (every one public: service/audit/leaves.py).
_ARGUMENTS = {
    "account": "address",
    "role": "role",
    "sender": "sender",
    "previousAdminRole": "previous_admin_role",
    "newAdminRole": "new_admin_role",
    "minter": "minter",
    "allowance": "allowance_units",
    "maxPerMint": "max_per_mint_units",
    "enabled": "enabled",
    "allowed": "allowed",
    # MaxAttestationAgeSet(oldMaxAge, newMaxAge) since the token's version 2; the new age keeps
    # the field name the event's single argument had
    "newMaxAge": "max_age_seconds",
    "oldMaxAge": "previous_max_age_seconds",
    # MinterRateLimitSet(minter, capacity, refillPerSecond)
    "capacity": "rate_capacity_units",
    "refillPerSecond": "rate_refill_per_second_units",
    "implementation": "implementation",
    # DefaultAdminTransferScheduled(newAdmin, acceptSchedule),
    # DefaultAdminDelayChangeScheduled(newDelay, effectSchedule)
    "newAdmin": "new_admin",
    "acceptSchedule": "accept_after",
    "newDelay": "new_delay_seconds",
    "effectSchedule": "effective_after",
    "token": "rescued_token",
    "to": "to",
    "amount": "rescued_amount",
}


class ChainFollower:
    """Follows `token`'s Minted, RedemptionRequested, FrozenBalanceWiped and governance events
    from `from_block`, `batch_blocks` blocks per `eth_getLogs`."""

    def __init__(self, db: Database, token: Token, *, from_block: int = 0, batch_blocks: int = 2000):
        self.db = db
        self.from_block = from_block
        self.batch_blocks = batch_blocks
        self.logs = LogReader(token, (MINTED, REDEEMED, WIPED, *TOKEN_EVENTS))

    def cursor(self) -> int:
        with self.db.reading() as session:
            stored = cursors.cursor(session, CURSOR)
        return self.from_block - 1 if stored is None else stored

    def follow(
        self, to_block: int, *, progress: Callable[[int], None] | None = None
    ) -> tuple[list[dict], bool]:
        """Processes events up to `to_block`; returns the unbacked mints found (already alerted,
        minting halted) and whether that created the halt.

        Per range, everything slow happens before the write transaction: the logs are fetched
        and decoded, and the deposits behind its `Minted` events are read in bulk (a few
        `id IN (...)` queries) in a read snapshot. A verdict on a deposit that is `minted` (a
        final status; beneficiary and amount never change) is final there; only the mints of
        deposits in another status (or unknown) are read again inside the write transaction,
        so the findings are those of a check made in it. The write transactions then hold the
        ledger postings of redemptions and wipes (at most `MAX_EVENTS_PER_TRANSACTION` each,
        split at block boundaries), the alerts and the cursor. `progress(n)`, when given, is
        called with the n blocks of each range once it is done."""
        findings: list[dict] = []
        halted = False
        start = self.cursor() + 1
        while start <= to_block:
            end = min(to_block, start + self.batch_blocks - 1)
            events = self.logs.fetch(start, end)
            mints = [e for e in events if e.kind == MINTED]
            problems, recheck = self._check_mints_read(mints)
            for group_end, group in _groups(events, end, MAX_EVENTS_PER_TRANSACTION):
                group_mints = [e for e in group if e.kind == MINTED]
                now = utcnow()
                with self.db.transaction() as session:
                    again = [(e, e.seq) for e in group_mints if e.seq in recheck]
                    if again:
                        rows = deposit_rows(session, {seq for _, seq in again})
                        for e, seq in again:
                            problems[id(e)] = _mint_problem(e, rows.get(seq))
                    found = []
                    for e in group:
                        if e.kind == MINTED:
                            problem = problems.get(id(e))
                            if problem:
                                found.append(
                                    {
                                        "code": "unbacked_mint",
                                        "message": problem,
                                        "deposit_id": "0x" + e.args["depositId"].hex(),
                                        "to": e.args["to"],
                                        "amount_units": str(e.args["amount"]),
                                        "minter": e.args["minter"],
                                        "tx_hash": e.tx_hash,
                                        "block_number": e.block,
                                    }
                                )
                        elif e.kind == REDEEMED:
                            ledger.record_redemption(
                                session,
                                redemption_id=int(e.args["redemptionId"]),
                                units=int(e.args["amount"]),
                                holder=e.args["holder"],
                                tx_hash=e.tx_hash,
                                block_number=e.block,
                                actor=ACTOR,
                                now=now,
                            )
                        elif e.kind in TOKEN_EVENTS:
                            audit.record(session, TOKEN_EVENTS[e.kind], ACTOR, token_event(e), now=now)
                        else:
                            ledger.record_wipe(
                                session,
                                account=e.args["account"],
                                units=int(e.args["amount"]),
                                tx_hash=e.tx_hash,
                                log_index=e.log_index,
                                block_number=e.block,
                                actor=ACTOR,
                                now=now,
                            )
                    cursors.advance_cursor(session, CURSOR, group_end, now)
                    if found:
                        _, created = reserves.halt(session, found, difference_units=0, actor=ACTOR, now=now)
                        halted = halted or created
                        for f in found:
                            audit.record(session, "alert.unbacked_mint", ACTOR, f, now=now)
                findings.extend(found)
            if progress is not None:
                progress(end - start + 1)
            start = end + 1
        return findings, halted

    def _check_mints_read(self, mints: list[Event]) -> tuple[dict[int, str | None], set[int]]:
        """Verdicts on `mints` from a read snapshot: ({id(event): problem}, the seqs to read
        again in the write transaction: every deposit not yet `minted`)."""
        problems: dict[int, str | None] = {}
        valid: list[tuple[Event, int]] = []
        for e in mints:
            try:
                e.seq = seq = seq_for_deposit_id(e.args["depositId"])
            except ValueError as exc:
                problems[id(e)] = f"Minted event with a deposit id the service never issued ({exc})"
            else:
                valid.append((e, seq))
        if not valid:
            return problems, set()
        with self.db.reading() as session:
            rows = deposit_rows(session, {seq for _, seq in valid})
        recheck: set[int] = set()
        for e, seq in valid:
            row = rows.get(seq)
            problems[id(e)] = _mint_problem(e, row)
            if row is None or row.status != DepositStatus.MINTED:
                recheck.add(seq)
        return problems, recheck

    # ---- 2. compare --------------------------------------------------------------------------


def token_event(e: Event) -> dict[str, Any]:
    """The audit payload of a governance event: its name, arguments (roles as 0x-hex, with
    their name when the token defines it; amounts as decimal strings), transaction and place."""
    payload: dict[str, Any] = {
        "event": e.kind,
        "tx_hash": e.tx_hash,
        "block_number": e.block,
        "log_index": e.log_index,
    }
    for name, value in e.args.items():
        field = _ARGUMENTS.get(name, name)
        if isinstance(value, bytes):
            payload[field] = to_hex(value)
            if field.endswith("role"):
                payload[f"{field}_name"] = role_name(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            payload[field] = str(value) if field.endswith(("_units", "_amount")) else value
        else:
            payload[field] = value
    return payload


def _groups(events: list[Event], end: int, limit: int) -> Iterator[tuple[int, list[Event]]]:
    """(last block, events) per write transaction: the ledger postings (redemptions, wipes) of
    a range at most `limit` at a time, each group ending at a block boundary (so the cursor
    never stops inside a block); the last group ends at `end`. Mints cost no writes."""
    group: list[Event] = []
    postings = 0
    for n, e in enumerate(events):
        group.append(e)
        if e.kind != MINTED:
            postings += 1
        following = events[n + 1] if n + 1 < len(events) else None
        if postings >= limit and following is not None and following.block != e.block:
            yield e.block, group
            group, postings = [], 0
    yield end, group


_DEPOSIT_ROWS = select(Deposit.id, Deposit.status, Deposit.beneficiary, Deposit.amount_cents).where(
    Deposit.id.in_(bindparam("ids", expanding=True))
)


def deposit_rows(session: Session, seqs: Iterable[int]) -> dict[int, Row[int, str, str, int]]:
    """seq -> (id, status, beneficiary, amount_cents) of the deposits among `seqs`."""
    ordered = sorted(seqs)
    rows: dict[int, Row[int, str, str, int]] = {}
    for i in range(0, len(ordered), ID_CHUNK):
        for row in session.execute(_DEPOSIT_ROWS, {"ids": ordered[i : i + ID_CHUNK]}):
            rows[row.id] = row
    return rows


def _mint_problem(event: Event, row: Row[int, str, str, int] | None) -> str | None:
    """Why the `Minted` event of deposit `event.seq` (row: its deposit, or None) is unbacked."""
    seq, to, units = event.seq, event.args["to"], int(event.args["amount"])
    if row is None or row.status not in BACKED_STATUSES:
        state = "unknown" if row is None else row.status
        return f"Minted event for deposit {seq}, which is {state}: no accepted deposit behind it"
    amount = cents_to_units(row.amount_cents)
    if row.beneficiary.lower() != to.lower() or amount != units:
        return (
            f"Minted event for deposit {seq} pays {to} {units} units; the deposit is "
            f"{row.beneficiary} {amount} units"
        )
    return None
