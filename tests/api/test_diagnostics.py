"""`GET /topology`, `GET /system/doctor`, `GET /system/selfcheck` (Ductile's operator diagnostics,
all `system:ro`) on a real gateway with real plugins, pipelines and database."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Iterator

import httpx
import pytest
import yaml
from conftest import ADMIN_TOKEN, DUCTILE, OK_PLUGIN, GatewayProcess, base_config, free_port, make_plugin, write_config

READER = "tok-diagnostics-reader-0123456789"
JOBS_ONLY = "tok-diagnostics-jobs-0123456789"
FETCH = [
    {"name": "poll", "type": "read", "values": {"emit": [{"event": "feed.item"}, {"event": "feed.error"}]}},
    {"name": "handle", "type": "write"},
]
SUMMARISE = [{"name": "handle", "type": "write", "values": {"emit": [{"event": "summary.ready"}, "junk", {}]}}]
PIPELINES = [
    {"name": "digest", "on": "feed.item", "steps": [{"uses": "summariser"}, {"uses": "notifier"}]},
    {
        "name": "alarm",
        "on": "feed.error",
        "steps": [{"uses": "notifier", "if": {"path": "payload.level", "op": "eq", "value": "high"}}, {"call": "tail"}],
    },
    {"name": "tail", "on": "never.sent", "steps": [{"uses": "archiver"}, {"id": "last", "uses": "notifier"}]},
    {"name": "parked", "on": "summary.ready", "steps": [{"uses": "dormant"}]},  # to a disabled instance
]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    root = tmp_path_factory.mktemp("diagnostics")
    make_plugin(root / "plugins", "fetcher", OK_PLUGIN, commands=FETCH)
    make_plugin(root / "plugins", "summariser", OK_PLUGIN, commands=SUMMARISE)
    make_plugin(root / "plugins", "notifier", OK_PLUGIN)
    make_plugin(root / "plugins", "archiver", OK_PLUGIN)
    port = free_port()
    plugins = {
        "fetcher": {},
        "summariser": {},
        "notifier": {},
        "archiver": {},
        "dormant": {"uses": "notifier", "enabled": False},
    }
    config = base_config([root / "plugins"], plugins, port=port, pipelines=PIPELINES)
    config["api"]["auth"]["tokens"] += [
        {"name": "reader", "token": READER, "scopes": ["system:ro"]},
        {"name": "jobs", "token": JOBS_ONLY, "scopes": ["jobs:ro", "plugin:ro"]},
    ]
    write_config(root / "gw", config)
    gateway = GatewayProcess(root / "gw", port=port).start()
    try:
        yield gateway
    finally:
        gateway.stop()


def get(gw: GatewayProcess, path: str, token: str = READER) -> httpx.Response:
    return httpx.get(f"{gw.url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=20)


def test_topology_links_declared_emits_to_routed_steps(gw: GatewayProcess) -> None:
    answer = get(gw, "/topology")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"version", "captured_at", "plugins", "signals"} and body["captured_at"].endswith("Z")
    plugins = {p["name"]: p for p in body["plugins"]}
    assert [p["name"] for p in body["plugins"]] == ["archiver", "dormant", "fetcher", "notifier", "summariser"]
    # a disabled instance a pipeline routes to: listed, not active, no manifest version
    assert plugins.pop("dormant") == {
        "name": "dormant",
        "active": False,
        "inputs": [{"signal": "summary.ready", "command": "handle"}],
        "outputs": [],
    }
    assert all(p["active"] and p["version"] == "0.0.1" for p in plugins.values())
    assert plugins["fetcher"]["outputs"] == [
        {"signal": "feed.error", "command": "poll"},
        {"signal": "feed.item", "command": "poll"},
    ]
    assert plugins["fetcher"]["inputs"] == []
    # malformed emit entries ("junk", {}) are skipped, not fatal
    assert plugins["summariser"]["outputs"] == [{"signal": "summary.ready", "command": "handle"}]
    assert plugins["summariser"]["inputs"] == [{"signal": "feed.item", "command": "handle"}]
    # notifier: after summariser (its declared emit), through the switch (what reached the switch),
    # and after archiver in the called pipeline (archiver declares nothing: the silent-step event);
    # the called pipeline's entry (archiver) gets its own trigger and what reaches the call.
    assert plugins["notifier"]["inputs"] == [
        {"signal": "ductile.step.succeeded", "command": "handle"},
        {"signal": "feed.error", "command": "handle"},
        {"signal": "summary.ready", "command": "handle"},
    ]
    # the call follows the gated notifier (silent: the step event) or the switch's false branch
    # (what reached the switch: feed.error)
    assert plugins["archiver"]["inputs"] == [
        {"signal": "ductile.step.succeeded", "command": "handle"},
        {"signal": "feed.error", "command": "handle"},
        {"signal": "never.sent", "command": "handle"},
    ]
    signals = {s["name"]: s for s in body["signals"]}
    assert signals["feed.item"] == {
        "name": "feed.item",
        "producers": [{"plugin": "fetcher", "command": "poll"}],
        "consumers": [{"plugin": "summariser", "command": "handle"}],
    }
    assert signals["summary.ready"]["consumers"] == [
        {"plugin": "dormant", "command": "handle"},
        {"plugin": "notifier", "command": "handle"},
    ]
    assert "ductile.switch.true" not in signals and "core.switch" not in plugins
    assert get(gw, "/topology").json()["plugins"] == body["plugins"]  # deterministic


def test_doctor_on_a_clean_config_then_on_a_broken_file(gw: GatewayProcess) -> None:
    answer = get(gw, "/system/doctor")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ok"] is True and body["checks"] == [] and body["captured_at"].endswith("Z")
    path = gw.config_dir / "config.yaml"
    original = path.read_text()
    broken = yaml.safe_load(original)
    broken["plugins"]["fetcher"]["schedules"] = [{"every": "banana"}]
    broken["plugins"]["ghost"] = {}
    try:
        path.write_text(yaml.safe_dump(broken, sort_keys=False))
        body = get(gw, "/system/doctor").json()
        assert body["ok"] is False
        by_name = {c["name"]: c for c in body["checks"]}
        assert by_name["config"]["status"] == "fail" and "banana" in by_name["config"]["detail"]
        assert by_name["config"]["field"] == "plugins.fetcher.schedules.0.every"
        assert by_name["plugins"]["status"] == "fail" and "unknown plugin 'ghost'" in by_name["plugins"]["detail"]
        # the same problems `ductile config check` prints for the same file
        shown = subprocess.run(
            [DUCTILE, "config", "check", "--json", "--config", str(gw.config_dir)], capture_output=True, text=True
        )
        assert [c["detail"] for c in body["checks"]] == json.loads(shown.stdout)["problems"]
    finally:
        path.write_text(original)
    assert get(gw, "/system/doctor").json()["ok"] is True  # it reads the file each time; nothing was reloaded


def test_selfcheck_reports_the_running_database(gw: GatewayProcess) -> None:
    answer = get(gw, "/system/selfcheck")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ok"] is True
    checks = {c["name"]: c for c in body["checks"]}
    assert list(checks) == ["lock", "integrity", "schema", "statuses", "finished_jobs", "running_jobs"]
    assert checks["lock"]["detail"] == f"held by gateway pid {gw.proc.pid}"
    assert all(c["status"] == "ok" for c in checks.values())
    cli = subprocess.run(
        [DUCTILE, "system", "selfcheck", "--json", "--config", str(gw.config_dir)], capture_output=True, text=True
    )
    assert cli.returncode == 0, cli.stderr
    assert [c["name"] for c in json.loads(cli.stdout)["checks"]] == list(checks)


def test_selfcheck_finds_a_broken_invariant(gw: GatewayProcess) -> None:
    db = sqlite3.connect(gw.config_dir / "data" / "ductile.db", timeout=10)
    try:
        with db:
            db.execute(
                "INSERT INTO jobs (job_id, plugin, command, status, max_attempts, submitted_by, created_at) "
                "VALUES ('broken-1', 'notifier', 'handle', 'exploded', 1, 'test', '2026-01-01T00:00:00.000000Z')"
            )
        body = get(gw, "/system/selfcheck").json()
        checks = {c["name"]: c for c in body["checks"]}
        assert body["ok"] is False and checks["statuses"]["status"] == "fail"
        assert checks["statuses"]["detail"] == "1 job(s) with an unknown status"
    finally:
        with db:
            db.execute("DELETE FROM jobs WHERE job_id = 'broken-1'")
        db.close()
    assert get(gw, "/system/selfcheck").json()["ok"] is True


@pytest.mark.parametrize("path", ["/topology", "/system/doctor", "/system/selfcheck"])
def test_every_diagnostic_needs_system_ro(gw: GatewayProcess, path: str) -> None:
    assert httpx.get(f"{gw.url}{path}", timeout=10).status_code == 401
    refused = get(gw, path, JOBS_ONLY)
    assert refused.status_code == 403 and "system:ro" in refused.text
    assert get(gw, path, ADMIN_TOKEN).status_code == 200
