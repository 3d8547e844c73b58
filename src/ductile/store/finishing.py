"""The parts of a job's transitions that do not depend on the database: opening a claimed job's
attempt, finishing an attempt (the routing/hook step, the parameters of the attempt and job
updates, the transition's reason, the state write) and cancelling a job.

Both stores (`sqlite.py`, `postgres.py`) finish an attempt the same way and differ only in their
queries and how they learn that the job row was really updated; this module keeps the shared
rule in one place so the two cannot drift.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ductile.jobs import AttemptRecord, Job
from ductile.lifecycle import Decision, Status
from ductile.store.base import STATE_LIMIT, StateChange, StateTooLarge
from ductile.store.breaker import Pending
from ductile.store.routing import SQLITE, Dialect, Routing, fire_hooks, route_completion
from ductile.timeutil import to_text


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def start_attempt(
    db: Any,
    queries: dict[str, str],
    job: Job,
    stamp: str,
    start: Callable[[Job], int | None] | None,
    node_id: str | None = None,
) -> Job:
    """Open the attempt of a job a claim just took (both stores' claim, inside its transaction):
    `start` spawns the plugin here, so its pid goes on the attempt row in the same commit.
    PostgreSQL passes its `node_id` (the node that holds the attempt); SQLite has no column."""
    pid = start(job) if start is not None else None  # spawns the plugin inside this transaction
    params = {
        "job_id": job.job_id,
        "attempt": job.attempt,
        "plugin": job.plugin,
        "command": job.command,
        "submitted_by": job.submitted_by,
        "started_at": stamp,
        "pid": pid,
    }
    if node_id is not None:
        params["node_id"] = node_id
    db.execute(queries["insert_attempt_started"], params)
    db.execute(
        queries["insert_transition"],
        {
            "job_id": job.job_id,
            "from_status": "queued",
            "to_status": "running",
            "reason": f"attempt {job.attempt} started",
            "at": stamp,
        },
    )
    return job


def route_and_hook(
    db: Any, job: Job, decision: Decision, routing: Routing, now: datetime, dialect: Dialect = SQLITE
) -> Decision:
    """Route a success's events and fire hooks (pipelines.md §3.1); a routing error turns the
    decision into `failed` with no retry and no hooks (§3.1.3). Returns the decision to record."""
    if decision.status is Status.SUCCEEDED:
        routing.error = route_completion(db, job, routing, now, dialect)
        if routing.error is not None:
            return Decision(Status.FAILED, last_error=routing.error)
    fire_hooks(db, job, decision, routing, now, dialect)
    return decision


def attempt_params(job: Job, record: AttemptRecord, decision: Decision) -> dict[str, Any]:
    """`finish_attempt`'s parameters."""
    return {
        "job_id": job.job_id,
        "attempt": job.attempt,
        "completed_at": record.completed_at,
        "outcome": record.outcome,
        "status": decision.status.value,
        "response": _dumps(record.response),
        "error": record.error,
        "logs": _dumps(record.logs),
        "stderr": record.stderr,
        "exit_code": record.exit_code,
        "duration_ms": record.duration_ms,
    }


def job_params(job: Job, decision: Decision, stamp: str) -> dict[str, Any]:
    """The job row update's parameters: back to queued for a retry, else the terminal status."""
    if decision.retrying:
        return {
            "job_id": job.job_id,
            "next_retry_at": to_text(decision.next_retry_at) if decision.next_retry_at else None,
            "last_error": decision.last_error,
        }
    return {
        "job_id": job.job_id,
        "status": decision.status.value,
        "now": stamp,
        "last_error": decision.last_error,
        "from_status": job.status.value,
    }


def transition_reason(job: Job, record: AttemptRecord, decision: Decision) -> str:
    """`attempt 2 error; retry as attempt 3 at …`, or `attempt 3 error: <the error>`."""
    reason = f"attempt {job.attempt} {record.outcome}"
    if decision.retrying:
        reason += f"; retry as attempt {job.attempt + 1}"
        if decision.next_retry_at is not None:
            reason += f" at {to_text(decision.next_retry_at)}"
    elif decision.last_error and decision.status is not Status.SUCCEEDED:
        reason += f": {decision.last_error[:200]}"
    return reason


def record_end(
    db: Any,
    queries: dict[str, str],
    job: Job,
    decision: Decision,
    reason: str,
    stamp: str,
    events: list[dict[str, Any]] | None,
) -> None:
    """The transition row and the stored events of a finished attempt, in the finish's transaction."""
    db.execute(
        queries["insert_transition"],
        {
            "job_id": job.job_id,
            "from_status": job.status.value,
            "to_status": decision.status.value,
            "reason": reason,
            "at": stamp,
        },
    )
    for event in events or []:
        db.execute(
            queries["insert_event"],
            {
                "job_id": job.job_id,
                "instance": job.plugin,
                "type": event["type"],
                "payload": _dumps(event.get("payload")),
                "dedupe_key": event.get("dedupe_key"),
                "now": stamp,
                "event_id": event.get("event_id"),
            },
        )


def apply_state(db: Any, queries: dict[str, str], job: Job, change: StateChange, stamp: str, lock: str = "") -> None:
    """Merge (or replace) an instance's state with a finishing job's change and store it. `lock`
    is appended to the read of the current state: PostgreSQL passes ` FOR UPDATE` so two nodes
    finishing jobs of one instance merge one after the other."""
    if change.replace:
        merged = dict(change.data)
    else:
        row = db.execute(queries["get_state"].rstrip(";") + lock, {"instance": job.plugin}).fetchone()
        merged = json.loads(row["state"]) if row else {}
        merged.update(change.data)
    write_state(db, queries, job, change, merged, stamp)


def write_state(
    db: Any, queries: dict[str, str], job: Job, change: StateChange, merged: dict[str, Any], stamp: str
) -> None:
    """Store an instance's new state (already merged by the caller, which reads it its own way:
    PostgreSQL locks the row) and the change's fact, refusing state over `STATE_LIMIT`."""
    text = _dumps(merged) or "{}"
    if len(text.encode()) > STATE_LIMIT:
        raise StateTooLarge(
            f"state of {job.plugin} would be {len(text.encode())} bytes after this job's state_updates "
            f"(limit {STATE_LIMIT} bytes); state left unchanged"
        )
    db.execute(queries["put_state"], {"instance": job.plugin, "state": text, "now": stamp, "job_id": job.job_id})
    if change.fact_type:
        db.execute(
            queries["insert_fact"],
            {
                "instance": job.plugin,
                "fact_type": change.fact_type,
                "job_id": job.job_id,
                "data": _dumps(change.data),
                "now": stamp,
            },
        )


def cancel(
    db: Any,
    queries: dict[str, str],
    breaker: Pending,
    to_job: Callable[[Any], Job],
    job_id: str,
    reason: str,
    now: datetime,
    lock: str = "",
) -> Job | None:
    """Cancel a job inside the caller's transaction (both stores' `cancel`): a queued or running
    job becomes `dead` (a running one's attempt is closed as `cancelled`), anything else is
    returned as it is; None if there is no such job. `lock` is appended to the job read
    (PostgreSQL passes ` FOR UPDATE` so a concurrent finish on another node waits)."""
    stamp = to_text(now)
    row = db.execute(queries["get_job"].rstrip(";") + lock, {"job_id": job_id}).fetchone()
    if row is None:
        return None
    job = to_job(row)
    if job.status not in (Status.QUEUED, Status.RUNNING):
        return job
    db.execute(
        queries["job_to_terminal"],
        {"job_id": job_id, "status": "dead", "now": stamp, "last_error": reason, "from_status": job.status.value},
    )
    if job.status is Status.RUNNING:
        db.execute(
            queries["finish_attempt"],
            {
                "job_id": job_id,
                "attempt": job.attempt,
                "completed_at": stamp,
                "outcome": "cancelled",
                "status": "dead",
                "response": None,
                "error": reason,
                "logs": None,
                "stderr": None,
                "exit_code": None,
                "duration_ms": None,
            },
        )
    db.execute(
        queries["insert_transition"],
        {"job_id": job_id, "from_status": job.status.value, "to_status": "dead", "reason": reason, "at": stamp},
    )
    breaker.job_ended(db, job, Status.DEAD, now)
    return to_job(db.execute(queries["get_job"], {"job_id": job_id}).fetchone())
