"""Ductile compatibility, one row per row of shared/spec/ductile-compat.md that this project makes
true, each asserted against a real gateway process (started from a config written the way a
Ductile user writes one) or the real `ductile` CLI.

The table at the bottom is the index: row id → check. A row missing from it is not claimed.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import DUCTILE, GatewayProcess, free_port, make_plugin, wait_for

ADMIN = "ductile-admin-token-0001"
SCOPED = {  # token → scopes, written without `name:` (Ductile's token entries have none)
    "catalog-only-token-01": ["plugin:ro"],
    "invoker-token-000001": ["plugin:invoke:ro", "jobs:status:ro"],
    "status-only-token-01": ["jobs:status:ro", "jobs:logs:ro"],
    "events-token-0000001": ["events:ro", "jobs:result:ro"],
}
ECHO = """\
#!/usr/bin/env python3
import json, sys
req = json.load(sys.stdin)
out = {"status": "ok", "result": {"command": req["command"], "payload": req.get("payload")}}
if req["command"] == "poll":
    out["state_updates"] = {"seen": True}
print(json.dumps(out))
"""
FLAKY = """\
#!/usr/bin/env python3
import json, sys
json.load(sys.stdin)
print(json.dumps({"status": "error", "error": "upstream said 503", "retry": True}))
"""
_TOKENS = "".join(f"      - token: {t}\n        scopes: {json.dumps(s)}\n" for t, s in SCOPED.items())
CONFIG = f"""\
# Written as for Ductile: state:, nameless tokens, Ductile scope names, tick_interval, per-table
# retentions, a dotenv include, CORS origins, and keys we ignore (with one warning each).
environment_vars:
  include: [gateway.env]
service:
  name: compat-gw
  tick_interval: 60s
  job_log_retention: 30d
  job_queue_retention: 24h
  strict_mode: true
  max_workers: 2
  kill_grace: 1s
  drain_grace: 2s
state:
  path: ./state/state.db
plugin_roots: [./plugins]
api:
  enabled: true
  listen: 127.0.0.1:${{COMPAT_PORT}}
  allowed_origins: ["https://dash.example"]
  management_socket: /run/ductile/admin.sock
  auth:
    tokens:
      - token: ${{ADMIN_KEY}}
        scopes: ["*"]
{_TOKENS}\
plugins:
  echo:
    run_as: nobody
    circuit_breaker: {{threshold: 3, reset_after: 30m}}
  flaky:
    retry: {{max_attempts: 2, backoff_base: 100ms}}
    schedules:
      - id: rare
        cron: "0 3 1 1 *"
        only_between: "08:00-18:00"
pipelines:
  - name: echo-later
    on: compat.never_emitted
    execution_mode: synchronous
    timeout: 45s
    steps: [{{uses: echo}}]
"""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    root = tmp_path_factory.mktemp("compat")
    make_plugin(
        root / "plugins",
        "echo",
        ECHO,
        commands=[
            {"name": "poll", "type": "read", "description": "read it", "output_schema": {"seen": "boolean"}},
            {"name": "handle", "type": "write"},
        ],
        extra={"fact_outputs": [{"when": {"command": "poll"}, "from": "state_updates", "fact_type": "echo.seen"}]},
    )
    make_plugin(root / "plugins", "flaky", FLAKY)
    port = free_port()
    (root / "gateway.env").write_text(f"ADMIN_KEY={ADMIN}\nCOMPAT_PORT={port}\n")
    (root / "config.yaml").write_text(CONFIG)
    gateway = GatewayProcess(root, port=port)
    gateway.start()
    yield gateway
    gateway.stop()


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DUCTILE, *args], capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})}
    )


def api(gw: GatewayProcess, token: str = ADMIN) -> httpx.Client:
    return httpx.Client(base_url=gw.url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def finished(gw: GatewayProcess, job_id: str) -> dict[str, Any]:
    with api(gw) as client:
        return wait_for(
            lambda: (j := client.get(f"/job/{job_id}").json())["status"] not in ("queued", "running") and j,
            message=f"job {job_id} finished",
        )


def run_job(gw: GatewayProcess, plugin: str, command: str = "poll") -> dict[str, Any]:
    with api(gw) as client:
        response = client.post(f"/plugin/{plugin}/{command}", json={"payload": {"x": 1}})
    assert response.status_code == 202, response.text
    return finished(gw, response.json()["job_id"])


# ---- config rows ------------------------------------------------------------------------------


def c1_state_alias(gw: GatewayProcess) -> None:
    assert (gw.config_dir / "state" / "state.db").exists()
    out = cli("config", "get", "database.path", "--config", str(gw.config_dir), "--effective")
    assert out.stdout.strip() == "./state/state.db (explicit)"


def c2_nameless_tokens(gw: GatewayProcess) -> None:
    with api(gw, "invoker-token-000001") as client:
        assert client.get("/jobs").status_code == 200
    with api(gw, "catalog-only-token-01") as client:
        denied = client.get("/jobs")
    digest = hashlib.sha256(b"catalog-only-token-01").hexdigest()[:8]
    assert denied.status_code == 403 and f"token-{digest}" in denied.json()["error"]


def c3_c4_scope_implications(gw: GatewayProcess) -> None:
    with api(gw, "catalog-only-token-01") as client:
        assert client.get("/plugin/echo").status_code == 200
        invoke = client.post("/plugin/echo/poll")
        assert invoke.status_code == 403 and invoke.json()["error"].startswith("insufficient scope")
    with api(gw, "invoker-token-000001") as client:
        assert client.post("/plugin/echo/poll").status_code == 202
        assert client.post("/plugin/echo/handle", json={"payload": {}}).status_code == 403


def c5_results_hidden(gw: GatewayProcess) -> None:
    job = run_job(gw, "echo")
    with api(gw, "status-only-token-01") as client:
        assert "result" not in client.get(f"/job/{job['job_id']}").json()
        [log] = client.get("/job-logs", params={"job_id": job["job_id"], "include_result": "true"}).json()["logs"]
    assert not {"result", "last_error", "stderr"} & set(log)
    assert "result" in job  # the admin token sees it


def config_check_warnings(gw: GatewayProcess) -> list[str]:
    out = cli("config", "check", "--config", str(gw.config_dir), "--json")
    body = json.loads(out.stdout)
    assert out.returncode == 0 and body["ok"], out.stdout + out.stderr
    return body["warnings"]


def c6_service_keys(gw: GatewayProcess) -> None:
    warnings = config_check_warnings(gw)
    assert [w for w in warnings if "service.tick_interval: ignored" in w and "needs no tick" in w]
    assert [w for w in warnings if "service.strict_mode: ignored" in w]
    assert [w for w in warnings if "service.job_queue_retention: mapped onto service.job_retention 30d" in w]
    out = cli("config", "get", "service.job_retention", "--config", str(gw.config_dir), "--json")
    assert json.loads(out.stdout) == {"default": "30d"}


def c7_dotenv_include(gw: GatewayProcess) -> None:
    with api(gw) as client:  # ${ADMIN_KEY} and ${COMPAT_PORT} came from gateway.env
        assert client.get("/jobs").status_code == 200


def c8_api_keys(gw: GatewayProcess) -> None:
    warnings = config_check_warnings(gw)
    assert len([w for w in warnings if "api.management_socket: ignored" in w]) == 1


def c9_cors(gw: GatewayProcess) -> None:
    allowed = httpx.get(f"{gw.url}/healthz", headers={"Origin": "https://dash.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://dash.example"
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert allowed.headers["access-control-expose-headers"] == "Link" and allowed.headers["vary"] == "Origin"
    preflight = httpx.options(
        f"{gw.url}/jobs", headers={"Origin": "https://dash.example", "Access-Control-Request-Method": "GET"}
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-methods"] == "GET, POST, PUT, DELETE, OPTIONS"
    assert preflight.headers["access-control-allow-headers"] == "Accept, Authorization, Content-Type, X-CSRF-Token"
    assert preflight.headers["access-control-max-age"] == "300"
    other = httpx.get(f"{gw.url}/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def c11_plugin_keys(gw: GatewayProcess) -> None:
    warnings = config_check_warnings(gw)
    assert len([w for w in warnings if "plugins.echo.run_as: ignored" in w]) == 1
    assert not [w for w in warnings if "circuit_breaker" in w]  # honoured since issue 10 (pipelines.md §8)


def c12_schedule_keys(gw: GatewayProcess) -> None:
    warnings = config_check_warnings(gw)
    assert not [w for w in warnings if "only_between" in w]  # honoured since issue 10: no warning
    with api(gw) as client:
        [rare] = [s for s in client.get("/schedules").json()["schedules"] if s["instance"] == "flaky"]
    assert rare["spec"]["only_between"] == "08:00-18:00" and rare["entry_status"] == "active"
    assert rare["spec"]["timezone"]  # no timezone in the config: the host's zone (as Ductile), never empty


def c15_config_dir_env(gw: GatewayProcess) -> None:
    out = cli("config", "check", env={"DUCTILE_CONFIG_DIR": str(gw.config_dir), "DUCTILE_CONFIG": ""})
    assert out.returncode == 0 and str(gw.config_dir / "config.yaml") in out.stdout


# ---- HTTP rows --------------------------------------------------------------------------------


def a1_root(gw: GatewayProcess) -> None:
    body = httpx.get(gw.url + "/").json()
    assert {"name", "description", "uptime_seconds", "discovery"} <= set(body)
    ductile_keys = {
        "health": "/healthz",
        "skills": "/skills",
        "plugins": "/plugins",
        "openapi": "/openapi.json",
        "ai_plugin": "/.well-known/ai-plugin.json",
    }
    # Ductile's keys exactly, plus ours: the web dashboard when `api.ui.enabled` (the default)
    assert body["discovery"] == {**ductile_keys, "dashboard": "/ui"}


def a2_healthz(gw: GatewayProcess) -> None:
    body = httpx.get(gw.url + "/healthz").json()
    assert body["status"] == "ok" and body["plugins_loaded"] == 2 and body["plugins_circuit_open"] == 0
    assert {"uptime_seconds", "queue_depth", "config_path", "binary_path", "version"} <= set(body)


def a4_discovery_needs_a_token(gw: GatewayProcess) -> None:
    for path in ("/plugins", "/skills", "/.well-known/ai-plugin.json", "/plugin/echo/openapi.json"):
        assert httpx.get(gw.url + path).status_code == 401, path
        with api(gw, "status-only-token-01") as client:
            assert client.get(path).status_code == 200, path


def a5_plugin_detail(gw: GatewayProcess) -> None:
    with api(gw) as client:
        body = client.get("/plugin/echo").json()
    poll = next(c for c in body["commands"] if c["name"] == "poll")
    assert body["protocol"] == 2
    assert poll["output_schema"] == {"type": "object", "properties": {"seen": {"type": "boolean"}}}


def a6_invoke_errors(gw: GatewayProcess) -> None:
    with api(gw) as client:
        plugin = client.post("/plugin/nope/poll")
        command = client.post("/plugin/echo/nope")
        queued = client.post("/plugin/echo/poll")
    assert plugin.status_code == 400 and plugin.json()["error"].startswith("plugin not found")
    assert command.status_code == 400 and command.json()["error"].startswith("command not supported by plugin")
    assert queued.status_code == 202
    assert {"job_id": queued.json()["job_id"], "status": "queued", "plugin": "echo", "command": "poll"}.items() <= (
        queued.json().items()
    )


def a9_job_logs_shape(gw: GatewayProcess) -> None:
    job = run_job(gw, "echo")
    with api(gw) as client:
        body = client.get("/job-logs", params={"job_id": f"{job['job_id']}-1", "include_result": "TRUE"}).json()
    assert set(body) == {"logs", "total"} and body["total"] == 1
    [log] = body["logs"]
    assert log["log_id"] == f"{job['job_id']}-1" and log["result"]["result"]["command"] == "poll"


def a12_skills(gw: GatewayProcess) -> None:
    with api(gw) as client:
        skills = client.get("/skills").json()["skills"]
    names = [s["name"] for s in skills]
    assert names[:2] == ["plugin.echo.handle", "plugin.echo.poll"]
    poll = skills[1]
    assert poll == {
        "name": "plugin.echo.poll",
        "kind": "plugin",
        "description": "read it",
        "endpoint": "/plugin/echo/poll",
        "tier": "READ",
        "plugin": "echo",
        "command": "poll",
    }
    assert skills[-1] == {  # pipelines follow the plugin commands, by name
        "name": "pipeline.echo-later",
        "kind": "pipeline",
        "endpoint": "/pipeline/echo-later",
        "pipeline": "echo-later",
        "trigger": "compat.never_emitted",
        "execution_mode": "synchronous",
        "timeout_secs": 45,
    }


def a14_event_names_and_query_token(gw: GatewayProcess) -> None:
    seen: list[str] = []
    with httpx.stream("GET", f"{gw.url}/events", params={"token": "events-token-0000001"}, timeout=30) as stream:
        assert stream.status_code == 200
        job_id = None
        deadline = time.monotonic() + 30
        for line in stream.iter_lines():
            if job_id is None:
                with api(gw) as client:
                    job_id = client.post("/plugin/flaky/poll").json()["job_id"]
            if line.startswith("event: "):
                seen.append(line[len("event: ") :])
            if "job.retry_exhausted" in seen or time.monotonic() > deadline:
                break
    for name in ("job.started", "job.retry_scheduled", "job.failed", "job.retry_exhausted", "job.retrying"):
        assert name in seen, seen


def a16_analytics(gw: GatewayProcess) -> None:
    run_job(gw, "echo")
    with api(gw, "status-only-token-01") as client:
        summary = client.get("/analytics/summary").json()
        queue = client.get("/analytics/queue").json()
    assert summary["window"] == "24h" and summary["stats"].get("succeeded", 0) >= 1
    assert {"queued", "running", "plugins"} <= set(queue)


def a17_exhausted_retries_fail(gw: GatewayProcess) -> None:
    job = run_job(gw, "flaky")
    assert job["status"] == "failed"
    assert job["last_error"] == "upstream said 503 (attempt 2 of 2; retries exhausted)"
    with api(gw) as client:
        assert client.get("/jobs", params={"status": "error", "plugin": "flaky"}).json()["total"] >= 1


# ---- CLI rows ---------------------------------------------------------------------------------


def l1_stop_restart(gw: GatewayProcess) -> None:
    for action in ("stop", "restart"):
        out = cli("system", action)
        assert out.returncode == 1
        assert out.stderr.strip() == (
            f"ductile system {action} does not exist — the service manager owns the daemon lifecycle."
        )
    unsupported = {  # accepted nouns, not offered: one line naming what to use instead
        ("relay",): "ductile api",
        ("relay", "send", "peer", "--event", "x.y"): "ductile api",
        ("vault", "init"): "secret_ref: env:NAME",
        ("secrets", "keygen", "--out", "k"): "${VAR}",
    }
    for args, instead in unsupported.items():
        out = cli(*args)
        assert out.returncode == 1 and out.stdout == ""
        assert out.stderr.startswith(f"ductile {args[0]} is not supported here") and instead in out.stderr


def l2_version(gw: GatewayProcess) -> None:
    text = cli("--version").stdout.splitlines()
    assert text[0].startswith("ductile ") and text[1].startswith("commit: ") and text[2] == "built_at: unknown"
    assert set(json.loads(cli("version", "--json").stdout)) == {"version", "commit", "build_time"}


def l5_plugin_run_via_api(gw: GatewayProcess, tmp_path: Path) -> None:
    payload = tmp_path / "payload.json"
    payload.write_text('{"from": "file"}')
    args = ["plugin", "run", "echo", "--command", "poll", "--payload-file", str(payload), "--api-url", gw.url]
    out = cli(*args, env={"DUCTILE_API_KEY": ADMIN})
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Queued job ") and out.stdout.strip().endswith("(echo poll)")
    both = cli("plugin", "run", "echo", "--payload", "{}", "--payload-file", str(payload), "--api-url", gw.url)
    assert both.returncode == 1 and "not both" in both.stderr


def l5_wait_without_gateway(gw: GatewayProcess, tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        f"plugin_roots: [{gw.config_dir / 'plugins'}]\nplugins: {{echo: {{}}}}\ndatabase: {{path: ./x.db}}\n"
    )
    out = cli("plugin", "run", "echo", "--wait", "--config", str(tmp_path), env={"DUCTILE_API_URL": ""})
    assert out.returncode == 2 and "no gateway is running" in out.stderr


def l6_plugin_list_via_api(gw: GatewayProcess) -> None:
    out = cli("plugin", "list", "--api-url", gw.url, "--token", ADMIN)
    lines = out.stdout.splitlines()
    assert out.returncode == 0 and lines[0].split() == ["NAME", "VERSION", "COMMANDS"]
    assert lines[1].split()[:2] == ["echo", "0.0.1"] and lines[1].endswith("poll, handle")
    unauthenticated = cli("plugin", "list", "--api-url", gw.url, env={"DUCTILE_TOKEN": "", "DUCTILE_API_KEY": ""})
    assert unauthenticated.returncode == 1 and "401" in unauthenticated.stderr


def l9_scheduler(gw: GatewayProcess) -> None:
    out = cli("system", "scheduler", "--config", str(gw.config_dir), "--json")
    assert out.returncode == 0 and set(json.loads(out.stdout)) == {"jobs", "total"}


def l10_plugin_facts(gw: GatewayProcess) -> None:
    run_job(gw, "echo")
    out = cli("system", "plugin-facts", "echo", "--fact-type", "echo.seen", "--config", str(gw.config_dir), "--json")
    rows = json.loads(out.stdout)
    assert rows and set(rows[0]) == {"id", "plugin", "fact_type", "job_id", "command", "fact", "created_at"}
    assert rows[0]["fact"] == {"seen": True} and rows[0]["command"] == "poll"


def l11_backup(gw: GatewayProcess, tmp_path: Path) -> None:
    plain = tmp_path / "copy.db"
    assert cli("system", "backup", "--to", str(plain), "--config", str(gw.config_dir)).returncode == 0
    with sqlite3.connect(plain) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT count(*) FROM jobs").fetchone()[0] >= 0
    archive = tmp_path / "all.tar.gz"
    assert cli("system", "backup", "--to", str(archive), "--config", str(gw.config_dir)).returncode == 0
    with tarfile.open(archive) as tar:
        assert {"db/state.db", "config/config.yaml"} <= set(tar.getnames())
    again = cli("system", "backup", "--to", str(archive), "--config", str(gw.config_dir))
    assert again.returncode == 1 and "already exists" in again.stderr


def l12_selfcheck(gw: GatewayProcess) -> None:
    out = cli("system", "selfcheck", "--config", str(gw.config_dir), "--json")
    body = json.loads(out.stdout)
    assert out.returncode == 0 and body["ok"]
    checks = {c["name"]: c for c in body["checks"]}
    assert checks["lock"]["detail"].startswith("held by gateway pid")
    assert checks["integrity"]["ok"] and checks["schema"]["ok"]


def l13_config_get(gw: GatewayProcess) -> None:
    out = cli("config", "get", "plugin:flaky.retry.max_attempts", "--config", str(gw.config_dir), "--effective")
    assert out.stdout.strip() == "2 (explicit)"
    default = cli("config", "get", "service.dedupe_ttl", "--config", str(gw.config_dir), "--json", "--effective")
    assert json.loads(default.stdout) == {"value": "1d", "source": "default"}
    missing = cli("config", "get", "service.nope", "--config", str(gw.config_dir))
    assert missing.returncode == 1 and "not found" in missing.stderr


def ours_job_retry_and_cancel(gw: GatewayProcess) -> None:
    job = run_job(gw, "flaky")
    out = cli("job", "retry", job["job_id"], "--config", str(gw.config_dir), "--json")
    again = json.loads(out.stdout)
    assert out.returncode == 0 and again["retry_of"] == job["job_id"] and again["job_id"] != job["job_id"]
    late = cli("job", "cancel", job["job_id"], "--api-url", gw.url, "--api-key", ADMIN)
    assert late.returncode == 1 and "already failed" in late.stderr


def stopwatch_route(gw: GatewayProcess) -> None:
    """Ductile's GET /stopwatch/{p}: shape, default window, the window 400 and subs downgraded."""
    run_job(gw, "echo")
    with api(gw) as client:
        body = client.get("/stopwatch/echo").json()
        bad = client.get("/stopwatch/echo", params={"window": "2h"})
    assert body["plugin"] == "echo" and body["window"] == "1h" and body["captured_at"].endswith("Z")
    [step] = body["steps"]
    assert step["step"] == "" and step["sample_count"] >= 1 and len(step["trend_p95_ms"]) == 60
    assert bad.status_code == 400 and bad.json()["error"] == "invalid window (use 5m, 1h, 24h, 7d, or 30d)"
    with api(gw, "status-only-token-01") as client:  # jobs:status:ro without jobs:result:ro
        downgraded = client.get("/stopwatch/echo", params={"include_subs": "true"})
    assert downgraded.status_code == 200 and "subs" not in downgraded.json()["steps"][0]


def stopwatch_cli(gw: GatewayProcess) -> None:
    """`ductile stopwatch prune|prune-subs` with Ductile's flags and wording."""
    dry = cli(
        "stopwatch",
        "prune-subs",
        "--older-than",
        "30d",
        "--plugin",
        "echo",
        "--dry-run",
        "--config",
        str(gw.config_dir),
    )
    assert dry.returncode == 0 and dry.stdout.startswith("would clear subs on 0 job_stopwatch row(s) older than ")
    assert dry.stdout.rstrip().endswith("(plugin=echo)")
    out = cli("stopwatch", "prune", "--older-than", "1w", "--json", "--config", str(gw.config_dir))
    body = json.loads(out.stdout)
    assert body["action"] == "prune" and body["affected"] == 0 and body["dry_run"] is False
    assert body["filters"] == {"plugin": None, "step": None, "status": None, "span": None}
    missing = cli("stopwatch", "prune", "--config", str(gw.config_dir))
    assert missing.returncode == 1 and "--older-than" in missing.stderr


ROWS: dict[str, Callable[..., None]] = {
    "C1": c1_state_alias,
    "C2": c2_nameless_tokens,
    "C3-C4": c3_c4_scope_implications,
    "C5": c5_results_hidden,
    "C6": c6_service_keys,
    "C7": c7_dotenv_include,
    "C8": c8_api_keys,
    "C9": c9_cors,
    "C11": c11_plugin_keys,
    "C12": c12_schedule_keys,
    "C15": c15_config_dir_env,
    "A1": a1_root,
    "A2": a2_healthz,
    "A4": a4_discovery_needs_a_token,
    "A5": a5_plugin_detail,
    "A6": a6_invoke_errors,
    "A9": a9_job_logs_shape,
    "A12": a12_skills,
    "A14": a14_event_names_and_query_token,
    "A16": a16_analytics,
    "A17": a17_exhausted_retries_fail,
    "L1": l1_stop_restart,
    "L2": l2_version,
    "L5": l5_plugin_run_via_api,
    "L5-wait": l5_wait_without_gateway,
    "L6": l6_plugin_list_via_api,
    "L9": l9_scheduler,
    "L10": l10_plugin_facts,
    "L11": l11_backup,
    "L12": l12_selfcheck,
    "L13": l13_config_get,
    "ours-retry-cancel": ours_job_retry_and_cancel,
    "stopwatch-route": stopwatch_route,
    "stopwatch-cli": stopwatch_cli,
}


@pytest.mark.parametrize("row", sorted(ROWS))
def test_ductile_compat_row(row: str, gw: GatewayProcess, tmp_path: Path) -> None:
    check = ROWS[row]
    if "tmp_path" in check.__code__.co_varnames[: check.__code__.co_argcount]:
        check(gw, tmp_path)
    else:
        check(gw)
