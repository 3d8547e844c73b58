"""The store contract of issues 11 and 13 on both backends (the `store` fixture: a real SQLite file
and a real PostgreSQL schema): `claim(start=)` spawning inside the claim transaction, retry links,
bulk enqueues with their audit row in one transaction, the audit trail, schedule runs for health,
and (PostgreSQL only) breaker counts from two nodes at once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from ductile.jobs import AttemptRecord, BulkAction, Job, NewJob
from ductile.lifecycle import Decision, Status
from ductile.store import open_store
from ductile.timeutil import to_text
from store.backends import is_pg, raw

T0 = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def new(key: str | None = None, *, retry_of: str | None = None, by: str = "api", payload: object = None) -> NewJob:
    return NewJob(
        plugin="p", command="poll", payload=payload, submitted_by=by, max_attempts=1, dedupe_key=key, retry_of=retry_of
    )


def audit(matched: int) -> BulkAction:
    return BulkAction(
        action="retry", actor="ops", filter={"status": "failed"}, matched=matched, acted=0, skipped=0, job_ids=[]
    )


def end(store, job: Job, status: Status, t: float) -> Job:
    record = AttemptRecord("error", to_text(at(t)), to_text(at(t)), 1.0, error="boom")
    return store.finish(
        job, record, Decision(status, last_error=None if status is Status.SUCCEEDED else "boom"), now=at(t)
    )


# -- claim(start=) -------------------------------------------------------------------------------
def test_claim_start_runs_inside_the_claim_and_its_pid_is_on_the_attempt(store):
    first = store.enqueue(new(), now=at(0), dedupe_since=None)
    seen: list[tuple[str, str]] = []

    def start(job: Job) -> int:
        seen.append((job.job_id, job.status.value))
        return 4242

    job = store.claim(now=at(1), start=start)
    assert job is not None and job.job_id == first.job_id
    assert seen == [(first.job_id, "running")]  # called once, with the claimed (running) job
    assert store.running_pids() == {first.job_id: 4242}
    assert [a.attempt for a in store.attempts(first.job_id)] == [1]


def test_claim_start_returning_none_records_no_pid(store):
    store.enqueue(new(), now=at(0), dedupe_since=None)
    job = store.claim(now=at(1), start=lambda job: None)
    assert job is not None and job.status is Status.RUNNING
    assert store.running_pids() == {}


def test_an_exception_from_start_rolls_the_claim_back(store):
    first = store.enqueue(new(), now=at(0), dedupe_since=None)

    def start(job: Job) -> int:
        raise RuntimeError("spawn failed")

    with pytest.raises(RuntimeError, match="spawn failed"):
        store.claim(now=at(1), start=start)
    assert store.get_job(first.job_id).status is Status.QUEUED
    assert store.attempts(first.job_id) == []
    assert [t.to_status for t in store.transitions(first.job_id)] == ["queued"]
    again = store.claim(now=at(2), start=lambda job: 7)
    assert again is not None and again.job_id == first.job_id and store.running_pids() == {first.job_id: 7}


def test_record_pid_for_spawners_outside_the_claim(store):
    first = store.enqueue(new(), now=at(0), dedupe_since=None)
    job = store.claim(now=at(1))
    assert store.running_pids() == {}
    store.record_pid(job.job_id, job.attempt, 5150)
    assert store.running_pids() == {first.job_id: 5150}


# -- retries ---------------------------------------------------------------------------------------
def test_a_retry_links_both_ways_and_says_so_in_its_first_transition(store):
    original = store.enqueue(new(), now=at(0), dedupe_since=None).job_id
    end(store, store.claim(now=at(1)), Status.FAILED, 2)
    retry = store.enqueue(new(retry_of=original), now=at(3), dedupe_since=None)
    again = store.enqueue(new(retry_of=original), now=at(4), dedupe_since=None)
    assert store.retry_links(retry.job_id) == {"retry_of": original, "retried_by": []}
    assert store.retry_links(original) == {"retry_of": None, "retried_by": [retry.job_id, again.job_id]}
    assert store.transitions(retry.job_id)[0].reason == f"enqueued by api (retry of {original})"
    assert store.retry_links("no-such-job") == {"retry_of": None, "retried_by": []}


# -- enqueue_many and the audit trail --------------------------------------------------------------
def test_enqueue_many_dedupes_and_writes_its_audit_row_from_the_results(store):
    active = store.enqueue(new("k1"), now=at(0), dedupe_since=None)
    results, audit_id = store.enqueue_many(
        [new("k1"), new("k2", retry_of=active.job_id), new()], now=at(1), dedupe_since=None, audit=audit(3)
    )
    assert [r.created for r in results] == [False, True, True]
    assert results[0].job_id == active.job_id
    created = [r.job_id for r in results if r.created]
    [row] = store.bulk_actions()
    assert (row.id, row.action, row.actor, row.filter) == (audit_id, "retry", "ops", {"status": "failed"})
    assert (row.matched, row.acted, row.skipped, row.job_ids) == (3, 2, 1, created)
    assert row.created_at == to_text(at(1))
    assert store.retry_links(active.job_id)["retried_by"] == [created[0]]


def test_enqueue_many_without_audit_returns_no_audit_id(store):
    results, audit_id = store.enqueue_many([new(), new()], now=at(0), dedupe_since=None)
    assert audit_id is None and all(r.created for r in results)
    assert store.bulk_actions() == []


def test_enqueue_many_is_all_or_nothing(store):
    # the third job cannot be stored (its payload is not JSON): the first two and the audit row go too
    with pytest.raises(TypeError):
        store.enqueue_many([new("a"), new("b"), new(payload={1, 2})], now=at(0), dedupe_since=None, audit=audit(3))
    assert raw(store, "SELECT count(*) FROM jobs")[0][0] == 0
    assert store.bulk_actions() == []


def test_bulk_actions_are_newest_first_and_limited(store):
    ids = [
        store.record_bulk_action(
            BulkAction(action=a, actor="ops", filter={"n": i}, matched=i, acted=i, skipped=0, job_ids=[f"j{i}"]),
            now=at(i),
        )
        for i, a in enumerate(["retry", "cancel", "retry"])
    ]
    assert ids == sorted(ids) and len(set(ids)) == 3
    rows = store.bulk_actions(limit=2)
    assert [(r.id, r.action, r.filter, r.job_ids) for r in rows] == [
        (ids[2], "retry", {"n": 2}, ["j2"]),
        (ids[1], "cancel", {"n": 1}, ["j1"]),
    ]


# -- schedule health reads -------------------------------------------------------------------------
def test_schedule_runs_are_the_newest_finished_runs_of_the_key_and_the_last_success(store):
    outcomes = [Status.SUCCEEDED, Status.FAILED, Status.SUCCEEDED, Status.TIMED_OUT, Status.DEAD]
    for i, status in enumerate(outcomes):
        store.enqueue(new("sched:p:default", by="scheduler"), now=at(10 * i), dedupe_since=None)
        end(store, store.claim(now=at(10 * i + 1)), status, 10 * i + 2)
    store.enqueue(new("other-key", by="scheduler"), now=at(100), dedupe_since=None)  # another entry
    end(store, store.claim(now=at(101)), Status.SUCCEEDED, 102)
    store.enqueue(new("sched:p:default", by="scheduler"), now=at(200), dedupe_since=None)  # still queued
    runs, last_success = store.schedule_runs("p", "poll", "sched:p:default", 3)
    assert runs == [("dead", to_text(at(42))), ("timed_out", to_text(at(32))), ("succeeded", to_text(at(22)))]
    assert last_success == to_text(at(22))
    assert store.schedule_runs("p", "poll", "never-ran", 3) == ([], None)
    assert store.schedule_runs("p", "other", "sched:p:default", 3) == ([], None)


# -- breakers across nodes (PostgreSQL) ------------------------------------------------------------
def test_two_nodes_counting_failures_of_one_breaker_at_once_lose_none(store):
    """Behaviour, not mechanism: today the finishes of one plugin also queue on its job_counts row
    (trigger), so this holds even without `breaker_lock`; the lock is what keeps gate and reset
    (which touch no counts row) and any future counts layout from losing an update."""
    if not is_pg(store):
        pytest.skip("one SQLite writer at a time: nothing can interleave")
    nodes = [store, open_store(store.url)]
    try:
        for s in nodes:
            s.configure_breakers(thresholds={"p": 1000}, reset_after={}, submitters=frozenset({"scheduler"}))
        per_node = 15
        for i in range(2 * per_node):
            store.enqueue(new(by="scheduler"), now=at(i), dedupe_since=None)
        claimed = {id(s): [s.claim(now=at(100)) for _ in range(per_node)] for s in nodes}
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def fail_all(s) -> None:
            barrier.wait()
            try:
                for job in claimed[id(s)]:
                    end(s, job, Status.FAILED, 200)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=fail_all, args=(s,)) for s in nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert store.breaker_row("p", "poll")["failure_count"] == 2 * per_node
    finally:
        nodes[1].close()


def race_bulk(stores: list, orders: list[list[str]], now: datetime) -> tuple[list[int], list[BaseException]]:
    """Each store bulk-enqueues its keys at once (a barrier releases them together)."""
    barrier = threading.Barrier(len(stores))
    errors: list[BaseException] = []
    created: list[int] = []

    def bulk(s, order: list[str]) -> None:
        barrier.wait()
        try:
            results, _ = s.enqueue_many([new(k) for k in order], now=now, dedupe_since=None)
            created.append(sum(r.created for r in results))
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=bulk, args=(s, o)) for s, o in zip(stores, orders, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return created, errors


def test_two_nodes_bulk_enqueueing_overlapping_keys_in_opposite_orders_make_one_job_per_key(store):
    """Each node's enqueue_many takes its dedupe-key locks in one sorted order: no deadlock between
    opposite orders, and each key gets exactly one job however the two interleave."""
    if not is_pg(store):
        pytest.skip("one SQLite writer at a time: nothing can interleave")
    other = open_store(store.url)
    try:
        for round_ in range(5):
            keys = [f"r{round_}-k{i}" for i in range(20)]
            created, errors = race_bulk([store, other], [keys, list(reversed(keys))], at(round_))
            assert errors == []
            assert sum(created) == len(keys)
            sql = "SELECT dedupe_key, count(*) FROM jobs WHERE dedupe_key LIKE ? GROUP BY dedupe_key"
            assert sorted(raw(store, sql, (f"r{round_}-%",))) == sorted((k, 1) for k in keys)
    finally:
        other.close()
