"""Builds the chain-facing parts from the settings: the token client, the minter, the attestor,
the audit log's publisher, the reconciler and the redemption watcher (for `ushk serve`, the workers, the `ushk minter`,
`ushk reserves` and `ushk redemptions` commands and the operator API), and the chain view of the
public reserve summary and its cache. It is the one place that turns configuration into chain objects."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from eth_account.signers.local import LocalAccount
from pydantic import SecretStr

from service.audit.heads import LogKey
from service.chain.token import Token, load_account
from service.config import Settings
from service.db import Database, utcnow
from service.minting.minter import Minter
from service.quota.policy import CustodyPolicy, Policy
from service.redemptions.watcher import RedemptionWatcher
from service.reserves.anchor import LogPublisher
from service.reserves.attestor import Attestor
from service.reserves.chain_cache import ChainViewCache

if TYPE_CHECKING:
    from service.reserves.independent import IndependentAttestor
    from service.reserves.reconciler import Reconciler


log = logging.getLogger("ushk.runtime")


class ChainNotConfigured(RuntimeError):
    """The settings lack what the minter needs; the message says what to set."""


class KeysNotSeparated(ChainNotConfigured):
    """A process was given a key that belongs to another one (the minter's and the attestor's)."""


def refuse_attestor_key(settings: Settings) -> None:
    """The workers (and `ushk serve` with workers) never hold the attestor's key beside the
    minter's: a host holding both could attest and mint whatever it liked."""
    if _account(settings.minter_private_key) and _account(settings.attestor_private_key):
        raise KeysNotSeparated(
            "USHK_ATTESTOR_PRIVATE_KEY is set beside USHK_MINTER_PRIVATE_KEY: the attestor's key "
            "belongs to `ushk attestor run` alone (its own process and host); unset it here"
        )


def build_token(settings: Settings) -> Token:
    address = settings.resolved_token_address()
    if address is None:
        raise ChainNotConfigured(
            f"no token address: set USHK_TOKEN_ADDRESS, or deploy first "
            f"(`ape run deploy token` writes {settings.deployment_file})"
        )
    return Token(settings.rpc_url, address)


def custody_policy(settings: Settings) -> CustodyPolicy:
    """The custody statements rule of the policy file (config/policy*.yaml, `custody:`)."""
    path = Path(settings.policy_file)
    if not path.is_absolute() and not path.exists():
        candidate = Path(__file__).resolve().parents[1] / path
        path = candidate if candidate.exists() else path
    return Policy.load(path).custody


def build_minter(settings: Settings, db: Database) -> Minter:
    """The minter for these settings: it mints what the current attestation covers, and waits
    for `ushk attestor run` to attest the rest (it reads the attestation, never makes one;
    refuses the attestor's key beside its own, `refuse_attestor_key`)."""
    refuse_attestor_key(settings)
    signer = _account(settings.minter_private_key)
    if signer is None:
        raise ChainNotConfigured("USHK_MINTER_PRIVATE_KEY is not set (the MINTER_ROLE account's key)")
    token = build_token(settings)
    attestor = Attestor(db, token, None, recheck_seconds=0.5)
    return Minter(
        db,
        token,
        signer,
        attestor=attestor,
        batch_size=settings.minter_batch_size,
        poll_seconds=settings.minter_poll_seconds,
        from_block=deployment_block(settings, token.address),
        crash_at=settings.minter_crash_at,
        linger_seconds=settings.minter_linger_seconds,
    )


def build_independent_attestor(settings: Settings, db: Database) -> IndependentAttestor:
    """`ushk attestor run`: the attestor's key, the bank keys it pinned, the policy's statement
    age; refuses the minter's key beside its own."""
    from service.reserves.independent import IndependentAttestor, PinnedKeys

    if _account(settings.minter_private_key) is not None:
        raise KeysNotSeparated(
            "USHK_MINTER_PRIVATE_KEY is set: the attestor runs without the minter's key (unset it here)"
        )
    signer = _account(settings.attestor_private_key)
    if signer is None:
        raise ChainNotConfigured("USHK_ATTESTOR_PRIVATE_KEY is not set (the ATTESTOR_ROLE account's key)")
    if settings.attestor_bank_keys_file is None:
        raise ChainNotConfigured(
            "USHK_ATTESTOR_BANK_KEYS_FILE is not set (the bank keys the attestor checks statements "
            "with; `ushk attestor pin-keys` writes it)"
        )
    return IndependentAttestor(
        db,
        build_token(settings),
        signer,
        PinnedKeys.load(settings.attestor_bank_keys_file),
        max_age=custody_policy(settings).statement_max_age,
        min_interval=settings.attest_min_interval_seconds,
        interval=settings.attest_interval_seconds,
    )


def build_log_publisher(settings: Settings, db: Database) -> LogPublisher | None:
    """The signer (and anchorer) of the log's heads; None without USHK_LOG_SIGNING_KEY. It
    anchors with USHK_ANCHOR_PRIVATE_KEY, else the attestor's key, when a token is configured."""
    if settings.log_signing_key is None:
        return None
    key = LogKey.from_hex(settings.log_signing_key.get_secret_value())
    signer = _account(settings.anchor_private_key) or _account(settings.attestor_private_key)
    token = build_token(settings) if signer is not None and settings.resolved_token_address() else None
    return LogPublisher(
        db,
        key,
        token=token,
        signer=signer if token is not None else None,
        head_seconds=settings.log_head_seconds,
        anchor_seconds=settings.log_anchor_seconds,
    )


def _account(key: SecretStr | None) -> LocalAccount | None:
    """The signer of a private key setting, or None when it is not set (or set empty)."""
    return load_account(key.get_secret_value()) if key is not None else None


def build_pauser(settings: Settings) -> LocalAccount | None:
    """The PAUSER_ROLE signer, or None when USHK_PAUSER_PRIVATE_KEY is not set."""
    return _account(settings.pauser_private_key)


def build_reconciler(settings: Settings, db: Database) -> Reconciler:
    """The reserve reconciler for these settings (`ushk serve`, `ushk reserves reconcile`)."""
    from service.reserves.reconciler import Reconciler

    token = build_token(settings)
    return Reconciler(
        db,
        token,
        pauser=build_pauser(settings),
        from_block=deployment_block(settings, token.address),
        interval=settings.reconcile_interval_seconds,
        confirmations=settings.reconcile_confirmations,
    )


class Snapshotter:
    """Takes signed snapshots (service/snapshots/) with the log key, on demand (`take`) and every
    USHK_SNAPSHOT_SECONDS (`run`, a worker thread; the first when the last is that old)."""

    def __init__(self, settings: Settings, db: Database):
        if settings.log_signing_key is None:
            raise ChainNotConfigured(
                "USHK_LOG_SIGNING_KEY is not set (snapshots are signed with the log key)"
            )
        self.db = db
        self.token = build_token(settings)
        self.key = LogKey.from_hex(settings.log_signing_key.get_secret_value())
        self.from_block = deployment_block(settings, self.token.address)
        self.confirmations = settings.reconcile_confirmations
        self.interval = settings.snapshot_seconds
        self.custody_policy = custody_policy(settings)

    def take(self) -> dict:
        """Take, sign and store one; returns {"id", "block", "snapshot"}."""
        from service.snapshots import service as snapshots

        with self.db.transaction() as session:
            row = snapshots.take(
                session,
                self.token,
                self.key,
                from_block=self.from_block,
                confirmations=self.confirmations,
                custody_policy=self.custody_policy,
            )
            return {"id": row.id, "block": row.block_number, "snapshot": snapshots.content_of(row)}

    def due(self) -> bool:
        from service.snapshots import service as snapshots

        with self.db.reading() as session:
            last = snapshots.latest(session)
            if last is None:
                return True
            return (utcnow() - last.taken_at).total_seconds() >= self.interval

    def run(self, stop: threading.Event) -> None:
        while True:
            try:
                if self.due():
                    self.take()
            except Exception:  # node down, figures not adding up: logged, tried next tick
                log.exception("taking a snapshot failed")
            if stop.wait(min(60.0, self.interval)):
                return


def deployment_block(settings: Settings, address: str) -> int:
    """The token's deployment block from the deployment file, so event scans start there."""
    if settings.deployment_file.is_file():
        try:
            info = json.loads(settings.deployment_file.read_text())
        except ValueError as exc:
            raise ChainNotConfigured(f"{settings.deployment_file} is not valid JSON: {exc}") from None
        if str(info.get("token", "")).lower() == address.lower():
            return int(info.get("deployment_block", 0))
    return 0


def build_watcher(settings: Settings, db: Database) -> RedemptionWatcher:
    """The redemption watcher for these settings (`ushk serve`, `ushk redemptions watch`)."""
    token = build_token(settings)
    # Without the attestor's key (the workers never have it) it waits for `ushk attestor run` to
    # lower the attestation before it creates payouts a bank could settle.
    attestor_signer = _account(settings.attestor_private_key)
    policy = custody_policy(settings) if attestor_signer is not None else None
    attestor = Attestor(db, token, attestor_signer, custody_policy=policy, recheck_seconds=0.2)
    return RedemptionWatcher(
        db, token, settings, from_block=deployment_block(settings, token.address), attestor=attestor
    )


_TOKENS: dict[tuple[str, str], Any] = {}
_TOKENS_LOCK = threading.Lock()


def view_token(settings: Settings) -> Token | None:
    """One token client per node and address in this process, for the public views' reads
    (a short timeout: a public answer never waits long for a node); None without a token."""
    address = settings.resolved_token_address()
    if address is None:
        return None
    key = (settings.rpc_url, address.lower())
    with _TOKENS_LOCK:
        token = _TOKENS.get(key)
        if token is None:
            token = _TOKENS[key] = Token(settings.rpc_url, address, timeout=3.0)
    return token


def read_chain_view(settings: Settings) -> dict | None:
    """Supply, attestation, the paused flags and the audit log's anchored head, all read at one
    block (the newest), or None when no chain is configured. Raises when the node does not
    answer within a few seconds."""
    token = view_token(settings)
    if token is None:
        return None
    block = token.block_number()
    state = token.state_at(block)
    paused, minting_paused, redemptions_paused = token.paused_flags(block)
    anchor_size, anchor_root, anchored_at = token.log_anchor(block)
    attestation = state.attestation
    return {
        "block": block,
        "block_timestamp": state.timestamp,
        "supply_units": state.total_supply,
        "attestation": {
            "amount": attestation.amount,
            "timestamp": attestation.timestamp,
            "report_hash": attestation.report_hash.hex(),
            "audit_head": attestation.audit_head.hex(),
        }
        if attestation.timestamp
        else None,
        "paused": paused,
        "minting_paused": minting_paused,
        "redemptions_paused": redemptions_paused,
        "anchor": {"tree_size": anchor_size, "root": anchor_root.hex(), "timestamp": anchored_at},
    }


def chain_view(settings: Settings) -> dict | None:
    """`read_chain_view`, or None if the chain does not answer (the summary is then served from
    the ledger alone). For the command line; the API reads `build_chain_cache`'s cache."""
    try:
        return read_chain_view(settings)
    except Exception:  # noqa: BLE001 - node down or misconfigured: ledger-only summary
        return None


MONITOR_FINDINGS_SHOWN = 10


def read_monitor_feed(settings: Settings) -> dict | None:
    """The monitor's newest findings (newest first, in the shape the page shows) and its log's
    size and signed head, from its public endpoints, or None when no monitor is configured.
    Raises when it does not answer or answers something else (the feed is then stale)."""
    if not settings.monitor_url:
        return None
    base = settings.monitor_url.rstrip("/")
    with httpx.Client(timeout=3.0) as http:
        status = http.get(f"{base}/v1/monitor/status")
        status.raise_for_status()
        size = int(status.json()["findings"])
        after = max(-1, size - MONITOR_FINDINGS_SHOWN - 1)
        page = http.get(
            f"{base}/v1/monitor/findings", params={"after": after, "limit": MONITOR_FINDINGS_SHOWN}
        )
        page.raise_for_status()
        head = http.get(f"{base}/v1/monitor/sth")
        signed = head.json() if head.status_code == 200 else None
    findings = [
        {
            "seq": int(f["seq"]),
            "time": dt.datetime.fromtimestamp(int(f["time"]), dt.UTC).isoformat(timespec="seconds"),
            "severity": str(f["severity"]),
            "rule": str(f["rule"]),
            "summary": str(f["summary"]),
            "block": None if f.get("block") is None else int(f["block"]),
            "tx_hash": None if f.get("tx") is None else str(f["tx"]),
        }
        for f in reversed(page.json()["items"])
    ]
    return {"size": size, "findings": findings, "head": signed}


def build_monitor_feed(settings: Settings) -> ChainViewCache:
    """The page's view of the monitor's findings, cached like the chain view (a background
    thread refreshes it; `stale` once the monitor has not answered for a while)."""
    return ChainViewCache(
        lambda: read_monitor_feed(settings),
        interval=settings.public_cache_seconds,
        stale_after=settings.public_cache_stale_seconds,
    )


def build_chain_cache(settings: Settings) -> ChainViewCache:
    """The API process's cached chain view, refreshed every USHK_PUBLIC_CACHE_SECONDS."""
    return ChainViewCache(
        lambda: read_chain_view(settings),
        interval=settings.public_cache_seconds,
        stale_after=settings.public_cache_stale_seconds,
    )
