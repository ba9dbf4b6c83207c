"""The one retry policy (service/retry.py): exponential, jittered, capped, reset by a success."""

import random

import pytest

from service import retry


@pytest.mark.parametrize("initial,maximum", [(0.5, 30.0), (2.0, 3600.0)])
def test_delay_doublesWithJitterUpToTheCap(initial, maximum):
    for failures in range(1, 40):
        base = initial * 2 ** (failures - 1)
        got = retry.delay(failures, initial=initial, maximum=maximum)
        if base + initial / 2 <= maximum:
            assert base <= got <= base + initial / 2
        else:
            assert min(base, maximum) <= got <= maximum
    assert retry.delay(200, initial=initial, maximum=maximum) == maximum


def test_delay_isJittered():
    random.seed(7)
    waits = {retry.delay(3, initial=2.0, maximum=3600.0) for _ in range(50)}
    assert len(waits) > 40  # not one fixed schedule that instances would share


def test_backoff_growsOnFailuresAndResetsOnSuccess():
    backoff = retry.Backoff()
    assert backoff.current == 0.0
    waits = [backoff.next() for _ in range(10)]
    assert waits[0] <= retry.WORKER_INITIAL_SECONDS * 1.5
    assert all(a < b for a, b in zip(waits[:5], waits[1:6], strict=True))
    assert waits[-1] == backoff.current == retry.WORKER_MAX_SECONDS
    backoff.reset()
    assert (backoff.failures, backoff.current) == (0, 0.0)
    assert backoff.next() <= retry.WORKER_INITIAL_SECONDS * 1.5
