"""Planning a `POST /pipeline/{name}` start (spec pipelines.md §6.1 steps 4-9). Pure: answers what
to write, or the exact error the API returns; the API writes nothing before this succeeds."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from ductile.pipelines.baggage import CONTEXT_LIMIT, BaggageError, ContextTooLarge, apply_claims, check_size
from ductile.pipelines.compile import Graph, Pipeline
from ductile.pipelines.router import ZERO_TIME, ContextRow, Settings, control
from ductile.store.routing import EntryJob

SYNC_FANOUT = (
    "synchronous pipeline trigger requires exactly one entry dispatch; use ?async=true for fan-out entry pipelines"
)


class EntryError(Exception):
    def __init__(self, status: int, body: dict[str, Any]):
        super().__init__(body.get("error", ""))
        self.status = status
        self.body = body


def plan_entries(
    graph: Graph,
    pipeline: Pipeline,
    payload: dict[str, Any] | None,
    settings: Settings,
    *,
    synchronous: bool,
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> list[EntryJob]:
    """Entry jobs with their context rows: one instance, a root row per pipeline the entries belong
    to (an entry `call` starts in the callee), and one row per entry with its root claims."""
    event = {"type": pipeline.on or pipeline.on_hook, "payload": payload if payload is not None else {}}
    event["timestamp"] = ZERO_TIME
    dispatches = graph.entry_dispatches(pipeline.name)
    if not dispatches:
        raise EntryError(500, {"error": "pipeline has no entry points"})
    if synchronous and len(dispatches) != 1:
        raise EntryError(400, {"error": SYNC_FANOUT})
    instance = new_id()
    budget = pipeline.max_depth
    roots: dict[str, ContextRow] = {}
    out: list[EntryJob] = []
    for d in dispatches:
        node = graph.node(d.pipeline, d.step_id)
        claims: dict[str, Any] = {}
        if node is not None and node.baggage is not None:
            try:
                claims = apply_claims(node.baggage, event["payload"], {})
            except ContextTooLarge as exc:
                raise _too_large(exc) from None
            except BaggageError as exc:
                raise EntryError(
                    400,
                    {"error": f"root baggage claims failed: apply baggage claims for {d.pipeline}:{d.step_id}: {exc}"},
                ) from None
        accumulated = {**claims, "ductile": control(instance, 1, budget, 1)}
        try:
            check_size(accumulated)
        except ContextTooLarge as exc:
            raise _too_large(exc) from None
        rows: list[ContextRow] = []
        root = roots.get(d.pipeline)
        if root is None:
            root = ContextRow(new_id(), None, d.pipeline, "", instance, {"ductile": control(instance, 0, budget, 1)})
            roots[d.pipeline] = root
            rows.append(root)
        rows.append(ContextRow(new_id(), root.id, d.pipeline, d.step_id, instance, accumulated))
        out.append(
            EntryJob(
                contexts=tuple(rows),
                plugin=d.plugin,
                command=d.command,
                payload=event,
                max_attempts=settings.attempts_for(d.plugin),
                pipeline=d.pipeline,
                step_id=d.step_id,
            )
        )
    return out


def _too_large(exc: ContextTooLarge) -> EntryError:
    body = {
        "error": "pipeline baggage exceeds maximum context size",
        "bytes_actual": exc.bytes_actual,
        "bytes_limit": CONTEXT_LIMIT,
    }
    return EntryError(413, body)
