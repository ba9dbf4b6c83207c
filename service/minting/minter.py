"""The minter: accepted deposits from the outbox → `mintBatch` on chain, exactly once.

Each step writes its state before acting on it (service/deposits/outbox.py):

1. claim a batch of accepted deposits (they become `minting`), committed (in chunks of
   `CLAIM_CHUNK` per transaction);
2. make sure a fresh reserve attestation covers supply + the batches in flight + this batch
   (attesting first if needed). With an attestor, a claim takes only the deposits the current
   attestation still covers (`Attestor.headroom`); when the oldest waiting deposit does not
   fit, the attestor attests again if one is due (`Attestor.attest_due`: at most once per its
   `min_interval`), otherwise the deposits wait for it;
3. simulate and sign `mintBatch`; record the signed transaction's hash and nonce, committed;
4. broadcast; wait for the receipt;
5. mark the deposits minted with the transaction hash and block, committed (in chunks of
   `SETTLE_CHUNK` deposits per transaction).

On a backlog the steps are pipelined: while one batch's transaction is being mined, the next
batch is claimed, signed, recorded and broadcast (at the next nonce), so up to `max_in_flight`
batches are sent and not yet settled; they are settled in nonce order. Without a backlog (the
last claim was not a full batch) one batch at a time is in flight.

A crash between any two steps leaves batches that `recover()` settles on restart, oldest first:
no recorded transaction → requeue; a receipt → minted (or, if it reverted, whatever the chain's
`Minted` events say); no receipt and the transaction gone → the chain's `Minted` events by
deposit id decide, the rest is requeued. The contract refuses a second mint of any deposit id,
so even a wrong guess can never mint twice.

The chain's pause flags are read before a claim only when no check or successful simulation
happened in the last `chain_recheck_seconds` (or while blocked); in between, a pause shows up as
the simulation's `TokenPaused`/`MintingIsPaused` revert (the batch is requeued, minting blocked),
or, for a batch already broadcast, as a reverted transaction settled by the chain's events.

While the reconciler has halted minting, `step` claims nothing; claimed batches still settle.

A simulation that reverts is diagnosed from the decoded custom error: an error about one item
(frozen or non-allowlisted beneficiary, amount above the minter's per-mint maximum) rejects the
deposits it names and releases their quota; an error about the whole token (paused, allowance
used up, no fresh attestation) leaves every deposit queued and backs off.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections import defaultdict, deque

from eth_account.signers.local import LocalAccount
from eth_typing import HexStr

from service import audit
from service.chain.leader import Lease
from service.chain.token import ChainError, ChainRevert, MintedEvent, Receipt, Token
from service.db import Database
from service.deposits import outbox
from service.deposits import repository as deposits_repository
from service.deposits.models import DepositStatus
from service.minting.batches import (
    BLOCKING_ERRORS,
    BucketEmpty,
    InFlight,
    Item,
    MinterStats,
    RateBucket,
    refused_items,
    take_covered,
    within_bucket,
)
from service.reserves import service as reserves
from service.reserves.attestor import Attestor
from service.retry import Backoff

log = logging.getLogger("ushk.minter")

# Deposits marked minted per transaction when a batch settles. Marking one holds SQLite's write
# lock for its quota, ledger and audit rows; in smaller transactions, with waiting writers let in
# between (`Database.let_writers_in`), deposits being accepted meanwhile wait for one chunk, not
# the whole batch (docs/performance.md, "Claims and settlements in chunks, with waiting writers
# let in"). A batch left half-marked by a crash is settled by `recover()` like any other
# (marking is idempotent per deposit and transaction).
SETTLE_CHUNK = 50
# Deposits claimed per transaction, for the same reason (a claim costs less per deposit).
CLAIM_CHUNK = 100
# Points at which `crash_at` makes the process SIGKILL itself: the crash-recovery tests use them.
FAILPOINTS = ("claimed", "recorded", "sent", "mined")


class Minter:
    """Mints the outbox's deposits with `signer` (MINTER_ROLE) on `token`.

    `attestor` (ATTESTOR_ROLE), when given, attests the recorded reserves before a batch whose
    mint the current attestation would not cover. `db` is passed in (never a global), so tests
    and several instances each drive their own. `max_in_flight` bounds the batches broadcast
    and not yet settled (1: no pipelining); `chain_recheck_seconds` is how long a passed pause
    check (or successful simulation) spares the next claim the pause check.
    """

    def __init__(
        self,
        db: Database,
        token: Token,
        signer: LocalAccount,
        *,
        attestor: Attestor | None = None,
        batch_size: int = 500,
        poll_seconds: float = 0.2,
        receipt_timeout: float = 120.0,
        from_block: int = 0,
        crash_at: str | None = None,
        max_in_flight: int = 2,
        chain_recheck_seconds: float = 1.0,
        linger_seconds: float = 0.0,
    ):
        if crash_at is not None and crash_at not in FAILPOINTS:
            raise ValueError(f"crash_at must be one of {FAILPOINTS}")
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.db = db
        self.token = token
        self.signer = signer
        self.attestor = attestor
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.receipt_timeout = receipt_timeout
        self.from_block = from_block
        self.crash_at = crash_at
        self.max_in_flight = max_in_flight
        self.chain_recheck_seconds = chain_recheck_seconds
        # Unless on a backlog, a batch is claimed at most once per `linger_seconds`: a steady
        # trickle of deposits then makes fewer, larger batches; a deposit after a quiet spell goes
        # at once (docs/performance.md, "Lingering below a full batch").
        self.linger_seconds = linger_seconds
        self._claimed_at = float("-inf")
        self._bucket = RateBucket(token, signer.address, chain_recheck_seconds)
        self.stats = MinterStats()
        self.lease = Lease(db.engine, "minter")
        self._nonce: int | None = None
        self._backoff = Backoff()
        self._in_flight: deque[InFlight] = deque()
        self._backlog = False  # the last claim was a full batch
        self._chain_ok_at = float("-inf")  # monotonic time of the last passed pause check / simulation

    # ---- the loop ----------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Mints until `stop` is set. Waits for the lease, recovers, then loops."""
        while not stop.is_set() and not self.lease.acquire():
            stop.wait(1.0)
        recovered = False
        try:
            while not stop.is_set():
                try:
                    if not recovered:
                        self.recover()  # settle what a previous run left open before minting more
                        recovered = True
                    done = self.step()
                except Exception as exc:  # node down, RPC error, database busy: retry
                    log.exception("minter step failed")
                    self._note_error(exc)
                    self._nonce = None
                    self._in_flight.clear()  # recover() settles them from the database
                    recovered = False
                    stop.wait(self._backoff.next())
                    continue
                if self.stats.blocked_by is None:
                    self._backoff.reset()  # errors are behind us
                if done == 0 and not self._in_flight:
                    stop.wait(max(self.poll_seconds, self._backoff.current))
            self._settle_in_flight()
        finally:
            self.lease.release()

    def step(self) -> int:
        """One turn: claims, signs, records and broadcasts new batches while fewer than
        `max_in_flight` are in flight (a second one only on a backlog: the previous claim was a
        full batch; off a backlog, no claim within `linger_seconds` of the previous one), then
        waits for the oldest batch in flight and settles it. Returns how many deposits it
        settled (minted, or rejected); 0 when idle, lingering or blocked."""
        settled = 0
        while len(self._in_flight) < self.max_in_flight:
            if self._in_flight and not self._backlog:
                break
            if not self._backlog and time.monotonic() - self._claimed_at < self.linger_seconds:
                break
            claimed = self._claim()
            if claimed is None:
                break
            self._failpoint("claimed")
            batch_id, items, uncovered = claimed
            before = len(self._in_flight)
            settled += self._mint(batch_id, items, retried=uncovered)
            if len(self._in_flight) == before:
                break  # refused in simulation: diagnosed, maybe blocked; settle what is in flight
        if self._in_flight:
            settled += self._settle_oldest()
        return settled

    def _claim(self) -> tuple[int, list[Item], bool] | None:
        """Claims the next batch: (batch id, items, whether even a new attestation did not
        cover it), or None when paused, halted, nothing is accepted, or what is accepted waits
        for the next attestation or for the minter's rate limit."""
        recent = time.monotonic() - self._chain_ok_at < self.chain_recheck_seconds
        if self.stats.blocked_by is not None or not recent:
            if self.token.minting_paused():
                self._blocked("minting_blocked_paused")
                return None
            self._chain_ok_at = time.monotonic()
        budget = None
        if self.attestor is not None:
            # mint what the current attestation covers; the rest waits for the next one
            budget = self.attestor.headroom(unmined=self._unmined_units)
            if budget == 0 and not self.attestor.attest_due():
                return None
        try:
            bucket = self._bucket.read(fresh=self.stats.blocked_by is not None)
            take = within_bucket(
                self._take, None if bucket is None else max(bucket - self._unmined_units(), 0)
            )
            halted, batch_id, items, uncovered = take_covered(
                take, self.attestor, budget, self._unmined_units
            )
        except BucketEmpty as empty:
            self._blocked("minting_blocked_rate_limit", str(empty))
            return None
        if halted:
            self._blocked("minting_blocked_halted", "minting halted by the reserve reconciler")
            return None
        self._backlog = len(items) >= self.batch_size
        if not items:
            return None
        self._claimed_at = time.monotonic()
        assert batch_id is not None  # the claim of `items` opened (or extended) it
        return batch_id, items, uncovered

    def _take(self, budget: int | None) -> tuple[bool, int | None, list[Item], bool]:
        """Claims the oldest accepted deposits within `budget` units (None: any), up to a
        batch, `CLAIM_CHUNK` per transaction (waiting writers let in between): (halted, batch
        id, items, whether a deposit was left for lack of units)."""
        items: list[Item] = []
        batch_id = None
        while True:
            with self.db.transaction() as session:
                # the reconciler's halt (service/reserves): nothing is claimed until an operator resumes
                if batch_id is None and reserves.minting_halted(session):
                    return True, None, [], False
                left = None if budget is None else budget - sum(i.units for i in items)
                want = min(CLAIM_CHUNK, self.batch_size - len(items))
                deposits, short = outbox.claim_covered(session, want, left, batch_id=batch_id)
            items += [Item(d.id, d.beneficiary, d.onchain_amount, d.deposit_id) for d in deposits]
            if deposits:
                batch_id = deposits[0].mint_batch_id
            if short or len(deposits) < want or len(items) >= self.batch_size:
                return False, batch_id, items, short
            self.db.let_writers_in()

    def drain(self, timeout: float = 60.0) -> None:
        """Mints until no deposit is accepted or minting (tests and the benchmark use it)."""
        deadline = time.monotonic() + timeout
        self.recover()
        while time.monotonic() < deadline:
            self.step()
            with self.db.reading() as session:
                counts = deposits_repository.count_by_status(session)
            if not counts.get(DepositStatus.ACCEPTED) and not counts.get(DepositStatus.MINTING):
                return
            if self.stats.blocked_by:
                time.sleep(self.poll_seconds)
        raise TimeoutError(f"outbox not drained in {timeout}s: {counts}")

    # ---- one batch ---------------------------------------------------------------------------

    def _mint(self, batch_id: int, items: list[Item], *, retried: bool = False) -> int:
        """Attestation check, simulation, record, broadcast: the batch joins those in flight
        (returns 0), or its simulation reverted and was diagnosed (returns what that settled).
        `retried`: an attestation was just made and does not cover the batch: the simulation
        decides."""
        units = sum(i.units for i in items)
        if self.attestor is not None and not retried:
            self.attestor.ensure_covers(units, unmined=self._unmined_units)
        payload = [(i.beneficiary, i.units, i.deposit_id) for i in items]
        try:
            signed = self.token.build_mint_batch(self.signer, payload, self._next_nonce())
        except ChainRevert as err:
            covering = err.name in ("ReserveCeilingExceeded", "AttestationStale") and not retried
            if covering and self.attestor and self.attestor.can_attest:
                self.attestor.attest(reason=err.name)
                return self._mint(batch_id, items, retried=True)
            return self._diagnose(items, err)
        self._chain_ok_at = time.monotonic()  # the simulation passed: not paused
        with self.db.transaction() as session:
            outbox.record_batch_sent(session, batch_id, signed.tx_hash, signed.nonce)
        self._failpoint("recorded")
        try:
            self.token.send_raw(signed)
        except ChainError:
            self._nonce = None
            raise
        self._nonce = signed.nonce + 1
        self._in_flight.append(InFlight(batch_id, items, signed, self.stats.blocked_by))
        self._failpoint("sent")
        return 0

    def _settle_oldest(self) -> int:
        """Waits for the oldest batch in flight to be mined and settles it."""
        batch = self._in_flight[0]
        receipt = self.token.wait_receipt(batch.signed.tx_hash, timeout=self.receipt_timeout)
        self._failpoint("mined")
        self._in_flight.popleft()
        # a block that came after this batch was sent (a later batch refused) is not lifted by it
        return self._settle(batch.items, receipt, unblock=self.stats.blocked_by == batch.blocked_by)

    def _settle_in_flight(self) -> None:
        """Settles every batch in flight (on stop); what fails is left to the next `recover()`."""
        try:
            while self._in_flight:
                self._settle_oldest()
        except Exception as exc:  # noqa: BLE001 - node or database down: recover() on restart
            log.warning("batches left in flight for the next start: %s", exc)
            self._in_flight.clear()

    def _settle(self, items: list[Item], receipt: Receipt, *, unblock: bool = True) -> int:
        """Records a mined batch: all minted, or (reverted) whatever the chain says per deposit."""
        if receipt.status == 1:
            seqs = [i.seq for i in items]
            for start in range(0, len(seqs), SETTLE_CHUNK):
                if start:
                    self.db.let_writers_in()
                with self.db.transaction() as session:
                    outbox.mark_minted(
                        session, seqs[start : start + SETTLE_CHUNK], receipt.tx_hash, receipt.block_number
                    )
            self.stats.batches += 1
            self.stats.minted += len(items)
            if unblock:
                self._unblocked()
            return len(items)
        log.warning("mint batch %s reverted on chain; reconciling by deposit id", receipt.tx_hash)
        return self._reconcile(items, reason=f"transaction {receipt.tx_hash} reverted")

    def _reconcile(self, items: list[Item], *, reason: str) -> int:
        """Marks minted what the chain's `Minted` events show, requeues the rest.

        An event for one of these deposit ids that pays someone else or another amount means
        the id was used outside the outbox: the deposit is rejected (its id is spent on chain)
        and an alert goes into the audit log.
        """
        events = self.token.minted_events(self.from_block, "latest", [i.deposit_id for i in items])
        item_by_id = {i.deposit_id: i for i in items}
        by_tx: dict[tuple[str, int], list[int]] = defaultdict(list)
        mismatched: list[tuple[Item, MintedEvent]] = []
        seen = set()
        for event in events:
            item = item_by_id.get(event.deposit_id)
            if item is None or event.deposit_id in seen:
                continue
            seen.add(event.deposit_id)
            if event.to.lower() == item.beneficiary.lower() and event.amount == item.units:
                by_tx[(event.tx_hash, event.block_number)].append(item.seq)
            else:
                mismatched.append((item, event))
        rest = [i.seq for i in items if i.deposit_id not in seen]
        with self.db.transaction() as session:
            for (tx_hash, block), seqs in by_tx.items():
                outbox.mark_minted(session, seqs, tx_hash, block)
            for item, event in mismatched:
                outbox.mark_rejected(
                    session,
                    [item.seq],
                    "deposit_id_minted_elsewhere",
                    f"deposit id minted on chain to {event.to} for {event.amount} units in {event.tx_hash}",
                )
                audit.record(
                    session,
                    "alert.mint_mismatch",
                    "minter",
                    {
                        "deposit_seq": item.seq,
                        "tx_hash": event.tx_hash,
                        "to": event.to,
                        "amount_units": str(event.amount),
                        "expected_units": str(item.units),
                    },
                )
            if rest:
                outbox.requeue(session, rest, reason=reason)
        minted = sum(len(seqs) for seqs in by_tx.values())
        self.stats.minted += minted
        self.stats.rejected += len(mismatched)
        self.stats.requeued += len(rest)
        return minted + len(mismatched)

    def _diagnose(self, items: list[Item], err: ChainRevert) -> int:
        """A simulated batch reverted: reject the deposits the error names, or keep all queued."""
        if err.name == "DepositAlreadyMinted":
            # minted behind the outbox's back (or by a lost transaction): the chain decides
            return self._reconcile(items, reason="a deposit of the batch was already minted")
        bad, code, reason = refused_items(err, items)
        if bad:
            bad_seqs = {i.seq for i in bad}
            with self.db.transaction() as session:
                outbox.mark_rejected(session, sorted(bad_seqs), code, reason)
                rest = [i.seq for i in items if i.seq not in bad_seqs]
                if rest:
                    outbox.requeue(session, rest, reason=f"batch held back by {code}")
            self.stats.rejected += len(bad_seqs)
            log.warning("rejected %d deposit(s): %s", len(bad_seqs), reason)
            return len(bad_seqs)
        blocked = BLOCKING_ERRORS.get(err.name, "minting_blocked_unknown")
        with self.db.transaction() as session:
            outbox.requeue(session, [i.seq for i in items], reason=f"mint refused on chain: {err}")
        self.stats.requeued += len(items)
        self._blocked(blocked, str(err))
        return 0

    # ---- recovery ----------------------------------------------------------------------------

    def recover(self) -> None:
        """Settles every batch a previous run (or this one, before an error) left open, oldest
        first (see the module docstring)."""
        self._in_flight.clear()
        with self.db.reading() as session:
            open_batches = [
                (
                    b.id,
                    b.tx_hash,
                    b.nonce,
                    [
                        Item(d.id, d.beneficiary, d.onchain_amount, d.deposit_id)
                        for d in outbox.batch_deposits(session, b.id)
                        if d.status == DepositStatus.MINTING
                    ],
                )
                for b in outbox.in_flight_batches(session)
            ]
        for batch_id, tx_hash, nonce, items in open_batches:
            if not items:
                continue
            if tx_hash is None:
                with self.db.transaction() as session:
                    outbox.requeue(session, [i.seq for i in items], reason="claimed, never sent")
                self.stats.requeued += len(items)
                continue
            receipt = self.token.receipt(tx_hash)
            if receipt is None and self._still_pending(tx_hash):
                receipt = self.token.wait_receipt(tx_hash, timeout=self.receipt_timeout)
            if receipt is not None:
                self._settle(items, receipt)
            else:
                self._reconcile(items, reason=f"transaction {tx_hash} (nonce {nonce}) never landed")
            log.info("recovered mint batch %s", batch_id)
        self._nonce = None

    def _still_pending(self, tx_hash: str) -> bool:
        try:
            self.token.w3.eth.get_transaction(HexStr(tx_hash))
        except Exception:  # noqa: BLE001 - not found, in any of web3's spellings
            return False
        return True

    # ---- helpers -----------------------------------------------------------------------------

    def _unmined_units(self) -> int:
        """Units of the batches in flight whose nonce the chain has not mined yet."""
        if not self._in_flight:
            return 0
        mined = self.token.mined_nonce(self.signer.address)
        return sum(b.units for b in self._in_flight if b.signed.nonce >= mined)

    def _next_nonce(self) -> int:
        if self._nonce is None:
            self._nonce = self.token.pending_nonce(self.signer.address)
        return self._nonce

    def _failpoint(self, name: str) -> None:
        if self.crash_at == name:
            log.error("failpoint %s: killing the process", name)
            os.kill(os.getpid(), signal.SIGKILL)

    def _blocked(self, code: str, detail: str = "") -> None:
        if self.stats.blocked_by != code:
            log.warning("minting blocked: %s %s", code, detail)
            with self.db.transaction() as session:
                audit.record(session, "mint.blocked", "minter", {"code": code, "detail": detail[:300]})
        self.stats.blocked_by = code
        self._backoff.next()

    def _unblocked(self) -> None:
        if self.stats.blocked_by is not None:
            log.info("minting resumed")
            with self.db.transaction() as session:
                audit.record(session, "mint.resumed", "minter", {"after": self.stats.blocked_by})
        self.stats.blocked_by = None
        self._backoff.reset()

    def _note_error(self, exc: BaseException) -> None:
        log.warning("minter error: %s", exc)
        self.stats.errors.append(str(exc)[:300])
        del self.stats.errors[:-20]
