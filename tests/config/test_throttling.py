"""Rate limits: a sliding window counted atomically in Redis (config.throttling)."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from config.cache import redis_raw
from config.pages import PageRateThrottle


def _request(user_id: int = 42):
    return SimpleNamespace(user=SimpleNamespace(is_authenticated=True, pk=user_id))


@pytest.fixture
def rates(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "nearby": "5/min"},
    }
    assert redis_raw() is not None, "these tests are about the Redis path"


def test_a_burst_of_parallel_requests_gets_exactly_the_rate(rates):
    # DRF's read-check-write would let most of a simultaneous burst through; the script lets 5.
    start = threading.Barrier(20)
    answers: list[bool] = []

    def attempt() -> None:
        throttle = PageRateThrottle("nearby")
        start.wait()
        answers.append(throttle.allow_request(_request(), None))

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [False] * 15 + [True] * 5
    assert PageRateThrottle("nearby").allow_request(_request(user_id=43), None)  # per person


def test_the_window_slides_refusals_are_not_counted_and_retry_after_says_when(rates):
    def at(seconds: float) -> PageRateThrottle:
        throttle = PageRateThrottle("nearby")
        throttle.timer = lambda: 1_000_000.0 + seconds
        return throttle

    assert all(at(t).allow_request(_request(), None) for t in (0, 1, 2, 3, 4))
    refused = at(10)
    assert not refused.allow_request(_request(), None)
    assert refused.wait() == pytest.approx(50.0)  # the request at t=0 leaves the window at t=60
    assert not at(30).allow_request(_request(), None)
    # Had the refusals at 10 and 30 been counted, the window would still be full at 60.5.
    assert at(60.5).allow_request(_request(), None)
    assert not at(60.6).allow_request(_request(), None)
    assert at(61.5).allow_request(_request(), None)
