"""The configuration's schema: frozen pydantic models, one per section, with the validators that
name what is wrong and what is accepted. Reading, merging and reporting are in `config.py`, which
re-exports these names (import them from `ductile.config`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from ductile.config_compat import KNOWN_SCOPES, derived_token_name
from ductile.cron_fields import cron_problems
from ductile.durations import format_duration, parse_duration
from ductile.manifest import NAME_PATTERN
from ductile.webhooks.config import ListenAddress, WebhooksConfig, valid_listen

SCOPES = KNOWN_SCOPES  # Ductile's vocabulary; an unknown scope is a warning (config_compat), never an error
ONE_SPEC = (
    "exactly one of 'every', 'cron', 'at' or 'after' is required "
    "(accepted: every: 5m, cron: '0 * * * *', at: '2026-06-01T07:30:00+10:00', or after: 10m)"
)
TRIGGERS = ("every", "cron", "at", "after")
ONE_SECRET = "exactly one of 'token' or 'token_sha256' is required"


def duplicate_schedule_id(schedule_id: Any) -> str:
    return f"schedule id {schedule_id!r} is used twice (accepted: unique ids per instance)"


def _repeated(values: list[Any]) -> list[Any]:
    seen: list[Any] = []
    out: list[Any] = []
    for value in values:
        if value in seen and value not in out:
            out.append(value)
        seen.append(value)
    return out


# Seconds inside the program; the config's own notation (`30s`, `1h30m`) when dumped as JSON (`config show`).
_AS_TEXT = PlainSerializer(format_duration, return_type=str, when_used="json")
Duration = Annotated[float, BeforeValidator(lambda v: parse_duration(v)), _AS_TEXT]
OptionalDuration = Annotated[float, BeforeValidator(lambda v: parse_duration(v, allow_zero=True)), _AS_TEXT]
Interval = Annotated[float, BeforeValidator(lambda v: parse_duration(v, allow_named=True)), _AS_TEXT]


def _default_workers() -> int:
    return max(1, (os.cpu_count() or 2) - 1)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScheduleHealthConfig(_Model):
    """`service.schedule_health`: when a schedule counts as late, failing or stale (OPERATIONS.md)."""

    late_after: Duration = 60.0
    failing_after: int = Field(default=3, ge=1, le=1000)
    stale_after: float = Field(default=3.0, gt=0, le=1000)


class ServiceConfig(_Model):
    name: str = "ductile"
    log_level: Literal["debug", "info", "warn", "warning", "error"] = "info"
    log_format: Literal["json", "text"] = "json"
    max_workers: int = Field(default_factory=_default_workers, ge=1, le=1024)
    dedupe_ttl: Duration = 86400.0
    job_retention: dict[str, Duration] = Field(default_factory=lambda: {"default": 30 * 86400.0})
    plugin_env_passthrough: list[str] = Field(default_factory=list)
    allow_symlinks: bool = False
    kill_grace: Duration = 5.0
    drain_grace: OptionalDuration = 30.0
    # Pipelines (spec pipelines.md §3.6, §5.1): bound root-trigger chains and hook-on-hook chains.
    max_chain_depth: int = Field(default=20, ge=1, le=10000)
    hook_max_depth: int = Field(default=4, ge=0, le=1000)
    breaker_transitions_retention: Duration = 90 * 86400.0  # circuit breaker history (pipelines.md §8)
    schedule_health: ScheduleHealthConfig = Field(default_factory=ScheduleHealthConfig)

    @field_validator("hook_max_depth")
    @classmethod
    def _hook_depth(cls, value: int) -> int:
        return value or 4  # 0 means the default, as in Ductile

    @field_validator("job_retention", mode="before")
    @classmethod
    def _retention(cls, value: Any) -> Any:
        if isinstance(value, str | int | float):
            return {"default": value}
        if isinstance(value, dict):
            allowed = {"default", "queued", "running", "succeeded", "failed", "timed_out", "dead", "skipped"}
            unknown = sorted(set(value) - allowed)
            if unknown:
                raise ValueError(f"unknown status {unknown[0]!r} (accepted: {', '.join(sorted(allowed))})")
            return {"default": 30 * 86400.0, **value}
        raise ValueError("must be a duration or a map of status → duration")


class DatabaseConfig(_Model):
    path: str = "./data/ductile.db"
    url: str | None = None
    # PostgreSQL only (docs/SCALING.md): connections per node, and how long a node may miss
    # heartbeats before another node recovers its running jobs.
    pool_size: int = Field(default=4, ge=1, le=100)
    heartbeat: Duration = 2.0
    node_lease: Duration = 15.0
    node_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._:-]{1,100}$")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite:", "postgresql://", "postgres://")):
            shown = value.split("@")[-1] if "@" in value else value  # never echo a password
            raise ValueError(
                f"database url {shown!r} is not supported (accepted: sqlite:///path or postgresql://user@host/db)"
            )
        return value

    @model_validator(mode="after")
    def _lease(self) -> DatabaseConfig:
        if self.node_lease < 2 * self.heartbeat:
            raise ValueError(
                f"node_lease ({self.node_lease:g}s) must be at least twice heartbeat ({self.heartbeat:g}s), "
                "or a live node could be taken for dead between two heartbeats"
            )
        return self

    @property
    def postgres(self) -> bool:
        return self.url is not None and self.url.startswith(("postgresql://", "postgres://"))


class RetryConfig(_Model):
    max_attempts: int = Field(default=4, ge=1, le=100)
    backoff_base: Duration = 30.0


class CircuitBreakerConfig(_Model):
    """`plugins.<p>.circuit_breaker` (pipelines.md §8): scheduled runs of a (plugin, command) stop
    after `threshold` consecutive failures, for `reset_after`, then one trial run decides."""

    threshold: int = Field(default=3, le=1_000_000)
    reset_after: Duration = 30 * 60.0

    @field_validator("threshold", mode="before")
    @classmethod
    def _threshold(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be a whole number of consecutive failures, got {value!r} (≤ 0 means 3)")
        return value if value > 0 else 3  # Ductile's rule: ≤ 0 means the default


class ScheduleConfig(_Model):
    id: str = Field(default="default", pattern=NAME_PATTERN)
    command: str = Field(default="poll", pattern=NAME_PATTERN)
    payload: dict[str, Any] = Field(default_factory=dict)
    every: Interval | None = None
    cron: str | None = None
    timezone: str | None = None
    jitter: OptionalDuration = 0.0
    if_running: Literal["skip", "queue", "cancel"] = "skip"
    catch_up: Literal["skip", "run_once", "run_all"] = "skip"
    # One-shots and windows (pipelines.md §9.2, §9.3); checked in ductile.scheduler.windows/oneshot.
    at: str | None = None
    after: Duration | None = None
    only_between: str | None = None
    not_on: list[int] | None = None

    @field_validator("at", mode="before")
    @classmethod
    def _at(cls, value: Any) -> Any:
        from ductile.scheduler.oneshot import parse_at

        if value is None:
            return value
        if hasattr(value, "isoformat"):  # YAML reads an unquoted timestamp as a datetime
            value = value.isoformat()
        parse_at(value)
        return value

    @field_validator("only_between")
    @classmethod
    def _only_between(cls, value: str | None) -> str | None:
        from ductile.scheduler.windows import parse_window

        if value is not None:
            parse_window(value)
        return value

    @field_validator("not_on", mode="before")
    @classmethod
    def _not_on(cls, value: Any) -> Any:
        from ductile.scheduler.windows import parse_days

        return None if value is None else sorted(parse_days(value))

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return value
        problems = cron_problems(value)
        if problems:
            raise ValueError(f"invalid cron expression {value!r}: {'; '.join(problems)}")
        if not croniter.is_valid(value):  # a guard: the scheduler must be able to read what we accepted
            raise ValueError(f"invalid cron expression {value!r} (accepted: 5 fields, e.g. '*/15 * * * *')")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown timezone {value!r} (accepted: an IANA name such as Europe/Berlin or UTC)")
        return value

    @field_validator("command")
    @classmethod
    def _not_handle(cls, value: str) -> str:
        if value == "handle":
            raise ValueError("'handle' cannot be scheduled (accepted: any other command, usually poll)")
        return value

    @model_validator(mode="after")
    def _one_spec(self) -> ScheduleConfig:
        if sum(getattr(self, key) is not None for key in TRIGGERS) != 1:
            raise ValueError(ONE_SPEC)
        return self

    @property
    def mode(self) -> str:
        """Which trigger this entry has: every, cron, at or after (Ductile's `mode` in /scheduler/jobs)."""
        return next(key for key in TRIGGERS if getattr(self, key) is not None)

    @property
    def one_shot(self) -> bool:
        return self.at is not None or self.after is not None


class PluginInstanceConfig(_Model):
    enabled: bool = True
    uses: str | None = Field(default=None, pattern=NAME_PATTERN)
    config: dict[str, Any] = Field(default_factory=dict)
    schedules: list[ScheduleConfig] = Field(default_factory=list)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    timeouts: dict[str, Duration] = Field(default_factory=dict)
    parallelism: int | None = Field(default=None, ge=1, le=1024)
    max_outstanding_polls: int = Field(default=1, ge=1, le=1000)
    notify_on_complete: bool = False  # root jobs of this instance fire on-hook pipelines (pipelines.md §5)
    circuit_breaker: CircuitBreakerConfig = Field(default_factory=CircuitBreakerConfig)

    @field_validator("config", mode="before")
    @classmethod
    def _none_config(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("schedules")
    @classmethod
    def _unique_schedule_ids(cls, value: list[ScheduleConfig]) -> list[ScheduleConfig]:
        dupes = _repeated([s.id for s in value])
        if dupes:  # every repeated id is also reported by _shape_checks, whatever else is wrong
            raise ValueError(duplicate_schedule_id(dupes[0]))
        return value


class ApiToken(_Model):
    name: str  # optional in the file (Ductile has none): derived from the token's digest
    token: str | None = Field(default=None, min_length=8)
    token_sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    scopes: list[str] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _derive_name(cls, value: Any) -> Any:
        if isinstance(value, dict) and value.get("name") is None and (value.get("token") or value.get("token_sha256")):
            return {**value, "name": derived_token_name(value)}
        return value

    @model_validator(mode="after")
    def _one_secret(self) -> ApiToken:
        if (self.token is None) == (self.token_sha256 is None):
            raise ValueError(ONE_SECRET)
        return self

    @property
    def digest(self) -> bytes:
        if self.token_sha256 is not None:
            return bytes.fromhex(self.token_sha256)
        return hashlib.sha256((self.token or "").encode()).digest()


class ApiAuth(_Model):
    tokens: list[ApiToken] = Field(default_factory=list)


class MetricsConfig(_Model):
    """`api.metrics`: Prometheus `/metrics` on the API listener (docs/OPERATIONS.md#metrics)."""

    enabled: bool = True
    public: bool = False  # true: no token needed (only for an API on a private address)


class ApiMcpConfig(_Model):
    """`api.mcp`: the MCP server on the API (streamable HTTP at `/mcp`, docs/AGENTS.md)."""

    enabled: bool = False
    max_result_bytes: int = Field(default=16_000, ge=1000)


class ApiUiConfig(_Model):
    """`api.ui`: the web dashboard at `/ui` (docs/DASHBOARD.md): same listener, tokens and scopes."""

    enabled: bool = True
    session_ttl: Duration = 12 * 3600.0  # a session idle this long ends (the token must be entered again)


class ApiConfig(ListenAddress, _Model):
    enabled: bool = False
    listen: str = "127.0.0.1:8080"
    auth: ApiAuth = Field(default_factory=ApiAuth)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # HTTP limits (docs/CONFIG.md `api`), enforced by ductile.api.server before any handler runs.
    idle_timeout: Duration = 5.0
    read_timeout: Duration = 30.0
    max_connections: int = Field(default=256, ge=1)
    max_header_count: int = Field(default=100, ge=16, le=10000)
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    max_url_bytes: int = Field(default=8 * 1024, ge=256)
    max_concurrent_sync: int = 10  # synchronous POST /pipeline waits at once; <= 0 means 10
    max_sync_timeout: OptionalDuration = 0.0  # caps a pipeline's timeout for synchronous calls; 0 = no cap
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    bulk_max: int = Field(default=1000, ge=1, le=100000)  # jobs one POST /jobs/retry|cancel acts on

    @field_validator("max_concurrent_sync")
    @classmethod
    def _sync_slots(cls, value: int) -> int:
        return value if value > 0 else 10

    allowed_origins: list[str] = Field(default_factory=list)  # CORS, exact origins (Ductile's C9)
    # Peers whose X-Forwarded-For / -Proto are believed (docs/CONFIG.md `api`); None = uvicorn's
    # default, the FORWARDED_ALLOW_IPS variable or else 127.0.0.1.
    trusted_proxies: list[str] | None = None
    mcp: ApiMcpConfig = Field(default_factory=ApiMcpConfig)
    ui: ApiUiConfig = Field(default_factory=ApiUiConfig)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        return valid_listen(value, "127.0.0.1:8080")

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        bad = []
        for entry in value:
            try:
                if entry != "*":
                    ipaddress.ip_network(entry, strict=False)
            except ValueError:
                bad.append(repr(entry))
        if bad:
            raise ValueError(
                f"invalid trusted prox{'ies' if len(bad) > 1 else 'y'} {', '.join(bad)} (accepted: an IP address "
                "such as 10.0.0.5, a network such as 10.0.0.0/8 or fd00::/8, or * for every peer)"
            )
        return value


class Config(_Model):
    service: ServiceConfig = Field(default_factory=ServiceConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    plugin_roots: list[str] = Field(default_factory=list)
    plugins: dict[str, PluginInstanceConfig] = Field(default_factory=dict)
    api: ApiConfig = Field(default_factory=ApiConfig)
    pipelines: Any = None
    webhooks: WebhooksConfig = Field(default_factory=WebhooksConfig)  # the webhook listener (docs/WEBHOOKS.md)

    @field_validator("plugins", mode="before")
    @classmethod
    def _plugins(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, dict):
            for name in value:
                if not isinstance(name, str) or not re.match(NAME_PATTERN, name):
                    raise ValueError(f"invalid instance name {name!r} (accepted: {NAME_PATTERN})")
            return {k: ({} if v is None else v) for k, v in value.items()}
        return value
