"""`/events` in a PostgreSQL cluster (issue 12, item 6): two real gateway processes on one schema.

Every node streams every node's events under the same ids (the shared `stream_events` table), and
`Last-Event-ID` resumes exactly on any node — from that node's memory buffer, or from the table
when the id is older than the node itself — with an id read from any node's stream.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import enqueue

from cluster.pgrig import Cluster
from ductile.monitor.client import MonitorClient, SseEvent

pytestmark = pytest.mark.slow
Key = tuple[int, str, str | None, str | None]  # (id, type, job_id, node)


def rec(rec_dir: Path, **config: Any) -> dict[str, Any]:
    return {"uses": "recorder", "config": {"record_dir": str(rec_dir), **config}}


def node_id(node: Any) -> str:
    with node.client() as client:
        return str(client.get("/healthz").json()["node"]["id"])


def key(event: SseEvent) -> Key:
    """What must be identical on every node's stream: the id, the type, the job and the origin."""
    return (int(event.id or 0), event.type, event.data.get("data", {}).get("job_id"), event.data.get("node"))


async def read(node: Any, until: Any, *, last_id: int | None = None, timeout: float = 90.0) -> list[SseEvent]:
    """Read `node`'s /events until `until(events with an id)` holds; control frames are kept too."""
    client = MonitorClient(node.url, node.token)
    seen: list[SseEvent] = []

    async def go() -> None:
        async for event in client.events(last_id):
            seen.append(event)
            if until([e for e in seen if e.id is not None]):
                return

    try:
        await asyncio.wait_for(go(), timeout)
    finally:
        await client.aclose()
    return seen


def done(job_ids: set[str]) -> Any:
    """Until every job in `job_ids` has its `job.succeeded` on the stream."""

    def check(events: list[SseEvent]) -> bool:
        finished = {key(e)[2] for e in events if e.type == "job.succeeded"}
        return job_ids <= finished

    return check


def per_job(events: list[SseEvent], job_ids: set[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {j: [] for j in job_ids}
    for event in events:
        job = key(event)[2]
        if job in out and event.type in ("job.queued", "job.started", "job.succeeded"):
            out[job].append(event.type)
    return out


def attempt_nodes(cluster: Cluster, job_ids: set[str]) -> dict[str, str]:
    rows = cluster.rows("SELECT job_id, node_id FROM attempts WHERE job_id = ANY(%s)", (list(job_ids),))
    return {r[0]: r[1] for r in rows}


def run_jobs_until_both_nodes_ran_one(cluster: Cluster, via: Any, nodes: set[str]) -> set[str]:
    """Queue jobs on `via` in small batches until each node in `nodes` has run at least one
    (claims go to whichever node is free first; a few batches settle it)."""
    jobs: set[str] = set()
    for _ in range(20):
        batch = {enqueue(via.url, via.token, "rec", "handle") for _ in range(6)}
        jobs |= batch
        deadline = time.monotonic() + 60
        while len(attempt_nodes(cluster, batch)) < len(batch) and time.monotonic() < deadline:
            time.sleep(0.1)
        if nodes <= set(attempt_nodes(cluster, jobs).values()):
            return jobs
    raise AssertionError(f"jobs never ran on every node: {attempt_nodes(cluster, jobs)}")


def wait_succeeded(node: Any, job_ids: set[str]) -> None:
    with node.client() as client:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            statuses = {client.get(f"/job/{j}").json().get("status") for j in job_ids}
            if statuses == {"succeeded"}:
                return
            time.sleep(0.2)
    raise AssertionError("jobs did not all succeed")


@pytest.mark.timeout(400)
async def test_every_node_streams_every_nodes_jobs_and_last_event_id_resumes_exactly_on_any_node(
    pg_cluster: Cluster, tmp_path: Path
) -> None:
    plugins = {"rec": rec(tmp_path / "rec", sleep_s="0.3")}
    b = pg_cluster.start(pg_cluster.config(plugins, service={"max_workers": 2}))
    b_id = node_id(b)
    # 1. Before node A exists: a job on B, read on B's stream.
    early = enqueue(b.url, b.token, "rec", "handle")
    on_b = await read(b, done({early}), last_id=0)
    succeeded = next(e for e in on_b if e.type == "job.succeeded" and key(e)[2] == early)
    cut_b = int(succeeded.id or 0) - 1

    # 2. Node A starts; a client resumes on A with an id from B's stream older than A itself
    # (A's memory buffer never held it: replayed from the table), and stays on for live events
    # of jobs queued through B and run on both nodes.
    a = pg_cluster.start(pg_cluster.config(plugins, service={"max_workers": 2}))
    a_id = node_id(a)
    loop = asyncio.get_running_loop()
    live: set[str] = set()

    def queue_jobs() -> None:
        live.update(run_jobs_until_both_nodes_ran_one(pg_cluster, b, {a_id, b_id}))
        live.add(enqueue(b.url, b.token, "rec", "handle"))  # its events come after this returns

    runner = loop.run_in_executor(None, queue_jobs)

    def first_part(events: list[SseEvent]) -> bool:
        return runner.done() and done(live | {early})(events)

    part1 = await read(a, first_part, last_id=cut_b, timeout=240)
    await runner
    ran_on = attempt_nodes(pg_cluster, live | {early})
    assert ran_on[early] == b_id and {a_id, b_id} <= set(ran_on.values())
    assert not [e for e in part1 if e.type in ("stream.gap", "stream.lagged")]
    with_id = [e for e in part1 if e.id is not None]
    ids = [int(e.id or 0) for e in with_id]
    assert ids == list(range(cut_b + 1, cut_b + 1 + len(ids)))  # none lost, none twice
    for job, kinds in per_job(with_id, live | {early}).items():
        # job.queued is published by the node that queued it, job.started by the one that ran it:
        # across nodes either may come first; a job's own start and end never swap
        expected = ["job.succeeded"] if job == early else ["job.queued", "job.started", "job.succeeded"]
        assert sorted(kinds) == sorted(expected), (job, kinds)
        assert job == early or kinds.index("job.started") < kinds.index("job.succeeded")
        ended = next(e for e in with_id if e.type == "job.succeeded" and key(e)[2] == job)
        assert key(ended)[3] == ran_on[job]  # the frame names the node that ran it
    cut = ids[-1]

    # 3. Away from A while more jobs run; back on A with the last id seen there.
    more = run_jobs_until_both_nodes_ran_one(pg_cluster, b, {a_id, b_id})
    wait_succeeded(b, more)
    part2 = await read(a, done(more), last_id=cut)
    assert not [e for e in part2 if e.type in ("stream.gap", "stream.lagged")]
    ids2 = [int(e.id or 0) for e in part2 if e.id is not None]
    assert ids2 == list(range(cut + 1, cut + 1 + len(ids2)))
    for kinds in per_job(part2, more).values():
        assert sorted(kinds) == ["job.queued", "job.started", "job.succeeded"]

    # 4. B's stream over the same range is the same stream, event for event.
    last = ids2[-1]
    on_b_again = await read(b, lambda seen: bool(seen) and int(seen[-1].id or 0) >= last, last_id=cut_b)
    from_b = [key(e) for e in on_b_again if e.id is not None and int(e.id) <= last]
    from_a = [key(e) for e in [*part1, *part2] if e.id is not None]
    assert from_a == from_b

    # 5. An id no node ever issued is a gap, as after a restart on SQLite.
    opened = await read(a, bool, last_id=last + 10_000_000)
    assert any(e.type == "stream.gap" for e in opened)
