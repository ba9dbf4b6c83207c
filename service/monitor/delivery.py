"""Webhook delivery of findings, signed as Standard Webhooks (package `standardwebhooks`):
headers `webhook-id` (`ushk-monitor-<key id prefix>-<seq>`: the same on every retry),
`webhook-timestamp` (unix seconds) and `webhook-signature` (`v1,<base64 HMAC-SHA256>`); the body
is the finding's leaf bytes (canonical JSON of its public view).

Each finding gets a row in the store's `mon_deliveries` when it is appended (same transaction);
a delivery that fails (no answer, or a status other than 2xx) is retried with the service's
backoff (service.retry.delay), so a restart retries whatever was not delivered.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections.abc import Callable

import httpx
from standardwebhooks.webhooks import Webhook

from service.monitor.store import Store
from service.retry import delay


class Delivery:
    def __init__(
        self,
        store: Store,
        url: str,
        secret: str,
        *,
        sender_id: str = "ushk-monitor",
        retry_seconds: float = 1.0,
        max_retry_seconds: float = 300.0,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.url = url
        self.webhook = Webhook(secret)
        self.sender_id = sender_id
        self.retry_seconds = retry_seconds
        self.max_retry_seconds = max_retry_seconds
        self.http = httpx.Client(timeout=timeout)
        self.clock = clock
        self.stop = threading.Event()
        self.wake = threading.Event()

    def message_id(self, seq: int) -> str:
        return f"{self.sender_id}-{seq}"

    def send_due(self) -> int:
        """Attempt every due delivery once, in seq order; how many were delivered."""
        done = 0
        for seq, attempts, leaf in self.store.due_deliveries(self.clock()):
            now = self.clock()
            msg_id = self.message_id(seq)
            payload = leaf.decode("utf-8")
            stamp = int(now)
            signature = self.webhook.sign(msg_id, dt.datetime.fromtimestamp(stamp, dt.UTC), payload)
            headers = {
                "content-type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": str(stamp),
                "webhook-signature": signature,
            }
            try:
                response = self.http.post(self.url, content=leaf, headers=headers)
                error = None if 200 <= response.status_code < 300 else f"answered {response.status_code}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc or 'no answer'}"
            if error is None:
                self.store.delivered(seq, attempts + 1)
                done += 1
            else:
                wait = delay(attempts + 1, initial=self.retry_seconds, maximum=self.max_retry_seconds)
                self.store.delivery_failed(seq, attempts + 1, now + wait, error)
        return done

    def run(self, interval: float = 0.5) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(Exception):  # the store may be briefly unavailable: retry
                self.send_due()
            self.wake.wait(interval)
            self.wake.clear()
