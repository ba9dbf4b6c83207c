"""Fixtures for the USHK token tests, on a fresh anvil per session (ape-foundry, `host: auto`).

Deployments are session-scoped and made once, before the first test of this directory runs (the
autouse `deployments` fixture); ape's pytest plugin snapshots the chain around every test and reverts it afterwards,
so tests may change the token freely and stay independent and fast.

Accounts (anvil's dev accounts): 0 admin, 1 minter, 2 pauser, 3 compliance, 4 attestor,
5 upgrader, 6 alice, 7 bob, 8 carol, 9 stranger (holds no role).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import ape
import pytest
from ape.contracts import ContractContainer

from token_helpers import (
    ALICE_FUNDS,
    AUDIT_HEAD,
    BOB_FUNDS,
    DAY,
    MAX_PER_MINT,
    MINTER_ALLOWANCE,
    REPORT_HASH,
    RESERVES,
    ErrorDecoder,
    dep_id,
    reverts_with,
)

TESTS_DIR = Path(__file__).parent


@pytest.fixture(scope="session")
def admin(accounts):
    return accounts[0]


@pytest.fixture(scope="session")
def minter(accounts):
    return accounts[1]


@pytest.fixture(scope="session")
def pauser(accounts):
    return accounts[2]


@pytest.fixture(scope="session")
def compliance(accounts):
    return accounts[3]


@pytest.fixture(scope="session")
def attestor(accounts):
    return accounts[4]


@pytest.fixture(scope="session")
def upgrader(accounts):
    return accounts[5]


@pytest.fixture(scope="session")
def alice(accounts):
    return accounts[6]


@pytest.fixture(scope="session")
def bob(accounts):
    return accounts[7]


@pytest.fixture(scope="session")
def carol(accounts):
    return accounts[8]


@pytest.fixture(scope="session")
def stranger(accounts):
    return accounts[9]


@pytest.fixture(scope="session")
def error_decoder(project):
    abi = [item.model_dump(mode="json", by_alias=True) for item in project.USHK.contract_type.abi]
    return ErrorDecoder(abi)


@pytest.fixture(scope="session")
def reverts(error_decoder):
    """`with reverts(token.SomeError, arg=value, ...):` asserts the exact custom error and,
    when any are given, all of its arguments."""
    return functools.partial(reverts_with, error_decoder)


@pytest.fixture(scope="session")
def chain_id(chain):
    return chain.chain_id


@pytest.fixture(scope="session")
def deploy_implementation(project):
    def deploy(sender):
        return project.USHK.deploy(sender=sender)

    return deploy


@pytest.fixture(scope="session")
def deploy_token(project, deploy_implementation):
    """Builds a token: a fresh USHK implementation behind a fresh USHKProxy initialised with
    `admin` and `max_age`. `roles` maps role constant names (e.g. "PAUSER_ROLE") to accounts;
    `minters` maps accounts to (allowance, maxPerMint)."""

    def build(admin, max_age=DAY, roles=None, minters=None, admin_delay=0):
        impl = deploy_implementation(admin)
        proxy = project.USHKProxy.deploy(
            impl.address, impl.initialize.encode_input(admin.address, max_age, admin_delay), sender=admin
        )
        token = ape.Contract(proxy.address, contract_type=project.USHK.contract_type)
        for role_name, account in (roles or {}).items():
            token.grantRole(getattr(token, role_name)(), account, sender=admin)
        for account, (allowance, max_per_mint) in (minters or {}).items():
            token.configureMinter(account, allowance, max_per_mint, sender=admin)
        token._test_implementation = impl
        return token

    return build


@dataclass
class Deployments:
    token: object
    funded: object


@pytest.fixture(scope="session", autouse=True)
def deployments(deploy_token, admin, minter, pauser, compliance, attestor, upgrader, alice, bob):
    """Both standard tokens, deployed before the first test so that every test (and every
    snapshot ape takes) sees them."""

    def standard():
        token = deploy_token(
            admin,
            roles={
                "PAUSER_ROLE": pauser,
                "COMPLIANCE_ROLE": compliance,
                "ATTESTOR_ROLE": attestor,
                "UPGRADER_ROLE": upgrader,
            },
            minters={minter: (MINTER_ALLOWANCE, MAX_PER_MINT)},
        )
        token.attestReserves(RESERVES, REPORT_HASH, AUDIT_HEAD, sender=attestor)
        return token

    token = standard()
    funded = standard()
    funded.mintBatch([alice, bob], [ALICE_FUNDS, BOB_FUNDS], [dep_id(1), dep_id(2)], sender=minter)
    return Deployments(token=token, funded=funded)


@pytest.fixture
def token(deployments):
    """Roles granted to distinct accounts, `minter` configured (MINTER_ALLOWANCE, MAX_PER_MINT),
    RESERVES attested; no supply."""
    return deployments.token


@pytest.fixture
def funded(deployments):
    """Like `token` (a separate deployment), with ALICE_FUNDS minted to alice and BOB_FUNDS to
    bob (deposit ids 1 and 2)."""
    return deployments.funded


@pytest.fixture(scope="session")
def v2_container(project, compilers):
    """contracts/test/USHKV2Example.sol. Ape finds at most 500 files under contracts/ and the
    dependency copies in contracts/.cache use them up, so `project.USHKV2Example` can be missing
    once that cache exists; then the file is compiled here directly."""
    try:
        return project.USHKV2Example
    except AttributeError:
        path = project.path / "contracts" / "test" / "USHKV2Example.sol"
        (contract_type,) = [
            ct for ct in compilers.compile([path], project=project) if ct.name == "USHKV2Example"
        ]
        return ContractContainer(contract_type)


@pytest.fixture(scope="session")
def plain_erc20(compilers):
    """A small ERC-20 (tests/contracts/RescueTestToken.sol) compiled by ape's Solidity compiler,
    for rescueERC20."""
    source = (TESTS_DIR / "RescueTestToken.sol").read_text()
    return compilers.compile_source("solidity", source, contractName="RescueTestToken")
