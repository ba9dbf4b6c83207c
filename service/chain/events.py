"""Decoding the token's event logs: `LogReader` fetches a block range's logs of some events with
one `eth_getLogs` and decodes them (`EventDecoder`) into `Event`s, in chain order. The chain
followers (the reserve reconciler) use it."""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils import to_checksum_address
from web3.types import RPCEndpoint

from service.chain.token import Token

MINTED, REDEEMED, WIPED = "Minted", "RedemptionRequested", "FrozenBalanceWiped"


@dataclass(eq=False)
class Event:
    """One decoded log of the token: its event name, arguments (as web3 decodes them) and place."""

    kind: str
    args: dict
    tx_hash: str
    block: int
    log_index: int
    seq: int | None = None  # Minted: the deposit's sequence number, once parsed


class EventDecoder:
    """Decodes one event's logs as web3's `process_log` does (checksummed addresses, ints,
    bytes), for events whose inputs are all static ABI types: indexed ones from the topics,
    the others as consecutive 32-byte words of the data."""

    _STATIC = {"address", "bool", "bytes32"}

    def __init__(self, kind: str, abi: dict):
        self.kind = kind
        inputs = abi["inputs"]
        for i in inputs:
            t = i["type"]
            if not (t in self._STATIC or t.startswith("uint") or t.startswith("int")) or "[" in t:
                raise ValueError(f"{abi['name']}: {t} is not a static type this decoder handles")
        self.indexed = [(i["name"], i["type"]) for i in inputs if i["indexed"]]
        self.data = [(i["name"], i["type"]) for i in inputs if not i["indexed"]]

    def decode(self, topics: list[str], data: bytes, tx_hash: str, block: int, log_index: int) -> Event:
        if len(topics) != 1 + len(self.indexed) or len(data) != 32 * len(self.data):
            raise ValueError(f"{self.kind} log with {len(topics)} topics and {len(data)} data bytes")
        args = {}
        for (name, type_), topic in zip(self.indexed, topics[1:], strict=True):
            args[name] = _word(type_, bytes.fromhex(topic[2:]))
        for n, (name, type_) in enumerate(self.data):
            args[name] = _word(type_, data[32 * n: 32 * n + 32])
        return Event(self.kind, args, tx_hash, block, log_index)


def _word(type_: str, word: bytes) -> str | bytes | bool | int:
    if len(word) != 32:
        raise ValueError("an ABI word is 32 bytes")
    if type_ == "address":
        if any(word[:12]):
            raise ValueError("address word with non-zero padding")
        return _checksum("0x" + word[12:].hex())
    if type_ == "bytes32":
        return word
    if type_ == "bool":
        return bool(int.from_bytes(word, "big"))
    return int.from_bytes(word, "big", signed=type_.startswith("int"))


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
    range), in chain order."""

    def __init__(self, token: Token, kinds: tuple[str, ...]):
        self.token = token
        self.decoders: dict[str, EventDecoder] = {}
        for kind in kinds:
            event = getattr(token.contract.events, kind)()
            self.decoders[to_hex(event.topic)] = EventDecoder(kind, event.abi)

    def fetch(self, start: int, end: int) -> list[Event]:
        """The followed events in blocks start..end, decoded, in chain order."""
        raw = self.token.w3.provider.make_request(RPCEndpoint("eth_getLogs"), [{
            "address": self.token.address, "fromBlock": hex(start), "toBlock": hex(end),
            "topics": [list(self.decoders)],
        }])
        if raw.get("error"):
            raise RuntimeError(f"eth_getLogs {start}..{end} failed: {raw['error']}")
        events = [self.decode(entry) for entry in raw["result"]]
        events.sort(key=lambda e: (e.block, e.log_index))
        return events

    def decode(self, entry: dict) -> Event:
        topics = [to_hex(t) for t in entry["topics"]]
        decoder = self.decoders.get(topics[0]) if topics else None
        if decoder is None or entry.get("removed"):
            raise ValueError(f"unexpected log from eth_getLogs: {entry}")
        return decoder.decode(topics, to_bytes(entry["data"]), to_hex(entry["transactionHash"]),
                              to_int(entry["blockNumber"]), to_int(entry["logIndex"]))


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
