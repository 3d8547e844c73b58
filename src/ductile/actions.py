"""Operator actions on jobs: what a retry is, and which filters a bulk retry or cancel accepts.

Pure: no store, no clock. A retry is a *new* job linked by `retry_of` (the old job's history
stays exactly as it happened) carrying the old job's plugin, command, payload and pipeline
position, so a retried pipeline step routes onward like the original would have. Its dedupe key
`retry:<old id>` makes a second retry of the same job, while the first is still queued or running
(or, for bulk retries, succeeded within `dedupe_ttl`), return that first retry instead of
running the work twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ductile.api import params
from ductile.jobs import Job, JobQuery, NewJob
from ductile.lifecycle import Status
from ductile.registry import Registry

RETRYABLE = (Status.SUCCEEDED, Status.FAILED, Status.TIMED_OUT, Status.DEAD)
RETRY_DEFAULT = (Status.FAILED, Status.TIMED_OUT, Status.DEAD)
CANCELLABLE = (Status.QUEUED, Status.RUNNING)
SAMPLE = 10
FILTERS = (
    "plugin",
    "command",
    "status",
    "submitted_by",
    "parent_job_id",
    "pipeline",
    "created_after",
    "created_before",
)


class ActionError(ValueError):
    """An action that cannot be done: `status` is the HTTP answer, the message says why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def retry_spec(old: Job, registry: Registry, *, submitted_by: str) -> NewJob:
    """The job that repeats `old`, or ActionError (409) naming why it cannot be retried."""
    if old.status not in RETRYABLE:
        accepted = ", ".join(s.value for s in RETRYABLE)
        raise ActionError(
            409, f"job {old.job_id} is {old.status.value}; only finished jobs ({accepted}) can be retried"
        )
    instance = registry.get(old.plugin)
    if instance is None:
        known = ", ".join(sorted(registry.instances)) or "none"
        raise ActionError(
            409, f"cannot retry {old.job_id}: plugin {old.plugin!r} is not configured now (known: {known})"
        )
    if instance.command(old.command) is None:
        raise ActionError(409, f"cannot retry {old.job_id}: plugin {old.plugin!r} has no command {old.command!r} now")
    return NewJob(
        plugin=old.plugin,
        command=old.command,
        payload=old.payload,
        submitted_by=submitted_by,
        max_attempts=instance.spec.retry.max_attempts,
        dedupe_key=f"retry:{old.job_id}",
        parent_job_id=old.parent_job_id,
        context=old.context,
        event_context_id=old.event_context_id,
        route_key=old.route_key,
        pipeline=old.pipeline,
        step_id=old.step_id,
        retry_of=old.job_id,
    )


def bulk_query(query_params: Mapping[str, str], action: str, cap: int) -> tuple[JobQuery, dict[str, Any]]:
    """The filter of a bulk `retry` or `cancel` (GET /jobs' filters), limited to `cap` jobs, and
    the filter as given (for the audit row). Statuses default to what the action can act on;
    asking for others is a 400 rather than a silent no-op."""
    for name in ("cursor", "limit"):
        if name in query_params:
            raise ActionError(
                400, f"{name}: not accepted by bulk actions (they act on every match, at most {cap} per call)"
            )
    try:
        query = params.job_query(query_params)
    except params.BadParam as exc:
        raise ActionError(400, str(exc)) from None
    allowed, default = (RETRYABLE, RETRY_DEFAULT) if action == "retry" else (CANCELLABLE, CANCELLABLE)
    wrong = [s.value for s in query.statuses if s not in allowed]
    if wrong:
        names = ", ".join(s.value for s in allowed)
        done = {"retry": "retried", "cancel": "cancelled"}[action]
        raise ActionError(400, f"status: {', '.join(wrong)} cannot be {done} (accepted: {names})")
    query = replace(query, statuses=query.statuses or default, limit=cap)
    given = {k: query_params[k] for k in FILTERS if k in query_params}
    given["status"] = ",".join(s.value for s in query.statuses)
    return query, given
