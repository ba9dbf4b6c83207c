"""UUPS upgrades: USHKV2Example keeps every piece of state; only the upgrader may upgrade; targets
that are not UUPS implementations are refused."""

import ape
import pytest
from eth_utils import keccak, to_checksum_address

from token_helpers import (
    MAX_UINT256,
    USHK,
    ZERO32,
    authorization_message,
    b32,
    cancel_message,
    dep_id,
    ev,
    permit_message,
    sign,
    token_events,
)

#: ERC-1967 implementation slot: keccak256("eip1967.proxy.implementation") - 1
IMPLEMENTATION_SLOT = int.from_bytes(keccak(text="eip1967.proxy.implementation"), "big") - 1

ROLE_NAMES = (
    "DEFAULT_ADMIN_ROLE",
    "MINTER_ROLE",
    "PAUSER_ROLE",
    "COMPLIANCE_ROLE",
    "ATTESTOR_ROLE",
    "UPGRADER_ROLE",
)
MINTED_SEQS = (1, 2, 3, 255, 256, 4000)
ODD_DEPOSIT = keccak(text="a deposit id outside the service's scheme")
NONCE_USED = keccak(text="used 3009 nonce")
NONCE_CANCELED = keccak(text="canceled 3009 nonce")


def implementation_of(chain, proxy) -> str:
    raw = chain.provider.get_storage(proxy.address, IMPLEMENTATION_SLOT)
    return to_checksum_address(bytes(raw)[-20:])


def state_of(token, accounts, deposits, nonces):
    """Every readable piece of the token's state for the given accounts, deposit ids and 3009
    nonces."""
    roles = {name: getattr(token, name)() for name in ROLE_NAMES}
    return {
        "supply": token.totalSupply(),
        "redemptionCount": token.redemptionCount(),
        "paused": (token.paused(), token.mintingPaused(), token.redemptionsPaused()),
        "allowlistEnabled": token.allowlistEnabled(),
        "attestation": tuple(token.reserveAttestation()),
        "maxAge": token.maxAttestationAge(),
        "domain": token.DOMAIN_SEPARATOR(),
        "accounts": {
            a.address: (
                token.balanceOf(a),
                token.isFrozen(a),
                token.isAllowed(a),
                token.nonces(a),
                token.isMinter(a),
                token.minterAllowance(a),
                token.minterMaxPerMint(a),
                tuple(token.hasRole(r, a) for r in roles.values()),
                tuple(token.allowance(a, b) for b in accounts),
            )
            for a in accounts
        },
        "deposits": {d: token.isDepositMinted(d) for d in deposits},
        "authorizations": {(a.address, n): token.authorizationState(a, n) for a in accounts for n in nonces},
    }


@pytest.fixture
def busy_token(funded, chain_id, admin, minter, pauser, compliance, attestor, alice, bob, carol, stranger):
    """`funded` with something in every part of its state."""
    return fill_state(
        funded, chain_id, admin, minter, pauser, compliance, attestor, alice, bob, carol, stranger
    )


def fill_state(t, chain_id, admin, minter, pauser, compliance, attestor, alice, bob, carol, stranger):
    """Puts something in every part of the state of `t` (a `funded`-like token); returns it.
    tests/contracts/test_token_upgrade_v1.py does the same to a proxy of the version-1 token."""
    t.mintBatch([alice, carol], [7 * USHK, 9 * USHK], [dep_id(s) for s in MINTED_SEQS[2:4]], sender=minter)
    t.mintBatch([bob, carol], [1, 2], [dep_id(s) for s in MINTED_SEQS[4:]], sender=minter)
    t.mint(alice, 3, ODD_DEPOSIT, sender=minter)
    t.configureMinter(stranger, 1234, 56, sender=admin)
    t.approve(bob, 111, sender=alice)
    t.approve(carol, MAX_UINT256, sender=bob)
    sig = sign(alice.private_key, permit_message(chain_id, t, alice, carol, 222, 0, MAX_UINT256))
    t.permit(alice, carol, 222, MAX_UINT256, *sig.vrs(), sender=stranger)
    sig = sign(
        bob.private_key,
        authorization_message(
            "TransferWithAuthorization", chain_id, t, bob, alice, 5, 0, MAX_UINT256, NONCE_USED
        ),
    )
    t.transferWithAuthorization(bob, alice, 5, 0, MAX_UINT256, NONCE_USED, *sig.vrs(), sender=stranger)
    sig = sign(carol.private_key, cancel_message(chain_id, t, carol, NONCE_CANCELED))
    t.cancelAuthorization(carol, NONCE_CANCELED, *sig.vrs(), sender=stranger)
    t.redeem(10, b32("payout-1"), sender=alice)
    t.redeem(20, b32("payout-2"), sender=bob)
    t.attestReserves(77_000 * USHK, b32("report-9"), keccak(text="head-9"), sender=attestor)
    t.setMaxAttestationAge(7200, sender=admin)
    t.freeze(carol, sender=compliance)
    t.setAllowed(alice, True, sender=compliance)
    t.setAllowed(bob, True, sender=compliance)
    t.setAllowlistEnabled(True, sender=compliance)
    t.pauseRedemptions(sender=pauser)
    t.grantRole(t.PAUSER_ROLE(), stranger, sender=admin)
    return t


@pytest.fixture
def v2_implementation(v2_container, admin):
    return v2_container.deploy(sender=admin)


def test_upgrade_keepsEveryPieceOfState(busy_token, chain, v2_implementation, accounts, upgrader):
    everyone = list(accounts)
    deposits = [dep_id(s) for s in MINTED_SEQS] + [ODD_DEPOSIT, dep_id(4), dep_id(257), ZERO32]
    nonces = [NONCE_USED, NONCE_CANCELED, ZERO32]
    before = state_of(busy_token, everyone, deposits, nonces)
    # the fixture did reach every part of the state
    assert before["redemptionCount"] == 2
    assert before["paused"] == (False, False, True)
    assert before["allowlistEnabled"]
    assert before["accounts"][accounts[6].address][3] == 1  # alice's permit nonce
    assert sum(before["authorizations"].values()) == 2
    assert sum(before["deposits"].values()) == len(MINTED_SEQS) + 1

    receipt = busy_token.upgradeToAndCall(v2_implementation, b"", sender=upgrader)
    assert token_events(receipt, busy_token) == [ev("Upgraded", implementation=v2_implementation)]
    assert implementation_of(chain, busy_token) == v2_implementation.address

    v2 = ape.Contract(busy_token.address, contract_type=v2_implementation.contract_type)
    assert v2.generation() == 2
    assert state_of(v2, everyone, deposits, nonces) == before


def test_upgrade_tokenKeepsWorkingAfterwards(
    funded, v2_implementation, upgrader, minter, alice, bob, reverts
):
    funded.upgradeToAndCall(v2_implementation, b"", sender=upgrader)
    v2 = ape.Contract(funded.address, contract_type=v2_implementation.contract_type)
    with reverts(v2.DepositAlreadyMinted, depositId=dep_id(1)):
        v2.mint(alice, 1, dep_id(1), sender=minter)
    v2.mint(alice, 1, dep_id(3), sender=minter)
    v2.transfer(bob, 2, sender=alice)
    assert v2.redeem.call(1, b32("payout"), sender=bob) == 1


def test_upgrade_withCallDataRunsIt(funded, v2_implementation, upgrader, admin):
    # upgradeToAndCall delegatecalls the data into the new implementation as the upgrader
    funded.grantRole(funded.PAUSER_ROLE(), upgrader, sender=admin)
    receipt = funded.upgradeToAndCall(v2_implementation, funded.pause.encode_input(), sender=upgrader)
    assert token_events(receipt, funded) == [
        ev("Upgraded", implementation=v2_implementation),
        ev("Paused", account=upgrader),
    ]
    assert funded.paused()


def test_upgrade_revertsForNonUpgrader(funded, chain, v2_implementation, admin, stranger, reverts):
    before = implementation_of(chain, funded)
    role = funded.UPGRADER_ROLE()
    for caller in (stranger, admin):
        with reverts(funded.AccessControlUnauthorizedAccount, account=caller, neededRole=role):
            funded.upgradeToAndCall(v2_implementation, b"", sender=caller)
    assert implementation_of(chain, funded) == before


def test_upgrade_revertsToAccountWithoutCode(funded, chain, upgrader, stranger, reverts):
    before = implementation_of(chain, funded)
    # OpenZeppelin's try/catch around proxiableUUID() cannot catch the failed decoding of the
    # empty return data of a code-less account: the upgrade reverts without data
    with reverts(None):
        funded.upgradeToAndCall(stranger, b"", sender=upgrader)
    assert implementation_of(chain, funded) == before


def test_upgrade_revertsToNonUUPSContract(funded, token, chain, plain_erc20, admin, upgrader, reverts):
    before = implementation_of(chain, funded)
    plain = plain_erc20.deploy(sender=admin)
    with reverts("ERC1967InvalidImplementation", implementation=plain):
        funded.upgradeToAndCall(plain, b"", sender=upgrader)
    # another proxy is no implementation either: its proxiableUUID refuses delegated calls
    with reverts("ERC1967InvalidImplementation", implementation=token):
        funded.upgradeToAndCall(token, b"", sender=upgrader)
    assert implementation_of(chain, funded) == before


def test_upgrade_cannotBeCalledOnTheImplementation(funded, v2_implementation, admin, upgrader, reverts):
    implementation = funded._test_implementation
    with reverts(funded.UUPSUnauthorizedCallContext):
        implementation.upgradeToAndCall(v2_implementation, b"", sender=upgrader)


def test_proxiableUUID_isTheImplementationSlot(funded, reverts):
    assert funded._test_implementation.proxiableUUID() == IMPLEMENTATION_SLOT.to_bytes(32, "big")
    with reverts(funded.UUPSUnauthorizedCallContext):
        funded.proxiableUUID()


def test_upgradeInterfaceVersion_isOpenZeppelin5(funded):
    # tells tooling that upgradeToAndCall is the only upgrade entry point (no upgradeTo)
    assert funded.UPGRADE_INTERFACE_VERSION() == "5.0.0"
