"""Ductile's event names and fields, published beside ours on the same hub.

Pure: given what the dispatcher just decided, which extra (name, fields) pairs a Ductile client
listening on /events expects. Our own names (`job.succeeded`, `job.retrying`, `job.dead`,
`scheduler.fired`) stay, so the monitor and existing clients keep working.
"""

from __future__ import annotations

from typing import Any

from ductile.jobs import Job
from ductile.lifecycle import Decision, Outcome, Status

POLICY = {"retry_policy_owner": "core", "plugin_retry_field": "v2_boundary_compatibility_signal"}


def failure_fields(job: Job) -> dict[str, Any]:
    """`error`, `message`, `text` on job.failed / job.timed_out, worded as Ductile words them."""
    error = (job.last_error or "")[:500]
    if job.status is Status.TIMED_OUT:
        message = f"Job timed out [{job.plugin}]"
    else:
        message = f"Job failed [{job.plugin}]: {error}"
    return {"error": error, "message": message, "text": message}


def is_scheduled_poll(job: Job) -> bool:
    return job.submitted_by == "scheduler" and job.command == "poll"


def finished_events(
    done: Job,
    *,
    attempt: int,
    max_attempts: int,
    outcome: Outcome,
    decision: Decision,
    backoff_base: float,
    duration_ms: float | None,
) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    if done.status is Status.SUCCEEDED:
        out.append(("job.completed", {"duration_ms": duration_ms}))
    elif done.status is Status.QUEUED and decision.next_retry_at is not None:
        schedule = [int(backoff_base * 2 ** (n - 1) * 1000) for n in range(1, max_attempts)]
        out.append(
            (
                "job.retry_scheduled",
                {
                    "attempt": attempt,
                    "max_attempts": max_attempts,
                    "retry_count": attempt,
                    "max_retries": max(0, max_attempts - 1),
                    **POLICY,
                    "backoff_ms": schedule[attempt - 1] if attempt - 1 < len(schedule) else None,
                    "backoff_schedule": schedule,
                    "next_retry_at": done.next_retry_at,
                    "reason": decision.last_error,
                    "error": decision.last_error,
                },
            )
        )
    elif done.status in (Status.FAILED, Status.TIMED_OUT) and outcome is not Outcome.FATAL:
        out.append(
            (
                "job.retry_exhausted",
                {
                    "attempts": attempt,
                    "final_error": decision.last_error,
                    "reason": "max_attempts_reached",
                    **POLICY,
                },
            )
        )
    if is_scheduled_poll(done) and done.status is not Status.QUEUED:
        out.append(("poll.completed", {"outcome": done.status.value, "duration_ms": duration_ms}))
    return out


def recovery_event(job: Job) -> dict[str, Any]:
    """`job.failed {..., recovery: true}` for a job crash recovery ended `dead` (no attempts left),
    with the error Ductile's hook payload carries for the same case (pipelines.md §5.2)."""
    error = f"Job marked dead during crash recovery: max attempts ({job.max_attempts}) reached"
    return {
        "job_id": job.job_id,
        "plugin": job.plugin,
        "command": job.command,
        "status": job.status.value,
        "submitted_by": job.submitted_by,
        "error": error,
        "message": f"Job failed [{job.plugin}]: {error}",
        "text": f"Job failed [{job.plugin}]: {error}",
        "recovery": True,
    }
