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
import datetime as dt
import functools
import json
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sqlalchemy.exc import IntegrityError, OperationalError

from service.audit import repository as audit_log
from service.banks import service as banks
from service.db import drop_transaction_caches
from service.deposits import service as deposits
from service.deposits.schemas import (
    DepositBatchRequest,
    DepositOut,
    DepositRequest,
)
from service.deposits.signing import canonical_batch, canonical_confirmation
from service.errors import ServiceError
from service.jsonbody import parse_json_body

logger = logging.getLogger(__name__)

# A batch's items are committed in transactions of this many (see SubmissionWriter._process_batch).
BATCH_CHUNK = 100
_RETRYABLE_PGCODES = {"40001", "40P01"}  # serialization failure, deadlock detected
_ATTEMPTS = 3


@dataclass
class Answer:
    """What the endpoint sends back: the deposit (201 created / 200 replay) or an error."""

    deposit: DepositOut | None = None
    created: bool = False
    error: BaseException | None = None
    results: list[dict[str, Any]] | None = None  # a batch's answers, one per item


def item_result(index: int, answer: Answer) -> dict[str, Any]:
    """One batch item's answer: the status and body `POST /v1/deposits` would give it."""
    if isinstance(answer.error, ServiceError):
        return {"index": index, "status": answer.error.status_code, **answer.error.body()}
    assert answer.error is None and answer.deposit is not None
    status = 201 if answer.created else 200
    return {"index": index, "status": status, "deposit": answer.deposit.model_dump(mode="json")}


@dataclass
class _Job:
    authorization: str | None
    body: bytes
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    # the caller's context variables (its request id, service/ops/logs.py): a submission run
    # alone runs in them, so what it logs carries the request's id
    context: contextvars.Context
    batch: bool = False  # POST /v1/deposits/batch: run on its own, in one transaction


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

    async def submit_batch(self, authorization: str | None, body: bytes) -> Answer:
        """Queue one batch (`POST /v1/deposits/batch`) and wait for its answers."""
        self._ensure_started()
        loop = asyncio.get_running_loop()
        job = _Job(authorization, body, loop, loop.create_future(), contextvars.copy_context(), batch=True)
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
        for job in [one for one in jobs if one.batch]:
            job.context.run(self._process_batch, job)
        jobs = [one for one in jobs if not one.batch]
        if not jobs:
            return
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
        self._deliver(job, _with_retries(lambda: self._transaction([job])[0]))

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
                    answers.append(self._in_savepoint(session, functools.partial(self._one, session, job)))
            session.commit()
        self.stats.transactions += 1
        return answers

    def _process_batch(self, job: _Job) -> None:
        """A batch: authenticated and parsed as a whole, in a read transaction (a refusal there
        is the request's answer and changes nothing); then its items in transactions of up to
        `BATCH_CHUNK`, each item in its own savepoint, answered as it would be alone. Between
        two of them another writer (the minter) may take SQLite's write lock: a batch of 1,000
        never holds it for the whole batch. A failure of one transaction as a whole runs that
        one again, up to three attempts; should it still fail, the request's answer is that
        error, and the items committed before it stay (sending the batch again is safe: every
        item is idempotent by its reference)."""
        try:
            with self.state.db.reading() as session:
                bank = banks.authenticate_bank(session, job.authorization)
                items = batch_items(session, self.state, bank, job.body)
        except Exception as exc:  # noqa: BLE001 - a refusal (or failure) of the batch as a whole
            self.stats.submissions += 1
            _deliver(job, Answer(error=exc))
            return
        self.stats.note_group(len(items))
        results: list[dict[str, Any]] = []
        for start in range(0, len(items), BATCH_CHUNK):
            chunk = items[start : start + BATCH_CHUNK]
            answer = _with_retries(functools.partial(self._batch_chunk, chunk, start))
            if answer.error is not None:
                self.stats.submissions += len(results) + 1
                _deliver(job, answer)
                return
            results.extend(answer.results or ())
        self.stats.submissions += len(results)
        _deliver(job, Answer(results=results))

    def _batch_chunk(self, items: list[Callable[[Any], deposits.SubmitOutcome]], start: int) -> Answer:
        """Items `start`... of a batch in one transaction; their results once it has committed."""
        results = []
        with self.state.db.session() as session:
            for index, item in enumerate(items, start):

                def work(item: Callable[[Any], deposits.SubmitOutcome] = item) -> Answer:
                    return _answer(item(session))

                results.append(item_result(index, self._in_savepoint(session, work)))
            session.commit()
        self.stats.transactions += 1
        return Answer(results=results)

    def _in_savepoint(self, session: Any, work: Callable[[], Answer]) -> Answer:
        """One submission of a group, in a savepoint that a refusal rolls back. The savepoint is
        the driver's own (SAVEPOINT statements on the transaction's connection), not SQLAlchemy's
        nested transaction (see docs/performance.md, "Group commit in the deposit writer"). That is safe because a refusal
        happens before the submission writes anything through the ORM; should one ever leave
        ORM objects behind, the whole group is redone one by one instead."""
        raw = session.connection().connection.dbapi_connection
        audit_mark, known = audit_log.pending_count(session), len(session.identity_map)
        raw.execute("SAVEPOINT ushk_submission")
        try:
            answer = work()
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
        bank = banks.authenticate_bank(session, job.authorization)
        return _answer(_submit_body(session, self.state, bank, job.body))


def _with_retries(transaction: Callable[[], Answer]) -> Answer:
    """The answer of `transaction()`, run again on a retryable failure (up to `_ATTEMPTS`), or
    the last failure as the answer."""
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            return transaction()
        except Exception as exc:  # noqa: BLE001 - retried or answered
            if not _retryable(exc) or attempt == _ATTEMPTS:
                return Answer(error=exc)
            logger.info("deposit writer: attempt %d failed (%s); retrying", attempt, exc)
    raise AssertionError("unreachable")


def _answer(outcome: deposits.SubmitOutcome) -> Answer:
    return Answer(deposit=DepositOut.of(outcome.deposit), created=outcome.created, error=outcome.error)


def _submit_body(
    session: Any, state: Any, bank: Any, body: bytes, now: dt.datetime | None = None
) -> deposits.SubmitOutcome:
    """One signed deposit request (the body of `POST /v1/deposits`, or an item of a batch)."""
    request = parse_json_body(DepositRequest, body)
    now = state.clock() if now is None else now
    return deposits.submit(
        session, bank=bank, request=request, settings=state.settings, policy=state.policy, now=now
    )


def batch_items(
    session: Any, state: Any, bank: Any, body: bytes
) -> list[Callable[[Any], deposits.SubmitOutcome]]:
    """The batch's items, each to be run (given the transaction's session) as one submission,
    all at the same time, `now`; a batch refused as a whole raises (malformed, too many items,
    the batch's signature, checked here in `session`)."""
    batch = parse_json_body(DepositBatchRequest, body)
    now = state.clock()
    if batch.items is not None:
        # each item is checked exactly as the body of POST /v1/deposits (by the same parser)
        return [
            functools.partial(_submit_body, state=state, bank=bank, body=json.dumps(item).encode(), now=now)
            for item in batch.items
        ]
    assert batch.key_id is not None and batch.signature is not None and batch.confirmations is not None
    deposits.check_bank_signature(
        session, bank, batch.key_id, batch.signed_payload(), batch.signature, encode=canonical_batch
    )
    return [
        functools.partial(
            deposits.submit_verified,
            bank=bank,
            confirmation=confirmation,
            key_id=batch.key_id,
            message=canonical_confirmation(confirmation.signed_payload()),
            settings=state.settings,
            policy=state.policy,
            now=now,
        )
        for confirmation in batch.confirmations
    ]


def _deliver(job: _Job, answer: Answer) -> None:
    def resolve() -> None:
        if not job.future.done():
            job.future.set_result(answer)

    with contextlib.suppress(RuntimeError):  # the caller's event loop is closed: nobody is waiting
        job.loop.call_soon_threadsafe(resolve)
