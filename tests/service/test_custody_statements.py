"""Custody statements: POST/GET /v1/bank/custody-statements over real HTTP (SQLite and PostgreSQL),
and the worked example of docs/bank-api.md recomputed."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from sqlalchemy import select

from service import audit
from service.app import create_app
from service.audit.models import AuditEntry
from service.client import BankClient, signed_statement
from service.deposits.signing import (
    canonical_confirmation,
    public_key_b64,
    sign_confirmation,
    verify_signature,
)
from svc_support import LiveServer
from test_signing import DOC, doc_block


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def live(request):
    """(env, base_url) over real HTTP, on SQLite and on PostgreSQL."""
    env = request.getfixturevalue("env" if request.param == "sqlite" else "pg_env")
    with LiveServer(create_app(env.settings, env.db, policy=env.policy, clock=env.clock)) as server:
        yield env, server.url


def client_for(url, handle) -> BankClient:
    return BankClient(url, api_key=handle.api_key, key_id=handle.key_id, private_key=handle.seed)


def statement(statement_id="S-1", balance="1000.00", as_of=None, account="ACC-1"):
    as_of = as_of or dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return {
        "statement_id": statement_id,
        "balance": balance,
        "currency": "USD",
        "as_of": as_of,
        "account": account,
    }


def code(response) -> str:
    return response.json()["error"]["code"]


def test_the_worked_example_verifies():
    seed = doc_block("seed")
    example = json.loads(doc_block("custody_statement"))
    canonical = doc_block("custody_canonical").encode()
    signature = doc_block("custody_signature")
    assert canonical_confirmation(example) == canonical
    assert f"{len(canonical)} bytes" in DOC
    assert hashlib.sha256(canonical).hexdigest() in DOC
    assert public_key_b64(seed) in DOC
    assert verify_signature(public_key_b64(seed), canonical, signature)
    assert sign_confirmation(bytes.fromhex(seed), example) == signature


def test_post_replay_conflict_and_list(live):
    env, url = live
    bank = env.add_bank()
    other = env.add_bank("boc")
    with client_for(url, bank) as client:
        body = signed_statement(statement(balance="1234.50"), bank.key_id, bank.seed)
        first = client.post_custody_statement(body)
        assert first.status_code == 201, first.text
        out = first.json()
        assert out["balance"] == "1234.50" and out["statement_id"] == "S-1" and out["account"] == "ACC-1"
        before = env.snapshot()
        again = client.post_custody_statement(body)
        assert again.status_code == 200 and again.json() == out
        assert env.snapshot() == before
        changed = signed_statement(statement(balance="1234.51", as_of=out["as_of"]), bank.key_id, bank.seed)
        conflict = client.post_custody_statement(changed)
        assert conflict.status_code == 409 and code(conflict) == "statement_conflict"
        assert [s["statement_id"] for s in client.custody_statements()] == ["S-1"]
    with client_for(url, other) as client:
        assert client.custody_statements() == []  # a bank sees only its own statements
        # the same id is free at another bank
        assert (
            client.post_custody_statement(signed_statement(statement(), other.key_id, other.seed)).status_code
            == 201
        )
    with env.db.reading() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.kind == "custody.statement_received")
        ).all()
        assert len(entries) == 2
        public = audit.leaves.public_view(entries[0].leaf)["public"]
        assert public == {"bank": "hsbc", "balance": "1234.50", "as_of": out["as_of"]}
        assert "ACC-1" not in entries[0].leaf


def test_refusals(live):
    env, url = live
    bank = env.add_bank()
    with client_for(url, bank) as client:
        body = signed_statement(statement(), bank.key_id, bank.seed)
        forged = dict(body, statement=dict(body["statement"], balance="9999999.00"))
        assert code(client.post_custody_statement(forged)) == "invalid_signature"
        assert code(client.post_custody_statement(dict(body, key_id="nope"))) == "unknown_key"
        for field, value, expected in [
            ("balance", "-1.00", "invalid_amount"),
            ("balance", "1.001", "invalid_amount"),
            ("currency", "HKD", "invalid_statement"),
            ("as_of", "2025-03-14", "invalid_statement"),
            ("as_of", "2025-03-14T17:00:00", "invalid_statement"),
            ("as_of", "2999-01-01T00:00:00Z", "invalid_statement"),
            ("statement_id", "bad id", "invalid_statement"),
        ]:
            response = client.post_custody_statement(
                signed_statement(dict(statement(), **{field: value}), bank.key_id, bank.seed)
            )
            assert response.status_code == 422 and code(response) == expected, (field, value, response.text)
        unsigned = {"statement": statement(), "key_id": bank.key_id}
        assert client.post_custody_statement(unsigned).status_code == 422
        # zero is a valid balance
        zero = client.post_custody_statement(signed_statement(statement("Z", "0"), bank.key_id, bank.seed))
        assert zero.status_code == 201 and zero.json()["balance"] == "0.00"
    unauthenticated = BankClient(url, api_key="ushk_bk_wrong")
    with unauthenticated:
        assert unauthenticated.post_custody_statement(body).status_code == 401
