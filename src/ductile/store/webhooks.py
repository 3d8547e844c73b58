"""The webhook enqueue: one transaction that decides "new delivery or redelivery" and inserts.

A webhook job differs from an API job in two ways the generic `enqueue` does not cover:

- its payload is the request body **verbatim** (pipelines.md §7.3 step 5): the caller hands the
  column text (`ductile.webhooks.event.describe`), never a value to re-serialise;
- with a delivery id (§7.6), a job of the same (plugin, handle, `webhook:<path>:<id>`) created
  within the delivery TTL *in any status* makes this a redelivery: its id is returned and nothing
  is written. The look-up and the insert share one `BEGIN IMMEDIATE` transaction, so two
  identical deliveries arriving together produce one job, never two.

Then the usual queue dedupe applies to the key (an active job, or one succeeded within
`service.dedupe_ttl`), exactly as `SqliteStore.enqueue` does.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ductile.jobs import EnqueueResult
from ductile.lifecycle import Status
from ductile.store import queries
from ductile.timeutil import to_text

Q = queries.load("sqlite")


@dataclass(frozen=True)
class WebhookJob:
    plugin: str
    payload_text: str | None  # the payload column text, already JSON (or None for an empty body)
    submitted_by: str  # "webhook:<request path>"
    max_attempts: int
    dedupe_key: str | None = None  # "webhook:<path>:<delivery id>" when the endpoint dedupes
    command: str = "handle"


def _new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Delivery:
    """One `enqueue_webhook` call's arguments, for a store's `enqueue_webhooks` (a burst).

    `job_id` is chosen before the write, so the writer can tell after a failed burst whether
    the burst's commit happened after all (a connection lost during COMMIT): the job is then
    found by that id instead of being inserted a second time."""

    job: WebhookJob
    now: datetime
    delivery_since: datetime | None
    dedupe_since: datetime | None
    job_id: str = field(default_factory=_new_id)


def enqueue_deliveries(db: Any, batch: list[Delivery], q: Mapping[str, str] = Q) -> list[EnqueueResult]:
    """A burst inside the caller's one transaction, in the order given: a redelivery later in
    the burst finds the job inserted earlier in it (the look-up sees the transaction's own
    rows), and gets that job's id. Both stores' `enqueue_webhooks` run this; PostgreSQL takes
    every dedupe key's advisory lock first."""
    return [
        enqueue_delivery(
            db, d.job, now=d.now, delivery_since=d.delivery_since, dedupe_since=d.dedupe_since, q=q, job_id=d.job_id
        )
        for d in batch
    ]


def enqueue_delivery(
    db: Any,
    job: WebhookJob,
    *,
    now: datetime,
    delivery_since: datetime | None,
    dedupe_since: datetime | None,
    q: Mapping[str, str] = Q,
    job_id: str | None = None,
) -> EnqueueResult:
    """Inside the caller's write transaction: the redelivered job, or a new queued one (with
    `job_id` when given). `q` is the store's named queries (SQLite's by default; `PostgresStore`
    passes its own, having taken the dedupe key's advisory lock so two nodes cannot both insert)."""
    if job.dedupe_key:
        key = {"dedupe_key": job.dedupe_key, "plugin": job.plugin, "command": job.command}
        row = None
        if delivery_since is not None:
            row = db.execute(q["webhook_delivery_seen"], {**key, "since": to_text(delivery_since)}).fetchone()
        if row is None:
            row = db.execute(q["find_duplicate_active"], key).fetchone()
        if row is None and dedupe_since is not None:
            row = db.execute(q["find_duplicate_succeeded"], {**key, "since": to_text(dedupe_since)}).fetchone()
        if row is not None:
            return EnqueueResult(job_id=row[0], created=False, status=Status(row[1]))
    job_id = job_id or _new_id()
    stamp = to_text(now)
    db.execute(
        q["insert_job"],
        {
            "job_id": job_id,
            "plugin": job.plugin,
            "command": job.command,
            "payload": job.payload_text,
            "max_attempts": job.max_attempts,
            "submitted_by": job.submitted_by,
            "dedupe_key": job.dedupe_key,
            "created_at": stamp,
            "parent_job_id": None,
            "context": None,
            "source_event_id": None,
            "event_context_id": None,
            "route_key": None,
            "pipeline": None,
            "step_id": None,
        },
    )
    db.execute(
        q["insert_transition"],
        {
            "job_id": job_id,
            "from_status": None,
            "to_status": "queued",
            "reason": f"enqueued by {job.submitted_by}",
            "at": stamp,
        },
    )
    return EnqueueResult(job_id=job_id, created=True, status=Status.QUEUED)
