"""Every schedule health state, judged by the pure `assess` with a controlled clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ductile.scheduler.health import FAILING, LATE, OK, PAUSED, STALE, Evidence, HealthPolicy, assess, interval_of
from ductile.timeutil import to_text

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
POLICY = HealthPolicy(late_after=60, failing_after=3, stale_after=3)


def ev(**kw) -> Evidence:
    base = dict(
        entry_status="active",
        next_fire=NOW + timedelta(seconds=30),
        interval=60.0,
        watched_since=NOW - timedelta(minutes=1),
        last_success_at=to_text(NOW - timedelta(seconds=50)),
    )
    return Evidence(**{**base, **kw})


@pytest.mark.parametrize(
    ("evidence", "state", "reason"),
    [
        (ev(), OK, "on schedule"),
        (ev(last_success_at=None), OK, "no finished run yet"),
        (ev(entry_status="paused_manual", consecutive_failures=9), PAUSED, "paused by an operator"),
        (ev(entry_status="paused_invalid"), PAUSED, "cannot run this entry"),
        (ev(consecutive_failures=3), FAILING, "the last 3 runs failed"),
        (ev(consecutive_failures=2), OK, "on schedule"),
        (ev(next_fire=NOW - timedelta(seconds=61)), LATE, "a slot is 61s overdue"),
        (ev(next_fire=NOW - timedelta(seconds=60)), OK, "on schedule"),  # the tolerance is inclusive
        (ev(last_success_at=to_text(NOW - timedelta(seconds=181))), STALE, "no success since"),
        (ev(last_success_at=to_text(NOW - timedelta(seconds=180))), OK, "on schedule"),
        (ev(last_success_at=None, watched_since=NOW - timedelta(minutes=4)), STALE, "no success since it started"),
        (ev(entry_status="exhausted", next_fire=None, interval=None), OK, "one-shot has run"),
        (ev(entry_status="exhausted", next_fire=None, interval=None, consecutive_failures=3), FAILING, "failed"),
        (ev(interval=None, last_success_at=None, watched_since=NOW - timedelta(days=9)), OK, "no finished run"),
    ],
)
def test_each_state(evidence, state, reason):
    health = assess(evidence, NOW, POLICY)
    assert health.state == state and reason in health.reason
    assert health.unhealthy == (state in (LATE, FAILING, STALE))


def test_precedence_failing_before_late_before_stale():
    everything = ev(
        consecutive_failures=5,
        next_fire=NOW - timedelta(hours=1),
        last_success_at=to_text(NOW - timedelta(days=1)),
    )
    assert assess(everything, NOW, POLICY).state == FAILING
    assert (
        assess(
            ev(next_fire=NOW - timedelta(hours=1), last_success_at=None, watched_since=NOW - timedelta(days=1)),
            NOW,
            POLICY,
        ).state
        == LATE
    )


def test_cron_interval_is_the_gap_between_the_next_two_times():
    nxt = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
    assert interval_of(None, nxt, nxt + timedelta(days=1)) == 86400
    assert interval_of(30.0, nxt, None) == 30.0 and interval_of(None, None, None) is None


@given(
    failures=st.integers(0, 20),
    overdue=st.floats(-3600, 3600),
    since_success=st.floats(0, 100000),
    paused=st.booleans(),
)
def test_paused_always_wins_and_the_state_is_one_of_five(failures, overdue, since_success, paused):
    e = ev(
        entry_status="paused_manual" if paused else "active",
        consecutive_failures=failures,
        next_fire=NOW - timedelta(seconds=overdue),
        last_success_at=to_text(NOW - timedelta(seconds=since_success)),
    )
    state = assess(e, NOW, POLICY).state
    assert state in (OK, LATE, FAILING, STALE, PAUSED)
    assert (state == PAUSED) == paused
    if not paused and failures >= 3:
        assert state == FAILING
