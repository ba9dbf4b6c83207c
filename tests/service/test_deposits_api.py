"""POST /v1/deposits and GET /v1/deposits/{reference} over real HTTP on a SQLite file."""

from __future__ import annotations

import copy
import json

import httpx
import pytest

from service.banks import service as banks
from service.client import BankClient, signed_request
from service.deposits.signing import public_key_b64
from svc_support import BENEFICIARY, confirmation


def client_for(url, handle) -> BankClient:
    return BankClient(url, api_key=handle.api_key, key_id=handle.key_id, private_key=handle.seed)


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return body["error"]["code"]


def test_accept_then_get(live):
    env, url = live
    bank = env.add_bank()
    with client_for(url, bank) as client:
        response = client.submit(confirmation("R-1", amount="1250.50"))
        assert response.status_code == 201
        assert response.headers["location"] == "/v1/deposits/R-1"
        body = response.json()
        assert body["status"] == "accepted"
        assert body["amount"] == "1250.50"
        assert body["onchain_amount"] == str(125_050 * 10_000)
        assert body["beneficiary"] == BENEFICIARY
        assert body["deposit_id"].startswith("0x" + b"USHK-DEP".hex())
        assert "id_number" not in response.text and "110105194912310021" not in response.text
        assert client.get_deposit("R-1") == body


def test_identical_replay_returns_the_same_and_changes_nothing(live):
    env, url = live
    bank = env.add_bank()
    with client_for(url, bank) as client:
        body = client.sign(confirmation("R-1"))
        first = client.post_deposit(body)
        assert first.status_code == 201
        before = env.snapshot()
        again = client.post_deposit(body)
        assert again.status_code == 200
        assert again.json() == first.json()
        assert env.snapshot() == before


def test_replay_signed_with_a_rotated_key_is_still_a_replay(live):
    env, url = live
    bank = env.add_bank()
    new_seed = bytes(range(32))
    with env.db.transaction() as session:
        b = banks.require_bank(session, bank.name)
        banks.rotate_signing_key(session, b, public_key_b64(new_seed), key_id="k2", actor="t")
    with client_for(url, bank) as client:
        assert client.submit(confirmation("R-1")).status_code == 201
        response = client.post_deposit(signed_request(confirmation("R-1"), "k2", new_seed))
        assert response.status_code == 200


def test_conflicting_replay_is_409_and_changes_nothing(live):
    env, url = live
    bank = env.add_bank()
    with client_for(url, bank) as client:
        first = client.submit(confirmation("R-1"))
        before = env.snapshot()
        response = client.submit(confirmation("R-1", amount="1000.01"))
        assert response.status_code == 409
        assert error_code(response) == "reference_conflict"
        assert env.snapshot() == before
        assert client.get_deposit("R-1") == first.json()


def test_references_are_per_bank(live):
    env, url = live
    a, b = env.add_bank("bank-a"), env.add_bank("bank-b")
    with client_for(url, a) as ca, client_for(url, b) as cb:
        assert ca.submit(confirmation("SAME")).status_code == 201
        assert cb.submit(confirmation("SAME", amount="5.00")).status_code == 201
        assert ca.get_deposit("SAME")["amount"] == "1000.00"
        assert cb.get_deposit("SAME")["amount"] == "5.00"
        # A bank sees only its own deposits.
        only_b = cb.http.get("/v1/deposits/ONLY-A")
        ca.submit(confirmation("ONLY-A"))
        only_b = cb.http.get("/v1/deposits/ONLY-A")
        assert only_b.status_code == 404 and error_code(only_b) == "deposit_not_found"


def _mutations():
    def set_path(path, value):
        def apply(body):
            target = body
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value

        return apply

    def amount(value):
        return set_path(("confirmation", "amount"), value)

    def beneficiary(value):
        return set_path(("confirmation", "beneficiary"), value)

    cases = {
        "amount_zero": (amount("0"), 422, "invalid_amount"),
        "amount_zero_decimals": (amount("0.00"), 422, "invalid_amount"),
        "amount_negative": (amount("-1"), 422, "invalid_amount"),
        "amount_three_decimals": (amount("1.001"), 422, "invalid_amount"),
        "amount_exponent": (amount("1e3"), 422, "invalid_amount"),
        "amount_json_number": (amount(1000), 422, "validation_error"),
        "amount_json_float": (amount(1000.5), 422, "validation_error"),
        "amount_huge": (amount("99999999999999999999.00"), 422, "invalid_amount"),
        "amount_above_maximum": (amount("1000000.01"), 422, "amount_above_maximum"),
        "address_bad_checksum": (
            beneficiary("0x5b38Da6a701c568545dCfcB03FcB875f56beddC4"),
            422,
            "invalid_address",
        ),
        "address_short": (beneficiary("0x5B38Da6a701c568545dCfcB03FcB875f56bedd"), 422, "invalid_address"),
        "address_no_prefix": (
            beneficiary("5B38Da6a701c568545dCfcB03FcB875f56beddC4AB"),
            422,
            "invalid_address",
        ),
        "address_zero": (beneficiary("0x" + "0" * 40), 422, "invalid_address"),
        "currency": (set_path(("confirmation", "currency"), "HKD"), 422, "unsupported_currency"),
        "value_date": (set_path(("confirmation", "value_date"), "20250314"), 422, "invalid_value_date"),
        "value_date_impossible": (
            set_path(("confirmation", "value_date"), "2025-02-30"),
            422,
            "invalid_value_date",
        ),
        "purpose": (set_path(("confirmation", "purpose_code"), "invest ment"), 422, "invalid_purpose_code"),
        "reference": (set_path(("confirmation", "reference"), "has space"), 422, "invalid_reference"),
        "unknown_category": (
            set_path(("confirmation", "resident", "category"), "martian"),
            422,
            "unknown_category",
        ),
        "id_type_not_allowed": (
            set_path(("confirmation", "resident", "id_type"), "hkid"),
            422,
            "invalid_id_type",
        ),
        "id_number_bad": (set_path(("confirmation", "resident", "id_number"), "№!"), 422, "invalid_resident"),
    }
    return cases


@pytest.mark.parametrize("case", sorted(_mutations()))
def test_bad_fields_are_refused_with_a_code_and_change_nothing(live, case):
    env, url = live
    bank = env.add_bank()
    mutate, status, code = _mutations()[case]
    with client_for(url, bank) as client:
        conf = confirmation("R-1")
        body = {"confirmation": conf}
        mutate(body)
        # Signed as sent (the bank signs whatever it sends), so the field check is what fails.
        try:
            request = client.sign(body["confirmation"])
        except ValueError:  # a non-string value cannot be signed; send a signature anyway
            request = client.sign(confirmation("R-1")) | {"confirmation": body["confirmation"]}
        before = env.snapshot()
        response = client.post_deposit(request)
        assert response.status_code == status, response.text
        assert error_code(response) == code
        assert env.snapshot() == before
        # The reference is still free.
        assert client.submit(confirmation("R-1")).status_code == 201


def test_unknown_fields_are_refused(live):
    env, url = live
    bank = env.add_bank()
    with client_for(url, bank) as client:
        before = env.snapshot()
        for extra in ({"memo": "x"}, {"resident": {"nationality": "CN"}}):
            conf = confirmation("R-1")
            if "resident" in extra:
                conf["resident"].update(extra["resident"])
            else:
                conf.update(extra)
            response = client.post_deposit(client.sign(conf))
            assert response.status_code == 422
            assert error_code(response) == "validation_error"
            assert "unknown field" in response.json()["error"]["message"]
        response = client.post_deposit(client.sign(confirmation("R-1")) | {"extra": "1"})
        assert response.status_code == 422
        assert env.snapshot() == before


def test_validation_errors_never_echo_input(live):
    env, url = live
    bank = env.add_bank()
    with client_for(url, bank) as client:
        request = client.sign(confirmation("R-1"))
        request["confirmation"]["resident"]["id_number"] = 110105194912310021
        response = client.post_deposit(request)
        assert response.status_code == 422
        assert "110105194912310021" not in response.text


@pytest.mark.parametrize("body", [b"not json", b"[]", b"{", b'{"confirmation": null}'])
def test_malformed_bodies_are_4xx(live, body):
    env, url = live
    bank = env.add_bank()
    response = httpx.post(
        f"{url}/v1/deposits",
        content=body,
        headers={"Authorization": f"Bearer {bank.api_key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert error_code(response) == "validation_error"


def test_oversized_body_is_413(live):
    env, url = live
    bank = env.add_bank()
    response = httpx.post(
        f"{url}/v1/deposits",
        content=b"{" + b" " * 70_000 + b"}",
        headers={"Authorization": f"Bearer {bank.api_key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert error_code(response) == "payload_too_large"


def test_forged_signature(live):
    env, url = live
    bank = env.add_bank()
    with client_for(url, bank) as client:
        before = env.snapshot()
        request = client.sign(confirmation("R-1"))
        tampered = copy.deepcopy(request)
        tampered["confirmation"]["amount"] = "9000.00"
        for body in (
            tampered,
            request | {"signature": "A" * 86 + "=="},
            request | {"signature": "%%% not base64"},
            request | {"signature": ""},
        ):
            response = client.post_deposit(body)
            assert response.status_code == 403, response.text
            assert error_code(response) == "invalid_signature"
        assert env.snapshot() == before


def test_signature_by_another_banks_key(live):
    env, url = live
    ours, theirs = env.add_bank("ours"), env.add_bank("theirs")
    with client_for(url, ours) as client:
        before = env.snapshot()
        # Their key, under our key id: does not verify against our public key.
        forged = signed_request(confirmation("R-1"), ours.key_id, theirs.seed)
        response = client.post_deposit(forged)
        assert response.status_code == 403 and error_code(response) == "invalid_signature"
        # A key id we do not have.
        response = client.post_deposit(signed_request(confirmation("R-1"), "k9", ours.seed))
        assert response.status_code == 403 and error_code(response) == "unknown_key"
        assert env.snapshot() == before
    # Their API key with a confirmation they signed validly is theirs, not ours.
    with client_for(url, theirs) as client:
        assert client.submit(confirmation("R-1")).status_code == 201
    with client_for(url, ours) as client:
        assert client.http.get("/v1/deposits/R-1").status_code == 404


def test_retired_key_is_refused_and_rotation_has_no_downtime(live):
    env, url = live
    bank = env.add_bank()
    new_seed = bytes(range(32))
    with env.db.transaction() as session:
        b = banks.require_bank(session, bank.name)
        banks.rotate_signing_key(session, b, public_key_b64(new_seed), key_id="k2", actor="t")
    with client_for(url, bank) as client:
        # Both keys valid during the rotation.
        assert client.submit(confirmation("OLD-1")).status_code == 201
        assert client.post_deposit(signed_request(confirmation("NEW-1"), "k2", new_seed)).status_code == 201
        with env.db.transaction() as session:
            b = banks.require_bank(session, bank.name)
            banks.retire_signing_key(session, b, bank.key_id, actor="t")
        before = env.snapshot()
        response = client.submit(confirmation("OLD-2"))
        assert response.status_code == 403 and error_code(response) == "key_retired"
        assert env.snapshot() == before
        assert client.post_deposit(signed_request(confirmation("NEW-2"), "k2", new_seed)).status_code == 201


def test_disabled_bank_and_bad_credentials(live):
    env, url = live
    bank = env.add_bank()
    with client_for(url, bank) as client:
        request = client.sign(confirmation("R-1"))
    before = env.snapshot()
    for headers in (
        {},
        {"Authorization": "Bearer ushk_bk_nope"},
        {"Authorization": "Basic x"},
        {"Authorization": f"Bearer {bank.api_key}x"},
    ):
        response = httpx.post(f"{url}/v1/deposits", json=request, headers=headers)
        assert response.status_code == 401 and error_code(response) == "unauthenticated"
    with env.db.transaction() as session:
        banks.set_disabled(session, banks.require_bank(session, bank.name), True, actor="t")
    before = env.snapshot()
    response = httpx.post(
        f"{url}/v1/deposits", json=request, headers={"Authorization": f"Bearer {bank.api_key}"}
    )
    assert response.status_code == 403 and error_code(response) == "bank_disabled"
    response = httpx.get(f"{url}/v1/deposits/R-1", headers={"Authorization": f"Bearer {bank.api_key}"})
    assert response.status_code == 403
    assert env.snapshot() == before


def test_bank_single_and_daily_limits(live):
    env, url = live
    bank = env.add_bank(single_max_cents=500_000, daily_limit_cents=1_000_000)
    with client_for(url, bank) as client:
        before = env.snapshot()
        response = client.submit(confirmation("BIG", amount="5000.01"))
        assert response.status_code == 422 and error_code(response) == "bank_single_limit_exceeded"
        assert env.snapshot() == before
        assert client.submit(confirmation("D-1", amount="5000.00", id_number="A1")).status_code == 201
        assert client.submit(confirmation("D-2", amount="5000.00", id_number="A2")).status_code == 201
        refused = client.submit(confirmation("D-3", amount="0.01", id_number="A3"))
        assert refused.status_code == 422
        assert error_code(refused) == "bank_daily_limit_exceeded"
        # Recorded: GET shows it, its quota hold was given back, a replay says the same.
        stored = client.get_deposit("D-3")
        assert stored["status"] == "rejected"
        assert stored["rejection_code"] == "bank_daily_limit_exceeded"
        assert stored["deposit_id"] is None
        quota = client.quota(id_type="prc_id", id_number="A3", category="mainland")
        assert quota["held"] == "0.00"
        again = client.submit(confirmation("D-3", amount="0.01", id_number="A3"))
        assert again.status_code == 422 and again.json() == refused.json()


def test_list_own_deposits(live):
    env, url = live
    bank = env.add_bank()
    with client_for(url, bank) as client:
        for i in range(3):
            client.submit(confirmation(f"L-{i}", id_number=f"L{i}"))
        page = client.http.get("/v1/deposits", params={"limit": 2}).json()
        assert [d["reference"] for d in page["items"]] == ["L-0", "L-1"]
        rest = client.http.get("/v1/deposits", params={"after": page["next_after"]}).json()
        assert [d["reference"] for d in rest["items"]] == ["L-2"]
        assert rest["next_after"] is None
        bad = client.http.get("/v1/deposits", params={"status": "bogus"})
        assert bad.status_code == 422


def test_unknown_route_and_method_use_the_error_shape(live):
    _env, url = live
    response = httpx.get(f"{url}/v1/nothing")
    assert response.status_code == 404 and error_code(response) == "not_found"
    response = httpx.delete(f"{url}/v1/deposits")
    assert response.status_code == 405 and error_code(response) == "method_not_allowed"


def test_openapi_lists_error_codes(live):
    _env, url = live
    spec = httpx.get(f"{url}/openapi.json").json()
    responses = spec["paths"]["/v1/deposits"]["post"]["responses"]
    for status, code in [
        ("401", "unauthenticated"),
        ("403", "invalid_signature"),
        ("409", "reference_conflict"),
        ("422", "quota_exceeded"),
        ("422", "validation_error"),
        ("413", "payload_too_large"),
        ("503", "database_busy"),
    ]:
        assert f"`{code}`" in responses[status]["description"]
    # the request body: the signed confirmation, every field, no reference left dangling
    body = spec["paths"]["/v1/deposits"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) == {"confirmation", "key_id", "signature"}
    confirmation_schema = body["properties"]["confirmation"]
    assert {"reference", "amount", "beneficiary", "resident"} <= set(confirmation_schema["properties"])
    assert "id_number" in confirmation_schema["properties"]["resident"]["properties"]
    assert "$ref" not in json.dumps(body)
    assert (
        "`deposit_not_found`"
        in (spec["paths"]["/v1/deposits/{reference}"]["get"]["responses"]["404"]["description"])
    )
