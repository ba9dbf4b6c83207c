"""The reserve reconciler: chain supply vs ledger vs reserves vs the last attestation.

Each pass (`reconcile_once`):

1. follows the token's events up to block N (below) into the ledger, and checks that every
   `Minted` event is the mint of a deposit the service accepted (service/reserves/follower.py);
2. compares the chain as of block N (read at the start of the pass: the newest block with
   `confirmations` blocks on top, see `pinned_block`; every chain read is an `eth_call`
   pinned to N) with one snapshot of the database (one read transaction,
   begun after N was read), exactly, in token units (`measure`):
   * `supply_mismatch`: totalSupply(N) != the ledger's minted - redeemed - wiped for blocks <= N,
     plus the mints in flight (deposits still `minting` whose `Minted` event is in a block <= N),
     plus differences operators acknowledged when resuming. A deposit is marked `minting` before
     its transaction is signed, so any mint in a block <= N was claimed before the snapshot
     began: in it, it is either posted or in flight, never both, never neither.
   * `reserves_below_supply`: the recorded reserves (custody as of N) are less than the supply;
   * `supply_above_attestation`: the supply exceeds the last attestation;
   * `attestation_above_reserves`: the attestation (read after the snapshot) claims more
     than custody holds;
   * `ledger_unbalanced`: a posting whose lines do not sum to zero.
3. any finding: an `alert.reserves_discrepancy` entry in the audit log, a persistent minting
   halt (the minter claims nothing while it is active) and, when the service holds the pauser
   key, `pauseMinting` on chain. Only `resume_minting` (service/reserves/resume.py: an operator,
   with a cause) lifts it,
   after a fresh reconciliation: what it still measures must be fixed, or, for a supply
   difference, acknowledged exactly; it unpauses on chain only if the service paused.

A stale attestation is reported (`stale_attestation` in the result) but is not a discrepancy:
the attestor renews it before the next mint.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from eth_account.signers.local import LocalAccount
from sqlalchemy import select
from sqlalchemy.orm import Session

from service import ledger
from service.chain.events import to_hex
from service.chain.token import ChainState, Token
from service.db import Database
from service.deposits.ids import deposit_id_for, seq_for_deposit_id
from service.deposits.models import Deposit, DepositStatus
from service.money import cents_to_units
from service.reserves import service as reserves
from service.reserves.follower import ACTOR, ID_CHUNK, ChainFollower, deposit_rows

log = logging.getLogger("ushk.reconciler")


@dataclass
class ReconcileResult:
    block: int
    supply_units: int
    ledger_supply_units: int
    in_flight_units: int
    acknowledged_units: int
    reserves_cents: int
    attestable_cents: int
    attested_units: int
    attested_at: int
    stale_attestation: bool
    findings: list[dict] = field(default_factory=list)
    halted: bool = False
    halt_created: bool = False
    pause_tx_hash: str | None = None

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def explained_units(self) -> int:
        """The supply the ledger explains at `block`: posted, in flight and acknowledged."""
        return self.ledger_supply_units + self.in_flight_units + self.acknowledged_units

    @property
    def difference_units(self) -> int:
        """Supply minus what the ledger explains (> 0: tokens no deposit explains)."""
        return self.supply_units - self.explained_units

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "block": self.block,
            "supply_units": str(self.supply_units),
            "ledger_supply_units": str(self.ledger_supply_units),
            "in_flight_units": str(self.in_flight_units),
            "acknowledged_units": str(self.acknowledged_units),
            "difference_units": str(self.difference_units),
            "reserves_cents": str(self.reserves_cents),
            "attestable_cents": str(self.attestable_cents),
            "attested_units": str(self.attested_units),
            "attested_at": self.attested_at,
            "stale_attestation": self.stale_attestation,
            "findings": self.findings,
            "halted": self.halted,
            "halt_created": self.halt_created,
            "pause_tx_hash": self.pause_tx_hash,
        }


class Reconciler:
    """Reconciles `db`'s ledger with `token`. `pauser` (PAUSER_ROLE), when given, pauses minting
    on chain when a discrepancy halts it."""

    def __init__(
        self,
        db: Database,
        token: Token,
        *,
        pauser: LocalAccount | None = None,
        from_block: int = 0,
        batch_blocks: int = 2000,
        interval: float = 10.0,
        confirmations: int = 1,
    ):
        if confirmations < 1:
            raise ValueError("confirmations must be at least 1 (see `pinned_block`)")
        self.db = db
        self.token = token
        self.pauser = pauser
        self.confirmations = confirmations
        self.from_block = from_block
        self.batch_blocks = batch_blocks
        self.interval = interval
        self.follower = ChainFollower(db, token, from_block=from_block, batch_blocks=batch_blocks)
        self.last: ReconcileResult | None = None
        # for the workers' metrics (service/ops/metrics.py): passes by outcome, whether the last
        # one raised, when the last one completed (Unix time)
        self.passes = {"ok": 0, "findings": 0, "error": 0}
        self.last_failed = False
        self.last_pass_at: float | None = None
        # check(): per deposit seen in `minting`, the first block its Minted event was not
        # looked for yet, or its event once found (see _minted_of)
        self._mint_scan: dict[bytes, int] = {}
        self._found: dict[bytes, object] = {}
        self._prev_head: int | None = None
        self._scan_head: tuple[int, str] | None = None

    # ---- the loop ----------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Reconciles every `interval` seconds until `stop` is set; failures are retried."""
        while not stop.is_set():
            try:
                self.reconcile_once()
            except Exception:  # node down, database busy: next pass
                log.exception("reconciliation pass failed")
                self.passes["error"] += 1
                self.last_failed = True
            stop.wait(self.interval)

    def pinned_block(self) -> int:
        """The block a pass reads the chain at: the newest one with `confirmations` blocks on
        top. Never the head itself: anvil (1.7.1) can answer a call pinned to its newest block
        with the state of the block it is mining (seen here: one read in about 1,300 under
        load), and real chains reorganise their newest blocks."""
        return self.token.block_number() - self.confirmations

    def reconcile_once(
        self, *, act: bool = True, progress: Callable[[int], None] | None = None
    ) -> ReconcileResult:
        """Follows the chain up to block N (`pinned_block`), then compares at N (`check`). `act=False` only
        measures: the comparison halts nothing (an unbacked mint found while following is
        still alerted and halts). `progress(n)` is called with the blocks of each range followed."""
        head = self.pinned_block()
        findings, follow_halted = self.follower.follow(head, progress=progress)
        result = self.check(findings, block=head, act=act)
        result.halt_created = result.halt_created or follow_halted
        self.last = result
        self.last_failed = False
        self.last_pass_at = time.time()
        self.passes["ok" if result.ok else "findings"] += 1
        return result

    def check(
        self, findings: list[dict] | None = None, *, block: int | None = None, act: bool = True
    ) -> ReconcileResult:
        """Compares the ledger with the chain at block `block` (`pinned_block` when not given) and,
        when `act` and something is found, halts minting (see `measure`)."""
        result = self.measure(findings, block=block)
        if result.findings and act:
            self._halt(result, result.difference_units)
        elif not result.findings and not result.halted:
            log.debug("reconciled at block %s: supply %s units", result.block, result.supply_units)
        return result

    def measure(self, findings: list[dict] | None = None, *, block: int | None = None) -> ReconcileResult:
        """One comparison, exact in token units: the chain as of block N against one snapshot
        of the database, read after N was mined.

        N is read first, then the snapshot (one read transaction: `Database.reading`), then
        the chain's state at N (`eth_call` pinned to N). A deposit becomes `minting` in a
        committed transaction before its mint is signed, so every mint mined in a block <= N
        was claimed before N was read, hence before the snapshot: in it, its deposit is either
        `minted` with a posting at its block (<= N), or still `minting` with its `Minted`
        event at a block <= N (in flight: counted from the event). A commit landing while the
        snapshot is read changes nothing in it; a posting of a later block is not counted.
        Against the supply at N, custody is taken as of N too: payouts settled for burns after
        N are added back. Whether the attestation claims more than custody holds is asked of the
        attestation as it is after the snapshot was read (it comes down before a bank can
        settle, so a settlement in the snapshot is always behind a lowered attestation).

        N is never the head (`pinned_block`)."""
        findings = list(findings or [])
        if block is None:
            block = self.pinned_block()
        with self.db.reading() as session:
            view = _read_view(session, block, list(self._mint_scan))
        state = self.token.state_at(block)
        # The attestation now, read after the snapshot: an attestation lowered after N (the
        # watcher lowers it before a payout exists) and a settlement since are compared as they
        # are, not the attestation of N with custody after the settlement.
        attested_now = self.token.reserve_attestation().amount
        in_flight = 0
        by_id = {d.deposit_id: d for d in view.minting}
        for event in self._minted_of(list(by_id), state, view.finished):
            d = by_id.get(event.deposit_id)
            if d is not None and event.amount == d.units and event.to.lower() == d.beneficiary.lower():
                in_flight += event.amount
                by_id.pop(event.deposit_id)
        supply = state.total_supply
        attestation = state.attestation
        amount, attested_at = attestation.amount, attestation.timestamp
        explained = view.ledger_units + in_flight + view.acknowledged
        custody_at_block = view.balances.reserves + view.paid_after
        reserves_units = custody_at_block * 10_000
        if supply != explained:
            findings.append(
                {
                    "code": "supply_mismatch",
                    "message": f"totalSupply {supply} units at block {block}; the ledger explains {explained}",
                    "supply_units": str(supply),
                    "explained_units": str(explained),
                    "block": block,
                }
            )
        if reserves_units < supply:
            findings.append(
                {
                    "code": "reserves_below_supply",
                    "message": f"reserves {custody_at_block} cents < supply {supply} units at block {block}",
                    "supply_units": str(supply),
                    "reserves_cents": str(custody_at_block),
                    "block": block,
                }
            )
        if attested_at and supply > amount:
            findings.append(
                {
                    "code": "supply_above_attestation",
                    "message": f"supply {supply} units > attested {amount} units at block {block}",
                    "supply_units": str(supply),
                    "attested_units": str(amount),
                    "block": block,
                }
            )
        if attested_now > view.balances.reserves * 10_000:
            findings.append(
                {
                    "code": "attestation_above_reserves",
                    "message": f"attested {attested_now} units > reserves {view.balances.reserves} cents",
                    "attested_units": str(attested_now),
                    "reserves_cents": str(view.balances.reserves),
                }
            )
        if view.unbalanced:
            findings.append(
                {
                    "code": "ledger_unbalanced",
                    "message": "postings that do not balance",
                    "posting_ids": view.unbalanced[:20],
                }
            )
        stale = attested_at == 0 or state.timestamp - attested_at > state.max_attestation_age
        return ReconcileResult(
            block=block,
            supply_units=supply,
            ledger_supply_units=view.ledger_units,
            in_flight_units=in_flight,
            acknowledged_units=view.acknowledged,
            reserves_cents=custody_at_block,
            attestable_cents=view.balances.attestable,
            attested_units=amount,
            attested_at=attested_at,
            stale_attestation=stale,
            findings=findings,
            halted=view.halted,
        )

    def _minted_of(self, ids: list[bytes], state: ChainState, finished: set[bytes]) -> list:
        """The `Minted` events in blocks from_block..N (`state.block`) of the deposits `ids`
        (those in `minting` in the snapshot), without rescanning from the deployment block
        every pass.

        Per deposit ever seen in `minting` (until it is minted or rejected: `finished`), the
        reconciler remembers its event once found, or else the first block not yet scanned for
        it: blocks <= N never change once N is mined, so a scan of lb..N that found nothing
        moves lb to N + 1. A deposit first seen in `minting` was not `minting` in the previous
        pass's snapshot (every deposit that was is remembered), so all its mint transactions
        were sent, and mined, after that snapshot began, which was after that pass's block was
        mined: in blocks above it. On the first pass, or when the chain went back (a reorg, an
        anvil revert), the scan starts at the deployment block."""
        block = state.block
        if self._scan_head is not None and not self._same_chain():
            self._mint_scan.clear()
            self._found.clear()
            self._prev_head = None
        for d in finished:
            self._mint_scan.pop(d, None)
            self._found.pop(d, None)
        start_new = self.from_block if self._prev_head is None else self._prev_head + 1
        for d in ids:
            self._mint_scan.setdefault(d, start_new)
        events = [self._found[d] for d in ids if d in self._found]
        scan = [d for d in ids if d not in self._found]
        if scan:
            lowest = min(self._mint_scan[d] for d in scan)
            for i in range(0, len(scan), ID_CHUNK):
                chunk = scan[i : i + ID_CHUNK]
                if lowest <= block:
                    for event in self.token.minted_events(lowest, block, chunk):
                        self._found[event.deposit_id] = event
                        events.append(event)
            for d in scan:
                if d not in self._found:
                    self._mint_scan[d] = max(self._mint_scan[d], block + 1)
        self._prev_head = block
        self._scan_head = (block, state.block_hash)
        return events

    def _block_hash(self, number: int) -> str:
        return to_hex(self.token.w3.eth.get_block(number)["hash"])

    def _same_chain(self) -> bool:
        assert self._scan_head is not None  # called only after a scan
        number, hash_ = self._scan_head
        try:
            return self._block_hash(number) == hash_
        except Exception:  # noqa: BLE001 - the block is gone (the chain went back)
            return False

    # ---- 3. halt -----------------------------------------------------------------------------

    def _halt(self, result: ReconcileResult, difference: int) -> None:
        with self.db.transaction() as session:
            row, created = reserves.halt(session, result.findings, difference_units=difference, actor=ACTOR)
            halt_id, paused = row.id, row.paused_on_chain
        result.halted = True
        result.halt_created = created
        if created:
            log.error("minting halted: %s", [f["code"] for f in result.findings])
        if self.pauser is not None and not paused:
            if not self.token.contract.functions.mintingPaused().call():
                receipt = self.token.transact(self.pauser, "pauseMinting")
                result.pause_tx_hash = receipt.tx_hash
                with self.db.transaction() as session:
                    reserves.note_paused_on_chain(session, halt_id, receipt.tx_hash, actor=ACTOR)
                log.error("minting paused on chain in %s", receipt.tx_hash)


@dataclass(frozen=True)
class _Minting:
    deposit_id: bytes
    units: int
    beneficiary: str


@dataclass(frozen=True)
class _View:
    """What one pass reads from its database snapshot (see `Reconciler.measure`)."""

    balances: ledger.Balances
    minting: list[_Minting]
    finished: set[bytes]
    unbalanced: list[int]
    acknowledged: int
    halted: bool
    ledger_units: int
    paid_after: int


_MINTING_ROWS = select(Deposit.id, Deposit.amount_cents, Deposit.beneficiary).where(
    Deposit.status == DepositStatus.MINTING
)


def _read_view(session: Session, block: int, known: list[bytes]) -> _View:
    """Everything a comparison at block `block` needs, from `session`'s one snapshot. `known`:
    the deposits whose mint events the reconciler is following (those no longer `minting`
    are looked up to forget the finished ones)."""
    minting = [
        _Minting(deposit_id_for(seq), cents_to_units(cents), beneficiary)
        for seq, cents, beneficiary in session.execute(_MINTING_ROWS)
    ]
    in_minting = {m.deposit_id for m in minting}
    return _View(
        balances=ledger.balances(session),
        minting=minting,
        finished=_finished(session, [d for d in known if d not in in_minting]),
        unbalanced=ledger.unbalanced_postings(session),
        acknowledged=reserves.acknowledged_difference(session),
        halted=reserves.minting_halted(session),
        ledger_units=ledger.supply_units(session, block),
        paid_after=ledger.custody_paid_after(session, block),
    )


def _finished(session: Session, deposit_ids: list[bytes]) -> set[bytes]:
    """The deposits among `deposit_ids` that are minted or rejected (final statuses)."""
    if not deposit_ids:
        return set()
    rows = deposit_rows(session, {seq_for_deposit_id(d) for d in deposit_ids})
    final = (DepositStatus.MINTED, DepositStatus.REJECTED)
    return {
        d for d in deposit_ids if (row := rows.get(seq_for_deposit_id(d))) is not None and row.status in final
    }
