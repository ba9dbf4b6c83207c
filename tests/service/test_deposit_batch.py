"""POST /v1/deposits/batch over real HTTP, on SQLite and PostgreSQL: both forms (each item
signed, the batch signed as one message), each item answered as POST /v1/deposits would answer
it alone, replays, refusals of the batch as a whole (which change nothing)."""

from __future__ import annotations

import copy
import json

import httpx
import pytest

from service.app import create_app
from service.banks.service import require_bank
from service.client import BankClient, signed_batch
from service.deposits.schemas import ConfirmationIn
from service.deposits.signing import canonical_batch, sign_batch
from service.reserves import failures
from svc_support import REPO, LiveServer, confirmation, make_env


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def served(request):
    """(env, url) on either database."""
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    env = make_env(url)
    app = create_app(env.settings, env.db, policy=env.policy, clock=env.clock)
    with LiveServer(app) as server:
        yield env, server.url
    env.db.dispose()


def client_for(url, handle) -> BankClient:
    return BankClient(url, api_key=handle.api_key, key_id=handle.key_id, private_key=handle.seed)


def code_of(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]["code"]


def mixed(prefix: str) -> list[dict]:
    """Good ones, a format refusal, a recorded refusal (over the mainland quota of 50,000)."""
    return [
        confirmation(f"{prefix}-1", amount="100.00", id_number="110105194912310021"),
        confirmation(f"{prefix}-2", amount="100.00", currency="EUR"),
        confirmation(f"{prefix}-3", amount="60000.00", id_number="11010519491231002X"),
        confirmation(f"{prefix}-4", amount="200.00", id_number="110105194912310021"),
    ]


def single_answers(url, handle, confirmations) -> list[tuple[int, dict]]:
    """What POST /v1/deposits answers for each, one at a time (status, body)."""
    with client_for(url, handle) as client:
        answers = []
        for c in confirmations:
            response = client.submit(c)
            answers.append((response.status_code, response.json()))
        return answers


def as_pairs(results: list[dict]) -> list[tuple[int, dict]]:
    return [(r["status"], r["deposit"] if "deposit" in r else {"error": r["error"]}) for r in results]


def comparable(pairs):
    """Without what differs between two deposits of different references and times."""
    out = []
    for status, body in pairs:
        if "error" in body:
            out.append((status, body["error"]["code"]))
        else:
            out.append((status, body["status"], body["amount"], body["rejection_code"]))
    return out


@pytest.mark.parametrize("form", ["items", "batch"])
def test_each_item_is_answered_as_alone_and_a_replay_gives_the_same(served, form):
    env, url = served
    bank, other = env.add_bank(), env.add_bank("other")
    with client_for(url, bank) as client:
        results = client.deposit_batch(mixed("B"), form=form)
        assert [r["index"] for r in results] == [0, 1, 2, 3]
        assert [r["status"] for r in results] == [201, 422, 422, 201]
        assert results[1]["error"]["code"] == "unsupported_currency"
        assert results[2]["error"]["code"] == "quota_exceeded"
        assert results[0]["deposit"]["status"] == "accepted"
        assert client.get_deposit("B-1") == results[0]["deposit"]
        assert client.get_deposit("B-3")["status"] == "rejected"  # recorded
        # the same confirmations one by one, at another bank: the same answers
        alone = single_answers(url, other, mixed("B"))
        assert comparable(as_pairs(results)) == comparable(alone)

        before = env.snapshot()
        again = client.deposit_batch(mixed("B"), form=form)
        assert [r["status"] for r in again] == [200, 422, 422, 200]
        for first, second in zip(results, again, strict=True):
            assert first.get("deposit", first.get("error")) == second.get("deposit", second.get("error"))
        assert env.snapshot() == before


def test_both_forms_and_the_single_endpoint_share_the_references(served):
    env, url = served
    bank = env.add_bank()
    with client_for(url, bank) as client:
        assert client.submit(confirmation("S-1")).status_code == 201
        results = client.deposit_batch([confirmation("S-1"), confirmation("S-2")], form="batch")
        assert [r["status"] for r in results] == [200, 201]
        results = client.deposit_batch(
            [confirmation("S-2"), confirmation("S-1", amount="5.00")], form="items"
        )
        assert [r["status"] for r in results] == [200, 409]
        assert results[1]["error"]["code"] == "reference_conflict"
        # twice in one batch: the second is a replay of the first, or a conflict
        results = client.deposit_batch(
            [confirmation("S-3"), confirmation("S-3"), confirmation("S-3", amount="7.00")]
        )
        assert [r["status"] for r in results] == [201, 200, 409]


def test_a_bad_item_signature_spoils_only_its_item(served):
    env, url = served
    bank = env.add_bank()
    with client_for(url, bank) as client:
        body = client.sign_batch([confirmation("I-1"), confirmation("I-2"), confirmation("I-3")], "items")
        body["items"][1]["confirmation"]["amount"] = "999.00"  # no longer what was signed
        body["items"][2] = {"confirmation": "nope"}  # not a deposit request at all
        response = client.post_deposit_batch(body)
        assert response.status_code == 200
        results = response.json()["results"]
        assert [(r["status"], r.get("error", {}).get("code")) for r in results] == [
            (201, None),
            (403, "invalid_signature"),
            (422, "validation_error"),
        ]


def test_a_batch_refused_as_a_whole_changes_nothing(served):
    env, url = served
    bank = env.add_bank()
    before = env.snapshot()
    with client_for(url, bank) as client:
        good = client.sign_batch([confirmation("W-1"), confirmation("W-2")])
        tampered = copy.deepcopy(good)
        tampered["confirmations"][1]["amount"] = "1.00"
        reordered = {**good, "confirmations": good["confirmations"][::-1]}
        cases = {
            "not json": (b"{not json", 422, "validation_error"),
            "an array": (b"[]", 422, "validation_error"),
            "wrong shape": (json.dumps({"deposits": []}).encode(), 422, "validation_error"),
            "empty": (json.dumps({"items": []}).encode(), 422, "validation_error"),
            "both forms": (json.dumps({**good, "items": []}).encode(), 422, "validation_error"),
            "tampered": (json.dumps(tampered).encode(), 403, "invalid_signature"),
            "reordered": (json.dumps(reordered).encode(), 403, "invalid_signature"),
            "unknown key": (json.dumps({**good, "key_id": "k-nope"}).encode(), 403, "unknown_key"),
            "a malformed confirmation": (
                json.dumps({**good, "confirmations": [{"reference": "W-3"}]}).encode(),
                422,
                "validation_error",
            ),
        }
        for name, (raw, status, code) in cases.items():
            response = client.http.post(
                "/v1/deposits/batch", content=raw, headers={"Content-Type": "application/json"}
            )
            assert (response.status_code, code_of(response)) == (status, code), (name, response.text)
        over = [confirmation(f"O-{i}", amount="1.00") for i in range(1001)]
        for form in ("batch", "items"):
            response = client.post_deposit_batch(client.sign_batch(over, form))
            assert response.status_code == 422, (form, response.text)
            assert "at most 1000" in response.json()["error"]["message"]
    response = httpx.post(f"{url}/v1/deposits/batch", json=good)
    assert response.status_code == 401
    assert env.snapshot() == before


def test_a_full_batch_of_1000_is_taken(served):
    env, url = served
    bank = env.add_bank()
    batch = [
        confirmation(f"F-{i}", amount="1.00", id_type="hkid", id_number="A1234567", category="hk")
        for i in range(1000)
    ]
    with client_for(url, bank) as client:
        results = client.deposit_batch(batch)
        assert [r["status"] for r in results] == [201] * 1000
        assert client.get_deposit("F-999")["status"] == "accepted"


def test_every_per_item_rule_applies(served, monkeypatch):
    """The bank's limits, four eyes and a failed custodian, inside a batch."""
    env, url = served
    bank = env.add_bank(single_max_cents=200_000)
    big = confirmation("P-big", amount="600000.00", id_type="hkid", id_number="B1234567", category="hk")
    with client_for(url, bank) as client:
        results = client.deposit_batch([confirmation("P-1"), confirmation("P-2", amount="3000.00"), big])
        assert [r["status"] for r in results] == [201, 422, 422]
        assert results[1]["error"]["code"] == "bank_single_limit_exceeded"
    other = env.add_bank("big")
    with client_for(url, other) as client:
        results = client.deposit_batch([big])
        assert results[0]["status"] == 201
        assert results[0]["deposit"]["status"] == "awaiting_approval"
        with env.db.transaction() as session:
            failures.mark_failed(session, require_bank(session, "big"), cause="drill", actor="test")
        results = client.deposit_batch([confirmation("P-3")], form="items")
        assert results[0]["status"] == 409
        assert results[0]["error"]["code"] == "custodian_failed"


def test_the_worked_example_of_a_signed_batch():
    """The signed bytes and signature of docs/bank-api.md, "Batches" (the doc shows these)."""
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    example = ConfirmationIn.model_config["json_schema_extra"]["example"]  # docs' first example
    confirmations = [
        {**example, "reference": "HSBC-2025-000124"},
        {
            "reference": "HSBC-2025-000125",
            "amount": "80.00",
            "currency": "USD",
            "value_date": "2025-03-14",
            "beneficiary": "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4",
            "resident": {"id_type": "passport", "id_number": "K01234567", "category": "hk"},
            "purpose_code": "INVS",
        },
    ]
    message = canonical_batch({"confirmations": confirmations})
    assert message.startswith(b'{"confirmations":[{"amount":"1250.00","beneficiary":')
    assert len(message) == 512
    assert f"<!-- example:batch_canonical -->\n```text\n{message.decode()}\n```" in DOC
    signature = sign_batch(seed, confirmations)
    assert f"<!-- example:batch_signature -->\n```text\n{signature}\n```" in DOC
    assert signed_batch(confirmations, "k1", seed)["signature"] == signature


DOC = (REPO / "docs" / "bank-api.md").read_text()
