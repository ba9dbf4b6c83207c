"""The independent attestor (`ushk attestor run`): the only holder of the ATTESTOR_ROLE key, in a
process of its own, which does not trust the service host.

It reads the service's database (the ledger's balances and the stored custody statements) but
believes of it only what it can check: each statement counts only when the bank's Ed25519
signature over its stored canonical body verifies against a key pinned in the attestor's own
file (USHK_ATTESTOR_BANK_KEYS_FILE, written by `ushk attestor pin-keys`), and the balance and
time counted are those of the signed body, never the database's columns. Per pinned bank it
takes the latest such statement younger than the policy's `statement_max_age` (always required
here, whatever `statements_required` says: that setting is for the service's own view). The
amount attested is

    min(ledger attestable - custody the verified statements do not prove,  Σ verified balances)

with each bank's custody counted at most as its verified statement: a forged ledger, an
unsigned, wrongly signed, re-keyed or stale statement can only lower it. A host that deletes
statements can stop minting; it can never raise what is attested above what the banks signed.

When the amount is below the token's supply it is attested all the same (the contract then
refuses every mint) and raised as an `alert.reserves_below_supply` audit entry and an error in
the log; custody above a verified statement halts minting (`note_custody_shortfalls`).

Each tick (every USHK_ATTESTOR_POLL_SECONDS) compares the amount with the chain's attestation and
attests only when it must: none yet; older than `refresh_fraction` of the token's maximum age or
than USHK_ATTEST_INTERVAL_SECONDS (when set); the reserves fell below it (at once); or they rose
above it (deposits waiting for their mint), at most once per USHK_ATTEST_MIN_INTERVAL_SECONDS.
All of that is read from the chain, so a restart changes nothing and two of them agree.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from eth_account.signers.local import LocalAccount
from sqlalchemy import select
from sqlalchemy.orm import Session

from service import audit, ledger
from service.banks.models import Bank, BankSigningKey
from service.canonical import canonical_json
from service.chain.token import Receipt, Token
from service.db import Database, utcnow
from service.deposits.signing import canonical_confirmation, verify_signature
from service.errors import ServiceError
from service.money import cents_to_units, format_cents, parse_amount
from service.reserves import service as reserves
from service.reserves.attestor import send_attestation, signer_lock
from service.reserves.custody import parse_time
from service.reserves.models import CustodyStatement

log = logging.getLogger("ushk.attestor")

# A statement may be dated this far ahead of the attestor's clock (as the service accepts it).
FUTURE_SLACK = dt.timedelta(minutes=5)
STATEMENT_FIELDS = {"statement_id", "balance", "currency", "as_of", "account"}


class PinnedKeysError(ValueError):
    """The pinned bank keys file is missing or malformed; the message says what is wrong."""


@dataclass(frozen=True)
class PinnedKeys:
    """{bank name: {key id: base64 Ed25519 public key}}, the attestor's own copy."""

    banks: dict[str, dict[str, str]]

    @classmethod
    def load(cls, path: Path) -> PinnedKeys:
        try:
            data = json.loads(path.read_text())
        except OSError as exc:
            raise PinnedKeysError(f"cannot read the pinned bank keys {path}: {exc}") from None
        except ValueError as exc:
            raise PinnedKeysError(f"{path} is not valid JSON: {exc}") from None
        banks = data.get("banks") if isinstance(data, dict) else None
        if not isinstance(banks, dict) or not all(
            isinstance(keys, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in keys.items())
            for keys in banks.values()
        ):
            raise PinnedKeysError(f'{path}: expected {{"banks": {{bank: {{key id: public key}}}}}}')
        return cls({str(name): dict(keys) for name, keys in banks.items()})

    def dump(self, path: Path) -> None:
        path.write_text(json.dumps({"banks": self.banks}, indent=2, sort_keys=True) + "\n")

    @property
    def digest(self) -> str:
        """SHA-256 of the canonical pinned set: the report says which keys it was checked with."""
        return hashlib.sha256(canonical_json({"banks": self.banks})).hexdigest()


def current_keys(session: Session) -> PinnedKeys:
    """The active confirmation keys of every enabled bank, as the service has them now (what
    `ushk attestor pin-keys` writes: check it against what the banks gave you)."""
    rows = session.execute(
        select(Bank.name, BankSigningKey.key_id, BankSigningKey.public_key)
        .join(BankSigningKey, BankSigningKey.bank_id == Bank.id)
        .where(BankSigningKey.retired_at.is_(None))
        .order_by(Bank.name, BankSigningKey.key_id)
    ).all()
    banks: dict[str, dict[str, str]] = defaultdict(dict)
    for name, key_id, public_key in rows:
        banks[name][key_id] = public_key
    return PinnedKeys(dict(banks))


@dataclass(frozen=True)
class Verified:
    """A statement whose signature verified: what its signed body says."""

    bank: str
    statement_id: str
    balance_cents: int
    as_of: dt.datetime
    key_id: str


def _verify(row: CustodyStatement, bank: str, keys: dict[str, str]) -> Verified | str:
    """The statement as signed, or why it does not count."""
    public_key = keys.get(row.key_id)
    if public_key is None:
        return "key not pinned"
    if not row.signature or not verify_signature(public_key, row.body.encode(), row.signature):
        return "signature invalid"
    try:
        body = json.loads(row.body)
        if not isinstance(body, dict) or set(body) != STATEMENT_FIELDS:
            return "not a custody statement"
        if canonical_confirmation(body) != row.body.encode():
            return "body not canonical"
        if body["currency"] != "USD":
            return "currency not USD"
        balance = parse_amount(body["balance"], allow_zero=True)
        as_of = parse_time(body["as_of"])
    except (ValueError, ServiceError):
        return "body malformed"
    return Verified(bank, body["statement_id"], balance, as_of, row.key_id)


def verified_statements(
    session: Session, pinned: PinnedKeys, *, now: dt.datetime, max_age: dt.timedelta
) -> tuple[dict[str, Verified], dict[str, int]]:
    """({pinned bank: its latest fresh verified statement}, {reason: statements not counted})."""
    latest: dict[str, Verified] = {}
    refused: dict[str, int] = defaultdict(int)
    for bank, keys in sorted(pinned.banks.items()):
        if not keys:
            continue
        # The stored `as_of` only narrows the rows to read (a row dated wrongly there can only be
        # left out); what counts is the signed body's.
        rows = session.scalars(
            select(CustodyStatement)
            .where(
                CustodyStatement.key_id.in_(sorted(keys)),
                CustodyStatement.as_of >= now - max_age - FUTURE_SLACK,
            )
            .order_by(CustodyStatement.id)
        )
        for row in rows:
            checked = _verify(row, bank, keys)
            if isinstance(checked, str):
                refused[checked] += 1
                continue
            if checked.as_of < now - max_age or checked.as_of > now + FUTURE_SLACK:
                refused["stale"] += 1
                continue
            best = latest.get(bank)
            if best is None or checked.as_of >= best.as_of:
                latest[bank] = checked
    return latest, dict(refused)


@dataclass
class Assessment:
    """What the attestor may attest now and why."""

    amount_cents: int
    ledger_cents: int  # the ledger's attestable reserve, the custody the statements do not prove taken off
    signed_cents: int  # Σ of the verified fresh statements
    banks: list[dict]
    refused: dict[str, int] = field(default_factory=dict)


def assess(
    session: Session, pinned: PinnedKeys, *, max_age: dt.timedelta, now: dt.datetime | None = None
) -> Assessment:
    """The amount to attest (see the module docstring), per bank in the rows
    `reserves.note_custody_shortfalls` takes."""
    now = now or utcnow()
    b = ledger.balances(session)
    names = dict(session.execute(select(Bank.id, Bank.name)).all())
    custody: dict[str, int] = defaultdict(int)
    for bank_id, cents in b.custody.items():
        custody[names.get(bank_id, f"#{bank_id}")] += cents
    verified, refused = verified_statements(session, pinned, now=now, max_age=max_age)
    # a bank the operators marked failed (the custodian failure drill) counts nothing, whatever
    # it signed: the mark can only lower what is attested, never raise it above the statements
    failed = set(reserves.failed_banks(session).values())
    rows: list[dict] = []
    unproven = signed_cents = 0
    for bank in sorted(set(custody) | set(pinned.banks) | failed):
        held = custody.get(bank, 0)
        statement = verified.get(bank)
        proven = 0 if statement is None or bank in failed else statement.balance_cents
        unproven += held - min(held, proven)
        signed_cents += proven
        rows.append(
            {
                "bank": bank,
                "custody_cents": held,
                "statement_balance_cents": None if statement is None else statement.balance_cents,
                "statement_as_of": None
                if statement is None
                else statement.as_of.isoformat(timespec="seconds"),
                "statement_id": None if statement is None else statement.statement_id,
                "stale": statement is None,
                "failed": bank in failed,
                "counted_cents": min(held, proven),
                "shortfall_cents": 0 if statement is None else max(0, held - proven),
            }
        )
    ledger_cents = max(0, b.attestable - unproven)
    return Assessment(min(ledger_cents, signed_cents), ledger_cents, signed_cents, rows, refused)


class IndependentAttestor:
    """Attests with `signer` (ATTESTOR_ROLE) what `assess` allows, when `due` says so."""

    def __init__(
        self,
        db: Database,
        token: Token,
        signer: LocalAccount,
        pinned: PinnedKeys,
        *,
        max_age: dt.timedelta,
        min_interval: float = 2.0,
        interval: float = 0.0,
        refresh_fraction: float = 0.5,
    ):
        self.db, self.token, self.signer, self.pinned = db, token, signer, pinned
        self.max_age = max_age
        self.min_interval = min_interval
        self.interval = interval
        self.refresh_fraction = refresh_fraction
        self.attestations = 0
        self._attested_at = float("-inf")  # monotonic, this process's last attestation
        self._max_attestation_age: int | None = None

    def assess(self) -> Assessment:
        with self.db.reading() as session:
            return assess(session, self.pinned, max_age=self.max_age)

    def due(self, amount_units: int) -> str | None:
        """Why an attestation of `amount_units` is due now, or None."""
        attestation = self.token.reserve_attestation()
        if attestation.timestamp == 0:
            return "first"
        if self._max_attestation_age is None:
            self._max_attestation_age = self.token.max_attestation_age()
        age = self.token.latest_timestamp() - attestation.timestamp
        if age >= self._max_attestation_age * self.refresh_fraction or (0 < self.interval <= age):
            return "scheduled"
        if amount_units < attestation.amount:
            return "reserves fell"
        if amount_units > attestation.amount and time.monotonic() - self._attested_at >= self.min_interval:
            return "reserves rose"
        return None

    def tick(self) -> Receipt | None:
        """Attests when due; returns the receipt, or None when nothing was due."""
        reason = self.due(cents_to_units(self.assess().amount_cents))
        return None if reason is None else self.attest(reason=reason)

    def attest(self, *, reason: str = "operator") -> Receipt:
        """Attests what `assess` allows now; stores the report, then audits it."""
        with signer_lock(self.signer.address):
            with self.db.transaction() as session:
                found = assess(session, self.pinned, max_age=self.max_age)
                report = reserves.build_report(session)
                report.update(
                    attested=format_cents(found.amount_cents),
                    attested_cents=str(found.amount_cents),
                    custodians=[
                        {
                            "bank": r["bank"],
                            "custody": format_cents(r["custody_cents"]),
                            "statement_balance": None
                            if r["statement_balance_cents"] is None
                            else format_cents(r["statement_balance_cents"]),
                            "statement_as_of": r["statement_as_of"],
                            "statement_id": r["statement_id"],
                            "stale": r["stale"],
                            "counted": format_cents(r["counted_cents"]),
                            "shortfall": format_cents(r["shortfall_cents"]),
                        }
                        for r in found.banks
                    ],
                    statements_required=True,
                    statement_max_age_hours=str(self.max_age.total_seconds() / 3600),
                    attestor={
                        "pinned_keys_sha256": self.pinned.digest,
                        "signed_statements": format_cents(found.signed_cents),
                        "ledger_attestable": format_cents(found.ledger_cents),
                        "statements_not_counted": found.refused,
                    },
                )
                reserves.note_custody_shortfalls(session, found.banks, actor="attestor")
                digest = reserves.store_report(session, report, reason=reason)
            units = cents_to_units(found.amount_cents)
            supply = self.token.total_supply()

            def alert_below_supply(session: Session, receipt: Receipt) -> None:
                if units < supply:
                    audit.record(
                        session,
                        "alert.reserves_below_supply",
                        "attestor",
                        {
                            "attested_units": str(units),
                            "supply_units": str(supply),
                            "tx_hash": receipt.tx_hash,
                        },
                    )

            receipt = send_attestation(
                self.db, self.token, self.signer, report, digest, units, reason, also=alert_below_supply
            )
            self._attested_at = time.monotonic()
            self.attestations += 1
        if units < supply:
            log.error(
                "reserves below supply: attested %s USD against a supply of %s units (minting stops on chain)",
                report["attested"],
                supply,
            )
        if found.refused:
            log.warning("custody statements not counted: %s", found.refused)
        log.info("attested %s USD (%s) in %s", report["attested"], reason, receipt.tx_hash)
        return receipt

    def run(self, stop: threading.Event, poll: float) -> None:
        """Ticks every `poll` seconds until `stop` is set (errors are logged and retried)."""
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # node down, database busy: next tick
                log.exception("attestation tick failed")
            stop.wait(poll)
