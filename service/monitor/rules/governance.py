"""Governance: every change of who may do what to the token (roles, admin, implementation), every
pause and unpause, freeze, unfreeze, wipe and allowlist change, each kind at its own severity."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import field_validator

from service.chain.abi import role_name
from service.monitor.model import Draft, Observation, Severity
from service.monitor.rules.base import Params, RuleBase, register

# The event kinds this rule reports and their default severities.
DEFAULT_SEVERITIES: dict[str, Severity] = {
    "RoleGranted": Severity.high,
    "RoleRevoked": Severity.high,
    "RoleAdminChanged": Severity.critical,
    # the two-step, delayed admin transfer (AccessControlDefaultAdminRules): a transfer or a
    # change of its delay announced is the window in which to object; a cancel ends it
    "DefaultAdminTransferScheduled": Severity.critical,
    "DefaultAdminTransferCanceled": Severity.medium,
    "DefaultAdminDelayChangeScheduled": Severity.critical,
    "DefaultAdminDelayChangeCanceled": Severity.medium,
    "Upgraded": Severity.critical,
    "AdminChanged": Severity.critical,
    "OwnershipTransferred": Severity.critical,
    "Paused": Severity.high,
    "Unpaused": Severity.high,
    "MintingPaused": Severity.high,
    "MintingUnpaused": Severity.medium,
    "RedemptionsPaused": Severity.high,
    "RedemptionsUnpaused": Severity.medium,
    "Frozen": Severity.medium,
    "Unfrozen": Severity.medium,
    "FrozenBalanceWiped": Severity.high,
    "AllowlistEnabledSet": Severity.high,
    "AllowedSet": Severity.low,
    "MinterConfigured": Severity.high,
    "MinterRemoved": Severity.high,
    "MinterRateLimitSet": Severity.high,
    "MaxAttestationAgeSet": Severity.medium,
    "TokensRescued": Severity.medium,
}


class GovernanceParams(Params):
    severities: dict[str, Severity] = {}
    ignore: list[str] = []

    @field_validator("severities", "ignore")
    @classmethod
    def _known(cls, value: Any) -> Any:
        unknown = sorted(set(value) - set(DEFAULT_SEVERITIES))
        if unknown:
            raise ValueError(f"unknown event kind {', '.join(unknown)}")
        return value


def _describe(kind: str, f: dict[str, Any]) -> str:
    if kind in ("RoleGranted", "RoleRevoked"):
        role = f.get("role_name") or f.get("role")
        verb = "granted to" if kind == "RoleGranted" else "revoked from"
        return f"{role} {verb} {f.get('account')} by {f.get('sender')}"
    if kind == "RoleAdminChanged":
        return f"admin role of {f.get('role_name') or f.get('role')} changed to {f.get('newAdminRole')}"
    if kind == "DefaultAdminTransferScheduled":
        return f"admin transfer to {f.get('newAdmin')} scheduled, acceptable from {f.get('acceptSchedule')}"
    if kind == "DefaultAdminDelayChangeScheduled":
        return (
            f"admin delay change to {f.get('newDelay')} s scheduled, effective from {f.get('effectSchedule')}"
        )
    if kind in ("DefaultAdminTransferCanceled", "DefaultAdminDelayChangeCanceled"):
        return (
            "pending admin transfer canceled" if "Transfer" in kind else "pending admin delay change canceled"
        )
    if kind == "Upgraded":
        return f"implementation upgraded to {f.get('implementation')}"
    if kind == "AdminChanged":
        return f"proxy admin changed from {f.get('previousAdmin')} to {f.get('newAdmin')}"
    if kind in ("Frozen", "Unfrozen"):
        return f"{kind.lower()} {f.get('account')}"
    if kind == "FrozenBalanceWiped":
        return f"frozen balance of {f.get('account')} wiped: {f.get('amount')} units"
    if kind == "AllowedSet":
        return f"{f.get('account')} {'put on' if f.get('allowed') else 'taken off'} the allowlist"
    if kind == "AllowlistEnabledSet":
        return f"allowlist mode {'on' if f.get('enabled') else 'off'}"
    if "account" in f:
        return f"{kind} by {f.get('account')}"
    return kind


@register("governance", GovernanceParams, tuple(DEFAULT_SEVERITIES))
class Governance(RuleBase[GovernanceParams]):
    """Every governance event of the token, at the severity of its kind (`severities` overrides
    the defaults, `ignore` leaves kinds out)."""

    def rescale(self) -> None:
        self.levels = {**DEFAULT_SEVERITIES, **self.params.severities}
        self.ignored = frozenset(self.params.ignore)

    def check(self, obs: Observation) -> Iterable[Draft]:
        if obs.kind in self.ignored:
            return ()
        details: dict[str, Any] = {"event": obs.kind, **obs.fields}
        for field in ("role", "previousAdminRole", "newAdminRole"):
            name = role_name(str(details.get(field, "")))
            if name is not None:
                details[f"{field}_name"] = name
        return (
            Draft(f"{obs.kind}: {_describe(obs.kind, details)}", details, severity=self.levels[obs.kind]),
        )
