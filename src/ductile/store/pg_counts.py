"""The exact `total` of a created_at range on PostgreSQL: whole hour buckets plus or minus the
rows of the two edge hours, in one statement.

`job_counts_hourly` (per hour, plugin, command, status, submitter) and
`job_counts_hourly_status` (per hour, status) are kept exact by a trigger in the transaction of
every status change (migrations 0002 and 0110). A range [lo, hi) is the sum of the buckets of
the hours it covers, corrected at each edge by counting rows of the partial hour — and for each
edge the smaller side is counted: when `lo` sits in the first half of its hour, that hour's
bucket is taken whole and the rows in [hour start, lo) are subtracted; otherwise the bucket is
left out and the rows in [lo, next hour) are added (and the mirror image at `hi`). So an edge
costs at most half an hour of rows, and a whole range at most one hour of rows plus the bucket
rows, however dense the history. One statement also means one snapshot: the parts of the
total cannot disagree about a job that changed status meanwhile.

SQLite keeps its own arithmetic (`sqlite_reads.SqliteSearch._count`): these are PostgreSQL-only tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ductile.jobs import JobQuery
from ductile.store.filters import _add_range, _count_filters, _hour_ceil, _hour_start, _where, count_rows_sql

HALF_HOUR = "30:00.000000Z"  # minutes and seconds of a stamp (store format, from position 14)


@dataclass(frozen=True)
class RangePlan:
    """Buckets in hours [first_hour, end_hour) (None: open), plus `add` and minus `subtract`
    row counts over created_at ranges [lo, hi) (None: open)."""

    first_hour: str | None
    end_hour: str | None
    add: list[tuple[str | None, str | None]] = field(default_factory=list)
    subtract: list[tuple[str, str]] = field(default_factory=list)


def plan(lo: str | None, hi: str | None) -> RangePlan | None:
    """How to count created_at in [lo, hi) (store-format stamps; at least one set) from hour
    buckets; None when both ends fall in one hour (then the rows, at most an hour's, are counted)."""
    if lo is not None and hi is not None and lo[:13] >= hi[:13]:  # one hour (or an empty range)
        return None
    add: list[tuple[str | None, str | None]] = []
    subtract: list[tuple[str, str]] = []
    first_hour = end_hour = None
    if lo is not None:
        if lo[14:] <= HALF_HOUR:  # on or near the hour's start: take the bucket, drop [start, lo)
            first_hour = lo[:13]
            if lo != _hour_start(first_hour):
                subtract.append((_hour_start(first_hour), lo))
        else:
            first_hour = _hour_ceil(lo)
            add.append((lo, _hour_start(first_hour)))
    if hi is not None:
        if hi[14:] <= HALF_HOUR:  # near the hour's start: leave the bucket out, add [start, hi)
            end_hour = hi[:13]
            if hi != _hour_start(end_hour):
                add.append((_hour_start(end_hour), hi))
        else:
            end_hour = _hour_ceil(hi)
            subtract.append((hi, _hour_start(end_hour)))
    return RangePlan(first_hour, end_hour, add, subtract)


def total_sql(query: JobQuery, lo: str | None, hi: str | None) -> tuple[str, list[Any]]:
    """One statement (sqlite placeholders, `?`) giving the exact count of the jobs matching
    `query`'s non-lineage filters with created_at in [lo, hi)."""
    range_plan = plan(lo, hi)
    if range_plan is None:
        return count_rows_sql(query, lo, hi)
    clauses, params = _count_filters(query)
    per_status = query.plugin is None and query.command is None and query.submitted_by is None
    table = "job_counts_hourly_status" if per_status else "job_counts_hourly"
    _add_range(clauses, params, "hour", range_plan.first_hour, range_plan.end_hour)
    parts = [f"(SELECT coalesce(sum(n), 0) FROM {table} WHERE {_where(clauses)})"]
    for sign, ranges in (("+", range_plan.add), ("-", range_plan.subtract)):
        for start, end in ranges:
            sql, part_params = count_rows_sql(query, start, end)
            parts.append(f"{sign} ({sql})")
            params.extend(part_params)
    return "SELECT (" + " ".join(parts) + ")::bigint", params
