"""MCP over streamable HTTP at /mcp on a real gateway (`api.mcp.enabled`), driven by the SDK's own
HTTP client: the bearer token of the MCP request is the one each tool call uses, so scopes apply
unchanged; without a valid token /mcp is a 401; disabled (the default) it does not exist."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import httpx2
import pytest
from conftest import ADMIN_TOKEN, GatewayProcess, base_config, free_port, make_plugin
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_rig import CATALOG_TOKEN, COMMANDS, ECHO, EXPECTED_TOOLS, body, error_text, start_gateway, wait_terminal


def enable_mcp(directory: Path) -> None:
    """Turn api.mcp on in the rig's config before the gateway starts."""
    import yaml

    path = directory / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["api"]["mcp"] = {"enabled": True, "max_result_bytes": 4000}
    path.write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    root = tmp_path_factory.mktemp("mcp-http")
    gateway = start_gateway(root)  # started once to write its config; restarted with /mcp on
    gateway.stop()
    enable_mcp(gateway.config_dir)
    gateway.start()
    yield gateway
    assert gateway.stop() == 0, gateway.log()[-3000:]  # /mcp's session manager ends with the API
    assert "Traceback" not in gateway.log()


@asynccontextmanager
async def http_client(url: str, token: str) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=120) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http), read_timeout_seconds=120) as client,
    ):
        yield client


async def test_tools_over_http_with_the_callers_token(gw: GatewayProcess) -> None:
    async with http_client(gw.url, ADMIN_TOKEN) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        assert set(listed) == EXPECTED_TOOLS
        assert "jobs:status:ro" in listed["list_jobs"].description
        queued = body(
            await client.call_tool("invoke_plugin", {"plugin": "echo", "command": "poll", "payload": {"n": 1}})
        )
        job = await wait_terminal(client, queued["job_id"])
        assert job["status"] == "succeeded"
        run = body(await client.call_tool("run_pipeline", {"name": "chain", "payload": {}}))
        assert run["status"] == "succeeded" and len(run["tree"]) == 2
        resources = {str(r.uri) for r in (await client.list_resources()).resources}
        assert "ductile://docs/AGENTS.md" in resources
    async with http_client(gw.url, CATALOG_TOKEN) as client:
        text = error_text(await client.call_tool("list_jobs", {}))
        assert "API 403" in text and "jobs:status:ro" in text and "'catalog'" in text
        assert body(await client.call_tool("list_plugins", {}))["plugins"][0]["name"] == "echo"


def test_mcp_endpoint_needs_a_valid_token(gw: GatewayProcess) -> None:
    request = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}):
        response = httpx.post(f"{gw.url}/mcp", json=request, headers=headers, timeout=10)
        assert response.status_code == 401 and "WWW-Authenticate" in response.headers
        assert "error" in response.json()
    assert "/mcp" not in httpx.get(f"{gw.url}/openapi.json", timeout=10).json()["paths"]


def test_mcp_endpoint_absent_unless_enabled(gateway_factory: object, tmp_path: Path) -> None:
    plugin_root = tmp_path / "plugins"
    make_plugin(plugin_root, "echo", ECHO, commands=COMMANDS)
    gw = gateway_factory(base_config([plugin_root], {"echo": {}}, port=free_port()))  # type: ignore[operator]
    response = httpx.post(f"{gw.url}/mcp", json={}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10)
    assert response.status_code == 404 and "no such endpoint" in response.json()["error"]
