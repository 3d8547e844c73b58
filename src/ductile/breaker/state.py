"""The breaker's state machine as pure functions (pipelines.md §8 table), `now` passed in.

Why pure: the store calls these inside the transaction that ends a job, and the scheduler's gate
calls them before an enqueue; both must agree exactly, and property tests can then drive every
sequence of outcomes without a database or a clock.

Ours vs Ductile (O9 and the counting rule): Ductile looks at the single newest scheduler job each
tick, so several failures finishing between two ticks count once. We feed the breaker at each
job's completion, so every terminal failure counts exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"
STATES = (CLOSED, OPEN, HALF_OPEN)

# Transition reasons (the `reason` column of circuit_breaker_transitions).
FAILURE_THRESHOLD = "failure_threshold"
COOLDOWN_ELAPSED = "cooldown_elapsed"
SUCCESS = "success"
MANUAL_RESET = "manual_reset"

CIRCUIT_OPEN = "circuit_open"  # the scheduler's skip reason while a breaker is open

DEFAULT_THRESHOLD = 3
DEFAULT_RESET_AFTER = 30 * 60.0  # seconds


@dataclass(frozen=True)
class Breaker:
    """One `circuit_breakers` row."""

    plugin: str
    command: str
    state: str = CLOSED
    failure_count: int = 0
    opened_at: datetime | None = None
    last_failure_at: datetime | None = None
    last_job_id: str | None = None


@dataclass(frozen=True)
class Change:
    """One `circuit_breaker_transitions` row (and one `scheduler.circuit_state_changed` event)."""

    plugin: str
    command: str
    from_state: str | None
    to_state: str
    failure_count: int
    reason: str
    job_id: str | None


def effective_threshold(threshold: int | None) -> int:
    """Ductile's rule: unset or ≤ 0 means the default (3)."""
    return threshold if threshold is not None and threshold > 0 else DEFAULT_THRESHOLD


def _change(before: Breaker, after: Breaker, reason: str, job_id: str | None) -> Change:
    return Change(after.plugin, after.command, before.state, after.state, after.failure_count, reason, job_id)


def on_outcome(
    breaker: Breaker, *, succeeded: bool, job_id: str, completed_at: datetime, threshold: int
) -> tuple[Breaker, Change | None]:
    """A scheduler-submitted job of this (plugin, command) reached a terminal status.

    `succeeded` is True only for `succeeded`; `failed`, `timed_out` and `dead` are failures.
    A failed trial in `half_open` always re-opens (the trial is what half_open waits for).
    """
    limit = effective_threshold(threshold)
    if succeeded:
        after = replace(
            breaker, state=CLOSED, failure_count=0, opened_at=None, last_failure_at=None, last_job_id=job_id
        )
        return after, (_change(breaker, after, SUCCESS, job_id) if breaker.state != CLOSED else None)
    count = breaker.failure_count + 1
    failed = replace(breaker, failure_count=count, last_failure_at=completed_at, last_job_id=job_id)
    if breaker.state == OPEN:  # a late finisher: still open, the cooldown restarts from it
        return replace(failed, opened_at=completed_at), None
    if breaker.state == HALF_OPEN or count >= limit:
        after = replace(failed, state=OPEN, opened_at=completed_at)
        return after, _change(breaker, after, FAILURE_THRESHOLD, job_id)
    return failed, None


def cooldown_ends(breaker: Breaker, reset_after: float) -> datetime | None:
    """When an open breaker lets the next due run through (None unless open)."""
    if breaker.state != OPEN or breaker.opened_at is None:
        return None
    return breaker.opened_at + timedelta(seconds=reset_after)


def on_due(breaker: Breaker, *, now: datetime, reset_after: float) -> tuple[Breaker, Change | None, str | None]:
    """A schedule of this (plugin, command) is due: (new state, transition, skip reason or None).

    open and cooldown elapsed → half_open and the run proceeds; open otherwise → skip
    `circuit_open`. closed and half_open never block (half_open limits nothing itself:
    `if_running` keeps it to one probe at a time by default).
    """
    if breaker.state != OPEN:
        return breaker, None, None
    ends = cooldown_ends(breaker, reset_after)
    if ends is not None and now < ends:
        return breaker, None, CIRCUIT_OPEN
    after = replace(breaker, state=HALF_OPEN)
    return after, _change(breaker, after, COOLDOWN_ELAPSED, breaker.last_job_id), None


def on_reset(breaker: Breaker | None, *, plugin: str, command: str) -> tuple[Breaker, Change]:
    """Operator reset: closed, count 0; always recorded (from_state None when there was no row)."""
    before_state = breaker.state if breaker is not None else None
    base = breaker or Breaker(plugin, command)
    after = replace(base, state=CLOSED, failure_count=0, opened_at=None, last_failure_at=None)
    return after, Change(plugin, command, before_state, CLOSED, 0, MANUAL_RESET, None)
