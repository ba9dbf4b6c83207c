"""Redemption rules: a payout not settled by the end of the first Hong Kong business day after
its redemption, and a redemption run (a large share of the supply redeemed in a short window)."""

from __future__ import annotations

import datetime as dt
import heapq
from collections import deque
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from service import business_days
from service.monitor.model import Draft, Observation
from service.monitor.rules.base import (
    ZERO_ADDRESS,
    Params,
    Percent,
    RuleBase,
    Seconds,
    as_int,
    register,
)


class PayoutOverdueParams(Params):
    grace: int = Field(0, ge=0, strict=True)
    closures: list[dt.date] = []  # extra days the banks are closed (typhoon No. 8, black rainstorm)
    general_holidays: bool = True


def _unix(value: object) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp())


@register("payout_overdue", PayoutOverdueParams, ("RedemptionRequested", "payout", "tick"))
class PayoutOverdue(RuleBase[PayoutOverdueParams]):
    """A redemption (`RedemptionRequested`, or a `payout` observation's `created_at`) whose payout
    is not `settled` by the end of the first Hong Kong business day after it (computed here, with
    service.business_days's calendar and `closures`) plus `grace`; judged at each observation's
    time, once per redemption."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.open: dict[str, tuple[int, int, dict[str, Any]]] = {}  # id -> (requested, due, details)
        self.done: set[str] = set()
        self.queue: list[tuple[int, str]] = []
        super().__init__(*args, **kwargs)

    def _due(self, requested: int) -> int:
        moment = dt.datetime.fromtimestamp(requested, dt.UTC)
        due = business_days.due_at(moment, self.params.closures, general=self.params.general_holidays)
        return int(due.timestamp())

    def _open(self, rid: str, requested: int, details: dict[str, Any]) -> None:
        if rid in self.done or rid in self.open:
            return
        due = self._due(requested)
        self.open[rid] = (requested, due, details)
        heapq.heappush(self.queue, (due + self.params.grace, rid))

    def check(self, obs: Observation) -> Iterable[Draft]:
        f = obs.fields
        if obs.kind == "RedemptionRequested":
            rid = str(f.get("redemptionId"))
            self._open(
                rid, obs.time, {"holder": f.get("holder"), "amount_units": f.get("amount"), "tx": obs.tx}
            )
        elif obs.kind == "payout":
            rid = str(f.get("redemption_id"))
            if f.get("status") == "settled":
                self.done.add(rid)
                self.open.pop(rid, None)
            else:
                requested = _unix(f.get("created_at"))
                if requested is not None:
                    self._open(
                        rid,
                        requested,
                        {
                            "holder": f.get("holder"),
                            "amount_units": as_int(f.get("amount_units")),
                            "tx": f.get("tx_hash"),
                        },
                    )
                if rid in self.open:
                    self.open[rid][2].update(
                        bank=f.get("bank"), status=f.get("status"), service_due_at=f.get("due_at")
                    )
        drafts = []
        while self.queue and self.queue[0][0] < obs.time:
            _, rid = heapq.heappop(self.queue)
            entry = self.open.pop(rid, None)
            if entry is None:
                continue
            self.done.add(rid)
            requested, due, details = entry
            due_iso = dt.datetime.fromtimestamp(due, dt.UTC).isoformat()
            drafts.append(
                Draft(
                    f"redemption {rid} not paid out by {due_iso} (one Hong Kong business day)",
                    {
                        **details,
                        "redemption_id": rid,
                        "requested_at": requested,
                        "due_at": due_iso,
                        "late_by": obs.time - due,
                    },
                    part=rid,
                )
            )
        return drafts


class RedemptionRunParams(Params):
    percent: Percent
    window: Seconds
    source: Literal["redemptions", "burns"] = "redemptions"


@register("redemption_run", RedemptionRunParams, ("RedemptionRequested", "Transfer", "chain_state"))
class RedemptionRun(RuleBase[RedemptionRunParams]):
    """Redemptions (`RedemptionRequested`; with `source: burns` any ERC-20's transfers to the zero
    address) of more than `percent` of the supply before them within `window` seconds; once per
    run (again after the window's sum fell back below)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.window: deque[tuple[int, int]] = deque()
        self.sum = 0
        self.supply: int | None = None
        self.running = False
        super().__init__(*args, **kwargs)

    def check(self, obs: Observation) -> Iterable[Draft]:
        f = obs.fields
        if obs.kind == "chain_state":
            if isinstance(f.get("total_supply"), int):
                self.supply = f["total_supply"]
            return ()
        if self.params.source == "redemptions":
            if obs.kind != "RedemptionRequested":
                return ()
        elif obs.kind != "Transfer" or f.get("to") != ZERO_ADDRESS:
            return ()
        amount = int(f.get("amount", f.get("value", 0)))
        self.window.append((obs.time, amount))
        self.sum += amount
        if self.supply is not None:
            self.supply -= amount  # until the next chain_state
        start = obs.time - self.params.window
        while self.window and self.window[0][0] <= start:
            self.sum -= self.window.popleft()[1]
        if self.supply is None:
            return ()
        before = self.supply + self.sum
        over = before > 0 and self.sum * 100 > self.params.percent * before
        if not over:
            self.running = False
            return ()
        if self.running:
            return ()
        self.running = True
        share = (Decimal(self.sum * 100) / Decimal(before)).quantize(Decimal("0.01"))
        return (
            Draft(
                f"{self.sum} units redeemed within {self.params.window} s: {share}% of the supply",
                {
                    "redeemed_units": self.sum,
                    "redemptions": len(self.window),
                    "supply_before_units": before,
                    "percent": str(share),
                    "threshold_percent": str(self.params.percent),
                    "window": self.params.window,
                    "first_at": self.window[0][0],
                },
                part=str(self.window[0][0]),
            ),
        )
