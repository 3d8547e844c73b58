"""Is this schedule healthy? A pure judgement of one entry's evidence at `now`.

This is the seed card's question — "is `poll:withings` running on schedule, and are its runs
succeeding?" — answered by the system instead of by a person reading rows. The states, in the
order they are decided:

- `paused`  — an operator paused it, or the scheduler cannot run it (`paused_invalid`);
- `failing` — its last `failing_after` finished runs all failed;
- `late`    — a slot is overdue by more than `late_after` (the gateway is not firing it);
- `stale`   — no success within `stale_after` expected intervals (runs are skipped, or hang,
  or never finish);
- `ok`      — none of these (including a one-shot that has run, and a schedule too young to judge).

`failing`, `late` and `stale` are *unhealthy*: `ductile system status` exits non-zero on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ductile.scheduler.health_states import FAILING, LATE, OK, PAUSED, STALE, UNHEALTHY
from ductile.timeutil import from_text


@dataclass(frozen=True)
class HealthPolicy:
    late_after: float = 60.0  # seconds past a slot's fire time
    failing_after: int = 3  # consecutive failed runs
    stale_after: float = 3.0  # expected intervals without a success


@dataclass(frozen=True)
class Evidence:
    """What the judgement looks at; every time is an RFC 3339 text or None."""

    entry_status: str  # active | paused_manual | paused_invalid | exhausted
    next_fire: datetime | None  # when the entry fires next (None: nothing left, or paused)
    interval: float | None  # seconds between slots (None for one-shots)
    watched_since: datetime  # when judging began: the gateway's start or the entry's first fire
    last_success_at: str | None = None
    last_failure_at: str | None = None
    consecutive_failures: int = 0  # finished runs since the last success, newest first


@dataclass(frozen=True)
class Health:
    state: str
    reason: str

    @property
    def unhealthy(self) -> bool:
        return self.state in UNHEALTHY


def assess(e: Evidence, now: datetime, policy: HealthPolicy) -> Health:
    if e.entry_status == "paused_manual":
        return Health(PAUSED, "paused by an operator")
    if e.entry_status == "paused_invalid":
        return Health(PAUSED, "the scheduler cannot run this entry (paused_invalid)")
    if e.consecutive_failures >= policy.failing_after:
        return Health(FAILING, f"the last {e.consecutive_failures} runs failed (failing_after {policy.failing_after})")
    if e.entry_status == "exhausted":
        return Health(OK, "one-shot has run")
    if e.next_fire is not None and (now - e.next_fire).total_seconds() > policy.late_after:
        overdue = int((now - e.next_fire).total_seconds())
        return Health(LATE, f"a slot is {overdue}s overdue (late_after {policy.late_after:g}s)")
    if e.interval:
        window = timedelta(seconds=e.interval * policy.stale_after)
        since = from_text(e.last_success_at) if e.last_success_at else e.watched_since
        if now - since > window:
            what = f"since {e.last_success_at}" if e.last_success_at else "since it started"
            return Health(STALE, f"no success {what} ({policy.stale_after:g} intervals of {e.interval:g}s)")
    return Health(OK, "on schedule" if e.last_success_at else "no finished run yet")


def interval_of(every: float | None, next_fire: datetime | None, after_next: datetime | None) -> float | None:
    """Seconds between slots: `every`, or the gap between the next two cron times."""
    if every:
        return every
    if next_fire is not None and after_next is not None:
        return (after_next - next_fire).total_seconds()
    return None
