"""`GET /events`: the hub's events as Server-Sent Events, resumable with `Last-Event-ID`.

The stream reads from a bounded per-client subscription, so a slow or stalled client can only
lose its own events (it is told with `stream.lagged` and the stream ends); the dispatcher never
waits for it. Formatting lives here; ids, replay and queues live in `ductile.events`.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import OrderedDict
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from ductile.api.app import ApiError
from ductile.api.deps import bearer, gateway
from ductile.api.schemas import errors
from ductile.events import Event, EventHub
from ductile.redact import redact
from ductile.timeutil import to_text

router = APIRouter(tags=["events"], dependencies=[Depends(bearer)])

HEARTBEAT_ENV = "DUCTILE_SSE_HEARTBEAT"
DEFAULT_HEARTBEAT = 15.0
RETRY_MS = 2000
# How often an idle stream checks whether the server is shutting down.
_TICK = 0.5


def heartbeat_interval() -> float:
    """Seconds between `: keepalive` comments; `$DUCTILE_SSE_HEARTBEAT` overrides (tests use ~0.2)."""
    try:
        return max(0.05, float(os.environ.get(HEARTBEAT_ENV, DEFAULT_HEARTBEAT)))
    except ValueError:
        return DEFAULT_HEARTBEAT


def frame(event_type: str, data: dict[str, Any], event_id: int | None = None) -> bytes:
    """One SSE frame; `id:` only for hub events, so control frames never move the client's cursor."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event_type}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n".encode()


# Frames are encoded once per event, not once per client: keyed by the event object's identity.
_FRAMES: OrderedDict[tuple[int, bool], tuple[Event, bytes]] = OrderedDict()
# Event fields that carry plugin errors or results: sent only to tokens with `jobs:result:ro`.
RESULT_FIELDS = frozenset({"last_error", "error", "message", "text", "final_error", "reason", "result"})
_FRAMES_MAX = 4096
# At most this many queued events go out in one write, so a burst costs one send, not hundreds.
BATCH = 256
# After the first event of a burst, wait this long for more before writing: under load one write
# carries tens of events (a syscall and an ASGI send each, per client, otherwise) and the clients wake
# less often, which on a small box is CPU the dispatcher keeps; idle latency +200 ms.
FLUSH_DELAY = 0.2


def event_frame(event: Event, hide_results: bool = False) -> bytes:
    key = (id(event), hide_results)
    cached = _FRAMES.get(key)
    if cached is not None and cached[0] is event:
        return cached[1]
    at = to_text(datetime.fromtimestamp(event.at, tz=UTC))
    data = event.data
    if hide_results and event.type.startswith(("job.", "poll.")):
        data = {k: v for k, v in data.items() if k not in RESULT_FIELDS}
    # Event data is the gateway's own fields plus whatever a plugin put in an error or payload;
    # none of the gateway's field names is secret-like, so the whole of it goes through the rule.
    body: dict[str, Any] = {"id": event.id, "type": event.type, "at": at, "data": redact(data)}
    if event.node is not None:  # a PostgreSQL cluster: the node that published it
        body["node"] = event.node
    encoded = frame(event.type, body, event.id)
    _FRAMES[key] = (event, encoded)
    if len(_FRAMES) > _FRAMES_MAX:
        _FRAMES.popitem(last=False)
    return encoded


def _parse_last_id(header: str | None, query: str | None) -> int | None:
    raw = header if header not in (None, "") else query
    if raw in (None, ""):
        return None
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ApiError(400, f"invalid Last-Event-ID {raw!r} (accepted: a non-negative integer id from this stream)")
    if value < 0:
        raise ApiError(400, f"invalid Last-Event-ID {raw!r} (accepted: a non-negative integer id from this stream)")
    return value


def _matches(event_type: str, prefixes: tuple[str, ...]) -> bool:
    return not prefixes or any(event_type == p or event_type.startswith(p.rstrip("*")) for p in prefixes)


async def stream(
    hub: EventHub,
    last_id: int | None,
    *,
    boot: str,
    prefixes: tuple[str, ...] = (),
    heartbeat: float = DEFAULT_HEARTBEAT,
    stopping: Any = lambda: False,
    hide_results: bool = False,
) -> AsyncIterator[bytes]:
    """Subscribe first, then replay, so no event falls between the replay and the live tail."""
    sub = hub.subscribe()
    # Snapshot now: events published while the first frames are being sent are already in the
    # subscription queue and must not be skipped as "seen".
    start_id = hub.last_id
    try:
        yield f"retry: {RETRY_MS}\n\n".encode()
        yield frame("stream.open", {"last_id": start_id, "boot": boot, "resumed_from": last_id})
        cursor = start_id if last_id is None else last_id
        if last_id is not None:
            if last_id > await hub.issued():
                # An id this stream never issued: the client saw a previous run of the gateway.
                yield frame(
                    "stream.gap",
                    {"reason": "unknown Last-Event-ID (the gateway restarted); refetch state", "last_id": last_id},
                )
                last_id = 0
            replay = await hub.replay_after(last_id, start_id)
            if replay.gap:
                yield frame(
                    "stream.gap",
                    {
                        "reason": "fell too far behind: events were dropped from the replay buffer; refetch state",
                        "last_id": last_id,
                        "oldest_available": replay.oldest,
                    },
                )
            cursor = last_id
            async for page in replay.pages:
                out = [event_frame(e, hide_results) for e in page if _matches(e.type, prefixes)]
                cursor = max(cursor, page[-1].id)
                if out:
                    yield b"".join(out)
        idle = 0.0
        while True:
            if not await sub.wait(timeout=min(_TICK, heartbeat)):
                if stopping():
                    return
                idle += min(_TICK, heartbeat)
                if idle >= heartbeat:
                    idle = 0.0
                    yield b": keepalive\n\n"
                continue
            if len(sub) < BATCH:
                await asyncio.sleep(FLUSH_DELAY)
            batch = sub.drain(BATCH)
            out: list[bytes] = []
            for event in batch:
                if event.id == -1:  # the hub cut this subscriber off
                    break
                if event.id <= cursor:
                    continue  # already sent from the replay buffer
                cursor = event.id
                if _matches(event.type, prefixes):
                    out.append(event_frame(event, hide_results))
            if out:
                idle = 0.0
                yield b"".join(out)
            if any(e.id == -1 for e in batch):
                yield frame(
                    "stream.lagged",
                    {
                        "reason": "client too slow: its queue overflowed and the stream ends; reconnect with Last-Event-ID",
                        "last_id": cursor,
                    },
                )
                return
    finally:
        sub.close()


@router.get(
    "/events",
    summary="Live event stream (Server-Sent Events)",
    description=(
        "Job transitions, scheduler fires/skips and gateway start/stop, each with an `id:`. Reconnect with "
        "`Last-Event-ID` (or `?last_event_id=`) to resume from the replay buffer. Control events without an id: "
        "`stream.open` (first; carries `last_id` and the gateway's `boot`), `stream.gap` (the replay buffer no "
        "longer holds what you missed: refetch state), `stream.lagged` (you read too slowly; the stream ends). "
        "`: keepalive` comments arrive every ~15 s. `types=job.,scheduler.` filters by type prefix. "
        "Secret-looking values in event data are `***` for every caller (docs/OPERATIONS.md, Secrets)."
    ),
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "The event stream."},
        **errors(400, 401, 403),
    },
    openapi_extra={
        "x-required-scope": "events:ro",
        "parameters": [
            {
                "name": "token",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": 512},
                "description": "The bearer token, for clients that cannot set headers (EventSource); only here.",
            }
        ],
    },
)
async def events(
    request: Request,
    gw: Any = Depends(gateway),
    last_event_id: str | None = Header(default=None, alias="Last-Event-ID"),
    last_event_id_query: str | None = Query(default=None, alias="last_event_id"),
    types: str | None = Query(default=None, description="comma-separated type prefixes, e.g. job.,scheduler."),
) -> StreamingResponse:
    principal = request.app.state.tokens.require(request, "events:ro", allow_query_token=True)
    last_id = _parse_last_id(last_event_id, last_event_id_query)
    prefixes = tuple(p.strip() for p in (types or "").split(",") if p.strip())

    def stopping() -> bool:
        server = getattr(gw, "api_server", None)
        return bool(server is not None and server.should_exit)

    body = stream(
        gw.hub,
        last_id,
        boot=gw.started_at,
        prefixes=prefixes,
        heartbeat=heartbeat_interval(),
        stopping=stopping,
        hide_results=not principal.allows("jobs:result:ro"),
    )
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"},
    )
