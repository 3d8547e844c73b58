"""Routing decisions (spec pipelines.md §3): what children one completed job's events produce.

Pure: the store hands in the graph, the source job's context and the events, and applies the
answer inside the transaction that records the parent's success. Reads the store must make in
between (admission replay, existing children) stay in the store; this module never sees a database.
"""

from __future__ import annotations

import copy
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ductile.pipelines.baggage import CONTEXT_LIMIT, BaggageError, ContextTooLarge, apply_claims, check_size
from ductile.pipelines.compile import STEP_SUCCEEDED, Dispatch, Graph, Pipeline
from ductile.pipelines.predicate import EvaluationError, evaluate
from ductile.timeutil import to_text

log = logging.getLogger(__name__)
ZERO_TIME = "0001-01-01T00:00:00Z"
HOOK_SUBMITTER = "hook"
ROUTE_SUBMITTER = "route"


class RoutingError(Exception):
    """Routing of one event failed: the parent job fails with `failed to route events: ...`."""


@dataclass(frozen=True)
class Settings:
    """What routing needs from the config besides the graph."""

    graph: Graph
    max_attempts: Mapping[str, int] = field(default_factory=dict)  # plugin instance → retry.max_attempts
    max_chain_depth: int = 20
    dedupe_ttl: float = 86400.0
    hook_max_depth: int = 4
    notify: frozenset[str] = frozenset()  # instances with notify_on_complete

    def attempts_for(self, plugin: str) -> int:
        return self.max_attempts.get(plugin, 1 if plugin == "core.switch" else 4)


@dataclass(frozen=True)
class SourceContext:
    """The source job's event_contexts row (only pipeline steps have one)."""

    id: str
    pipeline: str
    step_id: str
    instance_id: str
    accumulated: dict[str, Any]

    @property
    def control(self) -> dict[str, Any]:
        value = self.accumulated.get("ductile")
        return value if isinstance(value, dict) else {}

    @property
    def route_depth(self) -> int:
        return int(self.control.get("route_depth") or 0)

    @property
    def route_max_depth(self) -> int:
        return int(self.control.get("route_max_depth") or 0)

    @property
    def chain_depth(self) -> int:
        return int(self.control.get("chain_depth") or 1)


@dataclass(frozen=True)
class Candidate:
    """One dispatch an event produces, with the instance and budgets its job will carry."""

    dispatch: Dispatch
    instance_id: str
    route_depth: int
    route_max_depth: int
    chain_depth: int
    root_trigger: bool  # a new pipeline instance (vs a transition or call inside one)


@dataclass(frozen=True)
class Dropped:
    pipeline: str
    reason: str


def events_to_route(events: list[dict[str, Any]], result: Any, is_step: bool) -> list[dict[str, Any]]:
    """§3.1.2: result injection into emitted events, or the synthetic step event for a silent step."""
    if events:
        out = []
        blank = result is None or (isinstance(result, str) and not result.strip())
        for event in events:
            event = dict(event)
            if not blank:
                payload = event.get("payload")
                if payload is None:
                    payload = {}
                if isinstance(payload, dict) and "result" not in payload:
                    payload = {**payload, "result": result}
                event["payload"] = payload
            out.append(event)
        return out
    if is_step:
        return [{"type": STEP_SUCCEEDED, "payload": {"result": result}}]
    return []


def stamp(event: dict[str, Any], now: datetime, plugin: str) -> dict[str, Any]:
    """§3.2a: event_id, timestamp and source filled when empty. Returns the stored envelope."""
    out: dict[str, Any] = {"type": event.get("type") if isinstance(event.get("type"), str) else ""}
    out["payload"] = event.get("payload")
    dedupe = event.get("dedupe_key")
    if isinstance(dedupe, str) and dedupe.strip():
        out["dedupe_key"] = dedupe.strip()
    out["source"] = event.get("source") or plugin
    ts = event.get("timestamp")
    out["timestamp"] = ts if isinstance(ts, str) and ts and ts != ZERO_TIME else to_text(now)
    event_id = event.get("event_id")
    out["event_id"] = event_id if isinstance(event_id, str) and event_id else str(uuid.uuid4())
    return out


def candidates(
    graph: Graph,
    event: dict[str, Any],
    source_plugin: str,
    source: SourceContext | None,
    *,
    max_chain_depth: int,
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> tuple[list[Candidate], list[Dropped]]:
    """§3.2c-e: transitions then root triggers, duplicates removed. Raises RoutingError."""
    etype = event.get("type") or ""
    if not etype.strip():
        raise RoutingError('resolve routes for event "": event.type is required')
    out: list[Candidate] = []
    dropped: list[Dropped] = []
    if source is not None and source.pipeline and source.step_id and source.instance_id:
        pipeline = graph.get(source.pipeline)
        budget = source.route_max_depth or (pipeline.max_depth if pipeline else 0)
        if budget == 0 or source.route_depth < budget:
            for d in graph.successors(source.pipeline, source.step_id, etype):
                dest = graph.get(d.pipeline)
                out.append(
                    Candidate(
                        dispatch=d,
                        instance_id=source.instance_id,
                        route_depth=source.route_depth + 1,
                        route_max_depth=source.route_max_depth or (dest.max_depth if dest else 0),
                        chain_depth=source.chain_depth,
                        root_trigger=False,
                    )
                )
    payload = event.get("payload")
    scopes = {"payload": payload, "context": source.accumulated if source is not None else {}}
    chain = (source.chain_depth + 1) if source is not None else 1
    for pipeline in graph.root_triggers(etype):
        if not trigger_matches(pipeline, source_plugin, scopes):
            continue
        if chain > max_chain_depth:
            log.warning(
                "chain depth exceeded",
                extra={"pipeline": pipeline.name, "chain_depth": chain, "max_chain_depth": max_chain_depth},
            )
            dropped.append(Dropped(pipeline.name, "chain depth exceeded"))
            continue
        instance = new_id()
        for d in graph.entry_dispatches(pipeline.name):
            out.append(
                Candidate(
                    dispatch=d,
                    instance_id=instance,
                    route_depth=1,
                    route_max_depth=pipeline.max_depth,
                    chain_depth=chain,
                    root_trigger=True,
                )
            )
    unique: list[Candidate] = []
    seen: set[tuple[str, str, str, str, str]] = set()
    for c in out:
        key = (c.dispatch.pipeline, c.dispatch.step_id, c.instance_id, c.dispatch.plugin, c.dispatch.command)
        if key not in seen:
            seen.add(key)
            unique.append(c)
    return unique, dropped


def trigger_matches(pipeline: Pipeline, source_plugin: str, scopes: Mapping[str, Any]) -> bool:
    """from_plugin, then `if` (an evaluation error skips this route with a WARN, §2.5)."""
    if pipeline.from_plugin and pipeline.from_plugin != source_plugin.strip():
        return False
    if pipeline.condition is None:
        return True
    try:
        return evaluate(pipeline.condition, scopes)
    except EvaluationError as exc:
        log.warning(
            "pipeline trigger condition failed; route skipped", extra={"pipeline": pipeline.name, "error": str(exc)}
        )
        return False


def child_envelope(event: dict[str, Any], source_plugin: str, source: SourceContext | None) -> dict[str, Any]:
    """§4.2: the stored payload of a routed child: the envelope with upstream keys set-if-absent."""
    envelope = copy.deepcopy(event)
    payload = envelope.get("payload")
    if payload is None:
        payload = {}
    if isinstance(payload, dict):
        payload.setdefault("ductile_upstream_plugin", source_plugin)
        if source is not None and source.pipeline and source.step_id:
            payload.setdefault("ductile_upstream_pipeline", source.pipeline)
            payload.setdefault("ductile_upstream_step_id", source.step_id)
    envelope["payload"] = payload
    return envelope


def control(instance_id: str, route_depth: int, route_max_depth: int, chain_depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {"pipeline_instance_id": instance_id, "route_depth": route_depth}
    if route_max_depth > 0:
        out["route_max_depth"] = route_max_depth
    out["chain_depth"] = chain_depth
    return out


@dataclass(frozen=True)
class ContextRow:
    id: str
    parent_id: str | None
    pipeline: str
    step_id: str
    instance_id: str
    accumulated: dict[str, Any]


def plan_contexts(
    c: Candidate,
    graph: Graph,
    source: SourceContext | None,
    payload: Any,
    roots: dict[tuple[str, str], ContextRow],
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> list[ContextRow]:
    """§3.5: the rows to insert for one dispatch: maybe its instance root (once per pipeline and
    instance per routing pass, cached in `roots`), then the step's own row. Raises RoutingError."""
    d = c.dispatch
    rows: list[ContextRow] = []
    if source is not None and source.pipeline == d.pipeline and source.instance_id == c.instance_id:
        parent_id, parent_acc = source.id, source.accumulated
    else:
        root = roots.get((d.pipeline, c.instance_id))
        if root is None:
            if source is not None and not c.root_trigger:
                # ours (O3): a call's callee starts from the caller's context and hangs under it
                base = {k: v for k, v in source.accumulated.items() if k != "ductile"}
                parent = source.id
            else:
                base, parent = {}, None
            depth0 = c.route_depth - 1
            root = ContextRow(
                id=new_id(),
                parent_id=parent,
                pipeline=d.pipeline,
                step_id="",
                instance_id=c.instance_id,
                accumulated={**base, "ductile": control(c.instance_id, depth0, c.route_max_depth, c.chain_depth)},
            )
            roots[(d.pipeline, c.instance_id)] = root
            rows.append(root)
        parent_id, parent_acc = root.id, root.accumulated
    node = graph.node(d.pipeline, d.step_id)
    accumulated = {k: v for k, v in parent_acc.items() if k != "ductile"}
    if node is not None and node.baggage is not None:
        try:
            claimed = apply_claims(node.baggage, payload, {k: v for k, v in parent_acc.items() if k != "ductile"})
        except BaggageError as exc:
            raise RoutingError(f"apply baggage claims for {d.pipeline}:{d.step_id}: {exc}") from exc
        accumulated = claimed
    accumulated["ductile"] = control(c.instance_id, c.route_depth, c.route_max_depth, c.chain_depth)
    try:
        check_size(accumulated)
    except ContextTooLarge as exc:
        raise RoutingError(
            f"create event context for {d.pipeline}:{d.step_id}: accumulated context exceeds max size "
            f"({CONTEXT_LIMIT} bytes)"
        ) from exc
    rows.append(ContextRow(new_id(), parent_id, d.pipeline, d.step_id, c.instance_id, accumulated))
    return rows
