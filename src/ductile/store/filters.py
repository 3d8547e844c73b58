"""The WHERE fragments of job and attempt searches (`GET /jobs`, `GET /job-logs`, their totals),
and the few whole statements built from them, shared by both stores so they filter and count
identically.

Each builder returns clauses joined by the caller and their parameters, with `?` placeholders
only (values, LIKE patterns included, are parameters): SQLite runs them as they are,
`postgres_reads._pg` swaps the placeholder style. The hour helpers do the bucket arithmetic of a
created_at range over `job_counts_hourly` (`sqlite_reads.SqliteSearch._count`, `pg_counts`).
Pure: no store, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from ductile.jobs import AttemptQuery, JobQuery
from ductile.timeutil import from_text, to_text


def _job_filters(query: JobQuery) -> tuple[list[str], list[Any]]:
    """Equality filters plus the created_at range (statuses are added per query shape)."""
    clauses, params = _equality_filters(query)
    _add_range(clauses, params, "created_at", query.created_after, query.created_before)
    return clauses, params


def _add_range(clauses: list[str], params: list[Any], column: str, lo: str | None, hi: str | None) -> None:
    """`column` in [lo, hi); either end may be open (created_at on jobs, hour on the hourly counts)."""
    if lo is not None:
        clauses.append(f"{column} >= ?")
        params.append(lo)
    if hi is not None:
        clauses.append(f"{column} < ?")
        params.append(hi)


def _count_filters(query: JobQuery) -> tuple[list[str], list[Any]]:
    """The non-time filters, valid on jobs, job_counts and job_counts_hourly alike."""
    clauses, params = _equality_filters(query)
    if query.statuses:
        clauses.append(f"status IN ({','.join('?' * len(query.statuses))})")
        params.extend(s.value for s in query.statuses)
    return clauses, params


def _equality_filters(query: JobQuery) -> tuple[list[str], list[Any]]:
    """Exact-match filters; the lineage ones exist only on `jobs` (see `_count`)."""
    clauses: list[str] = []
    params: list[Any] = []
    for column in ("plugin", "command", "submitted_by", "parent_job_id", "pipeline"):
        value = getattr(query, column)
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    return clauses, params


def _hour_start(hour: str) -> str:
    return hour + ":00:00.000000Z"


def _hour_ceil(stamp: str) -> str:
    """The first hour bucket (`YYYY-MM-DDTHH`) starting at or after `stamp` (store format)."""
    if stamp[13:] == ":00:00.000000Z":
        return stamp[:13]
    try:
        return to_text(from_text(stamp[:13] + ":00:00Z") + timedelta(hours=1))[:13]
    except OverflowError:  # the last hour of year 9999: a bucket after every real one
        return stamp[:11] + "24"


def _attempt_where(query: AttemptQuery) -> tuple[str, list[Any]]:
    """The WHERE clause (and its parameters) for an attempt search; shared by list and count."""
    clauses: list[str] = []
    params: list[Any] = []
    for column in ("job_id", "plugin", "command", "submitted_by"):
        value = getattr(query, column)
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if query.statuses:
        clauses.append(f"status IN ({','.join('?' * len(query.statuses))})")
        params.extend(query.statuses)
    if query.since:
        clauses.append("started_at >= ?")
        params.append(query.since)
    if query.until:
        clauses.append("started_at < ?")
        params.append(query.until)
    if query.text:
        pattern = "%" + query.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        clauses.append(
            "(error LIKE ? ESCAPE '\\' OR logs LIKE ? ESCAPE '\\' OR stderr LIKE ? ESCAPE '\\' "
            "OR response LIKE ? ESCAPE '\\')"
        )
        params.extend([pattern] * 4)
    return _where(clauses), params


def _where(clauses: list[str]) -> str:
    """The clauses joined; `TRUE` (both SQLite and PostgreSQL spell it) when there are none."""
    return " AND ".join(clauses) or "TRUE"


# Whole statements both stores run, in `?` placeholders (PostgreSQL converts them, `_pg`).


def count_rows_sql(query: JobQuery, lo: str | None, hi: str | None) -> tuple[str, list[Any]]:
    """The exact count, row by row, of the jobs matching `query`'s non-time filters with
    created_at in [lo, hi): what the counter tables cannot answer (partial hours, lineage)."""
    clauses, params = _count_filters(query)
    _add_range(clauses, params, "created_at", lo, hi)
    return "SELECT count(*) FROM jobs WHERE " + _where(clauses), params


def attempts_sql(query: AttemptQuery) -> tuple[str, list[Any]]:
    """One page of an attempt search, newest first."""
    where, params = _attempt_where(query)
    order = "ORDER BY started_at DESC, job_id DESC, attempt DESC"
    return f"SELECT * FROM attempts WHERE {where} {order} LIMIT ?", [*params, query.limit]


def attempts_count_sql(query: AttemptQuery) -> tuple[str, list[Any]]:
    where, params = _attempt_where(query)
    return f"SELECT count(*) FROM attempts WHERE {where}", params


FINISHED_COUNTS_SQL = "SELECT status, count(*) FROM jobs WHERE completed_at >= ? GROUP BY status"
ACTIVE_BY_PLUGIN_SQL = (
    "SELECT plugin, count(*) FILTER (WHERE status = 'queued'), count(*) FILTER (WHERE status = 'running'), "
    "min(created_at) FILTER (WHERE status = 'queued') "
    "FROM jobs WHERE status IN ('queued', 'running') GROUP BY plugin ORDER BY plugin"
)


def active_by_plugin(rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    """`ACTIVE_BY_PLUGIN_SQL`'s rows as `GET /analytics/queue` shows them."""
    return [{"plugin": p, "queued": q, "running": r, "oldest_queued_at": oldest} for p, q, r, oldest in rows]
