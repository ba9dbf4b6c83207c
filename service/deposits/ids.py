"""On-chain deposit ids: ``bytes32(PREFIX << 192 | seq)``.

`seq` is the deposit row's database-assigned integer primary key, so ids of successive
deposits are consecutive integers. The token records minted ids in a bitmap of 256 ids per
storage word, so consecutive ids share words (gas: docs/performance.md, "Sequential deposit
ids"). (Confirmations refused by a policy check are stored too and use up a seq, as do
rolled-back inserts on PostgreSQL, so the minted ids have small gaps; a word still holds many.)
PREFIX is the ASCII text "USHK-DEP" read as a big-endian 64-bit integer, so an id
is recognisable in a block explorer and cannot collide with ids from another scheme.
"""

from __future__ import annotations

PREFIX = int.from_bytes(b"USHK-DEP", "big")
SEQ_BITS = 192
MAX_SEQ = (1 << SEQ_BITS) - 1


def deposit_id_for(seq: int) -> bytes:
    """The 32-byte on-chain id of deposit number `seq` (1 <= seq < 2**192)."""
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 < seq <= MAX_SEQ:
        raise ValueError(f"deposit seq out of range: {seq!r}")
    return ((PREFIX << SEQ_BITS) | seq).to_bytes(32, "big")


def seq_for_deposit_id(deposit_id: bytes | str) -> int:
    """Inverse of `deposit_id_for`; accepts 32 bytes or a 0x-prefixed 64-digit hex string."""
    if isinstance(deposit_id, str):
        text = deposit_id[2:] if deposit_id[:2].lower() == "0x" else deposit_id
        if len(text) != 64:
            raise ValueError("deposit id must be 32 bytes")
        deposit_id = bytes.fromhex(text)
    raw = bytes(deposit_id)
    if len(raw) != 32:
        raise ValueError("deposit id must be 32 bytes")
    value = int.from_bytes(raw, "big")
    if value >> SEQ_BITS != PREFIX:
        raise ValueError("not a USHK deposit id (wrong prefix)")
    seq = value & MAX_SEQ
    if seq == 0:
        raise ValueError("deposit seq 0 is not a valid id")
    return seq


def deposit_id_hex(seq: int) -> str:
    return "0x" + deposit_id_for(seq).hex()
