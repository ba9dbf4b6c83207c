"""Attestation and log rules: a stale attestation, reserves attested below the supply, a report
whose hash does not match, a signed head that is badly signed or inconsistent with the last one,
and a log left unanchored on chain for too long."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from pydantic import Field

from service.monitor.model import Draft, Observation
from service.monitor.rules.base import Amount, AmountParams, Params, RuleBase, Seconds, register


class AttestationStaleParams(Params):
    max_age: Seconds | None = None  # None: the token's own max_attestation_age
    grace: int = Field(0, ge=0, strict=True)


@register("attestation_stale", AttestationStaleParams, ("chain_state", "tick", "ReservesAttested"))
class AttestationStale(RuleBase[AttestationStaleParams]):
    """The last attestation (`attested_at` of `chain_state`, or a `ReservesAttested` event) is
    older than `max_age` (default: the token's `max_attestation_age`) plus `grace` at a `tick` or
    `chain_state`; once per attestation. A token never attested fires once its supply is above
    zero."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.attested_at: int | None = None
        self.chain_max_age: int | None = None
        self.supply = 0
        self.reported: int | None = None
        super().__init__(*args, **kwargs)

    def check(self, obs: Observation) -> Iterable[Draft]:
        f = obs.fields
        if obs.kind == "ReservesAttested":
            if isinstance(f.get("timestamp"), int):
                self.attested_at = f["timestamp"]
            return ()
        if obs.kind == "chain_state":
            if isinstance(f.get("attested_at"), int):
                self.attested_at = f["attested_at"]
            if isinstance(f.get("max_attestation_age"), int):
                self.chain_max_age = f["max_attestation_age"]
            if isinstance(f.get("total_supply"), int):
                self.supply = f["total_supply"]
        max_age = self.params.max_age or self.chain_max_age
        if self.attested_at is None or not max_age or self.reported == self.attested_at:
            return ()
        if self.attested_at == 0:
            if self.supply <= 0:
                return ()
            self.reported = 0
            return (
                Draft(
                    f"{self.supply} units outstanding and no attestation of reserves",
                    {"attested_at": 0, "total_supply": self.supply, "max_age": max_age},
                    part="never",
                ),
            )
        age = obs.time - self.attested_at
        if age <= max_age + self.params.grace:
            return ()
        self.reported = self.attested_at
        return (
            Draft(
                f"the reserve attestation is {age} s old, above the maximum of {max_age} s",
                {"attested_at": self.attested_at, "age": age, "max_age": max_age, "grace": self.params.grace},
                part=str(self.attested_at),
            ),
        )


class AttestationBelowSupplyParams(AmountParams):
    tolerance: Amount = Decimal(0)


@register("attestation_below_supply", AttestationBelowSupplyParams, ("chain_state",))
class AttestationBelowSupply(RuleBase[AttestationBelowSupplyParams]):
    """A `chain_state` whose `attested_reserves` are below `total_supply` by more than
    `tolerance`; once per attestation (`attested_at`) while it stays below."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.reported: int | None = None
        super().__init__(*args, **kwargs)

    def rescale(self) -> None:
        self.tolerance = self.units(self.params.tolerance)

    def check(self, obs: Observation) -> Iterable[Draft]:
        f = obs.fields
        reserves, supply, at = f.get("attested_reserves"), f.get("total_supply"), f.get("attested_at")
        if not isinstance(reserves, int) or not isinstance(supply, int):
            return ()
        if supply - reserves <= self.tolerance:
            self.reported = None
            return ()
        if self.reported == at:
            return ()
        self.reported = at if isinstance(at, int) else -1
        return (
            Draft(
                f"attested reserves of {reserves} units are below the supply of {supply} units",
                {
                    "attested_reserves": reserves,
                    "total_supply": supply,
                    "shortfall_units": supply - reserves,
                    "attested_at": at,
                    "block": obs.block,
                },
                part=str(at),
            ),
        )


class AttestationReportParams(Params):
    report_unavailable: bool = True


@register("attestation_report", AttestationReportParams, ("attestation_report",))
class AttestationReport(RuleBase[AttestationReportParams]):
    """An attested report whose download does not hash to the attested `report_hash`; one that
    could not be downloaded too, unless `report_unavailable` is false."""

    def check(self, obs: Observation) -> Iterable[Draft]:
        f = obs.fields
        on_chain = str(f.get("report_hash", "")).lower()
        computed = f.get("computed_hash")
        details = {"report_hash": on_chain, "computed_hash": computed, "attested_block": f.get("block")}
        if not f.get("available") or computed is None:
            if not self.params.report_unavailable:
                return ()
            return (Draft(f"the attested report {on_chain} is not available", details, part="unavailable"),)
        if str(computed).lower().removeprefix("0x") == on_chain.removeprefix("0x"):
            return ()
        return (
            Draft(f"the attested report hashes to {computed}, not to {on_chain}", details, part="mismatch"),
        )


class LogHeadParams(Params):
    snapshots: bool = True


@register("log_head", LogHeadParams, ("log_head", "snapshot"))
class LogHead(RuleBase[LogHeadParams]):
    """A signed tree head with a bad signature, or not consistent with the last one (history
    rewritten: the monitor's proof check, a smaller size, or the same size with another root);
    with `snapshots`, a snapshot whose signature does not verify."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.last: tuple[int, str] | None = None
        super().__init__(*args, **kwargs)

    def check(self, obs: Observation) -> Iterable[Draft]:
        f = obs.fields
        if obs.kind == "snapshot":
            if self.params.snapshots and f.get("signature_ok") is False:
                return (
                    Draft(
                        f"snapshot {f.get('id')} is not signed by the log key",
                        {"snapshot": f.get("id"), "block": f.get("block")},
                        part="snapshot",
                    ),
                )
            return ()
        size, root = f.get("tree_size"), str(f.get("root", ""))
        details = {
            "tree_size": size,
            "timestamp": f.get("timestamp"),
            "root": root,
            "reason": f.get("reason"),
        }
        drafts = []
        if f.get("signature_ok") is False:
            drafts.append(Draft(f"the signed head of size {size} is badly signed", details, part="signature"))
        reason = f.get("reason")
        if isinstance(size, int) and self.last is not None and f.get("consistent") is not False:
            last_size, last_root = self.last
            if size < last_size:
                reason = f"tree size {size} below the last head's {last_size}"
            elif size == last_size and root != last_root:
                reason = f"tree size {size} with another root than the last head's"
        if f.get("consistent") is False or reason != f.get("reason"):
            prev = None if self.last is None else {"tree_size": self.last[0], "root": self.last[1]}
            drafts.append(
                Draft(
                    f"the signed head of size {size} is not consistent with the last one: {reason}",
                    {**details, "reason": reason, "previous": prev},
                    part="consistency",
                )
            )
        if isinstance(size, int) and f.get("signature_ok") is not False:
            self.last = (size, root)
        return drafts


class AnchorOverdueParams(Params):
    interval: Seconds
    grace: int = Field(0, ge=0, strict=True)


@register(
    "anchor_overdue",
    AnchorOverdueParams,
    ("AuditLogAnchored", "chain_state", "log_head", "log_entry", "tick"),
)
class AnchorOverdue(RuleBase[AnchorOverdueParams]):
    """Log entries beyond the size anchored on chain (`AuditLogAnchored`, `anchor_size`) waited
    longer than `interval` plus `grace` for an anchor; once per wait."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.anchored = 0
        self.size = 0
        self.waiting_since: int | None = None
        self.reported: int | None = None
        super().__init__(*args, **kwargs)

    def _anchor(self, size: int, now: int) -> None:
        if size > self.anchored:
            self.anchored = size
            self.waiting_since = None if self.size <= size else now

    def check(self, obs: Observation) -> Iterable[Draft]:
        f, kind = obs.fields, obs.kind
        if kind == "AuditLogAnchored" and isinstance(f.get("treeSize"), int):
            self._anchor(f["treeSize"], obs.time)
        elif kind == "chain_state" and isinstance(f.get("anchor_size"), int):
            self._anchor(f["anchor_size"], obs.time)
        elif kind in ("log_head", "log_entry"):
            size = f.get("tree_size") if kind == "log_head" else f.get("seq")
            if isinstance(size, int) and size > self.size:
                self.size = size
                if size > self.anchored and self.waiting_since is None:
                    self.waiting_since = obs.time
        since = self.waiting_since
        if since is None or self.reported == since:
            return ()
        waited = obs.time - since
        if waited <= self.params.interval + self.params.grace:
            return ()
        self.reported = since
        return (
            Draft(
                f"log entries beyond size {self.anchored} unanchored on chain for {waited} s "
                f"(interval {self.params.interval} s)",
                {
                    "anchored_size": self.anchored,
                    "log_size": self.size,
                    "waiting_since": since,
                    "waited": waited,
                    "interval": self.params.interval,
                },
                part=str(since),
            ),
        )
