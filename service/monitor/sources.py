"""Where the monitor's observations come from (docs/monitor.md, "Sources"):

- `ChainFollower`: the token's logs over plain JSON-RPC (any EVM node, any ERC-20 address),
  behind a confirmation depth, decoded with the USHK ABI plus the standard ERC-20,
  AccessControl and ERC-1967 events, then a `chain_state` read at the range's last block.
  A reorg deeper than the depth (the hash of the last processed block changed) gives a `reorg`
  observation and rewinds to the newest processed block still on the chain; what is read
  again after it carries the reorg generation in its key (`:rN`).
- `ServicePoller`: the service's public endpoints (transparency entries, signed heads,
  snapshots; the public ledger's redemptions and attestation reports), optional.

A source's `poll()` returns (observation, cursor move) pairs in order; the engine commits each
with its move. A failure of the node or the service is a `SourceError`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils import keccak, to_checksum_address

from service import merkle
from service.chain.abi import token_abi
from service.chain.events import EventDecoder
from service.monitor.model import Observation
from service.verifier.remote import Failed, Service

Step = tuple[Observation, dict[str, dict[str, Any]] | None]

# Standard events a plain ERC-20 (or its proxy) may emit that the USHK ABI does not declare.
EXTRA_EVENTS: list[dict[str, Any]] = [
    {
        "type": "event",
        "name": "AdminChanged",
        "inputs": [
            {"name": "previousAdmin", "type": "address", "indexed": False},
            {"name": "newAdmin", "type": "address", "indexed": False},
        ],
    },
    {
        "type": "event",
        "name": "BeaconUpgraded",
        "inputs": [{"name": "beacon", "type": "address", "indexed": True}],
    },
]

# USHK views read for `chain_state` (None for a token without them).
RECENT_BLOCKS = 64


class SourceError(Exception):
    """A source failed (node or service unreachable, an error answer, a malformed answer)."""


def _signature(item: dict[str, Any]) -> str:
    return f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"


def _topic(item: dict[str, Any]) -> str:
    return "0x" + keccak(text=_signature(item)).hex()


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


class _GenericDecoder:
    """An event of EXTRA_EVENTS (indexed dynamic types stay as their topic hash)."""

    def __init__(self, item: dict[str, Any]) -> None:
        self.kind = item["name"]
        self.topic = _topic(item)
        self.indexed = [(i["name"], i["type"]) for i in item["inputs"] if i["indexed"]]
        self.data = [(i["name"], i["type"]) for i in item["inputs"] if not i["indexed"]]

    def args(self, topics: list[str], data: bytes) -> dict[str, Any]:
        if len(topics) != 1 + len(self.indexed):
            raise ValueError(f"{self.kind} log with {len(topics)} topics")
        out: dict[str, Any] = {}
        for (name, type_), t in zip(self.indexed, topics[1:], strict=True):
            raw = bytes.fromhex(t[2:])
            out[name] = abi_decode([type_], raw)[0] if type_ in _STATIC else "0x" + raw.hex()
        try:
            values = abi_decode([t for _, t in self.data], data)
        except DecodingError as exc:
            raise ValueError(str(exc)) from None
        out.update(zip([n for n, _ in self.data], values, strict=True))
        for name, type_ in self.indexed + self.data:
            if type_ == "address":
                out[name] = to_checksum_address(out[name])
        return out


_STATIC = {"address", "bool", "uint256", "uint64", "uint8", "int256", "bytes32"}


class Decoders:
    """Every event the follower knows, by topic 0: the USHK ABI's (service.chain.events'
    EventDecoder) and EXTRA_EVENTS."""

    def __init__(self) -> None:
        self._ushk: dict[str, EventDecoder] = {}
        self._extra: dict[str, _GenericDecoder] = {}
        for item in token_abi():
            if item["type"] != "event":
                continue
            try:
                decoder = EventDecoder(item["name"])
            except ValueError:
                continue
            self._ushk[decoder.topic] = decoder
        for item in EXTRA_EVENTS:
            extra = _GenericDecoder(item)
            if extra.topic not in self._ushk:
                self._extra[extra.topic] = extra

    def decode(self, entry: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """(event name, args as JSON values) of a log, or None for a log nobody knows."""
        topics = [str(t).lower() for t in entry.get("topics") or []]
        if not topics:
            return None
        data = bytes.fromhex(str(entry.get("data", "0x"))[2:])
        try:
            known = self._ushk.get(topics[0])
            if known is not None:
                event = known.decode(topics, data, "", 0, 0)
                return event.kind, {k: _jsonable(v) for k, v in event.args.items()}
            extra = self._extra.get(topics[0])
            if extra is not None:
                return extra.kind, {k: _jsonable(v) for k, v in extra.args(topics, data).items()}
        except ValueError:
            return None  # same topic, other shape (an ERC-721 Transfer, say): not the token's
        return None


class Rpc:
    """Plain JSON-RPC over HTTP (httpx); every failure is a SourceError, and a node's error
    answer an `RpcError` (a SourceError) carrying the node's message."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url
        self.http = httpx.Client(timeout=timeout)
        self._id = 0

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, params: Sequence[Any]) -> Any:
        self._id += 1
        try:
            response = self.http.post(
                self.url, json={"jsonrpc": "2.0", "id": self._id, "method": method, "params": list(params)}
            )
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SourceError(f"{method} at {self.url}: {type(exc).__name__}: {exc or 'no answer'}") from None
        if not isinstance(body, dict):
            raise SourceError(f"{method} at {self.url}: not a JSON-RPC answer")
        if body.get("error"):
            raise RpcError(f"{method}: {body['error']}")
        return body.get("result")


class RpcError(SourceError):
    pass


_VIEWS: dict[str, tuple[str, list[str]]] = {
    "totalSupply": ("totalSupply()", ["uint256"]),
    "decimals": ("decimals()", ["uint8"]),
    "reserveAttestation": ("reserveAttestation()", ["uint256", "uint64", "bytes32", "bytes32"]),
    "maxAttestationAge": ("maxAttestationAge()", ["uint64"]),
    "paused": ("paused()", ["bool"]),
    "mintingPaused": ("mintingPaused()", ["bool"]),
    "auditLogAnchor": ("auditLogAnchor()", ["uint64", "bytes32", "uint64"]),
}


@dataclass
class ChainCursor:
    block: int | None  # the last processed block (None: nothing yet)
    hash: str | None
    generation: int
    recent: list[tuple[int, str]]  # processed range ends, newest last

    @classmethod
    def of(cls, data: dict[str, Any]) -> ChainCursor:
        return cls(
            data.get("block"),
            data.get("hash"),
            int(data.get("generation", 0)),
            [(int(b), str(h)) for b, h in data.get("recent", [])],
        )

    def out(self) -> dict[str, Any]:
        return {
            "block": self.block,
            "hash": self.hash,
            "generation": self.generation,
            "recent": [list(x) for x in self.recent],
        }


class ChainFollower:
    name = "chain"

    def __init__(
        self,
        rpc: Rpc,
        token: str,
        *,
        depth: int,
        from_block: int = 0,
        max_range: int = 2000,
        cursor: Callable[[], dict[str, Any]],
    ) -> None:
        self.rpc = rpc
        self.token = to_checksum_address(token)
        self.depth = depth
        self.from_block = from_block
        self.max_range = max_range
        self.read_cursor = cursor
        self.decoders = Decoders()
        self.head: int | None = None  # the node's latest block, as last seen

    def _block(self, number: int) -> dict[str, Any]:
        block = self.rpc.call("eth_getBlockByNumber", [hex(number), False])
        if not isinstance(block, dict):
            raise SourceError(f"the node has no block {number}")
        return block

    def call(self, view: str, block: int) -> tuple[Any, ...] | None:
        """A view of the token at `block`; None when the token has no such view (it reverts)."""
        sig, types = _VIEWS[view]
        data = "0x" + keccak(text=sig)[:4].hex()
        try:
            raw = self.rpc.call("eth_call", [{"to": self.token, "data": data}, hex(block)])
        except RpcError:
            return None
        try:
            return tuple(abi_decode(types, bytes.fromhex(str(raw)[2:])))
        except (DecodingError, ValueError):
            return None

    def state(self, block: int) -> dict[str, Any]:
        supply = self.call("totalSupply", block)
        decimals = self.call("decimals", block)
        attestation = self.call("reserveAttestation", block)
        max_age = self.call("maxAttestationAge", block)
        paused = self.call("paused", block)
        minting_paused = self.call("mintingPaused", block)
        anchor = self.call("auditLogAnchor", block)
        return {
            "total_supply": None if supply is None else int(supply[0]),
            "decimals": None if decimals is None else int(decimals[0]),
            "attested_reserves": None if attestation is None else int(attestation[0]),
            "attested_at": None if attestation is None else int(attestation[1]),
            "report_hash": None if attestation is None else "0x" + bytes(attestation[2]).hex(),
            "max_attestation_age": None if max_age is None else int(max_age[0]),
            "paused": None if paused is None else bool(paused[0]),
            "minting_paused": None if minting_paused is None else bool(minting_paused[0]),
            "anchor_size": None if anchor is None else int(anchor[0]),
            "anchor_root": None if anchor is None else "0x" + bytes(anchor[1]).hex(),
        }

    def poll(self) -> list[Step]:
        cursor = ChainCursor.of(self.read_cursor())
        head = int(self.rpc.call("eth_blockNumber", []), 16)
        self.head = head
        if cursor.block is not None and cursor.hash is not None and cursor.block <= head:
            now = str(self._block(cursor.block)["hash"])
            if now != cursor.hash:
                return [self._reorg(cursor, now)]
        safe = head - self.depth
        start = self.from_block if cursor.block is None else cursor.block + 1
        if safe < start:
            return []
        end = min(safe, start + self.max_range - 1)
        logs = self.rpc.call(
            "eth_getLogs", [{"address": self.token, "fromBlock": hex(start), "toBlock": hex(end)}]
        )
        if not isinstance(logs, list):
            raise SourceError("eth_getLogs did not answer a list")
        suffix = f":r{cursor.generation}" if cursor.generation else ""
        entries = sorted(
            (e for e in logs if not e.get("removed")),
            key=lambda e: (int(e["blockNumber"], 16), int(e["logIndex"], 16)),
        )
        times: dict[int, int] = {}
        steps: list[Step] = []
        for entry in entries:
            decoded = self.decoders.decode(entry)
            if decoded is None:
                continue
            kind, fields = decoded
            number, index = int(entry["blockNumber"], 16), int(entry["logIndex"], 16)
            if number not in times:
                times[number] = int(self._block(number)["timestamp"], 16)
            obs = Observation(
                source="chain",
                kind=kind,
                key=f"chain:{number}:{index}{suffix}",
                time=times[number],
                fields=fields,
                block=number,
                tx=str(entry["transactionHash"]).lower(),
            )
            steps.append((obs, None))
        last = self._block(end)
        fields = self.state(end)
        recent = [*cursor.recent, (end, str(last["hash"]))][-RECENT_BLOCKS:]
        moved = ChainCursor(end, str(last["hash"]), cursor.generation, recent)
        state = Observation(
            source="chain",
            kind="chain_state",
            key=f"state:{end}{suffix}",
            time=int(last["timestamp"], 16),
            fields=fields,
            block=end,
        )
        steps.append((state, {"chain": moved.out()}))
        return steps

    def _reorg(self, cursor: ChainCursor, now: str) -> Step:
        """The processed chain changed below the depth: rewind to the newest processed range
        end whose block is still the same (or before the start), one generation on."""
        assert cursor.block is not None
        ancestor: tuple[int, str] | None = None
        for number, known in reversed(cursor.recent[:-1]):
            if str(self._block(number)["hash"]) == known:
                ancestor = (number, known)
                break
        kept = [x for x in cursor.recent if ancestor is not None and x[0] <= ancestor[0]]
        moved = ChainCursor(
            ancestor[0] if ancestor else None,
            ancestor[1] if ancestor else None,
            cursor.generation + 1,
            kept,
        )
        rewound = ancestor[0] if ancestor else self.from_block - 1
        obs = Observation(
            source="chain",
            kind="reorg",
            key=f"reorg:{cursor.block}:{cursor.hash}",
            time=int(self._block(cursor.block)["timestamp"], 16),
            fields={
                "block": cursor.block,
                "old_hash": cursor.hash,
                "new_hash": now,
                "rewound_to": rewound,
                "generation": cursor.generation + 1,
            },
            block=cursor.block,
        )
        return obs, {"chain": moved.out()}


# ---- the service ------------------------------------------------------------------------------


def _unix(value: Any) -> int:
    if isinstance(value, int):
        return value
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return 0
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp())


class ServicePoller:
    """The service's public endpoints. Cursor "service": `log_seq` (the last entry read),
    `head` (the last head checked: tree_size, timestamp, root b64, public_key b64),
    `snapshot_id`, `payouts` (redemption id -> last status seen), `events_seq` (the last
    attestation event read)."""

    name = "service"

    def __init__(
        self,
        base_url: str,
        *,
        cursor: Callable[[], dict[str, Any]],
        clock: Callable[[], float],
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.remote = Service(self.base_url, timeout=timeout)
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout)
        self.read_cursor = cursor
        self.clock = clock

    def close(self) -> None:
        self.remote.close()
        self.http.close()

    def _public(self, path: str, **params: Any) -> dict[str, Any]:
        try:
            response = self.http.get(path, params=params)
        except httpx.HTTPError as exc:
            raise SourceError(
                f"GET {self.base_url}{path}: {type(exc).__name__}: {exc or 'no answer'}"
            ) from None
        if response.status_code != 200:
            raise SourceError(f"GET {path} answered {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise SourceError(f"GET {path} did not answer JSON") from None
        if not isinstance(body, dict):
            raise SourceError(f"GET {path} did not answer a JSON object")
        return body

    def poll(self) -> list[Step]:
        try:
            return self._poll()
        except Failed as exc:
            raise SourceError(str(exc)) from None

    def _poll(self) -> list[Step]:
        steps: list[Step] = []
        cursor = dict(self.read_cursor())
        now = int(self.clock())
        head = self.remote.sth()
        # entries up to the head's size
        seq = int(cursor.get("log_seq", 0))
        while seq < head.tree_size:
            body = self.remote.get("entries", start=seq + 1, end=min(head.tree_size, seq + 1000))
            entries = body.get("entries")
            if not isinstance(entries, list) or not entries:
                break
            for item in entries:
                entry = item.get("entry") or {}
                seq = int(item["seq"])
                cursor["log_seq"] = seq
                obs = Observation(
                    source="service",
                    kind="log_entry",
                    key=f"log:{seq}",
                    time=_unix(entry.get("time")),
                    fields={
                        "seq": seq,
                        "time": entry.get("time"),
                        "kind": entry.get("kind"),
                        "actor": entry.get("actor"),
                        "fields": entry.get("public") or {},
                    },
                )
                steps.append((obs, {"service": dict(cursor)}))
        # the signed head
        last = cursor.get("head")
        if last is None or (last["tree_size"], last["timestamp"]) != (head.tree_size, head.timestamp):
            signature_ok = merkle.verify_tree_head(
                head.public_key, head.timestamp, head.tree_size, head.root, head.signature
            )
            reason: str | None = None if signature_ok else "the head's signature does not hold"
            consistent = True
            pinned = None if last is None else base64.b64decode(last["public_key"])
            if pinned is not None and pinned != head.public_key:
                signature_ok, reason = False, "the head is signed by another key than the one pinned"
            if last is not None and signature_ok:
                first, first_root = int(last["tree_size"]), base64.b64decode(last["root"])
                if head.tree_size < first:
                    consistent, reason = False, f"the log shrank from {first} to {head.tree_size}"
                else:
                    proof = self.remote.consistency(first, head.tree_size) if first else []
                    consistent = merkle.verify_consistency(
                        first, head.tree_size, first_root, head.root, proof
                    )
                    if not consistent:
                        reason = f"the head of size {head.tree_size} is not consistent with size {first}"
            obs = Observation(
                source="service",
                kind="log_head",
                key=f"sth:{head.tree_size}:{head.timestamp}",
                time=head.timestamp // 1000,
                fields={
                    "tree_size": head.tree_size,
                    "timestamp": head.timestamp,
                    "root": head.root.hex(),
                    "signature_ok": signature_ok,
                    "consistent": consistent,
                    "reason": reason,
                },
            )
            if signature_ok and consistent:
                cursor["head"] = {
                    "tree_size": head.tree_size,
                    "timestamp": head.timestamp,
                    "root": base64.b64encode(head.root).decode(),
                    "public_key": base64.b64encode(pinned or head.public_key).decode(),
                }
            steps.append((obs, {"service": dict(cursor)}))
        steps.extend(self._snapshot(cursor, now))
        steps.extend(self._payouts(cursor, now))
        steps.extend(self._reports(cursor, now))
        return steps

    def _snapshot(self, cursor: dict[str, Any], now: int) -> list[Step]:
        try:
            answer = self.remote.get("snapshots/latest")
        except Failed as exc:
            if "404" in str(exc):
                return []
            raise
        snapshot_id = answer.get("id")
        if snapshot_id is None or snapshot_id == cursor.get("snapshot_id"):
            return []
        ok = False
        try:
            Ed25519PublicKey.from_public_bytes(base64.b64decode(answer.get("public_key", ""))).verify(
                base64.b64decode(answer.get("signature", "")),
                base64.b64decode(answer.get("signed_bytes", "")),
            )
            ok = True
        except (InvalidSignature, ValueError, TypeError):
            ok = False
        cursor["snapshot_id"] = snapshot_id
        body = answer.get("snapshot")
        fields = dict(body) if isinstance(body, dict) else {}
        fields.update({"id": snapshot_id, "block": answer.get("block"), "signature_ok": ok})
        obs = Observation(
            source="service", kind="snapshot", key=f"snapshot:{snapshot_id}", time=now, fields=fields
        )
        return [(obs, {"service": dict(cursor)})]

    def _payouts(self, cursor: dict[str, Any], now: int) -> list[Step]:
        seen: dict[str, str] = dict(cursor.get("payouts") or {})
        steps: list[Step] = []
        after = 0
        while True:
            page = self._public("/v1/public/redemptions", after=after, limit=1000)
            items = page.get("items") or []
            for item in items:
                rid, status = str(item.get("redemption_id")), str(item.get("status"))
                if seen.get(rid) == status:
                    continue
                seen[rid] = status
                cursor["payouts"] = dict(seen)
                obs = Observation(
                    source="service", kind="payout", key=f"payout:{rid}:{status}", time=now, fields=dict(item)
                )
                steps.append((obs, {"service": dict(cursor)}))
            if page.get("next") is None:
                return steps
            after = int(page["next"])

    def _reports(self, cursor: dict[str, Any], now: int) -> list[Step]:
        steps: list[Step] = []
        after = int(cursor.get("events_seq", 0))
        while True:
            page = self._public("/v1/public/events", type="attestation", after=after, limit=1000)
            items = page.get("items") or []
            for item in items:
                after = int(item["seq"])
                cursor["events_seq"] = after
                details = item.get("details") or {}
                report_hash = str(details.get("report_hash") or "").lower().removeprefix("0x")
                computed: str | None = None
                url = item.get("report_url")
                if url:
                    try:
                        response = self.http.get(str(url))
                        if response.status_code == 200:
                            computed = hashlib.sha256(response.content).hexdigest()
                    except httpx.HTTPError:
                        computed = None
                tx = str(item.get("tx_hash") or details.get("tx_hash") or f"seq{after}")
                obs = Observation(
                    source="service",
                    kind="attestation_report",
                    key=f"report:{tx}",
                    time=now,
                    fields={
                        "block": item.get("block_number"),
                        "report_hash": report_hash,
                        "computed_hash": computed,
                        "available": computed is not None,
                    },
                    tx=tx,
                )
                steps.append((obs, {"service": dict(cursor)}))
            if page.get("next") is None or not items:
                return steps
