"""Payout accounts, payouts, settlement and overdue over real HTTP on a SQLite file (the chain's
events are given to the service directly here; test_redemption_watcher.py reads them from
anvil)."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from pathlib import Path

import httpx
import pytest

from redemption_support import (
    HKT,
    HOLDER,
    OTHER_HOLDER,
    audit_kinds,
    event,
    operator_token,
    payouts_of,
    record,
    snapshot,
)
from service import audit, business_days
from service.client import BankClient, build_settlement, signed_settlement
from service.redemptions import service as redemptions
from svc_support import make_settings, today
from wait_support import join

ACCOUNT = "HSBC-HK-004-123456-838"


@pytest.fixture
def two_banks(live):
    env, url = live
    a, b = env.add_bank("hsbc"), env.add_bank("boc")
    with (
        BankClient(url, api_key=a.api_key, key_id=a.key_id, private_key=a.seed) as ca,
        BankClient(url, api_key=b.api_key, key_id=b.key_id, private_key=b.seed) as cb,
    ):
        yield env, url, (a, ca), (b, cb)


def _pending_payout(env, client, redemption_id=1, amount_units=250 * 10**6):
    ref = client.register_payout_account(holder=HOLDER, account_reference=ACCOUNT)["payout_ref"]
    record(env, event(redemption_id, ref, amount_units))
    return client.payouts()[-1]


# ---- payout accounts ----------------------------------------------------------------------------


def test_registration_returnsASaltedRefAndKeepsNoAccountInClear(two_banks):
    env, url, (_, hsbc), (_, boc) = two_banks
    response = hsbc.http.post(
        "/v1/payout-accounts",
        json={"holder": HOLDER.lower(), "account_reference": ACCOUNT, "currency": "USD"},
    )
    assert response.status_code == 201, response.text
    first = response.json()
    assert re.fullmatch(r"0x[0-9a-f]{64}", first["payout_ref"])
    assert first["holder"] == HOLDER  # checksummed
    # the same registration again: 200, the same ref
    again = hsbc.http.post(
        "/v1/payout-accounts", json={"holder": HOLDER, "account_reference": ACCOUNT, "currency": "USD"}
    )
    assert again.status_code == 200 and again.json()["payout_ref"] == first["payout_ref"]
    # another account, or the same account at another bank: another ref
    other = hsbc.register_payout_account(holder=HOLDER, account_reference=ACCOUNT + "-2")
    at_boc = boc.register_payout_account(holder=HOLDER, account_reference=ACCOUNT)
    assert len({first["payout_ref"], other["payout_ref"], at_boc["payout_ref"]}) == 3
    # each bank lists only its own
    listed = hsbc.http.get("/v1/payout-accounts").json()["items"]
    assert [a["payout_ref"] for a in listed] == [first["payout_ref"], other["payout_ref"]]
    assert [a["payout_ref"] for a in boc.http.get("/v1/payout-accounts").json()["items"]] == [
        at_boc["payout_ref"]
    ]
    # the account reference is nowhere in the database file (nor in the audit log)
    env.db.dispose()
    database = Path(env.settings.database_url.removeprefix("sqlite:///"))
    for path in database.parent.glob(database.name + "*"):
        assert ACCOUNT.encode() not in path.read_bytes(), path
    assert audit_kinds(env).count("payout_account.registered") == 3


@pytest.mark.parametrize(
    "body, code",
    [
        ({"holder": "0x123", "account_reference": ACCOUNT, "currency": "USD"}, "invalid_payout_account"),
        (
            {"holder": "0x" + "0" * 40, "account_reference": ACCOUNT, "currency": "USD"},
            "invalid_payout_account",
        ),
        ({"holder": HOLDER, "account_reference": "", "currency": "USD"}, "invalid_payout_account"),
        ({"holder": HOLDER, "account_reference": "a\nb", "currency": "USD"}, "invalid_payout_account"),
        ({"holder": HOLDER, "account_reference": ACCOUNT, "currency": "EUR"}, "unsupported_currency"),
        ({"holder": HOLDER, "account_reference": ACCOUNT}, "validation_error"),
        ({"holder": HOLDER, "account_reference": 5, "currency": "USD"}, "validation_error"),
        ({"holder": HOLDER, "account_reference": ACCOUNT, "currency": "USD", "x": "1"}, "validation_error"),
    ],
)
def test_registration_refusesBadInputAndChangesNothing(two_banks, body, code):
    env, url, (_, hsbc), _ = two_banks
    before = snapshot(env)
    response = hsbc.http.post("/v1/payout-accounts", json=body)
    assert response.status_code == 422 and response.json()["error"]["code"] == code
    assert snapshot(env) == before


def test_payoutEndpointsNeedABankKey(two_banks):
    env, url, _, _ = two_banks
    assert httpx.get(f"{url}/v1/payouts").status_code == 401
    assert httpx.post(f"{url}/v1/payout-accounts", json={}).status_code == 401
    token = operator_token(env)
    response = httpx.get(f"{url}/v1/payouts", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


# ---- payouts ------------------------------------------------------------------------------------


def test_redemption_becomesOnePendingPayoutOfTheRegisteringBank(two_banks):
    env, url, (_, hsbc), (_, boc) = two_banks
    ref = hsbc.register_payout_account(holder=HOLDER, account_reference=ACCOUNT)["payout_ref"]
    ev = event(7, ref, amount_units=250 * 10**6 + 12_345)  # 250.01 and 2,345 units of dust
    assert record(env, ev) is not None
    assert record(env, ev) is None  # the same redemption id again: nothing new
    [payout] = hsbc.payouts()
    assert payout["redemption_id"] == 7 and payout["status"] == "pending"
    assert payout["amount"] == "250.01" and payout["dust_units"] == "2345"
    assert payout["amount_units"] == str(250 * 10**6 + 12_345)
    assert payout["overdue"] is False and payout["payout_ref"] == ref
    assert hsbc.payouts("pending") == [payout] and hsbc.payouts("settled") == []
    assert boc.payouts() == []
    assert boc.http.get(f"/v1/payouts/{payout['id']}").status_code == 404
    assert audit_kinds(env).count("payout.created") == 1


def test_unknownRefOrOtherHolder_isHeldUnassignedAndReported(two_banks):
    env, url, (_, hsbc), _ = two_banks
    ref = hsbc.register_payout_account(holder=HOLDER, account_reference=ACCOUNT)["payout_ref"]
    record(env, event(1, "0x" + "ab" * 32))
    record(env, event(2, ref, holder=OTHER_HOLDER))  # someone else's registered ref
    record(env, event(3, ref, amount_units=9_999))  # less than a cent
    rows = payouts_of(env)
    assert [(p.status, p.unassigned_reason, p.bank_id) for p in rows] == [
        ("unassigned", "unknown_payout_ref", None),
        ("unassigned", "holder_mismatch", None),
        ("unassigned", "amount_below_one_cent", None),
    ]
    assert audit_kinds(env).count("alert.payout_unassigned") == 3
    assert hsbc.payouts() == [] and hsbc.payouts("unassigned") == []
    token = operator_token(env)
    headers = {"Authorization": f"Bearer {token}"}
    listed = httpx.get(f"{url}/v1/operator/payouts", params={"status": "unassigned"}, headers=headers).json()[
        "items"
    ]
    assert [p["redemption_id"] for p in listed] == [1, 2, 3]
    # banks' keys do not open the operator list
    assert hsbc.http.get("/v1/operator/payouts").status_code == 401


# ---- settlement ---------------------------------------------------------------------------------


def test_settlement_settlesOnce_replayIsTheSameAnswer(two_banks):
    env, url, (_, hsbc), _ = two_banks
    payout = _pending_payout(env, hsbc)
    settled = hsbc.settle_payout(payout, bank_reference="HSBC-PAY-1", value_date=today())
    assert settled["status"] == "settled" and settled["bank_reference"] == "HSBC-PAY-1"
    assert settled["value_date"] == today() and settled["settled_at"]
    assert hsbc.payouts("settled") == [settled] and hsbc.payouts("pending") == []
    before = snapshot(env)
    replay = hsbc.settle_payout(payout, bank_reference="HSBC-PAY-1", value_date=today())
    assert replay == settled
    assert snapshot(env) == before
    assert audit_kinds(env).count("payout.settled") == 1
    # settling debited the reserve ledger once: the burn became payable, then was paid
    from service import ledger

    with env.db.reading() as session:
        assert ledger.is_posted(session, ledger.REDEMPTION, str(payout["redemption_id"]))
        assert ledger.is_posted(session, ledger.PAYOUT_SETTLED, str(payout["id"]))
        assert ledger.balances(session).pending_payouts == 0
    assert audit_kinds(env).count("reserves.payout_debited") == 1


def test_settlement_conflictingReplayIs409AndChangesNothing(two_banks):
    env, url, (_, hsbc), _ = two_banks
    payout = _pending_payout(env, hsbc)
    hsbc.settle_payout(payout, bank_reference="HSBC-PAY-1", value_date=today())
    before = snapshot(env)
    body = hsbc.sign_settlement(
        build_settlement(
            payout_id=payout["id"], amount=payout["amount"], value_date=today(-1), bank_reference="HSBC-PAY-1"
        )
    )
    response = hsbc.post_settlement(payout["id"], body)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "settlement_conflict"
    assert snapshot(env) == before
    assert hsbc.get_payout(payout["id"])["value_date"] == today()


def _settlement(payout, **overrides):
    values = {
        "payout_id": payout["id"],
        "amount": payout["amount"],
        "value_date": today(),
        "bank_reference": "HSBC-PAY-1",
    }
    values.update(overrides)
    return build_settlement(**values)


def test_settlement_refusals_changeNothing(two_banks):
    env, url, (hsbc_handle, hsbc), (boc_handle, boc) = two_banks
    payout = _pending_payout(env, hsbc)
    good = hsbc.sign_settlement(_settlement(payout))
    forged = dict(good, settlement=dict(good["settlement"], bank_reference="HSBC-PAY-2"))
    cases = [
        # (client, path id, body, status, code)
        (hsbc, payout["id"], forged, 403, "invalid_signature"),
        (hsbc, payout["id"], dict(good, key_id="nope"), 403, "unknown_key"),
        # another bank, with its own valid signature: not its payout
        (boc, payout["id"], boc.sign_settlement(_settlement(payout)), 404, "payout_not_found"),
        # another bank's key signing for this bank: the signature does not verify
        (
            hsbc,
            payout["id"],
            signed_settlement(_settlement(payout), hsbc_handle.key_id, boc_handle.seed),
            403,
            "invalid_signature",
        ),
        (
            hsbc,
            payout["id"] + 1,
            hsbc.sign_settlement(_settlement(payout, payout_id=payout["id"] + 1)),
            404,
            "payout_not_found",
        ),
        (hsbc, payout["id"] + 1, good, 422, "payout_id_mismatch"),
        (
            hsbc,
            payout["id"],
            hsbc.sign_settlement(_settlement(payout, amount="249.99")),
            422,
            "amount_mismatch",
        ),
        (hsbc, payout["id"], hsbc.sign_settlement(_settlement(payout, amount="250")), 200, None),
    ]
    for client, path_id, body, status, code in cases[:-1]:
        before = snapshot(env)
        response = client.post_settlement(path_id, body)
        assert response.status_code == status, (code, response.text)
        assert response.json()["error"]["code"] == code
        assert snapshot(env) == before, code
    more = [
        (_settlement(payout, currency="EUR"), "unsupported_currency"),
        (_settlement(payout, value_date="25/11/2026"), "invalid_settlement"),
        (_settlement(payout, bank_reference="has space"), "invalid_settlement"),
        (_settlement(payout, amount="250.001"), "invalid_amount"),
    ]
    for settlement, code in more:
        before = snapshot(env)
        response = hsbc.post_settlement(payout["id"], hsbc.sign_settlement(settlement))
        assert response.status_code == 422 and response.json()["error"]["code"] == code
        assert snapshot(env) == before
    assert hsbc.http.post(f"/v1/payouts/{payout['id']}/settle", json={"settlement": {}}).status_code == 422
    assert hsbc.get_payout(payout["id"])["status"] == "pending"
    # "250" and "250.00" are the same amount
    client, path_id, body, status, _ = cases[-1]
    assert client.post_settlement(path_id, body).status_code == 200


def test_concurrentSettlements_onlyOneContentWins(two_banks):
    env, url, (_, hsbc), _ = two_banks
    payout = _pending_payout(env, hsbc)
    bodies = [hsbc.sign_settlement(_settlement(payout, bank_reference=f"REF-{i % 2}")) for i in range(8)]
    results = [None] * len(bodies)

    def send(i):
        with httpx.Client(base_url=url, headers=hsbc.headers) as http:
            results[i] = http.post(f"/v1/payouts/{payout['id']}/settle", json=bodies[i])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    join(*threads)
    winner = hsbc.get_payout(payout["id"])["bank_reference"]
    for body, response in zip(bodies, results, strict=True):
        expected = 200 if body["settlement"]["bank_reference"] == winner else 409
        assert response.status_code == expected, response.text
    assert audit_kinds(env).count("payout.settled") == 1


# ---- overdue ------------------------------------------------------------------------------------


def test_dueAt_isTheEndOfTheNextHongKongBusinessDay():
    friday = dt.datetime(2026, 11, 27, 10, 0, tzinfo=HKT)
    assert business_days.due_at(friday) == dt.datetime(2026, 12, 1, 0, 0, tzinfo=HKT)  # Mon ends
    late_friday = dt.datetime(2026, 11, 27, 23, 59, tzinfo=HKT)  # 15:59 UTC, still Friday in HK
    assert business_days.due_at(late_friday) == dt.datetime(2026, 12, 1, 0, 0, tzinfo=HKT)
    saturday = dt.datetime(2026, 11, 28, 9, 0, tzinfo=HKT)
    assert business_days.due_at(saturday) == dt.datetime(2026, 12, 1, 0, 0, tzinfo=HKT)
    tuesday = dt.datetime(2026, 11, 24, 16, 30, tzinfo=dt.UTC)  # Wednesday 00:30 in HK
    assert business_days.due_at(tuesday) == dt.datetime(2026, 11, 27, 0, 0, tzinfo=HKT)
    christmas = [dt.date(2026, 12, 25), dt.date(2026, 12, 28)]  # Fri, and Mon as a holiday
    thursday = dt.datetime(2026, 12, 24, 12, 0, tzinfo=HKT)
    assert business_days.due_at(thursday, christmas) == dt.datetime(2026, 12, 30, 0, 0, tzinfo=HKT)


def test_dueAt_skipsHongKongGeneralHolidays_unlessTheCalendarIsOff():
    # Thursday before Easter 2026: Good Friday (3 April), the weekend, Monday 6 April (the day
    # following Tomb-Sweeping Day) and Tuesday 7 April (the day following Easter Monday) are
    # general holidays: due by the end of Wednesday 8 April.
    thursday = dt.datetime(2026, 4, 2, 12, 0, tzinfo=HKT)
    assert business_days.due_at(thursday) == dt.datetime(2026, 4, 9, 0, 0, tzinfo=HKT)
    assert business_days.due_at(thursday, general=False) == dt.datetime(2026, 4, 4, 0, 0, tzinfo=HKT)
    assert not business_days.is_business_day(dt.date(2026, 10, 1))  # National Day
    assert business_days.is_business_day(dt.date(2026, 10, 2))
    assert not business_days.is_business_day(dt.date(2026, 10, 2), [dt.date(2026, 10, 2)])
    settings_off = make_settings("sqlite://", payout_calendar="none")
    assert redemptions.payout_due_at(settings_off, thursday) == dt.datetime(2026, 4, 4, 0, 0, tzinfo=HKT)
    assert redemptions.payout_due_at(make_settings("sqlite://"), thursday) == dt.datetime(
        2026, 4, 9, 0, 0, tzinfo=HKT
    )


def test_overdue_acrossAWeekend_isComputedShownAndReportedOnce(two_banks):
    env, url, (_, hsbc), _ = two_banks
    env.clock.now = dt.datetime(2026, 11, 27, 10, 0, tzinfo=HKT)  # Friday
    payout = _pending_payout(env, hsbc)
    assert payout["due_at"] == "2026-11-30T16:00:00Z"  # the end of Monday in Hong Kong
    for moment in (
        dt.datetime(2026, 11, 28, 12, 0, tzinfo=HKT),  # Saturday
        dt.datetime(2026, 11, 30, 23, 59, 59, tzinfo=HKT),
    ):  # Monday, last second
        env.clock.now = moment
        assert hsbc.get_payout(payout["id"])["overdue"] is False
        assert hsbc.payouts("overdue") == []
    env.clock.now = dt.datetime(2026, 12, 1, 0, 0, tzinfo=HKT)  # Tuesday begins
    shown = hsbc.get_payout(payout["id"])
    assert shown["overdue"] is True and shown["status"] == "pending"
    assert [p["id"] for p in hsbc.payouts("overdue")] == [payout["id"]]
    with env.db.transaction() as session:
        assert len(redemptions.report_overdue(session, now=env.clock())) == 1
    with env.db.transaction() as session:
        assert redemptions.report_overdue(session, now=env.clock()) == []
    assert audit_kinds(env).count("alert.payout_overdue") == 1
    # settled late: no longer overdue
    hsbc.settle_payout(payout, bank_reference="LATE-1", value_date="2026-12-01")
    assert hsbc.payouts("overdue") == []
    assert hsbc.get_payout(payout["id"])["overdue"] is False


def test_overdue_respectsConfiguredHolidays(tmp_path, sqlite_template):
    import shutil

    from svc_support import make_env

    path = tmp_path / "h.db"
    shutil.copyfile(sqlite_template, path)
    env = make_env(f"sqlite:///{path}", payout_holidays=["2026-11-30"])  # Monday off
    try:
        bank = env.add_bank("hsbc")
        with env.db.transaction() as session:
            from service.banks.service import require_bank
            from service.redemptions.schemas import PayoutAccountIn

            account, _ = redemptions.register_account(
                session,
                env.settings,
                require_bank(session, "hsbc"),
                PayoutAccountIn(holder=HOLDER, account_reference=ACCOUNT, currency="USD"),
                now=env.clock(),
            )
            ref = account.payout_ref
        record(env, event(1, ref), now=dt.datetime(2026, 11, 27, 10, 0, tzinfo=HKT))
        [payout] = payouts_of(env)
        assert payout.due_at == dt.datetime(2026, 12, 2, 0, 0, tzinfo=HKT)  # end of Tuesday
        assert not payout.is_overdue(dt.datetime(2026, 12, 1, 12, 0, tzinfo=HKT))
        assert payout.is_overdue(dt.datetime(2026, 12, 2, 0, 0, tzinfo=HKT))
        assert bank.name == "hsbc"
    finally:
        env.db.dispose()


def test_auditChainHoldsAfterTheWholeFlow(two_banks):
    env, url, (_, hsbc), _ = two_banks
    payout = _pending_payout(env, hsbc)
    hsbc.settle_payout(payout, bank_reference="HSBC-PAY-1", value_date=today())
    with env.db.reading() as session:
        assert audit.verify(session).ok


def test_openapi_listsThePayoutErrors(live):
    _env, url = live
    spec = httpx.get(f"{url}/openapi.json").json()
    settle = spec["paths"]["/v1/payouts/{payout_id}/settle"]["post"]["responses"]
    for status, code in [
        ("401", "unauthenticated"),
        ("403", "invalid_signature"),
        ("403", "unknown_key"),
        ("404", "payout_not_found"),
        ("409", "settlement_conflict"),
        ("422", "amount_mismatch"),
        ("422", "payout_id_mismatch"),
        ("422", "validation_error"),
    ]:
        assert f"`{code}`" in settle[status]["description"], (status, code)
    register = spec["paths"]["/v1/payout-accounts"]["post"]["responses"]
    assert "`invalid_payout_account`" in register["422"]["description"]
    assert "200" in register and "201" in register
    listing = spec["paths"]["/v1/payouts"]["get"]["parameters"]
    assert "PayoutFilter" in json.dumps(next(p for p in listing if p["name"] == "status"))
    assert "overdue" in spec["components"]["schemas"]["PayoutFilter"]["enum"]


def test_operatorAssignsAnUnassignedPayout_thenTheBankSettlesIt(two_banks):
    from click.testing import CliRunner

    from service.cli import cli
    from svc_support import server_env

    env, url, (_, hsbc), _ = two_banks
    record(env, event(1, "0x" + "ef" * 32))  # a ref nobody registered
    ref = hsbc.register_payout_account(holder=HOLDER, account_reference=ACCOUNT)["payout_ref"]
    record(env, event(2, ref))
    [unassigned, pending] = payouts_of(env)
    variables = server_env(env.settings)
    runner = CliRunner()
    listed = runner.invoke(cli, ["payouts", "list", "--status", "unassigned"], env=variables)
    assert listed.exit_code == 0 and "unknown_payout_ref" in listed.output
    refused = runner.invoke(cli, ["payouts", "assign", str(pending.id), "--bank", "hsbc"], env=variables)
    assert refused.exit_code == 1 and "payout_not_unassigned" in refused.output
    assert (
        runner.invoke(
            cli, ["payouts", "assign", str(unassigned.id), "--bank", "nobody"], env=variables
        ).exit_code
        == 1
    )
    done = runner.invoke(cli, ["payouts", "assign", str(unassigned.id), "--bank", "hsbc"], env=variables)
    assert done.exit_code == 0, done.output
    mine = {p["redemption_id"]: p for p in hsbc.payouts("pending")}
    assert sorted(mine) == [1, 2]
    settled = hsbc.settle_payout(mine[1], bank_reference="FOUND-1", value_date=today())
    assert settled["status"] == "settled" and settled["unassigned_reason"] == "unknown_payout_ref"
    kinds = audit_kinds(env)
    assert kinds.count("payout.assigned") == 1 and kinds.count("payout.settled") == 1
