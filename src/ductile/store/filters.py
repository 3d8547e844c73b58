"""The WHERE fragments of job and attempt searches (`GET /jobs`, `GET /job-logs`, their totals),
shared by both stores so they filter and count identically.

Each builder returns clauses joined by the caller and their parameters, with `?` placeholders
only (values, LIKE patterns included, are parameters): SQLite runs them as they are,
`postgres_reads._pg` swaps the placeholder style. The hour helpers do the bucket arithmetic of a
created_at range over `job_counts_hourly` (`sqlite_reads.SqliteSearch._count`, `pg_counts`).
Pure: no store, no I/O.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ductile.jobs import AttemptQuery, JobQuery
from ductile.timeutil import from_text, to_text


def _job_filters(query: JobQuery) -> tuple[list[str], list[Any]]:
    """Equality filters plus the created_at range (statuses are added per query shape)."""
    clauses, params = _equality_filters(query)
    _add_created_range(clauses, params, query.created_after, query.created_before)
    return clauses, params


def _add_created_range(clauses: list[str], params: list[Any], lo: str | None, hi: str | None) -> None:
    """created_at in [lo, hi); either end may be open."""
    if lo is not None:
        clauses.append("created_at >= ?")
        params.append(lo)
    if hi is not None:
        clauses.append("created_at < ?")
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
    return " AND ".join(clauses) or "1", params
