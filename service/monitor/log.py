"""The monitor's findings log: an RFC 9162 Merkle tree over its findings (service.merkle, the
same code as the service's transparency log), signed heads with the monitor's own Ed25519 key,
inclusion and consistency proofs, and the re-check of the whole log (`verify`).

A finding's leaf is the canonical JSON of its public view (`model.leaf_bytes`); leaf index =
finding seq, from 0. A signed head signs RFC 6962's TreeHeadSignature bytes
(`merkle.tree_head_bytes`: timestamp in milliseconds, tree size, root).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service import merkle
from service.monitor.store import SignedHead, Store


class KeyError_(ValueError):
    """The monitor's key file is missing or not an Ed25519 private key."""


def generate_key(path: Path, *, overwrite: bool = False) -> bytes:
    """Write a new Ed25519 private key (PKCS#8 PEM, mode 0600) to `path`; its public key."""
    if path.exists() and not overwrite:
        raise KeyError_(f"{path} exists (pass --force to replace it)")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return public_bytes(key)


def load_key(path: Path) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyError_(
            f"the monitor key file {path} cannot be read: {exc.strerror} (create it with `ushk monitor keygen`)"
        ) from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyError_(f"the monitor key file {path} is not a PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyError_(f"the monitor key file {path} is not an Ed25519 key")
    return key


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class Problem:
    what: str


class FindingsLog:
    """Proofs and signed heads over a store's findings."""

    def __init__(self, store: Store, key: Ed25519PrivateKey | None = None) -> None:
        self.store = store
        self.key = key
        self.public_key = public_bytes(key) if key is not None else None

    @property
    def key_id(self) -> str | None:
        return None if self.public_key is None else merkle.key_id(self.public_key)

    def root(self, size: int) -> bytes:
        return merkle.root(self.store.node_source(lambda src: merkle.root(src, size)), size)

    def sign_head(self, now_ms: int | None = None) -> SignedHead:
        """A signed head of the log as it is now (stored; an existing head of the same size is
        returned as it was signed, so heads of one size never disagree)."""
        if self.key is None:
            raise KeyError_("no monitor key: heads cannot be signed")
        size = self.store.size()
        existing = self.store.head_at(size)
        if existing is not None:
            return existing
        root = self.root(size)
        timestamp = int(time.time() * 1000) if now_ms is None else now_ms
        signature = self.key.sign(merkle.tree_head_bytes(timestamp, size, root))
        head = SignedHead(size, timestamp, root, signature)
        self.store.add_head(head)
        return self.store.head_at(size) or head

    def inclusion(self, seq: int, tree_size: int) -> list[bytes]:
        if not 0 <= seq < tree_size or tree_size > self.store.size():
            raise merkle.ProofError(f"no finding {seq} in a log of size {tree_size}")
        source = self.store.node_source(lambda src: merkle.inclusion_path(src, seq, tree_size))
        return merkle.inclusion_path(source, seq, tree_size)

    def consistency(self, first: int, second: int) -> list[bytes]:
        if not 0 <= first <= second or second > self.store.size():
            raise merkle.ProofError(f"no consistency proof from size {first} to size {second}")
        source = self.store.node_source(lambda src: merkle.consistency_proof(src, first, second))
        return merkle.consistency_proof(source, first, second)

    def verify(self, progress: Callable[[int], None] | None = None) -> list[str]:
        """Re-check the whole log: the leaves rebuild the stored nodes, every leaf is the
        canonical encoding of its stored JSON, every signed head's root is the tree's root at
        its size and its signature holds, and each head is consistent with the one before.
        The problems found (empty: the log holds). `progress(1)`, when given, is called per leaf
        rebuilt, per finding checked and per head checked (2 x size + heads in all)."""
        step = progress or (lambda _n: None)
        from service.monitor.model import finding_from_public, leaf_bytes

        problems: list[str] = []
        frontier = merkle.Frontier(0, {})
        rebuilt: dict[merkle.Node, bytes] = {}
        expected = 0
        for seq, leaf in self.store.leaves():
            if seq != expected:
                problems.append(f"finding seq {expected} is missing (next is {seq})")
                expected = seq
            rebuilt.update(frontier.append(merkle.leaf_hash(leaf)))
            expected += 1
            step(1)
        for stored in self.store.findings(limit=10**9):
            if (
                leaf_bytes(finding_from_public(stored.finding)) != stored.leaf
                or json.loads(stored.leaf) != stored.finding
            ):
                problems.append(f"finding {stored.seq}: its leaf is not the canonical JSON of its record")
            step(1)
        on_disk = self.store.all_nodes()
        for node, value in rebuilt.items():
            if on_disk.get(node) != value:
                problems.append(f"tree node {node} does not match the leaves")
        extra = set(on_disk) - set(rebuilt)
        if extra:
            problems.append(f"{len(extra)} stored tree nodes belong to no leaf")
        source = merkle.from_mapping(rebuilt)
        previous: SignedHead | None = None
        for head in self.store.heads():
            step(1)
            if head.tree_size > frontier.size:
                problems.append(f"head of size {head.tree_size} is past the log's {frontier.size} findings")
                continue
            root = merkle.root(source, head.tree_size)
            if root != head.root:
                problems.append(f"head of size {head.tree_size}: its root is not the tree's")
            if self.public_key is not None and not merkle.verify_tree_head(
                self.public_key, head.timestamp, head.tree_size, head.root, head.signature
            ):
                problems.append(
                    f"head of size {head.tree_size}: the signature does not hold with the monitor's key"
                )
            if previous is not None:
                proof = merkle.consistency_proof(source, previous.tree_size, head.tree_size)
                if not merkle.verify_consistency(
                    previous.tree_size, head.tree_size, previous.root, head.root, proof
                ):
                    problems.append(
                        f"head of size {head.tree_size} is not consistent with size {previous.tree_size}"
                    )
            previous = head
        return problems
