"""`GET /stopwatch/{plugin}`: Ductile's per-plugin latency percentiles, per pipeline step.

The samples are the plugin's timed attempts (store/stopwatch.py: the job history is the ledger;
nothing is written for it on the job path), the arithmetic is `ductile.stopwatch` (pure). What
this module decides is the HTTP contract: the window vocabulary and its 400, the 404 for a plugin
that is not configured, and who sees sub-spans.

Sub-spans are what a plugin put in its response, unvalidated, so they are shown by the same rule
as results (`GET /job/{id}`: the token must also allow `jobs:result:ro`); without it `subs` is
left out and the request still succeeds, as Ductile downgrades rather than refuses. Their names
pass the one redaction rule like any other plugin output.

The read can be large (a 30d window on a busy plugin), so it never runs on the event loop: on
PostgreSQL through the store's executor (`off_loop`), on SQLite on a worker thread with its own
connection (never the dispatcher's). At most two run at once per gateway, and each reads at most
`MAX_SAMPLES` samples, the newest (`truncated: true` when there were more). The dashboard's
Latency section (ui/latency.py) reads through the same `read_stopwatch`, under the same limit.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ductile import stopwatch as sw
from ductile.api import params
from ductile.api.app import ApiError
from ductile.api.auth import Principal
from ductile.api.deps import bearer, require
from ductile.api.schemas import errors, query_param, scoped
from ductile.redact import redact_text
from ductile.store.offload import blocking, off_loop
from ductile.timeutil import to_text, utcnow

router = APIRouter(tags=["jobs"], dependencies=[Depends(bearer)])
CONCURRENT_READS = 2

_PARAMS = [
    query_param(
        "window",
        {"type": "string", "enum": list(sw.WINDOWS), "default": sw.DEFAULT_WINDOW},
        "How far back: `5m`, `1h` (default), `24h`, `7d` or `30d`; anything else is a 400.",
    ),
    query_param(
        "include_subs",
        {"type": "boolean", "default": False},
        "Add each step's plugin-supplied sub-spans (`subs`); shown only when the token also has "
        "`jobs:result:ro`, silently left out otherwise.",
    ),
]


class Percentiles(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sample_count: int = Field(ge=0)
    p50_ms: int = Field(ge=0)
    p95_ms: int = Field(ge=0)
    p99_ms: int = Field(ge=0)


class SubSpan(Percentiles):
    name: str = Field(description="The name the plugin gave the sub-span (redacted like all plugin output).")


class StepTiming(Percentiles):
    step: str = Field(description='The pipeline step id; "" for jobs invoked directly (API, schedule, CLI).')
    trend_p95_ms: list[int] = Field(
        min_length=sw.BUCKETS,
        max_length=sw.BUCKETS,
        description="p95 of each of 60 equal slices of the window, oldest first; 0 when empty.",
    )
    subs: list[SubSpan] | None = Field(
        default=None, description="Only with include_subs=true and `jobs:result:ro`; sorted by name."
    )


class StopwatchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plugin: str
    window: str
    captured_at: str = Field(description="When the answer was computed (RFC 3339, UTC); the window ends here.")
    steps: list[StepTiming] = Field(description="Sorted by step; [] when the plugin has no samples in the window.")
    truncated: bool = Field(description=f"Ours: true when only the newest {sw.MAX_SAMPLES} samples were used.")


@router.get(
    "/stopwatch/{plugin}",
    summary="Latency percentiles of one plugin's runs, per pipeline step, with a 60-slice p95 trend",
    response_model=None,
    responses={200: {"model": StopwatchBody, "description": "Per-step timings."}, **errors(400, 401, 403, 404)},
    openapi_extra={
        **scoped(
            "jobs:status:ro",
            'Ductile\'s stopwatch: for each pipeline step the plugin ran as (`""`: invoked directly), the '
            "count and nearest-rank p50/p95/p99 (whole ms) of its attempts that ran a plugin process and "
            "started in the window, and `trend_p95_ms`. `include_subs=true` adds the plugin's "
            "`ductile_stopwatch_subs` sub-spans when the token also has `jobs:result:ro`. An unknown "
            "plugin is a 404; a configured one without runs answers `steps: []`.",
        ),
        "parameters": _PARAMS,
    },
)
async def stopwatch(
    plugin: str, request: Request, principal: Principal = Depends(require("jobs:status:ro"))
) -> JSONResponse:
    gw = request.app.state.gateway
    if plugin not in gw.config.plugins:
        known = ", ".join(sorted(gw.config.plugins)) or "none"
        raise ApiError(404, f"plugin not found: {plugin[:80]!r} (known: {known})")
    try:
        name, _ = sw.window_of(params.one(request.query_params, "window"))
        include_subs = params.flag(request.query_params, "include_subs")
    except (ValueError, params.BadParam) as exc:
        raise ApiError(400, str(exc))
    shown = include_subs and principal.allows("jobs:result:ro")
    body = await read_stopwatch(request.app.state, gw.store, plugin, name, shown, max_subs_of(gw, plugin))
    return JSONResponse(body)  # no `wait`: always an answer


def max_subs_of(gw: Any, plugin: str) -> int:
    """The manifest's `stopwatch.max_subs`; a disabled instance is configured but has no manifest
    loaded, so it gets the default."""
    instance = gw.registry.get(plugin)
    return instance.plugin.manifest.stopwatch.max_subs if instance is not None else sw.DEFAULT_MAX_SUBS


def read_limit(state: Any) -> asyncio.Semaphore:
    """The gateway's one limit on stopwatch reads (`CONCURRENT_READS`), kept on `app.state` so the
    API route and the dashboard's Latency section share it: two reads at once in all, not per caller."""
    semaphore = getattr(state, "stopwatch_reads", None)
    if semaphore is None:
        semaphore = state.stopwatch_reads = asyncio.Semaphore(CONCURRENT_READS)
    return semaphore


# Reads started with `wait`: held here until they finish, so one its caller stopped waiting for
# (or whose request was cancelled) is not garbage-collected mid-read.
_running: set[asyncio.Future[Any]] = set()


async def read_stopwatch(
    state: Any, store: Any, plugin: str, window: str, with_subs: bool, max_subs: int, *, wait: float | None = None
) -> dict[str, Any] | None:
    """`stopwatch_body(...)` under the gateway's read limit, never on the event loop: the one
    way both `GET /stopwatch/{plugin}` and the dashboard read the stopwatch.

    With `wait` (seconds) the caller gets None instead of waiting longer, for a page that must
    not hang on a 30d read: a read still waiting for a slot is dropped; one already running
    finishes in the background and keeps its slot until then, so the limit stays true (a worker
    thread cannot be stopped midway, and releasing its slot early would let reads pile up)."""
    semaphore = read_limit(state)
    if wait is None:
        async with semaphore:
            return await _read(store, plugin, window, with_subs, max_subs)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    try:
        async with asyncio.timeout(wait):
            await semaphore.acquire()
    except TimeoutError:
        return None
    try:
        task = asyncio.ensure_future(_read(store, plugin, window, with_subs, max_subs))
    except BaseException:
        semaphore.release()
        raise
    task.add_done_callback(lambda _: semaphore.release())
    _running.add(task)
    task.add_done_callback(_forget)
    try:
        async with asyncio.timeout(max(0.0, deadline - loop.time())):
            return await asyncio.shield(task)
    except TimeoutError:
        return None


def _forget(task: asyncio.Future[Any]) -> None:
    """Drop a finished read, retrieving its error so asyncio does not log one nobody awaited."""
    _running.discard(task)
    if not task.cancelled():
        task.exception()


async def _read(store: Any, plugin: str, window: str, with_subs: bool, max_subs: int) -> dict[str, Any]:
    """The read off the event loop: on PostgreSQL through the store's executor, on SQLite on a
    worker thread (its own connection, never the dispatcher's)."""
    if blocking(store):
        return await off_loop(store, stopwatch_body, store, plugin, window, with_subs, max_subs)
    return await asyncio.to_thread(stopwatch_body, store, plugin, window, with_subs, max_subs)


def stopwatch_body(store: Any, plugin: str, window: str, with_subs: bool, max_subs: int) -> dict[str, Any]:
    """The answer for one plugin and window, read and computed off the event loop."""
    _, length = sw.window_of(window)
    now = utcnow()
    since = now - length
    samples, truncated = store.stopwatch_samples(
        plugin, since, now, max_subs=max_subs if with_subs else None, limit=sw.MAX_SAMPLES
    )
    steps = sw.steps(samples, since=since, length=length, include_subs=with_subs, max_subs=max_subs)
    for step in steps:
        for sub in step.get("subs", ()):
            sub["name"] = redact_text(sub["name"])
    return {"plugin": plugin, "window": window, "captured_at": to_text(now), "steps": steps, "truncated": truncated}
