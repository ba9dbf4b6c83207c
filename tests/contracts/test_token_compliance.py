"""Compliance: freezes, wiping frozen balances, allowlist mode; and rescueERC20."""

from token_helpers import (
    ALICE_FUNDS,
    BOB_FUNDS,
    MAX_UINT256,
    USHK,
    ZERO_ADDRESS,
    b32,
    dep_id,
    ev,
    token_events,
)

PAYOUT = b32("bank-payout-ref-1")

# --------------------------------------------------------------------------------------------
# freeze
# --------------------------------------------------------------------------------------------


def test_freeze_setsFlagAndEmits(funded, compliance, alice):
    receipt = funded.freeze(alice, sender=compliance)
    assert token_events(receipt, funded) == [ev("Frozen", account=alice)]
    assert funded.isFrozen(alice)
    receipt = funded.unfreeze(alice, sender=compliance)
    assert token_events(receipt, funded) == [ev("Unfrozen", account=alice)]
    assert not funded.isFrozen(alice)


def test_freeze_keepsBalance(funded, compliance, alice):
    funded.freeze(alice, sender=compliance)
    assert funded.balanceOf(alice) == ALICE_FUNDS
    assert funded.totalSupply() == ALICE_FUNDS + BOB_FUNDS


def test_freeze_revertsOnZeroAddress(funded, compliance, reverts):
    with reverts(funded.ZeroAddress):
        funded.freeze(ZERO_ADDRESS, sender=compliance)


def test_frozen_cannotSend(funded, compliance, alice, bob, reverts):
    funded.freeze(alice, sender=compliance)
    with reverts(funded.AccountFrozen, account=alice):
        funded.transfer(bob, 1, sender=alice)


def test_frozen_cannotReceive(funded, compliance, alice, bob, reverts):
    funded.freeze(bob, sender=compliance)
    with reverts(funded.AccountFrozen, account=bob):
        funded.transfer(bob, 1, sender=alice)
    assert funded.balanceOf(bob) == BOB_FUNDS


def test_frozen_cannotBeMintedTo(funded, compliance, minter, bob, reverts):
    funded.freeze(bob, sender=compliance)
    with reverts(funded.AccountFrozen, account=bob):
        funded.mint(bob, 1, dep_id(50), sender=minter)


def test_frozen_cannotApprove(funded, compliance, alice, bob, reverts):
    funded.freeze(alice, sender=compliance)
    with reverts(funded.AccountFrozen, account=alice):
        funded.approve(bob, 1, sender=alice)
    assert funded.allowance(alice, bob) == 0


def test_frozen_cannotBeApprovedAsSpender(funded, compliance, alice, bob, reverts):
    funded.freeze(bob, sender=compliance)
    with reverts(funded.AccountFrozen, account=bob):
        funded.approve(bob, 1, sender=alice)


def test_frozen_cannotSpendAsSpender(funded, compliance, alice, bob, carol, reverts):
    funded.approve(bob, 10, sender=alice)
    funded.freeze(bob, sender=compliance)
    with reverts(funded.AccountFrozen, account=bob):
        funded.transferFrom(alice, carol, 1, sender=bob)
    assert funded.allowance(alice, bob) == 10


def test_frozen_cannotBeSpentFrom(funded, compliance, alice, bob, carol, reverts):
    funded.approve(bob, MAX_UINT256, sender=alice)
    funded.freeze(alice, sender=compliance)
    with reverts(funded.AccountFrozen, account=alice):
        funded.transferFrom(alice, carol, 1, sender=bob)
    assert funded.balanceOf(alice) == ALICE_FUNDS


def test_frozen_cannotReceiveThroughTransferFrom(funded, compliance, alice, bob, carol, reverts):
    funded.approve(bob, 10, sender=alice)
    funded.freeze(carol, sender=compliance)
    with reverts(funded.AccountFrozen, account=carol):
        funded.transferFrom(alice, carol, 1, sender=bob)


def test_frozen_cannotRedeem(funded, compliance, alice, reverts):
    funded.freeze(alice, sender=compliance)
    with reverts(funded.AccountFrozen, account=alice):
        funded.redeem(1, PAYOUT, sender=alice)


def test_unfreeze_restoresEverything(funded, compliance, alice, bob):
    funded.freeze(alice, sender=compliance)
    funded.unfreeze(alice, sender=compliance)
    funded.transfer(bob, 1, sender=alice)
    funded.transfer(alice, 2, sender=bob)
    funded.approve(bob, 1, sender=alice)
    funded.redeem(1, PAYOUT, sender=alice)
    assert funded.balanceOf(alice) == ALICE_FUNDS + 1 - 1


# --------------------------------------------------------------------------------------------
# wipeFrozen
# --------------------------------------------------------------------------------------------


def test_wipeFrozen_burnsWholeBalanceAndEmits(funded, compliance, alice):
    funded.freeze(alice, sender=compliance)
    assert funded.wipeFrozen.call(alice, sender=compliance) == ALICE_FUNDS
    receipt = funded.wipeFrozen(alice, sender=compliance)
    assert token_events(receipt, funded) == [
        ev("FrozenBalanceWiped", account=alice, amount=ALICE_FUNDS),
        ev("Transfer", **{"from": alice, "to": ZERO_ADDRESS, "value": ALICE_FUNDS}),
    ]
    assert funded.balanceOf(alice) == 0
    assert funded.totalSupply() == BOB_FUNDS
    assert funded.isFrozen(alice)  # stays frozen


def test_wipeFrozen_ofEmptyFrozenAccountBurnsNothing(funded, compliance, carol):
    funded.freeze(carol, sender=compliance)
    receipt = funded.wipeFrozen(carol, sender=compliance)
    assert token_events(receipt, funded) == [
        ev("FrozenBalanceWiped", account=carol, amount=0),
        ev("Transfer", **{"from": carol, "to": ZERO_ADDRESS, "value": 0}),
    ]
    assert funded.totalSupply() == ALICE_FUNDS + BOB_FUNDS


def test_wipeFrozen_revertsWhenNotFrozen(funded, compliance, alice, reverts):
    with reverts(funded.NotFrozen, account=alice):
        funded.wipeFrozen(alice, sender=compliance)
    funded.freeze(alice, sender=compliance)
    funded.unfreeze(alice, sender=compliance)
    with reverts(funded.NotFrozen, account=alice):
        funded.wipeFrozen(alice, sender=compliance)
    assert funded.balanceOf(alice) == ALICE_FUNDS


def test_wipeFrozen_keepsAllowancesAndLeavesOthersAlone(funded, compliance, alice, bob):
    funded.approve(bob, 77, sender=alice)
    funded.freeze(alice, sender=compliance)
    funded.wipeFrozen(alice, sender=compliance)
    assert funded.balanceOf(bob) == BOB_FUNDS
    assert funded.allowance(alice, bob) == 77


# --------------------------------------------------------------------------------------------
# allowlist
# --------------------------------------------------------------------------------------------


def test_allowlist_settersEmit(funded, compliance, carol):
    receipt = funded.setAllowlistEnabled(True, sender=compliance)
    assert token_events(receipt, funded) == [ev("AllowlistEnabledSet", enabled=True)]
    assert funded.allowlistEnabled()
    receipt = funded.setAllowed(carol, True, sender=compliance)
    assert token_events(receipt, funded) == [ev("AllowedSet", account=carol, allowed=True)]
    assert funded.isAllowed(carol)
    receipt = funded.setAllowed(carol, False, sender=compliance)
    assert token_events(receipt, funded) == [ev("AllowedSet", account=carol, allowed=False)]
    assert not funded.isAllowed(carol)
    receipt = funded.setAllowlistEnabled(False, sender=compliance)
    assert token_events(receipt, funded) == [ev("AllowlistEnabledSet", enabled=False)]
    assert not funded.allowlistEnabled()


def test_setAllowed_revertsOnZeroAddress(funded, compliance, reverts):
    with reverts(funded.ZeroAddress):
        funded.setAllowed(ZERO_ADDRESS, True, sender=compliance)


def test_allowlist_offByDefaultEveryoneReceives(funded, alice, carol):
    assert not funded.isAllowed(carol)
    funded.transfer(carol, 1, sender=alice)
    assert funded.balanceOf(carol) == 1


def test_allowlist_onlyAllowedReceive(funded, compliance, alice, bob, carol, reverts):
    funded.setAllowlistEnabled(True, sender=compliance)
    funded.setAllowed(carol, True, sender=compliance)
    with reverts(funded.NotAllowlisted, account=bob):
        funded.transfer(bob, 1, sender=alice)
    # the sender need not be allowed, only the recipient
    funded.transfer(carol, 5, sender=alice)
    assert funded.balanceOf(carol) == 5


def test_allowlist_appliesToTransferFrom(funded, compliance, alice, bob, carol, reverts):
    funded.approve(bob, 10, sender=alice)
    funded.setAllowlistEnabled(True, sender=compliance)
    with reverts(funded.NotAllowlisted, account=carol):
        funded.transferFrom(alice, carol, 1, sender=bob)
    funded.setAllowed(carol, True, sender=compliance)
    funded.transferFrom(alice, carol, 1, sender=bob)
    assert funded.balanceOf(carol) == 1


def test_allowlist_appliesToMint(funded, compliance, minter, carol, reverts):
    funded.setAllowlistEnabled(True, sender=compliance)
    with reverts(funded.NotAllowlisted, account=carol):
        funded.mint(carol, 1, dep_id(50), sender=minter)
    funded.setAllowed(carol, True, sender=compliance)
    funded.mint(carol, 1, dep_id(50), sender=minter)
    assert funded.balanceOf(carol) == 1


def test_allowlist_doesNotBlockRedemption(funded, compliance, alice):
    funded.setAllowlistEnabled(True, sender=compliance)
    funded.redeem(1, PAYOUT, sender=alice)
    assert funded.balanceOf(alice) == ALICE_FUNDS - 1


def test_allowlist_removalAndDisabling(funded, compliance, alice, carol, reverts):
    funded.setAllowlistEnabled(True, sender=compliance)
    funded.setAllowed(carol, True, sender=compliance)
    funded.setAllowed(carol, False, sender=compliance)
    with reverts(funded.NotAllowlisted, account=carol):
        funded.transfer(carol, 1, sender=alice)
    funded.setAllowlistEnabled(False, sender=compliance)
    funded.transfer(carol, 1, sender=alice)
    assert funded.balanceOf(carol) == 1


def test_allowlist_frozenCheckComesFirst(funded, compliance, alice, carol, reverts):
    funded.setAllowlistEnabled(True, sender=compliance)
    funded.setAllowed(carol, True, sender=compliance)
    funded.freeze(carol, sender=compliance)
    with reverts(funded.AccountFrozen, account=carol):
        funded.transfer(carol, 1, sender=alice)


# --------------------------------------------------------------------------------------------
# rescueERC20
# --------------------------------------------------------------------------------------------


def test_rescueERC20_sendsOnForeignToken(funded, plain_erc20, admin, carol):
    other = plain_erc20.deploy(sender=admin)
    other.mint(funded.address, 100, sender=admin)
    receipt = funded.rescueERC20(other, carol, 40, sender=admin)
    assert token_events(receipt, funded) == [ev("TokensRescued", token=other, to=carol, amount=40)]
    (moved,) = receipt.decode_logs(other.Transfer)
    assert (moved.contract_address, moved["from"], moved.to, moved.value) == (
        other.address,
        funded.address,
        carol.address,
        40,
    )
    assert other.balanceOf(funded.address) == 60
    assert other.balanceOf(carol) == 40


def test_rescueERC20_revertsWhenForeignTransferFails(funded, plain_erc20, admin, carol, reverts):
    other = plain_erc20.deploy(sender=admin)
    other.mint(funded.address, 100, sender=admin)
    other.setFailTransfers(True, sender=admin)
    with reverts(funded.SafeERC20FailedOperation, token=other):
        funded.rescueERC20(other, carol, 40, sender=admin)
    assert other.balanceOf(funded.address) == 100


def test_rescueERC20_sendsOnUSHKHeldByTheToken(funded, admin, alice, carol):
    funded.transfer(funded.address, 10 * USHK, sender=alice)
    receipt = funded.rescueERC20(funded, carol, 10 * USHK, sender=admin)
    assert token_events(receipt, funded) == [
        ev("Transfer", **{"from": funded, "to": carol, "value": 10 * USHK}),
        ev("TokensRescued", token=funded, to=carol, amount=10 * USHK),
    ]
    assert funded.balanceOf(funded.address) == 0
    assert funded.balanceOf(carol) == 10 * USHK
    assert funded.totalSupply() == ALICE_FUNDS + BOB_FUNDS


def test_rescueERC20_ofUSHKRevertsAboveHolding(funded, admin, alice, carol, reverts):
    funded.transfer(funded.address, 10, sender=alice)
    with reverts(funded.ERC20InsufficientBalance, sender=funded, balance=10, needed=11):
        funded.rescueERC20(funded, carol, 11, sender=admin)


def test_rescueERC20_ofUSHKFollowsPauseAndFreeze(funded, admin, pauser, compliance, alice, carol, reverts):
    funded.transfer(funded.address, 10, sender=alice)
    funded.freeze(carol, sender=compliance)
    with reverts(funded.AccountFrozen, account=carol):
        funded.rescueERC20(funded, carol, 10, sender=admin)
    funded.pause(sender=pauser)
    with reverts(funded.TokenPaused):
        funded.rescueERC20(funded, alice, 10, sender=admin)


def test_rescueERC20_revertsToZeroAddress(funded, admin, plain_erc20, reverts):
    other = plain_erc20.deploy(sender=admin)
    with reverts(funded.ZeroAddress):
        funded.rescueERC20(other, ZERO_ADDRESS, 0, sender=admin)
