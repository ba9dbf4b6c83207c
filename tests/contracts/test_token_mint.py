"""Minting: mint, mintBatch, the deposit-id bitmap, minter management and reserve attestations."""

import pytest
from eth_utils import keccak

from token_helpers import (
    ALICE_FUNDS,
    AUDIT_HEAD,
    BOB_FUNDS,
    DAY,
    MAX_PER_MINT,
    MAX_UINT120,
    MAX_UINT128,
    MINTER_ALLOWANCE,
    REPORT_HASH,
    RESERVES,
    USHK,
    ZERO_ADDRESS,
    b32,
    dep_id,
    ev,
    token_events,
)


def minted(token, minter, to, amount, deposit):
    """The two events one mint (or batch item) emits, in order."""
    return [
        ev("Transfer", **{"from": ZERO_ADDRESS, "to": to, "value": amount}),
        ev("Minted", minter=minter, to=to, amount=amount, depositId=deposit),
    ]


# --------------------------------------------------------------------------------------------
# mint
# --------------------------------------------------------------------------------------------


def test_mint_creditsRecipientAndEmitsTransferAndMinted(token, minter, alice):
    receipt = token.mint(alice, 250 * USHK, dep_id(1), sender=minter)
    assert token_events(receipt, token) == minted(token, minter, alice, 250 * USHK, dep_id(1))
    assert token.balanceOf(alice) == 250 * USHK
    assert token.totalSupply() == 250 * USHK
    assert token.isDepositMinted(dep_id(1))
    assert token.minterAllowance(minter) == MINTER_ALLOWANCE - 250 * USHK
    assert token.minterMaxPerMint(minter) == MAX_PER_MINT


def test_mint_allowanceDecreasesWithEveryMint(token, minter, alice, bob):
    token.mint(alice, 3 * USHK, dep_id(1), sender=minter)
    token.mint(bob, 4 * USHK, dep_id(2), sender=minter)
    token.mint(alice, 5, dep_id(3), sender=minter)
    assert token.minterAllowance(minter) == MINTER_ALLOWANCE - 7 * USHK - 5
    assert token.totalSupply() == 7 * USHK + 5
    assert token.balanceOf(alice) == 3 * USHK + 5


def test_mint_revertsWhenNotMinter(token, stranger, admin, alice, reverts):
    with reverts(token.NotMinter, caller=stranger):
        token.mint(alice, 1, dep_id(1), sender=stranger)
    # the admin configures minters but is none itself
    with reverts(token.NotMinter, caller=admin):
        token.mint(alice, 1, dep_id(1), sender=admin)
    assert not token.isDepositMinted(dep_id(1))


def test_mint_revertsOnZeroAmount(token, minter, alice, reverts):
    with reverts(token.ZeroAmount):
        token.mint(alice, 0, dep_id(1), sender=minter)
    assert not token.isDepositMinted(dep_id(1))


def test_mint_atPerMintMaximumSucceeds(token, minter, alice):
    token.mint(alice, MAX_PER_MINT, dep_id(1), sender=minter)
    assert token.balanceOf(alice) == MAX_PER_MINT


def test_mint_revertsAbovePerMintMaximum(token, minter, alice, reverts):
    with reverts(token.MintAboveMaximum, amount=MAX_PER_MINT + 1, maxPerMint=MAX_PER_MINT):
        token.mint(alice, MAX_PER_MINT + 1, dep_id(1), sender=minter)


def test_mint_revertsWhenAllowanceExceeded(token, admin, minter, alice, reverts):
    token.configureMinter(minter, 5 * USHK, 10 * USHK, sender=admin)
    with reverts(token.MinterAllowanceExceeded, minter=minter, allowance=5 * USHK, amount=5 * USHK + 1):
        token.mint(alice, 5 * USHK + 1, dep_id(1), sender=minter)
    token.mint(alice, 5 * USHK, dep_id(1), sender=minter)
    assert token.minterAllowance(minter) == 0
    with reverts(token.MinterAllowanceExceeded, minter=minter, allowance=0, amount=1):
        token.mint(alice, 1, dep_id(2), sender=minter)


def test_mint_revertsOnRepeatedDepositId(token, minter, alice, bob, reverts):
    token.mint(alice, 10, dep_id(7), sender=minter)
    with reverts(token.DepositAlreadyMinted, depositId=dep_id(7)):
        token.mint(alice, 10, dep_id(7), sender=minter)
    # another recipient and amount do not make it a new deposit
    with reverts(token.DepositAlreadyMinted, depositId=dep_id(7)):
        token.mint(bob, 99, dep_id(7), sender=minter)
    assert token.totalSupply() == 10


def test_mint_depositIdIsRecordedOnlyOnSuccess(token, minter, alice, reverts):
    with reverts(token.MintAboveMaximum):
        token.mint(alice, MAX_PER_MINT + 1, dep_id(9), sender=minter)
    assert not token.isDepositMinted(dep_id(9))
    token.mint(alice, 1, dep_id(9), sender=minter)
    assert token.isDepositMinted(dep_id(9))


def test_isDepositMinted_marksExactlyOneBit(token, minter, alice):
    token.mint(alice, 1, dep_id(300), sender=minter)
    assert token.isDepositMinted(dep_id(300))
    for other in (299, 301, 300 - 256, 300 + 256, 44, 0):
        assert not token.isDepositMinted(dep_id(other)), other
    assert not token.isDepositMinted(b32(300))  # same low bits, other prefix


@pytest.mark.parametrize("seq", [0, 255, 256, 2**64 - 1])
def test_mint_wordBoundaryIdsAreIndependent(token, minter, alice, seq):
    token.mint(alice, 1, dep_id(seq), sender=minter)
    neighbours = [s for s in (seq - 1, seq + 1) if s >= 0]
    for s in neighbours:
        assert not token.isDepositMinted(dep_id(s))
        token.mint(alice, 1, dep_id(s), sender=minter)
        assert token.isDepositMinted(dep_id(s))
    assert token.totalSupply() == 1 + len(neighbours)


@pytest.mark.parametrize(
    "deposit",
    [b"\x00" * 31 + b"\x01", b"\xff" * 32, keccak(text="bank statement line 17")],
    ids=["one", "all-ones", "hash"],
)
def test_mint_anyNonzeroBytes32IsADepositId(token, minter, alice, deposit, reverts):
    token.mint(alice, 1, deposit, sender=minter)
    assert token.isDepositMinted(deposit)
    with reverts(token.DepositAlreadyMinted, depositId=deposit):
        token.mint(alice, 1, deposit, sender=minter)


def test_mint_revertsToZeroAddress(token, minter, reverts):
    with reverts(token.ERC20InvalidReceiver, receiver=ZERO_ADDRESS):
        token.mint(ZERO_ADDRESS, 1, dep_id(1), sender=minter)


def test_mint_revertsToFrozenRecipient(token, minter, compliance, alice, reverts):
    token.freeze(alice, sender=compliance)
    with reverts(token.AccountFrozen, account=alice):
        token.mint(alice, 1, dep_id(1), sender=minter)
    assert not token.isDepositMinted(dep_id(1))


def test_mint_inAllowlistModeOnlyToAllowed(token, minter, compliance, alice, bob, reverts):
    token.setAllowlistEnabled(True, sender=compliance)
    token.setAllowed(bob, True, sender=compliance)
    with reverts(token.NotAllowlisted, account=alice):
        token.mint(alice, 1, dep_id(1), sender=minter)
    token.mint(bob, 1, dep_id(1), sender=minter)
    assert token.balanceOf(bob) == 1


def test_mint_revertsWhenPaused(token, minter, pauser, alice, reverts):
    token.pause(sender=pauser)
    with reverts(token.TokenPaused):
        token.mint(alice, 1, dep_id(1), sender=minter)


def test_mint_revertsWhenMintingPaused(token, minter, pauser, alice, reverts):
    token.pauseMinting(sender=pauser)
    with reverts(token.MintingIsPaused):
        token.mint(alice, 1, dep_id(1), sender=minter)
    token.unpauseMinting(sender=pauser)
    token.mint(alice, 1, dep_id(1), sender=minter)
    assert token.balanceOf(alice) == 1


def test_mint_upToReserveCeilingSucceeds(token, attestor, minter, alice):
    token.attestReserves(100 * USHK, REPORT_HASH, AUDIT_HEAD, sender=attestor)
    token.mint(alice, 60 * USHK, dep_id(1), sender=minter)
    token.mint(alice, 40 * USHK, dep_id(2), sender=minter)
    assert token.totalSupply() == 100 * USHK


def test_mint_revertsAboveReserveCeiling(token, attestor, minter, alice, reverts):
    token.attestReserves(100 * USHK, REPORT_HASH, AUDIT_HEAD, sender=attestor)
    token.mint(alice, 100 * USHK, dep_id(1), sender=minter)
    with reverts(token.ReserveCeilingExceeded, supplyAfter=100 * USHK + 1, attested=100 * USHK):
        token.mint(alice, 1, dep_id(2), sender=minter)


def test_mint_ceilingCountsSupplyReducedByRedemptions(token, attestor, minter, alice):
    token.attestReserves(100 * USHK, REPORT_HASH, AUDIT_HEAD, sender=attestor)
    token.mint(alice, 100 * USHK, dep_id(1), sender=minter)
    token.redeem(30 * USHK, b32("payout"), sender=alice)
    token.mint(alice, 30 * USHK, dep_id(2), sender=minter)
    assert token.totalSupply() == 100 * USHK


def test_mint_attestationExactlyMaxAgeOldIsFresh(token, attestor, minter, alice, chain):
    t0 = chain.pending_timestamp + 100
    chain.pending_timestamp = t0
    token.attestReserves(RESERVES, REPORT_HASH, AUDIT_HEAD, sender=attestor)
    chain.pending_timestamp = t0 + DAY
    token.mint(alice, 1, dep_id(1), sender=minter)
    assert token.balanceOf(alice) == 1


def test_mint_revertsWhenAttestationTooOld(token, attestor, minter, alice, chain, reverts):
    t0 = chain.pending_timestamp + 100
    chain.pending_timestamp = t0
    token.attestReserves(RESERVES, REPORT_HASH, AUDIT_HEAD, sender=attestor)
    chain.pending_timestamp = t0 + DAY + 1
    with reverts(token.AttestationStale, attestedAt=t0, maxAge=DAY):
        token.mint(alice, 1, dep_id(1), sender=minter)
    # a new attestation makes minting possible again
    token.attestReserves(RESERVES, REPORT_HASH, AUDIT_HEAD, sender=attestor)
    token.mint(alice, 1, dep_id(1), sender=minter)
    assert token.balanceOf(alice) == 1


def test_mint_revertsWhenAttestationStaleAfterLongTimeTravel(token, minter, alice, chain, reverts):
    attested_at = token.reserveAttestation().timestamp
    chain.mine(deltatime=30 * DAY)
    with reverts(token.AttestationStale, attestedAt=attested_at, maxAge=DAY):
        token.mint(alice, 1, dep_id(1), sender=minter)


def test_mint_revertsWhenNeverAttested(deploy_token, admin, minter, alice, reverts):
    fresh = deploy_token(admin, minters={minter: (MINTER_ALLOWANCE, MAX_PER_MINT)})
    assert fresh.reserveAttestation().timestamp == 0
    with reverts(fresh.AttestationStale, attestedAt=0, maxAge=DAY):
        fresh.mint(alice, 1, dep_id(1), sender=minter)
    assert fresh.totalSupply() == 0
    assert not fresh.isDepositMinted(dep_id(1))


# --------------------------------------------------------------------------------------------
# mintBatch
# --------------------------------------------------------------------------------------------


def test_mintBatch_creditsEveryItemInOrder(token, minter, alice, bob, carol):
    ids = [dep_id(10), dep_id(11), dep_id(12)]
    amounts = [1 * USHK, 2 * USHK, 3 * USHK]
    receipt = token.mintBatch([alice, bob, carol], amounts, ids, sender=minter)
    expected = []
    for to, amount, deposit in zip([alice, bob, carol], amounts, ids, strict=True):
        expected += minted(token, minter, to, amount, deposit)
    assert token_events(receipt, token) == expected
    assert [token.balanceOf(a) for a in (alice, bob, carol)] == amounts
    assert token.totalSupply() == 6 * USHK
    assert token.minterAllowance(minter) == MINTER_ALLOWANCE - 6 * USHK
    assert all(token.isDepositMinted(d) for d in ids)


def test_mintBatch_sameRecipientSeveralTimes(token, minter, alice):
    token.mintBatch([alice, alice], [5, 7], [dep_id(1), dep_id(2)], sender=minter)
    assert token.balanceOf(alice) == 12


def test_mintBatch_idsAcrossBitmapWordsAreAllRecorded(token, minter, alice, reverts):
    # leaves word 0 for word 2 and comes back to it: the cached word must be written back
    seqs = [3, 600, 4, 255, 256, 511, 512, 2**40]
    token.mintBatch([alice] * len(seqs), [1] * len(seqs), [dep_id(s) for s in seqs], sender=minter)
    for s in seqs:
        assert token.isDepositMinted(dep_id(s)), s
    for s in (2, 5, 599, 601, 254, 257, 510, 513, 2**40 - 1, 2**40 + 1):
        assert not token.isDepositMinted(dep_id(s)), s
    for s in seqs:
        with reverts(token.DepositAlreadyMinted, depositId=dep_id(s)):
            token.mint(alice, 1, dep_id(s), sender=minter)
    assert token.totalSupply() == len(seqs)


def test_mintBatch_revertsOnDuplicateInsideBatch(token, minter, alice, bob, reverts):
    with reverts(token.DepositAlreadyMinted, depositId=dep_id(10)):
        token.mintBatch([alice, bob, alice], [1, 1, 1], [dep_id(10), dep_id(11), dep_id(10)], sender=minter)
    assert not token.isDepositMinted(dep_id(10))
    assert not token.isDepositMinted(dep_id(11))
    assert token.totalSupply() == 0


@pytest.mark.parametrize(
    "seqs, duplicate",
    [([10, 300, 10], 10), ([300, 10, 300], 300), ([10, 300, 5000, 10], 10), ([7, 7], 7)],
    ids=["back-to-first-word", "back-to-second-word", "three-words", "adjacent"],
)
def test_mintBatch_revertsOnDuplicateAcrossBitmapWords(token, minter, alice, seqs, duplicate, reverts):
    with reverts(token.DepositAlreadyMinted, depositId=dep_id(duplicate)):
        token.mintBatch([alice] * len(seqs), [1] * len(seqs), [dep_id(s) for s in seqs], sender=minter)
    assert not any(token.isDepositMinted(dep_id(s)) for s in seqs)


def test_mintBatch_revertsOnIdMintedBefore(token, minter, alice, reverts):
    token.mint(alice, 1, dep_id(700), sender=minter)
    with reverts(token.DepositAlreadyMinted, depositId=dep_id(700)):
        token.mintBatch([alice, alice], [1, 1], [dep_id(1), dep_id(700)], sender=minter)
    assert not token.isDepositMinted(dep_id(1))


@pytest.mark.parametrize(
    "n_to, n_amounts, n_ids",
    [(0, 0, 0), (2, 1, 2), (2, 2, 1), (1, 2, 2), (2, 2, 3)],
    ids=["empty", "short-amounts", "short-ids", "short-to", "long-ids"],
)
def test_mintBatch_revertsOnInvalidBatch(token, minter, alice, n_to, n_amounts, n_ids, reverts):
    with reverts(token.InvalidBatch):
        token.mintBatch([alice] * n_to, [1] * n_amounts, [dep_id(i) for i in range(n_ids)], sender=minter)


def test_mintBatch_allowanceAppliesToTheSum(token, admin, minter, alice, bob, reverts):
    token.configureMinter(minter, 10 * USHK, 6 * USHK, sender=admin)
    with reverts(token.MinterAllowanceExceeded, minter=minter, allowance=10 * USHK, amount=11 * USHK):
        token.mintBatch([alice, bob], [6 * USHK, 5 * USHK], [dep_id(1), dep_id(2)], sender=minter)
    token.mintBatch([alice, bob], [6 * USHK, 4 * USHK], [dep_id(1), dep_id(2)], sender=minter)
    assert token.minterAllowance(minter) == 0


def test_mintBatch_perMintMaximumAppliesToEachItem(token, admin, minter, alice, reverts):
    token.configureMinter(minter, 100 * USHK, 6 * USHK, sender=admin)
    with reverts(token.MintAboveMaximum, amount=6 * USHK + 1, maxPerMint=6 * USHK):
        token.mintBatch([alice, alice], [6 * USHK, 6 * USHK + 1], [dep_id(1), dep_id(2)], sender=minter)
    token.mintBatch([alice, alice], [6 * USHK, 6 * USHK], [dep_id(1), dep_id(2)], sender=minter)
    assert token.balanceOf(alice) == 12 * USHK


def test_mintBatch_revertsOnZeroAmountItem(token, minter, alice, reverts):
    with reverts(token.ZeroAmount):
        token.mintBatch([alice, alice], [1, 0], [dep_id(1), dep_id(2)], sender=minter)


def test_mintBatch_revertsOnZeroAddressItem(token, minter, alice, reverts):
    with reverts(token.ERC20InvalidReceiver, receiver=ZERO_ADDRESS):
        token.mintBatch([alice, ZERO_ADDRESS], [1, 1], [dep_id(1), dep_id(2)], sender=minter)


def test_mintBatch_revertsOnFrozenRecipientItem(token, minter, compliance, alice, bob, reverts):
    token.freeze(bob, sender=compliance)
    with reverts(token.AccountFrozen, account=bob):
        token.mintBatch([alice, bob], [1, 1], [dep_id(1), dep_id(2)], sender=minter)
    assert token.balanceOf(alice) == 0


def test_mintBatch_inAllowlistModeEveryRecipientMustBeAllowed(token, minter, compliance, alice, bob, reverts):
    token.setAllowlistEnabled(True, sender=compliance)
    token.setAllowed(alice, True, sender=compliance)
    with reverts(token.NotAllowlisted, account=bob):
        token.mintBatch([alice, bob], [1, 1], [dep_id(1), dep_id(2)], sender=minter)


def test_mintBatch_revertsAboveReserveCeilingOnTheSum(token, attestor, minter, alice, bob, reverts):
    token.attestReserves(10 * USHK, REPORT_HASH, AUDIT_HEAD, sender=attestor)
    with reverts(token.ReserveCeilingExceeded, supplyAfter=10 * USHK + 1, attested=10 * USHK):
        token.mintBatch([alice, bob], [5 * USHK, 5 * USHK + 1], [dep_id(1), dep_id(2)], sender=minter)
    token.mintBatch([alice, bob], [5 * USHK, 5 * USHK], [dep_id(1), dep_id(2)], sender=minter)
    assert token.totalSupply() == 10 * USHK


def test_mintBatch_revertsWhenNotMinter(token, stranger, alice, reverts):
    with reverts(token.NotMinter, caller=stranger):
        token.mintBatch([alice], [1], [dep_id(1)], sender=stranger)


def test_mintBatch_revertsWhenPaused(token, pauser, minter, alice, reverts):
    token.pause(sender=pauser)
    with reverts(token.TokenPaused):
        token.mintBatch([alice], [1], [dep_id(1)], sender=minter)


def test_mintBatch_revertsWhenMintingPaused(token, pauser, minter, alice, reverts):
    token.pauseMinting(sender=pauser)
    with reverts(token.MintingIsPaused):
        token.mintBatch([alice], [1], [dep_id(1)], sender=minter)


def test_mintBatch_revertsWhenAttestationStale(token, minter, alice, chain, reverts):
    attested_at = token.reserveAttestation().timestamp
    chain.mine(deltatime=DAY + 10)
    with reverts(token.AttestationStale, attestedAt=attested_at, maxAge=DAY):
        token.mintBatch([alice], [1], [dep_id(1)], sender=minter)


# --------------------------------------------------------------------------------------------
# minter management
# --------------------------------------------------------------------------------------------


def test_configureMinter_grantsRoleAndSetsLimits(token, admin, stranger):
    role = token.MINTER_ROLE()
    assert not token.hasRole(role, stranger)
    receipt = token.configureMinter(stranger, 70 * USHK, 20 * USHK, sender=admin)
    assert token_events(receipt, token) == [
        ev("RoleGranted", role=role, account=stranger, sender=admin),
        ev("MinterConfigured", minter=stranger, allowance=70 * USHK, maxPerMint=20 * USHK),
    ]
    assert token.hasRole(role, stranger)
    assert token.isMinter(stranger)
    assert token.minterAllowance(stranger) == 70 * USHK
    assert token.minterMaxPerMint(stranger) == 20 * USHK


def test_configureMinter_replacesPreviousConfiguration(token, admin, minter, alice):
    token.mint(alice, 5 * USHK, dep_id(1), sender=minter)
    receipt = token.configureMinter(minter, 8 * USHK, 2 * USHK, sender=admin)
    # already a minter: no second RoleGranted
    assert token_events(receipt, token) == [
        ev("MinterConfigured", minter=minter, allowance=8 * USHK, maxPerMint=2 * USHK)
    ]
    assert token.minterAllowance(minter) == 8 * USHK
    assert token.minterMaxPerMint(minter) == 2 * USHK


def test_configureMinter_acceptsLargestAmounts(token, admin, stranger):
    token.configureMinter(stranger, MAX_UINT128, MAX_UINT120, sender=admin)
    assert token.minterAllowance(stranger) == MAX_UINT128
    assert token.minterMaxPerMint(stranger) == MAX_UINT120


def test_configureMinter_revertsOnTooLargeAllowance(token, admin, stranger, reverts):
    with reverts(token.AmountTooLarge, amount=MAX_UINT128 + 1):
        token.configureMinter(stranger, MAX_UINT128 + 1, 1, sender=admin)


def test_configureMinter_revertsOnTooLargeMaxPerMint(token, admin, stranger, reverts):
    with reverts(token.AmountTooLarge, amount=MAX_UINT120 + 1):
        token.configureMinter(stranger, 1, MAX_UINT120 + 1, sender=admin)
    assert not token.isMinter(stranger)


def test_configureMinter_revertsOnZeroAddress(token, admin, reverts):
    with reverts(token.ZeroAddress):
        token.configureMinter(ZERO_ADDRESS, 1, 1, sender=admin)


def test_removeMinter_revokesRoleAndClearsConfiguration(token, admin, minter, alice, reverts):
    role = token.MINTER_ROLE()
    receipt = token.removeMinter(minter, sender=admin)
    assert token_events(receipt, token) == [
        ev("RoleRevoked", role=role, account=minter, sender=admin),
        ev("MinterRemoved", minter=minter),
    ]
    assert not token.hasRole(role, minter)
    assert not token.isMinter(minter)
    assert token.minterAllowance(minter) == 0
    assert token.minterMaxPerMint(minter) == 0
    with reverts(token.NotMinter, caller=minter):
        token.mint(alice, 1, dep_id(1), sender=minter)


def test_removeMinter_ofNonMinterDoesNothing(token, admin, stranger):
    receipt = token.removeMinter(stranger, sender=admin)
    assert token_events(receipt, token) == []
    assert not token.isMinter(stranger)


def test_revokeRole_minterClearsConfiguration(token, admin, minter, alice, reverts):
    role = token.MINTER_ROLE()
    receipt = token.revokeRole(role, minter, sender=admin)
    assert token_events(receipt, token) == [
        ev("RoleRevoked", role=role, account=minter, sender=admin),
        ev("MinterRemoved", minter=minter),
    ]
    assert not token.isMinter(minter)
    assert token.minterAllowance(minter) == 0
    assert token.minterMaxPerMint(minter) == 0
    with reverts(token.NotMinter, caller=minter):
        token.mint(alice, 1, dep_id(1), sender=minter)
    # granting the role back does not restore the old allowance
    token.grantRole(role, minter, sender=admin)
    assert token.isMinter(minter)
    assert token.minterAllowance(minter) == 0


def test_renounceRole_minterClearsConfiguration(token, minter):
    role = token.MINTER_ROLE()
    receipt = token.renounceRole(role, minter, sender=minter)
    assert token_events(receipt, token) == [
        ev("RoleRevoked", role=role, account=minter, sender=minter),
        ev("MinterRemoved", minter=minter),
    ]
    assert not token.isMinter(minter)
    assert token.minterAllowance(minter) == 0


def test_grantRole_minterDirectlyHasNoAllowance(token, admin, stranger, alice, reverts):
    role = token.MINTER_ROLE()
    receipt = token.grantRole(role, stranger, sender=admin)
    assert token_events(receipt, token) == [ev("RoleGranted", role=role, account=stranger, sender=admin)]
    assert token.isMinter(stranger)
    assert token.minterAllowance(stranger) == 0
    assert token.minterMaxPerMint(stranger) == 0
    # a minter with no configuration cannot mint anything: the per-mint maximum is zero
    with reverts(token.MintAboveMaximum, amount=1, maxPerMint=0):
        token.mint(alice, 1, dep_id(1), sender=stranger)
    token.configureMinter(stranger, 3, 3, sender=admin)
    token.mint(alice, 3, dep_id(1), sender=stranger)
    assert token.balanceOf(alice) == 3


def test_minters_haveSeparateAllowances(token, admin, minter, stranger, alice):
    token.configureMinter(stranger, 10, 10, sender=admin)
    token.mint(alice, 4, dep_id(1), sender=stranger)
    token.mint(alice, 6, dep_id(2), sender=minter)
    assert token.minterAllowance(stranger) == 6
    assert token.minterAllowance(minter) == MINTER_ALLOWANCE - 6


# --------------------------------------------------------------------------------------------
# reserve attestations
# --------------------------------------------------------------------------------------------


def test_attestReserves_recordsEverythingAndEmits(token, attestor, chain):
    report, head = b32("report-2026-11"), keccak(text="audit head")
    t = chain.pending_timestamp + 50
    chain.pending_timestamp = t
    receipt = token.attestReserves(123 * USHK, report, head, sender=attestor)
    assert receipt.timestamp == t
    assert token_events(receipt, token) == [
        ev(
            "ReservesAttested",
            attestor=attestor,
            amount=123 * USHK,
            reportHash=report,
            auditHead=head,
            timestamp=t,
        )
    ]
    attestation = token.reserveAttestation()
    assert attestation.amount == 123 * USHK
    assert attestation.timestamp == t
    assert attestation.reportHash == report
    assert attestation.auditHead == head


def test_attestReserves_belowSupplyIsAcceptedAndBlocksMints(funded, attestor, minter, alice, bob, reverts):
    supply = ALICE_FUNDS + BOB_FUNDS
    funded.attestReserves(supply - 1, REPORT_HASH, AUDIT_HEAD, sender=attestor)
    assert funded.reserveAttestation().amount == supply - 1
    with reverts(funded.ReserveCeilingExceeded, supplyAfter=supply + 1, attested=supply - 1):
        funded.mint(alice, 1, dep_id(100), sender=minter)
    # holders are not affected
    funded.transfer(bob, 1, sender=alice)
    funded.redeem(1, b32("payout"), sender=bob)
    assert funded.totalSupply() == supply - 1
    # a new, sufficient attestation lets minting go on
    funded.attestReserves(supply + 10, REPORT_HASH, AUDIT_HEAD, sender=attestor)
    funded.mint(alice, 11, dep_id(100), sender=minter)
    assert funded.totalSupply() == supply + 10


def test_attestReserves_acceptsZeroAndLargestAmount(token, attestor):
    token.attestReserves(0, REPORT_HASH, AUDIT_HEAD, sender=attestor)
    assert token.reserveAttestation().amount == 0
    token.attestReserves(MAX_UINT128, REPORT_HASH, AUDIT_HEAD, sender=attestor)
    assert token.reserveAttestation().amount == MAX_UINT128


def test_attestReserves_revertsOnTooLargeAmount(token, attestor, reverts):
    with reverts(token.AmountTooLarge, amount=MAX_UINT128 + 1):
        token.attestReserves(MAX_UINT128 + 1, REPORT_HASH, AUDIT_HEAD, sender=attestor)
    assert token.reserveAttestation().amount == RESERVES


def test_setMaxAttestationAge_changesStalenessAndEmits(token, admin, attestor, minter, alice, chain, reverts):
    receipt = token.setMaxAttestationAge(60, sender=admin)
    assert token_events(receipt, token) == [ev("MaxAttestationAgeSet", oldMaxAge=DAY, newMaxAge=60)]
    assert token.maxAttestationAge() == 60
    t0 = chain.pending_timestamp + 10
    chain.pending_timestamp = t0
    token.attestReserves(RESERVES, REPORT_HASH, AUDIT_HEAD, sender=attestor)
    chain.pending_timestamp = t0 + 60
    token.mint(alice, 1, dep_id(1), sender=minter)
    chain.pending_timestamp = t0 + 61
    with reverts(token.AttestationStale, attestedAt=t0, maxAge=60):
        token.mint(alice, 1, dep_id(2), sender=minter)
    # a longer age makes the same attestation fresh again
    token.setMaxAttestationAge(DAY, sender=admin)
    token.mint(alice, 1, dep_id(2), sender=minter)
    assert token.balanceOf(alice) == 2


def test_setMaxAttestationAge_revertsOnZero(token, admin, reverts):
    with reverts(token.InvalidMaxAge):
        token.setMaxAttestationAge(0, sender=admin)
    assert token.maxAttestationAge() == DAY
