"""Merkle-sum trees: a total proved by a root, each part provably in it, none able to be negative.

Every node carries a hash and a sum (a non-negative integer below 2**128, encoded as 16 bytes
big-endian, so no node can hold a negative amount):

    leaf (data, v)  -> hash SHA-256(0x00 || v || data),                          sum v
    node (l, r)     -> hash SHA-256(0x01 || l.hash || l.sum || r.hash || r.sum), sum l.sum + r.sum

The shape is RFC 9162's (the left subtree of n leaves holds the largest power of two below n),
as in service/merkle.py. The root's sum is the total; a leaf's proof is its siblings (hash and
sum) from the leaf up. Because every sum on the path is committed in the hashes above it, a
verifier who checks a proof against the published root and total knows its own amount is counted
in the total and that no sibling subtree subtracts from it: the total cannot be understated
without some claimant's proof failing. The snapshot's off-chain liabilities (payouts pending,
refunds due) are published this way (docs/transparency.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from service import merkle

MAX_SUM = 2**128 - 1


class SumTreeError(merkle.ProofError):
    """A sum out of range, or a proof asked for a leaf the tree lacks."""


@dataclass(frozen=True)
class SumNode:
    hash: bytes
    sum: int


def _amount(value: int) -> bytes:
    if not 0 <= value <= MAX_SUM:
        raise SumTreeError(f"a sum must be between 0 and 2**128 - 1, not {value}")
    return value.to_bytes(16, "big")


def leaf(data: bytes, value: int) -> SumNode:
    return SumNode(hashlib.sha256(b"\x00" + _amount(value) + data).digest(), value)


def parent(left: SumNode, right: SumNode) -> SumNode:
    total = left.sum + right.sum
    _amount(total)
    digest = hashlib.sha256(
        b"\x01" + left.hash + _amount(left.sum) + right.hash + _amount(right.sum)
    ).digest()
    return SumNode(digest, total)


EMPTY = SumNode(hashlib.sha256(b"").digest(), 0)


def _split(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: Sequence[SumNode]) -> SumNode:
    if not leaves:
        return EMPTY
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return parent(root(leaves[:k]), root(leaves[k:]))


def proof(leaves: Sequence[SumNode], index: int) -> list[SumNode]:
    """The siblings of leaf `index`, from the leaf up (RFC 9162's audit path, with sums)."""
    try:
        ranges = merkle.sibling_ranges(index, len(leaves))
    except merkle.ProofError as exc:
        raise SumTreeError(str(exc)) from None
    return [root(leaves[start:end]) for start, end in ranges]


def root_from_proof(index: int, size: int, node: SumNode, path: Sequence[SumNode]) -> SumNode:
    """The root (hash and total) that `path` proves `node` at `index` into, in a tree of `size`
    leaves (RFC 9162 2.1.3.2's walk, `service.merkle.fold_path`, combining with `parent`)."""
    return merkle.fold_path(index, size, node, path, parent)


def verify(index: int, size: int, node: SumNode, path: Sequence[SumNode], expected: SumNode) -> bool:
    """True when `path` proves `node` (with its amount) into the root `expected` (its hash and
    its total)."""
    try:
        return root_from_proof(index, size, node, path) == expected
    except merkle.ProofError:
        return False
