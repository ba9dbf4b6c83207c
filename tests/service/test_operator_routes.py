"""The operator API's key and bank management, a bank removing its webhook, and the pages of
the API documentation, over real HTTP (the `live` server on a SQLite file)."""

from __future__ import annotations

import httpx
import pytest

from service.banks import service as banks
from service.client import BankClient
from service.deposits.signing import public_key_b64
from svc_support import confirmation

NEW_SEED = bytes(range(32))


@pytest.fixture
def admin(live):
    """(env, url, operator headers, the bank "hsbc")."""
    env, url = live
    with env.db.transaction() as session:
        _, token = banks.create_operator(session, "ops", actor="test")
    return env, url, {"Authorization": f"Bearer {token}"}, env.add_bank("hsbc")


def _client(url, bank, *, key_id=None, seed=None, api_key=None):
    return BankClient(
        url, api_key=api_key or bank.api_key, key_id=key_id or bank.key_id, private_key=seed or bank.seed
    )


def _audit_kinds(env):
    from sqlalchemy import select

    from service.models import AuditEntry

    with env.db.reading() as session:
        return list(session.scalars(select(AuditEntry.kind).order_by(AuditEntry.seq)))


def test_operator_rotates_and_retires_signing_keys(admin):
    env, url, headers, bank = admin
    old = _client(url, bank)
    assert old.submit(confirmation("K-1")).status_code == 201

    response = httpx.post(
        f"{url}/v1/operator/banks/hsbc/signing-keys",
        headers=headers,
        json={"public_key": public_key_b64(NEW_SEED), "key_id": "k2"},
    )
    assert response.status_code == 201, response.text
    key = response.json()
    assert key["key_id"] == "k2" and key["public_key"] == public_key_b64(NEW_SEED)
    assert key["retired_at"] is None
    new = _client(url, bank, key_id="k2", seed=NEW_SEED)
    # without `retire` both keys stay valid
    assert new.submit(confirmation("K-2")).status_code == 201
    assert old.submit(confirmation("K-3")).status_code == 201

    response = httpx.post(f"{url}/v1/operator/banks/hsbc/signing-keys/{bank.key_id}/retire", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["key_id"] == bank.key_id and response.json()["retired_at"] is not None
    refused = old.submit(confirmation("K-4"))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "key_retired"
    assert new.submit(confirmation("K-4")).status_code == 201
    listed = httpx.get(f"{url}/v1/operator/banks", headers=headers).json()
    keys = {k["key_id"]: k["retired_at"] for k in listed[0]["signing_keys"]}
    assert keys[bank.key_id] is not None and keys["k2"] is None

    # rotation with `retire`: k3 added and k2 retired in one step
    response = httpx.post(
        f"{url}/v1/operator/banks/hsbc/signing-keys",
        headers=headers,
        json={"public_key": public_key_b64(bytes(32)), "key_id": "k3", "retire": "k2"},
    )
    assert response.status_code == 201, response.text
    assert new.submit(confirmation("K-5")).json()["error"]["code"] == "key_retired"
    kinds = _audit_kinds(env)
    assert kinds.count("bank.signing_key_added") == 3 and kinds.count("bank.signing_key_retired") == 2


def test_signing_key_refusals(admin):
    env, url, headers, bank = admin
    post = lambda path, **kw: httpx.post(f"{url}/v1/operator/banks/{path}", headers=headers, **kw)  # noqa: E731
    public_key = public_key_b64(NEW_SEED)

    def refused(response, status, code):
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code

    refused(post("nobody/signing-keys", json={"public_key": public_key}), 404, "bank_not_found")
    refused(
        post("hsbc/signing-keys", json={"public_key": public_key, "key_id": bank.key_id}),
        422,
        "invalid_bank_input",
    )
    refused(post("hsbc/signing-keys", json={"public_key": "not-a-key"}), 422, "invalid_bank_input")
    refused(post("hsbc/signing-keys", json={"public_key": public_key, "retire": "k9"}), 404, "key_not_found")
    refused(post("hsbc/signing-keys/k9/retire"), 404, "key_not_found")
    refused(post("nobody/signing-keys/k1/retire"), 404, "bank_not_found")
    # a bank's API key is no operator token
    response = httpx.post(
        f"{url}/v1/operator/banks/hsbc/signing-keys/{bank.key_id}/retire",
        headers={"Authorization": f"Bearer {bank.api_key}"},
    )
    refused(response, 401, "operator_unauthenticated")
    # nothing changed: the bank's one key still signs
    assert _client(url, bank).submit(confirmation("R-1")).status_code == 201


def test_operator_issues_and_revokes_api_keys(admin):
    env, url, headers, bank = admin
    response = httpx.post(f"{url}/v1/operator/banks/hsbc/api-keys", headers=headers)
    assert response.status_code == 201, response.text
    created = response.json()
    second = created["api_key"]
    assert second != bank.api_key and created["prefix"] == second[:14]
    for key in (bank.api_key, second):  # both keys are the bank's
        answer = httpx.get(f"{url}/v1/bank", headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200 and answer.json()["name"] == "hsbc"
    assert _client(url, bank, api_key=second).submit(confirmation("A-1")).status_code == 201

    response = httpx.post(
        f"{url}/v1/operator/banks/hsbc/api-keys/{created['prefix']}/revoke", headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["prefix"] == created["prefix"] and response.json()["revoked_at"] is not None
    answer = httpx.get(f"{url}/v1/bank", headers={"Authorization": f"Bearer {second}"})
    assert answer.status_code == 401
    assert _client(url, bank, api_key=second).submit(confirmation("A-2")).status_code == 401
    # the first key is untouched
    assert httpx.get(f"{url}/v1/bank", headers={"Authorization": f"Bearer {bank.api_key}"}).status_code == 200

    again = httpx.post(f"{url}/v1/operator/banks/hsbc/api-keys/{created['prefix']}/revoke", headers=headers)
    assert again.status_code == 404 and again.json()["error"]["code"] == "key_not_found"
    missing = httpx.post(f"{url}/v1/operator/banks/nobody/api-keys", headers=headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "bank_not_found"
    assert httpx.post(f"{url}/v1/operator/banks/hsbc/api-keys").status_code == 401
    kinds = _audit_kinds(env)
    assert kinds.count("bank.api_key_revoked") == 1


def test_operator_enables_a_disabled_bank(admin):
    env, url, headers, bank = admin
    client = _client(url, bank)
    assert httpx.post(f"{url}/v1/operator/banks/hsbc/disable", headers=headers).json()["active"] is False
    refused = client.submit(confirmation("E-1"))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "bank_disabled"

    response = httpx.post(f"{url}/v1/operator/banks/hsbc/enable", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "hsbc" and response.json()["active"] is True
    assert client.submit(confirmation("E-1")).status_code == 201
    # enabling an enabled bank changes nothing and records nothing
    before = _audit_kinds(env).count("bank.enabled")
    assert httpx.post(f"{url}/v1/operator/banks/hsbc/enable", headers=headers).json()["active"] is True
    assert _audit_kinds(env).count("bank.enabled") == before == 1

    missing = httpx.post(f"{url}/v1/operator/banks/nobody/enable", headers=headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "bank_not_found"
    assert httpx.post(f"{url}/v1/operator/banks/hsbc/enable").status_code == 401


def test_bank_removes_its_webhook(admin):
    env, url, _, bank = admin
    auth = {"Authorization": f"Bearer {bank.api_key}"}
    response = httpx.put(f"{url}/v1/bank/webhook", headers=auth, json={"url": "https://bank.example/ushk"})
    assert response.status_code == 200 and response.json()["secret"]
    assert httpx.get(f"{url}/v1/bank", headers=auth).json()["webhook_url"] == "https://bank.example/ushk"

    response = httpx.delete(f"{url}/v1/bank/webhook", headers=auth)
    assert response.status_code == 200, response.text
    assert response.json() == {"url": None, "secret": None}
    assert httpx.get(f"{url}/v1/bank", headers=auth).json()["webhook_url"] is None
    # an accepted deposit queues no webhook delivery now
    assert _client(url, bank).submit(confirmation("W-1")).status_code == 201
    assert env.snapshot()["webhook_deliveries"] == 0
    assert httpx.delete(f"{url}/v1/bank/webhook").status_code == 401


def test_the_documentation_pages(live):
    _, url = live
    spec = httpx.get(f"{url}/openapi.json")
    assert spec.status_code == 200 and spec.json()["info"]["title"] == "USHK reserve service"
    for page, marker in (("/docs", "swagger-ui"), ("/redoc", "redoc"), ("/docs/oauth2-redirect", "oauth2")):
        response = httpx.get(f"{url}{page}")
        assert response.status_code == 200 and "text/html" in response.headers["content-type"], page
        assert marker in response.text.lower(), page
    assert "/openapi.json" in httpx.get(f"{url}/docs").text
