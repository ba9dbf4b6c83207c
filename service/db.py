"""The one place that makes engines and sessions, and runs migrations.

SQLite (the embedded default) and PostgreSQL run the same code:

* SQLite: WAL journal, ``busy_timeout``, foreign keys on. SQLAlchemy, not the sqlite3 module,
  emits BEGIN: write sessions start with ``BEGIN IMMEDIATE`` so a writer takes the database's
  write lock at its first statement instead of deadlocking on a read-to-write lock upgrade.
  Before that BEGIN a writer takes `SQLiteWriteLock`, a lock per database file shared by every
  thread (a mutex) and every process (``flock`` on ``<file>.writelock``), released when the
  transaction ends: writers wait in a queue and the next one starts the moment the previous
  commits. SQLite's own busy handler would instead have them poll with sleeps of up to 100 ms,
  which is what made the tail latency of concurrent requests seconds long. Read sessions
  (`Database.read_session`) start with a plain deferred ``BEGIN``, take no lock, and see one
  consistent snapshot (taken at their first statement).
* PostgreSQL: write sessions are READ COMMITTED; correctness under concurrency comes from
  conditional upserts and UPDATEs, unique constraints and explicit row locks
  (``FOR UPDATE [SKIP LOCKED]``) in the repositories. Read sessions are ``REPEATABLE READ READ
  ONLY``: every statement of one sees the same snapshot (taken at its first statement), as on
  SQLite, so a reader that compares several queries (the reserve reconciler) never sees a
  commit land between two of them; a read-only transaction at that level never fails with a
  serialization error.

Transactions are committed in one place, the request or job boundary; everything below it only
flushes.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Engine,
    Integer,
    MetaData,
    Table,
    bindparam,
    create_engine,
    event,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from service.config import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

READ_ONLY_OPTION = "ushk_read_only"
# pg_advisory_xact_lock key serialising concurrent `upgrade()` calls on one PostgreSQL.
MIGRATION_LOCK_KEY = 0x5553_484B_4D49_4752  # "USHKMIGR"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# 64-bit integer primary keys; SQLite needs INTEGER to alias ROWID (and so auto-assign).
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite keeps naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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


def create_db_engine(url: str, settings: Settings | None = None, **overrides: Any) -> Engine:
    """An engine for `url` configured as described in the module docstring."""
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
        set, and meanwhile no commit of this process does. Left to SQLite, the commit that finds
        1,000 pages in the log copies them into the database file and syncs it while holding
        the write lock: one commit in about forty took 5-18 ms instead of 0.15-0.4 ms. PASSIVE
        takes no lock and waits for nobody. The log restarts from its beginning only when a
        writer finds it fully copied; under a steady stream of commits that seldom happens, so
        once it holds 4,000 pages a RESTART checkpoint (which makes the next writer wait until
        it is done) shortens it."""
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
        rather than the whole job. Elsewhere nothing: PostgreSQL's writers do not exclude each
        other."""
        database = self.engine.url.database
        if self.dialect != "sqlite" or not database or database == ":memory:":
            return
        if SQLiteWriteLock.for_file(database).others_waiting():
            time.sleep(pause)

    def dispose(self) -> None:
        self.engine.dispose()


class Prepared:
    """A Core statement run directly on the DBAPI connection of a session's transaction,
    compiled once per dialect (and per set of parameter names, for an INSERT or UPDATE that
    takes its columns from them).

    The accept path runs about ten statements per deposit, and SQLAlchemy's work per execution
    (cache key, parameter processing, result set-up, events) costs about twenty times SQLite's
    own: 33 µs against 1.6 µs for a SELECT by key, about 40% of a deposit's CPU. Parameters
    still go through each bind's type (`bind_processor`: UTC datetimes and dates are stored as
    the ORM stores them). Results are the driver's rows, unprocessed: select only integers and
    strings."""

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._plans: dict[tuple, tuple] = {}

    def _plan(self, dialect: Any, keys: tuple[str, ...] | None) -> tuple:
        plan = self._plans.get((dialect.name, keys))
        if plan is None:
            compiled = self.statement.compile(
                dialect=dialect, column_keys=list(keys) if keys is not None else None
            )
            names = list(compiled.positiontup) if compiled.positional else list(compiled.binds)
            binds = [
                (name, compiled.binds[name].type.bind_processor(dialect), compiled.binds[name])
                for name in names
            ]
            plan = self._plans[dialect.name, keys] = (compiled.string, compiled.positional, binds)
        return plan

    def _args(self, plan: tuple, params: Mapping[str, Any]) -> Any:
        _, positional, binds = plan
        values = []
        for name, process, bind in binds:
            value = params[name] if name in params else bind.effective_value
            values.append(process(value) if process is not None else value)
        return tuple(values) if positional else {name: v for (name, _, _), v in zip(binds, values, strict=True)}

    def execute(self, session: Session, params: Mapping[str, Any] | None = None, *, columns: bool = False) -> Any:
        """Runs the statement with `params`; returns the DBAPI cursor. `columns`: the statement
        (an INSERT or UPDATE without .values()) takes its columns from the keys of `params`."""
        params = params or {}
        connection = session.connection()
        plan = self._plan(connection.dialect, tuple(params) if columns else None)
        return self._run(connection, plan, "execute", self._args(plan, params))

    def executemany(self, session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
        """Runs an INSERT without .values() once per row (the rows' keys name its columns)."""
        if not rows:
            return
        connection = session.connection()
        plan = self._plan(connection.dialect, tuple(rows[0]))
        self._run(connection, plan, "executemany", [self._args(plan, row) for row in rows])

    @staticmethod
    def _run(connection: Any, plan: tuple, method: str, args: Any) -> Any:
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            getattr(cursor, method)(plan[0], args)
        except connection.dialect.loaded_dbapi.Error as exc:
            # the same exception SQLAlchemy raises (IntegrityError, OperationalError, ...)
            raise DBAPIError.instance(plan[0], args, exc, connection.dialect.loaded_dbapi.Error) from exc
        return cursor


_TRANSACTION_CACHES = "ushk_transaction_caches"


def transaction_cache(session: Session, name: str) -> dict:
    """A dict named `name` that lives as long as the session's current outermost transaction
    (for rows read once per transaction, e.g. the bank of an API key)."""
    return session.info.setdefault(_TRANSACTION_CACHES, {}).setdefault(name, {})


def drop_transaction_caches(session: Session) -> None:
    """Forget every `transaction_cache` of the session: done when its transaction ends, and by
    whoever rolls back a savepoint (rows read or created inside it may be gone)."""
    session.info.pop(_TRANSACTION_CACHES, None)


@event.listens_for(Session, "after_transaction_end")
def _drop_transaction_caches(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        drop_transaction_caches(session)


_CONFLICT_STATEMENTS: dict[tuple, Any] = {}


def _insert_on_conflict(dialect: str, table: Table, index_elements: Sequence[str], returning: Any = None) -> Any:
    """INSERT INTO table ... ON CONFLICT (index_elements) DO NOTHING [RETURNING returning], built
    once per shape; its columns are the keys of the parameters it is executed with."""
    key = (dialect, table, tuple(index_elements), returning)
    statement = _CONFLICT_STATEMENTS.get(key)
    if statement is None:
        statement = _insert_construct(dialect)(table).on_conflict_do_nothing(index_elements=list(index_elements))
        if returning is not None:
            statement = statement.returning(returning)
        _CONFLICT_STATEMENTS[key] = statement
    return statement


def _insert_construct(dialect: str) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(dialect)
    return insert


def add_within_limit(
    session: Session,
    table: Table,
    key: Mapping[str, Any],
    column: str,
    amount: int,
    limit: int | None,
    *,
    counted: Sequence[str] = (),
    initial: Mapping[str, Any] | None = None,
    values: Mapping[str, Any] | None = None,
) -> bool:
    """Adds `amount` to `column` of the row with `key` if `column` plus the `counted` columns plus
    `amount` stay within `limit` (None: no limit); the row is created when missing, with
    `initial` and `values` for its other columns (an existing row takes `values` too; `initial`
    only sets up a new row). One statement, INSERT ... ON CONFLICT DO UPDATE ... WHERE ...
    RETURNING: the database decides, under PostgreSQL's row lock or SQLite's write lock. Returns
    whether the amount was added."""
    if limit is not None and amount > limit:
        return False
    initial, values = dict(initial or {}), dict(values or {})
    connection = session.connection()
    dialect = connection.dialect.name
    cache_key = (
        "add", dialect, table, tuple(key), column, tuple(counted), tuple(initial), tuple(values),
        limit is None,
    )
    statement = _CONFLICT_STATEMENTS.get(cache_key)
    if statement is None:
        insert = _insert_construct(dialect)(table)
        excluded = insert.excluded
        where = None
        if limit is not None:
            total = table.c[column] + excluded[column]
            for name in counted:
                total = total + table.c[name]
            where = total <= bindparam("add_limit")
        set_ = {column: table.c[column] + excluded[column], **{name: excluded[name] for name in values}}
        statement = Prepared(insert.on_conflict_do_update(
            index_elements=list(key), set_=set_, where=where
        ).returning(table.c[column]))
        _CONFLICT_STATEMENTS[cache_key] = statement
    params = {**key, **initial, **values, column: amount}
    if limit is not None:
        params["add_limit"] = limit
    return statement.execute(session, params, columns=True).fetchone() is not None


def insert_ignore(
    session: Session, table: Table, values: Mapping[str, Any], index_elements: Sequence[str]
) -> int:
    """INSERT ... ON CONFLICT (index_elements) DO NOTHING; returns the number of rows inserted."""
    connection = session.connection()
    statement = _insert_on_conflict(connection.dialect.name, table, index_elements)
    return connection.execute(statement, dict(values)).rowcount


def insert_returning(
    session: Session, table: Table, values: Mapping[str, Any], index_elements: Sequence[str], column: Any
) -> Any:
    """INSERT ... ON CONFLICT (index_elements) DO NOTHING RETURNING column: the new row's value,
    or None when the row already existed. (The driver's rowcount cannot tell: psycopg reports -1
    for these statements.)"""
    dialect = session.connection().dialect.name
    key = ("prepared", dialect, table, tuple(index_elements), column)
    statement = _CONFLICT_STATEMENTS.get(key)
    if statement is None:
        statement = _CONFLICT_STATEMENTS[key] = Prepared(
            _insert_on_conflict(dialect, table, index_elements, column)
        )
    row = statement.execute(session, dict(values), columns=True).fetchone()
    return None if row is None else row[0]


def migrations_path() -> Path:
    return Path(__file__).resolve().parent.parent / "migrations"


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
