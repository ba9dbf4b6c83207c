"""EVM addresses: 0x + 40 hex digits; a mixed-case address must carry a valid EIP-55 checksum."""

from __future__ import annotations

import re

from Crypto.Hash import keccak  # pycryptodome, pinned in requirements.txt

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
ZERO_ADDRESS = "0x" + "0" * 40


def _keccak256(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


def to_checksum_address(address: str) -> str:
    """EIP-55 form of a 0x-prefixed 40-hex-digit address (any case)."""
    if not _ADDRESS.fullmatch(address):
        raise ValueError("not a 0x-prefixed 20-byte hex address")
    lower = address[2:].lower()
    digest = _keccak256(lower.encode("ascii")).hex()
    return "0x" + "".join(
        c.upper() if c.isalpha() and int(digest[i], 16) >= 8 else c for i, c in enumerate(lower)
    )


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
