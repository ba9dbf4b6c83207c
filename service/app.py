"""The FastAPI application of the reserve service."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy.orm import sessionmaker

from service import runtime, workers
from service.api.allowlist import router as allowlist_router
from service.api.answer_cache import AnswerCacheMiddleware
from service.api.approvals import router as approvals_router
from service.api.audit import router as audit_router
from service.api.banks import operator_router
from service.api.banks import router as bank_router
from service.api.deposits import router as deposits_router
from service.api.deps import AppState
from service.api.openapi import complete_routes
from service.api.ops import router as ops_router
from service.api.page import router as page_router
from service.api.public import router as public_router
from service.api.quota import router as quota_router
from service.api.redemptions import accounts_router as payout_accounts_router
from service.api.redemptions import operator_router as payouts_operator_router
from service.api.redemptions import payouts_router
from service.api.reserves import operator_router as reserves_operator_router
from service.api.reserves import router as reserves_router
from service.api.snapshots import router as snapshots_router
from service.api.transparency import router as transparency_router
from service.api.travel_rule import router as travel_rule_router
from service.config import Settings
from service.db import Database, utcnow
from service.deposits.writer import SubmissionWriter
from service.errors import PayloadTooLarge, install_error_handlers
from service.ops.metrics import DatabaseCollector, RequestMetrics, WriterCollector
from service.ops.requests import RequestMiddleware
from service.quota.policy import Policy

CHAIN_CACHE = "public-chain-view"
MONITOR_FEED = "public-monitor-feed"

REPO_ROOT = Path(__file__).resolve().parent.parent


def resolve_policy_path(path: Path) -> Path:
    """`path` as given, or relative to the repository when it is relative and not found from
    the working directory."""
    if path.is_absolute() or path.exists():
        return path
    candidate = REPO_ROOT / path
    return candidate if candidate.exists() else path


def load_policy(settings: Settings) -> Policy:
    return Policy.load(resolve_policy_path(settings.policy_file))


class BodyLimitMiddleware:
    """Refuse request bodies larger than `max_bytes` with 413 before they reach the app."""

    def __init__(self, app: Any, max_bytes: int, per_path: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.per_path = per_path or {}  # a larger limit for these exact paths (deposit batches)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.per_path.get(scope.get("path", ""), self.max_bytes)
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > max_bytes
                except ValueError:
                    too_big = True
                if too_big:
                    await _send_error(send, PayloadTooLarge())
                    return
        received = 0

        async def limited_receive() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise _BodyTooLarge()
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await _send_error(send, PayloadTooLarge())


class _BodyTooLarge(Exception):
    pass


async def _send_error(send: Callable, error: PayloadTooLarge) -> None:
    import json

    body = json.dumps(error.body()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RouteLogMiddleware:
    """USHK_TEST_ROUTE_LOG (tests only): the route each request matched, appended to a file the
    first time this process serves it."""

    def __init__(self, app: Any, path: Path) -> None:
        self.app = app
        self.path = path
        self.seen: set[tuple[str, str]] = set()

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            route = scope.get("route")
            if route is None and "endpoint" in scope:  # Starlette's own routes (the docs pages)
                route = next(
                    (r for r in scope["app"].routes if getattr(r, "endpoint", None) is scope["endpoint"]),
                    None,
                )
            methods = getattr(route, "methods", None) or ()
            key = (scope.get("method", ""), getattr(route, "path", ""))
            if key[0] in methods and key not in self.seen:
                self.seen.add(key)
                with open(self.path, "a") as log:
                    log.write(f"{key[0]} {key[1]}\n")


def _as_database(session_factory: Database | sessionmaker) -> Database:
    if isinstance(session_factory, Database):
        return session_factory
    bind = session_factory.kw.get("bind")
    if bind is None:
        raise ValueError("session_factory must be a Database or a sessionmaker bound to an engine")
    return Database(bind)


def _check_travel_rule_key(settings: Settings, policy: Policy) -> None:
    """With a CDD threshold the IVMS101 data must be kept encrypted: the service refuses to
    start without USHK_TRAVEL_RULE_KEY, in every environment (a deposit above the threshold
    could neither be refused for want of the data nor kept)."""
    if policy.cdd.threshold_cents is not None and settings.travel_rule_key is None:
        raise RuntimeError(
            "the policy sets cdd.threshold_usd but USHK_TRAVEL_RULE_KEY is not set "
            "(32 bytes, hex or base64: docs/bank-api.md, CDD and the Travel Rule)"
        )


def _fresh_head(state: AppState) -> int | None:
    """The chain's head as the public chain view last read it, unless that read is stale."""
    snapshot = state.chain_cache.snapshot()
    return None if snapshot.stale else snapshot.block


def create_app(
    settings: Settings | None = None,
    session_factory: Database | sessionmaker | None = None,
    *,
    policy: Policy | None = None,
    clock: Callable[[], dt.datetime] | None = None,
    public_only: bool = False,
) -> FastAPI:
    """Build the app. Without `session_factory` it opens `settings.database_url` itself (and
    disposes the engine on shutdown); tests pass their own `Database`. `clock` returns the
    current UTC time (injectable for tests of period rollover).

    `public_only`: only the public reads (the page, /v1/reserves, /v1/public/..., the
    transparency log and snapshots), /healthz, /readyz and /metrics, with no deposit writer and no worker: the
    process `ushk serve --public-only` runs beside the bank API, so that public traffic never
    shares the deposit path's event loop (docs/public-ledger.md, "A process for public reads")."""
    settings = settings or Settings()
    owns_db = session_factory is None
    db = Database.from_settings(settings) if session_factory is None else _as_database(session_factory)
    state = AppState(
        settings=settings,
        db=db,
        policy=policy or load_policy(settings),
        clock=clock or utcnow,
    )
    if not public_only:
        _check_travel_rule_key(settings, state.policy)
        state.writer = SubmissionWriter(state, settings.accept_batch_max)
    state.chain_cache = runtime.build_chain_cache(settings)
    if settings.monitor_url:
        state.monitor_feed = runtime.build_monitor_feed(settings)
    # the process's metrics (/metrics, service/ops/metrics.py): one histogram observation per
    # request, the rest collected at scrape time
    state.metrics = CollectorRegistry()
    request_metrics = RequestMetrics(state.metrics)
    state.metrics.register(DatabaseCollector(state.db, chain_head=lambda: _fresh_head(state)))
    if state.writer is not None:
        state.metrics.register(WriterCollector(state.writer))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        # The public answers' chain view: read once before serving, then by its own thread.
        await asyncio.to_thread(state.chain_cache.refresh)
        threads = [
            threading.Thread(target=state.chain_cache.run, args=(stop,), name=CHAIN_CACHE, daemon=True)
        ]
        if state.monitor_feed is not None:
            feed = state.monitor_feed

            def follow_monitor() -> None:
                feed.refresh()
                feed.run(stop)

            threads.append(threading.Thread(target=follow_monitor, name=MONITOR_FEED, daemon=True))
        for thread in threads:
            thread.start()
        if not public_only:
            threads += workers.start(settings, db, stop, registry=state.metrics)
        try:
            yield
        finally:
            if state.writer is not None:
                state.writer.close()
            stop.set()
            workers.join(threads)
            if owns_db:
                db.dispose()

    app = FastAPI(
        title="USHK reserve service",
        version="0.1.0",
        summary="Deposit confirmations, per-resident quota and the mint outbox of USHK.",
        lifespan=lifespan,
        # A path with a trailing slash (a path parameter holding "/" too) is no endpoint (404),
        # not a redirect to another URL.
        redirect_slashes=False,
    )
    app.state.ushk = state
    install_error_handlers(app)
    app.add_middleware(AnswerCacheMiddleware, seconds=settings.public_answer_seconds)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_request_bytes,
        per_path={"/v1/deposits/batch": settings.max_batch_request_bytes},
    )
    app.add_middleware(RequestMiddleware, metrics=request_metrics)
    if settings.test_route_log is not None:
        app.add_middleware(RouteLogMiddleware, path=settings.test_route_log)
    routers = (
        deposits_router,
        quota_router,
        bank_router,
        allowlist_router,
        operator_router,
        audit_router,
        payout_accounts_router,
        payouts_router,
        payouts_operator_router,
        reserves_router,
        reserves_operator_router,
        travel_rule_router,
        approvals_router,
        transparency_router,
        snapshots_router,
        public_router,
        page_router,
        ops_router,
    )
    public_routers = (
        reserves_router,
        transparency_router,
        snapshots_router,
        public_router,
        page_router,
        ops_router,
    )
    for router in public_routers if public_only else routers:
        complete_routes(router.routes)
        app.include_router(router)

    @app.get("/healthz", tags=["health"], summary="Liveness (the process answers; /readyz checks its parts)")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    complete_routes(app.router.routes)
    return app
