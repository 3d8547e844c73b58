"""`GET /schedules`: every schedule entry with its spec, last outcome and next due time.

Reads the running scheduler's in-memory entries (the same objects that fire) and looks each
entry's last job up in the store, so "last outcome" is the job's real status, not a guess.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from ductile.api.deps import bearer, gateway, require
from ductile.api.schemas import errors, scoped
from ductile.config import ScheduleConfig
from ductile.durations import format_duration
from ductile.lifecycle import Status
from ductile.redact import redact
from ductile.timeutil import local_zone_name, to_text, utcnow

router = APIRouter(tags=["schedules"], dependencies=[Depends(bearer)])

_ACTIVE = {Status.QUEUED.value, Status.RUNNING.value}


def spec_view(spec: ScheduleConfig) -> dict[str, Any]:
    """The schedule's timing as configured: `every` (seconds and text) or `cron` + `timezone`, plus jitter."""
    out: dict[str, Any] = {"if_running": spec.if_running, "catch_up": spec.catch_up}
    if spec.every is not None:
        out["every"] = format_duration(spec.every)
        out["every_seconds"] = spec.every
    else:
        out["cron"] = spec.cron
        out["timezone"] = spec.timezone or local_zone_name()
    out["jitter"] = format_duration(spec.jitter) if spec.jitter else None
    return out


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
    out: list[dict[str, Any]] = []
    scheduler = gw.scheduler
    breakers = {(r["plugin"], r["command"]): r for r in gw.store.breaker_rows()}
    for entry in list(scheduler.entries if scheduler is not None else []):
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
            "next_due": to_text(entry.fire_at),
            "next_slot": to_text(entry.slot),
            "breaker": breaker_brief(breakers.get((entry.instance, entry.spec.command))),
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
                    "breaker": breaker_brief(breakers.get((name, sched.command))),
                }
            )
    out.sort(key=lambda s: (s["instance"], s["schedule_id"]))
    return {"schedules": out, "now": to_text(utcnow())}
