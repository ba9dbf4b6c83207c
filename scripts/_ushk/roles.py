"""The token's roles: names and ids, the names operators type, and who holds which role.

AccessControl does not enumerate holders, so `known_addresses` gathers the candidates (the
deployment file's holders, RoleGranted events, addresses given) and `role_table` asks the token
about each.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import click
from eth_utils import keccak, to_checksum_address

from scripts._ushk.values import ZERO32

# Role names as the contract spells them, in the order the scripts print them.
ROLE_NAMES = (
    "DEFAULT_ADMIN_ROLE",
    "MINTER_ROLE",
    "PAUSER_ROLE",
    "COMPLIANCE_ROLE",
    "ATTESTOR_ROLE",
    "UPGRADER_ROLE",
    "ANCHOR_ROLE",
)
ROLE_IDS: dict[str, bytes] = {
    name: (ZERO32 if name == "DEFAULT_ADMIN_ROLE" else keccak(text=name)) for name in ROLE_NAMES
}
ROLE_BY_ID: dict[bytes, str] = {role_id: name for name, role_id in ROLE_IDS.items()}
# The roles `deploy_ushk` hands out besides the admin's (MINTER_ROLE comes with configureMinter).
OPERATIONAL_ROLES = ("PAUSER_ROLE", "COMPLIANCE_ROLE", "ATTESTOR_ROLE", "UPGRADER_ROLE", "ANCHOR_ROLE")
_ROLE_ALIASES = {"ADMIN": "DEFAULT_ADMIN_ROLE", "DEFAULT_ADMIN": "DEFAULT_ADMIN_ROLE"}


def role_name(text: str) -> str:
    """'pauser', 'PAUSER', 'PAUSER_ROLE', 'admin', ... -> the contract's role name."""
    key = str(text).strip().upper().replace("-", "_")
    key = _ROLE_ALIASES.get(key, key)
    if not key.endswith("_ROLE"):
        key += "_ROLE"
    if key not in ROLE_IDS:
        known = ", ".join(short_role(n) for n in ROLE_NAMES)
        raise ValueError(f"unknown role '{text}'; known roles: {known}")
    return key


def short_role(name: str) -> str:
    """'PAUSER_ROLE' -> 'pauser', 'DEFAULT_ADMIN_ROLE' -> 'admin'."""
    return "admin" if name == "DEFAULT_ADMIN_ROLE" else name.removesuffix("_ROLE").lower()


def has_role(token, role: str, address: str) -> bool:
    return bool(token.hasRole(ROLE_IDS[role], address))


def require_role(token, role: str, account, *, doing: str) -> None:
    """Refuses early, with a clear message, when `account` lacks `role` for `doing`."""
    if not has_role(token, role, account.address):
        raise click.ClickException(
            f"{account.address} does not hold {role}, which {doing} needs "
            f"(pick the holder with --account, or grant it with `ape run roles grant`)"
        )


def known_addresses(token, info: Mapping[str, Any], extra: Iterable[str] = ()) -> list[str]:
    """Every address that may hold a role: the deployment file's holders, the accounts named in
    RoleGranted events since the deployment block (when the node serves logs), and `extra`."""
    seen: dict[str, None] = {}
    for holders in (info.get("roles") or {}).values():
        for address in holders:
            seen[to_checksum_address(address)] = None
    for address in info.get("minters") or {}:
        seen[to_checksum_address(address)] = None
    try:
        from ape import chain

        start = int(info.get("deployment_block", 0))
        for log in token.RoleGranted.range(start, chain.blocks.height + 1):
            seen[to_checksum_address(log.account)] = None
    except Exception:  # noqa: BLE001 - a node without log queries: the file's holders only
        pass
    for address in extra:
        seen[to_checksum_address(address)] = None
    return list(seen)


def role_table(token, addresses: Iterable[str]) -> dict[str, list[str]]:
    """Role name -> the addresses among `addresses` that hold it now."""
    addresses = list(addresses)
    return {name: [a for a in addresses if token.hasRole(ROLE_IDS[name], a)] for name in ROLE_NAMES}
