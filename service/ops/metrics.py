"""Prometheus metrics of the API process (`/metrics`) and of the workers process
(`USHK_WORKERS_METRICS_PORT`), docs/operations.md lists them.

On the request path there is one histogram observation per request (`RequestMetrics.observe`,
a dictionary lookup and the observation itself); everything else is collected when Prometheus
scrapes: the deposit writer's queue and group sizes from its counters, and the database's
figures (deposits by status, the minter's backlog and lag, active halts, overdue payouts, chain
cursors, the workers' heartbeats) by `DatabaseCollector` with a handful of aggregate and keyed
queries in one read snapshot. Labels are bounded: a route is its template
(`/v1/deposits/{reference}`), never a raw path, and no label carries an identity number, a
reference or an id.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from service.chain.cursor import ChainCursor
from service.db import Database, utcnow
from service.deposits.models import Deposit, DepositStatus
from service.redemptions.models import Payout, PayoutStatus
from service.reserves.models import MintingHalt

log = logging.getLogger(__name__)

__all__ = [
    "CONTENT_TYPE_LATEST",
    "DatabaseCollector",
    "RequestMetrics",
    "WorkersCollector",
    "WriterCollector",
    "render",
]

IN_FLIGHT = (
    DepositStatus.RECEIVED.value,
    DepositStatus.AWAITING_APPROVAL.value,
    DepositStatus.ACCEPTED.value,
    DepositStatus.MINTING.value,
)
FINAL = (DepositStatus.MINTED.value, DepositStatus.REJECTED.value)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# the route label of a request no route matched, and of a public answer served from memory
# (service/api/answer_cache.py answers before routing)
UNMATCHED = "(unmatched)"
CACHED = "(answer-cache)"


def render(registry: CollectorRegistry) -> bytes:
    """The text exposition of everything `registry` collects."""
    return generate_latest(registry)


class RequestMetrics:
    """`ushk_http_request_duration_seconds{method, route, status}`: its `_count` is the number
    of requests, its buckets their latency."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.histogram = Histogram(
            "ushk_http_request_duration_seconds",
            "HTTP requests by method, route template and status: count and latency (seconds).",
            ("method", "route", "status"),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._children: dict[tuple[str, str, int], Any] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        if method not in METHODS:  # before the lookup: made-up methods must not grow the cache
            method = "OTHER"
        key = (method, route, status)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.histogram.labels(method, route, str(status))
        child.observe(seconds)


class WriterCollector(Collector):
    """The deposit writer (service/deposits/writer.py): its queue depth, submissions answered,
    transactions committed and the sizes of the groups it committed together."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def collect(self) -> Iterable[Metric]:
        stats = self.writer.stats
        yield _gauge(
            "ushk_writer_queue_depth", "Deposit submissions queued for the writer.", self.writer.queue_depth()
        )
        yield _counter(
            "ushk_writer_submissions", "Deposit submissions the writer answered.", stats.submissions
        )
        yield _counter(
            "ushk_writer_transactions", "Transactions the deposit writer committed.", stats.transactions
        )
        groups = HistogramMetricFamily(
            "ushk_writer_group_size", "Submissions taken together by the writer, per group."
        )
        cumulative, buckets = 0, []
        for bound, count in zip(stats.GROUP_BUCKETS, stats.group_counts, strict=False):
            cumulative += count
            buckets.append((_bound(bound), cumulative))
        buckets.append(("+Inf", sum(stats.group_counts)))
        groups.add_metric([], buckets, stats.group_sum)
        yield groups


class WorkersCollector(Collector):
    """The workers of this process, from their own counters: the minter's (`Minter.stats`) and
    the reconciler's last result (`Reconciler.last`, `passes`, `last_failed`, `last_pass_at`)."""

    def __init__(self, minter: Any = None, reconciler: Any = None) -> None:
        self.minter = minter
        self.reconciler = reconciler

    def collect(self) -> Iterable[Metric]:
        if self.minter is not None:
            stats = self.minter.stats
            yield _counter("ushk_minter_minted_deposits", "Deposits this minter marked minted.", stats.minted)
            yield _counter("ushk_minter_batches", "Mint batches this minter settled.", stats.batches)
            yield _counter("ushk_minter_rejected_deposits", "Deposits this minter rejected.", stats.rejected)
            yield _counter(
                "ushk_minter_errors", "Failed minter steps (node down, RPC error...).", len(stats.errors)
            )
            blocked = GaugeMetricFamily(
                "ushk_minter_blocked", "1 while the minter is blocked, by reason.", labels=["reason"]
            )
            if stats.blocked_by is not None:
                blocked.add_metric([stats.blocked_by], 1.0)
            yield blocked
        reconciler = self.reconciler
        if reconciler is None:
            return
        passes = CounterMetricFamily(
            "ushk_reconciler_passes",
            "Reconciliation passes by outcome (ok, findings, error).",
            labels=["outcome"],
        )
        for outcome, count in reconciler.passes.items():
            passes.add_metric([outcome], count)
        yield passes
        last = reconciler.last
        ok = last is not None and last.ok and not reconciler.last_failed
        yield _gauge(
            "ushk_reconciler_last_ok", "1 if the last reconciliation pass completed with no finding.", ok
        )
        if reconciler.last_pass_at is not None:
            yield _gauge(
                "ushk_reconciler_last_pass_timestamp_seconds",
                "When the last reconciliation pass completed (Unix time).",
                reconciler.last_pass_at,
            )
        if last is not None:
            yield _gauge(
                "ushk_reconciler_findings", "Findings of the last completed pass.", len(last.findings)
            )
            yield _gauge(
                "ushk_reconciler_difference_units",
                "Supply minus what the ledger explains at the last pass, in token units.",
                last.difference_units,
            )
            yield _gauge("ushk_reconciler_block", "The block the last pass compared at.", last.block)


class DatabaseCollector(Collector):
    """The figures of the service's database, read at scrape time in one read snapshot.

    `chain_head` returns the chain's newest block as this process last saw it (None: unknown);
    with it, each chain follower's confirmation lag (head minus its cursor) is shown too.

    Deposits still in flight (received, accepted, minting) are counted on every scrape: a range
    of the (status, id) index as long as the backlog. The final statuses (minted, rejected)
    grow with every deposit ever made, so their counts are read again at most every
    `final_counts_seconds` (60) and shown from memory in between."""

    def __init__(
        self,
        db: Database,
        *,
        chain_head: Callable[[], int | None] | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        final_counts_seconds: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.chain_head = chain_head
        self.clock = clock
        self.final_counts_seconds = final_counts_seconds
        self.monotonic = monotonic
        self._final: dict[str, int] | None = None
        self._final_at = float("-inf")

    def collect(self) -> Iterable[Metric]:
        now = self.clock()
        try:
            figures = self._read(now)
        except Exception:
            log.warning("metrics: the database could not be read", exc_info=True)
            figures = None
        yield _gauge("ushk_database_up", "1 if the last scrape could read the database.", figures is not None)
        head = self._head()
        if head is not None:
            yield _gauge("ushk_chain_head_block", "The chain's newest block as this process saw it.", head)
        if figures is None:
            return
        yield from _figures(figures, now, head)

    def _head(self) -> int | None:
        if self.chain_head is None:
            return None
        try:
            return self.chain_head()
        except Exception:  # noqa: BLE001 - node down: no head this scrape
            return None

    @staticmethod
    def _count(session: Any, statuses: tuple[str, ...]) -> dict[str, int]:
        rows = session.execute(
            select(Deposit.status, func.count()).where(Deposit.status.in_(statuses)).group_by(Deposit.status)
        ).all()
        counts = dict.fromkeys(statuses, 0)
        counts.update({status: int(count) for status, count in rows})
        return counts

    def _read(self, now: dt.datetime) -> dict[str, Any]:
        from service.ops.heartbeats import WorkerHeartbeat

        with self.db.reading() as session:
            by_status = self._count(session, IN_FLIGHT)
            if self._final is None or self.monotonic() - self._final_at >= self.final_counts_seconds:
                self._final, self._final_at = self._count(session, FINAL), self.monotonic()
            by_status.update(self._final)
            oldest = session.scalar(
                select(Deposit.accepted_at)
                .where(Deposit.status == DepositStatus.ACCEPTED)
                .order_by(Deposit.id)
                .limit(1)
            )
            halts = session.scalar(
                select(func.count()).select_from(MintingHalt).where(MintingHalt.active.is_not(None))
            )
            overdue = session.scalar(
                select(func.count())
                .select_from(Payout)
                .where(Payout.status == PayoutStatus.PENDING, Payout.due_at <= now)
            )
            cursors = session.execute(select(ChainCursor.name, ChainCursor.block_number)).all()
            beats = session.execute(select(WorkerHeartbeat.name, WorkerHeartbeat.beat_at)).all()
        return {
            "by_status": by_status,
            "oldest_accepted": oldest,
            "halts": halts or 0,
            "overdue": overdue or 0,
            "cursors": cursors,
            "beats": beats,
        }


def _figures(figures: dict[str, Any], now: dt.datetime, head: int | None) -> Iterator[Metric]:
    by_status = figures["by_status"]
    deposits = GaugeMetricFamily("ushk_deposits", "Deposits by status.", labels=["status"])
    for status in DepositStatus:
        deposits.add_metric([status.value], by_status.get(status.value, 0))
    yield deposits
    backlog = by_status.get(DepositStatus.ACCEPTED, 0) + by_status.get(DepositStatus.MINTING, 0)
    yield _gauge("ushk_minter_backlog_deposits", "Deposits accepted or minting, not yet minted.", backlog)
    oldest = figures["oldest_accepted"]
    lag = 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())
    yield _gauge(
        "ushk_minter_lag_seconds", "Age of the oldest deposit waiting to be claimed by the minter.", lag
    )
    yield _gauge("ushk_minting_halts_active", "Active minting halts (the reconciler's).", figures["halts"])
    yield _gauge("ushk_payouts_overdue", "Pending payouts past their due time.", figures["overdue"])
    cursor = GaugeMetricFamily(
        "ushk_chain_cursor_block", "The last block each chain follower processed.", labels=["follower"]
    )
    lags = GaugeMetricFamily(
        "ushk_chain_confirmation_lag_blocks",
        "Blocks between the chain's head and each follower's cursor.",
        labels=["follower"],
    )
    for name, block in figures["cursors"]:
        cursor.add_metric([name], block)
        if head is not None:
            lags.add_metric([name], max(0, head - block))
    yield cursor
    if head is not None:
        yield lags
    ages = GaugeMetricFamily(
        "ushk_worker_heartbeat_age_seconds", "Seconds since each worker's last heartbeat.", labels=["worker"]
    )
    for name, beat_at in figures["beats"]:
        ages.add_metric([name], max(0.0, (now - beat_at).total_seconds()))
    yield ages


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=float(value))


def _bound(value: float) -> str:
    return str(float(value))
