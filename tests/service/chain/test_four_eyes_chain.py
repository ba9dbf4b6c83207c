"""Four eyes end to end on a real anvil chain and a real database file, over HTTP: a large deposit
waits and is minted only once a second operator approves it; the resume of a halt is requested by
one approver, refused to the same one and to a supervisor, and performed (a fresh reconciliation
on the chain) by another; a second large deposit expires and its quota is released."""

from __future__ import annotations

import dataclasses
import datetime as dt

import httpx
import pytest
from sqlalchemy import select

from chain_support import assert_chain_matches, audit_kinds, deposits_of
from service.app import create_app
from service.banks import service as banks
from service.client import BankClient
from service.models import QuotaUsage
from service.quota.policy import FourEyesPolicy
from service.reserves import service as reserves
from svc_support import LiveServer, confirmation, make_settings


@pytest.fixture
def four_eyes(env, deployed, workers):
    env.policy = dataclasses.replace(
        env.policy,
        four_eyes=FourEyesPolicy(
            deposit_above_cents=1_000_000,  # 10,000.00
            deposit_approval=dt.timedelta(hours=1),
            minting_resume=True,
            bank_limit_raise=True,
        ),
    )
    env.clock.now = dt.datetime.now(dt.UTC)
    who = {}
    with env.db.transaction() as session:
        for name, role in (("bob", "approver"), ("carl", "approver"), ("sam", "supervisor")):
            _, token = banks.create_operator(session, name, actor="test", role=role)
            who[name] = {"Authorization": f"Bearer {token}"}
    handle = env.add_bank("four-eyes-bank")
    settings = make_settings(
        env.settings.database_url, rpc_url=deployed.rpc_url, token_address=deployed.token_address
    )
    app = create_app(settings, env.db, policy=env.policy, clock=env.clock)
    with (
        LiveServer(app) as server,
        BankClient(
            server.url, api_key=handle.api_key, key_id=handle.key_id, private_key=handle.seed
        ) as client,
    ):
        yield env, server.url, who, client, workers[0]


def _approve(url, approval_id, who):
    return httpx.post(f"{url}/v1/operator/approvals/{approval_id}/approve", headers=who)


def _pending(url, who):
    return httpx.get(f"{url}/v1/operator/approvals", headers=who, params={"status": "pending"}).json()[
        "items"
    ]


def _held(env):
    with env.db.reading() as session:
        return sum(u.held_cents for u in session.scalars(select(QuotaUsage)))


def test_four_eyes_on_chain(four_eyes, deployed):
    env, url, who, client, minter = four_eyes
    holder = deployed.holders[0].address
    token = deployed.token()
    waiting = client.submit(confirmation("BIG-1", amount="20000.00", beneficiary=holder)).json()
    assert waiting["status"] == "awaiting_approval"
    minter.drain()
    assert token.total_supply() == 0  # nothing is minted while it waits
    [request] = _pending(url, who["sam"])
    refused = _approve(url, request["id"], who["sam"])
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "operator_role_required"

    # minting halts; the second operator's approval accepts the deposit, which waits for the resume
    with env.db.transaction() as session:
        reserves.halt(session, [{"code": "supply_mismatch"}], difference_units=0, actor="reconciler")
    assert _approve(url, request["id"], who["carl"]).status_code == 200
    assert client.get_deposit("BIG-1")["status"] == "accepted"
    assert minter.step() == 0  # halted
    assert token.total_supply() == 0

    asked = httpx.post(
        f"{url}/v1/operator/minting/resume", headers=who["bob"], json={"cause": "checked: no gap"}
    )
    assert asked.status_code == 202, asked.text
    resume = asked.json()["approval"]
    for name, code in (("bob", "self_approval_refused"), ("sam", "operator_role_required")):
        answer = _approve(url, resume["id"], who[name])
        assert answer.status_code == 403 and answer.json()["error"]["code"] == code
    with env.db.reading() as session:
        assert reserves.active_halt(session) is not None
    performed = _approve(url, resume["id"], who["carl"])  # a fresh reconciliation on the chain
    assert performed.status_code == 200, performed.text
    with env.db.reading() as session:
        assert reserves.active_halt(session) is None
    minter.drain()
    assert client.get_deposit("BIG-1")["status"] == "minted"
    assert token.balance_of(holder) == 20_000 * 10**6 == token.total_supply()
    assert_chain_matches(env, deployed, token)

    # another waits and expires: rejected, its quota released, never minted
    assert client.submit(confirmation("BIG-2", amount="20000.00", beneficiary=holder)).json()["status"] == (
        "awaiting_approval"
    )
    assert _held(env) == 2_000_000
    env.clock.now += dt.timedelta(hours=1, seconds=1)
    assert _pending(url, who["bob"]) == []
    expired = client.get_deposit("BIG-2")
    assert expired["status"] == "rejected" and expired["rejection_code"] == "approval_expired"
    assert _held(env) == 0
    minter.drain()
    assert token.total_supply() == 20_000 * 10**6
    assert [d.status for d in deposits_of(env)] == ["minted", "rejected"]
    kinds = audit_kinds(env)
    assert kinds.count("approval.approved") == 2 and kinds.count("approval.expired") == 1
