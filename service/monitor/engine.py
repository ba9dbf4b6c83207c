"""The monitor's engine and settings (docs/monitor.md).

`Engine.process` runs one observation through the rules and commits it, its findings and the
cursor move in one transaction (store.Store.record); an observation already recorded is
skipped without running the rules. `Engine.replay` rebuilds the rules' state on start by
running every recorded observation through them, findings discarded. `Monitor` is the process
of `ushk monitor run`: the sources, the clock's `tick`s, `source_down` after a source has
failed for `source_down_seconds`, signed heads, the guard and the webhook delivery.
"""

from __future__ import annotations

import importlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from service.monitor.model import Finding, Observation, Rule, evaluate
from service.monitor.store import Store, StoredFinding
from service.retry import Backoff

ENV_PREFIX = "USHK_MONITOR_"


class SettingsError(ValueError):
    """Settings that cannot run the monitor; the message names the setting."""


class MonitorSettings(BaseModel):
    """The monitor's settings: environment USHK_MONITOR_<NAME> (upper case), overridden by
    `ushk monitor run`'s flags."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rpc_url: str
    token_address: str
    service_url: str | None = None
    database_url: str = "sqlite:///var/monitor.db"
    key_file: Path = Path("var/monitor.key")
    rules_file: Path = Path("config/monitor-rules.yaml")
    rules_factory: str | None = None  # "module:function" returning the rules (plug-in, tests)
    depth: int = Field(2, ge=0, le=10_000)
    from_block: int = Field(0, ge=0)
    max_range: int = Field(2000, ge=1, le=100_000)
    poll_seconds: float = Field(1.0, gt=0, le=3600)
    source_down_seconds: float = Field(30.0, gt=0)
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_retry_seconds: float = Field(1.0, gt=0)
    guard_key: str | None = None  # the pauser's private key (hex); None: no guard
    listen: str = "127.0.0.1:8700"

    @field_validator("rpc_url", "service_url", "webhook_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("token_address")
    @classmethod
    def _address(cls, value: str) -> str:
        from eth_utils import is_address, to_checksum_address

        if not is_address(value):
            raise ValueError("must be a 0x-prefixed 20-byte address")
        return to_checksum_address(value)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be HOST:PORT")
        return value

    @field_validator("guard_key")
    @classmethod
    def _guard(cls, value: str | None) -> str | None:
        if value is None:
            return None
        raw = value.removeprefix("0x")
        if len(raw) != 64 or any(c not in "0123456789abcdefABCDEF" for c in raw):
            raise ValueError("must be a 32-byte private key in hex")
        return "0x" + raw

    @model_validator(mode="after")
    def _webhook(self) -> MonitorSettings:
        if (self.webhook_url is None) != (self.webhook_secret is None):
            raise ValueError("webhook_url and webhook_secret go together")
        if self.webhook_secret is not None:
            from standardwebhooks.webhooks import Webhook

            try:
                Webhook(self.webhook_secret)
            except Exception as exc:  # noqa: BLE001 - the package raises several kinds
                raise ValueError(
                    f"webhook_secret is not a Standard Webhooks secret (whsec_<base64>): {exc}"
                ) from None
        return self

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0]

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> MonitorSettings:
        """From USHK_MONITOR_* in `environ` (os.environ by default), then `overrides` (flags;
        None values are ignored). SettingsError names each bad setting."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            raw = environ.get(ENV_PREFIX + name.upper())
            if raw is not None and raw != "":
                values[name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = []
            for error in exc.errors():
                where = ".".join(str(p) for p in error["loc"]) or "settings"
                env = f" ({ENV_PREFIX}{where.upper()})" if where in cls.model_fields else ""
                problems.append(f"{where}{env}: {error['msg']}")
            raise SettingsError("bad monitor settings: " + "; ".join(problems)) from None


def load_rule_list(settings: MonitorSettings) -> list[Rule]:
    """The rules: `rules_factory` ("module:function") if set, else service.monitor.rules'
    `load_rules(rules_file)`. SettingsError when they cannot be loaded."""
    if settings.rules_factory:
        module, _, name = settings.rules_factory.partition(":")
        try:
            factory = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            raise SettingsError(f"rules_factory {settings.rules_factory!r}: {exc}") from None
        return list(factory())
    try:
        rules = importlib.import_module("service.monitor.rules")
    except ImportError as exc:
        raise SettingsError(f"the rules package service.monitor.rules is not available: {exc}") from None
    try:
        return list(rules.load_rules(settings.rules_file))
    except rules.RulesError as exc:
        raise SettingsError(f"rules file {settings.rules_file}: {exc}") from None


class Listener(Protocol):
    def __call__(self, stored: Sequence[StoredFinding], found: Sequence[Finding]) -> None: ...


class Engine:
    """Rules over observations, committed to the store exactly once."""

    def __init__(self, store: Store, rules: Iterable[Rule], *, deliver: bool = False) -> None:
        self.store = store
        self.rules = list(rules)
        self.deliver = deliver
        self.listeners: list[Listener] = []
        self.processed = 0

    def replay(self) -> int:
        """Rebuild the rules' state from the recorded observations (findings discarded); how
        many were replayed."""
        count = 0
        for _, obs in self.store.observations():
            evaluate(self.rules, obs)
            count += 1
        return count

    def process(
        self, obs: Observation, cursor: dict[str, dict[str, Any]] | None = None
    ) -> list[StoredFinding]:
        """Run one observation through the rules and commit it with its findings and the
        cursor move; nothing but the move for an observation already recorded."""
        if self.store.has_observation(obs.key):
            if cursor:
                self.store.move(cursor)
            return []
        found = evaluate(self.rules, obs)
        stored = self.store.record(obs, found, cursor, deliver=self.deliver)
        self.processed += 1
        if stored:
            for listener in self.listeners:
                listener(stored, found)
        return stored or []

    def process_many(
        self, steps: Sequence[tuple[Observation, dict[str, dict[str, Any]] | None]]
    ) -> list[StoredFinding]:
        """`process` for a poll's observations in order, committed in one transaction (one
        query for those already recorded, one commit for all): what a crash can lose is the
        whole poll, read again and recorded on restart."""
        known = self.store.known_observations([obs.key for obs, _ in steps])
        batch: list[tuple[Observation, list[Finding] | None, dict[str, dict[str, Any]] | None]] = []
        for obs, cursor in steps:
            if obs.key in known:
                batch.append((obs, None, cursor))
            else:
                known.add(obs.key)
                batch.append((obs, evaluate(self.rules, obs), cursor))
        stored_all: list[StoredFinding] = []
        for (_, found, _), stored in zip(
            batch, self.store.record_many(batch, deliver=self.deliver), strict=True
        ):
            if found is None:
                continue
            self.processed += 1
            if stored:
                stored_all.extend(stored)
                for listener in self.listeners:
                    listener(stored, found)
        return stored_all


class Source(Protocol):
    name: str

    def poll(self) -> list[tuple[Observation, dict[str, dict[str, Any]] | None]]: ...


class SourceHealth:
    """A source's failures: its backoff, since when it fails, and whether the outage was
    reported as `source_down`."""

    def __init__(self) -> None:
        self.backoff = Backoff()
        self.next_try = 0.0
        self.since: float | None = None
        self.error: str | None = None
        self.reported = False
        self.last_ok: float | None = None

    @property
    def up(self) -> bool:
        return self.since is None


class Monitor:
    """The loop of `ushk monitor run` (without the HTTP server, which cli.monitor starts)."""

    def __init__(
        self,
        engine: Engine,
        sources: Sequence[Source],
        *,
        poll_seconds: float,
        source_down_seconds: float,
        sign_head: Callable[[], object] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.sources = list(sources)
        self.poll_seconds = poll_seconds
        self.source_down_seconds = source_down_seconds
        self.sign_head = sign_head
        self.clock = clock
        self.health = {s.name: SourceHealth() for s in self.sources}
        self.stop = threading.Event()
        self.last_tick: int | None = None

    def step(self) -> None:
        """One round: every due source, then the tick, then a signed head if the log grew."""
        for source in self.sources:
            health = self.health[source.name]
            now = self.clock()
            if now < health.next_try:
                self._report_down(source.name, health, now)
                continue
            try:
                steps = source.poll()
            except Exception as exc:  # noqa: BLE001 - a source's failure is reported, never fatal
                self._failed(source.name, health, exc, now)
                continue
            health.backoff.reset()
            health.since, health.error, health.reported, health.next_try = None, None, False, 0.0
            health.last_ok = now
            self.engine.process_many(steps)
        now_s = int(self.clock())
        if self.last_tick is None or now_s > self.last_tick:
            self.last_tick = now_s
            self.engine.process(
                Observation(
                    source="clock", kind="tick", key=f"tick:{now_s}", time=now_s, fields={"time": now_s}
                )
            )
        if self.sign_head is not None:
            self.sign_head()

    def _failed(self, name: str, health: SourceHealth, exc: Exception, now: float) -> None:
        health.error = f"{type(exc).__name__}: {exc}"[:500]
        if health.since is None:
            health.since = now
        health.next_try = now + health.backoff.next()
        self._report_down(name, health, now)

    def _report_down(self, name: str, health: SourceHealth, now: float) -> None:
        if health.since is None:
            return
        down = now - health.since
        if not health.reported and down >= self.source_down_seconds:
            health.reported = True
            since = int(health.since)
            self.engine.process(
                Observation(
                    source="monitor",
                    kind="source_down",
                    key=f"down:{name}:{since}",
                    time=int(now),
                    fields={"source": name, "seconds": int(down), "since": since, "error": health.error},
                )
            )

    def run(self) -> None:
        while not self.stop.is_set():
            started = self.clock()
            self.step()
            self.stop.wait(max(0.0, self.poll_seconds - (self.clock() - started)))
