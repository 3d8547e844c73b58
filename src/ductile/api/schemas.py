"""Response models and OpenAPI helpers, so `/openapi.json` describes what handlers really send.

Handlers return plain JSON (building dicts is cheaper than validating models on the hot path);
the models here exist for the document and for tests that check responses against it.
Query parameters are parsed by hand (`api.params`), so their OpenAPI entries are written here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ductile.api.params import LIMIT_DEFAULT, LIMIT_MAX, MAX_TEXT, RFC3339
from ductile.lifecycle import ALL_STATUSES, STATUS_ALIASES

_STATUS_WORDS = "|".join([*ALL_STATUSES, *STATUS_ALIASES])
STATUS_LIST_PATTERN = rf"^ *({_STATUS_WORDS}) *(, *({_STATUS_WORDS}) *)*$"
STATUS_TEXT = (
    f"Native: {', '.join(ALL_STATUSES)}. Aliases: "
    + ", ".join(f"{k}→{v.value}" for k, v in STATUS_ALIASES.items())
    + ". Case-insensitive."
)


class ErrorBody(BaseModel):
    error: str = Field(description="What was wrong and what is accepted.")


class JobSummary(BaseModel):
    """One `GET /jobs` item: exactly the seed card's fields; null times are omitted."""

    model_config = ConfigDict(extra="forbid")
    job_id: str
    plugin: str
    command: str
    status: str = Field(description="queued running succeeded failed timed_out dead skipped")
    created_at: str = Field(description="RFC 3339 UTC")
    started_at: str | None = Field(default=None, description="Omitted until the first attempt starts.")
    completed_at: str | None = Field(default=None, description="Omitted until the job is terminal.")
    attempt: int = Field(ge=1)


class JobList(BaseModel):
    model_config = ConfigDict(extra="forbid")
    jobs: list[JobSummary] = Field(description="Newest first (created_at desc, ties by job_id desc).")
    total: int = Field(ge=0, description="Number of all jobs matching the filters, not the page size.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class EmittedEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_id: str | None = Field(default=None, description="Omitted for events stored before pipelines existed.")
    type: str
    payload: Any = Field(description="As emitted (after `result` injection); secrets `***`.")
    created_at: str
    children: list[str] = Field(description="Ids of the jobs routing started from this event.")


class ChildJob(BaseModel):
    model_config = ConfigDict(extra="forbid")
    job_id: str
    plugin: str
    command: str
    status: str
    pipeline: str | None = Field(default=None, description="Omitted for hook and other non-pipeline children.")
    step_id: str | None = None


class JobDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")
    job_id: str
    status: str
    plugin: str
    command: str
    submitted_by: str
    attempt: int = Field(ge=1)
    created_at: str
    started_at: str | None = None
    completed_at: str | None = None
    last_error: str | None = None
    result: dict[str, Any] | None = Field(default=None, description="The plugin's response, once terminal.")
    parent_job_id: str | None = Field(default=None, description="The job that started this one (routing, hooks).")
    pipeline: str | None = Field(default=None, description="Set when the job is a pipeline step.")
    step_id: str | None = None
    retry_of: str | None = Field(default=None, description="The job this one retries (POST /job/{id}/retry).")
    retried_by: list[str] | None = Field(default=None, description="Retries made of this job, oldest first.")
    events: list[EmittedEvent] = Field(description="Events the job emitted, oldest first.")
    children: list[ChildJob] = Field(description="Direct children, oldest first.")


class TreeItem(BaseModel):
    """One `GET /job/{id}/tree` item; null fields are omitted."""

    model_config = ConfigDict(extra="forbid")
    job_id: str
    parent_job_id: str | None = Field(default=None, description="Omitted for the root of the tree.")
    plugin: str
    command: str
    status: str
    result: Any = Field(
        default=None,
        description="Stored plugin response of the current attempt; only with jobs:result:ro. Secrets `***`.",
    )
    last_error: str | None = Field(default=None, description="Only with jobs:result:ro.")
    started_at: str | None = None
    completed_at: str | None = None


class InstanceOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instance_id: str | None = Field(description="pipeline_instance_id; null for a job without context (hooks).")
    job_id: str = Field(description="The instance's entry job (its tree: GET /job/{id}/tree).")
    status: str = Field(description="running, succeeded, failed, timed_out or dead")
    started_at: str = Field(description="When the entry job was created.")
    completed_at: str | None = Field(default=None, description="Last completion; omitted while running.")
    duration_ms: float = Field(ge=0, description="Start to last completion, or to now while running.")
    job_count: int = Field(ge=1)


class PipelineOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    on: str | None = Field(description="Event type that starts it; null for hook pipelines.")
    on_hook: str | None = Field(description="job.completed, job.failed or job.timed_out; null otherwise.")
    from_plugin: str | None
    execution_mode: str
    steps: list[str] = Field(description="Compiled node ids (switch nodes included).")
    last: InstanceOut | None = Field(description="The most recent instance; null until it first runs.")


class PipelineList(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pipelines: list[PipelineOut]


class AttemptOut(BaseModel):
    job_id: str
    attempt: int
    plugin: str
    command: str
    submitted_by: str
    started_at: str
    completed_at: str | None
    outcome: str | None
    status: str | None = Field(description="The job status this attempt led to.")
    error: str | None = Field(default=None, description="Only with jobs:result:ro.")
    logs: list[dict[str, Any]]
    stderr: str = Field(default="", description="Only with jobs:result:ro.")
    exit_code: int | None
    duration_ms: float | None
    result: dict[str, Any] | None = Field(default=None, description="Only with include_result=true.")


class AttemptList(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attempts: list[AttemptOut] = Field(description="Newest first by started_at.")
    count: int = Field(ge=0, description="Number of records in this response.")


class JobLogOut(AttemptOut):
    model_config = ConfigDict(extra="forbid")
    log_id: str = Field(description="`<job_id>-<attempt>` (Ductile).")
    last_error: str | None = Field(default=None, description="The attempt's error (Ductile's name for it).")


class JobLogList(BaseModel):
    model_config = ConfigDict(extra="forbid")
    logs: list[JobLogOut] = Field(description="Newest first by started_at.")
    total: int = Field(ge=0, description="Records matching the filters (not only this page).")


class PluginSummary(BaseModel):
    name: str = Field(description="Instance name (what you POST to).")
    plugin: str = Field(description="The plugin the instance uses.")
    version: str | None
    description: str | None
    commands: list[str]


class PluginList(BaseModel):
    plugins: list[PluginSummary]


class CommandOut(BaseModel):
    name: str
    type: str = Field(description="read (needs plugin:invoke:ro to invoke) or write (needs plugin:rw)")
    description: str | None
    idempotent: bool | None
    retry_safe: bool | None
    input_schema: dict[str, Any] | None = Field(description="JSON Schema the payload is validated against.")
    output_schema: dict[str, Any] | None = Field(default=None, description="JSON Schema of the result, if declared.")


class ScheduleOut(BaseModel):
    id: str
    command: str
    every_seconds: float | None
    cron: str | None


class PluginDetail(BaseModel):
    name: str
    plugin: str
    version: str | None
    description: str | None
    protocol: int = Field(default=2, description="Plugin protocol version (always 2).")
    concurrency_safe: bool
    parallelism: int
    commands: list[CommandOut]
    schedules: list[ScheduleOut]


class InvokeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    payload: Any = Field(default=None, description="Handed to the plugin; validated against input_schema.")


class PipelineBody(BaseModel):
    """`POST /pipeline/{name}` body; other fields are ignored (as Ductile)."""

    payload: dict[str, Any] | None = Field(
        default=None, description="The entry event's payload (a JSON object); steps read it as `payload.*`."
    )


class Enqueued(BaseModel):
    job_id: str
    status: str
    plugin: str
    command: str
    duplicate: bool = Field(
        default=False, description="true when an Idempotency-Key matched an earlier job; job_id names it."
    )


ERROR_TEXT = {
    400: "Bad input: the message names the parameter (or the body problem: not JSON, too deeply nested, "
    "invalid Unicode) and the accepted values.",
    401: "Missing or invalid bearer token (WWW-Authenticate is set).",
    403: "The token lacks the scope this endpoint needs.",
    404: "Unknown job, plugin or command.",
    409: "The job is already terminal.",
    413: "Request body larger than api.max_body_bytes.",
    415: "A request body whose Content-Type is not JSON.",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody, "description": ERROR_TEXT[code]} for code in codes}


def scoped(scope: str, what: str) -> dict[str, Any]:
    """Operation extras: the scope, stated both machine-readably and in the description."""
    return {"x-required-scope": scope, "description": f"{what}\n\n**Scope:** `{scope}`."}


def query_param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


TEXT_SCHEMA = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT, "pattern": "^[^\\x00]*$"}
TIME_SCHEMA = {"type": "string", "format": "date-time", "pattern": RFC3339}
LIMIT_SCHEMA = {"type": "integer", "minimum": 1, "maximum": LIMIT_MAX, "default": LIMIT_DEFAULT}
