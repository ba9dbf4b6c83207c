"""Waiting in tests: for a condition, a thread or a process, each with a deadline, failing with
what was waited for. No test waits by sleeping a fixed time for something to happen.

Importable from every test directory (tests/ is on `sys.path`: pytest puts the directory of
tests/conftest.py there).
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    what: str,
    condition: Callable[[], T],
    timeout: float = 30.0,
    *,
    interval: float = 0.05,
    check: Callable[[], None] | None = None,
    details: Callable[[], str] | None = None,
) -> T:
    """Polls `condition` every `interval` seconds until it returns something true, and returns
    that. After `timeout` seconds fails with `what` (and `details()`, when given). `check`, when
    given, runs after each false answer and may fail at once (the thing waited for can no
    longer happen)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if check is not None:
            check()
        if time.monotonic() >= deadline:
            message = f"timed out after {timeout:g}s waiting for {what}"
            if details is not None:
                message += f"\n{details()}"
            raise AssertionError(message)
        time.sleep(interval)


def join(*threads: threading.Thread, timeout: float = 30.0) -> None:
    """Joins every thread within `timeout` seconds in all; fails naming those still running."""
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    alive = [thread.name for thread in threads if thread.is_alive()]
    if alive:
        raise AssertionError(f"still running after {timeout:g}s: {', '.join(alive)}")


def wait_exit(process: subprocess.Popen, timeout: float = 30.0, what: str = "the process") -> int:
    """The exit status of `process` once it has exited; fails if it still runs after `timeout`
    seconds (the process is left running: the caller's cleanup stops it)."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{what} (pid {process.pid}) still running after {timeout:g}s") from None


def stop_process(process: subprocess.Popen, timeout: float = 20.0) -> None:
    """Cleanup: SIGTERM, then SIGKILL if it has not exited within `timeout` seconds; returns once
    it has exited either way."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
