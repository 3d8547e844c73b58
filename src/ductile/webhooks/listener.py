"""The webhook listener: a bare ASGI application on its own socket (spec pipelines.md §7.3).

Checks run in the normative order — path (404) → method (405) → size (413, before any signature
work) → signature (403) → replay window (403) → delivery dedupe (200) → enqueue (202) — and every
refusal is logged with its reason (`too_large`, `missing_signature`, `bad_signature`,
`stale_timestamp`) while the client only ever sees the fixed bodies of §7.3.

The body is read chunk by chunk and reading stops at `max_body_size + 1` bytes (a declared
Content-Length over the limit is refused without reading at all). The listener runs on its own
thread and event loop (`serving.py`), where the enqueue is one synchronous store call: a client
that hangs up cannot cancel it, and the job is announced on the gateway's loop (SSE `job.queued`,
dispatcher wake-up) whether or not anybody still waits for the answer. Bare ASGI rather than FastAPI: the listener has one route shape and no auth, and this is its hot path.
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ductile.jobs import EnqueueResult
from ductile.store.webhooks import WebhookJob
from ductile.timeutil import utcnow
from ductile.webhooks import event, verify
from ductile.webhooks.config import Endpoint, Intake

if TYPE_CHECKING:
    from datetime import datetime

    from ductile.gateway import Gateway

log = logging.getLogger("ductile.webhooks")

READ_TIMEOUT = 10.0  # a request's head and body must arrive within this (Ductile's ReadTimeout)
MAX_DELIVERY_ID = 200  # longer delivery ids are hashed into the dedupe key
TOO_LARGE = "too_large"

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Enqueue = Callable[[Endpoint, WebhookJob], Awaitable[EnqueueResult]]


def _body(status: int, data: dict[str, Any]) -> tuple[int, bytes]:
    return status, json.dumps(data, separators=(",", ":")).encode()


NOT_FOUND = _body(404, {"error": "endpoint not found"})
NOT_ALLOWED = _body(405, {"error": "method not allowed"})
FORBIDDEN = _body(403, {"error": "forbidden"})
PAYLOAD_TOO_LARGE = _body(413, {"error": "payload too large"})
READ_FAILED = _body(500, {"error": "failed to read request body"})
ENQUEUE_FAILED = _body(500, {"error": "failed to enqueue job"})


def dedupe_key(path: str, delivery_id: str) -> str:
    """`webhook:<path>:<delivery id>` (§7.6); an overlong id is replaced by its SHA-256."""
    if len(delivery_id) > MAX_DELIVERY_ID:
        delivery_id = "sha256-" + hashlib.sha256(delivery_id.encode()).hexdigest()
    return f"webhook:{path}:{delivery_id}"


class WebhookApp:
    """The ASGI application. `enqueue` writes the job (the gateway's `Intake.enqueue`);
    `clock` gives `now` for the replay window."""

    def __init__(self, intake: Intake, enqueue: Enqueue, clock: Callable[[], datetime] = utcnow) -> None:
        self.endpoints = intake.endpoints
        self.enqueue = enqueue
        self.clock = clock

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        endpoint = self.endpoints.get(path)
        if endpoint is None:
            await _answer(send, *NOT_FOUND)
            return
        if scope["method"] != "POST":
            await _answer(send, *NOT_ALLOWED, extra=[(b"allow", b"POST")])
            return
        headers = _headers(scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > endpoint.max_body_size:
            self._refused(endpoint, scope, TOO_LARGE, declared=int(declared))
            await _answer(send, *PAYLOAD_TOO_LARGE)
            return
        body = await _read_body(receive, endpoint.max_body_size)
        if body is None:  # the client went away mid-body: nothing to answer, nothing enqueued
            log.info("webhook sender disconnected before the body was complete", extra=_where(endpoint, scope))
            return
        if len(body) > endpoint.max_body_size:
            self._refused(endpoint, scope, TOO_LARGE)
            await _answer(send, *PAYLOAD_TOO_LARGE)
            return
        signature = headers.get(endpoint.signature_header)
        stamp = headers.get(endpoint.timestamp_header) if endpoint.timestamp_header else None
        reason = verify.check(endpoint.rules, body, signature, stamp, now=self.clock())
        if reason is not None:
            self._refused(endpoint, scope, reason.value)
            await _answer(send, *FORBIDDEN)
            return
        delivery = headers.get(endpoint.delivery_id_header, "").strip() if endpoint.delivery_id_header else ""
        stored = event.describe(body)
        job = WebhookJob(
            plugin=endpoint.plugin,
            payload_text=stored.text,
            submitted_by=f"webhook:{path}",
            max_attempts=0,  # filled in by the gateway side (the plugin's retry.max_attempts)
            dedupe_key=dedupe_key(path, delivery) if delivery else None,
        )
        try:
            result = await self.enqueue(endpoint, job)
        except Exception as exc:  # a timeout, a storage fault: the sender may retry
            log.error(
                "webhook enqueue failed", extra={**_where(endpoint, scope), "error": str(exc) or type(exc).__name__}
            )
            await _answer(send, *ENQUEUE_FAILED)
            return
        if not result.created:
            log.info(
                "webhook redelivery answered with the original job",
                extra={**_where(endpoint, scope), "job_id": result.job_id, "delivery": job.dedupe_key},
            )
            await _answer(send, *_body(200, {"job_id": result.job_id, "duplicate": True}))
            return
        if stored.shape in (event.Shape.INVALID, event.Shape.TYPE_ONLY):
            log.warning(
                "webhook body will not reach the plugin as sent",
                extra={
                    **_where(endpoint, scope),
                    "job_id": result.job_id,
                    "shape": stored.shape.value,
                    "problem": stored.problem or "a type without payload: the plugin gets event.payload {}",
                },
            )
        await _answer(send, *_body(202, {"job_id": result.job_id}))

    def _refused(self, endpoint: Endpoint, scope: dict[str, Any], reason: str, **extra: Any) -> None:
        log.warning("webhook refused", extra={**_where(endpoint, scope), "reason": reason, **extra})


def _where(endpoint: Endpoint, scope: dict[str, Any]) -> dict[str, Any]:
    client = scope.get("client")
    return {
        "path": endpoint.path,
        "endpoint": endpoint.label,
        "plugin": endpoint.plugin,
        "remote": f"{client[0]}:{client[1]}" if client else None,
    }


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    """Header name (lower case) → its first value; latin-1 as HTTP/1.1 defines header bytes."""
    out: dict[str, str] = {}
    for name, value in scope["headers"]:
        out.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return out


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The body, or its first `limit + 1` bytes once it is longer (the caller answers 413);
    None when the client disconnected first."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        if chunk:
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                return b"".join(chunks)[: limit + 1]
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _answer(send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})


def bind(intake: Intake, config_path: str) -> list[socket.socket]:
    """The listener's sockets, bound before any job runs; ListenError names `webhooks.listen`."""
    from ductile.api import listen

    return listen.bind(intake, config_path, setting="webhooks.listen", label="webhook listener")


async def serve(gateway: Gateway, intake: Intake, sockets: list[socket.socket]) -> None:
    """Run the listener on `sockets`, on its own thread and loop (`serving`), until the gateway
    sets `webhook_server.should_exit`."""
    from ductile.webhooks import serving

    await serving.serve(gateway, intake, sockets, WebhookApp)
