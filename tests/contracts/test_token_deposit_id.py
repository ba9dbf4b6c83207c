"""The all-zero deposit id names no deposit: mint and mintBatch refuse it with InvalidDepositId."""

from token_helpers import ZERO32, dep_id


def test_mint_revertsOnZeroDepositId(token, minter, alice, reverts):
    with reverts(token.InvalidDepositId):
        token.mint(alice, 1, ZERO32, sender=minter)
    assert not token.isDepositMinted(ZERO32)
    assert token.totalSupply() == 0


def test_mintBatch_revertsOnZeroDepositIdInAnyItem(token, minter, alice, bob, reverts):
    with reverts(token.InvalidDepositId):
        token.mintBatch([alice, bob], [1, 2], [dep_id(1), ZERO32], sender=minter)
    assert not token.isDepositMinted(dep_id(1))
    assert not token.isDepositMinted(ZERO32)
    assert token.totalSupply() == 0
