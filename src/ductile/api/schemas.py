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


class Enqueued(BaseModel):
    job_id: str
    status: str
    plugin: str
    command: str
    duplicate: bool = Field(
        default=False, description="true when an Idempotency-Key matched an earlier job; job_id names it."
    )


ERROR_TEXT = {
    400: "Bad input: the message names the parameter and the accepted values.",
    401: "Missing or invalid bearer token (WWW-Authenticate is set).",
    403: "The token lacks the scope this endpoint needs.",
    404: "Unknown job, plugin or command.",
    409: "The job is already terminal.",
    413: "Request body larger than api.max_body_bytes.",
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
