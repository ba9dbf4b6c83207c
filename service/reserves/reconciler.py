"""The reserve reconciler: chain supply vs ledger vs reserves vs the last attestation.

Each pass (`reconcile_once`):

1. follows the token's events up to block N (below), in ranges each processed in one transaction with
   the cursor (`chain_cursors`, name "reserves"):
   * `Minted`: must be the mint of a deposit the service accepted (accepted, minting or minted,
     same beneficiary and amount). Anything else (another minter minting behind the service's
     back, a foreign deposit id) is an `unbacked_mint`.
   * `RedemptionRequested`: posted to the ledger (tokens outstanding -> pending payouts).
   * `FrozenBalanceWiped`: posted (tokens outstanding -> wiped) and audited.
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
   key, `pauseMinting` on chain. Only `resume_minting` (an operator, with a cause) lifts it,
   after a fresh reconciliation: what it still measures must be fixed, or, for a supply
   difference, acknowledged exactly; it unpauses on chain only if the service paused.

A stale attestation is reported (`stale_attestation` in the result) but is not a discrepancy:
the attestor renews it before the next mint.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from sqlalchemy import bindparam, select

from service import audit
from service.chain.token import ChainState, Token
from service.db import Database, utcnow
from service.deposits.ids import deposit_id_for, seq_for_deposit_id
from service.deposits.models import Deposit, DepositStatus
from service.money import cents_to_units
from service.errors import ServiceError
from service.redemptions.models import ChainCursor
from service.reserves import ledger
from service.reserves import service as reserves
from service.reserves.models import MintingHalt

log = logging.getLogger("ushk.reconciler")

CURSOR = "reserves"
ACTOR = "reconciler"
BACKED_STATUSES = (DepositStatus.ACCEPTED, DepositStatus.MINTING, DepositStatus.MINTED)
# Ledger postings (redemptions, wipes) per write transaction at most, split at block boundaries.
MAX_EVENTS_PER_TRANSACTION = 200
# Deposit ids per `id IN (...)` query.
ID_CHUNK = 500


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
        events = token.contract.events
        self._minted = events.Minted()
        self._redeemed = events.RedemptionRequested()
        self._wiped = events.FrozenBalanceWiped()
        self._by_topic = {_hex(e.topic): e for e in (self._minted, self._redeemed, self._wiped)}
        self._decoders = {
            _hex(e.topic): _EventDecoder(kind, e.abi)
            for kind, e in ((_MINTED, self._minted), (_REDEEMED, self._redeemed), (_WIPED, self._wiped))
        }
        self.last: ReconcileResult | None = None
        # check(): per deposit seen in `minting`, the first block its Minted event was not
        # looked for yet, or its event once found (see _minted_of)
        self._mint_scan: dict[bytes, int] = {}
        self._found: dict[bytes, object] = {}
        self._prev_head: int | None = None
        self._scan_head: tuple[int, str] | None = None
        self._follow_halted = False

    # ---- the loop ----------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Reconciles every `interval` seconds until `stop` is set; failures are retried."""
        while not stop.is_set():
            try:
                self.reconcile_once()
            except Exception:  # noqa: BLE001 - node down, database busy: next pass
                log.exception("reconciliation pass failed")
            stop.wait(self.interval)

    def pinned_block(self) -> int:
        """The block a pass reads the chain at: the newest one with `confirmations` blocks on
        top. Never the head itself: anvil (1.7.1) can answer a call pinned to its newest block
        with the state of the block it is mining (seen here: one read in about 1,300 under
        load), and real chains reorganise their newest blocks."""
        return self.token.block_number() - self.confirmations

    def reconcile_once(self, *, act: bool = True) -> ReconcileResult:
        """Follows the chain up to block N (`pinned_block`), then compares at N (`check`). `act=False` only
        measures: the comparison halts nothing (an unbacked mint found while following is
        still alerted and halts)."""
        head = self.pinned_block()
        self._follow_halted = False
        findings = self.follow(head)
        result = self.check(findings, block=head, act=act)
        result.halt_created = result.halt_created or self._follow_halted
        self.last = result
        return result

    # ---- 1. follow the chain -----------------------------------------------------------------

    def cursor(self) -> int:
        with self.db.reading() as session:
            stored = session.get(ChainCursor, CURSOR)
        return self.from_block - 1 if stored is None else stored.block_number

    def follow(self, to_block: int) -> list[dict]:
        """Processes events up to `to_block`; returns the unbacked mints found (already alerted).

        Per range, everything slow happens before the write transaction: the logs are fetched
        and decoded, and the deposits behind its `Minted` events are read in bulk (a few
        `id IN (...)` queries) in a read snapshot. A verdict on a deposit that is `minted` (a
        final status; beneficiary and amount never change) is final there; only the mints of
        deposits in another status (or unknown) are read again inside the write transaction,
        so the findings are those of a check made in it. The write transactions then hold the
        ledger postings of redemptions and wipes (at most `MAX_EVENTS_PER_TRANSACTION` each,
        split at block boundaries), the alerts and the cursor."""
        findings: list[dict] = []
        start = self.cursor() + 1
        while start <= to_block:
            end = min(to_block, start + self.batch_blocks - 1)
            events = self._events(start, end)
            mints = [e for e in events if e.kind == _MINTED]
            problems, recheck = self._check_mints_read(mints)
            for group_end, group in _groups(events, end, MAX_EVENTS_PER_TRANSACTION):
                group_mints = [e for e in group if e.kind == _MINTED]
                now = utcnow()
                with self.db.transaction() as session:
                    again = [e for e in group_mints if e.seq in recheck]
                    if again:
                        rows = _deposit_rows(session, {e.seq for e in again})
                        for e in again:
                            problems[id(e)] = _mint_problem(e, rows.get(e.seq))
                    found = []
                    for e in group:
                        if e.kind == _MINTED:
                            problem = problems.get(id(e))
                            if problem:
                                found.append({
                                    "code": "unbacked_mint", "message": problem,
                                    "deposit_id": "0x" + e.args["depositId"].hex(),
                                    "to": e.args["to"], "amount_units": str(e.args["amount"]),
                                    "minter": e.args["minter"], "tx_hash": e.tx_hash,
                                    "block_number": e.block,
                                })
                        elif e.kind == _REDEEMED:
                            ledger.record_redemption(
                                session, redemption_id=int(e.args["redemptionId"]), units=int(e.args["amount"]),
                                holder=e.args["holder"], tx_hash=e.tx_hash, block_number=e.block,
                                actor=ACTOR, now=now,
                            )
                        else:
                            ledger.record_wipe(
                                session, account=e.args["account"], units=int(e.args["amount"]),
                                tx_hash=e.tx_hash, log_index=e.log_index, block_number=e.block,
                                actor=ACTOR, now=now,
                            )
                    _advance(session, group_end, now)
                    if found:
                        _, created = reserves.halt(session, found, difference_units=0, actor=ACTOR, now=now)
                        self._follow_halted = self._follow_halted or created
                        for f in found:
                            audit.record(session, "alert.unbacked_mint", ACTOR, f, now=now)
                findings.extend(found)
            start = end + 1
        return findings

    def _events(self, start: int, end: int) -> list[_Event]:
        """The token's followed events in blocks start..end, decoded, in chain order."""
        raw = self.token.w3.provider.make_request("eth_getLogs", [{
            "address": self.token.address, "fromBlock": hex(start), "toBlock": hex(end),
            "topics": [list(self._by_topic)],
        }])
        if raw.get("error"):
            raise RuntimeError(f"eth_getLogs {start}..{end} failed: {raw['error']}")
        events = [self._decode(entry) for entry in raw["result"]]
        events.sort(key=lambda e: (e.block, e.log_index))
        return events

    def _decode(self, entry: dict) -> _Event:
        topics = [_hex(t) for t in entry["topics"]]
        decoder = self._decoders.get(topics[0]) if topics else None
        if decoder is None or entry.get("removed"):
            raise ValueError(f"unexpected log from eth_getLogs: {entry}")
        return decoder.decode(topics, _bytes(entry["data"]), _hex(entry["transactionHash"]),
                              _int(entry["blockNumber"]), _int(entry["logIndex"]))

    def _check_mints_read(self, mints: list[_Event]) -> tuple[dict[int, str | None], set[int]]:
        """Verdicts on `mints` from a read snapshot: ({id(event): problem}, the seqs to read
        again in the write transaction: every deposit not yet `minted`)."""
        problems: dict[int, str | None] = {}
        valid = []
        for e in mints:
            try:
                e.seq = seq_for_deposit_id(e.args["depositId"])
            except ValueError as exc:
                problems[id(e)] = f"Minted event with a deposit id the service never issued ({exc})"
            else:
                valid.append(e)
        if not valid:
            return problems, set()
        with self.db.reading() as session:
            rows = _deposit_rows(session, {e.seq for e in valid})
        recheck: set[int] = set()
        for e in valid:
            row = rows.get(e.seq)
            problems[id(e)] = _mint_problem(e, row)
            if row is None or row.status != DepositStatus.MINTED:
                recheck.add(e.seq)
        return problems, recheck

    # ---- 2. compare --------------------------------------------------------------------------

    def check(self, findings: list[dict] | None = None, *, block: int | None = None,
              act: bool = True) -> ReconcileResult:
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
            findings.append({
                "code": "supply_mismatch",
                "message": f"totalSupply {supply} units at block {block}; the ledger explains {explained}",
                "supply_units": str(supply), "explained_units": str(explained), "block": block,
            })
        if reserves_units < supply:
            findings.append({"code": "reserves_below_supply",
                             "message": f"reserves {custody_at_block} cents < supply {supply} units at block {block}",
                             "supply_units": str(supply), "reserves_cents": str(custody_at_block),
                             "block": block})
        if attested_at and supply > amount:
            findings.append({"code": "supply_above_attestation",
                             "message": f"supply {supply} units > attested {amount} units at block {block}",
                             "supply_units": str(supply), "attested_units": str(amount), "block": block})
        if attested_now > view.balances.reserves * 10_000:
            findings.append({"code": "attestation_above_reserves",
                             "message": f"attested {attested_now} units > reserves {view.balances.reserves} cents",
                             "attested_units": str(attested_now), "reserves_cents": str(view.balances.reserves)})
        if view.unbalanced:
            findings.append({"code": "ledger_unbalanced", "message": "postings that do not balance",
                             "posting_ids": view.unbalanced[:20]})
        stale = attested_at == 0 or state.timestamp - attested_at > state.max_attestation_age
        return ReconcileResult(
            block=block, supply_units=supply, ledger_supply_units=view.ledger_units, in_flight_units=in_flight,
            acknowledged_units=view.acknowledged, reserves_cents=custody_at_block,
            attestable_cents=view.balances.attestable, attested_units=amount, attested_at=attested_at,
            stale_attestation=stale, findings=findings, halted=view.halted,
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
                chunk = scan[i: i + ID_CHUNK]
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
        return _hex(self.token.w3.eth.get_block(number)["hash"])

    def _same_chain(self) -> bool:
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


_MINTED, _REDEEMED, _WIPED = "Minted", "RedemptionRequested", "FrozenBalanceWiped"


@dataclass(eq=False)
class _Event:
    kind: str
    args: dict
    tx_hash: str
    block: int
    log_index: int
    seq: int | None = None  # Minted: the deposit's sequence number, once parsed


class _EventDecoder:
    """Decodes one event's logs as web3's `process_log` does (checksummed addresses, ints,
    bytes), for events whose inputs are all static ABI types: indexed ones from the topics,
    the others as consecutive 32-byte words of the data."""

    _STATIC = {"address", "bool", "bytes32"}

    def __init__(self, kind: str, abi: dict):
        self.kind = kind
        inputs = abi["inputs"]
        for i in inputs:
            t = i["type"]
            if not (t in self._STATIC or t.startswith("uint") or t.startswith("int")) or "[" in t:
                raise ValueError(f"{abi['name']}: {t} is not a static type this decoder handles")
        self.indexed = [(i["name"], i["type"]) for i in inputs if i["indexed"]]
        self.data = [(i["name"], i["type"]) for i in inputs if not i["indexed"]]

    def decode(self, topics: list[str], data: bytes, tx_hash: str, block: int, log_index: int) -> _Event:
        if len(topics) != 1 + len(self.indexed) or len(data) != 32 * len(self.data):
            raise ValueError(f"{self.kind} log with {len(topics)} topics and {len(data)} data bytes")
        args = {}
        for (name, type_), topic in zip(self.indexed, topics[1:], strict=True):
            args[name] = _word(type_, bytes.fromhex(topic[2:]))
        for n, (name, type_) in enumerate(self.data):
            args[name] = _word(type_, data[32 * n: 32 * n + 32])
        return _Event(self.kind, args, tx_hash, block, log_index)


def _word(type_: str, word: bytes):
    if len(word) != 32:
        raise ValueError("an ABI word is 32 bytes")
    if type_ == "address":
        if any(word[:12]):
            raise ValueError("address word with non-zero padding")
        return _checksum("0x" + word[12:].hex())
    if type_ == "bytes32":
        return word
    if type_ == "bool":
        return bool(int.from_bytes(word, "big"))
    return int.from_bytes(word, "big", signed=type_.startswith("int"))


_CHECKSUMS: dict[str, str] = {}


def _checksum(address: str) -> str:
    out = _CHECKSUMS.get(address)
    if out is None:
        if len(_CHECKSUMS) > 100_000:
            _CHECKSUMS.clear()
        out = _CHECKSUMS[address] = to_checksum_address(address)
    return out


def _groups(events: list[_Event], end: int, limit: int):
    """(last block, events) per write transaction: the ledger postings (redemptions, wipes) of
    a range at most `limit` at a time, each group ending at a block boundary (so the cursor
    never stops inside a block); the last group ends at `end`. Mints cost no writes."""
    group: list[_Event] = []
    postings = 0
    for n, e in enumerate(events):
        group.append(e)
        if e.kind != _MINTED:
            postings += 1
        following = events[n + 1] if n + 1 < len(events) else None
        if postings >= limit and following is not None and following.block != e.block:
            yield e.block, group
            group, postings = [], 0
    yield end, group


_DEPOSIT_ROWS = (
    select(Deposit.id, Deposit.status, Deposit.beneficiary, Deposit.amount_cents)
    .where(Deposit.id.in_(bindparam("ids", expanding=True)))
)


def _deposit_rows(session, seqs) -> dict:
    """seq -> (id, status, beneficiary, amount_cents) of the deposits among `seqs`."""
    ordered = sorted(seqs)
    rows = {}
    for i in range(0, len(ordered), ID_CHUNK):
        for row in session.execute(_DEPOSIT_ROWS, {"ids": ordered[i: i + ID_CHUNK]}):
            rows[row.id] = row
    return rows


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


def _read_view(session, block: int, known: list[bytes]) -> _View:
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


def _finished(session, deposit_ids: list[bytes]) -> set[bytes]:
    """The deposits among `deposit_ids` that are minted or rejected (final statuses)."""
    if not deposit_ids:
        return set()
    rows = _deposit_rows(session, {seq_for_deposit_id(d) for d in deposit_ids})
    final = (DepositStatus.MINTED, DepositStatus.REJECTED)
    return {d for d in deposit_ids if (row := rows.get(seq_for_deposit_id(d))) is not None and row.status in final}


def _mint_problem(event: _Event, row) -> str | None:
    """Why the `Minted` event of deposit `event.seq` (row: its deposit, or None) is unbacked."""
    seq, to, units = event.seq, event.args["to"], int(event.args["amount"])
    if row is None or row.status not in BACKED_STATUSES:
        state = "unknown" if row is None else row.status
        return f"Minted event for deposit {seq}, which is {state}: no accepted deposit behind it"
    amount = cents_to_units(row.amount_cents)
    if row.beneficiary.lower() != to.lower() or amount != units:
        return (f"Minted event for deposit {seq} pays {to} {units} units; the deposit is "
                f"{row.beneficiary} {amount} units")
    return None


def _hex(value) -> str:
    if isinstance(value, str):
        return value.lower() if value.startswith("0x") else "0x" + value.lower()
    return "0x" + bytes(value).hex()


def _bytes(value) -> bytes:
    if isinstance(value, str):
        return bytes.fromhex(value[2:] if value[:2].lower() == "0x" else value)
    return bytes(value)


def _int(value) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def _advance(session, block: int, now) -> None:
    row = session.get(ChainCursor, CURSOR, with_for_update=True)
    if row is None:
        session.add(ChainCursor(name=CURSOR, block_number=block, updated_at=now))
    else:
        row.block_number = max(row.block_number, block)
        row.updated_at = now
    session.flush()


def resume_minting(
    db: Database, *, cause: str, actor: str, reconciler: Reconciler | None,
    acknowledge_units: int | None = None,
) -> MintingHalt:
    """An operator lifts the active halt with `cause`, after a fresh reconciliation.

    `reconciler` follows the chain to its head and compares (`reconcile_once(act=False)`):

    * nothing found: the halt is closed, nothing is acknowledged (a difference that a
      reconciliation no longer measures leaves no trace in later ones);
    * only a supply difference remains: the operator must acknowledge exactly that amount
      (`acknowledge_units`, units; otherwise `AcknowledgementMismatch` says what it is); it is
      recorded with the cause and the reconciliation's figures, and later passes add it to
      what the ledger explains;
    * anything else (reserves below supply, an attestation above reserves or below supply, a
      new unbacked mint, an unbalanced posting): `DiscrepancyRemains`, the halt stays: a resume
      would only halt again at the next pass.

    If the service paused minting on chain for this halt, it unpauses it (with the reconciler's
    pauser key) before recording the resume in the audit log."""
    cause = (cause or "").strip()
    if len(cause) < 3:
        raise reserves.CauseRequired()
    with db.reading() as session:
        row = reserves.active_halt(session)
        if row is None:
            raise reserves.NotHalted()
        paused_by_us = row.paused_on_chain
    if reconciler is None:
        raise ChainRequired()
    if paused_by_us and reconciler.pauser is None:
        raise PauserRequired()
    result = reconciler.reconcile_once(act=False)
    others = [f for f in result.findings if f["code"] != "supply_mismatch"]
    if others:
        raise DiscrepancyRemains(others, result.block)
    difference = result.difference_units
    if (acknowledge_units or 0) != difference:
        raise AcknowledgementMismatch(difference, result)
    unpause_tx = None
    if paused_by_us:
        token = reconciler.token
        if token.contract.functions.mintingPaused().call():
            unpause_tx = token.transact(reconciler.pauser, "unpauseMinting").tx_hash
    evidence = {
        "block": result.block, "supply_units": str(result.supply_units),
        "explained_units": str(result.explained_units),
        "in_flight_units": str(result.in_flight_units),
        "previously_acknowledged_units": str(result.acknowledged_units),
        "difference_units": str(difference),
    }
    with db.transaction() as session:
        return reserves.resume(session, cause=cause, actor=actor, acknowledged_units=difference,
                               evidence=evidence, unpause_tx_hash=unpause_tx)


class PauserRequired(ServiceError):
    status_code = 409
    code = "pauser_key_required"
    message = ("The service paused minting on chain for this halt: resuming unpauses it, which "
               "needs USHK_PAUSER_PRIVATE_KEY and the chain.")


class ChainRequired(ServiceError):
    status_code = 409
    code = "chain_required"
    message = ("Resuming runs a fresh reconciliation against the chain first, which needs "
               "USHK_RPC_URL and the token's address (USHK_TOKEN_ADDRESS or the deployment file).")


class DiscrepancyRemains(ServiceError):
    """A fresh reconciliation still finds more than a supply difference: resuming is refused."""

    status_code = 409
    code = "discrepancy_remains"

    def __init__(self, findings: list[dict], block: int) -> None:
        self.findings = findings
        super().__init__(
            f"A fresh reconciliation at block {block} still finds: "
            + "; ".join(f"{f['code']} ({f['message']})" for f in findings)
            + ". Fix the cause first; resuming now would only halt again."
        )


class AcknowledgementMismatch(ServiceError):
    """The difference to acknowledge is not the one a fresh reconciliation measures."""

    status_code = 409
    code = "acknowledgement_mismatch"

    def __init__(self, difference: int, result: ReconcileResult) -> None:
        self.difference_units = difference
        if difference == 0:
            message = (f"No supply difference remains at block {result.block}: resume without "
                       "acknowledging one.")
        else:
            message = (f"A supply difference of {difference} units remains at block {result.block} "
                       f"(totalSupply {result.supply_units}, the ledger explains {result.explained_units}). "
                       f"To resume anyway, acknowledge exactly {difference} units; it is recorded with the "
                       "cause and shown in the reserve summary.")
        super().__init__(message)
