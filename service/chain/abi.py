"""The token's ABI as the service ships it (service/chain/USHK.abi.json, exported from the
compiled contract by tools/export_abi.py and checked against it by the tests), and lookups in it."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from eth_utils import keccak

ABI_FILE = Path(__file__).with_name("USHK.abi.json")


@cache
def token_abi() -> list[dict[str, Any]]:
    """The USHK ABI (functions, events and custom errors)."""
    return json.loads(ABI_FILE.read_text())


def signature(item: dict[str, Any]) -> str:
    """`name(type1,type2,...)` of an ABI function, event or error (static and array types)."""
    return f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"


@cache
def abi_item(kind: str, name: str) -> dict[str, Any]:
    """The token's one `kind` ("function", "event", "error") called `name` (no overloads)."""
    found = [i for i in token_abi() if i["type"] == kind and i["name"] == name]
    if len(found) != 1:
        raise ValueError(f"the token ABI has {len(found)} {kind}s named {name}")
    return found[0]


def selector(item: dict[str, Any]) -> bytes:
    """The 4-byte selector of a function or error."""
    return keccak(text=signature(item))[:4]


def topic(item: dict[str, Any]) -> str:
    """The topic 0 of an event's logs, as 0x-prefixed lowercase hex."""
    return "0x" + keccak(text=signature(item)).hex()


# The token's roles, by their bytes32 id as 0x-hex (AccessControl: keccak256 of the name; the
# admin role is zero).
ROLE_NAMES = {"0x" + "00" * 32: "DEFAULT_ADMIN_ROLE"} | {
    "0x" + keccak(text=name).hex(): name
    for name in (
        "MINTER_ROLE",
        "PAUSER_ROLE",
        "COMPLIANCE_ROLE",
        "ATTESTOR_ROLE",
        "UPGRADER_ROLE",
        "ANCHOR_ROLE",
    )
}


def role_name(role: bytes | str) -> str | None:
    """The name of one of the token's roles (its id as bytes or 0x-hex), or None."""
    key = "0x" + bytes(role).hex() if isinstance(role, bytes | bytearray) else str(role).lower()
    return ROLE_NAMES.get(key)
