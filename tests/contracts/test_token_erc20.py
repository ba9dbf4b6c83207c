"""ERC-20 behaviour of USHK: metadata, transfer, approve, transferFrom, allowances."""

from token_helpers import ALICE_FUNDS, BOB_FUNDS, MAX_UINT256, USHK, ZERO_ADDRESS, ev, token_events


def test_metadata_isUSHKWithSixDecimals(token):
    assert token.name() == "USHK"
    assert token.symbol() == "USHK"
    assert token.decimals() == 6
    assert token.version() == "1"


def test_initialState_hasNoSupplyBalancesOrAllowances(token, alice, bob):
    assert token.totalSupply() == 0
    assert token.balanceOf(alice) == 0
    assert token.allowance(alice, bob) == 0
    assert token.redemptionCount() == 0
    assert not token.paused()
    assert not token.mintingPaused()
    assert not token.redemptionsPaused()
    assert not token.allowlistEnabled()


def test_supportsInterface_reportsAccessControlAndERC165(token):
    assert token.supportsInterface(bytes.fromhex("7965db0b"))  # IAccessControl
    assert token.supportsInterface(bytes.fromhex("01ffc9a7"))  # IERC165
    assert not token.supportsInterface(bytes.fromhex("ffffffff"))


def test_transfer_movesBalanceAndEmitsTransfer(funded, alice, carol):
    amount = 250 * USHK
    assert funded.transfer.call(carol, amount, sender=alice) is True
    receipt = funded.transfer(carol, amount, sender=alice)
    assert token_events(receipt, funded) == [ev("Transfer", **{"from": alice, "to": carol, "value": amount})]
    assert funded.balanceOf(alice) == ALICE_FUNDS - amount
    assert funded.balanceOf(carol) == amount
    assert funded.totalSupply() == ALICE_FUNDS + BOB_FUNDS


def test_transfer_wholeBalanceLeavesZero(funded, alice, bob):
    funded.transfer(bob, ALICE_FUNDS, sender=alice)
    assert funded.balanceOf(alice) == 0
    assert funded.balanceOf(bob) == ALICE_FUNDS + BOB_FUNDS


def test_transfer_zeroAmountIsAllowedAndEmits(funded, carol, alice):
    receipt = funded.transfer(alice, 0, sender=carol)
    assert token_events(receipt, funded) == [ev("Transfer", **{"from": carol, "to": alice, "value": 0})]
    assert funded.balanceOf(alice) == ALICE_FUNDS


def test_transfer_toSelfKeepsBalance(funded, alice):
    receipt = funded.transfer(alice, 100 * USHK, sender=alice)
    assert token_events(receipt, funded) == [
        ev("Transfer", **{"from": alice, "to": alice, "value": 100 * USHK})
    ]
    assert funded.balanceOf(alice) == ALICE_FUNDS
    assert funded.totalSupply() == ALICE_FUNDS + BOB_FUNDS


def test_transfer_revertsOnInsufficientBalance(funded, alice, carol, reverts):
    with reverts(funded.ERC20InsufficientBalance, sender=alice, balance=ALICE_FUNDS, needed=ALICE_FUNDS + 1):
        funded.transfer(carol, ALICE_FUNDS + 1, sender=alice)
    assert funded.balanceOf(alice) == ALICE_FUNDS


def test_transfer_revertsFromEmptyAccount(funded, carol, alice, reverts):
    with reverts(funded.ERC20InsufficientBalance, sender=carol, balance=0, needed=1):
        funded.transfer(alice, 1, sender=carol)


def test_transfer_revertsToZeroAddress(funded, alice, reverts):
    with reverts(funded.ERC20InvalidReceiver, receiver=ZERO_ADDRESS):
        funded.transfer(ZERO_ADDRESS, 1, sender=alice)


def test_approve_setsAllowanceAndEmitsApproval(funded, alice, bob):
    assert funded.approve.call(bob, 300 * USHK, sender=alice) is True
    receipt = funded.approve(bob, 300 * USHK, sender=alice)
    assert token_events(receipt, funded) == [ev("Approval", owner=alice, spender=bob, value=300 * USHK)]
    assert funded.allowance(alice, bob) == 300 * USHK
    assert funded.allowance(bob, alice) == 0


def test_approve_overwritesPreviousAllowance(funded, alice, bob):
    funded.approve(bob, 300 * USHK, sender=alice)
    funded.approve(bob, 7, sender=alice)
    assert funded.allowance(alice, bob) == 7
    funded.approve(bob, 0, sender=alice)
    assert funded.allowance(alice, bob) == 0


def test_approve_worksWithoutBalance(funded, carol, bob):
    funded.approve(bob, 5, sender=carol)
    assert funded.allowance(carol, bob) == 5


def test_approve_revertsForZeroSpender(funded, alice, reverts):
    with reverts(funded.ERC20InvalidSpender, spender=ZERO_ADDRESS):
        funded.approve(ZERO_ADDRESS, 1, sender=alice)


def test_transferFrom_spendsAllowanceAndMovesBalance(funded, alice, bob, carol):
    funded.approve(bob, 300 * USHK, sender=alice)
    assert funded.transferFrom.call(alice, carol, 100 * USHK, sender=bob) is True
    receipt = funded.transferFrom(alice, carol, 100 * USHK, sender=bob)
    # spending an allowance emits no Approval
    assert token_events(receipt, funded) == [
        ev("Transfer", **{"from": alice, "to": carol, "value": 100 * USHK})
    ]
    assert funded.allowance(alice, bob) == 200 * USHK
    assert funded.balanceOf(alice) == ALICE_FUNDS - 100 * USHK
    assert funded.balanceOf(carol) == 100 * USHK
    assert funded.balanceOf(bob) == BOB_FUNDS


def test_transferFrom_exactAllowanceLeavesZero(funded, alice, bob, carol):
    funded.approve(bob, 40, sender=alice)
    funded.transferFrom(alice, carol, 40, sender=bob)
    assert funded.allowance(alice, bob) == 0


def test_transferFrom_unlimitedAllowanceNeverDecreases(funded, alice, bob, carol):
    funded.approve(bob, MAX_UINT256, sender=alice)
    funded.transferFrom(alice, carol, 100 * USHK, sender=bob)
    funded.transferFrom(alice, bob, 1, sender=bob)
    assert funded.allowance(alice, bob) == MAX_UINT256
    assert funded.balanceOf(carol) == 100 * USHK


def test_transferFrom_allowanceJustBelowUnlimitedDecreases(funded, alice, bob, carol):
    funded.approve(bob, MAX_UINT256 - 1, sender=alice)
    funded.transferFrom(alice, carol, 5, sender=bob)
    assert funded.allowance(alice, bob) == MAX_UINT256 - 6


def test_transferFrom_revertsOnInsufficientAllowance(funded, alice, bob, carol, reverts):
    funded.approve(bob, 100, sender=alice)
    with reverts(funded.ERC20InsufficientAllowance, spender=bob, allowance=100, needed=101):
        funded.transferFrom(alice, carol, 101, sender=bob)
    assert funded.allowance(alice, bob) == 100
    assert funded.balanceOf(alice) == ALICE_FUNDS


def test_transferFrom_revertsWithoutAllowance(funded, alice, bob, carol, reverts):
    with reverts(funded.ERC20InsufficientAllowance, spender=carol, allowance=0, needed=1):
        funded.transferFrom(alice, bob, 1, sender=carol)


def test_transferFrom_ownerNeedsAllowanceToo(funded, alice, bob, reverts):
    with reverts(funded.ERC20InsufficientAllowance, spender=alice, allowance=0, needed=1):
        funded.transferFrom(alice, bob, 1, sender=alice)


def test_transferFrom_revertsOnInsufficientBalanceDespiteAllowance(funded, alice, bob, carol, reverts):
    funded.approve(bob, MAX_UINT256 - 1, sender=alice)
    with reverts(funded.ERC20InsufficientBalance, sender=alice, balance=ALICE_FUNDS, needed=ALICE_FUNDS + 1):
        funded.transferFrom(alice, carol, ALICE_FUNDS + 1, sender=bob)
    assert funded.allowance(alice, bob) == MAX_UINT256 - 1


def test_transferFrom_revertsToZeroAddress(funded, alice, bob, reverts):
    funded.approve(bob, 10, sender=alice)
    with reverts(funded.ERC20InvalidReceiver, receiver=ZERO_ADDRESS):
        funded.transferFrom(alice, ZERO_ADDRESS, 1, sender=bob)
    assert funded.allowance(alice, bob) == 10
