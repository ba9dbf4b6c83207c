"""The attestor: posts `attestReserves(amount, reportHash, auditHead)` so that mints stay covered.

The amount is the reserve ledger's attestable balance (service/ledger), with each bank's custody
counted at most as its latest fresh custody statement shows when the policy requires statements
(`reserves.attestable_reserves`; a shortfall halts minting): custody at
the banks minus what no longer backs tokens (pending payouts, refunds due, wiped), i.e. the
dollars behind tokens outstanding and accepted deposits awaiting their mint. Deposits are
credited when accepted, so they are attested before they are minted, and the attestation never
claims more than the ledger holds. The report is canonical JSON (per-bank custody, the other
balances, the audit head); it is stored under its SHA-256 before the transaction is sent
(downloadable at `GET /v1/reserves/reports/{hash}`), its hash goes on chain, and the audit log
records the attestation, so anyone can hold one against the other.

Every attestation attests all the ledger's attestable reserve, the deposits accepted and not
yet minted included: it covers them ahead of their mints. The minter mints only what the
current attestation still covers (`headroom`); deposits accepted since wait for the next
attestation, which it asks for when they do not fit (`attest_due`: at most once per
`min_interval` seconds, USHK_ATTEST_MIN_INTERVAL_SECONDS, unless the attestation is getting
old). Under a steady stream of deposits that is one attestation per `min_interval`, not one
per batch (docs/performance.md, "One attestation per interval, not per batch"). `ensure_covers` checks a batch just before it is signed, attesting if it must; the
contract refuses a mint above the attestation in any case. Periodic attestations: `run`.

In a deployment the service's processes hold no attestor key: the workers' minter and watcher
use an `Attestor` without a signer, which only reads the attestation (and waits for it), and the
attestations come from `ushk attestor run` (service/reserves/independent.py), which bounds them
by the banks' verified statements. With a signer this class attests the ledger's view: `ushk
reserves attest` on the attestor's host, `ushk redemptions watch` there, and the tests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from sqlalchemy.orm import Session

from service import audit
from service import ledger as reserves_ledger
from service.chain.token import Receipt, Token
from service.db import Database
from service.money import cents_to_units
from service.quota.policy import CustodyPolicy
from service.reserves import service as reserves

log = logging.getLogger("ushk.attestor")

# One attestation at a time per signer in this process (the minter's attestor and the periodic
# one share the key, and so its nonces).
_SIGNER_LOCKS: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)


def signer_lock(address: str) -> threading.Lock:
    """The lock of one signing account in this process: its transactions go one at a time (they
    share its nonces). Not reentrant."""
    return _SIGNER_LOCKS[address]


def reserve_report(session: Session, custody_policy: CustodyPolicy | None = None) -> dict:
    """The reserve report the attestor would attest now (see service.reserves.service)."""
    return reserves.build_report(session, custody_policy=custody_policy)


def send_attestation(
    db: Database,
    token: Token,
    signer: LocalAccount,
    report: dict,
    digest: str,
    units: int,
    reason: str,
    *,
    also: Callable[[Session, Receipt], None] | None = None,
) -> Receipt:
    """Posts `attestReserves(units, digest, the report's audit head)` with `signer` and, once it
    is mined, marks the stored report attested and records `reserves.attested` (with `also`, in
    the same transaction). Both attestors end their attestation here."""
    head = bytes.fromhex(report["audit_head"]["hash"])
    receipt = token.transact(signer, "attestReserves", units, bytes.fromhex(digest), head)
    with db.transaction() as session:
        reserves.mark_report_attested(
            session, digest, tx_hash=receipt.tx_hash, block_number=receipt.block_number
        )
        audit.record(
            session,
            "reserves.attested",
            "attestor",
            {
                "report": report,
                "report_hash": digest,
                "amount_units": str(units),
                "reason": reason,
                "tx_hash": receipt.tx_hash,
                "block_number": receipt.block_number,
            },
        )
        if also is not None:
            also(session, receipt)
    return receipt


class AttestationNotLowered(RuntimeError):
    """The attestation stayed above the ledger's attestable reserve (no attestor lowered it)."""


@dataclass
class _Coverage:
    """What the last chain read showed: the attested amount, until when (monotonic) the
    attestation stays younger than the refresh age, and the supply the mints covered since will
    have reached (supply at the read + units sent and not yet mined + units of every batch covered
    since)."""

    read_at: float
    amount: int
    fresh_until: float
    covered: int

    def headroom(self, now: float) -> int:
        return max(0, self.amount - self.covered) if now < self.fresh_until else 0


class Attestor:
    """Attests with `signer` (ATTESTOR_ROLE). An attestation older than `refresh_fraction` of the
    token's maximum age is renewed before the next mint, so mints never meet a stale one.

    Without a signer (`signer=None`: the workers process, whose attestations come from `ushk
    attestor run`, service/reserves/independent.py) it only reads: the minter mints what the
    current attestation covers and otherwise waits for the next one, reading the chain again
    at most every `recheck_seconds` (`attest_due`); `can_attest` is False and `attest` refuses.

    `ensure_covers` reads the chain (attestation, supply, block time) at most every
    `recheck_seconds`; in between it counts the units it covered against the amount read. A
    mint by someone else or a lowered attestation can make that count wrong: the mint's
    simulation then reverts (ReserveCeilingExceeded) and the minter attests and retries, so
    the count is a shortcut, never the check. `attest()` forgets it.
    """

    def __init__(
        self,
        db: Database,
        token: Token,
        signer: LocalAccount | None,
        *,
        refresh_fraction: float = 0.5,
        recheck_seconds: float = 2.0,
        min_interval: float = 0.0,
        after_attest: Callable[[], object] | None = None,
        custody_policy: CustodyPolicy | None = None,
    ):
        self.db = db
        # The policy's custody statements rule (None: the ledger's custody counts whole).
        self.custody_policy = custody_policy
        self.after_attest = after_attest  # e.g. anchor.request_anchor: the log anchored with it
        self.token = token
        self.signer = signer
        self.refresh_fraction = refresh_fraction
        self.recheck_seconds = recheck_seconds
        self.min_interval = min_interval
        self.attestations = 0  # made by this attestor (the benchmark reports them)
        self._max_age: int | None = None
        self._coverage: _Coverage | None = None
        self._attested_at = float("-inf")  # monotonic time of this attestor's last attestation

    def _read(self, unmined: Callable[[], int] | None, *, fresh_read: bool = False) -> _Coverage:
        """The coverage as of now: the last chain read while it is younger than
        `recheck_seconds` and the attestation fresh (unless `fresh_read`), else a new read.
        `unmined()` (the units of mints already sent and not yet mined) is called before the
        supply is read, so a mint landing in between is counted twice, never missed."""
        now = time.monotonic()
        known = self._coverage
        if (
            not fresh_read
            and known is not None
            and now - known.read_at < self.recheck_seconds
            and now < known.fresh_until
        ):
            return known
        attestation = self.token.reserve_attestation()
        if self._max_age is None:
            self._max_age = self.token.max_attestation_age()
        age = self.token.latest_timestamp() - attestation.timestamp
        refresh_age = self._max_age * self.refresh_fraction
        fresh_for = refresh_age - age if attestation.timestamp > 0 else -1.0
        pending = unmined() if unmined is not None else 0
        known = self._coverage = _Coverage(
            now, attestation.amount, now + fresh_for, self.token.total_supply() + pending
        )
        return known

    def headroom(self, *, unmined: Callable[[], int] | None = None, fresh_read: bool = False) -> int:
        """Units that mints may still add under the current attestation: its amount minus the
        supply, the mints sent and not yet mined, and those covered since the last read; 0 when
        the attestation is older than the refresh age. `fresh_read`: read the chain again even
        if the last read is recent (someone else may have attested, or minted)."""
        return self._read(unmined, fresh_read=fresh_read).headroom(time.monotonic())

    @property
    def can_attest(self) -> bool:
        return self.signer is not None

    def attest_due(self) -> bool:
        """Whether deposits that the current attestation does not cover may have a new one now:
        `min_interval` has passed since this attestor's last attestation, or the current one
        is older than the refresh age. Without a signer: whether the chain may be read again
        for one made elsewhere (`recheck_seconds` since the last read)."""
        known = self._coverage
        now = time.monotonic()
        if self.signer is None:
            return known is None or now - known.read_at >= self.recheck_seconds
        stale = known is None or now >= known.fresh_until
        return stale or now - self._attested_at >= self.min_interval

    def ensure_covers(self, units: int, *, unmined: Callable[[], int] | None = None) -> None:
        """Attests first unless the current attestation is fresh and covers supply + `units`
        (+ `unmined()`, see `_read`); then counts `units` as covered."""
        cached = self._coverage
        known = self._read(unmined)
        if known is cached and known.headroom(time.monotonic()) < units:
            known = self._read(unmined, fresh_read=True)  # someone else may have attested since
        now = time.monotonic()
        if known.headroom(now) >= units:
            known.covered += units
            return
        if self.signer is None:
            return  # not ours to attest: the mint's simulation refuses what is not covered
        self.attest(reason="stale" if now >= known.fresh_until else "below supply + batch")

    def ensure_not_above_attestable(self, *, wait_seconds: float = 30.0) -> None:
        """Attests again when the on-chain attestation claims more than the ledger's attestable
        reserve (after redemptions or wipes): it must come down before custody does. Without a
        signer, waits up to `wait_seconds` for `ushk attestor run` to lower it (it does at its
        next tick), then raises AttestationNotLowered (the caller retries later)."""
        with self.db.reading() as session:
            if self.custody_policy is None:
                attestable_units = cents_to_units(reserves_ledger.balances(session).attestable)
            else:
                attestable_units = cents_to_units(
                    reserves.attestable_reserves(session, self.custody_policy)[0]
                )
        if self.token.reserve_attestation().amount <= attestable_units:
            return
        if self.signer is not None:
            self.attest(reason="reserves fell")
            return
        deadline = time.monotonic() + wait_seconds
        while (attested := self.token.reserve_attestation().amount) > attestable_units:
            if time.monotonic() >= deadline:
                raise AttestationNotLowered(
                    f"the attestation ({attested} units) is still above the attestable reserve "
                    f"({attestable_units} units) after {wait_seconds:g}s: is `ushk attestor run` running?"
                )
            time.sleep(self.recheck_seconds)

    def attest(self, *, reason: str = "scheduled") -> Receipt:
        """Attests the ledger's attestable reserve now; stores the report, then audits it."""
        if self.signer is None:
            raise RuntimeError("this attestor has no key: attestations come from `ushk attestor run`")
        self._coverage = None
        self._attested_at = time.monotonic()
        self.attestations += 1
        with signer_lock(self.signer.address):
            with self.db.transaction() as session:
                banks: list[dict] = []
                report = reserves.build_report(
                    session, custody_policy=self.custody_policy, custodian_rows=banks
                )
                if self.custody_policy is not None:
                    reserves.note_custody_shortfalls(session, banks, actor="attestor")
                digest = reserves.store_report(session, report, reason=reason)
            units = cents_to_units(int(report["attested_cents"]))
            receipt = send_attestation(self.db, self.token, self.signer, report, digest, units, reason)
        log.info("attested %s USD (%s) in %s", report["attested"], reason, receipt.tx_hash)
        if self.after_attest is not None:
            try:
                self.after_attest()
            except Exception:  # the attestation stands; the publisher anchors again when due
                log.exception("anchoring the audit log after the attestation failed")
        return receipt

    def run(self, stop: threading.Event, interval: float) -> None:
        """Attests every `interval` seconds until `stop` is set (errors are logged and retried)."""
        while not stop.wait(interval):
            try:
                self.attest(reason="scheduled")
            except Exception:  # node down, database busy: next tick
                log.exception("scheduled attestation failed")
