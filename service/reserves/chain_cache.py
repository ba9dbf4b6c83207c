"""The chain view of the public answers, cached: read by one background thread, served to every
public request without a JSON-RPC call.

`ChainViewCache(read, ...)` calls `read()` every `interval` seconds (`run`, a thread of the API
process) and keeps the last view it returned with when it was read (`as_of`) and at which block.
`read()` returns the view (a dict with "block", "supply_units", "attestation" and the paused
flags), or None when no chain is configured; it raises when the node cannot be read, and the
cache then keeps serving its last view. `snapshot()` says how old that view is and flags it
`stale` once the last successful read is older than `stale_after` seconds (or none ever
succeeded). docs/public-ledger.md describes the fields.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CachedView:
    """What a public request reads: the view (None: no chain configured, or never read) and its
    age. `as_of` is the wall-clock time of the read that produced `view`."""

    view: dict | None
    as_of: dt.datetime | None
    block: int | None
    age_ms: int | None
    stale: bool
    failing_since: dt.datetime | None

    def fields(self) -> dict:
        """The cache fields of a public answer."""
        return {
            "as_of": self.as_of.isoformat(timespec="milliseconds") if self.as_of else None,
            "as_of_block": self.block,
            "cache_age_ms": self.age_ms,
            "stale": self.stale,
        }


class ChainViewCache:
    def __init__(
        self,
        read: Callable[[], dict | None],
        *,
        interval: float,
        stale_after: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.read = read
        self.interval = interval
        self.stale_after = stale_after
        self.monotonic = monotonic
        self.reads = 0  # successful and failed calls of `read` (tests, bench)
        self._lock = threading.Lock()
        self._view: dict | None = None
        self._as_of: dt.datetime | None = None
        self._read_at: float | None = None  # monotonic time of the last successful read
        self._failing_since: dt.datetime | None = None
        self._configured = True

    def refresh(self) -> bool:
        """One read of the chain; True when it succeeded (the view is replaced)."""
        self.reads += 1
        try:
            view = self.read()
        except Exception as exc:  # noqa: BLE001 - node down or slow: keep serving the last view
            with self._lock:
                if self._failing_since is None:
                    self._failing_since = dt.datetime.now(dt.UTC)
                    log.warning("public chain view: refresh failed (%s)", type(exc).__name__)
            return False
        with self._lock:
            self._view = view
            self._configured = view is not None
            self._as_of = dt.datetime.now(dt.UTC)
            self._read_at = self.monotonic()
            self._failing_since = None
        return True

    def snapshot(self) -> CachedView:
        with self._lock:
            view, as_of, read_at = self._view, self._as_of, self._read_at
            failing_since, configured = self._failing_since, self._configured
        age = None if read_at is None else self.monotonic() - read_at
        if not configured and failing_since is None:
            # no chain configured: the answer is the ledger's alone, and that is not stale
            return CachedView(None, as_of, None, _ms(age), False, None)
        stale = age is None or age > self.stale_after
        block = None if view is None else view.get("block")
        return CachedView(view, as_of, block, _ms(age), stale, failing_since)

    def run(self, stop: threading.Event) -> None:
        """Refreshes every `interval` seconds until `stop` is set."""
        while not stop.wait(self.interval):
            self.refresh()


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else max(0, int(seconds * 1000))
