"""The published interface (contracts/interfaces/IUSHK.sol) declares every error the token can
revert with, so that an integrator decoding with IUSHK's ABI alone never sees a raw selector.

The set of errors comes from the compiled USHK implementation: solc puts into a contract's ABI the
errors it declares or inherits and those of the libraries it calls. Then each OpenZeppelin error
that the token reaches is made to happen on anvil, and its revert data is decoded with IUSHK's ABI
only (the data of the eth_call, and that of the same transaction mined and reverted).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from token_helpers import ErrorDecoder, _canonical_type, addr
from wait_support import wait_for

#: keccak256("eip1967.proxy.implementation") - 1
IMPLEMENTATION_SLOT = (int.from_bytes(keccak(text="eip1967.proxy.implementation"), "big") - 1).to_bytes(
    32, "big"
)
GAS = 3_000_000

#: Errors in the token's ABI that no call to the token can raise, and why. They are declared in
#: IUSHK all the same (the ABI is what the compiler says the code may revert with).
UNREACHABLE = {
    # __AccessControlDefaultAdminRules_init is the token's only onlyInitializing step and runs
    # inside initialize and initializeAdminRules
    "NotInitializing",
    # SafeCast.toUint48(block.timestamp) (a default admin transfer's schedule) fits until the year
    # 8.9 million
    "SafeCastOverflowedUintDowncast",
    # upgradeToAndCall's delegatecall goes to an implementation whose code proxiableUUID() has
    # just shown to exist
    "AddressEmptyCode",
}


def error_signatures(abi) -> dict[str, str]:
    """{selector hex: "Name(types)"} of the errors of an ABI (a list of dicts)."""
    out = {}
    for item in abi:
        if item["type"] == "error":
            signature = f"{item['name']}({','.join(_canonical_type(i) for i in item['inputs'])})"
            out[keccak(text=signature)[:4].hex()] = signature
    return out


def abi_dicts(contract_type) -> list[dict]:
    return [item.model_dump(mode="json", by_alias=True) for item in contract_type.abi]


@pytest.fixture(scope="session")
def interface_abi(project, compilers):
    """The compiled ABI of an interface in contracts/interfaces/IUSHK.sol (compiled here when
    ape's 500-file listing leaves it out)."""

    def abi(name):
        try:
            contract_type = getattr(project, name).contract_type
        except AttributeError:
            path = project.path / "contracts" / "interfaces" / "IUSHK.sol"
            (contract_type,) = [ct for ct in compilers.compile([path], project=project) if ct.name == name]
        return abi_dicts(contract_type)

    return abi


@pytest.fixture(scope="session")
def iushk_abi(interface_abi):
    return interface_abi("IUSHK")


@pytest.fixture(scope="session")
def iushk_decoder(iushk_abi):
    return ErrorDecoder(iushk_abi)


def test_IUSHK_declaresExactlyTheErrorsOfTheCompiledToken(project, iushk_abi, interface_abi):
    token_errors = error_signatures(abi_dicts(project.USHK.contract_type))
    published = error_signatures(iushk_abi)
    missing = sorted(sig for sel, sig in token_errors.items() if sel not in published)
    assert not missing, f"the token can revert with errors IUSHK does not declare: {missing}"
    extra = sorted(sig for sel, sig in published.items() if sel not in token_errors)
    assert not extra, f"IUSHK declares errors the token cannot revert with: {extra}"
    # The errors the token has beyond its own (IUSHKCore's) come from OpenZeppelin: each one is
    # made to happen below or named in UNREACHABLE, so a new one needs a case in OZ_REVERTS.
    core = error_signatures(interface_abi("IUSHKCore"))
    from_openzeppelin = {sig.split("(")[0] for sel, sig in token_errors.items() if sel not in core}
    assert from_openzeppelin == {case.values[0] for case in OZ_REVERTS} | UNREACHABLE


def test_IUSHK_declaresTheAccessControlInterface(iushk_abi):
    functions = {item["name"] for item in iushk_abi if item["type"] == "function"}
    assert {"hasRole", "getRoleAdmin", "grantRole", "revokeRole", "renounceRole"} <= functions
    events = {item["name"] for item in iushk_abi if item["type"] == "event"}
    assert {"RoleGranted", "RoleRevoked", "RoleAdminChanged"} <= events
    # AccessControlDefaultAdminRules: the default admin's two-step, delayed transfer; ERC-5313
    assert {
        "defaultAdmin",
        "pendingDefaultAdmin",
        "defaultAdminDelay",
        "pendingDefaultAdminDelay",
        "beginDefaultAdminTransfer",
        "acceptDefaultAdminTransfer",
        "cancelDefaultAdminTransfer",
        "changeDefaultAdminDelay",
        "rollbackDefaultAdminDelay",
        "defaultAdminDelayIncreaseWait",
        "owner",
        "initializeAdminRules",
    } <= functions
    assert {
        "DefaultAdminTransferScheduled",
        "DefaultAdminTransferCanceled",
        "DefaultAdminDelayChangeScheduled",
        "DefaultAdminDelayChangeCanceled",
    } <= events


# --------------------------------------------------------------------------------------------
# Each OpenZeppelin error, on the chain
# --------------------------------------------------------------------------------------------


def call(sig: str, *args) -> bytes:
    types = [t for t in sig[sig.index("(") + 1 : -1].split(",") if t]
    return keccak(text=sig)[:4] + abi_encode(types, list(args))


class Rpc:
    def __init__(self, provider):
        self.provider = provider

    def __call__(self, method, params):
        return self.provider.make_request(method, params)

    def revert_data(self, tx: dict) -> bytes:
        """The revert data of `tx` run with eth_call (fails if it does not revert)."""
        response = self("eth_call", [tx, "latest"])
        assert "error" in response, f"did not revert: {response}"
        data = response["error"].get("data")
        assert isinstance(data, str) and data.startswith("0x"), response
        return bytes.fromhex(data[2:])

    def mined_revert_data(self, tx: dict) -> bytes:
        """Sends `tx` (fixed gas, so it is mined although it reverts) and returns the revert data
        of the mined transaction, from anvil's call tracer."""
        response = self("eth_sendTransaction", [tx])
        assert "error" not in response, response
        receipt = wait_for(
            f"the receipt of {response['result']}",
            lambda: self("eth_getTransactionReceipt", [response["result"]])["result"],
            10,
            interval=0.01,
        )
        assert int(receipt["status"], 16) == 0, "the transaction did not revert"
        trace = self("debug_traceTransaction", [response["result"], {"tracer": "callTracer"}])
        assert "result" in trace, trace
        return bytes.fromhex(trace["result"]["output"][2:])


@pytest.fixture(scope="session")
def wrong_uuid(compilers):
    """tests/contracts/WrongUUIDImplementation.sol: proxiableUUID() is not the ERC-1967 slot."""
    source = (Path(__file__).parent / "WrongUUIDImplementation.sol").read_text()
    return compilers.compile_source("solidity", source, contractName="WrongUUIDImplementation")


@pytest.fixture
def setting(funded, admin, upgrader, stranger, plain_erc20, wrong_uuid, v2_container):
    """What the cases below need: the accounts, the token, its implementation, and upgrade targets."""
    return {
        "token": funded,
        "implementation": funded._test_implementation,
        "admin": admin,
        "upgrader": upgrader,
        "stranger": stranger,
        "plain": plain_erc20.deploy(sender=admin),
        "wrong_uuid": wrong_uuid.deploy(sender=admin),
        "v2": v2_container.deploy(sender=admin),
        "role": lambda name: getattr(funded, name)(),
    }


# (error, sender, target ("token": the proxy, "implementation"), call data, value, expected
# arguments), each given the setting.
OZ_REVERTS = [
    pytest.param(
        "AccessControlUnauthorizedAccount",
        lambda s: (
            "stranger",
            "token",
            call("pause()"),
            0,
            {"account": addr(s["stranger"]), "neededRole": s["role"]("PAUSER_ROLE")},
        ),
        id="AccessControlUnauthorizedAccount-pause-by-stranger",
    ),
    pytest.param(
        "AccessControlBadConfirmation",
        lambda s: (
            "admin",
            "token",
            call("renounceRole(bytes32,address)", s["role"]("DEFAULT_ADMIN_ROLE"), addr(s["stranger"])),
            0,
            {},
        ),
        id="AccessControlBadConfirmation-renounce-for-another",
    ),
    pytest.param(
        "AccessControlEnforcedDefaultAdminRules",
        lambda s: (
            "admin",
            "token",
            call("grantRole(bytes32,address)", s["role"]("DEFAULT_ADMIN_ROLE"), addr(s["stranger"])),
            0,
            {},
        ),
        id="AccessControlEnforcedDefaultAdminRules-grant-the-admin-role",
    ),
    pytest.param(
        "AccessControlInvalidDefaultAdmin",
        lambda s: (
            "stranger",
            "token",
            call("acceptDefaultAdminTransfer()"),
            0,
            {"defaultAdmin": addr(s["stranger"])},
        ),
        id="AccessControlInvalidDefaultAdmin-accept-without-a-transfer",
    ),
    pytest.param(
        "AccessControlEnforcedDefaultAdminDelay",
        lambda s: (
            "admin",
            "token",
            call("renounceRole(bytes32,address)", s["role"]("DEFAULT_ADMIN_ROLE"), addr(s["admin"])),
            0,
            {"schedule": 0},
        ),
        id="AccessControlEnforcedDefaultAdminDelay-renounce-the-admin-role-unscheduled",
    ),
    pytest.param(
        "InvalidInitialization",
        lambda s: (
            "stranger",
            "token",
            call("initialize(address,uint64,uint48)", addr(s["stranger"]), 60, 0),
            0,
            {},
        ),
        id="InvalidInitialization-second-initialize",
    ),
    pytest.param(
        "InvalidInitialization",
        lambda s: (
            "stranger",
            "implementation",
            call("initialize(address,uint64,uint48)", addr(s["stranger"]), 60, 0),
            0,
            {},
        ),
        id="InvalidInitialization-initialize-the-implementation",
    ),
    pytest.param(
        "UUPSUnauthorizedCallContext",
        lambda s: (
            "upgrader",
            "implementation",
            call("upgradeToAndCall(address,bytes)", addr(s["v2"]), b""),
            0,
            {},
        ),
        id="UUPSUnauthorizedCallContext-upgrade-the-implementation",
    ),
    pytest.param(
        "UUPSUnauthorizedCallContext",
        lambda s: ("stranger", "token", call("proxiableUUID()"), 0, {}),
        id="UUPSUnauthorizedCallContext-proxiableUUID-through-the-proxy",
    ),
    pytest.param(
        "UUPSUnsupportedProxiableUUID",
        lambda s: (
            "upgrader",
            "token",
            call("upgradeToAndCall(address,bytes)", addr(s["wrong_uuid"]), b""),
            0,
            {"slot": (1).to_bytes(32, "big")},
        ),
        id="UUPSUnsupportedProxiableUUID-upgrade-to-a-wrong-uuid",
    ),
    pytest.param(
        "ERC1967InvalidImplementation",
        lambda s: (
            "upgrader",
            "token",
            call("upgradeToAndCall(address,bytes)", addr(s["plain"]), b""),
            0,
            {"implementation": addr(s["plain"])},
        ),
        id="ERC1967InvalidImplementation-upgrade-to-a-non-UUPS-contract",
    ),
    pytest.param(
        "ERC1967NonPayable",
        lambda s: ("upgrader", "token", call("upgradeToAndCall(address,bytes)", addr(s["v2"]), b""), 1, {}),
        id="ERC1967NonPayable-upgrade-with-ether-and-no-data",
    ),
    pytest.param(
        "FailedCall",
        lambda s: (
            "upgrader",
            "token",
            call("upgradeToAndCall(address,bytes)", addr(s["v2"]), bytes.fromhex("deadbeef")),
            0,
            {},
        ),
        id="FailedCall-upgrade-data-without-a-function",
    ),
    pytest.param(
        "SafeERC20FailedOperation",
        lambda s: (
            "admin",
            "token",
            call("rescueERC20(address,address,uint256)", addr(s["stranger"]), addr(s["admin"]), 1),
            0,
            {"token": addr(s["stranger"])},
        ),
        id="SafeERC20FailedOperation-rescue-from-an-account-without-code",
    ),
]


@pytest.mark.parametrize("error, case", OZ_REVERTS)
def test_ozError_onTheChain_decodesWithIUSHKAlone(chain, setting, iushk_decoder, error, case):
    sender, target, data, value, expected = case(setting)
    tx = {
        "from": addr(setting[sender]),
        "to": to_checksum_address(setting[target].address),
        "data": "0x" + data.hex(),
        "value": hex(value),
        "gas": hex(GAS),
    }
    rpc = Rpc(chain.provider.web3.provider)
    for revert_data in (rpc.revert_data(tx), rpc.mined_revert_data(tx)):
        name, inputs = iushk_decoder.decode(revert_data)
        assert (name, inputs) == (error, expected)
