"""A real gateway for the MCP tests (one test plugin, a synchronous two-step pipeline, a schedule,
three tokens) and `ductile mcp` started as a subprocess by the SDK's own stdio client."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from conftest import ADMIN_TOKEN, DUCTILE, GatewayProcess, base_config, free_port, make_plugin, write_config
from mcp import Client, StdioServerParameters

REPO = Path(__file__).resolve().parents[2]
CATALOG_TOKEN = "tok-mcp-catalog-only-0123456789"  # plugin:ro: the catalog, nothing else
JOBS_TOKEN = "tok-mcp-jobs-read-0123456789"  # jobs:ro: read jobs, may not invoke
BUDGET = 4000  # --max-result-bytes for the servers under test
EXPECTED_TOOLS = {  # what every MCP server lists, whatever its token
    "gateway_health",
    "list_jobs",
    "get_job",
    "job_tree",
    "job_logs",
    "list_schedules",
    "list_plugins",
    "get_plugin",
    "invoke_plugin",
    "run_pipeline",
    "retry_job",
    "cancel_job",
    "list_pipelines",
    "pause_schedule",
    "resume_schedule",
    "run_schedule",
    "list_breakers",
    "get_config",
    "reset_breaker",
    "get_topology",
    "check_config",
    "check_database",
    "plugin_latency",
}

ECHO = """\
#!/usr/bin/env python3
import json, sys
req = json.load(sys.stdin)
cmd = req["command"]
payload = req.get("payload") or {}
if cmd == "big":
    result = {"blob": "x" * 30000, "rows": list(range(400))}
else:
    result = {"command": cmd, "payload": payload}
logs = [{"level": "info", "message": "echo %s saw %s" % (cmd, ",".join(sorted(payload)))}]
print(json.dumps({"status": "ok", "result": result, "logs": logs}))
"""

COMMANDS = [
    {
        "name": "poll",
        "type": "read",
        "description": "echo the payload",
        "input_schema": {"type": "object", "properties": {"n": {"type": "integer"}}, "additionalProperties": False},
    },
    {"name": "handle", "type": "write", "description": "echo, as a write"},
    {"name": "big", "type": "read", "description": "answer with a 30 kB result"},
]

PIPELINES = [
    {
        "name": "chain",
        "on": "chain.start",
        "execution_mode": "synchronous",
        "timeout": "60s",
        "steps": [{"id": "first", "uses": "echo"}, {"id": "second", "uses": "echo"}],
    }
]


def start_gateway(root: Path) -> GatewayProcess:
    plugin_root = root / "plugins"
    make_plugin(plugin_root, "echo", ECHO, commands=COMMANDS)
    port = free_port()
    plugins = {"echo": {"schedules": [{"id": "nightly", "command": "poll", "cron": "0 3 * * *"}]}}
    config = base_config([plugin_root], plugins, port=port)
    config["pipelines"] = PIPELINES
    config["api"]["auth"] = {
        "tokens": [
            {"name": "admin", "token": ADMIN_TOKEN, "scopes": ["*"]},
            {"name": "catalog", "token": CATALOG_TOKEN, "scopes": ["plugin:ro"]},
            {"name": "jobs-reader", "token": JOBS_TOKEN, "scopes": ["jobs:ro"]},
        ]
    }
    directory = root / "gw"
    write_config(directory, config)
    return GatewayProcess(directory, port=port).start()


@asynccontextmanager
async def mcp_client(api_url: str, token: str | None, *extra: str) -> AsyncIterator[Client]:
    """`ductile mcp` as an agent's host runs it: a subprocess spoken to over stdin/stdout."""
    env = {"DUCTILE_API_URL": api_url, "PATH": str(Path(DUCTILE).parent)}
    if token:
        env["DUCTILE_TOKEN"] = token
    params = StdioServerParameters(
        command=DUCTILE, args=["mcp", "--max-result-bytes", str(BUDGET), *extra], env=env, cwd=str(REPO)
    )
    async with Client(params, read_timeout_seconds=120) as client:
        yield client


def body(result: Any) -> Any:
    """A successful tool result's JSON (the text block and structured content agree)."""
    assert not result.is_error, result.content[0].text
    decoded = json.loads(result.content[0].text)
    assert decoded == result.structured_content
    return decoded


def error_text(result: Any) -> str:
    assert result.is_error, result.content
    return result.content[0].text


async def wait_terminal(client: Client, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """get_job until the job is terminal. A deadline, not a timing assertion."""
    deadline = time.monotonic() + timeout
    while True:
        job = body(await client.call_tool("get_job", {"job_id": job_id}))
        if job["status"] not in ("queued", "running"):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['status']} after {timeout}s")
        await anyio.sleep(0.1)
