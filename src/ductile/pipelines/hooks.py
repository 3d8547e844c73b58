"""Lifecycle hooks (spec pipelines.md §5): which signal a terminal job sends, its payload, and the
hook jobs it starts. Pure; the store walks the parent chain for the depth cap and inserts the jobs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ductile.lifecycle import Status
from ductile.pipelines.compile import Dispatch, Graph
from ductile.pipelines.predicate import EvaluationError, evaluate
from ductile.pipelines.router import ZERO_TIME

log = logging.getLogger(__name__)

SIGNALS = {
    Status.SUCCEEDED: "job.completed",
    Status.FAILED: "job.failed",
    Status.TIMED_OUT: "job.timed_out",
    Status.DEAD: "job.failed",
}


@dataclass(frozen=True)
class HookFacts:
    """What the dispatcher knows about the finished attempt that the payload reports."""

    result: Any = None  # the response's `result` (job.completed)
    reason: str = (
        "plugin_error"  # plugin_error | plugin_retry_false | exit_code_78 | timeout | spawn_error | nil_response
    )
    recovery: bool = False  # crash recovery marked the job dead


def hook_payload(
    job_id: str, plugin: str, command: str, status: Status, facts: HookFacts, error: str | None, max_attempts: int
) -> dict[str, Any]:
    """§5.2."""
    base: dict[str, Any] = {"job_id": job_id, "plugin": plugin, "command": command, "status": status.value}
    if status is Status.SUCCEEDED:
        base["result"] = facts.result
        return base
    if facts.recovery:
        base["error"] = f"Job marked dead during crash recovery: max attempts ({max_attempts}) reached"
        base["recovery"] = True
        return base
    base["reason"] = facts.reason
    if error:
        base["error"] = error
    return base


def hook_dispatches(graph: Graph, signal: str, plugin: str, payload: dict[str, Any]) -> list[Dispatch]:
    """§5.3 candidates: on-hook == signal, from_plugin, `if` on the payload (errors skip + WARN)."""
    out: list[Dispatch] = []
    for pipeline in graph.hook_pipelines(signal):
        if pipeline.from_plugin and pipeline.from_plugin != plugin:
            continue
        if pipeline.condition is not None:
            try:
                if not evaluate(pipeline.condition, {"payload": payload}):
                    continue
            except EvaluationError as exc:
                log.warning(
                    "hook trigger condition failed; skipped", extra={"pipeline": pipeline.name, "error": str(exc)}
                )
                continue
        out.extend(graph.entry_dispatches(pipeline.name))
    return out


def hook_envelope(signal: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"type": signal, "payload": payload, "timestamp": ZERO_TIME}
