"""The store contract, run against both backends (the `store` fixture in conftest.py): a real
SQLite file in tmp_path and a real PostgreSQL schema, no mocks; the same assertions on both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ductile.jobs import AttemptRecord, NewJob, ScheduleState, StateChange
from ductile.lifecycle import Decision, Outcome, Status, decide
from ductile.store import SchemaTooNew, StateTooLarge, StoreError, open_store
from ductile.store.base import STATE_LIMIT
from ductile.store.queries import migrations
from ductile.timeutil import from_text, to_text
from store.backends import is_pg, raw, reopen

T0 = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def known_migrations(store) -> list[int]:
    return [v for v, _ in migrations("migrations_postgres" if is_pg(store) else "migrations")]


def enqueue(store, plugin="p", command="poll", *, t=0.0, key=None, since=None, max_attempts=3, payload=None):
    return store.enqueue(
        NewJob(
            plugin=plugin,
            command=command,
            payload=payload,
            submitted_by="api",
            max_attempts=max_attempts,
            dedupe_key=key,
        ),
        now=at(t),
        dedupe_since=since,
    )


def record(outcome="success", *, response=None, error=None, t=1.0) -> AttemptRecord:
    return AttemptRecord(
        outcome, to_text(at(0)), to_text(at(t)), 12.5, response=response, error=error, stderr="err", exit_code=0
    )


def ok(store, job, t=1.0, change=None, events=None):
    return store.finish(
        job,
        record(response={"status": "ok", "result": "r"}),
        Decision(Status.SUCCEEDED),
        now=at(t),
        state_change=change,
        events=events,
    )


# -- schema -----------------------------------------------------------------------------------


def test_fresh_database_is_at_the_latest_schema_with_every_table(store):
    assert store.schema_version() == known_migrations(store)[-1]
    if is_pg(store):
        sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    else:
        assert raw(store, "PRAGMA journal_mode") == [("wal",)]
        sql = "SELECT name FROM sqlite_master WHERE type='table'"
    tables = {r[0] for r in raw(store, sql)}
    assert {"jobs", "attempts", "transitions", "plugin_state", "schedule_state", "schema_version"} <= tables
    assert {"job_counts", "job_counts_hourly", "event_contexts", "plugin_events", "facts"} <= tables


def test_reopening_does_not_migrate_twice(store):
    again = reopen(store)
    rows = raw(again, "SELECT version FROM schema_version ORDER BY version")
    assert [r[0] for r in rows] == known_migrations(store)
    again.close()


def test_refuses_a_newer_schema_and_leaves_it_untouched(store):
    raw(store, "INSERT INTO schema_version (version) VALUES (999)")
    with pytest.raises(SchemaTooNew) as info:
        reopen(store)
    where = store.target if is_pg(store) else store.path
    assert str(info.value) == (
        f"{where}: database schema version 999 is newer than this ductile supports "
        f"({known_migrations(store)[-1]}); upgrade ductile or use another database" + ("" if is_pg(store) else " file")
    )
    assert raw(store, "SELECT max(version) FROM schema_version") == [(999,)]


def test_open_store_accepts_paths_sqlite_and_postgresql_urls_only(tmp_path):
    s = open_store(f"sqlite:///{tmp_path}/u.db")
    assert (tmp_path / "u.db").exists()
    s.close()
    with pytest.raises(
        StoreError,
        match=r"unsupported database url 'mysql://x/y' \(accepted: a file path, sqlite:///path or postgresql://…\)",
    ):
        open_store("mysql://x/y")


# -- enqueue and dedupe ----------------------------------------------------------------------


def test_enqueue_is_durable_with_a_transition(store):
    result = enqueue(store, payload={"a": 1})
    assert result.created and result.status is Status.QUEUED
    other = reopen(store)  # another connection sees it at once
    job = other.get_job(result.job_id)
    other.close()
    assert (job.status, job.attempt, job.max_attempts, job.payload, job.submitted_by) == (
        Status.QUEUED,
        1,
        3,
        {"a": 1},
        "api",
    )
    assert job.created_at == "2026-11-29T10:00:00.000000Z"
    [tr] = store.transitions(result.job_id)
    assert (tr.from_status, tr.to_status, tr.reason) == (None, "queued", "enqueued by api")


def test_dedupe_against_active_jobs_and_recent_successes(store):
    first = enqueue(store, key="k")
    dup = enqueue(store, key="k", t=1)
    assert (dup.created, dup.job_id, dup.status) == (False, first.job_id, Status.QUEUED)
    assert enqueue(store, key="k", command="sync", t=1).created  # key is per (key, plugin, command)
    assert enqueue(store, key="k", plugin="q", t=1).created
    job = store.claim(now=at(2))
    assert job.job_id == first.job_id
    assert enqueue(store, key="k", t=3).job_id == first.job_id  # running counts too
    ok(store, job, t=4)
    # succeeded within the dedupe window: still a duplicate
    dup = enqueue(store, key="k", t=5, since=at(5 - 3600))
    assert (dup.created, dup.job_id, dup.status) == (False, first.job_id, Status.SUCCEEDED)
    # outside the window, or no window given: a new job
    assert enqueue(store, key="k", t=10, since=at(5)).created


def test_failed_jobs_do_not_block_a_new_one_with_the_same_key(store):
    first = enqueue(store, key="k")
    job = store.claim(now=at(1))
    store.finish(job, record("fatal", error="e"), Decision(Status.FAILED, last_error="e"), now=at(2))
    again = enqueue(store, key="k", t=3, since=at(0))
    assert again.created and again.job_id != first.job_id


# -- claim ------------------------------------------------------------------------------------


def test_claim_is_fifo_and_opens_an_attempt(store):
    ids = [enqueue(store, t=t).job_id for t in (0.3, 0.1, 0.2)]
    order = [store.claim(now=at(5)).job_id for _ in range(3)]
    assert order == [ids[1], ids[2], ids[0]]
    assert store.claim(now=at(5)) is None
    job = store.get_job(order[0])
    assert job.status is Status.RUNNING and job.started_at == to_text(at(5))
    [attempt] = store.attempts(order[0])
    assert (attempt.attempt, attempt.started_at, attempt.completed_at) == (1, to_text(at(5)), None)
    assert [t.to_status for t in store.transitions(order[0])] == ["queued", "running"]


def test_claim_respects_next_retry_at_and_reports_when_it_falls_due(store):
    first = enqueue(store).job_id
    second = enqueue(store, t=1).job_id
    job = store.claim(now=at(2))
    assert job.job_id == first
    store.finish(
        job, record("error", error="e"), Decision(Status.QUEUED, next_retry_at=at(30), last_error="e"), now=at(3)
    )
    retry = store.get_job(first)
    assert (retry.status, retry.attempt, retry.next_retry_at, retry.last_error) == (
        Status.QUEUED,
        2,
        to_text(at(30)),
        "e",
    )
    # the older job is not eligible yet, so the younger one goes first
    assert store.claim(now=at(4)).job_id == second
    assert store.claim(now=at(29)) is None
    assert store.next_retry_due(at(29)) == at(30)
    assert store.next_retry_due(at(31)) is None
    again = store.claim(now=at(30))
    assert (again.job_id, again.attempt) == (first, 2)
    assert store.get_job(first).next_retry_at is None


def test_claim_skips_excluded_instances_and_running_dedupe_keys(store):
    a = enqueue(store, plugin="a").job_id
    b = enqueue(store, plugin="b", t=1).job_id
    assert store.claim(now=at(2), excluded_plugins=["a"]).job_id == b
    assert store.claim(now=at(2), excluded_plugins=["a"]) is None
    assert store.claim(now=at(2)).job_id == a
    # two queued jobs with the same key never run at once (enqueue without dedupe, as the scheduler's queue mode)
    for t in (3, 4):
        store.enqueue(
            NewJob(plugin="c", command="poll", dedupe_key="ck"), now=at(t), dedupe_since=None, enforce_dedupe=False
        )
    first = store.claim(now=at(5))
    assert first.plugin == "c"
    assert store.claim(now=at(5)) is None
    ok(store, first, t=6)
    assert store.claim(now=at(7)).plugin == "c"


# -- finish -----------------------------------------------------------------------------------


def test_finish_records_the_attempt_and_the_terminal_status(store):
    job_id = enqueue(store).job_id
    job = store.claim(now=at(1))
    done = store.finish(
        job,
        AttemptRecord(
            "success",
            to_text(at(1)),
            to_text(at(2)),
            812.0,
            response={"status": "ok", "result": "r"},
            logs=[{"level": "info", "message": "m"}],
            stderr="tail",
            exit_code=0,
        ),
        Decision(Status.SUCCEEDED),
        now=at(2),
        events=[{"type": "x.done", "payload": {"n": 1}, "dedupe_key": "e1"}],
    )
    assert (done.status, done.completed_at, done.last_error) == (Status.SUCCEEDED, to_text(at(2)), None)
    [attempt] = store.attempts(job_id)
    assert attempt.outcome == "success" and attempt.status == "succeeded"
    assert attempt.response == {"status": "ok", "result": "r"}
    assert attempt.logs == [{"level": "info", "message": "m"}]
    assert (attempt.stderr, attempt.exit_code, attempt.duration_ms) == ("tail", 0, 812.0)
    assert [e["type"] for e in store.emitted_events(job_id)] == ["x.done"]
    assert [(t.from_status, t.to_status) for t in store.transitions(job_id)] == [
        (None, "queued"),
        ("queued", "running"),
        ("running", "succeeded"),
    ]
    assert store.status_counts()["succeeded"] == 1 and store.status_counts()["running"] == 0


def test_finish_twice_is_refused(store):
    enqueue(store)
    job = store.claim(now=at(1))
    ok(store, job)
    with pytest.raises(StoreError, match="was not running"):
        ok(store, job)


def test_a_full_retry_history_through_decide(store):
    job_id = enqueue(store, max_attempts=3).job_id
    now = 1.0
    for _ in range(3):
        job = store.claim(now=at(now + 100))
        decision = decide(
            Outcome.ERROR,
            attempt=job.attempt,
            max_attempts=job.max_attempts,
            backoff_base=10,
            now=at(now + 100),
            draw=0,
            error=f"e{job.attempt}",
        )
        store.finish(job, record("error", error=f"e{job.attempt}"), decision, now=at(now + 100))
        now += 100
    job = store.get_job(job_id)
    assert (job.status, job.attempt, job.last_error) == (Status.FAILED, 3, "e3 (attempt 3 of 3; retries exhausted)")
    assert [a.attempt for a in store.attempts(job_id)] == [1, 2, 3]
    assert [a.status for a in store.attempts(job_id)] == ["queued", "queued", "failed"]
    reasons = [t.reason for t in store.transitions(job_id)]
    # the retry transition says when the next attempt is due: base 10s, then 20s
    assert "attempt 1 error; retry as attempt 2 at 2026-11-29T10:01:51.000000Z" in reasons
    assert "attempt 2 error; retry as attempt 3 at 2026-11-29T10:03:41.000000Z" in reasons
    assert reasons[-1] == "attempt 3 error: e3 (attempt 3 of 3; retries exhausted)"


# -- state ------------------------------------------------------------------------------------


def test_state_is_merged_shallowly_with_completion(store):
    for updates in ({"a": 1, "nested": {"x": 1}}, {"b": 2, "nested": {"y": 2}}):
        enqueue(store)
        ok(store, store.claim(now=at(1)), change=StateChange(data=updates))
    assert store.get_state("p") == {"a": 1, "b": 2, "nested": {"y": 2}}
    assert store.get_state("other") == {}
    assert store.all_states() == {"p": {"a": 1, "b": 2, "nested": {"y": 2}}}


def test_state_over_one_mebibyte_writes_nothing(store):
    enqueue(store)
    ok(store, store.claim(now=at(1)), change=StateChange(data={"keep": "me"}))
    job_id = enqueue(store).job_id
    job = store.claim(now=at(2))
    with pytest.raises(StateTooLarge) as info:
        ok(store, job, change=StateChange(data={"blob": "x" * STATE_LIMIT}))
    assert "state of p would be" in str(info.value) and f"(limit {STATE_LIMIT} bytes); state left unchanged" in str(
        info.value
    )
    # the whole transaction rolled back: state, attempt and status untouched
    assert store.get_state("p") == {"keep": "me"}
    assert store.get_job(job_id).status is Status.RUNNING
    assert store.attempts(job_id)[0].completed_at is None
    # just under the limit is fine
    ok(store, job, change=StateChange(data={"blob": "x" * (STATE_LIMIT - 100)}))
    assert len(store.get_state("p")["blob"]) == STATE_LIMIT - 100


def test_fact_outputs_replace_state_and_append_a_fact(store):
    enqueue(store)
    ok(store, store.claim(now=at(1)), change=StateChange(data={"old": 1}))
    for n in (1, 2):
        enqueue(store)
        ok(
            store,
            store.claim(now=at(2)),
            change=StateChange(data={"rows": n}, replace=True, fact_type="table.snapshot"),
        )
    assert store.get_state("p") == {"rows": 2}
    facts = raw(store, "SELECT instance, fact_type, data FROM facts ORDER BY id")
    assert facts == [("p", "table.snapshot", '{"rows":1}'), ("p", "table.snapshot", '{"rows":2}')]


# -- cancel and recovery ---------------------------------------------------------------------


def test_cancel_queued_and_running_jobs(store):
    queued = enqueue(store).job_id
    running_id = enqueue(store, t=1).job_id
    store.claim(now=at(2))  # the older one
    running = store.claim(now=at(2))
    assert running.job_id == running_id
    done = store.cancel(queued, reason="cancelled by test", now=at(3))
    assert (done.status, done.last_error) == (Status.DEAD, "cancelled by test")
    store2 = store.cancel(running_id, reason="stop it", now=at(3))
    assert store2.status is Status.DEAD
    assert store.attempts(running_id)[0].outcome == "cancelled"
    # cancelling a finished job changes nothing; an unknown id is None
    assert store.cancel(queued, reason="again", now=at(4)).last_error == "cancelled by test"
    assert store.cancel("nope", reason="x", now=at(4)) is None
    assert store.transitions(running_id)[-1].to_status == "dead"


def test_running_jobs_lists_what_recovery_must_handle(store):
    enqueue(store)
    enqueue(store, t=1)
    claimed = store.claim(now=at(2))
    assert [j.job_id for j in store.running_jobs()] == [claimed.job_id]


# -- schedule state, counts ------------------------------------------------------------------


def test_schedule_state_round_trip_and_atomic_with_enqueue(store):
    state = ScheduleState("p", "default", to_text(at(10)), to_text(at(11)), None, None)
    store.put_schedule_state(state)
    assert store.schedule_states()[("p", "default")] == state
    fired = ScheduleState("p", "default", to_text(at(20)), to_text(at(20)), to_text(at(11)), None)
    result = store.enqueue(
        NewJob(plugin="p", command="poll", submitted_by="scheduler", dedupe_key="p:poll:default"),
        now=at(11),
        dedupe_since=None,
        enforce_dedupe=False,
        schedule_state=fired,
    )
    saved = store.schedule_states()[("p", "default")]
    assert (saved.next_slot, saved.last_fired, saved.last_job_id) == (to_text(at(20)), to_text(at(11)), result.job_id)
    assert store.count_active("p", "poll", "p:poll:default") == 1
    assert from_text(saved.next_slot) == at(20)


def test_status_counts_follow_every_transition(store):
    for t in range(3):
        enqueue(store, t=t)
    job = store.claim(now=at(5))
    store.finish(job, record("fatal", error="x"), Decision(Status.FAILED, last_error="x"), now=at(6))
    store.claim(now=at(7))
    counts = store.status_counts()
    assert (counts["queued"], counts["running"], counts["failed"], counts["succeeded"]) == (1, 1, 1, 0)
