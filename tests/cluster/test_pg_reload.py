"""Reload on PostgreSQL: one real gateway node re-reads its config (`POST /system/reload`). The
node-wide claim limits follow the new registry, queued jobs of a removed instance end with the
reason while its running job finishes, and the leading node re-plans the schedules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from conftest import enqueue, wait_for

from cluster.pgrig import Cluster

TERMINAL = {"succeeded", "failed", "dead", "timed_out", "skipped"}


def rec(rec_dir: Path, **config: Any) -> dict[str, Any]:
    return {"uses": "recorder", "config": {"record_dir": str(rec_dir), **config}}


def test_reload_on_postgresql(pg_cluster: Cluster, tmp_path: Path) -> None:
    r = tmp_path / "rec"
    plugins = {"doomed": {**rec(r, sleep_s=3), "parallelism": 1}, "keep": rec(r)}
    config = pg_cluster.config(plugins)
    gw = pg_cluster.start(config)
    with gw.client() as client:
        wait_for(lambda: client.get("/healthz").json()["node"]["leader"], timeout=30, message="leader")
        doomed = [enqueue(gw.url, gw.token, "doomed", "poll") for _ in range(3)]

        def status(job_id: str) -> str:
            return client.get(f"/job/{job_id}").json()["status"]

        wait_for(lambda: status(doomed[0]) == "running", timeout=30, message="the first doomed job to run")
        new = json.loads(json.dumps(config))
        del new["plugins"]["doomed"]
        new["plugins"]["keep"]["schedules"] = [{"id": "tick", "every": "1s"}]
        new["plugins"]["fresh"] = {**rec(r), "parallelism": 1}
        (gw.config_dir / "config.yaml").write_text(yaml.safe_dump(new, sort_keys=False))
        answer = client.post("/system/reload")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["diff"]["instances"] == {"added": ["fresh"], "changed": [], "removed": ["doomed"]}
        assert body["diff"]["schedules"]["added"] == ["keep/tick"]
        assert sorted(body["failed_jobs"]["job_ids"]) == sorted(doomed[1:])
        reasons = pg_cluster.rows("SELECT status, last_error FROM jobs WHERE job_id = ANY(%s)", (doomed[1:],))
        assert [s for s, _ in reasons] == ["dead", "dead"]
        assert all("'doomed' was removed from the config by a config reload" in e for _, e in reasons)
        wait_for(lambda: status(doomed[0]) in TERMINAL, timeout=60, message="the running doomed job")
        assert status(doomed[0]) == "succeeded"
        fresh = enqueue(gw.url, gw.token, "fresh", "poll")
        wait_for(lambda: status(fresh) in TERMINAL, timeout=60, message="the added instance's job")
        assert status(fresh) == "succeeded"
        wait_for(
            lambda: client.get("/jobs", params={"plugin": "keep", "submitted_by": "scheduler"}).json()["total"] >= 2,
            timeout=60,
            message="the schedule added by the reload to fire on the leader",
        )
