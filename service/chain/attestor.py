"""The attestor: posts `attestReserves(amount, reportHash, auditHead)` so that mints stay covered.

The amount is the reserve the service has recorded: the US dollars of every deposit it has
accepted (accepted, minting or minted). Deposits are therefore attested before they are minted,
and the attestation never claims more than the service holds on record. The report is canonical
JSON (per-bank custody totals, the audit head); its SHA-256 goes on chain, the report itself into
the audit log, so anyone can hold one against the other.
"""

from __future__ import annotations

import hashlib
import logging

from eth_account.signers.local import LocalAccount
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service import audit
from service.banks.models import Bank
from service.canonical import canonical_json
from service.chain.token import Receipt, Token
from service.db import Database, utcnow
from service.deposits.models import Deposit, DepositStatus
from service.money import cents_to_units, format_cents

log = logging.getLogger("ushk.attestor")

CREDITED = (DepositStatus.ACCEPTED, DepositStatus.MINTING, DepositStatus.MINTED)


def reserve_report(session: Session) -> dict:
    """The reserve report: per-bank custody totals of credited deposits, and the audit head."""
    rows = session.execute(
        select(Bank.name, func.coalesce(func.sum(Deposit.amount_cents), 0))
        .join(Deposit, Deposit.bank_id == Bank.id)
        .where(Deposit.status.in_(CREDITED))
        .group_by(Bank.name)
        .order_by(Bank.name)
    ).all()
    total = sum(int(cents) for _, cents in rows)
    seq, head = audit.head(session)
    return {
        "currency": "USD",
        "as_of": utcnow().isoformat(timespec="seconds"),
        "total": format_cents(total),
        "total_cents": str(total),
        "custody": [{"bank": name, "amount": format_cents(int(cents))} for name, cents in rows],
        "audit_head": {"seq": str(seq), "hash": head},
    }


class Attestor:
    """Attests with `signer` (ATTESTOR_ROLE). An attestation older than `refresh_fraction` of the
    token's maximum age is renewed before the next mint, so mints never meet a stale one."""

    def __init__(self, db: Database, token: Token, signer: LocalAccount, *, refresh_fraction: float = 0.5):
        self.db = db
        self.token = token
        self.signer = signer
        self.refresh_fraction = refresh_fraction
        self._max_age: int | None = None

    def ensure_covers(self, units: int) -> None:
        """Attests first unless the current attestation is fresh and covers supply + `units`."""
        attestation = self.token.reserve_attestation()
        if self._max_age is None:
            self._max_age = self.token.max_attestation_age()
        age = self.token.latest_timestamp() - attestation.timestamp
        fresh = attestation.timestamp > 0 and age <= self._max_age * self.refresh_fraction
        if fresh and attestation.amount >= self.token.total_supply() + units:
            return
        self.attest(reason="stale" if not fresh else "below supply + batch")

    def attest(self, *, reason: str = "scheduled") -> Receipt:
        """Attests the recorded reserves now; audits the report."""
        with self.db.reading() as session:
            report = reserve_report(session)
        body = canonical_json(report)
        report_hash = hashlib.sha256(body).digest()
        head = bytes.fromhex(report["audit_head"]["hash"])
        units = cents_to_units(int(report["total_cents"]))
        receipt = self.token.transact(self.signer, "attestReserves", units, report_hash, head)
        with self.db.transaction() as session:
            audit.record(
                session,
                "reserves.attested",
                "attestor",
                {
                    "report": report,
                    "report_hash": report_hash.hex(),
                    "amount_units": str(units),
                    "reason": reason,
                    "tx_hash": receipt.tx_hash,
                    "block_number": receipt.block_number,
                },
            )
        log.info("attested %s USD (%s) in %s", report["total"], reason, receipt.tx_hash)
        return receipt
