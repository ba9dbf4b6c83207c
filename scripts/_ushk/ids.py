"""Deposit ids as operators type them: the reserve service's sequence number, or a bytes32.

A sequence number n means the service's on-chain id of deposit n (`service.deposits.ids`:
"USHK-DEP" in the top 64 bits, n below); the service's rule decides which n are ids (1 to
2^192-1, so 0 is not one). A 0x-prefixed bytes32 is taken as given (the token mints any id once),
except that an id with the USHK-DEP prefix must hold a sequence number the service could give.
"""

from __future__ import annotations

from scripts._ushk.values import parse_bytes32
from service.deposits.ids import PREFIX, SEQ_BITS, deposit_id_for, seq_for_deposit_id


def _by_the_service(text: str, convert, value):
    try:
        return convert(value)
    except ValueError as err:
        raise ValueError(
            f"'{text}' is not a deposit id: {err} "
            f"(the reserve service's sequence numbers run from 1 to 2^{SEQ_BITS}-1)"
        ) from None


def parse_deposit_id(text: str) -> bytes:
    """A deposit id: a bytes32 in hex (0x + 64 hex digits) or a sequence number (42 -> USHK-DEP 42)."""
    raw = str(text).strip()
    if raw.lower().startswith("0x"):
        dep_id = parse_bytes32(raw, what="deposit id")
        if int.from_bytes(dep_id, "big") >> SEQ_BITS == PREFIX:
            _by_the_service(text, seq_for_deposit_id, dep_id)
        return dep_id
    if raw.isdigit():
        return _by_the_service(text, deposit_id_for, int(raw))
    raise ValueError(
        f"'{text}' is not a deposit id: give 0x and 64 hex digits, or the deposit's sequence number"
    )


def deposit_seq(dep_id: bytes) -> int | None:
    """The sequence number of a reserve-service deposit id, or None for any other id."""
    try:
        return seq_for_deposit_id(bytes(dep_id))
    except ValueError:
        return None
