"""Attestable reserves bounded by the banks' custody statements: the lesser of the ledger's custody
and the latest fresh statement per bank; a stale or missing statement counts as nothing; a
statement below the ledger is a shortfall (alert, minting halted)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import select

from service import audit
from service.audit.models import AuditEntry
from service.banks.service import require_bank
from service.client import signed_statement
from service.quota.policy import CustodyPolicy, Policy
from service.reserves import custody
from service.reserves import service as reserves
from service.reserves.summary import summary as public_summary
from svc_support import DEMO_POLICY, REPO, accept


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_env(request):
    """The test's database: SQLite, and PostgreSQL (conftest's `env` and `pg_env`)."""
    return request.getfixturevalue("env" if request.param == "sqlite" else "pg_env")


REQUIRED = CustodyPolicy(statements_required=True, statement_max_age=dt.timedelta(hours=36))


def post(env, bank, statement_id, balance, as_of):
    body = signed_statement(
        {
            "statement_id": statement_id,
            "balance": balance,
            "currency": "USD",
            "as_of": as_of.isoformat(),
            "account": "ACC",
        },
        bank.key_id,
        bank.seed,
    )
    with env.db.transaction() as session:
        custody.submit(
            session, require_bank(session, bank.name), custody.StatementRequest.model_validate(body)
        )


def attestable(env, policy=REQUIRED):
    with env.db.reading() as session:
        return reserves.attestable_reserves(session, policy)


def test_the_policy_files_and_default():
    assert Policy.load(REPO / "config" / "policy.yaml").custody == dataclasses.replace(
        REQUIRED, custodian_max_share_bp=6000, concentration_applies_above_cents=1_000_000
    )
    assert Policy.load(DEMO_POLICY).custody.statements_required is False
    assert (
        Policy.from_dict({"categories": {"hk": {"eligible": True, "limit": None, "timezone": "UTC"}}}).custody
        == REQUIRED
    )


def test_attestable_is_the_lesser_of_ledger_and_statement(db_env):
    env = db_env
    hsbc, boc = env.add_bank("hsbc"), env.add_bank("boc")
    accept(env, hsbc, 2, prefix="H", amount="150.00")  # 300.00 at hsbc
    accept(env, boc, 2, prefix="B", amount="100.00")  # 200.00 at boc
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    # no statements: nothing is proven; opted out: the ledger counts whole
    assert attestable(env)[0] == 0
    assert attestable(env, CustodyPolicy(statements_required=False))[0] == 50_000
    assert attestable(env, None)[0] == 50_000
    post(env, hsbc, "H1", "1000.00", now - dt.timedelta(hours=1))  # above the ledger: counts 300
    post(env, boc, "B1", "200.00", now - dt.timedelta(hours=40))  # stale: counts nothing
    amount, banks = attestable(env)
    assert amount == 30_000
    assert {c["bank"]: (c["counted_cents"], c["stale"], c["shortfall_cents"]) for c in banks} == {
        "hsbc": (30_000, False, 0),
        "boc": (0, True, 0),
    }
    post(env, boc, "B2", "150.00", now - dt.timedelta(minutes=5))  # fresh and short by 50
    amount, banks = attestable(env)
    assert amount == 45_000
    with env.db.transaction() as session:
        report = reserves.build_report(session, custody_policy=REQUIRED)
        assert report["attested_cents"] == "45000" and report["total_cents"] == "50000"
        assert [c["statement_as_of"] for c in report["custodians"]] == [
            (now - dt.timedelta(minutes=5)).isoformat(),
            (now - dt.timedelta(hours=1)).isoformat(),
        ]
        assert reserves.build_report(session)["attested_cents"] == "50000"  # without the rule
        assert not reserves.minting_halted(session)
        assert reserves.note_custody_shortfalls(session, banks, actor="attestor") is True
        assert reserves.minting_halted(session)
        halt = reserves.active_halt(session)
        assert halt is not None and halt.codes == "custody_shortfall"
        # a second pass does not alert again
        assert reserves.note_custody_shortfalls(session, banks, actor="attestor") is True
    with env.db.reading() as session:
        alerts = session.scalars(select(AuditEntry).where(AuditEntry.kind == "alert.custody_shortfall")).all()
        assert len(alerts) == 1
        public = audit.leaves.public_view(alerts[0].leaf)["public"]
        assert public["bank"] == "boc" and public["balance"] == "150.00" and public["amount_cents"] == "5000"
        summary = public_summary(session, None)
        assert {c["bank"]: c["statement_balance"] for c in summary["custody"]} == {
            "boc": "150.00",
            "hsbc": "1000.00",
        }
        assert all(c["statement_as_of"] for c in summary["custody"])


def test_a_shortfall_joins_an_active_halt_without_changing_its_difference(db_env):
    env = db_env
    bank = env.add_bank("hsbc")
    accept(env, bank, 2)
    post(env, bank, "S1", "50.00", dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    with env.db.transaction() as session:
        reserves.halt(session, [{"code": "supply_above_ledger"}], difference_units=7, actor="reconciler")
        _, banks = reserves.attestable_reserves(session, REQUIRED)
        assert reserves.note_custody_shortfalls(session, banks, actor="attestor")
        halt = reserves.active_halt(session)
        assert halt is not None
        assert halt.codes == "custody_shortfall,supply_above_ledger" and halt.difference_units == 7


def test_a_second_banks_shortfall_is_alerted_while_a_shortfall_halt_is_active(db_env):
    env = db_env
    hsbc, boc = env.add_bank("hsbc"), env.add_bank("boc")
    accept(env, hsbc, 2, prefix="H", amount="100.00")
    accept(env, boc, 2, prefix="B", amount="100.00")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    post(env, hsbc, "H1", "150.00", now - dt.timedelta(minutes=2))  # short by 50
    post(env, boc, "B1", "200.00", now - dt.timedelta(minutes=2))
    with env.db.transaction() as session:
        _, banks = reserves.attestable_reserves(session, REQUIRED)
        assert reserves.note_custody_shortfalls(session, banks, actor="attestor")
    post(env, boc, "B2", "120.00", now - dt.timedelta(minutes=1))  # now boc is short by 80 too
    with env.db.transaction() as session:
        # the reconciler refreshing the halt keeps the custody findings
        reserves.halt(session, [{"code": "supply_above_ledger"}], difference_units=3, actor="reconciler")
        _, banks = reserves.attestable_reserves(session, REQUIRED)
        assert reserves.note_custody_shortfalls(session, banks, actor="attestor")
        assert reserves.note_custody_shortfalls(session, banks, actor="attestor")  # once per bank
        halt = reserves.active_halt(session)
        assert halt is not None and halt.codes == "custody_shortfall"
        assert sorted(f["bank"] for f in reserves.halt_out(halt)["findings"] if "bank" in f) == [
            "boc",
            "hsbc",
        ]
    with env.db.reading() as session:
        alerts = session.scalars(select(AuditEntry).where(AuditEntry.kind == "alert.custody_shortfall")).all()
        assert [audit.leaves.public_view(a.leaf)["public"]["bank"] for a in alerts] == ["hsbc", "boc"]
