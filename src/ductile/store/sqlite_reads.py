"""Reads both stores make with the same named query and the same row shaping (`SqliteReads`):
single jobs, transitions, emitted events, counts, plugin and schedule state, and the lineage reads
(job trees, children, event contexts); and the SQLite store's own composed reads (`SqliteSearch`):
job pages and their exact totals, attempt searches, the analytics counts.

Mixins of `SqliteStore` (`SqliteReads` of `PostgresStore` too), kept apart so the write path in
`sqlite.py` stays readable; the shared reads are written once so the two backends cannot drift.
The lineage reads are the inspection surfaces of pipelines (GET /job/{id}/tree, `ductile job
inspect`, the monitor): plain reads through the store's lock, never writes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from ductile.jobs import Attempt, AttemptQuery, Job, JobPage, JobQuery, ScheduleState, SummaryPage, Transition
from ductile.lifecycle import Status
from ductile.store import queries, schedules
from ductile.store.filters import (
    ACTIVE_BY_PLUGIN_SQL,
    FINISHED_COUNTS_SQL,
    _add_range,
    _count_filters,
    _hour_ceil,
    _hour_start,
    _job_filters,
    _where,
    active_by_plugin,
    attempts_count_sql,
    attempts_sql,
    count_rows_sql,
)
from ductile.timeutil import from_text, to_text

Q = queries.load("sqlite")
_SUMMARY_COLUMNS = "job_id, plugin, command, status, created_at, started_at, completed_at, attempt"
_JOB_COLUMNS = (
    "job_id, plugin, command, payload, status, attempt, max_attempts, submitted_by, dedupe_key, "
    "created_at, started_at, completed_at, next_retry_at, last_error, parent_job_id, context, "
    "source_event_id, event_context_id, route_key, pipeline, step_id"
)


class SqliteReads:
    """Needs `_read` (locked fetchall), `_to_job` (row in _JOB_COLUMNS order → Job), `_page_rows`
    and `_count` from the host.

    `PostgresStore` reuses it with its own named queries (`_q`): same names, same result columns."""

    _q: Mapping[str, str] = Q
    _read: Callable[..., list[sqlite3.Row]]
    _to_job: Callable[[Sequence[Any]], Job]
    # The host's pages (its own SQL: SQLite and PostgreSQL count and merge status ranges differently).
    _page_rows: Callable[[JobQuery, str], Sequence[Sequence[Any]]]
    _count: Callable[[JobQuery], int]

    def get_job(self, job_id: str) -> Job | None:
        rows = self._read(self._q["get_job"], {"job_id": job_id})
        return self._to_job(rows[0]) if rows else None

    def running_jobs(self) -> list[Job]:
        return [self._to_job(r) for r in self._read(self._q["running_jobs"])]

    def running_pids(self) -> dict[str, int]:
        return {r["job_id"]: r["pid"] for r in self._read(self._q["running_attempt_pids"])}

    def list_jobs(self, query: JobQuery) -> JobPage:
        rows = self._page_rows(query, _JOB_COLUMNS)
        to_job = self._to_job
        jobs = [to_job(r) for r in rows[: query.limit]]
        next_position = (jobs[-1].created_at, jobs[-1].job_id) if len(rows) > query.limit and jobs else None
        return JobPage(jobs=jobs, total=self._count(query), next_position=next_position)

    def list_job_summaries(self, query: JobQuery) -> SummaryPage:
        rows = self._page_rows(query, _SUMMARY_COLUMNS)
        items = []
        for job_id, plugin, command, status, created_at, started_at, completed_at, attempt in rows[: query.limit]:
            item = {"job_id": job_id, "plugin": plugin, "command": command, "status": status, "created_at": created_at}
            if started_at:
                item["started_at"] = started_at
            if completed_at:
                item["completed_at"] = completed_at
            item["attempt"] = attempt
            items.append(item)
        last = items[-1] if items else None
        next_position = (last["created_at"], last["job_id"]) if len(rows) > query.limit and last else None
        return SummaryPage(items=items, total=self._count(query), next_position=next_position)

    def transitions(self, job_id: str) -> list[Transition]:
        return [
            Transition(
                job_id=r["job_id"],
                from_status=r["from_status"],
                to_status=r["to_status"],
                reason=r["reason"],
                at=r["at"],
            )
            for r in self._read(self._q["transitions_for_job"], {"job_id": job_id})
        ]

    def emitted_events(self, job_id: str) -> list[dict[str, Any]]:
        return [
            {
                "type": r["type"],
                "payload": _loads(r["payload"]),
                "dedupe_key": r["dedupe_key"],
                "created_at": r["created_at"],
                "event_id": r["event_id"],
            }
            for r in self._read(self._q["events_for_job"], {"job_id": job_id})
        ]

    def status_counts(self) -> dict[str, int]:
        counts = {s.value: 0 for s in Status}
        for status, n in self._read(self._q["status_counts"]):
            counts[status] = n
        return counts

    def count_active(self, plugin: str, command: str, dedupe_key: str) -> int:
        args = {"plugin": plugin, "command": command, "dedupe_key": dedupe_key}
        return self._read(self._q["count_active_for_key"], args)[0][0]

    def next_retry_due(self, now: datetime) -> datetime | None:
        value = self._read(self._q["next_retry_due"], {"now": to_text(now)})[0][0]
        return from_text(value) if value else None

    def get_state(self, instance: str) -> dict[str, Any]:
        rows = self._read(self._q["get_state"], {"instance": instance})
        return _loads(rows[0]["state"]) if rows else {}

    def all_states(self) -> dict[str, dict[str, Any]]:
        return {r["instance"]: _loads(r["state"]) for r in self._read(self._q["all_states"])}

    def schedule_states(self) -> dict[tuple[str, str], ScheduleState]:
        return schedules.states(self._read(self._q["schedule_states"]))

    def outstanding_scheduler_jobs(self, plugin: str, command: str) -> list[str]:
        return schedules.outstanding(
            self._read(self._q["outstanding_scheduler_jobs"], {"plugin": plugin, "command": command})
        )

    # -- lineage ------------------------------------------------------------------------------
    def job_tree(self, job_id: str) -> list[Job]:
        seen: set[str] = set()
        out = []
        for row in self._read(self._q["job_tree"], {"job_id": job_id}):
            job = self._to_job(row)
            if job.job_id not in seen:  # only a hand-made parent cycle could repeat a job
                seen.add(job.job_id)
                out.append(job)
        return out

    def children(self, job_id: str) -> list[Job]:
        return [self._to_job(r) for r in self._read(self._q["children_of_job"], {"job_id": job_id})]

    def current_responses(self, job_ids: list[str]) -> dict[str, Any]:
        """job_id → stored response of its current attempt (absent: no attempt or no response)."""
        if not job_ids:
            return {}
        rows = self._read(self._q["current_responses"], {"ids": json.dumps(job_ids)})
        return {r["job_id"]: json.loads(r["response"]) for r in rows if r["response"] is not None}

    def get_context(self, context_id: str) -> dict[str, Any] | None:
        rows = self._read(self._q["get_context"], {"id": context_id})
        return _context(rows[0]) if rows else None

    def context_lineage(self, context_id: str) -> list[dict[str, Any]]:
        seen: set[str] = set()
        out = []
        for row in self._read(self._q["context_lineage"], {"id": context_id}):
            if row["id"] not in seen:
                seen.add(row["id"])
                out.append(_context(row))
        return out

    def emitted_with_children(self, job_id: str) -> list[dict[str, Any]]:
        return [
            {
                "event_id": r["event_id"],
                "type": r["type"],
                "payload": None if r["payload"] is None else json.loads(r["payload"]),
                "created_at": r["created_at"],
                "children": json.loads(r["children"]),
            }
            for r in self._read(self._q["emitted_with_children"], {"job_id": job_id})
        ]

    def pipeline_instance(self, pipeline: str) -> dict[str, Any] | None:
        rows = self._read(self._q["latest_pipeline_job"], {"pipeline": pipeline})
        if not rows:
            return None
        entry = rows[0]["job_id"]
        found = self._read(self._q["job_instance"], {"job_id": entry})
        instance = found[0]["instance_id"] if found else None
        parent = found[0]["parent_job_id"] if found else None
        # Walk up while the parent belongs to the same instance: the entry job started it.
        for _ in range(10000):
            if instance is None or parent is None:
                break
            above = self._read(self._q["job_instance"], {"job_id": parent})
            if not above or above[0]["instance_id"] != instance:
                break
            entry, parent = parent, above[0]["parent_job_id"]
        jobs = [dict(r) for r in self._read(self._q["instance_jobs"], {"entry": entry, "instance": instance})]
        return {"instance_id": instance, "entry_job_id": entry, "jobs": jobs}

    def schedule_runs(
        self, plugin: str, command: str, key: str, limit: int
    ) -> tuple[list[tuple[str, str | None]], str | None]:
        """One schedule entry's newest `limit` finished runs, newest first, as (status,
        completed_at), and when it last succeeded (None: never, or pruned)."""
        params = {"plugin": plugin, "command": command, "key": key, "limit": limit}
        runs = [(r[0], r[1]) for r in self._read(self._q["schedule_recent_runs"], params)]
        success = self._read(self._q["schedule_last_success"], params)
        return runs, success[0][0] if success else None


class SqliteSearch(SqliteReads):
    """The SQLite store's reads composed from `filters` rather than named queries: job pages
    (`_page_rows`) and their exact totals (`_count`), attempts, the analytics counts.
    `PostgresReads` is the PostgreSQL counterpart (its own placeholders, aliases and hour
    arithmetic). Needs `_read`, `_lock` and `_db` (the store's one connection) from the host."""

    _lock: AbstractContextManager[Any]
    _db: sqlite3.Connection

    def _page_rows(self, query: JobQuery, columns: str) -> list[tuple[Any, ...]]:
        """Up to limit+1 rows (the extra one says whether a next page exists), newest first."""
        where, params = _job_filters(query)
        statuses = [s.value for s in query.statuses] or [None]
        # One ordered, limited index range per status, merged: avoids sorting every match when
        # several statuses are asked for at once.
        parts = []
        all_params: list[Any] = []
        for status in statuses:
            clauses = list(where)
            part_params = list(params)
            if status is not None:
                clauses.append("status = ?")
                part_params.append(status)
            if query.after is not None:
                clauses.append("(created_at, job_id) < (?, ?)")
                part_params.extend(query.after)
            sql_where = _where(clauses)
            parts.append(
                f"SELECT * FROM (SELECT {columns} FROM jobs WHERE {sql_where} "
                f"ORDER BY created_at DESC, job_id DESC LIMIT ?)"
            )
            part_params.append(query.limit + 1)
            all_params.extend(part_params)
        sql = " UNION ALL ".join(parts)
        if len(parts) > 1:
            sql = f"SELECT * FROM ({sql}) ORDER BY created_at DESC, job_id DESC LIMIT ?"
            all_params.append(query.limit + 1)
        with self._lock:
            cursor = self._db.cursor()
            cursor.row_factory = None
            return cursor.execute(sql, all_params).fetchall()

    def _count(self, query: JobQuery) -> int:
        if query.lineage:
            # job_counts has no lineage columns; a parent's children (jobs_parent) and a pipeline's
            # steps (jobs_pipeline_created) are index ranges, counted exactly row by row.
            return self._count_rows(query, query.created_after, query.created_before)
        clauses, params = _count_filters(query)
        if query.created_after is None and query.created_before is None:
            sql = "SELECT coalesce(sum(n), 0) FROM job_counts WHERE " + _where(clauses)
            return self._read(sql, params)[0][0]
        # A time range: whole hours come from job_counts_hourly; only the partial hours at the
        # edges are counted row by row, so the cost is bounded by an hour of jobs, not the range.
        lo, hi = query.created_after, query.created_before
        first_full = _hour_ceil(lo) if lo is not None else None  # first whole hour inside the range
        end_full = hi[:13] if hi is not None else None  # the hour holding `hi`, itself partial
        if first_full is not None and end_full is not None and first_full >= end_full:
            return self._count_rows(query, lo, hi)
        _add_range(clauses, params, "hour", first_full, end_full)
        sql = "SELECT coalesce(sum(n), 0) FROM job_counts_hourly WHERE " + " AND ".join(clauses)
        total = self._read(sql, params)[0][0]
        if lo is not None and first_full is not None and lo < _hour_start(first_full):
            total += self._count_rows(query, lo, _hour_start(first_full))
        if hi is not None and end_full is not None and _hour_start(end_full) < hi:
            total += self._count_rows(query, _hour_start(end_full), hi)
        return total

    def _count_rows(self, query: JobQuery, lo: str | None, hi: str | None) -> int:
        return self._read(*count_rows_sql(query, lo, hi))[0][0]

    def attempts(self, job_id: str) -> list[Attempt]:
        return [_attempt(r) for r in self._read(Q["attempts_for_job"], {"job_id": job_id})]

    def list_attempts(self, query: AttemptQuery) -> list[Attempt]:
        return [_attempt(r) for r in self._read(*attempts_sql(query))]

    def count_attempts(self, query: AttemptQuery) -> int:
        return self._read(*attempts_count_sql(query))[0][0]

    def finished_counts(self, since: str) -> dict[str, int]:
        """Jobs finished at or after `since`, by status (`GET /analytics/summary`)."""
        return dict(self._read(FINISHED_COUNTS_SQL, (since,)))

    def active_by_plugin(self) -> list[dict[str, Any]]:
        """Queued and running jobs per plugin, with the oldest queued one (`GET /analytics/queue`)."""
        return active_by_plugin(self._read(ACTIVE_BY_PLUGIN_SQL))


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _context(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "parent_id": row["parent_id"],
        "pipeline": row["pipeline_name"],
        "step_id": row["step_id"],
        "instance_id": row["instance_id"],
        "accumulated": json.loads(row["accumulated"]),
        "created_at": row["created_at"],
    }


def _attempt(row: sqlite3.Row) -> Attempt:
    return Attempt(
        job_id=row["job_id"],
        attempt=row["attempt"],
        plugin=row["plugin"],
        command=row["command"],
        submitted_by=row["submitted_by"],
        started_at=row["started_at"],
        completed_at=row["completed_at"],
        outcome=row["outcome"],
        status=row["status"],
        response=_loads(row["response"]),
        error=row["error"],
        logs=_loads(row["logs"]) or [],
        stderr=row["stderr"] or "",
        exit_code=row["exit_code"],
        duration_ms=row["duration_ms"],
    )
