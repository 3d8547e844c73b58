"""Routing seen from the event hub (SSE): one `router.enqueued` per child, published after the
commit that created it, and `router.dropped` from the chain guard. Real dispatcher, plugins, SQLite."""

from __future__ import annotations

from ductile.lifecycle import Status
from ductile.pipelines.entry import plan_entries
from ductile.timeutil import utcnow
from tests.integration.conftest import TEST_PLUGINS


async def test_each_routed_child_is_announced_once_with_its_lineage(rig, tmp_path):
    rec = {"record_dir": str(tmp_path / "rec")}
    r = rig(
        {
            "S": {"uses": "recorder", "config": {**rec, "emit": [{"type": "go", "payload": {"n": 1}}]}},
            "A": {"uses": "recorder", "config": rec},
            "B": {"uses": "recorder", "config": rec},
        },
        roots=[TEST_PLUGINS],
        pipelines=[{"name": "p", "on": "go", "steps": [{"uses": "A"}, {"uses": "B"}]}],
    )
    root = r.submit("S", "handle", {})
    [s_job] = await r.run_until_done([root])
    assert s_job.status is Status.SUCCEEDED
    [a] = r.store.children(root)
    await r.run_until_done([a.job_id])
    [b] = r.store.children(a.job_id)
    await r.run_until_done([b.job_id])
    events, _ = r.dispatcher.hub.replay_since(0)
    routed = [e.data for e in events if e.type == "router.enqueued"]
    assert routed == [
        {
            "job_id": a.job_id,
            "parent_job_id": root,
            "plugin": "A",
            "command": "handle",
            "pipeline": "p",
            "step_id": "step_1",
            "event_context_id": a.event_context_id,
        },
        {
            "job_id": b.job_id,
            "parent_job_id": a.job_id,
            "plugin": "B",
            "command": "handle",
            "pipeline": "p",
            "step_id": "step_2",
            "event_context_id": b.event_context_id,
        },
    ]
    order = [(e.type, e.data.get("job_id")) for e in events]
    assert order.index(("router.enqueued", a.job_id)) < order.index(("job.succeeded", root))


async def test_the_chain_guard_drops_a_loop_between_pipelines(rig, tmp_path):
    r = rig(
        {"A": {"uses": "recorder"}, "B": {"uses": "recorder"}},
        roots=[TEST_PLUGINS],
        pipelines=[
            {"name": "ping", "on": "ductile.step.succeeded", "from_plugin": "B", "steps": [{"uses": "A"}]},
            {"name": "pong", "on": "ductile.step.succeeded", "from_plugin": "A", "steps": [{"uses": "B"}]},
        ],
        max_chain_depth=3,
    )
    entries = plan_entries(r.setup.graph, r.setup.graph.get("ping"), {}, r.dispatcher.routing, synchronous=False)
    start = r.store.enqueue_entries(entries, now=utcnow(), submitted_by="api")
    chain = [start[0]]
    while True:
        [job] = await r.run_until_done([chain[-1]])
        assert job.status is Status.SUCCEEDED
        kids = r.store.children(job.job_id)
        if not kids:
            break
        chain.append(kids[0].job_id)
    assert len(chain) == 3  # chain depths 1, 2, 3; the fourth would exceed max_chain_depth
    events, _ = r.dispatcher.hub.replay_since(0)
    [dropped] = [e.data for e in events if e.type == "router.dropped"]
    assert dropped["reason"] == "chain depth exceeded" and dropped["job_id"] == chain[-1]
