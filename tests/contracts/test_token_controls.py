"""Issue 13's controls on the token: no address holds MINTER_ROLE and ATTESTOR_ROLE together, the
per-minter rate limit (a token bucket), ERC-1271 signatures through the `bytes signature`
overloads, and the small fixes (unfreeze of the zero address, cancelAuthorization while paused,
wipeFrozen lowering the ceiling, the indexed reportHash)."""

import pytest
from ape.contracts import ContractContainer
from eth_account import Account
from eth_utils import keccak

from token_helpers import (
    ALICE_FUNDS,
    AUDIT_HEAD,
    MAX_PER_MINT,
    MAX_UINT256,
    MINTER_ALLOWANCE,
    REPORT_HASH,
    RESERVES,
    USHK,
    ZERO_ADDRESS,
    addr,
    authorization_message,
    b32,
    cancel_message,
    dep_id,
    ev,
    permit_message,
    sign,
    token_events,
)

NONCE = keccak(text="controls nonce")
CAPACITY = 1_000 * USHK
REFILL = 10 * USHK  # a second


def packed(sig) -> bytes:
    """r, s, v: the 65-byte signature SignatureChecker and ERC-1271 wallets take."""
    v, r, s = sig.vrs()
    return r + s + bytes([v])


# --------------------------------------------------------------------------------------------
# MINTER_ROLE and ATTESTOR_ROLE apart
# --------------------------------------------------------------------------------------------


def test_grantRole_refusesMinterRoleToAnAttestor(token, admin, attestor, reverts):
    with reverts(
        token.RolesConflict, account=attestor, role=token.MINTER_ROLE(), heldRole=token.ATTESTOR_ROLE()
    ):
        token.grantRole(token.MINTER_ROLE(), attestor, sender=admin)
    assert not token.isMinter(attestor)


def test_grantRole_refusesAttestorRoleToAMinter(token, admin, minter, reverts):
    with reverts(
        token.RolesConflict, account=minter, role=token.ATTESTOR_ROLE(), heldRole=token.MINTER_ROLE()
    ):
        token.grantRole(token.ATTESTOR_ROLE(), minter, sender=admin)
    assert not token.hasRole(token.ATTESTOR_ROLE(), minter)


def test_configureMinter_refusesAnAttestor(token, admin, attestor, reverts):
    with reverts(
        token.RolesConflict, account=attestor, role=token.MINTER_ROLE(), heldRole=token.ATTESTOR_ROLE()
    ):
        token.configureMinter(attestor, 10, 10, sender=admin)
    assert token.minterAllowance(attestor) == 0


def test_rolesConflict_endsWithTheRole(token, admin, minter, attestor, stranger):
    """A removed minter may become an attestor, and a former attestor a minter."""
    token.removeMinter(minter, sender=admin)
    token.grantRole(token.ATTESTOR_ROLE(), minter, sender=admin)
    token.revokeRole(token.ATTESTOR_ROLE(), attestor, sender=admin)
    token.configureMinter(attestor, 5, 5, sender=admin)
    assert token.isMinter(attestor) and token.hasRole(token.ATTESTOR_ROLE(), minter)
    # other roles combine freely with either
    token.grantRole(token.PAUSER_ROLE(), attestor, sender=admin)
    token.grantRole(token.ANCHOR_ROLE(), minter, sender=admin)


# --------------------------------------------------------------------------------------------
# rate limit
# --------------------------------------------------------------------------------------------


def test_setMinterRateLimit_setsAFullBucketAndEmits(token, admin, minter, chain):
    assert tuple(token.minterRateLimit(minter)) == (0, 0, 0)
    assert token.mintCapacity(minter) == MINTER_ALLOWANCE
    receipt = token.setMinterRateLimit(minter, CAPACITY, REFILL, sender=admin)
    assert token_events(receipt, token) == [
        ev("MinterRateLimitSet", minter=minter, capacity=CAPACITY, refillPerSecond=REFILL)
    ]
    assert tuple(token.minterRateLimit(minter)) == (CAPACITY, REFILL, CAPACITY)
    assert token.mintCapacity(minter) == CAPACITY


def test_setMinterRateLimit_isAdminOnlyAndChecksRanges(token, admin, minter, stranger, reverts):
    with reverts(token.AccessControlUnauthorizedAccount, account=stranger, neededRole=b"\x00" * 32):
        token.setMinterRateLimit(minter, CAPACITY, REFILL, sender=stranger)
    with reverts(token.ZeroAddress):
        token.setMinterRateLimit(ZERO_ADDRESS, CAPACITY, REFILL, sender=admin)
    with reverts(token.AmountTooLarge, amount=2**80):
        token.setMinterRateLimit(minter, 2**80, REFILL, sender=admin)
    with reverts(token.AmountTooLarge, amount=2**56):
        token.setMinterRateLimit(minter, CAPACITY, 2**56, sender=admin)
    token.setMinterRateLimit(minter, 2**80 - 1, 2**56 - 1, sender=admin)
    assert token.minterRateLimit(minter)[:2] == (2**80 - 1, 2**56 - 1)


def test_mint_spendsTheBucketAndRevertsNamingWhatIsAvailable(token, admin, minter, alice, chain, reverts):
    token.setMinterRateLimit(minter, CAPACITY, REFILL, sender=admin)
    t0 = chain.pending_timestamp
    chain.pending_timestamp = t0
    token.mint(alice, 600 * USHK, dep_id(1), sender=minter)
    # the same second: 400 left
    chain.pending_timestamp = t0 + 1
    with reverts(token.MintRateLimitExceeded, minter=minter, available=410 * USHK, amount=411 * USHK):
        token.mint(alice, 411 * USHK, dep_id(2), sender=minter)
    chain.pending_timestamp = t0 + 1
    token.mint(alice, 410 * USHK, dep_id(2), sender=minter)
    assert token.minterRateLimit(minter)[2] == 0
    assert token.minterAllowance(minter) == MINTER_ALLOWANCE - 1_010 * USHK
    # refills at REFILL a second, never above the capacity
    chain.mine(timestamp=t0 + 11)
    assert token.minterRateLimit(minter)[2] == 100 * USHK
    assert token.mintCapacity(minter) == 100 * USHK
    chain.mine(timestamp=t0 + 10_000)
    assert token.minterRateLimit(minter)[2] == CAPACITY


def test_mintBatch_spendsTheBucketForItsSum(token, admin, minter, alice, bob, chain, reverts):
    token.setMinterRateLimit(minter, CAPACITY, 0, sender=admin)
    with reverts(token.MintRateLimitExceeded, minter=minter, available=CAPACITY, amount=CAPACITY + 1):
        token.mintBatch([alice, bob], [CAPACITY, 1], [dep_id(1), dep_id(2)], sender=minter)
    token.mintBatch([alice, bob], [CAPACITY - 1, 1], [dep_id(1), dep_id(2)], sender=minter)
    assert token.mintCapacity(minter) == 0
    with reverts(token.MintRateLimitExceeded, minter=minter, available=0, amount=1):
        token.mint(alice, 1, dep_id(3), sender=minter)


def test_mintCapacity_isTheLesserOfAllowanceAndBucket(token, admin, minter, stranger):
    token.setMinterRateLimit(minter, CAPACITY, REFILL, sender=admin)
    token.configureMinter(minter, 7, MAX_PER_MINT, sender=admin)
    assert token.mintCapacity(minter) == 7
    # a non-minter can mint nothing, whatever its limit says
    token.setMinterRateLimit(stranger, CAPACITY, REFILL, sender=admin)
    assert token.mintCapacity(stranger) == 0


def test_rateLimit_capacityZeroRemovesIt(token, admin, minter, alice):
    token.setMinterRateLimit(minter, 1, 0, sender=admin)
    token.setMinterRateLimit(minter, 0, 0, sender=admin)
    token.mint(alice, MAX_PER_MINT, dep_id(1), sender=minter)
    assert token.mintCapacity(minter) == MINTER_ALLOWANCE - MAX_PER_MINT


def test_rateLimit_outlivesRemovalOfTheMinter(token, admin, minter, alice, reverts):
    token.setMinterRateLimit(minter, 5, 0, sender=admin)
    token.removeMinter(minter, sender=admin)
    token.configureMinter(minter, MINTER_ALLOWANCE, MAX_PER_MINT, sender=admin)
    assert token.mintCapacity(minter) == 5
    with reverts(token.MintRateLimitExceeded, minter=minter, available=5, amount=6):
        token.mint(alice, 6, dep_id(1), sender=minter)


def test_rateLimit_appliesPerMinter(token, admin, minter, stranger, alice):
    token.configureMinter(stranger, MINTER_ALLOWANCE, MAX_PER_MINT, sender=admin)
    token.setMinterRateLimit(minter, 1, 0, sender=admin)
    token.mint(alice, MAX_PER_MINT, dep_id(1), sender=stranger)
    token.mint(alice, 1, dep_id(2), sender=minter)
    assert token.mintCapacity(minter) == 0
    assert token.mintCapacity(stranger) == MINTER_ALLOWANCE - MAX_PER_MINT


# --------------------------------------------------------------------------------------------
# small fixes
# --------------------------------------------------------------------------------------------


def test_unfreeze_revertsOnZeroAddress(funded, compliance, reverts):
    with reverts(funded.ZeroAddress):
        funded.unfreeze(ZERO_ADDRESS, sender=compliance)


def test_cancelAuthorization_refusedWhilePaused(funded, chain_id, alice, pauser, stranger, reverts):
    sig = sign(alice.private_key, cancel_message(chain_id, funded, alice, NONCE))
    funded.pause(sender=pauser)
    with reverts(funded.TokenPaused):
        funded.cancelAuthorization(alice, NONCE, *sig.vrs(), sender=stranger)
    with reverts(funded.TokenPaused):
        funded.cancelAuthorization(alice, NONCE, packed(sig), sender=stranger)
    funded.unpause(sender=pauser)
    funded.cancelAuthorization(alice, NONCE, *sig.vrs(), sender=stranger)
    assert funded.authorizationState(alice, NONCE)


def test_wipeFrozen_lowersTheCeilingByTheWipedAmount(funded, compliance, alice):
    funded.freeze(alice, sender=compliance)
    before = funded.reserveAttestation()
    funded.wipeFrozen(alice, sender=compliance)
    after = funded.reserveAttestation()
    assert after.amount == RESERVES - ALICE_FUNDS
    # the attestation's time, report and head are those of the attestation
    assert (after.timestamp, after.reportHash, after.auditHead) == (
        before.timestamp,
        before.reportHash,
        before.auditHead,
    )


def test_wipeFrozen_lowersTheCeilingToNoLessThanZero(funded, attestor, compliance, alice):
    funded.attestReserves(ALICE_FUNDS - 1, REPORT_HASH, AUDIT_HEAD, sender=attestor)
    funded.freeze(alice, sender=compliance)
    assert funded.wipeFrozen.call(alice, sender=compliance) == ALICE_FUNDS
    funded.wipeFrozen(alice, sender=compliance)
    assert funded.reserveAttestation().amount == 0


def test_reservesAttested_indexesTheReportHash(token, attestor):
    report = b32("report-indexed")
    receipt = token.attestReserves(5, report, AUDIT_HEAD, sender=attestor)
    (log,) = [entry for entry in receipt.logs if addr(entry["address"]) == addr(token)]
    topics = [bytes(t) for t in log["topics"]]
    signature = "ReservesAttested(address,uint256,bytes32,bytes32,uint64)"
    assert topics[0] == keccak(text=signature)
    assert topics[2] == report


def test_erc20Errors_areERC6093s(token):
    """The selectors wallets know (ERC-6093); USHK's own InsufficientBalance is gone."""
    names = {item.name: item.selector for item in token.contract_type.errors}
    assert "InsufficientBalance" not in names and "InsufficientAllowance" not in names
    assert bytes.fromhex(
        keccak(text="ERC20InsufficientBalance(address,uint256,uint256)")[:4].hex()
    ) == bytes.fromhex("e450d38c")
    for name in (
        "ERC20InsufficientBalance",
        "ERC20InsufficientAllowance",
        "ERC20InvalidSender",
        "ERC20InvalidReceiver",
        "ERC20InvalidApprover",
        "ERC20InvalidSpender",
    ):
        assert name in names


def test_transferFrom_fromTheZeroAddressIsRefused(funded, bob, carol, reverts):
    with reverts(funded.ERC20InvalidSender, sender=ZERO_ADDRESS):
        funded.transferFrom(ZERO_ADDRESS, carol, 0, sender=bob)


# --------------------------------------------------------------------------------------------
# ERC-1271: the bytes-signature overloads
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def wallet_container(project, compilers):
    """contracts/test/ERC1271Wallet.sol (compiled here when ape's file limit leaves it out)."""
    try:
        return project.ERC1271Wallet
    except AttributeError:
        path = project.path / "contracts" / "test" / "ERC1271Wallet.sol"
        (contract_type,) = [
            ct for ct in compilers.compile([path], project=project) if ct.name == "ERC1271Wallet"
        ]
        return ContractContainer(contract_type)


@pytest.fixture
def owner_key():
    return Account.from_key(keccak(text="USHK wallet owner"))


@pytest.fixture
def wallet(wallet_container, funded, owner_key, alice):
    """An ERC-1271 wallet of `owner_key` holding 100 USHK."""
    w = wallet_container.deploy(owner_key.address, sender=alice)
    funded.transfer(w, 100 * USHK, sender=alice)
    return w


def test_permit_bytes_acceptsAWalletSignature(funded, chain_id, wallet, owner_key, bob, stranger):
    sig = sign(owner_key.key, permit_message(chain_id, funded, wallet, bob, 30 * USHK, 0, MAX_UINT256))
    receipt = funded.permit(wallet, bob, 30 * USHK, MAX_UINT256, packed(sig), sender=stranger)
    assert token_events(receipt, funded) == [ev("Approval", owner=wallet, spender=bob, value=30 * USHK)]
    assert funded.nonces(wallet) == 1
    funded.transferFrom(wallet, bob, 30 * USHK, sender=bob)
    assert funded.balanceOf(bob) > 30 * USHK


def test_permit_bytes_refusesAnotherKeyAndAReplay(
    funded, chain_id, wallet, owner_key, alice, bob, stranger, reverts
):
    wrong = sign(alice.private_key, permit_message(chain_id, funded, wallet, bob, 1, 0, MAX_UINT256))
    with reverts(funded.InvalidSignature):
        funded.permit(wallet, bob, 1, MAX_UINT256, packed(wrong), sender=stranger)
    sig = sign(owner_key.key, permit_message(chain_id, funded, wallet, bob, 1, 0, MAX_UINT256))
    funded.permit(wallet, bob, 1, MAX_UINT256, packed(sig), sender=stranger)
    with reverts(funded.InvalidSignature):
        funded.permit(wallet, bob, 1, MAX_UINT256, packed(sig), sender=stranger)


def test_permit_vrs_staysECDSAOnly(funded, chain_id, wallet, owner_key, bob, stranger, reverts):
    """The (v, r, s) functions recover an EOA: a wallet signs through the bytes overloads."""
    sig = sign(owner_key.key, permit_message(chain_id, funded, wallet, bob, 1, 0, MAX_UINT256))
    with reverts(funded.InvalidSignature):
        funded.permit(wallet, bob, 1, MAX_UINT256, *sig.vrs(), sender=stranger)


def test_permit_bytes_acceptsAnEOASignature(funded, chain_id, alice, bob, stranger):
    sig = sign(alice.private_key, permit_message(chain_id, funded, alice, bob, 9, 0, MAX_UINT256))
    funded.permit(alice, bob, 9, MAX_UINT256, packed(sig), sender=stranger)
    assert funded.allowance(alice, bob) == 9


def test_permit_bytes_refusesBadLengthAndDeadline(funded, chain_id, alice, bob, stranger, chain, reverts):
    sig = sign(alice.private_key, permit_message(chain_id, funded, alice, bob, 9, 0, MAX_UINT256))
    with reverts(funded.InvalidSignature):
        funded.permit(alice, bob, 9, MAX_UINT256, packed(sig)[:64], sender=stranger)
    deadline = chain.pending_timestamp - 1
    sig = sign(alice.private_key, permit_message(chain_id, funded, alice, bob, 9, 0, deadline))
    with reverts(funded.PermitExpired, deadline=deadline):
        funded.permit(alice, bob, 9, deadline, packed(sig), sender=stranger)


def test_transferWithAuthorization_bytes_fromAWallet(
    funded, chain_id, wallet, owner_key, carol, stranger, reverts
):
    msg = authorization_message(
        "TransferWithAuthorization", chain_id, funded, wallet, carol, 40 * USHK, 0, MAX_UINT256, NONCE
    )
    sig = packed(sign(owner_key.key, msg))
    receipt = funded.transferWithAuthorization(
        wallet, carol, 40 * USHK, 0, MAX_UINT256, NONCE, sig, sender=stranger
    )
    assert token_events(receipt, funded) == [
        ev("AuthorizationUsed", authorizer=wallet, nonce=NONCE),
        ev("Transfer", **{"from": addr(wallet), "to": addr(carol), "value": 40 * USHK}),
    ]
    assert funded.balanceOf(carol) == 40 * USHK
    with reverts(funded.AuthorizationAlreadyUsed, authorizer=wallet, nonce=NONCE):
        funded.transferWithAuthorization(
            wallet, carol, 40 * USHK, 0, MAX_UINT256, NONCE, sig, sender=stranger
        )


def test_transferWithAuthorization_bytes_refusesAnotherKey(
    funded, chain_id, wallet, alice, carol, stranger, reverts
):
    msg = authorization_message(
        "TransferWithAuthorization", chain_id, funded, wallet, carol, 1, 0, MAX_UINT256, NONCE
    )
    with reverts(funded.InvalidSignature):
        funded.transferWithAuthorization(
            wallet, carol, 1, 0, MAX_UINT256, NONCE, packed(sign(alice.private_key, msg)), sender=stranger
        )
    assert not funded.authorizationState(wallet, NONCE)


def test_receiveWithAuthorization_bytes_fromAWallet(
    funded, chain_id, wallet, owner_key, carol, stranger, reverts
):
    msg = authorization_message(
        "ReceiveWithAuthorization", chain_id, funded, wallet, carol, 7, 0, MAX_UINT256, NONCE
    )
    sig = packed(sign(owner_key.key, msg))
    with reverts(funded.CallerNotPayee, caller=stranger, payee=carol):
        funded.receiveWithAuthorization(wallet, carol, 7, 0, MAX_UINT256, NONCE, sig, sender=stranger)
    funded.receiveWithAuthorization(wallet, carol, 7, 0, MAX_UINT256, NONCE, sig, sender=carol)
    assert funded.balanceOf(carol) == 7
    assert funded.authorizationState(wallet, NONCE)


def test_receiveWithAuthorization_bytes_fromAnEOA(funded, chain_id, alice, carol):
    msg = authorization_message(
        "ReceiveWithAuthorization", chain_id, funded, alice, carol, 3, 0, MAX_UINT256, NONCE
    )
    funded.receiveWithAuthorization(
        alice, carol, 3, 0, MAX_UINT256, NONCE, packed(sign(alice.private_key, msg)), sender=carol
    )
    assert funded.balanceOf(carol) == 3


def test_cancelAuthorization_bytes_byAWallet(
    funded, chain_id, wallet, owner_key, alice, carol, stranger, reverts
):
    with reverts(funded.InvalidSignature):
        funded.cancelAuthorization(
            wallet,
            NONCE,
            packed(sign(alice.private_key, cancel_message(chain_id, funded, wallet, NONCE))),
            sender=stranger,
        )
    sig = packed(sign(owner_key.key, cancel_message(chain_id, funded, wallet, NONCE)))
    receipt = funded.cancelAuthorization(wallet, NONCE, sig, sender=stranger)
    assert token_events(receipt, funded) == [ev("AuthorizationCanceled", authorizer=wallet, nonce=NONCE)]
    msg = authorization_message(
        "TransferWithAuthorization", chain_id, funded, wallet, carol, 1, 0, MAX_UINT256, NONCE
    )
    with reverts(funded.AuthorizationAlreadyUsed, authorizer=wallet, nonce=NONCE):
        funded.transferWithAuthorization(
            wallet, carol, 1, 0, MAX_UINT256, NONCE, packed(sign(owner_key.key, msg)), sender=stranger
        )
