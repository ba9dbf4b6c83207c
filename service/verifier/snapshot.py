"""`ushk verify`'s snapshot check: the latest signed snapshot's signature under the log key, every
on-chain figure in it read again at its pinned block, its log head extending into the signed
head, and (given `--claim kind:reference`) a claim's proof in its liabilities' Merkle-sum tree."""

from __future__ import annotations

import functools
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from service import merkle_sum
from service.canonical import NotCanonicalizable, canonical_json
from service.chain.token import Token
from service.verifier.checks import prove_extends
from service.verifier.remote import Failed, Head, Service, as_int, chain_call, unb64


def latest(service: Service) -> dict[str, Any] | None:
    """The latest snapshot's answer; None when the service has published none."""
    try:
        return service.get("snapshots/latest")
    except Failed as exc:
        if "no_snapshot" in str(exc):
            return None
        raise


def signed_snapshot(answer: dict[str, Any], pinned: bytes | None) -> dict[str, Any]:
    """The snapshot of a /v1/transparency/snapshots answer, checked: signed by the `pinned` log
    key (None: the key it names), canonical JSON, and the one shown; else Failed."""
    signed = unb64(answer.get("signed_bytes"), "the snapshot's signed_bytes")
    signature = unb64(answer.get("signature"), "the snapshot's signature", 64)
    public_key = unb64(answer.get("public_key"), "the snapshot's public_key", 32)
    if pinned is not None and public_key != pinned:
        raise Failed("the snapshot is signed by another key than the log's pinned key")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, signed)
    except InvalidSignature:
        raise Failed("the snapshot's signature does not verify under the log key") from None
    try:
        snap = json.loads(signed)
        canonical = canonical_json(snap) == signed
    except (ValueError, NotCanonicalizable):
        snap, canonical = None, False
    if not canonical or not isinstance(snap, dict):
        raise Failed("the snapshot's signed bytes are not canonical JSON")
    if answer.get("snapshot") != snap:
        raise Failed("the snapshot the service shows is not the one it signed")
    return snap


def check_snapshot(
    service: Service, head: Head, token: Token, pinned: bytes, answer: dict[str, Any], claims: list[str]
) -> str:
    snap = signed_snapshot(answer, pinned)
    figures = _chain_figures(token, snap)
    reasons = [f"snapshot {answer.get('id')} signed by the log key; {figures}", custodians(snap)]
    log = snap.get("log")
    if isinstance(log, dict):
        size = as_int(log.get("tree_size"), "the snapshot's log tree_size")
        root = bytes.fromhex(str(log.get("root")))
        reasons.append(prove_extends(service, size, root, head, "the snapshot's log head"))
    for claim in claims:
        reasons.append(_check_claim(service, answer, snap, claim))
    return "; ".join(reasons)


def _chain_figures(token: Token, snap: dict[str, Any]) -> str:
    """Every on-chain figure of the snapshot, read again at its block; a summary, or Failed."""
    chain, supply, attestation = (
        snap.get("chain") or {},
        snap.get("supply") or {},
        snap.get("attestation") or {},
    )
    block = as_int(chain.get("block"), "the snapshot's block")
    if str(chain.get("token", "")).lower() != token.address.lower():
        raise Failed(f"the snapshot is of token {chain.get('token')}, not {token.address}")
    chain_id = chain_call("eth_chainId", lambda: token.w3.eth.chain_id)
    if chain.get("chain_id") != chain_id:
        raise Failed(f"the snapshot is of chain {chain.get('chain_id')}, the node's is {chain_id}")
    header = chain_call(f"eth_getBlockByNumber {block}", lambda: token.w3.eth.get_block(block))
    if "0x" + bytes(header["hash"]).hex() != chain.get("block_hash"):
        raise Failed(f"block {block}'s hash is not the snapshot's: another chain, or a reorganised one")
    functions = token.contract.functions
    total = int(chain_call("totalSupply()", lambda: functions.totalSupply().call(block_identifier=block)))
    if str(total) != supply.get("total_units"):
        raise Failed(
            f"totalSupply at block {block} is {total} units, the snapshot says {supply.get('total_units')}"
        )
    frozen_accounts = supply.get("frozen_accounts") or []
    frozen = 0
    for account in frozen_accounts:
        is_frozen = functools.partial(functions.isFrozen(account).call, block_identifier=block)
        if not chain_call("isFrozen()", is_frozen):
            raise Failed(f"{account} is not frozen at block {block}, the snapshot counts it frozen")
        balance = functools.partial(functions.balanceOf(account).call, block_identifier=block)
        frozen += int(chain_call("balanceOf()", balance))
    if str(frozen) != supply.get("frozen_units") or str(total - frozen) != supply.get(
        "outstanding_redeemable_units"
    ):
        raise Failed(
            f"the frozen balances at block {block} sum to {frozen} units; the snapshot's classes "
            f"({supply.get('frozen_units')} frozen, {supply.get('outstanding_redeemable_units')} redeemable) do not add up"
        )
    amount, timestamp, report_hash, _ = chain_call(
        "reserveAttestation()", lambda: functions.reserveAttestation().call(block_identifier=block)
    )
    if (str(amount), int(timestamp), "0x" + bytes(report_hash).hex()) != (
        attestation.get("amount_units"),
        attestation.get("timestamp"),
        attestation.get("report_hash"),
    ):
        raise Failed(f"the attestation at block {block} is not the snapshot's")
    return (
        f"at block {block}: supply {total} units ({frozen} frozen in {len(frozen_accounts)} accounts), "
        f"attestation {amount} units, as the chain says"
    )


def custodians(snap: dict[str, Any]) -> str:
    """The custodians' statement times and states of a version 2 snapshot, checked for shape
    (every bank holding custody listed, each time a string or null, each flag a boolean); a
    summary, or Failed. A version 1 snapshot has none (it still verifies)."""
    version = snap.get("version")
    if version == 1:
        return "version 1 snapshot: no custodian statements in it"
    if not isinstance(version, int) or version < 1:
        raise Failed(f"the snapshot's version {version!r} is not a version")
    reserves = snap.get("reserves") or {}
    rows = reserves.get("custodians")
    if not isinstance(rows, list):
        raise Failed("the snapshot lists no custodians (reserves.custodians)")
    seen: dict[str, str] = {}
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("bank"), str):
            raise Failed("a custodian of the snapshot has no bank name")
        bank = row["bank"]
        as_of = row.get("statement_as_of")
        if not (as_of is None or isinstance(as_of, str)) or not isinstance(row.get("statement_stale"), bool):
            raise Failed(f"custodian {bank}: the statement time or stale flag is malformed")
        if not isinstance(row.get("failed"), bool):
            raise Failed(f"custodian {bank}: the failed flag is malformed")
        if as_of is None and not row["statement_stale"]:
            raise Failed(f"custodian {bank}: no statement, yet not stale")
        state = "FAILED" if row["failed"] else ("stale" if row["statement_stale"] else "fresh")
        seen[bank] = f"{bank} ({state}, statement {as_of or 'none'})"
    holding = [c.get("bank") for c in reserves.get("custody") or [] if isinstance(c, dict)]
    missing = sorted(str(b) for b in holding if b not in seen)
    if missing:
        raise Failed(f"the snapshot's custodians leave out {', '.join(missing)}, which hold custody")
    return "custodians: " + ("; ".join(seen.values()) if seen else "none")


def _check_claim(service: Service, answer: dict[str, Any], snap: dict[str, Any], claim: str) -> str:
    kind, _, reference = claim.partition(":")
    if kind not in ("payout", "refund") or not reference.isdigit():
        raise Failed(f"--claim {claim!r}: give payout:REDEMPTION_ID or refund:DEPOSIT_SEQ")
    proof = service.get(f"snapshots/{answer.get('id')}/claims", kind=kind, reference=reference)
    liabilities = snap.get("liabilities") or {}
    root = merkle_sum.SumNode(
        bytes.fromhex(str(liabilities.get("root"))), int(liabilities.get("total_cents", -1))
    )
    data = str(proof.get("data", "")).encode("utf-8")
    try:
        stated = json.loads(data)
    except ValueError:
        stated = None
    if not isinstance(stated, dict) or (stated.get("kind"), stated.get("reference")) != (kind, reference):
        raise Failed(f"the proof of claim {claim} is about another claim")
    cents = stated.get("amount_cents")
    if not isinstance(cents, str) or not cents.isdigit():
        raise Failed(f"the proof of claim {claim} has no amount in cents")
    amount = int(cents)
    try:
        leaf = merkle_sum.leaf(data, amount)
        path = [merkle_sum.SumNode(bytes.fromhex(n["hash"]), int(n["sum"])) for n in proof.get("path", [])]
    except (ValueError, KeyError, TypeError) as exc:
        raise Failed(f"the proof of claim {claim} is malformed: {exc}") from None
    index, size = as_int(proof.get("index"), "index"), as_int(proof.get("size"), "size")
    if not merkle_sum.verify(index, size, leaf, path, root):
        raise Failed(f"claim {claim}'s proof does not give the snapshot's liabilities root and total")
    return f"claim {claim} ({amount} cents) is counted in the liabilities' total of {root.sum} cents"
