"""The custodian failure drill without a chain, on SQLite and PostgreSQL: `ushk bank mark-failed`
lowers the attestable reserve, halts minting and refuses the bank's deposits (nothing written);
`ushk payouts reassign` gives its pending payouts to another bank, which settles them;
`mark-recovered` leaves the halt, and resuming is refused while a bank is still failed."""

from __future__ import annotations

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from service.banks import service as banks
from service.banks.service import CustodianFailed, require_bank
from service.cli import cli
from service.client import BankClient, signed_request
from service.deposits.schemas import DepositRequest
from service.deposits.service import submit
from service.deposits.signing import sign_confirmation
from service.models import AuditEntry, Payout
from service.public import ledger as public_ledger
from service.quota.policy import CustodyPolicy
from service.redemptions import service as redemptions
from service.redemptions.schemas import PayoutAccountIn
from service.reserves import service as reserves
from service.reserves.summary import summary as public_summary
from svc_support import accept, confirmation, server_env, today

LEDGER = CustodyPolicy(statements_required=False)
HOLDER = "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_env(request):
    return request.getfixturevalue("env" if request.param == "sqlite" else "pg_env")


def run(env, *args):
    return CliRunner().invoke(cli, list(args), env=server_env(env.settings))


def ok(env, *args) -> str:
    result = run(env, *args)
    assert result.exit_code == 0, (args, result.output)
    return result.output


def kinds(env) -> list[str]:
    with env.db.reading() as session:
        return list(session.scalars(select(AuditEntry.kind).order_by(AuditEntry.seq)))


def payout_for(env, bank, redemption_id: int, cents: int = 25_000) -> int:
    with env.db.transaction() as session:
        account, _ = redemptions.register_account(
            session,
            env.settings,
            require_bank(session, bank.name),
            PayoutAccountIn(holder=HOLDER, account_reference=f"ACC-{redemption_id}", currency="USD"),
            now=env.clock(),
        )
        payout = redemptions.record_redemption(
            session,
            env.settings,
            redemptions.RedemptionEvent(
                redemption_id=redemption_id,
                holder=HOLDER,
                amount_units=cents * 10_000,
                payout_ref=account.payout_ref,
                tx_hash="0x" + f"{redemption_id:064x}",
                block_number=100 + redemption_id,
                log_index=0,
            ),
            now=env.clock(),
        )
        assert payout is not None
        return payout.id


def test_mark_failed_excludes_custody_halts_refuses_deposits_and_resume(any_env):
    env = any_env
    hsbc, boc = env.add_bank("hsbc"), env.add_bank("boc")
    accept(env, hsbc, 3, amount="100.00")
    accept(env, boc, 2, amount="100.00")  # the same residents (O0-O2): no splitting flag
    with env.db.reading() as session:
        assert reserves.attestable_reserves(session, LEDGER)[0] == 50_000

    assert "needs a cause" in run(env, "bank", "mark-failed", "hsbc", "--cause", " ").output
    ok(env, "banks", "mark-failed", "hsbc", "--cause", "bank run drill")  # `banks`: the same group
    assert "already marked failed" in run(env, "bank", "mark-failed", "hsbc", "--cause", "again").output
    with env.db.reading() as session:
        amount, banks = reserves.attestable_reserves(session, LEDGER)
        assert amount == 20_000  # only boc's custody counts
        assert {c["bank"]: (c["failed"], c["counted_cents"]) for c in banks} == {
            "boc": (False, 20_000),
            "hsbc": (True, 0),
        }
        halt = reserves.active_halt(session)
        assert halt is not None and halt.codes == "custodian_failed"
        [finding] = reserves.halt_out(halt)["findings"]
        assert finding["bank"] == "hsbc" and finding["cause"] == "bank run drill"
        summary = public_summary(session, None)
        assert {c["bank"]: c["failed"] for c in summary["custody"]} == {"boc": False, "hsbc": True}
        assert summary["minting_halted"]
    assert kinds(env)[-3:] == ["custodian.failed", "alert.reserves_discrepancy", "minting.halted"]

    # a new deposit from the failed bank: refused, nothing written, no quota held
    before = env.snapshot()
    body = signed_request(confirmation("H-NEW", amount="50.00", id_number="O1"), hsbc.key_id, hsbc.seed)
    with env.db.transaction() as session, pytest.raises(CustodianFailed, match="marked failed"):
        submit(
            session,
            bank=require_bank(session, "hsbc"),
            request=DepositRequest.model_validate(body),
            settings=env.settings,
            policy=env.policy,
            now=env.clock(),
        )
    assert env.snapshot() == before
    accept(env, boc, 1, prefix="B2", amount="10.00")  # the other bank still takes deposits

    ok(env, "bank", "mark-recovered", "hsbc", "--cause", "drill over")
    assert "not marked failed" in run(env, "bank", "mark-recovered", "hsbc", "--cause", "x-y-z").output
    with env.db.transaction() as session:
        assert reserves.minting_halted(session)  # recovery does not lift the halt
        assert reserves.attestable_reserves(session, LEDGER)[0] == 51_000
    assert kinds(env)[-1] == "custodian.recovered"
    with env.db.reading() as session:  # public: who failed and recovered, not the cause
        page = public_ledger.events(session, after=0, limit=100, types=["bank"])
        custodian = [e for e in page.items if e["kind"].startswith("custodian.")]
        assert [(e["kind"], e["details"]["bank"]) for e in custodian] == [
            ("custodian.failed", "hsbc"),
            ("custodian.recovered", "hsbc"),
        ]
        assert all("cause" not in e["details"] for e in custodian)

    ok(env, "bank", "mark-failed", "boc", "--cause", "second drill")
    with env.db.transaction() as session:
        halt = reserves.active_halt(session)
        assert halt is not None
        assert [f["bank"] for f in reserves.halt_out(halt)["findings"]] == ["hsbc", "boc"]
        with pytest.raises(reserves.CustodianStillFailed, match="boc"):
            reserves.resume(
                session, cause="all fine", actor="test", acknowledged_units=0, evidence={"block": 1}
            )
    assert kinds(env)[-1] == "minting.halt_joined"


def test_reassign_payouts_to_another_bank(any_env):
    env = any_env
    hsbc, boc = env.add_bank("hsbc"), env.add_bank("boc")
    env.add_bank("dbs")
    accept(env, boc, 2, prefix="B", amount="500.00")
    first, second, third = payout_for(env, hsbc, 1), payout_for(env, hsbc, 2), payout_for(env, hsbc, 3)
    ok(env, "bank", "mark-failed", "hsbc", "--cause", "drill")

    assert "no bank named" in run(env, "payouts", "reassign", "--from", "hsbc", "--to", "nope").output
    assert "same bank" in run(env, "payouts", "reassign", "--from", "hsbc", "--to", "hsbc").output
    assert "marked failed" in run(env, "payouts", "reassign", "--from", "boc", "--to", "hsbc").output
    out = ok(env, "payouts", "reassign", "--from", "hsbc", "--to", "dbs", "--id", str(first))
    assert f"1 payout(s) reassigned from hsbc to dbs: [{first}]" in out
    # an id that is not (any more) the --from bank's: refused, nothing changed
    refused = run(
        env, "payouts", "reassign", "--from", "hsbc", "--to", "boc", "--id", str(first), "--id", str(second)
    )
    assert refused.exit_code != 0 and "not hsbc's" in refused.output
    out = ok(env, "payouts", "reassign", "--from", "hsbc", "--to", "boc")  # all the rest
    assert f"[{second}, {third}]" in out
    with env.db.reading() as session:
        by_id = {p.id: p for p in session.scalars(select(Payout))}
        names = {require_bank(session, n).id: n for n in ("hsbc", "boc", "dbs")}
        assert {i: names[p.bank_id] for i, p in by_id.items()} == {first: "dbs", second: "boc", third: "boc"}
        assert all(p.status == "pending" for p in by_id.values())
        entries = session.scalars(select(AuditEntry).where(AuditEntry.kind == "payout.reassigned")).all()
        assert len(entries) == 3
    # the receiving bank settles it with its own signed settlement, from its own custody
    settlement = {
        "payout_id": str(second),
        "amount": "250.00",
        "currency": "USD",
        "bank_reference": "BOC-TRF-1",
        "value_date": today(),
    }
    request = redemptions.SettlementRequest.model_validate(
        {"settlement": settlement, "key_id": boc.key_id, "signature": sign_confirmation(boc.seed, settlement)}
    )
    with env.db.transaction() as session:
        outcome = redemptions.settle(
            session,
            env.settings,
            require_bank(session, "boc"),
            second,
            request,
            policy=env.policy,
            now=env.clock(),
        )
        assert outcome.payout.status == "settled"
    with env.db.reading() as session:
        from service import ledger

        custody = ledger.balances(session).custody
        assert custody[require_bank(session, "boc").id] == 100_000 - 25_000


def test_the_operator_endpoints(live):
    env, url = live
    hsbc, boc = env.add_bank("hsbc"), env.add_bank("boc")
    accept(env, boc, 1, amount="500.00")
    first, second = payout_for(env, hsbc, 1), payout_for(env, hsbc, 2)
    with env.db.transaction() as session:
        _, token = banks.create_operator(session, "ops", actor="test")
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as ops:
        failed = ops.post("/v1/operator/banks/hsbc/mark-failed", json={"cause": "drill"})
        assert failed.status_code == 200, failed.text
        assert (
            failed.json()["failed"]
            and failed.json()["minting_halted"]
            and failed.json()["failed_cause"] == "drill"
        )
        again = ops.post("/v1/operator/banks/hsbc/mark-failed", json={"cause": "drill"})
        assert again.status_code == 409 and again.json()["error"]["code"] == "custodian_already_failed"
        assert ops.post("/v1/operator/banks/nope/mark-failed", json={"cause": "x"}).status_code == 404
        short = ops.post("/v1/operator/banks/boc/mark-failed", json={"cause": " "})
        assert short.status_code == 422 and short.json()["error"]["code"] == "cause_required"
        bad_ids = ops.post(
            "/v1/operator/payouts/reassign", json={"from_bank": "hsbc", "to_bank": "boc", "payout_ids": ["0"]}
        )
        assert bad_ids.status_code == 422 and bad_ids.json()["error"]["code"] == "validation_error"
        moved = ops.post(
            "/v1/operator/payouts/reassign",
            json={"from_bank": "hsbc", "to_bank": "boc", "payout_ids": [str(second)]},
        )
        assert moved.status_code == 200, moved.text
        assert [p["id"] for p in moved.json()["items"]] == [second]
        refused = ops.post(
            "/v1/operator/payouts/reassign",
            json={"from_bank": "hsbc", "to_bank": "boc", "payout_ids": [str(second)]},
        )
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "payout_not_reassignable"
        missing = ops.post(
            "/v1/operator/payouts/reassign",
            json={"from_bank": "hsbc", "to_bank": "boc", "payout_ids": ["99"]},
        )
        assert missing.status_code == 404
        rest = ops.post("/v1/operator/payouts/reassign", json={"from_bank": "hsbc", "to_bank": "boc"})
        assert [p["id"] for p in rest.json()["items"]] == [first]
        recovered = ops.post("/v1/operator/banks/hsbc/mark-recovered", json={"cause": "over"})
        assert (
            recovered.status_code == 200
            and not recovered.json()["failed"]
            and recovered.json()["minting_halted"]
        )
        not_failed = ops.post("/v1/operator/banks/hsbc/mark-recovered", json={"cause": "over"})
        assert not_failed.status_code == 409 and not_failed.json()["error"]["code"] == "custodian_not_failed"
    with BankClient(url, api_key=boc.api_key) as client:
        assert sorted(p["id"] for p in client.payouts("pending")) == [first, second]
    assert kinds(env).count("payout.reassigned") == 2
