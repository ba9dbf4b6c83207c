"""The leaf of an audit entry in the transparency log: its public view and a commitment to the rest.

    leaf bytes = canonical JSON of
        {"actor": public actor, "kind": kind, "private": hex SHA-256(salt || canonical(private part)),
         "public": {the payload's public fields}, "seq": seq, "time": created_at}
    private part = {"actor": the full actor, "payload": the payload's other fields}

Public fields are the ones named in `PUBLIC_FIELDS` (amounts, statuses, on-chain addresses and
transactions, bank names, resident pseudonyms, codes); every other field of a payload (bank
references, free-text reasons, payout references, operator names, URLs, key prefixes) is
private, and so is every field of the kinds in `PRIVATE_KINDS`. A field nobody classified is
private: a new payload field never becomes public by accident. The public actor keeps "bank:NAME"
and the role of other actors ("operator" for "operator:NAME").

The salt is 32 random bytes per entry, kept beside the entry and never published, so a private
part with few possible values (an amount, a status) cannot be found by hashing guesses. A
supervisor handed the salt and the private part (`disclose`) recomputes the commitment and
checks it against the published leaf. docs/transparency.md has a worked example.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.canonical import canonical_json

PUBLIC_FIELDS = frozenset(
    {
        "accept_after",
        "acknowledged_difference_units",
        "address",
        "after",
        "allowance_units",
        "allowed",
        "amount_cents",
        "amount_units",
        "as_of",
        "balance",
        "bank",
        "bank_id",
        "batch_id",
        "beneficiary",
        "block_number",
        "category",
        "code",
        "codes",
        "currency",
        "daily_limit_cents",
        "deposit_id",
        "deposit_seq",
        "deposit_seqs",
        "difference_cleared",
        "due_at",
        "dust_units",
        "effective_after",
        "enabled",
        "event",
        "events",
        "expected_units",
        "from_block",
        "halt_id",
        "holder",
        "implementation",
        "key_id",
        "log_index",
        "max_age_seconds",
        "max_per_mint_units",
        "minter",
        "new_admin",
        "new_admin_role",
        "new_admin_role_name",
        "new_delay_seconds",
        "payout_account_id",
        "payout_id",
        "payouts_created",
        "period",
        "previous_admin_role",
        "previous_admin_role_name",
        "previous_max_age_seconds",
        "public_key",
        "rate_capacity_units",
        "rate_refill_per_second_units",
        "redemption_id",
        "rejection_code",
        "released_cents",
        "report_hash",
        "rescued_amount",
        "rescued_token",
        "resident",
        "role",
        "role_name",
        "sender",
        "single_max_cents",
        "status",
        "suspended",
        "to",
        "to_block",
        "tx_hash",
        "unpause_tx_hash",
        "value_date",
    }
)
# Kinds whose every field is private: who is on the quota watch list, and operator accounts.
PRIVATE_KINDS = frozenset(
    {"quota.watch_listed", "quota.watch_cleared", "operator.created", "operator.revoked"}
)
PUBLIC_ACTOR_PREFIXES = ("bank:",)


def new_salt() -> str:
    return os.urandom(32).hex()


def public_actor(actor: str) -> str:
    if actor.startswith(PUBLIC_ACTOR_PREFIXES):
        return actor
    return actor.split(":", 1)[0]


def split_payload(kind: str, payload: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(public fields, private fields) of an entry's payload."""
    if kind in PRIVATE_KINDS:
        return {}, dict(payload)
    public = {k: v for k, v in payload.items() if k in PUBLIC_FIELDS}
    private = {k: v for k, v in payload.items() if k not in PUBLIC_FIELDS}
    return public, private


def private_part(kind: str, actor: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    return {"actor": actor, "payload": split_payload(kind, payload)[1]}


def commitment(salt_hex: str, private: Mapping[str, Any]) -> str:
    """hex SHA-256(salt bytes || canonical JSON of the private part)."""
    return hashlib.sha256(bytes.fromhex(salt_hex) + canonical_json(dict(private))).hexdigest()


@dataclass(frozen=True)
class Prepared:
    """What an entry's leaf needs besides its seq and time, made when the entry is recorded
    (outside the audit head's lock): the public actor, the public fields' canonical JSON, the
    salt and the commitment to the private part."""

    actor: str
    public_json: bytes
    salt: str
    commitment: str
    deposit_id: str | None = None  # the public `deposit_id` (lowercase 0x-hex), for the lookup index


def public_deposit_id(public: Mapping[str, Any]) -> str | None:
    value = public.get("deposit_id")
    return value.lower() if isinstance(value, str) else None


def prepare(kind: str, actor: str, payload: Mapping[str, Any], salt_hex: str | None = None) -> Prepared:
    public, private = split_payload(kind, payload)
    salt = salt_hex if salt_hex is not None else new_salt()
    return Prepared(
        public_actor(actor),
        canonical_json(public),
        salt,
        commitment(salt, {"actor": actor, "payload": private}),
        public_deposit_id(public),
    )


def assemble(seq: int, created_at: str, kind: str, prepared: Prepared) -> bytes:
    """The leaf bytes: canonical JSON of the public view, its keys in sorted order, assembled
    around the public fields' JSON already encoded (as the audit chain's hash is)."""
    return b"".join(
        (
            b'{"actor":',
            canonical_json(prepared.actor),
            b',"kind":',
            canonical_json(kind),
            b',"private":"',
            prepared.commitment.encode("ascii"),
            b'","public":',
            prepared.public_json,
            b',"seq":',
            str(int(seq)).encode(),
            b',"time":',
            canonical_json(created_at),
            b"}",
        )
    )


def leaf_bytes(
    seq: int, created_at: str, kind: str, actor: str, payload: Mapping[str, Any], salt_hex: str
) -> bytes:
    """The leaf of an entry from its stored fields and salt (what `ushk audit verify` rebuilds)."""
    return assemble(seq, created_at, kind, prepare(kind, actor, payload, salt_hex))


def canonical_leaf(
    seq: int, created_at: str, kind: str, actor: str, payload: Mapping[str, Any], salt_hex: str
) -> bytes:
    """The same bytes as `leaf_bytes`, by encoding the whole public view at once (the definition
    the tests hold `assemble` to)."""
    public, private = split_payload(kind, payload)
    return canonical_json(
        {
            "actor": public_actor(actor),
            "kind": kind,
            "private": commitment(salt_hex, {"actor": actor, "payload": private}),
            "public": public,
            "seq": seq,
            "time": created_at,
        }
    )


def public_view(leaf: bytes | str) -> Any:
    """The decoded leaf (what the public sees of the entry)."""
    return json.loads(leaf)


def verify_disclosure(leaf: bytes | str, salt_hex: str, private: Mapping[str, Any]) -> bool:
    """True when `private` (with its salt) is the private part the leaf commits to."""
    try:
        return bool(public_view(leaf)["private"] == commitment(salt_hex, private))
    except (ValueError, KeyError, TypeError):
        return False
