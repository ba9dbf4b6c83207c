"""Webhook delivery against a real local HTTP receiver that checks the Standard Webhooks
signature with the same package; failures are retried, and a new process (a new Delivery on
the same store) retries what was not delivered."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from mon_support import EveryKind, obs
from standardwebhooks.webhooks import Webhook

from service.monitor.delivery import Delivery
from service.monitor.engine import Engine
from service.monitor.store import Store

SECRET = "whsec_" + base64.b64encode(b"monitor-test-secret-0123456789ab").decode()


class Receiver:
    def __init__(self, fail_first: int) -> None:
        self.fail_first = fail_first
        self.calls = 0
        self.accepted: list[dict] = []
        self.ids: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.calls += 1
                try:
                    payload = Webhook(SECRET).verify(body, dict(self.headers.items()))
                except Exception:
                    self.send_response(401)
                    self.end_headers()
                    return
                receiver.ids.append(self.headers["webhook-id"])
                if receiver.calls <= receiver.fail_first:
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.accepted.append(payload)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
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
    r = Receiver(fail_first=2)
    yield r
    r.close()


def test_webhook_signedRetriedAndResumedAfterRestart(store_url, receiver):
    now = [time.time()]
    store = Store(store_url)
    engine = Engine(store, [EveryKind()], deliver=True)
    engine.process(obs(1))
    engine.process(obs(2))
    delivery = Delivery(store, receiver.url, SECRET, retry_seconds=1.0, clock=lambda: now[0])
    assert delivery.send_due() == 0  # both answered 503
    states = store.delivery_states()
    assert states == {0: ("pending", 1), 1: ("pending", 1)}
    assert delivery.send_due() == 0  # not due yet: backoff
    store.dispose()

    # a restart: a new store and delivery retry what is pending
    now[0] += 10
    store = Store(store_url)
    delivery = Delivery(store, receiver.url, SECRET, retry_seconds=1.0, clock=lambda: now[0])
    assert delivery.send_due() == 2
    assert store.delivery_states() == {0: ("delivered", 2), 1: ("delivered", 2)}
    assert [p["key"] for p in receiver.accepted] == ["test.every|chain:1:0|", "test.every|chain:2:0|"]
    # the message id is the same on every attempt of a finding
    assert receiver.ids == ["ushk-monitor-0", "ushk-monitor-1", "ushk-monitor-0", "ushk-monitor-1"]
    # the body is the finding's leaf
    leaf = store.findings(limit=1)[0].leaf
    assert json.loads(leaf) == receiver.accepted[0]
    now[0] += 100
    assert delivery.send_due() == 0  # nothing is delivered twice
    store.dispose()


def test_webhook_unreachableReceiver_isRetriedLater(store_url):
    store = Store(store_url)
    engine = Engine(store, [EveryKind()], deliver=True)
    engine.process(obs(1))
    delivery = Delivery(
        store, "http://127.0.0.1:9/hook", SECRET, retry_seconds=1.0, clock=lambda: 50.0, timeout=2
    )
    assert delivery.send_due() == 0
    assert store.delivery_states() == {0: ("pending", 1)}
    store.dispose()
