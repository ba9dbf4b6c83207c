"""Per-resident quota: eligibility switch, year rollover, splitting and the watch list, and the
limit under 200 concurrent requests against a real uvicorn process on a SQLite file."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from service.app import create_app
from service.client import BankClient
from service.deposits import outbox
from service.models import QuotaUsage
from service.quota.policy import Policy
from svc_support import (
    PRODUCTION_POLICY,
    LiveServer,
    assert_exactly_fifty,
    burst,
    confirmation,
    make_env,
    make_settings,
)

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def client_for(url, handle) -> BankClient:
    return BankClient(url, api_key=handle.api_key, key_id=handle.key_id, private_key=handle.seed)


def test_mainland_switch_off_refuses_and_records(env):
    env.policy = Policy.load(PRODUCTION_POLICY)
    assert env.policy.categories["mainland"].eligible is False
    bank = env.add_bank()
    # the production policy sets a CDD threshold: the service needs a Travel Rule key to start
    settings = env.settings.model_copy(update={"travel_rule_key": SecretStr("00" * 32)})
    app = create_app(settings, env.db, policy=env.policy)
    with LiveServer(app) as server, client_for(server.url, bank) as client:
        response = client.submit(confirmation("M-1", amount="500.00"))
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "category_not_eligible"
        stored = client.get_deposit("M-1")
        assert stored["status"] == "rejected"
        assert stored["rejection_code"] == "category_not_eligible"
        # HK residents are still served.
        hk = {"id_type": "hkid", "id_number": "A1234567", "category": "hk"}
        ok = client.submit(confirmation("H-1", amount="500.00", **hk))
        assert ok.status_code == 201
        quota = client.quota(id_type="prc_id", id_number="110105194912310021", category="mainland")
        assert quota["eligible"] is False and quota["held"] == "0.00"


def test_quota_limit_query_and_release(live):
    env, url = live
    bank = env.add_bank()
    with client_for(url, bank) as client:
        assert client.submit(confirmation("Q-1", amount="30000.00")).status_code == 201
        assert client.submit(confirmation("Q-2", amount="15000.00")).status_code == 201
        before = env.snapshot()
        refused = client.submit(confirmation("Q-3", amount="5000.01"))
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "quota_exceeded"
        assert "remaining 5000.00" in refused.json()["error"]["message"]
        after = env.snapshot()
        assert after["quota_sums"] == before["quota_sums"]  # nothing held for the refusal
        assert client.submit(confirmation("Q-4", amount="5000.00")).status_code == 201
        q = client.quota(id_type="prc_id", id_number="1101 0519 4912 3100 21", category="mainland")
        assert q == {
            "category": "mainland",
            "period": str(dt.datetime.now(SHANGHAI).year),
            "timezone": "Asia/Shanghai",
            "eligible": True,
            "suspended": False,
            "limit": "50000.00",
            "used": "0.00",
            "held": "50000.00",
            "remaining": "0.00",
        }
        # Minting commits; a final rejection releases; redemption is not this service's
        # business but never restores quota (there is no such path).
        with env.db.transaction() as session:
            claimed = outbox.claim_batch(session, 10)
            assert [d.reference for d in claimed] == ["Q-1", "Q-2", "Q-4"]
            outbox.mark_minted(session, [claimed[0].id], "0x" + "11" * 32, 100)
            outbox.mark_rejected(session, [claimed[1].id], "mint_failed", "test")
        q = client.quota(id_type="prc_id", id_number="110105194912310021", category="mainland")
        assert (q["used"], q["held"], q["remaining"]) == ("30000.00", "5000.00", "15000.00")
        lookup = "/v1/quota/lookup"
        bad = client.http.post(lookup, json={"id_type": "prc_id", "id_number": "x!", "category": "mainland"})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_resident"
        bad = client.http.post(lookup, json={"id_type": "prc_id", "id_number": "1", "category": "moon"})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "unknown_category"
        bad = client.http.post(lookup, json={"id_type": "prc_id"})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"


def test_the_quota_get_is_withdrawn_without_echoing_or_logging_the_number(live, caplog):
    """GET /v1/quota put identity numbers in URLs (kept by proxies): it now answers 410 with a
    pointer to POST /v1/quota/lookup, and neither its answer nor the service's log holds the
    number."""
    env, url = live
    bank = env.add_bank()
    number = "110105194912310021"
    with caplog.at_level(logging.DEBUG), client_for(url, bank) as client:
        answer = client.http.get(
            "/v1/quota", params={"id_type": "prc_id", "id_number": number, "category": "mainland"}
        )
        assert answer.status_code == 410
        assert answer.json()["error"]["code"] == "use_post_quota_lookup"
        assert "POST /v1/quota/lookup" in answer.json()["error"]["message"]
        assert number not in answer.text
        assert client.http.get("/v1/quota").status_code == 410
        found = client.quota(id_type="prc_id", id_number=number, category="mainland")
        assert found["category"] == "mainland"
    assert httpx.get(f"{url}/v1/quota", params={"id_number": number}).status_code == 401
    served = [r for r in caplog.records if r.name.startswith(("service", "uvicorn", "fastapi"))]
    assert served and all(number not in r.getMessage() for r in served)  # (httpx logs its own URLs)


@pytest.mark.parametrize(
    ("local_time", "period"),
    [
        (dt.datetime(2025, 12, 31, 23, 59, 59, tzinfo=SHANGHAI), "2025"),
        (dt.datetime(2026, 1, 1, 0, 0, 0, tzinfo=SHANGHAI), "2026"),
    ],
)
def test_year_rolls_over_at_midnight_shanghai(live, local_time, period):
    env, url = live
    bank = env.add_bank()
    with client_for(url, bank) as client:
        # Fill the 2025 quota at noon on Dec 31 (Shanghai).
        env.clock.now = dt.datetime(2025, 12, 31, 12, 0, tzinfo=SHANGHAI)
        assert (
            client.submit(confirmation("Y-0", amount="50000.00", value_date="2025-12-31")).status_code == 201
        )
        env.clock.now = local_time
        response = client.submit(confirmation("Y-1", amount="1.00", value_date=local_time.date().isoformat()))
        if period == "2025":
            assert response.status_code == 422
            assert response.json()["error"]["code"] == "quota_exceeded"
        else:
            assert response.status_code == 201
        q = client.quota(id_type="prc_id", id_number="110105194912310021", category="mainland")
        assert q["period"] == period
    with env.db.reading() as session:
        periods = {row.period: row.held_cents for row in session.scalars(select(QuotaUsage))}
    assert periods["2025"] == 5_000_000
    if period == "2026":
        assert periods["2026"] == 100
        # 23:59:59 on Dec 31 in Shanghai is still 2025 although it is 15:59:59 UTC.
    assert local_time.astimezone(dt.UTC).year == 2025


def test_splitting_flags_and_watch_list_suspends(live):
    env, url = live
    bank = env.add_bank()
    target = "0x1111111111111111111111111111111111111111"
    with client_for(url, bank) as client:
        for i in range(4):
            response = client.submit(
                confirmation(f"S-{i}", id_number=f"S{i}", amount="100.00", beneficiary=target)
            )
            assert response.status_code == 201
        # The fifth distinct resident funding the same address within 24h: flagged.
        fifth = client.submit(confirmation("S-4", id_number="S4", amount="100.00", beneficiary=target))
        assert fifth.status_code == 422
        assert fifth.json()["error"]["code"] == "resident_on_watch_list"
        assert "splitting" in fifth.json()["error"]["message"]
        # All five are on the watch list now, suspended: even to another address.
        other = "0x2222222222222222222222222222222222222222"
        for i in range(5):
            q = client.quota(id_type="prc_id", id_number=f"S{i}", category="mainland")
            assert q["suspended"] is True
        again = client.submit(confirmation("S-5", id_number="S0", amount="1.00", beneficiary=other))
        assert again.status_code == 422
        assert again.json()["error"]["code"] == "resident_on_watch_list"
        # An unrelated resident is not affected.
        assert (
            client.submit(confirmation("S-6", id_number="Z9", amount="1.00", beneficiary=other)).status_code
            == 201
        )
        # Outside the window the count starts again.
        env.clock.now = dt.datetime.now(dt.UTC) + dt.timedelta(hours=25)
        assert (
            client.submit(confirmation("S-7", id_number="Z8", amount="1.00", beneficiary=target)).status_code
            == 201
        )


def test_200_concurrent_deposits_one_resident_sqlite_process(sqlite_url, spawn_server):
    env = make_env(sqlite_url)
    bank = env.add_bank()
    url = spawn_server(make_settings(sqlite_url))
    responses = asyncio.run(burst(url, bank, 200, "C"))
    assert_exactly_fifty(responses, env.db)
    # Minting all 50 commits exactly the limit.
    with env.db.transaction() as session:
        claimed = outbox.claim_batch(session, 500)
        assert len(claimed) == 50
        outbox.mark_minted(session, claimed, "0x" + "22" * 32, 7)
    with env.db.reading() as session:
        row = session.scalars(select(QuotaUsage)).one()
        assert (row.held_cents, row.committed_cents) == (0, 5_000_000)
    env.db.dispose()
