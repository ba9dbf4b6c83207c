"""DEFAULT_ADMIN_ROLE under OpenZeppelin's AccessControlDefaultAdminRules (version 3): one holder,
the default admin, moved only in two steps (the admin begins a transfer, the new admin accepts it
once the admin delay has passed), never by grantRole or revokeRole. The delay is set at
initialisation; the clock is moved with anvil's evm_increaseTime."""

import pytest

from token_helpers import ZERO32, ZERO_ADDRESS, ev, token_events

HOUR = 3_600


def increase_time(chain, seconds: int) -> None:
    chain.provider.make_request("evm_increaseTime", [seconds])
    chain.provider.make_request("evm_mine", [])


@pytest.fixture
def ruled(deploy_token, admin, pauser, upgrader):
    """A token whose default admin transfers wait an hour."""
    return deploy_token(admin, admin_delay=HOUR, roles={"PAUSER_ROLE": pauser, "UPGRADER_ROLE": upgrader})


def test_defaultAdmin_isTheInitialAdminWithTheDelay(ruled, admin):
    assert ruled.defaultAdmin() == ruled.owner() == admin.address
    assert ruled.defaultAdminDelay() == HOUR
    assert tuple(ruled.pendingDefaultAdmin()) == (ZERO_ADDRESS, 0)
    assert ruled.hasRole(ZERO32, admin)


def test_grantAndRevokeRole_refuseTheAdminRole(ruled, admin, stranger, reverts):
    with reverts(ruled.AccessControlEnforcedDefaultAdminRules):
        ruled.grantRole(ZERO32, stranger, sender=admin)
    with reverts(ruled.AccessControlEnforcedDefaultAdminRules):
        ruled.revokeRole(ZERO32, admin, sender=admin)
    assert not ruled.hasRole(ZERO32, stranger)
    assert ruled.defaultAdmin() == admin.address
    # the other roles are granted and revoked as before
    ruled.grantRole(ruled.PAUSER_ROLE(), stranger, sender=admin)
    ruled.revokeRole(ruled.PAUSER_ROLE(), stranger, sender=admin)


def test_adminTransfer_twoSteps_acceptedOnlyAfterTheDelay(ruled, chain, admin, stranger, pauser, reverts):
    receipt = ruled.beginDefaultAdminTransfer(stranger, sender=admin)
    schedule = chain.blocks.head.timestamp + HOUR
    assert token_events(receipt, ruled) == [
        ev("DefaultAdminTransferScheduled", newAdmin=stranger, acceptSchedule=schedule)
    ]
    assert tuple(ruled.pendingDefaultAdmin()) == (stranger.address, schedule)
    # only the pending admin may accept, and only once the delay has passed
    with reverts(ruled.AccessControlInvalidDefaultAdmin, defaultAdmin=pauser):
        ruled.acceptDefaultAdminTransfer(sender=pauser)
    with reverts(ruled.AccessControlEnforcedDefaultAdminDelay, schedule=schedule):
        ruled.acceptDefaultAdminTransfer(sender=stranger)
    increase_time(chain, HOUR - 60)
    with reverts(ruled.AccessControlEnforcedDefaultAdminDelay, schedule=schedule):
        ruled.acceptDefaultAdminTransfer(sender=stranger)
    assert ruled.defaultAdmin() == admin.address  # still the admin meanwhile
    ruled.setMaxAttestationAge(120, sender=admin)
    increase_time(chain, 61)
    receipt = ruled.acceptDefaultAdminTransfer(sender=stranger)
    assert token_events(receipt, ruled) == [
        ev("RoleRevoked", role=ZERO32, account=admin, sender=stranger),
        ev("RoleGranted", role=ZERO32, account=stranger, sender=stranger),
    ]
    assert ruled.defaultAdmin() == ruled.owner() == stranger.address
    assert tuple(ruled.pendingDefaultAdmin()) == (ZERO_ADDRESS, 0)
    assert not ruled.hasRole(ZERO32, admin)
    with reverts(ruled.AccessControlUnauthorizedAccount, account=admin, neededRole=ZERO32):
        ruled.setMaxAttestationAge(60, sender=admin)
    ruled.setMaxAttestationAge(60, sender=stranger)
    assert ruled.maxAttestationAge() == 60


def test_adminTransfer_onlyTheAdminBeginsOrCancels(ruled, stranger, pauser, reverts):
    with reverts(ruled.AccessControlUnauthorizedAccount, account=pauser, neededRole=ZERO32):
        ruled.beginDefaultAdminTransfer(pauser, sender=pauser)
    with reverts(ruled.AccessControlUnauthorizedAccount, account=stranger, neededRole=ZERO32):
        ruled.cancelDefaultAdminTransfer(sender=stranger)


def test_adminTransfer_canceled_cannotBeAccepted(ruled, chain, admin, stranger, reverts):
    ruled.beginDefaultAdminTransfer(stranger, sender=admin)
    receipt = ruled.cancelDefaultAdminTransfer(sender=admin)
    assert token_events(receipt, ruled) == [ev("DefaultAdminTransferCanceled")]
    assert tuple(ruled.pendingDefaultAdmin()) == (ZERO_ADDRESS, 0)
    increase_time(chain, HOUR + 1)
    with reverts(ruled.AccessControlInvalidDefaultAdmin, defaultAdmin=stranger):
        ruled.acceptDefaultAdminTransfer(sender=stranger)
    assert ruled.defaultAdmin() == admin.address


def test_adminTransfer_aNewBeginReplacesThePendingOne(ruled, chain, admin, stranger, pauser, reverts):
    ruled.beginDefaultAdminTransfer(stranger, sender=admin)
    receipt = ruled.beginDefaultAdminTransfer(pauser, sender=admin)
    names = [name for name, _args in token_events(receipt, ruled)]
    assert names == ["DefaultAdminTransferCanceled", "DefaultAdminTransferScheduled"]
    increase_time(chain, HOUR + 1)
    with reverts(ruled.AccessControlInvalidDefaultAdmin, defaultAdmin=stranger):
        ruled.acceptDefaultAdminTransfer(sender=stranger)
    ruled.acceptDefaultAdminTransfer(sender=pauser)
    assert ruled.defaultAdmin() == pauser.address


def test_renounceAdminRole_onlyAfterAScheduledTransferToNobody(ruled, chain, admin, reverts):
    with reverts(ruled.AccessControlEnforcedDefaultAdminDelay, schedule=0):
        ruled.renounceRole(ZERO32, admin, sender=admin)
    ruled.beginDefaultAdminTransfer(ZERO_ADDRESS, sender=admin)
    _new, schedule = ruled.pendingDefaultAdmin()
    with reverts(ruled.AccessControlEnforcedDefaultAdminDelay, schedule=schedule):
        ruled.renounceRole(ZERO32, admin, sender=admin)
    increase_time(chain, HOUR + 1)
    ruled.renounceRole(ZERO32, admin, sender=admin)
    assert ruled.defaultAdmin() == ZERO_ADDRESS and not ruled.hasRole(ZERO32, admin)


def test_adminDelay_changeWaitsAndCanBeRolledBack(ruled, chain, admin, reverts):
    # a shorter delay takes effect after the difference, a longer one after min(new, 5 days)
    receipt = ruled.changeDefaultAdminDelay(HOUR // 2, sender=admin)
    schedule = chain.blocks.head.timestamp + HOUR // 2
    assert token_events(receipt, ruled) == [
        ev("DefaultAdminDelayChangeScheduled", newDelay=HOUR // 2, effectSchedule=schedule)
    ]
    assert tuple(ruled.pendingDefaultAdminDelay()) == (HOUR // 2, schedule)
    receipt = ruled.rollbackDefaultAdminDelay(sender=admin)
    assert token_events(receipt, ruled) == [ev("DefaultAdminDelayChangeCanceled")]
    assert ruled.defaultAdminDelay() == HOUR
    assert ruled.defaultAdminDelayIncreaseWait() == 5 * 86_400


def test_initializeAdminRules_refusedOnAFreshToken(ruled, admin, upgrader, stranger, reverts):
    # a token initialised by version 3 has its default admin already
    with reverts(ruled.AccessControlUnauthorizedAccount, account=stranger, neededRole=ruled.UPGRADER_ROLE()):
        ruled.initializeAdminRules(stranger, 0, sender=stranger)
    with reverts(ruled.AccessControlEnforcedDefaultAdminRules):
        ruled.initializeAdminRules(admin, 0, sender=upgrader)
    with reverts(ruled.AccessControlUnauthorizedAccount, account=stranger, neededRole=ZERO32):
        ruled.initializeAdminRules(stranger, 0, sender=upgrader)
    assert ruled.defaultAdminDelay() == HOUR
