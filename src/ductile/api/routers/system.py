"""Read endpoints the monitor needs beyond the core API: `GET /plugin-state` (redacted).

State is whatever plugins chose to keep, so it may hold credentials: values under secret-looking
keys are replaced with `***` by the one redaction rule (`ductile.redact`) every read surface uses.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from ductile.api.app import ApiError
from ductile.api.auth import Principal
from ductile.api.deps import bearer, gateway, require
from ductile.api.routers.jobs import hide_event_payloads, lineage
from ductile.api.schemas import errors, scoped
from ductile.redact import redact, redact_config, redact_text
from ductile.store.offload import off_loop

router = APIRouter(tags=["system"], dependencies=[Depends(bearer)])


@router.get(
    "/plugin-state",
    summary="Each plugin instance's persisted state, secrets redacted",
    responses=errors(401, 403, 404),
    openapi_extra=scoped(
        "plugin:catalog:ro", "`{states: {instance: state}}`; values under secret-looking keys are `***`."
    ),
    dependencies=[Depends(require("plugin:catalog:ro"))],
)
async def plugin_state(
    gw: Any = Depends(gateway),
    plugin: str | None = Query(default=None, description="one instance; default: all"),
) -> dict[str, Any]:
    if plugin is not None:
        if plugin not in gw.registry.instances:
            known = ", ".join(sorted(gw.registry.instances)) or "none"
            raise ApiError(404, f"unknown plugin {plugin!r} (known: {known})")
        return {"states": {plugin: redact(await off_loop(gw.store, gw.store.get_state, plugin))}}
    states = await off_loop(gw.store, gw.store.all_states)
    return {"states": {name: redact(states.get(name, {})) for name in sorted(gw.registry.instances)}}


@router.get(
    "/job/{job_id}/detail",
    summary="One job with everything the monitor's detail view shows: payload, transitions, retry plan",
    responses=errors(401, 403, 404),
    openapi_extra=scoped(
        "jobs:status:ro",
        "`GET /job/{id}` plus payload, dedupe key, retry time and transitions, and the same lineage "
        "(`pipeline`, `step_id`, `events`, `children`). Errors and event payloads need `jobs:result:ro`.",
    ),
)
async def job_full(
    job_id: str, gw: Any = Depends(gateway), principal: Principal = Depends(require("jobs:status:ro"))
) -> dict[str, Any]:
    """`GET /job/{id}` plus payload, context, dedupe key, retry time, the transition history and
    the job's lineage (what the monitor's detail screen shows).

    Kept separate so `GET /job/{id}` stays the small documented shape."""
    return await off_loop(gw.store, job_full_body, gw.store, job_id, principal.allows("jobs:result:ro"))


def job_full_body(store: Any, job_id: str, can_see: bool) -> dict[str, Any]:
    job = store.get_job(job_id)
    if job is None:
        raise ApiError(404, f"no job {job_id!r} (list jobs with GET /jobs)")
    body = {
        "job_id": job.job_id,
        "plugin": job.plugin,
        "command": job.command,
        "status": job.status.value,
        "attempt": job.attempt,
        "max_attempts": job.max_attempts,
        "submitted_by": job.submitted_by,
        "dedupe_key": job.dedupe_key,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "completed_at": job.completed_at,
        "next_retry_at": job.next_retry_at,
        "last_error": redact_text(job.last_error) if job.last_error else job.last_error,
        "parent_job_id": job.parent_job_id,
        "payload": redact(job.payload),
        "transitions": [
            {"from": t.from_status, "to": t.to_status, "reason": redact_text(t.reason), "at": t.at}
            for t in store.transitions(job_id)
        ],
        **lineage(store, job),
    }
    if not can_see:  # errors (in last_error and in transition reasons) and event payloads need jobs:result:ro
        body = hide_event_payloads(body)
        body.pop("last_error")
        body["transitions"] = [{**t, "reason": None} for t in body["transitions"]]
    return body


@router.get(
    "/config/view",
    summary="The running gateway's effective config, secrets redacted (Ductile's config view)",
    responses=errors(401, 403),
    openapi_extra=scoped(
        "system:ro",
        "The config the gateway runs now (after reloads; a key a reload could not change shows the running "
        "value), merged and defaulted, as `ductile config show --json` prints it: values under secret-looking "
        "keys are `***`, API tokens keep their names and scopes.",
    ),
    dependencies=[Depends(require("system:ro"))],
)
async def config_view(gw: Any = Depends(gateway)) -> dict[str, Any]:
    return redact_config(gw.config.model_dump(mode="json"))
