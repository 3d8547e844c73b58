"""`total` for time ranges (job_counts_hourly + edge counts) equals a plain COUNT(*), whatever the
bounds, filters and later status changes or deletions."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ductile.jobs import JobQuery
from ductile.lifecycle import Status
from ductile.store import open_store
from ductile.timeutil import to_text
from store.backends import backend_target, is_pg, raw, raw_many, reopen

BASE = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def store(backend: str, tmp_path: Path) -> Any:
    with backend_target(backend, tmp_path) as target:
        s = open_store(target)
        try:
            _fill(s)
            yield s
        finally:
            s.close()


def _fill(s: Any) -> None:
    rng = random.Random(3)
    rows = []
    for _ in range(3000):
        created = BASE + timedelta(seconds=rng.randint(0, 3 * 86400))
        if rng.random() < 0.05:
            created = created.replace(minute=0, second=0, microsecond=0)  # exactly on an hour
        rows.append(
            (
                str(uuid.uuid4()),
                rng.choice(["a", "b", "c"]),
                rng.choice(["poll", "sync"]),
                rng.choice(["succeeded", "failed", "dead", "queued"]),
                rng.choice(["scheduler", "api"]),
                to_text(created),
            )
        )
    raw_many(
        s,
        "INSERT INTO jobs (job_id, plugin, command, status, max_attempts, submitted_by, created_at)"
        " VALUES (?, ?, ?, ?, 3, ?, ?)",
        rows,
    )
    # Later transitions and pruning must keep the hourly counts exact too.
    raw(s, "UPDATE jobs SET status = 'succeeded' WHERE status = 'queued' AND plugin = 'a'")
    raw(s, "DELETE FROM jobs WHERE status = 'dead' AND plugin = 'b'")


def brute(store: Any, q: JobQuery) -> int:
    clauses, params = ["1 = 1"], []
    for column in ("plugin", "command", "submitted_by"):
        if getattr(q, column):
            clauses.append(f"{column} = ?")
            params.append(getattr(q, column))
    if q.statuses:
        clauses.append(f"status IN ({','.join('?' * len(q.statuses))})")
        params += [x.value for x in q.statuses]
    if q.created_after:
        clauses.append("created_at >= ?")
        params.append(q.created_after)
    if q.created_before:
        clauses.append("created_at < ?")
        params.append(q.created_before)
    return raw(store, "SELECT count(*) FROM jobs WHERE " + " AND ".join(clauses), params)[0][0]


def test_time_range_totals_match_a_plain_count(store: Any) -> None:
    rng = random.Random(11)
    for _ in range(300):
        lo = BASE + timedelta(seconds=rng.randint(-3600, 4 * 86400))
        hi = lo + timedelta(seconds=rng.choice([0, 1, 59, 3600, 5400, 7200, 86400, 3 * 86400]))
        if rng.random() < 0.2:
            lo = lo.replace(minute=0, second=0, microsecond=0)
        if rng.random() < 0.2:
            hi = hi.replace(minute=0, second=0, microsecond=0)
        bounds = rng.choice([(lo, hi), (lo, None), (None, hi), (hi, lo)])
        q = JobQuery(
            plugin=rng.choice([None, "a", "b"]),
            command=rng.choice([None, "poll"]),
            submitted_by=rng.choice([None, "api"]),
            statuses=rng.choice([(), (Status.SUCCEEDED,), (Status.FAILED, Status.DEAD)]),
            created_after=to_text(bounds[0]) if bounds[0] else None,
            created_before=to_text(bounds[1]) if bounds[1] else None,
        )
        assert store._count(q) == brute(store, q), q


def test_extreme_bounds(store: Any) -> None:
    for lo, hi in [
        ("0001-01-01T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z"),
        ("9999-12-31T23:30:00.000000Z", None),
        (None, "0001-01-01T00:00:00.000000Z"),
    ]:
        q = JobQuery(created_after=lo, created_before=hi)
        assert store._count(q) == brute(store, q)
    assert store._count(JobQuery(created_after="0001-01-01T00:00:00.000000Z")) == brute(store, JobQuery())


@pytest.mark.parametrize("backend", ["postgres"])  # a PostgreSQL table; SQLite sums job_counts_hourly
def test_per_status_hour_buckets_match_the_jobs_on_postgresql(store: Any) -> None:
    # The filter-free range totals read job_counts_hourly_status (0110): after inserts, status
    # changes and deletes it holds exactly what grouping the jobs gives, and the migration's
    # copy (run again on a database that lacks it) rebuilds the same numbers.
    assert is_pg(store)
    grouped = "SELECT substr(created_at, 1, 13), status, count(*) FROM jobs GROUP BY 1, 2"
    kept = "SELECT hour, status, n FROM job_counts_hourly_status WHERE n > 0"
    assert sorted(raw(store, kept)) == sorted(raw(store, grouped))
    raw(store, "DROP TABLE job_counts_hourly_status")
    raw(store, "DELETE FROM schema_version WHERE version = 110")
    again = reopen(store)
    try:
        assert sorted(raw(again, kept)) == sorted(raw(again, grouped))
        raw(again, "UPDATE jobs SET status = 'dead' WHERE status = 'failed' AND plugin = 'c'")
        assert sorted(raw(again, kept)) == sorted(raw(again, grouped))
    finally:
        again.close()
