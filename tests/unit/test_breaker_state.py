"""The breaker state machine (pipelines.md §8 table) as pure functions: table rows one by one,
then properties over arbitrary sequences of outcomes, due checks and resets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ductile.breaker.state import (
    CIRCUIT_OPEN,
    CLOSED,
    COOLDOWN_ELAPSED,
    FAILURE_THRESHOLD,
    HALF_OPEN,
    MANUAL_RESET,
    OPEN,
    SUCCESS,
    Breaker,
    effective_threshold,
    on_due,
    on_outcome,
    on_reset,
)

T0 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def fail(b: Breaker, job: str, at: datetime, threshold: int = 3):
    return on_outcome(b, succeeded=False, job_id=job, completed_at=at, threshold=threshold)


def ok(b: Breaker, job: str, at: datetime, threshold: int = 3):
    return on_outcome(b, succeeded=True, job_id=job, completed_at=at, threshold=threshold)


def test_closed_counts_failures_below_threshold_without_transition():
    b, change = fail(Breaker("p", "poll"), "j1", T0)
    assert (b.state, b.failure_count, b.last_failure_at, b.last_job_id, change) == (CLOSED, 1, T0, "j1", None)


def test_opens_at_threshold_with_opened_at_the_failing_jobs_completion():
    b = Breaker("p", "poll")
    for i in range(2):
        b, _ = fail(b, f"j{i}", T0 + timedelta(seconds=i))
    b, change = fail(b, "j2", T0 + timedelta(seconds=2))
    assert (b.state, b.failure_count, b.opened_at) == (OPEN, 3, T0 + timedelta(seconds=2))
    assert change is not None
    assert (change.from_state, change.to_state, change.reason, change.failure_count, change.job_id) == (
        CLOSED,
        OPEN,
        FAILURE_THRESHOLD,
        3,
        "j2",
    )


def test_late_failure_while_open_counts_and_moves_opened_at_without_transition():
    b = Breaker("p", "poll", state=OPEN, failure_count=3, opened_at=T0)
    b, change = fail(b, "late", T0 + timedelta(minutes=5))
    assert (b.state, b.failure_count, b.opened_at, change) == (OPEN, 4, T0 + timedelta(minutes=5), None)


def test_due_while_cooling_down_skips_and_after_cooldown_half_opens():
    b = Breaker("p", "poll", state=OPEN, failure_count=3, opened_at=T0, last_job_id="j2")
    same, change, reason = on_due(b, now=T0 + timedelta(seconds=29), reset_after=30)
    assert (same, change, reason) == (b, None, CIRCUIT_OPEN)
    half, change, reason = on_due(b, now=T0 + timedelta(seconds=30), reset_after=30)
    assert reason is None and half.state == HALF_OPEN and half.failure_count == 3
    assert change is not None
    assert (change.from_state, change.to_state, change.reason, change.job_id) == (
        OPEN,
        HALF_OPEN,
        COOLDOWN_ELAPSED,
        "j2",
    )


def test_half_open_and_closed_never_block():
    for state in (CLOSED, HALF_OPEN):
        b = Breaker("p", "poll", state=state, failure_count=5)
        assert on_due(b, now=T0, reset_after=1e9) == (b, None, None)


def test_success_closes_from_half_open_and_clears():
    b = Breaker("p", "poll", state=HALF_OPEN, failure_count=3, opened_at=T0, last_failure_at=T0)
    b, change = ok(b, "trial", T0 + timedelta(minutes=31))
    assert (b.state, b.failure_count, b.opened_at, b.last_failure_at) == (CLOSED, 0, None, None)
    assert change is not None and (change.from_state, change.to_state, change.reason) == (HALF_OPEN, CLOSED, SUCCESS)


def test_success_while_closed_resets_count_without_transition():
    b, change = ok(Breaker("p", "poll", failure_count=2), "j", T0)
    assert (b.state, b.failure_count, change) == (CLOSED, 0, None)


def test_failed_trial_reopens():
    b = Breaker("p", "poll", state=HALF_OPEN, failure_count=3, opened_at=T0)
    b, change = fail(b, "trial", T0 + timedelta(minutes=31))
    assert (b.state, b.failure_count, b.opened_at) == (OPEN, 4, T0 + timedelta(minutes=31))
    assert change is not None and (change.from_state, change.reason) == (HALF_OPEN, FAILURE_THRESHOLD)


def test_manual_reset_always_recorded_and_from_none_without_row():
    b, change = on_reset(None, plugin="p", command="poll")
    assert (b.state, b.failure_count) == (CLOSED, 0)
    assert (change.from_state, change.to_state, change.reason, change.failure_count) == (None, CLOSED, MANUAL_RESET, 0)
    b, change = on_reset(Breaker("p", "poll"), plugin="p", command="poll")
    assert (change.from_state, change.to_state) == (CLOSED, CLOSED)
    b, change = on_reset(Breaker("p", "poll", state=OPEN, failure_count=9, opened_at=T0), plugin="p", command="poll")
    assert (b.state, b.failure_count, b.opened_at, change.from_state) == (CLOSED, 0, None, OPEN)


def test_threshold_at_or_below_zero_means_three():
    assert [effective_threshold(t) for t in (None, -1, 0, 1, 7)] == [3, 3, 3, 1, 7]
    b = Breaker("p", "poll")
    for i in range(3):
        b, _ = fail(b, f"j{i}", T0, threshold=0)
    assert b.state == OPEN


# -- properties -----------------------------------------------------------------------------

STEP = st.one_of(
    st.tuples(st.just("fail"), st.integers(0, 120)),
    st.tuples(st.just("ok"), st.integers(0, 120)),
    st.tuples(st.just("due"), st.integers(0, 120)),
    st.tuples(st.just("reset"), st.integers(0, 120)),
)


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(STEP, max_size=60), threshold=st.integers(-2, 6), reset_after=st.integers(1, 90))
def test_any_sequence_keeps_the_invariants(steps, threshold, reset_after):
    b = Breaker("p", "poll")
    now = T0
    consecutive = 0  # failures since the last success or reset: what the breaker must count
    limit = effective_threshold(threshold)
    for n, (kind, gap) in enumerate(steps):
        now += timedelta(seconds=gap)
        before = b
        if kind == "fail":
            b, change = fail(b, f"j{n}", now, threshold)
            consecutive += 1
            assert b.failure_count == consecutive
            if before.state == CLOSED:
                assert (b.state == OPEN) == (consecutive >= limit)
            else:  # open stays open; a failed half-open trial re-opens
                assert b.state == OPEN and b.opened_at == now
        elif kind == "ok":
            b, change = ok(b, f"j{n}", now, threshold)
            consecutive = 0
            assert (b.state, b.failure_count, b.opened_at) == (CLOSED, 0, None)
            assert (change is not None) == (before.state != CLOSED)
        elif kind == "due":
            b, change, reason = on_due(b, now=now, reset_after=reset_after)
            assert b.failure_count == before.failure_count
            if before.state == OPEN and before.opened_at is not None:
                cooled = now >= before.opened_at + timedelta(seconds=reset_after)
                assert (reason == CIRCUIT_OPEN) == (not cooled)
                assert b.state == (HALF_OPEN if cooled else OPEN)
            else:
                assert reason is None and b == before
        else:
            b, change = on_reset(b, plugin="p", command="poll")
            consecutive = 0
            assert change.reason == MANUAL_RESET and b.state == CLOSED
        # every state change comes with exactly one transition naming both ends
        if b.state != before.state:
            assert change is not None and (change.from_state, change.to_state) == (before.state, b.state)
        assert b.failure_count >= 0
        assert (b.opened_at is not None) == (b.state in (OPEN, HALF_OPEN))
