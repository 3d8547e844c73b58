"""Reads of the PostgreSQL store: job pages with exact totals, attempts, counts, state.

The same queries as `SqliteStore`'s reads, built from the same filter helpers (`filters.py`:
`_count_filters` and friends) so both backends filter and count identically; only the
placeholder style (`?` → `%s`), the empty WHERE (`TRUE`) and derived-table aliases differ.
`total` comes from job_counts, or for a time range from the hour buckets (`pg_counts`), all
kept by triggers in the writing transaction, never from `COUNT(*)` over all jobs. The reads
that are one named query with the same row shaping on both backends (single jobs, page shaping,
transitions, events, counts, state, lineage) are the shared `SqliteReads` mixin.
"""

from __future__ import annotations

from typing import Any

from ductile.jobs import Attempt, AttemptQuery, JobQuery
from ductile.store import pg_counts, queries
from ductile.store.filters import (
    ACTIVE_BY_PLUGIN_SQL,
    FINISHED_COUNTS_SQL,
    _count_filters,
    _job_filters,
    _where,
    active_by_plugin,
    attempts_count_sql,
    attempts_sql,
    count_rows_sql,
)
from ductile.store.sqlite_reads import SqliteReads, _attempt

Q = queries.load("postgres")


def _pg(sql: str) -> str:
    """A statement composed from the shared filter fragments, in psycopg's placeholder style.
    The fragments hold `?` only as placeholders (values, LIKE patterns included, are parameters)."""
    return sql.replace("?", "%s")


class PostgresReads(SqliteReads):
    """Needs `_read(sql, params)` (rows readable by name and position) from the host."""

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
        sql, params = count_rows_sql(query, lo, hi)
        return self._read(_pg(sql), params)[0][0]

    def attempts(self, job_id: str) -> list[Attempt]:
        return [_attempt(r) for r in self._read(Q["attempts_for_job"], {"job_id": job_id})]

    def list_attempts(self, query: AttemptQuery) -> list[Attempt]:
        sql, params = attempts_sql(query)
        return [_attempt(r) for r in self._read(_pg(sql), params)]

    def count_attempts(self, query: AttemptQuery) -> int:
        sql, params = attempts_count_sql(query)
        return self._read(_pg(sql), params)[0][0]

    def data_version(self) -> None:
        """Not tracked on PostgreSQL (other nodes commit through their own connections): None,
        so callers read every time, as they did before `data_version` existed."""
        return None

    def finished_counts(self, since: str) -> dict[str, int]:
        return dict(self._read(_pg(FINISHED_COUNTS_SQL), (since,)))

    def active_by_plugin(self) -> list[dict[str, Any]]:
        return active_by_plugin(self._read(_pg(ACTIVE_BY_PLUGIN_SQL)))
