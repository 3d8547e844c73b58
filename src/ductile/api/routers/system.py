"""Read endpoints the monitor needs beyond the core API: `GET /plugin-state` (redacted).

State is whatever plugins chose to keep, so it may hold credentials: values under secret-looking
keys are replaced with `***` by the same `config.redact` that `config show` uses.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from ductile.api.app import ApiError
from ductile.api.deps import gateway, require
from ductile.config import redact

router = APIRouter(tags=["system"])


@router.get(
    "/plugin-state",
    summary="Each plugin instance's persisted state, secrets redacted",
    dependencies=[Depends(require("plugin:ro"))],
)
def plugin_state(
    gw: Any = Depends(gateway),
    plugin: str | None = Query(default=None, description="one instance; default: all"),
) -> dict[str, Any]:
    if plugin is not None:
        if plugin not in gw.registry.instances:
            known = ", ".join(sorted(gw.registry.instances)) or "none"
            raise ApiError(404, f"unknown plugin {plugin!r} (known: {known})")
        return {"states": {plugin: redact(gw.store.get_state(plugin))}}
    states = gw.store.all_states()
    return {"states": {name: redact(states.get(name, {})) for name in sorted(gw.registry.instances)}}
