"""Retry one job, retry or cancel every job matching a filter, and the audit trail of bulk actions.

`POST /job/{id}/retry`, `POST /jobs/retry`, `POST /jobs/cancel` (scope `jobs:rw`) and
`GET /bulk-actions` (scope `jobs:ro`). Bulk actions take GET /jobs' filters as query parameters,
answer a `dry_run=true` with the exact count and a sample, act on at most `api.bulk_max` jobs
per call (`remaining` says how many are left), and write one audit row per call.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from ductile import actions
from ductile.api import params
from ductile.api.app import ApiError
from ductile.api.auth import Principal
from ductile.api.deps import bearer, require
from ductile.api.schemas import LIMIT_SCHEMA, errors, query_param, scoped
from ductile.jobs import BulkAction
from ductile.lifecycle import STATUS_ALIASES, Status
from ductile.store.offload import off_loop
from ductile.timeutil import add_seconds, utcnow

router = APIRouter(tags=["actions"], dependencies=[Depends(bearer)])

_DRY = query_param(
    "dry_run", {"type": "boolean", "default": False}, "Only count and sample the matches; change nothing."
)


def _filters(allowed: tuple[Status, ...]) -> list[dict[str, Any]]:
    """GET /jobs' filters, with `status` limited to what the action can act on (aliases included)."""
    from ductile.api.routers.jobs import _JOBS_PARAMS

    words = [s.value for s in allowed] + [alias for alias, s in STATUS_ALIASES.items() if s in allowed]
    either = "|".join(words)
    pattern = rf"^ *({either}) *(, *({either}) *)*$"
    out = [p for p in _JOBS_PARAMS if p["name"] not in ("limit", "cursor", "status")]
    text = f"Comma-separated; accepted: {', '.join(words)}."
    out.append(query_param("status", {"type": "string", "pattern": pattern}, text))
    return [*out, _DRY]


def _queued(gw: Any, job_ids: list[str]) -> list[Any]:
    """After a commit, the new jobs as stored (read in the store call, off the loop on PostgreSQL)."""
    return [job for job in map(gw.store.get_job, job_ids) if job is not None]


def _run(gw: Any, jobs: list[Any], any_new: bool) -> None:
    """On the event loop: tell SSE listeners and wake the dispatcher (neither is thread-safe)."""
    for job in jobs:
        gw.hub.job_queued(job.job_id, job.plugin, job.command, job.submitted_by)
    if any_new:
        gw.dispatcher.wake()


@router.post(
    "/job/{job_id}/retry",
    summary="Run a finished job again as a new job linked by retry_of",
    status_code=202,
    responses=errors(401, 403, 404, 409),
    openapi_extra=scoped(
        "jobs:rw",
        "A new job with the same plugin, command, payload and pipeline position; the old job is unchanged. "
        "While an earlier retry of the same job is queued or running, that retry is returned (`duplicate: true`).",
    ),
)
async def retry_job(job_id: str, request: Request, principal: Principal = Depends(require("jobs:rw"))) -> JSONResponse:
    body = await retry_one_off_loop(request.app.state.gateway, job_id, submitted_by="api")
    return JSONResponse(body, status_code=200 if body["duplicate"] else 202)


async def retry_one_off_loop(gw: Any, job_id: str, *, submitted_by: str) -> dict[str, Any]:
    """Retry one job (also the dashboard's retry button): `{job_id, retry_of, status, duplicate}`,
    or ApiError 404/409 saying why not. The store calls are one hop off the loop on PostgreSQL."""
    body, jobs = await off_loop(gw.store, _retry_in_store, gw, job_id, submitted_by)
    _run(gw, jobs, not body["duplicate"])
    return body


def _retry_in_store(gw: Any, job_id: str, submitted_by: str) -> tuple[dict[str, Any], list[Any]]:
    old = gw.store.get_job(job_id) if len(job_id) <= 64 else None
    if old is None:
        raise ApiError(404, f"no job with id {job_id[:80]!r}")
    try:
        spec = actions.retry_spec(old, gw.registry, submitted_by=submitted_by)
    except actions.ActionError as exc:
        raise ApiError(exc.status, exc.message)
    result = gw.store.enqueue(spec, now=utcnow(), dedupe_since=None)
    jobs = _queued(gw, [result.job_id]) if result.created else []
    body = {"job_id": result.job_id, "retry_of": old.job_id, "status": result.status.value}
    return {**body, "duplicate": not result.created}, jobs


def _preview(page: Any, cap: int, dry: bool, action: str) -> dict[str, Any]:
    return {
        "action": action,
        "dry_run": dry,
        "matched": page.total,
        "cap": cap,
        "remaining": max(0, page.total - cap),
        "sample": [job.summary() for job in page.jobs[: actions.SAMPLE]],
    }


@router.post(
    "/jobs/retry",
    summary="Retry every finished job matching GET /jobs' filters (dry_run to count first)",
    responses=errors(400, 401, 403),
    openapi_extra={
        **scoped(
            "jobs:rw",
            "Statuses default to failed, timed_out, dead. At most `api.bulk_max` jobs per call, newest first; "
            "a job whose earlier retry is active or succeeded within dedupe_ttl is skipped. One audit row per call.",
        ),
        "parameters": _filters(actions.RETRYABLE),
    },
)
async def bulk_retry(request: Request, principal: Principal = Depends(require("jobs:rw"))) -> JSONResponse:
    gw = request.app.state.gateway
    cap = gw.config.api.bulk_max
    query, given, dry = _parse(request, "retry", cap)
    out, jobs, new = await off_loop(gw.store, _bulk_retry_in_store, gw, query, given, dry, cap, principal.name)
    _run(gw, jobs, new)
    return JSONResponse(out)


def _bulk_retry_in_store(
    gw: Any, query: Any, given: dict[str, Any], dry: bool, cap: int, who: str
) -> tuple[dict[str, Any], list[Any], bool]:
    """POST /jobs/retry's whole body, in one store call (off the loop on PostgreSQL), with the
    new jobs to announce on the loop after."""
    page = gw.store.list_jobs(query)
    out = _preview(page, cap, dry, "retry")
    if dry:
        return out, [], False
    specs, refused = [], []
    for job in page.jobs:
        try:
            specs.append(actions.retry_spec(job, gw.registry, submitted_by="api"))
        except actions.ActionError as exc:
            refused.append({"job_id": job.job_id, "reason": exc.message})
    now = utcnow()
    audit = BulkAction("retry", who, given, page.total, 0, 0, [])
    ttl = gw.config.service.dedupe_ttl
    results, action_id = gw.store.enqueue_many(specs, now=now, dedupe_since=add_seconds(now, -ttl), audit=audit)
    created = [(spec.retry_of, r.job_id) for spec, r in zip(specs, results, strict=True) if r.created]
    skipped = refused + [
        {"job_id": spec.retry_of, "reason": f"a retry of it is already {r.status.value} ({r.job_id})"}
        for spec, r in zip(specs, results, strict=True)
        if not r.created
    ]
    jobs = _queued(gw, [new for _, new in created])
    out.update(
        acted=len(created),
        retries=[{"retry_of": old, "job_id": new} for old, new in created],
        skipped=skipped,
        action_id=action_id,
    )
    return out, jobs, bool(created)


@router.post(
    "/jobs/cancel",
    summary="Cancel every queued or running job matching GET /jobs' filters (dry_run to count first)",
    responses=errors(400, 401, 403),
    openapi_extra={
        **scoped(
            "jobs:rw",
            "Statuses default to queued, running; running jobs have their process group killed. "
            "At most `api.bulk_max` jobs per call. One audit row per call.",
        ),
        "parameters": _filters(actions.CANCELLABLE),
    },
)
async def bulk_cancel(request: Request, principal: Principal = Depends(require("jobs:rw"))) -> JSONResponse:
    gw = request.app.state.gateway
    cap = gw.config.api.bulk_max
    query, given, dry = _parse(request, "cancel", cap)
    page = await off_loop(gw.store, gw.store.list_jobs, query)
    out = _preview(page, cap, dry, "cancel")
    if dry:
        return JSONResponse(out)
    cancelled, skipped = [], []
    reason = f"cancelled by bulk action of {principal.name}"
    for job in page.jobs:
        done = await gw.dispatcher.cancel(job.job_id, reason)
        if done is not None and done.status is Status.DEAD:
            cancelled.append(job.job_id)
        else:
            ended = done.status.value if done is not None else "gone"
            skipped.append({"job_id": job.job_id, "reason": f"ended before it could be cancelled ({ended})"})
    audit = BulkAction(
        "cancel", principal.name, given, page.total, len(cancelled), page.total - len(cancelled), cancelled
    )
    out.update(acted=len(cancelled), cancelled=cancelled, skipped=skipped)
    out["action_id"] = await off_loop(gw.store, gw.store.record_bulk_action, audit, now=utcnow())
    return JSONResponse(out)


def _parse(request: Request, action: str, cap: int) -> tuple[Any, dict[str, Any], bool]:
    try:
        query, given = actions.bulk_query(request.query_params, action, cap)
        dry = params.flag(request.query_params, "dry_run")
    except actions.ActionError as exc:
        raise ApiError(exc.status, exc.message)
    except params.BadParam as exc:
        raise ApiError(400, str(exc))
    return query, given, dry


@router.get(
    "/bulk-actions",
    summary="Audit trail of bulk retries and cancels, newest first",
    responses=errors(400, 401, 403),
    openapi_extra={
        **scoped("jobs:ro", "Who ran which bulk action, on which filter, matching and acting on how many jobs."),
        "parameters": [query_param("limit", LIMIT_SCHEMA, "Maximum rows, 1..200.")],
    },
    dependencies=[Depends(require("jobs:ro"))],
)
async def bulk_actions(request: Request) -> JSONResponse:
    try:
        limit = params.limit(request.query_params)
    except params.BadParam as exc:
        raise ApiError(400, str(exc))
    store = request.app.state.gateway.store
    rows = await off_loop(store, store.bulk_actions, limit)
    return JSONResponse({"actions": [row.view() for row in rows]})
