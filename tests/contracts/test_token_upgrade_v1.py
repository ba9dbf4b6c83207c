"""The real UUPS upgrade of issue 13: a proxy of the token as deployed before it (version 1:
contracts/test/v1/USHKV1.sol, main's contracts/USHK.sol at 04367bd under another name) is given
state in every part, then upgraded to the current USHK; every piece of state is kept and the new
controls work at once (rate limit, RolesConflict, ERC-6093 errors, the new event shapes)."""

import ape
import pytest
from ape.contracts import ContractContainer
from eth_utils import keccak

from test_token_upgrade import (
    MINTED_SEQS,
    NONCE_CANCELED,
    NONCE_USED,
    ODD_DEPOSIT,
    fill_state,
    implementation_of,
    state_of,
)
from token_helpers import (
    ALICE_FUNDS,
    AUDIT_HEAD,
    BOB_FUNDS,
    DAY,
    MAX_PER_MINT,
    MINTER_ALLOWANCE,
    REPORT_HASH,
    RESERVES,
    USHK,
    ZERO32,
    ZERO_ADDRESS,
    dep_id,
    ev,
    token_events,
)

ANCHOR_ROOT = keccak(text="anchored root")
ADMIN_DELAY = 3_600


@pytest.fixture(scope="session")
def v1_container(project, compilers):
    path = project.path / "contracts" / "test" / "v1" / "USHKV1.sol"
    try:
        return project.USHKV1
    except AttributeError:
        (contract_type,) = [ct for ct in compilers.compile([path], project=project) if ct.name == "USHKV1"]
        return ContractContainer(contract_type)


@pytest.fixture
def v1_token(
    project,
    v1_container,
    chain_id,
    admin,
    minter,
    pauser,
    compliance,
    attestor,
    upgrader,
    alice,
    bob,
    carol,
    stranger,
):
    """A proxy of version 1 with state in every part, its audit log anchored."""
    impl = v1_container.deploy(sender=admin)
    proxy = project.USHKProxy.deploy(
        impl.address, impl.initialize.encode_input(admin.address, DAY), sender=admin
    )
    t = ape.Contract(proxy.address, contract_type=v1_container.contract_type)
    for role, account in (
        ("PAUSER_ROLE", pauser),
        ("COMPLIANCE_ROLE", compliance),
        ("ATTESTOR_ROLE", attestor),
        ("UPGRADER_ROLE", upgrader),
        ("ANCHOR_ROLE", attestor),
    ):
        t.grantRole(getattr(t, role)(), account, sender=admin)
    t.configureMinter(minter, MINTER_ALLOWANCE, MAX_PER_MINT, sender=admin)
    t.attestReserves(RESERVES, REPORT_HASH, AUDIT_HEAD, sender=attestor)
    t.mintBatch([alice, bob], [ALICE_FUNDS, BOB_FUNDS], [dep_id(1), dep_id(2)], sender=minter)
    fill_state(t, chain_id, admin, minter, pauser, compliance, attestor, alice, bob, carol, stranger)
    t.anchorAuditLog(42, ANCHOR_ROOT, sender=attestor)
    return t


@pytest.fixture
def upgraded(v1_token, project, chain, admin, upgrader, accounts):
    """(before, the token after the upgrade to USHK, the new implementation)."""
    everyone = list(accounts)
    deposits = [dep_id(s) for s in MINTED_SEQS] + [ODD_DEPOSIT, dep_id(4), dep_id(257), ZERO32]
    nonces = [NONCE_USED, NONCE_CANCELED, ZERO32]
    before = state_of(v1_token, everyone, deposits, nonces), tuple(v1_token.auditLogAnchor())
    new_impl = project.USHK.deploy(sender=admin)
    # version 3's step: the admin of version 1 becomes the one default admin (two-step transfers
    # delayed by ADMIN_DELAY)
    data = new_impl.initializeAdminRules.encode_input(admin.address, ADMIN_DELAY)
    receipt = v1_token.upgradeToAndCall(new_impl, data, sender=upgrader)
    assert implementation_of(chain, v1_token) == new_impl.address
    token = ape.Contract(v1_token.address, contract_type=project.USHK.contract_type)
    assert token_events(receipt, token) == [
        ev("Upgraded", implementation=new_impl),
        ev("Initialized", version=2),
    ]
    after = state_of(token, everyone, deposits, nonces), tuple(token.auditLogAnchor())
    return before, after, token


def test_upgradeFromV1_keepsEveryPieceOfState(upgraded):
    before, after, _token = upgraded
    state, anchor = before
    # the fixture reached every part of the state
    assert state["redemptionCount"] == 2 and state["paused"] == (False, False, True)
    assert sum(state["authorizations"].values()) == 2 and anchor[0] == 42
    assert after == before


def test_upgradeFromV1_newControlsWorkAtOnce(upgraded, admin, minter, attestor, pauser, alice, bob, reverts):
    _before, _after, token = upgraded
    token.unpauseRedemptions(sender=pauser)
    # every minter starts without a rate limit; the admin sets one and mints spend it
    assert tuple(token.minterRateLimit(minter)) == (0, 0, 0)
    token.setMinterRateLimit(minter, 10 * USHK, 0, sender=admin)
    token.mint(alice, 4 * USHK, dep_id(9001), sender=minter)
    with reverts(token.MintRateLimitExceeded, minter=minter, available=6 * USHK, amount=7 * USHK):
        token.mint(alice, 7 * USHK, dep_id(9002), sender=minter)
    # MINTER_ROLE and ATTESTOR_ROLE stay apart, for the holders from version 1 too
    with reverts(
        token.RolesConflict, account=minter, role=token.ATTESTOR_ROLE(), heldRole=token.MINTER_ROLE()
    ):
        token.grantRole(token.ATTESTOR_ROLE(), minter, sender=admin)
    # ERC-6093 errors and the new event shapes
    balance = token.balanceOf(bob)
    with reverts(token.ERC20InsufficientBalance, sender=bob, balance=balance, needed=balance + 1):
        token.transfer(alice, balance + 1, sender=bob)
    receipt = token.setMaxAttestationAge(DAY, sender=admin)
    assert token_events(receipt, token) == [ev("MaxAttestationAgeSet", oldMaxAge=7200, newMaxAge=DAY)]


def test_upgradeFromV1_adminRulesApply(upgraded, admin, upgrader, stranger, reverts):
    _before, _after, token = upgraded
    assert token.defaultAdmin() == token.owner() == admin.address
    assert token.defaultAdminDelay() == ADMIN_DELAY
    with reverts(token.AccessControlEnforcedDefaultAdminRules):
        token.grantRole(ZERO32, stranger, sender=admin)
    # the step runs once
    with reverts(token.InvalidInitialization):
        token.initializeAdminRules(admin, 0, sender=upgrader)


def test_upgradeFromV1_adminRulesStepIsTheUpgradersOnly(
    v1_token, project, admin, upgrader, stranger, reverts
):
    """After an upgrade without the step, only the upgrader may take it, naming the admin."""
    new_impl = project.USHK.deploy(sender=admin)
    v1_token.upgradeToAndCall(new_impl, b"", sender=upgrader)
    token = ape.Contract(v1_token.address, contract_type=project.USHK.contract_type)
    assert token.defaultAdmin() == ZERO_ADDRESS  # no default admin until the step
    upgrader_role = token.UPGRADER_ROLE()
    with reverts(token.AccessControlUnauthorizedAccount, account=stranger, neededRole=upgrader_role):
        token.initializeAdminRules(stranger, 0, sender=stranger)
    with reverts(token.AccessControlUnauthorizedAccount, account=stranger, neededRole=ZERO32):
        token.initializeAdminRules(stranger, 0, sender=upgrader)
    token.initializeAdminRules(admin, ADMIN_DELAY, sender=upgrader)
    assert token.defaultAdmin() == admin.address
