"""Sealing and opening the Travel Rule records (AES-256-GCM, cryptography's AESGCM).

The plaintext is the canonical JSON of what the bank signed ({"cdd": ..., party: ...}); the
associated data is "ushk-travel-rule:v1:<subject>:<id>", binding the ciphertext to its deposit
(or payout); the nonce is 12 random bytes per record. The key is the settings' current one
(USHK_TRAVEL_RULE_KEY under USHK_TRAVEL_RULE_KEY_ID); records sealed under an older key open
with USHK_TRAVEL_RULE_OLD_KEYS. The data never enters an audit payload, a log line or a public
answer: only `read_for_supervisor` opens a record, and it records who read which one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.orm import Session

from service import audit
from service.canonical import canonical_json
from service.config import Settings
from service.errors import NotFound, ServiceError
from service.travel_rule import ivms101
from service.travel_rule.models import TravelRuleRecord

DEPOSIT = "deposit"
PAYOUT = "payout"


class TravelRuleKeyMissing(ServiceError):
    """The service has no Travel Rule key (USHK_TRAVEL_RULE_KEY) to keep the IVMS101 data sent
    or to open a record sealed with it. A service whose policy sets a CDD threshold refuses to
    start without one, so this answers only data sent voluntarily below a threshold a keyless
    service does not set (send it without the data, or ask the operator for a key), or a record
    whose key was withdrawn; nothing is stored."""

    status_code = 409
    code = "travel_rule_key_missing"
    message = "This service keeps no Travel Rule data (no key configured); nothing was stored."


class TravelRuleNotFound(NotFound):
    """No Travel Rule record for this deposit or payout (none was sent, or no such deposit)."""

    code = "travel_rule_not_found"
    message = "No Travel Rule record for this deposit."


ERRORS: tuple[type[ServiceError], ...] = (*ivms101.ERRORS, TravelRuleKeyMissing)


def checked(settings: Settings, required: bool, body: Any, name: str) -> dict[str, Any] | None:
    """The CDD confirmation (`body.cdd`) and IVMS101 party (`body.<name>`: "originator" of a
    confirmation, "beneficiary" of a settlement) to seal (`ivms101.check`), None when none was
    sent; refuses what cannot be kept (no key) before anything is stored."""
    data = ivms101.check(required=required, cdd=body.cdd, party=getattr(body, name), name=name)
    if data is not None and settings.travel_rule_keys() is None:
        raise TravelRuleKeyMissing()
    return data


def associated_data(subject: str, subject_id: int) -> bytes:
    return f"ushk-travel-rule:v1:{subject}:{subject_id}".encode("ascii")


def seal(
    session: Session,
    settings: Settings,
    subject: str,
    subject_id: int,
    data: dict[str, Any] | None,
    *,
    now: dt.datetime,
) -> None:
    """Store `data` encrypted for the subject (in the caller's transaction); nothing for None."""
    if data is None:
        return
    keys = settings.travel_rule_keys()
    if keys is None:
        raise TravelRuleKeyMissing()
    key_id, ring = keys
    nonce = os.urandom(12)
    ciphertext = AESGCM(ring[key_id]).encrypt(
        nonce, canonical_json(data), associated_data(subject, subject_id)
    )
    session.add(
        TravelRuleRecord(
            subject=subject,
            subject_id=subject_id,
            key_id=key_id,
            nonce=nonce,
            ciphertext=ciphertext,
            created_at=now,
        )
    )
    session.flush()


def find(session: Session, subject: str, subject_id: int) -> TravelRuleRecord | None:
    return session.scalar(
        select(TravelRuleRecord).where(
            TravelRuleRecord.subject == subject, TravelRuleRecord.subject_id == subject_id
        )
    )


def open_record(settings: Settings, record: TravelRuleRecord) -> dict[str, Any]:
    """The plaintext of a record. A missing key or a ciphertext that does not authenticate
    (tampered, moved to another subject) is an error, never a guess."""
    keys = settings.travel_rule_keys()
    if keys is None:
        raise TravelRuleKeyMissing("The service has no Travel Rule key to open this record.")
    key = keys[1].get(record.key_id)
    if key is None:
        raise TravelRuleKeyMissing(
            f"The record is sealed with key {record.key_id!r}, which is not configured "
            "(USHK_TRAVEL_RULE_OLD_KEYS keeps retired keys)."
        )
    try:
        plaintext = AESGCM(key).decrypt(
            record.nonce, record.ciphertext, associated_data(record.subject, record.subject_id)
        )
    except InvalidTag:
        raise RuntimeError(
            f"travel rule record {record.id} does not authenticate under key {record.key_id!r}"
        ) from None
    data: dict[str, Any] = json.loads(plaintext)
    return data


def read_for_supervisor(
    session: Session,
    settings: Settings,
    *,
    subject: str,
    subject_id: int,
    actor: str,
    now: dt.datetime,
) -> tuple[TravelRuleRecord, dict[str, Any]]:
    """Open the subject's record and audit the read (who, which subject; never the data). The
    caller checked the supervisor role and commits."""
    record = find(session, subject, subject_id)
    if record is None:
        raise TravelRuleNotFound()
    data = open_record(settings, record)
    seq_field = "deposit_seq" if subject == DEPOSIT else "payout_id"
    audit.record(
        session,
        "travel_rule.read",
        actor,
        {seq_field: subject_id, "subject": subject, "key_id": record.key_id},
        now=now,
    )
    return record, data
