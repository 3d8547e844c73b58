"""`finish_then_claim` (issue 11): a worker finishing a job takes the next one in the same
transaction. The contract on both backends: the finish is exactly `finish`'s, the claim exactly
`claim`'s (with `start` inside it and the pid on the attempt row), and a failing finish claims
nothing."""

from __future__ import annotations

import pytest

from ductile.jobs import NewJob, StateChange
from ductile.lifecycle import Decision, Status
from ductile.store import StateTooLarge, StoreError
from ductile.store.base import STATE_LIMIT
from store.backends import raw
from store.test_sqlite_store import at, enqueue, record


def finish_then_claim(store, job, *, change=None, excluded=(), start=None, t=2.0):
    return store.finish_then_claim(
        job,
        record(response={"status": "ok", "result": "r"}),
        Decision(Status.SUCCEEDED),
        now=at(t),
        state_change=change,
        excluded_plugins=excluded,
        start=start,
    )


def test_finishes_one_job_and_claims_the_next_with_its_pid(store):
    first = enqueue(store).job_id
    second = enqueue(store, t=1).job_id
    job = store.claim(now=at(1))
    seen = []

    def start(claimed):
        seen.append(claimed.job_id)
        return 4242

    done, nxt = finish_then_claim(store, job, start=start)
    assert (done.job_id, done.status, done.completed_at) == (first, Status.SUCCEEDED, "2026-11-29T10:00:02.000000Z")
    assert nxt is not None and nxt.job_id == second and nxt.status is Status.RUNNING and seen == [second]
    assert raw(store, "SELECT job_id, attempt, pid FROM attempts ORDER BY job_id = ?", (first,)) == [
        (second, 1, 4242),
        (first, 1, None),
    ]
    assert [(t.from_status, t.to_status) for t in store.transitions(first)][-1] == ("running", "succeeded")
    assert [(t.from_status, t.to_status) for t in store.transitions(second)][-1] == ("queued", "running")
    assert store.status_counts()["running"] == 1 and store.status_counts()["succeeded"] == 1


def test_an_empty_queue_only_finishes(store):
    enqueue(store)
    job = store.claim(now=at(1))
    done, nxt = finish_then_claim(store, job, start=lambda _job: 1)
    assert done.status is Status.SUCCEEDED and nxt is None
    assert store.status_counts()["running"] == 0


def test_excluded_instances_are_not_claimed_but_a_freed_dedupe_key_is(store):
    # The finished job no longer holds its dedupe key: a queued job with that key may start in
    # the same transaction; an excluded instance's job may not.
    enqueue(store, plugin="p", key="k")
    job = store.claim(now=at(1))
    enqueue(store, plugin="x", t=1)
    store.enqueue(
        NewJob(plugin="p", command="poll", dedupe_key="k"), now=at(1), dedupe_since=None, enforce_dedupe=False
    )
    _done, nxt = finish_then_claim(store, job, excluded=["x"])
    assert nxt is not None and (nxt.plugin, nxt.dedupe_key) == ("p", "k")


def test_a_refused_finish_claims_nothing(store):
    enqueue(store)
    waiting = enqueue(store, t=1).job_id
    job = store.claim(now=at(1))
    store.finish(job, record(), Decision(Status.SUCCEEDED), now=at(2))
    started = []
    with pytest.raises(StoreError, match="was not running"):
        finish_then_claim(store, job, start=lambda j: started.append(j) or 1)
    assert started == [] and store.get_job(waiting).status is Status.QUEUED


def test_state_too_large_writes_nothing_and_claims_nothing(store):
    enqueue(store)
    waiting = enqueue(store, t=1).job_id
    job = store.claim(now=at(1))
    with pytest.raises(StateTooLarge):
        finish_then_claim(store, job, change=StateChange(data={"blob": "x" * STATE_LIMIT}))
    assert store.get_job(job.job_id).status is Status.RUNNING
    assert store.get_job(waiting).status is Status.QUEUED
    assert store.get_state("p") == {}


def test_start_sees_the_state_the_finish_wrote(store):
    # The dispatcher builds the next request (with the instance's state) inside `start`.
    enqueue(store)
    enqueue(store, t=1)
    job = store.claim(now=at(1))
    states = []
    _done, nxt = finish_then_claim(
        store, job, change=StateChange(data={"cursor": 7}), start=lambda _j: states.append(store.get_state("p")) or 9
    )
    assert nxt is not None and states == [{"cursor": 7}]


def test_a_start_that_raises_rolls_back_the_finish_too(store):
    # `start` must not raise (the dispatcher's never does); if it did, the one transaction is
    # all-or-nothing: the finished job is still running and can be finished again.
    enqueue(store)
    waiting = enqueue(store, t=1).job_id
    job = store.claim(now=at(1))

    def start(_job):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        finish_then_claim(store, job, start=start)
    assert store.get_job(job.job_id).status is Status.RUNNING
    assert store.get_job(waiting).status is Status.QUEUED
    done, nxt = finish_then_claim(store, job)
    assert done.status is Status.SUCCEEDED and nxt is not None and nxt.job_id == waiting
