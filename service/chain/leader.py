"""One minter at a time across service instances, released by the operating system on a crash.

Several instances share the minter key, and so its nonces: only the instance holding the lease
sends mints. On PostgreSQL the lease is a session-level advisory lock held on a dedicated
connection; on SQLite (instances on one host sharing one database file) it is an exclusive
`flock` on a file beside the database. Both disappear with the process that held them, so a
SIGKILLed minter never blocks the next one.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url

# pg_try_advisory_lock(class, object) keys of the lease: the class says "USHK", the object is
# the hash of the lease's name and the schema the service's tables are in, so deployments that
# share one PostgreSQL database in different schemas each have their own minter.
LEASE_LOCK_CLASS = 0x5553_484B
_LOCK_SQL = "pg_try_advisory_lock(:c, hashtext(:name || ':' || current_schema()))"
_UNLOCK_SQL = "pg_advisory_unlock(:c, hashtext(:name || ':' || current_schema()))"


class Lease:
    """A non-blocking exclusive lease; `acquire()` returns whether this process now holds it."""

    def __init__(self, engine: Engine, name: str = "minter"):
        self.engine = engine
        self.name = name
        self._conn: Connection | None = None
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self.held:
            return True
        if self.engine.dialect.name == "postgresql":
            conn = self.engine.connect()
            got = conn.execute(text(f"SELECT {_LOCK_SQL}"), self._key()).scalar()
            conn.commit()
            if got:
                self._conn = conn
            else:
                conn.close()
            return bool(got)
        path = self._lock_path()
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    @property
    def held(self) -> bool:
        return self._conn is not None or self._fd is not None

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text(f"SELECT {_UNLOCK_SQL}"), self._key())
                self._conn.commit()
            finally:
                self._conn.close()
                self._conn = None
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def _key(self) -> dict:
        return {"c": LEASE_LOCK_CLASS, "name": self.name}

    def _lock_path(self) -> Path:
        database = make_url(str(self.engine.url)).database
        if not database or database == ":memory:":
            return Path(f"/tmp/ushk-{os.getpid()}.{self.name}.lock")
        return Path(f"{database}.{self.name}.lock")
