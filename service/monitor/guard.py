"""The guard (optional): given the pauser's key, a `critical` finding pauses minting on chain
(USHK's `pauseMinting`, PAUSER_ROLE) and the monitor's record says what happened: a finding of
rule `monitor.guard` naming the finding that triggered it and the transaction's hash, or why
it did not pause (minting already paused, the call reverted, the node failed). On start it
acts on any critical finding left without a record (`catch_up`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError

from service.chain.token import ChainError, Token, load_account
from service.monitor.model import Finding, Severity
from service.monitor.store import Store, StoredFinding

GUARD_RULE = "monitor.guard"


class Guard:
    def __init__(
        self, store: Store, rpc_url: str, token_address: str, pauser_key: str, *, deliver: bool = False
    ) -> None:
        self.store = store
        self.token = Token(rpc_url, token_address)
        account = load_account(pauser_key)
        if account is None:
            raise ValueError("the guard needs the pauser's private key")
        self.account = account
        self.deliver = deliver

    def on_findings(self, stored: Sequence[StoredFinding], found: Sequence[Finding]) -> None:
        for finding in found:
            if finding.severity is Severity.critical and finding.rule != GUARD_RULE:
                self.act(finding)

    def catch_up(self) -> int:
        """After a restart: act on the critical findings that have no guard record yet (the
        process stopped between committing a finding and acting on it); how many."""
        from service.monitor.model import finding_from_public

        done = {
            f.finding["details"].get("trigger") for f in self.store.findings(limit=10**9, rule=[GUARD_RULE])
        }
        acted = 0
        for item in self.store.findings(limit=10**9, severity=[str(Severity.critical)]):
            if item.finding["rule"] != GUARD_RULE and item.finding["key"] not in done:
                self.act(finding_from_public(item.finding))
                acted += 1
        return acted

    def act(self, finding: Finding) -> StoredFinding | None:
        details: dict[str, object] = {"trigger": finding.key, "pauser": self.account.address}
        tx: str | None = None
        try:
            if self.token.minting_paused():
                outcome, summary = "already_paused", "minting was already paused on chain"
            else:
                receipt = self.token.transact(self.account, "pauseMinting", timeout=60.0)
                tx = receipt.tx_hash
                outcome, summary = "paused", f"minting paused on chain by the monitor's guard ({tx})"
        except (ChainError, OSError, ValueError, TimeoutError) as exc:
            outcome, summary = (
                "failed",
                f"the guard could not pause minting: {type(exc).__name__}: {str(exc)[:200]}",
            )
        except Exception as exc:  # noqa: BLE001 - web3's errors; the record says so, the monitor runs on
            outcome, summary = (
                "failed",
                f"the guard could not pause minting: {type(exc).__name__}: {str(exc)[:200]}",
            )
        details["outcome"] = outcome
        record = Finding(
            rule=GUARD_RULE,
            rule_type="guard",
            severity=Severity.critical if outcome == "failed" else Severity.high,
            key=f"{GUARD_RULE}|{finding.key}|",
            time=finding.time,
            summary=summary,
            details=details,
            observation=finding.observation,
            block=finding.block,
            tx=tx,
        )
        try:
            stored = self.store.append([record], deliver=self.deliver)
        except IntegrityError:
            return None  # already recorded for that finding
        return stored[0] if stored else None
