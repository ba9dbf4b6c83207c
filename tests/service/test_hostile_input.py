"""Hostile and malformed input over real HTTP: every refusal is a documented 4xx with a reason,
credentials are checked before the body is looked at, and nothing answers 5xx."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel

from service.api.openapi import complete_routes
from service.app import create_app
from service.banks import service as banks
from service.client import BankClient, build_settlement
from service.quota.policy import Policy
from service.redemptions import service as redemptions
from svc_support import BENEFICIARY, LiveServer, confirmation, today
from wait_support import join

MAX_ID = 2**63 - 1


def operator_token(env) -> str:
    with env.db.transaction() as session:
        return banks.create_operator(session, "ops", actor="test")[1]


def pending_payout(env, client: BankClient) -> dict:
    """A pending payout of US$250 for the client's bank (the redemption event given directly)."""
    ref = client.register_payout_account(holder=BENEFICIARY, account_reference="ACC-1")["payout_ref"]
    redemption = redemptions.RedemptionEvent(
        redemption_id=1,
        holder=BENEFICIARY,
        amount_units=250 * 10**6,
        payout_ref=ref,
        tx_hash="0x" + "ab" * 32,
        block_number=100,
        log_index=0,
    )
    with env.db.transaction() as session:
        redemptions.record_redemption(session, env.settings, redemption, now=env.clock())
    return client.payouts()[-1]


def bank_client(url, handle) -> BankClient:
    return BankClient(url, api_key=handle.api_key, key_id=handle.key_id, private_key=handle.seed)


def code_of(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return body["error"]["code"]


@pytest.fixture
def parties(live):
    """(env, url, bank handle, bank headers, operator headers)."""
    env, url = live
    bank = env.add_bank()
    operator = {"Authorization": f"Bearer {operator_token(env)}"}
    return env, url, bank, {"Authorization": f"Bearer {bank.api_key}"}, operator


# ---- numeric parameters ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/v1/deposits", "/v1/payouts", "/v1/payout-accounts", "/v1/operator/payouts"]
)
def test_cursor_beyond_64_bits_is_422_and_at_the_bound_an_empty_page(parties, path):
    _env, url, _bank, bank_headers, operator_headers = parties
    headers = operator_headers if "operator" in path else bank_headers
    for after in (MAX_ID + 1, 10**30, -1):
        response = httpx.get(f"{url}{path}", params={"after": after}, headers=headers)
        assert response.status_code == 422, response.text
        assert code_of(response) == "validation_error"
        assert "after" in response.json()["error"]["message"]
    response = httpx.get(f"{url}{path}", params={"after": MAX_ID}, headers=headers)
    assert response.status_code == 200 and response.json() == {"items": [], "next_after": None}
    for limit in (0, 501, MAX_ID + 1):
        response = httpx.get(f"{url}{path}", params={"limit": limit}, headers=headers)
        assert response.status_code == 422 and code_of(response) == "validation_error"


def test_payout_id_beyond_64_bits_is_422(parties):
    _env, url, _bank, headers, _ = parties
    for payout_id in (0, MAX_ID + 1):
        response = httpx.get(f"{url}/v1/payouts/{payout_id}", headers=headers)
        assert response.status_code == 422 and code_of(response) == "validation_error"
    assert httpx.get(f"{url}/v1/payouts/{MAX_ID}", headers=headers).status_code == 404


# ---- bodies: credentials first, then one strict parser -----------------------------------------


def _body_operations(url) -> list[tuple[str, str]]:
    spec = httpx.get(f"{url}/openapi.json").json()
    found = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation:
                found.append(
                    (
                        method.upper(),
                        path.replace("{payout_id}", "1")
                        .replace("{name}", "hsbc")
                        .replace("{approval_id}", "1"),
                    )
                )
    return found


MALFORMED = {
    "not_utf8": b'{"url": "https://bank.example/\xff"}',
    "not_json": b"{",
    "empty": b"",
    "duplicate_key": b'{"url": "https://a.example/", "url": "https://b.example/"}',
    "nan": b'{"url": NaN}',
    "wrong_fields": b'{"nothing": "here"}',
    "array": b"[]",
}


def test_every_body_endpoint_is_known(live):
    """The body endpoints the tests below walk through (from the OpenAPI document)."""
    _env, url = live
    operations = {
        (method.upper(), path)
        for path, ops in httpx.get(f"{url}/openapi.json").json()["paths"].items()
        for method, op in ops.items()
        if "requestBody" in op
    }
    assert operations == {
        ("POST", "/v1/deposits"),
        ("POST", "/v1/deposits/batch"),
        ("POST", "/v1/quota/lookup"),
        ("POST", "/v1/bank/allowlist"),
        ("PUT", "/v1/bank/webhook"),
        ("POST", "/v1/bank/custody-statements"),
        ("POST", "/v1/payout-accounts"),
        ("POST", "/v1/payouts/{payout_id}/settle"),
        ("POST", "/v1/operator/banks"),
        ("POST", "/v1/operator/banks/{name}/signing-keys"),
        ("POST", "/v1/operator/banks/{name}/mark-failed"),
        ("POST", "/v1/operator/banks/{name}/mark-recovered"),
        ("POST", "/v1/operator/payouts/reassign"),
        ("POST", "/v1/operator/minting/resume"),
        ("POST", "/v1/operator/banks/{name}/limits"),
        ("POST", "/v1/operator/approvals/{approval_id}/reject"),
    }


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_without_credentials_any_body_is_401(parties, case):
    env, url, bank, _, _ = parties
    before = env.snapshot()
    for method, path in _body_operations(url):
        for headers in (
            {},
            {"Authorization": "Bearer ushk_bk_nope"},
            {"Authorization": "Bearer ushk_op_nope"},
        ):
            response = httpx.request(
                method,
                f"{url}{path}",
                content=MALFORMED[case],
                headers={**headers, "Content-Type": "application/json"},
            )
            assert response.status_code == 401, (method, path, case, response.text)
            operator = path.startswith("/v1/operator/")
            assert code_of(response) == ("operator_unauthenticated" if operator else "unauthenticated")
    assert env.snapshot() == before


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_with_credentials_a_malformed_body_is_422_with_a_reason(parties, case):
    env, url, bank, bank_headers, operator_headers = parties
    before = env.snapshot()
    for method, path in _body_operations(url):
        headers = operator_headers if path.startswith("/v1/operator/") else bank_headers
        response = httpx.request(
            method,
            f"{url}{path}",
            content=MALFORMED[case],
            headers={**headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 422, (method, path, case, response.text)
        assert code_of(response) == "validation_error"
        message = response.json()["error"]["message"]
        expected = {
            "not_utf8": "not valid UTF-8",
            "not_json": "invalid JSON",
            "empty": "empty",
            "duplicate_key": 'duplicate key "url"',
            "nan": "NaN is not JSON",
            "wrong_fields": "unknown field",
            "array": "body:",
        }[case]
        assert expected in message, (path, message)
    assert env.snapshot() == before


def test_a_disabled_bank_is_refused_before_its_body(parties):
    env, url, bank, headers, _ = parties
    with env.db.transaction() as session:
        banks.set_disabled(session, banks.require_bank(session, bank.name), True, actor="t")
    for method, path in _body_operations(url):
        if path.startswith("/v1/operator/"):
            continue
        response = httpx.request(method, f"{url}{path}", content=b"\xff", headers=headers)
        assert response.status_code == 403 and code_of(response) == "bank_disabled", path


def test_a_deposit_with_a_key_twice_is_refused_and_stores_nothing(parties):
    env, url, bank, headers, _ = parties
    with bank_client(url, bank) as client:
        signed = client.sign(confirmation("DUP-1", amount="1.00"))
        text = json.dumps(signed)
        # the same confirmation with "amount" given twice: the last one would have been taken
        doubled = text.replace('"amount": "1.00"', '"amount": "1.00", "amount": "1000.00"')
        assert doubled != text
        before = env.snapshot()
        response = httpx.post(f"{url}/v1/deposits", content=doubled.encode(), headers=headers)
        assert response.status_code == 422 and code_of(response) == "validation_error"
        assert 'duplicate key "amount"' in response.json()["error"]["message"]
        assert env.snapshot() == before
        assert client.post_deposit(signed).status_code == 201


def test_oversized_bodies_are_413_on_every_body_endpoint(parties):
    env, url, _bank, bank_headers, operator_headers = parties
    for method, path in _body_operations(url):
        headers = operator_headers if path.startswith("/v1/operator/") else bank_headers
        # a deposit batch has a limit of its own (up to 1,000 confirmations)
        limit = env.settings.max_batch_request_bytes if path == "/v1/deposits/batch" else 70_000
        response = httpx.request(
            method, f"{url}{path}", content=b'{"x": "' + b"a" * limit + b'"}', headers=headers
        )
        assert response.status_code == 413 and code_of(response) == "payload_too_large", path


# ---- value dates -------------------------------------------------------------------------------


def test_value_date_must_lie_in_the_policy_window(parties):
    env, url, bank, _, _ = parties
    with bank_client(url, bank) as client:
        before = env.snapshot()
        for value_date in ("0001-01-01", "9999-12-31", today(-31), today(2)):
            response = client.submit(confirmation("VD-1", value_date=value_date))
            assert response.status_code == 422, (value_date, response.text)
            assert code_of(response) == "value_date_out_of_range"
            assert today(-30) in response.json()["error"]["message"]
        assert env.snapshot() == before  # refused at the format checks: nothing stored
        assert client.submit(confirmation("VD-1", value_date=today(-30))).status_code == 201
        assert client.submit(confirmation("VD-2", value_date=today(1))).status_code == 201


def test_value_date_window_follows_the_service_clock_and_the_policy(parties):
    env, url, bank, _, _ = parties
    env.clock.now = dt.datetime(2025, 3, 20, 12, 0, tzinfo=dt.UTC)
    with bank_client(url, bank) as client:
        assert client.submit(confirmation("VC-1", value_date="2025-03-14")).status_code == 201
        refused = client.submit(confirmation("VC-2", value_date="2025-03-22"))
        assert code_of(refused) == "value_date_out_of_range"
    policy = Policy.from_dict(
        {
            "categories": {"hk": {"eligible": True, "limit": None, "timezone": "Asia/Hong_Kong"}},
            "value_date": {"max_days_past": 0, "max_days_future": 0},
        }
    )
    assert policy.value_dates.bounds(dt.datetime(2025, 3, 20, 16, 30, tzinfo=dt.UTC)) == (
        dt.date(2025, 3, 21),
        dt.date(2025, 3, 21),
    )  # already the 21st in Hong Kong
    assert Policy.load("config/policy.yaml").value_dates.max_days_past == 30


def test_a_settlement_value_date_must_lie_in_the_window(parties):
    env, url, bank, _, _ = parties
    with bank_client(url, bank) as client:
        payout = pending_payout(env, client)
        before = env.snapshot()
        for value_date in ("0001-01-01", "9999-12-31", today(-31)):
            body = client.sign_settlement(
                build_settlement(
                    payout_id=payout["id"],
                    amount=payout["amount"],
                    value_date=value_date,
                    bank_reference="PAY-1",
                )
            )
            response = client.post_settlement(payout["id"], body)
            assert response.status_code == 422 and code_of(response) == "value_date_out_of_range"
        assert env.snapshot() == before
        assert client.get_payout(payout["id"])["status"] == "pending"
        settled = client.settle_payout(payout, bank_reference="PAY-1", value_date=today(-30))
        assert settled["status"] == "settled" and settled["dust_units"] == "0"


# ---- webhook URLs ------------------------------------------------------------------------------


def test_webhook_url_must_be_https_except_loopback_in_development(parties):
    env, url, bank, headers, _ = parties
    refused = [
        "http://bank.example/ushk",
        "ftp://bank.example/",
        "https://user:pw@bank.example/",
        "https://[::1",
        "https://bank.example:99999/",
        "https://bank.example/a b",
        "https://bänk.example/",
        "https://bank.example/\u0000",
        "https:///nohost",
        "",
    ]
    for webhook in refused:
        response = httpx.put(f"{url}/v1/bank/webhook", json={"url": webhook}, headers=headers)
        assert response.status_code == 422, (webhook, response.text)
        assert code_of(response) == "invalid_bank_input"
    for webhook in (
        "https://bank.example/ushk",
        "http://127.0.0.1:9/hook",
        "http://[::1]:9/hook",
        "http://localhost:9/hook",
    ):
        response = httpx.put(f"{url}/v1/bank/webhook", json={"url": webhook}, headers=headers)
        assert response.status_code == 200, (webhook, response.text)
        assert response.json()["url"] == webhook and response.json()["secret"].startswith("whsec_")
    production = env.settings.model_copy(update={"environment": "production"})
    with pytest.raises(banks.InvalidBankInput, match="development only"):
        banks.check_webhook_url("http://127.0.0.1:9/hook", production)
    assert banks.check_webhook_url("https://bank.example/ushk", production)


# ---- strings that name nothing -----------------------------------------------------------------


def _names_nothing(url, bank_headers, operator_headers) -> None:
    """Path strings no row could carry (NUL, 65+ characters, non-ASCII) answer 404, and a key id
    of that kind in a body is an unknown key."""
    for weird in ("%00", "a%00b", "x" * 300, "%E2%82%AC", "%F0%9F%98%80"):
        assert httpx.get(f"{url}/v1/deposits/{weird}", headers=bank_headers).status_code == 404
        for path in (
            f"/v1/operator/banks/{weird}/disable",
            f"/v1/operator/banks/hsbc/api-keys/{weird}/revoke",
            f"/v1/operator/banks/hsbc/signing-keys/{weird}/retire",
        ):
            response = httpx.post(f"{url}{path}", headers=operator_headers)
            assert response.status_code == 404, (path, response.text)
        assert httpx.get(f"{url}/v1/reserves/reports/{weird}").status_code == 404
    assert httpx.get(f"{url}/v1/reserves/reports/" + "%00" * 64).status_code == 404
    body = {"confirmation": confirmation("K-1"), "key_id": "k\u00001", "signature": "AA=="}
    response = httpx.post(f"{url}/v1/deposits", json=body, headers=bank_headers)
    assert response.status_code == 403 and code_of(response) == "unknown_key"
    response = httpx.post(
        f"{url}/v1/payouts/1/settle",
        headers=bank_headers,
        json={
            "settlement": build_settlement(
                payout_id=1, amount="1.00", value_date=today(), bank_reference="R"
            ),
            "key_id": "\u0000",
            "signature": "AA==",
        },
    )
    assert response.status_code == 403 and code_of(response) == "unknown_key"


def test_trailing_slashes_and_encoded_slashes_are_404_not_redirects(parties):
    _env, url, _bank, headers, _ = parties
    for path in (
        "/v1/deposits/",
        "/v1/bank/",
        "/v1/deposits/%2F",
        "/v1/deposits/a%2Fb",
        "/v1/payouts/1/settle/",
        "/v1/reserves/",
        "/v1/public/mints/",
    ):
        response = httpx.get(f"{url}{path}", headers=headers)
        assert response.status_code == 404 and code_of(response) == "not_found", path


def test_strings_that_name_nothing_are_404_on_sqlite(parties):
    _env, url, _bank, bank_headers, operator_headers = parties
    _names_nothing(url, bank_headers, operator_headers)


@pytest.mark.postgres
def test_strings_that_name_nothing_are_404_on_postgres(pg_env):
    """PostgreSQL refuses NUL in text: such a string must never reach a query."""
    bank = pg_env.add_bank()
    operator = {"Authorization": f"Bearer {operator_token(pg_env)}"}
    app = create_app(pg_env.settings, pg_env.db, policy=pg_env.policy, clock=pg_env.clock)
    with LiveServer(app) as server:
        _names_nothing(server.url, {"Authorization": f"Bearer {bank.api_key}"}, operator)
        response = httpx.put(
            f"{server.url}/v1/bank/webhook",
            json={"url": "https://a.example/\u0000"},
            headers={"Authorization": f"Bearer {bank.api_key}"},
        )
        assert response.status_code == 422 and code_of(response) == "invalid_bank_input"


# ---- the OpenAPI document ----------------------------------------------------------------------


def test_every_operation_documents_413_and_503_and_its_credentials(live):
    _env, url = live
    spec = httpx.get(f"{url}/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            # /readyz's 503 is its own answer (the failing parts), documented by the route
            checks = (
                (("413", "payload_too_large"),)
                if path == "/readyz"
                else (("413", "payload_too_large"), ("503", "database_busy"))
            )
            for status, code in checks:
                schema = responses[status]["content"]["application/json"]["schema"]
                assert schema["properties"]["error"]["properties"]["code"]["enum"] == [code]
            if path == "/readyz":
                assert responses["503"]["content"]["application/json"]["schema"]["$ref"].endswith("/ReadyOut")
            else:
                assert "Retry-After" in responses["503"]["headers"]
            if path.startswith("/v1/operator/") or path == "/v1/audit/verify":
                assert "operator_unauthenticated" in responses["401"]["description"], path
            elif path not in ("/healthz", "/readyz", "/v1/audit/head") and not path.startswith(
                ("/v1/reserves", "/v1/transparency", "/v1/public")
            ):
                assert "`unauthenticated`" in responses["401"]["description"], (method, path)
                assert "`bank_disabled`" in responses["403"]["description"], (method, path)
            if operation.get("parameters") or "requestBody" in operation:
                assert "validation_error" in responses["422"]["description"], (method, path)
            for name in ("after", "limit", "payout_id"):
                for parameter in operation.get("parameters", []):
                    if parameter["name"] == name:
                        assert parameter["schema"]["maximum"] <= MAX_ID, (path, name)


class Thing(BaseModel):
    name: str


def test_a_fastapi_body_parameter_is_refused_at_startup():
    router = APIRouter()

    @router.post("/things")
    def add_thing(body: Thing) -> dict:
        return {}

    with pytest.raises(TypeError, match="BankBody"):
        complete_routes(router.routes)


# ---- a busy database ---------------------------------------------------------------------------


def test_a_503_database_busy_keeps_the_connection_open_for_the_retry(sqlite_url):
    """The documented answer to a busy database is a retry: on the same keep-alive connection."""
    import http.client
    import threading

    from sqlalchemy import text

    from service.client import signed_request
    from svc_support import make_env

    env = make_env(sqlite_url, sqlite_busy_timeout_ms=300)
    bank = env.add_bank()
    release, holding = threading.Event(), threading.Event()

    def hold() -> None:
        with env.db.transaction() as session:
            session.execute(text("SELECT 1"))  # the write lock, held
            holding.set()
            release.wait(30)

    app = create_app(env.settings, env.db, policy=env.policy)
    with LiveServer(app) as server:
        holder = threading.Thread(target=hold)
        holder.start()
        assert holding.wait(30)
        host, port = server.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        body = json.dumps(signed_request(confirmation("BUSY-1"), bank.key_id, bank.seed))
        headers = {"Authorization": f"Bearer {bank.api_key}", "Content-Type": "application/json"}
        try:
            connection.request("POST", "/v1/deposits", body, headers)
            busy = connection.getresponse()
            assert busy.status == 503 and busy.getheader("Retry-After") == "1"
            assert json.loads(busy.read())["error"]["code"] == "database_busy"
        finally:
            release.set()
            join(holder)
        connection.request("POST", "/v1/deposits", body, headers)  # the same connection
        assert connection.getresponse().status == 201
        connection.close()
    env.db.dispose()
