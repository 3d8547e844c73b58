"""Issue 7, finding 5: no secret leaves through a read surface, for any caller.

A real gateway runs `secret_keeper` (tests/plugins), which puts credentials in its result,
state_updates, events, log lines, stderr and error message. Every read surface — the API, SSE, the
CLI (over the API and on the local database), the monitor's screens and the gateway's own log —
is searched for every plaintext value; the plugin's next run must still receive the real values.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ADMIN_TOKEN, DUCTILE, REPO, GatewayProcess, base_config, enqueue, free_port, wait_for, write_config
from textual.widgets import Static

from ductile.monitor.app import MonitorApp
from ductile.monitor.client import MonitorClient
from ductile.monitor.screens.detail import JobDetailScreen
from ductile.monitor.screens.state import PluginStateScreen

NAMES = ("access", "refresh", "password", "apikey", "bearer", "session", "pin", "url", "event")
READER = "reader-all-ro-0123456789"  # every read scope, no write scope
READ_SCOPES = ["jobs:ro", "plugin:ro", "events:ro", "system:ro"]


@dataclass
class World:
    gw: GatewayProcess
    secrets: dict[str, str]  # name -> plaintext the plugin leaks
    payload_secret: str
    schedule_secret: str
    config_secret: str
    record: Path
    ok_job: str  # the first poll
    second_job: str  # the second poll, which must have received the first's state
    failed_job: str
    cli_job: str  # `ductile plugin run --wait`
    cli_run_output: str

    def all_secrets(self) -> list[str]:
        return [*self.secrets.values(), self.payload_secret, self.schedule_secret, self.config_secret]

    def assert_clean(self, surface: str, text: str) -> None:
        leaked = [s for s in self.all_secrets() if s in text]
        assert not leaked, f"{surface} shows secret value(s) {leaked}:\n{text[:3000]}"


def _api(world: World, token: str = READER) -> httpx.Client:
    return httpx.Client(base_url=world.gw.url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def _wait_terminal(gw: GatewayProcess, job_id: str) -> dict[str, Any]:
    with httpx.Client(base_url=gw.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10) as api:
        return wait_for(
            lambda: (body := api.get(f"/job/{job_id}").json())["status"] not in ("queued", "running") and body,
            timeout=30,
            message=f"job {job_id} terminal",
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("secrets")
    marker = "sek" + uuid.uuid4().hex[:12]
    record = root / "record.jsonl"
    plugin_config = {"marker": marker, "record": str(record), "client_secret": f"{marker}-config"}
    port = free_port()
    config = base_config(
        [REPO / "tests" / "plugins"],
        {
            "keeper": {"uses": "secret_keeper", "config": plugin_config},
            # Disabled: its schedule is listed by GET /schedules but never fires.
            "keeper_nightly": {
                "uses": "secret_keeper",
                "enabled": False,
                "config": plugin_config,
                "schedules": [{"id": "nightly", "every": "24h", "payload": {"api_key": f"{marker}-schedule"}}],
            },
        },
        port=port,
    )
    config["api"]["auth"]["tokens"].append({"name": "reader", "token": READER, "scopes": READ_SCOPES})
    directory = root / "gw"
    write_config(directory, config)
    gw = GatewayProcess(directory, port=port).start()
    try:
        payload_secret = f"{marker}-payload"
        ok_job = enqueue(gw.url, ADMIN_TOKEN, "keeper", "poll", {"password": payload_secret, "visible": "yes"})
        _wait_terminal(gw, ok_job)
        second_job = enqueue(gw.url, ADMIN_TOKEN, "keeper", "poll")
        _wait_terminal(gw, second_job)
        failed_job = enqueue(gw.url, ADMIN_TOKEN, "keeper", "fail")
        _wait_terminal(gw, failed_job)
        run = _cli("plugin", "run", "keeper", "poll", "--wait", "--timeout", "60", "--json", "--config", str(directory))
        assert run.returncode == 0, run.stderr
        cli_job = json.loads(run.stdout)["job_id"]
        text_run = _cli("plugin", "run", "keeper", "poll", "--wait", "--timeout", "60", "--config", str(directory))
        assert text_run.returncode == 0, text_run.stderr
        yield World(
            gw=gw,
            secrets={name: f"{marker}-{name}" for name in NAMES},
            payload_secret=payload_secret,
            schedule_secret=f"{marker}-schedule",
            config_secret=f"{marker}-config",
            record=record,
            ok_job=ok_job,
            second_job=second_job,
            failed_job=failed_job,
            cli_job=cli_job,
            cli_run_output=run.stdout + run.stderr + text_run.stdout + text_run.stderr,
        )
    finally:
        gw.stop()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DUCTILE, *args], capture_output=True, text=True, timeout=90)


def test_plugin_keeps_receiving_the_real_values(world: World) -> None:
    seen = [json.loads(line) for line in world.record.read_text().splitlines()]
    first, second = seen[0], seen[1]
    assert first["payload"] == {"password": world.payload_secret, "visible": "yes"}
    assert first["state"] == {}
    s = world.secrets
    assert second["state"] == {
        "access_token": s["access"],
        "refresh_token": s["refresh"],
        "api_key": s["apikey"],
        "profile": {"name": "bob", "credentials": {"user": "bob", "pin": s["pin"]}},
        "session": {"id": s["session"]},
        "runs": 1,
    }
    # and the run after the failure (the CLI's) still gets them
    assert seen[3]["command"] == "poll" and seen[3]["state"]["refresh_token"] == s["refresh"]


def test_api_read_surfaces_mask_every_secret_for_every_caller(world: World) -> None:
    for token in (READER, ADMIN_TOKEN):  # the rule does not depend on scopes
        with _api(world, token) as api:
            ok = api.get(f"/job/{world.ok_job}")
            world.assert_clean("GET /job/{id}", ok.text)
            result = ok.json()["result"]
            assert result["state_updates"]["access_token"] == "***"
            assert result["state_updates"]["profile"] == {"name": "bob", "credentials": "***"}
            assert result["state_updates"]["runs"] == 1
            assert result["result"]["items"] == [{"deep": [{"password": "***", "kind": "login"}]}]
            assert result["result"]["note"] == "called with Authorization: Bearer ***"
            assert result["result"]["db"] == "postgres://bob:***@db.example/app"
            assert result["events"][0]["payload"] == {"who": "bob", "refresh_token": "***"}
            assert result["logs"][0]["message"] == "using access_token=***"

            failed = api.get(f"/job/{world.failed_job}")
            world.assert_clean("GET /job/{id} (failed)", failed.text)
            assert failed.json()["last_error"] == "token refresh failed: refresh_token=*** was rejected"

            detail = api.get(f"/job/{world.ok_job}/detail")
            world.assert_clean("GET /job/{id}/detail", detail.text)
            assert detail.json()["payload"] == {"password": "***", "visible": "yes"}
            world.assert_clean("GET /job/{id}/detail (failed)", api.get(f"/job/{world.failed_job}/detail").text)

            logs = api.get("/job-attempts", params={"include_result": "true", "limit": 200})
            assert logs.json()["count"] >= 5
            world.assert_clean("GET /job-logs?include_result=true", logs.text)
            stderr = {a["stderr"] for a in logs.json()["attempts"]}
            assert stderr == {"debug: password: ***\n"}

            state = api.get("/plugin-state")
            world.assert_clean("GET /plugin-state", state.text)
            assert state.json()["states"]["keeper"]["runs"] >= 3
            assert state.json()["states"]["keeper"]["refresh_token"] == "***"

            schedules = api.get("/schedules")
            world.assert_clean("GET /schedules", schedules.text)
            assert [s["payload"] for s in schedules.json()["schedules"]] == [{"api_key": "***"}]

            plugin = api.get("/plugin/keeper")
            world.assert_clean("GET /plugin/{name}", plugin.text)


def test_job_logs_query_is_no_oracle_for_masked_values(world: World) -> None:
    with _api(world) as api:
        for value in world.secrets.values():
            # a prefix of the secret as an attacker would guess it, and the whole value
            for needle in (value[:-2], value):
                body = api.get("/job-attempts", params={"query": needle, "include_result": "true"}).json()
                assert body["count"] == 0, f"query {needle!r} matched {body}"
        # a search for what is still shown keeps working
        assert api.get("/job-attempts", params={"query": "retrying with Bearer"}).json()["count"] >= 3


def test_sse_frames_carry_no_secret(world: World) -> None:
    frames = ""
    with (
        _api(world) as api,
        api.stream("GET", "/events", headers={"Last-Event-ID": "0"}, timeout=httpx.Timeout(10, read=15)) as stream,
    ):
        for chunk in stream.iter_text():
            frames += chunk
            if world.failed_job in frames and "event: job.failed" in frames:
                break
    assert "token refresh failed: refresh_token=*** was rejected" in frames
    world.assert_clean("GET /events", frames)


def test_cli_job_show_and_logs_mask_secrets_locally_and_over_the_api(world: World) -> None:
    config = ["--config", str(world.gw.config_dir)]
    remote = ["--api-url", world.gw.url, "--token", READER]
    # Each CLI start costs seconds on a loaded machine: text output both ways, --json once each.
    runs = [
        (["job", "show", world.ok_job], config),
        (["job", "show", world.failed_job], remote),
        (["job", "show", world.cli_job, "--json"], config),
        (["job", "show", world.ok_job, "--json"], remote),
        (["job", "logs", "--include-result", "--limit", "200"], config),
        (["job", "logs", "--include-result", "--limit", "200"], remote),
        (["job", "logs", "--include-result", "--limit", "200", "--json"], config),
    ]
    for args, source in runs:
        out = _cli(*args, *source)
        assert out.returncode == 0, out.stderr
        world.assert_clean(" ".join(args + source), out.stdout + out.stderr)
        assert "***" in out.stdout
    text = _cli("job", "show", world.ok_job, *config).stdout
    assert '"access_token": "***"' in text and "using access_token=***" in text
    world.assert_clean("plugin run --wait", world.cli_run_output)
    assert '"access_token": "***"' in world.cli_run_output
    shown = _cli("config", "show", *config)
    world.assert_clean("config show", shown.stdout)


def test_gateway_log_carries_no_secret(world: World) -> None:
    log = world.gw.log()
    assert world.failed_job in log
    assert "refresh_token=***" in log
    world.assert_clean("the gateway's log", log)


async def until(pilot: Any, predicate: Any, timeout: float = 15.0, what: str = "condition") -> Any:
    """Let the app run until predicate() is truthy (a deadline, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        await pilot.pause(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _screen_text(app: MonitorApp) -> str:
    return "\n".join(str(widget.render()) for widget in app.screen.query(Static))


async def test_monitor_detail_and_state_screens_mask_secrets(world: World) -> None:
    app = MonitorApp(MonitorClient(world.gw.url, READER), poll_interval=1.0, reconnect_max=0.5)
    async with app.run_test(size=(140, 60)) as pilot:
        await until(pilot, lambda: app.connection == "live", what="the main screen connected")
        for job in (world.ok_job, world.failed_job):
            await app.push_screen(JobDetailScreen(job))
            await until(pilot, lambda: app.screen.query("#attempt-1-logs"), what="attempt rendered")
            text = _screen_text(app)
            world.assert_clean(f"monitor detail of {job}", text)
            assert "***" in text
            await pilot.press("escape")
        await app.push_screen(PluginStateScreen())
        await until(pilot, lambda: '"runs"' in _screen_text(app), what="state rendered")
        text = _screen_text(app)
        world.assert_clean("monitor plugin state", text)
        assert '"refresh_token": "***"' in text
