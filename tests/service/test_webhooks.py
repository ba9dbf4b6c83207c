"""Webhook deliveries to a small HTTP server on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from service.banks import service as banks
from service.client import BankClient
from service.deposits import outbox
from service.webhooks.models import WebhookDelivery
from service.webhooks.service import deliver_due, verify_body
from svc_support import confirmation


class Receiver:
    """Records posted webhooks; answers with the queued status codes (then 200)."""

    def __init__(self) -> None:
        self.received: list[tuple[dict, bytes]] = []
        self.answers: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_deliveries_are_signed_retried_and_recorded(live, receiver):
    env, url = live
    bank = env.add_bank()
    with BankClient(url, api_key=bank.api_key, key_id=bank.key_id, private_key=bank.seed) as client:
        registered = client.set_webhook(receiver.url)
        secret = registered["secret"]
        assert secret.startswith("whsec_")
        assert client.submit(confirmation("W-1")).status_code == 201

    receiver.answers = [500]
    now = dt.datetime.now(dt.UTC)
    first = deliver_due(env.db, env.settings, now=now)
    assert first.retrying and not first.delivered
    with env.db.reading() as session:
        delivery = session.scalars(select(WebhookDelivery)).one()
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
        # 2 s after the first failure, plus up to 1 s of jitter (service/retry.py).
        assert now + dt.timedelta(seconds=2) <= delivery.next_attempt_at <= now + dt.timedelta(seconds=3)
    # Not due yet.
    assert not deliver_due(env.db, env.settings, now=now + dt.timedelta(seconds=1)).delivered
    second = deliver_due(env.db, env.settings, now=now + dt.timedelta(seconds=3))
    assert second.delivered
    with env.db.reading() as session:
        delivery = session.scalars(select(WebhookDelivery)).one()
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 2, 200)

    headers, body = receiver.received[-1]
    assert verify_body(secret, body, headers["X-USHK-Signature"])
    assert not verify_body(secret, body + b" ", headers["X-USHK-Signature"])
    payload = json.loads(body)
    assert payload["event"] == "deposit.status_changed"
    assert payload["deposit"]["reference"] == "W-1"
    assert payload["deposit"]["status"] == "accepted"
    assert "110105194912310021" not in body.decode()

    # A status change later: one more delivery.
    with env.db.transaction() as session:
        outbox.claim_batch(session, 10)
    report = deliver_due(env.db, env.settings, now=now + dt.timedelta(seconds=4))
    assert len(report.delivered) == 1
    assert json.loads(receiver.received[-1][1])["deposit"]["status"] == "minting"


def test_gives_up_after_max_attempts(env):
    env.settings.webhook_max_attempts = 2
    # Nothing listens on this port of the loopback: every attempt fails to connect.
    bank = env.add_bank(webhook_url="http://127.0.0.1:9/hook")
    with env.db.transaction() as session:
        b = banks.require_bank(session, bank.name)
        from service.deposits.models import Deposit
        from service.deposits.schemas import deposit_json
        from service.webhooks.service import enqueue_deposit_event

        deposit = Deposit(
            bank_id=b.id,
            reference="X",
            content_hmac="0" * 64,
            status="accepted",
            amount_cents=1,
            currency="USD",
            value_date=dt.date(2025, 1, 1),
            beneficiary="0x" + "1" * 40,
            resident_hash="0" * 64,
            resident_category="hk",
            id_type="hkid",
            purpose_code="INVS",
            key_id="k1",
        )
        session.add(deposit)
        session.flush()
        enqueue_deposit_event(session, deposit, deposit_json)
    now = dt.datetime.now(dt.UTC)
    assert deliver_due(env.db, env.settings, now=now).retrying
    assert deliver_due(env.db, env.settings, now=now + dt.timedelta(hours=1)).failed
    with env.db.reading() as session:
        delivery = session.scalars(select(WebhookDelivery)).one()
        assert delivery.status == "failed" and delivery.attempts == 2
        assert delivery.last_error
