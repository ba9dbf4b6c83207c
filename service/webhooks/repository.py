"""Webhook delivery queries."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.webhooks.models import DeliveryStatus, WebhookDelivery


def lock_due(session: Session, now: dt.datetime, limit: int) -> list[WebhookDelivery]:
    """Pending deliveries due at `now`, locked; rows another worker holds are skipped."""
    return list(
        session.scalars(
            select(WebhookDelivery)
            .where(
                WebhookDelivery.status == DeliveryStatus.PENDING,
                WebhookDelivery.next_attempt_at <= now,
            )
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


def list_for_bank(session: Session, bank_id: int, limit: int = 100) -> list[WebhookDelivery]:
    return list(
        session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.bank_id == bank_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )
