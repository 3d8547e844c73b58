"""What a pipeline step's plugin receives (spec pipelines.md §4) and how a `core.switch` job
decides (§3.7). Pure: the dispatcher passes the job's stored payload and its context row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ductile.pipelines.compile import SWITCH_FALSE, SWITCH_TRUE, Graph
from ductile.pipelines.predicate import EvaluationError, evaluate
from ductile.pipelines.router import SourceContext
from ductile.pipelines.template import WithError, apply_with
from ductile.timeutil import is_rfc3339


class DeliveryError(Exception):
    """The job fails directly (no retry, no hooks): the message is its last_error."""


def request_context(plugin: str, legacy: Mapping[str, Any] | None, ctx: SourceContext | None) -> dict[str, Any]:
    """§4.1."""
    out: dict[str, Any] = {"ductile_plugin": plugin}
    if legacy:
        out.update(legacy)
    if ctx is None:
        return out
    out.update(ctx.accumulated)
    if ctx.pipeline:
        out["ductile_pipeline"] = ctx.pipeline
    if ctx.step_id:
        out["ductile_step_id"] = ctx.step_id
    if ctx.instance_id:
        out["ductile_pipeline_instance_id"] = ctx.instance_id
    if ctx.route_depth > 0:
        out["ductile_route_depth"] = ctx.route_depth
    if ctx.route_max_depth > 0:
        out["ductile_route_max_depth"] = ctx.route_max_depth
    return out


def parse_envelope(stored: Any) -> dict[str, Any]:
    """The stored handle payload read as an event envelope; anything else fails the job."""
    if not isinstance(stored, dict):
        kind = "array" if isinstance(stored, list) else type(stored).__name__
        raise DeliveryError(f"failed to unmarshal event payload: expected a JSON object, got {kind}")
    for key in ("type", "source", "event_id", "dedupe_key", "timestamp"):
        value = stored.get(key)
        if value is not None and not isinstance(value, str):
            raise DeliveryError(f"failed to unmarshal event payload: {key} must be a string, got {value!r}")
    stamp = stored.get("timestamp")
    if stamp and not is_rfc3339(stamp):  # Go's time.Time refuses it (webhook bodies, §7.5)
        raise DeliveryError(f"failed to unmarshal event payload: timestamp {stamp!r} is not RFC 3339")
    return stored


def request_event(stored: Any, context: dict[str, Any], graph: Graph, ctx: SourceContext | None) -> dict[str, Any]:
    """§4.2: raw promotion, context merge (payload wins), then the step's `with` (§4.3)."""
    envelope = parse_envelope(stored)
    etype = envelope.get("type") or ""
    payload = envelope.get("payload")
    if payload is None and not etype:
        payload = {k: v for k, v in envelope.items()}
    if payload is None:
        payload = {}
    if isinstance(payload, dict):
        payload = {**payload}
        for key, value in context.items():
            payload.setdefault(key, value)
        node = graph.node(ctx.pipeline, ctx.step_id) if ctx is not None else None
        if node is not None and node.with_:
            try:
                payload = apply_with(node.with_, payload, context)
            except WithError as exc:
                raise DeliveryError(f"apply with remap for {ctx.pipeline}/{ctx.step_id}: {exc}") from None
    event: dict[str, Any] = {"type": etype, "payload": payload}
    for key in ("dedupe_key", "source"):
        if envelope.get(key):
            event[key] = envelope[key]
    event["timestamp"] = envelope.get("timestamp") or "0001-01-01T00:00:00Z"
    if envelope.get("event_id"):
        event["event_id"] = envelope["event_id"]
    return event


def decide_switch(
    stored: Any,
    graph: Graph,
    ctx: SourceContext | None,
    context: dict[str, Any],
    configs: Mapping[str, Mapping[str, Any]],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """§3.7: (rewritten event to route, result). Raises DeliveryError."""
    pipeline = ctx.pipeline if ctx is not None else ""
    step = ctx.step_id if ctx is not None else ""
    node = graph.node(pipeline, step) if ctx is not None else None
    if node is None or node.kind != "switch" or node.condition is None:
        raise DeliveryError(f"core.switch node {pipeline}/{step} missing condition")
    envelope = parse_envelope(stored)
    scopes: dict[str, Any] = {"payload": envelope.get("payload"), "context": context}
    if node.gated_plugin and node.gated_plugin in configs:
        scopes["config"] = dict(configs[node.gated_plugin])  # ours (O6)
    try:
        matched = evaluate(node.condition, scopes)
    except EvaluationError as exc:
        raise DeliveryError(f"core.switch evaluate condition: {exc}") from None
    etype = SWITCH_TRUE if matched else SWITCH_FALSE
    event = {**envelope, "type": etype}
    return event, {"matched": matched, "event": etype}
