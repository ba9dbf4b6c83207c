"""The custodian concentration limit of deposits (docs/design.md 2.6): policy
`custody.custodian_max_share_percent`, applied once the total reserves after the deposit are
above `custody.concentration_applies_above`. Checked at step 4 of `deposits.submit`, before
anything is stored."""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Engine, Select, func, select
from sqlalchemy.orm import Session

from service.banks.models import Bank, BankRecord
from service.db import READ_ONLY_OPTION, transaction_cache
from service.errors import ServiceError
from service.ledger import CUSTODY_PREFIX
from service.ledger.models import LedgerAccount, LedgerLine
from service.money import format_cents
from service.quota.policy import Policy

# Every this many seconds the committed totals are summed again from the whole ledger: line ids
# come from a sequence, and with several instances on PostgreSQL a line may commit after one with
# a higher id was read; the recount takes it in.
FULL_RECOUNT_SECONDS = 60.0


def _custody_query(after: int) -> Select:
    return (
        select(
            LedgerAccount.bank_id,
            func.coalesce(func.sum(LedgerLine.amount_cents), 0),
            func.max(LedgerLine.id),
        )
        .join(LedgerLine, LedgerLine.account_id == LedgerAccount.id)
        .where(LedgerAccount.code.startswith(CUSTODY_PREFIX), LedgerLine.id > after)
        .group_by(LedgerAccount.bank_id)
    )


def _add(rows: Iterable[Any], totals: dict[int, int], last: int) -> int:
    for bank_id, total, newest in rows:
        key = int(cast(int, bank_id))
        totals[key] = totals.get(key, 0) + int(total)
        last = max(last, int(newest))
    return last


@dataclass
class _Committed:
    last_line: int = 0
    totals: dict[int, int] = field(default_factory=dict)
    counted_at: float = -math.inf


_COMMITTED: weakref.WeakKeyDictionary[Engine, _Committed] = weakref.WeakKeyDictionary()
_COMMITTED_LOCK = threading.Lock()


def _committed(engine: Engine) -> tuple[int, dict[int, int]]:
    """The committed custody per bank and the newest ledger line counted, kept per engine for the
    process: each call reads, on a connection of its own (what other transactions committed, not
    the caller's own uncommitted lines), only the lines after the newest counted; the whole
    ledger only every FULL_RECOUNT_SECONDS."""
    with _COMMITTED_LOCK:
        state = _COMMITTED.setdefault(engine, _Committed())
        if time.monotonic() - state.counted_at >= FULL_RECOUNT_SECONDS:
            state.last_line, state.totals, state.counted_at = 0, {}, time.monotonic()
        # a reader's connection: never the writers' lock (on SQLite the caller's transaction
        # holds it), and it sees only what is committed
        with engine.execution_options(**{READ_ONLY_OPTION: True}).connect() as connection:
            rows = connection.execute(_custody_query(state.last_line)).all()
        state.last_line = _add(rows, state.totals, state.last_line)
        return state.last_line, dict(state.totals)


def custody_by_bank(session: Session) -> dict[int, int]:
    """Each bank's custody (cents), from the ledger's custody accounts only.

    A transaction starts from the process's committed totals (`_committed`: only new lines read)
    and adds the lines after them that it sees (its own, uncommitted); later in the same
    transaction (the deposits of a writer group or a batch, each checked in turn) only the lines
    added since are summed. So a check costs a read of the lines since the last one, not of the
    whole ledger. Ledger lines are never updated or deleted; a savepoint rolled back drops the
    transaction's cache with the others."""
    cache = transaction_cache(session, "custody_by_bank")
    if "totals" not in cache:
        bind = session.get_bind()
        engine = bind if isinstance(bind, Engine) else bind.engine
        cache["last_line"], cache["totals"] = _committed(engine)
    totals: dict[int, int] = cache["totals"]
    cache["last_line"] = _add(
        session.execute(_custody_query(cache["last_line"])).all(), totals, cache["last_line"]
    )
    return dict(totals)


class CustodianConcentration(ServiceError):
    """The deposit would bring its bank's custody above the policy's maximum share of the total
    reserves (`custody.custodian_max_share_percent`, once the total is above
    `custody.concentration_applies_above`). Nothing is recorded."""

    status_code = 422
    code = "custodian_concentration"


def check(session: Session, policy: Policy, bank: Bank | BankRecord, amount_cents: int) -> None:
    """Raises CustodianConcentration when, after this deposit, the bank would hold more than
    `custody.custodian_max_share_percent` of the total reserves (the ledger's custody at every
    bank) and that total is above `custody.concentration_applies_above`. Without a maximum
    share nothing is read."""
    max_bp = policy.custody.custodian_max_share_bp
    if max_bp is None:
        return
    custody = custody_by_bank(session)
    bank_after = custody.get(bank.id, 0) + amount_cents
    total_after = sum(custody.values()) + amount_cents
    floor = policy.custody.concentration_applies_above_cents
    if total_after <= floor or bank_after * 10_000 <= max_bp * total_after:
        return
    share_bp = bank_after * 10_000 // total_after
    raise CustodianConcentration(
        f"This deposit of {format_cents(amount_cents)} would bring {bank.name}'s custody to "
        f"{format_cents(bank_after)} of total reserves of {format_cents(total_after)} "
        f"({share_bp // 100}.{share_bp % 100:02d}%), above the maximum share of "
        f"{max_bp // 100}.{max_bp % 100:02d}% per custodian (applies above total reserves of "
        f"{format_cents(floor)})."
    )
