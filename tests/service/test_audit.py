"""The hash-chained audit log."""

from __future__ import annotations

import json

from click.testing import CliRunner
from sqlalchemy import text

from service import audit
from service.cli import cli
from service.client import BankClient
from svc_support import confirmation, server_env


def submit_some(live, n=3):
    env, url = live
    bank = env.add_bank()
    with BankClient(url, api_key=bank.api_key, key_id=bank.key_id, private_key=bank.seed) as client:
        for i in range(n):
            assert client.submit(confirmation(f"A-{i}", id_number=f"A{i}")).status_code == 201
        client.submit(confirmation("A-0", amount="1.00"))  # conflict: no entry
    env.last_api_key = bank.api_key
    return env


def test_chain_verifies_and_holds_no_raw_ids(live):
    env = submit_some(live)
    with env.db.reading() as session:
        result = audit.verify(session)
        assert result.ok and result.checked == result.head_seq > 0
        seq, digest = audit.head(session)
        assert (seq, digest) == (result.head_seq, result.head_hash)
        rows = session.execute(text("SELECT kind, actor, payload FROM audit_log")).all()
    kinds = [r.kind for r in rows]
    assert kinds[:3] == ["bank.created", "bank.api_key_added", "bank.signing_key_added"]
    assert kinds.count("deposit.received") == 3
    assert kinds.count("quota.held") == 3
    assert kinds.count("deposit.accepted") == 3
    blob = " ".join(r.payload for r in rows)
    assert "A0" not in json.dumps([json.loads(r.payload).get("resident") for r in rows])
    assert env.last_api_key not in blob and env.settings.id_hmac_secret.get_secret_value() not in blob
    for r in rows:  # stored canonically
        assert (
            json.dumps(json.loads(r.payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            == r.payload
        )


def test_tampering_is_found_at_the_right_seq(live):
    env = submit_some(live)
    with env.db.reading() as session:
        head_seq = audit.head(session)[0]
    target = 5
    with env.db.engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_log SET payload = :p WHERE seq = :s"),
            {"p": json.dumps({"forged": True}), "s": target},
        )
    with env.db.reading() as session:
        result = audit.verify(session)
    assert not result.ok
    assert result.first_bad_seq == target
    assert result.checked == target - 1
    assert result.head_seq == head_seq

    runner = CliRunner()
    outcome = runner.invoke(cli, ["audit", "verify"], env=server_env(env.settings))
    assert outcome.exit_code == 1
    assert f"BROKEN at seq {target}" in outcome.output


def test_deleted_and_reordered_entries_are_found(live):
    env = submit_some(live)
    with env.db.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log WHERE seq = 4"))
    with env.db.reading() as session:
        result = audit.verify(session)
    assert not result.ok and result.first_bad_seq == 4


def test_truncated_tail_is_found(live):
    env = submit_some(live)
    with env.db.reading() as session:
        head_seq = audit.head(session)[0]
    with env.db.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log WHERE seq = :s"), {"s": head_seq})
    with env.db.reading() as session:
        result = audit.verify(session)
    assert not result.ok and result.first_bad_seq == head_seq


def test_rolled_back_work_leaves_no_entry(env):
    with env.db.reading() as session:
        before = audit.head(session)
    session = env.db.session()
    audit.record(session, "test.event", "test", {"x": 1})
    session.rollback()
    session.commit()
    session.close()
    with env.db.reading() as session:
        assert audit.head(session) == before
    with env.db.transaction() as session:
        audit.record(session, "test.event", "test", {"x": 1})
    with env.db.reading() as session:
        assert audit.head(session)[0] == before[0] + 1
        assert audit.verify(session).ok
