"""`POST /system/reload`: re-read config and plugins into the running gateway (ductile.reload).

Scope `system:rw`. 200 with the diff applied; 409 with every problem when the new config fails
`config check` (or would change the database), and then nothing changed; `dry_run=true` checks
and diffs without applying.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from ductile.api import params
from ductile.api.app import ApiError
from ductile.api.auth import Principal
from ductile.api.deps import bearer, require
from ductile.api.schemas import ErrorBody, errors, query_param, scoped

router = APIRouter(tags=["system"], dependencies=[Depends(bearer)])
SCOPE = "system:rw"

_RESPONSES: dict[int | str, dict[str, Any]] = {
    **errors(400, 401, 403),
    409: {
        "model": ErrorBody,
        "description": "The new config has problems (listed in `problems`, as `ductile config check` prints "
        "them) or would move the gateway to another database; nothing was changed.",
    },
    503: {"model": ErrorBody, "description": "The gateway is stopping."},
}


@router.post(
    "/system/reload",
    summary="Re-read config and plugins: check, then swap atomically; the diff is returned",
    responses=_RESPONSES,
    openapi_extra={
        **scoped(
            SCOPE,
            "Runs the full `config check` on the files as they are now; any problem answers 409 and "
            "changes nothing. Otherwise instances, plugins, pipelines, schedules, webhooks, tokens and "
            "live settings are swapped at once: running jobs finish as they started, queued jobs of "
            "removed instances end `dead` with the reason. `diff` lists what was added, changed and "
            "removed per kind; `needs_restart` the settings that keep their running value until a "
            "restart (listen addresses, HTTP limits, database pool). Same as SIGHUP.",
        ),
        "parameters": [
            query_param("dry_run", {"type": "boolean", "default": False}, "Check and diff only; change nothing.")
        ],
    },
)
async def reload_config(request: Request, principal: Principal = Depends(require(SCOPE))) -> JSONResponse:
    from ductile import reload

    try:
        dry = params.flag(request.query_params, "dry_run")
    except params.BadParam as exc:
        raise ApiError(400, str(exc))
    gw = request.app.state.gateway
    try:
        body = await reload.reloader(gw).reload(by=f"api:{principal.name}", dry_run=dry)
    except reload.ReloadRefused as exc:
        return JSONResponse({"error": exc.message, "problems": exc.problems}, status_code=exc.status)
    return JSONResponse(body)
