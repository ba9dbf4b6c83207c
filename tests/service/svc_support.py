"""Helpers for the reserve service tests (imported by conftest.py and the tests; a module name
of its own, since several conftest.py files share the name `conftest`).

The fixtures built from these: real database files, real HTTP.

* SQLite: a fresh database file per test (tmp_path), copied from a template that Alembic
  migrated once per session.
* PostgreSQL (tests marked `postgres`): a fresh schema per test on USHK_TEST_POSTGRES_URL
  (default postgresql+psycopg://postgres@127.0.0.1:5432/test), created by the migrations and
  dropped afterwards. Skipped when the server is unreachable, unless USHK_REQUIRE_POSTGRES=1.
* `live_server`: the app under uvicorn in a thread on 127.0.0.1, spoken to over HTTP.
* `spawn_server`: `python -m service serve` as a separate process (concurrency tests).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import subprocess
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import uvicorn
from sqlalchemy import create_engine, func, select, text

from service.banks import service as banks
from service.banks.service import require_bank
from service.client import AsyncBankClient, build_confirmation, signed_request
from service.config import Settings
from service.db import Database
from service.deposits.schemas import DepositRequest
from service.deposits.service import submit
from service.deposits.signing import public_key_b64
from service.models import (
    AuditEntry,
    BankDailyUsage,
    Deposit,
    QuotaUsage,
    WatchListEntry,
    WebhookDelivery,
)
from service.quota.policy import Policy
from wait_support import join, wait_for

REPO = Path(__file__).resolve().parents[2]
DEMO_POLICY = REPO / "config" / "policy.demo.yaml"
PRODUCTION_POLICY = REPO / "config" / "policy.yaml"
TEST_ID_SECRET = "test-id-hmac-secret-not-for-production-0123456789"
TEST_WEBHOOK_KEY = "test-webhook-key-not-for-production-0123456789ab"
PG_URL = os.environ.get("USHK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("USHK_REQUIRE_POSTGRES") == "1"
BENEFICIARY = "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"


def make_settings(database_url: str, **overrides) -> Settings:
    values = {
        "database_url": database_url,
        "id_hmac_secret": TEST_ID_SECRET,
        "webhook_signing_key": TEST_WEBHOOK_KEY,
        "policy_file": DEMO_POLICY,
        "environment": "development",
        # never the developer's own `make run` deployment: a test names its chain explicitly
        "deployment_file": REPO / "var" / "no-such-deployment.json",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def server_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("USHK_")}
    env.update(
        USHK_DATABASE_URL=settings.database_url,
        USHK_ID_HMAC_SECRET=settings.id_hmac_secret.get_secret_value(),
        USHK_WEBHOOK_SIGNING_KEY=settings.webhook_signing_key.get_secret_value(),
        USHK_POLICY_FILE=str(settings.policy_file),
        USHK_MAX_SINGLE_DEPOSIT=settings.max_single_deposit,
        USHK_DEPLOYMENT_FILE=str(settings.deployment_file),
        USHK_LOG_LEVEL="WARNING",
        PYTHONPATH=str(REPO),
    )
    if settings.test_route_log is not None:  # the census of entry points (tests/census.py)
        env["USHK_TEST_ROUTE_LOG"] = str(settings.test_route_log)
    return env


def postgres_problem() -> str | None:
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure means: not usable
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


@dataclass
class BankHandle:
    name: str
    api_key: str
    key_id: str
    seed: bytes


class Clock:
    """A settable clock; `None` means the real time."""

    def __init__(self) -> None:
        self.now: dt.datetime | None = None

    def __call__(self) -> dt.datetime:
        return self.now or dt.datetime.now(dt.UTC)


@dataclass
class Env:
    settings: Settings
    db: Database
    policy: Policy
    clock: Clock = field(default_factory=Clock)

    def add_bank(self, name: str = "hsbc", **kwargs) -> BankHandle:
        seed = uuid.uuid4().bytes * 2
        with self.db.transaction() as session:
            created = banks.create_bank(
                session,
                self.settings,
                name,
                actor="test",
                public_key=public_key_b64(seed),
                **kwargs,
            )
        return BankHandle(name, created.api_key, created.signing_key.key_id, seed)

    def snapshot(self) -> dict[str, object]:
        """Row counts of every table a submission may touch, and the audit head."""
        from service import audit

        with self.db.reading() as session:
            counts = {
                model.__tablename__: session.scalar(select(func.count()).select_from(model))
                for model in (
                    Deposit,
                    AuditEntry,
                    QuotaUsage,
                    WatchListEntry,
                    WebhookDelivery,
                    BankDailyUsage,
                )
            }
            counts["audit_head"] = audit.head(session)
            counts["quota_sums"] = tuple(
                session.execute(
                    select(
                        func.coalesce(func.sum(QuotaUsage.held_cents), 0),
                        func.coalesce(func.sum(QuotaUsage.committed_cents), 0),
                    )
                ).one()
            )
        return counts


def make_env(url: str, **overrides) -> Env:
    settings = make_settings(url, **overrides)
    db = Database.from_settings(settings)
    return Env(settings=settings, db=db, policy=Policy.load(settings.policy_file))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn serving `app` in a background thread on 127.0.0.1."""

    def __init__(self, app) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()

        def running() -> None:
            assert self.thread.is_alive(), f"the live server at {self.url} stopped while starting"

        wait_for(
            f"the live server at {self.url} to start",
            lambda: self.server.started,
            10,
            interval=0.01,
            check=running,
        )
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        join(self.thread, timeout=10)


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 20) -> None:
    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def running() -> None:
        assert process.poll() is None, f"the server for {url} exited with {process.returncode}"

    wait_for(f"the server at {url} to become healthy", healthy, timeout, interval=0.1, check=running)


def today(days: int = 0) -> str:
    """Today's date in Hong Kong (the policy's value-date timezone), plus `days`, YYYY-MM-DD."""
    day = dt.datetime.now(ZoneInfo("Asia/Hong_Kong")).date() + dt.timedelta(days=days)
    return day.isoformat()


def confirmation(
    reference: str,
    *,
    amount: str = "1000.00",
    beneficiary: str = BENEFICIARY,
    id_type: str = "prc_id",
    id_number: str = "110105194912310021",
    category: str = "mainland",
    value_date: str | None = None,
    purpose_code: str = "INVS",
    currency: str = "USD",
) -> dict:
    """A deposit confirmation; its value date is today unless given."""
    return {
        "reference": reference,
        "amount": amount,
        "currency": currency,
        "value_date": value_date or today(),
        "beneficiary": beneficiary,
        "resident": {"id_type": id_type, "id_number": id_number, "category": category},
        "purpose_code": purpose_code,
    }


def accept(env, bank, count, prefix="O", amount="100.00"):
    """Submit `count` deposits through the service layer (as the API does)."""
    refs = []
    for i in range(count):
        body = signed_request(
            confirmation(f"{prefix}-{i}", amount=amount, id_number=f"{prefix}{i % 3}"),
            bank.key_id,
            bank.seed,
        )
        with env.db.transaction() as session:
            outcome = submit(
                session,
                bank=require_bank(session, bank.name),
                request=DepositRequest.model_validate(body),
                settings=env.settings,
                policy=env.policy,
                now=env.clock(),
            )
            assert outcome.error is None
            refs.append(outcome.deposit.id)
    return refs


async def burst(url, handle, count, prefix, beneficiary_of=None):
    async with AsyncBankClient(
        url, api_key=handle.api_key, key_id=handle.key_id, private_key=handle.seed, max_connections=count
    ) as client:
        bodies = [
            client.sign(
                build_confirmation(
                    reference=f"{prefix}-{i}",
                    amount="1000.00",
                    value_date=today(),
                    beneficiary=beneficiary_of(i)
                    if beneficiary_of
                    else "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4",
                    id_type="prc_id",
                    id_number="110105194912310021",
                    category="mainland",
                    purpose_code="INVS",
                )
            )
            for i in range(count)
        ]
        return await asyncio.gather(*(client.post_deposit(body) for body in bodies))


def assert_exactly_fifty(responses, db):
    statuses = [r.status_code for r in responses]
    codes = [r.json().get("error", {}).get("code") for r in responses]
    assert statuses.count(201) == 50, (statuses, codes)
    assert statuses.count(422) == 150
    assert {c for c in codes if c} == {"quota_exceeded"}
    with db.reading() as session:
        rows = session.scalars(select(QuotaUsage)).all()
        assert len(rows) == 1
        assert rows[0].held_cents + rows[0].committed_cents == 5_000_000
        accepted = session.scalars(select(Deposit).where(Deposit.status == "accepted")).all()
        assert len(accepted) == 50
