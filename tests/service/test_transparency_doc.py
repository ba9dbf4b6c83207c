"""docs/transparency.md's worked example, recomputed: every hash, the proofs, the signed bytes and
the signature it shows come out of service.merkle and service.audit.leaves (and the stdlib)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from service import merkle
from service.audit import leaves
from service.audit.heads import LogKey
from service.canonical import canonical_json

DOC = (Path(__file__).resolve().parents[2] / "docs" / "transparency.md").read_text(encoding="utf-8")
DEPOSIT_ID = "0x" + "00" * 31 + "01"
ENTRIES = [
    (1, "2026-12-03T09:00:00.000000Z", "bank.created", "operator:alice",
     {"bank": "hsbc", "bank_id": 1, "daily_limit_cents": None, "single_max_cents": None, "webhook": False}),
    (2, "2026-12-03T09:00:01.000000Z", "deposit.accepted", "bank:hsbc",
     {"amount_cents": 10000, "bank_id": 1, "beneficiary": "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4",
      "category": "hk", "deposit_id": DEPOSIT_ID, "deposit_seq": 1, "reference": "INV-0001",
      "resident": "R-3f1c0a9b2d7e4c55", "status": "accepted"}),
    (3, "2026-12-03T09:00:02.000000Z", "deposit.minted", "minter",
     {"amount_cents": 10000, "bank_id": 1, "block_number": 42, "deposit_id": DEPOSIT_ID, "deposit_seq": 1,
      "status": "minted", "tx_hash": "0x" + "ab" * 32}),
]  # fmt: skip
SALTS = ["11" * 32, "22" * 32, "33" * 32]
TIMESTAMP_MS = 1796288403000  # 2026-12-03T09:00:03Z


def in_doc(value: str) -> None:
    assert value in DOC, value


def test_the_worked_example_recomputes() -> None:
    data = [leaves.leaf_bytes(*entry, salt) for entry, salt in zip(ENTRIES, SALTS, strict=True)]
    private = leaves.private_part("deposit.accepted", "bank:hsbc", ENTRIES[1][4])
    in_doc(canonical_json(private).decode())
    in_doc(hashlib.sha256(bytes.fromhex(SALTS[1]) + canonical_json(private)).hexdigest())
    in_doc(data[1].decode())
    h = [merkle.leaf_hash(d) for d in data]
    for digest in h:
        in_doc(digest.hex())
    mth2 = merkle.node_hash(h[0], h[1])
    root = merkle.node_hash(mth2, h[2])
    nodes, _ = merkle.build(data)
    source = merkle.from_mapping(nodes)
    assert merkle.root(source, 3) == root and merkle.root(source, 2) == mth2
    in_doc(mth2.hex())
    in_doc(root.hex())
    in_doc(base64.b64encode(root).decode())
    assert merkle.inclusion_path(source, 1, 3) == [h[0], h[2]]
    assert merkle.consistency_proof(source, 2, 3) == [h[2]]
    signed = merkle.tree_head_bytes(TIMESTAMP_MS, 3, root).hex()
    in_doc(f"`{signed[:4]}` `{signed[4:20]}` `{signed[20:36]}`")
    key = LogKey.from_hex("42" * 32)
    in_doc(base64.b64encode(key.public_bytes).decode())
    in_doc(key.key_id)
    signature = key.sign(TIMESTAMP_MS, 3, root)
    in_doc(base64.b64encode(signature).decode())
    assert merkle.verify_tree_head(key.public_bytes, TIMESTAMP_MS, 3, root, signature)
    in_doc(str(TIMESTAMP_MS))
