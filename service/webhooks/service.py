"""Webhooks: every deposit status change a bank can observe is queued as a delivery row in the
same transaction (an outbox); `deliver_due` posts them.

Body: JSON ``{"event": "deposit.status_changed", "delivery_id": N, "created_at": ...,
"deposit": <the deposit as GET /v1/deposits/{reference} returns it>}``. Header
``X-USHK-Signature: sha256=<hex HMAC-SHA256(bank webhook secret, raw body)>``. A 2xx answer is a
delivery; anything else (or no answer within the timeout) is retried with exponential backoff
and jitter (service/retry.py: base x 2^(attempt-1) plus up to half the base, capped) up to
`webhook_max_attempts`, then the delivery is `failed`.
Each attempt's outcome is recorded on the row. Deliveries are claimed with a lease (the row's
next attempt is pushed past the timeout before posting), so several workers never post the
same delivery at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy.orm import Session

from service import retry
from service.banks.models import Bank, BankRecord
from service.banks.service import webhook_secret
from service.config import Settings
from service.db import Database, transaction_cache, utcnow
from service.webhooks import repository
from service.webhooks.models import DeliveryStatus, WebhookDelivery

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-USHK-Signature"
EVENT_DEPOSIT = "deposit.status_changed"


def sign_body(secret: str, body: bytes) -> str:
    """The X-USHK-Signature value: "sha256=" + hex HMAC-SHA256(secret, body)."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_body(secret: str, body: bytes, header: str) -> bool:
    return hmac.compare_digest(sign_body(secret, body), header or "")


def _bank(session: Session, bank_id: int) -> Bank | None:
    """The bank, loaded once per transaction. The session's identity map holds unchanged objects
    only weakly, so without this a batch of N deposits (the minter's claim and mark-minted)
    would SELECT the same bank row N times."""
    banks = transaction_cache(session, "webhook_banks")
    if bank_id not in banks:
        banks[bank_id] = session.get(Bank, bank_id)
    return banks[bank_id]


def enqueue_deposit_event(
    session: Session,
    deposit: Any,
    view: Callable[[Any], dict],
    *,
    now: dt.datetime | None = None,
    bank: Bank | BankRecord | None = None,
) -> None:
    """Queue a delivery of the deposit's current state if its bank (`bank`, or read by id) has
    a webhook URL. `deposit` needs `id` and `bank_id`; `view(deposit)` is the JSON object sent
    as its state (the deposits side passes its public view: webhooks know no deposit schema)."""
    if bank is None or bank.id != deposit.bank_id:
        bank = _bank(session, deposit.bank_id)
    if bank is None or not bank.webhook_url:
        return
    now = now or utcnow()
    delivery = WebhookDelivery(
        bank_id=bank.id,
        deposit_seq=deposit.id,
        event=EVENT_DEPOSIT,
        payload="{}",
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(delivery)
    session.flush()
    body = {
        "event": EVENT_DEPOSIT,
        "delivery_id": delivery.id,
        "created_at": now.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "deposit": view(deposit),
    }
    delivery.payload = json.dumps(body, separators=(",", ":"), sort_keys=True)
    session.flush()


def backoff(settings: Settings, attempts: int) -> dt.timedelta:
    """The wait before the next attempt after `attempts` failed ones (service/retry.py)."""
    return dt.timedelta(
        seconds=retry.delay(
            attempts, initial=settings.webhook_backoff_seconds, maximum=settings.webhook_backoff_max_seconds
        )
    )


@dataclass
class DeliveryReport:
    delivered: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


@dataclass
class _Job:
    id: int
    url: str | None
    secret: str
    body: bytes
    attempts: int


def deliver_due(
    db: Database,
    settings: Settings,
    *,
    now: dt.datetime | None = None,
    limit: int = 50,
    http: httpx.Client | None = None,
) -> DeliveryReport:
    """Post every due delivery once (up to `limit`) and record each outcome. Takes the
    database (session factory) explicitly; opens its own short transactions."""
    now = now or utcnow()
    lease = dt.timedelta(seconds=settings.webhook_timeout_seconds * 2 + 5)
    jobs: list[_Job] = []
    delivery: WebhookDelivery | None  # locked below, read again once posted
    with db.transaction() as session:
        for delivery in repository.lock_due(session, now, limit):
            bank = session.get(Bank, delivery.bank_id)
            delivery.attempts += 1
            delivery.last_attempt_at = now
            delivery.next_attempt_at = now + lease
            jobs.append(
                _Job(
                    id=delivery.id,
                    url=bank.webhook_url if bank else None,
                    secret=webhook_secret(settings, bank) if bank else "",
                    body=delivery.payload.encode("utf-8"),
                    attempts=delivery.attempts,
                )
            )
    report = DeliveryReport()
    if not jobs:
        return report
    client = http or httpx.Client(timeout=settings.webhook_timeout_seconds)
    try:
        results = [(job, _post(client, job)) for job in jobs]
    finally:
        if http is None:
            client.close()
    with db.transaction() as session:
        for job, (status_code, error) in results:
            delivery = session.get(WebhookDelivery, job.id)
            if delivery is None:
                continue
            delivery.last_status_code = status_code
            delivery.last_error = error[:300] if error else None
            if status_code is not None and 200 <= status_code < 300:
                delivery.status = DeliveryStatus.DELIVERED
                delivery.delivered_at = utcnow()
                report.delivered.append(job.id)
            elif job.url is None or job.attempts >= settings.webhook_max_attempts:
                delivery.status = DeliveryStatus.FAILED
                report.failed.append(job.id)
            else:
                delivery.next_attempt_at = now + backoff(settings, job.attempts)
                report.retrying.append(job.id)
    return report


def _post(client: httpx.Client, job: _Job) -> tuple[int | None, str | None]:
    if job.url is None:
        return None, "bank has no webhook URL"
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign_body(job.secret, job.body),
        "X-USHK-Delivery": str(job.id),
        "User-Agent": "ushk-webhooks/1",
    }
    try:
        response = client.post(job.url, content=job.body, headers=headers)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"
    error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
    return response.status_code, error


def run_delivery_loop(db: Database, settings: Settings, stop: threading.Event) -> None:
    """Deliver due webhooks until `stop` is set (for `ushk webhooks deliver --loop` and the
    in-process worker of `ushk serve`)."""
    with httpx.Client(timeout=settings.webhook_timeout_seconds) as client:
        while not stop.is_set():
            try:
                report = deliver_due(db, settings, http=client)
                busy = bool(report.delivered or report.retrying or report.failed)
            except Exception:  # keep the worker alive; the next round retries
                logger.exception("webhook delivery round failed")
                busy = False
            if not busy:
                stop.wait(settings.webhook_poll_seconds)
