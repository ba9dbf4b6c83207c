"""Merkle trees hashed as RFC 9162 (Certificate Transparency v2) section 2.1, with its proofs.

    leaf hash      = SHA-256(0x00 || leaf bytes)
    interior node  = SHA-256(0x01 || left || right)
    MTH(D[n])      = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])), k the largest power of two < n

Nothing here touches a database. A tree is read through a `NodeSource`: the hash of a complete,
aligned subtree, addressed as (level, index): the subtree of 2**level leaves that starts at leaf
index * 2**level. Those nodes never change once the log has grown past them, so they can be
stored as the log is appended (`Frontier`) and every root and proof for any earlier tree size
is assembled from at most a few dozen of them (`mth`, `inclusion_path`, `consistency_proof`).
`needed_nodes` lists the nodes a computation reads, so a store can fetch them in one query.

The verification algorithms (`verify_inclusion`, `verify_consistency`) are RFC 9162's 2.1.3.2
and 2.1.4.2, for anyone holding only a root, a size and a proof.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeVar

Node = tuple[int, int]  # (level, index)
NodeSource = Callable[[int, int], bytes]
T = TypeVar("T")

EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A request for a proof that the tree cannot give (sizes out of range, unknown leaf)."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def mth(nodes: NodeSource, start: int, end: int) -> bytes:
    """MTH(D[start:end]) of a range the RFC's recursion reaches: `start` is a multiple of the
    largest power of two not above end - start (always so for the ranges below)."""
    n = end - start
    if n == 0:
        return EMPTY_ROOT
    if n & (n - 1) == 0:
        level = n.bit_length() - 1
        return nodes(level, start >> level)
    k = _split(n)
    return node_hash(mth(nodes, start, start + k), mth(nodes, start + k, end))


def root(nodes: NodeSource, size: int) -> bytes:
    return mth(nodes, 0, size)


def sibling_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges [start, end) whose subtrees are the siblings on the path of leaf `index`
    in a tree of `size` leaves, from the leaf up (the shape of RFC 9162 2.1.3.1's PATH)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    # Walk down from the root, collecting siblings; the RFC lists them from the leaf upwards.
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def inclusion_path(nodes: NodeSource, index: int, size: int) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 2.1.3.1, leaf to root order."""
    return [mth(nodes, start, end) for start, end in sibling_ranges(index, size)]


def consistency_proof(nodes: NodeSource, first: int, second: int) -> list[bytes]:
    """PROOF(first, D[second]) of RFC 9162 2.1.4.1; empty when first is 0 or equals second."""
    if not 0 <= first <= second:
        raise ProofError(f"no consistency proof from size {first} to size {second}")
    if first == 0 or first == second:
        return []
    proof: list[bytes] = []
    start, end, whole = 0, second, True
    while end != first:
        k = _split(end - start)
        if first - start <= k:
            proof.append(mth(nodes, start + k, end))
            end = start + k
        else:
            proof.append(mth(nodes, start, start + k))
            start += k
            whole = False
    if not whole:
        proof.append(mth(nodes, start, end))
    proof.reverse()
    return proof


def needed_nodes(compute: Callable[[NodeSource], object]) -> set[Node]:
    """The (level, index) nodes that `compute(source)` reads (its shape does not depend on the
    hashes, so a run over placeholders finds them)."""
    seen: set[Node] = set()

    def record(level: int, index: int) -> bytes:
        seen.add((level, index))
        return EMPTY_ROOT

    compute(record)
    return seen


def from_mapping(found: Mapping[Node, bytes]) -> NodeSource:
    def source(level: int, index: int) -> bytes:
        try:
            return found[(level, index)]
        except KeyError:
            raise ProofError(f"the tree has no node ({level}, {index})") from None

    return source


def frontier_nodes(size: int) -> list[Node]:
    """The complete subtrees along the right edge of a tree of `size` leaves (largest first):
    the nodes an append combines with."""
    return [(level, (size >> level) - 1) for level in reversed(range(size.bit_length())) if size >> level & 1]


class Frontier:
    """Appends leaves to a tree of `size` leaves given its frontier nodes, and yields every
    complete subtree each append finishes: ((level, index), hash), the leaf's own included."""

    def __init__(self, size: int, frontier: Mapping[Node, bytes]) -> None:
        missing = set(frontier_nodes(size)) - set(frontier)
        if missing:
            raise ProofError(f"the frontier of a tree of size {size} lacks {sorted(missing)}")
        self.size = size
        self._right = {level: frontier[(level, index)] for level, index in frontier_nodes(size)}

    def append(self, leaf: bytes) -> list[tuple[Node, bytes]]:
        """Append a leaf's hash (already `leaf_hash`ed); the new nodes it completes."""
        index, level, current = self.size, 0, leaf
        created = [((0, index), current)]
        while index & 1:
            current = node_hash(self._right.pop(level), current)
            index >>= 1
            level += 1
            created.append(((level, index), current))
        self._right[level] = current
        self.size += 1
        return created

    def nodes(self) -> list[tuple[Node, bytes]]:
        """The frontier: `frontier_nodes(size)` with their hashes, largest first."""
        return [((level, index), self._right[level]) for level, index in frontier_nodes(self.size)]

    def root(self) -> bytes:
        """MTH of the whole tree: the frontier's subtrees folded from the right."""
        result: bytes | None = None
        for level in sorted(self._right):
            result = self._right[level] if result is None else node_hash(self._right[level], result)
        return EMPTY_ROOT if result is None else result


def build(leaves: Iterable[bytes]) -> tuple[dict[Node, bytes], int]:
    """Every complete-subtree node of the tree over `leaves` (leaf bytes), and its size."""
    frontier = Frontier(0, {})
    nodes: dict[Node, bytes] = {}
    for data in leaves:
        nodes.update(frontier.append(leaf_hash(data)))
    return nodes, frontier.size


# ---- verification (RFC 9162 2.1.3.2 and 2.1.4.2) --------------------------------------------


def fold_path(index: int, size: int, leaf: T, path: Sequence[T], combine: Callable[[T, T], T]) -> T:
    """RFC 9162 2.1.3.2's walk up an audit path: `combine(left, right)` at each level, the
    position of leaf `index` in a tree of `size` deciding which side the sibling is on. The
    value at the top; ProofError if the path has the wrong length for the position. (For
    hashes, `combine` is `node_hash`; service/merkle_sum.py folds hashes with sums.)"""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise ProofError("the inclusion path is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = combine(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = combine(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the inclusion path is shorter than the tree is deep")
    return r


def root_from_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes:
    """The root that `path` proves the leaf hash `leaf` at `index` into."""
    return fold_path(index, size, leaf, path, node_hash)


def verify_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes], expected_root: bytes) -> bool:
    try:
        return root_from_inclusion(index, size, leaf, path) == expected_root
    except ProofError:
        return False


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """True when `proof` shows the tree of size `first` with `first_root` is a prefix of the
    tree of size `second` with `second_root`."""
    if not 0 <= first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the first root is itself on the path
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


# ---- signed tree heads ----------------------------------------------------------------------


def tree_head_bytes(timestamp_ms: int, tree_size: int, root_hash: bytes) -> bytes:
    """What a tree head signature signs: RFC 6962's TreeHeadSignature structure (3.5), i.e.
    version v1 (0), signature_type tree_hash (1), uint64 timestamp (milliseconds since the
    epoch), uint64 tree_size and the 32-byte root, big-endian: 50 bytes."""
    if len(root_hash) != 32:
        raise ValueError("a root hash has 32 bytes")
    return bytes((0, 1)) + timestamp_ms.to_bytes(8, "big") + tree_size.to_bytes(8, "big") + root_hash


def key_id(public_key: bytes) -> str:
    """The id of a log key: hex SHA-256 of its raw 32-byte Ed25519 public key (as RFC 6962's
    LogID is the hash of the log's key)."""
    return hashlib.sha256(public_key).hexdigest()


def verify_tree_head(
    public_key: bytes, timestamp_ms: int, tree_size: int, root_hash: bytes, signature: bytes
) -> bool:
    """True when `signature` is the key's Ed25519 signature of the tree head."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            signature, tree_head_bytes(timestamp_ms, tree_size, root_hash)
        )
    except (InvalidSignature, ValueError):
        return False
    return True
