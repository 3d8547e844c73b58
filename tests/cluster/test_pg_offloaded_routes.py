"""The routes whose store calls run on the store's threads on PostgreSQL (store/offload.py) answer
as on SQLite: a synchronous pipeline trigger (its enqueue, the tree it waits for and the body
built from it), the stopwatch, /metrics' queue counts, both schedule lists, and a bulk cancel."""

from __future__ import annotations

from pathlib import Path

from conftest import wait_for

from cluster.pgrig import Cluster


def test_pipeline_trigger_metrics_schedule_lists_and_bulk_cancel_on_postgresql(
    pg_cluster: Cluster, tmp_path: Path
) -> None:
    plugins = {
        "rec": {
            "uses": "recorder",
            "config": {"record_dir": str(tmp_path / "rec"), "result": {"ok": 1}},
            "schedules": [{"id": "s", "every": "1h"}],
        }
    }
    pipelines = [{"name": "p", "on": "go", "execution_mode": "synchronous", "steps": [{"uses": "rec"}]}]
    gw = pg_cluster.start(pg_cluster.config(plugins, pipelines=pipelines))
    with gw.client() as client:
        wait_for(lambda: client.get("/healthz").json()["node"]["leader"], timeout=60, message="leader")
        started = client.post("/pipeline/p", json={"payload": {}}, timeout=120)
        assert started.status_code == 200, started.text
        body = started.json()
        assert body["status"] == "succeeded" and [j["job_id"] for j in body["tree"]] == [body["job_id"]]
        timed = client.get("/stopwatch/rec", params={"include_subs": "true", "window": "5m"})
        assert timed.status_code == 200, timed.text
        step = next(s for s in timed.json()["steps"] if s["step"] == "step_1")
        assert step["sample_count"] == 1 and len(step["trend_p95_ms"]) == 60 and step["subs"] == []
        scrape = client.get("/metrics")
        assert scrape.status_code == 200, scrape.text
        assert 'ductile_jobs{status="succeeded"}' in scrape.text
        assert "ductile_degraded 0.0" in scrape.text
        listed = client.get("/schedules").json()["schedules"]
        assert [(s["instance"], s["schedule_id"]) for s in listed] == [("rec", "s")]
        assert listed[0]["health"]["state"]
        assert [j["schedule_id"] for j in client.get("/scheduler/jobs").json()["jobs"]] == ["s"]
        dry = client.post("/jobs/cancel", params={"dry_run": "true", "plugin": "rec"})
        assert dry.status_code == 200 and dry.json()["dry_run"] is True, dry.text
        cancelled = client.post("/jobs/cancel", params={"plugin": "nobody-here"})
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["acted"] == 0 and cancelled.json()["action_id"]
        assert [a["action"] for a in client.get("/bulk-actions").json()["actions"]] == ["cancel"]
