"""Decoding the token's event logs: `LogReader` fetches a block range's logs of some events with
one `eth_getLogs` and decodes them (`EventDecoder`, eth_abi) into `Event`s, in chain order. The
chain followers (the reserve reconciler, the redemption watcher) and the token's `Minted` lookups
use it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils import to_checksum_address
from web3.types import RPCEndpoint

from service.chain.abi import abi_item, topic

if TYPE_CHECKING:
    from service.chain.token import Token

MINTED, REDEEMED, WIPED = "Minted", "RedemptionRequested", "FrozenBalanceWiped"


@dataclass(eq=False)
class Event:
    """One decoded log of the token: its event name, arguments (as web3 decodes them) and place."""

    kind: str
    args: dict[str, Any]
    tx_hash: str
    block: int
    log_index: int
    seq: int | None = None  # Minted: the deposit's sequence number, once parsed


class EventDecoder:
    """Decodes one event's logs with eth_abi, into what web3's `process_log` gives (checksummed
    addresses, ints, bytes): the indexed inputs from the topics (value types only: an indexed
    dynamic type is a hash), the others from the data."""

    def __init__(self, kind: str, item: dict[str, Any] | None = None):
        """The token's event `kind`, or the event ABI `item` given (another contract's)."""
        item = abi_item("event", kind) if item is None else item
        self.kind = kind
        self.topic = topic(item)
        self.indexed = [(i["name"], i["type"]) for i in item["inputs"] if i["indexed"]]
        self.data = [(i["name"], i["type"]) for i in item["inputs"] if not i["indexed"]]
        for _, type_ in self.indexed:
            if _dynamic(type_):
                raise ValueError(f"{kind}: indexed {type_} is a hash, not decodable")
        self._indexed_types = [t for _, t in self.indexed]
        self._data_types = [t for _, t in self.data]
        self._addresses = [i["name"] for i in item["inputs"] if i["type"] == "address"]
        self._data_size = None if any(map(_dynamic, self._data_types)) else 32 * len(self._data_types)

    def decode(self, topics: list[str], data: bytes, tx_hash: str, block: int, log_index: int) -> Event:
        """The event of one log (topics as 0x hex, data as bytes); ValueError if malformed."""
        if len(topics) != 1 + len(self.indexed) or topics[0] != self.topic:
            raise ValueError(f"{self.kind} log with topics {topics}")
        if self._data_size is not None and len(data) != self._data_size:
            raise ValueError(f"{self.kind} log with {len(data)} data bytes")
        try:
            indexed = abi_decode(self._indexed_types, b"".join(bytes.fromhex(t[2:]) for t in topics[1:]))
            values = abi_decode(self._data_types, data)
        except DecodingError as exc:
            raise ValueError(f"{self.kind} log not decodable: {exc}") from None
        args = dict(zip([n for n, _ in self.indexed], indexed, strict=True))
        args.update(zip([n for n, _ in self.data], values, strict=True))
        for name in self._addresses:
            args[name] = _checksum(args[name])
        return Event(self.kind, args, tx_hash, block, log_index)

    def decode_log(self, entry: dict[str, Any]) -> Event:
        """The event of one log as a node's JSON-RPC returns it (hex strings) or web3 (HexBytes)."""
        return self.decode(
            [to_hex(t) for t in entry["topics"]],
            to_bytes(entry["data"]),
            to_hex(entry["transactionHash"]),
            to_int(entry["blockNumber"]),
            to_int(entry["logIndex"]),
        )


def _dynamic(type_: str) -> bool:
    """Whether an ABI type is not one 32-byte word: strings, bytes, arrays, tuples."""
    return type_ in ("string", "bytes") or "[" in type_ or "(" in type_


_CHECKSUMS: dict[str, str] = {}


def _checksum(address: str) -> str:
    out = _CHECKSUMS.get(address)
    if out is None:
        if len(_CHECKSUMS) > 100_000:
            _CHECKSUMS.clear()
        out = _CHECKSUMS[address] = to_checksum_address(address)
    return out


class LogReader:
    """Fetches and decodes the token's logs of the given events (`eth_getLogs` over a block
    range, as plain JSON-RPC), in chain order."""

    def __init__(self, token: Token, kinds: tuple[str, ...]):
        self.token = token
        self.decoders = {d.topic: d for d in map(EventDecoder, kinds)}

    def fetch(self, start: int, end: int | str, topics: list[Any] | None = None) -> list[Event]:
        """The followed events in blocks start..end ("latest" allowed), decoded, in chain
        order; `topics` filters topics 1.. (as `eth_getLogs` does: None matches any)."""
        to_block = end if isinstance(end, str) else hex(end)
        raw = self.token.w3.provider.make_request(
            RPCEndpoint("eth_getLogs"),
            [
                {
                    "address": self.token.address,
                    "fromBlock": hex(start),
                    "toBlock": to_block,
                    "topics": [list(self.decoders), *(topics or [])],
                }
            ],
        )
        if raw.get("error"):
            raise RuntimeError(f"eth_getLogs {start}..{end} failed: {raw['error']}")
        events = [self.decode(entry) for entry in raw["result"]]
        events.sort(key=lambda e: (e.block, e.log_index))
        return events

    def decode(self, entry: dict[str, Any]) -> Event:
        topics = entry.get("topics") or []
        decoder = self.decoders.get(to_hex(topics[0])) if topics else None
        if decoder is None or entry.get("removed"):
            raise ValueError(f"unexpected log from eth_getLogs: {entry}")
        return decoder.decode_log(entry)


def to_hex(value: str | bytes) -> str:
    if isinstance(value, str):
        return value.lower() if value.startswith("0x") else "0x" + value.lower()
    return "0x" + bytes(value).hex()


def to_bytes(value: str | bytes) -> bytes:
    if isinstance(value, str):
        return bytes.fromhex(value[2:] if value[:2].lower() == "0x" else value)
    return bytes(value)


def to_int(value: str | int) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)
