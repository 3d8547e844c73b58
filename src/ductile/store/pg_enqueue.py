"""The PostgreSQL store's enqueues and cancels (a mixin of `PostgresStore`): single, bulk
(`enqueue_many` with its audit row), webhook deliveries, pipeline entries, schedule rows.

Kept apart from `postgres.py` (claims and finishes) so each module stays readable. What differs
from SQLite: several nodes write at once, so every dedupe look-up runs under a transaction
advisory lock on its key (two nodes enqueueing the same key cannot both see "no duplicate"), and
a scheduler fire only advances its schedule row when the slot moves forward (a fence between a
new leader and one that has not noticed it lost). Shared logic (webhook dedupe, audit rows) is the
SQLite store's code run with PostgreSQL's named queries.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime
from typing import Any

import psycopg

from ductile.jobs import BulkAction, EnqueueResult, Job, NewJob, ScheduleState
from ductile.lifecycle import Status
from ductile.store import finishing, queries
from ductile.store.breaker import Breakers
from ductile.store.routing import Dialect, EntryJob, insert_entries
from ductile.store.sqlite import _job
from ductile.store.sqlite_actions import insert_bulk_action
from ductile.store.sqlite_enqueue import find_duplicate, insert_job
from ductile.store.webhooks import Delivery, WebhookJob, enqueue_deliveries, enqueue_delivery
from ductile.timeutil import to_text

log = logging.getLogger(__name__)
Q = queries.load("postgres")
PG = Dialect(Q, (psycopg.Error,))
Db = psycopg.Connection[Any]


class PgEnqueue:
    """Needs `_tx`, `_read`, `_notify`, `key` and `breakers` from `PostgresStore`."""

    _tx: Callable[..., AbstractContextManager[Db]]
    _read: Callable[..., list[Any]]
    _notify: Callable[[Db], None]
    key: Callable[[str], str]
    breakers: Breakers

    def _lock_dedupe(self, db: Db, jobs: list[tuple[str, str | None]]) -> None:
        """Take the dedupe-key locks of (plugin, key) pairs in one sorted order, so two bulk
        enqueues of overlapping keys wait for each other instead of deadlocking."""
        for plugin, key in sorted({(p, k) for p, k in jobs if k}):
            db.execute(Q["plugin_claim_lock"], {"key": self.key(f"dedupe:{plugin}:{key}")})

    def enqueue(
        self,
        job: NewJob,
        *,
        now: datetime,
        dedupe_since: datetime | None,
        enforce_dedupe: bool = True,
        schedule_state: ScheduleState | None = None,
    ) -> EnqueueResult:
        with self._tx() as db:
            if enforce_dedupe:
                self._lock_dedupe(db, [(job.plugin, job.dedupe_key)])
            result = self._enqueue_in(db, job, now, dedupe_since, enforce_dedupe, schedule_state)
            if result.created:
                self._notify(db)
        return result

    def enqueue_many(
        self, jobs: list[NewJob], *, now: datetime, dedupe_since: datetime | None, audit: BulkAction | None = None
    ) -> tuple[list[EnqueueResult], int | None]:
        """All enqueues and the audit row in one transaction (all-or-nothing, never unaudited)."""
        with self._tx() as db:
            self._lock_dedupe(db, [(j.plugin, j.dedupe_key) for j in jobs])
            results = [self._enqueue_in(db, job, now, dedupe_since, True, None) for job in jobs]
            if any(r.created for r in results):
                self._notify(db)
            if audit is None:
                return results, None
            created = [r.job_id for r in results if r.created]
            audit = replace(audit, acted=len(created), skipped=audit.matched - len(created), job_ids=created)
            return results, insert_bulk_action(db, audit, now, Q)

    def enqueue_webhook(
        self, job: WebhookJob, *, now: datetime, delivery_since: datetime | None, dedupe_since: datetime | None
    ) -> EnqueueResult:
        with self._tx() as db:
            self._lock_dedupe(db, [(job.plugin, job.dedupe_key)])
            result = enqueue_delivery(db, job, now=now, delivery_since=delivery_since, dedupe_since=dedupe_since, q=Q)
            if result.created:
                self._notify(db)
        return result

    def enqueue_webhooks(self, batch: list[Delivery]) -> list[EnqueueResult]:
        """The webhook writer's burst in one transaction (one commit and one WAL flush, not N),
        as `SqliteStore.enqueue_webhooks`: every dedupe key's advisory lock first, in one sorted
        order (so a burst and another node's enqueue of an overlapping key wait, never deadlock),
        then the deliveries in arrival order; one NOTIFY if any job was created."""
        with self._tx() as db:
            self._lock_dedupe(db, [(d.job.plugin, d.job.dedupe_key) for d in batch])
            results = enqueue_deliveries(db, batch, Q)
            if any(r.created for r in results):
                self._notify(db)
        return results

    def enqueue_entries(self, entries: list[EntryJob], *, now: datetime, submitted_by: str) -> list[str]:
        with self._tx() as db:
            ids = insert_entries(db, entries, now, submitted_by, PG)
            self._notify(db)
            return ids

    def _enqueue_in(
        self,
        db: Db,
        job: NewJob,
        now: datetime,
        dedupe_since: datetime | None,
        enforce_dedupe: bool,
        schedule_state: ScheduleState | None,
    ) -> EnqueueResult:
        """One enqueue inside the caller's transaction (dedupe locks already held)."""
        if job.dedupe_key and enforce_dedupe:
            duplicate = find_duplicate(db, Q, job, dedupe_since)
            if duplicate is not None:
                return duplicate
        job_id = str(uuid.uuid4())
        stamp = to_text(now)
        if schedule_state is not None:
            fired = {**schedule_state.__dict__, "last_job_id": job_id}
            if db.execute(Q["advance_schedule_state"], fired).fetchone() is None:
                # Another node fired this slot (it leads now; this one has not noticed yet), or
                # the entry was paused on another node (the scheduler then takes the pause).
                where = {"instance": schedule_state.instance, "schedule_id": schedule_state.schedule_id}
                last = db.execute(Q["schedule_last_job"], where).fetchone()
                log.warning("schedule row refused the fire (fired or paused by another node)", extra=where)
                return EnqueueResult(job_id=last[0] if last else "", created=False, status=Status.QUEUED)
        return insert_job(db, Q, job, job_id, stamp)

    def cancel(self, job_id: str, *, reason: str, now: datetime) -> Job | None:
        with self.breakers.after_commit() as breaker, self._tx() as db:
            return finishing.cancel(db, Q, breaker, _job, job_id, reason, now, lock=" FOR UPDATE")

    # -- schedule rows ------------------------------------------------------------------------
    def put_schedule_state(self, state: ScheduleState) -> None:
        with self._tx() as db:
            db.execute(Q["put_schedule_state"], state.__dict__)
