"""Canonical encoding and Ed25519 signatures, including the worked example in the docs."""

import hashlib
import json
import re

import pytest

from service.canonical import NotCanonicalizable, canonical_json
from service.deposits.signing import (
    canonical_confirmation,
    public_key_b64,
    sign_confirmation,
    verify_signature,
)
from svc_support import REPO

DOC = (REPO / "docs" / "bank-api.md").read_text(encoding="utf-8")


def doc_block(name: str) -> str:
    match = re.search(rf"<!-- example:{name} -->\s*```\w*\n(.*?)```", DOC, re.S)
    assert match, f"docs/bank-api.md lacks the example block {name}"
    return match.group(1).strip()


def test_doc_example_verifies():
    seed = doc_block("seed")
    confirmation = json.loads(doc_block("confirmation"))
    canonical = doc_block("canonical").encode("utf-8")
    signature = doc_block("signature")

    assert public_key_b64(seed) == doc_block("public_key")
    assert canonical_confirmation(confirmation) == canonical
    assert f"{len(canonical)} bytes" in DOC
    assert hashlib.sha256(canonical).hexdigest() in DOC
    assert verify_signature(doc_block("public_key"), canonical, signature)
    # Ed25519 is deterministic: our signer produces exactly the documented signature.
    assert sign_confirmation(bytes.fromhex(seed), confirmation) == signature


def test_canonical_is_sorted_compact_utf8():
    value = {"b": "2", "a": {"d": "é", "c": '\u0001\n"\\'}}
    assert canonical_json(value) == '{"a":{"c":"\\u0001\\n\\"\\\\","d":"é"},"b":"2"}'.encode()


def test_canonical_refuses_floats_and_non_strings_in_confirmations():
    with pytest.raises(NotCanonicalizable):
        canonical_json({"amount": 1.5})
    with pytest.raises(ValueError):
        canonical_confirmation({"amount": 1000})


def test_any_change_breaks_the_signature():
    seed = bytes(range(32))
    confirmation = json.loads(doc_block("confirmation"))
    signature = sign_confirmation(seed, confirmation)
    public = public_key_b64(seed)
    assert verify_signature(public, canonical_confirmation(confirmation), signature)
    tampered = dict(confirmation, amount="1250.01")
    assert not verify_signature(public, canonical_confirmation(tampered), signature)
    assert not verify_signature(public, canonical_confirmation(confirmation), "AAAA")
    assert not verify_signature(public, canonical_confirmation(confirmation), "not base64!")
    other = public_key_b64(bytes(range(1, 33)))
    assert not verify_signature(other, canonical_confirmation(confirmation), signature)
