"""The redemption watcher: `RedemptionRequested` events on chain → one payout each.

It follows the token's events up to `head - confirmations` (a block with that many blocks on
top), in ranges of at most `batch_blocks`. Each range's redemptions are first posted to the
reserve ledger, and, holding the attestor key, the watcher lowers the on-chain attestation to
what the ledger can still attest; then ONE database transaction creates the payouts of its
events and moves the cursor (`chain_cursors`, name "redemptions") to the range's last block, so
after a crash or a restart it resumes after the last committed range and never skips or
repeats one (the postings are idempotent per redemption id). Re-processing a range anyway (an operator
rewinding the cursor, two instances racing) creates nothing twice: a payout is unique per
redemption id, inserted with ON CONFLICT DO NOTHING.

Reorganisations deeper than the confirmation depth are not handled: choose the depth for the
chain (anvil mines a block per transaction; 2 is the default, mainnet would use more).

Each pass also records newly overdue payouts in the audit log (`alert.payout_overdue`).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from service import audit
from service.chain import cursor as cursors
from service.chain.events import REDEEMED, LogReader
from service.chain.token import Token
from service.config import Settings
from service.db import Database, utcnow
from service.redemptions import service as redemptions
from service.reserves.attestor import Attestor
from service.retry import Backoff

log = logging.getLogger("ushk.redemptions")

CURSOR = "redemptions"


@dataclass
class WatcherStats:
    ranges: int = 0
    events: int = 0
    created: int = 0
    unassigned: int = 0
    errors: list[str] = field(default_factory=list)


class RedemptionWatcher:
    """Turns the token's redemption events into payouts in `db`. `db` is passed in (never a
    global): tests and several instances each drive their own."""

    def __init__(
        self,
        db: Database,
        token: Token,
        settings: Settings,
        *,
        confirmations: int | None = None,
        from_block: int = 0,
        batch_blocks: int | None = None,
        poll_seconds: float | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        attestor: Attestor | None = None,
    ) -> None:
        self.db = db
        self.attestor = attestor
        self.token = token
        self.settings = settings
        self.confirmations = settings.redemption_confirmations if confirmations is None else confirmations
        self.from_block = from_block
        self.batch_blocks = batch_blocks or settings.redemption_batch_blocks
        self.poll_seconds = settings.redemption_poll_seconds if poll_seconds is None else poll_seconds
        self.clock = clock
        self.stats = WatcherStats()
        self._logs = LogReader(token, (REDEEMED,))
        self._backoff = Backoff()

    # ---- the loop ----------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Follow the chain until `stop` is set; a failed pass (node down, database busy) is
        retried with a backoff and never ends the loop."""
        while not stop.is_set():
            try:
                processed = self.step()
                self.report_overdue()
                self._backoff.reset()
            except Exception as exc:  # retried
                log.exception("redemption watcher pass failed")
                self.stats.errors.append(str(exc)[:300])
                del self.stats.errors[:-20]
                stop.wait(self._backoff.next())
                continue
            if processed == 0:
                stop.wait(self.poll_seconds)

    def safe_head(self) -> int:
        """The newest block with `confirmations` blocks on top of it."""
        return self.token.block_number() - self.confirmations

    def cursor(self) -> int:
        """The last processed block (the block before `from_block` when nothing was yet)."""
        with self.db.reading() as session:
            stored = cursors.cursor(session, CURSOR)
        return self.from_block - 1 if stored is None else stored

    def step(self) -> int:
        """Process the next range of confirmed blocks; returns how many blocks it covered
        (0: caught up)."""
        start = self.cursor() + 1
        end = min(self.safe_head(), start + self.batch_blocks - 1)
        if end < start:
            return 0
        events = self.fetch(start, end)
        now = self.clock()
        created = unassigned = 0
        if events:
            # The burned dollars leave the attestable reserve, and the on-chain attestation comes
            # down with them, before any payout exists that a bank could settle (custody would
            # then fall below the attestation): postings first (idempotent per redemption id),
            # the attestation, then the payouts.
            with self.db.transaction() as session:
                for event in events:
                    redemptions.post_redemption(session, event, now=now)
            if self.attestor is not None:
                self.attestor.ensure_not_above_attestable()
        with self.db.transaction() as session:
            for event in events:
                payout = redemptions.record_redemption(session, self.settings, event, now=now)
                if payout is None:
                    continue
                created += 1
                unassigned += payout.status == "unassigned"
            cursors.advance_cursor(session, CURSOR, end, now)
            if events:
                audit.record(
                    session,
                    "redemptions.scanned",
                    redemptions.WATCHER_ACTOR,
                    {"from_block": start, "to_block": end, "events": len(events), "payouts_created": created},
                    now=now,
                )
        self.stats.ranges += 1
        self.stats.events += len(events)
        self.stats.created += created
        self.stats.unassigned += unassigned
        if events:
            log.info(
                "blocks %s-%s: %s redemptions, %s new payouts (%s unassigned)",
                start,
                end,
                len(events),
                created,
                unassigned,
            )
        return end - start + 1

    def catch_up(self, max_steps: int = 10_000, *, progress: Callable[[int], None] | None = None) -> int:
        """Step until caught up with the confirmed head; returns the blocks covered.
        `progress(n)`, when given, is called with the blocks of each step."""
        total = 0
        for _ in range(max_steps):
            covered = self.step()
            if covered == 0:
                break
            total += covered
            if progress is not None:
                progress(covered)
        return total

    def report_overdue(self) -> int:
        with self.db.transaction() as session:
            return len(redemptions.report_overdue(session, now=self.clock()))

    # ---- chain -------------------------------------------------------------------------------

    def fetch(self, start: int, end: int) -> list[redemptions.RedemptionEvent]:
        return [
            redemptions.RedemptionEvent(
                redemption_id=e.args["redemptionId"],
                holder=e.args["holder"],
                amount_units=e.args["amount"],
                payout_ref="0x" + e.args["payoutRef"].hex(),
                tx_hash=e.tx_hash,
                block_number=e.block,
                log_index=e.log_index,
            )
            for e in self._logs.fetch(start, end)
        ]
