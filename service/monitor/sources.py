"""Where the monitor's observations come from (docs/monitor.md, "Sources"):

- `ChainFollower`: the token's logs over plain JSON-RPC (any EVM node, any ERC-20 address),
  behind a confirmation depth, decoded with the USHK ABI plus the standard ERC-20,
  AccessControl and ERC-1967 events, then a `chain_state` read at the range's last block (and,
  in the very first round, one read at the block before the first, ahead of the events).
  A reorg deeper than the depth (the hash of the last processed block changed) gives a `reorg`
  observation and rewinds to the newest processed block still on the chain; what is read
  again after it carries the reorg generation in its key (`:rN`).
- `ServicePoller` (service/monitor/poller.py): the service's public endpoints, optional.

A source's `poll()` returns (observation, cursor move) pairs in order; the engine commits each
with its move. A failure of the node or the service is a `SourceError`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils import keccak, to_checksum_address

from service.chain.abi import token_abi
from service.chain.events import EventDecoder
from service.monitor.model import Observation

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


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


class Decoders:
    """Every event the follower knows, by topic 0 (service.chain.events' EventDecoder): the USHK
    ABI's and EXTRA_EVENTS."""

    def __init__(self) -> None:
        self._decoders: dict[str, EventDecoder] = {}
        for item in [i for i in token_abi() if i["type"] == "event"] + EXTRA_EVENTS:
            try:
                decoder = EventDecoder(item["name"], item)
            except ValueError:  # an indexed dynamic type (a hash): not decodable
                continue
            self._decoders.setdefault(decoder.topic, decoder)

    def decode(self, entry: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """(event name, args as JSON values) of a log, or None for a log nobody knows."""
        topics = [str(t).lower() for t in entry.get("topics") or []]
        if not topics:
            return None
        data = bytes.fromhex(str(entry.get("data", "0x"))[2:])
        known = self._decoders.get(topics[0])
        if known is None:
            return None
        try:
            event = known.decode(topics, data, "", 0, 0)
        except ValueError:
            return None  # same topic, other shape (an ERC-721 Transfer, say): not the token's
        return event.kind, {k: _jsonable(v) for k, v in event.args.items()}


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
        if str(raw) in ("0x", ""):  # no code at that address then (or a view without a result)
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
        if cursor.block is not None and cursor.hash is not None:
            if cursor.block > head:  # the chain is now shorter than what was processed
                return [self._reorg(cursor, None, head)]
            now = str(self._block(cursor.block)["hash"])
            if now != cursor.hash:
                return [self._reorg(cursor, now, head)]
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
        if cursor.block is None and start > 0:
            # the first round: the token's state just before the first block read, so the rules
            # know its decimals and supply before its first event (not recorded as processed).
            # A token deployed within the range has no state there; its decimals, a constant,
            # are then read at the range's end.
            base = self._block(start - 1)
            base_fields = self.state(start - 1)
            if base_fields["decimals"] is None:
                decimals = self.call("decimals", end)
                base_fields["decimals"] = None if decimals is None else int(decimals[0])
            steps.append(
                (
                    Observation(
                        source="chain",
                        kind="chain_state",
                        key=f"state:{start - 1}{suffix}",
                        time=int(base["timestamp"], 16),
                        fields=base_fields,
                        block=start - 1,
                    ),
                    None,
                )
            )
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

    def _reorg(self, cursor: ChainCursor, now: str | None, head: int) -> Step:
        """The processed chain changed below the depth: rewind to the newest processed range
        end whose block is still the same (or before the start), one generation on."""
        assert cursor.block is not None
        ancestor: tuple[int, str] | None = None
        for number, known in reversed(cursor.recent[:-1]):
            if number <= head and str(self._block(number)["hash"]) == known:
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
            time=int(self._block(min(cursor.block, head))["timestamp"], 16),
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
