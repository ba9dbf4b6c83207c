"""Exactly one payout per redemption id when several watchers record the same events at once:
the database decides (unique redemption id, ON CONFLICT DO NOTHING), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest

from redemption_support import audit_kinds, event, payouts_of
from service.db import Database
from service.redemptions import service as redemptions
from wait_support import join

WORKERS = 4
EVENTS = 10


def _race(env) -> None:
    events = [event(i, "0x" + f"{i:064x}") for i in range(1, EVENTS + 1)]
    barrier = threading.Barrier(WORKERS)
    errors: list[BaseException] = []
    created: list[int] = []

    def work() -> None:
        db = Database.from_settings(env.settings)
        try:
            barrier.wait()
            for ev in events:
                with db.transaction() as session:
                    if redemptions.record_redemption(session, env.settings, ev, now=env.clock()) is not None:
                        created.append(ev.redemption_id)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=work) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    join(*threads)
    assert errors == []
    assert sorted(created) == list(range(1, EVENTS + 1))
    assert [p.redemption_id for p in payouts_of(env)] == list(range(1, EVENTS + 1))
    assert audit_kinds(env).count("alert.payout_unassigned") == EVENTS


def test_onePayoutPerRedemption_sqlite(env):
    _race(env)


@pytest.mark.postgres
def test_onePayoutPerRedemption_postgres(pg_env):
    _race(pg_env)
