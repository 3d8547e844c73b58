"""PostgreSQL-only store behaviour that exists because several nodes share one database: claims
racing from several connections, cluster-wide instance limits, node leases and recovery, the
leader lock, LISTEN/NOTIFY wake-ups, the schedule fence, and how server faults are named.
Every "node" here is a real PostgresStore with its own connection pool on a fresh schema."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pgtest import fresh_schema, require_pg, with_schema

from ductile.jobs import AttemptRecord, NewJob, ScheduleState
from ductile.lifecycle import Decision, Status
from ductile.recovery import recover_jobs
from ductile.registry import Registry
from ductile.store import StoreDamaged, StoreError, StoreUnavailable, open_store
from ductile.timeutil import to_text

T0 = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_schema("node") as u:
        yield u


@pytest.fixture
def nodes(url: str) -> Iterator[list[Any]]:
    made = [open_store(url, node_id=f"n{i}") for i in range(3)]
    yield made
    for s in made:
        s.close()


def enqueue(store: Any, plugin: str = "p", t: float = 0.0, **extra: Any) -> str:
    return store.enqueue(NewJob(plugin=plugin, command="poll", **extra), now=at(t), dedupe_since=None).job_id


def ok(store: Any, job: Any, t: float = 1.0) -> Any:
    record = AttemptRecord("success", to_text(at(t)), to_text(at(t)), 1.0, response={"status": "ok"})
    return store.finish(job, record, Decision(Status.SUCCEEDED), now=at(t))


def test_racing_claims_from_three_nodes_take_each_job_exactly_once(nodes: list[Any]) -> None:
    ids = {enqueue(nodes[0], t=i * 0.001) for i in range(600)}
    claimed: list[tuple[str, str]] = []
    lock = threading.Lock()

    def worker(store: Any) -> None:
        while True:
            job = store.claim(now=at(10))
            if job is None:
                return
            with lock:
                claimed.append((job.job_id, store.node_id))

    threads = [threading.Thread(target=worker, args=(s,)) for s in nodes for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(j for j, _ in claimed) == sorted(ids)  # every job once, none twice
    nodes_of = dict(claimed)
    attempts = nodes[0]._read("SELECT job_id, node_id FROM attempts")
    assert {r[0]: r[1] for r in attempts} == nodes_of  # the attempt names the node that claimed it
    assert len(set(nodes_of.values())) >= 2


def test_instance_limits_hold_across_nodes(nodes: list[Any]) -> None:
    a, b, _ = nodes
    for s in nodes:
        s.claim_limits = {"solo": 1, "pair": 2}
    solo = [enqueue(a, "solo", t=i) for i in range(3)]
    enqueue(a, "pair", t=10)
    enqueue(a, "pair", t=11)
    enqueue(a, "pair", t=12)
    first = a.claim(now=at(20))
    assert first.job_id == solo[0]
    # node b may not start a second `solo` (concurrency_safe: false) while a runs one
    got = [b.claim(now=at(20)) for _ in range(3)]
    assert [j.plugin if j else None for j in got] == ["pair", "pair", None]
    ok(a, first)
    again = b.claim(now=at(21))
    assert again.job_id == solo[1]


def test_a_lapsed_node_is_reaped_once_and_its_jobs_recovered_by_the_status_rule(
    nodes: list[Any], tmp_path: Path
) -> None:
    a, b, c = nodes
    for s in nodes:
        s.register_node(now=at(0), version="t")
    job_id = enqueue(a, max_attempts=3)
    job = a.claim(now=at(1))
    a.heartbeat(now=at(1))
    for s in (b, c):
        s.heartbeat(now=at(30))
    assert [n["node_id"] for n in b.nodes()] == ["n0", "n1", "n2"]
    assert {n["node_id"]: n["running"] for n in b.nodes()}["n0"] == 1
    # b and c both look; the DELETE gives node a to exactly one of them
    reaped = b.reap_nodes(now=at(30), lease=15) + c.reap_nodes(now=at(30), lease=15)
    assert [n["node_id"] for n in reaped] == ["n0"]
    [orphan] = c.orphaned_running()
    assert (orphan.job.job_id, orphan.node_id) == (job_id, "n0")
    registry = Registry(instances={}, data_dir=tmp_path)
    [back] = recover_jobs(c, registry, [(orphan.job, None)], now=at(31), draw=lambda: 0.0)
    assert (back.status, back.attempt) == (Status.QUEUED, 2)
    # recovering the same job again (another survivor, late) changes nothing
    assert recover_jobs(b, registry, [(orphan.job, None)], now=at(31)) == []
    # the lapsed node, back from its pause, cannot record the attempt it lost
    with pytest.raises(StoreError, match="was not running when finishing attempt 1"):
        ok(a, job, t=32)
    assert not a.heartbeat(now=at(33))  # its row is gone: it must register again
    assert b.get_job(job_id).attempt == 2


def test_exactly_one_leader_and_failover_when_it_lets_go(nodes: list[Any]) -> None:
    locks = [s.leader_lock() for s in nodes]
    assert [lk.try_acquire() for lk in locks] == [True, False, False]
    assert locks[0].try_acquire()  # still held
    locks[0].release()
    assert [lk.try_acquire() for lk in locks[1:]] == [True, False]


def test_an_enqueue_on_one_node_wakes_a_listener_on_another(nodes: list[Any]) -> None:
    woke = threading.Event()
    ready = threading.Event()

    def wake() -> None:
        if ready.is_set():
            woke.set()
        ready.set()  # the listener wakes once when it starts listening

    nodes[1].listen(wake)
    assert ready.wait(10), "listener did not start"
    enqueue(nodes[0])
    assert woke.wait(10), "no notification arrived"


def test_a_schedule_slot_fires_once_even_from_two_leaders(nodes: list[Any]) -> None:
    a, b, _ = nodes
    state = ScheduleState("p", "default", to_text(at(60)), to_text(at(60)), to_text(at(0)), None)
    job = NewJob(plugin="p", command="poll", submitted_by="scheduler", dedupe_key="p:poll:default")
    first = a.enqueue(job, now=at(0), dedupe_since=None, enforce_dedupe=False, schedule_state=state)
    second = b.enqueue(job, now=at(0), dedupe_since=None, enforce_dedupe=False, schedule_state=state)
    assert first.created and not second.created and second.job_id == first.job_id
    assert a.status_counts()["queued"] == 1
    # a stale plan cannot move the slot back either
    a.put_schedule_state(ScheduleState("p", "default", to_text(at(0)), to_text(at(0)), None, None))
    assert a.schedule_states()[("p", "default")].next_slot == to_text(at(60))


def test_a_pause_or_new_plan_is_written_past_the_slot_fence_and_a_fire_keeps_the_entry_columns(
    nodes: list[Any],
) -> None:
    a, b, _ = nodes
    fired = ScheduleState(
        "p", "default", to_text(at(60)), to_text(at(60)), to_text(at(0)), None, command="poll", definition=None
    )
    job = NewJob(plugin="p", command="poll", submitted_by="scheduler", dedupe_key="p:poll:default")
    assert a.enqueue(job, now=at(0), dedupe_since=None, enforce_dedupe=False, schedule_state=fired).created
    assert b.schedule_states()[("p", "default")].command == "poll"  # a fire writes the entry columns too
    # a pause from another node with an older slot in hand: the status change is written
    paused = ScheduleState(
        "p",
        "default",
        to_text(at(30)),
        to_text(at(30)),
        to_text(at(0)),
        None,
        "paused_manual",
        "maint",
        "ops",
        to_text(at(5)),
        "poll",
        None,
        to_text(at(5)),
    )
    b.put_schedule_state(paused)
    got = a.schedule_states()[("p", "default")]
    assert (got.status, got.reason, got.paused_by, got.paused_at) == ("paused_manual", "maint", "ops", to_text(at(5)))
    # the same status with an older slot is still fenced (a stale leader's plan)
    stale = ScheduleState(
        "p", "default", to_text(at(10)), to_text(at(10)), None, None, "paused_manual", "other", command="poll"
    )
    b.put_schedule_state(stale)
    assert a.schedule_states()[("p", "default")].reason == "maint"


def test_an_unreachable_server_is_store_unavailable() -> None:
    require_pg()
    with pytest.raises(StoreUnavailable) as info:
        open_store("postgresql://postgres:secret@127.0.0.1:1/test", connect_timeout=1)
    text = str(info.value)
    assert "cannot be written: no connection to the server could be made" in text
    assert "secret" not in text and "postgresql://postgres:***@127.0.0.1:1/test" in text


def test_another_programs_schema_is_refused_untouched(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE invoices (id int)")
    with pytest.raises(StoreDamaged, match=r"belongs to another program \(tables: invoices; no schema_version\)"):
        open_store(url)
    with psycopg.connect(url, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
    assert tables == [("invoices",)]


def test_a_missing_schema_is_named() -> None:
    with pytest.raises(StoreDamaged, match="no schema on the search_path exists"):
        open_store(with_schema(require_pg(), "no_such_schema_here"))


def test_many_nodes_migrating_at_once_apply_each_migration_once(url: str) -> None:
    errors: list[BaseException] = []
    stores: list[Any] = []

    def start() -> None:
        try:
            stores.append(open_store(url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    versions = Counter(r[0] for r in stores[0]._read("SELECT version FROM schema_version"))
    assert set(versions.values()) == {1}
    for s in stores:
        s.close()


def test_the_pg_tests_skip_with_a_reason_locally_and_fail_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    import pgtest

    monkeypatch.delenv("DUCTILE_TEST_PG_URL", raising=False)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(pgtest, "DEFAULT_URL", "postgresql://postgres@127.0.0.1:1/test")
    with pytest.raises(pytest.skip.Exception, match=r"PostgreSQL at postgresql://postgres@127\.0\.0\.1:1/test is not"):
        pgtest.require_pg()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="the PostgreSQL tests must run"):
        pgtest.require_pg()
