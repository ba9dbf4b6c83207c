"""Splitting patterns (the SAFE's published examples), from the log's deposit entries: many
residents funding one beneficiary, one resident spread over many beneficiaries, amounts clustered
just under a threshold, and a resident's velocity. Residents appear as pseudonyms only."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, model_validator

from service.monitor.model import Draft, Observation
from service.monitor.rules.base import (
    Amount,
    AmountParams,
    Count,
    Params,
    Percent,
    RuleBase,
    Seconds,
    as_int,
    entry_fields,
    entry_kind,
    register,
)

DEFAULT_KINDS = ["deposit.accepted"]


class _Deposit:
    __slots__ = ("amount", "beneficiary", "resident", "time")

    def __init__(self, time: int, resident: str, beneficiary: str, amount: int) -> None:
        self.time, self.resident, self.beneficiary, self.amount = time, resident, beneficiary, amount


class SplittingBase(RuleBase[Any]):
    """The deposits of the configured log entry kinds, with a resident and a beneficiary."""

    def deposit(self, obs: Observation) -> _Deposit | None:
        if entry_kind(obs) not in self.entry_kinds:
            return None
        f = entry_fields(obs)
        resident, beneficiary = f.get("resident"), f.get("beneficiary")
        if not isinstance(resident, str) or not isinstance(beneficiary, str):
            return None
        return _Deposit(
            obs.time, resident, beneficiary.lower(), self.cents_units(as_int(f.get("amount_cents")) or 0)
        )

    def rescale(self) -> None:
        self.entry_kinds = frozenset(self.params.kinds)

    swept = 0

    def sweep_due(self, now: int) -> bool:
        """Once a window: time to forget the groups whose deposits all left the window."""
        if now - self.swept < self.params.window:
            return False
        self.swept = now
        return True


class FanParams(Params):
    window: Seconds = 86400
    kinds: list[str] = Field(default_factory=lambda: list(DEFAULT_KINDS))


class FanInParams(FanParams):
    min_residents: Count = 5


class FanOutParams(FanParams):
    min_beneficiaries: Count = 5


class _Fan(SplittingBase):
    """Distinct `others` per `group` within the window; fires when the count reaches `limit`,
    once per episode (again after it fell below)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.seen: dict[str, dict[str, int]] = {}  # group -> other -> last time
        self.firing: set[str] = set()
        super().__init__(*args, **kwargs)

    limit: int
    group_name: str
    others: str

    def pair(self, d: _Deposit) -> tuple[str, str]:
        raise NotImplementedError

    def check(self, obs: Observation) -> Iterable[Draft]:
        d = self.deposit(obs)
        if d is None:
            return ()
        if self.sweep_due(d.time):
            start = d.time - self.params.window
            for key, others in list(self.seen.items()):
                if max(others.values()) <= start:
                    del self.seen[key]
                    self.firing.discard(key)
        group, other = self.pair(d)
        seen = self.seen.setdefault(group, {})
        seen.pop(other, None)
        seen[other] = d.time  # insertion order is time order
        start = d.time - self.params.window
        for key in [k for k, t in seen.items() if t <= start]:
            del seen[key]
        if len(seen) < self.limit:
            self.firing.discard(group)
            return ()
        if group in self.firing:
            return ()
        self.firing.add(group)
        return (
            Draft(
                f"{len(seen)} {self.others} with {self.group_name} {group} within {self.params.window} s",
                {
                    self.group_name: group,
                    self.others: sorted(seen),
                    "count": len(seen),
                    "threshold": self.limit,
                    "window": self.params.window,
                },
                part=group,
            ),
        )


@register("fan_in", FanInParams, ("log_entry",))
class FanIn(_Fan):
    """`min_residents` or more residents funding one beneficiary within `window` seconds."""

    group_name, others = "beneficiary", "residents"

    def rescale(self) -> None:
        super().rescale()
        self.limit = self.params.min_residents

    def pair(self, d: _Deposit) -> tuple[str, str]:
        return d.beneficiary, d.resident


@register("fan_out", FanOutParams, ("log_entry",))
class FanOut(_Fan):
    """One resident funding `min_beneficiaries` or more beneficiary addresses within `window`."""

    group_name, others = "resident", "beneficiaries"

    def rescale(self) -> None:
        super().rescale()
        self.limit = self.params.min_beneficiaries

    def pair(self, d: _Deposit) -> tuple[str, str]:
        return d.resident, d.beneficiary


class StructuringParams(AmountParams):
    threshold: Amount
    margin: Percent = Decimal(10)
    min_count: Count = 3
    window: Seconds = 86400
    group_by: Literal["resident", "beneficiary"] = "resident"
    kinds: list[str] = Field(default_factory=lambda: list(DEFAULT_KINDS))


@register("structuring", StructuringParams, ("log_entry", "chain_state"))
class Structuring(SplittingBase):
    """`min_count` or more deposits of one resident (or beneficiary, `group_by`) within `window`
    whose amounts are just under `threshold`: at least `threshold` less `margin` percent of it,
    below it. Once per episode."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.hits: dict[str, deque[tuple[int, int]]] = {}
        self.firing: set[str] = set()
        super().__init__(*args, **kwargs)

    def rescale(self) -> None:
        super().rescale()
        p = self.params
        self.high = self.units(p.threshold)
        self.low = self.units(p.threshold * (100 - p.margin) / 100)

    def check(self, obs: Observation) -> Iterable[Draft]:
        if obs.kind != "log_entry":
            return ()
        d = self.deposit(obs)
        if d is None or not self.low <= d.amount < self.high:
            return ()
        if self.sweep_due(d.time):
            for key, old in list(self.hits.items()):
                if old[-1][0] <= d.time - self.params.window:
                    del self.hits[key]
                    self.firing.discard(key)
        group = d.resident if self.params.group_by == "resident" else d.beneficiary
        hits = self.hits.setdefault(group, deque())
        hits.append((d.time, d.amount))
        while hits and hits[0][0] <= d.time - self.params.window:
            hits.popleft()
        if len(hits) < self.params.min_count:
            self.firing.discard(group)
            return ()
        if group in self.firing:
            return ()
        self.firing.add(group)
        return (
            Draft(
                f"{len(hits)} deposits of {self.params.group_by} {group} just under {self.high} units "
                f"within {self.params.window} s",
                {
                    self.params.group_by: group,
                    "amounts_units": [a for _, a in hits],
                    "count": len(hits),
                    "threshold_units": self.high,
                    "band_from_units": self.low,
                    "window": self.params.window,
                },
                part=group,
            ),
        )


class VelocityParams(AmountParams):
    window: Seconds = 3600
    max_count: Count | None = None
    max_amount: Amount | None = None
    kinds: list[str] = Field(default_factory=lambda: list(DEFAULT_KINDS))

    @model_validator(mode="after")
    def _one(self) -> VelocityParams:
        if self.max_count is None and self.max_amount is None:
            raise ValueError("set max_count, max_amount or both")
        return self


@register("velocity", VelocityParams, ("log_entry", "chain_state"))
class Velocity(SplittingBase):
    """A resident with more than `max_count` deposits, or more than `max_amount` in total,
    within `window` seconds; once per episode."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.recent: dict[str, deque[tuple[int, int]]] = {}
        self.sums: dict[str, int] = {}
        self.firing: set[str] = set()
        super().__init__(*args, **kwargs)

    def rescale(self) -> None:
        super().rescale()
        self.max_units = None if self.params.max_amount is None else self.units(self.params.max_amount)

    def check(self, obs: Observation) -> Iterable[Draft]:
        if obs.kind != "log_entry":
            return ()
        d = self.deposit(obs)
        if d is None:
            return ()
        if self.sweep_due(d.time):
            for key, old in list(self.recent.items()):
                if old[-1][0] <= d.time - self.params.window:
                    del self.recent[key], self.sums[key]
                    self.firing.discard(key)
        recent = self.recent.setdefault(d.resident, deque())
        recent.append((d.time, d.amount))
        total = self.sums.get(d.resident, 0) + d.amount
        while recent and recent[0][0] <= d.time - self.params.window:
            total -= recent.popleft()[1]
        self.sums[d.resident] = total
        max_count = self.params.max_count
        over = (max_count is not None and len(recent) > max_count) or (
            self.max_units is not None and total > self.max_units
        )
        if not over:
            self.firing.discard(d.resident)
            return ()
        if d.resident in self.firing:
            return ()
        self.firing.add(d.resident)
        return (
            Draft(
                f"resident {d.resident}: {len(recent)} deposits of {total} units within {self.params.window} s",
                {
                    "resident": d.resident,
                    "count": len(recent),
                    "total_units": total,
                    "max_count": max_count,
                    "max_units": self.max_units,
                    "window": self.params.window,
                },
                part=d.resident,
            ),
        )
