"""Lineage reads (job_tree, children, current_responses) over a hand-built family of jobs in a
real database (SQLite and PostgreSQL): the order of §6.2 (root, depth, created_at, insertion order) is the contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ductile.jobs import AttemptRecord, NewJob
from ductile.lifecycle import Decision, Status
from ductile.store import open_store
from ductile.timeutil import to_text
from store.backends import BACKENDS, backend_target, raw

T0 = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)


def add(store: Any, name: str, parent: str | None = None, t: float = 0.0) -> str:
    return store.enqueue(
        NewJob(plugin=name, command="handle", submitted_by="route" if parent else "api", parent_job_id=parent),
        now=T0 + timedelta(seconds=t),
        dedupe_since=None,
    ).job_id


def names(jobs) -> list[str]:
    return [j.plugin for j in jobs]


def test_tree_is_root_then_depth_then_created_at_then_insertion_order(store: Any) -> None:
    root = add(store, "root", t=0)
    # Depth 1, inserted out of time order: b (t=5) before a (t=2); c and d share t=3.
    b = add(store, "b", root, t=5)
    a = add(store, "a", root, t=2)
    c = add(store, "c", root, t=3)
    d = add(store, "d", root, t=3)
    # Depth 2 children created EARLIER than some depth-1 siblings still come after all of depth 1.
    add(store, "b1", b, t=1)
    add(store, "a1", a, t=4)
    add(store, "c1", c, t=4)
    add(store, "d1", d, t=0.5)
    add(store, "unrelated", None, t=1)
    tree = store.job_tree(root)
    assert names(tree) == ["root", "a", "c", "d", "b", "d1", "b1", "a1", "c1"]
    assert tree[0].parent_job_id is None and all(j.parent_job_id for j in tree[1:])


def test_subtree_and_leaf_and_unknown(store: Any) -> None:
    root = add(store, "root")
    mid = add(store, "mid", root, t=1)
    leaf = add(store, "leaf", mid, t=2)
    assert names(store.job_tree(mid)) == ["mid", "leaf"]
    assert names(store.job_tree(leaf)) == ["leaf"]
    assert store.job_tree("no-such-job") == []
    assert store.children("no-such-job") == []


def test_children_are_direct_only_oldest_first(store: Any) -> None:
    root = add(store, "root")
    late = add(store, "late", root, t=9)
    early = add(store, "early", root, t=1)
    add(store, "grandchild", early, t=2)
    assert [j.job_id for j in store.children(root)] == [early, late]


def test_a_parent_cycle_made_by_hand_does_not_loop(store: Any) -> None:
    a = add(store, "a")
    b = add(store, "b", a, t=1)
    raw(store, "UPDATE jobs SET parent_job_id = ? WHERE job_id = ?", (b, a))
    assert names(store.job_tree(a)) == ["a", "b"]


def test_current_responses_follow_the_current_attempt(store: Any) -> None:
    first = add(store, "first")
    second = add(store, "second", t=1)
    job = store.claim(now=T0 + timedelta(seconds=2))
    assert job is not None and job.job_id == first
    stamp = to_text(T0)
    store.finish(
        job,
        AttemptRecord("success", stamp, stamp, 1.0, response={"status": "ok", "result": "r1"}),
        Decision(Status.SUCCEEDED),
        now=T0 + timedelta(seconds=3),
    )
    assert store.current_responses([first, second, "nope"]) == {first: {"status": "ok", "result": "r1"}}
    assert store.current_responses([]) == {}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 5)), min_size=1, max_size=25))
@pytest.mark.parametrize("kind", BACKENDS)
def test_tree_order_matches_a_reference_sort(kind, tmp_path_factory, spec: list[tuple[int, int]]) -> None:
    """Random families: parent = an earlier job (index spec[i][0] mod i), created_at offset spec[i][1]."""
    with backend_target(kind, tmp_path_factory.mktemp("tree")) as target:
        _tree_order(open_store(target), spec)


def _tree_order(s: Any, spec: list[tuple[int, int]]) -> None:
    try:
        ids: list[str] = []
        depth: dict[str, int] = {}
        created: dict[str, float] = {}
        for i, (parent_pick, offset) in enumerate(spec):
            parent = ids[parent_pick % i] if i else None
            job_id = add(s, f"j{i}", parent, t=offset)
            ids.append(job_id)
            depth[job_id] = depth[parent] + 1 if parent else 0
            created[job_id] = offset
        want = sorted(ids, key=lambda j: (depth[j], created[j], ids.index(j)))
        assert [j.job_id for j in s.job_tree(ids[0])] == want
    finally:
        s.close()


def _context(store: Any, cid: str, parent: str | None, step: str, accumulated: str, t: int) -> None:
    raw(
        store,
        "INSERT INTO event_contexts (id, parent_id, pipeline_name, step_id, instance_id, accumulated, created_at)"
        " VALUES (?, ?, 'p', ?, 'inst-1', ?, ?)",
        (cid, parent, step, accumulated, to_text(T0 + timedelta(seconds=t))),
    )


def test_context_lineage_is_root_to_leaf(store: Any) -> None:
    _context(store, "c-root", None, "", '{"ductile":{"pipeline_instance_id":"inst-1","route_depth":0}}', 0)
    _context(store, "c-1", "c-root", "step_1", '{"run":{"id":"r1"},"ductile":{"route_depth":1}}', 1)
    _context(store, "c-2", "c-1", "step_2", '{"run":{"id":"r1"},"ductile":{"route_depth":2}}', 2)
    lineage = store.context_lineage("c-2")
    assert [c["id"] for c in lineage] == ["c-root", "c-1", "c-2"]
    assert [c["step_id"] for c in lineage] == ["", "step_1", "step_2"]
    assert lineage[-1] == store.get_context("c-2")
    assert lineage[-1]["accumulated"] == {"run": {"id": "r1"}, "ductile": {"route_depth": 2}}
    assert lineage[0]["parent_id"] is None and lineage[1]["pipeline"] == "p"
    assert store.context_lineage("nope") == [] and store.get_context("nope") is None


def test_emitted_events_name_the_children_they_started(store: Any) -> None:
    parent = add(store, "parent")
    job = store.claim(now=T0 + timedelta(seconds=1))
    assert job is not None
    stamp = to_text(T0)
    store.finish(
        job,
        AttemptRecord("success", stamp, stamp, 1.0, response={"status": "ok"}),
        Decision(Status.SUCCEEDED),
        now=T0 + timedelta(seconds=2),
        events=[
            {"type": "x", "payload": {"n": 1}, "event_id": "e1"},
            {"type": "y", "payload": None, "event_id": "e2"},
            {"type": "legacy", "payload": {}},
        ],
    )
    kids = []
    for i, (pipeline, event) in enumerate((("p1", "e1"), ("p2", "e1"), ("p3", "other"))):
        kids.append(
            store.enqueue(
                NewJob(
                    plugin=f"k{i}",
                    command="handle",
                    submitted_by="route",
                    parent_job_id=parent,
                    source_event_id=event,
                    route_key=f"{pipeline}/step_1",
                    pipeline=pipeline,
                    step_id="step_1",
                ),
                now=T0 + timedelta(seconds=3 + i),
                dedupe_since=None,
            ).job_id
        )
    events = store.emitted_with_children(parent)
    assert [(e["event_id"], e["type"], e["children"]) for e in events] == [
        ("e1", "x", kids[:2]),
        ("e2", "y", []),
        (None, "legacy", []),
    ]
    assert events[0]["payload"] == {"n": 1} and events[1]["payload"] is None
    tree = store.job_tree(parent)
    assert [j.pipeline for j in tree] == [None, "p1", "p2", "p3"]
    assert tree[1].source_event_id == "e1" and tree[1].step_id == "step_1" and tree[1].route_key == "p1/step_1"


def _step(store: Any, plugin: str, parent: str | None, ctx: str | None, pipeline: str | None, t: float) -> str:
    return store.enqueue(
        NewJob(
            plugin=plugin,
            command="handle",
            submitted_by="route" if parent else "api",
            parent_job_id=parent,
            event_context_id=ctx,
            pipeline=pipeline,
            step_id=plugin if pipeline else None,
        ),
        now=T0 + timedelta(seconds=t),
        dedupe_since=None,
    ).job_id


def test_pipeline_instance_is_the_newest_instance_from_its_entry(store: Any) -> None:
    for cid, inst in (("a1", "I1"), ("a2", "I1"), ("b1", "I2"), ("b2", "I2"), ("q1", "Q")):
        raw(
            store,
            "INSERT INTO event_contexts (id, parent_id, pipeline_name, step_id, instance_id, accumulated, created_at)"
            " VALUES (?, NULL, 'p', '', ?, '{}', ?)",
            (cid, inst, to_text(T0)),
        )
    assert store.pipeline_instance("p") is None
    source = _step(store, "source", None, None, None, 0)  # not a pipeline job: the routed-from parent
    first = _step(store, "s1", source, "a1", "p", 1)
    _step(store, "s2", first, "a2", "p", 2)
    entry = _step(store, "s1", source, "b1", "p", 3)  # the second instance, also routed from source
    second = _step(store, "s2", entry, "b2", "p", 4)
    _step(store, "other", second, "q1", "q", 5)  # a pipeline the instance triggered: not counted
    found = store.pipeline_instance("p")
    assert found is not None
    assert found["instance_id"] == "I2" and found["entry_job_id"] == entry
    assert [j["job_id"] for j in found["jobs"]] == [entry, second]
    assert found["jobs"][1]["step_id"] == "s2" and found["jobs"][1]["status"] == "queued"
    hook = _step(store, "hooked", source, None, "h", 6)  # a hook pipeline job: no context
    assert store.pipeline_instance("h") == {
        "instance_id": None,
        "entry_job_id": hook,
        "jobs": [store.pipeline_instance("h")["jobs"][0]],
    }
    assert store.pipeline_instance("h")["jobs"][0]["job_id"] == hook
