"""One real gateway process on PostgreSQL, end to end: a plugin job, a pipeline routed across
two steps, a schedule firing, and the API reading it all back (GET /jobs, /job/{id}/tree,
/healthz naming the node and its leadership)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import enqueue, wait_for

from cluster.pgrig import Cluster

TERMINAL = {"succeeded", "failed", "dead", "timed_out", "skipped"}


def rec(rec_dir: Path, **config: Any) -> dict[str, Any]:
    return {"uses": "recorder", "config": {"record_dir": str(rec_dir), **config}}


def test_a_gateway_on_postgresql_runs_jobs_pipelines_and_schedules(pg_cluster: Cluster, tmp_path: Path) -> None:
    r = tmp_path / "rec"
    plugins = {
        "src": rec(r, emit=[{"type": "go", "payload": {"n": 1}}]),
        "A": rec(r, result="a-done"),
        "B": rec(r),
        "tick": {**rec(r), "schedules": [{"every": "1s", "command": "poll"}]},
    }
    pipelines = [{"name": "p", "on": "go", "steps": [{"uses": "A"}, {"uses": "B"}]}]
    gw = pg_cluster.start(pg_cluster.config(plugins, pipelines=pipelines))
    with gw.client() as client:
        health = client.get("/healthz").json()
        assert health["status"] == "ok"
        node = health["node"]
        assert node["id"] and node["id"] == pg_cluster.rows("SELECT node_id FROM nodes")[0][0]

        root = enqueue(gw.url, gw.token, "src", "handle")

        def tree_done() -> list[dict[str, Any]] | None:
            jobs = client.get(f"/job/{root}/tree").json()
            done = len(jobs) == 3 and all(j["status"] in TERMINAL for j in jobs)
            return jobs if done else None

        jobs = wait_for(tree_done, timeout=60, message="pipeline src → A → B finished")
        assert [(j["plugin"], j["status"]) for j in jobs] == [
            ("src", "succeeded"),
            ("A", "succeeded"),
            ("B", "succeeded"),
        ]
        # The schedule fires on the leader (the only node): jobs submitted by the scheduler.
        wait_for(lambda: client.get("/healthz").json()["node"]["leader"], timeout=30, message="leader")
        listed = client.get("/nodes").json()
        assert (listed["backend"], listed["this_node"], listed["leader"]) == ("postgresql", node["id"], node["id"])
        assert [(n["node_id"], n["leader"]) for n in listed["nodes"]] == [(node["id"], True)]
        wait_for(
            lambda: client.get("/jobs", params={"plugin": "tick", "status": "succeeded"}).json()["total"] >= 2,
            timeout=60,
            message="two scheduled ticks succeeded",
        )
        listing = client.get("/jobs", params={"plugin": "src"}).json()
        assert listing["total"] == 1 and listing["jobs"][0]["job_id"] == root
    # What the API said is what the database holds: each attempt on this node.
    rows = pg_cluster.rows("SELECT DISTINCT node_id FROM attempts")
    assert rows == [(node["id"],)]
    assert pg_cluster.rows("SELECT count(*) FROM jobs WHERE submitted_by = 'scheduler'")[0][0] >= 2
