"""Canonical JSON and the Ed25519 signatures of the bank API (docs/bank-api.md, "Signing").

The signed message is the canonical JSON of the signed object exactly as sent: every value is a
string (nested objects of strings, such as the resident), keys sorted at every level, no
whitespace, non-ASCII written as itself, UTF-8. The signature is the 64-byte Ed25519 signature of
those bytes, as standard base64 with padding. The reserve service verifies with its own copy of
these rules (service/canonical.py, service/deposits/signing.py); its tests check that both agree.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

PrivateKey = Ed25519PrivateKey | bytes | str


def _only_strings(value: Any, path: str = "confirmation") -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{path}: object keys must be strings")
            _only_strings(item, f"{path}.{key}")
    elif not isinstance(value, str):
        raise ValueError(f"{path} must be a string")


def canonical_message(signed: Mapping[str, Any]) -> bytes:
    """The bytes that are signed: canonical JSON of an object whose leaves are all strings."""
    _only_strings(signed)
    return json.dumps(
        dict(signed), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def canonical_batch(confirmations: Sequence[Mapping[str, Any]]) -> bytes:
    """The bytes a signed batch (`POST /v1/deposits/batch`) is signed over: the canonical JSON
    of `{"confirmations": [...]}`, each confirmation an object whose leaves are all strings."""
    for index, confirmation in enumerate(confirmations):
        if not isinstance(confirmation, Mapping):
            raise ValueError(f"confirmations[{index}] must be an object")
        _only_strings(confirmation, f"confirmations[{index}]")
    return json.dumps(
        {"confirmations": [dict(c) for c in confirmations]},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")


def sign_batch(key: PrivateKey, confirmations: Sequence[Mapping[str, Any]]) -> str:
    """Base64 Ed25519 signature over `canonical_batch(confirmations)`."""
    signature = load_private_key(key).sign(canonical_batch(list(confirmations)))
    return base64.b64encode(signature).decode("ascii")


def load_private_key(key: PrivateKey) -> Ed25519PrivateKey:
    """An Ed25519 private key from a key object, a 32-byte seed, or the seed as hex/base64."""
    if isinstance(key, Ed25519PrivateKey):
        return key
    if isinstance(key, str):
        text = key.strip().removeprefix("0x")
        try:
            key = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
        except (ValueError, binascii.Error):
            raise ValueError("private key seed must be 32 bytes as hex or base64") from None
    if len(key) != 32:
        raise ValueError("private key seed must be 32 bytes")
    return Ed25519PrivateKey.from_private_bytes(bytes(key))


def public_key_b64(key: PrivateKey) -> str:
    """The public key to register with the service (base64 of its 32 raw bytes)."""
    raw = (
        load_private_key(key)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    return base64.b64encode(raw).decode("ascii")


def sign(key: PrivateKey, signed: Mapping[str, Any]) -> str:
    """Base64 Ed25519 signature over `canonical_message(signed)`."""
    signature = load_private_key(key).sign(canonical_message(signed))
    return base64.b64encode(signature).decode("ascii")
