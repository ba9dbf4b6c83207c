"""Four eyes (service/approvals/, service/banks/approvals.py): operators' roles, deposits above the
policy's threshold waiting for an approver, limit raises and minting resumes as requests, self
approval refused, expiry releasing the quota; over real HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import httpx
import pytest
from sqlalchemy import select

from service.app import create_app
from service.banks import service as banks
from service.client import BankClient
from service.models import Approval, AuditEntry, Deposit, LedgerPosting, QuotaUsage, WebhookDelivery
from service.quota.policy import FourEyesPolicy, Policy, PolicyError
from service.reserves import service as reserves
from svc_support import DEMO_POLICY, PRODUCTION_POLICY, LiveServer, confirmation

FOUR_EYES = FourEyesPolicy(
    deposit_above_cents=1_000_000,  # 10,000.00
    deposit_approval=dt.timedelta(hours=2),
    minting_resume=True,
    bank_limit_raise=True,
    request_expiry=dt.timedelta(hours=1),
)


# -- policy and roles -------------------------------------------------------------------------


def test_policies_configure_four_eyes():
    production = Policy.load(PRODUCTION_POLICY).four_eyes
    assert production.deposit_above_cents == 25_000_000
    assert production.minting_resume and production.bank_limit_raise
    assert production.deposit_approval == dt.timedelta(hours=24)
    demo = Policy.load(DEMO_POLICY).four_eyes
    assert demo.deposit_above_cents == 50_000_000
    assert demo.deposit_waits(50_000_001) and not demo.deposit_waits(50_000_000)
    # without the section nothing waits
    assert not Policy.from_dict(
        {"categories": {"hk": {"eligible": True, "limit": None, "timezone": "UTC"}}}
    ).four_eyes.deposit_waits(10**12)


@pytest.mark.parametrize(
    "section",
    [
        {"deposit_above": "-5"},
        {"deposit_above": "1.001"},
        {"deposit_above": "lots"},
        {"deposit_approval_hours": 0},
        {"request_expiry_hours": 24 * 32},
        {"minting_resume": "maybe"},
        {"surprise": True},
    ],
)
def test_four_eyes_section_is_validated(section):
    base = {"categories": {"hk": {"eligible": True, "limit": None, "timezone": "UTC"}}}
    with pytest.raises(PolicyError, match="four_eyes"):
        Policy.from_dict({**base, "four_eyes": section})


def test_require_role(env):
    with env.db.transaction() as session:
        sup, _ = banks.create_operator(session, "sam", actor="test", role="supervisor")
        appr, _ = banks.create_operator(session, "bob", actor="test", role="approver")
        with pytest.raises(banks.InvalidBankInput):
            banks.create_operator(session, "eve", actor="test", role="root")
    assert banks.require_role(sup, "supervisor") is sup
    assert banks.require_role(appr, "operator", "approver") is appr
    with pytest.raises(banks.OperatorRoleRequired) as refused:
        banks.require_role(sup, "operator", "approver")
    assert refused.value.status_code == 403 and refused.value.code == "operator_role_required"


# -- over HTTP --------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def staff(request):
    """(env, url, {name: headers}, the bank "hsbc" with a webhook URL), four eyes on."""
    env = request.getfixturevalue("env" if request.param == "sqlite" else "pg_env")
    env.policy = dataclasses.replace(env.policy, four_eyes=FOUR_EYES)
    env.clock.now = dt.datetime.now(dt.UTC)
    headers = {}
    with env.db.transaction() as session:
        for name, role in (
            ("alice", "operator"),
            ("bob", "approver"),
            ("carl", "approver"),
            ("sam", "supervisor"),
        ):
            _, token = banks.create_operator(session, name, actor="test", role=role)
            headers[name] = {"Authorization": f"Bearer {token}"}
    bank = env.add_bank("hsbc", webhook_url="http://127.0.0.1:9/hook")
    app = create_app(env.settings, env.db, policy=env.policy, clock=env.clock)
    with LiveServer(app) as server:
        yield env, server.url, headers, bank


def _client(url, bank):
    return BankClient(url, api_key=bank.api_key, key_id=bank.key_id, private_key=bank.seed)


def _post(url, path, who, body=None):
    return httpx.post(f"{url}{path}", headers=who, json=body)


def _pending(url, who):
    response = httpx.get(f"{url}/v1/operator/approvals", headers=who, params={"status": "pending"})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def _audit_kinds(env):
    with env.db.reading() as session:
        return list(session.scalars(select(AuditEntry.kind).order_by(AuditEntry.seq)))


def _quota_held(env):
    with env.db.reading() as session:
        return sum(row.held_cents for row in session.scalars(select(QuotaUsage)))


def test_a_large_deposit_waits_for_a_second_operator(staff):
    env, url, who, bank = staff
    client = _client(url, bank)
    assert client.submit(confirmation("SMALL-1", amount="10000.00")).json()["status"] == "accepted"
    response = client.submit(confirmation("BIG-1", amount="20000.00"))
    assert response.status_code == 201, response.text
    waiting = response.json()
    assert waiting["status"] == "awaiting_approval" and waiting["deposit_id"] is None
    assert client.get_deposit("BIG-1")["status"] == "awaiting_approval"
    assert _quota_held(env) == 3_000_000  # the quota is held for it

    [item] = _pending(url, who["sam"])  # a supervisor reads the requests
    assert item["action"] == "deposit" and item["requested_by"] == "bank:hsbc"
    assert item["params"]["amount_cents"] == 2_000_000 and item["params"]["reference"] == "BIG-1"
    path = f"/v1/operator/approvals/{item['id']}"
    assert httpx.get(f"{url}{path}", headers=who["sam"]).json() == item

    for name in ("sam", "alice"):  # a supervisor and a plain operator cannot approve
        refused = _post(url, f"{path}/approve", who[name])
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "operator_role_required"
    refused = _post(url, f"{path}/reject", who["sam"], {})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "operator_role_required"
    assert client.get_deposit("BIG-1")["status"] == "awaiting_approval"

    approved = _post(url, f"{path}/approve", who["bob"])
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved" and approved.json()["decided_by"] == "operator:bob"
    accepted = client.get_deposit("BIG-1")
    assert accepted["status"] == "accepted" and accepted["deposit_id"] is not None
    again = _post(url, f"{path}/approve", who["carl"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "approval_not_pending"
    assert _pending(url, who["bob"]) == []

    kinds = _audit_kinds(env)
    assert "deposit.awaiting_approval" in kinds and "approval.requested" in kinds
    assert kinds.index("approval.approved") > kinds.index("approval.requested")
    with env.db.reading() as session:
        deposit = session.scalars(select(Deposit).where(Deposit.reference == "BIG-1")).one()
        credited = session.scalars(
            select(LedgerPosting).where(LedgerPosting.reference == str(deposit.id))
        ).all()
        assert len(credited) == 1  # credited to custody only once approved
        statuses = [
            json.loads(d.payload)["deposit"]["status"]
            for d in session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.deposit_seq == deposit.id)
                .order_by(WebhookDelivery.id)
            )
        ]
    assert statuses == ["awaiting_approval", "accepted"]


def test_a_waiting_deposit_expires_or_is_rejected_and_its_quota_is_released(staff):
    env, url, who, bank = staff
    client = _client(url, bank)
    assert client.submit(confirmation("BIG-1", amount="20000.00")).json()["status"] == "awaiting_approval"
    assert client.submit(confirmation("BIG-2", amount="20000.00")).json()["status"] == "awaiting_approval"
    # the mainland quota (50,000 a year) holds both: a third does not fit
    full = client.submit(confirmation("BIG-3", amount="20000.00"))
    assert full.status_code == 422 and full.json()["error"]["code"] == "quota_exceeded"
    assert _quota_held(env) == 4_000_000

    first, second = _pending(url, who["bob"])
    rejected = _post(
        url, f"/v1/operator/approvals/{second['id']}/reject", who["bob"], {"reason": "unexpected"}
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    gone = client.get_deposit("BIG-2")
    assert gone["status"] == "rejected" and gone["rejection_code"] == "approval_rejected"
    assert _quota_held(env) == 2_000_000

    env.clock.now += dt.timedelta(hours=2, seconds=1)  # past deposit_approval
    late = _post(url, f"/v1/operator/approvals/{first['id']}/approve", who["bob"])
    assert late.status_code == 409 and late.json()["error"]["code"] == "approval_not_pending"
    assert _pending(url, who["sam"]) == []
    expired = client.get_deposit("BIG-1")
    assert expired["status"] == "rejected" and expired["rejection_code"] == "approval_expired"
    assert _quota_held(env) == 0
    kinds = _audit_kinds(env)
    assert {"approval.rejected", "approval.expired", "quota.released"} <= set(kinds)
    with env.db.reading() as session:
        rows = {r.id: r.status for r in session.scalars(select(Approval))}
    assert rows == {first["id"]: "expired", second["id"]: "rejected"}
    # the quota is back: another large deposit fits (and waits)
    assert client.submit(confirmation("BIG-4", amount="20000.00")).json()["status"] == "awaiting_approval"
    # the bank's own read expires it once its time has passed
    env.clock.now += dt.timedelta(hours=2, seconds=1)
    late = client.get_deposit("BIG-4")
    assert late["status"] == "rejected" and late["rejection_code"] == "approval_expired"
    assert _quota_held(env) == 0


def test_raising_a_limit_waits_and_self_approval_is_refused(staff):
    env, url, who, bank = staff
    path = "/v1/operator/banks/hsbc/limits"
    lowered = _post(url, path, who["alice"], {"single_max": "50000.00", "daily_limit": "80000.00"})
    assert lowered.status_code == 200, lowered.text
    assert lowered.json()["bank"]["single_max"] == "50000.00"
    refused = _post(url, path, who["sam"], {"single_max": "10.00"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "operator_role_required"

    raised = _post(url, path, who["bob"], {"single_max": "90000.00", "daily_limit": "80000.00"})
    assert raised.status_code == 202, raised.text
    request = raised.json()["approval"]
    assert request["action"] == "bank_limits" and request["requested_by"] == "operator:bob"
    assert request["params"]["single_max_cents"] == 9_000_000
    with env.db.reading() as session:
        assert banks.require_bank(session, "hsbc").single_max_cents == 5_000_000  # not yet
    own = _post(url, f"/v1/operator/approvals/{request['id']}/approve", who["bob"])
    assert own.status_code == 403 and own.json()["error"]["code"] == "self_approval_refused"
    own = _post(url, f"/v1/operator/approvals/{request['id']}/reject", who["bob"], {})
    assert own.status_code == 403 and own.json()["error"]["code"] == "self_approval_refused"
    done = _post(url, f"/v1/operator/approvals/{request['id']}/approve", who["carl"])
    assert done.status_code == 200, done.text
    with env.db.reading() as session:
        row = banks.require_bank(session, "hsbc")
        assert (row.single_max_cents, row.daily_limit_cents) == (9_000_000, 8_000_000)

    # a request whose limits changed meanwhile is stale
    stale = _post(url, path, who["alice"], {"single_max": None, "daily_limit": "80000.00"}).json()["approval"]
    assert (
        _post(url, path, who["alice"], {"single_max": "1000.00", "daily_limit": "80000.00"}).status_code
        == 200
    )
    answer = _post(url, f"/v1/operator/approvals/{stale['id']}/approve", who["carl"])
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "approval_stale"
    assert _post(url, f"/v1/operator/approvals/{stale['id']}/reject", who["carl"], {}).status_code == 200


def test_a_supervisor_changes_nothing(staff):
    env, url, who, bank = staff
    sam = who["sam"]
    assert httpx.get(f"{url}/v1/operator/banks", headers=sam).status_code == 200
    assert httpx.get(f"{url}/v1/operator/minting/halt", headers=sam).status_code == 200
    assert httpx.get(f"{url}/v1/operator/payouts", headers=sam).status_code == 200
    assert httpx.post(f"{url}/v1/audit/verify", headers=sam).status_code == 200  # a read
    for path, body in (
        ("/v1/operator/banks", {"name": "dbs"}),
        ("/v1/operator/banks/hsbc/disable", None),
        ("/v1/operator/banks/hsbc/api-keys", None),
        ("/v1/operator/minting/resume", {"cause": "all fixed"}),
    ):
        response = _post(url, path, sam, body)
        assert response.status_code == 403, (path, response.text)
        assert response.json()["error"]["code"] == "operator_role_required"
    with env.db.reading() as session:
        assert banks.require_bank(session, "hsbc").active


def test_resuming_is_a_request_the_approver_performs(staff):
    env, url, who, bank = staff
    none = _post(url, "/v1/operator/minting/resume", who["alice"], {"cause": "nothing to lift"})
    assert none.status_code == 409 and none.json()["error"]["code"] == "minting_not_halted"
    with env.db.transaction() as session:
        halt, _ = reserves.halt(
            session, [{"code": "supply_mismatch"}], difference_units=7, actor="reconciler"
        )
    asked = _post(
        url, "/v1/operator/minting/resume", who["alice"], {"cause": "explained", "acknowledge_units": "7"}
    )
    assert asked.status_code == 202, asked.text
    request = asked.json()["approval"]
    assert request["action"] == "minting_resume"
    assert request["params"] == {"halt_id": halt.id, "cause": "explained", "acknowledge_units": "7"}
    # the approver's approval runs the resume: here without a chain it is refused, and the
    # request stays pending (the halt too)
    refused = _post(url, f"/v1/operator/approvals/{request['id']}/approve", who["bob"])
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "chain_required"
    assert [r["id"] for r in _pending(url, who["bob"])] == [request["id"]]
    with env.db.reading() as session:
        assert reserves.active_halt(session) is not None
    env.clock.now += dt.timedelta(hours=1, seconds=1)  # past request_expiry
    assert _pending(url, who["bob"]) == []
    assert "approval.expired" in _audit_kinds(env)


# -- the migration and the workers' pass ------------------------------------------------------


def test_existing_operators_become_operators(tmp_path):
    from sqlalchemy import create_engine, text

    from service.db.migrations import upgrade

    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0008")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO operators (name, token_hash, created_at) VALUES ('old', 'h', CURRENT_TIMESTAMP)"
            )
        )
    upgrade(engine)
    with engine.begin() as connection:
        assert connection.execute(text("SELECT name, role FROM operators")).all() == [("old", "operator")]
    engine.dispose()


def test_the_workers_expire_waiting_deposits(env):
    import threading

    from service import workers
    from service.approvals.service import run_expiry_loop
    from service.client import signed_request
    from service.deposits.schemas import DepositRequest
    from service.deposits.service import submit
    from wait_support import join, wait_for

    assert "four-eyes-expiry" in [name for name, _, _ in workers._planned(env.settings, env.db, {})]
    env.policy = dataclasses.replace(env.policy, four_eyes=FOUR_EYES)
    bank = env.add_bank("hsbc")
    body = signed_request(confirmation("BIG-1", amount="20000.00"), bank.key_id, bank.seed)
    with env.db.transaction() as session:
        outcome = submit(
            session,
            bank=banks.require_bank(session, "hsbc"),
            request=DepositRequest.model_validate(body),
            settings=env.settings,
            policy=env.policy,
            now=env.clock(),
        )
    assert outcome.deposit.status == "awaiting_approval"
    assert _quota_held(env) == 2_000_000
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)  # a restarted service, hours later
    stop = threading.Event()
    thread = threading.Thread(target=run_expiry_loop, args=(env.db, stop, lambda: later, 0.05))
    thread.start()
    try:

        def rejected() -> bool:
            with env.db.reading() as session:
                return session.get(Deposit, outcome.deposit.id).status == "rejected"

        wait_for("the waiting deposit to expire", rejected, 10)
    finally:
        stop.set()
        join(thread, timeout=10)
    assert _quota_held(env) == 0
    assert "approval.expired" in _audit_kinds(env)


@pytest.mark.postgres
def test_concurrent_decisions_perform_a_request_once(pg_env):
    import threading

    from service.approvals import service as four_eyes
    from service.banks import approvals
    from service.client import signed_request
    from service.deposits.schemas import DepositRequest
    from service.deposits.service import submit

    env = pg_env
    env.policy = dataclasses.replace(env.policy, four_eyes=FOUR_EYES)
    bank = env.add_bank("hsbc")
    with env.db.transaction() as session:
        deciders = [
            banks.create_operator(session, f"a{i}", actor="test", role="approver")[0] for i in range(4)
        ]
    now = dt.datetime.now(dt.UTC)
    seqs = []
    for ref in ("BIG-1", "BIG-2"):
        body = signed_request(confirmation(ref, amount="20000.00"), bank.key_id, bank.seed)
        with env.db.transaction() as session:
            seqs.append(
                submit(
                    session,
                    bank=banks.require_bank(session, "hsbc"),
                    request=DepositRequest.model_validate(body),
                    settings=env.settings,
                    policy=env.policy,
                    now=now,
                ).deposit.id
            )
    with env.db.reading() as session:
        ids = [approvals.for_deposit(session, seq).id for seq in seqs]
    # BIG-1: two approvals and a rejection at once; BIG-2: an approval and the expiry at once
    calls = [
        lambda: four_eyes.approve(env.db, ids[0], deciders[0], now=now),
        lambda: four_eyes.approve(env.db, ids[0], deciders[1], now=now),
        lambda: four_eyes.reject(env.db, ids[0], deciders[2], now=now, reason="no"),
        lambda: four_eyes.approve(env.db, ids[1], deciders[3], now=now),
        lambda: four_eyes.sweep(env.db, now + dt.timedelta(hours=3)),
    ]
    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def run(i):
        barrier.wait()
        try:
            outcomes[i] = calls[i]()
        except approvals.ApprovalNotPending as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(
        isinstance(o, Exception) and not isinstance(o, approvals.ApprovalNotPending) for o in outcomes
    )
    with env.db.reading() as session:
        deposits = [session.get(Deposit, seq) for seq in seqs]
        rows = [session.get(Approval, i) for i in ids]
        for deposit, row in zip(deposits, rows, strict=True):
            assert (row.status, deposit.status) in {
                ("approved", "accepted"),
                ("rejected", "rejected"),
                ("expired", "rejected"),
            }
            postings = session.scalars(
                select(LedgerPosting).where(LedgerPosting.reference == str(deposit.id))
            )
            assert len(list(postings)) == (1 if deposit.status == "accepted" else 0)
        held = sum(u.held_cents for u in session.scalars(select(QuotaUsage)))
    assert held == sum(d.amount_cents for d in deposits if d.status == "accepted")
    # one decision per request won (the expiry pass may take BIG-1 too: it is due then)
    winners = sum(not isinstance(o, Exception) for o in outcomes[:3])
    assert winners == (0 if rows[0].status == "expired" else 1), outcomes
    assert isinstance(outcomes[3], Exception) == (rows[1].status == "expired"), outcomes
