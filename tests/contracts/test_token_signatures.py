"""EIP-712 signatures: the domain, EIP-2612 permit and EIP-3009 authorizations, with real
signatures made by eth-account's typed-data signing."""

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from token_helpers import (
    ALICE_FUNDS,
    MAX_UINT256,
    USHK,
    ZERO32,
    ZERO_ADDRESS,
    addr,
    authorization_message,
    cancel_message,
    ev,
    permit_message,
    sign,
    token_events,
)

#: secp256k1 group order, to build the high-s twin of a signature
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

NONCE_A = keccak(text="authorization nonce A")
NONCE_B = keccak(text="authorization nonce B")


@pytest.fixture
def signer(funded, alice):
    """An off-chain key (no ETH, no role) holding 100 USHK."""
    account = Account.from_key(keccak(text="USHK test signer"))
    funded.transfer(account.address, 100 * USHK, sender=alice)
    return account


@pytest.fixture
def now(chain):
    """Fixes the timestamp of the next block and returns it."""
    t = chain.pending_timestamp + 30
    chain.pending_timestamp = t
    return t


def high_s(sig):
    """The same signature with s' = n - s and the other v: valid for ecrecover, refused by ECDSA."""
    s = SECP256K1_N - int.from_bytes(sig.s, "big")
    return (55 - sig.v, sig.r, s.to_bytes(32, "big"))


# --------------------------------------------------------------------------------------------
# domain and typehashes
# --------------------------------------------------------------------------------------------


def test_typehashes_matchTheStandardStrings(token):
    assert token.PERMIT_TYPEHASH() == keccak(
        text="Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"
    )
    assert token.TRANSFER_WITH_AUTHORIZATION_TYPEHASH() == keccak(
        text="TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,"
        "uint256 validBefore,bytes32 nonce)"
    )
    assert token.RECEIVE_WITH_AUTHORIZATION_TYPEHASH() == keccak(
        text="ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,"
        "uint256 validBefore,bytes32 nonce)"
    )
    assert token.CANCEL_AUTHORIZATION_TYPEHASH() == keccak(
        text="CancelAuthorization(address authorizer,bytes32 nonce)"
    )


def test_domainSeparator_matchesIndependentComputation(token, chain_id):
    expected = keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                keccak(
                    text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
                ),
                keccak(text="USHK"),
                keccak(text="1"),
                chain_id,
                token.address,
            ],
        )
    )
    assert token.DOMAIN_SEPARATOR() == expected
    # and eth-account's EIP-712 encoder agrees (the signable message's header is the domain hash)
    message = permit_message(chain_id, token, token, token, 0, 0, 0)
    assert encode_typed_data(full_message=message).header == expected


def test_domainSeparator_differsPerProxy(token, funded):
    assert token.DOMAIN_SEPARATOR() != funded.DOMAIN_SEPARATOR()


def test_eip712Domain_describesTheDomain(token, chain_id):
    domain = token.eip712Domain()
    assert domain.fields == bytes([0x0F])  # name, version, chainId, verifyingContract
    assert domain.name_ == "USHK"
    assert domain.version_ == "1"
    assert domain.chainId == chain_id
    assert domain.verifyingContract == token.address
    assert domain.salt == ZERO32
    assert list(domain.extensions) == []


# --------------------------------------------------------------------------------------------
# permit
# --------------------------------------------------------------------------------------------


def test_permit_setsAllowanceWithOwnersSignature(funded, chain_id, alice, bob, carol, stranger):
    assert funded.nonces(alice) == 0
    sig = sign(alice.private_key, permit_message(chain_id, funded, alice, bob, 300, 0, MAX_UINT256))
    receipt = funded.permit(alice, bob, 300, MAX_UINT256, *sig.vrs(), sender=stranger)
    assert token_events(receipt, funded) == [ev("Approval", owner=alice, spender=bob, value=300)]
    assert funded.allowance(alice, bob) == 300
    assert funded.nonces(alice) == 1
    assert funded.nonces(bob) == 0
    funded.transferFrom(alice, carol, 300, sender=bob)
    assert funded.balanceOf(carol) == 300


def test_permit_offChainKeyNeedsNoGas(funded, chain_id, signer, bob, stranger):
    sig = sign(signer.key, permit_message(chain_id, funded, signer.address, bob, MAX_UINT256, 0, MAX_UINT256))
    funded.permit(signer.address, bob, MAX_UINT256, MAX_UINT256, *sig.vrs(), sender=stranger)
    assert funded.allowance(signer.address, bob) == MAX_UINT256


def test_permit_noncesIncreasePerOwner(funded, chain_id, alice, bob, stranger):
    for nonce in range(3):
        sig = sign(
            alice.private_key, permit_message(chain_id, funded, alice, bob, nonce + 1, nonce, MAX_UINT256)
        )
        funded.permit(alice, bob, nonce + 1, MAX_UINT256, *sig.vrs(), sender=stranger)
    assert funded.nonces(alice) == 3
    assert funded.allowance(alice, bob) == 3
    # bob's nonce space is his own
    sig = sign(bob.private_key, permit_message(chain_id, funded, bob, alice, 9, 0, MAX_UINT256))
    funded.permit(bob, alice, 9, MAX_UINT256, *sig.vrs(), sender=stranger)
    assert funded.nonces(bob) == 1


def test_permit_replayRevertsInvalidSignature(funded, chain_id, alice, bob, stranger, reverts):
    sig = sign(alice.private_key, permit_message(chain_id, funded, alice, bob, 300, 0, MAX_UINT256))
    funded.permit(alice, bob, 300, MAX_UINT256, *sig.vrs(), sender=stranger)
    funded.approve(bob, 0, sender=alice)
    with reverts(funded.InvalidSignature):
        funded.permit(alice, bob, 300, MAX_UINT256, *sig.vrs(), sender=stranger)
    assert funded.allowance(alice, bob) == 0
    assert funded.nonces(alice) == 1


def test_permit_signatureForAFutureNonceReverts(funded, chain_id, alice, bob, stranger, reverts):
    sig = sign(alice.private_key, permit_message(chain_id, funded, alice, bob, 300, 1, MAX_UINT256))
    with reverts(funded.InvalidSignature):
        funded.permit(alice, bob, 300, MAX_UINT256, *sig.vrs(), sender=stranger)


def test_permit_deadlineIsInclusive(funded, chain_id, alice, bob, stranger, now):
    sig = sign(alice.private_key, permit_message(chain_id, funded, alice, bob, 5, 0, now))
    funded.permit(alice, bob, 5, now, *sig.vrs(), sender=stranger)
    assert funded.allowance(alice, bob) == 5


def test_permit_revertsWhenExpired(funded, chain_id, alice, bob, stranger, now, reverts):
    deadline = now - 1
    sig = sign(alice.private_key, permit_message(chain_id, funded, alice, bob, 5, 0, deadline))
    with reverts(funded.PermitExpired, deadline=deadline):
        funded.permit(alice, bob, 5, deadline, *sig.vrs(), sender=stranger)
    assert funded.nonces(alice) == 0


def test_permit_revertsForWrongSigner(funded, chain_id, alice, bob, stranger, reverts):
    sig = sign(bob.private_key, permit_message(chain_id, funded, alice, bob, 5, 0, MAX_UINT256))
    with reverts(funded.InvalidSignature):
        funded.permit(alice, bob, 5, MAX_UINT256, *sig.vrs(), sender=stranger)


@pytest.mark.parametrize("field", ["value", "spender", "deadline", "owner"])
def test_permit_revertsForTamperedMessage(funded, chain_id, alice, bob, carol, stranger, field, reverts):
    sig = sign(alice.private_key, permit_message(chain_id, funded, alice, bob, 5, 0, MAX_UINT256))
    args = {"owner": alice, "spender": bob, "value": 5, "deadline": MAX_UINT256}
    args[field] = {"value": 6, "spender": carol, "deadline": MAX_UINT256 - 1, "owner": carol}[field]
    with reverts(funded.InvalidSignature):
        funded.permit(
            args["owner"], args["spender"], args["value"], args["deadline"], *sig.vrs(), sender=stranger
        )


@pytest.mark.parametrize(
    "domain_change",
    [{"name": "USHK2"}, {"version": "2"}, {"chain_id": 1}, {"verifying": "other"}],
    ids=["name", "version", "chainId", "verifyingContract"],
)
def test_permit_revertsForSignatureOverOtherDomain(
    funded, token, chain_id, alice, bob, stranger, domain_change, reverts
):
    message = permit_message(
        domain_change.get("chain_id", chain_id),
        token if domain_change.get("verifying") else funded,
        alice,
        bob,
        5,
        0,
        MAX_UINT256,
        **{k: v for k, v in domain_change.items() if k in ("name", "version")},
    )
    sig = sign(alice.private_key, message)
    with reverts(funded.InvalidSignature):
        funded.permit(alice, bob, 5, MAX_UINT256, *sig.vrs(), sender=stranger)


def test_permit_revertsForHighSOrBadV(funded, chain_id, alice, bob, stranger, reverts):
    sig = sign(alice.private_key, permit_message(chain_id, funded, alice, bob, 5, 0, MAX_UINT256))
    with reverts(funded.InvalidSignature):
        funded.permit(alice, bob, 5, MAX_UINT256, *high_s(sig), sender=stranger)
    with reverts(funded.InvalidSignature):
        funded.permit(alice, bob, 5, MAX_UINT256, 29, sig.r, sig.s, sender=stranger)
    # the untouched signature still works
    funded.permit(alice, bob, 5, MAX_UINT256, *sig.vrs(), sender=stranger)
    assert funded.allowance(alice, bob) == 5


def test_permit_revertsForZeroOwner(funded, stranger, bob, reverts):
    with reverts(funded.ERC20InvalidApprover, approver=ZERO_ADDRESS):
        funded.permit(ZERO_ADDRESS, bob, 5, MAX_UINT256, 27, b"\x01" * 32, b"\x01" * 32, sender=stranger)


def test_permit_revertsForZeroSpender(funded, chain_id, alice, stranger, reverts):
    sig = sign(alice.private_key, permit_message(chain_id, funded, alice, ZERO_ADDRESS, 5, 0, MAX_UINT256))
    with reverts(funded.ERC20InvalidSpender, spender=ZERO_ADDRESS):
        funded.permit(alice, ZERO_ADDRESS, 5, MAX_UINT256, *sig.vrs(), sender=stranger)


def test_permit_revertsWhenPaused(funded, chain_id, pauser, alice, bob, stranger, reverts):
    sig = sign(alice.private_key, permit_message(chain_id, funded, alice, bob, 5, 0, MAX_UINT256))
    funded.pause(sender=pauser)
    with reverts(funded.TokenPaused):
        funded.permit(alice, bob, 5, MAX_UINT256, *sig.vrs(), sender=stranger)
    funded.unpause(sender=pauser)
    funded.permit(alice, bob, 5, MAX_UINT256, *sig.vrs(), sender=stranger)
    assert funded.allowance(alice, bob) == 5


def test_permit_revertsForFrozenOwner(funded, chain_id, compliance, alice, bob, stranger, reverts):
    sig = sign(alice.private_key, permit_message(chain_id, funded, alice, bob, 5, 0, MAX_UINT256))
    funded.freeze(alice, sender=compliance)
    with reverts(funded.AccountFrozen, account=alice):
        funded.permit(alice, bob, 5, MAX_UINT256, *sig.vrs(), sender=stranger)


def test_permit_revertsForFrozenSpender(funded, chain_id, compliance, alice, bob, stranger, reverts):
    sig = sign(alice.private_key, permit_message(chain_id, funded, alice, bob, 5, 0, MAX_UINT256))
    funded.freeze(bob, sender=compliance)
    with reverts(funded.AccountFrozen, account=bob):
        funded.permit(alice, bob, 5, MAX_UINT256, *sig.vrs(), sender=stranger)
    assert funded.nonces(alice) == 0


# --------------------------------------------------------------------------------------------
# EIP-3009
# --------------------------------------------------------------------------------------------


def auth(primary, chain_id, token, key, from_, to, value, after=0, before=MAX_UINT256, nonce=NONCE_A):
    sig = sign(key, authorization_message(primary, chain_id, token, from_, to, value, after, before, nonce))
    return (addr(from_), addr(to), value, after, before, nonce, *sig.vrs())


def test_transferWithAuthorization_movesFundsForAnyRelayer(funded, chain_id, signer, carol, stranger):
    args = auth("TransferWithAuthorization", chain_id, funded, signer.key, signer.address, carol, 40 * USHK)
    assert not funded.authorizationState(signer.address, NONCE_A)
    receipt = funded.transferWithAuthorization(*args, sender=stranger)
    assert token_events(receipt, funded) == [
        ev("AuthorizationUsed", authorizer=signer.address, nonce=NONCE_A),
        ev("Transfer", **{"from": signer.address, "to": carol, "value": 40 * USHK}),
    ]
    assert funded.authorizationState(signer.address, NONCE_A)
    assert funded.balanceOf(signer.address) == 60 * USHK
    assert funded.balanceOf(carol) == 40 * USHK
    # EIP-3009 nonces are separate from permit nonces
    assert funded.nonces(signer.address) == 0


def test_transferWithAuthorization_replayReverts(funded, chain_id, alice, carol, stranger, reverts):
    args = auth("TransferWithAuthorization", chain_id, funded, alice.private_key, alice, carol, 1)
    funded.transferWithAuthorization(*args, sender=stranger)
    with reverts(funded.AuthorizationAlreadyUsed, authorizer=alice, nonce=NONCE_A):
        funded.transferWithAuthorization(*args, sender=stranger)
    assert funded.balanceOf(carol) == 1


def test_transferWithAuthorization_noncesArePerAuthorizer(funded, chain_id, alice, bob, carol, stranger):
    funded.transferWithAuthorization(
        *auth("TransferWithAuthorization", chain_id, funded, alice.private_key, alice, carol, 1),
        sender=stranger,
    )
    funded.transferWithAuthorization(
        *auth("TransferWithAuthorization", chain_id, funded, bob.private_key, bob, carol, 2), sender=stranger
    )
    funded.transferWithAuthorization(
        *auth(
            "TransferWithAuthorization", chain_id, funded, alice.private_key, alice, carol, 4, nonce=NONCE_B
        ),
        sender=stranger,
    )
    assert funded.balanceOf(carol) == 7
    assert funded.authorizationState(bob, NONCE_A)
    assert not funded.authorizationState(bob, NONCE_B)


def test_transferWithAuthorization_windowBoundaries(funded, chain_id, alice, carol, stranger, chain, reverts):
    t = chain.pending_timestamp + 30
    chain.pending_timestamp = t
    args = auth(
        "TransferWithAuthorization",
        chain_id,
        funded,
        alice.private_key,
        alice,
        carol,
        1,
        after=t,
        before=t + 10,
    )
    with reverts(funded.AuthorizationNotYetValid, validAfter=t):
        funded.transferWithAuthorization(*args, sender=stranger)
    # valid strictly after validAfter and strictly before validBefore
    chain.pending_timestamp = t + 1
    funded.transferWithAuthorization(*args, sender=stranger)
    args = auth(
        "TransferWithAuthorization",
        chain_id,
        funded,
        alice.private_key,
        alice,
        carol,
        2,
        after=0,
        before=t + 3,
        nonce=NONCE_B,
    )
    chain.pending_timestamp = t + 3
    with reverts(funded.AuthorizationExpired, validBefore=t + 3):
        funded.transferWithAuthorization(*args, sender=stranger)
    assert funded.balanceOf(carol) == 1
    assert not funded.authorizationState(alice, NONCE_B)


def test_transferWithAuthorization_lastValidSecond(funded, chain_id, alice, carol, stranger, now):
    args = auth(
        "TransferWithAuthorization",
        chain_id,
        funded,
        alice.private_key,
        alice,
        carol,
        1,
        after=now - 1,
        before=now + 1,
    )
    funded.transferWithAuthorization(*args, sender=stranger)
    assert funded.balanceOf(carol) == 1


def test_transferWithAuthorization_revertsLongExpired(funded, chain_id, alice, carol, stranger, now, reverts):
    args = auth(
        "TransferWithAuthorization", chain_id, funded, alice.private_key, alice, carol, 1, before=now - 100
    )
    with reverts(funded.AuthorizationExpired, validBefore=now - 100):
        funded.transferWithAuthorization(*args, sender=stranger)


def test_transferWithAuthorization_revertsForWrongSigner(
    funded, chain_id, alice, bob, carol, stranger, reverts
):
    args = auth("TransferWithAuthorization", chain_id, funded, bob.private_key, alice, carol, 1)
    with reverts(funded.InvalidSignature):
        funded.transferWithAuthorization(*args, sender=stranger)
    assert not funded.authorizationState(alice, NONCE_A)


@pytest.mark.parametrize(
    "index, replacement",
    [(1, "bob"), (2, 2), (3, 1), (4, MAX_UINT256 - 1), (5, NONCE_B)],
    ids=["to", "value", "validAfter", "validBefore", "nonce"],
)
def test_transferWithAuthorization_revertsForTamperedMessage(
    funded, chain_id, alice, bob, carol, stranger, index, replacement, reverts
):
    args = list(auth("TransferWithAuthorization", chain_id, funded, alice.private_key, alice, carol, 1))
    args[index] = bob.address if replacement == "bob" else replacement
    with reverts(funded.InvalidSignature):
        funded.transferWithAuthorization(*args, sender=stranger)


def test_transferWithAuthorization_refusesReceiveSignature(funded, chain_id, alice, carol, stranger, reverts):
    args = auth("ReceiveWithAuthorization", chain_id, funded, alice.private_key, alice, carol, 1)
    with reverts(funded.InvalidSignature):
        funded.transferWithAuthorization(*args, sender=stranger)


def test_transferWithAuthorization_revertsForHighS(funded, chain_id, alice, carol, stranger, reverts):
    sig = sign(
        alice.private_key,
        authorization_message(
            "TransferWithAuthorization", chain_id, funded, alice, carol, 1, 0, MAX_UINT256, NONCE_A
        ),
    )
    with reverts(funded.InvalidSignature):
        funded.transferWithAuthorization(
            alice, carol, 1, 0, MAX_UINT256, NONCE_A, *high_s(sig), sender=stranger
        )


def test_transferWithAuthorization_failedTransferKeepsNonceUnused(
    funded, chain_id, alice, carol, stranger, reverts
):
    args = auth(
        "TransferWithAuthorization", chain_id, funded, alice.private_key, alice, carol, ALICE_FUNDS + 1
    )
    with reverts(funded.ERC20InsufficientBalance, sender=alice, balance=ALICE_FUNDS, needed=ALICE_FUNDS + 1):
        funded.transferWithAuthorization(*args, sender=stranger)
    assert not funded.authorizationState(alice, NONCE_A)


def test_transferWithAuthorization_revertsWhenPaused(
    funded, chain_id, pauser, alice, carol, stranger, reverts
):
    args = auth("TransferWithAuthorization", chain_id, funded, alice.private_key, alice, carol, 1)
    funded.pause(sender=pauser)
    with reverts(funded.TokenPaused):
        funded.transferWithAuthorization(*args, sender=stranger)
    assert not funded.authorizationState(alice, NONCE_A)


def test_transferWithAuthorization_revertsForFrozenParties(
    funded, chain_id, compliance, alice, bob, carol, stranger, reverts
):
    args = auth("TransferWithAuthorization", chain_id, funded, alice.private_key, alice, carol, 1)
    funded.freeze(alice, sender=compliance)
    with reverts(funded.AccountFrozen, account=alice):
        funded.transferWithAuthorization(*args, sender=stranger)
    funded.unfreeze(alice, sender=compliance)
    funded.freeze(carol, sender=compliance)
    with reverts(funded.AccountFrozen, account=carol):
        funded.transferWithAuthorization(*args, sender=stranger)


def test_transferWithAuthorization_revertsToZeroAddress(funded, chain_id, alice, stranger, reverts):
    args = auth("TransferWithAuthorization", chain_id, funded, alice.private_key, alice, ZERO_ADDRESS, 1)
    with reverts(funded.ERC20InvalidReceiver, receiver=ZERO_ADDRESS):
        funded.transferWithAuthorization(*args, sender=stranger)


def test_transferWithAuthorization_respectsAllowlist(
    funded, chain_id, compliance, alice, carol, stranger, reverts
):
    args = auth("TransferWithAuthorization", chain_id, funded, alice.private_key, alice, carol, 1)
    funded.setAllowlistEnabled(True, sender=compliance)
    with reverts(funded.NotAllowlisted, account=carol):
        funded.transferWithAuthorization(*args, sender=stranger)


def test_receiveWithAuthorization_payeeCollects(funded, chain_id, alice, carol):
    args = auth("ReceiveWithAuthorization", chain_id, funded, alice.private_key, alice, carol, 25)
    receipt = funded.receiveWithAuthorization(*args, sender=carol)
    assert token_events(receipt, funded) == [
        ev("AuthorizationUsed", authorizer=alice, nonce=NONCE_A),
        ev("Transfer", **{"from": alice, "to": carol, "value": 25}),
    ]
    assert funded.balanceOf(carol) == 25
    assert funded.authorizationState(alice, NONCE_A)


def test_receiveWithAuthorization_revertsWhenCallerIsNotPayee(
    funded, chain_id, alice, carol, stranger, reverts
):
    args = auth("ReceiveWithAuthorization", chain_id, funded, alice.private_key, alice, carol, 25)
    with reverts(funded.CallerNotPayee, caller=stranger, payee=carol):
        funded.receiveWithAuthorization(*args, sender=stranger)
    with reverts(funded.CallerNotPayee, caller=alice, payee=carol):
        funded.receiveWithAuthorization(*args, sender=alice)
    assert not funded.authorizationState(alice, NONCE_A)


def test_receiveWithAuthorization_refusesTransferSignature(funded, chain_id, alice, carol, reverts):
    args = auth("TransferWithAuthorization", chain_id, funded, alice.private_key, alice, carol, 25)
    with reverts(funded.InvalidSignature):
        funded.receiveWithAuthorization(*args, sender=carol)


def test_receiveWithAuthorization_replayAndWindow(funded, chain_id, alice, carol, now, reverts):
    args = auth("ReceiveWithAuthorization", chain_id, funded, alice.private_key, alice, carol, 25)
    funded.receiveWithAuthorization(*args, sender=carol)
    with reverts(funded.AuthorizationAlreadyUsed, authorizer=alice, nonce=NONCE_A):
        funded.receiveWithAuthorization(*args, sender=carol)
    late = auth(
        "ReceiveWithAuthorization",
        chain_id,
        funded,
        alice.private_key,
        alice,
        carol,
        1,
        after=now + 5,
        nonce=NONCE_B,
    )
    with reverts(funded.AuthorizationNotYetValid, validAfter=now + 5):
        funded.receiveWithAuthorization(*late, sender=carol)


def test_receiveWithAuthorization_revertsWhenPaused(funded, chain_id, pauser, alice, carol, reverts):
    args = auth("ReceiveWithAuthorization", chain_id, funded, alice.private_key, alice, carol, 25)
    funded.pause(sender=pauser)
    with reverts(funded.TokenPaused):
        funded.receiveWithAuthorization(*args, sender=carol)


def test_cancelAuthorization_burnsTheNonce(funded, chain_id, alice, carol, stranger, reverts):
    sig = sign(alice.private_key, cancel_message(chain_id, funded, alice, NONCE_A))
    receipt = funded.cancelAuthorization(alice, NONCE_A, *sig.vrs(), sender=stranger)
    assert token_events(receipt, funded) == [ev("AuthorizationCanceled", authorizer=alice, nonce=NONCE_A)]
    assert funded.authorizationState(alice, NONCE_A)
    # a canceled nonce cannot be used, nor canceled again
    args = auth("TransferWithAuthorization", chain_id, funded, alice.private_key, alice, carol, 1)
    with reverts(funded.AuthorizationAlreadyUsed, authorizer=alice, nonce=NONCE_A):
        funded.transferWithAuthorization(*args, sender=stranger)
    receive = auth("ReceiveWithAuthorization", chain_id, funded, alice.private_key, alice, carol, 1)
    with reverts(funded.AuthorizationAlreadyUsed, authorizer=alice, nonce=NONCE_A):
        funded.receiveWithAuthorization(*receive, sender=carol)
    with reverts(funded.AuthorizationAlreadyUsed, authorizer=alice, nonce=NONCE_A):
        funded.cancelAuthorization(alice, NONCE_A, *sig.vrs(), sender=stranger)
    assert funded.balanceOf(carol) == 0


def test_cancelAuthorization_revertsForUsedNonce(funded, chain_id, alice, carol, stranger, reverts):
    funded.transferWithAuthorization(
        *auth("TransferWithAuthorization", chain_id, funded, alice.private_key, alice, carol, 1),
        sender=stranger,
    )
    sig = sign(alice.private_key, cancel_message(chain_id, funded, alice, NONCE_A))
    with reverts(funded.AuthorizationAlreadyUsed, authorizer=alice, nonce=NONCE_A):
        funded.cancelAuthorization(alice, NONCE_A, *sig.vrs(), sender=stranger)


def test_cancelAuthorization_revertsForWrongSignerOrNonce(funded, chain_id, alice, bob, stranger, reverts):
    by_bob = sign(bob.private_key, cancel_message(chain_id, funded, alice, NONCE_A))
    with reverts(funded.InvalidSignature):
        funded.cancelAuthorization(alice, NONCE_A, *by_bob.vrs(), sender=stranger)
    other_nonce = sign(alice.private_key, cancel_message(chain_id, funded, alice, NONCE_B))
    with reverts(funded.InvalidSignature):
        funded.cancelAuthorization(alice, NONCE_A, *other_nonce.vrs(), sender=stranger)
    assert not funded.authorizationState(alice, NONCE_A)


def test_cancelAuthorization_worksWhileFrozenButNotWhilePaused(
    funded, chain_id, pauser, compliance, alice, stranger, reverts
):
    # canceling moves no tokens: a freeze does not stop it; the pause does, as USDC's
    funded.pause(sender=pauser)
    funded.freeze(alice, sender=compliance)
    sig = sign(alice.private_key, cancel_message(chain_id, funded, alice, NONCE_A))
    with reverts(funded.TokenPaused):
        funded.cancelAuthorization(alice, NONCE_A, *sig.vrs(), sender=stranger)
    funded.unpause(sender=pauser)
    funded.cancelAuthorization(alice, NONCE_A, *sig.vrs(), sender=stranger)
    assert funded.authorizationState(alice, NONCE_A)
