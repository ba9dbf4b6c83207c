"""Deposit submissions through one writer thread per service process, committed in groups.

`POST /v1/deposits` does no database work on the event loop and hands nothing to the thread
pool: it queues the caller's credentials and raw body here and awaits the answer. The writer
thread takes every submission waiting (up to `accept_batch_max`), runs each one in its own
savepoint of one transaction (authentication, body validation, then `deposits.submit`), and
commits once: the transaction's fixed costs (taking the write lock, BEGIN, chaining the audit
entries, COMMIT) are paid once per group instead of once per request, and requests never
compete for the write lock among themselves (see docs/performance.md, "Group commit in the
deposit writer").

A submission's answer is exactly what it would be alone: a refusal rolls back its own
savepoint only, recorded refusals (quota, watch list, limits) are kept like acceptances, and
nothing is answered before the group's commit succeeded. If the group's transaction fails as a
whole (a PostgreSQL deadlock or serialization failure with another instance, a lost
connection), every submission of the group is run again in a transaction of its own, retried up
to three attempts on a concurrent duplicate insert, a deadlock or a serialization failure.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import contextvars
import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sqlalchemy.exc import IntegrityError, OperationalError

from service.audit import repository as audit_log
from service.banks import service as banks
from service.db import drop_transaction_caches
from service.deposits import service as deposits
from service.deposits.schemas import DepositOut, DepositRequest
from service.errors import ServiceError
from service.jsonbody import parse_json_body

logger = logging.getLogger(__name__)

_RETRYABLE_PGCODES = {"40001", "40P01"}  # serialization failure, deadlock detected
_ATTEMPTS = 3


@dataclass
class Answer:
    """What the endpoint sends back: the deposit (201 created / 200 replay) or an error."""

    deposit: DepositOut | None = None
    created: bool = False
    error: BaseException | None = None


@dataclass
class _Job:
    authorization: str | None
    body: bytes
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    # the caller's context variables (its request id, service/ops/logs.py): a submission run
    # alone runs in them, so what it logs carries the request's id
    context: contextvars.Context


_GROUP_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000)


@dataclass
class WriterStats:
    """Since start: submissions answered, transactions committed, the largest group taken, and
    how many groups were of each size (`group_counts[i]`: groups of at most `GROUP_BUCKETS[i]`
    and more than the bound before; the metrics' histogram, service/ops/metrics.py)."""

    GROUP_BUCKETS: ClassVar[tuple[int, ...]] = _GROUP_BUCKETS
    submissions: int = 0
    transactions: int = 0
    largest_group: int = 0
    group_counts: list[int] = field(default_factory=lambda: [0] * len(_GROUP_BUCKETS))
    group_sum: int = 0

    def note_group(self, size: int) -> None:
        self.largest_group = max(self.largest_group, size)
        self.group_sum += size
        self.group_counts[min(bisect.bisect_left(_GROUP_BUCKETS, size), len(_GROUP_BUCKETS) - 1)] += 1


def _retryable(exc: BaseException) -> bool:
    """A concurrent duplicate insert, or PostgreSQL's deadlock/serialization failure."""
    if isinstance(exc, IntegrityError):
        return True
    if isinstance(exc, OperationalError):
        return getattr(getattr(exc, "orig", None), "sqlstate", None) in _RETRYABLE_PGCODES
    return False


class SubmissionWriter:
    """The writer thread of one app (started on first use, stopped by `close`)."""

    def __init__(self, state: Any, max_batch: int) -> None:
        self.state = state
        self.max_batch = max(1, int(max_batch))
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.stats = WriterStats()

    async def submit(self, authorization: str | None, body: bytes) -> Answer:
        """Queue one submission and wait for its answer."""
        self._ensure_started()
        loop = asyncio.get_running_loop()
        job = _Job(authorization, body, loop, loop.create_future(), contextvars.copy_context())
        self._queue.put(job)
        return await job.future

    def queue_depth(self) -> int:
        """Submissions waiting for the writer thread (approximate, for the metrics)."""
        return self._queue.qsize()

    def close(self, timeout: float = 30.0) -> None:
        """Answer what is queued, then stop the thread (a later submission starts it again)."""
        with self._start_lock:
            thread, self._thread = self._thread, None
            if thread is not None:
                self._queue.put(None)
                thread.join(timeout)

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="deposit-writer", daemon=True)
                thread.start()
                self._thread = thread

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            jobs = [job]
            stop = False
            while len(jobs) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                jobs.append(more)
            self.stats.note_group(len(jobs))
            try:
                self._process(jobs)
            except BaseException as exc:  # every caller must get an answer
                logger.exception("deposit writer: unexpected failure")
                for one in jobs:
                    self._deliver(one, Answer(error=exc))
            if stop:
                return

    def _process(self, jobs: list[_Job]) -> None:
        if len(jobs) == 1:
            jobs[0].context.run(self._process_alone, jobs[0])
            return
        try:
            answers = self._transaction(jobs)
        except Exception:  # noqa: BLE001 - the group failed as a whole: each one on its own
            logger.info("deposit writer: a group of %d failed; running each alone", len(jobs))
            for job in jobs:
                job.context.run(self._process_alone, job)
            return
        for job, answer in zip(jobs, answers, strict=True):
            self._deliver(job, answer)

    def _process_alone(self, job: _Job) -> None:
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                answer = self._transaction([job])[0]
                break
            except Exception as exc:  # noqa: BLE001 - retried or answered
                answer = Answer(error=exc)
                if not _retryable(exc):
                    break
                logger.info("deposit writer: attempt %d failed (%s); retrying", attempt, exc)
        self._deliver(job, answer)

    def _transaction(self, jobs: list[_Job]) -> list[Answer]:
        """One transaction (a savepoint per submission when there are several); the answers once
        it has committed."""
        answers = []
        with self.state.db.session() as session:
            if len(jobs) == 1:  # the transaction is the submission's own
                try:
                    answers.append(self._one(session, jobs[0]))
                except ServiceError as refusal:
                    return [Answer(error=refusal)]  # nothing was written; rolled back on close
            else:
                for job in jobs:
                    answers.append(self._in_savepoint(session, job))
            session.commit()
        self.stats.transactions += 1
        return answers

    def _in_savepoint(self, session: Any, job: _Job) -> Answer:
        """One submission of a group, in a savepoint that a refusal rolls back. The savepoint is
        the driver's own (SAVEPOINT statements on the transaction's connection), not SQLAlchemy's
        nested transaction (see docs/performance.md, "Group commit in the deposit writer"). That is safe because a refusal
        happens before the submission writes anything through the ORM; should one ever leave
        ORM objects behind, the whole group is redone one by one instead."""
        raw = session.connection().connection.dbapi_connection
        audit_mark, known = audit_log.pending_count(session), len(session.identity_map)
        raw.execute("SAVEPOINT ushk_submission")
        try:
            answer = self._one(session, job)
        except ServiceError as refusal:
            raw.execute("ROLLBACK TO SAVEPOINT ushk_submission")
            raw.execute("RELEASE SAVEPOINT ushk_submission")
            audit_log.drop_pending_after(session, audit_mark)
            drop_transaction_caches(session)
            if session.new or len(session.identity_map) > known:
                raise RuntimeError("a refused submission left ORM objects behind") from refusal
            return Answer(error=refusal)
        raw.execute("RELEASE SAVEPOINT ushk_submission")
        return answer

    def _deliver(self, job: _Job, answer: Answer) -> None:
        self.stats.submissions += 1
        _deliver(job, answer)

    def _one(self, session: Any, job: _Job) -> Answer:
        state = self.state
        bank = banks.authenticate_bank(session, job.authorization)
        request = parse_json_body(DepositRequest, job.body)
        outcome = deposits.submit(
            session,
            bank=bank,
            request=request,
            settings=state.settings,
            policy=state.policy,
            now=state.clock(),
        )
        return Answer(deposit=DepositOut.of(outcome.deposit), created=outcome.created, error=outcome.error)


def _deliver(job: _Job, answer: Answer) -> None:
    def resolve() -> None:
        if not job.future.done():
            job.future.set_result(answer)

    with contextlib.suppress(RuntimeError):  # the caller's event loop is closed: nobody is waiting
        job.loop.call_soon_threadsafe(resolve)
