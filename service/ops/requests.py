"""The middleware around every HTTP request: its request id (service/ops/logs.py), one access
log line, and one observation of the request histogram (service/ops/metrics.py).

The access line has the method, the path (never the query string, which may carry an identity
number), the route template, the status and the milliseconds; the histogram is labelled by the
route template, never the raw path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from service.ops.logs import REQUEST_ID, request_id_from
from service.ops.metrics import CACHED, UNMATCHED, RequestMetrics

access_log = logging.getLogger("service.access")

_CACHED_PREFIX, _CACHED_PATHS = "/v1/public/", ("/v1/reserves",)


def route_of(scope: dict) -> str:
    """The template of the route the request matched (UNMATCHED, or CACHED for a public answer
    the answer cache served before routing)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path:
        return str(path)
    if "endpoint" in scope:  # Starlette's own routes (the docs pages): fixed paths
        return str(scope.get("path", UNMATCHED))
    raw = scope.get("path", "")
    if raw.startswith(_CACHED_PREFIX) or raw in _CACHED_PATHS:
        return CACHED
    return UNMATCHED


class RequestMiddleware:
    def __init__(self, app: Any, metrics: RequestMetrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                incoming = value
                break
        request_id = request_id_from(incoming)
        token = REQUEST_ID.set(request_id)
        header = (b"x-request-id", request_id.encode())
        status = 500

        async def capture(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            seconds = time.perf_counter() - started
            route = route_of(scope)
            method = scope.get("method", "")
            if self.metrics is not None:
                self.metrics.observe(method, route, status, seconds)
            access_log.info(
                "%s %s %s %.1fms",
                method,
                scope.get("path"),
                status,
                seconds * 1000,
                extra={
                    "method": method,
                    "path": scope.get("path"),
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                },
            )
            REQUEST_ID.reset(token)
