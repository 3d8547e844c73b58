"""Submitting one job by hand (`POST /plugin/{plugin}/{command}` through `Gateway.enqueue`,
`ductile plugin run` without a gateway): check the target exists, give a `handle` payload its
event envelope, enqueue, log.

A plain function of a store and a registry, so the CLI can submit without a running gateway;
kept out of `gateway.py` (the composition root), which wakes the dispatcher after it.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from ductile.jobs import EnqueueResult, NewJob
from ductile.pipelines.router import ZERO_TIME
from ductile.registry import Registry
from ductile.store import Store
from ductile.timeutil import add_seconds, to_text, utcnow

# The gateway's logger, as before the move: "job queued" lines keep their `logger` field.
log = logging.getLogger("ductile.gateway")


class UnknownTarget(LookupError):
    """An enqueue named an instance or command that this gateway does not have."""


def submit(
    store: Store,
    registry: Registry,
    *,
    instance: str,
    command: str,
    payload: Any = None,
    submitted_by: str,
    dedupe_key: str | None = None,
    dedupe_ttl: float | None = None,
    context: dict[str, Any] | None = None,
    parent_job_id: str | None = None,
) -> EnqueueResult:
    """Enqueue one job after checking the target exists; `handle` payloads become an event envelope."""
    inst = registry.get(instance)
    if inst is None:
        known = ", ".join(sorted(registry.instances)) or "none"
        raise UnknownTarget(f"unknown plugin {instance!r} (known: {known})")
    if inst.command(command) is None:
        raise UnknownTarget(
            f"plugin {instance!r} has no command {command!r} (known: {', '.join(inst.plugin.manifest.command_names)})"
        )
    now = utcnow()
    if command == "handle" and submitted_by == "api":
        # Ductile's shape (ductile-compat A6/A19): no event_id or source, the zero timestamp
        payload = {"type": "api.trigger", "payload": payload if payload is not None else {}, "timestamp": ZERO_TIME}
    elif command == "handle" and not (isinstance(payload, dict) and "type" in payload and "event_id" in payload):
        payload = {
            "type": "api.trigger" if submitted_by == "api" else f"{submitted_by}.trigger",
            "payload": payload if payload is not None else {},
            "source": submitted_by,
            "timestamp": to_text(now),
            "event_id": str(uuid.uuid4()),
        }
    result = store.enqueue(
        NewJob(
            plugin=instance,
            command=command,
            payload=payload,
            submitted_by=submitted_by,
            max_attempts=inst.spec.retry.max_attempts,
            dedupe_key=dedupe_key,
            context=context,
            parent_job_id=parent_job_id,
        ),
        now=now,
        dedupe_since=add_seconds(now, -dedupe_ttl) if dedupe_ttl else None,
    )
    log.info(
        "job queued" if result.created else "job deduplicated",
        extra={
            "job_id": result.job_id,
            "plugin": instance,
            "command": command,
            "attempt": 1,
            "status": result.status.value,
            "submitted_by": submitted_by,
        },
    )
    return result
