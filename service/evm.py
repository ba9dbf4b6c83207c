"""EVM addresses: 0x + 40 hex digits; a mixed-case address must carry a valid EIP-55 checksum
(eth-utils computes it)."""

from __future__ import annotations

import re

from eth_utils import to_checksum_address

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
ZERO_ADDRESS = "0x" + "0" * 40

__all__ = ["ZERO_ADDRESS", "parse_address", "to_checksum_address"]


def parse_address(address: str) -> str:
    """Validate a beneficiary address and return its checksummed form.

    All-lowercase and all-uppercase hex are accepted as is (no checksum); mixed case must be a
    correct EIP-55 checksum. The zero address is refused (tokens cannot be minted to it)."""
    if not _ADDRESS.fullmatch(address):
        raise ValueError("must be 0x followed by 40 hex digits")
    checksummed = to_checksum_address(address)
    digits = address[2:]
    if digits != digits.lower() and digits != digits.upper() and address != checksummed:
        raise ValueError("mixed-case address with an invalid EIP-55 checksum")
    if checksummed == ZERO_ADDRESS:
        raise ValueError("the zero address cannot receive tokens")
    return checksummed
