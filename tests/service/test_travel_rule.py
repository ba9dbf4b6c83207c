"""CDD and the Travel Rule: at or above the policy's threshold a deposit confirmation carries the
bank's CDD confirmation and the originator's IVMS101 data, a payout settlement the beneficiary's,
inside the signed body; kept encrypted (AES-256-GCM, bound to its deposit or payout), never in a
public answer, an audit payload, another table or a log line, and read only by a supervisor, each
read audited. On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
import logging

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select, text, update

from service.app import create_app
from service.audit.repository import entries, parse_payload
from service.banks import service as banks
from service.banks.models import Operator
from service.client import BankClient
from service.models import Base, TravelRuleRecord
from service.quota.policy import CddPolicy
from service.redemptions import service as redemptions
from service.travel_rule import service as travel_rule
from svc_support import BENEFICIARY, LiveServer, confirmation, make_env, today

KEY = "11" * 32
CDD = {"confirmed": "true", "reference": "HSBC-CDD-778812"}
ORIGINATOR = {
    "primary_identifier": "CHANQZX",
    "secondary_identifier": "TAI MAN QZX",
    "national_identifier": "Z9876543Q",
    "national_identifier_type": "IDCD",
    "country_of_residence": "HK",
}
BENEFICIARY_PARTY = {
    "primary_identifier": "WONGQZX",
    "national_identifier": "P1234567Q",
    "national_identifier_type": "CCPT",
    "country_of_residence": "GB",
}
SECRETS = ("CHANQZX", "TAI MAN QZX", "Z9876543Q", "HSBC-CDD-778812", "WONGQZX", "P1234567Q")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def tr_env(request):
    """An env whose policy sets the CDD threshold at US$1,000 and whose settings hold a key."""
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    env = make_env(url, travel_rule_key=KEY)
    env.policy = dataclasses.replace(env.policy, cdd=CddPolicy(threshold_cents=100_000))
    yield env
    env.db.dispose()


@pytest.fixture
def served(tr_env):
    app = create_app(tr_env.settings, tr_env.db, policy=tr_env.policy, clock=tr_env.clock)
    with LiveServer(app) as server:
        yield tr_env, server.url


def client_for(url, handle) -> BankClient:
    return BankClient(url, api_key=handle.api_key, key_id=handle.key_id, private_key=handle.seed)


def code_of(response: httpx.Response) -> str:
    return response.json()["error"]["code"]


def operator_headers(env) -> dict[str, str]:
    with env.db.transaction() as session:
        token = banks.create_operator(session, "sup", actor="test")[1]
    return {"Authorization": f"Bearer {token}"}


def make_supervisors(env, monkeypatch) -> None:
    """Every operator a supervisor (operators.role)."""
    with env.db.transaction() as session:
        session.execute(update(Operator).values(role="supervisor"))


def everything_stored(env) -> str:
    """Every row of every table but the travel rule records, as text."""
    with env.db.reading() as session:
        return "\n".join(
            repr(row)
            for table in Base.metadata.sorted_tables
            if table.name != "travel_rule_records"
            for row in session.execute(select(table)).all()
        )


def test_deposits_at_the_threshold_need_cdd_and_ivms101_data(served, monkeypatch, caplog):
    env, url = served
    bank = env.add_bank()
    with caplog.at_level(logging.DEBUG), client_for(url, bank) as client:
        # Below the threshold an old-style confirmation is as valid as ever.
        assert client.submit(confirmation("TR-0", amount="999.99")).status_code == 201
        before = env.snapshot()
        refused = client.submit(confirmation("TR-1", amount="1000.00"))
        assert refused.status_code == 422 and code_of(refused) == "cdd_required"
        assert "CDD" in refused.json()["error"]["message"]
        refused = client.submit({**confirmation("TR-1"), "cdd": CDD})
        assert refused.status_code == 422 and code_of(refused) == "travel_rule_data_required"
        assert "IVMS101" in refused.json()["error"]["message"]
        refused = client.submit(
            {**confirmation("TR-1"), "cdd": {**CDD, "confirmed": "false"}, "originator": ORIGINATOR}
        )
        assert code_of(refused) == "cdd_required"
        for bad in (
            {"national_identifier_type": "HKID"},
            {"country_of_residence": "XX"},
            {"primary_identifier": " "},
            {"national_identifier": "1" * 36},
        ):
            refused = client.submit({**confirmation("TR-1"), "cdd": CDD, "originator": {**ORIGINATOR, **bad}})
            assert refused.status_code == 422 and code_of(refused) == "invalid_travel_rule_data", bad
        signed_null = client.sign({**confirmation("TR-1"), "cdd": CDD})
        signed_null["confirmation"]["originator"] = None  # refused as a body, before the signature
        refused = client.post_deposit(signed_null)
        assert code_of(refused) == "validation_error"
        assert env.snapshot() == before  # refusals store nothing, the reference stays unused

        signed = {**confirmation("TR-1"), "cdd": CDD, "originator": ORIGINATOR}
        accepted = client.submit(signed)
        assert accepted.status_code == 201, accepted.text
        assert client.submit(signed).status_code == 200  # a replay: no second record
        # the data is signed: changing it under the same reference is a conflict
        changed = {**signed, "originator": {**ORIGINATOR, "primary_identifier": "LEE"}}
        assert code_of(client.submit(changed)) == "reference_conflict"
        deposit = client.get_deposit("TR-1")

        with env.db.reading() as session:
            records = session.scalars(select(TravelRuleRecord)).all()
        assert [(r.subject, r.key_id) for r in records] == [("deposit", "tr1")]
        assert all(s.encode() not in records[0].ciphertext for s in SECRETS)

        # Nowhere else: not in any table, audit payload, public answer or log line.
        assert not any(s in everything_stored(env) for s in SECRETS)
        public = [deposit, client.http.get("/v1/deposits").json()]
        spec = httpx.get(f"{url}/openapi.json").json()
        for path in spec["paths"]:
            if (
                path.startswith(("/v1/public", "/v1/transparency", "/v1/reserves", "/v1/audit"))
                and "{" not in path
            ):
                public.append(httpx.get(f"{url}{path}").text)
        assert not any(s in str(item) for s in SECRETS for item in public)

        # Only a supervisor reads it, and each read is audited (who, which deposit; not the data).
        headers = operator_headers(env)
        path = f"{url}/v1/operator/deposits/{deposit['deposit_id']}/travel-rule"
        refused = httpx.get(path, headers=headers)
        assert refused.status_code == 403 and code_of(refused) == "operator_role_required"
        assert httpx.get(path, headers={"Authorization": f"Bearer {bank.api_key}"}).status_code == 401
        make_supervisors(env, monkeypatch)
        read = httpx.get(path, headers=headers)
        assert read.status_code == 200, read.text
        body = read.json()
        assert body["cdd"] == CDD and body["originator"] == ORIGINATOR and body["key_id"] == "tr1"
        seq = body["deposit_seq"]
        assert httpx.get(f"{url}/v1/operator/deposits/{seq}/travel-rule", headers=headers).status_code == 200
        missing = httpx.get(f"{url}/v1/operator/deposits/1/travel-rule", headers=headers)  # TR-0: none sent
        assert missing.status_code == 404 and code_of(missing) == "travel_rule_not_found"
        assert httpx.get(f"{url}/v1/operator/deposits/0xzz/travel-rule", headers=headers).status_code == 404

    with env.db.reading() as session:
        reads = [e for e in entries(session, limit=1000) if e.kind == "travel_rule.read"]
    assert [(e.actor, parse_payload(e)) for e in reads] == [
        ("operator:sup", {"deposit_seq": seq, "key_id": "tr1", "subject": "deposit"})
    ] * 2
    assert not any(s in everything_stored(env) for s in SECRETS)
    served_logs = [r.getMessage() for r in caplog.records if r.name.startswith(("service", "uvicorn"))]
    assert served_logs and not any(s in line for s in SECRETS for line in served_logs)


def pending_payout(env, client: BankClient, dollars: int) -> dict:
    ref = client.register_payout_account(holder=BENEFICIARY, account_reference=f"ACC-{dollars}")["payout_ref"]
    event = redemptions.RedemptionEvent(
        redemption_id=dollars,
        holder=BENEFICIARY,
        amount_units=dollars * 10**6,
        payout_ref=ref,
        tx_hash="0x" + "ab" * 32,
        block_number=100,
        log_index=dollars,
    )
    with env.db.transaction() as session:
        redemptions.record_redemption(session, env.settings, event, now=env.clock())
    return client.get_payout(client.payouts()[-1]["id"])


def test_payouts_at_the_threshold_carry_the_beneficiary(served, monkeypatch):
    env, url = served
    bank = env.add_bank()
    with client_for(url, bank) as client:
        small = pending_payout(env, client, 250)
        assert client.settle_payout(small, bank_reference="PAY-1", value_date=today())["status"] == "settled"
        large = pending_payout(env, client, 2000)
        for kwargs, code in (
            ({}, "cdd_required"),
            ({"cdd": CDD}, "travel_rule_data_required"),
            (
                {"cdd": CDD, "beneficiary": {**BENEFICIARY_PARTY, "country_of_residence": "gb"}},
                "invalid_travel_rule_data",
            ),
        ):
            with pytest.raises(Exception) as refused:
                client.settle_payout(large, bank_reference="PAY-2", value_date=today(), **kwargs)
            assert getattr(refused.value, "code", None) == code, (kwargs, refused.value)
        assert client.get_payout(large["id"])["status"] == "pending"
        settled = client.settle_payout(
            large, bank_reference="PAY-2", value_date=today(), cdd=CDD, beneficiary=BENEFICIARY_PARTY
        )
        assert settled["status"] == "settled" and not any(s in str(settled) for s in SECRETS)
    assert not any(s in everything_stored(env) for s in SECRETS)
    headers = operator_headers(env)
    path = f"{url}/v1/operator/payouts/{large['id']}/travel-rule"
    assert code_of(httpx.get(path, headers=headers)) == "operator_role_required"
    make_supervisors(env, monkeypatch)
    read = httpx.get(path, headers=headers)
    assert read.status_code == 200, read.text
    assert read.json()["beneficiary"] == BENEFICIARY_PARTY and read.json()["cdd"] == CDD
    small_read = httpx.get(f"{url}/v1/operator/payouts/{small['id']}/travel-rule", headers=headers)
    assert small_read.status_code == 404
    with env.db.reading() as session:
        reads = [parse_payload(e) for e in entries(session, limit=1000) if e.kind == "travel_rule.read"]
    assert reads == [{"payout_id": large["id"], "key_id": "tr1", "subject": "payout"}]


def test_a_record_opens_only_for_its_subject_and_after_a_key_rotation(tr_env):
    env = tr_env
    data = {"cdd": CDD, "originator": ORIGINATOR}
    with env.db.transaction() as session:
        travel_rule.seal(session, env.settings, travel_rule.DEPOSIT, 41, data, now=env.clock())
    with env.db.reading() as session:
        record = travel_rule.find(session, travel_rule.DEPOSIT, 41)
        assert travel_rule.open_record(env.settings, record) == data
        moved = TravelRuleRecord(
            id=record.id,
            subject="deposit",
            subject_id=42,
            key_id="tr1",
            nonce=record.nonce,
            ciphertext=record.ciphertext,
        )
    with pytest.raises(RuntimeError, match="does not authenticate"):
        travel_rule.open_record(env.settings, moved)
    rotated = env.settings.model_copy(
        update={
            "travel_rule_key": SecretStr("22" * 32),
            "travel_rule_key_id": "tr2",
            "travel_rule_old_keys": SecretStr(json.dumps({"tr1": KEY})),
        }
    )
    assert travel_rule.open_record(rotated, record) == data
    with env.db.transaction() as session:
        travel_rule.seal(session, rotated, travel_rule.DEPOSIT, 43, data, now=env.clock())
    with env.db.reading() as session:
        assert travel_rule.find(session, travel_rule.DEPOSIT, 43).key_id == "tr2"
        assert session.execute(text("SELECT count(*) FROM travel_rule_records")).scalar() == 2
    without_old = env.settings.model_copy(update={"travel_rule_key_id": "tr2"})
    with pytest.raises(travel_rule.TravelRuleKeyMissing, match="not configured"):
        travel_rule.open_record(without_old, record)


def test_the_threshold_is_policy_and_validated(tmp_path):
    from service.quota.policy import Policy, PolicyError
    from svc_support import DEMO_POLICY, PRODUCTION_POLICY

    assert Policy.load(PRODUCTION_POLICY).cdd == CddPolicy(threshold_cents=100_000)
    assert Policy.load(DEMO_POLICY).cdd == CddPolicy(threshold_cents=None)
    categories = {"hk": {"eligible": True, "limit": None, "timezone": "UTC"}}
    assert Policy.from_dict({"categories": categories}).cdd.threshold_cents == 100_000  # absent: on
    for bad in ("0", "-1", "1e3", 1000, "1,000.00"):
        with pytest.raises(PolicyError, match="cdd"):
            Policy.from_dict({"categories": categories, "cdd": {"threshold_usd": bad}})
    with pytest.raises(PolicyError, match="cdd"):
        Policy.from_dict({"categories": categories, "cdd": {"threshold": "1.00"}})
    policy = CddPolicy(threshold_cents=100_000)
    assert policy.requires(100_000) and not policy.requires(99_999)
    assert not CddPolicy(threshold_cents=None).requires(10**12)


def test_the_key_is_32_bytes_and_production_needs_it(sqlite_url):
    from base64 import b64encode

    from service.config import Settings
    from service.quota.policy import Policy
    from svc_support import PRODUCTION_POLICY, make_settings

    assert make_settings(sqlite_url, travel_rule_key=b64encode(b"k" * 32).decode()).travel_rule_keys() == (
        "tr1",
        {"tr1": b"k" * 32},
    )
    for bad in ("11" * 31, "not a key", b64encode(b"k" * 16).decode()):
        with pytest.raises(ValueError, match="32 bytes") as refused:
            make_settings(sqlite_url, travel_rule_key=bad)
        assert bad not in str(refused.value)  # the key is never echoed
    with pytest.raises(ValueError, match="travel_rule_old_keys"):
        make_settings(sqlite_url, travel_rule_key=KEY, travel_rule_old_keys="[1]")
    assert isinstance(make_settings(sqlite_url), Settings)
    for environment in ("production", "development"):
        keyless = make_settings(sqlite_url, environment=environment)
        with pytest.raises(RuntimeError, match="USHK_TRAVEL_RULE_KEY"):
            create_app(keyless, policy=Policy.load(PRODUCTION_POLICY))


def test_without_a_key_travel_rule_data_is_refused_and_nothing_stored(env):
    """A keyless service (its policy sets no CDD threshold: with one it would not start) refuses
    data sent voluntarily, a 4xx that stores nothing; the same deposit without it goes in."""
    assert env.policy.cdd.threshold_cents is None and env.settings.travel_rule_key is None
    bank = env.add_bank()
    app = create_app(env.settings, env.db, policy=env.policy, clock=env.clock)
    with LiveServer(app) as server, client_for(server.url, bank) as client:
        before = env.snapshot()
        refused = client.submit({**confirmation("NK-1"), "cdd": CDD, "originator": ORIGINATOR})
        assert refused.status_code == 409 and code_of(refused) == "travel_rule_key_missing"
        assert env.snapshot() == before
        assert client.submit(confirmation("NK-1")).status_code == 201


def test_the_worked_example_with_ivms101_data():
    """docs/bank-api.md's signed confirmation with CDD and originator data verifies, and the
    service's schema takes it and signs exactly those bytes."""
    import hashlib

    from service.deposits.schemas import ConfirmationIn
    from service.deposits.signing import (
        canonical_confirmation,
        public_key_b64,
        sign_confirmation,
        verify_signature,
    )
    from test_signing import DOC, doc_block

    seed = bytes.fromhex(doc_block("seed"))
    example = json.loads(doc_block("cdd_confirmation"))
    canonical = doc_block("cdd_canonical").encode("utf-8")
    assert canonical_confirmation(example) == canonical
    assert f"{len(canonical)} bytes" in DOC and hashlib.sha256(canonical).hexdigest() in DOC
    assert sign_confirmation(seed, example) == doc_block("cdd_signature")
    assert verify_signature(public_key_b64(seed), canonical, doc_block("cdd_signature"))
    parsed = ConfirmationIn.model_validate(example)
    assert canonical_confirmation(parsed.signed_payload()) == canonical
    # an old confirmation (no cdd, no originator) is signed over exactly the same bytes as before
    old = json.loads(doc_block("confirmation"))
    assert canonical_confirmation(ConfirmationIn.model_validate(old).signed_payload()) == doc_block(
        "canonical"
    ).encode("utf-8")
