"""Engines and sessions: `create_db_engine` and `Database` (write transactions, read sessions)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Engine,
    create_engine,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings
from service.db.migrations import upgrade
from service.db.sqlite import READ_ONLY_OPTION, SQLiteWriteLock, _prepare_sqlite_engine


def create_db_engine(url: str, settings: Settings | None = None, **overrides: Any) -> Engine:
    """An engine for `url` configured as described in service/db/__init__.py."""
    settings = settings or Settings()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        write_lock = None
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
            write_lock = SQLiteWriteLock.for_file(database)
        kwargs: dict[str, Any] = {
            "connect_args": {
                "check_same_thread": False,
                "timeout": settings.sqlite_busy_timeout_ms / 1000,
            },
            "pool_size": settings.db_pool_size,
            "max_overflow": settings.db_max_overflow,
            "pool_timeout": settings.db_pool_timeout_seconds,
        }
        kwargs.update(overrides)
        engine = create_engine(url, **kwargs)
        _prepare_sqlite_engine(engine, settings.sqlite_busy_timeout_ms, write_lock)
        return engine
    kwargs = {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_timeout": settings.db_pool_timeout_seconds,
        "pool_pre_ping": True,
    }
    kwargs.update(overrides)
    return create_engine(url, **kwargs)


class Database:
    """An engine and its two session factories (write and read)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.session = sessionmaker(engine, expire_on_commit=False)
        read_options: dict[str, Any] = {READ_ONLY_OPTION: True}
        if engine.dialect.name == "postgresql":
            read_options.update(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        self.read_session = sessionmaker(engine.execution_options(**read_options), expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(create_db_engine(settings.database_url, settings))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write session whose transaction commits when the block ends (rolls back on error).
        For jobs and the CLI; HTTP endpoints commit explicitly."""
        with self.session() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read session: one consistent snapshot of the database for all its statements."""
        with self.read_session() as session:
            yield session

    def upgrade(self, revision: str = "head") -> None:
        upgrade(self.engine, revision)

    def run_wal_checkpoints(self, stop: threading.Event, interval: float = 0.25) -> None:
        """On SQLite, checkpoints the write-ahead log every `interval` seconds until `stop` is
        set, and meanwhile no commit of this process does: PASSIVE, which takes no lock and
        waits for nobody, and RESTART (which makes the next writer wait until it is done) once
        the log holds more than 4,000 pages. Why: docs/performance.md, "WAL checkpoints
        outside the commits"."""
        database = self.engine.url.database
        if self.dialect != "sqlite" or not database or database == ":memory:":
            return
        lock = SQLiteWriteLock.for_file(database)
        connection = sqlite3.connect(database, timeout=1.0, isolation_level=None, check_same_thread=False)
        lock.background_checkpoints = True
        try:
            while not stop.wait(interval):
                try:
                    _, frames, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if frames > 4_000:
                        connection.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
                except sqlite3.OperationalError:  # busy: the next round
                    pass
        finally:
            lock.background_checkpoints = False
            connection.close()

    def let_writers_in(self, pause: float = 0.006) -> None:
        """Between two write transactions of a longer job (the minter settling a large batch in
        chunks): on SQLite, if another writer is waiting for the write lock, pause long enough
        for it to take the lock (a waiter polls at least every 5 ms), so it waits for one chunk
        rather than the whole job (docs/performance.md, "Claims and settlements in chunks, with
        waiting writers let in"). Elsewhere nothing: PostgreSQL's writers do not exclude each
        other."""
        database = self.engine.url.database
        if self.dialect != "sqlite" or not database or database == ":memory:":
            return
        if SQLiteWriteLock.for_file(database).others_waiting():
            time.sleep(pause)

    def dispose(self) -> None:
        self.engine.dispose()
