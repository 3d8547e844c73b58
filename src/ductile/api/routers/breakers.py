"""Circuit breakers over the API (pipelines.md §8): read them, and reset one.

So operators and agents can see why a schedule stopped running (`circuit_open` skips) and put it
back in service remotely. State lives in the database and the scheduler's gate reads it there,
so a reset takes effect at the schedule's next due time in the running gateway.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from ductile.api.app import ApiError
from ductile.api.deps import bearer, gateway, require
from ductile.api.schemas import errors, scoped
from ductile.breaker.state import CLOSED
from ductile.durations import format_duration
from ductile.redact import redact
from ductile.store.offload import off_loop
from ductile.timeutil import utcnow

router = APIRouter(tags=["breakers"], dependencies=[Depends(bearer)])


def _known(gw: Any, plugin: str) -> None:
    if plugin not in gw.config.plugins:
        known = ", ".join(sorted(gw.config.plugins)) or "none"
        raise ApiError(404, f"Unknown plugin: {plugin} (known: {known})")


def breaker_view(gw: Any, plugin: str, command: str, row: dict[str, Any] | None) -> dict[str, Any]:
    """A row (or the implicit closed breaker when none was written yet) with its settings."""
    spec = gw.config.plugins.get(plugin)
    base = row or {
        "plugin": plugin,
        "command": command,
        "state": CLOSED,
        "failure_count": 0,
        "opened_at": None,
        "last_failure_at": None,
        "last_job_id": None,
        "updated_at": None,
    }
    out = dict(base)
    if spec is not None:
        out["threshold"] = spec.circuit_breaker.threshold
        out["reset_after"] = format_duration(spec.circuit_breaker.reset_after)
    return redact(out)


@router.get(
    "/breakers",
    summary="Every circuit breaker that has a row (scheduled plugin+command pairs that ever finished)",
    responses=errors(401, 403),
    openapi_extra=scoped("plugin:ro", "`{breakers: [{plugin, command, state, failure_count, opened_at, ...}]}`."),
    dependencies=[Depends(require("plugin:ro"))],
)
async def list_breakers(gw: Any = Depends(gateway)) -> dict[str, Any]:
    rows = await off_loop(gw.store, gw.store.breaker_rows)
    return {"breakers": [breaker_view(gw, r["plugin"], r["command"], r) for r in rows]}


@router.get(
    "/breakers/{plugin}",
    summary="One breaker's state and its recent transitions, newest first",
    responses=errors(400, 401, 403, 404),
    openapi_extra=scoped("plugin:ro", "`{breaker: {...}, transitions: [...]}`; `command` defaults to `poll`."),
    dependencies=[Depends(require("plugin:ro"))],
)
async def get_breaker(
    plugin: str,
    gw: Any = Depends(gateway),
    command: str = Query(default="poll", min_length=1, max_length=200),
    limit: int = Query(default=20, ge=1, le=1000),
) -> dict[str, Any]:
    _known(gw, plugin)
    row = await off_loop(gw.store, gw.store.breaker_row, plugin, command)
    transitions = await off_loop(gw.store, gw.store.breaker_transitions, plugin, command, limit)
    return {"breaker": breaker_view(gw, plugin, command, row), "transitions": redact(transitions)}


@router.post(
    "/breakers/{plugin}/{command}/reset",
    summary="Reset a breaker to closed (records a manual_reset transition)",
    responses=errors(401, 403, 404),
    openapi_extra=scoped("plugin:rw", '`{plugin, command, previous_state, state: "closed"}`.'),
    dependencies=[Depends(require("plugin:rw"))],
)
async def reset_breaker(plugin: str, command: str, gw: Any = Depends(gateway)) -> dict[str, Any]:
    _known(gw, plugin)
    change = await off_loop(gw.store, gw.store.reset_breaker, plugin, command, utcnow())
    return {"plugin": plugin, "command": command, "previous_state": change.from_state, "state": change.to_state}
