"""The dispatcher's side of pipelines, kept out of `dispatch.py`: loading a job's context row,
naming a hook's reason, and publishing what a finishing transaction routed (after it commits,
so a listener never sees a child that a rollback took back)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ductile import protocol
from ductile.lifecycle import Outcome
from ductile.pipelines import delivery
from ductile.pipelines.router import Settings, SourceContext

if TYPE_CHECKING:
    from ductile.events import EventHub
    from ductile.executor import RunResult
    from ductile.jobs import Job
    from ductile.registry import Registry
    from ductile.store import Store
    from ductile.store.routing import Routing

log = logging.getLogger("ductile.dispatch")


def load_source(store: Store, job: Job) -> SourceContext | None:
    """The job's event context (None for a root job); a dangling reference fails the job at preflight."""
    if not job.event_context_id:
        return None
    row = store.get_context(job.event_context_id)
    if row is None:
        raise delivery.DeliveryError(
            f"job preflight failed: load event context: context {job.event_context_id} not found"
        )
    return SourceContext(
        id=row["id"],
        pipeline=row["pipeline"],
        step_id=row["step_id"],
        instance_id=row["instance_id"],
        accumulated=row["accumulated"],
    )


def hook_reason(outcome: Outcome, response: protocol.Response | None, run: RunResult) -> str:
    """The hook payload's `reason` (pipelines.md §5.2) for a plugin attempt."""
    if outcome is Outcome.TIMEOUT:
        return "timeout"
    if run.spawn_error:
        return "spawn_error"
    if run.exit_code == protocol.EXIT_CONFIG:
        return "exit_code_78"
    if response is None:
        return "nil_response"
    if outcome is Outcome.FATAL:
        return "plugin_retry_false"
    return "plugin_error"


def default_settings(registry: Registry) -> Settings:
    """Routing settings with no pipelines (tests and tools that build a bare dispatcher)."""
    from ductile.pipelines.compile import EMPTY_GRAPH

    return Settings(
        graph=EMPTY_GRAPH,
        max_attempts={name: inst.spec.retry.max_attempts for name, inst in registry.instances.items()},
    )


def publish_routing(hub: EventHub, routing: Routing) -> None:
    """SSE after the commit: one router.enqueued per child, router.dropped, hook jobs queued."""
    for child in routing.children:
        hub.publish("router.enqueued", child)
    for dropped in routing.dropped:
        hub.publish("router.dropped", dropped)
    if routing.unmatched and log.isEnabledFor(logging.DEBUG):  # a debug-level signal, as in the log
        for unmatched in routing.unmatched:
            hub.publish("router.no_match", unmatched)
    for child in routing.children:
        hub.job_queued(child["job_id"], child["plugin"], child["command"], "route")
    for hook in routing.hooks:
        hub.job_queued(hook["job_id"], hook["plugin"], hook["command"], "hook")
