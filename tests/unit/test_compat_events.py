"""Ductile's event names and fields (compat_events), and the one time-window vocabulary (params)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ductile.api import params
from ductile.api.auth import IMPLIES, has_scope
from ductile.compat_events import failure_fields, finished_events
from ductile.jobs import Job
from ductile.lifecycle import Decision, Outcome, Status

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def job(status: Status, *, last_error: str | None = None, submitted_by: str = "api", attempt: int = 1) -> Job:
    return Job(
        job_id="j1",
        plugin="echo",
        command="poll",
        payload=None,
        status=status,
        attempt=attempt,
        max_attempts=3,
        submitted_by=submitted_by,
        dedupe_key=None,
        created_at="2026-11-29T10:00:00.000000Z",
        started_at=None,
        completed_at=None,
        next_retry_at="2026-11-29T10:00:30.000000Z" if status is Status.QUEUED else None,
        last_error=last_error,
        parent_job_id=None,
    )


def events(done: Job, outcome: Outcome, decision: Decision, attempt: int = 1) -> dict[str, dict]:
    found = finished_events(
        done, attempt=attempt, max_attempts=3, outcome=outcome, decision=decision, backoff_base=30.0, duration_ms=5.0
    )
    return dict(found)


def test_retry_scheduled_carries_the_plan() -> None:
    decision = Decision(Status.QUEUED, next_retry_at=NOW, last_error="boom")
    found = events(job(Status.QUEUED, attempt=2), Outcome.ERROR, decision)
    retry = found["job.retry_scheduled"]
    assert retry["backoff_schedule"] == [30000, 60000] and retry["backoff_ms"] == 30000
    assert retry["next_retry_at"] == "2026-11-29T10:00:30.000000Z" and retry["error"] == "boom"
    assert (retry["retry_count"], retry["max_retries"], retry["retry_policy_owner"]) == (1, 2, "core")
    assert "job.retry_exhausted" not in found


@pytest.mark.parametrize(("status", "outcome"), [(Status.FAILED, Outcome.ERROR), (Status.TIMED_OUT, Outcome.TIMEOUT)])
def test_exhausted_retries_say_so(status: Status, outcome: Outcome) -> None:
    done = job(status, last_error="boom (attempt 3 of 3; retries exhausted)", attempt=3)
    found = events(done, outcome, Decision(status, last_error=done.last_error), attempt=3)
    assert found["job.retry_exhausted"] == {
        "attempts": 3,
        "final_error": "boom (attempt 3 of 3; retries exhausted)",
        "reason": "max_attempts_reached",
        "retry_policy_owner": "core",
        "plugin_retry_field": "v2_boundary_compatibility_signal",
    }


def test_a_fatal_error_is_not_an_exhausted_retry() -> None:
    done = job(Status.FAILED, last_error="bad key")
    assert events(done, Outcome.FATAL, Decision(Status.FAILED, last_error="bad key")) == {}
    assert failure_fields(done) == {
        "error": "bad key",
        "message": "Job failed [echo]: bad key",
        "text": "Job failed [echo]: bad key",
    }
    assert failure_fields(job(Status.TIMED_OUT, last_error="slow"))["message"] == "Job timed out [echo]"


def test_success_and_scheduled_polls() -> None:
    done = job(Status.SUCCEEDED, submitted_by="scheduler")
    found = events(done, Outcome.SUCCESS, Decision(Status.SUCCEEDED))
    assert found["job.completed"] == {"duration_ms": 5.0}
    assert found["poll.completed"] == {"outcome": "succeeded", "duration_ms": 5.0}


def test_scope_implications_follow_chains() -> None:
    assert IMPLIES["jobs:rw"] >= {"jobs:ro", "jobs:result:ro", "jobs:logs:ro"}
    assert not has_scope({"plugin:ro"}, "plugin:invoke:ro")
    assert has_scope({"plugin:rw"}, "plugin:invoke:ro") and has_scope({"events:rw"}, "events:payload:ro")
    assert not has_scope({"made:up"}, "made:up:too")


@given(st.sampled_from(params.AFTER_NAMES), st.sampled_from(params.AFTER_NAMES))
def test_one_time_vocabulary(first: str, second: str) -> None:
    same = {first: "2026-11-29T10:00:00Z", second: "2026-11-29T10:00:00+00:00"}
    assert params.window_bound(same, params.AFTER_NAMES, "from") == "2026-11-29T10:00:00.000000Z"
    if first != second:
        with pytest.raises(params.BadParam, match="same bound given twice"):
            params.window_bound(
                {first: "2026-11-29T10:00:00Z", second: "2026-11-30T10:00:00Z"}, params.AFTER_NAMES, "from"
            )
