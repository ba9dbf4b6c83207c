"""The reserve ledger without a chain: balanced, immutable postings through acceptance, mint
and rejection; idempotent references; halts and the refusals of their resume (service, operator
API; a resume itself reconciles against the chain first, see the chain tests), and the same
under concurrency on PostgreSQL."""

from __future__ import annotations

import threading

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from reserve_support import assert_postings_balance, balances, halted
from service import ledger
from service.cli import cli
from service.deposits import outbox
from service.models import AuditEntry, LedgerPosting, MintingHalt
from service.reserves import service as reserves
from service.reserves.resume import ChainRequired, resume_minting
from svc_support import accept, server_env
from wait_support import join

TX = "0x" + "cd" * 32


def identity_holds(b: ledger.Balances) -> None:
    assert b.reserves == b.pending_mint + b.tokens_outstanding + b.pending_payouts + b.refunds_due + b.wiped


def test_acceptMintReject_postBalancedEntries(env):
    bank = env.add_bank()
    seqs = accept(env, bank, 5)  # 5 x 100.00
    b = balances(env)
    assert b.reserves == b.pending_mint == 50_000 and b.tokens_outstanding == 0
    with env.db.transaction() as session:
        outbox.claim_batch(session, 3)
    with env.db.transaction() as session:
        outbox.mark_minted(session, seqs[:3], TX, 12)
    with env.db.transaction() as session:
        outbox.mark_rejected(session, seqs[3:4], "beneficiary_frozen", "frozen")
    b = balances(env)
    assert (b.reserves, b.pending_mint, b.tokens_outstanding, b.refunds_due) == (
        50_000,
        10_000,
        30_000,
        10_000,
    )
    assert b.attestable == 40_000  # a refund due backs no token
    identity_holds(b)
    assert_postings_balance(env)
    with env.db.reading() as session:
        assert ledger.supply_units(session) == 30_000 * 10_000
        assert ledger.supply_units(session, 11) == 0  # the mint's block is 12
        kinds = sorted(p.kind for p in ledger.postings(session))
    assert kinds == ["deposit_accepted"] * 5 + ["deposit_minted", "deposit_returned"]


def test_post_refusesUnbalancedOrNonIntegerLines_andIsIdempotentPerReference(env):
    with env.db.transaction() as session:
        with pytest.raises(ledger.LedgerError):
            ledger.post(session, kind="test", reference="1", lines=[(ledger.PENDING_MINT, 1)], actor="t")
        with pytest.raises(ledger.LedgerError):
            ledger.post(
                session,
                kind="test",
                reference="1",
                lines=[(ledger.PENDING_MINT, 1.0), (ledger.WIPED, -1.0)],
                actor="t",
            )
        with pytest.raises(ledger.LedgerError):
            ledger.post(
                session, kind="test", reference="1", lines=[("nonsense", 1), (ledger.WIPED, -1)], actor="t"
            )
    bank = env.add_bank()
    bank_id = accept(env, bank, 1) and 1
    with env.db.transaction() as session:
        first = ledger.record_payout_settled(
            session, bank_id=bank_id, amount_cents=500, payout_id=3, actor="t"
        )
        again = ledger.record_payout_settled(
            session, bank_id=bank_id, amount_cents=500, payout_id=3, actor="t"
        )
    assert first is not None and again is None
    with env.db.reading() as session:
        assert session.scalar(select(func.count()).where(LedgerPosting.kind == "payout_settled")) == 1
    assert_postings_balance(env)


def test_redemptionWithDust_paysWholeCentsAndTracksExactUnits(env):
    with env.db.transaction() as session:
        for _ in range(2):  # the second is a replay: nothing more is posted
            ledger.record_redemption(
                session,
                redemption_id=1,
                units=12_345_678,
                holder="0x" + "11" * 20,
                tx_hash=TX,
                block_number=5,
                actor="t",
            )
        ledger.record_redemption(
            session,
            redemption_id=2,
            units=5_000,
            holder="0x" + "11" * 20,
            tx_hash=TX,
            block_number=6,
            actor="t",
        )  # dust only: no lines
        assert ledger.supply_units(session) == -(12_345_678 + 5_000)
    b = balances(env)
    assert b.pending_payouts == 1_234 and b.tokens_outstanding == -1_234


def test_halt_isSingleAndResumeNeedsACauseAndAFreshReconciliation(env):
    with env.db.transaction() as session:
        _, created = reserves.halt(session, [{"code": "supply_mismatch"}], difference_units=7, actor="t")
        _, again = reserves.halt(session, [{"code": "supply_mismatch"}], difference_units=9, actor="t")
    assert created and not again and halted(env)
    with env.db.reading() as session:
        assert reserves.active_halt(session).difference_units == 9  # the latest measurement
    with pytest.raises(reserves.CauseRequired):
        resume_minting(env.db, cause="", actor="t", reconciler=None)
    # without a chain there is no fresh reconciliation, so no resume
    with pytest.raises(ChainRequired):
        resume_minting(env.db, cause="explained", actor="t", reconciler=None)
    assert halted(env)
    with env.db.reading() as session:
        assert reserves.acknowledged_difference(session) == 0
        alerts = session.scalar(select(func.count()).where(AuditEntry.kind == "alert.reserves_discrepancy"))
    assert alerts == 1


def test_operatorApi_resume_refusals(live):
    env, url = live
    result = CliRunner().invoke(cli, ["operator", "add", "alice"], env=server_env(env.settings))
    token = result.output.split("token (shown once): ")[1].strip()
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.post(f"{url}/v1/operator/minting/resume", json={"cause": "x y z"}).status_code == 401
    response = httpx.post(f"{url}/v1/operator/minting/resume", headers=headers, json={"cause": "fixed"})
    assert response.status_code == 409 and response.json()["error"]["code"] == "minting_not_halted"
    with env.db.transaction() as session:
        reserves.halt(session, [{"code": "reserves_below_supply"}], difference_units=0, actor="t")
    assert httpx.get(f"{url}/v1/operator/minting/halt", headers=headers).json()["halt"]["active"] is True
    assert httpx.get(f"{url}/v1/reserves").json()["minting_halted"] is True  # public, no login
    response = httpx.post(f"{url}/v1/operator/minting/resume", headers=headers, json={"cause": " "})
    assert response.status_code == 422
    response = httpx.post(
        f"{url}/v1/operator/minting/resume",
        headers=headers,
        json={"cause": "fixed it", "acknowledge_units": "1.5"},
    )
    assert response.status_code == 422
    # this service has no chain configured: it cannot reconcile afresh, so it does not resume
    response = httpx.post(f"{url}/v1/operator/minting/resume", headers=headers, json={"cause": "fixed it"})
    assert response.status_code == 409 and response.json()["error"]["code"] == "chain_required"
    assert halted(env)


@pytest.mark.postgres
def test_postgres_concurrentSettlementsAndHalts_recordOnce(pg_env):
    bank = pg_env.add_bank()
    accept(pg_env, bank, 1)
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            barrier.wait()
            with pg_env.db.transaction() as session:
                ledger.record_payout_settled(
                    session, bank_id=1, amount_cents=100, payout_id=42, actor=f"w{i}"
                )
            with pg_env.db.transaction() as session:
                reserves.halt(session, [{"code": "supply_mismatch"}], difference_units=i, actor=f"w{i}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    join(*threads)
    assert errors == []
    with pg_env.db.reading() as session:
        assert session.scalar(select(func.count()).where(LedgerPosting.kind == "payout_settled")) == 1
        assert session.scalar(select(func.count()).select_from(MintingHalt)) == 1
        assert (
            session.scalar(select(func.count()).where(AuditEntry.kind == "alert.reserves_discrepancy")) == 1
        )
    assert balances(pg_env).reserves == 10_000 - 100
    assert_postings_balance(pg_env)


def _snapshot(env) -> tuple:
    with env.db.reading() as session:
        posted = sorted(
            (
                p.kind,
                p.reference,
                p.supply_delta_units,
                p.block_number,
                tuple(sorted(ledger.posting_lines(session, p.id))),
            )
            for p in ledger.postings(session, limit=1000)
        )
        return balances(env), ledger.supply_units(session), posted


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_migration0003_backfillsTheLedgerOfAnExistingDatabase(backend, request):
    """A database from before the ledger gets, on upgrade, exactly the postings the service
    would have made (here: drop the ledger by downgrading to 0002, upgrade again)."""
    from alembic import command

    from service.db import alembic_config

    env = request.getfixturevalue("env" if backend == "sqlite" else "pg_env")
    bank = env.add_bank()
    seqs = accept(env, bank, 5)
    with env.db.transaction() as session:
        outbox.claim_batch(session, 3)
    with env.db.transaction() as session:
        outbox.mark_minted(session, seqs[:2], TX, 12)
    with env.db.transaction() as session:
        outbox.mark_minted(session, seqs[2:3], "0x" + "ef" * 32, 14)
    with env.db.transaction() as session:
        outbox.mark_rejected(session, seqs[3:4], "beneficiary_frozen", "frozen")
    before = _snapshot(env)
    config = alembic_config()
    with env.db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")
    env.db.upgrade()
    assert _snapshot(env) == before
    assert_postings_balance(env)
