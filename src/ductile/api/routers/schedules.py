"""`GET /schedules`: every schedule entry with its spec, status, last outcome and next due time;
`POST /schedules/{plugin}/{schedule_id}/pause|resume|run` (ours); Ductile's `GET /scheduler/jobs`.

Reads the running scheduler's in-memory entries (the same objects that fire) and looks each
entry's last job up in the store, so "last outcome" is the job's real status, not a guess.
Operator actions go through the scheduler itself, so what it fires and what it shows never differ.
On PostgreSQL every node answers: a node that does not lead reads the entries' database rows, and
actions on any node change the rows, which the leader's loop takes in (scheduler/shared.py).
"""

from __future__ import annotations

import copy
import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from ductile.api import jsonio
from ductile.api.app import ApiError
from ductile.api.auth import Principal
from ductile.api.deps import bearer, gateway, require
from ductile.api.schemas import errors, scoped
from ductile.config import ScheduleConfig
from ductile.durations import format_duration
from ductile.lifecycle import Status
from ductile.redact import redact
from ductile.scheduler import health_watch, shared
from ductile.store.offload import blocking, off_loop
from ductile.timeutil import from_text, local_zone_name, to_text, utcnow

router = APIRouter(tags=["schedules"], dependencies=[Depends(bearer)])

_ACTIVE = {Status.QUEUED.value, Status.RUNNING.value}


def spec_view(spec: ScheduleConfig) -> dict[str, Any]:
    """The schedule's timing as configured: `every` (seconds and text), `cron` + `timezone`, or a
    one-shot `at`/`after`; jitter, and the window keys when set."""
    out: dict[str, Any] = {"mode": spec.mode, "if_running": spec.if_running, "catch_up": spec.catch_up}
    if spec.every is not None:
        out["every"] = format_duration(spec.every)
        out["every_seconds"] = spec.every
    elif spec.cron is not None:
        out["cron"] = spec.cron
        out["timezone"] = spec.timezone or local_zone_name()
    elif spec.at is not None:
        out["at"] = spec.at
    else:
        assert spec.after is not None
        out["after"] = format_duration(spec.after)
    if spec.cron is None and (spec.timezone or spec.only_between or spec.not_on):
        out["timezone"] = spec.timezone or "UTC"  # windows default to UTC (cron to the host's zone)
    if spec.only_between:
        out["only_between"] = spec.only_between
    if spec.not_on:
        out["not_on"] = list(spec.not_on)
    out["jitter"] = format_duration(spec.jitter) if spec.jitter else None
    return out


def entry_fields(entry: Any) -> dict[str, Any]:
    """The entry status of pipelines.md §9.6 with its reason, and who paused it and when."""
    return {
        "entry_status": entry.status,
        "reason": entry.reason,
        "paused_by": entry.paused_by,
        "paused_at": entry.paused_at,
        "last_skip_reason": entry.last_skip_reason,
    }


def entry_status(last_job_status: str | None, last_fired: str | None, last_skip: str | None) -> str:
    """`running` while its job is queued/running, `skipped` when the latest fire was skipped,
    `waiting` otherwise (including never fired)."""
    if last_job_status in _ACTIVE:
        return "running"
    if last_skip and (last_fired is None or last_skip > last_fired):
        return "skipped"
    return "waiting"


def breaker_brief(row: dict[str, Any] | None) -> dict[str, Any]:
    """The schedule's (plugin, command) circuit breaker (pipelines.md §8); closed when no row yet."""
    if row is None:
        return {"state": "closed", "failure_count": 0, "opened_at": None}
    return {"state": row["state"], "failure_count": row["failure_count"], "opened_at": row["opened_at"]}


@router.get(
    "/schedules",
    summary="Every schedule: spec, status, last fired, last outcome, next due",
    responses=errors(401, 403),
    openapi_extra=scoped("jobs:status:ro", "Every schedule entry of every enabled instance, in config order."),
    dependencies=[Depends(require("jobs:status:ro"))],
)
async def schedules(gw: Any = Depends(gateway)) -> dict[str, Any]:
    if not blocking(gw.store):
        return schedules_body(gw)
    return await off_loop(gw.store, schedules_body, gw, loop_entries(gw))  # type: ignore[no-any-return]


def loop_entries(gw: Any) -> list[Any] | None:
    """Copies, taken on the event loop, of the entries the running scheduler holds there (the
    leader's): a body built on a store thread reads these, never the loop's own objects. None
    when the entries come from the database (a node that does not lead, or no scheduler)."""
    if gw.scheduler is None or not (gw.cluster is None or gw.cluster.leading):
        return None
    return [copy.copy(entry) for entry in gw.scheduler.entries]


def schedules_body(gw: Any, entries: list[Any] | None = None, cached_health: bool = False) -> dict[str, Any]:
    """The `GET /schedules` body; shared with the dashboard's overview (ductile.ui), which passes
    `cached_health` to show the health watcher's judgement (at most ~10 s old) when it has one.
    `entries`: `loop_entries(gw)` when built off the loop."""
    out: list[dict[str, Any]] = []
    breakers = {(r["plugin"], r["command"]): r for r in gw.store.breaker_rows()}
    now = utcnow()
    policy = health_watch.policy_of(gw.config)
    since = from_text(gw.started_at)
    moment = time.monotonic()
    for entry in shared.listed(gw) if entries is None else entries:
        job = gw.store.get_job(entry.last_job_id) if entry.last_job_id else None
        last_status = job.status.value if job is not None else None
        item: dict[str, Any] = {
            "instance": entry.instance,
            "schedule_id": entry.spec.id,
            "command": entry.spec.command,
            "payload": redact(entry.spec.payload),
            "spec": spec_view(entry.spec),
            "status": entry_status(last_status, entry.last_fired, entry.last_skip),
            "last_fired": entry.last_fired,
            "last_skipped": entry.last_skip,
            "last_job_id": entry.last_job_id,
            "last_outcome": last_status,
            "last_error": redact(job.last_error) if job is not None and last_status not in _ACTIVE else None,
            "last_completed_at": job.completed_at if job is not None else None,
            "next_due": to_text(entry.fire_at) if entry.fire_at and entry.status == "active" else None,
            "next_slot": to_text(entry.slot) if entry.slot else None,
            **entry_fields(entry),
            "breaker": breaker_brief(breakers.get((entry.instance, entry.spec.command))),
            "health": (cached_health and health_watch.cached(gw, entry, moment))
            or health_watch.judge(entry, gw.store, since, policy, now),
        }
        out.append(item)
    # Schedules of disabled instances never fire; list them so the operator sees why.
    for name, spec in gw.config.plugins.items():
        if spec.enabled:
            continue
        for sched in spec.schedules:
            out.append(
                {
                    "instance": name,
                    "schedule_id": sched.id,
                    "command": sched.command,
                    "payload": redact(sched.payload),
                    "spec": spec_view(sched),
                    "status": "disabled",
                    "last_fired": None,
                    "last_skipped": None,
                    "last_job_id": None,
                    "last_outcome": None,
                    "last_error": None,
                    "last_completed_at": None,
                    "next_due": None,
                    "next_slot": None,
                    "entry_status": None,
                    "reason": "instance disabled",
                    "paused_by": None,
                    "paused_at": None,
                    "last_skip_reason": None,
                    "breaker": breaker_brief(breakers.get((name, sched.command))),
                    "health": None,
                }
            )
    out.sort(key=lambda s: (s["instance"], s["schedule_id"]))
    return {"schedules": out, "now": to_text(now)}


def _scheduler(gw: Any) -> Any:
    ops = shared.operations(gw)
    if ops is None:
        raise ApiError(503, "the scheduler is not running in this gateway")
    return ops


def _action(gw: Any, call: Any, plugin: str, schedule_id: str, **kwargs: Any) -> Any:
    from ductile.scheduler.loop import ScheduleNotFound, ScheduleNotRunnable

    try:
        return call(plugin[:200], schedule_id[:200], **kwargs)
    except ScheduleNotFound as exc:
        raise ApiError(404, str(exc)) from None
    except ScheduleNotRunnable as exc:
        raise ApiError(409, str(exc)) from None


def _entry_view(entry: Any, changed: bool) -> dict[str, Any]:
    return {
        "plugin": entry.instance,
        "schedule_id": entry.spec.id,
        "command": entry.spec.command,
        "status": entry.status,
        "reason": entry.reason,
        "paused_by": entry.paused_by,
        "paused_at": entry.paused_at,
        "next_run_at": to_text(entry.fire_at) if entry.fire_at and entry.status == "active" else None,
        "changed": changed,
    }


# What `_reason` accepts, stated for the OpenAPI document (and so for the MCP `pause_schedule` tool).
PAUSE_BODY = {
    "type": "object",
    "properties": {
        "reason": {
            "type": "string",
            "maxLength": 500,
            "description": "Why it is paused; shown with the paused status (default: paused by <token name>).",
        }
    },
    "additionalProperties": False,
}


async def _reason(request: Request, limit: int) -> str | None:
    """Optional body `{"reason": "..."}` (shown in /schedules as the pause reason)."""
    body = await jsonio.read_json(request, limit)
    if body is None:
        return None
    if not isinstance(body, dict):
        raise ApiError(400, f'body must be a JSON object, got {type(body).__name__} (accepted: {{"reason": "<text>"}})')
    extra = sorted(set(body) - {"reason"})
    if extra:
        raise ApiError(400, f"unknown body field(s) {', '.join(map(ascii, extra[:10]))} (accepted: reason)")
    reason = body.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 500):
        raise ApiError(400, "reason must be a string of at most 500 characters")
    return redact(reason) if reason else None


_ACTION_ERRORS = errors(400, 401, 403, 404, 409)


@router.post(
    "/schedules/{plugin}/{schedule_id}/pause",
    summary="Pause a schedule entry (it stops firing until resumed; survives restarts)",
    response_model=None,
    responses=_ACTION_ERRORS,
    openapi_extra={
        **scoped(
            "plugin:rw",
            "Status becomes `paused_manual`, recorded with the token name and time. Pausing a paused entry "
            'changes nothing (`changed: false`). Optional body `{"reason": "..."}`. An exhausted or invalid entry '
            "is a 409.",
        ),
        "requestBody": {"required": False, "content": {"application/json": {"schema": PAUSE_BODY}}},
    },
)
async def pause(
    plugin: str, schedule_id: str, request: Request, who: Principal = Depends(require("plugin:rw"))
) -> JSONResponse:
    gw = request.app.state.gateway
    reason = await _reason(request, gw.config.api.max_body_bytes)
    entry, changed = await off_loop(
        gw.store, _action, gw, _scheduler(gw).pause, plugin, schedule_id, by=who.name, reason=reason
    )
    return JSONResponse(_entry_view(entry, changed))


@router.post(
    "/schedules/{plugin}/{schedule_id}/resume",
    summary="Resume a paused schedule entry",
    response_model=None,
    responses=_ACTION_ERRORS,
    openapi_extra=scoped(
        "plugin:rw",
        "Back to `active`; slots missed while paused are not run (use run now), the entry continues at its next "
        "slot. Resuming an entry that is not paused changes nothing (`changed: false`).",
    ),
)
async def resume(
    plugin: str, schedule_id: str, request: Request, who: Principal = Depends(require("plugin:rw"))
) -> JSONResponse:
    gw = request.app.state.gateway
    entry, changed = await off_loop(gw.store, _action, gw, _scheduler(gw).resume, plugin, schedule_id, by=who.name)
    return JSONResponse(_entry_view(entry, changed))


@router.post(
    "/schedules/{plugin}/{schedule_id}/run",
    summary="Run a schedule entry now: one extra job",
    response_model=None,
    responses={202: {"description": "The job was queued."}, **_ACTION_ERRORS},
    openapi_extra=scoped(
        "plugin:rw",
        "Enqueues one job with the entry's command and payload (`submitted_by: scheduler`, dedupe key "
        "`<plugin>:<command>:<schedule_id>:run_now:<time>`). It runs whatever the entry's pause, window, "
        "breaker or if_running say (an explicit operator request), and does not move the next fire. "
        "A `paused_invalid` entry is a 409.",
    ),
)
async def run_now(
    plugin: str, schedule_id: str, request: Request, who: Principal = Depends(require("plugin:rw"))
) -> JSONResponse:
    gw = request.app.state.gateway
    job_id = await off_loop(gw.store, _action, gw, _scheduler(gw).run_now, plugin, schedule_id, by=who.name)
    return JSONResponse(
        {"job_id": job_id, "plugin": plugin, "schedule_id": schedule_id, "status": "queued"}, status_code=202
    )


@router.get(
    "/scheduler/jobs",
    summary="Ductile's schedule entry list: mode, status, reason, next run",
    responses=errors(401, 403),
    openapi_extra=scoped("jobs:status:ro", "Ductile's shape (pipelines.md §9.6), plugins sorted by name."),
    dependencies=[Depends(require("jobs:status:ro"))],
)
async def scheduler_jobs(gw: Any = Depends(gateway)) -> dict[str, Any]:
    jobs: list[dict[str, Any]] = []
    if not blocking(gw.store):
        entries = shared.listed(gw)
    elif (entries := loop_entries(gw)) is None:  # the database's view, read off the loop
        entries = await off_loop(gw.store, shared.listed, gw)
    for entry in sorted(entries, key=lambda e: e.instance):  # stable: config order within a plugin
        spec = entry.spec
        item: dict[str, Any] = {
            "plugin": entry.instance,
            "schedule_id": spec.id,
            "command": spec.command,
            "mode": spec.mode,
            "status": entry.status,
        }
        if entry.reason:
            item["reason"] = entry.reason
        if entry.paused_by:  # ours: who paused it and when
            item["paused_by"], item["paused_at"] = entry.paused_by, entry.paused_at
        if spec.timezone:
            item["timezone"] = spec.timezone
        if entry.fire_at is not None and entry.status == "active":
            item["next_run_at"] = to_text(entry.fire_at)
        jobs.append(item)
    return {"jobs": jobs}
