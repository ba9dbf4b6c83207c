"""The Alembic migrations create exactly the schema the models describe."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from service.models import Base


def _diff(url: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def test_models_match_migrations_sqlite(sqlite_url):
    assert _diff(sqlite_url) == []


@pytest.mark.postgres
def test_models_match_migrations_postgres(postgres_url):
    assert _diff(postgres_url) == []


def test_upgrade_is_idempotent(env):
    env.db.upgrade()
    env.db.upgrade()
