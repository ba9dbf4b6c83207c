"""The checks of `ushk verify` (each returns its reason or raises `Failed`) and its state file."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from service import merkle
from service.canonical import NotCanonicalizable, canonical_json
from service.chain.events import LogReader
from service.chain.token import Token
from service.verifier.remote import Failed, Head, Service, as_int, chain_call, unb64

STATE_VERSION = 1
DEPOSIT_ID = re.compile(r"0x[0-9a-fA-F]{64}")  # fullmatch
ANCHORED = "AuditLogAnchored"
LOG_CHUNK_BLOCKS = 10_000


def default_state_path() -> Path:
    """$USHK_VERIFY_STATE, else ~/.ushk/verify-state.json."""
    configured = os.environ.get("USHK_VERIFY_STATE")
    return Path(configured) if configured else Path.home() / ".ushk" / "verify-state.json"


# ---- state -----------------------------------------------------------------------------------


def load_state(path: Path) -> dict[str, Any]:
    """The state file's content ({"version", "logs": {service URL: record}}); empty if absent."""
    if not path.exists():
        return {"version": STATE_VERSION, "logs": {}}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise Failed(f"the state file {path} is unreadable: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("logs"), dict):
        raise Failed(f"the state file {path} is not a verify state (no 'logs' object)")
    return data


def save_state(path: Path, data: dict[str, Any]) -> None:
    """Written whole to a temporary file beside it, then renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".verify-state-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(data, out, indent=2, sort_keys=True)
            out.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---- the checks ------------------------------------------------------------------------------


def check_signature(head: Head, pinned: bytes | None, source: str) -> str:
    """Reason of a head signed by the pinned key (`source` says where the pin came from)."""
    key = head.public_key if pinned is None else pinned
    if merkle.key_id(head.public_key) != head.key_id:
        raise Failed(f"the head's key_id {head.key_id} is not the SHA-256 of its public key")
    if head.public_key != key:
        raise Failed(
            f"the head is signed by key id {head.key_id}, not by the pinned key "
            f"{merkle.key_id(key)} ({source})"
        )
    if not merkle.verify_tree_head(key, head.timestamp, head.tree_size, head.root, head.signature):
        raise Failed(
            f"the signature of the head of size {head.tree_size} does not verify under key id "
            f"{merkle.key_id(key)} ({source})"
        )
    return f"head of size {head.tree_size} at {head.time} signed by key id {merkle.key_id(key)} ({source})"


def prove_extends(service: Service, size: int, root: bytes, head: Head, what: str) -> str:
    """That the tree of `size` with `root` is a prefix of the head's; the reason, or Failed."""
    if size > head.tree_size:
        raise Failed(
            f"{what} has size {size}, the signed head only {head.tree_size}: the service shows less "
            "than was committed to (history rewritten or withheld)"
        )
    if size == head.tree_size:
        if root != head.root:
            raise Failed(
                f"{what} has size {size} with root {root.hex()}, the signed head of the same size "
                f"{head.root.hex()}: history rewritten"
            )
        return f"{what}, of size {size}, is the signed head"
    proof = service.consistency(size, head.tree_size)
    if not merkle.verify_consistency(size, head.tree_size, root, head.root, proof):
        raise Failed(
            f"the consistency proof from {what} (size {size}, root {root.hex()}) to the signed head "
            f"(size {head.tree_size}) does not verify: history rewritten"
        )
    return f"{what}, of size {size}, is a prefix of the signed head (size {head.tree_size}), proved by {len(proof)} hashes"


def check_consistency(service: Service, head: Head, record: dict[str, Any] | None) -> str:
    if record is None:
        return "no earlier head verified for this service: nothing to compare (this head is the start)"
    try:
        size = as_int(record.get("tree_size"), "the recorded tree_size")
        root = unb64(record.get("sha256_root_hash"), "the recorded root", 32)
        timestamp = as_int(record.get("timestamp", 0), "the recorded timestamp")
    except Failed as exc:
        raise Failed(f"the state file's record is malformed: {exc}") from None
    if head.timestamp < timestamp:
        raise Failed(
            f"the signed head's time {head.time} is before that of the head verified earlier "
            f"({record.get('time', '?')}): heads' timestamps never go back"
        )
    return prove_extends(
        service, size, root, head, f"the head verified earlier (at {record.get('time', '?')})"
    )


def check_anchor(service: Service, head: Head, token: Token, anchors_from: int | None) -> str:
    block = chain_call("eth_blockNumber", token.block_number)
    size, root, timestamp = chain_call(
        "auditLogAnchor()",
        lambda: token.contract.functions.auditLogAnchor().call(block_identifier=block),
    )
    size, root = int(size), bytes(root)
    if size == 0:
        raise Failed(f"the token {token.address} has no anchored head (block {block})")
    reasons = [prove_extends(service, size, root, head, f"the head anchored on chain (block {block})")]
    if anchors_from is not None:
        seen: set[tuple[int, bytes]] = {(size, root)}
        reader = LogReader(token, (ANCHORED,))
        count = 0
        for start in range(anchors_from, block + 1, LOG_CHUNK_BLOCKS):
            end = min(start + LOG_CHUNK_BLOCKS - 1, block)
            events = chain_call(f"eth_getLogs {start}..{end}", functools.partial(reader.fetch, start, end))
            for event in events:
                count += 1
                pair = (int(event.args["treeSize"]), bytes(event.args["rootHash"]))
                if pair not in seen:
                    seen.add(pair)
                    prove_extends(service, pair[0], pair[1], head, f"the anchor of block {event.block}")
        reasons.append(
            f"{count} AuditLogAnchored events since block {anchors_from} ({len(seen)} distinct heads) agree"
        )
    return "; ".join(reasons)


def check_inclusion(service: Service, head: Head, seq: int) -> str:
    view = _included(service, head, seq)
    return f"entry {seq} ({view.get('kind')}) is in the signed head's tree of size {head.tree_size}"


def _included(service: Service, head: Head, seq: int) -> dict[str, Any]:
    """The public view of entry `seq`, once its leaf is proved in the head's tree."""
    if seq < 1:
        raise Failed(f"seq {seq}: seqs start at 1")
    if seq > head.tree_size:
        raise Failed(
            f"seq {seq} is not in the signed head's tree of size {head.tree_size} "
            "(no such entry, or newer than the head: try again after the next head)"
        )
    leaf = service.entry(seq)
    try:
        view = json.loads(leaf)
        canonical = canonical_json(view) == leaf
    except (ValueError, NotCanonicalizable):
        view, canonical = None, False
    if not canonical or not isinstance(view, dict) or view.get("seq") != seq:
        raise Failed(f"the leaf of entry {seq} is not the canonical JSON of an entry with seq {seq}")
    index, path = service.inclusion(seq, head.tree_size)
    if index != seq - 1:
        raise Failed(f"the proof of entry {seq} is for leaf index {index}, not {seq - 1}")
    if not merkle.verify_inclusion(seq - 1, head.tree_size, merkle.leaf_hash(leaf), path, head.root):
        raise Failed(f"entry {seq}'s inclusion proof does not give the signed head's root")
    return view


def check_deposit(service: Service, head: Head, deposit_id: str) -> str:
    if not DEPOSIT_ID.fullmatch(deposit_id):
        raise Failed(f"{deposit_id!r} is not a deposit id (0x and 64 hex digits)")
    wanted = deposit_id.lower()
    seqs = service.lookup(wanted)
    if not seqs:
        raise Failed(f"the service's log has no entry about deposit {wanted}")
    for seq in seqs:
        public = _included(service, head, seq).get("public")
        if not isinstance(public, dict) or public.get("deposit_id") != wanted:
            raise Failed(f"entry {seq}, named by the lookup, is not about deposit {wanted}")
    return f"{len(seqs)} entries (seqs {', '.join(map(str, seqs))}) are in the signed head's tree"


def decode_log_key(value: str) -> bytes:
    try:
        key = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Failed("--log-key is not base64") from None
    if len(key) != 32:
        raise Failed(f"--log-key has {len(key)} bytes, an Ed25519 public key 32")
    return key
