"""What the minter keeps about its batches: the deposits of a batch (`Item`), a batch sent and not
yet settled (`InFlight`), its counters (`MinterStats`), the token's custom errors that block
minting as a whole (`BLOCKING_ERRORS`), and the deposits a refusal names (`refused_items`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from service.chain.token import ChainRevert, SignedTx
from service.evm import ZERO_ADDRESS

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
