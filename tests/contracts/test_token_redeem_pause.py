"""Redemption and the three pauses (all movements, minting, redemptions)."""

import pytest

from token_helpers import (
    ALICE_FUNDS,
    AUDIT_HEAD,
    BOB_FUNDS,
    REPORT_HASH,
    USHK,
    ZERO32,
    ZERO_ADDRESS,
    b32,
    dep_id,
    ev,
    token_events,
)

PAYOUT = b32("bank-payout-ref-1")

# --------------------------------------------------------------------------------------------
# redeem
# --------------------------------------------------------------------------------------------


def test_redeem_burnsAndEmitsWithFirstIdOne(funded, alice):
    assert funded.redeem.call(100 * USHK, PAYOUT, sender=alice) == 1
    receipt = funded.redeem(100 * USHK, PAYOUT, sender=alice)
    assert token_events(receipt, funded) == [
        ev("Transfer", **{"from": alice, "to": ZERO_ADDRESS, "value": 100 * USHK}),
        ev("RedemptionRequested", redemptionId=1, holder=alice, amount=100 * USHK, payoutRef=PAYOUT),
    ]
    assert funded.balanceOf(alice) == ALICE_FUNDS - 100 * USHK
    assert funded.totalSupply() == ALICE_FUNDS + BOB_FUNDS - 100 * USHK
    assert funded.redemptionCount() == 1


def test_redeem_idsAreSequentialAcrossHolders(funded, alice, bob):
    ids = []
    for holder, amount in ((alice, 1), (bob, 2), (alice, 3)):
        expected_id = funded.redeem.call(amount, PAYOUT, sender=holder)
        receipt = funded.redeem(amount, PAYOUT, sender=holder)
        (log,) = receipt.decode_logs(funded.RedemptionRequested)
        assert log.redemptionId == expected_id
        assert log.holder == holder.address
        assert log.amount == amount
        ids.append(log.redemptionId)
    assert ids == [1, 2, 3]
    assert funded.redemptionCount() == 3
    assert funded.totalSupply() == ALICE_FUNDS + BOB_FUNDS - 6


def test_redeem_wholeBalance(funded, bob):
    funded.redeem(BOB_FUNDS, PAYOUT, sender=bob)
    assert funded.balanceOf(bob) == 0
    assert funded.totalSupply() == ALICE_FUNDS


def test_redeem_revertsOnZeroAmount(funded, alice, reverts):
    with reverts(funded.ZeroAmount):
        funded.redeem(0, PAYOUT, sender=alice)


def test_redeem_revertsOnZeroPayoutRef(funded, alice, reverts):
    with reverts(funded.InvalidPayoutRef):
        funded.redeem(1, ZERO32, sender=alice)


def test_redeem_revertsOnInsufficientBalance(funded, alice, carol, reverts):
    with reverts(funded.ERC20InsufficientBalance, sender=alice, balance=ALICE_FUNDS, needed=ALICE_FUNDS + 1):
        funded.redeem(ALICE_FUNDS + 1, PAYOUT, sender=alice)
    with reverts(funded.ERC20InsufficientBalance, sender=carol, balance=0, needed=1):
        funded.redeem(1, PAYOUT, sender=carol)
    assert funded.redemptionCount() == 0


def test_redeem_revertsWhenRedemptionsPaused(funded, pauser, alice, reverts):
    funded.pauseRedemptions(sender=pauser)
    with reverts(funded.RedemptionsArePaused):
        funded.redeem(1, PAYOUT, sender=alice)
    funded.unpauseRedemptions(sender=pauser)
    assert funded.redeem.call(1, PAYOUT, sender=alice) == 1


def test_redeem_revertsWhenPaused(funded, pauser, alice, reverts):
    funded.pause(sender=pauser)
    with reverts(funded.TokenPaused):
        funded.redeem(1, PAYOUT, sender=alice)


def test_redeem_revertsWhenFrozen(funded, compliance, alice, reverts):
    funded.freeze(alice, sender=compliance)
    with reverts(funded.AccountFrozen, account=alice):
        funded.redeem(1, PAYOUT, sender=alice)
    assert funded.balanceOf(alice) == ALICE_FUNDS


def test_redeem_failedRedemptionDoesNotUseAnId(funded, alice, bob, reverts):
    funded.redeem(1, PAYOUT, sender=alice)
    with reverts(funded.ERC20InsufficientBalance):
        funded.redeem(BOB_FUNDS + 1, PAYOUT, sender=bob)
    receipt = funded.redeem(1, PAYOUT, sender=bob)
    (log,) = receipt.decode_logs(funded.RedemptionRequested)
    assert log.redemptionId == 2


# --------------------------------------------------------------------------------------------
# pauses
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pause_fn, unpause_fn, flag, paused_event, unpaused_event",
    [
        ("pause", "unpause", "paused", "Paused", "Unpaused"),
        ("pauseMinting", "unpauseMinting", "mintingPaused", "MintingPaused", "MintingUnpaused"),
        (
            "pauseRedemptions",
            "unpauseRedemptions",
            "redemptionsPaused",
            "RedemptionsPaused",
            "RedemptionsUnpaused",
        ),
    ],
)
def test_pauses_setFlagAndEmitWithPauser(
    token, pauser, pause_fn, unpause_fn, flag, paused_event, unpaused_event
):
    flags = ("paused", "mintingPaused", "redemptionsPaused")
    receipt = getattr(token, pause_fn)(sender=pauser)
    assert token_events(receipt, token) == [ev(paused_event, account=pauser)]
    # exactly this flag is set
    assert {f: getattr(token, f)() for f in flags} == {f: f == flag for f in flags}
    receipt = getattr(token, unpause_fn)(sender=pauser)
    assert token_events(receipt, token) == [ev(unpaused_event, account=pauser)]
    assert not any(getattr(token, f)() for f in flags)


def test_pause_blocksTransferTransferFromApproveMintAndRedeem(
    funded, pauser, minter, alice, bob, carol, reverts
):
    funded.approve(bob, 10, sender=alice)
    funded.pause(sender=pauser)
    with reverts(funded.TokenPaused):
        funded.transfer(carol, 1, sender=alice)
    with reverts(funded.TokenPaused):
        funded.transferFrom(alice, carol, 1, sender=bob)
    with reverts(funded.TokenPaused):
        funded.approve(carol, 1, sender=alice)
    with reverts(funded.TokenPaused):
        funded.mint(alice, 1, dep_id(50), sender=minter)
    with reverts(funded.TokenPaused):
        funded.mintBatch([alice], [1], [dep_id(50)], sender=minter)
    with reverts(funded.TokenPaused):
        funded.redeem(1, PAYOUT, sender=alice)
    # (permit and EIP-3009 under pause: test_token_signatures.py)
    funded.unpause(sender=pauser)
    funded.transfer(carol, 1, sender=alice)
    funded.transferFrom(alice, carol, 1, sender=bob)
    assert funded.balanceOf(carol) == 2


def test_pause_isReportedBeforeMintingPause(funded, pauser, minter, alice, reverts):
    funded.pauseMinting(sender=pauser)
    funded.pause(sender=pauser)
    with reverts(funded.TokenPaused):
        funded.mint(alice, 1, dep_id(50), sender=minter)


def test_pause_leavesAdministrationComplianceAndAttestationWorking(
    funded, pauser, admin, compliance, attestor, alice, stranger
):
    funded.pause(sender=pauser)
    funded.attestReserves(5, REPORT_HASH, AUDIT_HEAD, sender=attestor)
    funded.configureMinter(stranger, 1, 1, sender=admin)
    funded.freeze(alice, sender=compliance)
    assert funded.wipeFrozen.call(alice, sender=compliance) == ALICE_FUNDS
    funded.wipeFrozen(alice, sender=compliance)
    assert funded.balanceOf(alice) == 0
    # the wipe lowered the ceiling by what it burned (to no less than zero)
    assert funded.reserveAttestation().amount == 0
    assert funded.isMinter(stranger)


def test_pauseMinting_blocksOnlyMinting(funded, pauser, minter, alice, bob, carol, reverts):
    funded.pauseMinting(sender=pauser)
    with reverts(funded.MintingIsPaused):
        funded.mint(alice, 1, dep_id(50), sender=minter)
    with reverts(funded.MintingIsPaused):
        funded.mintBatch([alice], [1], [dep_id(50)], sender=minter)
    funded.transfer(carol, 3, sender=alice)
    funded.approve(bob, 2, sender=alice)
    funded.transferFrom(alice, carol, 2, sender=bob)
    funded.redeem(1, PAYOUT, sender=carol)
    assert funded.balanceOf(carol) == 4
    assert funded.redemptionCount() == 1


def test_pauseRedemptions_blocksOnlyRedemptions(funded, pauser, minter, alice, bob, carol, reverts):
    funded.pauseRedemptions(sender=pauser)
    with reverts(funded.RedemptionsArePaused):
        funded.redeem(1, PAYOUT, sender=alice)
    funded.transfer(carol, 3, sender=alice)
    funded.approve(bob, 2, sender=alice)
    funded.transferFrom(alice, carol, 2, sender=bob)
    funded.mint(carol, 5, dep_id(50), sender=minter)
    funded.mintBatch([carol], [5], [dep_id(51)], sender=minter)
    assert funded.balanceOf(carol) == 15


def test_pause_isIdempotent(token, pauser):
    token.pause(sender=pauser)
    token.pause(sender=pauser)
    assert token.paused()
    token.unpause(sender=pauser)
    token.unpause(sender=pauser)
    assert not token.paused()
