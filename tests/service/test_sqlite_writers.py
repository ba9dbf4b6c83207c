"""SQLite's writers: one at a time across threads and processes (`db.SQLiteWriteLock`), and the
write-ahead log checkpointed by a thread of its own (`Database.run_wal_checkpoints`)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from sqlalchemy import text

from service.audit.models import AuditEntry
from service.db import SQLiteWriteLock
from wait_support import join, wait_exit, wait_for

ROOT = Path(__file__).resolve().parents[2]


def _holder_script(url: str, ready: Path, release: Path) -> str:
    return textwrap.dedent(f"""
        import time
        from pathlib import Path
        from sqlalchemy import text
        from service.config import Settings
        from service.db import Database
        db = Database.from_settings(Settings(_env_file=None, database_url={url!r}))
        with db.transaction() as session:
            session.execute(text("INSERT INTO audit_head (id, seq, hash) VALUES (99, 0, 'x')"))
            Path({str(ready)!r}).touch()
            deadline = time.monotonic() + 60  # waits for the test's release, not for ever
            while not Path({str(release)!r}).exists():
                if time.monotonic() > deadline:
                    raise SystemExit("never released")
                time.sleep(0.01)
        """)


def test_a_writer_in_another_process_makes_this_one_wait_then_go(env, tmp_path):
    ready, release = tmp_path / "ready", tmp_path / "release"
    holder = subprocess.Popen(
        [sys.executable, "-c", _holder_script(env.settings.database_url, ready, release)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        wait_for(
            "the other process to hold the write lock",
            ready.exists,
            30,
            interval=0.01,
            check=lambda: _alive(holder),
        )
        order: list[str] = []
        done = threading.Event()

        def write() -> None:
            with env.db.transaction() as session:
                session.execute(text("UPDATE audit_head SET seq = seq WHERE id = 99"))  # BEGIN here
                order.append("began")
                order.append(
                    "saw the other process's row"
                    if session.execute(text("SELECT count(*) FROM audit_head WHERE id = 99")).scalar()
                    else "no row"
                )
            done.set()

        writer = threading.Thread(target=write)
        writer.start()
        # what is under test: for 0.3 s the writer does not get in while the other process holds
        # the lock (a writer that did not wait would be done within this time)
        assert not done.wait(0.3) and order == []
        release.touch()
        assert done.wait(30)
        join(writer)
        assert order == ["began", "saw the other process's row"]
    finally:
        release.touch()
        returncode = wait_exit(holder, 30, "the holding process")
    assert returncode == 0


def test_threads_of_one_process_take_turns(env):
    lock = SQLiteWriteLock.for_file(env.db.engine.url.database)
    inside, overlaps = [0], []

    def write(n: int) -> None:
        with env.db.transaction() as session:
            session.execute(text("SELECT 1"))
            inside[0] += 1
            overlaps.append(inside[0])
            session.execute(text(f"INSERT INTO audit_head (id, seq, hash) VALUES ({100 + n}, 0, 'x')"))
            inside[0] -= 1

    threads = [threading.Thread(target=write, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    join(*threads)
    assert overlaps == [1] * 16
    assert lock._owner is None  # released by every commit


def test_the_checkpointer_copies_the_log_into_the_database_and_commits_do_not(env):
    database = Path(env.db.engine.url.database)
    before = database.stat().st_size
    commits = 300
    stop = threading.Event()
    checkpointer = threading.Thread(target=env.db.run_wal_checkpoints, args=(stop, 0.02))
    checkpointer.start()
    lock = SQLiteWriteLock.for_file(str(database))
    wait_for(
        "the checkpointer thread to take over",
        lambda: lock.background_checkpoints,
        20,
        interval=0.005,
        check=lambda: _alive(checkpointer),
    )
    try:
        for n in range(commits):
            with env.db.transaction() as session:
                session.add(
                    AuditEntry(
                        seq=10_000 + n,
                        created_at="t",
                        kind="k",
                        actor="a",
                        payload="{}",
                        prev_hash="0" * 64,
                        hash=f"{n:064x}",
                        leaf="{}",
                        salt="0" * 64,
                    )
                )
                if n == 0:  # no commit of this process checkpoints while the thread does
                    raw = session.connection().connection.dbapi_connection
                    assert raw.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
            stop.wait(0.002)  # what is under test: commits spread over time, checkpoints in between
    finally:
        stop.set()
        join(checkpointer)
    # the new rows reached the database file itself: only a checkpoint writes there (the
    # commits' own are off, and SQLite's would wait for 1,000 pages in the log)
    assert database.stat().st_size > before
    with env.db.transaction() as session:
        raw = session.connection().connection.dbapi_connection
        assert raw.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000  # SQLite's own again


def test_a_submission_that_waits_too_long_for_the_write_lock_is_a_503(tmp_path, sqlite_url):
    from service.app import create_app
    from service.client import BankClient
    from svc_support import LiveServer, confirmation, make_env

    env = make_env(sqlite_url, sqlite_busy_timeout_ms=300)
    bank = env.add_bank()
    release = threading.Event()
    holding = threading.Event()

    def hold() -> None:
        with env.db.transaction() as session:
            session.execute(text("SELECT 1"))
            holding.set()
            release.wait(30)

    app = create_app(env.settings, env.db, policy=env.policy)
    holder = threading.Thread(target=hold)
    with (
        LiveServer(app) as server,
        BankClient(server.url, api_key=bank.api_key, key_id=bank.key_id, private_key=bank.seed) as client,
    ):
        holder.start()
        assert holding.wait(30)
        try:
            busy = client.submit(confirmation("BUSY-1"))
        finally:
            release.set()
            join(holder)
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        assert busy.json()["error"]["code"] == "database_busy"
        assert client.submit(confirmation("BUSY-1")).status_code == 201  # nothing was kept: a retry works
    env.db.dispose()


def _alive(worker) -> None:
    """Fails at once when the thread or process a wait depends on has ended."""
    ended = not worker.is_alive() if isinstance(worker, threading.Thread) else worker.poll() is not None
    assert not ended, f"{worker} ended"


def test_the_lock_holder_sees_writers_waiting_in_this_and_other_processes(env, tmp_path):
    """What `Database.let_writers_in` asks between the chunks of a long job."""
    lock = SQLiteWriteLock.for_file(env.db.engine.url.database)
    assert not lock.others_waiting()
    done = tmp_path / "done"
    script = textwrap.dedent(f"""
        from pathlib import Path
        from sqlalchemy import text
        from service.config import Settings
        from service.db import Database
        db = Database.from_settings(Settings(_env_file=None, database_url={env.settings.database_url!r}))
        with db.transaction() as session:
            session.execute(text("INSERT INTO audit_head (id, seq, hash) VALUES (98, 0, 'x')"))
        Path({str(done)!r}).touch()
        """)
    with env.db.transaction() as session:
        session.execute(text("UPDATE audit_head SET seq = seq WHERE id = 1"))  # holds the lock
        assert not lock.others_waiting()
        other = subprocess.Popen(
            [sys.executable, "-c", script], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}
        )
        try:
            # another process's writer, waiting for this transaction
            wait_for("the other process's writer waiting", lock.others_waiting, 20, interval=0.005)
            assert not done.exists()
        except BaseException:
            other.kill()
            raise
    assert wait_exit(other, 30, "the other process's writer") == 0 and done.exists()
    wait_for("no writer waiting", lambda: not lock.others_waiting(), 20, interval=0.005)

    # a writer of this process waiting on the thread mutex counts too
    entered = threading.Event()
    with env.db.transaction() as session:
        session.execute(text("UPDATE audit_head SET seq = seq WHERE id = 1"))

        def write() -> None:
            entered.set()
            with env.db.transaction() as inner:
                inner.execute(text("UPDATE audit_head SET seq = seq WHERE id = 1"))

        waiter = threading.Thread(target=write)
        waiter.start()
        assert entered.wait(5)
        wait_for("this process's writer waiting", lock.others_waiting, 20, interval=0.005)
    join(waiter, timeout=30)
    assert not lock.others_waiting()
