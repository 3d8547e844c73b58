"""Schedule operations on any node of a PostgreSQL cluster (two real gateway processes).

`GET /schedules`, pause, resume and run-now answered by the node that does not lead: the pause is
a row, so once the follower's pause has answered, the leader fires that entry no more (its fire is
refused by the row until it has taken the pause in), resume makes it fire again, and run-now
queues exactly one job, paused or not. The `ductile schedule` CLI goes through the same API.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import DUCTILE, wait_for

from cluster.pgrig import Cluster

pytestmark = pytest.mark.slow
KEY = "tick:poll:s"  # the entry's dedupe key: <plugin>:<command>:<schedule_id>


def leader_and_follower(nodes: list[Any]) -> tuple[Any, Any] | None:
    leading = []
    for node in nodes:
        try:
            with node.client() as client:
                leading.append(client.get("/healthz", timeout=30).json()["node"]["leader"])
        except httpx.HTTPError:
            return None
    if leading.count(True) != 1:
        return None
    return (nodes[0], nodes[1]) if leading[0] else (nodes[1], nodes[0])


def fires(cluster: Cluster, key: str = KEY) -> int:
    """Scheduler jobs of the entry (the regular fires; run-now has its own key)."""
    return int(cluster.rows("SELECT count(*) FROM jobs WHERE dedupe_key = %s", (key,))[0][0])


def entry(node: Any, schedule_id: str = "s") -> dict[str, Any]:
    with node.client() as client:
        listed = client.get("/schedules").json()["schedules"]
    return next(e for e in listed if e["instance"] == "tick" and e["schedule_id"] == schedule_id)


@pytest.mark.timeout(400)
def test_pause_resume_and_run_now_on_the_node_that_does_not_lead(pg_cluster: Cluster, tmp_path: Path) -> None:
    schedules = [{"id": "s", "every": "1s", "command": "poll"}, {"id": "clock", "every": "1s", "command": "poll"}]
    plugins = {"tick": {"uses": "tally", "config": {"tally_dir": str(tmp_path / "t")}, "schedules": schedules}}
    nodes = [pg_cluster.start(pg_cluster.config(plugins), wait=False) for _ in range(2)]
    for node in nodes:
        node.wait_ready(90)
    leader, follower = wait_for(lambda: leader_and_follower(nodes), timeout=60, message="one leader")
    wait_for(lambda: fires(pg_cluster) >= 2, timeout=60, message="the entry fires on the leader")

    # The follower lists the entries from the database: active, with the leader's last fire.
    seen = entry(follower)
    assert seen["entry_status"] == "active" and seen["last_fired"] and seen["next_slot"]

    # Pause on the follower: from its answer on, the leader fires the entry no more.
    with follower.client() as client:
        paused = client.post("/schedules/tick/s/pause", json={"reason": "maintenance"})
    assert paused.status_code == 200, paused.text
    assert (paused.json()["status"], paused.json()["changed"], paused.json()["reason"]) == (
        "paused_manual",
        True,
        "maintenance",
    )
    at_pause = fires(pg_cluster)
    wait_for(lambda: entry(leader)["entry_status"] == "paused_manual", timeout=30, message="the leader sees it")
    clock = fires(pg_cluster, "tick:poll:clock")
    wait_for(lambda: fires(pg_cluster, "tick:poll:clock") >= clock + 4, timeout=60, message="4 more ticks of the clock")
    assert fires(pg_cluster) == at_pause  # not one fire after the pause answered
    assert entry(follower)["paused_by"] == "admin"
    with follower.client() as client:  # pausing twice changes nothing
        assert client.post("/schedules/tick/s/pause").json()["changed"] is False

    # Run now on the follower, while paused: exactly one job, which runs once.
    with follower.client() as client:
        ran = client.post("/schedules/tick/s/run")
    assert ran.status_code == 202, ran.text
    job_id = ran.json()["job_id"]
    with follower.client() as client:
        wait_for(lambda: client.get(f"/job/{job_id}").json()["status"] == "succeeded", timeout=60, message="run-now")
    run_now = pg_cluster.rows("SELECT job_id FROM jobs WHERE dedupe_key LIKE %s", (KEY + ":run_now:%",))
    assert [r[0] for r in run_now] == [job_id]
    assert (tmp_path / "t" / "runs").read_text().split().count(job_id) == 1
    assert fires(pg_cluster) == at_pause  # run-now did not resume the regular fires

    # Resume with the CLI, against the follower: the leader fires the entry again.
    resumed = subprocess.run(
        [DUCTILE, "schedule", "resume", "tick", "s", "--api-url", follower.url, "--token", follower.token],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "tick/s: active" in resumed.stdout
    wait_for(lambda: fires(pg_cluster) >= at_pause + 2, timeout=60, message="fires again after resume")
    assert entry(leader)["entry_status"] == entry(follower)["entry_status"] == "active"
    # No slot fired twice across all of it (every fire is logged by the leader with its slot).
    slots = [
        rec["slot"]
        for rec in leader.log_records()
        if rec.get("msg") == "job queued" and rec.get("schedule_id") == "s" and rec.get("slot")
    ]
    assert len(slots) == len(set(slots))
