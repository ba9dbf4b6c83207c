"""The one place that makes engines and sessions, and runs migrations: a package of the engine
and sessions (engine), the SQLite write lock and connection setup (sqlite), the column types
(schema), prepared statements and upserts (statements) and migrations (migrations).

SQLite (the embedded default) and PostgreSQL run the same code:

* SQLite: WAL journal, ``busy_timeout``, foreign keys on. SQLAlchemy, not the sqlite3 module,
  emits BEGIN: write sessions start with ``BEGIN IMMEDIATE`` so a writer takes the database's
  write lock at its first statement instead of deadlocking on a read-to-write lock upgrade.
  Before that BEGIN a writer takes `SQLiteWriteLock`, a lock per database file shared by every
  thread (a mutex) and every process (``flock`` on ``<file>.writelock``), released when the
  transaction ends: writers wait in a queue and the next one starts the moment the previous
  commits, instead of polling SQLite's busy handler (see docs/performance.md, "The SQLite
  write lock is handed over, not polled for"). Read sessions
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

from service.db.engine import Database, create_db_engine
from service.db.migrations import MIGRATION_LOCK_KEY, alembic_config, migrations_path, upgrade
from service.db.schema import NAMING_CONVENTION, Base, BigIntPK, UTCDateTime, utcnow
from service.db.sqlite import READ_ONLY_OPTION, SQLiteWriteLock
from service.db.statements import (
    Prepared,
    add_within_limit,
    drop_transaction_caches,
    insert_ignore,
    insert_returning,
    transaction_cache,
)

__all__ = [
    "MIGRATION_LOCK_KEY",
    "NAMING_CONVENTION",
    "READ_ONLY_OPTION",
    "Base",
    "BigIntPK",
    "Database",
    "Prepared",
    "SQLiteWriteLock",
    "UTCDateTime",
    "add_within_limit",
    "alembic_config",
    "create_db_engine",
    "drop_transaction_caches",
    "insert_ignore",
    "insert_returning",
    "migrations_path",
    "transaction_cache",
    "upgrade",
    "utcnow",
]
