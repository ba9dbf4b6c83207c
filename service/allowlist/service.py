"""The KYC allowlist (docs/bank-api.md, "The KYC allowlist"; docs/design.md 4.6).

Proof of control: the resident signs, with the address's key, the EIP-191 `personal_sign`
message `proof_message(bank, address, chain_id, nonce, expires_at)`; the bank relays address,
nonce, expiry and signature (`POST /v1/bank/allowlist`). The service rebuilds the message from
its own bank name and chain id, recovers the signer (eth_account) and accepts only the address
itself, an expiry in the future (at most `MAX_VALIDITY` away) and a nonce this bank never used.
The entry is then `pending`; the allowlist worker (`sync`) calls the token's `setAllowed` with
the compliance key. `DELETE /v1/bank/allowlist/{address}` (the bank revoked its KYC) makes the
entry `revoking`, and the worker removes the address unless another bank's entry still keeps it.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys.exceptions import BadSignature
from sqlalchemy import select
from sqlalchemy.orm import Session

from service import audit
from service.allowlist.models import ACTIVE, UNSYNCED, AllowlistEntry, AllowlistStatus
from service.banks.models import Bank, BankRecord
from service.errors import NotFound, ServiceError
from service.evm import parse_address

MAX_VALIDITY = dt.timedelta(days=7)
WORKER_ACTOR = "allowlist-worker"
_NONCE = re.compile(r"[A-Za-z0-9]{16,64}")
_EXPIRY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
_SIGNATURE = re.compile(r"0x[0-9a-fA-F]{130}")


class InvalidAllowlistRequest(ServiceError):
    """An allowlist request's address, nonce (16-64 letters or digits), expiry (UTC,
    `YYYY-MM-DDTHH:MM:SSZ`, in the future, at most 7 days ahead) or signature (0x + 65 bytes
    hex) is malformed."""

    status_code = 422
    code = "invalid_allowlist_request"
    message = "The allowlist request is malformed."


class AllowlistProofInvalid(ServiceError):
    """The signature is not the address's own EIP-191 signature of the allowlist message (for
    this bank, chain, nonce and expiry)."""

    status_code = 403
    code = "allowlist_proof_invalid"
    message = "The signature does not prove control of the address for this bank, chain, nonce and expiry."


class AllowlistNonceUsed(ServiceError):
    """This bank already used the nonce for an allowlist request."""

    status_code = 409
    code = "allowlist_nonce_used"
    message = "This nonce was already used; have the resident sign a new message."


class AllowlistEntryNotFound(NotFound):
    """This bank never asked to allowlist the address."""

    code = "allowlist_entry_not_found"
    message = "This bank has no allowlist entry for the address."


REQUEST_ERRORS: tuple[type[ServiceError], ...] = (
    InvalidAllowlistRequest,
    AllowlistProofInvalid,
    AllowlistNonceUsed,
)


def proof_message(bank: str, address: str, chain_id: int, nonce: str, expires_at: str) -> str:
    """The text the resident signs with personal_sign (EIP-191 version 0x45)."""
    return (
        "USHK allowlist request\n"
        "\n"
        "I control this address and ask that it may receive USHK.\n"
        "\n"
        f"Bank: {bank}\n"
        f"Address: {address}\n"
        f"Chain ID: {chain_id}\n"
        f"Nonce: {nonce}\n"
        f"Expires: {expires_at}"
    )


def _entry_payload(entry: AllowlistEntry) -> dict[str, Any]:
    return {"bank_id": entry.bank_id, "address": entry.address, "status": entry.status}


def request(
    session: Session,
    bank: Bank | BankRecord,
    *,
    address: str,
    nonce: str,
    expires_at: str,
    signature: str,
    chain_id: int,
    now: dt.datetime,
) -> tuple[AllowlistEntry, bool]:
    """Check the proof and record (or re-activate) the bank's entry; (entry, created)."""
    try:
        checksummed = parse_address(address)
    except ValueError as exc:
        raise InvalidAllowlistRequest(f"address: {exc}") from None
    if not _NONCE.fullmatch(nonce):
        raise InvalidAllowlistRequest("nonce must be 16-64 letters or digits")
    if not _EXPIRY.fullmatch(expires_at):
        raise InvalidAllowlistRequest("expires_at must be a UTC time YYYY-MM-DDTHH:MM:SSZ")
    try:
        expires = dt.datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidAllowlistRequest("expires_at is no such time") from None
    if not now < expires <= now + MAX_VALIDITY:
        raise InvalidAllowlistRequest("expires_at must be in the future and at most 7 days ahead")
    if not _SIGNATURE.fullmatch(signature):
        raise InvalidAllowlistRequest("signature must be 0x + 65 bytes in hex (personal_sign)")
    message = encode_defunct(text=proof_message(bank.name, checksummed, chain_id, nonce, expires_at))
    try:
        signer = Account.recover_message(message, signature=signature)
    except (BadSignature, ValueError):  # a signature that recovers no key (bad v, s out of range)
        raise AllowlistProofInvalid() from None
    if signer != checksummed:
        raise AllowlistProofInvalid()
    used = session.scalar(
        select(AllowlistEntry.id).where(AllowlistEntry.bank_id == bank.id, AllowlistEntry.nonce == nonce)
    )
    if used is not None:
        raise AllowlistNonceUsed()
    actor = f"bank:{bank.name}"
    entry = session.scalar(
        select(AllowlistEntry)
        .where(AllowlistEntry.bank_id == bank.id, AllowlistEntry.address == checksummed)
        .with_for_update()
    )
    created = entry is None
    if entry is None:
        entry = AllowlistEntry(bank_id=bank.id, address=checksummed, created_at=now)
        session.add(entry)
    elif entry.status in ACTIVE:
        return entry, False  # already asked for (a fresh proof changes nothing)
    entry.status = AllowlistStatus.PENDING
    entry.nonce = nonce
    entry.expires_at = expires
    entry.updated_at = now
    entry.revoked_at = None
    session.flush()
    audit.record(session, "allowlist.requested", actor, _entry_payload(entry), now=now)
    return entry, created


def revoke(session: Session, bank: Bank | BankRecord, address: str, *, now: dt.datetime) -> AllowlistEntry:
    try:
        checksummed = parse_address(address)
    except ValueError:
        raise AllowlistEntryNotFound() from None
    entry = session.scalar(
        select(AllowlistEntry)
        .where(AllowlistEntry.bank_id == bank.id, AllowlistEntry.address == checksummed)
        .with_for_update()
    )
    if entry is None:
        raise AllowlistEntryNotFound()
    if entry.status in ACTIVE:
        entry.status = AllowlistStatus.REVOKING
        entry.revoked_at = now
        entry.updated_at = now
        session.flush()
        audit.record(session, "allowlist.revoked", f"bank:{bank.name}", _entry_payload(entry), now=now)
    return entry


def sync(session_factory: Any, token: Any, signer: Any, *, now: Any, limit: int = 50) -> int:
    """One pass of the allowlist worker: for each address with an unsynced entry, set the
    token's allowlist to whether any bank's entry is active, one `setAllowed` transaction per
    address whose state differs (several per pass), then mark the entries. Returns the number
    of transactions sent."""
    with session_factory.reading() as session:
        addresses = list(
            dict.fromkeys(
                session.scalars(
                    select(AllowlistEntry.address)
                    .where(AllowlistEntry.status.in_(UNSYNCED))
                    .order_by(AllowlistEntry.id)
                    .limit(limit)
                )
            )
        )
    sent = 0
    for address in addresses:
        # The transaction is sent outside any database transaction (on SQLite one would hold
        # the write lock, and with it every deposit, while the chain mines it).
        want = _wanted(session_factory, address)
        tx_hash = None
        if bool(token.contract.functions.isAllowed(address).call()) != want:
            tx_hash = token.transact(signer, "setAllowed", address, want).tx_hash
            sent += 1
        with session_factory.transaction() as session:
            entries = list(
                session.scalars(
                    select(AllowlistEntry).where(AllowlistEntry.address == address).with_for_update()
                )
            )
            if any(e.status in ACTIVE for e in entries) != want:
                continue  # a bank asked or revoked meanwhile: the next pass syncs the address again
            at = now()
            for entry in entries:
                if entry.status == AllowlistStatus.PENDING:
                    entry.status, entry.allowed_at = AllowlistStatus.ALLOWED, at
                elif entry.status == AllowlistStatus.REVOKING:
                    entry.status = AllowlistStatus.REVOKED
                else:
                    continue
                entry.tx_hash, entry.updated_at = tx_hash or entry.tx_hash, at
            payload = {"address": address, "allowed": want, "tx_hash": tx_hash}
            audit.record(session, "allowlist.synced", WORKER_ACTOR, payload, now=at)
    return sent


def _wanted(session_factory: Any, address: str) -> bool:
    """Whether any bank's entry for the address is active (it should be allowed on chain)."""
    with session_factory.reading() as session:
        statuses = session.scalars(select(AllowlistEntry.status).where(AllowlistEntry.address == address))
        return any(status in ACTIVE for status in statuses)


def run(db: Any, token: Any, signer: Any, stop: Any, poll_seconds: float) -> None:
    """The allowlist worker's loop (a thread of `ushk serve` / `ushk workers run` when
    USHK_COMPLIANCE_PRIVATE_KEY is set); a failed pass is logged and retried next time."""
    import logging

    from service.db import utcnow

    log = logging.getLogger(__name__)
    while not stop.is_set():
        try:
            sync(db, token, signer, now=utcnow)
        except Exception as exc:  # noqa: BLE001 - the chain or the database: the next pass retries
            log.warning("allowlist sync failed: %s", type(exc).__name__)
        stop.wait(poll_seconds)
