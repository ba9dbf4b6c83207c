"""Canonical encoding and Ed25519 signatures of deposit confirmations.

The signed message is the canonical JSON (`service.canonical`) of the `confirmation` object
exactly as sent: every value is a string (the resident is a nested object of strings), keys are
sorted at every level, no whitespace, UTF-8. The signature is the 64-byte Ed25519 signature of
those bytes, sent as standard base64 with padding. The bank client (clients/python,
`ushk_client.signing`) signs by the same rules with its own copy, so that it needs nothing of the
service; tests/clients/test_python_client.py checks that both agree.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from service.canonical import canonical_json
from ushk_client.signing import load_private_key


def _only_strings(value: Any, path: str = "confirmation") -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _only_strings(item, f"{path}.{key}")
    elif not isinstance(value, str):
        raise ValueError(f"{path} must be a string")


def canonical_confirmation(confirmation: Mapping[str, Any]) -> bytes:
    """The bytes that are signed: canonical JSON of an object whose leaves are all strings."""
    _only_strings(confirmation)
    return canonical_json(dict(confirmation))


def canonical_batch(payload: Mapping[str, Any]) -> bytes:
    """The bytes a signed batch's signature is over: canonical JSON of
    `{"confirmations": [confirmation, ...]}`, each confirmation by the rules above (an object
    whose leaves are strings), in the order sent. An array under a key no confirmation has, so
    these bytes are never those of a single confirmation (nor a confirmation's those of a batch)."""
    if set(payload) != {"confirmations"} or not isinstance(payload["confirmations"], list):
        raise ValueError('a batch is {"confirmations": [...]}')
    for index, confirmation in enumerate(payload["confirmations"]):
        if not isinstance(confirmation, Mapping):
            raise ValueError(f"confirmations[{index}] must be an object")
        _only_strings(confirmation, f"confirmations[{index}]")
    return canonical_json({"confirmations": [dict(c) for c in payload["confirmations"]]})


def sign_batch(key: Ed25519PrivateKey | bytes | str, confirmations: list[Mapping[str, Any]]) -> str:
    """Base64 Ed25519 signature over `canonical_batch({"confirmations": confirmations})`."""
    signature = load_private_key(key).sign(canonical_batch({"confirmations": list(confirmations)}))
    return base64.b64encode(signature).decode("ascii")


def public_key_b64(key: Ed25519PrivateKey | bytes | str) -> str:
    raw = (
        load_private_key(key)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    return base64.b64encode(raw).decode("ascii")


def seed_hex(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    ).hex()


def sign_confirmation(key: Ed25519PrivateKey | bytes | str, confirmation: Mapping[str, Any]) -> str:
    """Base64 Ed25519 signature over `canonical_confirmation(confirmation)`."""
    signature = load_private_key(key).sign(canonical_confirmation(confirmation))
    return base64.b64encode(signature).decode("ascii")


def verify_signature(public_key: str, message: bytes, signature: str) -> bool:
    """True when `signature` (base64, 64 bytes) is valid for `message` under `public_key`
    (base64 raw 32 bytes). Malformed input is simply invalid."""
    try:
        raw_signature = base64.b64decode(signature, validate=True)
        raw_key = base64.b64decode(public_key, validate=True)
        if len(raw_signature) != 64 or len(raw_key) != 32:
            return False
        Ed25519PublicKey.from_public_bytes(raw_key).verify(raw_signature, message)
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True
