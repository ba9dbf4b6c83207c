"""Roles: every restricted function refuses callers without its role; initialisation."""

import pytest
from eth_utils import keccak

from token_helpers import (
    AUDIT_HEAD,
    DAY,
    REPORT_HASH,
    ZERO32,
    ZERO_ADDRESS,
    ev,
    token_events,
)

ROLE_NAMES = ("MINTER_ROLE", "PAUSER_ROLE", "COMPLIANCE_ROLE", "ATTESTOR_ROLE", "UPGRADER_ROLE")

# (function, arguments given the test's accounts, role constant it needs)
RESTRICTED = [
    ("configureMinter", lambda a: (a["stranger"], 1, 1), "DEFAULT_ADMIN_ROLE"),
    ("removeMinter", lambda a: (a["minter"],), "DEFAULT_ADMIN_ROLE"),
    ("setMaxAttestationAge", lambda a: (60,), "DEFAULT_ADMIN_ROLE"),
    ("rescueERC20", lambda a: (a["token"], a["stranger"], 0), "DEFAULT_ADMIN_ROLE"),
    ("grantRole", lambda a: (a["role"]("PAUSER_ROLE"), a["stranger"]), "DEFAULT_ADMIN_ROLE"),
    ("revokeRole", lambda a: (a["role"]("PAUSER_ROLE"), a["pauser"]), "DEFAULT_ADMIN_ROLE"),
    ("attestReserves", lambda a: (1, REPORT_HASH, AUDIT_HEAD), "ATTESTOR_ROLE"),
    ("pause", lambda a: (), "PAUSER_ROLE"),
    ("unpause", lambda a: (), "PAUSER_ROLE"),
    ("pauseMinting", lambda a: (), "PAUSER_ROLE"),
    ("unpauseMinting", lambda a: (), "PAUSER_ROLE"),
    ("pauseRedemptions", lambda a: (), "PAUSER_ROLE"),
    ("unpauseRedemptions", lambda a: (), "PAUSER_ROLE"),
    ("freeze", lambda a: (a["alice"],), "COMPLIANCE_ROLE"),
    ("unfreeze", lambda a: (a["alice"],), "COMPLIANCE_ROLE"),
    ("wipeFrozen", lambda a: (a["alice"],), "COMPLIANCE_ROLE"),
    ("setAllowlistEnabled", lambda a: (True,), "COMPLIANCE_ROLE"),
    ("setAllowed", lambda a: (a["alice"], True), "COMPLIANCE_ROLE"),
    ("upgradeToAndCall", lambda a: (a["implementation"], b""), "UPGRADER_ROLE"),
]

# Callers that lack the role: a stranger, and a holder of some other role.
WRONG_CALLERS = {
    "DEFAULT_ADMIN_ROLE": ("stranger", "pauser", "minter"),
    "ATTESTOR_ROLE": ("stranger", "admin", "minter"),
    "PAUSER_ROLE": ("stranger", "admin", "compliance"),
    "COMPLIANCE_ROLE": ("stranger", "admin", "pauser"),
    "UPGRADER_ROLE": ("stranger", "admin", "attestor"),
}

CASES = [
    pytest.param(fn, args, role, caller, id=f"{fn}-{caller}")
    for fn, args, role in RESTRICTED
    for caller in WRONG_CALLERS[role]
]


@pytest.fixture
def named_accounts(token, admin, minter, pauser, compliance, attestor, upgrader, alice, stranger):
    return {
        "token": token,
        "admin": admin,
        "minter": minter,
        "pauser": pauser,
        "compliance": compliance,
        "attestor": attestor,
        "upgrader": upgrader,
        "alice": alice,
        "stranger": stranger,
        "implementation": token._test_implementation,
        "role": lambda name: getattr(token, name)(),
    }


@pytest.mark.parametrize("fn, args, role, caller", CASES)
def test_restrictedFunction_revertsForCallerWithoutRole(
    token, named_accounts, fn, args, role, caller, reverts
):
    account = named_accounts[caller]
    needed = getattr(token, role)()
    assert not token.hasRole(needed, account)
    with reverts(token.AccessControlUnauthorizedAccount, account=account, neededRole=needed):
        getattr(token, fn)(*args(named_accounts), sender=account)


def test_roleConstants_areKeccakOfTheirNames(token):
    assert token.DEFAULT_ADMIN_ROLE() == ZERO32
    for name in ROLE_NAMES:
        assert getattr(token, name)() == keccak(text=name), name


def test_roles_everyRoleIsAdministeredByTheAdminRole(token):
    for name in ROLE_NAMES + ("DEFAULT_ADMIN_ROLE",):
        assert token.getRoleAdmin(getattr(token, name)()) == ZERO32, name


def test_roles_fixtureHoldsEachRoleOnce(
    token, admin, minter, pauser, compliance, attestor, upgrader, stranger
):
    holders = {
        "DEFAULT_ADMIN_ROLE": admin,
        "MINTER_ROLE": minter,
        "PAUSER_ROLE": pauser,
        "COMPLIANCE_ROLE": compliance,
        "ATTESTOR_ROLE": attestor,
        "UPGRADER_ROLE": upgrader,
    }
    everyone = list(holders.values()) + [stranger]
    for name, holder in holders.items():
        role = getattr(token, name)()
        assert [a for a in everyone if token.hasRole(role, a)] == [holder], name


def test_grantAndRevokeRole_emitAndTakeEffect(token, admin, stranger, alice):
    role = token.PAUSER_ROLE()
    receipt = token.grantRole(role, stranger, sender=admin)
    assert token_events(receipt, token) == [ev("RoleGranted", role=role, account=stranger, sender=admin)]
    token.pause(sender=stranger)
    assert token.paused()
    receipt = token.revokeRole(role, stranger, sender=admin)
    assert token_events(receipt, token) == [ev("RoleRevoked", role=role, account=stranger, sender=admin)]
    assert not token.hasRole(role, stranger)


def test_renounceRole_onlyForOneself(token, pauser, stranger, reverts):
    role = token.PAUSER_ROLE()
    with reverts(token.AccessControlBadConfirmation):
        token.renounceRole(role, pauser, sender=stranger)
    token.renounceRole(role, pauser, sender=pauser)
    assert not token.hasRole(role, pauser)


# --------------------------------------------------------------------------------------------
# initialisation
# --------------------------------------------------------------------------------------------


def test_initialize_setsAdminAndMaxAgeAndEmits(project, chain, admin, stranger, deploy_implementation):
    impl = deploy_implementation(admin)
    proxy = project.USHKProxy.deploy(
        impl.address, impl.initialize.encode_input(stranger.address, 3600, 600), sender=admin
    )
    receipt = chain.get_receipt(proxy.txn_hash)
    token = project.USHK.at(proxy.address)
    assert token_events(receipt, token) == [
        ev("Upgraded", implementation=impl),
        ev("RoleGranted", role=ZERO32, account=stranger, sender=admin),
        ev("MaxAttestationAgeSet", oldMaxAge=0, newMaxAge=3600),
        ev("Initialized", version=1),
    ]
    assert token.hasRole(ZERO32, stranger)
    assert not token.hasRole(ZERO32, admin)
    assert token.maxAttestationAge() == 3600
    assert token.reserveAttestation().timestamp == 0
    # the one default admin, with the delay of its transfers
    assert token.defaultAdmin() == token.owner() == stranger.address
    assert token.defaultAdminDelay() == 600


def test_initialize_cannotBeCalledTwice(token, admin, stranger, reverts):
    with reverts(token.InvalidInitialization):
        token.initialize(stranger, DAY, 0, sender=stranger)
    with reverts(token.InvalidInitialization):
        token.initialize(admin, DAY, 0, sender=admin)
    assert not token.hasRole(ZERO32, stranger)


def test_initialize_cannotBeCalledOnImplementation(token, stranger, reverts):
    implementation = token._test_implementation
    with reverts(token.InvalidInitialization):
        implementation.initialize(stranger, DAY, 0, sender=stranger)
    assert not implementation.hasRole(ZERO32, stranger)


def test_initialize_revertsOnZeroAdmin(project, admin, deploy_implementation, reverts):
    impl = deploy_implementation(admin)
    with reverts("ZeroAddress"):
        project.USHKProxy.deploy(
            impl.address, impl.initialize.encode_input(ZERO_ADDRESS, DAY, 0), sender=admin
        )


def test_initialize_revertsOnZeroMaxAge(project, admin, deploy_implementation, reverts):
    impl = deploy_implementation(admin)
    with reverts("InvalidMaxAge"):
        project.USHKProxy.deploy(
            impl.address, impl.initialize.encode_input(admin.address, 0, 0), sender=admin
        )
