"""The quota rules and queries called directly on a SQLite database: holds, commits and releases
with their audit entries, the refusal messages, the splitting check and the watch list. (The
same rules through the HTTP API: test_quota.py.)"""

from __future__ import annotations

import datetime as dt
import hashlib
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from service.audit.repository import entries, format_timestamp, parse_payload
from service.errors import ServiceError
from service.models import QuotaUsage, WatchListEntry
from service.quota import repository
from service.quota import service as quota
from service.quota.identity import pseudonym
from service.quota.models import BeneficiaryLock
from service.quota.policy import Policy

NOW = dt.datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=dt.UTC)
BENEFICIARY = "0x00000000000000000000000000000000000000b1"


def rh(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def policy(*, min_residents: int = 3, window_hours: float = 24, suspend: bool = True) -> Policy:
    return Policy.from_dict(
        {
            "categories": {
                "mainland": {
                    "eligible": True,
                    "limit": "500.00",
                    "period": "calendar_year",
                    "timezone": "Asia/Shanghai",
                    "id_types": ["prc_id", "passport"],
                },
                "monthly": {
                    "eligible": True,
                    "limit": "100.00",
                    "period": "calendar_month",
                    "timezone": "UTC",
                },
                "closed": {"eligible": False, "limit": None, "timezone": "UTC"},
            },
            "splitting": {"min_residents": min_residents, "window_hours": window_hours, "suspend": suspend},
        }
    )


def audit_log(env) -> list[tuple[str, str, str, dict]]:
    with env.db.reading() as session:
        return [(e.kind, e.actor, e.created_at, parse_payload(e)) for e in entries(session)]


def usage(env, resident: str, category: str = "mainland", period: str = "2025") -> tuple[int, int] | None:
    with env.db.reading() as session:
        row = repository.get_usage(session, resident, category, period)
        return None if row is None else (row.held_cents, row.committed_cents)


def deposit(seq: int, resident: str, amount: int, category: str = "mainland", period: str = "2025"):
    return SimpleNamespace(
        id=seq, resident_hash=resident, resident_category=category, quota_period=period, amount_cents=amount
    )


def test_category_policy_checks_names_and_id_types():
    p = policy()
    assert quota.category_policy(p, "mainland").name == "mainland"
    assert quota.category_policy(p, "mainland", "passport").name == "mainland"
    assert quota.category_policy(p, "mainland", None).name == "mainland"
    # a category that lists no id types takes any
    assert quota.category_policy(p, "monthly", "anything").name == "monthly"
    with pytest.raises(quota.UnknownCategory) as unknown:
        quota.category_policy(p, "martian")
    assert unknown.value.message == "resident.category must be one of: closed, mainland, monthly"
    with pytest.raises(quota.InvalidIdType) as bad_type:
        quota.category_policy(p, "mainland", "hkid")
    assert bad_type.value.message == "resident.id_type for mainland must be one of: passport, prc_id"


def test_check_eligible_says_which_category():
    p = policy()
    quota.check_eligible(p.categories["mainland"])
    with pytest.raises(quota.CategoryNotEligible) as info:
        quota.check_eligible(p.categories["closed"])
    assert info.value.message == "residents of category closed may not buy USHK"


def test_hold_commit_release_and_their_audit_entries(env):
    mainland = policy().categories["mainland"]
    a, b = rh("a"), rh("b")
    with env.db.transaction() as session:
        assert (
            quota.hold(
                session,
                mainland,
                resident_hash=a,
                amount_cents=200_00,
                now=NOW,
                actor="bank:1",
                deposit_seq=7,
            )
            == "2025"
        )
        quota.hold(
            session, mainland, resident_hash=a, amount_cents=100_00, now=NOW, actor="bank:1", deposit_seq=8
        )
        quota.hold(
            session, mainland, resident_hash=b, amount_cents=50_00, now=NOW, actor="bank:1", deposit_seq=9
        )
    assert usage(env, a) == (300_00, 0)
    assert usage(env, b) == (50_00, 0)
    held = audit_log(env)
    assert held[0] == (
        "quota.held",
        "bank:1",
        format_timestamp(NOW),
        {
            "deposit_seq": 7,
            "resident": pseudonym(a),
            "category": "mainland",
            "period": "2025",
            "amount_cents": 200_00,
        },
    )
    assert [entry[3]["deposit_seq"] for entry in held] == [7, 8, 9]

    later = NOW + dt.timedelta(hours=1)
    with env.db.transaction() as session:
        # passed out of key order: committed and recorded in (resident, category, period, seq) order
        quota.commit(session, [deposit(9, b, 50_00), deposit(8, a, 100_00)], actor="minter", now=later)
        quota.release(session, [deposit(7, a, 200_00)], actor="reaper", now=later)
    assert usage(env, a) == (0, 100_00)
    assert usage(env, b) == (0, 50_00)
    after = audit_log(env)[3:]
    assert [(kind, actor, at) for kind, actor, at, _ in after] == [
        (kind, actor, format_timestamp(later))
        for kind, actor in (
            ("quota.committed", "minter"),
            ("quota.committed", "minter"),
            ("quota.released", "reaper"),
        )
    ]
    committed = sorted([(a, 8, 100_00), (b, 9, 50_00)])
    assert [entry[3] for entry in after] == [
        {
            "deposit_seq": seq,
            "resident": pseudonym(r),
            "category": "mainland",
            "period": "2025",
            "amount_cents": amount,
        }
        for r, seq, amount in [*committed, (a, 7, 200_00)]
    ]


def test_release_order_is_by_key(env):
    mainland = policy().categories["mainland"]
    residents = sorted(rh(n) for n in "xyz")
    with env.db.transaction() as session:
        for seq, r in enumerate(residents, start=1):
            quota.hold(
                session, mainland, resident_hash=r, amount_cents=1_00, now=NOW, actor="t", deposit_seq=seq
            )
    with env.db.transaction() as session:
        quota.release(
            session,
            [deposit(3, residents[2], 1_00), deposit(1, residents[0], 1_00), deposit(2, residents[1], 1_00)],
            actor="t",
            now=NOW,
        )
    released = [payload["deposit_seq"] for kind, _, _, payload in audit_log(env) if kind == "quota.released"]
    assert released == [1, 2, 3]
    assert all(usage(env, r) == (0, 0) for r in residents)


def test_quota_exceeded_says_what_remains(env):
    p = policy()
    mainland, monthly = p.categories["mainland"], p.categories["monthly"]
    a = rh("a")
    # (one refusal per transaction: the message reads the usage row once)
    with env.db.transaction() as session, pytest.raises(quota.QuotaExceeded) as fresh:
        # nothing used yet: the whole limit remains
        quota.hold(session, mainland, resident_hash=a, amount_cents=500_01, now=NOW, actor="t", deposit_seq=1)
    assert (
        fresh.value.message
        == "quota for mainland residents is 500.00 per calendar year (2025); remaining 500.00"
    )
    with env.db.transaction() as session:
        quota.hold(session, mainland, resident_hash=a, amount_cents=300_00, now=NOW, actor="t", deposit_seq=2)
    with env.db.transaction() as session:
        quota.commit(session, [deposit(2, a, 100_00)], actor="t", now=NOW)
    assert usage(env, a) == (200_00, 100_00)
    with env.db.transaction() as session:
        quota.hold(session, mainland, resident_hash=a, amount_cents=150_00, now=NOW, actor="t", deposit_seq=3)
    with env.db.transaction() as session, pytest.raises(quota.QuotaExceeded) as used:
        quota.hold(session, mainland, resident_hash=a, amount_cents=50_01, now=NOW, actor="t", deposit_seq=4)
    # held and committed both count
    assert (
        used.value.message
        == "quota for mainland residents is 500.00 per calendar year (2025); remaining 50.00"
    )
    with env.db.transaction() as session:
        # exactly the limit fits
        quota.hold(session, mainland, resident_hash=a, amount_cents=50_00, now=NOW, actor="t", deposit_seq=5)
    with env.db.transaction() as session, pytest.raises(quota.QuotaExceeded) as full:
        quota.hold(session, mainland, resident_hash=a, amount_cents=1, now=NOW, actor="t", deposit_seq=6)
    assert (
        full.value.message
        == "quota for mainland residents is 500.00 per calendar year (2025); remaining 0.00"
    )
    with env.db.transaction() as session, pytest.raises(quota.QuotaExceeded) as month:
        quota.hold(session, monthly, resident_hash=a, amount_cents=100_01, now=NOW, actor="t", deposit_seq=7)
    assert (
        month.value.message
        == "quota for monthly residents is 100.00 per calendar month (2025-03); remaining 100.00"
    )
    assert usage(env, a) == (400_00, 100_00)
    assert usage(env, a, "monthly", "2025-03") is None


def test_view(env):
    mainland = policy().categories["mainland"]
    a = rh("a")
    with env.db.transaction() as session:
        empty = quota.view(session, mainland, a, NOW)
        quota.hold(session, mainland, resident_hash=a, amount_cents=300_00, now=NOW, actor="t", deposit_seq=1)
        quota.commit(session, [deposit(1, a, 300_00)], actor="t", now=NOW)
        quota.hold(session, mainland, resident_hash=a, amount_cents=50_00, now=NOW, actor="t", deposit_seq=2)
        seen = quota.view(session, mainland, a, NOW)
    assert empty == quota.QuotaView("mainland", "2025", "Asia/Shanghai", True, False, 500_00, 0, 0)
    assert empty.remaining_cents == 500_00
    assert seen == quota.QuotaView("mainland", "2025", "Asia/Shanghai", True, False, 500_00, 300_00, 50_00)
    assert seen.remaining_cents == 150_00
    with env.db.transaction() as session:
        session.add(
            WatchListEntry(resident_hash=a, source="operator", reason="r", suspended=True, created_at=NOW)
        )
    with env.db.reading() as session:
        assert quota.view(session, mainland, a, NOW).suspended is True
        assert quota.view(session, mainland, rh("b"), NOW).suspended is False
    assert quota.QuotaView("hk", "2025", "UTC", True, False, None, 5, 5).remaining_cents is None
    assert quota.QuotaView("hk", "2025", "UTC", True, False, 10, 8, 5).remaining_cents == 0


def test_commit_and_release_need_the_hold(env):
    a = rh("a")
    with env.db.transaction() as session:
        assert repository.try_hold(session, a, "mainland", "2025", 100, 300)
        assert repository.try_hold(session, a, "mainland", "2025", 200, 300)
        assert not repository.try_hold(session, a, "mainland", "2025", 1, 300)
        assert repository.try_hold(session, a, "hk", "2025", 10**12, None)  # no limit
        repository.commit_hold(session, a, "mainland", "2025", 250)
        assert (repository.get_usage(session, a, "mainland", "2025").held_cents) == 50
        with pytest.raises(RuntimeError, match="^quota hold to commit not found$"):
            repository.commit_hold(session, a, "mainland", "2025", 51)
        with pytest.raises(RuntimeError, match="^quota hold to commit not found$"):
            repository.commit_hold(session, a, "mainland", "2026", 1)
        with pytest.raises(RuntimeError, match="^quota hold to release not found$"):
            repository.release_hold(session, a, "mainland", "2025", 51)
        with pytest.raises(RuntimeError, match="^quota hold to release not found$"):
            repository.release_hold(session, rh("b"), "mainland", "2025", 1)
    with (
        pytest.raises(RuntimeError, match="^quota hold to commit not found$"),
        env.db.transaction() as session,
    ):
        # the second is short: the caller's transaction rolls back the first too
        repository.commit_holds(session, [(a, "mainland", "2025", 10), (a, "mainland", "2025", 41)])
    assert usage(env, a) == (50, 250)
    with env.db.transaction() as session:
        repository.commit_holds(session, [])
        repository.release_hold(session, a, "mainland", "2025", 30)
    with env.db.transaction() as session:
        row = repository.get_usage(session, a, "mainland", "2025")
        assert (row.held_cents, row.committed_cents, row.limit_cents) == (20, 250, 300)
        repository.commit_holds(session, [(a, "mainland", "2025", 20), (a, "hk", "2025", 10**12)])
        assert repository.count_usage_rows(session) == 2
    assert usage(env, a) == (0, 270)
    assert usage(env, a, "hk") == (0, 10**12)


def test_the_whole_hold_commits_or_releases(env):
    a, b = rh("a"), rh("b")
    with env.db.transaction() as session:
        assert repository.count_usage_rows(session) == 0
        assert repository.try_hold(session, a, "mainland", "2025", 70, 100)
        assert repository.try_hold(session, b, "mainland", "2025", 30, 100)
    with env.db.transaction() as session:
        repository.commit_hold(session, a, "mainland", "2025", 70)
        repository.release_hold(session, b, "mainland", "2025", 30)
        repository.commit_holds(session, [])
    assert usage(env, a) == (0, 70)
    assert usage(env, b) == (0, 0)
    with env.db.transaction() as session:
        assert repository.try_hold(session, a, "mainland", "2025", 30, 100)
        repository.commit_holds(session, [(a, "mainland", "2025", 30)])
    assert usage(env, a) == (0, 100)


def test_hold_updates_touch_only_their_row(env):
    a, b = rh("a"), rh("b")
    old = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    keys = [(a, "mainland", "2025"), (b, "mainland", "2025"), (a, "mainland", "2024"), (a, "hk", "2025")]
    with env.db.transaction() as session:
        for key in keys:
            assert repository.try_hold(session, *key, 1_000, None)
        session.execute(update(QuotaUsage).values(updated_at=old))
    with env.db.transaction() as session:
        repository.commit_hold(session, a, "mainland", "2025", 100)
        repository.release_hold(session, a, "mainland", "2025", 10)
        repository.commit_holds(session, [(a, "mainland", "2025", 1), (a, "mainland", "2025", 2)])
    assert usage(env, a) == (887, 103)
    assert [usage(env, r, c, p) for r, c, p in keys[1:]] == [(1_000, 0)] * 3
    with env.db.reading() as session:
        stamps = {(u.resident_hash, u.category, u.period): u.updated_at for u in session.query(QuotaUsage)}
    assert stamps[keys[0]] > old
    assert all(stamps[key] == old for key in keys[1:])
    for change in (
        lambda s: repository.commit_hold(s, a, "mainland", "2025", 1),
        lambda s: repository.release_hold(s, a, "mainland", "2025", 1),
        lambda s: repository.commit_holds(s, [(a, "mainland", "2025", 1)]),
    ):
        with env.db.transaction() as session:
            session.execute(update(QuotaUsage).values(updated_at=old))
        with env.db.transaction() as session:
            change(session)
        with env.db.reading() as session:
            assert repository.get_usage(session, a, "mainland", "2025").updated_at > old


def test_splitting_lists_every_funder_at_the_threshold(env):
    p = policy(min_residents=3, window_hours=1.5, suspend=False)
    seen = []

    def funders(known):
        def recent(session, beneficiary, since):
            assert isinstance(session, Session)
            seen.append((beneficiary, since))
            return set(known)

        return recent

    a, b, c = rh("a"), rh("b"), rh("c")
    with env.db.transaction() as session:
        # two distinct residents with this one (a again): under the threshold
        quota.check_splitting(
            session,
            p,
            beneficiary=BENEFICIARY,
            resident_hash=a,
            now=NOW,
            actor="bank:1",
            recent_funders=funders({a, b}),
        )
        assert repository.list_watch(session) == []
        # SQLite's write lock serialises the checks: no lock rows
        assert session.scalar(select(func.count()).select_from(BeneficiaryLock)) == 0
    assert seen == [(BENEFICIARY, NOW - dt.timedelta(hours=1.5))]
    with env.db.transaction() as session:
        session.add(
            WatchListEntry(
                resident_hash=b, source="operator", reason="manual", suspended=False, created_at=NOW
            )
        )
    with env.db.transaction() as session:
        # the third: every one not yet listed goes on the list; not suspended, so no refusal
        quota.check_splitting(
            session,
            p,
            beneficiary=BENEFICIARY,
            resident_hash=c,
            now=NOW,
            actor="bank:1",
            recent_funders=funders({a, b}),
        )
    reason = f"splitting: 3 distinct residents funded {BENEFICIARY} within 1.5h"
    with env.db.reading() as session:
        listed = [
            (e.resident_hash, e.source, e.reason, e.beneficiary, e.suspended, e.created_at)
            for e in repository.list_watch(session)
        ]
    # b was listed already (by an operator): only a and c are added, in hash order
    assert listed == [(b, "operator", "manual", None, False, NOW)] + [
        (r, "splitting", reason, BENEFICIARY, False, NOW) for r in sorted([a, c])
    ]
    flagged = [entry for entry in audit_log(env) if entry[0] == "quota.watch_listed"]
    assert flagged == [
        (
            "quota.watch_listed",
            "bank:1",
            format_timestamp(NOW),
            {
                "resident": pseudonym(r),
                "source": "splitting",
                "beneficiary": BENEFICIARY,
                "suspended": False,
                "reason": reason,
            },
        )
        for r in sorted([a, c])
    ]


def test_splitting_suspends_when_the_policy_says_so(env):
    p = policy(min_residents=2)
    a, b = rh("a"), rh("b")
    with env.db.session() as session:
        with pytest.raises(quota.ResidentOnWatchList) as info:
            quota.check_splitting(
                session,
                p,
                beneficiary=BENEFICIARY,
                resident_hash=a,
                now=NOW,
                actor="t",
                recent_funders=lambda s, addr, since: {b},
            )
        assert (
            info.value.message
            == f"resident flagged: splitting: 2 distinct residents funded {BENEFICIARY} within 24h"
        )
        entries_now = repository.list_watch(session)
        assert sorted((e.resident_hash, e.suspended) for e in entries_now) == sorted([(a, True), (b, True)])
        assert repository.is_suspended(session, a) and repository.is_suspended(session, b)
        session.commit()
    with env.db.transaction() as session:
        # flagged residents are suspended: the watch-list check refuses them
        with pytest.raises(quota.ResidentOnWatchList):
            quota.check_watch_list(session, a)
        quota.check_watch_list(session, rh("someone else"))


def test_watch_list_queries_and_clearing(env):
    a, b, c = rh("a"), rh("b"), rh("c")
    with env.db.transaction() as session:
        for r, suspended in ((a, True), (b, False), (c, True)):
            session.add(
                WatchListEntry(
                    resident_hash=r, source="operator", reason="r", suspended=suspended, created_at=NOW
                )
            )
    with env.db.transaction() as session:
        ids = {e.resident_hash: e.id for e in repository.list_watch(session)}
        assert repository.is_suspended(session, a)
        assert not repository.is_suspended(session, b)  # listed, not suspended
        assert not repository.is_suspended(session, rh("d"))
        assert repository.active_entry_hashes(session, set()) == set()
        assert repository.active_entry_hashes(session, {a, b, rh("d")}) == {a, b}
        later = NOW + dt.timedelta(days=1)
        cleared = quota.clear_watch(session, ids[c], actor="operator:ann", now=later)
        assert cleared.id == ids[c] and cleared.cleared_at == later
        assert not repository.is_suspended(session, c)
        assert repository.active_entry_hashes(session, {a, c}) == {a}
        assert [e.resident_hash for e in repository.list_watch(session)] == [a, b]
        assert [e.resident_hash for e in repository.list_watch(session, include_cleared=True)] == [a, b, c]
        for missing in (ids[c], 999):
            with pytest.raises(ServiceError) as info:
                quota.clear_watch(session, missing, actor="operator:ann", now=later)
            assert info.value.message == f"no active watch-list entry {missing}"
    with env.db.reading() as session:
        row = session.get(WatchListEntry, ids[c])
        assert row.cleared_at == later
    assert audit_log(env) == [
        (
            "quota.watch_cleared",
            "operator:ann",
            format_timestamp(later),
            {"entry": ids[c], "resident": pseudonym(c)},
        )
    ]


@pytest.mark.postgres
def test_splitting_checks_lock_the_beneficiary_on_postgres(pg_env):
    """On PostgreSQL the check locks one row per beneficiary (created once) until commit: a second
    transaction cannot take it meanwhile."""
    p = policy(min_residents=3)
    lock = text("SELECT address FROM beneficiary_locks WHERE address = :a FOR UPDATE NOWAIT")

    def check(session):
        quota.check_splitting(
            session,
            p,
            beneficiary=BENEFICIARY,
            resident_hash=rh("a"),
            now=NOW,
            actor="t",
            recent_funders=lambda s, addr, since: set(),
        )

    with pg_env.db.transaction() as session:
        check(session)
        check(session)
    with pg_env.db.reading() as session:
        assert list(session.scalars(select(BeneficiaryLock.address))) == [BENEFICIARY]
    with pg_env.db.transaction() as session:
        check(session)
        with pg_env.db.engine.connect() as other:
            with pytest.raises(OperationalError, match="could not obtain lock"):
                other.execute(lock, {"a": BENEFICIARY})
            other.rollback()
    with pg_env.db.engine.connect() as other:
        assert other.execute(lock, {"a": BENEFICIARY}).scalar() == BENEFICIARY
        other.rollback()
