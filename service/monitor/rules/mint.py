"""Minting rules: large mints, supply moves the log does not explain, mints without a public
deposit record, and mints while minting is paused."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, model_validator

from service.monitor.model import Draft, Observation
from service.monitor.rules.base import (
    ZERO_ADDRESS,
    Amount,
    AmountParams,
    BankNames,
    Params,
    RuleBase,
    as_int,
    day_iso,
    entry_fields,
    entry_kind,
    hk_day,
    register,
)


def _mint(obs: Observation) -> tuple[int, str, str, str]:
    """(amount, deposit id, minter, to) of a `Minted` event."""
    f = obs.fields
    return (
        int(f.get("amount", 0)),
        str(f.get("depositId", "")).lower(),
        str(f.get("minter")),
        str(f.get("to")),
    )


class LargeMintParams(AmountParams):
    per_transaction: Amount | None = None
    per_bank_per_day: Amount | None = None
    source: Literal["minted", "transfers"] = "minted"

    @model_validator(mode="after")
    def _one(self) -> LargeMintParams:
        if self.per_transaction is None and self.per_bank_per_day is None:
            raise ValueError("set per_transaction, per_bank_per_day or both")
        return self


@register("large_mint", LargeMintParams, ("Minted", "Transfer", "log_entry", "chain_state"))
class LargeMint(RuleBase[LargeMintParams]):
    """A `Minted` above `per_transaction`; a bank's mints of one Hong Kong day above
    `per_bank_per_day` (the bank from the log's deposit record, else "minter:ADDRESS"), once per
    bank and day. With `source: transfers` (any ERC-20) the mints are the transfers from the zero
    address, all of them counted as one "mint" bank."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.banks = BankNames()
        self.day = -1
        self.totals: dict[str, int] = {}
        super().__init__(*args, **kwargs)

    def rescale(self) -> None:
        p = self.params
        self.tx_limit = None if p.per_transaction is None else self.units(p.per_transaction)
        self.day_limit = None if p.per_bank_per_day is None else self.units(p.per_bank_per_day)

    def check(self, obs: Observation) -> Iterable[Draft]:
        if obs.kind == "log_entry":
            self.banks.learn(obs)
            return ()
        if obs.kind == "Minted" and self.params.source == "minted":
            amount, deposit_id, minter, to = _mint(obs)
            bank = self.banks.minted(deposit_id) or f"minter:{minter}"
        elif (
            obs.kind == "Transfer"
            and self.params.source == "transfers"
            and obs.fields.get("from") == ZERO_ADDRESS
        ):
            amount, deposit_id, minter, to = (
                int(obs.fields.get("value", 0)),
                "",
                "",
                str(obs.fields.get("to")),
            )
            bank = "mint"
        else:
            return ()
        base = {"amount_units": amount, "deposit_id": deposit_id, "minter": minter, "to": to, "bank": bank}
        drafts = []
        if self.tx_limit is not None and amount > self.tx_limit:
            drafts.append(
                Draft(
                    f"mint of {amount} units above the per-transaction limit of {self.tx_limit}",
                    {**base, "limit_units": self.tx_limit},
                    part="transaction",
                )
            )
        if self.day_limit is not None:
            day = hk_day(obs.time)
            if day != self.day:
                self.day, self.totals = day, {}
            before = self.totals.get(bank, 0)
            after = self.totals[bank] = before + amount
            if before <= self.day_limit < after:
                drafts.append(
                    Draft(
                        f"{bank} minted {after} units on {day_iso(day)}, above the daily limit of {self.day_limit}",
                        {
                            **base,
                            "day": day_iso(day),
                            "day_total_units": after,
                            "limit_units": self.day_limit,
                        },
                        part=f"day:{bank}:{day_iso(day)}",
                    )
                )
        return drafts


class UnmatchedSupplyParams(AmountParams):
    grace_blocks: int = Field(12, ge=0, strict=True)
    tolerance: Amount = Decimal(0)


LOG_SUPPLY_KINDS = frozenset({"deposit.minted", "reserves.redemption_recorded", "reserves.wipe_recorded"})


@register("unmatched_supply", UnmatchedSupplyParams, ("chain_state", "log_entry"))
class UnmatchedSupply(RuleBase[UnmatchedSupplyParams]):
    """The token's total supply moved (from the first `chain_state` seen) by more than the log's
    `deposit.minted`, `reserves.redemption_recorded` and `reserves.wipe_recorded` entries of the
    same blocks explain, `grace_blocks` after the block (the log may lag the chain). Fires when
    the unexplained amount changes to a value beyond `tolerance`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.base: tuple[int, int] | None = None  # (block, supply)
        self.states: deque[tuple[int, int]] = deque()
        self.logged: dict[int, int] = {}  # block -> net units, blocks not yet checked
        self.checked = -1
        self.explained = 0
        self.reported = 0
        super().__init__(*args, **kwargs)

    def rescale(self) -> None:
        self.tolerance = self.units(self.params.tolerance)

    def _net(self, obs: Observation) -> tuple[int, int] | None:
        kind = entry_kind(obs)
        if kind not in LOG_SUPPLY_KINDS:
            return None
        f = entry_fields(obs)
        block = as_int(f.get("block_number"))
        if block is None:
            return None
        if kind == "deposit.minted":
            return block, self.cents_units(as_int(f.get("amount_cents")) or 0)
        if kind == "reserves.redemption_recorded":
            cents = as_int(f.get("amount_cents")) or 0
            return block, -(self.cents_units(cents) + (as_int(f.get("dust_units")) or 0))
        return block, -(as_int(f.get("amount_units")) or 0)

    def check(self, obs: Observation) -> Iterable[Draft]:
        if obs.kind == "log_entry":
            net = self._net(obs)
            if net is not None and (self.base is None or net[0] > self.base[0]):
                block, units = net
                if self.base is not None and block <= self.checked:
                    self.explained += units
                else:  # kept until its block is judged (the log may be ahead of the chain)
                    self.logged[block] = self.logged.get(block, 0) + units
            return ()
        supply = obs.fields.get("total_supply")
        if obs.block is None or not isinstance(supply, int):
            return ()
        block = obs.block
        if self.base is None:
            self.base = (block, supply)
            self.checked = block
            for b in [b for b in self.logged if b <= block]:  # already in the base supply
                del self.logged[b]
            return ()
        self.states.append((block, supply))
        drafts = []
        while self.states and self.states[0][0] <= block - self.params.grace_blocks:
            at, total = self.states.popleft()
            for b in [b for b in self.logged if b <= at]:
                self.explained += self.logged.pop(b)
            self.checked = at
            change = total - self.base[1]
            unexplained = change - self.explained
            if abs(unexplained) <= self.tolerance:
                self.reported = 0
            elif unexplained != self.reported:
                self.reported = unexplained
                drafts.append(
                    Draft(
                        f"total supply moved {change} units since block {self.base[0]}, the log explains "
                        f"{self.explained}: {unexplained} units unexplained at block {at}",
                        {
                            "block": at,
                            "total_supply": total,
                            "base_block": self.base[0],
                            "supply_change_units": change,
                            "logged_units": self.explained,
                            "unexplained_units": unexplained,
                        },
                        part=str(at),
                    )
                )
        return drafts


RECENT_MINTS = 100_000


class MintWithoutDepositParams(Params):
    within_blocks: int = Field(20, ge=0, strict=True)
    # Log entries of these kinds are deposit records; another entry naming the deposit id (the
    # service's own alert about the mint, say) does not explain it.
    record_kinds: list[str] = Field(
        default_factory=lambda: ["deposit.accepted", "deposit.minted"], min_length=1
    )


@register("mint_without_deposit", MintWithoutDepositParams, ("Minted", "log_entry", "chain_state"))
class MintWithoutDeposit(RuleBase[MintWithoutDepositParams]):
    """A `Minted` whose deposit id no public deposit record (a log entry of `record_kinds` with
    that `deposit_id`) names, before it or within `within_blocks` blocks after it (judged on the
    first chain observation past that block)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.recorded: set[str] = set()  # deposit ids the log named, not minted yet
        self.minted: dict[str, None] = {}  # the last RECENT_MINTS minted ids, oldest first
        self.pending: dict[str, tuple[int, Observation]] = {}
        super().__init__(*args, **kwargs)

    def check(self, obs: Observation) -> Iterable[Draft]:
        if obs.kind == "log_entry":
            if obs.fields.get("kind") not in self.params.record_kinds:
                return ()
            deposit_id = entry_fields(obs).get("deposit_id")
            if isinstance(deposit_id, str):
                deposit_id = deposit_id.lower()
                if self.pending.pop(deposit_id, None) is None and deposit_id not in self.minted:
                    self.recorded.add(deposit_id)  # until its mint (a deposit id is minted once)
            return ()
        if obs.block is None:
            return ()
        drafts = []
        if self.pending:
            limit = obs.block - self.params.within_blocks
            for deposit_id, (block, mint) in list(self.pending.items()):
                if block >= limit:
                    break
                del self.pending[deposit_id]
                amount, _, minter, to = _mint(mint)
                drafts.append(
                    Draft(
                        f"Minted {amount} units for deposit {deposit_id} at block {block} with no public "
                        f"deposit record within {self.params.within_blocks} blocks",
                        {
                            "deposit_id": deposit_id,
                            "amount_units": amount,
                            "minter": minter,
                            "to": to,
                            "mint_block": block,
                            "mint_tx": mint.tx,
                            "within_blocks": self.params.within_blocks,
                        },
                        part=deposit_id,
                    )
                )
        if obs.kind == "Minted":
            _, deposit_id, _, _ = _mint(obs)
            self.minted[deposit_id] = None
            if len(self.minted) > RECENT_MINTS:
                del self.minted[next(iter(self.minted))]
            if deposit_id in self.recorded:
                self.recorded.discard(deposit_id)
            else:
                self.pending[deposit_id] = (obs.block, obs)
        return drafts


class NoParams(Params):
    pass


@register(
    "mint_while_paused",
    NoParams,
    ("Minted", "Paused", "Unpaused", "MintingPaused", "MintingUnpaused", "chain_state"),
)
class MintWhilePaused(RuleBase[NoParams]):
    """A `Minted` while the token is paused or minting is paused (the contract must refuse it),
    the pause states followed from the pause events and `chain_state`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.paused = False
        self.minting_paused = False
        super().__init__(*args, **kwargs)

    def check(self, obs: Observation) -> Iterable[Draft]:
        kind = obs.kind
        if kind == "Minted":
            if not (self.paused or self.minting_paused):
                return ()
            amount, deposit_id, minter, to = _mint(obs)
            state = "the token is paused" if self.paused else "minting is paused"
            return (
                Draft(
                    f"Minted {amount} units while {state}",
                    {
                        "amount_units": amount,
                        "deposit_id": deposit_id,
                        "minter": minter,
                        "to": to,
                        "paused": self.paused,
                        "minting_paused": self.minting_paused,
                    },
                ),
            )
        if kind == "chain_state":
            paused, minting = obs.fields.get("paused"), obs.fields.get("minting_paused")
            if isinstance(paused, bool):
                self.paused = paused
            if isinstance(minting, bool):
                self.minting_paused = minting
        elif kind == "Paused":
            self.paused = True
        elif kind == "Unpaused":
            self.paused = False
        elif kind == "MintingPaused":
            self.minting_paused = True
        elif kind == "MintingUnpaused":
            self.minting_paused = False
        return ()
