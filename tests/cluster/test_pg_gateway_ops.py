"""A real gateway process on PostgreSQL with the features of issues 10 and 13: a scheduled plugin
that keeps failing opens its circuit breaker (/healthz `plugins_circuit_open`), a schedule is
paused through the API (the pause is a schedule_state row), a signed webhook delivery becomes a
job, a failed job is retried through the API (linked by retry_of) and in bulk (with its audit
row), and GET /schedules judges each entry's health. Each test gets its own schema (tests/pgtest.py); the database is read back with
psycopg, as an operator's psql would."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

import httpx
from conftest import free_port, wait_for

from cluster.pgrig import Cluster

SECRET = "pg-ops-s3cret"
os.environ["PG_OPS_WEBHOOK_SECRET"] = SECRET  # inherited by the gateway subprocess


def sign(body: bytes) -> str:
    """Signed here with `hmac`, independently of ductile.webhooks.verify."""
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def schedules(client: httpx.Client) -> dict[tuple[str, str], dict[str, Any]]:
    answer = client.get("/schedules")
    assert answer.status_code == 200, answer.text
    return {(s["instance"], s["schedule_id"]): s for s in answer.json()["schedules"]}


def test_breaker_pause_webhook_retry_and_health_on_postgresql(pg_cluster: Cluster, tmp_path: Path) -> None:
    mode = tmp_path / "mode"
    mode.write_text("fail")
    hook_port = free_port()
    plugins = {
        "bad": {
            "uses": "flipper",
            "config": {"mode_file": str(mode)},
            "schedules": [{"every": "1s"}],
            "retry": {"max_attempts": 1},
            "circuit_breaker": {"threshold": 2, "reset_after": "1h"},
        },
        "tick": {"uses": "recorder", "config": {"record_dir": str(tmp_path / "rec")}, "schedules": [{"every": "1s"}]},
        "hook": {"uses": "recorder", "config": {"record_dir": str(tmp_path / "rec")}},
    }
    webhooks = {
        "listen": f"127.0.0.1:{hook_port}",
        "endpoints": [
            {
                "path": "/gh",
                "plugin": "hook",
                "secret_ref": "env:PG_OPS_WEBHOOK_SECRET",
                "signature_header": "X-Sig",
            }
        ],
    }
    gw = pg_cluster.start(
        pg_cluster.config(
            plugins, webhooks=webhooks, service={"tick_interval": "1s", "schedule_health": {"failing_after": 2}}
        )
    )
    with gw.client() as client:
        wait_for(lambda: client.get("/healthz").json()["node"]["leader"], timeout=60, message="leader")

        # 1. two scheduled failures open the breaker: /healthz counts it, the row is in PostgreSQL
        wait_for(lambda: client.get("/healthz").json()["plugins_circuit_open"] == 1, timeout=90, message="breaker open")
        [(state, failures)] = pg_cluster.rows("SELECT state, failure_count FROM circuit_breakers WHERE plugin = 'bad'")
        assert (state, failures) == ("open", 2)
        reasons = pg_cluster.rows(
            "SELECT from_state, to_state, reason FROM circuit_breaker_transitions WHERE plugin = 'bad' ORDER BY id"
        )
        assert reasons[0] == ("closed", "open", "failure_threshold")
        assert client.get("/breakers/bad").json()["breaker"]["state"] == "open"

        # 2. schedule health: the failing entry is judged from its runs in PostgreSQL
        entry = schedules(client)[("bad", "default")]
        assert entry["health"]["state"] == "failing", entry["health"]
        assert entry["health"]["consecutive_failures"] >= 2
        assert entry["breaker"]["state"] == "open"
        wait_for(
            lambda: schedules(client)[("tick", "default")]["health"]["state"] == "ok",
            timeout=60,
            message="tick healthy",
        )

        # 3. pause a schedule: persisted as a schedule_state row, health says paused
        paused = client.post("/schedules/tick/default/pause", json={"reason": "maintenance"})
        assert paused.status_code == 200, paused.text
        assert (paused.json()["status"], paused.json()["changed"]) == ("paused_manual", True)
        [(status, reason, by)] = pg_cluster.rows(
            "SELECT status, reason, paused_by FROM schedule_state WHERE instance = 'tick' AND schedule_id = 'default'"
        )
        assert (status, reason, by) == ("paused_manual", "maintenance", "admin")
        assert schedules(client)[("tick", "default")]["health"]["state"] == "paused"

        # 4. a signed webhook delivery becomes a job whose payload is the body verbatim
        body = b'{"action":"opened","number":7}'
        delivered = httpx.post(
            f"http://127.0.0.1:{hook_port}/gh", content=body, headers={"X-Sig": sign(body)}, timeout=15
        )
        assert delivered.status_code == 202, delivered.text
        hook_job = delivered.json()["job_id"]
        wait_for(lambda: client.get(f"/job/{hook_job}").json()["status"] == "succeeded", timeout=60, message="hook job")
        [(payload, submitted_by)] = pg_cluster.rows(
            "SELECT payload, submitted_by FROM jobs WHERE job_id = %s", (hook_job,)
        )
        assert json.loads(payload) == {"action": "opened", "number": 7} and submitted_by == "webhook:/gh"
        unsigned = httpx.post(f"http://127.0.0.1:{hook_port}/gh", content=body, headers={"X-Sig": "sha256=00"})
        assert unsigned.status_code in (401, 403)

        # 5. retry a failed job through the API: a new job linked by retry_of; it runs (and fails again)
        [(failed,)] = pg_cluster.rows(
            "SELECT job_id FROM jobs WHERE plugin = 'bad' AND status = 'failed' ORDER BY seq LIMIT 1"
        )
        retried = client.post(f"/job/{failed}/retry")
        assert retried.status_code == 202, retried.text
        retry_id = retried.json()["job_id"]
        assert retried.json()["retry_of"] == failed and retry_id != failed
        assert pg_cluster.rows("SELECT retry_of, submitted_by FROM jobs WHERE job_id = %s", (retry_id,)) == [
            (failed, "api")
        ]
        wait_for(lambda: client.get(f"/job/{retry_id}").json()["status"] == "failed", timeout=60, message="retry ran")
        again = client.post(f"/job/{failed}/retry")
        assert again.status_code == 202 and again.json()["job_id"] != retry_id  # the first retry ended

        # 6. a bulk retry: its jobs and its audit row commit together, and any node reads the audit
        bulk = client.post("/jobs/retry", params={"plugin": "bad"})
        assert bulk.status_code == 200, bulk.text
        out = bulk.json()
        assert out["acted"] >= 1 and out["action_id"] is not None
        [(action, actor, acted, job_ids)] = pg_cluster.rows(
            "SELECT action, actor, acted, job_ids FROM bulk_actions WHERE id = %s", (out["action_id"],)
        )
        assert (action, actor, acted) == ("retry", "admin", out["acted"])
        assert json.loads(job_ids) == [r["job_id"] for r in out["retries"]]
        for r in out["retries"]:
            assert pg_cluster.rows("SELECT retry_of FROM jobs WHERE job_id = %s", (r["job_id"],)) == [(r["retry_of"],)]
        listed = client.get("/bulk-actions").json()["actions"]
        assert listed[0]["id"] == out["action_id"] and listed[0]["acted"] == out["acted"]

        # an API retry never feeds the breaker (only scheduler jobs count)
        counted = {
            r[0] for r in pg_cluster.rows("SELECT job_id FROM circuit_breaker_transitions WHERE job_id IS NOT NULL")
        }
        assert retry_id not in counted
