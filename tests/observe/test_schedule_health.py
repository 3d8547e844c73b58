"""Schedule health on a real gateway: a failing schedule is `failing` in /schedules (with its
evidence), in an SSE `schedule.health_changed`, in /metrics, and makes `system status` exit 2;
pausing it makes it `paused` and the exit code 0 again."""

from __future__ import annotations

import json

import httpx
import pytest
from conftest import ADMIN_TOKEN, base_config, free_port, make_plugin, wait_for

from tests.acceptance.test_gateway_process import cli
from tests.observe.test_metrics import scrape, value

pytestmark = pytest.mark.slow


def gateway(tmp_path, gateway_factory):
    root = tmp_path / "plugins"
    make_plugin(root, "good", '#!/usr/bin/env bash\ncat >/dev/null\necho \'{"status":"ok","result":"fine"}\'\n')
    make_plugin(
        root, "bad", '#!/usr/bin/env bash\ncat >/dev/null\necho \'{"status":"error","error":"down","retry":false}\'\n'
    )
    every = [{"id": "often", "every": "1s"}]
    cfg = base_config(
        [root],
        {"good": {"schedules": every}, "bad": {"schedules": every, "circuit_breaker": {"threshold": 100}}},
        port=free_port(),
        service={"schedule_health": {"failing_after": 2, "late_after": "1m", "stale_after": 3}},
    )
    return gateway_factory(cfg)


def schedule(client: httpx.Client, plugin: str) -> dict:
    [entry] = [s for s in client.get("/schedules").json()["schedules"] if s["instance"] == plugin]
    return entry


def test_failing_schedule_is_reported_everywhere_and_pausing_clears_the_alarm(tmp_path, gateway_factory):
    gw = gateway(tmp_path, gateway_factory)
    with gw.client() as client:
        bad = wait_for(
            lambda: (s := schedule(client, "bad"))["health"]["state"] == "failing" and s,
            timeout=60,
            message="bad's schedule to be judged failing",
        )
        health = bad["health"]
        assert health["consecutive_failures"] >= 2 and health["last_failure_at"] and health["last_success_at"] is None
        assert "runs failed" in health["reason"] and health["interval_seconds"] == 1.0
        good = wait_for(lambda: (s := schedule(client, "good"))["health"]["last_success_at"] and s, timeout=60)
        assert good["health"]["state"] == "ok" and good["health"]["consecutive_failures"] == 0

        status = cli("system", "status", "--api-url", gw.url, "--token", ADMIN_TOKEN)
        assert status.returncode == 2, status.stdout + status.stderr
        assert "UNHEALTHY: bad/often" in status.stdout and "health failing" in status.stdout
        as_json = json.loads(cli("system", "status", "--api-url", gw.url, "--token", ADMIN_TOKEN, "--json").stdout)
        assert as_json["unhealthy"] == ["bad/often"]

        def changed() -> dict | None:
            headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Last-Event-ID": "0"}
            with httpx.stream(
                "GET", f"{gw.url}/events", params={"types": "schedule."}, headers=headers, timeout=5
            ) as r:
                for line in r.iter_lines():
                    if line.startswith("data:") and '"schedule.health_changed"' in line:
                        data = json.loads(line[5:])["data"]
                        if data["plugin"] == "bad" and data["health"] == "failing":
                            return data
                    if line.startswith(": keepalive"):
                        return None
            return None

        event = wait_for(changed, timeout=30, message="schedule.health_changed for bad")
        assert event["schedule_id"] == "often" and "runs failed" in event["reason"]
        samples = wait_for(
            lambda: (
                (s := scrape(gw.url))
                and value(s, "ductile_schedule_health", plugin="bad", schedule_id="often", state="failing") == 1
                and s
            ),
            timeout=30,
        )
        assert value(samples, "ductile_schedule_consecutive_failures", plugin="bad", schedule_id="often") >= 2
        assert value(samples, "ductile_schedule_last_success_timestamp_seconds", plugin="good", schedule_id="often")

        assert client.post("/schedules/bad/often/pause", json={"reason": "upstream down"}).status_code == 200
        assert schedule(client, "bad")["health"]["state"] == "paused"
        calm = cli("system", "status", "--api-url", gw.url, "--token", ADMIN_TOKEN)
        assert calm.returncode == 0, calm.stdout
