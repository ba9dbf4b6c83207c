"""The workers' heartbeats: one row per worker (table `worker_heartbeats`), written by a thread
of the process that runs the workers while each worker's loop is making progress; `/readyz`
(service/ops/readiness.py) calls a row older than USHK_HEARTBEAT_STALE_SECONDS stale.

Every worker loop waits on the process's stop event between its steps (`stop.wait(...)`, or
checks `stop.is_set()`), so each worker is handed a `Pulse`: the same event, noting when its
loop last came back to it. A worker counts as progressing while its thread is alive and it is
either waiting inside `stop.wait` (at most as long as it asked for) or came back to its loop
within the stale period; a worker stuck in one step (a node that never answers) or whose thread
died stops beating, and so does every worker of a process that is gone. When the process stops
cleanly it deletes the rows it wrote, so a stale row means a crash or a hang.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
from collections.abc import Callable

from sqlalchemy import String, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from service.db import Base, Database, UTCDateTime, insert_ignore, utcnow

log = logging.getLogger("ushk.heartbeats")


class WorkerHeartbeat(Base):
    """A worker's last heartbeat: which process (host:pid) wrote it, and when."""

    __tablename__ = "worker_heartbeats"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    process: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    beat_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:128]


class Pulse:
    """A worker's view of the stop event: `wait` and `is_set` as the event's, noting each call."""

    def __init__(self, stop: threading.Event, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._stop = stop
        self._monotonic = monotonic
        self.last = monotonic()
        self.waiting_until: float | None = None

    def is_set(self) -> bool:
        self.last = self._monotonic()
        return self._stop.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        now = self._monotonic()
        self.last = now
        self.waiting_until = float("inf") if timeout is None else now + timeout
        try:
            return self._stop.wait(timeout)
        finally:
            self.waiting_until = None
            self.last = self._monotonic()

    def set(self) -> None:
        self._stop.set()

    def progressing(self, within: float) -> bool:
        now = self._monotonic()
        waiting = self.waiting_until
        if waiting is not None and now <= waiting + 1.0:
            return True
        return now - self.last <= within


def beat(session: Session, names: list[str], process: str, now: dt.datetime) -> None:
    """Write the heartbeat of each of `names` (a row each, made if missing)."""
    for name in names:
        insert_ignore(
            session,
            WorkerHeartbeat.__table__,
            {"name": name, "process": process, "started_at": now, "beat_at": now},
            ("name",),
        )
    if names:
        session.execute(
            update(WorkerHeartbeat)
            .where(WorkerHeartbeat.name.in_(names))
            .values(process=process, beat_at=now)
            .execution_options(synchronize_session=False)
        )


def forget(session: Session, names: list[str], process: str) -> None:
    """Delete the rows of `names` that `process` wrote last (a clean stop)."""
    session.execute(
        delete(WorkerHeartbeat)
        .where(WorkerHeartbeat.name.in_(names), WorkerHeartbeat.process == process)
        .execution_options(synchronize_session=False)
    )


def heartbeats(session: Session) -> dict[str, tuple[str, dt.datetime]]:
    """name -> (process, beat_at) of every row."""
    rows = session.execute(select(WorkerHeartbeat.name, WorkerHeartbeat.process, WorkerHeartbeat.beat_at))
    return {name: (process, beat_at) for name, process, beat_at in rows}


class Heartbeats:
    """The heartbeat thread of one workers process: every `interval` seconds, a beat for each
    worker whose thread is alive and whose `Pulse` shows progress within `stale` seconds."""

    def __init__(
        self,
        db: Database,
        workers: dict[str, tuple[threading.Thread, Pulse]],
        *,
        interval: float,
        stale: float,
    ) -> None:
        self.db = db
        self.workers = workers
        self.interval = interval
        self.stale = stale
        self.process = process_name()

    def alive(self) -> list[str]:
        return [
            name
            for name, (thread, pulse) in self.workers.items()
            if thread.is_alive() and pulse.progressing(self.stale)
        ]

    def beat_once(self) -> list[str]:
        names = self.alive()
        with self.db.transaction() as session:
            beat(session, names, self.process, utcnow())
        return names

    def run(self, stop: threading.Event) -> None:
        while True:
            try:
                self.beat_once()
            except Exception:
                log.warning("writing the workers' heartbeats failed", exc_info=True)
            if stop.wait(self.interval):
                break
        try:
            with self.db.transaction() as session:
                forget(session, list(self.workers), self.process)
        except Exception:
            log.warning("removing the workers' heartbeats failed", exc_info=True)
