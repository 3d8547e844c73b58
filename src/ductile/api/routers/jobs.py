"""`GET /jobs` (the seed card), `GET /job/{job_id}`, `GET /job-logs`, `POST /job/{job_id}/cancel`.

Reads are `async def`: each is one or two indexed SQLite lookups well under a millisecond, so a
threadpool hop would cost more than it saves (see docs/BENCHMARKS.md, "GET /jobs"). On
PostgreSQL the body is built on the store's threads (`off_loop`): a read waiting on the server
must not hold up the event loop.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from ductile.api import cursor, params, schemas
from ductile.api.app import ApiError
from ductile.api.auth import Principal
from ductile.api.deps import bearer, require
from ductile.api.jsonio import FastJSONResponse
from ductile.api.schemas import LIMIT_SCHEMA, TEXT_SCHEMA, TIME_SCHEMA, errors, query_param, scoped
from ductile.jobs import Job
from ductile.lifecycle import TERMINAL
from ductile.redact import redact, redact_text
from ductile.store.offload import off_loop

router = APIRouter(tags=["jobs"], dependencies=[Depends(bearer)])

_STATUS_DOC = "Filter by status; a comma-separated list matches any of them (`failed,dead`). " + schemas.STATUS_TEXT
_JOBS_PARAMS = [
    query_param("plugin", TEXT_SCHEMA, "Exact plugin instance name, e.g. `withings`."),
    query_param("command", TEXT_SCHEMA, "Exact command name, e.g. `poll`."),
    query_param("status", {"type": "string", "pattern": schemas.STATUS_LIST_PATTERN}, _STATUS_DOC),
    query_param(
        "submitted_by", TEXT_SCHEMA, "Exact submitter: `scheduler`, `api`, `cli`, `route`, `hook`, `webhook:<path>`."
    ),
    query_param("parent_job_id", TEXT_SCHEMA, "Only direct children of this job (pipeline steps, hook jobs)."),
    query_param("pipeline", TEXT_SCHEMA, "Only jobs that are steps of this pipeline."),
    query_param("created_after", TIME_SCHEMA, "Only jobs created at or after this RFC 3339 time."),
    query_param("created_before", TIME_SCHEMA, "Only jobs created strictly before this RFC 3339 time."),
    query_param("limit", LIMIT_SCHEMA, "Page size, 1..200."),
    query_param(
        "cursor",
        {"type": "string", "format": "ductile-cursor", "minLength": 1, "maxLength": 512},
        "Opaque `next_cursor` from the previous page; continues after its last job.",
    ),
]
_LOGS_PARAMS = [
    query_param("job_id", TEXT_SCHEMA, "Only this job's attempts."),
    query_param("plugin", TEXT_SCHEMA, "Exact plugin instance name."),
    query_param("command", TEXT_SCHEMA, "Exact command name."),
    query_param(
        "status",
        {"type": "string", "pattern": schemas.STATUS_LIST_PATTERN},
        "The job status the attempt led to (`queued`: it was retried); comma-separated for several. "
        + schemas.STATUS_TEXT,
    ),
    query_param("submitted_by", TEXT_SCHEMA, "Exact submitter."),
    query_param("from", TIME_SCHEMA, "Attempts started at or after this RFC 3339 time."),
    query_param("to", TIME_SCHEMA, "Attempts started strictly before this RFC 3339 time."),
    query_param("query", TEXT_SCHEMA, "Substring searched in error, logs, stderr and result."),
    query_param("limit", LIMIT_SCHEMA, "Maximum records, 1..200."),
    query_param("include_result", {"type": "boolean", "default": False}, "Include each attempt's plugin response."),
]


def _bad(exc: params.BadParam) -> ApiError:
    return ApiError(400, str(exc))


@router.get(
    "/jobs",
    summary="List jobs, newest first, with filters, exact total and cursor paging",
    response_model=None,
    responses={200: {"model": schemas.JobList, "description": "One page of jobs."}, **errors(400, 401, 403)},
    openapi_extra={
        **scoped(
            "jobs:status:ro",
            "Jobs sorted by `created_at` descending, ties by `job_id` descending. `total` counts every "
            "match regardless of `limit`. Unknown query parameters are ignored; every invalid value is a 400.",
        ),
        "parameters": _JOBS_PARAMS,
    },
    dependencies=[Depends(require("jobs:status:ro"))],
)
async def list_jobs(request: Request) -> FastJSONResponse:
    # orjson: the page holds only strings and small integers, and encoding was a fifth of the request.
    store = request.app.state.gateway.store
    return FastJSONResponse(await off_loop(store, jobs_body, store, request.query_params))


def jobs_body(store: Any, query_params: Any) -> dict[str, Any]:
    """The `GET /jobs` body; shared with the CLI's local-database fallback."""
    try:
        query = params.job_query(query_params)
    except params.BadParam as exc:
        raise _bad(exc)
    page = store.list_job_summaries(query)
    return {
        "jobs": page.items,
        "total": page.total,
        "next_cursor": cursor.encode(page.next_position) if page.next_position else None,
    }


def job_detail(store: Any, job_id: str) -> dict[str, Any]:
    """The `GET /job/{job_id}` body; shared with the CLI's local-database fallback."""
    job = store.get_job(job_id) if len(job_id) <= 64 else None
    if job is None:
        raise ApiError(404, f"no job with id {job_id[:80]!r}")
    out: dict[str, Any] = {
        "job_id": job.job_id,
        "status": job.status.value,
        "plugin": job.plugin,
        "command": job.command,
        "submitted_by": job.submitted_by,
        "attempt": job.attempt,
        "created_at": job.created_at,
    }
    for key in ("started_at", "completed_at"):
        value = getattr(job, key)
        if value is not None:
            out[key] = value
    if job.last_error is not None:
        out["last_error"] = redact_text(job.last_error)
    if job.status in TERMINAL:
        for attempt in reversed(store.attempts(job.job_id)):
            if attempt.response is not None:
                out["result"] = redact(attempt.response)
                break
    out.update(lineage(store, job))
    return out


def lineage(store: Any, job: Job) -> dict[str, Any]:
    """Where the job sits in a pipeline and what it started: its parent, pipeline and step (when
    set), the events it emitted each with the jobs routed from it, and all its direct children
    (hook jobs and step-succeeded successors have no stored event). Payloads are redacted."""
    out: dict[str, Any] = {}
    for key in ("parent_job_id", "pipeline", "step_id"):
        value = getattr(job, key)
        if value is not None:
            out[key] = value
    links = store.retry_links(job.job_id)
    if links["retry_of"] is not None:
        out["retry_of"] = links["retry_of"]
    if links["retried_by"]:
        out["retried_by"] = links["retried_by"]
    out["events"] = [
        {k: redact(v) if k == "payload" else v for k, v in event.items() if v is not None or k == "payload"}
        for event in store.emitted_with_children(job.job_id)
    ]
    out["children"] = [
        {
            k: v
            for k, v in (
                ("job_id", c.job_id),
                ("plugin", c.plugin),
                ("command", c.command),
                ("status", c.status.value),
                ("pipeline", c.pipeline),
                ("step_id", c.step_id),
            )
            if v is not None
        }
        for c in store.children(job.job_id)
    ]
    return out


@router.get(
    "/job/{job_id}",
    summary="One job with its result",
    response_model=None,
    responses={200: {"model": schemas.JobDetail, "description": "The job."}, **errors(401, 403, 404)},
    openapi_extra=scoped(
        "jobs:status:ro",
        "Status, times, attempt, last error, the plugin's `result` once the job is terminal, and its "
        "lineage: parent, pipeline and step, the `events` it emitted (each with the `children` it "
        "started) and every direct child."
        " Without `jobs:result:ro` the result, the last error and the emitted events' payloads are left out."
        " Secret-looking values in plugin output and event payloads are `***` for every caller (docs/OPERATIONS.md, Secrets).",
    ),
)
async def get_job(job_id: str, request: Request, principal: Principal = Depends(require("jobs:status:ro"))) -> JSONResponse:
    store = request.app.state.gateway.store
    body = await off_loop(store, job_detail, store, job_id)
    return JSONResponse(shape_results(body, principal.allows("jobs:result:ro")))


@router.get(
    "/job-logs",
    summary="Job logs as Ductile shapes them: {logs, total}, one record per attempt with a log_id",
    response_model=None,
    responses={200: {"model": schemas.JobLogList, "description": "Log records."}, **errors(400, 401, 403)},
    openapi_extra={
        **scoped(
            "jobs:logs:ro",
            "Ductile's shape: `{logs, total}`, each record with `log_id` = `<job_id>-<attempt>`, `last_error`, "
            "`stderr`, `result` (the last three only with `jobs:result:ro`, `result` only with "
            "`include_result=true`), plus our attempt fields. `job_id` also accepts a log id. "
            "Our richer attempt view is `GET /job-attempts`.",
        ),
        "parameters": _LOGS_PARAMS,
    },
)
async def job_logs(request: Request, principal: Principal = Depends(require("jobs:logs:ro"))) -> JSONResponse:
    store = request.app.state.gateway.store
    body = await off_loop(store, ductile_logs_body, store, request.query_params)
    return JSONResponse(shape_results(body, principal.allows("jobs:result:ro")))


def ductile_logs_body(store: Any, query_params: Any) -> dict[str, Any]:
    """`GET /job-logs`: our (redacted) attempt records under Ductile's names, with the total matching."""
    query_params = dict(query_params)
    wanted_attempt = None
    job_id = query_params.get("job_id")
    if job_id and job_id.count("-") == 5 and job_id.rpartition("-")[2].isdigit():  # a log id: <uuid>-<attempt>
        query_params["job_id"], _, number = job_id.rpartition("-")
        wanted_attempt = int(number)
    records = logs_body(store, query_params)["attempts"]
    if wanted_attempt is not None:
        records = [r for r in records if r["attempt"] == wanted_attempt]
    logs = [{"log_id": f"{r['job_id']}-{r['attempt']}", **r, "last_error": r.get("error")} for r in records]
    if wanted_attempt is not None or query_params.get("query"):
        total = len(logs)  # a search counts what survives redaction (no oracle for masked values)
    else:
        total = store.count_attempts(params.attempt_query(query_params))
    return {"logs": logs, "total": total}


RESULT_FIELDS = ("result", "last_error", "error", "stderr", "final_error")


def shape_results(body: dict[str, Any], can_see: bool) -> dict[str, Any]:
    """Without `jobs:result:ro`, results, errors and stderr are left out (as Ductile's canSeeJobResults),
    and so are the payloads of emitted events: a pipeline step's event carries its `result`."""
    if can_see:
        return body
    out = hide_event_payloads(body)
    for key in ("logs", "attempts"):
        if isinstance(out.get(key), list):
            out[key] = [{k: v for k, v in item.items() if k not in RESULT_FIELDS} for item in out[key]]
    return {k: v for k, v in out.items() if k not in RESULT_FIELDS}


def hide_event_payloads(body: dict[str, Any]) -> dict[str, Any]:
    """The body with each emitted event's `payload` left out (for callers without `jobs:result:ro`;
    the event's id, type, time and routed children stay)."""
    if not isinstance(body.get("events"), list):
        return dict(body)
    return {**body, "events": [{k: v for k, v in e.items() if k != "payload"} for e in body["events"]]}


@router.get(
    "/job-attempts",
    summary="Attempt records (logs, errors, results), searchable",
    response_model=None,
    responses={200: {"model": schemas.AttemptList, "description": "Attempt records."}, **errors(400, 401, 403)},
    openapi_extra={
        **scoped(
            "jobs:logs:ro",
            "One record per attempt, newest first by `started_at` (was `GET /job-logs`). `query` matches only what the record shows."
            " Secret-looking values in plugin output are `***` for every caller (docs/OPERATIONS.md, Secrets).",
        ),
        "parameters": _LOGS_PARAMS,
    },
)
async def job_attempts(request: Request, principal: Principal = Depends(require("jobs:logs:ro"))) -> JSONResponse:
    store = request.app.state.gateway.store
    body = await off_loop(store, logs_body, store, request.query_params)
    return JSONResponse(shape_results(body, principal.allows("jobs:result:ro")))


def logs_body(store: Any, query_params: Any) -> dict[str, Any]:
    """The `GET /job-attempts` body; shared with the CLI's local-database fallback."""
    try:
        query = params.attempt_query(query_params)
        include_result = params.flag(query_params, "include_result")
    except params.BadParam as exc:
        raise _bad(exc)
    with_result = include_result or bool(query.text)  # a search looks at the result too
    records = [a.redacted(include_result=with_result) for a in store.list_attempts(query)]
    if query.text:
        # The store searched the real values; keep only records that still match once redacted,
        # or `query` would be an oracle for the masked secrets (guess a prefix, watch the count).
        needle = query.text.lower()
        records = [r for r in records if needle in _searchable(r)]
    if with_result and not include_result:
        for record in records:
            del record["result"]
    return {"attempts": records, "count": len(records)}


def _searchable(record: dict[str, Any]) -> str:
    """The fields `query` searches, serialized as the store holds them (compact JSON), lower-cased."""
    parts = [record.get("error") or "", record.get("stderr") or ""]
    for key in ("logs", "result"):
        if record.get(key) is not None:
            parts.append(json.dumps(record[key], separators=(",", ":"), ensure_ascii=False))
    return "\n".join(parts).lower()


@router.post(
    "/job/{job_id}/cancel",
    summary="Cancel a queued or running job (it becomes dead)",
    response_model=None,
    responses={200: {"model": schemas.JobDetail, "description": "The job, now dead."}, **errors(401, 403, 404, 409)},
    openapi_extra=scoped("jobs:rw", "A running job's process group is killed. Cancelling a terminal job is a 409."),
    dependencies=[Depends(require("jobs:rw"))],
)
async def cancel_job(job_id: str, request: Request) -> JSONResponse:
    return JSONResponse(await cancel_one(request.app.state.gateway, job_id, "cancelled via API"))


async def cancel_one(gw: Any, job_id: str, reason: str) -> dict[str, Any]:
    """Cancel one queued or running job (also the dashboard's cancel button): its `job_detail`
    afterwards, or ApiError 404/409 saying why not."""
    before = gw.store.get_job(job_id) if len(job_id) <= 64 else None
    if before is None:
        raise ApiError(404, f"no job with id {job_id[:80]!r}")
    if before.status in TERMINAL:
        raise ApiError(
            409, f"job {job_id} is already {before.status.value}; only queued or running jobs can be cancelled"
        )
    await gw.dispatcher.cancel(job_id, reason)
    return job_detail(gw.store, job_id)
