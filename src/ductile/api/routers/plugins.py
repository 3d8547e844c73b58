"""`GET /plugins`, `GET /plugin/{name}`, `POST /plugin/{plugin}/{command}`.

Invoking needs `plugin:invoke:ro` for a `read` command and `plugin:rw` for a `write` one (as
Ductile: `plugin:ro` alone only reads the catalog), so the write check happens after the command
is looked up; an unknown plugin or command is a 400, as in Ductile. The body is read by hand to bound its size before
parsing and to answer 400/413 with a message instead of FastAPI's 422.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

import jsonschema
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from ductile.api import jsonio, schemas
from ductile.api.app import ApiError
from ductile.api.deps import bearer, require
from ductile.api.schemas import errors, scoped
from ductile.submission import UnknownTarget

router = APIRouter(tags=["plugins"], dependencies=[Depends(bearer)])

IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")


def _instance(request: Request, name: str, status: int = 404) -> Any:
    """The instance, or `plugin not found` (Ductile's words; 400 when invoking, 404 when reading)."""
    registry = request.app.state.gateway.registry
    inst = registry.get(name)
    if inst is None:
        known = ", ".join(sorted(registry.instances)) or "none"
        raise ApiError(status, f"plugin not found: {name[:80]!r} (known: {known})")
    return inst


@router.get(
    "/plugins",
    summary="Plugin catalog",
    response_model=None,
    responses={200: {"model": schemas.PluginList, "description": "Configured plugin instances."}, **errors(401)},
    openapi_extra=scoped("any valid token", "Every enabled plugin instance with its command names."),
    dependencies=[Depends(require(None))],
)
async def list_plugins(request: Request) -> JSONResponse:
    registry = request.app.state.gateway.registry
    return JSONResponse({"plugins": [summary(inst) for _, inst in sorted(registry.instances.items())]})


def summary(inst: Any) -> dict[str, Any]:
    """One catalog row (`GET /plugins`; the dashboard's plugin list shows the same)."""
    return {
        "name": inst.name,
        "plugin": inst.base,
        "version": inst.plugin.manifest.version,
        "description": inst.plugin.manifest.description,
        "commands": inst.plugin.manifest.command_names,
    }


@router.get(
    "/plugin/{name}",
    summary="One plugin instance: commands with type, description and input schema; schedules",
    response_model=None,
    responses={200: {"model": schemas.PluginDetail, "description": "Manifest view."}, **errors(401, 403, 404)},
    openapi_extra=scoped("plugin:catalog:ro", "What a caller needs to invoke the plugin's commands."),
    dependencies=[Depends(require("plugin:catalog:ro"))],
)
async def get_plugin(name: str, request: Request) -> JSONResponse:
    return JSONResponse(describe(_instance(request, name)))


def describe(inst: Any) -> dict[str, Any]:
    """The manifest view of one instance (`GET /plugin/{name}`; the dashboard's plugin page
    renders the same dict, so the two never disagree)."""
    manifest = inst.plugin.manifest
    return {
        "name": inst.name,
        "plugin": inst.base,
        "version": manifest.version,
        "description": manifest.description,
        "protocol": manifest.protocol,
        "concurrency_safe": manifest.concurrency_safe,
        "parallelism": inst.parallelism,
        "commands": [
            {
                "name": c.name,
                "type": c.type,
                "description": c.description,
                "idempotent": c.idempotent,
                "retry_safe": c.retry_safe,
                "input_schema": c.json_schema(),
                "output_schema": c.output_json_schema(),
            }
            for c in manifest.commands
        ],
        "schedules": [
            {"id": s.id, "command": s.command, "every_seconds": s.every, "cron": s.cron} for s in inst.spec.schedules
        ],
    }


def _payload(body: Any) -> Any:
    if body is None:
        return None
    if not isinstance(body, dict):
        raise ApiError(400, f'body must be a JSON object, got {type(body).__name__} (accepted: {{"payload": ...}})')
    extra = sorted(set(body) - {"payload"})
    if extra:
        raise ApiError(400, f"unknown body field(s) {', '.join(map(ascii, extra[:10]))} (accepted: payload)")
    return body.get("payload")


@lru_cache(maxsize=256)
def _validator(schema_text: str) -> jsonschema.protocols.Validator:
    schema = json.loads(schema_text)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema)


def _validate(schema: dict[str, Any], payload: Any) -> None:
    try:
        validator = _validator(json.dumps(schema, sort_keys=True))
        problems = sorted(validator.iter_errors(payload if payload is not None else {}), key=lambda e: list(e.path))
    except jsonschema.SchemaError as exc:
        raise ApiError(500, f"the plugin's input_schema is not valid JSON Schema: {exc.message}")
    if problems:
        first = problems[0]
        where = "payload" + "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in first.absolute_path)
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ApiError(400, f"{where}: {first.message}{more} (accepted: see input_schema in GET /plugin/{{name}})")


@router.post(
    "/plugin/{plugin}/{command}",
    summary="Enqueue a job: run a plugin command",
    status_code=202,
    response_model=None,
    responses={
        202: {"model": schemas.Enqueued, "description": "Queued."},
        200: {"model": schemas.Enqueued, "description": "Idempotency-Key matched an earlier job; nothing new queued."},
        **errors(400, 401, 403, 413, 415),
    },
    openapi_extra={
        **scoped(
            "plugin:invoke:ro for read commands, plugin:rw for write commands (plugin:ro alone cannot invoke)",
            'Body `{"payload": ...}` (optional), validated against the command\'s `input_schema`. A `handle` '
            "payload is wrapped as event `api.trigger`. An `Idempotency-Key` header becomes the job's dedupe "
            "key: while that job is queued/running, or succeeded within `dedupe_ttl`, a repeat returns it "
            "(200, `duplicate: true`) instead of queuing another.",
        ),
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": schemas.InvokeBody.model_json_schema()}},
        },
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY.pattern},
                "description": "Retry-safe submission: same key, same job.",
            }
        ],
    },
)
async def invoke(plugin: str, command: str, request: Request) -> JSONResponse:
    tokens = request.app.state.tokens
    tokens.require(request, "plugin:invoke:ro")
    inst = _instance(request, plugin, 400)
    spec = inst.command(command)
    if spec is None:
        raise ApiError(
            400,
            f"command not supported by plugin: {plugin!r} has no command {command[:80]!r} "
            f"(known: {', '.join(inst.plugin.manifest.command_names)})",
        )
    if spec.type == "write":
        tokens.require(request, "plugin:rw")
    key = request.headers.get("idempotency-key")
    if key is not None and not IDEMPOTENCY_KEY.match(key):
        raise ApiError(400, "Idempotency-Key: not accepted (accepted: 1..200 printable ASCII characters, no spaces)")
    gw = request.app.state.gateway
    payload = _payload(await jsonio.read_json(request, gw.config.api.max_body_bytes))
    schema = spec.json_schema()
    if schema:
        _validate(schema, payload)
    try:
        result = await gw.enqueue_off_loop(plugin, command, payload, submitted_by="api", dedupe_key=key)
    except UnknownTarget as exc:  # raced with nothing today; kept so the contract holds
        raise ApiError(400, str(exc))
    body = {"job_id": result.job_id, "status": result.status.value, "plugin": plugin, "command": command}
    if not result.created:
        return JSONResponse({**body, "duplicate": True}, status_code=200)
    return JSONResponse({**body, "duplicate": False}, status_code=202)
