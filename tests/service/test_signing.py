"""Canonical encoding and Ed25519 signatures, including the worked example in the docs."""

import base64
import hashlib
import json
import re

import pytest

from service.canonical import NotCanonicalizable, canonical_json
from service.deposits.signing import (
    canonical_confirmation,
    load_private_key,
    public_key_b64,
    seed_hex,
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


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"a": [1, {"b": 1.5}]}, r"^\$\.a\[1\]\.b: floats are not allowed$"),
        ([{"x": 2.0}], r"^\$\[0\]\.x: floats are not allowed$"),
        ({"a": {1: "x"}}, r"^\$\.a: object keys must be strings$"),
        ({"a": "\ud800"}, r"^\$\.a: string is not valid Unicode$"),
        ({"a": [b"x"]}, r"^\$\.a\[0\]: bytes is not a JSON value$"),
        ({"a": {1, 2}}, r"^\$\.a: set is not a JSON value$"),
    ],
)
def test_canonical_says_where(value, message):
    with pytest.raises(NotCanonicalizable, match=message):
        canonical_json(value)


def test_canonical_json_values():
    assert canonical_json([None, True, False, 7, -3, "x", ("y",)]) == b'[null,true,false,7,-3,"x",["y"]]'
    # non-ASCII characters as themselves, in UTF-8
    assert canonical_json({"name": "陳大文"}) == '{"name":"陳大文"}'.encode()


def test_confirmation_leaves_must_be_strings():
    with pytest.raises(ValueError, match=r"^confirmation\.resident\.id must be a string$"):
        canonical_confirmation({"amount": "1.00", "resident": {"id": 7}})
    with pytest.raises(ValueError, match=r"^confirmation\.amount must be a string$"):
        canonical_confirmation({"amount": None})


def test_private_key_forms():
    seed = bytes(range(32))
    public = public_key_b64(seed)
    assert public_key_b64(seed.hex()) == public
    assert public_key_b64("0x" + seed.hex()) == public
    assert public_key_b64(f"  {seed.hex()}\n") == public
    assert public_key_b64(base64.b64encode(seed).decode()) == public
    key = load_private_key(seed)
    assert load_private_key(key) is key
    assert seed_hex(key) == seed.hex()
    assert seed_hex(load_private_key(seed_hex(key))) == seed.hex()


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("zz" * 32, "^private key seed must be 32 bytes as hex or base64$"),
        (base64.b64encode(bytes(32)).decode() + "!", "^private key seed must be 32 bytes as hex or base64$"),
        (bytes(31), "^private key seed must be 32 bytes$"),
        (base64.b64encode(bytes(33)).decode(), "^private key seed must be 32 bytes$"),
    ],
)
def test_bad_private_keys_say_why(bad, message):
    with pytest.raises(ValueError, match=message):
        load_private_key(bad)


def test_signature_and_key_must_be_strict_base64():
    seed = bytes(range(32))
    confirmation = {"amount": "1.00"}
    message = canonical_confirmation(confirmation)
    signature = sign_confirmation(seed, confirmation)
    public = public_key_b64(seed)
    assert re.fullmatch(r"[A-Za-z0-9+/]{86}==", signature)
    assert re.fullmatch(r"[A-Za-z0-9+/]{43}=", public)
    assert verify_signature(public, message, signature)
    # a character outside the alphabet is malformed, not skipped
    assert not verify_signature(public, message, signature[:40] + "*" + signature[40:])
    assert not verify_signature(public[:20] + "*" + public[20:], message, signature)
