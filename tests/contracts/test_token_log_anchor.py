"""anchorAuditLog: the audit log's tree heads on chain, append-only, ANCHOR_ROLE only."""

from token_helpers import b32, ev, token_events

ROOT_A, ROOT_B = b32("root-a"), b32("root-b")


def grant_anchor(token, admin, account):
    token.grantRole(token.ANCHOR_ROLE(), account, sender=admin)


def test_anchor_recordsSizeRootAndTime(token, admin, attestor, chain):
    assert token.auditLogAnchor() == (0, b"\x00" * 32, 0)
    grant_anchor(token, admin, attestor)
    receipt = token.anchorAuditLog(5, ROOT_A, sender=attestor)
    stamp = chain.blocks[receipt.block_number].timestamp
    assert token_events(receipt, token) == [
        ev("AuditLogAnchored", anchorer=attestor, treeSize=5, rootHash=ROOT_A, timestamp=stamp)
    ]
    assert token.auditLogAnchor() == (5, ROOT_A, stamp)
    # the same head again renews its time; a larger tree may have any root
    token.anchorAuditLog(5, ROOT_A, sender=attestor)
    token.anchorAuditLog(9, ROOT_B, sender=attestor)
    assert token.auditLogAnchor()[:2] == (9, ROOT_B)


def test_anchor_refusesAShrinkingLogOrAnotherRootForTheSameSize(token, admin, attestor, reverts):
    grant_anchor(token, admin, attestor)
    token.anchorAuditLog(7, ROOT_A, sender=attestor)
    with reverts(token.AuditLogShrunk, treeSize=6, anchoredSize=7):
        token.anchorAuditLog(6, ROOT_A, sender=attestor)
    with reverts(token.AuditLogRootChanged, treeSize=7, anchoredRoot=ROOT_A):
        token.anchorAuditLog(7, ROOT_B, sender=attestor)


def test_anchor_needsTheRole_andWorksWhilePaused(token, admin, attestor, pauser, stranger, reverts):
    needed = token.ANCHOR_ROLE()
    with reverts(token.AccessControlUnauthorizedAccount, account=stranger, neededRole=needed):
        token.anchorAuditLog(1, ROOT_A, sender=stranger)
    with reverts(token.AccessControlUnauthorizedAccount, account=attestor, neededRole=needed):
        token.anchorAuditLog(1, ROOT_A, sender=attestor)  # attesting is another role
    grant_anchor(token, admin, attestor)
    token.pause(sender=pauser)
    token.anchorAuditLog(1, ROOT_A, sender=attestor)
    assert token.auditLogAnchor()[0] == 1
