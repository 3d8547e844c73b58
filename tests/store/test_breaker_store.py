"""Breaker persistence on both backends (a real SQLite file, a real PostgreSQL schema): fed inside the transaction that ends a job, so
every terminal failure counts exactly once; retries, non-scheduler jobs and rolled-back
finishes never count; transitions are announced only after the commit."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ductile.breaker.state import Change
from ductile.jobs import AttemptRecord, Job, NewJob
from ductile.lifecycle import Decision, Status
from ductile.store import open_store
from store.backends import backend_target, is_pg, raw

T0 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
RECORD = AttemptRecord("error", "s", "e", 1.0, error="boom")


@pytest.fixture
def target(backend: str, tmp_path: Path) -> Iterator[str]:
    with backend_target(backend, tmp_path) as where:
        yield where


@pytest.fixture
def store(target: str):
    s = open_store(target)
    heard: list[Change] = []
    s.configure_breakers(
        thresholds={"p": 2}, reset_after={"p": 30.0}, submitters=frozenset({"scheduler"}), listener=heard.extend
    )
    s.heard = heard  # type: ignore[attr-defined]
    yield s
    s.close()


def running(store: Any, *, by: str = "scheduler", plugin: str = "p", max_attempts: int = 1, now=T0) -> Job:
    store.enqueue(
        NewJob(plugin=plugin, command="poll", payload=None, submitted_by=by, max_attempts=max_attempts),
        now=now,
        dedupe_since=None,
    )
    job = store.claim(now=now)
    assert job is not None
    return job


def end(store: Any, job: Job, status: Status, now: datetime) -> Job:
    return store.finish(job, RECORD, Decision(status, last_error="boom"), now=now)


def row(store: Any) -> dict:
    found = store.breaker_row("p", "poll")
    assert found is not None
    return found


def test_each_failure_counts_once_even_when_several_end_between_fires(store):
    jobs = [running(store) for _ in range(3)]  # three scheduler jobs running at once
    end(store, jobs[0], Status.FAILED, T0)
    assert (row(store)["state"], row(store)["failure_count"]) == ("closed", 1)
    end(store, jobs[1], Status.TIMED_OUT, T0 + timedelta(seconds=1))
    assert (row(store)["state"], row(store)["failure_count"]) == ("open", 2)
    end(store, jobs[2], Status.DEAD, T0 + timedelta(seconds=2))  # a late finisher
    r = row(store)
    assert (r["state"], r["failure_count"], r["last_job_id"]) == ("open", 3, jobs[2].job_id)
    assert r["opened_at"] == "2026-11-29T10:00:02.000000Z"
    [t] = store.breaker_transitions("p", "poll")
    assert (t["from_state"], t["to_state"], t["reason"], t["failure_count"], t["job_id"]) == (
        "closed",
        "open",
        "failure_threshold",
        2,
        jobs[1].job_id,
    )
    assert [(c.from_state, c.to_state, c.reason) for c in store.heard] == [("closed", "open", "failure_threshold")]
    assert store.count_open_breakers() == 1


def test_a_retrying_attempt_is_not_terminal_and_does_not_count(store):
    job = running(store, max_attempts=3)
    store.finish(job, RECORD, Decision(Status.QUEUED, next_retry_at=T0, last_error="boom"), now=T0)
    assert store.breaker_row("p", "poll") is None


@pytest.mark.parametrize("by", ["api", "route", "hook", "webhook:/hooks/x", "cli"])
def test_jobs_not_submitted_by_the_scheduler_never_count(store, by):
    for _ in range(3):
        end(store, running(store, by=by), Status.FAILED, T0)
    assert store.breaker_row("p", "poll") is None
    assert store.count_open_breakers() == 0


def test_cancel_of_a_scheduler_job_counts_as_dead(store):
    for _ in range(2):
        job = running(store)
        store.cancel(job.job_id, reason="cancelled by operator", now=T0)
    assert (row(store)["state"], row(store)["failure_count"]) == ("open", 2)


def test_gate_skips_while_cooling_then_half_opens_and_success_closes(store):
    for _ in range(2):
        end(store, running(store), Status.FAILED, T0)
    store.heard.clear()
    assert store.breaker_gate("p", "poll", T0 + timedelta(seconds=29)) == "circuit_open"
    assert store.heard == [] and row(store)["state"] == "open"
    assert store.breaker_gate("p", "poll", T0 + timedelta(seconds=30)) is None
    assert row(store)["state"] == "half_open"
    assert store.breaker_gate("p", "poll", T0 + timedelta(seconds=31)) is None  # half_open limits nothing itself
    end(store, running(store, now=T0 + timedelta(seconds=31)), Status.SUCCEEDED, T0 + timedelta(seconds=32))
    assert (row(store)["state"], row(store)["failure_count"], row(store)["opened_at"]) == ("closed", 0, None)
    reasons = [(t["from_state"], t["to_state"], t["reason"]) for t in reversed(store.breaker_transitions("p", "poll"))]
    assert reasons == [
        ("closed", "open", "failure_threshold"),
        ("open", "half_open", "cooldown_elapsed"),
        ("half_open", "closed", "success"),
    ]
    assert [(c.to_state, c.reason) for c in store.heard] == [("half_open", "cooldown_elapsed"), ("closed", "success")]


def test_failed_trial_reopens(store):
    for _ in range(2):
        end(store, running(store), Status.FAILED, T0)
    assert store.breaker_gate("p", "poll", T0 + timedelta(minutes=1)) is None
    end(store, running(store), Status.FAILED, T0 + timedelta(minutes=2))
    r = row(store)
    assert (r["state"], r["failure_count"], r["opened_at"]) == ("open", 3, "2026-11-29T10:02:00.000000Z")
    assert store.breaker_gate("p", "poll", T0 + timedelta(minutes=2, seconds=10)) == "circuit_open"


def test_manual_reset_is_always_recorded(store):
    change = store.reset_breaker("p", "poll", T0)  # no row yet
    assert (change.from_state, change.to_state, change.reason) == (None, "closed", "manual_reset")
    for _ in range(2):
        end(store, running(store), Status.FAILED, T0)
    store.reset_breaker("p", "poll", T0 + timedelta(seconds=1))
    assert (row(store)["state"], row(store)["failure_count"]) == ("closed", 0)
    assert store.breaker_gate("p", "poll", T0 + timedelta(seconds=2)) is None
    froms = [(t["from_state"], t["reason"]) for t in reversed(store.breaker_transitions("p", "poll"))]
    assert froms == [(None, "manual_reset"), ("closed", "failure_threshold"), ("open", "manual_reset")]


def test_breaker_write_and_job_end_are_one_transaction(store):
    job = running(store)
    # make the breaker's own write fail: the job's end must roll back with it (and nothing is
    # announced), proving the count cannot be lost or applied without the job ending
    if is_pg(store):
        raw(store, "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RAISE 'refused'; END$$")
        raw(
            store, "CREATE TRIGGER no_breakers BEFORE INSERT ON circuit_breakers FOR EACH ROW EXECUTE FUNCTION refuse()"
        )
    else:
        raw(
            store,
            "CREATE TRIGGER no_breakers BEFORE INSERT ON circuit_breakers BEGIN SELECT RAISE(ABORT, 'refused'); END",
        )
    with pytest.raises((sqlite3.IntegrityError, psycopg.Error)):
        end(store, job, Status.FAILED, T0)
    assert store.get_job(job.job_id).status is Status.RUNNING
    assert store.breaker_row("p", "poll") is None and store.heard == []
    raw(store, "DROP TRIGGER no_breakers" + (" ON circuit_breakers" if is_pg(store) else ""))
    end(store, job, Status.FAILED, T0)  # retried once the write works: counted exactly once
    assert row(store)["failure_count"] == 1


def test_state_survives_reopen_and_prune_removes_old_transitions(target):
    s = open_store(target)
    s.configure_breakers(thresholds={"p": 1}, reset_after={}, listener=None)
    end(s, running(s), Status.FAILED, T0)
    s.reset_breaker("p", "poll", T0 + timedelta(days=100))
    s.close()
    s = open_store(target)  # unconfigured: defaults, state read back from disk
    try:
        assert s.breaker_row("p", "poll")["state"] == "closed"
        assert len(s.breaker_transitions("p", "poll")) == 2
        assert s.prune_breaker_transitions(T0 + timedelta(days=10)) == 1  # the old failure_threshold row
        assert s.prune_breaker_transitions(T0 + timedelta(days=10)) == 0
        [left] = s.breaker_transitions("p", "poll")
        assert left["reason"] == "manual_reset"
    finally:
        s.close()


async def test_the_pruner_honours_breaker_transitions_retention(target):
    import asyncio

    from ductile.timeutil import utcnow
    from ductile.upkeep import pruner

    s = open_store(target)
    try:
        now = utcnow()
        s.reset_breaker("p", "poll", now - timedelta(days=91))
        s.reset_breaker("p", "poll", now - timedelta(days=89))
        stop = asyncio.Event()
        task = asyncio.create_task(pruner.run(s, {"default": 30 * 86400.0}, stop, breaker_retention=90 * 86400.0))
        for _ in range(500):  # a deadline of iterations, not a timing assertion
            if len(s.breaker_transitions("p", "poll")) == 1:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await task
        [left] = s.breaker_transitions("p", "poll")
        assert left["created_at"] > (now - timedelta(days=90)).isoformat()[:10]
    finally:
        s.close()


def test_a_failing_listener_does_not_turn_a_committed_finish_into_an_error(target):
    s = open_store(target)

    def broken(changes: list[Change]) -> None:
        raise RuntimeError("subscriber blew up")

    s.configure_breakers(thresholds={"p": 1}, reset_after={}, listener=broken)
    try:
        done = end(s, running(s), Status.FAILED, T0)
        assert done.status is Status.FAILED
        assert s.breaker_row("p", "poll")["state"] == "open"
    finally:
        s.close()
