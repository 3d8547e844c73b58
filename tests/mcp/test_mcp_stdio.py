"""`ductile mcp` over stdio, driven by the MCP SDK's own client, against a real gateway: the tool
list, each tool's schema against the gateway's /openapi.json, a call of every tool (a real plugin
job, a real synchronous pipeline, its tree and logs), truncation, scope refusals as tool errors,
the docs as resources, and a gateway that is down."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import ADMIN_TOKEN, GatewayProcess, free_port
from mcp import MCPError
from mcp_rig import (
    BUDGET,
    CATALOG_TOKEN,
    EXPECTED_TOOLS,
    JOBS_TOKEN,
    body,
    error_text,
    mcp_client,
    start_gateway,
    wait_terminal,
)

from ductile.mcp.tools import TOOLS, arg_name


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    gateway = start_gateway(tmp_path_factory.mktemp("mcp"))
    yield gateway
    gateway.stop()


def expected_properties(doc: dict[str, Any], method: str, path: str) -> tuple[dict[str, Any], set[str]]:
    """What a tool's arguments must be, read straight from the OpenAPI operation."""
    op = doc["paths"][path][method]
    props: dict[str, Any] = {}
    required: set[str] = set()
    for param in op.get("parameters", []):
        schema = {k: v for k, v in param["schema"].items() if k != "title"}
        if param.get("description"):
            schema.setdefault("description", param["description"])
        props[arg_name(param["name"])] = schema
        if param.get("required"):
            required.add(arg_name(param["name"]))
    content = (op.get("requestBody") or {}).get("content", {}).get("application/json")
    if content:
        for name, schema in content["schema"].get("properties", {}).items():
            props[name] = {k: v for k, v in schema.items() if k != "title"}
        required |= set(content["schema"].get("required", []))
    return props, required


async def test_tool_list_and_each_schema_is_the_openapi_operation(gw: GatewayProcess) -> None:
    doc = httpx.get(f"{gw.url}/openapi.json", timeout=10).json()
    async with mcp_client(gw.url, ADMIN_TOKEN) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
    assert set(listed) == EXPECTED_TOOLS
    for spec in TOOLS:
        tool = listed[spec.name]
        schema = tool.input_schema
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        assert f"{spec.method.upper()} {spec.path}" in tool.description
        assert tool.annotations is not None and tool.annotations.read_only_hint is spec.read_only
        if spec.path not in doc["paths"]:  # a route this gateway lacks (retry before the lead's merge)
            assert spec.name == "retry_job"
            assert schema["properties"] == {"job_id": {"type": "string"}} and schema["required"] == ["job_id"]
            assert "Not offered by this gateway" in tool.description
            continue
        props, required = expected_properties(doc, spec.method, spec.path)
        assert schema["properties"] == props, spec.name
        assert set(schema.get("required", [])) == required, spec.name
        scope = doc["paths"][spec.path][spec.method].get("x-required-scope") or spec.scope
        assert scope and scope in tool.description, spec.name
    # spot checks on what an agent relies on
    assert set(listed["list_jobs"].input_schema["properties"]) == {
        "plugin",
        "command",
        "status",
        "submitted_by",
        "parent_job_id",
        "pipeline",
        "created_after",
        "created_before",
        "limit",
        "cursor",
    }
    assert listed["list_jobs"].input_schema["properties"]["limit"]["maximum"] == 200
    assert {"from", "to", "query", "include_result"} <= set(listed["job_logs"].input_schema["properties"])
    invoke = listed["invoke_plugin"].input_schema
    assert set(invoke["properties"]) == {"plugin", "command", "idempotency_key", "payload"}
    assert set(invoke["required"]) == {"plugin", "command"}
    assert set(listed["run_pipeline"].input_schema["properties"]) == {"name", "async", "payload"}
    assert "plugin:rw" in listed["run_pipeline"].description


async def test_every_tool_called_against_the_gateway(gw: GatewayProcess) -> None:
    async with mcp_client(gw.url, ADMIN_TOKEN) as client:
        plugins = body(await client.call_tool("list_plugins", {}))
        assert [p["name"] for p in plugins["plugins"]] == ["echo"]
        detail = body(await client.call_tool("get_plugin", {"name": "echo"}))
        poll = next(c for c in detail["commands"] if c["name"] == "poll")
        assert poll["input_schema"]["properties"] == {"n": {"type": "integer"}}

        queued = body(
            await client.call_tool("invoke_plugin", {"plugin": "echo", "command": "poll", "payload": {"n": 3}})
        )
        assert queued["status"] == "queued" and queued["duplicate"] is False
        job = await wait_terminal(client, queued["job_id"])
        assert job["status"] == "succeeded" and job["result"]["result"] == {"command": "poll", "payload": {"n": 3}}

        listed = body(await client.call_tool("list_jobs", {"plugin": "echo", "status": "succeeded", "limit": 10}))
        assert queued["job_id"] in [j["job_id"] for j in listed["jobs"]] and listed["total"] >= 1

        logs = body(await client.call_tool("job_logs", {"job_id": queued["job_id"]}))
        assert logs["total"] == 1
        assert logs["logs"][0]["logs"][0]["message"] == "echo poll saw n"

        run = body(await client.call_tool("run_pipeline", {"name": "chain", "payload": {"who": "agent"}}))
        assert run["status"] == "succeeded"
        assert [(i["plugin"], i["status"]) for i in run["tree"]] == [("echo", "succeeded")] * 2
        tree = body(await client.call_tool("job_tree", {"job_id": run["job_id"]}))
        assert [i["job_id"] for i in tree["tree"]] == [i["job_id"] for i in run["tree"]]
        assert tree["tree"][1]["parent_job_id"] == run["job_id"]
        steps = body(await client.call_tool("list_jobs", {"pipeline": "chain"}))
        assert steps["total"] == 2

        schedules = body(await client.call_tool("list_schedules", {}))
        nightly = next(s for s in schedules["schedules"] if s["schedule_id"] == "nightly")
        assert nightly["instance"] == "echo" and nightly["spec"]["cron"] == "0 3 * * *"
        assert nightly["status"] == "waiting" and nightly["next_due"]

        retried = await client.call_tool("retry_job", {"job_id": queued["job_id"]})
        doc = httpx.get(f"{gw.url}/openapi.json", timeout=10).json()
        if "/job/{job_id}/retry" in doc["paths"]:
            again = body(retried)
            assert again["retry_of"] == queued["job_id"] and again["job_id"] != queued["job_id"]
            assert again["status"] == "queued"
        else:  # this branch predates the route: the gateway's 404 reaches the agent as a tool error
            text = error_text(retried)
            assert "API 404" in text and "no such endpoint" in text and "older than this tool" in text


async def test_bad_arguments_and_api_errors_are_tool_errors(gw: GatewayProcess) -> None:
    async with mcp_client(gw.url, ADMIN_TOKEN) as client:
        text = error_text(await client.call_tool("list_jobs", {"limit": 500}))
        assert "limit" in text and "500" in text
        text = error_text(await client.call_tool("list_jobs", {"colour": "red"}))
        assert "colour" in text
        text = error_text(
            await client.call_tool("invoke_plugin", {"plugin": "echo", "command": "poll", "payload": {"n": "x"}})
        )
        assert "API 400" in text and "payload.n" in text
        text = error_text(await client.call_tool("get_job", {"job_id": "no-such-job"}))
        assert "API 404" in text and "no-such-job" in text
        text = error_text(await client.call_tool("run_pipeline", {"name": "nope"}))
        assert "API 404" in text and "pipeline not found" in text
        # the session survives every refusal
        assert body(await client.call_tool("list_plugins", {}))["plugins"]


async def test_large_results_are_shortened_and_say_so(gw: GatewayProcess) -> None:
    async with mcp_client(gw.url, ADMIN_TOKEN) as client:
        queued = body(await client.call_tool("invoke_plugin", {"plugin": "echo", "command": "big"}))
        await wait_terminal(client, queued["job_id"])
        result = await client.call_tool("get_job", {"job_id": queued["job_id"]})
        job = body(result)
        assert len(result.content[0].text.encode()) <= BUDGET
        assert job["result_truncated"] is True and job["result_bytes"] > 30000
        assert {"$.result.result.blob", "$.result.result.rows"} <= set(job["truncated_fields"])
        assert job["result"]["result"]["blob"].endswith("…[truncated: 30000 chars]")
        assert job["result"]["result"]["rows"][-1].endswith("more items]")
        assert job["job_id"] == queued["job_id"] and job["status"] == "succeeded"  # small fields whole
        small = body(await client.call_tool("list_plugins", {}))
        assert "result_truncated" not in small


async def test_scope_refusals_are_tool_errors_naming_the_scope(gw: GatewayProcess) -> None:
    async with mcp_client(gw.url, CATALOG_TOKEN) as client:
        assert len((await client.list_tools()).tools) == len(EXPECTED_TOOLS)
        text = error_text(await client.call_tool("list_jobs", {}))
        assert "API 403" in text and "jobs:status:ro" in text and "'catalog'" in text
        text = error_text(await client.call_tool("invoke_plugin", {"plugin": "echo", "command": "poll"}))
        assert "API 403" in text and "plugin:invoke:ro" in text
        text = error_text(await client.call_tool("run_pipeline", {"name": "chain"}))
        assert "API 403" in text and "plugin:rw" in text
        assert body(await client.call_tool("get_plugin", {"name": "echo"}))["name"] == "echo"  # allowed
    async with mcp_client(gw.url, JOBS_TOKEN) as client:
        text = error_text(await client.call_tool("invoke_plugin", {"plugin": "echo", "command": "handle"}))
        assert "API 403" in text and "plugin:invoke:ro" in text
        assert "jobs" in body(await client.call_tool("list_jobs", {"limit": 1}))
    async with mcp_client(gw.url, "not-a-token-0123456789") as client:
        text = error_text(await client.call_tool("list_plugins", {}))
        assert "API 401" in text and "invalid token" in text


async def test_docs_are_resources(gw: GatewayProcess) -> None:
    async with mcp_client(gw.url, ADMIN_TOKEN) as client:
        resources = {str(r.uri): r for r in (await client.list_resources()).resources}
        assert "ductile://docs/AGENTS.md" in resources and "ductile://docs/API_REFERENCE.md" in resources
        assert resources["ductile://docs/AGENTS.md"].mime_type == "text/markdown"
        page = await client.read_resource("ductile://docs/AGENTS.md")
        assert "mcpServers" in page.contents[0].text
        with pytest.raises(MCPError, match="unknown resource"):
            await client.read_resource("ductile://docs/../../pyproject.toml")


async def test_gateway_down_tools_still_listed_calls_say_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with mcp_client(url, ADMIN_TOKEN) as client:
        assert {t.name for t in (await client.list_tools()).tools} == EXPECTED_TOOLS
        text = error_text(await client.call_tool("list_jobs", {}))
        assert "API unreachable" in text and url in text


async def test_an_agent_operates_schedules_breakers_pipelines_and_cancels(gw: GatewayProcess) -> None:
    """The operating tools, each against the real gateway through the stdio server."""
    async with mcp_client(gw.url, ADMIN_TOKEN) as client:
        paused = body(
            await client.call_tool(
                "pause_schedule", {"plugin": "echo", "schedule_id": "nightly", "reason": "agent maintenance"}
            )
        )
        assert paused["status"] == "paused_manual" and paused["reason"] == "agent maintenance"
        assert paused["paused_by"] == "admin" and paused["changed"] is True
        listed = body(await client.call_tool("list_schedules", {}))
        nightly = next(s for s in listed["schedules"] if s["schedule_id"] == "nightly")
        assert nightly["entry_status"] == "paused_manual" and nightly["reason"] == "agent maintenance"

        ran = body(await client.call_tool("run_schedule", {"plugin": "echo", "schedule_id": "nightly"}))
        assert ran["status"] == "queued" and ran["schedule_id"] == "nightly"  # runs although paused
        job = await wait_terminal(client, ran["job_id"])
        assert job["status"] == "succeeded" and job["submitted_by"] == "scheduler"

        resumed = body(await client.call_tool("resume_schedule", {"plugin": "echo", "schedule_id": "nightly"}))
        assert resumed["status"] == "active" and resumed["changed"] is True

        pipelines = body(await client.call_tool("list_pipelines", {}))
        assert [p["name"] for p in pipelines["pipelines"]] == ["chain"]

        breakers = body(await client.call_tool("list_breakers", {}))
        echo = next(b for b in breakers["breakers"] if (b["plugin"], b["command"]) == ("echo", "poll"))
        assert echo["state"] == "closed"
        reset = body(await client.call_tool("reset_breaker", {"plugin": "echo", "command": "poll"}))
        assert reset["state"] == "closed" and reset["previous_state"] == "closed"

        late = error_text(await client.call_tool("cancel_job", {"job_id": ran["job_id"]}))
        assert "409" in late and "already" in late  # it had ended: refused, as a tool error
        missing = error_text(await client.call_tool("cancel_job", {"job_id": "no-such-job"}))
        assert "404" in missing


async def test_an_agent_reads_the_running_config_without_secrets(gw: GatewayProcess) -> None:
    async with mcp_client(gw.url, ADMIN_TOKEN) as client:
        config = body(await client.call_tool("get_config", {}))
    assert config["plugins"]["echo"]["schedules"][0]["id"] == "nightly"
    assert {t["name"]: t["token"] for t in config["api"]["auth"]["tokens"]}["admin"] == "***"
    async with mcp_client(gw.url, JOBS_TOKEN) as client:
        text = error_text(await client.call_tool("get_config", {}))
    assert "403" in text and "system:ro" in text


async def test_an_agent_reads_the_wiring_and_checks_config_and_database(gw: GatewayProcess) -> None:
    async with mcp_client(gw.url, ADMIN_TOKEN) as client:
        topology = body(await client.call_tool("get_topology", {}))
        doctor = body(await client.call_tool("check_config", {}))
        selfcheck = body(await client.call_tool("check_database", {}))
    assert "echo" in {p["name"] for p in topology["plugins"]} and "signals" in topology
    assert doctor["ok"] is True and doctor["checks"] == []
    assert selfcheck["ok"] is True and {c["name"] for c in selfcheck["checks"]} >= {"integrity", "schema"}
    async with mcp_client(gw.url, JOBS_TOKEN) as client:
        for tool in ("get_topology", "check_config", "check_database"):
            text = error_text(await client.call_tool(tool, {}))
            assert "403" in text and "system:ro" in text


async def test_an_agent_reads_a_plugins_latency(gw: GatewayProcess) -> None:
    async with mcp_client(gw.url, ADMIN_TOKEN) as client:
        queued = body(
            await client.call_tool("invoke_plugin", {"plugin": "echo", "command": "poll", "payload": {"n": 1}})
        )
        assert (await wait_terminal(client, queued["job_id"]))["status"] == "succeeded"
        latency = body(await client.call_tool("plugin_latency", {"plugin": "echo", "window": "1h"}))
        assert latency["plugin"] == "echo" and latency["window"] == "1h"
        direct = [s for s in latency["steps"] if s["step"] == ""]
        assert direct and direct[0]["sample_count"] >= 1 and len(direct[0]["trend_p95_ms"]) == 60
        text = error_text(await client.call_tool("plugin_latency", {"plugin": "nope"}))
        assert "404" in text and "plugin not found" in text


async def test_health_needs_no_scope(gw: GatewayProcess) -> None:
    async with mcp_client(gw.url, CATALOG_TOKEN) as client:
        health = body(await client.call_tool("gateway_health", {}))
    assert health["status"] == "ok" and health["max_workers"] == 2
    assert {"queued", "running", "workers_busy", "plugins_circuit_open", "version"} <= set(health)


async def test_a_read_only_token_cannot_operate(gw: GatewayProcess) -> None:
    async with mcp_client(gw.url, JOBS_TOKEN) as client:
        text = error_text(await client.call_tool("pause_schedule", {"plugin": "echo", "schedule_id": "nightly"}))
        assert "403" in text and "plugin:rw" in text
        text = error_text(await client.call_tool("cancel_job", {"job_id": "whatever"}))
        assert "403" in text and "jobs:rw" in text
