"""SQLite specifics: `SQLiteWriteLock` (one writer at a time across threads and processes) and the
connection setup (WAL, busy_timeout, foreign keys, BEGIN IMMEDIATE for writers)."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Engine,
    event,
)

# The execution option that marks a read session's connection (`Database.read_session`): its
# transaction starts with a plain deferred BEGIN (PostgreSQL: REPEATABLE READ READ ONLY).
READ_ONLY_OPTION = "ushk_read_only"


class SQLiteWriteLock:
    """One writer at a time on one SQLite file, across threads and processes.

    A thread mutex orders this process's writers; an exclusive ``flock`` on ``<file>.writelock``
    (held while the mutex is) orders processes. Waiting past `timeout` raises the same error
    as SQLite's busy timeout. The lock belongs to a transaction, not a thread: it is released
    by whichever thread ends the transaction (commit, rollback, or the pool's reset)."""

    _registry: dict[str, SQLiteWriteLock] = {}
    _registry_lock = threading.Lock()

    def __init__(self, path: str) -> None:
        self.path = path
        self._mutex = threading.Lock()
        self._fd: int | None = None
        self._owner: int | None = None  # id() of the DBAPI connection whose transaction holds it
        # Writers waiting: of this process (a count), of any process (each holds a shared flock
        # on ``<file>.writewait`` while it waits), so a holder with more to write can let them in.
        self._waiting = 0
        self._wait_fd: int | None = None
        # Set while a thread of this process checkpoints the file (`Database.run_wal_checkpoints`):
        # then no commit does it.
        self.background_checkpoints = False

    @classmethod
    def for_file(cls, database: str) -> SQLiteWriteLock:
        path = str(Path(database).expanduser().resolve())
        with cls._registry_lock:
            lock = cls._registry.get(path)
            if lock is None:
                lock = cls._registry[path] = cls(path)
            return lock

    def acquire(self, owner: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        self._waiting += 1
        try:
            got = self._mutex.acquire(timeout=max(timeout, 0.0))
        finally:
            self._waiting -= 1
        if not got:
            raise sqlite3.OperationalError("database is locked (waited for this process's writers)")
        try:
            if self._fd is None:
                self._fd = os.open(f"{self.path}.writelock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._wait_for_other_process(deadline)
        except BaseException:
            self._mutex.release()
            raise
        self._owner = owner

    def _wait_for_other_process(self, deadline: float) -> None:
        assert self._fd is not None  # opened by acquire, its caller
        fd = self._waitfile()
        fcntl.flock(fd, fcntl.LOCK_SH)  # "a writer waits", for `others_waiting` of the holder
        try:
            delay = 0.0005
            while True:
                try:
                    fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise sqlite3.OperationalError(
                            "database is locked (waited for another process's writer)"
                        ) from None
                    time.sleep(delay)
                    delay = min(delay * 2, 0.005)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _waitfile(self) -> int:
        if self._wait_fd is None:
            self._wait_fd = os.open(f"{self.path}.writewait", os.O_RDWR | os.O_CREAT, 0o600)
        return self._wait_fd

    def others_waiting(self) -> bool:
        """Whether a writer of this or another process is waiting for the lock now."""
        if self._waiting:
            return True
        fd = self._waitfile()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False

    def release(self, owner: int) -> None:
        """Releases the lock if the transaction of `owner` holds it (otherwise nothing)."""
        if self._owner != owner:
            return
        self._owner = None
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._mutex.release()


def _dbapi_id(connection: Any) -> int:
    """The identity of the DBAPI connection behind a pool proxy (or of the connection itself)."""
    return id(getattr(connection, "dbapi_connection", None) or connection)


def _prepare_sqlite_engine(engine: Engine, busy_timeout_ms: int, write_lock: SQLiteWriteLock | None) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # SQLAlchemy emits BEGIN itself (below); the driver must not.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(READ_ONLY_OPTION):
            connection.exec_driver_sql("BEGIN")
            return
        if write_lock is None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            return
        owner = _dbapi_id(connection.connection)
        write_lock.acquire(owner, busy_timeout_ms / 1000)
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            write_lock.release(owner)
            raise

    if write_lock is None:
        return

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        wanted = 0 if write_lock.background_checkpoints else 1000  # 1000: SQLite's default
        if record.info.get("wal_autocheckpoint") != wanted:
            dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={wanted}")
            record.info["wal_autocheckpoint"] = wanted

    # The transaction ends in the dialect's commit or rollback (the pool's reset-on-return is a
    # rollback too); a connection closed or invalidated inside one gives the lock back as well.
    dialect = engine.dialect
    do_commit, do_rollback = dialect.do_commit, dialect.do_rollback

    def commit_then_release(dbapi_connection: Any) -> None:
        try:
            do_commit(dbapi_connection)
        finally:
            write_lock.release(_dbapi_id(dbapi_connection))

    def rollback_then_release(dbapi_connection: Any) -> None:
        try:
            do_rollback(dbapi_connection)
        finally:
            write_lock.release(_dbapi_id(dbapi_connection))

    dialect.do_commit = commit_then_release  # type: ignore[method-assign]
    dialect.do_rollback = rollback_then_release  # type: ignore[method-assign]

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection: Any, _record: Any) -> None:
        write_lock.release(_dbapi_id(dbapi_connection))

    @event.listens_for(engine, "close")
    def _on_close(dbapi_connection: Any, _record: Any) -> None:
        write_lock.release(_dbapi_id(dbapi_connection))

    @event.listens_for(engine, "invalidate")
    def _on_invalidate(dbapi_connection: Any, _record: Any, _exc: Any) -> None:
        write_lock.release(_dbapi_id(dbapi_connection))
