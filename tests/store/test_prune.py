"""Retention: finished jobs older than their status's cutoff go, with everything recorded about
them; unfinished and recent jobs stay; totals follow; a backlog goes in bounded batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ductile.jobs import AttemptRecord, JobQuery, NewJob
from ductile.lifecycle import Decision, Status
from ductile.store.queries import load
from ductile.upkeep.pruner import cutoffs
from store.backends import is_pg

NOW = datetime(2026, 11, 29, tzinfo=UTC)
DAY = timedelta(days=1)


def finished(store: Any, status: Status, when: datetime, plugin: str = "p") -> str:
    result = store.enqueue(NewJob(plugin=plugin, command="poll"), now=when, dedupe_since=None)
    job = store.claim(now=when, excluded_plugins=[])
    assert job is not None and job.job_id == result.job_id
    record = AttemptRecord("success" if status is Status.SUCCEEDED else "fatal", "s", "e", 1.0, error="x")
    events = [{"type": "p.done", "payload": {}}] if status is Status.SUCCEEDED else None
    store.finish(job, record, Decision(status, last_error="x"), now=when, events=events)
    return job.job_id


def test_cutoffs_apply_the_default_and_per_status_overrides():
    limits = cutoffs({"default": 30 * 86400.0, "failed": 90 * 86400.0}, NOW)
    assert limits["succeeded"] == NOW - 30 * DAY and limits["dead"] == NOW - 30 * DAY
    assert limits["failed"] == NOW - 90 * DAY
    assert "queued" not in limits and "running" not in limits  # active jobs are never pruned


def test_prune_removes_old_finished_jobs_and_their_records_only(store):
    old_ok = finished(store, Status.SUCCEEDED, NOW - 40 * DAY)
    new_ok = finished(store, Status.SUCCEEDED, NOW - 10 * DAY)
    old_failed = finished(store, Status.FAILED, NOW - 40 * DAY)  # kept: failed is kept 90 days
    ancient_failed = finished(store, Status.FAILED, NOW - 100 * DAY)
    waiting = store.enqueue(NewJob(plugin="p", command="poll"), now=NOW - 200 * DAY, dedupe_since=None).job_id

    removed = store.prune(cutoffs({"default": 30 * 86400.0, "failed": 90 * 86400.0}, NOW))
    assert removed == 2
    assert store.get_job(old_ok) is None and store.get_job(ancient_failed) is None
    assert {j.job_id for j in store.list_jobs(JobQuery(limit=50)).jobs} == {new_ok, old_failed, waiting}
    assert store.list_jobs(JobQuery(limit=50)).total == 3  # the counts table follows deletes
    assert store.attempts(old_ok) == [] and store.transitions(old_ok) == [] and store.emitted_events(old_ok) == []
    assert store.attempts(new_ok) and store.emitted_events(new_ok)
    assert store.prune(cutoffs({"default": 30 * 86400.0, "failed": 90 * 86400.0}, NOW)) == 0


def test_prune_works_in_batches_and_finds_old_rows_through_the_index(store):
    for n in range(25):
        finished(store, Status.SUCCEEDED, NOW - (40 + n) * DAY)
    limits = {"succeeded": NOW - 30 * DAY}
    assert [store.prune(limits, batch=10) for _ in range(4)] == [10, 10, 5, 0]
    if is_pg(store):
        return  # PostgreSQL's planner picks by statistics; the query shape is the same as SQLite's
    plan = store._read(  # a range on (status, created_at), not a scan of every succeeded job
        "EXPLAIN QUERY PLAN " + load("sqlite")["prune_jobs"],
        {"status": "succeeded", "cutoff": "2026-01-01T00:00:00.000000Z", "batch": 10},
    )
    assert any("jobs_status_created (status=? AND created_at<?)" in row[3] for row in plan)
