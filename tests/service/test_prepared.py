"""`db.Prepared` (statements run on the driver's connection) behaves as SQLAlchemy's execution
does, on SQLite and on PostgreSQL: types stored the same way, the same exceptions."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from service.audit.models import AuditEntry
from service.db import Prepared

ENTRIES = AuditEntry.__table__
_INSERT = Prepared(insert(ENTRIES))
_BY_SEQ = Prepared(select(ENTRIES.c.kind, ENTRIES.c.actor).where(ENTRIES.c.seq == bindparam("s")))


def _row(seq: int) -> dict:
    return {
        "seq": seq,
        "created_at": "2025-01-01T00:00:00.000000Z",
        "kind": "test.kind",
        "actor": f"actor-{seq}",
        "payload": "{}",
        "prev_hash": "0" * 64,
        "hash": f"{seq:064x}",
        "leaf": "{}",
        "salt": "0" * 64,
    }


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_env(request):
    return request.getfixturevalue("env" if request.param == "sqlite" else "pg_env")


def test_rows_written_and_read_like_the_orm(any_env):
    with any_env.db.transaction() as session:
        _INSERT.executemany(session, [_row(1_000_001), _row(1_000_002)])
        assert _BY_SEQ.execute(session, {"s": 1_000_002}).fetchone() == ("test.kind", "actor-1000002")
        assert _BY_SEQ.execute(session, {"s": 1}).fetchone() is None
    with any_env.db.reading() as session:
        stored = session.scalars(select(AuditEntry).where(AuditEntry.seq > 1_000_000)).all()
        assert [e.actor for e in stored] == ["actor-1000001", "actor-1000002"]


def test_typed_parameters_are_processed_by_their_column_types(any_env):
    """A timezone-aware datetime goes through UTCDateTime as with Core or the ORM."""
    from service.quota.models import WatchListEntry

    at = dt.datetime(2025, 3, 14, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    statement = Prepared(insert(WatchListEntry.__table__))
    with any_env.db.transaction() as session:
        statement.execute(
            session,
            {
                "resident_hash": "ab" * 32,
                "source": "operator",
                "reason": "test",
                "suspended": True,
                "created_at": at,
            },
            columns=True,
        )
    with any_env.db.reading() as session:
        entry = session.scalars(select(WatchListEntry)).one()
        assert entry.created_at == at and entry.created_at.tzinfo is not None and entry.suspended is True


def test_driver_errors_are_raised_as_sqlalchemy_errors(any_env):
    with any_env.db.transaction() as session:
        _INSERT.executemany(session, [_row(2_000_001)])
    with pytest.raises(IntegrityError) as raised, any_env.db.transaction() as session:
        _INSERT.execute(session, _row(2_000_001), columns=True)
    assert raised.value.orig is not None
