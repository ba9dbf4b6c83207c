"""The `ushk` commands that manage operators, bank keys, limits and webhooks, the watch list,
the audit log, webhook deliveries, the schema, minting halts and payouts: each checked by the
state it leaves (read back from the database or over HTTP) and its refusals."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from service import audit
from service.banks import repository as bank_repo
from service.banks import service as banks
from service.cli import cli
from service.client import BankClient
from service.deposits.signing import public_key_b64
from service.models import AuditEntry, WatchListEntry
from service.redemptions import service as redemptions
from service.redemptions.schemas import PayoutAccountIn
from service.reserves import service as reserve_service
from service.webhooks.service import verify_body
from svc_support import confirmation, make_env, server_env

HOLDER = "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"
HKT = dt.timezone(dt.timedelta(hours=8))


def run(env, *args, input=None):
    return CliRunner().invoke(cli, list(args), env=server_env(env.settings), input=input)


def ok(env, *args, input=None):
    result = run(env, *args, input=input)
    assert result.exit_code == 0, (args, result.output)
    return result.output


def fails(env, *args, code=1):
    result = run(env, *args)
    assert result.exit_code == code, (args, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.output


def audit_kinds(env) -> list[str]:
    with env.db.reading() as session:
        return list(session.scalars(select(AuditEntry.kind).order_by(AuditEntry.seq)))


def bank_row(env, name="dbs") -> dict:
    [row] = [r for r in json.loads(ok(env, "bank", "list", "--json")) if r["name"] == name]
    return row


def test_operator_list_shows_active_and_revoked(env):
    ok(env, "operator", "add", "alice")
    ok(env, "operator", "add", "bob", "--role", "supervisor")
    assert "operator bob revoked" in ok(env, "operator", "revoke", "bob")
    lines = [line.split("\t") for line in ok(env, "operator", "list").splitlines()]
    assert [(name, role, state) for name, role, state, _ in lines] == [
        ("alice", "operator", "active"),
        ("bob", "supervisor", "revoked"),
    ]
    assert fails(env, "operator", "add", "carol", "--role", "root", code=2)
    assert "key_not_found" in fails(env, "operator", "revoke", "bob")  # revoked already
    assert "key_not_found" in fails(env, "operator", "revoke", "nobody")


def test_api_keys_from_the_cli(live):
    env, url = live
    created = json.loads(ok(env, "bank", "add", "dbs", "--generate-key", "--json"))
    first = created["api_key"]
    output = ok(env, "bank", "new-api-key", "dbs")
    second = output.split("api key (shown once): ")[1].strip()
    assert second != first
    for key in (first, second):
        answer = httpx.get(f"{url}/v1/bank", headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200 and answer.json()["name"] == "dbs"
    assert [k["active"] for k in bank_row(env)["api_keys"]] == [True, True]

    prefix = second[:14]
    assert f"api key {prefix}... revoked" in ok(env, "bank", "revoke-api-key", "dbs", prefix)
    assert httpx.get(f"{url}/v1/bank", headers={"Authorization": f"Bearer {second}"}).status_code == 401
    assert httpx.get(f"{url}/v1/bank", headers={"Authorization": f"Bearer {first}"}).status_code == 200
    assert {k["prefix"]: k["active"] for k in bank_row(env)["api_keys"]} == {first[:14]: True, prefix: False}
    assert "key_not_found" in fails(env, "bank", "revoke-api-key", "dbs", prefix)
    assert "bank_not_found" in fails(env, "bank", "new-api-key", "nobody")
    assert audit_kinds(env).count("bank.api_key_added") == 2  # the bank's first key and this one


def test_retire_key_refuses_its_confirmations(live):
    env, url = live
    created = json.loads(ok(env, "bank", "add", "dbs", "--generate-key", "--json"))
    seed = bytes.fromhex(created["private_key_seed"])
    old = BankClient(url, api_key=created["api_key"], key_id="k1", private_key=seed)
    assert old.submit(confirmation("RK-1")).status_code == 201
    ok(env, "bank", "rotate-key", "dbs", "--public-key", public_key_b64(bytes(range(32))), "--key-id", "k2")
    assert "bank dbs: key k1 retired" in ok(env, "bank", "retire-key", "dbs", "k1")
    refused = old.submit(confirmation("RK-2"))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "key_retired"
    new = BankClient(url, api_key=created["api_key"], key_id="k2", private_key=bytes(range(32)))
    assert new.submit(confirmation("RK-2")).status_code == 201
    assert {k["key_id"]: k["active"] for k in bank_row(env)["signing_keys"]} == {"k1": False, "k2": True}
    assert "key_not_found" in fails(env, "bank", "retire-key", "dbs", "k9")
    assert "bank_not_found" in fails(env, "bank", "retire-key", "nobody", "k1")


def test_set_limits_bounds_the_deposits(live):
    env, url = live
    created = json.loads(ok(env, "bank", "add", "dbs", "--generate-key", "--json"))
    client = BankClient(
        url, api_key=created["api_key"], key_id="k1", private_key=bytes.fromhex(created["private_key_seed"])
    )
    assert "bank dbs: limits set" in ok(
        env, "bank", "set-limits", "dbs", "--single-max", "500", "--daily-limit", "800"
    )
    row = bank_row(env)
    assert (row["single_max"], row["daily_limit"]) == ("500.00", "800.00")
    assert client.submit(confirmation("L-1", amount="500.00")).status_code == 201
    above = client.submit(confirmation("L-2", amount="500.01"))
    assert above.status_code == 422, above.text
    daily = client.submit(confirmation("L-3", amount="400.00"))  # 500 + 400 > 800 today
    assert daily.status_code == 422 and daily.json()["error"]["code"] == "bank_daily_limit_exceeded"
    # "none" lifts a limit
    ok(env, "bank", "set-limits", "dbs", "--single-max", "none", "--daily-limit", "none")
    row = bank_row(env)
    assert (row["single_max"], row["daily_limit"]) == (None, None)
    assert client.submit(confirmation("L-4", amount="900.00")).status_code == 201
    # bad amounts are usage errors; nothing changes
    assert "at most 2 decimal places" in fails(
        env, "bank", "set-limits", "dbs", "--single-max", "1.005", code=2
    )
    assert fails(env, "bank", "set-limits", "dbs", "--daily-limit", "1e3", code=2)
    assert "bank_not_found" in fails(env, "bank", "set-limits", "nobody", "--single-max", "1")
    assert bank_row(env)["single_max"] is None


def test_set_webhook_and_remove_it(env):
    ok(env, "bank", "add", "dbs", "--generate-key")
    output = ok(env, "bank", "set-webhook", "dbs", "https://dbs.example/ushk")
    assert "bank dbs: webhook set" in output and "webhook secret (shown once): " in output
    assert bank_row(env)["webhook_url"] == "https://dbs.example/ushk"
    # a new URL rotates the secret
    again = ok(env, "bank", "set-webhook", "dbs", "https://dbs.example/v2")
    assert again.split("shown once): ")[1] != output.split("shown once): ")[1]
    assert "bank dbs: webhook removed" in ok(env, "bank", "set-webhook", "dbs")
    assert bank_row(env)["webhook_url"] is None
    # plain http only to a loopback host
    assert "invalid_bank_input" in fails(env, "bank", "set-webhook", "dbs", "http://dbs.example/ushk")
    assert bank_row(env)["webhook_url"] is None
    assert "bank_not_found" in fails(env, "bank", "set-webhook", "nobody", "https://x.example/")


def test_enable_lets_a_disabled_bank_in_again(live):
    env, url = live
    created = json.loads(ok(env, "bank", "add", "dbs", "--generate-key", "--json"))
    client = BankClient(
        url, api_key=created["api_key"], key_id="k1", private_key=bytes.fromhex(created["private_key_seed"])
    )
    ok(env, "bank", "disable", "dbs")
    assert client.submit(confirmation("EN-1")).json()["error"]["code"] == "bank_disabled"
    assert "bank dbs enabled" in ok(env, "bank", "enable", "dbs")
    assert bank_row(env)["active"] is True
    assert client.submit(confirmation("EN-1")).status_code == 201
    assert audit_kinds(env).count("bank.enabled") == 1
    assert "bank_not_found" in fails(env, "bank", "enable", "nobody")


def test_watchlist_and_clear(live):
    env, url = live
    bank = env.add_bank("hsbc")
    client = BankClient(url, api_key=bank.api_key, key_id=bank.key_id, private_key=bank.seed)
    # five residents funding one address: the fifth is flagged for splitting, with the other four
    answers = [client.submit(confirmation(f"S-{i}", id_number=f"11010519491231{i:04d}")) for i in range(5)]
    assert [a.status_code for a in answers] == [201, 201, 201, 201, 422]
    assert answers[-1].json()["error"]["code"] == "resident_on_watch_list"
    lines = [line.split("\t") for line in ok(env, "quota", "watchlist").splitlines()]
    assert len(lines) == 5 and {state for _, _, state, _, _ in lines} == {"suspended"}
    assert {source for _, _, _, source, _ in lines} == {"splitting"}
    with env.db.reading() as session:
        entries = list(session.scalars(select(WatchListEntry).order_by(WatchListEntry.id)))
    assert [str(e.id) for e in entries] == [line[0] for line in lines]

    # clearing lifts the suspension of that resident only; cleared entries show with --all
    from service.quota.identity import resident_hash

    first = 0

    holder = resident_hash(
        env.settings.id_hmac_secret.get_secret_value().encode(), "prc_id", f"11010519491231{first:04d}"
    )
    [entry] = [e for e in entries if e.resident_hash == holder]
    assert f"watch-list entry {entry.id} cleared" in ok(env, "quota", "clear", str(entry.id))
    assert len(ok(env, "quota", "watchlist").splitlines()) == 4
    shown = {
        line.split("\t")[0]: line.split("\t")[2]
        for line in ok(env, "quota", "watchlist", "--all").splitlines()
    }
    assert shown[str(entry.id)] == "cleared" and len(shown) == 5
    other = "0xAb8483F64d9C6d1EcF9b849Ae677dD3315835cb2"
    cleared = client.submit(confirmation("S-9", id_number=f"11010519491231{first:04d}", beneficiary=other))
    assert cleared.status_code == 201, cleared.text
    still = client.submit(
        confirmation("S-10", id_number=f"11010519491231{(first + 1) % 5:04d}", beneficiary=other)
    )
    assert still.json()["error"]["code"] == "resident_on_watch_list"
    assert "quota.watch_cleared" in audit_kinds(env)
    # clearing twice, or an entry that does not exist: refused
    assert "no active watch-list entry" in fails(env, "quota", "clear", str(entry.id))
    assert "no active watch-list entry" in fails(env, "quota", "clear", "999")
    assert fails(env, "quota", "clear", "x", code=2)


def test_audit_head_and_show(env):
    ok(env, "operator", "add", "alice")
    ok(env, "bank", "add", "dbs", "--generate-key")
    with env.db.reading() as session:
        seq, digest = audit.head(session)
    assert ok(env, "audit", "head").strip() == f"{seq} {digest}"
    entries = [json.loads(line) for line in ok(env, "audit", "show").splitlines()]
    assert [e["seq"] for e in entries] == list(range(1, seq + 1))
    assert entries[-1]["hash"] == digest and entries[0]["kind"] == "operator.created"
    assert all(e["actor"].startswith("cli:") for e in entries)
    page = [
        json.loads(line) for line in ok(env, "audit", "show", "--after", "1", "--limit", "1").splitlines()
    ]
    assert [e["seq"] for e in page] == [2]
    assert ok(env, "audit", "show", "--after", str(seq)) == ""
    assert fails(env, "audit", "show", "--limit", "0", code=2)


class _Receiver(BaseHTTPRequestHandler):
    status = 200
    received: list[tuple[dict, bytes]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    handler = type("Receiver", (_Receiver,), {"received": [], "status": 200})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()
    server.server_close()


def test_webhooks_deliver_posts_the_due_events(live, receiver):
    env, url = live
    handler, hook = receiver
    bank = env.add_bank("hsbc", webhook_url=hook)
    client = BankClient(url, api_key=bank.api_key, key_id=bank.key_id, private_key=bank.seed)
    assert client.submit(confirmation("WH-1")).status_code == 201
    assert ok(env, "webhooks", "deliver").strip() == "delivered 1, retrying 0, failed 0"
    [(headers, body)] = handler.received
    assert "WH-1" in body.decode() and json.loads(body)
    with env.db.reading() as session:
        secret = banks.webhook_secret(env.settings, bank_repo.get_bank_by_name(session, "hsbc"))
    assert verify_body(secret, body, headers["X-USHK-Signature"])
    # nothing due any more
    assert ok(env, "webhooks", "deliver").strip() == "delivered 0, retrying 0, failed 0"
    # the bank's endpoint failing: retried later
    handler.status = 500
    assert client.submit(confirmation("WH-2")).status_code == 201
    assert ok(env, "webhooks", "deliver").strip() == "delivered 0, retrying 1, failed 0"
    assert len(handler.received) == 2


def test_db_upgrade_creates_the_schema(tmp_path):
    env = make_env(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        assert "no such table" in str(run(env, "bank", "list").exception or "")
        assert ok(env, "db", "upgrade").strip() == "database at head"
        assert ok(env, "db", "upgrade").strip() == "database at head"  # again: nothing to do
        ok(env, "bank", "add", "dbs", "--generate-key")
        assert bank_row(env)["name"] == "dbs"
    finally:
        env.db.dispose()


def test_minting_status_shows_the_halt(env):
    assert ok(env, "minting", "status").strip() == "minting is not halted"
    with env.db.transaction() as session:
        row, created = reserve_service.halt(
            session, [{"code": "supply_mismatch", "message": "test"}], difference_units=5, actor="test"
        )
    assert created
    shown = json.loads(ok(env, "minting", "status"))
    assert shown["id"] == row.id and shown["codes"] == ["supply_mismatch"]
    # resuming checks the chain first: without one it is refused and the halt stays
    assert "chain_required" in fails(env, "minting", "resume", "--cause", "fixed the feed")
    assert json.loads(ok(env, "minting", "status"))["id"] == row.id
    assert fails(env, "minting", "resume", code=2)  # --cause is required


def _payouts_env(env):
    """A pending payout due in the past (overdue) and an unassigned one."""
    env.add_bank("hsbc")
    env.add_bank("boc")
    with env.db.transaction() as session:
        account, _ = redemptions.register_account(
            session,
            env.settings,
            bank_repo.get_bank_by_name(session, "hsbc"),
            PayoutAccountIn(holder=HOLDER, account_reference="HSBC-ACC-1", currency="USD"),
            now=env.clock(),
        )
        ref = account.payout_ref
    past = dt.datetime(2026, 1, 5, 10, 0, tzinfo=HKT)
    ids = []
    for rid, payout_ref in ((1, ref), (2, "0x" + "77" * 32)):
        event = redemptions.RedemptionEvent(
            redemption_id=rid,
            holder=HOLDER,
            amount_units=250 * 10**6,
            payout_ref=payout_ref,
            tx_hash="0x" + f"{rid:064x}",
            block_number=100 + rid,
            log_index=0,
        )
        with env.db.transaction() as session:
            ids.append(redemptions.record_redemption(session, env.settings, event, now=past).id)
    return ids


def test_payouts_list_overdue_and_assign(env):
    pending, unassigned = _payouts_env(env)
    rows = json.loads(ok(env, "payouts", "list", "--json"))
    assert {r["id"]: (r["status"], r["bank"]) for r in rows} == {
        pending: ("pending", "hsbc"),
        unassigned: ("unassigned", None),
    }
    assert [r["id"] for r in json.loads(ok(env, "payouts", "list", "--status", "unassigned", "--json"))] == [
        unassigned
    ]
    assert [r["id"] for r in json.loads(ok(env, "payouts", "list", "--bank", "hsbc", "--json"))] == [pending]
    text = ok(env, "payouts", "list").splitlines()
    assert len(text) == 2 and "overdue" in text[0] and "unknown_payout_ref" in text[1]

    overdue = run(env, "payouts", "overdue")
    assert overdue.exit_code == 1 and "1 overdue payout(s)" in overdue.output
    assert overdue.output.startswith(f"{pending}\tredemption 1\thsbc\toverdue")
    assert run(env, "payouts", "overdue", "--bank", "boc").exit_code == 0

    output = ok(env, "payouts", "assign", str(unassigned), "--bank", "boc")
    assert output.startswith(f"payout {unassigned} assigned to boc, due ")
    [row] = [r for r in json.loads(ok(env, "payouts", "list", "--json")) if r["id"] == unassigned]
    assert (row["status"], row["bank"], row["overdue"]) == ("pending", "boc", False)
    assert "payout.assigned" in audit_kinds(env)
    # only an unassigned payout can be assigned; the bank must exist
    again = fails(env, "payouts", "assign", str(unassigned), "--bank", "hsbc")
    assert "Error:" in again
    assert "bank_not_found" in fails(env, "payouts", "assign", str(pending), "--bank", "nobody")
    assert fails(env, "payouts", "list", "--status", "lost", code=2)
