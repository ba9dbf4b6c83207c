"""UPGRADER_ROLE held by the upgrade timelock (contracts/USHKTimelock.sol, OpenZeppelin's
TimelockController): an upgrade is scheduled, cannot run before the minimum delay, runs after it
(the clock moved with anvil's evm_increaseTime) with every piece of state kept, and can be
cancelled; no account upgrades directly. The scripts' side is tests/scripts/test_upgrade_script.py."""

import ape
import pytest
from eth_utils import keccak

from test_token_upgrade import implementation_of, state_of
from token_helpers import ZERO32, dep_id

DELAY = 3_600
SALT = keccak(text="upgrade salt")


def increase_time(chain, seconds: int) -> None:
    chain.provider.make_request("evm_increaseTime", [seconds])
    chain.provider.make_request("evm_mine", [])


@pytest.fixture
def v2_implementation(v2_container, admin):
    return v2_container.deploy(sender=admin)


@pytest.fixture
def timelocked(project, funded, admin, upgrader):
    """`funded` with UPGRADER_ROLE moved from `upgrader` to a timelock whose proposer, executor and
    canceller is the admin."""
    timelock = project.USHKTimelock.deploy(DELAY, [admin], [admin], "0x" + "00" * 20, sender=admin)
    funded.grantRole(funded.UPGRADER_ROLE(), timelock, sender=admin)
    funded.revokeRole(funded.UPGRADER_ROLE(), upgrader, sender=admin)
    return funded, timelock


def test_noAccountUpgradesDirectly(timelocked, v2_implementation, admin, upgrader, reverts):
    token, _timelock = timelocked
    for account in (admin, upgrader):
        with reverts(
            token.AccessControlUnauthorizedAccount, account=account, neededRole=token.UPGRADER_ROLE()
        ):
            token.upgradeToAndCall(v2_implementation, b"", sender=account)


def test_timelockedUpgrade_waitsTheDelayAndKeepsState(
    timelocked, v2_implementation, v2_container, chain, accounts, admin, stranger, alice
):
    token, timelock = timelocked
    everyone = list(accounts)
    before = state_of(token, everyone, [dep_id(1), dep_id(2), dep_id(3)], [ZERO32])
    payload = token.upgradeToAndCall.encode_input(v2_implementation, b"")
    with ape.reverts(timelock.AccessControlUnauthorizedAccount):  # no proposer
        timelock.schedule(token, 0, payload, ZERO32, SALT, DELAY, sender=stranger)
    with ape.reverts(timelock.TimelockInsufficientDelay):  # below the minimum
        timelock.schedule(token, 0, payload, ZERO32, SALT, DELAY - 1, sender=admin)
    timelock.schedule(token, 0, payload, ZERO32, SALT, DELAY, sender=admin)
    op_id = timelock.hashOperation(token, 0, payload, ZERO32, SALT)
    assert timelock.getTimestamp(op_id) == chain.blocks.head.timestamp + DELAY
    with ape.reverts(timelock.TimelockUnexpectedOperationState):  # before the delay
        timelock.execute(token, 0, payload, ZERO32, SALT, sender=admin)
    increase_time(chain, DELAY - 60)
    with ape.reverts(timelock.TimelockUnexpectedOperationState):
        timelock.execute(token, 0, payload, ZERO32, SALT, sender=admin)
    increase_time(chain, 61)
    with ape.reverts(timelock.AccessControlUnauthorizedAccount):  # no executor
        timelock.execute(token, 0, payload, ZERO32, SALT, sender=stranger)
    timelock.execute(token, 0, payload, ZERO32, SALT, sender=admin)
    assert implementation_of(chain, token) == v2_implementation.address
    assert timelock.isOperationDone(op_id)
    upgraded = ape.Contract(token.address, contract_type=v2_container.contract_type)
    assert upgraded.generation() == 2
    after = state_of(upgraded, everyone, [dep_id(1), dep_id(2), dep_id(3)], [ZERO32])
    assert after == before
    assert upgraded.defaultAdmin() == admin.address
    assert upgraded.balanceOf(alice) > 0


def test_timelockedUpgrade_canBeCancelled(timelocked, v2_implementation, chain, admin, stranger):
    token, timelock = timelocked
    old = implementation_of(chain, token)
    payload = token.upgradeToAndCall.encode_input(v2_implementation, b"")
    timelock.schedule(token, 0, payload, ZERO32, SALT, DELAY, sender=admin)
    op_id = timelock.hashOperation(token, 0, payload, ZERO32, SALT)
    with ape.reverts(timelock.AccessControlUnauthorizedAccount):  # no canceller
        timelock.cancel(op_id, sender=stranger)
    timelock.cancel(op_id, sender=admin)
    assert not timelock.isOperation(op_id)
    increase_time(chain, DELAY + 1)
    with ape.reverts(timelock.TimelockUnexpectedOperationState):
        timelock.execute(token, 0, payload, ZERO32, SALT, sender=admin)
    assert implementation_of(chain, token) == old
