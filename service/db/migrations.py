"""Alembic migrations: where they are, their config, and `upgrade` (serialised on PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import (
    Engine,
)

# pg_advisory_xact_lock key serialising concurrent `upgrade()` calls on one PostgreSQL.
MIGRATION_LOCK_KEY = 0x5553_484B_4D49_4752  # "USHKMIGR"


def migrations_path() -> Path:
    return Path(__file__).resolve().parents[2] / "migrations"


def alembic_config() -> Any:
    from alembic.config import Config

    root = migrations_path().parent
    ini = root / "alembic.ini"
    config = Config(str(ini)) if ini.exists() else Config()
    config.set_main_option("script_location", str(migrations_path()))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run Alembic migrations up to `revision` on `engine`, in one transaction.

    Concurrent callers are serialised (PostgreSQL advisory lock; SQLite's write lock)."""
    from alembic import command

    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
