"""GET /schedules against a real gateway: every entry, its spec, last outcome looked up, scope."""

from __future__ import annotations

from typing import Any

import httpx
from conftest import wait_for
from sse_helpers import EVENTS_TOKEN, JOBS_TOKEN, sse_config

PLUGINS = {
    "echo": {
        "schedules": [
            {"id": "tick", "every": "1s"},
            {"id": "nightly", "cron": "0 3 * * *", "timezone": "Europe/Berlin", "jitter": "5m"},
        ]
    },
    "quiet": {"uses": "echo", "enabled": False, "schedules": [{"id": "hourly", "every": "hourly"}]},
}


def _get(url: str, token: str) -> httpx.Response:
    return httpx.get(f"{url}/schedules", headers={"Authorization": f"Bearer {token}"}, timeout=5)


def test_schedules_list_every_entry_with_outcome(gateway_factory: Any) -> None:
    gw = gateway_factory(sse_config(PLUGINS))

    def tick_done() -> dict[str, Any] | None:
        body = _get(gw.url, JOBS_TOKEN).json()
        tick = next(s for s in body["schedules"] if s["schedule_id"] == "tick")
        return body if tick["last_outcome"] == "succeeded" else None

    body = wait_for(tick_done, timeout=15, message="tick schedule to succeed once")
    by_id = {s["schedule_id"]: s for s in body["schedules"]}
    assert set(by_id) == {"tick", "nightly", "hourly"}
    tick, nightly, hourly = by_id["tick"], by_id["nightly"], by_id["hourly"]
    assert tick["instance"] == "echo" and tick["command"] == "poll"
    assert tick["spec"]["every"] == "1s" and tick["spec"]["every_seconds"] == 1
    assert tick["last_job_id"] and tick["last_fired"] and tick["next_due"].endswith("Z")
    job = httpx.get(f"{gw.url}/job/{tick['last_job_id']}", headers={"Authorization": f"Bearer {JOBS_TOKEN}"}, timeout=5)
    if job.status_code == 200:  # GET /job/{id} comes from the jobs router
        assert job.json()["plugin"] == "echo"
    assert nightly["spec"] == {
        "mode": "cron",
        "cron": "0 3 * * *",
        "timezone": "Europe/Berlin",
        "jitter": "5m",
        "if_running": "skip",
        "catch_up": "skip",
    }
    assert nightly["status"] == "waiting" and nightly["last_outcome"] is None and nightly["next_due"] > body["now"]
    assert nightly["entry_status"] == "active" and nightly["reason"] is None and nightly["paused_by"] is None
    assert hourly["status"] == "disabled" and hourly["next_due"] is None


def test_schedules_scope(gateway_factory: Any) -> None:
    gw = gateway_factory(sse_config({"echo": {}}))
    assert httpx.get(f"{gw.url}/schedules", timeout=5).status_code == 401
    denied = _get(gw.url, EVENTS_TOKEN)
    assert denied.status_code == 403 and "jobs:status:ro" in denied.json()["error"]
    assert _get(gw.url, JOBS_TOKEN).json()["schedules"] == []
