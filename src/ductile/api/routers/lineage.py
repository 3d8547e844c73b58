"""`GET /job/{job_id}/tree`: a job and everything it started (pipeline steps, switch jobs,
triggered pipelines, hook jobs), in the explicit order of pipelines spec §6.2 (O11).

Results and errors are what plugins returned, so they are shown only to tokens that may read
results (`jobs:result:ro`, implied by `jobs:ro`, `jobs:rw` and `*`); a `jobs:tree:ro` token sees
the shape of the tree alone. Whatever is shown passes the project's secret redaction.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from ductile.api import schemas
from ductile.api.app import ApiError
from ductile.api.auth import Principal
from ductile.api.deps import bearer, require
from ductile.api.schemas import errors, scoped
from ductile.config import redact
from ductile.jobs import Job

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
                item["last_error"] = job.last_error
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
    return JSONResponse(tree_body(store, job_id, include_result=principal.allows(RESULT_SCOPE)))
