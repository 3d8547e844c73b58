"""The sign-in failure limiter (ui/throttle.py), with times passed in: the limit, the window
sliding, a success forgetting failures, addresses kept apart, and memory bounded."""

from __future__ import annotations

import pytest

from ductile.ui.throttle import LoginThrottle


def test_the_limit_refuses_until_the_oldest_failure_leaves_the_window() -> None:
    t = LoginThrottle(limit=3, window=60.0)
    for now in (0.0, 10.0, 20.0):
        assert t.retry_after("a", now) is None
        assert t.failed("a", now) == (None if now < 20.0 else 40)  # the third reaches the limit
    assert t.retry_after("a", 20.5) == 40  # the failure at 0 leaves the window at 60
    assert t.retry_after("a", 59.2) == 1
    assert t.retry_after("a", 60.0) is None  # now two failures in the window: one more allowed
    t.failed("a", 60.0)
    assert t.retry_after("a", 61.0) == 9  # 10, 20, 60: the one at 10 leaves at 70


def test_a_success_forgets_the_failures_and_addresses_are_apart() -> None:
    t = LoginThrottle(limit=2, window=60.0)
    t.failed("a", 0.0)
    t.succeeded("a")
    t.failed("a", 1.0)
    assert t.retry_after("a", 1.0) is None
    t.failed("a", 2.0)
    assert t.retry_after("a", 2.0) == 59
    assert t.retry_after("b", 2.0) is None


def test_memory_is_bounded_forgetting_the_address_idle_longest() -> None:
    t = LoginThrottle(limit=5, window=60.0, max_clients=100)
    for i in range(1000):
        t.failed(f"10.0.{i // 256}.{i % 256}", float(i) / 100)
    assert len(t) == 100
    t.failed("victim", 10.0)
    for _ in range(50):
        t.failed("victim", 10.0)  # at most `limit` times kept per address
    assert len(t._failures["victim"]) == 5
    assert len(t) == 100
    assert t.retry_after("10.0.0.0", 10.0) is None  # forgotten first
    assert t.retry_after("victim", 10.0) == 60
    assert t.retry_after("victim", 80.0) is None and len(t) == 99  # expired entries go when read


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        LoginThrottle(limit=0)


def test_the_shared_rule_waits_for_the_oldest_of_the_latest_limit_failures() -> None:
    # the rule both throttles apply (the cluster's reads the latest `limit` rows, oldest first)
    from ductile.ui.throttle import wait_for

    assert wait_for([100.0, 110.0], limit=3, window=60.0, now=120.0) is None
    assert wait_for([100.0, 110.0, 115.0], limit=3, window=60.0, now=120.0) == 40
    assert wait_for([90.0, 100.0, 110.0, 115.0], limit=3, window=60.0, now=120.0) == 40  # 90 s is not among them
    assert wait_for([100.0, 110.0, 115.0], limit=3, window=60.0, now=159.9) == 1  # never 0
