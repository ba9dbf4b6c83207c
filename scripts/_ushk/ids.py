"""Deposit ids as operators type them: a bytes32 in hex, or the reserve service's sequence number."""

from __future__ import annotations

from scripts._ushk.values import parse_bytes32

# Deposit ids of the reserve service: "USHK-DEP" in the top 64 bits, a sequence number below.
DEPOSIT_PREFIX = int.from_bytes(b"USHK-DEP", "big") << 192
MAX_DEPOSIT_SEQ = 2**192 - 1


def deposit_id(seq: int) -> bytes:
    """The reserve service's deposit id for sequence number `seq`."""
    if not 0 <= seq <= MAX_DEPOSIT_SEQ:
        raise ValueError(f"deposit sequence number {seq} is out of range (0 .. 2^192-1)")
    return (DEPOSIT_PREFIX | seq).to_bytes(32, "big")


def parse_deposit_id(text: str) -> bytes:
    """A deposit id: a bytes32 in hex (0x + 64 hex digits) or a sequence number (42 -> USHK-DEP 42)."""
    raw = str(text).strip()
    if raw.lower().startswith("0x"):
        return parse_bytes32(raw, what="deposit id")
    if raw.isdigit():
        return deposit_id(int(raw))
    raise ValueError(
        f"'{text}' is not a deposit id: give 0x and 64 hex digits, or the deposit's sequence number"
    )


def deposit_seq(dep_id: bytes) -> int | None:
    """The sequence number of a reserve-service deposit id, or None for any other id."""
    value = int.from_bytes(bytes(dep_id), "big")
    return value & MAX_DEPOSIT_SEQ if value >> 192 == DEPOSIT_PREFIX >> 192 else None
