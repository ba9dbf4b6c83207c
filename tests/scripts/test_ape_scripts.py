"""The ape scripts against anvil; state is checked on chain with web3.

Calls marked `real=True` run as `ape run ...` subprocesses; the others go through the same click
commands in this process (see conftest.ApeRun). One deployment per module (roles spread over
accounts 0-5); each test uses its own deposit ids and holders.
"""

from __future__ import annotations

import json

import pytest
from eth_utils import keccak

from scripts._ushk.amounts import UNIT
from scripts._ushk.contracts import IMPLEMENTATION_SLOT
from scripts._ushk.roles import ROLE_IDS
from service.deposits.ids import deposit_id_for as deposit_id

pytestmark = pytest.mark.slow

ZERO32 = "0x" + "00" * 32
REPORT = "0x" + "ab" * 32
AUDIT = "0x" + "cd" * 32


@pytest.fixture(scope="module")
def deployed(ape_run, dev_accounts, deploy_token_args, w3, compiled_abi):
    """`ape run deploy token` with every role on its own account; returns (token, info, output)."""
    a = dev_accounts
    proc = ape_run.ok(
        *deploy_token_args(a, allowance="5000000.00", max_per_mint="100000.00"),
        "--report-hash",
        REPORT,
        "--audit-head",
        AUDIT,
        real=True,
    )
    info = ape_run.deployment()
    token = w3.eth.contract(address=info["token"], abi=compiled_abi["USHK"])
    return token, info, proc.output


def test_deploy_writes_a_deployment_file_that_matches_the_chain(deployed, dev_accounts, w3):
    token, info, output = deployed
    a = dev_accounts
    assert info["token"] in output and "Next steps" in output
    assert info["chain_id"] == w3.eth.chain_id == 31337
    assert info["network"] == "local"
    assert info["deployer"] == a[0]  # anvil's account 0 signs when no --account is given
    # the proxy points at the implementation; the deployment block is the proxy's
    slot = w3.eth.get_storage_at(info["token"], IMPLEMENTATION_SLOT)
    assert w3.to_checksum_address(slot[-20:]) == info["implementation"]
    assert w3.eth.get_code(info["implementation"])
    block = w3.eth.get_block(info["deployment_block"])
    assert "0x" + bytes(block["hash"]).hex() == info["deployment_block_hash"]
    # roles: as given, and nobody else among the dev accounts holds them
    expected = {
        "DEFAULT_ADMIN_ROLE": [a[0]],
        "MINTER_ROLE": [a[1]],
        "PAUSER_ROLE": [a[2]],
        "COMPLIANCE_ROLE": [a[3]],
        "ATTESTOR_ROLE": [a[4]],
        "UPGRADER_ROLE": [a[5]],
        "ANCHOR_ROLE": [a[6]],
    }
    assert info["roles"] == expected
    for role, holders in expected.items():
        on_chain = [x for x in a if token.functions.hasRole(ROLE_IDS[role], x).call()]
        assert on_chain == holders, role
    # the minter's configuration
    assert info["minters"] == {
        a[1]: {
            "allowance": 5_000_000 * UNIT,
            "allowance_usd": "5000000.00",
            "max_per_mint": 100_000 * UNIT,
            "max_per_mint_usd": "100000.00",
        }
    }
    assert token.functions.isMinter(a[1]).call()
    assert token.functions.minterAllowance(a[1]).call() == 5_000_000 * UNIT
    assert token.functions.minterMaxPerMint(a[1]).call() == 100_000 * UNIT
    # maximum age and the first attestation
    assert token.functions.maxAttestationAge().call() == info["max_attestation_age"] == 3600
    amount, timestamp, report_hash, audit_head = token.functions.reserveAttestation().call()
    att = info["attestation"]
    assert amount == att["amount"] == 1_000_000 * UNIT
    assert timestamp == att["timestamp"] > 0
    assert "0x" + report_hash.hex() == att["report_hash"] == REPORT
    assert "0x" + audit_head.hex() == att["audit_head"] == AUDIT
    assert att["attestor"] == a[4]  # a local test account: it signed the attestation itself
    assert token.functions.totalSupply().call() == 0


def test_mint_and_repeat_deposit(ape_run, deployed, dev_accounts):
    token, _, _ = deployed
    holder = dev_accounts[6]
    out = ape_run.ok(
        "mint", "mint", holder, "1250.00", "--deposit", "1", "--account", "TEST::1", real=True
    ).output
    assert "minted 1250.00 USD" in out and "USHK-DEP 1" in out
    assert token.functions.balanceOf(holder).call() == 1250 * UNIT
    assert token.functions.isDepositMinted(deposit_id(1)).call()
    # the same deposit again: refused with a message, nothing minted
    again = ape_run.fails("mint", "mint", holder, "1250.00", "--deposit", "1", "--account", "TEST::1", code=1)
    assert "already minted" in again.output
    # a mint above the per-mint maximum: the contract's custom error, decoded
    big = ape_run.fails("mint", "mint", holder, "100000.01", "--deposit", "2", "--account", "TEST::1", code=1)
    assert "MintAboveMaximum" in big.output
    # the admin is not a minter
    not_minter = ape_run.fails("mint", "mint", holder, "1.00", "--deposit", "2", code=1)
    assert "is not a minter" in not_minter.output
    assert token.functions.balanceOf(holder).call() == 1250 * UNIT


def test_mint_batch_from_csv(ape_run, deployed, dev_accounts, tmp_path):
    token, _, _ = deployed
    a = dev_accounts
    csv_file = tmp_path / "deposits.csv"
    hex_id = "0x" + deposit_id(12).hex()
    csv_file.write_text(f"to,amount,deposit_id\n{a[7]},10.00,10\n{a[8]},20.50,11\n{a[7]},0.01,{hex_id}\n")
    before = token.functions.totalSupply().call()
    out = ape_run.ok(
        "mint", "mint-batch", str(csv_file), "--batch-size", "2", "--account", "TEST::1", real=True
    ).output
    assert "3 deposits, 30.51 USD in 2 transaction(s)" in out
    assert token.functions.balanceOf(a[7]).call() == 10_010_000
    assert token.functions.balanceOf(a[8]).call() == 20_500_000
    assert token.functions.totalSupply().call() == before + 30_510_000
    assert all(token.functions.isDepositMinted(deposit_id(s)).call() for s in (10, 11, 12))
    # a bad row is reported with its line, before anything is sent
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{a[7]},1.00,20\n{a[7]},1.005,21\n")
    proc = ape_run.fails("mint", "mint-batch", str(bad), "--account", "TEST::1", code=2)
    assert "line 2" in proc.output and "at most 2 decimal places" in proc.output
    assert not token.functions.isDepositMinted(deposit_id(20)).call()


@pytest.mark.parametrize(
    "row, message",
    [
        ('"1,250.00",23', "line 1: '1,250.00': amount must be a positive decimal string with at most 2"),
        ("1.00,0", "line 1: '0' is not a deposit id: deposit seq out of range: 0"),
    ],
)
def test_mint_batch_refuses_what_the_service_refuses(ape_run, dev_accounts, tmp_path, row, message):
    csv_file = tmp_path / "deposits.csv"
    csv_file.write_text(f"{dev_accounts[7]},{row}\n")
    proc = ape_run.fails("mint", "mint-batch", str(csv_file), "--account", "TEST::1", code=2)
    assert message in proc.output


def test_redeem(ape_run, deployed, dev_accounts, w3):
    token, _, _ = deployed
    holder = dev_accounts[9]
    ape_run.ok("mint", "mint", holder, "100.00", "--deposit", "30", "--account", "TEST::1")
    count = token.functions.redemptionCount().call()
    out = ape_run.ok(
        "redeem", "request", "25.00", "--payout-ref", "ACME-PAYOUT-1", "--account", "TEST::9", real=True
    ).output
    assert f"redemption {count + 1}: 25.00 USD burned" in out
    assert token.functions.balanceOf(holder).call() == 75 * UNIT
    assert token.functions.redemptionCount().call() == count + 1
    logs = token.events.RedemptionRequested().get_logs(from_block=w3.eth.block_number)
    assert logs[-1]["args"]["payoutRef"] == keccak(text="ACME-PAYOUT-1")
    assert logs[-1]["args"]["holder"] == holder
    # more than the balance: refused before sending
    too_much = ape_run.fails(
        "redeem", "request", "75.01", "--payout-ref", "0x" + "11" * 32, "--account", "TEST::9"
    )
    assert "less than 75.01 USD" in too_much.output


def test_pause_and_unpause(ape_run, deployed, dev_accounts):
    token, _, _ = deployed
    # the admin does not hold PAUSER_ROLE
    refused = ape_run.fails("ops", "pause", code=1)
    assert "does not hold PAUSER_ROLE" in refused.output
    ape_run.ok("ops", "pause", "--account", "TEST::2", real=True)
    assert token.functions.paused().call()
    blocked = ape_run.fails(
        "mint", "mint", dev_accounts[6], "1.00", "--deposit", "40", "--account", "TEST::1", code=1
    )
    assert "TokenPaused" in blocked.output
    ape_run.ok("ops", "unpause", "--account", "TEST::2")
    assert not token.functions.paused().call()
    ape_run.ok("ops", "pause-redemptions", "--account", "TEST::2")
    assert token.functions.redemptionsPaused().call()
    ape_run.ok("ops", "unpause-redemptions", "--account", "TEST::2")
    assert not token.functions.redemptionsPaused().call()


def test_freeze_and_wipe(ape_run, deployed, dev_accounts):
    token, _, _ = deployed
    target = dev_accounts[8]
    ape_run.ok("mint", "mint", target, "40.00", "--deposit", "50", "--account", "TEST::1")
    balance = token.functions.balanceOf(target).call()
    supply = token.functions.totalSupply().call()
    not_frozen = ape_run.fails("ops", "wipe", target, "--account", "TEST::3", code=1)
    assert "is not frozen" in not_frozen.output
    ape_run.ok("ops", "freeze", target, "--account", "TEST::3")
    assert token.functions.isFrozen(target).call()
    out = ape_run.ok("ops", "wipe", target, "--account", "TEST::3").output
    assert "wiped" in out
    assert token.functions.balanceOf(target).call() == 0
    assert token.functions.totalSupply().call() == supply - balance
    ape_run.ok("ops", "unfreeze", target, "--account", "TEST::3")
    assert not token.functions.isFrozen(target).call()


def test_attest_and_set_max_age(ape_run, deployed):
    token, _, _ = deployed
    ape_run.ok("ops", "attest", "2000000.00", "--report-hash", "0x" + "12" * 32, "--account", "TEST::4")
    amount, timestamp, report_hash, audit_head = token.functions.reserveAttestation().call()
    assert amount == 2_000_000 * UNIT and timestamp > 0
    assert report_hash == bytes.fromhex("12" * 32) and audit_head == b"\x00" * 32
    ape_run.ok("ops", "set-max-age", "7200")
    assert token.functions.maxAttestationAge().call() == 7200
    assert ape_run.deployment()["max_attestation_age"] == 7200
    status = json.loads(ape_run.ok("ops", "status", "--json", real=True).stdout)
    assert status["attestation"]["amount"] == 2_000_000 * UNIT
    assert status["attestation"]["fresh"] is True
    assert status["total_supply"] == token.functions.totalSupply().call()
    assert status["paused"] is False


def test_roles_grant_list_revoke(ape_run, deployed, dev_accounts):
    token, _, _ = deployed
    a = dev_accounts
    ape_run.ok("roles", "grant", "pauser", a[7])
    assert token.functions.hasRole(ROLE_IDS["PAUSER_ROLE"], a[7]).call()
    table = json.loads(ape_run.ok("roles", "list", "--json").stdout)
    assert table["PAUSER_ROLE"] == [a[2], a[7]]
    assert table["UPGRADER_ROLE"] == [a[5]]
    ape_run.ok("roles", "revoke", "PAUSER_ROLE", a[7])
    assert not token.functions.hasRole(ROLE_IDS["PAUSER_ROLE"], a[7]).call()
    assert ape_run.deployment()["roles"]["PAUSER_ROLE"] == [a[2]]


def test_upgrade_keeps_state(ape_run, deployed, dev_accounts, w3, compiled_abi):
    token, info, _ = deployed
    holder = dev_accounts[6]
    balance = token.functions.balanceOf(holder).call()
    supply = token.functions.totalSupply().call()
    refused = ape_run.fails("ops", "upgrade", "USHKV2Example", code=1)  # the admin is not the upgrader
    assert "does not hold UPGRADER_ROLE" in refused.output
    out = ape_run.ok("ops", "upgrade", "USHKV2Example", "--account", "TEST::5", real=True).output
    assert "upgraded" in out
    new_info = ape_run.deployment()
    slot = w3.eth.get_storage_at(info["token"], IMPLEMENTATION_SLOT)
    assert w3.to_checksum_address(slot[-20:]) == new_info["implementation"] != info["implementation"]
    assert new_info["upgrades"][-1]["contract"] == "USHKV2Example"
    v2 = w3.eth.contract(address=info["token"], abi=compiled_abi["USHKV2Example"])
    assert v2.functions.generation().call() == 2
    assert v2.functions.balanceOf(holder).call() == balance
    assert v2.functions.totalSupply().call() == supply
    # not an implementation at all
    proxy = ape_run.fails("ops", "upgrade", "USHKProxy", "--account", "TEST::5", code=2)
    assert "not a UUPS implementation" in proxy.output


@pytest.mark.parametrize(
    "args, message",
    [
        (("mint", "mint", "0x1234", "1.00", "--deposit", "1"), "is not an address"),
        (
            ("mint", "mint", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "1.001", "--deposit", "1"),
            "at most 2 decimal places",
        ),
        (
            ("mint", "mint", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "0.00", "--deposit", "1"),
            "must be greater than zero",
        ),
        (
            ("mint", "mint", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "1,250.00", "--deposit", "1"),
            "Invalid value for 'AMOUNT': '1,250.00': amount must be a positive decimal string with at most 2 "
            'decimal places, such as "1250.00"',
        ),
        (
            ("mint", "mint", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "1.00", "--deposit", "0"),
            "Invalid value for '--deposit': '0' is not a deposit id: deposit seq out of range: 0 "
            "(the reserve service's sequence numbers run from 1 to 2^192-1)",
        ),
        (("ops", "attest", "1,000,000.00"), "amount must be a positive decimal string"),
        (("deploy", "token", "--minter-allowance", "$1000.00"), "amount must be a positive decimal string"),
        (
            ("roles", "grant", "janitor", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"),
            "unknown role 'janitor'",
        ),
    ],
)
def test_bad_input_is_a_usage_error(ape_run, args, message):
    proc = ape_run.fails(*args, code=2)
    assert message in proc.output


def test_bad_input_from_ape_run(ape_run):
    proc = ape_run.fails("mint", "mint", "0xnot-an-address", "1.00", "--deposit", "1", code=2, real=True)
    assert "Invalid value for 'TO'" in proc.output and "is not an address" in proc.output
    # the reserve service's rules, through `ape run` (the service package imported by the script)
    holder = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    proc = ape_run.fails("mint", "mint", holder, "1.00", "--deposit", "0", code=2, real=True)
    assert (
        "Invalid value for '--deposit': '0' is not a deposit id: deposit seq out of range: 0" in proc.output
    )


def test_missing_deployment_file_says_to_deploy_first(ape_run, tmp_path):
    proc = ape_run.fails("ops", "status", deployments=tmp_path, code=2, real=True)
    assert "no deployment file" in proc.output and "ape run deploy token" in proc.output


def test_every_command_has_help(ape_run):
    import importlib

    import click
    from click.testing import CliRunner

    def walk(group, path):
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                yield from walk(command, [*path, name])
            else:
                yield [*path, name], command

    seen = 0
    for script in ("deploy", "roles", "mint", "redeem", "ops", "upgrade"):
        group = importlib.import_module(f"scripts.{script}").cli
        for path, command in walk(group, []):
            result = CliRunner().invoke(group, [*path, "--help"])
            assert result.exit_code == 0, result.output
            assert "--network" in result.output and len(command.get_short_help_str()) > 10, path
            seen += 1
    assert seen >= 32


def test_deploy_hands_over_to_another_admin(ape_run, dev_accounts, w3, compiled_abi, tmp_path):
    """--admin someone else: the deployer ends with no role; an attestor that is not a local
    account is covered by the deployer holding ATTESTOR_ROLE for the first attestation only."""
    a = dev_accounts
    outside_attestor = "0x000000000000000000000000000000000000dEaD"
    ape_run.ok(
        "deploy",
        "token",
        "--admin",
        a[7],
        "--attestor",
        outside_attestor,
        "--attest",
        "10.00",
        "--max-attestation-age",
        "60",
        deployments=tmp_path,
    )
    import json as _json

    info = _json.loads((tmp_path / "local.json").read_text())
    token = w3.eth.contract(address=info["token"], abi=compiled_abi["USHK"])
    for role, role_id in ROLE_IDS.items():
        assert not token.functions.hasRole(role_id, a[0]).call(), role
    assert token.functions.hasRole(ROLE_IDS["DEFAULT_ADMIN_ROLE"], a[7]).call()
    assert token.functions.hasRole(ROLE_IDS["ATTESTOR_ROLE"], outside_attestor).call()
    for role in ("PAUSER_ROLE", "COMPLIANCE_ROLE"):
        assert token.functions.hasRole(ROLE_IDS[role], a[7]).call(), role
    # without --upgrader a timelock holds UPGRADER_ROLE, the admin its proposer, executor and canceller
    timelock = info["timelock"]
    assert token.functions.hasRole(ROLE_IDS["UPGRADER_ROLE"], timelock["address"]).call()
    assert not token.functions.hasRole(ROLE_IDS["UPGRADER_ROLE"], a[7]).call()
    assert timelock["proposers"] == timelock["executors"] == timelock["cancellers"] == [a[7]]
    assert timelock["min_delay"] == 2 * 86_400  # the default
    # the admin role went over in two steps, accepted at once (a local account, delay 0)
    assert token.functions.defaultAdmin().call() == a[7]
    assert info["admin_delay"] == 0 and info["pending_admin"] is None
    assert token.functions.isMinter(a[7]).call()  # on a local network the minter defaults to the admin
    assert token.functions.reserveAttestation().call()[0] == 10 * UNIT
    assert info["attestation"]["attestor"] == a[0]
    assert info["roles"]["DEFAULT_ADMIN_ROLE"] == [a[7]]


def test_unreachable_node_is_a_message(ape_run, tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = ape_run.fails(
        "ops", "status", "--network", f"ethereum:local:http://127.0.0.1:{port}", network=False, code=1
    )
    assert "cannot use the network" in proc.output
