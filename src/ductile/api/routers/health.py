"""Unauthenticated endpoints: `GET /healthz` and the discovery document `GET /`."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from fastapi import APIRouter, Depends

from ductile.api.deps import gateway
from ductile.store import StoreError
from ductile.store.offload import blocking, off_loop

router = APIRouter(tags=["health"])
HEALTH_READ_WAIT = 5.0  # seconds /healthz waits for a PostgreSQL server before answering degraded


def problems(gw: Any) -> list[str]:
    """Why the gateway is degraded: storage faults and job ends it could not record yet."""
    found = []
    fault = gw.store.write_fault
    if fault is not None:
        found.append(f"{fault}; jobs are not claimed until a write succeeds")
    if gw.dispatcher is not None:
        found.extend(gw.dispatcher.unrecorded.values())
    return found


def store_reads(store: Any) -> tuple[dict[str, int], int | None, list[str]]:
    """Queue counts and open breakers (ours, O9: a real count); a failing read is a problem
    to report, not an error: /healthz still answers, degraded."""
    found = []
    try:
        counts = dict(store.status_counts())
    except StoreError as exc:
        found.append(str(exc))
        counts = {}
    try:
        circuit_open = store.count_open_breakers()
    except StoreError as exc:
        found.append(str(exc))
        circuit_open = None
    return counts, circuit_open, found


async def bounded_store_reads(store: Any) -> tuple[dict[str, int], int | None, list[str]]:
    """`store_reads`, inline on SQLite (microseconds, no hop). On PostgreSQL off the event loop
    and waited for at most HEALTH_READ_WAIT: liveness must answer while the server is slow or a
    lock holds every store thread, and then says so instead of hanging."""
    if not blocking(store):
        return store_reads(store)
    try:
        return await asyncio.wait_for(off_loop(store, store_reads, store), HEALTH_READ_WAIT)
    except TimeoutError:
        return {}, None, [f"the database did not answer within {HEALTH_READ_WAIT:g} s"]


@router.get("/healthz", summary="Liveness and queue summary (no auth)")
async def healthz(gw: Any = Depends(gateway)) -> dict[str, Any]:
    found = problems(gw)
    counts, circuit_open, read_problems = await bounded_store_reads(gw.store)
    found.extend(read_problems)
    body = {
        "status": "degraded" if found else "ok",
        "reason": "; ".join(found) if found else None,
        "uptime_seconds": round(gw.uptime, 3),
        "queue_depth": counts.get("queued", 0) + counts.get("running", 0),  # as Ductile: queued + running
        "queued": counts.get("queued", 0),
        "running": counts.get("running", 0),
        "workers_busy": gw.dispatcher.busy,
        "max_workers": gw.config.service.max_workers,
        "plugins_loaded": len(gw.registry.instances),
        "plugins_circuit_open": circuit_open,
        "config_path": str(gw.setup.loaded.path),
        "binary_path": os.path.abspath(sys.argv[0]) if sys.argv[0] else None,
        "posture": "gateway",
        "version": gw.version,
        "started_at": gw.started_at,
    }
    cluster = getattr(gw, "cluster", None)
    if cluster is not None:  # PostgreSQL: which node answered, and whether it fires the schedules
        body["node"] = {"id": cluster.node_id, "leader": cluster.leading}
    return body


ENDPOINTS = [
    {"method": "GET", "path": "/", "scope": None, "what": "this discovery document"},
    {"method": "GET", "path": "/healthz", "scope": None, "what": "liveness, queue depth, version"},
    {"method": "GET", "path": "/openapi.json", "scope": None, "what": "OpenAPI document"},
    {"method": "GET", "path": "/metrics", "scope": "system:ro", "what": "Prometheus metrics"},
    {"method": "GET", "path": "/config/view", "scope": "system:ro", "what": "effective config, secrets redacted"},
    {"method": "GET", "path": "/topology", "scope": "system:ro", "what": "which plugin emits and consumes which event"},
    {"method": "GET", "path": "/system/doctor", "scope": "system:ro", "what": "config check of the files on disk"},
    {"method": "GET", "path": "/system/selfcheck", "scope": "system:ro", "what": "database health invariants"},
    {"method": "POST", "path": "/job/{job_id}/retry", "scope": "jobs:rw", "what": "run a finished job again"},
    {"method": "POST", "path": "/jobs/retry", "scope": "jobs:rw", "what": "retry every job matching filters"},
    {"method": "POST", "path": "/jobs/cancel", "scope": "jobs:rw", "what": "cancel every job matching filters"},
    {"method": "GET", "path": "/bulk-actions", "scope": "jobs:ro", "what": "audit trail of bulk actions"},
    {"method": "GET", "path": "/plugins", "scope": "any token", "what": "plugin catalog"},
    {"method": "GET", "path": "/plugin/{name}", "scope": "plugin:catalog:ro", "what": "one plugin's manifest view"},
    {
        "method": "POST",
        "path": "/plugin/{plugin}/{command}",
        "scope": "plugin:invoke:ro|plugin:rw",
        "what": "enqueue a job",
    },
    {
        "method": "GET",
        "path": "/plugin-state",
        "scope": "plugin:catalog:ro",
        "what": "instance state, secrets redacted",
    },
    {"method": "GET", "path": "/jobs", "scope": "jobs:status:ro", "what": "list jobs (filters, cursor paging)"},
    {"method": "GET", "path": "/job/{job_id}", "scope": "jobs:status:ro", "what": "one job with its result"},
    {
        "method": "GET",
        "path": "/job/{job_id}/detail",
        "scope": "jobs:status:ro",
        "what": "payload, attempts, transitions",
    },
    {
        "method": "POST",
        "path": "/pipeline/{name}",
        "scope": "plugin:rw",
        "what": "start a pipeline (async or synchronous)",
    },
    {"method": "GET", "path": "/job/{job_id}/tree", "scope": "jobs:tree:ro", "what": "the job and its descendants"},
    {"method": "GET", "path": "/pipelines", "scope": "jobs:tree:ro", "what": "pipelines and their last instance"},
    {"method": "POST", "path": "/job/{job_id}/cancel", "scope": "jobs:rw", "what": "cancel a queued/running job"},
    {"method": "GET", "path": "/job-logs", "scope": "jobs:logs:ro", "what": "job logs, Ductile's {logs, total}"},
    {"method": "GET", "path": "/job-attempts", "scope": "jobs:logs:ro", "what": "attempt records, searchable"},
    {"method": "GET", "path": "/skills", "scope": "any token", "what": "every plugin command and pipeline as a skill"},
    {"method": "GET", "path": "/.well-known/ai-plugin.json", "scope": "any token", "what": "AI plugin manifest"},
    {"method": "GET", "path": "/plugin/{name}/openapi.json", "scope": "any token", "what": "one plugin's API"},
    {"method": "GET", "path": "/analytics/summary", "scope": "jobs:status:ro", "what": "finished jobs, 24h"},
    {"method": "GET", "path": "/analytics/queue", "scope": "jobs:status:ro", "what": "queued/running by plugin"},
    {"method": "GET", "path": "/stopwatch/{plugin}", "scope": "jobs:status:ro", "what": "latency percentiles"},
    {"method": "GET", "path": "/schedules", "scope": "jobs:status:ro", "what": "every schedule and its next due time"},
    {"method": "POST", "path": "/schedules/{plugin}/{schedule_id}/pause", "scope": "plugin:rw", "what": "pause"},
    {"method": "POST", "path": "/schedules/{plugin}/{schedule_id}/resume", "scope": "plugin:rw", "what": "resume"},
    {"method": "POST", "path": "/schedules/{plugin}/{schedule_id}/run", "scope": "plugin:rw", "what": "run now"},
    {"method": "GET", "path": "/scheduler/jobs", "scope": "jobs:status:ro", "what": "Ductile's schedule entry list"},
    {"method": "GET", "path": "/events", "scope": "events:ro", "what": "live event stream (SSE)"},
    {"method": "GET", "path": "/breakers", "scope": "plugin:ro", "what": "circuit breakers of scheduled commands"},
    {"method": "GET", "path": "/breakers/{plugin}", "scope": "plugin:ro", "what": "one breaker and its transitions"},
    {
        "method": "POST",
        "path": "/breakers/{plugin}/{command}/reset",
        "scope": "plugin:rw",
        "what": "reset a circuit breaker to closed",
    },
    {"method": "GET", "path": "/nodes", "scope": "system:ro", "what": "gateways sharing the database"},
    {"method": "POST", "path": "/system/reload", "scope": "system:rw", "what": "re-read config and plugins"},
]


DISCOVERY = {
    "health": "/healthz",
    "skills": "/skills",
    "plugins": "/plugins",
    "openapi": "/openapi.json",
    "ai_plugin": "/.well-known/ai-plugin.json",
}


@router.get("/", summary="Discovery: what this API offers (no auth)")
async def root(gw: Any = Depends(gateway)) -> dict[str, Any]:
    return {
        "name": gw.config.service.name,
        "description": "Automation runtime AI agents can run, debug, and build for.",
        "uptime_seconds": round(gw.uptime, 3),
        "discovery": {**DISCOVERY, "dashboard": "/ui"} if gw.config.api.ui.enabled else DISCOVERY,
        "version": gw.version,
        "auth": "Authorization: Bearer <token>",
        "endpoints": ENDPOINTS,
        "docs": "docs/API_REFERENCE.md in the ductile repository",
    }
