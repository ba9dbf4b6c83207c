"""The Alembic migrations create exactly the schema the models describe."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from service.models import Base
from svc_support import accept


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


def _schema(engine) -> dict:
    """Every table's columns, primary key, indexes, unique constraints and foreign keys."""
    inspector = inspect(engine)
    schema = {}
    for table in sorted(inspector.get_table_names()):
        schema[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in inspector.get_columns(table)
            ],
            "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(table)
            ),
            "unique": sorted(
                (u["name"], tuple(u["column_names"])) for u in inspector.get_unique_constraints(table)
            ),
            "foreign_keys": sorted(
                (
                    f["name"] or "",
                    tuple(f["constrained_columns"]),
                    f["referred_table"],
                    tuple(f["referred_columns"]),
                )
                for f in inspector.get_foreign_keys(table)
            ),
        }
    return schema


def _data(engine, tables) -> dict[str, list[str]]:
    """Every row of every table (alembic_version included), in a stable order."""
    with engine.connect() as connection:
        return {
            table: sorted(repr(tuple(row)) for row in connection.execute(text(f'SELECT * FROM "{table}"')))
            for table in tables
        }


def _assert_upgrade_changes_nothing(e) -> None:
    bank = e.add_bank()
    accept(e, bank, 5, prefix="MIG")  # deposits, quota, audit entries, bank usage
    engine = e.db.engine
    schema, data = _schema(engine), _data(engine, _schema(engine))
    assert "alembic_version" in schema and data["alembic_version"]
    assert len(data["deposits"]) == 5 and data["audit_log"], {t: len(r) for t, r in data.items()}
    e.db.upgrade()
    e.db.upgrade()
    assert _schema(engine) == schema
    assert _data(engine, schema) == data


def test_upgrade_is_idempotent_sqlite(env):
    _assert_upgrade_changes_nothing(env)


@pytest.mark.postgres
def test_upgrade_is_idempotent_postgres(pg_env):
    _assert_upgrade_changes_nothing(pg_env)
