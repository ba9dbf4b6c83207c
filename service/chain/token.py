"""The USHK token as the reserve service sees it: reads, signed transactions, decoded reverts.

web3.py only (no ape at run time); the ABI is service/chain/abi.py's.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3 import HTTPProvider, Web3
from web3.exceptions import ContractCustomError, ContractLogicError, TimeExhausted
from web3.types import RPCEndpoint, TxParams

from service.chain.abi import abi_item, selector, token_abi
from service.chain.events import MINTED, Event, LogReader, to_hex


@cache
def _errors_by_selector() -> dict[bytes, tuple[str, list[str]]]:
    return {
        selector(item): (item["name"], [i["type"] for i in item["inputs"]])
        for item in token_abi()
        if item["type"] == "error"
    }


class ChainError(RuntimeError):
    """Base of the chain-side failures the minter and attestor handle."""


class ChainRevert(ChainError):
    """A call or transaction reverted; `name` and `args` are the decoded custom error, if any."""

    def __init__(self, name: str, args: tuple = (), raw: str = ""):
        self.name = name
        self.args_ = args
        self.raw = raw
        super().__init__(f"reverted: {name}{args if args else ''}")


def decode_revert(data: bytes | str | None) -> ChainRevert:
    """Decodes revert data into the token's custom error (or a generic one)."""
    if isinstance(data, str):
        data = bytes.fromhex(data.removeprefix("0x")) if data else b""
    data = data or b""
    known = _errors_by_selector().get(data[:4])
    if known:
        name, types = known
        return ChainRevert(name, tuple(abi_decode(types, data[4:])), data.hex())
    return ChainRevert("UnknownRevert", (), data.hex())


@dataclass(frozen=True)
class Attestation:
    amount: int
    timestamp: int
    report_hash: bytes
    audit_head: bytes


@dataclass(frozen=True)
class ChainState:
    """What the reserve side compares, all read at one block (`eth_call` pinned to it)."""

    block: int
    block_hash: str
    timestamp: int
    total_supply: int
    attestation: Attestation
    max_attestation_age: int


@dataclass(frozen=True)
class MintedEvent:
    deposit_id: bytes
    to: str
    amount: int
    minter: str
    tx_hash: str
    block_number: int


@dataclass(frozen=True)
class SignedTx:
    tx_hash: str
    raw: bytes
    nonce: int
    sender: str


@dataclass(frozen=True)
class Receipt:
    """A transaction receipt; `logs` as the node sent them (JSON-RPC dicts of hex strings)."""

    tx_hash: str
    status: int
    block_number: int
    gas_used: int
    logs: list


class Token:
    """The deployed token at `address` on the node at `rpc_url`."""

    def __init__(self, rpc_url: str, address: str, *, timeout: float = 30.0):
        self.w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
        self.address = to_checksum_address(address)
        self.contract = self.w3.eth.contract(address=self.address, abi=token_abi())
        self._minted = LogReader(self, (MINTED,))
        self._chain_id_value: int | None = None

    # ---- reads -------------------------------------------------------------------------------

    def block_number(self) -> int:
        return self.w3.eth.block_number

    def total_supply(self) -> int:
        return self.contract.functions.totalSupply().call()

    def balance_of(self, account: str) -> int:
        return self.contract.functions.balanceOf(to_checksum_address(account)).call()

    def reserve_attestation(self) -> Attestation:
        amount, timestamp, report_hash, audit_head = self.contract.functions.reserveAttestation().call()
        return Attestation(amount, timestamp, bytes(report_hash), bytes(audit_head))

    def max_attestation_age(self) -> int:
        return self.contract.functions.maxAttestationAge().call()

    def mint_rate_available(self, minter: str) -> int | None:
        """What the on-chain rate limit (token bucket) of `minter` lets it mint now; None
        without a limit (capacity 0). The allowance and the reserve ceiling apply besides."""
        capacity, _refill, available = self.contract.functions.minterRateLimit(
            to_checksum_address(minter)
        ).call()
        return None if capacity == 0 else int(available)

    def minting_paused(self) -> bool:
        return self.contract.functions.mintingPaused().call() or self.contract.functions.paused().call()

    def paused_flags(self, block: int) -> tuple[bool, bool, bool]:
        """(paused, mintingPaused, redemptionsPaused) as of block `block`."""
        functions = self.contract.functions
        return (
            bool(functions.paused().call(block_identifier=block)),
            bool(functions.mintingPaused().call(block_identifier=block)),
            bool(functions.redemptionsPaused().call(block_identifier=block)),
        )

    def log_anchor(self, block: int) -> tuple[int, bytes, int]:
        """(tree size, root, timestamp) of the audit log's head anchored as of block `block`."""
        size, root, anchored_at = self.contract.functions.auditLogAnchor().call(block_identifier=block)
        return int(size), bytes(root), int(anchored_at)

    def is_deposit_minted(self, deposit_id: bytes) -> bool:
        return self.contract.functions.isDepositMinted(deposit_id).call()

    def latest_timestamp(self) -> int:
        return self.w3.eth.get_block("latest")["timestamp"]

    def state_at(self, block: int) -> ChainState:
        """Supply, attestation and its maximum age as of block `block`, with the block's hash
        and timestamp: one consistent view, whatever is mined meanwhile."""
        header = self.w3.eth.get_block(block)
        functions = self.contract.functions
        amount, timestamp, report_hash, audit_head = functions.reserveAttestation().call(
            block_identifier=block
        )
        return ChainState(
            block=block,
            block_hash=header["hash"].to_0x_hex(),
            timestamp=header["timestamp"],
            total_supply=functions.totalSupply().call(block_identifier=block),
            attestation=Attestation(amount, timestamp, bytes(report_hash), bytes(audit_head)),
            max_attestation_age=functions.maxAttestationAge().call(block_identifier=block),
        )

    def minted_events(
        self, from_block: int, to_block: int | str = "latest", deposit_ids: Sequence[bytes] | None = None
    ) -> list[MintedEvent]:
        """`Minted` events in a block range, optionally only those of the given deposit ids."""
        topics: list[Any] = [None, None]
        if deposit_ids is not None:
            topics.append(["0x" + d.hex() for d in deposit_ids])
        return [_minted(e) for e in self._minted.fetch(from_block, to_block, topics)]

    def minted_in_receipt(self, receipt: Receipt) -> list[MintedEvent]:
        """The token's `Minted` events among a receipt's (raw) logs."""
        address = self.address.lower()
        return [
            _minted(self._minted.decode(log))
            for log in receipt.logs
            if log["address"].lower() == address
            and log.get("topics")
            and to_hex(log["topics"][0]) in self._minted.decoders
        ]

    # ---- transactions --------------------------------------------------------------------------

    def _estimate_or_revert(self, call: TxParams) -> int:
        """Estimates gas for an encoded call ({"from", "to", "data"}); a revert raises ChainRevert
        with the decoded custom error."""
        try:
            return self.w3.eth.estimate_gas(call)
        except ContractCustomError as exc:
            raise decode_revert(cast(str, exc.data)) from None  # web3 sets it to the hex data
        except ContractLogicError as exc:
            raise decode_revert(getattr(exc, "data", None)) from None

    def _fees(self) -> tuple[int, int]:
        base_fee = self.w3.eth.get_block("latest").get("baseFeePerGas", 0)
        tip = 1_000_000_000 if base_fee else 0
        return 2 * base_fee + tip, tip

    def _sign_call(self, signer: LocalAccount, data: bytes, gas: int, nonce: int) -> SignedTx:
        """Signs an EIP-1559 transaction to the token with calldata `data`."""
        max_fee, tip = self._fees()
        tx: dict[str, Any] = {
            "type": 2,
            "to": self.address,
            "value": 0,
            "data": data,
            "nonce": nonce,
            "gas": gas,
            "maxFeePerGas": max_fee,
            "maxPriorityFeePerGas": tip,
            "chainId": self._chain_id(),
        }
        signed = signer.sign_transaction(tx)
        return SignedTx(signed.hash.to_0x_hex(), bytes(signed.raw_transaction), nonce, signer.address)

    def _chain_id(self) -> int:
        if self._chain_id_value is None:
            self._chain_id_value = self.w3.eth.chain_id
        return self._chain_id_value

    def pending_nonce(self, address: str) -> int:
        return self.w3.eth.get_transaction_count(to_checksum_address(address), "pending")

    def mined_nonce(self, address: str) -> int:
        return self.w3.eth.get_transaction_count(to_checksum_address(address), "latest")

    def build_mint_batch(
        self, signer: LocalAccount, items: Sequence[tuple[str, int, bytes]], nonce: int
    ) -> SignedTx:
        """Simulates and signs `mintBatch` for (recipient, units, deposit id) items.

        A revert in the simulation raises ChainRevert: nothing is signed for a batch that would fail.
        """
        data = encode_mint_batch(items)
        call: TxParams = {"from": signer.address, "to": self.address, "data": data}
        gas = self._estimate_or_revert(call)
        return self._sign_call(signer, data, gas + gas // 5, nonce)

    def simulate_mint(self, sender: str, to: str, units: int, deposit_id: bytes) -> None:
        """Raises ChainRevert if `mint(to, units, deposit_id)` from `sender` would revert now."""
        data = encode_call("mint", to_checksum_address(to), units, deposit_id)
        self._estimate_or_revert({"from": sender, "to": self.address, "data": data})

    def send_raw(self, signed: SignedTx) -> None:
        """Broadcasts a signed transaction; a node that already has it is not an error."""
        try:
            self.w3.eth.send_raw_transaction(signed.raw)
        except ValueError as exc:
            text = str(exc).lower()
            if "already known" in text or "already imported" in text:
                return
            raise ChainError(f"broadcast of {signed.tx_hash} failed: {exc}") from exc

    def receipt(self, tx_hash: str) -> Receipt | None:
        """The receipt of `tx_hash`, or None while it is not mined (or unknown).

        Read with a plain JSON-RPC request, without web3's result formatters (see
        docs/performance.md, "Receipts read as plain JSON-RPC")."""
        response = self.w3.provider.make_request(RPCEndpoint("eth_getTransactionReceipt"), [tx_hash])
        if response.get("error"):
            raise ChainError(f"eth_getTransactionReceipt {tx_hash}: {response['error']}")
        raw = response.get("result")
        return _receipt(raw) if raw else None

    def wait_receipt(self, tx_hash: str, timeout: float = 60.0, poll: float = 0.02) -> Receipt:
        """Polls for the receipt of `tx_hash`; web3's TimeExhausted after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            receipt = self.receipt(tx_hash)
            if receipt is not None:
                return receipt
            if time.monotonic() >= deadline:
                raise TimeExhausted(f"transaction {tx_hash} not mined after {timeout} seconds")
            time.sleep(poll)

    def transact(self, signer: LocalAccount, fn_name: str, *args: Any, timeout: float = 60.0) -> Receipt:
        """Simulates, signs, sends `fn_name(*args)` from `signer` and waits for its receipt."""
        data = encode_call(fn_name, *args)
        gas = self._estimate_or_revert({"from": signer.address, "to": self.address, "data": data})
        signed = self._sign_call(signer, data, gas + gas // 5, self.pending_nonce(signer.address))
        self.send_raw(signed)
        receipt = self.wait_receipt(signed.tx_hash, timeout)
        if receipt.status != 1:
            raise ChainError(f"{fn_name} reverted in {signed.tx_hash}")
        return receipt


def _receipt(r: dict) -> Receipt:
    """A Receipt from the node's JSON receipt (quantities as hex strings)."""
    return Receipt(
        r["transactionHash"].lower(),
        int(r["status"], 16),
        int(r["blockNumber"], 16),
        int(r["gasUsed"], 16),
        r["logs"],
    )


def _minted(event: Event) -> MintedEvent:
    args = event.args
    return MintedEvent(
        deposit_id=args["depositId"],
        to=args["to"],
        amount=args["amount"],
        minter=args["minter"],
        tx_hash=event.tx_hash,
        block_number=event.block,
    )


@cache
def _function_abi(name: str) -> tuple[bytes, list[str]]:
    """Selector and argument types of the token's function `name` (one overload only)."""
    item = abi_item("function", name)
    return selector(item), [i["type"] for i in item["inputs"]]


def encode_call(name: str, *args: Any) -> bytes:
    """Calldata of the token's function `name`, encoded by eth_abi straight from the ABI's types.
    The same bytes as web3's contract encoding, without its per-argument normalization (see
    docs/performance.md, "Calldata encoded without web3")."""
    selector, types = _function_abi(name)
    return selector + abi_encode(types, list(args))


def _word(value: int) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 256:
        raise ValueError(f"not a uint256: {value!r}")
    return value.to_bytes(32, "big")


def _address_word(address: str) -> bytes:
    raw = address if isinstance(address, bytes) else bytes.fromhex(address.removeprefix("0x"))
    if len(raw) != 20:
        raise ValueError(f"not an address: {address!r}")
    return bytes(12) + raw


def _bytes32_word(value: bytes) -> bytes:
    if not isinstance(value, (bytes, bytearray)) or len(value) != 32:
        raise ValueError(f"not 32 bytes: {value!r}")
    return bytes(value)


def encode_mint_batch(items: Sequence[tuple[str, int, bytes]]) -> bytes:
    """Calldata of `mintBatch(address[], uint256[], bytes32[])` for (recipient, units, deposit
    id) items: the same bytes as `encode_call("mintBatch", ...)` (the tests compare them), laid
    out by hand: three static-element arrays need no general ABI encoder, and no address is
    checksummed (see docs/performance.md, "Calldata encoded without web3")."""
    n = len(items)
    selector, types = _function_abi("mintBatch")
    if types != ["address[]", "uint256[]", "bytes32[]"]:
        raise ValueError(f"unexpected mintBatch signature: {types}")
    array_bytes = 32 * (n + 1)
    parts = [selector, _word(96), _word(96 + array_bytes), _word(96 + 2 * array_bytes), _word(n)]
    parts += [_address_word(i[0]) for i in items]
    parts.append(_word(n))
    parts += [_word(i[1]) for i in items]
    parts.append(_word(n))
    parts += [_bytes32_word(i[2]) for i in items]
    return b"".join(parts)


def load_account(private_key: str | None) -> LocalAccount | None:
    """The local signer for a hex private key, or None when no key is configured."""
    return Account.from_key(private_key) if private_key else None
