"""Helpers shared by the USHK token tests: strict revert matching, exact event lists, deposit
ids, EIP-712 typed data for permit and EIP-3009, and a raw JSON-RPC client for the stateful tests.

`ape.reverts(SomeError, arg=...)` is not strict enough for these tests: it passes silently when
the revert is not decoded as a custom error (ape-foundry does not decode custom errors of
`.call()` reverts or of contract creations) and it ignores expected arguments whose names the
error does not have. `reverts` below fails in both cases and compares the full argument list.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from eth_abi import decode as abi_decode
from eth_account import Account
from eth_utils import keccak, to_checksum_address

DAY = 86_400
MAX_UINT256 = 2**256 - 1
MAX_UINT128 = 2**128 - 1
MAX_UINT120 = 2**120 - 1
ZERO_ADDRESS = "0x" + "00" * 20
ZERO32 = b"\x00" * 32

#: 1 USHK in token units (6 decimals).
USHK = 10**6

# Configuration of the standard test deployments (tests/contracts/conftest.py).
#: Total a configured minter of the `token` fixture may mint.
MINTER_ALLOWANCE = 50_000_000 * USHK
#: Most a single mint of that minter may mint.
MAX_PER_MINT = 1_000_000 * USHK
#: Reserves attested on the `token` and `funded` fixtures.
RESERVES = 100_000_000 * USHK
#: Balances of the `funded` fixture.
ALICE_FUNDS = 1_000 * USHK
BOB_FUNDS = 500 * USHK
REPORT_HASH = b"reserve-report-1".rjust(32, b"\x00")
AUDIT_HEAD = b"audit-head-1".rjust(32, b"\x00")

#: The reserve service's deposit ids: "USHK-DEP" in the top 64 bits, a sequence number below.
DEPOSIT_PREFIX = int.from_bytes(b"USHK-DEP", "big") << 192


def dep_id(seq: int) -> bytes:
    """The deposit id the reserve service gives to deposit number `seq`."""
    assert 0 <= seq < 2**192
    return (DEPOSIT_PREFIX | seq).to_bytes(32, "big")


def b32(value: int | str | bytes) -> bytes:
    """A bytes32 from an int, a short text label, or bytes (left-padded)."""
    if isinstance(value, int):
        return value.to_bytes(32, "big")
    if isinstance(value, str):
        value = value.encode()
    assert len(value) <= 32
    return bytes(value).rjust(32, b"\x00")


def addr(account: Any) -> str:
    """The checksummed address of an account, contract or address string."""
    value = getattr(account, "address", account)
    return to_checksum_address(value)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def _canonical_type(item: dict) -> str:
    typ = item["type"]
    if typ.startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in item["components"])
        return f"({inner}){typ[5:]}"
    return typ


class ErrorDecoder:
    """Decodes revert data (selector + ABI-encoded arguments) with a contract's error ABI."""

    def __init__(self, abi: list[dict]):
        self.by_selector: dict[bytes, tuple[str, list[str], list[str]]] = {}
        for item in abi:
            if item.get("type") != "error":
                continue
            types = [_canonical_type(i) for i in item.get("inputs", [])]
            names = [i["name"] for i in item.get("inputs", [])]
            selector = keccak(text=f"{item['name']}({','.join(types)})")[:4]
            self.by_selector[selector] = (item["name"], names, types)

    def decode(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """(error name, {argument name: value}) for raw revert data; raises if unknown."""
        if len(data) < 4 or bytes(data[:4]) not in self.by_selector:
            raise AssertionError(f"revert data {bytes(data).hex()} is not a known custom error")
        name, names, types = self.by_selector[bytes(data[:4])]
        values = abi_decode(types, bytes(data[4:]))
        return name, {n: _normalize(v, t) for n, v, t in zip(names, values, types, strict=True)}


def _normalize(value: Any, typ: str | None = None) -> Any:
    """Canonical form for comparing decoded values: checksummed addresses, plain bytes."""
    if typ == "address" or (isinstance(value, str) and re.fullmatch(r"0x[0-9a-fA-F]{40}", value)):
        return to_checksum_address(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if hasattr(value, "address") and not isinstance(value, (int, str, bytes)):
        return to_checksum_address(value.address)
    if isinstance(value, (list, tuple)):
        return type(value)(_normalize(v) for v in value)
    return value


_UNDECODED = re.compile(r"custom error (?:0x)?([0-9a-fA-F]{8}):?\s*([0-9a-fA-F]*)")


@dataclass
class RevertInfo:
    """Filled in by `reverts` once the block has reverted."""

    name: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    exception: BaseException | None = None


def decode_revert(exc: BaseException, decoder: ErrorDecoder) -> tuple[str, dict[str, Any]]:
    """(name, inputs) of a revert raised by ape, whether or not ape decoded it."""
    from ape.exceptions import ContractLogicError, CustomError

    if isinstance(exc, CustomError):
        return exc.abi.name, {k: _normalize(v) for k, v in exc.inputs.items()}
    if not isinstance(exc, ContractLogicError):
        raise AssertionError(f"expected a contract revert, got {type(exc).__name__}: {exc}")
    message = str(getattr(exc, "revert_message", "") or exc)
    if (match := _UNDECODED.search(message)) is not None:
        return decoder.decode(bytes.fromhex(match.group(1) + match.group(2)))
    if re.fullmatch(r"0x[0-9a-fA-F]{8,}", message.strip()):
        return decoder.decode(bytes.fromhex(message.strip()[2:]))
    raise AssertionError(f"revert is not a custom error: {message!r}")


def _assert_bare_revert(exc: BaseException) -> None:
    from ape.exceptions import ContractLogicError, CustomError, TransactionError

    assert isinstance(exc, ContractLogicError), f"expected a revert, got {type(exc).__name__}: {exc}"
    assert not isinstance(exc, CustomError), f"expected a revert without data, got {exc!r}"
    message = getattr(exc, "revert_message", None)
    assert message == TransactionError.DEFAULT_MESSAGE, f"expected no revert data, got {message!r}"


@contextmanager
def reverts_with(decoder: ErrorDecoder, error: Any, **expected: Any):
    """Asserts that the block reverts with the custom error `error` (an ape error class, e.g.
    `token.AccountFrozen`, or its name) and, when arguments are given, exactly these arguments
    (every argument of the error must be named). `error=None` expects a revert without data."""
    expected_name = error if isinstance(error, (str, type(None))) else error.__name__
    info = RevertInfo()
    try:
        yield info
    except AssertionError:
        raise
    except Exception as exc:
        if expected_name is None:
            _assert_bare_revert(exc)
            info.exception = exc
            return
        name, inputs = decode_revert(exc, decoder)
        info.name, info.inputs, info.exception = name, inputs, exc
        assert name == expected_name, f"expected revert {expected_name}, got {name}({inputs})"
        if expected:
            want = {k: _normalize(v) for k, v in expected.items()}
            assert set(want) == set(inputs), (
                f"{name} has arguments {sorted(inputs)}, the test names {sorted(want)}"
            )
            assert inputs == want, f"{name}: expected arguments {want}, got {inputs}"
    else:
        raise AssertionError(f"did not revert (expected {expected_name})")


# --------------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------------


def token_events(receipt, token) -> list[tuple[str, dict[str, Any]]]:
    """Every log the token (the proxy address) emitted in `receipt`, decoded, in order."""
    out = []
    logs = receipt.decode_logs()
    raw_from_token = [log for log in receipt.logs if to_checksum_address(log["address"]) == addr(token)]
    decoded_from_token = [log for log in logs if addr(log.contract_address) == addr(token)]
    assert len(decoded_from_token) == len(raw_from_token), "a token log did not decode"
    for log in decoded_from_token:
        out.append((log.event_name, {k: _normalize(v) for k, v in log.event_arguments.items()}))
    return out


def ev(name: str, **args: Any) -> tuple[str, dict[str, Any]]:
    """An expected event, for comparison with `token_events`."""
    return name, {k: _normalize(v) for k, v in args.items()}


# --------------------------------------------------------------------------------------------
# EIP-712 typed data
# --------------------------------------------------------------------------------------------

EIP712_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]

PERMIT_FIELDS = [
    {"name": "owner", "type": "address"},
    {"name": "spender", "type": "address"},
    {"name": "value", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]

AUTHORIZATION_FIELDS = [
    {"name": "from", "type": "address"},
    {"name": "to", "type": "address"},
    {"name": "value", "type": "uint256"},
    {"name": "validAfter", "type": "uint256"},
    {"name": "validBefore", "type": "uint256"},
    {"name": "nonce", "type": "bytes32"},
]

CANCEL_FIELDS = [
    {"name": "authorizer", "type": "address"},
    {"name": "nonce", "type": "bytes32"},
]


def typed_message(
    primary_type: str,
    fields: list[dict],
    message: dict,
    chain_id: int,
    verifying: str,
    name: str = "USHK",
    version: str = "1",
) -> dict:
    """The full EIP-712 message dict (domain, types, primaryType, message)."""
    return {
        "types": {"EIP712Domain": EIP712_DOMAIN_FIELDS, primary_type: fields},
        "primaryType": primary_type,
        "domain": {
            "name": name,
            "version": version,
            "chainId": chain_id,
            "verifyingContract": verifying,
        },
        "message": message,
    }


@dataclass(frozen=True)
class Sig:
    v: int
    r: bytes
    s: bytes

    def vrs(self) -> tuple[int, bytes, bytes]:
        return self.v, self.r, self.s


def sign(private_key: Any, full_message: dict) -> Sig:
    """Signs a full EIP-712 message with eth-account."""
    signed = Account.sign_typed_data(private_key, full_message=full_message)
    return Sig(signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big"))


def permit_message(chain_id, token, owner, spender, value, nonce, deadline, **domain) -> dict:
    return typed_message(
        "Permit",
        PERMIT_FIELDS,
        {
            "owner": addr(owner),
            "spender": addr(spender),
            "value": value,
            "nonce": nonce,
            "deadline": deadline,
        },
        chain_id,
        addr(token),
        **domain,
    )


def authorization_message(
    primary_type, chain_id, token, from_, to, value, valid_after, valid_before, nonce, **domain
) -> dict:
    assert primary_type in ("TransferWithAuthorization", "ReceiveWithAuthorization")
    return typed_message(
        primary_type,
        AUTHORIZATION_FIELDS,
        {
            "from": addr(from_),
            "to": addr(to),
            "value": value,
            "validAfter": valid_after,
            "validBefore": valid_before,
            "nonce": nonce,
        },
        chain_id,
        addr(token),
        **domain,
    )


def cancel_message(chain_id, token, authorizer, nonce, **domain) -> dict:
    return typed_message(
        "CancelAuthorization",
        CANCEL_FIELDS,
        {"authorizer": addr(authorizer), "nonce": nonce},
        chain_id,
        addr(token),
        **domain,
    )
