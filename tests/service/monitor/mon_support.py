"""Helpers of the monitor's tests: small rules of their own (the rules package is another's),
a monitor key, JSON-RPC calls and a plain OpenZeppelin ERC-20 compiled with solc."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from service.monitor.model import Draft, Observation, Severity

REPO = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent


@dataclass
class EveryKind:
    """Fires on every observation of `kind` (one finding each)."""

    kind: str = "Transfer"
    id: str = "test.every"
    type: str = "test_every"
    severity: Severity = Severity.low

    def observe(self, obs: Observation) -> Iterable[Draft]:
        if obs.kind == self.kind:
            yield Draft(
                summary=f"{obs.kind} seen",
                details={"amount": obs.fields.get("value", obs.fields.get("amount"))},
            )


@dataclass
class EverySecond:
    """Stateful: fires on every second observation of `kind`, saying how many it has seen, so
    a rebuilt state that missed or doubled one shows in the findings."""

    kind: str = "Transfer"
    id: str = "test.second"
    type: str = "test_second"
    severity: Severity = Severity.medium
    seen: int = field(default=0)

    def observe(self, obs: Observation) -> Iterable[Draft]:
        if obs.kind == self.kind:
            self.seen += 1
            if self.seen % 2 == 0:
                yield Draft(
                    summary=f"{self.seen} {obs.kind}s seen",
                    details={"count": self.seen, "ratio": self.seen / 4},
                )


@dataclass
class CriticalOn:
    kind: str = "Minted"
    id: str = "test.critical"
    type: str = "test_critical"
    severity: Severity = Severity.critical

    def observe(self, obs: Observation) -> Iterable[Draft]:
        if obs.kind == self.kind:
            yield Draft(summary="critical", details={"to": obs.fields.get("to")})


@dataclass
class Down:
    id: str = "test.down"
    type: str = "test_down"
    severity: Severity = Severity.high

    def observe(self, obs: Observation) -> Iterable[Draft]:
        if obs.kind in ("source_down", "reorg"):
            yield Draft(summary=f"{obs.kind}", details=dict(obs.fields))


def transfer_rules() -> list[Any]:
    """The rules `ushk monitor run --rules-factory mon_support:transfer_rules` uses."""
    return [EveryKind(), EverySecond(), Down()]


def obs(n: int, kind: str = "Transfer", value: int = 1) -> Observation:
    return Observation(
        source="chain",
        kind=kind,
        key=f"chain:{n}:0",
        time=1_700_000_000 + n,
        fields={"value": value},
        block=n,
    )


# ---- JSON-RPC -----------------------------------------------------------------------------


def rpc(url: str, method: str, params: list[Any] | None = None) -> Any:
    body = httpx.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}, timeout=30
    ).json()
    if body.get("error"):
        raise RuntimeError(f"{method}: {body['error']}")
    return body["result"]


def wait_receipt(url: str, tx: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        receipt = rpc(url, "eth_getTransactionReceipt", [tx])
        if receipt:
            assert int(receipt["status"], 16) == 1, receipt
            return receipt
        time.sleep(0.05)
    raise AssertionError(f"no receipt for {tx}")


def send(url: str, sender: str, to: str | None, data: str) -> dict[str, Any]:
    """A transaction from one of anvil's (unlocked) dev accounts, waited for."""
    tx: dict[str, Any] = {"from": sender, "data": data, "gas": hex(3_000_000)}
    if to is not None:
        tx["to"] = to
    return wait_receipt(url, rpc(url, "eth_sendTransaction", [tx]))


_PLAIN: dict[str, Any] = {}

PLAIN_SOURCE = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
contract PlainToken is ERC20 {
    constructor() ERC20("Plain", "PLN") {}
    function mint(address to, uint256 amount) external { _mint(to, amount); }
}
"""


def plain_erc20_artifact() -> dict[str, Any]:
    """(abi, bytecode) of a plain OpenZeppelin ERC-20 (node_modules/@openzeppelin), compiled once."""
    if not _PLAIN:
        import solcx

        out = solcx.compile_source(
            PLAIN_SOURCE,
            output_values=["abi", "bin"],
            solc_version="0.8.30",
            import_remappings=[f"@openzeppelin/={REPO}/node_modules/@openzeppelin/"],
            allow_paths=[str(REPO / "node_modules")],
            base_path=str(REPO),
        )
        (item,) = [v for k, v in out.items() if k.endswith(":PlainToken")]
        _PLAIN.update(item)
    return _PLAIN


def deploy_plain(url: str, sender: str) -> str:
    receipt = send(url, sender, None, "0x" + plain_erc20_artifact()["bin"])
    return str(receipt["contractAddress"])


def mint_plain(url: str, token: str, sender: str, to: str, amount: int) -> dict[str, Any]:
    from eth_abi import encode
    from eth_utils import keccak

    data = keccak(text="mint(address,uint256)")[:4] + encode(["address", "uint256"], [to, amount])
    return send(url, sender, token, "0x" + data.hex())


def dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
