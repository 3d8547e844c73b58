"""The MCP tools: which API operation each one calls, and its input schema built from the
gateway's OpenAPI document.

A tool's arguments are exactly the operation's parameters (path, query, header) plus the fields
of its JSON body, with the schemas and descriptions the document gives them. The document is the
one the gateway serves (`GET /openapi.json`), which FastAPI builds from the same pydantic models
and parameter lists the handlers use, so a tool cannot drift from the route it calls. Nothing
here imports the `mcp` SDK: these are plain data and pure functions, tested on their own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import jsonschema


@dataclass(frozen=True)
class ToolSpec:
    """What we decide about a tool; everything else comes from the OpenAPI operation."""

    name: str
    method: str
    path: str
    purpose: str = field(compare=False)
    read_only: bool = True
    wrap: str = "result"  # key for a result that is not a JSON object (the tree is a list)
    scope: str | None = None  # stated when the operation does not say (x-required-scope)
    timeout: float = 30.0


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "gateway_health",
        "get",
        "/healthz",
        "Is the gateway up and how busy: status (ok or degraded, with the reason), queued and running "
        "jobs, busy workers, open circuit breakers, uptime, version. Start here.",
        scope="none (public)",
    ),
    ToolSpec(
        "list_jobs",
        "get",
        "/jobs",
        "Find jobs by plugin, command, status, submitter, parent, pipeline or creation time; newest first. "
        "Pass `next_cursor` back as `cursor` for the next page.",
    ),
    ToolSpec(
        "get_job",
        "get",
        "/job/{job_id}",
        "One job: status, times, last error, the plugin's result once terminal, and its lineage "
        "(parent, pipeline step, events emitted, jobs started).",
    ),
    ToolSpec(
        "job_tree",
        "get",
        "/job/{job_id}/tree",
        "A job and everything it started (pipeline steps, triggered pipelines, hook jobs), root first; "
        "the result is `{tree: [...]}`.",
        wrap="tree",
    ),
    ToolSpec(
        "job_logs",
        "get",
        "/job-logs",
        "One record per attempt: log lines the plugin wrote, stderr, error, exit code, duration; "
        "filter by job, plugin, status or time, or search text with `query`.",
    ),
    ToolSpec(
        "list_schedules",
        "get",
        "/schedules",
        "Every schedule with its health: status (running, waiting, skipped, disabled), last fired, "
        "last outcome and error, next due time.",
    ),
    ToolSpec("list_plugins", "get", "/plugins", "The plugin instances you can invoke, with their command names."),
    ToolSpec(
        "get_plugin",
        "get",
        "/plugin/{name}",
        "One plugin instance: each command's type (read or write), description and input_schema; "
        "read it before invoke_plugin.",
    ),
    ToolSpec(
        "invoke_plugin",
        "post",
        "/plugin/{plugin}/{command}",
        "Queue a job that runs one plugin command with `payload` (checked against the command's "
        "input_schema); answers with the job id at once, follow it with get_job.",
        read_only=False,
    ),
    ToolSpec(
        "run_pipeline",
        "post",
        "/pipeline/{name}",
        "Start a configured pipeline with `payload`. A synchronous pipeline answers when finished, with "
        "status, result and tree; otherwise you get the entry job id (follow it with job_tree).",
        read_only=False,
        scope="plugin:rw",
        timeout=660.0,
    ),
    ToolSpec(
        "retry_job",
        "post",
        "/job/{job_id}/retry",
        "Queue a terminal (failed, timed_out, dead or succeeded) job again as a new job; the answer "
        "names the new `job_id` and `retry_of`.",
        read_only=False,
        scope="jobs:rw",
    ),
    ToolSpec(
        "cancel_job",
        "post",
        "/job/{job_id}/cancel",
        "Cancel a queued or running job (a running plugin's whole process group is killed); it ends "
        "as dead. Cancelling a job that has already ended is refused (409).",
        read_only=False,
        scope="jobs:rw",
    ),
    ToolSpec(
        "list_pipelines",
        "get",
        "/pipelines",
        "Every configured pipeline: trigger, steps, execution mode, and its last instance's status "
        "and duration; start one with run_pipeline.",
    ),
    ToolSpec(
        "pause_schedule",
        "post",
        "/schedules/{plugin}/{schedule_id}/pause",
        "Stop a schedule entry firing until resumed (kept across restarts; pausing twice is a no-op); "
        "`reason` is shown with the paused status.",
        read_only=False,
        scope="plugin:rw",
    ),
    ToolSpec(
        "resume_schedule",
        "post",
        "/schedules/{plugin}/{schedule_id}/resume",
        "Make a paused schedule entry fire again from its next slot.",
        read_only=False,
        scope="plugin:rw",
    ),
    ToolSpec(
        "run_schedule",
        "post",
        "/schedules/{plugin}/{schedule_id}/run",
        "Queue one job for a schedule entry now (also when paused); its next fire time does not move.",
        read_only=False,
        scope="plugin:rw",
    ),
    ToolSpec(
        "get_config",
        "get",
        "/config/view",
        "The config the gateway runs now (merged, defaulted, after reloads), secrets shown as ***: "
        "plugin config, schedules, retry and timeouts, pipelines, webhooks, token names and scopes.",
    ),
    ToolSpec(
        "plugin_latency",
        "get",
        "/stopwatch/{plugin}",
        "How long one plugin's runs take: per pipeline step, the count and p50/p95/p99 in ms over a "
        "window (5m, 1h, 24h, 7d, 30d) and a 60-slice p95 trend. Use it for 'is it slower than usual'.",
    ),
    ToolSpec(
        "get_topology",
        "get",
        "/topology",
        "How the automation is wired: each plugin's declared outputs (events its commands emit) and "
        "inputs (events pipelines route to it), and per event its producers and consumers. Use it to "
        "answer 'what happens when X arrives' or 'who consumes what this plugin sends'.",
    ),
    ToolSpec(
        "check_config",
        "get",
        "/system/doctor",
        "`ductile config check` on the config files as they are on disk now (what a reload or restart "
        "would meet): ok, and one check per problem (fail) or warning (warn) with the key path.",
    ),
    ToolSpec(
        "check_database",
        "get",
        "/system/selfcheck",
        "The database's health beside the running gateway: integrity, schema version, job status "
        "invariants, running jobs. ok is false when any check fails.",
    ),
    ToolSpec(
        "list_breakers",
        "get",
        "/breakers",
        "Every circuit breaker (scheduled plugin+command pairs): state (closed, open, half_open), "
        "failure count, when it opened; an open breaker skips that schedule.",
    ),
    ToolSpec(
        "reset_breaker",
        "post",
        "/breakers/{plugin}/{command}/reset",
        "Close a circuit breaker by hand (after fixing what made the plugin fail); scheduled runs resume.",
        read_only=False,
        scope="plugin:rw",
    ),
)


@dataclass(frozen=True)
class Arg:
    """One tool argument and where it goes in the HTTP request."""

    name: str  # as the agent passes it
    where: str  # path, query, header or body
    wire: str  # the name in the request


@dataclass(frozen=True)
class Tool:
    spec: ToolSpec
    description: str
    input_schema: dict[str, Any]
    args: tuple[Arg, ...]
    scope: str | None
    documented: bool  # False: the gateway's document lacks the operation (an older gateway)


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    json: Any = None
    has_body: bool = False


class ToolInputError(ValueError):
    """Arguments the agent must fix; the message names the argument and what is accepted."""


def arg_name(wire: str) -> str:
    """`Idempotency-Key` → `idempotency_key`: header names are not comfortable argument names."""
    return re.sub(r"[^0-9A-Za-z_]", "_", wire).lower()


def _clean(schema: dict[str, Any], description: str | None) -> dict[str, Any]:
    out = {k: v for k, v in schema.items() if k != "title"}
    if description and "description" not in out:
        out["description"] = description
    return out


def _resolve(schema: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    """A `#/components/schemas/X` reference, inlined (one level: our bodies are flat)."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        return doc.get("components", {}).get("schemas", {}).get(ref.rsplit("/", 1)[1], {})
    return schema


def operation(doc: dict[str, Any], spec: ToolSpec) -> dict[str, Any] | None:
    return doc.get("paths", {}).get(spec.path, {}).get(spec.method)


def body_schema(doc: dict[str, Any], op: dict[str, Any]) -> dict[str, Any] | None:
    content = (op.get("requestBody") or {}).get("content", {}).get("application/json")
    return _resolve(content["schema"], doc) if content and "schema" in content else None


def build_tool(spec: ToolSpec, doc: dict[str, Any]) -> Tool:
    """The tool as the gateway's document describes its operation."""
    op = operation(doc, spec)
    properties: dict[str, Any] = {}
    required: list[str] = []
    args: list[Arg] = []
    if op is None:
        # An older gateway without this route: keep the tool (so an agent sees the same list
        # everywhere) with just its path parameters; a call surfaces the gateway's 404.
        for wire in re.findall(r"{(\w+)}", spec.path):
            properties[wire] = {"type": "string"}
            required.append(wire)
            args.append(Arg(wire, "path", wire))
        summary = f"Not offered by this gateway (its /openapi.json has no {spec.method.upper()} {spec.path})."
        scope = spec.scope
    else:
        for param in op.get("parameters", []):
            name = arg_name(param["name"])
            properties[name] = _clean(_resolve(param.get("schema", {}), doc), param.get("description"))
            if param.get("required"):
                required.append(name)
            args.append(Arg(name, param["in"], param["name"]))
        body = body_schema(doc, op)
        if body is not None:
            for wire, schema in body.get("properties", {}).items():
                properties[wire] = _clean(schema, None)
                args.append(Arg(wire, "body", wire))
            required.extend(body.get("required", []))
        summary = op.get("summary", "")
        if op.get("description"):
            summary = f"{summary}. {op['description']}" if summary else op["description"]
        scope = op.get("x-required-scope") or spec.scope
    scope_line = f"\n\nScope: `{scope}`." if scope and "**Scope:**" not in summary else ""
    description = f"{spec.purpose}\n\n{spec.method.upper()} {spec.path}: {summary}{scope_line}"
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return Tool(spec, description, schema, tuple(args), scope, op is not None)


def build_tools(doc: dict[str, Any]) -> dict[str, Tool]:
    return {spec.name: build_tool(spec, doc) for spec in TOOLS}


def _wire_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check(tool: Tool, arguments: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(tool.input_schema)
    problems = sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
    if not problems:
        return
    first = problems[0]
    where = ".".join(str(p) for p in first.absolute_path) or "arguments"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    raise ToolInputError(f"{where}: {first.message}{more} (accepted: see the input schema of {tool.spec.name})")


def plan_request(tool: Tool, arguments: dict[str, Any] | None) -> ApiRequest:
    """The HTTP request a call makes; bad arguments are a ToolInputError naming the argument."""
    # null means "not given" (agents often send every optional argument as null)
    arguments = {k: v for k, v in (arguments or {}).items() if v is not None}
    _check(tool, arguments)
    path = tool.spec.path
    params: dict[str, str] = {}
    headers: dict[str, str] = {}
    body: dict[str, Any] = {}
    for arg in tool.args:
        if arg.name not in arguments:
            continue
        value = arguments[arg.name]
        if arg.where == "path":
            if not isinstance(value, str) or not value:
                raise ToolInputError(f"{arg.name}: must be a non-empty string")
            path = path.replace("{" + arg.wire + "}", quote(value, safe=""))
        elif arg.where == "query":
            params[arg.wire] = _wire_value(value)
        elif arg.where == "header":
            headers[arg.wire] = _wire_value(value)
        else:
            body[arg.wire] = value
    return ApiRequest(tool.spec.method.upper(), path, params, headers, body or None, bool(body))


def local_openapi() -> dict[str, Any]:
    """This package's own API document, for when the gateway cannot be asked: the same routers,
    without a gateway behind them (only the document is built)."""
    from fastapi import FastAPI

    from ductile.api.app import _include_optional
    from ductile.api.routers import health

    app = FastAPI(title="ductile")
    app.include_router(health.router)
    _include_optional(app)
    return app.openapi()
