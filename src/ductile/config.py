"""Configuration: YAML files (with `include:` and `${VAR}`) → validated, frozen pydantic models.

Every problem is reported as `file: key.path: what is wrong (what is accepted)`, all at once, so a
person fixes a config in one pass. Loading opens no database and starts nothing.
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)

from ductile.config_compat import KNOWN_SCOPES, Known, derived_token_name, load_env_includes, normalise
from ductile.config_yaml import Loc, read_config_files, substitute_env
from ductile.cron_fields import cron_problems
from ductile.durations import format_duration, parse_duration
from ductile.manifest import NAME_PATTERN
from ductile.webhooks.config import WebhooksConfig

__all__ = ["substitute_env"]  # re-exported: it used to live here

SCOPES = KNOWN_SCOPES  # Ductile's vocabulary; an unknown scope is a warning (config_compat), never an error
ONE_SPEC = (
    "exactly one of 'every', 'cron', 'at' or 'after' is required "
    "(accepted: every: 5m, cron: '0 * * * *', at: '2026-06-01T07:30:00+10:00', or after: 10m)"
)
TRIGGERS = ("every", "cron", "at", "after")
ONE_SECRET = "exactly one of 'token' or 'token_sha256' is required"


def duplicate_schedule_id(schedule_id: Any) -> str:
    return f"schedule id {schedule_id!r} is used twice (accepted: unique ids per instance)"


class ConfigError(Exception):
    """Raised with every problem found; `problems` holds one formatted line each."""

    def __init__(self, problems: list[str], partial: LoadedConfig | None = None):
        super().__init__("\n".join(problems))
        self.problems = problems
        # The config with its invalid parts left out (what the other checks ran on). None when
        # the root file does not exist.
        self.partial = partial


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


class ApiConfig(_Model):
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
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"invalid listen address {value!r} (accepted: host:port, e.g. 127.0.0.1:8080)")
        return value

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

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


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


@dataclass
class LoadedConfig:
    config: Config
    path: Path  # the root config.yaml
    raw: dict[str, Any]
    origins: dict[tuple[str, ...], Path] = field(default_factory=dict)
    # Keys left out of `config` because they were invalid (already reported): checks that would
    # only repeat the problem in other words skip them.
    dropped: frozenset[Loc] = frozenset()
    # Keys accepted but ignored (or not yet honoured), one `file: key.path: why` line each.
    warnings: list[str] = field(default_factory=list)
    # Each file's own `pipelines:` value (before list merging), for per-file attribution and the
    # ascending absolute-path order pipelines are concatenated in (pipelines.md §1.1).
    pipeline_sources: list[tuple[Path, Any]] = field(default_factory=list)

    @property
    def directory(self) -> Path:
        return self.path.parent

    def resolve(self, value: str) -> Path:
        path = Path(os.path.expanduser(value))
        return path if path.is_absolute() else (self.directory / path).resolve()

    @property
    def db_path(self) -> Path:
        """The SQLite file; with a PostgreSQL url, where `database.path` points (the data
        directory plugins and the registry use stays next to it)."""
        url = self.config.database.url
        if url and not self.config.database.postgres:
            return self.resolve(url.removeprefix("sqlite:///").removeprefix("sqlite://"))
        return self.resolve(self.config.database.path)

    @property
    def store_target(self) -> str | Path:
        """What `open_store` opens: the PostgreSQL url, or the SQLite file."""
        return self.config.database.url if self.config.database.postgres and self.config.database.url else self.db_path

    @property
    def plugin_roots(self) -> list[Path]:
        return [self.resolve(r) for r in self.config.plugin_roots]

    def origin(self, loc: tuple[str, ...]) -> Path:
        for size in range(len(loc), 0, -1):
            hit = self.origins.get(loc[:size])
            if hit is not None:
                return hit
        return self.path

    def problem(self, loc: tuple[str, ...], message: str) -> str:
        return f"{self.origin(loc)}: {'.'.join(loc)}: {message}"


def resolve_config_file(arg: str | os.PathLike[str] | None) -> Path:
    """--config DIR|FILE, else $DUCTILE_CONFIG, else $DUCTILE_CONFIG_DIR (Ductile's name), else ~/.config/ductile.

    A directory means its config.yaml.
    """
    raw = arg or os.environ.get("DUCTILE_CONFIG") or os.environ.get("DUCTILE_CONFIG_DIR") or "~/.config/ductile"
    path = Path(os.path.expanduser(str(raw)))
    if path.is_dir():
        path = path / "config.yaml"
    return path.resolve()


@dataclass
class ConfigRead:
    """What reading and validating found: the config (its invalid parts left out) and every problem."""

    loaded: LoadedConfig | None  # None only when the root file does not exist
    problems: list[str]
    warnings: list[str] = field(default_factory=list)


def read_config(arg: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> ConfigRead:
    """Read, merge and validate in one pass; never raises for a bad config, so later checks still run."""
    env = dict(os.environ) if env is None else env
    path = resolve_config_file(arg)
    if not path.is_file():
        return ConfigRead(None, [f"{path}: config file not found (accepted: --config DIR|FILE or $DUCTILE_CONFIG)"])
    env_problems = load_env_includes(path, env)
    raw = read_config_files(path, env)
    loaded = LoadedConfig(
        config=Config(), path=path, raw=raw.data, origins=raw.origins, pipeline_sources=raw.pipeline_sources
    )
    compat = normalise(raw.data, _known_keys(), env)
    loaded.warnings = list(dict.fromkeys(loaded.problem(loc, message) for loc, message in compat.warnings))
    loaded.warnings.extend(_included_env_vars(raw.origins, path))
    shape_problems, data = _shape_checks(compat.data)
    shape_problems = [(loc, message) for loc, message in shape_problems if not _under(loc, compat.reported)]
    problems = [
        *env_problems,
        *raw.problems,
        *(loaded.problem(loc, message) for loc, message in [*compat.problems, *shape_problems]),
    ]
    try:
        loaded.config = Config.model_validate(data)
    except ValidationError as exc:
        # An unset ${VAR} left "" behind; what the schema says about that "" is the same problem again.
        errors = [e for e in exc.errors() if not _under(_loc(e), raw.unset | compat.reported)]
        problems.extend(format_validation_errors(errors, loaded))
        loaded.config, dropped = _without_invalid_parts(data, exc)
        loaded.dropped = frozenset(dropped)
    return ConfigRead(loaded, list(dict.fromkeys(problems)), loaded.warnings)


def _included_env_vars(origins: dict[Loc, Path], root: Path) -> list[str]:
    """`environment_vars` is read from the root file only (before any include can be found, since
    includes may use ${VAR}); one in an included file is ignored, and said so, never silently."""
    files = sorted({str(f) for loc, f in origins.items() if loc[:1] == ("environment_vars",) and f != root.resolve()})
    return [
        f"{f}: environment_vars: ignored in an included file (accepted: environment_vars in the root config, {root})"
        for f in files
    ]


def _known_keys() -> Known:
    return Known(
        top=Config.model_fields,
        service=ServiceConfig.model_fields,
        api=ApiConfig.model_fields,
        plugin=PluginInstanceConfig.model_fields,
        schedule=ScheduleConfig.model_fields,
    )


def load_config(arg: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> LoadedConfig:
    """The valid config, or ConfigError listing every problem (with the valid part as `partial`)."""
    read = read_config(arg, env)
    if read.problems or read.loaded is None:
        raise ConfigError(read.problems, partial=read.loaded)
    return read.loaded


def _loc(error: Any) -> Loc:
    return tuple(str(p) for p in error["loc"])


def _under(loc: Loc, roots: set[Loc] | frozenset[Loc]) -> bool:
    return any(loc[: len(root)] == root for root in roots)


def _shape_checks(raw: dict[str, Any]) -> tuple[list[tuple[Loc, str]], dict[str, Any]]:
    """Rules pydantic would only check once everything around them is valid, checked on the raw data.

    Pydantic runs a list's or a model's own validator only after all its items validated, so a
    duplicate schedule id behind a bad cron would surface only in a second run. Returns the
    problems and a copy of the data without the instances whose names are invalid (so one bad
    name does not hide every other instance's problems).
    """
    problems: list[tuple[Loc, str]] = []
    data = copy.deepcopy(raw)
    plugins = data.get("plugins")
    if isinstance(plugins, dict):
        for name in list(plugins):
            if not isinstance(name, str) or not re.match(NAME_PATTERN, name):
                problems.append((("plugins",), f"invalid instance name {name!r} (accepted: {NAME_PATTERN})"))
                del plugins[name]
        for name, spec in plugins.items():
            schedules = spec.get("schedules") if isinstance(spec, dict) else None
            if isinstance(schedules, list):
                problems.extend(_schedule_shape(("plugins", name, "schedules"), schedules))
    tokens = _dig(data, "api", "auth", "tokens")
    if isinstance(tokens, list):
        for index, token in enumerate(tokens):
            if isinstance(token, dict) and (token.get("token") is None) == (token.get("token_sha256") is None):
                problems.append((("api", "auth", "tokens", str(index)), ONE_SECRET))
    return problems, data


def _schedule_shape(loc: Loc, schedules: list[Any]) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    ids: list[Any] = []
    for index, entry in enumerate(schedules):
        if not isinstance(entry, dict):
            continue
        ids.append(entry.get("id", "default"))
        if sum(entry.get(key) is not None for key in TRIGGERS) != 1:
            problems.append(((*loc, str(index)), ONE_SPEC))
    for dupe in _repeated(ids):
        problems.append((loc, duplicate_schedule_id(dupe)))
    return problems


def _repeated(values: list[Any]) -> list[Any]:
    seen: list[Any] = []
    out: list[Any] = []
    for value in values:
        if value in seen and value not in out:
            out.append(value)
        seen.append(value)
    return out


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _without_invalid_parts(data: dict[str, Any], exc: ValidationError, rounds: int = 20) -> tuple[Config, set[Loc]]:
    """Drop every key an error points at (repeatedly) until what is left validates.

    The plugin checks then run on what is left, and `dropped` tells them which inputs are missing
    because they were wrong (an instance whose `uses` was invalid must not become "unknown plugin").
    """
    data = copy.deepcopy(data)
    dropped: set[Loc] = set()
    for _ in range(rounds):
        for item in exc.errors():
            _drop(data, tuple(item["loc"]))
            dropped.add(_loc(item))
        data = _compact(data)
        try:
            return Config.model_validate(data), dropped
        except ValidationError as again:
            exc = again
    return Config(), dropped | {()}


def _drop(data: Any, loc: tuple[Any, ...]) -> None:
    if not loc:
        return
    for part in loc[:-1]:
        if isinstance(data, dict):
            data = data.get(part, data.get(str(part)))
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return
    last = loc[-1]
    if isinstance(data, dict):
        data.pop(last, None)
        data.pop(str(last), None)
    elif isinstance(data, list) and isinstance(last, int) and 0 <= last < len(data):
        data[last] = _DROPPED  # keep later indexes stable for the other errors of this round


_DROPPED = object()


def _compact(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _compact(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_compact(v) for v in data if v is not _DROPPED]
    return data


def _accepted_fields(model: type[BaseModel] | None) -> str:
    return ", ".join(model.model_fields) if model else ""


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """Walk the model tree along loc to name the fields accepted where an unknown key sat."""
    model: type[BaseModel] | None = Config
    i = 0
    while model is not None and i < len(loc) - 1:
        field_info = model.model_fields.get(str(loc[i]))
        if field_info is None:
            return None
        annotation = field_info.annotation
        args = getattr(annotation, "__args__", ())
        origin = getattr(annotation, "__origin__", None)
        if origin is dict and len(args) == 2 and isinstance(args[1], type) and issubclass(args[1], BaseModel):
            model, i = args[1], i + 2
        elif origin is list and args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
            model, i = args[0], i + 2
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model, i = annotation, i + 1
        else:
            return None
    return model


def format_validation_errors(errors: list[Any], loaded: LoadedConfig) -> list[str]:
    """One `file: key.path: what (accepted)` line per pydantic error, in our words rather than pydantic's."""
    out = []
    for item in errors:
        loc = tuple(str(p) for p in item["loc"])
        kind = item["type"]
        message = str(item["msg"]).removeprefix("Value error, ")
        if kind == "extra_forbidden":
            message = f"unknown key (accepted: {_accepted_fields(_model_at(loc))})"
        elif kind == "missing":
            message = "required key is missing"
        elif kind in ("int_parsing", "int_type"):
            message = f"{item.get('input')!r} is not a whole number (accepted: an integer)"
        elif kind in ("bool_parsing", "bool_type"):
            message = f"{item.get('input')!r} is not a boolean (accepted: true or false)"
        elif kind == "literal_error":
            message = f"{item.get('input')!r} is not allowed ({message.replace('Input should be', 'accepted:')})"
        elif kind == "greater_than_equal":
            message = f"{item.get('input')!r} is too small (accepted: {item.get('ctx', {}).get('ge')} or more)"
        elif kind == "less_than_equal":
            message = f"{item.get('input')!r} is too large (accepted: {item.get('ctx', {}).get('le')} or less)"
        elif kind == "string_pattern_mismatch":
            pattern = item.get("ctx", {}).get("pattern")
            message = f"{item.get('input')!r} is not a valid name (accepted: letters, digits, _ and -, starting with a letter: {pattern})"
        elif kind == "too_short":
            message = f"{item.get('input')!r} must not be empty (accepted: at least one entry)"
        elif kind in ("dict_type", "list_type", "string_type", "float_type", "model_type"):
            expected = {
                "dict_type": "a mapping",
                "list_type": "a list",
                "string_type": "a string",
                "float_type": "a number",
                "model_type": "a mapping",
            }[kind]
            message = f"{item.get('input')!r} has the wrong type (accepted: {expected})"
        out.append(loaded.problem(loc, message))
    return out
