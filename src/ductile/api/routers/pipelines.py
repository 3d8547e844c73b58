"""`POST /pipeline/{name}`: start a pipeline over the API (spec pipelines.md §6.1, in its order).

Asynchronous calls answer 202 at once. Synchronous ones take a slot of `api.max_concurrent_sync`
BEFORE anything is written (ours, O17: a 503 leaves no jobs, so a client may simply retry), then
wait until the first entry job's whole tree (steps, switches, triggered pipelines, hooks) has no
queued or running job, confirmed by a second read with the same job count.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from ductile.api import schemas
from ductile.api.app import ApiError
from ductile.api.deps import bearer
from ductile.api.routers.lineage import tree_items
from ductile.jobs import Job
from ductile.lifecycle import ACTIVE, Status
from ductile.pipelines.entry import EntryError, plan_entries
from ductile.redact import redact
from ductile.store.offload import off_loop
from ductile.timeutil import utcnow

router = APIRouter(tags=["pipelines"], dependencies=[Depends(bearer)])
WAIT_POLL = 0.05
_FAILED = (Status.FAILED, Status.TIMED_OUT, Status.DEAD)


async def _body(request: Request, limit: int) -> dict[str, Any] | None:
    declared = request.headers.get("content-length")
    if not declared or not declared.isdigit() or int(declared) == 0:
        return None
    if int(declared) > limit:
        raise ApiError(413, f"request body is {declared} bytes (accepted: at most {limit} bytes, api.max_body_bytes)")
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid JSON body")
    if not isinstance(body, dict):
        raise ApiError(400, "invalid JSON body")
    payload = body.get("payload")
    if payload is not None and not isinstance(payload, dict):
        raise ApiError(400, "payload must be a JSON object")
    return payload


@router.post(
    "/pipeline/{name}",
    summary="Start a pipeline (scope plugin:rw); synchronous pipelines answer with the finished tree",
    responses={
        202: {"description": "queued (async), or still running after the timeout (synchronous)"},
        200: {"description": "synchronous: finished, with status, result and tree"},
        400: {"description": "invalid body, fan-out entry in synchronous mode, or root baggage claims failed"},
        401: {"description": "missing or invalid bearer token"},
        403: {"description": "insufficient scope"},
        404: {"description": "pipeline not found"},
        413: {"description": "root baggage exceeds the context size limit"},
        503: {"description": "too many concurrent synchronous requests"},
    },
    # Documented here so clients generated from /openapi.json (the MCP server's run_pipeline tool
    # among them) see the body, the `async` switch and the scope; the handler parses them by hand.
    openapi_extra={
        **schemas.scoped(
            "plugin:rw",
            "Starts the pipeline's entry step(s) with `payload`. Asynchronous pipelines (or `async=true`) "
            "answer 202 with the entry job's id at once; synchronous ones wait, up to the pipeline's timeout "
            "(capped by `api.max_sync_timeout`), and answer 200 with `status`, `result` and the job `tree`.",
        ),
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": schemas.PipelineBody.model_json_schema()}},
        },
        "parameters": [
            schemas.query_param(
                "async",
                {"type": "boolean", "default": False},
                "`true`: answer 202 at once even for a synchronous pipeline.",
            )
        ],
    },
)
async def trigger(name: str, request: Request) -> JSONResponse:
    principal = request.app.state.tokens.authenticate(request)
    if not principal.allows("plugin:rw"):
        raise ApiError(403, "insufficient scope")
    gw = request.app.state.gateway
    pipeline = gw.graph.get(name)
    if pipeline is None:
        raise ApiError(404, "pipeline not found")
    payload = await _body(request, gw.config.api.max_body_bytes)
    synchronous = pipeline.execution_mode == "synchronous" and request.query_params.get("async") != "true"
    try:
        entries = plan_entries(gw.graph, pipeline, payload, gw.routing, synchronous=synchronous)
    except EntryError as exc:
        return JSONResponse(exc.body, status_code=exc.status)
    slots = _slots(request)
    if synchronous:
        if slots["used"] >= gw.config.api.max_concurrent_sync:
            return JSONResponse({"error": "too many concurrent synchronous requests"}, status_code=503)
        slots["used"] += 1
    try:
        started = time.monotonic()
        try:
            job_ids = await off_loop(gw.store, gw.store.enqueue_entries, entries, now=utcnow(), submitted_by="api")
        except Exception:
            raise ApiError(500, "failed to enqueue job")
        gw.pipeline_enqueued(name, job_ids, entries)
        first = job_ids[0]
        if not synchronous:
            return JSONResponse(
                {"job_id": first, "status": "queued", "plugin": "pipeline", "command": name}, status_code=202
            )
        wait = pipeline.timeout
        cap = gw.config.api.max_sync_timeout
        if cap > 0:
            wait = min(wait, cap)
        tree = await _wait_tree(gw.store, first, wait)
        if tree is None:
            return JSONResponse(
                {
                    "job_id": first,
                    "status": "running",
                    "timeout_exceeded": True,
                    "message": "Pipeline still running after timeout.",
                },
                status_code=202,
            )
        body = await off_loop(gw.store, _finished, gw.store, pipeline, first, tree, started)
        return JSONResponse(body, status_code=200)
    finally:
        if synchronous:
            slots["used"] -= 1


def _slots(request: Request) -> dict[str, int]:
    state = request.app.state
    if not hasattr(state, "sync_slots"):
        state.sync_slots = {"used": 0}
    return state.sync_slots


async def _wait_tree(store: Any, job_id: str, wait: float) -> list[Job] | None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    last_count = -1
    while True:
        tree = await off_loop(store, store.job_tree, job_id)
        if tree and all(j.status not in ACTIVE for j in tree):
            if len(tree) == last_count:
                return tree
            last_count = len(tree)
            continue  # a second read confirms nothing was added in between
        last_count = -1
        if loop.time() >= deadline:
            return None
        await asyncio.sleep(WAIT_POLL)


def _finished(store: Any, pipeline: Any, first: str, tree: list[Job], started: float) -> dict[str, Any]:
    status = Status.SUCCEEDED
    for job in tree:
        if job.status in _FAILED:
            status = job.status
    responses = store.current_responses([j.job_id for j in tree])
    result = None
    for job in tree:
        if job.pipeline == pipeline.name and job.step_id in pipeline.terminals and job.job_id in responses:
            result = responses[job.job_id]
    if result is None:
        result = responses.get(first)
    body: dict[str, Any] = {
        "job_id": first,
        "status": status.value,
        "duration_ms": round((time.monotonic() - started) * 1000, 3),
    }
    if result is not None:
        body["result"] = redact(result)
    body["tree"] = tree_items(store, tree, include_result=True, include_parent=False)
    return body
