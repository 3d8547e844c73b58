"""One enqueue of the SQLite store inside the caller's transaction (`_enqueue_in`): the dedupe
check, the job row, its first transition, and the schedule state of a scheduler fire.

`SqliteStore.enqueue` and `enqueue_many` (a bulk retry, all-or-nothing) run it in their own
transaction; kept out of `sqlite.py` so that module is the connection and the dispatch path.
`find_duplicate`, `insert_job` and `_dumps` (the JSON encoding of stored payloads and contexts)
are shared with `pg_enqueue`, which runs them with PostgreSQL's named queries.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import datetime
from typing import Any

from ductile.jobs import EnqueueResult, NewJob, ScheduleState
from ductile.lifecycle import Status
from ductile.store import queries
from ductile.timeutil import to_text

Q = queries.load("sqlite")


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def find_duplicate(
    db: Any, q: dict[str, str], job: NewJob, dedupe_since: datetime | None
) -> EnqueueResult | None:
    """The job `job.dedupe_key` already names: an active one, else one that succeeded since
    `dedupe_since`. Both stores run it with their own named queries (`q`)."""
    key = {"dedupe_key": job.dedupe_key, "plugin": job.plugin, "command": job.command}
    row = db.execute(q["find_duplicate_active"], key).fetchone()
    if row is None and dedupe_since is not None:
        row = db.execute(q["find_duplicate_succeeded"], {**key, "since": to_text(dedupe_since)}).fetchone()
    if row is None:
        return None
    return EnqueueResult(job_id=row["job_id"], created=False, status=Status(row["status"]))


def insert_job(db: Any, q: dict[str, str], job: NewJob, job_id: str, stamp: str) -> EnqueueResult:
    """The queued job row and its first transition (both stores, their own named queries)."""
    db.execute(
        q["insert_job"],
        {
            "job_id": job_id,
            "plugin": job.plugin,
            "command": job.command,
            "payload": _dumps(job.payload),
            "max_attempts": job.max_attempts,
            "submitted_by": job.submitted_by,
            "dedupe_key": job.dedupe_key,
            "created_at": stamp,
            "parent_job_id": job.parent_job_id,
            "context": _dumps(job.context),
            "source_event_id": job.source_event_id,
            "event_context_id": job.event_context_id,
            "route_key": job.route_key,
            "pipeline": job.pipeline,
            "step_id": job.step_id,
        },
    )
    if job.retry_of is not None:
        db.execute(q["set_retry_of"], {"retry_of": job.retry_of, "job_id": job_id})
    reason = f"enqueued by {job.submitted_by}" + (f" (retry of {job.retry_of})" if job.retry_of else "")
    db.execute(
        q["insert_transition"],
        {"job_id": job_id, "from_status": None, "to_status": "queued", "reason": reason, "at": stamp},
    )
    return EnqueueResult(job_id=job_id, created=True, status=Status.QUEUED)


def _enqueue_in(
    db: sqlite3.Connection,
    job: NewJob,
    now: datetime,
    dedupe_since: datetime | None,
    enforce_dedupe: bool,
    schedule_state: ScheduleState | None,
) -> EnqueueResult:
    """One enqueue inside the caller's transaction: dedupe check, job row, first transition."""
    if job.dedupe_key and enforce_dedupe:
        duplicate = find_duplicate(db, Q, job, dedupe_since)
        if duplicate is not None:
            return duplicate
    job_id = str(uuid.uuid4())
    result = insert_job(db, Q, job, job_id, to_text(now))
    if schedule_state is not None:
        db.execute(Q["put_schedule_state"], {**schedule_state.__dict__, "last_job_id": job_id})
    return result
