"""§10 scenario 19 against a real gateway process: a scheduled plugin that keeps failing opens its
circuit breaker, scheduled runs are skipped (`circuit_open`) while API jobs still run, the breaker
half-opens after `reset_after`, closes on the first success, and `system reset` adds a
`manual_reset`. Every assertion reads the gateway's API, its SSE stream, its database or the CLI."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ADMIN_TOKEN, DUCTILE, GatewayProcess, wait_for

from ductile.monitor.client import MonitorClient
from tests.acceptance.pipeline_rig import RW_TOKEN, Gateways, job, rows
from tests.api.sse_helpers import collect

pytestmark = pytest.mark.slow
READER_TOKEN = "breaker-reader-token-0123456789"


@pytest.fixture
def gateways(tmp_path: Path) -> Iterator[Gateways]:
    pool = Gateways(tmp_path)
    yield pool
    pool.stop_all()


def breaker(gw: GatewayProcess) -> dict[str, Any]:
    with gw.client() as client:
        answer = client.get("/breakers/bad", params={"limit": 100})
    assert answer.status_code == 200, answer.text
    return answer.json()


def healthz(gw: GatewayProcess) -> dict[str, Any]:
    with gw.client() as client:
        return client.get("/healthz").json()


def transitions(gw: GatewayProcess) -> list[dict[str, Any]]:
    return rows(gw.db_path, "SELECT * FROM circuit_breaker_transitions WHERE plugin = 'bad' ORDER BY id")


def cli(gw: GatewayProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env_free = {"PATH": str(Path(DUCTILE).parent) + ":/usr/bin:/bin", "HOME": str(gw.config_dir)}
    return subprocess.run(
        [DUCTILE, "system", *args, "--config", str(gw.config_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env_free,
    )


def opened_during(gw: GatewayProcess, created_at: str) -> bool:
    """True when `created_at` falls inside a period the breaker was open (from a transition to
    open until the next transition), read from the transitions the gateway wrote."""
    ts = transitions(gw)
    for i, t in enumerate(ts):
        if t["to_state"] != "open":
            continue
        until = ts[i + 1]["created_at"] if i + 1 < len(ts) else None
        if t["created_at"] <= created_at and (until is None or created_at < until):
            return True
    return False


def test_scenario_19_breaker_opens_skips_half_opens_closes_and_resets(gateways, tmp_path):
    mode = tmp_path / "mode"
    mode.write_text("fail")
    plugins = {
        "bad": {
            "uses": "flipper",
            "config": {"mode_file": str(mode)},
            "schedules": [{"every": "1s"}],
            "retry": {"max_attempts": 1},
            "circuit_breaker": {"threshold": 2, "reset_after": "3s"},
        }
    }
    reader = {"name": "reader", "token": READER_TOKEN, "scopes": ["plugin:ro"]}
    gw = gateways.start(
        plugins,
        None,
        service={"tick_interval": "1s"},
        edit=lambda config, _url: config["api"]["auth"]["tokens"].append(reader),
    )

    # 1. two scheduled failures open it; /healthz counts it (ours, O9)
    wait_for(lambda: healthz(gw)["plugins_circuit_open"] == 1, timeout=60, message="plugins_circuit_open = 1")
    first = transitions(gw)[0]
    assert (first["from_state"], first["to_state"], first["reason"], first["failure_count"]) == (
        "closed",
        "open",
        "failure_threshold",
        2,
    )

    # 2. an API job is accepted (and runs) while the breaker is open, and is never counted
    api_job = None
    for _ in range(10):
        wait_for(lambda: breaker(gw)["breaker"]["state"] == "open", timeout=60, message="breaker open")
        with gw.client() as client:
            answer = client.post("/plugin/bad/poll", json={})
        assert answer.status_code == 202, answer.text
        candidate = answer.json()["job_id"]
        created = job(gw.db_path, candidate)["created_at"]
        wait_for(lambda c=candidate: job(gw.db_path, c)["status"] == "failed", timeout=60, message="API job to end")
        if opened_during(gw, created):
            api_job = candidate
            break
    assert api_job is not None, "no API job landed while the breaker was open in 10 tries"
    assert job(gw.db_path, api_job)["submitted_by"] == "api"
    assert api_job not in {t["job_id"] for t in transitions(gw)}

    # 3. scheduled runs were skipped while open, then a cooldown let a trial through (half_open)
    wait_for(
        lambda: any(t["reason"] == "cooldown_elapsed" for t in transitions(gw)),
        timeout=60,
        message="open -> half_open (cooldown_elapsed)",
    )

    # 4. healthy again: the next trial closes it
    mode.write_text("ok")
    wait_for(lambda: any(t["reason"] == "success" for t in transitions(gw)), timeout=60, message="half_open -> closed")
    closed = [t for t in transitions(gw) if t["reason"] == "success"][-1]
    assert (closed["from_state"], closed["to_state"], closed["failure_count"]) == ("half_open", "closed", 0)
    wait_for(lambda: healthz(gw)["plugins_circuit_open"] == 0, timeout=30, message="plugins_circuit_open = 0")
    with gw.client() as client:
        [entry] = client.get("/schedules").json()["schedules"]
    assert entry["breaker"]["state"] == "closed" and entry["breaker"]["failure_count"] == 0

    # 5. `system reset bad` (into the database the gateway reads) adds manual_reset
    done = cli(gw, "reset", "bad")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Reset circuit breaker for bad (poll)"
    last = transitions(gw)[-1]
    assert (last["from_state"], last["to_state"], last["reason"]) == ("closed", "closed", "manual_reset")
    unknown = cli(gw, "reset", "nope")
    assert unknown.returncode == 1 and "Unknown plugin: nope" in unknown.stderr
    shown = cli(gw, "breaker", "bad", "--json", "--limit", "100")
    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)
    assert body["breaker"]["state"] == "closed" and body["breaker"]["threshold"] == 2
    assert body["transitions"][0]["reason"] == "manual_reset"

    # every transition order matches §8, and the skips were recorded with reason circuit_open
    pairs = [(t["from_state"], t["to_state"], t["reason"]) for t in transitions(gw)]
    assert pairs[0] == ("closed", "open", "failure_threshold")
    assert ("open", "half_open", "cooldown_elapsed") in pairs
    assert pairs[-2:] == [("half_open", "closed", "success"), ("closed", "closed", "manual_reset")]
    for before, after in itertools.pairwise(pairs):
        assert before[1] == after[0]  # a chain: each transition starts where the previous ended

    async def stream() -> list[Any]:
        client = MonitorClient(gw.url, ADMIN_TOKEN)
        try:
            return await collect(
                client,
                lambda seen: any(
                    e.type == "scheduler.circuit_state_changed" and e.data["data"]["state"] == "closed" for e in seen
                ),
                last_id=0,
                timeout=30,
            )
        finally:
            await client.aclose()

    events = [(e.type, e.data["data"]) for e in asyncio.run(stream()) if e.id is not None]  # hub events
    changed = [(d["previous_state"], d["state"]) for kind, d in events if kind == "scheduler.circuit_state_changed"]
    assert changed == [(a, b) for a, b, reason in pairs if reason != "manual_reset"]  # one event per transition
    assert ("scheduler.circuit_half_open", {"plugin": "bad", "command": "poll"}) in events
    skips = [d for kind, d in events if kind == "scheduler.skipped" and d.get("reason") == "circuit_open"]
    assert skips and all(s["plugin"] == "bad" and s["command"] == "poll" for s in skips)

    # over the API: plugin:ro reads, plugin:rw resets (and the running gateway publishes it)
    with gw.client(READER_TOKEN) as client:
        listed = client.get("/breakers")
        assert listed.status_code == 200
        assert [(b["plugin"], b["command"], b["state"]) for b in listed.json()["breakers"]] == [
            ("bad", "poll", "closed")
        ]
        refused = client.post("/breakers/bad/poll/reset")
        assert refused.status_code == 403 and "insufficient scope" in refused.json()["error"]
        missing = client.get("/breakers/nope")
        assert missing.status_code == 404 and "Unknown plugin: nope" in missing.json()["error"]
    with gw.client(RW_TOKEN) as client:
        reset = client.post("/breakers/bad/poll/reset")
    assert reset.status_code == 200, reset.text
    assert reset.json() == {"plugin": "bad", "command": "poll", "previous_state": "closed", "state": "closed"}
    assert [t["reason"] for t in transitions(gw)][-2:] == ["manual_reset", "manual_reset"]

    async def reset_event() -> list[Any]:
        client = MonitorClient(gw.url, ADMIN_TOKEN)
        try:
            return await collect(
                client,
                lambda seen: any(
                    e.type == "scheduler.circuit_state_changed" and e.data["data"]["reason"] == "manual_reset"
                    for e in seen
                ),
                last_id=0,
                timeout=30,
            )
        finally:
            await client.aclose()

    asyncio.run(reset_event())

    # the CLI over the API (--api-url): same answers, text form
    shown = cli(gw, "breaker", "bad", "--api-url", gw.url, "--token", ADMIN_TOKEN)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("bad (poll): closed, 0 consecutive failure(s), threshold 2, reset_after 3s")
    assert "open -> half_open  cooldown_elapsed" in shown.stdout
    remote = cli(gw, "reset", "bad", "--api-url", gw.url, "--token", ADMIN_TOKEN)
    assert remote.returncode == 0 and remote.stdout.strip() == "Reset circuit breaker for bad (poll)"
    assert [t["reason"] for t in transitions(gw)][-3:] == ["manual_reset"] * 3
    gone = cli(gw, "reset", "nope", "--api-url", gw.url, "--token", ADMIN_TOKEN)
    assert gone.returncode == 1 and "Unknown plugin: nope" in gone.stderr
