"""The public answers, cached whole for a second: 500 public reads/s cost the deposit path
little (docs/public-ledger.md, "Cost of public reads").

`AnswerCacheMiddleware` keeps the 200 answers of GET /v1/reserves and GET /v1/public/... by
path and query string for `seconds` (USHK_PUBLIC_ANSWER_SECONDS; 0 turns it off) and serves a
repeat from memory before routing, parameter parsing or any database read. Each answer carries
`Cache-Control: public, max-age=<seconds>` and, when served from memory, `Age`. At most
`max_entries` answers are kept (the oldest are dropped), so a crawl of distinct URLs cannot grow
it without bound. Requests for an answer being computed wait for it instead of computing it too
(a burst of one URL costs one computation).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

CACHED_PREFIX = "/v1/public/"
CACHED_PATHS = frozenset({"/v1/reserves"})


class AnswerCacheMiddleware:
    def __init__(self, app: Any, seconds: float, max_entries: int = 1024) -> None:
        self.app = app
        self.seconds = seconds
        self.max_entries = max_entries
        self.control = f"public, max-age={max(0, int(seconds))}".encode()
        # Touched only by the event loop's thread (the middleware runs there): no lock.
        self._computing: dict[tuple[str, bytes], asyncio.Future] = {}
        self._answers: OrderedDict[tuple[str, bytes], tuple[float, list[tuple[bytes, bytes]], bytes]] = (
            OrderedDict()
        )

    def _cacheable(self, scope: dict) -> bool:
        if scope["type"] != "http" or scope.get("method") != "GET" or self.seconds <= 0:
            return False
        path = scope.get("path", "")
        return path in CACHED_PATHS or path.startswith(CACHED_PREFIX)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if not self._cacheable(scope):
            await self.app(scope, receive, send)
            return
        key = (scope["path"], scope.get("query_string", b""))
        hit = self._fresh(key)
        if hit is None and key in self._computing:
            # the same answer is being computed: wait for it rather than compute it again
            await asyncio.shield(self._computing[key])
            hit = self._fresh(key)
        if hit is not None:
            stored, headers, body = hit
            age = str(int(time.monotonic() - stored)).encode()
            await send({"type": "http.response.start", "status": 200, "headers": [*headers, (b"age", age)]})
            await send({"type": "http.response.body", "body": body})
            return
        mine: asyncio.Future = asyncio.get_running_loop().create_future()
        self._computing.setdefault(key, mine)
        try:
            await self._compute(key, scope, receive, send)
        finally:
            if self._computing.get(key) is mine:
                del self._computing[key]
            mine.set_result(None)

    def _fresh(self, key: tuple[str, bytes]) -> tuple[float, list[tuple[bytes, bytes]], bytes] | None:
        hit = self._answers.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.seconds:
            return hit
        return None

    async def _compute(self, key: tuple[str, bytes], scope: dict, receive: Callable, send: Callable) -> None:
        started = time.monotonic()
        start: dict = {}
        chunks: list[bytes] = []

        async def capture(message: dict) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                if message["status"] == 200:
                    message = {
                        **message,
                        "headers": [*message.get("headers", []), (b"cache-control", self.control)],
                    }
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, capture)
        if start.get("status") == 200:
            self._answers[key] = (
                started,
                [*start.get("headers", []), (b"cache-control", self.control)],
                b"".join(chunks),
            )
            self._answers.move_to_end(key)
            while len(self._answers) > self.max_entries:
                self._answers.popitem(last=False)
