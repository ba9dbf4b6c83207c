"""The one retry policy of the service: exponential backoff with random jitter, computed by
tenacity's `wait_exponential_jitter`.

The n-th consecutive failure waits `initial * 2**(n-1)` seconds plus a random share of up to
half of `initial`, at most `maximum`. Two shapes use it:

* `Backoff`, for a worker loop that runs until it is stopped (the minter, the redemption
  watcher): `next()` after a failure gives the wait, `reset()` after a success;
* `delay(failures, ...)`, for a retry scheduled in the database (a webhook delivery's
  `next_attempt_at`), where the count of failures is stored, not held in memory.

The jitter keeps instances that failed together (a node restart, a bank's endpoint down) from
retrying in step.
"""

from __future__ import annotations

import tenacity

#: The worker loops' policy: 0.5 s after the first failure, at most 30 s.
WORKER_INITIAL_SECONDS = 0.5
WORKER_MAX_SECONDS = 30.0


def _policy(initial: float, maximum: float) -> tenacity.wait_exponential_jitter:
    return tenacity.wait_exponential_jitter(initial=initial, max=maximum, jitter=initial / 2)


def _after(policy: tenacity.wait_exponential_jitter, failures: int) -> float:
    state = tenacity.RetryCallState(retry_object=tenacity.Retrying(), fn=None, args=(), kwargs={})
    state.attempt_number = max(1, failures)
    return policy(state)


def delay(failures: int, *, initial: float, maximum: float) -> float:
    """Seconds to wait after the `failures`-th consecutive failure (1 for the first)."""
    return _after(_policy(initial, maximum), failures)


class Backoff:
    """The wait of a worker loop after consecutive failures; `current` is the last one given
    (0 once reset)."""

    def __init__(self, initial: float = WORKER_INITIAL_SECONDS, maximum: float = WORKER_MAX_SECONDS):
        self._policy = _policy(initial, maximum)
        self.failures = 0
        self.current = 0.0

    def next(self) -> float:
        """Counts a failure; the seconds to wait before the next attempt."""
        self.failures += 1
        self.current = _after(self._policy, self.failures)
        return self.current

    def reset(self) -> None:
        """After a success: the next failure waits `initial` again."""
        self.failures = 0
        self.current = 0.0
