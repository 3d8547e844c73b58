"""`GET /job/{job_id}/tree`: a job and everything it started (pipeline steps, switch jobs,
triggered pipelines, hook jobs), in the explicit order of pipelines spec §6.2 (O11); and
`GET /pipelines`: each compiled pipeline with its last instance (the monitor's pipelines view).

Results and errors are what plugins returned, so they are shown only to tokens that may read
results (`jobs:result:ro`, implied by `jobs:ro`, `jobs:rw` and `*`); a `jobs:tree:ro` token sees
the shape of the tree alone. Whatever is shown passes the project's secret redaction.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from ductile.api import schemas
from ductile.api.app import ApiError
from ductile.api.auth import Principal
from ductile.api.deps import bearer, require
from ductile.api.schemas import errors, scoped
from ductile.jobs import Job
from ductile.redact import redact, redact_text
from ductile.store.offload import off_loop
from ductile.timeutil import from_text, utcnow

router = APIRouter(tags=["jobs"], dependencies=[Depends(bearer)])

RESULT_SCOPE = "jobs:result:ro"
MAX_JOB_ID = 64


def tree_items(
    store: Any, jobs: list[Job], *, include_result: bool = True, include_parent: bool = True
) -> list[dict[str, Any]]:
    """Tree items with nulls omitted. Also the `tree` of a synchronous `POST /pipeline`, which
    has no `parent_job_id` and is not shaped by scopes (`include_parent=False`)."""
    responses = store.current_responses([j.job_id for j in jobs]) if include_result else {}
    items = []
    for job in jobs:
        item: dict[str, Any] = {"job_id": job.job_id}
        if include_parent and job.parent_job_id is not None:
            item["parent_job_id"] = job.parent_job_id
        item.update(plugin=job.plugin, command=job.command, status=job.status.value)
        if include_result:
            if responses.get(job.job_id) is not None:
                item["result"] = redact(responses[job.job_id])
            if job.last_error is not None:
                item["last_error"] = redact_text(job.last_error)
        if job.started_at is not None:
            item["started_at"] = job.started_at
        if job.completed_at is not None:
            item["completed_at"] = job.completed_at
        items.append(item)
    return items


def tree_body(store: Any, job_id: str, *, include_result: bool) -> list[dict[str, Any]]:
    """The `GET /job/{id}/tree` body; an unknown (or impossible) id is an empty tree, not a 404."""
    if len(job_id) > MAX_JOB_ID:
        return []
    try:
        return tree_items(store, store.job_tree(job_id), include_result=include_result)
    except sqlite3.Error:
        raise ApiError(500, "failed to retrieve job tree")


@router.get(
    "/job/{job_id}/tree",
    summary="A job and every descendant (pipeline steps, triggered pipelines, hook jobs)",
    response_model=None,
    responses={200: {"model": list[schemas.TreeItem], "description": "The tree, root first."}, **errors(401, 403)},
    openapi_extra=scoped(
        "jobs:tree:ro",
        "The job and every descendant by `parent_job_id`, root first, then by depth, then `created_at`, "
        "then insertion order. An unknown id is `[]` with 200. `result` and `last_error` appear only for "
        "tokens with `jobs:result:ro` (implied by `jobs:ro`, `jobs:rw`, `*`); values under secret-looking "
        "keys are `***`. Also allowed: `jobs:ro`, `jobs:rw`.",
    ),
)
async def job_tree(job_id: str, request: Request, principal: Principal = Depends(require("jobs:tree:ro"))) -> Any:
    store = request.app.state.gateway.store
    body = await off_loop(store, tree_body, store, job_id, include_result=principal.allows(RESULT_SCOPE))
    return JSONResponse(body)


ACTIVE = {"queued", "running"}
BAD = {"failed", "timed_out", "dead"}


def summarize_instance(jobs: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """One pipeline instance in a line: `running` while any job is queued or running, else the
    status of the last failed/timed_out/dead job in tree order (as a synchronous POST /pipeline
    reports it), else `succeeded`. Duration runs from the entry job's creation to the last
    completion, or to `now` while running."""
    statuses = [j["status"] for j in jobs]
    if any(s in ACTIVE for s in statuses):
        status = "running"
    else:
        status = next((s for s in reversed(statuses) if s in BAD), "succeeded")
    started = min(j["created_at"] for j in jobs)
    out: dict[str, Any] = {"status": status, "started_at": started, "job_count": len(jobs)}
    if status == "running":
        end = now
    else:
        completed = max((j["completed_at"] for j in jobs if j["completed_at"]), default=started)
        out["completed_at"] = completed
        end = from_text(completed)
    out["duration_ms"] = max(0.0, round((end - from_text(started)).total_seconds() * 1000, 3))
    return out


def pipelines_body(graph: Any, store: Any, now: datetime) -> dict[str, Any]:
    """`GET /pipelines`: every compiled pipeline with its most recent instance."""
    out = []
    for name in sorted(graph.pipelines):
        p = graph.pipelines[name]
        item: dict[str, Any] = {
            "name": name,
            "on": p.on or None,
            "on_hook": p.on_hook or None,
            "from_plugin": p.from_plugin or None,
            "execution_mode": p.execution_mode,
            "steps": list(p.nodes),
            "last": None,
        }
        instance = store.pipeline_instance(name)
        if instance is not None and instance["jobs"]:
            last = {"instance_id": instance["instance_id"], "job_id": instance["entry_job_id"]}
            last.update(summarize_instance(instance["jobs"], now))
            item["last"] = last
        out.append(item)
    return {"pipelines": out}


@router.get(
    "/pipelines",
    summary="Every configured pipeline with the status and duration of its last instance",
    response_model=None,
    responses={200: {"model": schemas.PipelineList, "description": "Pipelines by name."}, **errors(401, 403)},
    openapi_extra=scoped(
        "jobs:tree:ro",
        "Compiled pipelines sorted by name: trigger, steps, and `last` (null until it first runs): the "
        "instance its newest step job belongs to, with `status` (`running` while any of its jobs is "
        "queued or running; else the last failed/timed_out/dead status; else `succeeded`), start, end "
        "and duration. Also allowed: `jobs:ro`, `jobs:rw`.",
    ),
    dependencies=[Depends(require("jobs:tree:ro"))],
)
async def list_pipelines(request: Request) -> JSONResponse:
    gw = request.app.state.gateway
    graph = getattr(gw.setup, "graph", None)
    if graph is None:
        return JSONResponse({"pipelines": []})
    try:
        return JSONResponse(await off_loop(gw.store, pipelines_body, graph, gw.store, utcnow()))
    except sqlite3.Error:
        raise ApiError(500, "failed to list pipelines")
