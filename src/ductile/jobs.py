"""Plain values that cross the store boundary: a job, one attempt, a query and its page.

Frozen dataclasses, no behaviour that touches I/O: the store returns them, everyone else reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ductile.lifecycle import Status
from ductile.redact import redact_fields

# The parts of an attempt record that come from the plugin (and so may hold its secrets).
ATTEMPT_PLUGIN_FIELDS = ("error", "logs", "stderr", "result")


@dataclass(frozen=True)
class NewJob:
    plugin: str  # instance name
    command: str
    payload: Any = None
    submitted_by: str = "api"
    max_attempts: int = 4
    dedupe_key: str | None = None
    parent_job_id: str | None = None
    context: dict[str, Any] | None = None
    # Pipeline lineage (all None for a job outside pipelines and routing):
    source_event_id: str | None = None  # event_id of the routed event that started this job
    event_context_id: str | None = None  # its event_contexts row (pipeline steps only)
    route_key: str | None = None  # "<pipeline>/<step_id>"; "" for other routed or hook children
    pipeline: str | None = None
    step_id: str | None = None
    retry_of: str | None = None  # the job this one repeats (POST /job/{id}/retry, bulk retry)


@dataclass(frozen=True)
class EnqueueResult:
    job_id: str
    created: bool  # False: a duplicate; job_id names the job it duplicates
    status: Status


@dataclass(frozen=True)
class Job:
    job_id: str
    plugin: str
    command: str
    payload: Any
    status: Status
    attempt: int
    max_attempts: int
    submitted_by: str
    dedupe_key: str | None
    created_at: str
    started_at: str | None
    completed_at: str | None
    next_retry_at: str | None
    last_error: str | None
    parent_job_id: str | None
    context: dict[str, Any] | None = None
    source_event_id: str | None = None
    event_context_id: str | None = None
    route_key: str | None = None
    pipeline: str | None = None
    step_id: str | None = None

    def summary(self) -> dict[str, Any]:
        """The seed card's list item: null times are omitted."""
        out: dict[str, Any] = {
            "job_id": self.job_id,
            "plugin": self.plugin,
            "command": self.command,
            "status": self.status.value,
            "created_at": self.created_at,
            "attempt": self.attempt,
        }
        if self.started_at:
            out["started_at"] = self.started_at
        if self.completed_at:
            out["completed_at"] = self.completed_at
        return out


@dataclass(frozen=True)
class AttemptRecord:
    """What the dispatcher learned from one run, handed to the store to record."""

    outcome: str
    started_at: str
    completed_at: str
    duration_ms: float
    response: dict[str, Any] | None = None
    error: str | None = None
    logs: list[dict[str, str]] = field(default_factory=list)
    stderr: str = ""
    exit_code: int | None = None


@dataclass(frozen=True)
class Attempt:
    job_id: str
    attempt: int
    plugin: str
    command: str
    submitted_by: str
    started_at: str
    completed_at: str | None
    outcome: str | None
    status: str | None  # the job status this attempt led to
    response: dict[str, Any] | None
    error: str | None
    logs: list[dict[str, str]]
    stderr: str
    exit_code: int | None
    duration_ms: float | None

    def as_dict(self, include_result: bool = True) -> dict[str, Any]:
        out = {
            "job_id": self.job_id,
            "attempt": self.attempt,
            "plugin": self.plugin,
            "command": self.command,
            "submitted_by": self.submitted_by,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "outcome": self.outcome,
            "status": self.status,
            "error": self.error,
            "logs": self.logs,
            "stderr": self.stderr,
            "exit_code": self.exit_code,
            "duration_ms": self.duration_ms,
        }
        if include_result:
            out["result"] = self.response
        return out

    def redacted(self, include_result: bool = True) -> dict[str, Any]:
        """`as_dict` as every read surface shows it: the plugin-provided fields (error, log lines,
        stderr, result) through the redaction rule (`ductile.redact`)."""
        return redact_fields(self.as_dict(include_result), ATTEMPT_PLUGIN_FIELDS)


@dataclass(frozen=True)
class Transition:
    job_id: str
    from_status: str | None
    to_status: str
    reason: str
    at: str


@dataclass(frozen=True)
class StateChange:
    """How a successful job changes its instance's state: merge keys, or replace (fact_outputs)."""

    data: dict[str, Any]
    replace: bool = False
    fact_type: str | None = None


@dataclass(frozen=True)
class JobQuery:
    plugin: str | None = None
    command: str | None = None
    statuses: tuple[Status, ...] = ()
    submitted_by: str | None = None
    created_after: str | None = None
    created_before: str | None = None
    after: tuple[str, str] | None = None  # keyset position (created_at, job_id) of the last row seen
    limit: int = 50
    parent_job_id: str | None = None  # direct children of this job
    pipeline: str | None = None  # jobs that are steps of this pipeline

    @property
    def lineage(self) -> bool:
        """A lineage filter is set: totals come from the rows, not the job_counts tables."""
        return self.parent_job_id is not None or self.pipeline is not None


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    total: int
    next_position: tuple[str, str] | None


@dataclass(frozen=True)
class SummaryPage:
    """A `GET /jobs` page as the seed card's dicts (see `Job.summary`), built straight from rows."""

    items: list[dict[str, Any]]
    total: int
    next_position: tuple[str, str] | None


@dataclass(frozen=True)
class AttemptQuery:
    job_id: str | None = None
    plugin: str | None = None
    command: str | None = None
    statuses: tuple[str, ...] = ()  # the job status each attempt led to; any of these
    submitted_by: str | None = None
    since: str | None = None
    until: str | None = None
    text: str | None = None
    limit: int = 50


@dataclass(frozen=True)
class ScheduleState:
    instance: str
    schedule_id: str
    next_slot: str | None
    next_fire: str | None
    last_fired: str | None
    last_job_id: str | None
    # Entry status (pipelines.md §9.6): active | paused_manual | paused_invalid | exhausted.
    status: str = "active"
    reason: str | None = None
    paused_by: str | None = None
    paused_at: str | None = None
    command: str | None = None  # the command the plan was made for; another one starts over
    definition: str | None = None  # one-shot value behind next_slot, or the one that fired (O13)
    updated_at: str | None = None


@dataclass(frozen=True)
class BulkAction:
    """One audit row: who ran which bulk action on which filter, and what it did."""

    action: str
    actor: str
    filter: dict[str, Any]
    matched: int
    acted: int
    skipped: int
    job_ids: list[str]
    created_at: str = ""
    id: int | None = None

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": self.action,
            "actor": self.actor,
            "filter": self.filter,
            "matched": self.matched,
            "acted": self.acted,
            "skipped": self.skipped,
            "job_ids": self.job_ids,
            "created_at": self.created_at,
        }
