"""Reserve rules: minting halts (decided by the reconciler, lifted only by an operator with a
cause), stored reserve reports, and the public summary."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service import audit, ledger
from service.banks.models import Bank
from service.canonical import canonical_json
from service.db import insert_ignore, insert_returning, utcnow
from service.errors import NotFound, ServiceError
from service.money import format_cents
from service.quota.policy import CustodyPolicy
from service.reserves.custody import latest_statements
from service.reserves.models import MintingHalt, ReserveReport


class NotHalted(ServiceError):
    status_code = 409
    code = "minting_not_halted"
    message = "Minting is not halted."


class CauseRequired(ServiceError):
    status_code = 422
    code = "cause_required"
    message = "Resuming minting needs a cause (what was found and what was done about it)."


class CustodianStillFailed(ServiceError):
    """Resuming minting while a bank is still marked failed (service/reserves/failures.py)."""

    status_code = 409
    code = "custodian_still_failed"
    message = "A bank is still marked failed: mark it recovered before resuming minting."


class ReportNotFound(NotFound):
    code = "report_not_found"
    message = "No reserve report with this hash."


# ---- failed custodians --------------------------------------------------------------------------


def failed_banks(session: Session) -> dict[int, str]:
    """The banks marked failed (service/reserves/failures.py): id -> name."""
    return dict(session.execute(select(Bank.id, Bank.name).where(Bank.failed_at.is_not(None))).all())


def check_none_failed(session: Session) -> None:
    """Raises CustodianStillFailed while a bank is marked failed."""
    names = sorted(failed_banks(session).values())
    if names:
        raise CustodianStillFailed(
            f"Bank(s) {', '.join(names)} still marked failed: mark them recovered "
            "(ushk bank mark-recovered BANK --cause ...) before resuming minting."
        )


# ---- minting halts -----------------------------------------------------------------------------

# Findings that are not the reconciler's: a refreshed halt keeps them (see `halt`).
STICKY_CODES = frozenset({"custody_shortfall", "custodian_failed"})


def active_halt(session: Session, *, lock: bool = False) -> MintingHalt | None:
    query = select(MintingHalt).where(MintingHalt.active == 1)
    if lock:
        query = query.with_for_update()
    return session.scalar(query)


def minting_halted(session: Session) -> bool:
    """True while a halt is active: the minter claims nothing."""
    return session.scalar(select(MintingHalt.id).where(MintingHalt.active == 1)) is not None


def halt(
    session: Session,
    findings: list[dict],
    *,
    difference_units: int,
    actor: str,
    now: dt.datetime | None = None,
) -> tuple[MintingHalt, bool]:
    """Halts minting for `findings` (each {"code", ...}); returns (the active halt, created?).

    An already active halt is kept (its details and measured difference are updated, no second
    alert); a new one is recorded in the audit log as an alert."""
    now = now or utcnow()
    codes = ",".join(sorted({f["code"] for f in findings}))[:500]
    details = canonical_json(findings).decode()
    created = (
        insert_returning(
            session,
            MintingHalt.__table__,
            {
                "active": 1,
                "codes": codes,
                "details": details,
                "difference_units": int(difference_units),
                "acknowledged_units": 0,
                "paused_on_chain": False,
                "created_at": now,
            },
            ["active"],
            MintingHalt.__table__.c.id,
        )
        is not None
    )
    current = active_halt(session, lock=True)
    assert current is not None  # just inserted, or the active halt the insert conflicted with
    if not created:
        # the reconciler's and the follower's findings are refreshed; the attestor's custody
        # findings and the operators' failure drills stay until the halt is resumed
        kept = [f for f in json.loads(current.details) if f.get("code") in STICKY_CODES]
        current.details = canonical_json(kept + findings).decode()
        current.difference_units = int(difference_units)
        session.flush()
        return current, False
    audit.record(
        session, "alert.reserves_discrepancy", actor, {"halt_id": current.id, "findings": findings}, now=now
    )
    audit.record(session, "minting.halted", actor, {"halt_id": current.id, "codes": codes}, now=now)
    return current, True


def note_paused_on_chain(session: Session, halt_id: int, tx_hash: str, *, actor: str) -> None:
    row = session.get(MintingHalt, halt_id)
    assert row is not None  # a halt is never deleted
    row.paused_on_chain = True
    row.pause_tx_hash = tx_hash
    session.flush()
    audit.record(session, "minting.paused_on_chain", actor, {"halt_id": halt_id, "tx_hash": tx_hash})


def resume(
    session: Session,
    *,
    cause: str,
    actor: str,
    acknowledged_units: int,
    evidence: dict,
    unpause_tx_hash: str | None = None,
    now: dt.datetime | None = None,
) -> MintingHalt:
    """Lifts the active halt, recording who, why, and what a fresh reconciliation measured
    just before (`evidence`, with its "block"): `acknowledged_units` is the supply difference
    it still found, which the operator accepts (0: the difference was gone). Raises NotHalted
    or CauseRequired. The reconciliation itself is the caller's (`reconciler.resume_minting`)."""
    cause = (cause or "").strip()
    if len(cause) < 3:
        raise CauseRequired()
    now = now or utcnow()
    row = active_halt(session, lock=True)
    if row is None:
        raise NotHalted()
    check_none_failed(session)
    row.active = None
    row.resumed_at = now
    row.resumed_by = actor[:64]
    row.resume_cause = cause[:500]
    row.unpause_tx_hash = unpause_tx_hash
    row.acknowledged_units = int(acknowledged_units)
    row.resume_block = int(evidence["block"])
    row.resume_evidence = canonical_json(evidence).decode()
    session.flush()
    audit.record(
        session,
        "minting.resumed",
        actor,
        {
            "halt_id": row.id,
            "cause": row.resume_cause,
            "codes": row.codes,
            "difference_cleared": row.acknowledged_units == 0,
            "acknowledged_difference_units": str(row.acknowledged_units),
            "evidence": evidence,
            "unpause_tx_hash": unpause_tx_hash,
        },
        now=now,
    )
    return row


def acknowledged_difference(session: Session) -> int:
    """Supply differences operators acknowledged when resuming (units)."""
    return int(
        session.execute(
            select(func.coalesce(func.sum(MintingHalt.acknowledged_units), 0)).where(
                MintingHalt.active.is_(None)
            )
        ).scalar_one()
    )


def acknowledgements(session: Session) -> list[MintingHalt]:
    """The resumed halts whose resume acknowledged a difference, oldest first."""
    return list(
        session.scalars(
            select(MintingHalt)
            .where(MintingHalt.active.is_(None), MintingHalt.acknowledged_units != 0)
            .order_by(MintingHalt.id)
        )
    )


def acknowledgement_out(row: MintingHalt) -> dict:
    return {
        "halt_id": row.id,
        "units": str(row.acknowledged_units),
        "block": row.resume_block,
        "cause": row.resume_cause,
        "by": row.resumed_by,
        "at": row.resumed_at.isoformat(timespec="seconds") if row.resumed_at else None,
    }


def halt_out(row: MintingHalt | None) -> dict | None:
    if row is None:
        return None
    return {
        "id": row.id,
        "active": row.active == 1,
        "codes": row.codes.split(",") if row.codes else [],
        "findings": json.loads(row.details),
        "difference_units": str(row.difference_units),
        "paused_on_chain": row.paused_on_chain,
        "pause_tx_hash": row.pause_tx_hash,
        "created_at": row.created_at.isoformat(timespec="seconds"),
        "resumed_at": row.resumed_at.isoformat(timespec="seconds") if row.resumed_at else None,
        "resumed_by": row.resumed_by,
        "resume_cause": row.resume_cause,
        "unpause_tx_hash": row.unpause_tx_hash,
        "acknowledged_units": str(row.acknowledged_units or 0),
        "resume_block": row.resume_block,
        "resume_evidence": json.loads(row.resume_evidence) if row.resume_evidence else None,
    }


# ---- reserve reports ---------------------------------------------------------------------------


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat(timespec="seconds")


def custodians(
    session: Session, b: ledger.Balances, policy: CustodyPolicy | None, *, now: dt.datetime
) -> list[dict]:
    """Per bank with custody or a statement: its ledger custody, its latest statement (balance,
    as of), whether that statement is stale, the custody counted in the attestable reserve
    (`counted_cents`) and the shortfall (`shortfall_cents`: ledger custody above a fresh
    statement's balance). Without a policy, or with statements not required, the ledger's
    custody counts whole (the shortfall is still measured on fresh statements). A bank marked
    failed (`failed`, service/reserves/failures.py) counts nothing; it is listed even without
    custody or statement."""
    names = dict(session.execute(select(Bank.id, Bank.name)).all())
    statements = latest_statements(session)
    failed = failed_banks(session)
    required = policy is not None and policy.statements_required
    max_age = policy.statement_max_age if policy is not None else None
    out = []
    for bank_id in sorted(set(b.custody) | set(statements) | set(failed), key=lambda i: names.get(i, "")):
        custody = b.custody.get(bank_id, 0)
        statement = statements.get(bank_id)
        stale = statement is None or (max_age is not None and statement.as_of < now - max_age)
        proven = 0 if statement is None or stale else statement.balance_cents
        shortfall = max(0, custody - statement.balance_cents) if statement is not None and not stale else 0
        counted = min(custody, proven) if required else custody
        out.append(
            {
                "bank_id": bank_id,
                "bank": names.get(bank_id, str(bank_id)),
                "custody_cents": custody,
                "statement_balance_cents": None if statement is None else statement.balance_cents,
                "statement_as_of": None if statement is None else _iso(statement.as_of),
                "stale": stale,
                "failed": bank_id in failed,
                "counted_cents": 0 if bank_id in failed else counted,
                "shortfall_cents": shortfall,
            }
        )
    return out


def attestable_reserves(
    session: Session,
    policy: CustodyPolicy | None,
    *,
    now: dt.datetime | None = None,
    balances: ledger.Balances | None = None,
) -> tuple[int, list[dict]]:
    """(cents the attestor may attest, `custodians`): the ledger's attestable reserve lowered by
    the custody the banks' statements do not prove (sum over banks of min(ledger custody, latest
    fresh statement)). `balances`: the ledger's, when the caller has read them already."""
    now = now or utcnow()
    b = balances if balances is not None else ledger.balances(session)
    banks = custodians(session, b, policy, now=now)
    unproven = sum(c["custody_cents"] - c["counted_cents"] for c in banks)
    return max(0, b.attestable - unproven), banks


def build_report(
    session: Session,
    *,
    now: dt.datetime | None = None,
    custody_policy: CustodyPolicy | None = None,
    custodian_rows: list[dict] | None = None,
) -> dict:
    """The reserve report from the ledger: per-bank custody, the other balances, the amount to
    attest (`attested`: never more than the ledger holds), and the audit head. With
    `custody_policy` the attested amount counts each bank's custody at most as its latest fresh
    statement shows (`attestable_reserves`), and the report carries the statements; the
    `custodians` rows it used are appended to `custodian_rows` when given (the attestor checks
    them for shortfalls without reading them again)."""
    now = now or utcnow()
    b = ledger.balances(session)
    names = dict(session.execute(select(Bank.id, Bank.name)).all())
    seq, head = audit.head(session)
    attested = b.attestable
    report: dict[str, Any] = {
        "currency": "USD",
        "as_of": now.isoformat(timespec="seconds"),
        "total": format_cents(b.reserves),
        "total_cents": str(b.reserves),
        "attested": format_cents(attested),
        "attested_cents": str(attested),
        "custody": [
            {"bank": names.get(bank_id, str(bank_id)), "amount": format_cents(cents)}
            for bank_id, cents in sorted(b.custody.items(), key=lambda kv: names.get(kv[0], ""))
        ],
        "liabilities": {
            "tokens_outstanding": format_cents(b.tokens_outstanding),
            "pending_mint": format_cents(b.pending_mint),
            "pending_payouts": format_cents(b.pending_payouts),
            "refunds_due": format_cents(b.refunds_due),
            "wiped": format_cents(b.wiped),
        },
        "audit_head": {"seq": str(seq), "hash": head},
    }
    if custody_policy is not None:
        attested, banks = attestable_reserves(session, custody_policy, now=now, balances=b)
        if custodian_rows is not None:
            custodian_rows.extend(banks)
        report["attested"] = format_cents(attested)
        report["attested_cents"] = str(attested)
        report["custodians"] = [
            {
                "bank": c["bank"],
                "custody": format_cents(c["custody_cents"]),
                "statement_balance": None
                if c["statement_balance_cents"] is None
                else format_cents(c["statement_balance_cents"]),
                "statement_as_of": c["statement_as_of"],
                "stale": c["stale"],
                "failed": c["failed"],
                "counted": format_cents(c["counted_cents"]),
                "shortfall": format_cents(c["shortfall_cents"]),
            }
            for c in banks
        ]
        report["statements_required"] = custody_policy.statements_required
        report["statement_max_age_hours"] = str(custody_policy.statement_max_age.total_seconds() / 3600)
    return report


def note_custody_shortfalls(session: Session, banks: list[dict], *, actor: str) -> bool:
    """For banks whose fresh statement shows less than the ledger's custody: an
    `alert.custody_shortfall` audit entry per bank and minting halted (a new halt, or the
    active one with the finding added). Returns whether minting is halted for a shortfall. A
    bank whose shortfall is already in the active halt is not alerted again; another bank's
    shortfall is (its finding joins the halt)."""
    short = [c for c in banks if c["shortfall_cents"] > 0]
    if not short:
        return False
    current = active_halt(session, lock=True)
    if current is not None:
        known = {f.get("bank") for f in json.loads(current.details) if f.get("code") == "custody_shortfall"}
        short = [c for c in short if c["bank"] not in known]
        if not short:
            return True
    findings = [
        {
            "code": "custody_shortfall",
            "bank": c["bank"],
            "custody": format_cents(c["custody_cents"]),
            "statement_balance": format_cents(c["statement_balance_cents"]),
            "statement_as_of": c["statement_as_of"],
            "shortfall": format_cents(c["shortfall_cents"]),
        }
        for c in short
    ]
    for c in short:
        audit.record(
            session,
            "alert.custody_shortfall",
            actor,
            {
                "bank": c["bank"],
                "balance": format_cents(c["statement_balance_cents"]),
                "as_of": c["statement_as_of"],
                "amount_cents": str(c["shortfall_cents"]),
                "custody_cents": str(c["custody_cents"]),
            },
        )
    if current is None:
        halt(session, findings, difference_units=0, actor=actor)
    else:
        join_halt(session, current, "custody_shortfall", findings)
    return True


def join_halt(session: Session, current: MintingHalt, code: str, findings: list[dict]) -> None:
    """Adds `findings` (of `code`) to the active halt."""
    current.codes = ",".join(sorted(set(filter(None, current.codes.split(","))) | {code}))[:500]
    current.details = canonical_json(json.loads(current.details) + findings).decode()
    session.flush()


def store_report(session: Session, report: dict, *, reason: str, now: dt.datetime | None = None) -> str:
    """Stores the report's canonical JSON under its SHA-256 (hex), which is returned."""
    import hashlib

    body = canonical_json(report)
    digest = hashlib.sha256(body).hexdigest()
    insert_ignore(
        session,
        ReserveReport.__table__,
        {
            "hash": digest,
            "body": body.decode(),
            "amount_cents": int(report["attested_cents"]),
            "audit_seq": int(report["audit_head"]["seq"]),
            "audit_head": report["audit_head"]["hash"],
            "reason": reason[:64],
            "created_at": now or utcnow(),
        },
        ["hash"],
    )
    return digest


def mark_report_attested(
    session: Session, digest: str, *, tx_hash: str, block_number: int, now: dt.datetime | None = None
) -> None:
    row = session.get(ReserveReport, digest)
    if row is not None:
        row.tx_hash = tx_hash
        row.block_number = block_number
        row.attested_at = now or utcnow()
        session.flush()


def get_report(session: Session, digest: str) -> ReserveReport:
    digest = digest.lower().removeprefix("0x")
    hexadecimal = len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)
    row = session.get(ReserveReport, digest) if hexadecimal else None
    if row is None:
        raise ReportNotFound()
    return row


def last_attested_report(session: Session) -> ReserveReport | None:
    return session.scalar(
        select(ReserveReport)
        .where(ReserveReport.tx_hash.is_not(None))
        .order_by(ReserveReport.attested_at.desc())
        .limit(1)
    )
