"""Addresses and bytes32 values as operators type them, each a ValueError with a message meant
for the operator when it is not one."""

from __future__ import annotations

import re

from eth_utils import is_address, is_checksum_address, keccak, to_checksum_address

ZERO32 = b"\x00" * 32
ZERO_ADDRESS = "0x" + "00" * 20


def parse_bytes32(text: str, *, what: str = "value", hash_text: bool = False) -> bytes:
    """0x + 64 hex digits -> 32 bytes. With `hash_text`, any other text is keccak256-hashed."""
    raw = str(text).strip()
    if raw.lower().startswith("0x"):
        digits = raw[2:]
        if len(digits) != 64 or not re.fullmatch(r"[0-9a-fA-F]*", digits):
            raise ValueError(f"'{text}' is not a {what}: expected 0x followed by 64 hex digits")
        return bytes.fromhex(digits)
    if hash_text and raw:
        return keccak(text=raw)
    raise ValueError(f"'{text}' is not a {what}: expected 0x followed by 64 hex digits")


def parse_address(text: str, *, allow_zero: bool = False) -> str:
    """An address (checksummed, or all lower/upper case), or TEST::<n> for a local test account."""
    raw = str(text).strip()
    if raw.upper().startswith("TEST::"):
        from ape import accounts

        idx = raw[6:]
        if not idx.isdigit() or int(idx) >= len(accounts.test_accounts):
            raise ValueError(f"'{text}': no such test account")
        return accounts.test_accounts[int(idx)].address
    if not re.fullmatch(r"0x[0-9a-fA-F]{40}", raw) or not is_address(raw):
        raise ValueError(f"'{text}' is not an address (0x followed by 40 hex digits)")
    digits = raw[2:]
    if digits != digits.lower() and digits != digits.upper() and not is_checksum_address(raw):
        raise ValueError(f"'{text}' has a wrong checksum (mixed-case address): check it for typos")
    address = to_checksum_address(raw)
    if address == ZERO_ADDRESS and not allow_zero:
        raise ValueError("the zero address is not allowed here")
    return address


def hex32(value: bytes) -> str:
    return "0x" + bytes(value).hex()
