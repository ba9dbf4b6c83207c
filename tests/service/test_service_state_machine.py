"""The service's invariants under random interleavings (Hypothesis state machine), on a real
SQLite file and on PostgreSQL.

Each example drives the service's own workflow functions, as the HTTP writer, the minter and the
redemption watcher call them, in a random order: signed deposit confirmations (new, replayed,
conflicting, over the quota), batches claimed, minted, requeued or rejected, redemptions of
minted tokens, payouts settled (and settled again). After every step:

* no resident's quota usage exceeds its limit, and each resident's usage (held + committed) is
  exactly the sum of their deposits that still count (accepted, minting, minted);
* every ledger posting sums to zero, and the ledger's supply is what was minted less what was
  redeemed;
* every minted deposit was accepted once: one row per (bank, reference), minted by one batch,
  and it is one of the model's accepted deposits;
* the audit chain verifies, the transparency log's tree has every entry and its stored nodes
  give the root its right edge gives; at the end of each run the whole tree is rebuilt from the
  entries (every leaf and stored node).

The chain is not in this test: mints are recorded with the outbox functions the minter calls
after its receipts (tests/service/chain covers them against anvil).
"""

from __future__ import annotations

import collections
import functools
import itertools
import uuid

import pytest
from eth_utils import to_checksum_address
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from service import audit, ledger
from service.audit import repository, tree
from service.banks.service import require_bank
from service.client import build_settlement, signed_request, signed_settlement
from service.deposits import outbox
from service.deposits.models import Deposit, DepositStatus
from service.deposits.schemas import DepositRequest
from service.deposits.service import submit
from service.errors import ServiceError
from service.money import UNITS_PER_CENT, parse_amount
from service.quota.models import QuotaUsage
from service.redemptions import service as redemptions
from service.redemptions.models import Payout, PayoutStatus
from service.redemptions.schemas import PayoutAccountIn, SettlementRequest
from svc_support import confirmation, make_env, today

LIMIT_CENTS = 5_000_000  # the demo policy's mainland limit, US$50,000.00
AMOUNTS = ["0.01", "1000.00", "12500.00", "20000.00", "30000.00", "49999.99", "50000.00"]
RESIDENTS = 4
COUNTING = (DepositStatus.ACCEPTED, DepositStatus.MINTING, DepositStatus.MINTED)
_redemption_ids = itertools.count(1)


def machine_for(url: str, calls: collections.Counter[str]) -> type[RuleBasedStateMachine]:
    """The machine over the database at `url`; `calls` counts the steps run, per rule."""
    env = make_env(url)
    bank = env.add_bank(f"sm-{uuid.uuid4().hex[:8]}")

    def counted(fn):
        @functools.wraps(fn)
        def step(self, **kwargs):
            calls[fn.__name__] += 1
            return fn(self, **kwargs)

        return step

    class ServiceMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.run = uuid.uuid4().hex[:10]  # examples share the database: their own residents
            self.sent: dict[str, dict] = {}  # reference -> confirmation sent and answered
            self.deposits: dict[int, tuple[int, int]] = {}  # seq -> (resident, cents), accepted
            self.status: dict[int, str] = {}  # seq -> the status the model expects
            self.usage = [0] * RESIDENTS  # cents that count against each resident's quota
            self.claimed: list[int] = []  # seqs in `minting`
            self.minted_units = 0
            self.redeemed_units = 0
            self.holders: list[str] = []
            self.payout_ref: dict[str, str] = {}
            with env.db.reading() as session:
                self.supply_at_start = ledger.supply_units(session)

        def resident(self, r: int) -> dict:
            return {"id_type": "passport", "id_number": f"E{self.run}{r}", "category": "mainland"}

        def _submit(self, body: dict):
            with env.db.transaction() as session:
                outcome = submit(
                    session,
                    bank=require_bank(session, bank.name),
                    request=DepositRequest.model_validate(signed_request(body, bank.key_id, bank.seed)),
                    settings=env.settings,
                    policy=env.policy,
                    now=env.clock(),
                )
            return outcome

        @initialize()
        def some_minted_tokens(self) -> None:
            # every example starts with tokens to redeem, whichever rules it then runs
            self.deposit(r=RESIDENTS - 1, amount="1000.00")
            self.claim(limit=6)
            self.settle_claimed(how="minted")

        # ---- deposits ----------------------------------------------------------------------

        @rule(r=st.integers(0, RESIDENTS - 1), amount=st.sampled_from(AMOUNTS))
        @counted
        def deposit(self, r: int, amount: str) -> None:
            reference = f"SM-{self.run}-{len(self.sent)}"
            # one beneficiary per resident of this example: no splitting pattern (the quota is
            # what is under test; tests/service/test_quota.py covers splitting)
            beneficiary = "0x" + f"{(int(self.run, 16) << 8) + r + 1:040x}"
            body = confirmation(reference, amount=amount, beneficiary=beneficiary, **self.resident(r))
            outcome = self._submit(body)
            self.sent[reference] = body
            cents = parse_amount(amount)
            if self.usage[r] + cents > LIMIT_CENTS:
                assert outcome.error is not None and outcome.error.code == "quota_exceeded"
                calls["deposit refused: quota"] += 1
                assert outcome.deposit.status == DepositStatus.REJECTED
                return
            assert outcome.error is None and outcome.created
            assert outcome.deposit.status == DepositStatus.ACCEPTED
            self.usage[r] += cents
            self.deposits[outcome.deposit.id] = (r, cents)
            self.status[outcome.deposit.id] = DepositStatus.ACCEPTED

        @precondition(lambda self: self.sent)
        @rule(data=st.data())
        @counted
        def replay(self, data: st.DataObject) -> None:
            reference = data.draw(st.sampled_from(sorted(self.sent)))
            outcome = self._submit(self.sent[reference])
            assert not outcome.created  # the stored answer again, nothing new
            if outcome.deposit.id in self.status:
                assert outcome.deposit.status == self.status[outcome.deposit.id]

        @precondition(lambda self: self.sent)
        @rule(data=st.data())
        @counted
        def conflicting_replay(self, data: st.DataObject) -> None:
            reference = data.draw(st.sampled_from(sorted(self.sent)))
            body = {**self.sent[reference], "amount": "7.77"}
            with pytest.raises(ServiceError) as refused:
                self._submit(body)
            assert refused.value.code == "reference_conflict"

        # ---- the minter's outbox -----------------------------------------------------------

        @rule(limit=st.integers(1, 6))
        @counted
        def claim(self, limit: int) -> None:
            with env.db.transaction() as session:
                batch = outbox.claim_batch(session, limit)
            for deposit in batch:
                if deposit.id in self.status:  # another example's deposits wait in the queue too
                    assert self.status[deposit.id] == DepositStatus.ACCEPTED
                    self.status[deposit.id] = DepositStatus.MINTING
                    self.claimed.append(deposit.id)
                else:
                    with env.db.transaction() as session:
                        outbox.requeue(session, [deposit.id], reason="not this example's")

        @precondition(lambda self: self.claimed)
        @rule(how=st.sampled_from(["minted", "requeued", "rejected"]))
        @counted
        def settle_claimed(self, how: str) -> None:
            seqs, self.claimed = self.claimed, []
            with env.db.transaction() as session:
                if how == "minted":
                    outbox.mark_minted(session, seqs, "0x" + uuid.uuid4().hex * 2, 1)
                elif how == "requeued":
                    outbox.requeue(session, seqs)
                else:
                    outbox.mark_rejected(session, seqs, "beneficiary_frozen", "the beneficiary is frozen")
            for seq in seqs:
                if how == "minted":
                    self.status[seq] = DepositStatus.MINTED
                    self.minted_units += self.deposits[seq][1] * UNITS_PER_CENT
                elif how == "requeued":
                    self.status[seq] = DepositStatus.ACCEPTED
                else:
                    self.status[seq] = DepositStatus.REJECTED
                    resident, cents = self.deposits[seq]
                    self.usage[resident] -= cents

        # ---- redemptions and payouts -------------------------------------------------------

        @precondition(lambda self: self.minted_units - self.redeemed_units >= UNITS_PER_CENT)
        @rule(data=st.data())
        @counted
        def redeem(self, data: st.DataObject) -> None:
            outstanding = self.minted_units - self.redeemed_units
            units = data.draw(st.integers(UNITS_PER_CENT, outstanding))
            holder = to_checksum_address(
                "0x" + f"{(int(self.run, 16) << 16) + 0xA000 + len(self.holders):040x}"
            )
            with env.db.transaction() as session:
                account, _ = redemptions.register_account(
                    session,
                    env.settings,
                    require_bank(session, bank.name),
                    PayoutAccountIn(
                        holder=holder, account_reference=f"ACC-{self.run}-{len(self.holders)}", currency="USD"
                    ),
                    now=env.clock(),
                )
                ref = account.payout_ref
            self.holders.append(holder)
            n = next(_redemption_ids)
            ev = redemptions.RedemptionEvent(
                redemption_id=10**9 + n,
                holder=holder,
                amount_units=units,
                payout_ref=ref,
                tx_hash="0x" + uuid.uuid4().hex * 2,
                block_number=n,
                log_index=0,
            )
            # as the redemption watcher does: the ledger posting, then (another transaction) the payout
            with env.db.transaction() as session:
                redemptions.post_redemption(session, ev, now=env.clock())
            with env.db.transaction() as session:
                assert redemptions.record_redemption(session, env.settings, ev, now=env.clock()) is not None
            self.redeemed_units += units

        @rule(data=st.data(), again=st.booleans())
        @counted
        def settle_payout(self, data: st.DataObject, again: bool) -> None:
            with env.db.reading() as session:
                pending = [
                    (p.id, p.amount_cents)
                    for p in session.scalars(
                        select(Payout).where(
                            Payout.status == PayoutStatus.PENDING, Payout.holder.in_(self.holders)
                        )
                    )
                ]
            if not pending:
                return
            payout_id, cents = data.draw(st.sampled_from(sorted(pending)))
            body = signed_settlement(
                build_settlement(
                    payout_id=payout_id,
                    amount=f"{cents // 100}.{cents % 100:02d}",
                    value_date=today(),
                    bank_reference=f"PAY-{self.run}-{payout_id}",
                ),
                bank.key_id,
                bank.seed,
            )
            for _ in range(2 if again else 1):  # a second identical settlement is a replay
                with env.db.transaction() as session:
                    outcome = redemptions.settle(
                        session,
                        env.settings,
                        require_bank(session, bank.name),
                        payout_id,
                        SettlementRequest.model_validate(body),
                        policy=env.policy,
                        now=env.clock(),
                    )
                    assert outcome.payout.status == PayoutStatus.SETTLED
            calls["payout settled"] += 1

        def teardown(self) -> None:
            # the examples share the database: leave no deposit queued for the next one's claims
            waiting = [
                seq
                for seq, status in self.status.items()
                if status in (DepositStatus.ACCEPTED, DepositStatus.MINTING)
            ]
            if waiting:
                with env.db.transaction() as session:
                    outbox.mark_rejected(
                        session, waiting, "test_example_ended", "end of a state machine example"
                    )
            # the whole transparency log rebuilt from the entries, once an example (every leaf
            # and stored node; after every step it made the test three times slower)
            with env.db.reading() as session:
                check = tree.verify(session)
            assert check.ok, check

        # ---- invariants --------------------------------------------------------------------

        @invariant()
        def quota_within_limits_and_equal_to_counting_deposits(self) -> None:
            with env.db.reading() as session:
                assert (
                    session.scalar(
                        select(func.count())
                        .select_from(QuotaUsage)
                        .where(QuotaUsage.held_cents + QuotaUsage.committed_cents > QuotaUsage.limit_cents)
                    )
                    == 0
                )
                usage = dict(
                    session.execute(
                        select(QuotaUsage.resident_hash, QuotaUsage.held_cents + QuotaUsage.committed_cents)
                    )
                    .tuples()
                    .all()
                )
                counted = dict(
                    session.execute(
                        select(Deposit.resident_hash, func.sum(Deposit.amount_cents))
                        .where(Deposit.id.in_(list(self.deposits)), Deposit.status.in_(COUNTING))
                        .group_by(Deposit.resident_hash)
                    )
                    .tuples()
                    .all()
                )
                hashes = dict(
                    session.execute(
                        select(Deposit.id, Deposit.resident_hash).where(Deposit.id.in_(list(self.deposits)))
                    )
                    .tuples()
                    .all()
                )
            expected: dict[str, int] = {}
            for seq, (_resident, cents) in self.deposits.items():
                if self.status[seq] in COUNTING:
                    expected[hashes[seq]] = expected.get(hashes[seq], 0) + cents
            assert counted == {h: c for h, c in expected.items() if c}
            for resident_hash, cents in expected.items():
                assert usage.get(resident_hash, 0) == cents

        @invariant()
        def ledger_balances_and_tracks_supply(self) -> None:
            with env.db.reading() as session:
                assert ledger.unbalanced_postings(session) == []
                supply = ledger.supply_units(session) - self.supply_at_start
            assert supply == self.minted_units - self.redeemed_units

        @invariant()
        def minted_deposits_were_accepted_once(self) -> None:
            with env.db.reading() as session:
                rows = session.execute(
                    select(Deposit.id, Deposit.reference, Deposit.status, Deposit.tx_hash).where(
                        Deposit.bank_id == require_bank(session, bank.name).id,
                        Deposit.reference.like(f"SM-{self.run}-%"),
                    )
                ).all()
            assert len({r.reference for r in rows}) == len(rows)  # one row per reference
            for row in rows:
                if row.status == DepositStatus.MINTED:
                    assert row.id in self.deposits and row.tx_hash is not None
                if row.id in self.status:
                    assert row.status == self.status[row.id]

        @invariant()
        def audit_chain_verifies_and_the_tree_has_every_entry(self) -> None:
            with env.db.reading() as session:
                result = audit.verify(session)
                size = tree.size(session)
                root = tree.root(session, size)  # from the stored nodes
                _, frontier = repository.head_with_frontier(session)
            assert result.ok, result
            assert size == result.checked
            assert repository.decode_frontier(size, frontier).root() == root

    return ServiceMachine


PROFILE = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


RULES = {"deposit", "replay", "conflicting_replay", "claim", "settle_claimed", "redeem", "settle_payout"}
OUTCOMES = {"deposit refused: quota", "payout settled"}


def _run(url: str) -> None:
    calls: collections.Counter[str] = collections.Counter()
    run_state_machine_as_test(machine_for(url, calls), settings=PROFILE)
    assert set(calls) == RULES | OUTCOMES, calls  # every kind of step ran, so every invariant saw it


@pytest.mark.beside
def test_serviceInvariants_sqlite(sqlite_url):
    _run(sqlite_url)


@pytest.mark.beside
def test_serviceInvariants_postgres(postgres_url):
    _run(postgres_url)
