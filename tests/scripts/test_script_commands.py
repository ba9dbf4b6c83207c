"""The Ape script commands for minters, minting pauses, the allowlist and balances, against the
test anvil; state is checked on chain with web3. A deployment of its own (in its own
deployments directory), so the other script tests' token is untouched.

Accounts: 0 admin, 1 minter, 2 pauser, 3 compliance, 4 attestor, 5 upgrader, 6-9 holders.
"""

from __future__ import annotations

import json

import pytest

from scripts._ushk.amounts import UNIT
from scripts._ushk.roles import ROLE_IDS
from service.deposits.ids import deposit_id_for as deposit_id

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def deployment(ape_run, dev_accounts, deploy_token_args, w3, compiled_abi, tmp_path_factory):
    """(run, token, deployment file): `run(...)` is ape_run on this module's deployment."""
    directory = tmp_path_factory.mktemp("script-commands")
    a = dev_accounts

    def run(*args, ok=True, **kwargs):
        call = ape_run.ok if ok else ape_run.fails
        return call(*args, deployments=directory, **kwargs)

    run(
        *deploy_token_args(a, allowance="1000.00", max_per_mint="500.00"),
    )
    path = directory / "local.json"
    token = w3.eth.contract(address=json.loads(path.read_text())["token"], abi=compiled_abi["USHK"])
    return run, token, path


def test_set_rate_limit_limitsTheMinter(deployment, dev_accounts):
    run, token, _path = deployment
    minter = dev_accounts[1]
    out = run("mint", "set-rate-limit", minter, "--capacity", "150.00", "--refill-per-hour", "36.00").output
    assert f"minter {minter}: rate limit 150.00 USD, refilling 36.00 USD an hour" in out
    assert token.functions.minterRateLimit(minter).call()[:2] == [150 * UNIT, 10_000]
    over = run(
        "mint",
        "mint",
        dev_accounts[8],
        "200.00",
        "--deposit",
        "201",
        "--account",
        "TEST::1",
        ok=False,
        code=1,
    )
    assert "MintRateLimitExceeded" in over.output
    refused = run(
        "mint", "set-rate-limit", minter, "--capacity", "1.00", "--account", "TEST::1", ok=False, code=1
    )
    assert "does not hold DEFAULT_ADMIN_ROLE" in refused.output
    out = run("mint", "set-rate-limit", minter, "--capacity", "0").output
    assert f"minter {minter}: no rate limit" in out
    assert token.functions.minterRateLimit(minter).call()[0] == 0


def test_configure_and_remove_a_minter(deployment, dev_accounts):
    run, token, path = deployment
    minter = dev_accounts[7]
    assert not token.functions.isMinter(minter).call()
    out = run("mint", "configure-minter", minter, "--allowance", "300.00", "--max-per-mint", "200.00").output
    assert f"minter {minter}: allowance 300.00 USD, max per mint 200.00 USD" in out
    assert token.functions.isMinter(minter).call()
    assert token.functions.minterAllowance(minter).call() == 300 * UNIT
    assert token.functions.minterMaxPerMint(minter).call() == 200 * UNIT
    info = json.loads(path.read_text())
    assert info["minters"][minter]["allowance_usd"] == "300.00"
    assert minter in info["roles"]["MINTER_ROLE"]

    # the new minter mints within its limits; the allowance goes down
    run("mint", "mint", dev_accounts[8], "200.00", "--deposit", "101", "--account", "TEST::7")
    assert token.functions.minterAllowance(minter).call() == 100 * UNIT
    over = run(
        "mint",
        "mint",
        dev_accounts[8],
        "150.00",
        "--deposit",
        "102",
        "--account",
        "TEST::7",
        ok=False,
        code=1,
    )
    assert "MinterAllowanceExceeded" in over.output
    # only the admin configures minters
    refused = run(
        "mint",
        "configure-minter",
        minter,
        "--allowance",
        "1.00",
        "--max-per-mint",
        "1.00",
        "--account",
        "TEST::1",
        ok=False,
        code=1,
    )
    assert "does not hold DEFAULT_ADMIN_ROLE" in refused.output
    bad = run(
        "mint", "configure-minter", minter, "--allowance", "1.00", "--max-per-mint", "1.001", ok=False, code=2
    )
    assert "at most 2 decimal places" in bad.output

    out = run("mint", "remove-minter", minter).output
    assert f"removed minter {minter}" in out
    assert not token.functions.isMinter(minter).call()
    assert not token.functions.hasRole(ROLE_IDS["MINTER_ROLE"], minter).call()
    info = json.loads(path.read_text())
    assert minter not in info["minters"] and minter not in info["roles"]["MINTER_ROLE"]
    gone = run(
        "mint", "mint", dev_accounts[8], "1.00", "--deposit", "103", "--account", "TEST::7", ok=False, code=1
    )
    assert "is not a minter" in gone.output
    # removing again: said, nothing sent
    assert f"{minter} is not a minter" in run("mint", "remove-minter", minter).output


def test_pause_and_unpause_minting(deployment, dev_accounts):
    run, token, _ = deployment
    holder = dev_accounts[6]
    refused = run("ops", "pause-minting", ok=False, code=1)  # the admin is no pauser
    assert "does not hold PAUSER_ROLE" in refused.output
    assert "minting paused" in run("ops", "pause-minting", "--account", "TEST::2").output
    assert token.functions.mintingPaused().call() and not token.functions.paused().call()
    blocked = run(
        "mint", "mint", holder, "1.00", "--deposit", "201", "--account", "TEST::1", ok=False, code=1
    )
    assert "MintingIsPaused" in blocked.output
    assert not token.functions.isDepositMinted(deposit_id(201)).call()
    run("ops", "unpause-minting", "--account", "TEST::2", real=True)
    assert not token.functions.mintingPaused().call()
    run("mint", "mint", holder, "1.00", "--deposit", "201", "--account", "TEST::1")
    assert token.functions.isDepositMinted(deposit_id(201)).call()


def test_allowlist_mode_and_entries(deployment, dev_accounts):
    run, token, _ = deployment
    allowed, other = dev_accounts[8], dev_accounts[9]
    refused = run("ops", "allowlist", "enable", ok=False, code=1)  # the admin is not compliance
    assert "does not hold COMPLIANCE_ROLE" in refused.output
    assert "allowlist mode enabled" in run("ops", "allowlist", "enable", "--account", "TEST::3").output
    assert token.functions.allowlistEnabled().call()
    assert f"{allowed} allowed" in run("ops", "allowlist", "allow", allowed, "--account", "TEST::3").output
    assert token.functions.isAllowed(allowed).call() and not token.functions.isAllowed(other).call()
    run("mint", "mint", allowed, "5.00", "--deposit", "301", "--account", "TEST::1")
    blocked = run("mint", "mint", other, "5.00", "--deposit", "302", "--account", "TEST::1", ok=False, code=1)
    assert "NotAllowlisted" in blocked.output

    out = run("ops", "allowlist", "disallow", allowed, "--account", "TEST::3").output
    assert f"{allowed} disallowed" in out and not token.functions.isAllowed(allowed).call()
    blocked = run(
        "mint", "mint", allowed, "5.00", "--deposit", "302", "--account", "TEST::1", ok=False, code=1
    )
    assert "NotAllowlisted" in blocked.output
    assert (
        "allowlist mode disabled"
        in run("ops", "allowlist", "disable", "--account", "TEST::3", real=True).output
    )
    assert not token.functions.allowlistEnabled().call()
    run("mint", "mint", other, "5.00", "--deposit", "302", "--account", "TEST::1")
    assert run("ops", "allowlist", "allow", "0x1234", "--account", "TEST::3", ok=False, code=2)
    status = json.loads(run("ops", "status", "--json").stdout)
    assert status["allowlist_enabled"] is False


def test_balance(deployment, dev_accounts):
    run, token, _ = deployment
    holder = dev_accounts[6]
    expected = token.functions.balanceOf(holder).call()
    run("mint", "mint", holder, "12.34", "--deposit", "401", "--account", "TEST::1")
    out = run("redeem", "balance", holder).output
    assert f"{holder}: {(expected + 12_340_000) / UNIT:.2f} USD" in out
    # the account's own balance when no address is given
    out = run("redeem", "balance", "--account", "TEST::6", real=True).output
    assert f"{holder}: " in out and out.strip().endswith(
        f"{token.functions.balanceOf(holder).call() / UNIT:.2f} USD"
    )
    nobody = "0x000000000000000000000000000000000000bEEF"
    assert f"{nobody}: 0.00 USD" in run("redeem", "balance", nobody).output
    assert "is not an address" in run("redeem", "balance", "0xnope", ok=False, code=2).output
