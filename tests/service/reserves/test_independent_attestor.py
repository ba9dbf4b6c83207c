"""The independent attestor (`ushk attestor run`, service/reserves/independent.py) on anvil, on
SQLite and PostgreSQL: it attests at most what the banks' signed fresh statements prove, whatever
a stolen service host (the minter's key and write access to the service's database) writes
there; the contract then refuses a mint above it. A stale statement counts nothing; a shortfall
against the supply is attested all the same, and alerted."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from attestor_support import post_statement as post
from attestor_support import statement
from chain_support import UNITS_PER_USD, audit_kinds
from service import ledger
from service.banks.service import require_bank
from service.chain.token import ChainRevert, load_account
from service.deposits.signing import canonical_confirmation
from service.quota.policy import CustodyPolicy
from service.reserves import service as reserves
from service.reserves.independent import IndependentAttestor, PinnedKeys, current_keys
from service.reserves.models import CustodyStatement
from svc_support import accept

USD = UNITS_PER_USD
MAX_AGE = dt.timedelta(hours=36)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_env(request):
    return request.getfixturevalue("env" if request.param == "sqlite" else "pg_env")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def attestor_for(env, deployed, **kwargs) -> IndependentAttestor:
    with env.db.reading() as session:
        pinned = current_keys(session)
    return IndependentAttestor(
        env.db,
        deployed.token(),
        load_account(deployed.attestor.private_key),
        pinned,
        max_age=MAX_AGE,
        min_interval=0.0,
        **kwargs,
    )


def forge_custody(env, bank, cents: int) -> None:
    """What a stolen host can write: custody the bank never confirmed."""
    with env.db.transaction() as session:
        bank_id = require_bank(session, bank.name).id
        ledger.post(
            session,
            kind=ledger.DEPOSIT_ACCEPTED,
            reference=f"forged-{cents}",
            lines=[(ledger.custody(bank_id), cents), (ledger.PENDING_MINT, -cents)],
            actor="thief",
        )


def insert_statement(env, bank, **values) -> None:
    """A statement row written straight into the database, past the API's signature check."""
    with env.db.transaction() as session:
        bank_id = require_bank(session, bank.name).id
        row = {
            "bank_id": bank_id,
            "statement_id": values.pop("statement_id"),
            "account": "RESERVE-1",
            "key_id": bank.key_id,
            "created_at": now(),
            **values,
        }
        session.add(CustodyStatement(**row))


def test_a_stolen_service_host_cannot_raise_the_attestation(db_env, deployed):
    env = db_env
    bank = env.add_bank("hsbc")
    accept(env, bank, 3, amount="100.00")  # US$300 in custody
    post(env, bank, "S1", "300.00", now() - dt.timedelta(hours=1))
    attestor = attestor_for(env, deployed)
    token = deployed.token()

    attestor.attest(reason="test")
    assert token.reserve_attestation().amount == 300 * USD

    # the thief: a million dollars of custody in the ledger, statements that say so (one
    # unsigned, one signed by a key of its own, one whose stored balance column was raised)
    forge_custody(env, bank, 100_000_000)
    later = now() - dt.timedelta(minutes=1)
    forged = statement(bank, "S2", "1000300.00", later, seed=b"\x07" * 32)
    body = canonical_confirmation(forged["statement"]).decode()
    insert_statement(
        env, bank, statement_id="S2", balance_cents=100_030_000, as_of=later, body=body, signature=None
    )
    insert_statement(
        env,
        bank,
        statement_id="S3",
        balance_cents=100_030_000,
        as_of=later,
        body=body.replace("S2", "S3"),
        signature=forged["signature"],
    )
    with env.db.transaction() as session:
        session.execute(update(CustodyStatement).values(balance_cents=100_030_000))
    # the service's own view now believes it
    with env.db.reading() as session:
        assert reserves.attestable_reserves(session, CustodyPolicy())[0] == 100_030_000

    found = attestor.assess()
    assert found.amount_cents == 30_000 and found.signed_cents == 30_000
    assert found.refused == {"signature invalid": 2}
    assert attestor.tick() is None  # nothing changed for the attestor: nothing to attest
    assert token.reserve_attestation().amount == 300 * USD

    # the thief mints with the minter's key: the contract refuses above the attested reserve
    minter = load_account(deployed.minter.private_key)
    rogue = deployed.holders[0].address
    with pytest.raises(ChainRevert) as refused:
        token.transact(minter, "mint", rogue, 301 * USD, b"\x11" * 32)
    assert refused.value.name == "ReserveCeilingExceeded"
    token.transact(minter, "mint", rogue, 300 * USD, b"\x12" * 32)  # what the banks signed is mintable
    # the ledger's custody above the bank's statement: a shortfall, minting halted
    attestor.attest(reason="test")
    with env.db.reading() as session:
        assert reserves.minting_halted(session)
    assert "alert.custody_shortfall" in audit_kinds(env)


def test_only_pinned_keys_count(db_env, deployed):
    env = db_env
    bank = env.add_bank("hsbc")
    accept(env, bank, 2, amount="100.00")
    post(env, bank, "S1", "200.00", now() - dt.timedelta(hours=1))
    attestor = attestor_for(env, deployed)
    attestor.pinned = PinnedKeys({"hsbc": {bank.key_id: "A" * 43 + "="}})  # another key pinned
    assert attestor.assess().amount_cents == 0
    attestor.pinned = PinnedKeys({})
    assert attestor.assess().amount_cents == 0


def test_a_stale_statement_counts_nothing(db_env, deployed):
    env = db_env
    bank = env.add_bank("hsbc")
    accept(env, bank, 2, amount="100.00")
    post(env, bank, "OLD", "200.00", now() - MAX_AGE - dt.timedelta(minutes=5))
    attestor = attestor_for(env, deployed)
    assert attestor.tick() is not None  # the first attestation
    assert deployed.token().reserve_attestation().amount == 0
    # the host makes the old statement look fresh in the database: the signed as_of decides
    with env.db.transaction() as session:
        session.execute(update(CustodyStatement).values(as_of=now()))
    found = attestor.assess()
    assert found.amount_cents == 0 and found.refused == {"stale": 1}
    # a fresh statement: counted at the next tick, the reserves having risen
    post(env, bank, "NEW", "200.00", now())
    assert attestor.tick() is not None
    assert deployed.token().reserve_attestation().amount == 200 * USD
    assert attestor.tick() is None  # idempotent: nothing changed
    assert attestor_for(env, deployed).tick() is None  # restarted: the chain says nothing is due


def test_reserves_below_supply_are_attested_lower_and_alerted(db_env, deployed):
    env = db_env
    bank = env.add_bank("hsbc")
    accept(env, bank, 5, amount="100.00")
    post(env, bank, "S1", "500.00", now() - dt.timedelta(hours=2))
    attestor = attestor_for(env, deployed)
    token = deployed.token()
    attestor.tick()
    assert token.reserve_attestation().amount == 500 * USD
    token.transact(
        load_account(deployed.minter.private_key),
        "mint",
        deployed.holders[1].address,
        500 * USD,
        b"\x21" * 32,
    )
    supply = token.total_supply()

    post(env, bank, "S2", "350.00", now() - dt.timedelta(hours=1))  # the bank holds less
    receipt = attestor.tick()
    assert receipt is not None  # the reserves fell: attested at once
    assert token.reserve_attestation().amount == 350 * USD < supply
    kinds = audit_kinds(env)
    assert "alert.reserves_below_supply" in kinds and "alert.custody_shortfall" in kinds
    with pytest.raises(ChainRevert) as refused:
        token.transact(
            load_account(deployed.minter.private_key), "mint", deployed.holders[1].address, USD, b"\x22" * 32
        )
    assert refused.value.name == "ReserveCeilingExceeded"


def test_a_custodian_marked_failed_counts_nothing_whatever_it_signed(db_env, deployed):
    """The failure drill, seen by the attestor process: the failed bank's signed statement no
    longer counts, so the attestation comes down to the other banks' proven custody; once the
    bank is marked recovered its statement counts again."""
    from service.reserves import failures

    env = db_env
    hsbc, boc = env.add_bank("hsbc"), env.add_bank("boc")
    accept(env, hsbc, 3, amount="200.00")
    accept(env, boc, 2, amount="200.00")
    post(env, hsbc, "H-1", "600.00")
    post(env, boc, "B-1", "400.00")
    attestor = attestor_for(env, deployed)
    assert attestor.tick() is not None
    assert deployed.token().reserve_attestation().amount == 1000 * USD
    with env.db.transaction() as session:
        failures.mark_failed(session, require_bank(session, "hsbc"), cause="drill", actor="operator:test")
    found = attestor.assess()
    assert found.amount_cents == 400_00
    assert [(row["bank"], row["failed"], row["counted_cents"]) for row in found.banks] == [
        ("boc", False, 400_00),
        ("hsbc", True, 0),
    ]
    assert attestor.tick() is not None
    assert deployed.token().reserve_attestation().amount == 400 * USD
    with env.db.transaction() as session:
        failures.mark_recovered(
            session, require_bank(session, "hsbc"), cause="drill over", actor="operator:test"
        )
    assert attestor.assess().amount_cents == 1000_00
