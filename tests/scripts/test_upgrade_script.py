"""Upgrades through the timelock (`ape run upgrade schedule|execute|cancel|status`), the storage
layout gate, and the default admin's two-step transfer (`ape run roles transfer-admin|accept-admin|
cancel-admin-transfer`), against anvil; state is checked on chain with web3, and the clock moved
with anvil's evm_increaseTime.

One deployment of this module's own (its own deployments directory): every role on its own dev
account as in test_ape_scripts.py, but no --upgrader: `deploy token` deploys the timelock, which
holds UPGRADER_ROLE, with the admin (account 0) its proposer, executor and canceller.
"""

from __future__ import annotations

import json

import pytest
from eth_utils import keccak

from scripts._ushk.contracts import IMPLEMENTATION_SLOT
from scripts._ushk.roles import ROLE_IDS

pytestmark = pytest.mark.slow

UPGRADE_DELAY = 3_600
ADMIN_DELAY = 600


def _deploy_args(a):
    return [
        "deploy", "token",
        "--pauser", a[2], "--compliance", a[3], "--attestor", a[4], "--anchorer", a[6],
        "--minter", "TEST::1", "--minter-allowance", "5000000.00", "--max-per-mint", "100000.00",
        "--max-attestation-age", "86400", "--attest", "1000000.00",
        "--upgrade-delay", str(UPGRADE_DELAY), "--admin-delay", str(ADMIN_DELAY),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    return tmp_path_factory.mktemp("timelocked")


@pytest.fixture(scope="module")
def run(ape_run, directory):
    """ape_run against this module's deployments directory; ok=False expects a failure."""

    def call(*args, ok=True, code=None, real=False):
        if ok:
            return ape_run.ok(*args, deployments=directory, real=real)
        return ape_run.fails(*args, deployments=directory, code=code, real=real)

    return call


@pytest.fixture(scope="module")
def deployed(run, directory, dev_accounts, w3, compiled_abi):
    proc = run(*_deploy_args(dev_accounts), real=True)
    info = json.loads((directory / "local.json").read_text())
    token = w3.eth.contract(address=info["token"], abi=compiled_abi["USHK"])
    timelock = w3.eth.contract(address=info["timelock"]["address"], abi=compiled_abi["USHKTimelock"])
    # some supply, to see it kept
    run("mint", "mint", dev_accounts[7], "250.00", "--deposit", "1", "--account", "TEST::1")
    return token, timelock, proc.output


def info_of(directory) -> dict:
    return json.loads((directory / "local.json").read_text())


def increase_time(w3, seconds: int) -> None:
    w3.provider.make_request("evm_increaseTime", [seconds])
    w3.provider.make_request("evm_mine", [])


def implementation(w3, token) -> str:
    return w3.to_checksum_address(w3.eth.get_storage_at(token.address, IMPLEMENTATION_SLOT)[-20:])


def reverts_with(w3, fn, sender, name: str) -> None:
    """`fn` (a web3 contract call) reverts, for `sender`, with the custom error `name`."""
    from web3.exceptions import ContractCustomError

    with pytest.raises(ContractCustomError) as info:
        fn.call({"from": sender})
    selectors = {keccak(text=sig)[:4].hex() for sig in ERRORS[name]}
    assert str(info.value.args[0])[2:10] in selectors, (name, info.value)


ERRORS = {
    "AccessControlUnauthorizedAccount": ["AccessControlUnauthorizedAccount(address,bytes32)"],
    "TimelockUnexpectedOperationState": ["TimelockUnexpectedOperationState(bytes32,bytes32)"],
}


def test_deploy_puts_UPGRADER_ROLE_in_a_timelock(deployed, directory, dev_accounts, w3):
    token, timelock, output = deployed
    a = dev_accounts
    info = info_of(directory)
    assert "upgrade timelock:" in output
    record = info["timelock"]
    assert record["address"] == timelock.address and record["min_delay"] == UPGRADE_DELAY
    assert timelock.functions.getMinDelay().call() == UPGRADE_DELAY
    assert token.functions.hasRole(ROLE_IDS["UPGRADER_ROLE"], timelock.address).call()
    assert [x for x in a if token.functions.hasRole(ROLE_IDS["UPGRADER_ROLE"], x).call()] == []
    assert info["roles"]["UPGRADER_ROLE"] == [timelock.address]
    for role in ("PROPOSER_ROLE", "EXECUTOR_ROLE", "CANCELLER_ROLE"):
        holders = [x for x in a if timelock.functions.hasRole(keccak(text=role), x).call()]
        assert holders == [a[0]], role
    # the timelock administers itself: the deployer kept no admin role over it
    assert not timelock.functions.hasRole(b"\x00" * 32, a[0]).call()
    assert timelock.functions.hasRole(b"\x00" * 32, timelock.address).call()
    # the admin delay of the token
    assert token.functions.defaultAdminDelay().call() == ADMIN_DELAY == info["admin_delay"]
    assert token.functions.defaultAdmin().call() == a[0]


def test_upgrade_without_the_timelock_is_refused(deployed, run, dev_accounts, w3):
    token, _timelock, _ = deployed
    refused = run("ops", "upgrade", "USHKV2Example", ok=False, code=1)
    assert "upgrades go through the timelock" in refused.output
    # on chain: the admin (an account) does not hold UPGRADER_ROLE (the role check comes first)
    reverts_with(
        w3,
        token.functions.upgradeToAndCall(token.address, b""),
        dev_accounts[0],
        "AccessControlUnauthorizedAccount",
    )


def test_schedule_refuses_an_implementation_the_layout_check_refuses(deployed, run, directory, w3):
    before = w3.eth.block_number
    bad = run("upgrade", "schedule", "USHKBadLayout", ok=False, code=1)
    assert "refused: USHKBadLayout" in bad.output
    assert "state variable extra at slot 0 outside any ERC-7201 namespace" in bad.output
    # version 1's layout lacks the rate limits of version 2: a downgrade is refused too
    old = run("upgrade", "schedule", "USHKV1", ok=False, code=1)
    assert "rateLimits: removed" in old.output
    # nothing deployed, nothing scheduled
    assert w3.eth.block_number == before
    assert info_of(directory)["timelock"]["operations"] == []
    # not an implementation at all
    proxy = run("upgrade", "schedule", "USHKProxy", ok=False, code=2)
    assert "not a UUPS implementation" in proxy.output


def test_timelocked_upgrade_end_to_end(deployed, run, directory, dev_accounts, w3, compiled_abi):
    token, timelock, _ = deployed
    a = dev_accounts
    holder = a[7]
    balance = token.functions.balanceOf(holder).call()
    supply = token.functions.totalSupply().call()
    assert balance > 0
    old = implementation(w3, token)
    # only a proposer schedules
    stranger = run("upgrade", "schedule", "USHKV2Example", "--account", "TEST::9", ok=False, code=1)
    assert "does not hold the timelock's PROPOSER_ROLE" in stranger.output
    out = run("upgrade", "schedule", "USHKV2Example", real=True).output
    op = info_of(directory)["timelock"]["operations"][-1]
    assert f"operation id: {op['id']}" in out and "ready at:" in out
    assert op["state"] == "scheduled" and op["contract"] == "USHKV2Example"
    op_id = bytes.fromhex(op["id"][2:])
    assert timelock.functions.isOperationPending(op_id).call()
    now = w3.eth.get_block("latest")["timestamp"]
    assert op["ready_at"] == timelock.functions.getTimestamp(op_id).call() == now + UPGRADE_DELAY
    # before the delay: the script refuses, and so does the timelock itself
    early = run("upgrade", "execute", ok=False, code=1)
    assert "is not ready" in early.output
    payload = bytes.fromhex(op["payload"][2:])
    salt = bytes.fromhex(op["salt"][2:])
    reverts_with(
        w3,
        timelock.functions.execute(token.address, 0, payload, b"\x00" * 32, salt),
        a[0],
        "TimelockUnexpectedOperationState",
    )
    status = json.loads(run("upgrade", "status", "--json").stdout)
    assert [(o["id"], o["state"]) for o in status["operations"]] == [(op["id"], "waiting")]
    assert status["upgrader_is_timelock"] is True
    increase_time(w3, UPGRADE_DELAY - 120)
    assert "is not ready" in run("upgrade", "execute", ok=False, code=1).output
    increase_time(w3, 121)
    # only an executor executes
    stranger = run("upgrade", "execute", "--account", "TEST::9", ok=False, code=1)
    assert "does not hold the timelock's EXECUTOR_ROLE" in stranger.output
    assert "upgraded" in run("upgrade", "execute").output
    new = implementation(w3, token)
    assert new == op["implementation"] != old
    v2 = w3.eth.contract(address=token.address, abi=compiled_abi["USHKV2Example"])
    assert v2.functions.generation().call() == 2
    assert v2.functions.balanceOf(holder).call() == balance
    assert v2.functions.totalSupply().call() == supply
    assert v2.functions.defaultAdmin().call() == a[0]
    info = info_of(directory)
    assert info["implementation"] == new and info["implementation_contract"] == "USHKV2Example"
    assert info["upgrades"][-1]["operation"] == op["id"]
    assert info["timelock"]["operations"][-1]["state"] == "executed"
    assert timelock.functions.isOperationDone(op_id).call()
    again = run("upgrade", "execute", op["id"], ok=False, code=1)
    assert "cannot be executed: it is done" in again.output
    assert "done" in run("upgrade", "status").output


def test_scheduled_upgrade_can_be_cancelled(deployed, run, directory, w3):
    token, timelock, _ = deployed
    before = implementation(w3, token)
    run("upgrade", "schedule", "USHK", "--salt", "0x" + "11" * 32)
    op = info_of(directory)["timelock"]["operations"][-1]
    op_id = bytes.fromhex(op["id"][2:])
    refused = run("upgrade", "cancel", "--account", "TEST::9", ok=False, code=1)
    assert "does not hold the timelock's CANCELLER_ROLE" in refused.output
    assert "cancelled operation" in run("upgrade", "cancel").output
    assert not timelock.functions.isOperation(op_id).call()
    assert info_of(directory)["timelock"]["operations"][-1]["state"] == "cancelled"
    increase_time(w3, UPGRADE_DELAY + 1)
    gone = run("upgrade", "execute", op["id"], ok=False, code=1)
    assert "cannot be executed: it is unset" in gone.output
    assert implementation(w3, token) == before
    # nothing left to execute or cancel by default
    assert "no scheduled upgrade" in run("upgrade", "cancel", ok=False, code=1).output


def test_admin_role_moves_in_two_steps(deployed, run, directory, dev_accounts, w3):
    token, _timelock, _ = deployed
    a = dev_accounts
    # never granted or revoked
    assert "transferred in two steps" in run("roles", "grant", "admin", a[8], ok=False, code=2).output
    assert "transferred in two steps" in run("roles", "revoke", "admin", a[0], ok=False, code=2).output
    # begun, then cancelled
    run("roles", "transfer-admin", a[9])
    assert token.functions.pendingDefaultAdmin().call()[0] == a[9]
    assert "cancelled the admin transfer" in run("roles", "cancel-admin-transfer").output
    assert "no admin transfer is pending" in run("roles", "cancel-admin-transfer", ok=False, code=1).output
    # begun, accepted only by the new admin and only after the delay
    out = run("roles", "transfer-admin", a[8]).output
    assert "may accept after" in out
    assert info_of(directory)["pending_admin"]["address"] == a[8]
    assert (
        "is not the pending admin"
        in run("roles", "accept-admin", "--account", "TEST::9", ok=False, code=1).output
    )
    early = run("roles", "accept-admin", "--account", "TEST::8", ok=False, code=1)
    assert "the admin delay has not passed" in early.output
    increase_time(w3, ADMIN_DELAY + 1)
    run("roles", "accept-admin", "--account", "TEST::8", real=True)
    assert token.functions.defaultAdmin().call() == a[8]
    assert not token.functions.hasRole(ROLE_IDS["DEFAULT_ADMIN_ROLE"], a[0]).call()
    info = info_of(directory)
    assert info["roles"]["DEFAULT_ADMIN_ROLE"] == [a[8]] and info["pending_admin"] is None


def _deploy_raw(w3, name: str, sender: str, *args):
    """Deploys the compiled project contract `name` with web3 (anvil's unlocked accounts)."""
    from pathlib import Path

    build = json.loads((Path(__file__).resolve().parents[2] / ".build" / "__local__.json").read_text())
    contract_type = build["contractTypes"][name]
    factory = w3.eth.contract(
        abi=contract_type["abi"], bytecode=contract_type["deploymentBytecode"]["bytecode"]
    )
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor(*args).transact({"from": sender}))
    return w3.eth.contract(address=receipt["contractAddress"], abi=contract_type["abi"]), receipt


def test_ops_upgrade_of_an_earlier_version_takes_the_admin_rules_step(
    ape_run, dev_accounts, w3, compiled_abi, tmp_path
):
    """A token deployed before version 3 (here version 1, with an account as upgrader) goes to the
    current USHK with `ops upgrade USHK --admin-rules-delay S`: its one admin becomes the default
    admin; with a second admin holder it is refused."""
    a = dev_accounts
    impl, _ = _deploy_raw(w3, "USHKV1", a[0])
    init = impl.encode_abi("initialize", [a[0], 86_400])
    proxy, receipt = _deploy_raw(w3, "USHKProxy", a[0], impl.address, init)
    v1 = w3.eth.contract(address=proxy.address, abi=compiled_abi["USHKV1"])
    v1.functions.grantRole(ROLE_IDS["UPGRADER_ROLE"], a[5]).transact({"from": a[0]})
    v1.functions.grantRole(ROLE_IDS["DEFAULT_ADMIN_ROLE"], a[9]).transact({"from": a[0]})
    block = w3.eth.get_block(receipt["blockNumber"])
    info = {
        "chain_id": w3.eth.chain_id,
        "network": "local",
        "token": proxy.address,
        "implementation": impl.address,
        "deployment_block": receipt["blockNumber"],
        "deployment_block_hash": "0x" + bytes(block["hash"]).hex(),
        "roles": {"DEFAULT_ADMIN_ROLE": [a[0]], "UPGRADER_ROLE": [a[5]]},
        "minters": {},
        "upgrades": [],
    }
    (tmp_path / "local.json").write_text(json.dumps(info))
    args = ("ops", "upgrade", "USHK", "--admin-rules-delay", str(ADMIN_DELAY), "--account", "TEST::5")
    two = ape_run.fails(*args, deployments=tmp_path, code=1)
    assert "the one holder of DEFAULT_ADMIN_ROLE" in two.output and a[9] in two.output
    v1.functions.revokeRole(ROLE_IDS["DEFAULT_ADMIN_ROLE"], a[9]).transact({"from": a[0]})
    out = ape_run.ok(*args, deployments=tmp_path).output
    assert f"default admin {a[0]}" in out
    token = w3.eth.contract(address=proxy.address, abi=compiled_abi["USHK"])
    assert token.functions.defaultAdmin().call() == a[0]
    assert token.functions.defaultAdminDelay().call() == ADMIN_DELAY
    assert implementation(w3, token) == json.loads((tmp_path / "local.json").read_text())["implementation"]
    assert json.loads((tmp_path / "local.json").read_text())["admin_delay"] == ADMIN_DELAY
