"""Bank administration and authentication rules.

* API keys (``ushk_bk_...``) and operator tokens (``ushk_op_...``) are 256-bit random values,
  shown once and kept only as SHA-256. A bank may hold several API keys at once, so a key is
  rotated by adding the new one, switching clients, then revoking the old one.
* Ed25519 confirmation keys are identified per bank by a key id. Several may be active; a key
  is retired only when asked (`retire_signing_key`, or `rotate_signing_key(..., retire=...)`).
* A bank's webhook secret is HMAC-SHA256(webhook_signing_key, "webhook:<bank id>:<version>"),
  derived when needed and never stored; setting a new webhook URL bumps the version.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service import audit
from service.banks import repository
from service.banks.models import Bank, BankApiKey, BankRecord, BankSigningKey, Operator
from service.config import Settings
from service.db import transaction_cache, utcnow
from service.errors import NotAuthenticated, NotFound, ServiceError
from service.money import format_cents

API_KEY_PREFIX = "ushk_bk_"
OPERATOR_TOKEN_PREFIX = "ushk_op_"
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class BankDisabled(ServiceError):
    """The bank is disabled."""

    status_code = 403
    code = "bank_disabled"
    message = "This bank is disabled."


class CustodianFailed(ServiceError):
    """The bank is marked failed as a custodian (`ushk bank mark-failed`): its new deposits are
    refused, and nothing is recorded, until an operator marks it recovered."""

    status_code = 409
    code = "custodian_failed"
    message = "This bank is marked failed as a custodian: deposits to it are refused."


def check_not_failed(bank: Bank | BankRecord) -> None:
    """Raises CustodianFailed for a bank marked failed (service/reserves/failures.py)."""
    if bank.failed_at is not None:
        at = bank.failed_at.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        raise CustodianFailed(
            f"Bank {bank.name} is marked failed as a custodian since {at}: deposits to it are "
            "refused until an operator marks it recovered."
        )


class BankNotFound(NotFound):
    """No bank of that name."""

    code = "bank_not_found"
    message = "No such bank."


class InvalidBankInput(ServiceError, ValueError):
    """A webhook URL that is not https (plain http only to a loopback host, in development);
    a bank name, key id, public key or limit of the wrong form."""

    status_code = 422
    code = "invalid_bank_input"


class BankExists(ServiceError):
    """A bank of that name exists."""

    status_code = 409
    code = "bank_exists"


class KeyNotFound(NotFound):
    """No such API key prefix or confirmation key id."""

    code = "key_not_found"
    message = "No such key."


class OperatorRequired(NotAuthenticated):
    """Missing or unknown operator token (a bank's API key too)."""

    code = "operator_unauthenticated"
    message = "Missing or unknown operator token: send `Authorization: Bearer <token>`."


class OperatorRoleRequired(ServiceError):
    """The operator's role may not do this (a supervisor changes nothing; only an approver
    approves or rejects a four-eyes request)."""

    status_code = 403
    code = "operator_role_required"
    message = "This operator's role may not do this."


# operator: requests; approver: approves another operator's request (and may request);
# supervisor: reads what operators read, changes nothing.
ROLES = ("operator", "approver", "supervisor")
# The roles that may change anything (every operator write endpoint and command).
WRITER_ROLES = ("operator", "approver")


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidBankInput(f"role must be one of {', '.join(ROLES)}")
    return role


def require_role(operator: Operator, *allowed: str) -> Operator:
    """`operator` if its role is one of `allowed`; `OperatorRoleRequired` (403
    `operator_role_required`) otherwise."""
    role = getattr(operator, "role", None) or "operator"
    if role not in allowed:
        raise OperatorRoleRequired(
            f"operator {operator.name} has role {role}; this needs {' or '.join(allowed)}"
        )
    return operator


class BankDailyLimitExceeded(ServiceError):
    """The bank's daily limit does not hold the amount (recorded)."""

    status_code = 422
    code = "bank_daily_limit_exceeded"


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InvalidBankInput("name must be 1-64 lowercase letters, digits, _ or -")
    return name


def is_key_id(value: str) -> bool:
    """Whether `value` has the form of a confirmation key id (anything else names no key)."""
    return _KEY_ID.fullmatch(value) is not None


def check_key_id(key_id: str) -> str:
    if not is_key_id(key_id):
        raise InvalidBankInput("key_id must be 1-64 letters, digits, '.', '_' or '-'")
    return key_id


def parse_public_key(value: str) -> str:
    """Accept a raw 32-byte Ed25519 public key as base64 or hex; return canonical base64."""
    value = value.strip()
    raw: bytes | None = None
    if re.fullmatch(r"(0x)?[0-9a-fA-F]{64}", value):
        raw = bytes.fromhex(value.removeprefix("0x"))
    else:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raw = None
    if raw is None or len(raw) != 32:
        raise InvalidBankInput("public_key must be 32 bytes (Ed25519), base64 or hex")
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise InvalidBankInput("public_key is not a valid Ed25519 key") from None
    return base64.b64encode(raw).decode("ascii")


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def check_webhook_url(url: str, settings: Settings) -> str:
    """An absolute https URL of at most 500 printable ASCII characters, without user or
    password. Plain http only to a loopback host (127.0.0.1, ::1, localhost), and only in
    development."""
    invalid = InvalidBankInput(
        "webhook_url must be an https URL of at most 500 printable ASCII characters, without user or password"
    )
    if not 0 < len(url) <= 500 or any(not 0x21 <= ord(c) <= 0x7E for c in url):
        raise invalid
    try:
        parts = urlsplit(url)
        host, _port = parts.hostname, parts.port  # .port: ValueError when out of range
    except ValueError:
        raise invalid from None
    if not host or parts.username is not None or parts.password is not None:
        raise invalid
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and host in LOOPBACK_HOSTS:
        if settings.environment == "development":
            return url
        raise InvalidBankInput("webhook_url: plain http (to a loopback host) is for development only")
    raise invalid


def webhook_secret(settings: Settings, bank: Bank) -> str:
    key = settings.webhook_signing_key.get_secret_value().encode("utf-8")
    message = f"webhook:{bank.id}:{bank.webhook_secret_version}".encode()
    return "whsec_" + hmac.new(key, message, hashlib.sha256).hexdigest()


def bank_payload(bank: Bank) -> dict:
    return {"bank": bank.name, "bank_id": bank.id}


@dataclass
class NewBank:
    bank: Bank
    api_key: str
    signing_key: BankSigningKey | None
    webhook_secret: str | None


def create_bank(
    session: Session,
    settings: Settings,
    name: str,
    *,
    actor: str,
    public_key: str | None = None,
    key_id: str | None = None,
    single_max_cents: int | None = None,
    daily_limit_cents: int | None = None,
    webhook_url: str | None = None,
) -> NewBank:
    check_name(name)
    for value in (single_max_cents, daily_limit_cents):
        if value is not None and value <= 0:
            raise InvalidBankInput("limits must be positive")
    if webhook_url is not None:
        check_webhook_url(webhook_url, settings)
    if repository.get_bank_by_name(session, name) is not None:
        raise BankExists(f"bank {name} already exists")
    bank = Bank(
        name=name,
        single_max_cents=single_max_cents,
        daily_limit_cents=daily_limit_cents,
        webhook_url=webhook_url,
        webhook_secret_version=1 if webhook_url else 0,
    )
    session.add(bank)
    try:
        session.flush()
    except IntegrityError:
        raise BankExists(f"bank {name} already exists") from None
    audit.record(
        session,
        "bank.created",
        actor,
        {
            **bank_payload(bank),
            "single_max_cents": single_max_cents,
            "daily_limit_cents": daily_limit_cents,
            "webhook": webhook_url is not None,
        },
    )
    api_key = add_api_key(session, bank, actor=actor)
    signing = None
    if public_key is not None:
        signing = add_signing_key(session, bank, public_key, key_id=key_id, actor=actor)
    secret = webhook_secret(settings, bank) if webhook_url else None
    return NewBank(bank, api_key, signing, secret)


def add_api_key(session: Session, bank: Bank, *, actor: str) -> str:
    """Create a new API key for `bank` (existing keys stay valid). Returns the key, once."""
    key = new_api_key()
    row = BankApiKey(bank_id=bank.id, key_hash=hash_secret(key), prefix=key[:14])
    session.add(row)
    session.flush()
    audit.record(session, "bank.api_key_added", actor, {**bank_payload(bank), "prefix": row.prefix})
    return key


def revoke_api_key(session: Session, bank: Bank, prefix: str, *, actor: str) -> BankApiKey:
    for row in repository.api_keys(session, bank.id):
        if row.prefix == prefix and row.revoked_at is None:
            row.revoked_at = utcnow()
            session.flush()
            audit.record(session, "bank.api_key_revoked", actor, {**bank_payload(bank), "prefix": prefix})
            return row
    raise KeyNotFound(f"no active API key with prefix {prefix}")


def add_signing_key(
    session: Session, bank: Bank, public_key: str, *, key_id: str | None = None, actor: str
) -> BankSigningKey:
    encoded = parse_public_key(public_key)
    if key_id is None:
        key_id = f"k{repository.count_signing_keys(session, bank.id) + 1}"
    check_key_id(key_id)
    if repository.signing_key(session, bank.id, key_id) is not None:
        raise InvalidBankInput(f"key id {key_id} already exists for bank {bank.name}")
    row = BankSigningKey(bank_id=bank.id, key_id=key_id, public_key=encoded)
    session.add(row)
    session.flush()
    audit.record(
        session,
        "bank.signing_key_added",
        actor,
        {**bank_payload(bank), "key_id": key_id, "public_key": encoded},
    )
    return row


def retire_signing_key(session: Session, bank: Bank, key_id: str, *, actor: str) -> BankSigningKey:
    row = repository.signing_key(session, bank.id, key_id) if is_key_id(key_id) else None
    if row is None:
        raise KeyNotFound(f"bank {bank.name} has no key {key_id}")
    if row.retired_at is None:
        row.retired_at = utcnow()
        session.flush()
        audit.record(session, "bank.signing_key_retired", actor, {**bank_payload(bank), "key_id": key_id})
    return row


def rotate_signing_key(
    session: Session,
    bank: Bank,
    public_key: str,
    *,
    key_id: str | None = None,
    retire: str | None = None,
    actor: str,
) -> BankSigningKey:
    """Add a new confirmation key; optionally retire `retire` in the same transaction. Without
    `retire` both keys stay active until one is retired explicitly (no downtime)."""
    new = add_signing_key(session, bank, public_key, key_id=key_id, actor=actor)
    if retire is not None:
        retire_signing_key(session, bank, retire, actor=actor)
    return new


def set_disabled(session: Session, bank: Bank, disabled: bool, *, actor: str) -> Bank:
    if disabled and bank.disabled_at is None:
        bank.disabled_at = utcnow()
        audit.record(session, "bank.disabled", actor, bank_payload(bank))
    elif not disabled and bank.disabled_at is not None:
        bank.disabled_at = None
        audit.record(session, "bank.enabled", actor, bank_payload(bank))
    session.flush()
    return bank


def set_limits(
    session: Session,
    bank: Bank,
    *,
    single_max_cents: int | None,
    daily_limit_cents: int | None,
    actor: str,
) -> Bank:
    for value in (single_max_cents, daily_limit_cents):
        if value is not None and value <= 0:
            raise InvalidBankInput("limits must be positive")
    bank.single_max_cents = single_max_cents
    bank.daily_limit_cents = daily_limit_cents
    session.flush()
    audit.record(
        session,
        "bank.limits_set",
        actor,
        {
            **bank_payload(bank),
            "single_max_cents": single_max_cents,
            "daily_limit_cents": daily_limit_cents,
        },
    )
    return bank


def set_webhook(
    session: Session, settings: Settings, bank: Bank, url: str | None, *, actor: str
) -> str | None:
    """Set (or with None remove) the bank's webhook URL. Setting one rotates the secret and
    returns it (shown once)."""
    if url is not None:
        check_webhook_url(url, settings)
        bank.webhook_secret_version += 1
    bank.webhook_url = url
    session.flush()
    audit.record(session, "bank.webhook_set", actor, {**bank_payload(bank), "url": url})
    return webhook_secret(settings, bank) if url is not None else None


def require_bank(session: Session, name: str) -> Bank:
    bank = repository.get_bank_by_name(session, name) if _NAME.fullmatch(name) else None
    if bank is None:
        raise BankNotFound(f"no bank named {name}")
    return bank


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 200:
        return None
    return token


def authenticate_bank(session: Session, authorization: str | None) -> BankRecord:
    """The active bank owning the bearer API key; NotAuthenticated or BankDisabled otherwise."""
    token = bearer_token(authorization)
    if token is None or not token.startswith(API_KEY_PREFIX):
        raise NotAuthenticated()
    key_hash = hash_secret(token)
    # One lookup per key per transaction (the deposit writer authenticates many submissions in
    # one transaction, most of them with the same few keys).
    seen = transaction_cache(session, "banks_by_api_key")
    if key_hash not in seen:
        seen[key_hash] = repository.bank_for_api_key_hash(session, key_hash)
    bank = seen[key_hash]
    if bank is None:
        raise NotAuthenticated()
    if bank.disabled_at is not None:
        raise BankDisabled()
    return bank


def create_operator(
    session: Session, name: str, *, actor: str, role: str = "operator"
) -> tuple[Operator, str]:
    check_name(name)
    check_role(role)
    if repository.get_operator_by_name(session, name) is not None:
        raise InvalidBankInput(f"operator {name} already exists")
    token = OPERATOR_TOKEN_PREFIX + secrets.token_urlsafe(32)
    operator = Operator(name=name, token_hash=hash_secret(token), role=role)
    session.add(operator)
    session.flush()
    audit.record(session, "operator.created", actor, {"operator": name, "role": role})
    return operator, token


def revoke_operator(session: Session, name: str, *, actor: str) -> Operator:
    operator = repository.get_operator_by_name(session, name)
    if operator is None or operator.revoked_at is not None:
        raise KeyNotFound(f"no active operator {name}")
    operator.revoked_at = utcnow()
    session.flush()
    audit.record(session, "operator.revoked", actor, {"operator": name})
    return operator


def authenticate_operator(session: Session, authorization: str | None) -> Operator:
    token = bearer_token(authorization)
    if token is None or not token.startswith(OPERATOR_TOKEN_PREFIX):
        raise OperatorRequired()
    operator = repository.operator_for_token_hash(session, hash_secret(token))
    if operator is None:
        raise OperatorRequired()
    return operator


def charge_daily(session: Session, bank: Bank | BankRecord, day: dt.date, amount_cents: int) -> None:
    if not repository.try_charge_daily(session, bank.id, day, amount_cents, bank.daily_limit_cents):
        used = repository.daily_total(session, bank.id, day)
        limit = bank.daily_limit_cents or 0
        raise BankDailyLimitExceeded(
            f"bank daily limit {format_cents(limit)} for {day.isoformat()} (Hong Kong) would be "
            f"exceeded; used {format_cents(used)}"
        )
