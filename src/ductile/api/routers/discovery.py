"""Ductile's discovery and analytics endpoints: `/skills`, `/.well-known/ai-plugin.json`,
`/plugin/{name}/openapi.json`, `/analytics/summary`, `/analytics/queue`, and the CORS rule.

Agents written against Ductile find their way in through these; each needs a valid token (the
analytics ones `jobs:status:ro`), as in Ductile's code.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response

from ductile.api.app import ApiError
from ductile.api.deps import bearer, require
from ductile.api.schemas import errors, scoped
from ductile.skills import skill_list, tier
from ductile.store.offload import off_loop
from ductile.timeutil import to_text, utcnow

router = APIRouter(tags=["discovery"], dependencies=[Depends(bearer)])

DESCRIPTION = "Automation runtime AI agents can run, debug, and build for."


@router.get(
    "/skills",
    summary="Every invocable skill: one per plugin command, then one per pipeline",
    responses=errors(401),
    openapi_extra=scoped(
        "any valid token",
        "`{skills: [...]}`: plugins by name, commands by name, then pipelines by name (Ductile's shape).",
    ),
    dependencies=[Depends(require(None))],
)
async def skills(request: Request) -> dict[str, Any]:
    gateway = request.app.state.gateway
    return {"skills": skill_list(gateway.registry, gateway.graph)}


@router.get(
    "/.well-known/ai-plugin.json",
    summary="AI plugin manifest pointing at the OpenAPI document",
    responses=errors(401),
    openapi_extra=scoped("any valid token", "A manifest for agent frameworks; the API itself is /openapi.json."),
    dependencies=[Depends(require(None))],
)
async def ai_plugin(request: Request) -> dict[str, Any]:
    name = request.app.state.gateway.config.service.name
    return {
        "schema_version": "v1",
        "name_for_human": name,
        "name_for_model": name.replace("-", "_"),
        "description_for_human": DESCRIPTION,
        "description_for_model": DESCRIPTION + " List skills at /skills; invoke one with POST to its endpoint.",
        "auth": {"type": "user_http", "authorization_type": "bearer"},
        "api": {"type": "openapi", "url": "/openapi.json"},
    }


@router.get(
    "/plugin/{name}/openapi.json",
    summary="An OpenAPI document for one plugin's commands",
    responses=errors(401, 404),
    openapi_extra=scoped("any valid token", "One POST operation per command, with its input and output schemas."),
    dependencies=[Depends(require(None))],
)
async def plugin_openapi(name: str, request: Request) -> dict[str, Any]:
    gw = request.app.state.gateway
    inst = gw.registry.get(name)
    if inst is None:
        raise ApiError(404, f"plugin not found: {name[:80]!r}")
    manifest = inst.plugin.manifest
    paths: dict[str, Any] = {}
    for command in manifest.commands:
        body_schema: dict[str, Any] = {"type": "object", "properties": {"payload": command.json_schema() or {}}}
        result = command.output_json_schema() or {}
        paths[f"/plugin/{name}/{command.name}"] = {
            "post": {
                "operationId": f"{name}_{command.name}".replace("-", "_"),
                "summary": command.description or f"{name} {command.name}",
                "x-ductile-tier": tier(command.type),
                "requestBody": {"required": False, "content": {"application/json": {"schema": body_schema}}},
                "responses": {
                    "202": {
                        "description": "Queued; poll GET /job/{job_id} for the result.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
                "x-result-schema": result,
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{name} (ductile plugin)",
            "version": manifest.version or "0",
            "description": manifest.description or "",
        },
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": paths,
    }


@router.get(
    "/analytics/summary",
    summary="Jobs finished in the last 24 hours, by status",
    responses=errors(401, 403),
    openapi_extra=scoped("jobs:status:ro", '`{window: "24h", stats: {<status>: n}}`.'),
    dependencies=[Depends(require("jobs:status:ro"))],
)
async def analytics_summary(request: Request) -> dict[str, Any]:
    since = to_text(utcnow() - timedelta(hours=24))
    store = request.app.state.gateway.store
    return {"window": "24h", "stats": await off_loop(store, store.finished_counts, since)}


@router.get(
    "/analytics/queue",
    summary="What is queued and running now, per plugin",
    responses=errors(401, 403),
    openapi_extra=scoped("jobs:status:ro", "Totals and per-plugin counts with the oldest queued job's time."),
    dependencies=[Depends(require("jobs:status:ro"))],
)
async def analytics_queue(request: Request) -> dict[str, Any]:
    store = request.app.state.gateway.store
    counts = await off_loop(store, store.status_counts)
    plugins = await off_loop(store, store.active_by_plugin)
    return {"queued": counts.get("queued", 0), "running": counts.get("running", 0), "plugins": plugins}


# ---- CORS (Ductile's corsMiddleware): only for an Origin listed exactly in api.allowed_origins ----

CORS_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
CORS_HEADERS = "Accept, Authorization, Content-Type, X-CSRF-Token"


def cors_headers(origin: str) -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Expose-Headers": "Link",
        "Vary": "Origin",
    }


def install_cors(app: FastAPI, allowed: list[str]) -> None:
    if not allowed:
        return
    allowed_set = frozenset(allowed)

    @app.middleware("http")
    async def cors(request: Request, call_next: Any) -> Response:
        origin = request.headers.get("origin")
        if origin not in allowed_set:
            return await call_next(request)
        if request.method == "OPTIONS" and request.headers.get("access-control-request-method"):
            headers = {
                **cors_headers(origin),
                "Access-Control-Allow-Methods": CORS_METHODS,
                "Access-Control-Allow-Headers": CORS_HEADERS,
                "Access-Control-Max-Age": "300",
            }
            return Response(status_code=204, headers=headers)
        response = await call_next(request)
        response.headers.update(cors_headers(origin))
        return response
