"""The same service on PostgreSQL: several instances, one database."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from sqlalchemy import func, select

from service import audit
from service.app import create_app
from service.client import AsyncBankClient, BankClient
from service.deposits import outbox
from service.deposits.models import Deposit
from svc_support import (
    LiveServer,
    accept,
    assert_exactly_fifty,
    burst,
    confirmation,
    make_settings,
)
from wait_support import join

pytestmark = pytest.mark.postgres


def test_api_flow_on_postgres(pg_env):
    bank = pg_env.add_bank()
    app = create_app(pg_env.settings, pg_env.db, policy=pg_env.policy)
    with (
        LiveServer(app) as server,
        BankClient(server.url, api_key=bank.api_key, key_id=bank.key_id, private_key=bank.seed) as client,
    ):
        first = client.submit(confirmation("P-1"))
        assert first.status_code == 201
        assert client.submit(confirmation("P-1")).json() == first.json()
        before = pg_env.snapshot()
        conflict = client.submit(confirmation("P-1", amount="2.00"))
        assert conflict.status_code == 409
        assert pg_env.snapshot() == before
        assert (
            client.quota(id_type="prc_id", id_number="110105194912310021", category="mainland")["held"]
            == "1000.00"
        )
    with pg_env.db.reading() as session:
        assert audit.verify(session).ok


def test_200_concurrent_deposits_two_instances(postgres_url, pg_env, spawn_server):
    bank = pg_env.add_bank()
    settings = make_settings(postgres_url)
    urls = [spawn_server(settings), spawn_server(settings)]

    async def both():
        halves = await asyncio.gather(burst(urls[0], bank, 100, "A"), burst(urls[1], bank, 100, "B"))
        return [r for half in halves for r in half]

    responses = asyncio.run(both())
    assert_exactly_fifty(responses, pg_env.db)
    with pg_env.db.reading() as session:
        assert audit.verify(session).ok


def test_identical_replays_race_on_two_instances(postgres_url, pg_env, spawn_server):
    bank = pg_env.add_bank()
    settings = make_settings(postgres_url)
    urls = [spawn_server(settings), spawn_server(settings)]

    async def race():
        clients = [
            AsyncBankClient(u, api_key=bank.api_key, key_id=bank.key_id, private_key=bank.seed) for u in urls
        ]
        body = clients[0].sign(confirmation("SAME"))
        try:
            return await asyncio.gather(*(clients[i % 2].post_deposit(body) for i in range(20)))
        finally:
            for c in clients:
                await c.aclose()

    responses = asyncio.run(race())
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 19 + [201]
    assert len({r.json()["deposit_id"] for r in responses}) == 1
    with pg_env.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Deposit)) == 1


def test_concurrent_claimers_never_share_a_deposit(pg_env):
    bank = pg_env.add_bank(daily_limit_cents=10**12)
    seqs = accept(pg_env, bank, 60, amount="10.00")
    claimed: dict[str, list[int]] = {"a": [], "b": []}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def claimer(name: str) -> None:
        try:
            start.wait()
            while True:
                with pg_env.db.transaction() as session:
                    batch = outbox.claim_batch(session, 7)
                    # what is under test: the row locks held a while, so the other claims meanwhile
                    time.sleep(0.02)
                if not batch:
                    return
                claimed[name].extend(d.id for d in batch)
        except BaseException as exc:  # surface in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(n,)) for n in claimed]
    for t in threads:
        t.start()
    join(*threads, timeout=60)
    assert not errors
    assert not set(claimed["a"]) & set(claimed["b"])
    assert sorted(claimed["a"] + claimed["b"]) == seqs
    assert claimed["a"] and claimed["b"]  # both made progress
    with pg_env.db.reading() as session:
        batches = outbox.in_flight_batches(session)
        assert sorted(s for b in batches for s in b.seqs) == seqs
        assert audit.verify(session).ok
