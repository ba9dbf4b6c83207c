"""What `ushk verify` fetches: the service's public transparency endpoints (`Service`) and
calls to a JSON-RPC node (`chain_call`); every failure, of the network, of a status or of an
answer's shape, is a `Failed` whose message is the reason a check reports."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx


class Failed(Exception):
    """A check that does not hold (or could not be made); the message is its reason."""


@dataclass(frozen=True)
class Head:
    tree_size: int
    timestamp: int
    root: bytes
    signature: bytes
    key_id: str
    public_key: bytes

    @property
    def time(self) -> str:
        return dt.datetime.fromtimestamp(self.timestamp / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def out(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "timestamp": self.timestamp,
            "time": self.time,
            "sha256_root_hash": b64(self.root),
            "key_id": self.key_id,
        }


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(value: Any, what: str, length: int | None = None) -> bytes:
    if not isinstance(value, str):
        raise Failed(f"{what} is not a base64 string")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Failed(f"{what} is not valid base64") from None
    if length is not None and len(data) != length:
        raise Failed(f"{what} has {len(data)} bytes, not {length}")
    return data


def as_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Failed(f"{what} is not a non-negative integer")
    return value


# ---- the service's public endpoints ----------------------------------------------------------


class Service:
    """GETs of /v1/transparency/...; every failure (network, status, shape) is `Failed`."""

    def __init__(self, base_url: str, *, timeout: float = 15.0, transport: httpx.BaseTransport | None = None):
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        url = f"/v1/transparency/{path}"
        try:
            response = self.http.get(url, params=params)
        except httpx.HTTPError as exc:
            raise Failed(f"GET {self.base_url}{url}: {type(exc).__name__}: {exc or 'no answer'}") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200:
            detail = ""
            if isinstance(body, dict) and isinstance(body.get("error"), dict):
                error = body["error"]
                detail = f": {error.get('code')}: {error.get('message')}"
            raise Failed(f"GET {url} answered {response.status_code}{detail}")
        if not isinstance(body, dict):
            raise Failed(f"GET {url} did not answer a JSON object")
        return body

    def sth(self) -> Head:
        body = self.get("sth")
        try:
            return Head(
                tree_size=as_int(body.get("tree_size"), "the head's tree_size"),
                timestamp=as_int(body.get("timestamp"), "the head's timestamp"),
                root=unb64(body.get("sha256_root_hash"), "the head's sha256_root_hash", 32),
                signature=unb64(body.get("tree_head_signature"), "the head's tree_head_signature", 64),
                key_id=str(body.get("key_id")),
                public_key=unb64(body.get("public_key"), "the head's public_key", 32),
            )
        except Failed as exc:
            raise Failed(f"GET /v1/transparency/sth: {exc}") from None

    def consistency(self, first: int, second: int) -> list[bytes]:
        body = self.get("sth/consistency", first=first, second=second)
        proof = body.get("consistency")
        if not isinstance(proof, list):
            raise Failed("the consistency answer has no list of hashes")
        return [unb64(h, "a consistency proof hash", 32) for h in proof]

    def entry(self, seq: int) -> bytes:
        body = self.get("entries", start=seq, end=seq)
        entries = body.get("entries")
        if not isinstance(entries, list):
            raise Failed("the entries answer has no list of entries")
        found = [e for e in entries if isinstance(e, dict) and e.get("seq") == seq]
        if not found:
            raise Failed(f"the service returned no entry {seq}")
        return unb64(found[0].get("leaf_input"), f"entry {seq}'s leaf_input")

    def inclusion(self, seq: int, tree_size: int) -> tuple[int, list[bytes]]:
        body = self.get("proof", seq=seq, tree_size=tree_size)
        path = body.get("audit_path")
        if not isinstance(path, list):
            raise Failed("the proof answer has no audit_path")
        return as_int(body.get("leaf_index"), "leaf_index"), [
            unb64(h, "an audit path hash", 32) for h in path
        ]

    def key(self) -> dict[str, Any]:
        return self.get("key")

    def lookup(self, deposit_id: str) -> list[int]:
        body = self.get("lookup", deposit_id=deposit_id)
        seqs = body.get("seqs")
        if not isinstance(seqs, list):
            raise Failed("the lookup answer has no list of seqs")
        return [as_int(s, "a seq") for s in seqs]


# ---- the chain -------------------------------------------------------------------------------


# What web3 raises when a node is unreachable, answers an error, or there is no such contract:
# requests' errors are OSErrors, web3's are Web3Exception (or ValueError), eth_abi's decoding
# errors are ValueErrors.
def _chain_errors() -> tuple[type[BaseException], ...]:
    from web3.exceptions import Web3Exception

    return (OSError, ValueError, TypeError, KeyError, Web3Exception)


def chain_call(what: str, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except _chain_errors() as exc:
        text = str(exc).splitlines()[0] if str(exc) else ""
        raise Failed(f"{what}: {type(exc).__name__}: {text[:300]}") from None
