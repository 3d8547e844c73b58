"""Ductile's operator diagnostics: `GET /topology`, `GET /system/doctor`, `GET /system/selfcheck`.

All three are `system:ro`: the topology shows how the whole automation is wired (more than a
plugin's own manifest), the doctor shows config problems, the selfcheck the database's health.
The doctor and the selfcheck read files and the database, so they run off the event loop under a
deadline (5 s and 10 s) and answer 504 when it passes instead of holding the caller.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends

from ductile.api.app import ApiError
from ductile.api.deps import bearer, gateway, require
from ductile.api.schemas import errors, scoped
from ductile.timeutil import to_text, utcnow

if TYPE_CHECKING:
    from ductile.manifest import Manifest
    from ductile.pipelines.compile import Graph

router = APIRouter(tags=["system"], dependencies=[Depends(bearer), Depends(require("system:ro"))])

DOCTOR_DEADLINE = 5.0
REPORT = (
    "`{ok, captured_at, checks: [{name, status, detail, field?}]}`; `status` is `ok`, `fail`, `warn` or "
    "`skipped`, and only `fail` makes `ok` false."
)


@router.get(
    "/topology",
    summary="Which plugin emits which event, and which plugin each event is routed to",
    responses=errors(401, 403),
    openapi_extra=scoped(
        "system:ro",
        "`{version, captured_at, plugins: [{name, version?, active, inputs: [{signal, command}], outputs: "
        "[...]}], signals: [{name, producers: [{plugin, command}], consumers: [...]}]}`. Outputs are the events "
        "manifests declare (`values.emit`); inputs are what the pipelines route (triggers to entry steps, "
        "filtered edges to their steps). A routed plugin that is not running shows `active: false`.",
    ),
)
async def topology(gw: Any = Depends(gateway)) -> dict[str, Any]:
    from ductile.topology import topology as build

    manifests, graph = topology_sources(gw)
    return build(manifests, graph, gw.version, to_text(utcnow()))


def topology_sources(gw: Any) -> tuple[dict[str, Manifest], Graph]:
    """What the topology is built from: each running instance's manifest and the compiled graph,
    each read once (a reload swaps them). The dashboard's plugin page reads them here too, so its
    Wiring section and `GET /topology` come from the same inputs by the same rule."""
    return {name: inst.plugin.manifest for name, inst in gw.registry.instances.items()}, gw.graph


@router.get(
    "/system/doctor",
    summary="`ductile config check` on the config files as they are now",
    responses={**errors(401, 403), 504: {"description": "The check did not finish within 5 s."}},
    openapi_extra=scoped(
        "system:ro",
        f"{REPORT} One entry per problem (`fail`) or warning (`warn`), named by the check that found it "
        "(`config`, `discovery`, `plugins`, `pipelines`, `webhooks`), `field` the key path when the problem "
        "names one. Reads the files on disk: what a reload or restart would meet, not the running config.",
    ),
)
async def doctor(gw: Any = Depends(gateway)) -> dict[str, Any]:
    from ductile.config_check import check_config
    from ductile.doctor import doctor_report

    try:
        report = await asyncio.wait_for(asyncio.to_thread(check_config, gw.setup.loaded.path), DOCTOR_DEADLINE)
    except TimeoutError:
        raise ApiError(504, f"doctor exceeded {DOCTOR_DEADLINE:g}s deadline") from None
    return doctor_report(report, to_text(utcnow()))


@router.get(
    "/system/selfcheck",
    summary="`ductile system selfcheck` against the running gateway's database",
    responses={**errors(401, 403), 504: {"description": "The checks did not finish within 10 s."}},
    openapi_extra=scoped(
        "system:ro",
        f"{REPORT} Checks: `lock`, `integrity` (SQLite's `PRAGMA integrity_check`; `skipped` on PostgreSQL), "
        "`schema`, `statuses`, `finished_jobs`, `running_jobs` — all reads, on their own connection.",
    ),
)
async def selfcheck(gw: Any = Depends(gateway)) -> dict[str, Any]:
    from ductile import selfcheck as checking

    try:
        checks = await asyncio.to_thread(checking.run_for, gw.setup.loaded, deadline=checking.DEADLINE)
    except checking.SelfcheckTimeout as exc:
        raise ApiError(504, str(exc)) from None
    return {"ok": checking.passed(checks), "captured_at": to_text(utcnow()), "checks": checks}
