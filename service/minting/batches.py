"""What the minter keeps about its batches: the deposits of a batch (`Item`), a batch sent and not
yet settled (`InFlight`), its counters (`MinterStats`), and the token's custom errors that
block minting as a whole (`BLOCKING_ERRORS`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from service.chain.token import SignedTx

# Custom errors that concern the whole token, not one deposit: keep the batch queued.
BLOCKING_ERRORS = {
    "TokenPaused": "minting_blocked_paused",
    "MintingIsPaused": "minting_blocked_paused",
    "NotMinter": "minting_blocked_not_minter",
    "MinterAllowanceExceeded": "minting_blocked_allowance",
    "ReserveCeilingExceeded": "minting_blocked_reserves",
    "AttestationStale": "minting_blocked_attestation",
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
