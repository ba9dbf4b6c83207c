"""What the minter keeps about its batches: the deposits of a batch (`Item`), a batch sent and not
yet settled (`InFlight`), its counters (`MinterStats`), the token's custom errors that block
minting as a whole (`BLOCKING_ERRORS`), and the deposits a refusal names (`refused_items`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from service.chain.token import ChainRevert, SignedTx, Token
from service.evm import ZERO_ADDRESS

if TYPE_CHECKING:
    from service.reserves.attestor import Attestor

# Custom errors that concern the whole token, not one deposit: keep the batch queued.
BLOCKING_ERRORS = {
    "TokenPaused": "minting_blocked_paused",
    "MintingIsPaused": "minting_blocked_paused",
    "NotMinter": "minting_blocked_not_minter",
    "MinterAllowanceExceeded": "minting_blocked_allowance",
    "ReserveCeilingExceeded": "minting_blocked_reserves",
    "AttestationStale": "minting_blocked_attestation",
    # the minter's on-chain rate limit (token bucket): the batch waits for the bucket to refill
    "MintRateLimitExceeded": "minting_blocked_rate_limit",
}


@dataclass
class Item:
    seq: int
    beneficiary: str
    units: int
    deposit_id: bytes


@dataclass
class InFlight:
    """A batch whose transaction was recorded and broadcast, not yet settled."""

    batch_id: int
    items: list[Item]
    signed: SignedTx
    blocked_by: str | None = None  # the minter's block when it was sent

    @property
    def units(self) -> int:
        return sum(i.units for i in self.items)


@dataclass
class MinterStats:
    batches: int = 0
    minted: int = 0
    rejected: int = 0
    requeued: int = 0
    blocked_by: str | None = None
    errors: list[str] = field(default_factory=list)


def refused_items(err: ChainRevert, items: list[Item]) -> tuple[list[Item], str, str]:
    """The deposits of a batch that a simulated revert names, with the refusal's code and
    reason; none for an error that is not about particular deposits."""
    name, args = err.name, err.args_
    if name in ("AccountFrozen", "NotAllowlisted"):
        address = str(args[0]).lower()
        frozen = name == "AccountFrozen"
        return (
            [i for i in items if i.beneficiary.lower() == address],
            "beneficiary_frozen" if frozen else "beneficiary_not_allowlisted",
            f"the beneficiary {args[0]} is {'frozen' if frozen else 'not on the allowlist'}",
        )
    # ERC20InvalidReceiver(0) since the token's version 2 (ERC-6093 errors); ZeroAddress before
    if name in ("ERC20InvalidReceiver", "ZeroAddress"):
        bad = [i for i in items if i.beneficiary.lower() == ZERO_ADDRESS]
        return bad, "beneficiary_invalid", "the beneficiary is the zero address"
    if name == "MintAboveMaximum":
        reason = f"amount above the minter's per-mint maximum of {args[1] / 1_000_000:.2f} USD"
        return [i for i in items if i.units > args[1]], "above_minter_maximum", reason
    return [], "", ""


class RateBucket:
    """Reads what the token's rate limit lets `minter` mint now (None: no limit). No limit is
    asked again only after `recheck_seconds`, so an idle minter polling the outbox makes no
    call for it (a mint above a limit set meanwhile reverts MintRateLimitExceeded and waits);
    a limit is read on every claim, or when `fresh`."""

    def __init__(self, token: Token, minter: str, recheck_seconds: float) -> None:
        self.token, self.minter, self.recheck_seconds = token, minter, recheck_seconds
        self._unlimited_until = float("-inf")

    def read(self, *, fresh: bool = False) -> int | None:
        now = time.monotonic()
        if not fresh and now < self._unlimited_until:
            return None
        bucket = self.token.mint_rate_available(self.minter)
        self._unlimited_until = now + self.recheck_seconds if bucket is None else float("-inf")
        return bucket


class BucketEmpty(Exception):
    """The oldest waiting deposit does not fit what the minter's rate limit holds now."""


#: A claim within a budget of units (None: any): (halted, batch id, items, short).
Take = Callable[[int | None], tuple[bool, int | None, list[Item], bool]]


def within_bucket(take: Take, bucket: int | None) -> Take:
    """`take` capped at `bucket` units, what the minter's on-chain rate limit (token bucket) lets
    it mint now (None: no limit); raises BucketEmpty when the bucket, not the budget, leaves the
    oldest deposit waiting (attesting again would not help)."""
    if bucket is None:
        return take

    def capped(units: int | None) -> tuple[bool, int | None, list[Item], bool]:
        if units is not None and units <= bucket:
            return take(units)
        halted, batch_id, items, short = take(bucket)
        if short and not items and not halted:
            raise BucketEmpty(f"the minter's rate limit holds {bucket} units")
        return halted, batch_id, items, short

    return capped


def take_covered(
    take: Take, attestor: Attestor | None, budget: int | None, unmined: Callable[[], int]
) -> tuple[bool, int | None, list[Item], bool]:
    """The minter's claim (`take`, capped by within_bucket) of what the attestation covers
    (`budget`; None: any), attesting again when due: (halted, batch id, items, whether even a new
    attestation did not cover them)."""
    uncovered = False
    halted, batch_id, items, short = take(budget)
    if short and not items and not halted and attestor is not None and attestor.attest_due():
        # the chain as it is now first: another attestor may have covered them already
        halted, batch_id, items, short = take(attestor.headroom(unmined=unmined, fresh_read=True))
    mine = attestor is not None and attestor.can_attest  # without a key: wait for the attestor process
    if short and not items and not halted and mine and attestor is not None and attestor.attest_due():
        attestor.attest(reason="deposits not covered")
        halted, batch_id, items, short = take(attestor.headroom(unmined=unmined))
        if short and not items and not halted:
            # Not covered even by an attestation of all the recorded reserves: the chain
            # decides (a deposit minted behind the outbox's back is then settled from its
            # event, a real shortfall blocks minting on ReserveCeilingExceeded).
            halted, batch_id, items, short = take(None)
            uncovered = True
    return halted, batch_id, items, uncovered
