"""On anvil: the attestor attests only what the custodians' statements prove, and a shortfall
halts minting."""

from __future__ import annotations

import datetime as dt

from chain_support import UNITS_PER_USD, audit_kinds, deposit
from service.quota.policy import CustodyPolicy
from service.reserves import service as reserves

REQUIRED = CustodyPolicy(statements_required=True, statement_max_age=dt.timedelta(hours=36))


def _as_of(minutes_ago: int) -> str:
    at = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=minutes_ago)
    return at.isoformat().replace("+00:00", "Z")


def test_attestation_is_bounded_by_the_statements_and_a_shortfall_halts(bank, deployed, workers):
    env, client = bank
    _, attestor = workers
    attestor.custody_policy = REQUIRED
    token = deployed.token()
    deposit(client, deployed.holders[0].address, "1000.00")

    attestor.attest(reason="test")  # no statement yet: nothing is proven
    assert token.reserve_attestation().amount == 0

    client.custody_statement(statement_id="S1", balance="1500.00", as_of=_as_of(30), account="A")
    attestor.attest(reason="test")  # proven above the ledger: the ledger's figure
    assert token.reserve_attestation().amount == 1000 * UNITS_PER_USD
    with env.db.reading() as session:
        assert not reserves.minting_halted(session)

    client.custody_statement(statement_id="S2", balance="400.00", as_of=_as_of(1), account="A")
    attestor.ensure_not_above_attestable()  # the attestation comes down to the statement
    assert token.reserve_attestation().amount == 400 * UNITS_PER_USD
    with env.db.reading() as session:
        assert reserves.minting_halted(session)
        halt = reserves.active_halt(session)
        assert halt is not None and "custody_shortfall" in halt.codes
        report = reserves.last_attested_report(session)
        assert report is not None and report.amount_cents == 40_000
    assert "alert.custody_shortfall" in audit_kinds(env)
