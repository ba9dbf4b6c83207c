"""Settings of the reserve service: one pydantic-settings object, read from `USHK_*` variables.

Every field can be set in the environment with the prefix ``USHK_`` (``USHK_DATABASE_URL``,
``USHK_ID_HMAC_SECRET``, ...) or in a ``.env`` file in the working directory. In production the
service refuses to start with a placeholder or short secret; in development it only warns.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.money import InvalidAmount, parse_amount

PLACEHOLDER_SECRETS = frozenset({"", "changethis", "change-me", "changeme", "secret", "dev"})
MIN_SECRET_LENGTH = 32


def parse_aes_key(text: str) -> bytes:
    """A 32-byte key from 64 hex digits or base64 (ValueError otherwise, never echoing it)."""
    text = text.strip().removeprefix("0x")
    try:
        key = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        key = b""
    if len(key) != 32:
        raise ValueError("travel rule key: 32 bytes as 64 hex digits or base64")
    return key


def old_travel_rule_keys(text: str) -> dict[str, bytes]:
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError("travel_rule_old_keys: a JSON object of key id -> key")
    return {str(key_id): parse_aes_key(key) for key_id, key in data.items()}


class Settings(BaseSettings):
    """Configuration of one service instance."""

    model_config = SettingsConfigDict(
        env_prefix="USHK_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # A refused setting's error never shows its value: it may be a key (USHK_TRAVEL_RULE_KEY).
        hide_input_in_errors=True,
    )

    environment: Literal["development", "production"] = "development"
    # SQLAlchemy URL. SQLite (WAL) is the embedded default; PostgreSQL
    # (postgresql+psycopg://...) for several instances sharing one database.
    database_url: str = "sqlite:///var/ushk.db"
    # Key of HMAC-SHA256 over identity numbers; the only form in which they are kept.
    id_hmac_secret: SecretStr = SecretStr("changethis")
    # Master key from which each bank's webhook signing secret is derived (never stored).
    webhook_signing_key: SecretStr = SecretStr("changethis")
    # Quota and eligibility policy (YAML). config/policy.yaml keeps mainland off.
    policy_file: Path = Path("config/policy.yaml")
    # Largest single deposit any bank may confirm, US dollars ("1000000.00").
    max_single_deposit: str = "1000000.00"

    db_pool_size: int = 10
    db_max_overflow: int = 20
    db_pool_timeout_seconds: float = 30.0
    sqlite_busy_timeout_ms: int = 30_000

    max_request_bytes: int = 64 * 1024
    # POST /v1/deposits/batch: up to 1,000 confirmations (with CDD and IVMS101 data, ~2 KiB each).
    max_batch_request_bytes: int = 4 * 1024 * 1024
    # Deposit submissions committed together by the writer thread (service/deposits/writer.py).
    accept_batch_max: int = Field(default=32, ge=1, le=1000)
    log_level: str = "INFO"
    # ---- operations (docs/operations.md) ----
    # Log lines as text for a person ("human") or one JSON object per line ("json"), each with
    # the request id of the request it belongs to.
    log_format: Literal["human", "json"] = "human"
    # `ushk workers run` serves its own Prometheus metrics on this port (on
    # USHK_WORKERS_METRICS_HOST); unset, it serves none. The API serves them at /metrics.
    workers_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    workers_metrics_host: str = "127.0.0.1"
    # The workers write a heartbeat row each (table worker_heartbeats) every this many seconds
    # while their loop is making progress; /readyz calls a heartbeat older than
    # USHK_HEARTBEAT_STALE_SECONDS stale.
    heartbeat_seconds: float = Field(default=5.0, gt=0.0, le=3600.0)
    heartbeat_stale_seconds: float = Field(default=60.0, gt=0.0, le=86_400.0)
    # The workers /readyz requires a fresh heartbeat of (JSON list in the environment:
    # USHK_READY_WORKERS='["minter","reconciler"]'); empty: every worker that has a heartbeat
    # row (a workers process removes its rows when it stops cleanly).
    ready_workers: list[str] = Field(default_factory=list)
    # /readyz asks the chain (USHK_RPC_URL) for its block number with this timeout.
    ready_chain_timeout_seconds: float = Field(default=2.0, gt=0.0, le=60.0)

    webhook_timeout_seconds: float = 5.0
    webhook_max_attempts: int = 8
    webhook_backoff_seconds: float = 2.0
    webhook_backoff_max_seconds: float = 3600.0
    # Run the webhook delivery loop inside `ushk serve` (a background thread).
    webhooks_in_process: bool = False
    webhook_poll_seconds: float = 1.0

    # The chain: any EVM JSON-RPC endpoint (anvil locally). The token's address, or a
    # deployments/<network>.json written by `ape run deploy token` to read it from.
    rpc_url: str = "http://127.0.0.1:8545"
    token_address: str | None = None
    # The chain's id (EIP-155), part of the message a resident signs to be allowlisted.
    chain_id: int = Field(default=31337, ge=1)
    # The KYC allowlist worker (service/allowlist/): the key holding COMPLIANCE_ROLE that calls
    # setAllowed; with it set, `ushk serve` runs the worker every allowlist_poll_seconds.
    compliance_private_key: SecretStr | None = None
    allowlist_poll_seconds: float = Field(default=2.0, gt=0.0, le=3600.0)
    deployment_file: Path = Path("deployments/local.json")
    # The public page (/): a block explorer's transaction URL with {tx} where the hash goes
    # (https://etherscan.io/tx/{tx}); unset, the page shows transaction hashes as text only.
    explorer_tx_url: str | None = None
    # The supervisors' monitor (`ushk monitor run`, docs/monitor.md): its base URL. Set, the public
    # page shows the monitor's latest findings, read by a background thread of the API process
    # every USHK_PUBLIC_CACHE_SECONDS (never by a visitor's request).
    monitor_url: str | None = None
    # Keys of the accounts holding MINTER_ROLE and ATTESTOR_ROLE (hex private keys). They belong to
    # different processes: the minter's to the workers (`ushk workers run`, or `ushk serve` with
    # workers), the attestor's to `ushk attestor run` only; a process given both refuses to start
    # (docs/architecture.md, "Processes and keys").
    minter_private_key: SecretStr | None = None
    attestor_private_key: SecretStr | None = None
    # Run the minter inside `ushk serve` (a background thread; one instance at a time mints,
    # by a lease); otherwise run `ushk minter run` as its own process.
    minter_enabled: bool = False
    minter_batch_size: int = Field(default=500, ge=1, le=2000)
    minter_poll_seconds: float = 0.1
    # Below a full batch, claim at most once per this many seconds (fewer, larger mint batches
    # under a steady trickle; a backlog is minted back to back regardless).
    minter_linger_seconds: float = Field(default=0.5, ge=0.0, le=60.0)
    # Fault injection for the crash-recovery tests: SIGKILL the process at this minter step
    # (claimed, recorded, sent, mined). Never set in production.
    minter_crash_at: Literal["claimed", "recorded", "sent", "mined"] | None = None
    # For the tests' census of entry points: append "METHOD /route/template" to this file the
    # first time each route answers in this process. Never set in production.
    test_route_log: Path | None = None

    # ---- transparency log (service/audit/, docs/transparency.md) ----
    # Ed25519 key (hex of its 32-byte seed) that signs the log's tree heads. Without it the log,
    # its entries and proofs are served, but no head is signed or anchored.
    log_signing_key: SecretStr | None = None
    # Run the log's publisher (and, with a token, the snapshotter) among this process's workers
    # when the log key is set; `make run` turns it off in the API process (its workers process
    # runs them).
    log_publisher_enabled: bool = True
    # The workers sign a new tree head every this many seconds when the log has grown.
    log_head_seconds: float = Field(default=5.0, gt=0.0, le=3600.0)
    # ...and anchor the latest head on chain (`anchorAuditLog`) at least every this many seconds,
    # and after every attestation (0: only after attestations). Needs a key holding ANCHOR_ROLE:
    # USHK_ANCHOR_PRIVATE_KEY, else the attestor's.
    log_anchor_seconds: float = Field(default=0.0, ge=0.0)
    anchor_private_key: SecretStr | None = None
    # The workers take a signed snapshot (service/snapshots/) every this many seconds (with the
    # log key and a token configured); `ushk transparency snapshot` takes one on demand.
    snapshot_seconds: float = Field(default=86_400.0, gt=0.0)

    # The workers expire the four-eyes requests past their time (service/approvals/) every this
    # many seconds (0: only the approvals' reads and decisions do).
    approval_expiry_seconds: float = Field(default=30.0, ge=0.0, le=3600.0)

    # ---- reserves (service/reserves/) ----
    # `ushk attestor run` attests again at least every this many seconds (0: only when the
    # reserves change or the attestation gets old).
    attest_interval_seconds: float = Field(default=0.0, ge=0.0)
    # `ushk attestor run` (service/reserves/independent.py): the JSON file of the bank keys it
    # pinned (`ushk attestor pin-keys`): {"banks": {bank name: {key id: Ed25519 public key}}}.
    # Only statements signed by these keys count; it reads it at start.
    attestor_bank_keys_file: Path | None = None
    # ...and looks at the reserves and the chain every this many seconds.
    attestor_poll_seconds: float = Field(default=1.0, gt=0.0, le=3600.0)
    # The minter mints what the current attestation covers; deposits beyond it wait until the
    # attestation is renewed, at most once per this many seconds (0: before any batch it does
    # not cover). Fewer attestations (each is a transaction) for at most this much more latency.
    attest_min_interval_seconds: float = Field(default=2.0, ge=0.0, le=3600.0)
    # The API process reads the chain view of its public answers (supply, attestation, paused
    # flags) from a cache a background thread refreshes every this many seconds: no JSON-RPC
    # call per public request (docs/public-ledger.md).
    public_cache_seconds: float = Field(default=2.0, gt=0.0, le=3600.0)
    # The cached view is flagged `stale` once its last successful refresh is older than this.
    public_cache_stale_seconds: float = Field(default=10.0, gt=0.0, le=86_400.0)
    # Whole public answers (GET /v1/reserves, /v1/public/...) are served from memory for this
    # many seconds after they were computed (0: every request computes its answer).
    public_answer_seconds: float = Field(default=1.0, ge=0.0, le=60.0)
    # GET /v1/public/quota publishes no figure of a group (a category and period, or the total)
    # of fewer residents than this (docs/public-ledger.md, "Small groups").
    public_quota_min_residents: int = Field(default=10, ge=1, le=1_000_000)
    # Run the reserve reconciler inside `ushk serve` (a background thread), every this many seconds.
    reconciler_enabled: bool = False
    reconcile_interval_seconds: float = Field(default=10.0, gt=0.0)
    # Each pass reads the chain as of the newest block with this many blocks on top (at least 1:
    # never the head itself, see Reconciler.pinned_block).
    reconcile_confirmations: int = Field(default=1, ge=1, le=1000)
    # Key of the PAUSER_ROLE account: with it a reconciler halt also calls pauseMinting on chain
    # (and `ushk minting resume` unpauses). Without it minting halts in the database only.
    pauser_private_key: SecretStr | None = None

    # ---- redemptions (service/redemptions/) ----
    # Run the redemption watcher inside `ushk serve` (a background thread); otherwise run
    # `ushk redemptions watch` as its own process.
    redemption_watcher_enabled: bool = False
    # A RedemptionRequested event becomes a payout once its block has this many blocks on top
    # of it (0: as soon as it is mined).
    redemption_confirmations: int = Field(default=2, ge=0, le=1000)
    redemption_poll_seconds: float = 1.0
    # Blocks asked for in one eth_getLogs call (and processed in one transaction).
    redemption_batch_blocks: int = Field(default=2000, ge=1, le=100_000)
    # A payout is due by the end of the first Hong Kong business day after the day it was
    # created (service/business_days.py). Not business days: weekends, Hong Kong's general
    # holidays from the `holidays` package ("hong-kong"; "none" leaves them out), and the extra
    # closures listed here (ISO dates, JSON list in the environment:
    # USHK_PAYOUT_HOLIDAYS='["2026-09-01"]', e.g. a day of typhoon signal No. 8).
    payout_calendar: Literal["hong-kong", "none"] = "hong-kong"
    payout_holidays: list[dt.date] = Field(default_factory=list)

    # ---- CDD and the Travel Rule (service/travel_rule/) ----
    # AES-256-GCM key of the IVMS101 data kept at rest: 32 bytes as 64 hex digits or base64.
    # Required when the policy's cdd.threshold_usd is set (the service refuses to start without).
    travel_rule_key: SecretStr | None = None
    # Its key id, stored beside each ciphertext. To rotate: set a new key under a new id and move
    # the old one to travel_rule_old_keys (JSON object, id -> key), which only decrypts.
    travel_rule_key_id: str = Field(default="tr1", pattern=r"^[A-Za-z0-9._-]{1,32}$")
    travel_rule_old_keys: SecretStr | None = None

    @field_validator("travel_rule_key")
    @classmethod
    def _check_travel_rule_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_aes_key(value.get_secret_value())
        return value

    @field_validator("travel_rule_old_keys")
    @classmethod
    def _check_travel_rule_old_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            old_travel_rule_keys(value.get_secret_value())
        return value

    def travel_rule_keys(self) -> tuple[str, dict[str, bytes]] | None:
        """(current key id, every key by id), None without a current key."""
        if self.travel_rule_key is None:
            return None
        keys = (
            {}
            if self.travel_rule_old_keys is None
            else old_travel_rule_keys(self.travel_rule_old_keys.get_secret_value())
        )
        keys[self.travel_rule_key_id] = parse_aes_key(self.travel_rule_key.get_secret_value())
        return self.travel_rule_key_id, keys

    @field_validator("max_single_deposit")
    @classmethod
    def _check_max_single_deposit(cls, value: str) -> str:
        try:
            parse_amount(value)
        except InvalidAmount as exc:
            raise ValueError(f"max_single_deposit: {exc.message}") from None
        return value

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        for name in ("id_hmac_secret", "webhook_signing_key"):
            value = getattr(self, name).get_secret_value()
            weak = value.lower() in PLACEHOLDER_SECRETS or len(value) < MIN_SECRET_LENGTH
            if not weak:
                continue
            message = (
                f"USHK_{name.upper()} is a placeholder or shorter than {MIN_SECRET_LENGTH} "
                "characters; set a random secret (e.g. `python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))'`)"
            )
            if self.environment == "production":
                raise ValueError(message)
            logging.getLogger(__name__).warning("%s (allowed in development only)", message)
        return self

    def resolved_token_address(self) -> str | None:
        """`token_address`, or the token of `deployment_file` when that file exists."""
        if self.token_address:
            return self.token_address
        if self.deployment_file.exists():
            return json.loads(self.deployment_file.read_text())["token"]
        return None

    @field_validator("log_signing_key")
    @classmethod
    def _check_log_signing_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                seed = bytes.fromhex(value.get_secret_value().removeprefix("0x"))
            except ValueError:
                seed = b""
            if len(seed) != 32:
                raise ValueError("log_signing_key: the hex of a 32-byte Ed25519 seed (64 hex digits)")
        return value

    @cached_property
    def max_single_deposit_cents(self) -> int:
        return parse_amount(self.max_single_deposit)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
