"""Reads of the PostgreSQL store: job pages with exact totals, attempts, counts, state.

The same queries as `SqliteStore`'s reads, built from the same filter helpers (`sqlite.py`'s
`_count_filters` and friends) so both backends filter and count identically; only the
placeholder style (`?` → `%s`), the empty WHERE (`TRUE`) and derived-table aliases differ.
`total` comes from job_counts, or for a time range from the hour buckets (`pg_counts`), all
kept by triggers in the writing transaction, never from `COUNT(*)` over all jobs. Lineage reads
are the shared `SqliteReads` mixin.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ductile.jobs import Attempt, AttemptQuery, Job, JobPage, JobQuery, ScheduleState, SummaryPage, Transition
from ductile.lifecycle import Status
from ductile.store import pg_counts, queries, schedules
from ductile.store.sqlite import (
    _JOB_COLUMNS,
    _SUMMARY_COLUMNS,
    _add_created_range,
    _attempt,
    _attempt_where,
    _count_filters,
    _job,
    _job_filters,
    _loads,
)
from ductile.store.sqlite_reads import SqliteReads
from ductile.timeutil import from_text, to_text

Q = queries.load("postgres")


def _pg(sql: str) -> str:
    """A statement composed from the shared filter fragments, in psycopg's placeholder style.
    The fragments hold `?` only as placeholders (values, LIKE patterns included, are parameters)."""
    return sql.replace("?", "%s")


def _where(clauses: list[str]) -> str:
    return " AND ".join(clauses) or "TRUE"


class PostgresReads(SqliteReads):
    """Needs `_read(sql, params)` (rows readable by name and position) from the host."""

    def get_job(self, job_id: str) -> Job | None:
        rows = self._read(Q["get_job"], {"job_id": job_id})
        return _job(rows[0]) if rows else None

    def running_jobs(self) -> list[Job]:
        return [_job(r) for r in self._read(Q["running_jobs"])]

    def running_pids(self) -> dict[str, int]:
        return {r["job_id"]: r["pid"] for r in self._read(Q["running_attempt_pids"])}

    def list_jobs(self, query: JobQuery) -> JobPage:
        rows = self._page_rows(query, _JOB_COLUMNS)
        jobs = [_job(r) for r in rows[: query.limit]]
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

    def _page_rows(self, query: JobQuery, columns: str) -> list[Any]:
        """Up to limit+1 rows, newest first: one ordered, limited index range per status, merged."""
        where, params = _job_filters(query)
        statuses = [s.value for s in query.statuses] or [None]
        parts = []
        all_params: list[Any] = []
        for n, status in enumerate(statuses):
            clauses = list(where)
            part_params = list(params)
            if status is not None:
                clauses.append("status = ?")
                part_params.append(status)
            if query.after is not None:
                clauses.append("(created_at, job_id) < (?, ?)")
                part_params.extend(query.after)
            parts.append(
                f"SELECT * FROM (SELECT {columns} FROM jobs WHERE {_where(clauses)} "
                f"ORDER BY created_at DESC, job_id DESC LIMIT ?) AS p{n}"
            )
            part_params.append(query.limit + 1)
            all_params.extend(part_params)
        sql = " UNION ALL ".join(f"({p})" for p in parts)
        if len(parts) > 1:
            sql = f"SELECT * FROM ({sql}) AS merged ORDER BY created_at DESC, job_id DESC LIMIT ?"
            all_params.append(query.limit + 1)
        return self._read(_pg(sql), all_params)

    def _count(self, query: JobQuery) -> int:
        """Exact total: job_counts without a time range, else hour buckets corrected at the
        edges (`pg_counts`); lineage filters exist only on jobs, so those count rows."""
        if query.lineage:
            return self._count_rows(query, query.created_after, query.created_before)
        if query.created_after is None and query.created_before is None:
            clauses, params = _count_filters(query)
            sql = "SELECT coalesce(sum(n), 0)::bigint FROM job_counts WHERE " + _where(clauses)
            return self._read(_pg(sql), params)[0][0]
        sql, params = pg_counts.total_sql(query, query.created_after, query.created_before)
        return self._read(_pg(sql), params)[0][0]

    def _count_rows(self, query: JobQuery, lo: str | None, hi: str | None) -> int:
        clauses, params = _count_filters(query)
        _add_created_range(clauses, params, lo, hi)
        return self._read(_pg("SELECT count(*) FROM jobs WHERE " + _where(clauses)), params)[0][0]

    def attempts(self, job_id: str) -> list[Attempt]:
        return [_attempt(r) for r in self._read(Q["attempts_for_job"], {"job_id": job_id})]

    def list_attempts(self, query: AttemptQuery) -> list[Attempt]:
        where, params = _attempt_where(query)
        where = "TRUE" if where == "1" else where
        sql = f"SELECT * FROM attempts WHERE {where} ORDER BY started_at DESC, job_id DESC, attempt DESC LIMIT ?"
        return [_attempt(r) for r in self._read(_pg(sql), [*params, query.limit])]

    def count_attempts(self, query: AttemptQuery) -> int:
        where, params = _attempt_where(query)
        where = "TRUE" if where == "1" else where
        return self._read(_pg(f"SELECT count(*) FROM attempts WHERE {where}"), params)[0][0]

    def transitions(self, job_id: str) -> list[Transition]:
        return [
            Transition(
                job_id=r["job_id"],
                from_status=r["from_status"],
                to_status=r["to_status"],
                reason=r["reason"],
                at=r["at"],
            )
            for r in self._read(Q["transitions_for_job"], {"job_id": job_id})
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
            for r in self._read(Q["events_for_job"], {"job_id": job_id})
        ]

    def data_version(self) -> None:
        """Not tracked on PostgreSQL (other nodes commit through their own connections): None,
        so callers read every time, as they did before `data_version` existed."""
        return None

    def status_counts(self) -> dict[str, int]:
        counts = {s.value: 0 for s in Status}
        for status, n in self._read(Q["status_counts"]):
            counts[status] = n
        return counts

    def finished_counts(self, since: str) -> dict[str, int]:
        sql = "SELECT status, count(*) FROM jobs WHERE completed_at >= %s GROUP BY status"
        return {status: n for status, n in self._read(sql, (since,))}

    def active_by_plugin(self) -> list[dict[str, Any]]:
        sql = (
            "SELECT plugin, count(*) FILTER (WHERE status = 'queued'), count(*) FILTER (WHERE status = 'running'), "
            "min(created_at) FILTER (WHERE status = 'queued') "
            "FROM jobs WHERE status IN ('queued', 'running') GROUP BY plugin ORDER BY plugin"
        )
        return [
            {"plugin": p, "queued": q, "running": r, "oldest_queued_at": oldest} for p, q, r, oldest in self._read(sql)
        ]

    def count_active(self, plugin: str, command: str, dedupe_key: str) -> int:
        args = {"plugin": plugin, "command": command, "dedupe_key": dedupe_key}
        return self._read(Q["count_active_for_key"], args)[0][0]

    def next_retry_due(self, now: datetime) -> datetime | None:
        value = self._read(Q["next_retry_due"], {"now": to_text(now)})[0][0]
        return from_text(value) if value else None

    def get_state(self, instance: str) -> dict[str, Any]:
        rows = self._read(Q["get_state"], {"instance": instance})
        return _loads(rows[0]["state"]) if rows else {}

    def all_states(self) -> dict[str, dict[str, Any]]:
        return {r["instance"]: _loads(r["state"]) for r in self._read(Q["all_states"])}

    def schedule_states(self) -> dict[tuple[str, str], ScheduleState]:
        return schedules.states(self._read(Q["schedule_states"]))
