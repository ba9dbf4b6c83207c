"""The log publisher: signs the transparency log's tree heads and anchors them on chain.

Every USHK_LOG_HEAD_SECONDS it signs a head of the audit log if the log has grown
(service/audit/heads.py); at least every USHK_LOG_ANCHOR_SECONDS, and after every attestation
(an attestor in this process calls `request_anchor`, and the publisher's thread anchors at once;
one made by `ushk attestor run`, a process of its own, is seen in the stored reports at the
publisher's next head, `attested_since`), it puts the latest head's size and root on chain with
`anchorAuditLog` (ANCHOR_ROLE) and records the transaction beside the head. An idle log's head
is anchored again (same size and root): the anchor's time says the log was live then. Anchors
are not audit entries (they would grow the log they anchor); they are the token's
`AuditLogAnchored` events and `audit_tree_heads.anchor_tx`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from sqlalchemy.orm import Session

from service.audit import heads, tree
from service.audit.heads import LogKey
from service.chain.events import LogReader
from service.chain.token import Receipt, Token
from service.db import Database, utcnow
from service.reserves.attestor import signer_lock

log = logging.getLogger("ushk.log-publisher")

# Set by `request_anchor` (after an attestation, from the attestor's thread); `run` anchors at its
# next wake-up (within a quarter of a second) instead of waiting for the interval.
_ANCHOR_REQUESTED = threading.Event()
_WAKE_SECONDS = 0.25


def request_anchor() -> None:
    """Ask the publisher running in this process to anchor the log now."""
    _ANCHOR_REQUESTED.set()


class LogPublisher:
    def __init__(
        self,
        db: Database,
        key: LogKey,
        *,
        token: Token | None = None,
        signer: LocalAccount | None = None,
        head_seconds: float = 5.0,
        anchor_seconds: float = 0.0,
    ):
        self.db = db
        self.key = key
        self.token = token
        self.signer = signer
        self.head_seconds = head_seconds
        self.anchor_seconds = anchor_seconds
        self.anchors = 0
        self._anchored_at = float("-inf")  # monotonic
        self._attestation_seen: str | None = None  # the last attested report's hash at the last look
        self._looked = False

    def sign_head(self) -> heads.SignedTreeHead | None:
        """Signs and stores a head if the log has grown since the last; the new head or None."""
        with self.db.transaction() as session:
            head = heads.sign(session, self.key, now=utcnow())
            if head is not None:
                session.expunge(head)
            return head

    def anchor(self) -> Receipt | None:
        """Signs a head if the log has grown, then anchors the latest head on chain. None when
        there is no chain signer or no head yet."""
        if self.token is None or self.signer is None:
            return None
        self.sign_head()
        with self.db.reading() as session:
            latest = heads.latest(session)
            if latest is None:
                return None
            size, root = latest.tree_size, latest.root
        with signer_lock(self.signer.address):
            receipt = self.token.transact(self.signer, "anchorAuditLog", size, bytes.fromhex(root))
        with self.db.transaction() as session:
            heads.mark_anchored(session, size, tx_hash=receipt.tx_hash, block_number=receipt.block_number)
        self.anchors += 1
        self._anchored_at = time.monotonic()
        log.info("anchored the audit log at size %s (%s) in %s", size, root, receipt.tx_hash)
        return receipt

    def anchor_due(self) -> bool:
        return self.anchor_seconds > 0 and time.monotonic() - self._anchored_at >= self.anchor_seconds

    def attested_since(self) -> bool:
        """Whether an attestation was recorded since the last look, by any process (the first
        look only notes the latest)."""
        from service.reserves.service import last_attested_report

        with self.db.reading() as session:
            row = last_attested_report(session)
            latest = None if row is None else row.hash
        seen, looked = self._attestation_seen, self._looked
        self._attestation_seen, self._looked = latest, True
        return looked and latest is not None and latest != seen

    def run(self, stop: threading.Event) -> None:
        """Signs heads every `head_seconds` and anchors when due or requested, until `stop` is
        set (errors are logged and retried at the next tick)."""
        while True:
            try:
                attested = self.token is not None and self.attested_since()
                if _ANCHOR_REQUESTED.is_set() or self.anchor_due() or attested:
                    _ANCHOR_REQUESTED.clear()
                    self.anchor()
                else:
                    self.sign_head()
            except Exception:  # node down, database busy: next tick
                log.exception("publishing the audit log's head failed")
            waited = 0.0
            while waited < self.head_seconds and not _ANCHOR_REQUESTED.is_set():
                if stop.wait(min(_WAKE_SECONDS, self.head_seconds - waited)):
                    return
                waited += _WAKE_SECONDS
            if stop.is_set():
                return


@dataclass(frozen=True)
class AnchorCheck:
    ok: bool
    checked: int
    last_size: int | None = None
    problem: str | None = None


ANCHORED = "AuditLogAnchored"
_LOG_CHUNK_BLOCKS = 10_000


def check_anchors(
    session: Session, token: Token, from_block: int, *, progress: Callable[[int], None] | None = None
) -> AnchorCheck:
    """Every `AuditLogAnchored` event since `from_block` names a size the log has reached and,
    for it, the root the stored tree gives (so the log was not rewritten since it was anchored)."""
    reader = LogReader(token, (ANCHORED,))
    head_block = token.block_number()
    current = tree.size(session)
    checked, last = 0, None
    roots: dict[int, bytes] = {}  # an idle log's head is anchored again and again: one read a size
    for start in range(from_block, head_block + 1, _LOG_CHUNK_BLOCKS):
        end = min(start + _LOG_CHUNK_BLOCKS - 1, head_block)
        for event in reader.fetch(start, end):
            size, root = int(event.args["treeSize"]), bytes(event.args["rootHash"])
            if size > current:
                return AnchorCheck(
                    False, checked, last, f"block {event.block} anchored size {size}, the log has {current}"
                )
            if size not in roots:
                roots[size] = tree.root(session, size)
            if roots[size] != root:
                return AnchorCheck(
                    False,
                    checked,
                    last,
                    f"block {event.block} anchored size {size} with another root ({root.hex()})",
                )
            checked, last = checked + 1, size
        if progress is not None:
            progress(end - start + 1)
    return AnchorCheck(True, checked, last)
