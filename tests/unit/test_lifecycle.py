"""The status rule of runtime.md §2, branch by branch, with `now` and the random draw pinned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ductile.lifecycle import (
    LEGAL_TRANSITIONS,
    Outcome,
    Status,
    backoff_seconds,
    decide,
    parse_status_filter,
)

NOW = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)


def run(outcome: Outcome, attempt: int, max_attempts: int = 4, base: float = 30.0, draw: float = 0.0, error="boom"):
    return decide(
        outcome, attempt=attempt, max_attempts=max_attempts, backoff_base=base, now=NOW, draw=draw, error=error
    )


def test_success_is_succeeded_without_error_or_retry():
    decision = run(Outcome.SUCCESS, attempt=1)
    assert decision.status is Status.SUCCEEDED
    assert decision.next_retry_at is None
    assert decision.last_error is None
    assert not decision.retrying


@pytest.mark.parametrize("attempt", [1, 2, 4])
def test_fatal_is_failed_on_any_attempt_and_never_retried(attempt):
    decision = run(Outcome.FATAL, attempt=attempt, error="plugin exited 78")
    assert decision.status is Status.FAILED
    assert decision.last_error == "plugin exited 78"
    assert decision.next_retry_at is None


def test_retryable_error_with_attempts_left_requeues_with_backoff():
    decision = run(Outcome.ERROR, attempt=1, base=30.0, draw=0.0)
    assert decision.status is Status.QUEUED
    assert decision.retrying
    assert decision.next_retry_at == NOW + timedelta(seconds=30)
    assert decision.last_error == "boom"


def test_backoff_doubles_per_attempt_and_jitter_is_at_most_a_quarter_of_base():
    assert [backoff_seconds(a, 10.0, 0.0) for a in (1, 2, 3, 4)] == [10.0, 20.0, 40.0, 80.0]
    assert backoff_seconds(1, 10.0, 0.999) == pytest.approx(10.0 + 2.4975)
    assert backoff_seconds(3, 8.0, 0.5) == 8.0 * 4 + 1.0
    # even the largest jitter on attempt n stays below the smallest delay of attempt n+1
    for attempt in (1, 2, 3):
        assert backoff_seconds(attempt, 10.0, 0.999999) < backoff_seconds(attempt + 1, 10.0, 0.0)


def test_retry_delays_grow_through_decide():
    delays = [
        (run(Outcome.ERROR, attempt=a, max_attempts=5, base=2.0).next_retry_at - NOW).total_seconds()
        for a in (1, 2, 3, 4)
    ]
    assert delays == [2.0, 4.0, 8.0, 16.0]


def test_retryable_error_on_last_attempt_is_failed_saying_retries_ran_out():
    """As Ductile's code: exhausted retries end in `failed`, never `dead` (A17)."""
    decision = run(Outcome.ERROR, attempt=4, max_attempts=4, error="still broken")
    assert decision.status is Status.FAILED
    assert decision.last_error == "still broken (attempt 4 of 4; retries exhausted)"
    assert decision.next_retry_at is None


def test_timeout_with_attempts_left_retries_and_on_last_attempt_is_timed_out():
    retry = run(Outcome.TIMEOUT, attempt=1, max_attempts=2, base=1.0)
    assert retry.status is Status.QUEUED
    assert retry.next_retry_at == NOW + timedelta(seconds=1)
    final = run(Outcome.TIMEOUT, attempt=2, max_attempts=2, error="timed out")
    assert final.status is Status.TIMED_OUT
    assert final.last_error == "timed out (attempt 2 of 2; retries exhausted)"


def test_single_attempt_budget_means_no_retry():
    only = run(Outcome.ERROR, attempt=1, max_attempts=1, error="boom")
    assert only.status is Status.FAILED
    assert only.last_error == "boom (attempt 1 of 1; no retries configured)"
    assert run(Outcome.TIMEOUT, attempt=1, max_attempts=1).status is Status.TIMED_OUT


def test_abandoned_requeues_immediately_or_is_dead_with_reason():
    again = run(Outcome.ABANDONED, attempt=1, max_attempts=3, base=60.0, draw=0.9)
    assert again.status is Status.QUEUED
    assert again.next_retry_at == NOW  # recovery does not wait out a backoff
    last = run(Outcome.ABANDONED, attempt=3, max_attempts=3, error=None)
    assert last.status is Status.DEAD
    assert "crash recovery" in last.last_error


def test_legal_transitions_match_the_spec():
    assert (Status.QUEUED, Status.RUNNING) in LEGAL_TRANSITIONS
    assert (Status.RUNNING, Status.QUEUED) in LEGAL_TRANSITIONS
    assert (Status.QUEUED, Status.DEAD) in LEGAL_TRANSITIONS
    assert (Status.SUCCEEDED, Status.QUEUED) not in LEGAL_TRANSITIONS
    assert (Status.QUEUED, Status.SUCCEEDED) not in LEGAL_TRANSITIONS


def test_status_filter_aliases_lists_and_errors():
    assert parse_status_filter("pending") == [Status.QUEUED]
    assert parse_status_filter("ok,error") == [Status.SUCCEEDED, Status.FAILED]
    assert parse_status_filter("failed, dead,failed") == [Status.FAILED, Status.DEAD]
    with pytest.raises(ValueError, match=r"unknown status 'bogus' \(accepted: queued, running"):
        parse_status_filter("bogus")
    with pytest.raises(ValueError, match="empty status"):
        parse_status_filter("failed,")
