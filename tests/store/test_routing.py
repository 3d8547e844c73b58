"""Routing inside `finish`, over a real database, SQLite and PostgreSQL (spec pipelines.md §3, §5): what children and
context rows one completion writes, in the same transaction as the parent's terminal status."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from ductile.jobs import AttemptRecord, NewJob
from ductile.lifecycle import Decision, Status
from ductile.pipelines.compile import compile_pipelines
from ductile.pipelines.hooks import HookFacts
from ductile.pipelines.router import Settings
from ductile.store.routing import Routing
from ductile.timeutil import to_text
from store.backends import raw

T0 = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def settings(text: str, **extra: Any) -> Settings:
    graph, report = compile_pipelines([(Path("/c.yaml"), yaml.safe_load(text))], {"S", "A", "B", "C", "H"})
    assert report.problems == []
    return Settings(graph=graph, **extra)


def run(store: Any, plugin: str = "S", t: float = 0.0, submitted_by: str = "ductile", parent=None):
    if plugin is not None:
        store.enqueue(
            NewJob(
                plugin=plugin, command="handle", payload={"type": "go"}, submitted_by=submitted_by, parent_job_id=parent
            ),
            now=at(t),
            dedupe_since=None,
        )
    job = store.claim(now=at(t))
    assert job is not None
    return job


def succeed(store, job, routing: Routing, t: float = 1.0):
    record = AttemptRecord("success", to_text(at(t)), to_text(at(t)), 1.0, response={"status": "ok"})
    return store.finish(job, record, Decision(Status.SUCCEEDED), now=at(t), routing=routing)


def children(store, job_id):
    return store.children(job_id)


def test_spec_3_8_worked_rows(store):
    s = settings("[{name: p, on: x, steps: [{uses: A}, {uses: B}]}]")
    j0 = run(store)
    r0 = Routing(s, events=[{"type": "x", "payload": {"n": 1}}], result="r0")
    assert succeed(store, j0, r0).status is Status.SUCCEEDED
    [j1] = children(store, j0.job_id)
    [event] = store.emitted_events(j0.job_id)
    assert (j1.plugin, j1.submitted_by, j1.source_event_id, j1.route_key) == (
        "A",
        "route",
        event["event_id"],
        "p/step_1",
    )
    c1 = store.get_context(j1.event_context_id)
    root = store.get_context(c1["parent_id"])
    assert root["parent_id"] is None and root["step_id"] == "" and c1["step_id"] == "step_1"
    assert c1["accumulated"]["ductile"]["route_depth"] == 1 and c1["accumulated"]["ductile"]["route_max_depth"] == 2
    assert j1.payload["payload"] == {"n": 1, "result": "r0", "ductile_upstream_plugin": "S"}
    assert r0.children == [
        {
            "job_id": j1.job_id,
            "parent_job_id": j0.job_id,
            "plugin": "A",
            "command": "handle",
            "pipeline": "p",
            "step_id": "step_1",
            "event_context_id": j1.event_context_id,
        }
    ]

    j1 = run(store, plugin=None, t=2)
    succeed(store, j1, Routing(s, events=[], result="a-out"), t=3)
    [j2] = children(store, j1.job_id)
    [synthetic] = store.emitted_events(j1.job_id)
    assert j2.payload == {
        "type": "ductile.step.succeeded",
        "payload": {
            "result": "a-out",
            "ductile_upstream_plugin": "A",
            "ductile_upstream_pipeline": "p",
            "ductile_upstream_step_id": "step_1",
        },
        "source": "A",
        "timestamp": to_text(at(3)),
        "event_id": synthetic["event_id"],
    }
    c2 = store.get_context(j2.event_context_id)
    assert c2["parent_id"] == j1.event_context_id and c2["accumulated"]["ductile"]["route_depth"] == 2
    j2 = run(store, plugin=None, t=4)
    r2 = Routing(s, events=[], result="b-out")
    succeed(store, j2, r2, t=5)
    assert children(store, j2.job_id) == [] and r2.children == []  # depth 2 of 2, and a terminal step


def test_a_routing_error_fails_the_parent_and_keeps_earlier_events_children(store):
    s = settings("""
- {name: ok, on: first, steps: [{uses: A}]}
- {name: bad, on: second, steps: [{uses: B, baggage: {x: payload.missing}}]}
""")
    job = run(store)
    routing = Routing(s, events=[{"type": "first"}, {"type": "second"}, {"type": "first"}], result="r")
    done = succeed(store, job, routing)
    assert done.status is Status.FAILED and done.attempt == 1 and done.next_retry_at is None
    assert done.last_error.startswith("failed to route events: apply baggage claims for bad:step_1:")
    assert [c.plugin for c in children(store, job.job_id)] == ["A"]  # the third event was never routed
    assert len(store.emitted_events(job.job_id)) == 3
    [(orphans,)] = raw(store, "SELECT count(*) FROM event_contexts WHERE pipeline_name = 'bad'")
    assert orphans == 0


def test_the_same_event_id_twice_makes_one_child_per_route(store):
    s = settings("""
- {name: p, on: t, steps: [{uses: B}]}
- {name: p5, on: t, steps: [{uses: C}]}
- {name: p6, on: t, steps: [{uses: C}]}
""")
    job = run(store)
    succeed(store, job, Routing(s, events=[{"type": "t", "event_id": "e1"}, {"type": "t", "event_id": "e1"}]))
    kids = children(store, job.job_id)
    assert sorted((c.plugin, c.route_key) for c in kids) == [("B", "p/step_1"), ("C", "p5/step_1"), ("C", "p6/step_1")]


def test_chain_guard_drops_root_triggers_past_max_chain_depth(store):
    s = settings(
        """
- {name: first, on: go, steps: [{uses: A}]}
- {name: again, on: ductile.step.succeeded, from_plugin: A, steps: [{uses: B}]}
""",
        max_chain_depth=1,
    )
    job = run(store)
    succeed(store, job, Routing(s, events=[{"type": "go"}]))
    [a] = children(store, job.job_id)
    a = run(store, plugin=None, t=2)
    routing = Routing(s, events=[], result="done")
    assert succeed(store, a, routing, t=3).status is Status.SUCCEEDED
    assert children(store, a.job_id) == []
    assert routing.dropped == [
        {
            "job_id": a.job_id,
            "pipeline": "again",
            "reason": "chain depth exceeded",
            "event_type": "ductile.step.succeeded",
        }
    ]


def test_a_dedupe_key_already_admitted_skips_the_dispatch(store):
    s = settings("[{name: p, on: t, steps: [{uses: A}]}]")
    store.enqueue(NewJob(plugin="A", command="handle", dedupe_key="k1"), now=at(0), dedupe_since=None)
    job = run(store, t=0.5)
    while job.plugin != "S":
        job = run(store, plugin=None, t=0.5)
    routing = Routing(s, events=[{"type": "t", "dedupe_key": " k1 "}, {"type": "t", "dedupe_key": "k2"}])
    succeed(store, job, routing)
    [kid] = children(store, job.job_id)
    assert kid.dedupe_key == "k2"


def test_hooks_fire_for_root_jobs_and_stop_at_hook_max_depth(store):
    s = settings(
        "[{name: loop, on-hook: job.completed, steps: [{uses: S}]}]", notify=frozenset({"S"}), hook_max_depth=2
    )
    job = run(store, submitted_by="api")
    count = 1
    for t in range(1, 10):
        routing = Routing(s, result=f"r{t}", hook=HookFacts(result=f"r{t}"))
        succeed(store, job, routing, t=t)
        if not routing.hooks:
            break
        count += 1
        [hook] = children(store, job.job_id)
        assert hook.submitted_by == "hook" and hook.event_context_id is None
        assert hook.payload == {
            "type": "job.completed",
            "payload": {
                "job_id": job.job_id,
                "plugin": "S",
                "command": "handle",
                "status": "succeeded",
                "result": f"r{t}",
            },
            "timestamp": "0001-01-01T00:00:00Z",
        }
        job = run(store, plugin=None, t=t + 0.5)
    assert count == 3  # the root and two hook generations


def test_failure_hooks_report_reason_and_error(store):
    s = settings("[{name: oops, on-hook: job.failed, from_plugin: S, steps: [{uses: H}]}]", notify=frozenset({"S"}))
    job = run(store)
    record = AttemptRecord("fatal", to_text(at(1)), to_text(at(1)), 1.0, error="boom")
    routing = Routing(s, hook=HookFacts(reason="plugin_retry_false"))
    store.finish(job, record, Decision(Status.FAILED, last_error="boom"), now=at(1), routing=routing)
    [hook] = children(store, job.job_id)
    assert hook.payload["type"] == "job.failed"
    assert hook.payload["payload"] == {
        "job_id": job.job_id,
        "plugin": "S",
        "command": "handle",
        "status": "failed",
        "reason": "plugin_retry_false",
        "error": "boom",
    }


def test_a_retry_fires_no_hook_and_routes_nothing(store):
    s = settings("[{name: oops, on-hook: job.failed, steps: [{uses: H}]}]", notify=frozenset({"S"}))
    job = run(store)
    record = AttemptRecord("error", to_text(at(1)), to_text(at(1)), 1.0, error="boom")
    routing = Routing(s, hook=HookFacts())
    store.finish(
        job, record, Decision(Status.QUEUED, next_retry_at=at(2), last_error="boom"), now=at(1), routing=routing
    )
    assert children(store, job.job_id) == [] and routing.hooks == []


def test_stored_events_keep_their_event_ids(store):
    s = settings("[{name: p, on: t, steps: [{uses: A}]}]")
    job = run(store)
    succeed(store, job, Routing(s, events=[{"type": "t", "event_id": "mine"}, {"type": "u"}]))
    ids = [e["event_id"] for e in store.emitted_events(job.job_id)]
    assert ids[0] == "mine" and ids[1] and ids[1] != "mine"
    assert json.loads(json.dumps(ids))


def test_pruning_a_finished_pipeline_removes_its_context_rows(store):
    s = settings("[{name: p, on: t, steps: [{uses: A}]}]")
    job = run(store)
    succeed(store, job, Routing(s, events=[{"type": "t"}]))
    a = run(store, plugin=None, t=2)
    succeed(store, a, Routing(s, result="x"), t=3)
    assert raw(store, "SELECT count(*) FROM event_contexts") == [(2,)]
    assert store.prune({"succeeded": at(10)}) == 2
    assert raw(store, "SELECT count(*) FROM event_contexts") == [(0,)]


def test_crash_recovery_that_kills_a_root_job_fires_its_failure_hook(store, tmp_path):
    from ductile.dispatch import recover
    from ductile.registry import Registry

    s = settings("[{name: oops, on-hook: job.failed, steps: [{uses: H}]}]", notify=frozenset({"S"}))
    store.enqueue(NewJob(plugin="S", command="poll", max_attempts=1), now=at(0), dedupe_since=None)
    job = store.claim(now=at(0))
    [dead] = recover(store, Registry(instances={}, data_dir=tmp_path), now=at(5), routing=s)
    assert dead.status is Status.DEAD
    [hook] = children(store, job.job_id)
    assert hook.payload["payload"] == {
        "job_id": job.job_id,
        "plugin": "S",
        "command": "poll",
        "status": "dead",
        "error": "Job marked dead during crash recovery: max attempts (1) reached",
        "recovery": True,
    }
