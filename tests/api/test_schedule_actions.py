"""Pause / resume / run now against a real gateway process: HTTP routes and `ductile schedule ...`,
scopes, clear 404s, idempotent pause, run-now on a paused entry, the entry status in /schedules,
/scheduler/jobs and `ductile system status`, and a pause that survives a real restart."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import httpx
from conftest import ADMIN_TOKEN, DUCTILE, wait_for
from sse_helpers import JOBS_TOKEN, sse_config

PLUGINS = {
    "echo": {
        "schedules": [
            {"id": "tick", "every": "1h"},
            {"id": "once", "at": "2026-01-01T00:00:00Z"},
            {"id": "night", "every": "1h", "only_between": "22:00-06:00", "timezone": "Europe/Berlin"},
        ]
    },
}
RW_TOKEN = "plugin-rw-token-0123456789"


def config() -> dict[str, Any]:
    cfg = sse_config(PLUGINS)
    cfg["api"]["auth"]["tokens"].append({"name": "operator", "token": RW_TOKEN, "scopes": ["plugin:rw"]})
    return cfg


def post(url: str, path: str, token: str | None = ADMIN_TOKEN, **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{url}{path}", headers=headers, timeout=10, **kw)


def get(url: str, path: str, token: str = ADMIN_TOKEN) -> dict[str, Any]:
    response = httpx.get(f"{url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def entry(url: str, schedule_id: str) -> dict[str, Any]:
    return next(s for s in get(url, "/schedules")["schedules"] if s["schedule_id"] == schedule_id)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DUCTILE_TOKEN", "DUCTILE_API_KEY", "DUCTILE_API_URL")}
    return subprocess.run([DUCTILE, *args], capture_output=True, text=True, timeout=60, env=env)


def test_actions_scopes_errors_idempotence_run_now_and_restart(gateway_factory: Any) -> None:
    gw = gateway_factory(config())
    url = gw.url
    # the one-shot `at` in the past fired once at start and is exhausted
    once = wait_for(lambda: (e := entry(url, "once"))["entry_status"] == "exhausted" and e, message="once exhausted")
    assert once["reason"] == "one_shot_exhausted" and once["next_due"] is None

    # scopes: read-only token → 403 insufficient scope, no token → 401
    for action in ("pause", "resume", "run"):
        denied = post(url, f"/schedules/echo/tick/{action}", JOBS_TOKEN)
        assert denied.status_code == 403 and "insufficient scope" in denied.json()["error"], denied.text
        assert "plugin:rw" in denied.json()["error"]
        assert post(url, f"/schedules/echo/tick/{action}", None).status_code == 401
    # unknown plugin / schedule: 404 naming what exists
    missing = post(url, "/schedules/ghost/tick/pause")
    assert missing.status_code == 404 and missing.json()["error"] == (
        "no schedules for plugin 'ghost' (plugins with schedules: echo)"
    )
    missing = post(url, "/schedules/echo/nope/run")
    assert missing.status_code == 404 and "plugin 'echo' has no schedule 'nope'" in missing.json()["error"]
    assert "tick, once, night" in missing.json()["error"]
    bad = post(url, "/schedules/echo/tick/pause", json={"why": 1})
    assert bad.status_code == 400 and "reason" in bad.json()["error"]
    # exhausted entries cannot be paused (409)
    assert post(url, "/schedules/echo/once/pause").status_code == 409

    # pause: recorded with the token's name; twice is a no-op that keeps the first pauser
    first = post(url, "/schedules/echo/tick/pause", RW_TOKEN, json={"reason": "disk swap"})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["changed"] is True and body["status"] == "paused_manual" and body["paused_by"] == "operator"
    assert body["reason"] == "disk swap" and body["next_run_at"] is None
    second = post(url, "/schedules/echo/tick/pause").json()
    assert second["changed"] is False and second["paused_by"] == "operator" and second["paused_at"] == body["paused_at"]

    tick = entry(url, "tick")
    assert (tick["entry_status"], tick["reason"], tick["paused_by"]) == ("paused_manual", "disk swap", "operator")
    listed = {j["schedule_id"]: j for j in get(url, "/scheduler/jobs", JOBS_TOKEN)["jobs"]}
    assert listed["tick"] == {
        "plugin": "echo",
        "schedule_id": "tick",
        "command": "poll",
        "mode": "every",
        "status": "paused_manual",
        "reason": "disk swap",
        "paused_by": "operator",
        "paused_at": body["paused_at"],
    }
    assert listed["once"]["mode"] == "at" and listed["once"]["status"] == "exhausted"
    assert listed["night"]["timezone"] == "Europe/Berlin" and listed["night"]["next_run_at"].endswith("Z")

    # run now on a paused entry: one job, scheduler identity, its own dedupe key, entry stays paused
    ran = post(url, "/schedules/echo/tick/run", RW_TOKEN)
    assert ran.status_code == 202, ran.text
    job_id = ran.json()["job_id"]
    job = wait_for(
        lambda: (j := get(url, f"/job/{job_id}"))["status"] == "succeeded" and j, message="run-now job to succeed"
    )
    assert job["plugin"] == "echo" and job["command"] == "poll"
    detail = get(url, f"/job/{job_id}/detail")
    assert detail["submitted_by"] == "scheduler" and detail["dedupe_key"].startswith("echo:poll:tick:run_now:")
    assert entry(url, "tick")["entry_status"] == "paused_manual"

    # `ductile system status` shows the status with its reason and who paused it
    status = cli("system", "status", "--api-url", url, "--token", ADMIN_TOKEN)
    line = next(x for x in status.stdout.splitlines() if "echo/tick" in x)
    assert "paused_manual" in line and "disk swap by operator" in line, status.stdout
    assert "exhausted" in next(x for x in status.stdout.splitlines() if "echo/once" in x)

    # a real restart: the pause (who, when, why) is read back from the database
    assert gw.stop() == 0
    gw.start()
    tick = entry(url, "tick")
    assert (tick["entry_status"], tick["paused_by"], tick["paused_at"]) == (
        "paused_manual",
        "operator",
        body["paused_at"],
    )
    assert entry(url, "once")["entry_status"] == "exhausted"  # and the one-shot did not fire again

    resumed = post(url, "/schedules/echo/tick/resume", RW_TOKEN).json()
    assert resumed["changed"] is True and resumed["status"] == "active" and resumed["next_run_at"]
    assert post(url, "/schedules/echo/tick/resume").json()["changed"] is False


def test_cli_schedule_commands(gateway_factory: Any) -> None:
    gw = gateway_factory(config())
    base = ["--api-url", gw.url]
    paused = cli("schedule", "pause", "echo", "tick", "--reason", "night work", *base, "--token", RW_TOKEN)
    assert paused.returncode == 0, paused.stderr
    assert paused.stdout.startswith("echo/tick: paused_manual (night work) by operator at ")
    again = cli("schedule", "pause", "echo", "tick", *base, "--token", RW_TOKEN)
    assert again.returncode == 0 and again.stdout.startswith("already paused: echo/tick")
    listed = cli("schedule", "list", *base, "--token", JOBS_TOKEN)
    assert "echo/tick: paused_manual (night work) by operator" in listed.stdout, listed.stdout
    ran = cli("schedule", "run", "echo", "tick", *base, "--token", RW_TOKEN, "--json")
    assert ran.returncode == 0 and '"status": "queued"' in ran.stdout
    denied = cli("schedule", "resume", "echo", "tick", *base, "--token", JOBS_TOKEN)
    assert denied.returncode == 1 and "API 403: insufficient scope" in denied.stderr
    unknown = cli("schedule", "run", "echo", "nope", *base, "--token", RW_TOKEN)
    assert unknown.returncode == 1 and "API 404: plugin 'echo' has no schedule 'nope'" in unknown.stderr
    resumed = cli("schedule", "resume", "echo", "tick", *base, "--token", RW_TOKEN)
    assert resumed.returncode == 0 and resumed.stdout.startswith("echo/tick: active, next run ")
