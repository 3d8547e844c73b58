"""Job statuses and the one rule that decides what an attempt's outcome does to a job.

Pure: the caller passes `now` and the random draw, so every branch is testable directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Status(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    DEAD = "dead"
    SKIPPED = "skipped"


ACTIVE = frozenset({Status.QUEUED, Status.RUNNING})
TERMINAL = frozenset({Status.SUCCEEDED, Status.FAILED, Status.TIMED_OUT, Status.DEAD, Status.SKIPPED})
ALL_STATUSES = tuple(s.value for s in Status)
STATUS_ALIASES = {"pending": Status.QUEUED, "ok": Status.SUCCEEDED, "error": Status.FAILED}

# (from, to) pairs the store may record; anything else is a bug in the caller.
LEGAL_TRANSITIONS = frozenset(
    {
        (None, Status.QUEUED),
        (Status.QUEUED, Status.RUNNING),
        (Status.RUNNING, Status.SUCCEEDED),
        (Status.RUNNING, Status.FAILED),
        (Status.RUNNING, Status.TIMED_OUT),
        (Status.RUNNING, Status.DEAD),
        (Status.RUNNING, Status.QUEUED),
        (Status.QUEUED, Status.DEAD),
    }
)


class Outcome(StrEnum):
    """What one attempt came to, before the retry policy is applied."""

    SUCCESS = "success"
    ERROR = "error"  # retryable
    FATAL = "fatal"  # error that must not be retried: retry:false or exit 78
    TIMEOUT = "timeout"
    ABANDONED = "abandoned"  # the gateway died while the attempt ran


@dataclass(frozen=True)
class Decision:
    status: Status
    next_retry_at: datetime | None = None
    last_error: str | None = None

    @property
    def retrying(self) -> bool:
        return self.status is Status.QUEUED


def backoff_seconds(attempt: int, backoff_base: float, draw: float) -> float:
    """Delay before attempt `attempt + 1`: base·2^(attempt-1) plus up to base/4 of jitter.

    `draw` is a number in [0, 1) supplied by the caller so tests can pin it.
    """
    return backoff_base * (2 ** (attempt - 1)) + draw * (backoff_base / 4)


def decide(
    outcome: Outcome,
    *,
    attempt: int,
    max_attempts: int,
    backoff_base: float,
    now: datetime,
    draw: float,
    error: str | None = None,
) -> Decision:
    """The status rule from the runtime spec §2, in one place."""
    if outcome is Outcome.SUCCESS:
        return Decision(Status.SUCCEEDED)
    if outcome is Outcome.FATAL:
        return Decision(Status.FAILED, last_error=error)
    attempts_left = attempt < max_attempts
    if attempts_left:
        delay = 0.0 if outcome is Outcome.ABANDONED else backoff_seconds(attempt, backoff_base, draw)
        return Decision(Status.QUEUED, next_retry_at=now + timedelta(seconds=delay), last_error=error)
    if outcome is Outcome.ABANDONED:
        return Decision(Status.DEAD, last_error=error or "abandoned by crash recovery with no attempts left")
    # Exhausted, as Ductile's code ends it: a timeout stays `timed_out`, any other error is `failed`
    # (so `status=error` finds every failure); `dead` is kept for cancel and crash recovery.
    exhausted = exhausted_error(attempt, max_attempts, error)
    if outcome is Outcome.TIMEOUT:
        return Decision(Status.TIMED_OUT, last_error=exhausted)
    return Decision(Status.FAILED, last_error=exhausted)


def exhausted_error(attempt: int, max_attempts: int, error: str | None) -> str:
    """`last_error` of a job whose retries ran out: the error first, then which attempt it was."""
    reason = error or "no error text"
    if max_attempts <= 1:
        return f"{reason} (attempt {attempt} of {max_attempts}; no retries configured)"
    return f"{reason} (attempt {attempt} of {max_attempts}; retries exhausted)"


def parse_status_filter(raw: str) -> list[Status]:
    """`failed,dead` or an alias → statuses. Raises ValueError naming the accepted values."""
    out: list[Status] = []
    for part in raw.split(","):
        name = part.strip().lower()
        if not name:
            raise ValueError(f"empty status in {raw!r} (accepted: {accepted_status_text()})")
        if name in STATUS_ALIASES:
            status = STATUS_ALIASES[name]
        elif name in ALL_STATUSES:
            status = Status(name)
        else:
            raise ValueError(f"unknown status {part.strip()!r} (accepted: {accepted_status_text()})")
        if status not in out:
            out.append(status)
    return out


def accepted_status_text() -> str:
    aliases = ", ".join(f"{k}={v.value}" for k, v in STATUS_ALIASES.items())
    return f"{', '.join(ALL_STATUSES)}; aliases {aliases}; comma-separated for several"
