"""Unauthenticated endpoints: `GET /healthz` and the discovery document `GET /`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from ductile.api.deps import gateway

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness and queue summary (no auth)")
async def healthz(gw: Any = Depends(gateway)) -> dict[str, Any]:
    counts = gw.store.status_counts()
    return {
        "status": "ok",
        "uptime_seconds": round(gw.uptime, 3),
        "queue_depth": counts.get("queued", 0),
        "running": counts.get("running", 0),
        "workers_busy": gw.dispatcher.busy,
        "max_workers": gw.config.service.max_workers,
        "plugins_loaded": len(gw.registry.instances),
        "config_path": str(gw.setup.loaded.path),
        "version": gw.version,
        "started_at": gw.started_at,
    }


ENDPOINTS = [
    {"method": "GET", "path": "/", "scope": None, "what": "this discovery document"},
    {"method": "GET", "path": "/healthz", "scope": None, "what": "liveness, queue depth, version"},
    {"method": "GET", "path": "/openapi.json", "scope": None, "what": "OpenAPI document"},
    {"method": "GET", "path": "/plugins", "scope": "any token", "what": "plugin catalog"},
    {"method": "GET", "path": "/plugin/{name}", "scope": "plugin:ro", "what": "one plugin's manifest view"},
    {"method": "POST", "path": "/plugin/{plugin}/{command}", "scope": "plugin:ro|plugin:rw", "what": "enqueue a job"},
    {
        "method": "POST",
        "path": "/pipeline/{name}",
        "scope": "plugin:rw",
        "what": "start a pipeline (async or synchronous)",
    },
    {"method": "GET", "path": "/plugin-state", "scope": "plugin:ro", "what": "instance state, secrets redacted"},
    {"method": "GET", "path": "/jobs", "scope": "jobs:ro", "what": "list jobs (filters, cursor paging)"},
    {"method": "GET", "path": "/job/{job_id}", "scope": "jobs:ro", "what": "one job with its result"},
    {"method": "GET", "path": "/job/{job_id}/detail", "scope": "jobs:ro", "what": "payload, attempts, transitions"},
    {"method": "GET", "path": "/job/{job_id}/tree", "scope": "jobs:tree:ro", "what": "the job and its descendants"},
    {"method": "GET", "path": "/pipelines", "scope": "jobs:tree:ro", "what": "pipelines and their last instance"},
    {"method": "POST", "path": "/job/{job_id}/cancel", "scope": "jobs:rw", "what": "cancel a queued/running job"},
    {"method": "GET", "path": "/job-logs", "scope": "jobs:ro", "what": "attempt records, searchable"},
    {"method": "GET", "path": "/schedules", "scope": "jobs:ro", "what": "every schedule and its next due time"},
    {"method": "GET", "path": "/events", "scope": "events:ro", "what": "live event stream (SSE)"},
]


@router.get("/", summary="Discovery: what this API offers (no auth)")
async def root(gw: Any = Depends(gateway)) -> dict[str, Any]:
    return {
        "name": gw.config.service.name,
        "version": gw.version,
        "auth": "Authorization: Bearer <token>",
        "endpoints": ENDPOINTS,
        "docs": "docs/API_REFERENCE.md in the ductile repository",
    }
