"""The reserve ledger: double-entry, integer cents, immutable balanced postings.

Accounts (a line's `amount_cents` > 0 is a debit, < 0 a credit):

* ``custody:<bank id>`` (asset): US dollars held at that bank for USHK.
* ``pending_mint`` (liability): accepted deposits not minted yet: tokens the service owes.
* ``tokens_outstanding`` (liability): USHK in circulation, as the service minted it.
* ``pending_payouts`` (liability): burned by a redemption, owed to the holder's bank account.
* ``refunds_due`` (liability): accepted deposits later rejected (e.g. frozen beneficiary at mint
  time): the dollars go back to the bank's customer, they no longer back tokens.
* ``wiped`` (equity): reserve released by ``wipeFrozen`` on chain: still held, backing no token.

Postings (kind, reference) and the rule of when each is made:

* ``deposit_accepted`` (deposit seq): Dr custody:bank / Cr pending_mint, in the same transaction
  that accepts the deposit. Deposits are therefore credited (and attested) before they are
  minted, which is what keeps "supply <= attested <= recorded reserves" true: the attestor
  attests exactly the reserve backing tokens and pending mints, and a mint needs that attestation.
* ``deposit_minted`` (tx hash:first seq): Dr pending_mint / Cr tokens_outstanding, when the
  minter marks deposits minted (one posting per transaction that marks some of a batch; supply
  +units at the mint block).
* ``deposit_returned`` (deposit seq): Dr pending_mint / Cr refunds_due, when an accepted deposit
  is finally rejected.
* ``redemption`` (redemption id): Dr tokens_outstanding / Cr pending_payouts for the whole cents
  burned (supply -units at its block; sub-cent dust is kept in the memo and stays in reserve).
* ``payout_settled`` (payout id): Dr pending_payouts / Cr custody:bank, when the bank confirms it
  paid the holder (`record_payout_settled`). Its block number is that of the burn it pays out,
  so custody as of a block can be told from custody now (`custody_paid_after`).
* ``wipe`` (tx hash:log index): Dr tokens_outstanding / Cr wiped, from ``FrozenBalanceWiped``.

Balances are derived by query (`balances`). The reserve the attestor may attest is custody minus
what no longer backs tokens (pending payouts, refunds due, wiped), i.e. pending_mint +
tokens_outstanding; since custody only ever decreases by paying one of those, an attestation
never exceeds the custody recorded at any later moment either.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from service import audit
from service.canonical import canonical_json
from service.db import Prepared, insert_ignore, insert_returning, transaction_cache, utcnow
from service.ledger.models import LedgerAccount, LedgerLine, LedgerPosting
from service.money import UNITS_PER_CENT

PENDING_MINT = "pending_mint"
TOKENS_OUTSTANDING = "tokens_outstanding"
PENDING_PAYOUTS = "pending_payouts"
REFUNDS_DUE = "refunds_due"
WIPED = "wiped"
ACCOUNT_TYPES = {
    PENDING_MINT: "liability",
    TOKENS_OUTSTANDING: "liability",
    PENDING_PAYOUTS: "liability",
    REFUNDS_DUE: "liability",
    WIPED: "equity",
}
CUSTODY_PREFIX = "custody:"

DEPOSIT_ACCEPTED = "deposit_accepted"
DEPOSIT_MINTED = "deposit_minted"
DEPOSIT_RETURNED = "deposit_returned"
REDEMPTION = "redemption"
PAYOUT_SETTLED = "payout_settled"
WIPE = "wipe"


class LedgerError(ValueError):
    """A posting that would not balance, or a malformed amount."""


def custody(bank_id: int) -> str:
    return f"{CUSTODY_PREFIX}{int(bank_id)}"


_INSERT_LINES = Prepared(LedgerLine.__table__.insert())
_ACCOUNT_BY_CODE = Prepared(
    select(LedgerAccount.__table__.c.id).where(LedgerAccount.__table__.c.code == bindparam("code"))
)


def _account_ids(session: Session, codes: Iterable[str]) -> dict[str, int]:
    """Ids of the ledger accounts with these codes (at least), creating the missing ones; kept
    for the rest of the transaction (an account's id never changes once created)."""
    known = transaction_cache(session, "ledger_accounts")
    for code in sorted(set(codes) - known.keys()):
        row = _ACCOUNT_BY_CODE.execute(session, {"code": code}).fetchone()
        if row is None:
            insert_ignore(session, LedgerAccount.__table__, _new_account(code), ["code"])
            row = _ACCOUNT_BY_CODE.execute(session, {"code": code}).fetchone()
        known[code] = row[0]
    return known


def _new_account(code: str) -> dict:
    if code.startswith(CUSTODY_PREFIX):
        values = {"code": code, "type": "asset", "bank_id": int(code[len(CUSTODY_PREFIX) :])}
    elif code in ACCOUNT_TYPES:
        values = {"code": code, "type": ACCOUNT_TYPES[code], "bank_id": None}
    else:
        raise LedgerError(f"unknown ledger account {code!r}")
    values["created_at"] = utcnow()
    return values


def post(
    session: Session,
    *,
    kind: str,
    reference: str,
    lines: Sequence[tuple[str, int]],
    actor: str,
    memo: dict | None = None,
    supply_delta_units: int = 0,
    block_number: int | None = None,
    tx_hash: str | None = None,
    now: dt.datetime | None = None,
) -> int | None:
    """Records one balanced posting; returns its id, or None if (kind, reference) was already
    posted (then nothing changes: safe under concurrent or repeated calls).

    `lines` are (account code, cents) with debits positive and credits negative; they must sum
    to zero. Lines of zero cents are dropped (a dust-only redemption has no lines at all)."""
    for _, cents in lines:
        if isinstance(cents, bool) or not isinstance(cents, int):
            raise LedgerError("ledger amounts are integer cents")
    if sum(cents for _, cents in lines) != 0:
        raise LedgerError(f"posting {kind}/{reference} does not balance: {list(lines)}")
    now = now or utcnow()
    posting_id = insert_returning(
        session,
        LedgerPosting.__table__,
        {
            "kind": kind,
            "reference": reference,
            "supply_delta_units": int(supply_delta_units),
            "block_number": block_number,
            "tx_hash": tx_hash,
            "memo": canonical_json(memo or {}).decode(),
            "actor": actor[:64],
            "created_at": now,
        },
        ["kind", "reference"],
        LedgerPosting.__table__.c.id,
    )
    if posting_id is None:
        return None
    lines = [(code, cents) for code, cents in lines if cents != 0]
    if lines:
        accounts = _account_ids(session, (code for code, _ in lines))
        _INSERT_LINES.executemany(
            session,
            [
                {"posting_id": posting_id, "account_id": accounts[code], "amount_cents": cents}
                for code, cents in lines
            ],
        )
    return posting_id


def is_posted(session: Session, kind: str, reference: str) -> bool:
    return (
        session.scalar(
            select(LedgerPosting.id).where(LedgerPosting.kind == kind, LedgerPosting.reference == reference)
        )
        is not None
    )


# ---- the postings of the business events ------------------------------------------------------


def record_deposit_accepted(
    session: Session, deposit: Any, *, actor: str, now: dt.datetime | None = None
) -> int | None:
    """Credit custody at the deposit's bank: the dollars are held and owed as tokens."""
    return post(
        session,
        kind=DEPOSIT_ACCEPTED,
        reference=str(deposit.id),
        lines=[(custody(deposit.bank_id), deposit.amount_cents), (PENDING_MINT, -deposit.amount_cents)],
        actor=actor,
        memo={"deposit_seq": deposit.id, "bank_id": deposit.bank_id},
        now=now,
    )


def record_deposits_minted(
    session: Session,
    deposits: Sequence,
    tx_hash: str,
    block_number: int,
    *,
    actor: str,
    now: dt.datetime | None = None,
) -> int | None:
    """One posting for deposits minted together by `tx_hash`: pending_mint -> tokens_outstanding."""
    if not deposits:
        return None
    seqs = sorted(d.id for d in deposits)
    cents = sum(d.amount_cents for d in deposits)
    return post(
        session,
        kind=DEPOSIT_MINTED,
        reference=f"{tx_hash}:{seqs[0]}",
        lines=[(PENDING_MINT, cents), (TOKENS_OUTSTANDING, -cents)],
        actor=actor,
        memo={"deposit_seqs": seqs},
        supply_delta_units=cents * UNITS_PER_CENT,
        block_number=block_number,
        tx_hash=tx_hash,
        now=now,
    )


def record_deposits_returned(
    session: Session, deposits: Iterable, *, actor: str, now: dt.datetime | None = None
) -> None:
    """Accepted deposits finally rejected: what they credited is owed back to the customer."""
    for deposit in deposits:
        if not is_posted(session, DEPOSIT_ACCEPTED, str(deposit.id)):
            continue  # never credited (accepted before the ledger existed)
        post(
            session,
            kind=DEPOSIT_RETURNED,
            reference=str(deposit.id),
            lines=[(PENDING_MINT, deposit.amount_cents), (REFUNDS_DUE, -deposit.amount_cents)],
            actor=actor,
            memo={"deposit_seq": deposit.id, "bank_id": deposit.bank_id, "code": deposit.rejection_code},
            now=now,
        )


def record_redemption(
    session: Session,
    *,
    redemption_id: int,
    units: int,
    holder: str,
    tx_hash: str,
    block_number: int,
    actor: str,
    now: dt.datetime | None = None,
) -> int | None:
    """A redemption burned `units` on chain: its whole cents become payable to the holder."""
    cents, dust = divmod(int(units), UNITS_PER_CENT)
    posting = post(
        session,
        kind=REDEMPTION,
        reference=str(int(redemption_id)),
        lines=[(TOKENS_OUTSTANDING, cents), (PENDING_PAYOUTS, -cents)],
        actor=actor,
        memo={
            "redemption_id": str(redemption_id),
            "holder": holder,
            "units": str(units),
            "dust_units": str(dust),
        },
        supply_delta_units=-int(units),
        block_number=block_number,
        tx_hash=tx_hash,
        now=now,
    )
    if posting is not None:
        audit.record(
            session,
            "reserves.redemption_recorded",
            actor,
            {
                "redemption_id": str(redemption_id),
                "holder": holder,
                "amount_cents": cents,
                "dust_units": str(dust),
                "tx_hash": tx_hash,
                "block_number": block_number,
            },
            now=now,
        )
    return posting


@dataclass(frozen=True)
class Burn:
    """The on-chain redemption a payout pays out, as the redemptions side recorded it."""

    redemption_id: int
    units: int
    holder: str
    tx_hash: str
    block_number: int


def record_payout_settled(
    session: Session,
    *,
    bank_id: int,
    amount_cents: int,
    payout_id: int,
    actor: str,
    burn: Burn | None = None,
    now: dt.datetime | None = None,
) -> int | None:
    """A bank paid out a redemption: Dr pending_payouts / Cr custody at that bank.

    Call it in the transaction that marks the payout settled; it is idempotent per payout id
    (a second call records nothing and returns None). `burn` is the redemption the payout pays
    out: if it has not been posted yet (the reconciler follows the chain on its own schedule), it
    is posted first, so the ledger never pays out a burn it has not recorded; the posting carries
    the burn's block (see `custody_paid_after`)."""
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents < 0:
        raise LedgerError("amount_cents must be a non-negative int")
    burn_block = None
    if burn is not None:
        burn_block = burn.block_number
        if not is_posted(session, REDEMPTION, str(burn.redemption_id)):
            record_redemption(
                session,
                redemption_id=burn.redemption_id,
                units=int(burn.units),
                holder=burn.holder,
                tx_hash=burn.tx_hash,
                block_number=burn.block_number,
                actor=actor,
                now=now,
            )
    posting = post(
        session,
        kind=PAYOUT_SETTLED,
        reference=str(int(payout_id)),
        lines=[(PENDING_PAYOUTS, amount_cents), (custody(bank_id), -amount_cents)],
        actor=actor,
        memo={"payout_id": int(payout_id), "bank_id": int(bank_id)},
        block_number=burn_block,
        now=now,
    )
    if posting is not None:
        audit.record(
            session,
            "reserves.payout_debited",
            actor,
            {"payout_id": int(payout_id), "bank_id": int(bank_id), "amount_cents": amount_cents},
            now=now,
        )
    return posting


def record_wipe(
    session: Session,
    *,
    account: str,
    units: int,
    tx_hash: str,
    log_index: int,
    block_number: int,
    actor: str,
    now: dt.datetime | None = None,
) -> int | None:
    """`wipeFrozen` burned `units` of a frozen account: the reserve behind them is released."""
    cents, dust = divmod(int(units), UNITS_PER_CENT)
    posting = post(
        session,
        kind=WIPE,
        reference=f"{tx_hash}:{log_index}",
        lines=[(TOKENS_OUTSTANDING, cents), (WIPED, -cents)],
        actor=actor,
        memo={"account": account, "units": str(units), "dust_units": str(dust)},
        supply_delta_units=-int(units),
        block_number=block_number,
        tx_hash=tx_hash,
        now=now,
    )
    if posting is not None:
        audit.record(
            session,
            "reserves.wipe_recorded",
            actor,
            {
                "account": account,
                "amount_units": str(units),
                "released_cents": cents,
                "tx_hash": tx_hash,
                "block_number": block_number,
            },
            now=now,
        )
    return posting


# ---- balances ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Balances:
    """Balances in cents, each on its normal side (assets debit, the rest credit) so all are
    >= 0 in a sound ledger. `custody` maps bank id -> cents."""

    custody: dict[int, int]
    pending_mint: int
    tokens_outstanding: int
    pending_payouts: int
    refunds_due: int
    wiped: int

    @property
    def reserves(self) -> int:
        """Total US dollars held at the banks for USHK (the recorded reserve balance)."""
        return sum(self.custody.values())

    @property
    def attestable(self) -> int:
        """The reserve backing tokens and pending mints: what the attestor attests."""
        return max(0, self.reserves - self.pending_payouts - self.refunds_due - self.wiped)


def balances(session: Session) -> Balances:
    rows = session.execute(
        select(LedgerAccount.code, LedgerAccount.bank_id, func.coalesce(func.sum(LedgerLine.amount_cents), 0))
        .join(LedgerLine, LedgerLine.account_id == LedgerAccount.id)
        .group_by(LedgerAccount.code, LedgerAccount.bank_id)
    ).all()
    by_code = {code: int(total) for code, _, total in rows}
    custody_totals = {
        int(cast(int, bank_id)): int(total)  # a custody account has its bank's id
        for code, bank_id, total in rows
        if code.startswith(CUSTODY_PREFIX)
    }
    return Balances(
        custody=custody_totals,
        pending_mint=-by_code.get(PENDING_MINT, 0),
        tokens_outstanding=-by_code.get(TOKENS_OUTSTANDING, 0),
        pending_payouts=-by_code.get(PENDING_PAYOUTS, 0),
        refunds_due=-by_code.get(REFUNDS_DUE, 0),
        wiped=-by_code.get(WIPED, 0),
    )


def unbalanced_postings(session: Session) -> list[int]:
    """Ids of postings whose lines do not sum to zero (always empty unless rows were tampered)."""
    return list(
        session.scalars(
            select(LedgerLine.posting_id)
            .group_by(LedgerLine.posting_id)
            .having(func.sum(LedgerLine.amount_cents) != 0)
        )
    )


def supply_units(session: Session, up_to_block: int | None = None) -> int:
    """The token supply the ledger explains: minted - redeemed - wiped, in units, counting only
    effects in blocks <= `up_to_block` when given."""
    query = select(func.coalesce(func.sum(LedgerPosting.supply_delta_units), 0))
    if up_to_block is not None:
        query = query.where(LedgerPosting.block_number <= up_to_block)
    return int(session.execute(query).scalar_one())


def custody_paid_after(session: Session, block: int) -> int:
    """Cents that left custody to pay out burns made after block `block`: custody as of that
    block is custody now plus this (those tokens were still in the supply then)."""
    paid = session.execute(
        select(func.coalesce(func.sum(LedgerLine.amount_cents), 0))
        .join(LedgerPosting, LedgerPosting.id == LedgerLine.posting_id)
        .where(
            LedgerPosting.kind == PAYOUT_SETTLED,
            LedgerPosting.block_number > block,
            LedgerLine.amount_cents < 0,
        )
    ).scalar_one()
    return -int(paid)


def postings(session: Session, *, kind: str | None = None, limit: int = 100) -> list[LedgerPosting]:
    query = select(LedgerPosting).order_by(LedgerPosting.id.desc()).limit(limit)
    if kind is not None:
        query = query.where(LedgerPosting.kind == kind)
    return list(session.scalars(query))


def posting_lines(session: Session, posting_id: int) -> list[tuple[str, int]]:
    return [
        (code, int(cents))
        for code, cents in session.execute(
            select(LedgerAccount.code, LedgerLine.amount_cents)
            .join(LedgerAccount, LedgerAccount.id == LedgerLine.account_id)
            .where(LedgerLine.posting_id == posting_id)
            .order_by(LedgerLine.id)
        )
    ]


def memo(posting: LedgerPosting) -> dict:
    return json.loads(posting.memo)
