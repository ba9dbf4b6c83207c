"""The custodian concentration limit (policy `custody.custodian_max_share_percent`, applied once
the total reserves pass `custody.concentration_applies_above`): the policy's validation, and a
deposit refused with 422 `custodian_concentration` that writes nothing and holds no quota."""

from __future__ import annotations

import dataclasses

import pytest

from service.banks.service import require_bank
from service.client import signed_request
from service.deposits.concentration import CustodianConcentration
from service.deposits.schemas import DepositRequest
from service.deposits.service import submit
from service.quota.policy import Policy, PolicyError
from svc_support import DEMO_POLICY, accept, confirmation

BASE = {"categories": {"hk": {"eligible": True, "limit": None, "timezone": "UTC"}}}


def custody(**fields) -> Policy:
    return Policy.from_dict({**BASE, "custody": fields})


def test_the_policy_is_validated():
    assert custody().custody.custodian_max_share_bp is None  # absent: no limit
    assert custody().custody.concentration_applies_above_cents == 0
    assert custody(custodian_max_share_percent=100).custody.custodian_max_share_bp == 10_000
    assert custody(custodian_max_share_percent="33.33").custody.custodian_max_share_bp == 3333
    limited = custody(custodian_max_share_percent=40, concentration_applies_above="5000000.00").custody
    assert (limited.custodian_max_share_bp, limited.concentration_applies_above_cents) == (4000, 500_000_000)
    for bad in (0, -1, 100.5, 101, "12.345", "x"):
        with pytest.raises(PolicyError, match="custodian_max_share_percent"):
            custody(custodian_max_share_percent=bad)
    for bad in ("-1.00", "1.001", "lots"):
        with pytest.raises(PolicyError, match="concentration_applies_above"):
            custody(custodian_max_share_percent=50, concentration_applies_above=bad)
    demo = Policy.load(DEMO_POLICY).custody
    assert demo.custodian_max_share_bp == 6000 and demo.concentration_applies_above_cents == 100_000_000_000


def _submit(env, bank, reference, amount, id_number="H0"):
    body = signed_request(confirmation(reference, amount=amount, id_number=id_number), bank.key_id, bank.seed)
    with env.db.transaction() as session:
        return submit(
            session,
            bank=require_bank(session, bank.name),
            request=DepositRequest.model_validate(body),
            settings=env.settings,
            policy=env.policy,
            now=env.clock(),
        )


def test_a_deposit_above_the_share_is_refused_once_the_floor_is_passed(env):
    env.policy = dataclasses.replace(
        env.policy,
        custody=dataclasses.replace(
            env.policy.custody, custodian_max_share_bp=6000, concentration_applies_above_cents=100_000
        ),
    )
    hsbc, boc = env.add_bank("hsbc"), env.add_bank("boc")
    # the first 1000.00 of a new system: all at one bank, below the floor
    accept(env, hsbc, 2, prefix="H", amount="500.00")
    accept(env, boc, 1, prefix="B", amount="400.00")  # 1400.00: hsbc 71%, above the floor now
    before = env.snapshot()
    with pytest.raises(CustodianConcentration) as refused:
        _submit(env, hsbc, "H-3", "100.00")
    assert refused.value.status_code == 422 and refused.value.code == "custodian_concentration"
    assert refused.value.message == (
        "This deposit of 100.00 would bring hsbc's custody to 1100.00 of total reserves of 1500.00 "
        "(73.33%), above the maximum share of 60.00% per custodian (applies above total reserves "
        "of 1000.00)."
    )
    assert env.snapshot() == before  # no deposit, audit entry, quota hold or daily usage
    # the reference stays unused: the same deposit goes through once the share allows it
    accept(env, boc, 1, prefix="B2", amount="600.00")  # hsbc 1000 of 2000: 50%
    outcome = _submit(env, hsbc, "H-3", "100.00")
    assert outcome.error is None and outcome.deposit.status == "accepted"  # 1100 of 2100: 52%
    with pytest.raises(CustodianConcentration):
        _submit(env, hsbc, "H-4", "600.00")  # 1700 of 2700: 62.96%
    assert _submit(env, hsbc, "H-5", "300.00").error is None  # 1400 of 2400: 58.33%


def test_within_one_batch_each_deposit_counts_those_before_it(env):
    """The custody is summed once per transaction and then kept up to date: the deposits of
    one batch (one transaction of items) are each checked against those accepted before them."""
    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.client import signed_batch

    env.policy = dataclasses.replace(
        env.policy,
        custody=dataclasses.replace(
            env.policy.custody, custodian_max_share_bp=6000, concentration_applies_above_cents=100_000
        ),
    )
    hsbc, boc = env.add_bank("hsbc"), env.add_bank("boc")
    accept(env, boc, 1, prefix="B", amount="1000.00")
    batch = [confirmation(f"H-{i}", amount="400.00", id_number=f"H{i}") for i in range(5)]
    app = create_app(env.settings, env.db, policy=env.policy, clock=env.clock)
    with TestClient(app) as client:
        response = client.post(
            "/v1/deposits/batch",
            json=signed_batch(batch, hsbc.key_id, hsbc.seed),
            headers={"Authorization": f"Bearer {hsbc.api_key}"},
        )
    # hsbc 400 of 1400 (29%), 800 of 1800 (44%), 1200 of 2200 (55%), then 1600 of 2600 (62%)
    codes = [r.get("error", {}).get("code", r["status"]) for r in response.json()["results"]]
    assert codes == [201, 201, 201, "custodian_concentration", "custodian_concentration"]
